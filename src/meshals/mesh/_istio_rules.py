"""Istio's standard-metric labels and measures of one Envoy access-log entry.

Written from Istio's stats filter, istio/proxy
``source/extensions/filters/http/istio_stats/istio_stats.cc`` (``IstioStatsFilter``:
``log``, ``reportHelper``, ``populatePeerInfo``, ``populateFlagsAndConnectionSecurity``).
Who the two sides are: :mod:`meshals.mesh._istio_identity`.

**Reporter** (one sample per entry). The entry's direction is decided where the ``k8s-mesh``
analysis decides it (``sidecar_direction`` of :mod:`meshals.mesh._k8s_mesh`: the cluster
name, then the capture ports 15001/15006, then the node's own IPs): a sidecar's outbound entry is
``source`` (Istio's ``ClientSidecar``), an inbound one ``destination`` (``ServerSidecar``).
A gateway reports ``source`` (Istio configures its listeners as client-side: gateway ->
upstream); a waypoint ``waypoint`` (``ServerGateway``).

**Labels**, as ``populatePeerInfo`` writes them (``unknown`` where Istio writes it):

- the reporting proxy's own side from its workload (its node metadata) as it is: a value it
  does not have is empty, as Istio writes it (``Context`` reads the node once);
- the peer (``downstream_peer`` at destination and waypoint, ``upstream_peer`` at source and
  the waypoint's destination) from its workload; an unknown peer's canonical revision is
  ``latest`` (``unknown`` for a waypoint's destination, as Istio);
- the peer's namespace: the namespace in its certificate's URI SAN (``/ns/<ns>/``) first,
  then its workload's (``getNamespace``);
- principals: at ``destination`` and ``waypoint`` the first URI SAN of the peer's
  certificate (``source_principal``) and of the local one (``destination_principal``; a
  waypoint's is its upstream peer's ``identity``); ``connection_security_policy`` is
  ``mutual_tls`` when both are there, else ``none``. At ``source`` all three are ``unknown``:
  Istio reads them from the upstream TLS connection, which ALS does not log;
- ``destination_service``: Istio reads the cluster's ``istio.services`` metadata, which ALS
  does not carry; its value is recovered from the cluster name's host
  (``outbound|9080||details.default.svc.cluster.local``) and, for an inbound cluster without
  host (``inbound|9080||``), from the snapshot's Service of the local pod
  (``<name>.<namespace>.svc.<domain>``, the domain from the node id). Only a sidecar's
  outbound side falls back to the request's ``Host`` (``:authority``): Istio disables that
  fallback for inbound, gateway and waypoint listeners (istio/istio
  ``pilot/pkg/model/telemetry.go``, ``disableHostHeaderFallback``). Then, at
  ``destination``, the reporter's canonical service; else ``unknown``;
- ``destination_service_name``: ``BlackHoleCluster`` / ``PassthroughCluster`` for the
  ``block_all`` / ``allow_any`` routes and the clusters of those names (and the
  ``InboundPassthroughCluster*`` ones); else the Kubernetes Service name of the host (its
  first label when it is ``<name>.<namespace>.svc...``), else the host; else as
  ``destination_service``;
- ``destination_service_namespace``: at ``destination`` the reporter's namespace; else the
  Service's (from its host), at ``source`` then the peer's; ``destination_cluster``: the
  reporter's at ``destination``, the peer's otherwise (a snapshot's pod is in the reporter's
  cluster, :mod:`meshals.mesh._istio_identity`);
- ``request_protocol``: ``grpc`` when the request's ``content-type`` is ``application/grpc``
  or ``application/grpc+...`` (``Grpc::Common::isGrpcRequestHeaders``; gRPC-Web is ``http``);
  when the entry did not log ``content-type``, :func:`~meshals.mesh.protocol_of` decides;
  ``tcp`` for TCP entries;
- ``response_code``: the status, ``0`` without one; ``grpc_response_status`` (gRPC only):
  the ``grpc-status`` trailer, else header, else inferred from the HTTP status
  (Envoy ``Grpc::Common::getGrpcStatus``), else ``""``;
- ``response_flags``: Envoy's short codes joined with ``,``, ``-`` when none.

**Measures.** Request and response sizes are the downstream wire bytes
(``downstream_wire_bytes_received`` / ``_sent``: ``getDownstreamBytesMeter``), the duration
is the entry's ``duration`` truncated to whole ms (``requestComplete()``), not observed
without one; gRPC message counts from the ``envoy.filters.http.grpc_stats`` filter-state
object when logged. A TCP entry is one connection opened and closed, with its downstream
wire bytes. An Envoy that logs no wire counts (before ``downstream_wire_bytes_*`` existed)
gives 0: the entry's body or connection counts are other measures, not taken for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from meshals._values import FrozenMap
from meshals.codec._filter_objects import GRPC_STATS_KEY, grpc_message_counts
from meshals.model._als import AccessLogCommon, CertificateProperties, HttpEntry, LogEntry
from meshals.model._clusters import parse_istio_cluster, special_cluster_of
from meshals.model._istio import IstioSample, IstioWorkload
from meshals.model._metrics import MeshProtocol
from meshals.model._role import Role
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._accounting import SkipReason
from ._addresses import Endpoint, caller_of, endpoint_of
from ._istio_identity import peer_workload
from ._k8s_mesh import final_common, sidecar_direction
from ._peers import PeerSide, peers_of
from ._status import _header, grpc_status_of, protocol_of

__all__ = ["ISTIO_LABELS", "TCP_LABELS", "istio_sample_of"]

#: Every label of the request series, in the order Istio's stats filter lists them.
ISTIO_LABELS: Final = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
)
#: The labels of the TCP series: the request series' without the response's.
TCP_LABELS: Final = ISTIO_LABELS[:-2]

UNKNOWN: Final = "unknown"
_NS_PER_MS: Final = 1_000_000
# Istio's routes for REGISTRY_ONLY (block_all) and ALLOW_ANY (allow_any) outbound traffic.
_ROUTE_SERVICE_NAMES: Final = {"block_all": "BlackHoleCluster", "allow_any": "PassthroughCluster"}
_KUBERNETES_HOST: Final = re.compile(r"([^.]+)\.([^.]+)\.svc(?:\.(.+))?")
_DEFAULT_DOMAIN: Final = "cluster.local"
# Envoy's Grpc::Utility::httpToGrpcStatus (after grpc's http-grpc-status-mapping.md).
_HTTP_TO_GRPC: Final = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
_GRPC_UNKNOWN: Final = 2


def istio_sample_of(
    entry: LogEntry,
    *,
    role: Role,
    own: IstioWorkload,
    own_ips: tuple[str, ...],
    domain: str | None,
    workloads: KubernetesWorkloads | None,
) -> IstioSample | SkipReason:
    """The sample an Istio proxy in *role* would count for *entry*, or why there is none.

    Args:
        entry: an HTTP or TCP entry.
        role: the Envoy's role (sidecar, gateway, waypoint).
        own: the Envoy's own workload (:class:`~meshals.mesh._istio_identity.OwnWorkloads`).
        own_ips: the Envoy node's own IPs.
        domain: the cluster's DNS domain (``cluster.local``), None when unknown.
        workloads: the snapshot's workloads, or None.

    Returns:
        The sample, or a skip reason (no common properties, an intermediate entry, a sidecar
        entry whose direction nothing decides, an entry with no caller or local address).
    """
    common = final_common(entry)
    if isinstance(common, SkipReason):
        return common
    caller = caller_of(common)
    local = endpoint_of(common.downstream_local_address)
    if role is Role.SIDECAR:
        if caller is None:
            return SkipReason.NO_SOURCE_ADDRESS
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS
        direction = sidecar_direction(common.upstream_cluster, local, caller, own_ips)
        if direction is None:
            return SkipReason.UNKNOWN_DIRECTION
        reporter = "destination" if direction.is_inbound else "source"
    else:
        reporter = "waypoint" if role is Role.WAYPOINT else "source"
    labels = _Labels(entry, common, reporter, own, workloads)
    labels.service(role, local, domain)
    labels.peers(caller, endpoint_of(common.upstream_remote_address))
    return labels.sample()


def first_uri_san(certificate: CertificateProperties | None) -> str | None:
    """The first URI SAN of a certificate (``uriSanPeerCertificate()[0]``), or None."""
    if certificate is None:
        return None
    return next((san.uri for san in certificate.subject_alt_name if san.uri), None)


def san_namespace(principal: str | None) -> str | None:
    """The namespace in ``<domain>/ns/<namespace>/sa/<account>`` (``getNamespace``)."""
    if not principal:
        return None
    _, found, rest = principal.partition("/ns/")
    return rest.partition("/")[0] if found else None


def _value(text: str | None) -> str:
    return text or UNKNOWN


def _raw(text: str | None) -> str:
    # The reporting proxy's own values, written as its metadata has them ("" when absent).
    return text or ""


class _Labels:
    """The label values of one entry's sample, filled in the steps of ``populatePeerInfo``."""

    def __init__(
        self,
        entry: LogEntry,
        common: AccessLogCommon,
        reporter: str,
        own: IstioWorkload,
        workloads: KubernetesWorkloads | None,
    ) -> None:
        self.entry = entry
        self.common = common
        self.reporter = reporter
        self.own = own
        self.workloads = workloads
        self.values: dict[str, str] = {"reporter": reporter}
        tls = common.tls_properties
        server_side = reporter != "source"  # ALS logs the downstream connection's TLS only
        self.peer_san = (
            first_uri_san(tls.peer_certificate_properties) if tls and server_side else None
        )
        self.local_san = (
            first_uri_san(tls.local_certificate_properties) if tls and server_side else None
        )
        # The cluster's Service (host, name, namespace), as istio.services would say it.
        self.host: str | None = None
        self.name: str | None = None
        self.namespace: str | None = None

    def peers(self, caller: Endpoint | None, upstream: Endpoint | None) -> None:
        found = peers_of(self.common.filter_state_objects)
        up_meta = _metadata(found.of(PeerSide.UPSTREAM))
        down_meta = _metadata(found.of(PeerSide.DOWNSTREAM))
        upstream_ip = None if upstream is None else upstream.ip
        caller_ip = None if caller is None else caller.ip
        values = self.values
        own = self.own
        cluster = own.cluster
        if self.reporter == "source":
            peer = peer_workload(up_meta, upstream_ip, self.workloads, cluster=cluster)
            self._own("source", principal=None)
            peer_namespace = None if peer is None else peer.namespace
            self._peer("destination", peer, namespace=peer_namespace, principal=None)
            values["destination_service"] = _value(self.host)
            values["destination_service_name"] = _value(self.name)
            values["destination_service_namespace"] = _value(self.namespace or peer_namespace)
            return
        peer = peer_workload(down_meta, caller_ip, self.workloads, cluster=cluster)
        namespace = san_namespace(self.peer_san) or (None if peer is None else peer.namespace)
        self._peer("source", peer, namespace=namespace, principal=self.peer_san)
        if self.reporter == "waypoint":
            endpoint = peer_workload(up_meta, upstream_ip, self.workloads, cluster=cluster)
            self._peer(
                "destination",
                endpoint,
                namespace=None if endpoint is None else endpoint.namespace,
                principal=None if endpoint is None else endpoint.identity,
                latest=False,
            )
            values["destination_service"] = _value(self.host)
            values["destination_service_name"] = _value(self.name)
            values["destination_service_namespace"] = _value(self.namespace)
            return
        self._own("destination", principal=self.local_san)
        canonical = _raw(own.canonical_service)
        values["destination_service"] = self.host or canonical
        values["destination_service_name"] = self.name or canonical
        values["destination_service_namespace"] = _raw(own.namespace)

    def _own(self, side: str, *, principal: str | None) -> None:
        """The reporting proxy's own side: its metadata as it is."""
        own = self.own
        values = self.values
        values[f"{side}_workload"] = _raw(own.workload)
        values[f"{side}_workload_namespace"] = _raw(own.namespace)
        values[f"{side}_principal"] = _value(principal)
        values[f"{side}_app"] = _raw(own.app)
        values[f"{side}_version"] = _raw(own.version)
        values[f"{side}_canonical_service"] = _raw(own.canonical_service)
        values[f"{side}_canonical_revision"] = _raw(own.canonical_revision)
        values[f"{side}_cluster"] = _raw(own.cluster)

    def _peer(
        self,
        side: str,
        workload: IstioWorkload | None,
        *,
        namespace: str | None,
        principal: str | None,
        latest: bool = True,
    ) -> None:
        """A peer's labels, ``unknown`` where it says nothing; *latest*: an unknown canonical
        revision is ``latest`` (a waypoint's endpoint's is ``unknown``)."""
        found = workload if workload is not None else IstioWorkload()
        values = self.values
        values[f"{side}_workload"] = _value(found.workload)
        values[f"{side}_workload_namespace"] = _value(namespace)
        values[f"{side}_principal"] = _value(principal)
        values[f"{side}_app"] = _value(found.app)
        values[f"{side}_version"] = _value(found.version)
        values[f"{side}_canonical_service"] = _value(found.canonical_service)
        revision = found.canonical_revision
        values[f"{side}_canonical_revision"] = revision or ("latest" if latest else UNKNOWN)
        values[f"{side}_cluster"] = _value(found.cluster)

    def service(self, role: Role, local: Endpoint | None, domain: str | None) -> None:
        """The cluster's Service: host, name and namespace (module docstring)."""
        common = self.common
        sidecar_outbound = role is Role.SIDECAR and self.reporter == "source"
        if sidecar_outbound and isinstance(self.entry, HttpEntry) and self.entry.request:
            self.host = self.entry.request.authority or None  # Istio's Host header fallback
            self.name = self.host
        special = special_cluster_of(common.upstream_cluster)
        parsed = parse_istio_cluster(common.upstream_cluster)
        if common.route_name in _ROUTE_SERVICE_NAMES:
            self.name = _ROUTE_SERVICE_NAMES[common.route_name]
        elif special is not None:
            self.name = common.upstream_cluster
        elif parsed is not None and parsed.host:
            self.host = parsed.host
            kubernetes = _KUBERNETES_HOST.fullmatch(parsed.host)
            self.name = parsed.host if kubernetes is None else kubernetes.group(1)
            self.namespace = None if kubernetes is None else kubernetes.group(2)
        elif parsed is not None and local is not None and self.workloads is not None:
            # The inbound cluster's Services: the local pod's, on the cluster's port.
            service = self.workloads.service_of(local.ip, parsed.port)
            if service is not None:
                self.name, self.namespace = service
                self.host = f"{self.name}.{self.namespace}.svc.{domain or _DEFAULT_DOMAIN}"

    def sample(self) -> IstioSample:
        common = self.common
        values = self.values
        flags = sorted(common.response_flags, key=lambda flag: flag.field_number)
        values["response_flags"] = ",".join(flag.short_code for flag in flags) or "-"
        if self.reporter == "source":
            values["connection_security_policy"] = UNKNOWN
        else:
            mutual = bool(self.peer_san) and bool(self.local_san)
            values["connection_security_policy"] = "mutual_tls" if mutual else "none"
        received = common.downstream_wire_bytes_received
        sent = common.downstream_wire_bytes_sent
        entry = self.entry
        if not isinstance(entry, HttpEntry):
            values["request_protocol"] = "tcp"
            return IstioSample(
                labels=_ordered(values, TCP_LABELS),
                tcp=True,
                request_bytes=received,
                response_bytes=sent,
            )
        grpc = _is_grpc(entry)
        values["request_protocol"] = "grpc" if grpc else "http"
        code = None if entry.response is None else entry.response.response_code
        values["response_code"] = str(code or 0)
        values["grpc_response_status"] = _grpc_status(entry, code) if grpc else ""
        messages = _grpc_messages(common) if grpc else None
        duration = common.duration_ns
        return IstioSample(
            labels=_ordered(values, ISTIO_LABELS),
            tcp=False,
            duration_ms=None if duration is None else duration // _NS_PER_MS,
            request_bytes=received,
            response_bytes=sent,
            request_messages=None if messages is None else messages[0],
            response_messages=None if messages is None else messages[1],
        )


def _metadata(peer: object) -> Mapping[str, object] | None:
    metadata = getattr(peer, "metadata", None)
    return metadata if isinstance(metadata, Mapping) else None


def _ordered(values: Mapping[str, str], names: tuple[str, ...]) -> FrozenMap[str, str]:
    return FrozenMap({name: values[name] for name in names})


def _is_grpc(entry: HttpEntry) -> bool:
    request = entry.request
    content_type = None if request is None else _header(request.request_headers, "content-type")
    if content_type is None:  # not logged: meshals' inference (mesh._status)
        return protocol_of(entry) is MeshProtocol.GRPC
    # Envoy Grpc::Common::hasGrpcContentType: application/grpc, or application/grpc+<format>.
    content_type = content_type.strip().lower()
    return content_type == "application/grpc" or content_type.startswith("application/grpc+")


def _grpc_status(entry: HttpEntry, code: int | None) -> str:
    status = grpc_status_of(entry)
    if status is None and code is not None:
        status = _HTTP_TO_GRPC.get(code, _GRPC_UNKNOWN)
    return "" if status is None else str(status)


def _grpc_messages(common: AccessLogCommon) -> tuple[int, int] | None:
    value = common.filter_state_objects.get(GRPC_STATS_KEY)
    return None if value is None else grpc_message_counts(value)


def domain_of_node_id(node_id: str) -> str | None:
    """The DNS domain of an Istio node id's last part (``ns.svc.cluster.local``), or None."""
    parts = node_id.split("~")
    if len(parts) != 4:
        return None
    found = _KUBERNETES_HOST.fullmatch(f"x.{parts[3]}")
    return None if found is None else found.group(3)
