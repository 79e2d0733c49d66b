"""Istio's standard metrics computed from ALS entries by the rules of Istio's stats filter.

The independent side of ``test_istio_oracle.py``: written from istio/proxy
``source/extensions/filters/http/istio_stats/istio_stats.cc`` (``IstioStatsFilter::log``,
``reportHelper``, ``populatePeerInfo``, ``populateFlagsAndConnectionSecurity``) and Envoy's
sources it calls, never from meshals. Entries are read with protobuf's ``json_format`` into
Envoy's generated classes (xds-protos). Where ALS cannot carry what Istio reads (the upstream
TLS connection), the project's decision is written next to the rule.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from _istio_peers import Peer, ServiceRef, Snapshot, from_node_metadata, peer_from_filter_state
from _prom_samples import LabelKey, Samples, histogram_samples
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import json_format

UNKNOWN = "unknown"

# Envoy source/common/stream_info/utility.cc ResponseFlagUtils: the short strings, in the
# order of the flag bits, which is the order of ALS' ResponseFlags fields.
# Kept here on purpose beside the copies in tools/ and tests/model/: the oracle imports
# nothing that meshals or its recorder might share a mistake with.
_FLAG_SHORT = {
    "failed_local_healthcheck": "LH",
    "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT",
    "local_reset": "LR",
    "upstream_remote_reset": "UR",
    "upstream_connection_failure": "UF",
    "upstream_connection_termination": "UC",
    "upstream_overflow": "UO",
    "no_route_found": "NR",
    "delay_injected": "DI",
    "fault_injected": "FI",
    "rate_limited": "RL",
    "unauthorized_details": "UAEX",
    "rate_limit_service_error": "RLSE",
    "downstream_connection_termination": "DC",
    "upstream_retry_limit_exceeded": "URX",
    "stream_idle_timeout": "SI",
    "invalid_envoy_request_headers": "IH",
    "downstream_protocol_error": "DPE",
    "upstream_max_stream_duration_reached": "UMSDR",
    "response_from_cache_filter": "RFCF",
    "no_filter_config_found": "NFCF",
    "duration_timeout": "DT",
    "upstream_protocol_error": "UPE",
    "no_cluster_found": "NC",
    "overload_manager": "OM",
    "dns_resolution_failure": "DF",
    "downstream_remote_reset": "DR",
}

# istio_stats.cc populatePeerInfo: clusters whose name is the service name.
_NAMED_CLUSTERS = {
    "BlackHoleCluster",
    "PassthroughCluster",
    "InboundPassthroughCluster",
    "InboundPassthroughClusterIpv4",
    "InboundPassthroughClusterIpv6",
}

# The entries that end a request or a connection (NotSet: an Envoy before access_log_type).
_HTTP_END = {accesslog_pb2.NotSet, accesslog_pb2.DownstreamEnd}
_TCP_END = {accesslog_pb2.NotSet, accesslog_pb2.TcpConnectionEnd}

# Envoy source/common/grpc/status.cc Utility::httpToGrpcStatus.
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


@dataclasses.dataclass(frozen=True)
class Proxy:
    """The reporting Envoy: its node id and node metadata (first message of its stream)."""

    node_id: str
    metadata: Mapping[str, Any]

    @property
    def own(self) -> Peer:
        return from_node_metadata(self.metadata)

    @property
    def instance_ips(self) -> set[str]:
        return set(str(self.metadata.get("INSTANCE_IPS", "")).split(","))


def read_stream(path: Path) -> Iterator[tuple[Proxy, str, Any]]:
    """(proxy, ``http``/``tcp``, entry) for each entry of one ``.jsonl`` stream."""
    proxy: Proxy | None = None
    for line in path.read_text().splitlines():
        message = als_pb2.StreamAccessLogsMessage()
        json_format.Parse(line, message)
        if message.HasField("identifier"):
            node = message.identifier.node
            proxy = Proxy(node.id, json_format.MessageToDict(node.metadata))
        if proxy is None:
            raise ValueError(f"{path}: an entry before the stream's identifier")
        for entry in message.http_logs.log_entry:
            yield proxy, "http", entry
        for entry in message.tcp_logs.log_entry:
            yield proxy, "tcp", entry


def reporter(proxy: Proxy, common: Any) -> str:
    """``source``, ``destination`` or ``waypoint`` (the project's decision, Istio's meaning).

    istio_stats.cc ``Config``: the listener's traffic direction (outbound: ClientSidecar,
    "source"; inbound: ServerSidecar, "destination"); ``SERVER_GATEWAY`` (a waypoint):
    "waypoint". ALS does not log the listener's direction: Istio's cluster names say it
    (``outbound|``/``inbound|``), else the capture ports 15001/15006, else whether the
    local address is the proxy's own pod IP. A gateway's listeners are outbound: "source".
    """
    kind = proxy.node_id.split("~", 1)[0]
    if kind == "waypoint":
        return "waypoint"
    if kind == "router":
        return "source"
    cluster = common.upstream_cluster
    if cluster.startswith("outbound|") or cluster in {"BlackHoleCluster", "PassthroughCluster"}:
        return "source"
    if cluster.startswith("inbound|") or cluster.startswith("InboundPassthroughCluster"):
        return "destination"
    local = common.downstream_local_address.socket_address
    if local.port_value == 15001:
        return "source"
    if local.port_value == 15006:
        return "destination"
    return "destination" if local.address in proxy.instance_ips else "source"


def response_flags(common: Any) -> str:
    """Envoy ``ResponseFlagUtils::toShortString``: comma-joined short strings, ``-`` if none."""
    flags = common.response_flags
    short = [
        code
        for field, code in _FLAG_SHORT.items()
        if (flags.HasField(field) if field == "unauthorized_details" else getattr(flags, field))
    ]
    return ",".join(short) or "-"


def _service_ref(host: str) -> ServiceRef:
    # istio/istio cluster_builder.go buildServiceMetadata: the Service's host, name and
    # namespace; a Kubernetes host is <name>.<namespace>.svc.<domain>.
    parts = host.split(".")
    if len(parts) >= 4 and parts[2] == "svc":
        return ServiceRef(host, parts[0], parts[1])
    return ServiceRef(host, host, "")


def cluster_service(common: Any, snapshot: Snapshot | None) -> ServiceRef | None:
    """The first entry of the upstream cluster's ``istio.services`` metadata, as istiod writes it.

    ALS logs the cluster's name, not its metadata: an outbound cluster
    (``outbound|<port>|<subset>|<host>``) carries its service's host; an inbound one
    (``inbound|<port>||``) the services of the local pod on that port, found in the snapshot.
    """
    parts = common.upstream_cluster.split("|")
    if len(parts) != 4:
        return None
    if parts[3]:
        return _service_ref(parts[3])
    if parts[0] == "inbound" and snapshot is not None and parts[1].isdigit():
        local_ip = common.downstream_local_address.socket_address.address
        return snapshot.inbound_service(local_ip, int(parts[1]))
    return None


def destination_service(
    common: Any, authority: str, snapshot: Snapshot | None, *, host_fallback: bool
) -> ServiceRef:
    """istio_stats.cc populatePeerInfo: (service_host, service_host_name, service_namespace).

    The Host header first where the listener allows it, then the route names
    ``block_all``/``allow_any``, the pass-through and black-hole clusters by name, else the
    cluster's ``istio.services`` metadata. "" where nothing says. istiod sets
    ``disable_host_header_fallback`` for inbound sidecar and gateway listeners
    (istio/istio pilot/pkg/networking/core telemetry.go ``disableHostHeaderFallback``; release
    note "disable host header fallback by default" for inbound), so only a sidecar's outbound
    and a waypoint's listeners fall back to the Host header.
    """
    fallback = authority if host_fallback else ""
    host, name, namespace = fallback, fallback, ""
    if common.route_name == "block_all":
        return ServiceRef(host, "BlackHoleCluster", namespace)
    if common.route_name == "allow_any":
        return ServiceRef(host, "PassthroughCluster", namespace)
    if common.upstream_cluster in _NAMED_CLUSTERS:
        return ServiceRef(host, common.upstream_cluster, namespace)
    ref = cluster_service(common, snapshot)
    return ref if ref is not None else ServiceRef(host, name, namespace)


def _first_uri_san(certificate: Any) -> str:
    return next((san.uri for san in certificate.subject_alt_name if san.uri), "")


def _or(value: str, default: str) -> str:
    return value if value else default


def _peer(proxy: Proxy, common: Any, direction: str, snapshot: Snapshot | None) -> Peer | None:
    # The project's rule: Istio's peer object in the entry's filter state, else the pod at the
    # peer's address in the snapshot (Istio's workload discovery by address), else none.
    objects = common.filter_state_objects
    found = peer_from_filter_state(objects, direction)
    if found is not None or snapshot is None:
        return found
    address = (
        common.downstream_remote_address
        if direction == "downstream"
        else common.upstream_remote_address
    ).socket_address.address
    return snapshot.peer(address, cluster=str(proxy.metadata.get("CLUSTER_ID", "")))


def peer_labels(
    proxy: Proxy, common: Any, authority: str, snapshot: Snapshot | None
) -> dict[str, str]:
    """The workload labels and ``connection_security_policy`` of one entry (populatePeerInfo)."""
    kind = reporter(proxy, common)
    own = proxy.own
    gateway = proxy.node_id.startswith("router~")
    service = destination_service(
        common, authority, snapshot, host_fallback=kind != "destination" and not gateway
    )
    if kind == "source":
        peer = _peer(proxy, common, "upstream", snapshot) or Peer()
        # ALS does not log the upstream TLS connection, where Istio reads both SANs at the
        # client (and, since 1.24, the upstream peer's identity when there is no SAN): the
        # project's decision is "unknown" for both principals and for the policy, as Istio
        # writes the policy at reporter=source.
        peer_namespace = peer.namespace
        return {
            "reporter": "source",
            "source_workload": own.workload,
            "source_canonical_service": own.canonical_name,
            "source_canonical_revision": own.canonical_revision,
            "source_workload_namespace": own.namespace,
            "source_principal": UNKNOWN,
            "source_app": own.app,
            "source_version": own.version,
            "source_cluster": own.cluster,
            "destination_workload": _or(peer.workload, UNKNOWN),
            "destination_workload_namespace": _or(peer_namespace, UNKNOWN),
            "destination_principal": UNKNOWN,
            "destination_app": _or(peer.app, UNKNOWN),
            "destination_version": _or(peer.version, UNKNOWN),
            "destination_service": _or(service.host, UNKNOWN),
            "destination_canonical_service": _or(peer.canonical_name, UNKNOWN),
            "destination_canonical_revision": _or(peer.canonical_revision, "latest"),
            "destination_service_name": _or(service.name, UNKNOWN),
            "destination_service_namespace": _or(service.namespace, _or(peer_namespace, UNKNOWN)),
            "destination_cluster": _or(peer.cluster, UNKNOWN),
            "connection_security_policy": UNKNOWN,
        }
    # Server side (sidecar inbound, waypoint): the downstream TLS connection's URI SANs.
    tls = common.tls_properties
    peer_san = _first_uri_san(tls.peer_certificate_properties)
    local_san = _first_uri_san(tls.local_certificate_properties)
    source = _peer(proxy, common, "downstream", snapshot) or Peer()
    # getNamespace(): the namespace in the peer's SAN (".../ns/<ns>/sa/...") first.
    source_namespace = ""
    if "/ns/" in peer_san:
        source_namespace = peer_san.split("/ns/", 1)[1].split("/", 1)[0]
    labels = {
        "reporter": kind,
        "source_workload": _or(source.workload, UNKNOWN),
        "source_canonical_service": _or(source.canonical_name, UNKNOWN),
        "source_canonical_revision": _or(source.canonical_revision, "latest"),
        "source_workload_namespace": _or(source_namespace or source.namespace, UNKNOWN),
        "source_principal": _or(peer_san, UNKNOWN),
        "source_app": _or(source.app, UNKNOWN),
        "source_version": _or(source.version, UNKNOWN),
        "source_cluster": _or(source.cluster, UNKNOWN),
        "connection_security_policy": "mutual_tls" if peer_san and local_san else "none",
    }
    if kind == "waypoint":
        target = _peer(proxy, common, "upstream", snapshot) or Peer()
        labels |= {
            "destination_workload": _or(target.workload, UNKNOWN),
            "destination_workload_namespace": _or(target.namespace, UNKNOWN),
            "destination_principal": _or(target.identity, UNKNOWN),
            "destination_app": _or(target.app, UNKNOWN),
            "destination_version": _or(target.version, UNKNOWN),
            "destination_service": _or(service.host, UNKNOWN),
            "destination_canonical_service": _or(target.canonical_name, UNKNOWN),
            "destination_canonical_revision": _or(target.canonical_revision, UNKNOWN),
            "destination_service_name": _or(service.name, UNKNOWN),
            "destination_service_namespace": _or(service.namespace, UNKNOWN),
            "destination_cluster": _or(target.cluster, UNKNOWN),
        }
        return labels
    return labels | {
        "destination_workload": own.workload,
        "destination_workload_namespace": own.namespace,
        "destination_principal": _or(local_san, UNKNOWN),
        "destination_app": own.app,
        "destination_version": own.version,
        "destination_service": _or(service.host, own.canonical_name),
        "destination_canonical_service": own.canonical_name,
        "destination_canonical_revision": own.canonical_revision,
        "destination_service_name": _or(service.name, own.canonical_name),
        "destination_service_namespace": own.namespace,
        "destination_cluster": own.cluster,
    }


def _is_grpc(request: Any) -> bool:
    # Envoy Grpc::Common::isGrpcRequestHeaders / hasGrpcContentType.
    content_type = str(request.request_headers.get("content-type", ""))
    return content_type == "application/grpc" or content_type.startswith(
        ("application/grpc+", "application/grpc;")
    )


def grpc_status(entry: Any) -> str:
    """Envoy ``Grpc::Common::getGrpcStatus``: trailers, headers, else from the HTTP status."""
    response = entry.response
    for headers in (response.response_trailers, response.response_headers):
        if "grpc-status" in headers:
            return str(int(headers["grpc-status"]))
    if response.HasField("response_code"):
        return str(_HTTP_TO_GRPC.get(response.response_code.value, 2))
    return ""


def http_observation(
    proxy: Proxy, entry: Any, snapshot: Snapshot | None
) -> tuple[dict[str, str], int | None, int, int]:
    """(labels, duration ms or None, request wire bytes, response wire bytes) of one entry.

    istio_stats.cc ``IstioStatsFilter::log``: ``request_protocol`` grpc/http, ``response_code``
    (0 without one), ``grpc_response_status`` ("" for HTTP or when unknown), the flags and
    the peer labels; the duration ``requestComplete()`` in whole milliseconds, the downstream
    bytes meter's wire bytes.
    """
    common = entry.common_properties
    if common.access_log_type not in _HTTP_END or common.intermediate_log_entry:
        # Periodic and upstream-side entries carry a part of a request.
        raise ValueError(f"entry type {common.access_log_type} is not modeled")
    grpc = _is_grpc(entry.request)
    labels = peer_labels(proxy, common, entry.request.authority, snapshot)
    labels |= {
        "request_protocol": "grpc" if grpc else "http",
        "response_code": str(entry.response.response_code.value),
        "grpc_response_status": grpc_status(entry) if grpc else "",
        "response_flags": response_flags(common),
    }
    duration = None
    if common.HasField("duration"):
        duration = (common.duration.seconds * 1_000_000_000 + common.duration.nanos) // 1_000_000
    return (
        labels,
        duration,
        common.downstream_wire_bytes_received,
        common.downstream_wire_bytes_sent,
    )


def tcp_observation(
    proxy: Proxy, entry: Any, snapshot: Snapshot | None
) -> tuple[dict[str, str], int, int]:
    """(labels, wire bytes sent, wire bytes received) of one whole connection (reportHelper)."""
    common = entry.common_properties
    if common.access_log_type not in _TCP_END or common.intermediate_log_entry:
        # A periodic entry carries a part of a connection.
        raise ValueError(f"entry type {common.access_log_type} is not modeled")
    labels = peer_labels(proxy, common, "", snapshot)
    labels |= {"request_protocol": "tcp", "response_flags": response_flags(common)}
    return labels, common.downstream_wire_bytes_sent, common.downstream_wire_bytes_received


def expected_samples(paths: Iterable[Path], snapshot_path: Path | None) -> Samples:
    """Every sample Istio's proxies would export for the entries of *paths*."""
    snapshot = Snapshot(json.loads(snapshot_path.read_text())) if snapshot_path else None
    counters: collections.Counter[tuple[str, LabelKey]] = collections.Counter()
    histograms: dict[str, dict[tuple[tuple[str, str], ...], list[int]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for path in sorted(paths):
        for proxy, kind, entry in read_stream(path):
            if kind == "http":
                labels, duration, received, sent = http_observation(proxy, entry, snapshot)
                key = tuple(sorted(labels.items()))
                counters["istio_requests_total", key] += 1
                if duration is not None:
                    histograms["istio_request_duration_milliseconds"][key].append(duration)
                histograms["istio_request_bytes"][key].append(received)
                histograms["istio_response_bytes"][key].append(sent)
            else:
                labels, sent, received = tcp_observation(proxy, entry, snapshot)
                key = tuple(sorted(labels.items()))
                counters["istio_tcp_connections_opened_total", key] += 1
                counters["istio_tcp_connections_closed_total", key] += 1
                counters["istio_tcp_sent_bytes_total", key] += sent
                counters["istio_tcp_received_bytes_total", key] += received
    samples: Samples = {key: float(value) for key, value in counters.items()}
    for name, series in histograms.items():
        for key, values in series.items():
            samples |= histogram_samples(name, key, values)
    return samples
