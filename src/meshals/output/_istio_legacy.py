"""Deprecated: Istio samples approximated from service-mesh metrics (meshals 0.x behaviour).

``istio_metrics(metrics)`` with :class:`~meshals.ServiceMeshMetric` s still works for one
release, with a ``DeprecationWarning``: a metric carries SkyWalking's service and instance
names, not what Istio's labels are made of (node metadata, peer metadata, certificates, wire
bytes, the cluster's host), so its labels are approximations: the workload is the service
name without ``.<namespace>``, ``destination_service`` the service name, sizes body bytes,
the duration the time to the last downstream byte, the clusters ``unknown``. Pass the ALS
messages instead (:func:`meshals.output.istio_metrics`).

One sample per request per proxy: a sidecar's client-side metric is ``reporter="source"``, its
server-side one ``reporter="destination"``; a gateway's two metrics of one entry (next to each
other, equal ``origin``) are one ``source`` sample, gateway -> upstream; a waypoint's one
``waypoint`` sample, caller -> upstream.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from meshals._values import FrozenMap
from meshals.mesh._istio_rules import ISTIO_LABELS, TCP_LABELS
from meshals.model._istio import IstioSample
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo

__all__: list[str] = []

_UNKNOWN: Final = "unknown"
_NS_PER_MS: Final = 1_000_000
# Sidecars and ztunnel report each side of a call on their own; gateways and waypoints log
# both sides of one request in one entry.
_PER_SIDE_REPORTERS: Final = frozenset({Role.SIDECAR, Role.ZTUNNEL})


def legacy_samples(metrics: Iterator[ServiceMeshMetric]) -> Iterator[IstioSample]:
    """The samples of service-mesh metrics in analysis order (module docstring)."""
    pending: ServiceMeshMetric | None = None  # a proxy's server-side metric, maybe paired next
    for metric in metrics:
        if pending is not None:
            paired = (
                metric.detect_point is DetectPoint.CLIENT
                and metric.role is pending.role
                and metric.origin == pending.origin
            )
            yield _proxy_sample(pending, metric if paired else None)
            pending = None
            if paired:
                continue
        if metric.role in _PER_SIDE_REPORTERS:
            reporter = "source" if metric.detect_point is DetectPoint.CLIENT else "destination"
            yield _sample(reporter, metric.source, metric.destination, metric)
        elif metric.detect_point is DetectPoint.SERVER:
            pending = metric
        else:  # a proxy's client-side metric whose server-side one is not here
            reporter = "waypoint" if metric.role is Role.WAYPOINT else "source"
            yield _sample(reporter, metric.source, metric.destination, metric)
    if pending is not None:
        yield _proxy_sample(pending, None)


def _proxy_sample(server: ServiceMeshMetric, client: ServiceMeshMetric | None) -> IstioSample:
    destination = UNKNOWN if client is None else client.destination
    if server.role is Role.WAYPOINT:
        return _sample("waypoint", server.source, destination, server)
    return _sample("source", server.destination, destination, server)


def _short_name(peer: ServiceMetaInfo) -> str:
    suffix = f".{peer.namespace}" if peer.namespace else None
    if suffix and peer.service.endswith(suffix) and len(peer.service) > len(suffix):
        return peer.service[: -len(suffix)]
    return peer.service


def _peer(side: str, peer: ServiceMetaInfo, principal: str, values: dict[str, str]) -> None:
    if peer.is_unknown:
        for label in ("workload", "workload_namespace", "app", "version", "canonical_service"):
            values[f"{side}_{label}"] = _UNKNOWN
        values[f"{side}_principal"] = principal
        values[f"{side}_canonical_revision"] = _UNKNOWN
        return
    tags: Mapping[str, str] = peer.tags
    workload = tags.get("workload") or _short_name(peer)
    values[f"{side}_workload"] = workload
    values[f"{side}_workload_namespace"] = peer.namespace or _UNKNOWN
    values[f"{side}_principal"] = principal
    values[f"{side}_app"] = tags.get("app") or _UNKNOWN
    values[f"{side}_version"] = tags.get("version") or _UNKNOWN
    values[f"{side}_canonical_service"] = (
        tags.get("service.istio.io/canonical-name") or tags.get("app") or workload
    )
    values[f"{side}_canonical_revision"] = (
        tags.get("service.istio.io/canonical-revision") or tags.get("version") or "latest"
    )


def _sample(
    reporter: str,
    source: ServiceMetaInfo,
    destination: ServiceMetaInfo,
    measured: ServiceMeshMetric,
) -> IstioSample:
    downstream_known = reporter != "source"  # ALS logs TLS for the downstream only
    principal = (measured.peer_identity or _UNKNOWN) if downstream_known else _UNKNOWN
    values = {"reporter": reporter, "source_cluster": _UNKNOWN, "destination_cluster": _UNKNOWN}
    _peer("source", source, principal, values)
    _peer("destination", destination, _UNKNOWN, values)
    known = not destination.is_unknown
    values["destination_service"] = destination.service if known else _UNKNOWN
    values["destination_service_name"] = _short_name(destination) if known else _UNKNOWN
    values["destination_service_namespace"] = (destination.namespace if known else None) or (
        _UNKNOWN
    )
    values["request_protocol"] = measured.protocol.value.lower()
    flags = sorted(measured.response_flags, key=lambda flag: flag.field_number)
    values["response_flags"] = ",".join(flag.short_code for flag in flags) or "-"
    if not downstream_known:
        values["connection_security_policy"] = _UNKNOWN
    else:
        mutual = measured.tls_mode is TlsMode.MTLS
        values["connection_security_policy"] = "mutual_tls" if mutual else "none"
    if measured.protocol is MeshProtocol.TCP:
        return IstioSample(
            labels=FrozenMap({name: values[name] for name in TCP_LABELS}),
            tcp=True,
            request_bytes=measured.received_bytes or 0,
            response_bytes=measured.sent_bytes or 0,
        )
    code, grpc = measured.response_code, measured.grpc_status
    values["response_code"] = "0" if code is None else str(code)
    values["grpc_response_status"] = "" if grpc is None else str(grpc)
    latency = measured.latency_ns
    return IstioSample(
        labels=FrozenMap({name: values[name] for name in ISTIO_LABELS}),
        tcp=False,
        duration_ms=None if latency is None else latency // _NS_PER_MS,
        request_bytes=measured.request_bytes,
        response_bytes=measured.response_bytes,
    )
