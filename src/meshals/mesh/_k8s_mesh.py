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

from meshals.model._als import AccessLogCommon, AccessLogType, LogEntry, SocketAddress
from meshals.model._clusters import (
    ClusterDirection,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from meshals.model._metrics import K8S_MESH, DetectPoint, MetricOrigin, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.resolve._ports import reads_ports
from meshals.resolve._protocol import Resolver

from ._accounting import SkipReason
from ._addresses import (
    AddressKey,
    Endpoint,
    address_key,
    caller_ip_port,
    endpoint_of_key,
    is_own_ip,
    new_endpoint,
)
from ._builder import build_metric, metric_parts
from ._semantics import SKYWALKING, SKYWALKING_NO_SOURCE, Semantics

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


# The metrics an entry makes, decided by its reporter, cluster and addresses (see
# EntryAnalyzer): (detect point, source, destination, TLS of the downstream connection) each;
# a source of None stands for the caller, resolved per entry when the resolver may read ports
# (meshals.resolve._ports): the caller's port changes from connection to connection.
_Place = tuple[DetectPoint, ServiceMetaInfo | None, ServiceMetaInfo, bool]
_Placement = tuple[_Place, ...] | SkipReason
# (role's value, own IPs, cluster, downstream local address, caller IP, upstream remote
# address): every input of EntryAnalyzer._placement, the addresses as address_key gives them.
_PlacementKey = tuple[str, tuple[str, ...], str, AddressKey, str, AddressKey]
# Distinct placements of one analysis: a few per pair of workloads; forgotten all at once when
# full (as meshals.resolve.RunMemo), so memory stays flat whatever the input.
_PLACEMENTS_MAX = 4096


class EntryAnalyzer:
    """Applies the k8s-mesh rules (module docstring) to one entry at a time.

    Which metrics an entry makes, and whom they name, depends only on the Envoy's role and own
    IPs, the entry's cluster, its downstream local and upstream remote addresses and its
    caller's IP (and the resolver's answers, deterministic by the protocol): that placement is
    decided once per distinct combination and remembered for the analyzer's lifetime (one
    analysis), at most ``_PLACEMENTS_MAX`` at a time. The caller's own workload is resolved per
    entry, by IP and port, unless the resolver is known to answer by IP alone
    (:func:`~meshals.resolve._ports.reads_ports`); then it is part of the placement too.

    Args:
        resolver: names the workload behind an IP and port.
        endpoint_query: keep or strip the query string of HTTP paths in ``endpoint``.
        semantics: meshals' rules, or SkyWalking's (:mod:`meshals.mesh._semantics`).
    """

    __slots__ = (
        "_caller_by_ip",
        "_placements",
        "_resolver",
        "_semantics",
        "_skywalking",
        "_strip_query",
    )

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
        self._skywalking = semantics == SKYWALKING
        self._placements: dict[_PlacementKey, _Placement] = {}
        # A resolver known to answer by IP alone names the caller in the placement too.
        self._caller_by_ip = not reads_ports(resolver)

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
        skywalking = self._skywalking
        common = entry.common_properties
        if common is None:
            return SkipReason.NO_COMMON_PROPERTIES
        # SkyWalking analyses intermediate entries too.
        if not skywalking and (
            common.intermediate_log_entry or common.access_log_type in _INTERMEDIATE_TYPES
        ):
            return SkipReason.INTERMEDIATE_ENTRY
        caller = caller_ip_port(common, sockets_only=skywalking)
        if caller is None:
            return SkipReason.NO_SOURCE_ADDRESS
        # address_key() inlined for socket addresses, nearly every address: two calls less.
        local = common.downstream_local_address
        upstream = common.upstream_remote_address
        key = (
            role._value_,  # the member's hash is Python code, its value's is not
            own_ips,
            common.upstream_cluster,
            (local.address, local.port) if type(local) is SocketAddress else address_key(local),
            caller[0],
            (upstream.address, upstream.port)
            if type(upstream) is SocketAddress
            else address_key(upstream),
        )
        placement = self._placements.get(key)
        if placement is None:
            placement = self._placement(key)
        if isinstance(placement, SkipReason):
            return placement
        parts = metric_parts(
            entry, common, role, origin, self._strip_query, analyzer=K8S_MESH, skywalking=skywalking
        )
        detect_point, source, destination, tls = placement[0]
        if source is None:
            source = self._caller(caller)
        first = build_metric(parts, detect_point, source, destination, tls)
        if len(placement) == 1:
            return (first,)
        detect_point, source, destination, tls = placement[1]
        if source is None:  # pragma: no cover - a second metric never starts at the caller
            source = self._caller(caller)
        return first, build_metric(parts, detect_point, source, destination, tls)

    def _caller(self, caller: tuple[str, int | None]) -> ServiceMetaInfo:
        found = self._resolver.resolve(*caller)
        return UNKNOWN if found is None else found

    def _placement(self, key: _PlacementKey) -> _Placement:
        """The placement of the entries whose key is *key*, decided and remembered."""
        role_value, own_ips, cluster, local_key, caller_ip, upstream_key = key
        role = Role(role_value)
        skywalking = self._skywalking
        # SkyWalking reads socket addresses only (not ambient's internal ip:port addresses).
        local = endpoint_of_key(local_key, sockets_only=skywalking)
        upstream = endpoint_of_key(upstream_key, sockets_only=skywalking)
        # The caller's port is left out: the rules read its IP, and it is resolved per entry
        # (None) unless the resolver is known to give every port the same answer.
        caller = new_endpoint(caller_ip, None)
        caller_source = self.resolve(caller) if self._caller_by_ip else None
        placement: _Placement
        if skywalking:
            placement = _skywalking_rules(
                self, role=role, cluster=cluster, local=local, caller=caller, upstream=upstream
            )
        elif role is Role.SIDECAR:
            placement = self._sidecar(
                cluster,
                local,
                caller=caller,
                caller_source=caller_source,
                upstream=upstream,
                own_ips=own_ips,
            )
        else:
            placement = self._proxy(local, caller_source, upstream, own_ips)
        placements = self._placements
        if len(placements) >= _PLACEMENTS_MAX:
            placements.clear()
        placements[key] = placement
        return placement

    def resolve(self, endpoint: Endpoint) -> ServiceMetaInfo:
        """The workload at *endpoint*; UNKNOWN when the resolver cannot name it. SkyWalking
        asks by IP only."""
        port = None if self._skywalking else endpoint.port
        found = self._resolver.resolve(endpoint.ip, port)
        return UNKNOWN if found is None else found

    def _proxy(
        self,
        local: Endpoint | None,
        caller_source: ServiceMetaInfo | None,
        upstream: Endpoint | None,
        own_ips: tuple[str, ...],
    ) -> _Placement:
        if local is None and own_ips:
            local = new_endpoint(own_ips[0], None)
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS
        itself = self.resolve(local)
        server = (DetectPoint.SERVER, caller_source, itself, True)
        if upstream is None:
            return (server,)
        return server, (DetectPoint.CLIENT, itself, self.resolve(upstream), False)

    def _sidecar(
        self,
        cluster: str,
        local: Endpoint | None,
        *,
        caller: Endpoint,
        caller_source: ServiceMetaInfo | None,
        upstream: Endpoint | None,
        own_ips: tuple[str, ...],
    ) -> _Placement:
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS
        special = special_cluster_of(cluster)
        direction = _direction(cluster, special, local, caller, own_ips)
        if direction is None:
            return SkipReason.UNKNOWN_DIRECTION
        if direction.is_inbound:
            return ((DetectPoint.SERVER, caller_source, self.resolve(local), True),)
        if special is not None:
            destination = special.pseudo_service
        elif upstream is not None:
            destination = self.resolve(upstream)
        elif local.port == _OUTBOUND_CAPTURE_PORT:
            destination = UNKNOWN  # the dialled address is the capture listener's
        else:
            destination = self.resolve(local)
        return ((DetectPoint.CLIENT, caller_source, destination, True),)


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
    *,
    role: Role,
    cluster: str,
    local: Endpoint | None,
    caller: Endpoint,
    upstream: Endpoint | None,
) -> _Placement:
    """SkyWalking's own k8s-mesh rules (``semantics="skywalking"``): a gateway needs a local
    IP and an upstream host; a sidecar entry needs Istio's ``inbound|``/``outbound|`` cluster,
    and an outbound one an upstream host. Everything else makes no metric there. (Addresses
    are socket addresses only; the caller is resolved here, by IP as SkyWalking asks.)"""
    if role is not Role.SIDECAR:
        if local is None:
            return SkipReason.SKYWALKING_GATEWAY_WITHOUT_LOCAL_IP
        if upstream is None:
            return SkipReason.SKYWALKING_GATEWAY_WITHOUT_UPSTREAM
        itself = analyzer.resolve(local)
        return (
            (DetectPoint.SERVER, analyzer.resolve(caller), itself, True),
            (DetectPoint.CLIENT, itself, analyzer.resolve(upstream), False),
        )
    if local is None:
        return SkipReason.NO_LOCAL_ADDRESS
    if special_cluster_of(cluster) is not None:
        return SkipReason.SKYWALKING_SPECIAL_CLUSTER
    parsed = parse_istio_cluster(cluster)
    if parsed is None:
        return SkipReason.SKYWALKING_NO_ISTIO_CLUSTER
    source = analyzer.resolve(caller)
    if parsed.direction.is_inbound:
        if source.is_unknown:
            source = SKYWALKING_NO_SOURCE
        return ((DetectPoint.SERVER, source, analyzer.resolve(local), True),)
    if upstream is None:
        return SkipReason.SKYWALKING_OUTBOUND_WITHOUT_UPSTREAM
    return ((DetectPoint.CLIENT, source, analyzer.resolve(upstream), True),)
