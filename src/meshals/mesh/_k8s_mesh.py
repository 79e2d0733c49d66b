"""The ``k8s-mesh`` rules: how one access-log entry becomes service-mesh metrics.

Peers are named by resolving addresses (IP and port) with the caller's resolver; a peer nobody
can name is :data:`~meshals.UNKNOWN`, on every path. The caller's address is the entry's
``downstream_direct_remote_address`` when it names an IP, else ``downstream_remote_address``
(as SkyWalking: the direct address is the TCP peer, the other may come from
``X-Forwarded-For`` or the PROXY protocol).

Before any role rule, an entry is skipped when it has no common properties, when it is an
intermediate entry (:func:`is_intermediate`), or when no caller address names an IP.

**Gateways and waypoints** (:attr:`~meshals.Role.PROXY`, :attr:`~meshals.Role.WAYPOINT`): the
Envoy itself is named by its downstream local address, or by the node's own IP (node id,
``INSTANCE_IPS``) when that address names no IP. Each entry gives

1. a server-side metric, caller -> the Envoy, and
2. when the entry has an upstream address that names an IP, a client-side metric,
   the Envoy -> the upstream host (TLS mode NONE: ALS logs TLS for the downstream only).

**Sidecars** (:attr:`~meshals.Role.SIDECAR`): the entry's direction decides.

- ``inbound|...``, ``inbound-vip|...`` and ``InboundPassthroughCluster*``: a server-side
  metric, caller -> the workload at the downstream local address.
- ``outbound|...`` (also ``outbound_.``), ``PassthroughCluster``, ``BlackHoleCluster``: a
  client-side metric, caller (the application) -> the upstream host. The special clusters name
  the peer with their pseudo-service (``PassthroughCluster``, ``BlackHoleCluster``); an entry
  without upstream address (the call failed before a host was chosen) names the peer by the
  address the application dialled, the downstream local address (often a Service VIP).
- An empty cluster (Envoy logs none for ``UH``, ``NR``, ``NC`` and for denied requests) or one
  that is not Istio's: a downstream local port of 15001 is Istio's outbound capture listener
  (``virtualOutbound``) and 15006 its inbound one (``virtualInbound``), which decide. Otherwise
  inbound when the downstream local IP is one of the node's own IPs and the caller's is not,
  outbound when the local IP is not the node's. Skipped as ``unknown-direction`` when the node
  names no IP, or when caller and local address are both the node's own: the application's
  outbound call dialled through its sidecar looks the same as a call into it, and taking it as
  inbound would invent a call from the workload to itself. An outbound call captured on 15001
  with no upstream host names its peer ``UNKNOWN``: the address it dialled is the capture
  listener, not the destination.

**SkyWalking's semantics** (``semantics="skywalking"``, :mod:`meshals.mesh._semantics`):
intermediate entries are analysed too; a gateway or waypoint entry needs a local IP and an
upstream host (both metrics, or none: ``skywalking-no-metric: gateway-without-upstream``);
a sidecar entry needs Istio's ``inbound|``/``outbound|`` cluster (special and empty
clusters make no metric) and an outbound one an upstream host. Each such entry is skipped
with a ``skywalking-no-metric: ...`` reason.
"""

from __future__ import annotations

from typing import Literal

from meshals.model._als import (
    AccessLogCommon,
    AccessLogType,
    HttpEntry,
    LogEntry,
    RequestMethod,
    TcpEntry,
)
from meshals.model._clusters import (
    ClusterDirection,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from meshals.model._construct import slot_constructor
from meshals.model._metrics import (
    K8S_MESH,
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.resolve._protocol import Resolver

from ._accounting import SkipReason
from ._addresses import (
    Endpoint,
    caller_of,
    endpoint_of,
    is_own_ip,
    new_endpoint,
    socket_endpoint_of,
)
from ._semantics import (
    SKYWALKING,
    SKYWALKING_DEFAULT_RESPONSE_CODE,
    SKYWALKING_NO_SOURCE,
    Semantics,
    skywalking_protocol,
)
from ._status import _header, grpc_status_of, protocol_of, status_of
from ._tls import local_identity_of, peer_identity_of, tls_mode_of

__all__: list[str] = []

EndpointQuery = Literal["keep", "strip"]

# Entries Envoy writes before a request or connection ends; the final entry (DownstreamEnd,
# TcpConnectionEnd, ...) repeats their information, and byte counters are cumulative.
_INTERMEDIATE_TYPES = frozenset(
    {
        AccessLogType.TcpUpstreamConnected,
        AccessLogType.TcpPeriodic,
        AccessLogType.DownstreamStart,
        AccessLogType.DownstreamPeriodic,
        AccessLogType.UpstreamPoolReady,
        AccessLogType.UpstreamPeriodic,
        AccessLogType.DownstreamTunnelSuccessfullyEstablished,
        AccessLogType.UdpTunnelUpstreamConnected,
        AccessLogType.UdpPeriodic,
    }
)


def is_intermediate(common: AccessLogCommon) -> bool:
    """True for an entry written before its request or connection ended.

    That is an entry flagged ``intermediate_log_entry`` (Envoy's older flag) or whose
    ``access_log_type`` is a start, pool-ready, tunnel-established or periodic type. Final
    types (``DownstreamEnd``, ``UpstreamEnd``, ``TcpConnectionEnd``, ``UdpSessionEnd``),
    ``NotSet`` (Envoy before 1.25) and numbers this schema does not know are final.

    >>> is_intermediate(AccessLogCommon(access_log_type=AccessLogType.TcpPeriodic))
    True
    >>> is_intermediate(AccessLogCommon(access_log_type=AccessLogType.DownstreamEnd))
    False
    """
    return common.intermediate_log_entry or common.access_log_type in _INTERMEDIATE_TYPES


def final_common(entry: LogEntry) -> AccessLogCommon | SkipReason:
    """The common properties of a final entry, or why *entry* is not analysed: it has none,
    or it is an intermediate entry (:func:`is_intermediate`)."""
    common = entry.common_properties
    if common is None:
        return SkipReason.NO_COMMON_PROPERTIES
    if is_intermediate(common):
        return SkipReason.INTERMEDIATE_ENTRY
    return common


def _method_name(method: RequestMethod | int) -> str:
    return method.name if isinstance(method, RequestMethod) else str(method)


class EntryAnalyzer:
    """Applies the k8s-mesh rules (module docstring) to one entry at a time.

    Args:
        resolver: names the workload behind an IP and port.
        endpoint_query: keep or strip the query string of HTTP paths in ``endpoint``.
        semantics: meshals' rules, or SkyWalking's (:mod:`meshals.mesh._semantics`).
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        endpoint_query: EndpointQuery = "keep",
        semantics: Semantics = "meshals",
    ) -> None:
        self._resolver = resolver
        self._strip_query = endpoint_query == "strip"
        self._semantics: Semantics = semantics

    def analyze(
        self, entry: LogEntry, *, role: Role, own_ips: tuple[str, ...], origin: MetricOrigin
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        """The metrics of *entry* logged by an Envoy in *role*, or why there are none.

        Args:
            entry: an HTTP or TCP entry.
            role: the Envoy's role (not NONE).
            own_ips: the Envoy node's own IPs (see :func:`~meshals.mesh._addresses.node_ips`).
            origin: where the entry came from.

        Returns:
            One metric (sidecar) or one or two (gateway, waypoint); or the reason for none.
        """
        skywalking = self._semantics == SKYWALKING
        # SkyWalking analyses intermediate entries too.
        common = entry.common_properties if skywalking else final_common(entry)
        if common is None:
            return SkipReason.NO_COMMON_PROPERTIES
        if isinstance(common, SkipReason):
            return common
        caller = caller_of(common)
        if caller is None:
            return SkipReason.NO_SOURCE_ADDRESS
        build = MetricBuilder(
            entry, common, role, origin, self._strip_query, semantics=self._semantics
        )
        if skywalking:
            return _skywalking_rules(self, build, common, role)
        if role is Role.SIDECAR:
            return self._sidecar(build, common, caller, own_ips)
        return self._proxy(build, common, caller, own_ips)

    def resolve(self, endpoint: Endpoint) -> ServiceMetaInfo:
        """The workload at *endpoint*; UNKNOWN when the resolver cannot name it. SkyWalking
        asks by IP only."""
        port = None if self._semantics == SKYWALKING else endpoint.port
        found = self._resolver.resolve(endpoint.ip, port)
        return UNKNOWN if found is None else found

    def _proxy(
        self,
        build: MetricBuilder,
        common: AccessLogCommon,
        caller: Endpoint,
        own_ips: tuple[str, ...],
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        local = endpoint_of(common.downstream_local_address)
        if local is None and own_ips:
            local = new_endpoint(own_ips[0], None)
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS
        itself = self.resolve(local)
        server = build(DetectPoint.SERVER, self.resolve(caller), itself, tls=True)
        upstream = endpoint_of(common.upstream_remote_address)
        if upstream is None:
            return (server,)
        return server, build(DetectPoint.CLIENT, itself, self.resolve(upstream), tls=False)

    def _sidecar(
        self,
        build: MetricBuilder,
        common: AccessLogCommon,
        caller: Endpoint,
        own_ips: tuple[str, ...],
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        local = endpoint_of(common.downstream_local_address)
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS
        special = special_cluster_of(common.upstream_cluster)
        direction = _direction(common.upstream_cluster, special, local, caller, own_ips)
        if direction is None:
            return SkipReason.UNKNOWN_DIRECTION
        source = self.resolve(caller)
        if direction.is_inbound:
            return (build(DetectPoint.SERVER, source, self.resolve(local), tls=True),)
        if special is not None:
            destination = special.pseudo_service
        else:
            upstream = endpoint_of(common.upstream_remote_address)
            if upstream is not None:
                destination = self.resolve(upstream)
            elif local.port == _OUTBOUND_CAPTURE_PORT:
                destination = UNKNOWN  # the dialled address is the capture listener's
            else:
                destination = self.resolve(local)
        return (build(DetectPoint.CLIENT, source, destination, tls=True),)


# Istio's capture listeners: iptables sends the application's outbound connections to 15001
# (virtualOutbound) and incoming ones to 15006 (virtualInbound). A connection accepted on one
# of them without the original destination restored keeps the listener's port.
_OUTBOUND_CAPTURE_PORT = 15001
_INBOUND_CAPTURE_PORT = 15006
_CAPTURE_DIRECTIONS: dict[int | None, ClusterDirection] = {
    _OUTBOUND_CAPTURE_PORT: ClusterDirection.OUTBOUND,
    _INBOUND_CAPTURE_PORT: ClusterDirection.INBOUND,
}


def sidecar_direction(
    cluster: str, local: Endpoint, caller: Endpoint, own_ips: tuple[str, ...]
) -> ClusterDirection | None:
    """A sidecar entry's direction by the rules of the module docstring, or None when the
    evidence does not decide it. The Istio metrics decide their reporter here too.
    """
    return _direction(cluster, special_cluster_of(cluster), local, caller, own_ips)


def _direction(
    cluster: str,
    special: SpecialCluster | None,
    local: Endpoint,
    caller: Endpoint,
    own_ips: tuple[str, ...],
) -> ClusterDirection | None:
    """The entry's direction, or None when the evidence does not decide it."""
    if special is not None:
        return special.direction
    parsed = parse_istio_cluster(cluster)
    if parsed is not None:
        return parsed.direction
    captured = _CAPTURE_DIRECTIONS.get(local.port)
    if captured is not None:
        return captured
    if not own_ips:
        return None
    if not is_own_ip(local.ip, own_ips):
        return ClusterDirection.OUTBOUND
    if is_own_ip(caller.ip, own_ips):
        return None  # the workload's own call through its sidecar, or a call into it
    return ClusterDirection.INBOUND


def _skywalking_rules(
    analyzer: EntryAnalyzer,
    build: MetricBuilder,
    common: AccessLogCommon,
    role: Role,
) -> tuple[ServiceMeshMetric, ...] | SkipReason:
    """SkyWalking's own k8s-mesh rules (``semantics="skywalking"``): a gateway needs a local
    IP and an upstream host; a sidecar entry needs Istio's ``inbound|``/``outbound|`` cluster,
    and an outbound one an upstream host. Everything else makes no metric there."""
    # SkyWalking reads socket addresses only (not ambient's internal ip:port addresses).
    caller = socket_endpoint_of(common.downstream_direct_remote_address) or socket_endpoint_of(
        common.downstream_remote_address
    )
    if caller is None:
        return SkipReason.NO_SOURCE_ADDRESS
    local = socket_endpoint_of(common.downstream_local_address)
    upstream = socket_endpoint_of(common.upstream_remote_address)
    if role is not Role.SIDECAR:
        if local is None:
            return SkipReason.SKYWALKING_GATEWAY_WITHOUT_LOCAL_IP
        if upstream is None:
            return SkipReason.SKYWALKING_GATEWAY_WITHOUT_UPSTREAM
        itself = analyzer.resolve(local)
        return (
            build(DetectPoint.SERVER, analyzer.resolve(caller), itself, tls=True),
            build(DetectPoint.CLIENT, itself, analyzer.resolve(upstream), tls=False),
        )
    if local is None:
        return SkipReason.NO_LOCAL_ADDRESS
    if special_cluster_of(common.upstream_cluster) is not None:
        return SkipReason.SKYWALKING_SPECIAL_CLUSTER
    parsed = parse_istio_cluster(common.upstream_cluster)
    if parsed is None:
        return SkipReason.SKYWALKING_NO_ISTIO_CLUSTER
    source = analyzer.resolve(caller)
    if parsed.direction.is_inbound:
        if source.is_unknown:
            source = SKYWALKING_NO_SOURCE
        return (build(DetectPoint.SERVER, source, analyzer.resolve(local), tls=True),)
    if upstream is None:
        return SkipReason.SKYWALKING_OUTBOUND_WITHOUT_UPSTREAM
    return (build(DetectPoint.CLIENT, source, analyzer.resolve(upstream), tls=True),)


class MetricBuilder:
    """Builds the metrics of one entry: what they share is computed once.

    The ``mx-mesh`` analysis builds its metrics here too; *analyzer* names who made them.
    """

    __slots__ = (
        "_analyzer",
        "_endpoint",
        "_flags",
        "_grpc_status",
        "_local_identity",
        "_origin",
        "_peer_identity",
        "_protocol",
        "_received",
        "_request_bytes",
        "_request_id",
        "_response_bytes",
        "_response_code",
        "_role",
        "_sent",
        "_skywalking",
        "_timings",
        "_tls_mode",
        "_traceparent",
    )

    def __init__(
        self,
        entry: LogEntry,
        common: AccessLogCommon,
        role: Role,
        origin: MetricOrigin,
        strip_query: bool,
        *,
        analyzer: str = K8S_MESH,
        semantics: Semantics = "meshals",
    ) -> None:
        self._analyzer = analyzer
        self._skywalking = semantics == SKYWALKING
        self._role = role
        self._origin = origin
        self._timings = EntryTimings.from_common(common)
        self._flags = common.response_flags
        self._tls_mode = tls_mode_of(common.tls_properties)
        self._peer_identity = peer_identity_of(common.tls_properties)
        self._local_identity = local_identity_of(common.tls_properties)
        self._endpoint: str | None = None
        self._response_code: int | None = None
        self._grpc_status: int | None = None
        self._received: int | None = None
        self._sent: int | None = None
        self._request_bytes: int | None = None
        self._response_bytes: int | None = None
        self._request_id: str | None = None
        self._traceparent: str | None = None
        if isinstance(entry, TcpEntry):
            self._protocol = MeshProtocol.TCP
            if entry.connection_properties is not None:
                self._received = entry.connection_properties.received_bytes
                self._sent = entry.connection_properties.sent_bytes
        else:
            self._http_parts(entry, strip_query)

    def _http_parts(self, entry: HttpEntry, strip_query: bool) -> None:
        self._protocol = skywalking_protocol(entry) if self._skywalking else protocol_of(entry)
        if entry.request is not None:
            path = entry.request.path
            if strip_query:
                path = path.partition("?")[0]
            self._endpoint = f"{_method_name(entry.request.request_method)}:{path}"
            self._request_bytes = entry.request.request_body_bytes
            self._request_id = entry.request.request_id or None
            self._traceparent = _header(entry.request.request_headers, "traceparent")
        if entry.response is not None:
            self._response_code = entry.response.response_code
            self._response_bytes = entry.response.response_body_bytes
        if self._skywalking:
            # SkyWalking reads no grpc-status for the status; an absent code is 200 there.
            if self._response_code is None:
                self._response_code = SKYWALKING_DEFAULT_RESPONSE_CODE
        elif self._protocol is MeshProtocol.GRPC:
            self._grpc_status = grpc_status_of(entry)

    def __call__(
        self,
        detect_point: DetectPoint,
        source: ServiceMetaInfo,
        destination: ServiceMetaInfo,
        *,
        tls: bool,
    ) -> ServiceMeshMetric:
        tls_mode = self._tls_mode if tls else TlsMode.NONE
        # Positional, in ServiceMeshMetric's field order (see meshals.model._construct).
        return _new_metric(
            self._analyzer,
            self._role,
            detect_point,
            self._protocol,
            source,
            destination,
            self._endpoint,
            self._response_code,
            self._grpc_status,
            status_of(
                self._protocol,
                detect_point,
                response_code=self._response_code,
                grpc_status=self._grpc_status,
                response_flags=self._flags,
            ),
            tls_mode,
            self._peer_identity if tls else None,
            self._local_identity if tls else None,
            self._flags,  # response_flags
            self._timings,
            self._received,  # received_bytes
            self._sent,  # sent_bytes
            self._request_bytes,
            self._response_bytes,
            self._origin,
            self._request_id,
            self._traceparent,
        )


_new_metric = slot_constructor(ServiceMeshMetric)
