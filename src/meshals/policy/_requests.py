"""The requests an AuthorizationPolicy sees: server-side entries as :class:`ObservedRequest`.

Istio enforces a workload's policies where the workload receives traffic: on its sidecar's
inbound listeners, and on a waypoint for the traffic it serves. So one
:class:`ObservedRequest` is made per final HTTP or TCP entry of a sidecar's inbound side or of
a waypoint, with what Istio's RBAC filter reads of it (the attributes of
https://istio.io/latest/docs/reference/config/security/conditions/): the peer certificate's
principal, the connection's addresses, the port it was received on, the host, method, path and
headers, the SNI.

The walk is the one of Istio's standard metrics (:mod:`meshals.mesh._istio_walk`): streams and
roles by :class:`~meshals.mesh.Stream`, the final entry by ``final_common``, the sidecar's
direction by ``sidecar_direction``, the workloads of both sides by
:mod:`meshals.mesh._istio_identity` (node metadata, peer metadata, then the snapshot).

Every other entry is counted in :attr:`ObservedRequests.skipped` by reason, never dropped
silently: the analysis' :class:`~meshals.mesh.SkipReason` values where they apply
(``no-identifier``, ``intermediate-entry``, ``unknown-direction``, ``outside-time-range``, ...),
and ``sidecar-outbound`` (a caller's side: its policies are the destination's), ``gateway``
(a gateway's listeners; policies selecting gateways are not evaluated here) and
``l4-connection`` (a ztunnel or Kmesh line: the L4 enforcement of ambient mode is not
evaluated here).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping

import attrs

from meshals._values import FrozenMap
from meshals.mesh._accounting import SkipReason
from meshals.mesh._addresses import Endpoint, caller_of, endpoint_of, node_ips
from meshals.mesh._builder import method_name as _method_name
from meshals.mesh._istio_identity import OwnWorkloads, peer_workload
from meshals.mesh._istio_rules import first_uri_san
from meshals.mesh._k8s_mesh import final_common, sidecar_direction
from meshals.mesh._peers import PeerSide, node_metadata, peers_of
from meshals.mesh._streams import Stream, split_streams
from meshals.mesh._time_range import TimeRange
from meshals.model._als import (
    AccessLogCommon,
    AlsMessage,
    HttpEntry,
    LogEntry,
    Node,
    RequestMethod,
)
from meshals.model._clusters import parse_istio_cluster
from meshals.model._istio import IstioWorkload
from meshals.model._l4 import L4Connection
from meshals.model._role import Role
from meshals.resolve._k8s_workloads import KubernetesWorkloads

__all__ = ["ObservedRequest", "ObservedRequests", "observed_requests"]

SIDECAR_OUTBOUND = "sidecar-outbound"
GATEWAY = "gateway"
L4_CONNECTION = "l4-connection"
#: The scheme of a SPIFFE id; Istio writes principals without it.
SPIFFE_SCHEME = "spiffe://"
_NO_LABELS: FrozenMap[str, str] = FrozenMap()


@attrs.frozen(kw_only=True)
class ObservedRequest:
    """One request or connection as the destination's authorization sees it.

    Attributes:
        file: the input's name (``read()``'s readers carry it), else None.
        message_index: the message's 0-based index within its file or stream.
        entry_index: the entry's 0-based index within the message.
        tcp: a TCP connection (no host, method, path or headers).
        destination: the server side: the reporting proxy's own workload.
        destination_labels: its pod labels (node metadata ``LABELS``, else the snapshot's pod).
        destination_namespace: its namespace, None when unknown.
        destination_port: the port the server side was called on (``destination.port``).
        source: the caller's workload where peer metadata or the snapshot says, else None.
        source_principal: the peer certificate's first URI SAN without ``spiffe://``
            (``source.principal``); None without mutual TLS.
        source_ip: the downstream direct remote address (``source.ip``).
        remote_ip: the downstream remote address, which may come from ``X-Forwarded-For``
            (``remote.ip``); the direct one when that is not logged.
        host: the ``:authority``, None for TCP or when not logged.
        method: the request method, None for TCP or when not logged.
        path: the path as logged (with its query), None for TCP or when not logged.
        request_headers: the logged request headers, lower-case names.
        sni: the TLS SNI the caller sent (``connection.sni``), None without one.
        count: how many requests this value stands for.
        destination_ip: the address the server side was called on (``destination.ip``).
        waypoint: reported by a waypoint (ambient mode), not a sidecar.
        destination_service: the Service host the entry's ``inbound-vip|...`` (or old-style
            ``inbound|...``) cluster names (``reviews.default.svc.cluster.local``), else None:
            the Service a waypoint served, for policies attached to it by ``targetRefs``.
    """

    file: str | None
    message_index: int
    entry_index: int
    tcp: bool
    destination: IstioWorkload
    destination_labels: FrozenMap[str, str]
    destination_namespace: str | None
    destination_port: int | None
    source: IstioWorkload | None
    source_principal: str | None
    source_ip: str | None
    remote_ip: str | None
    host: str | None = None
    method: str | None = None
    path: str | None = None
    request_headers: FrozenMap[str, str] = _NO_LABELS
    sni: str | None = None
    count: int = 1
    destination_ip: str | None = None
    waypoint: bool = False
    destination_service: str | None = None


class ObservedRequests(Iterator[ObservedRequest]):
    """The observed requests of some streams, lazily, and the entries they leave out.

    Iterate it once. :attr:`skipped` counts, by reason (module docstring), each entry or L4
    line that is not a request a workload's policy sees; it is complete once the iteration
    has ended.
    """

    def __init__(self, requests: Iterator[ObservedRequest], skipped: dict[str, int]) -> None:
        self._requests = requests
        self._skipped = skipped

    def __next__(self) -> ObservedRequest:
        return next(self._requests)

    @property
    def skipped(self) -> Mapping[str, int]:
        """Entries left out so far, by reason, in the order the reasons were first met."""
        return FrozenMap(self._skipped)


def observed_requests(
    messages: Iterable[object],
    *,
    workloads: KubernetesWorkloads | None = None,
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
) -> ObservedRequests:
    """The requests the destinations' authorization policies see in *messages* (module
    docstring).

    Args:
        messages: one stream (``meshals.read(path)``) or an iterable of streams.
        workloads: the snapshot's workloads and labels, for what metadata does not say.
        since: only entries that started at or after this time (aware datetime or ns).
        until: only entries that started before this time.

    Returns:
        An iterator of :class:`ObservedRequest` in input order, with the skipped counts.

    Raises:
        StreamError: (while iterating) *messages* is not one stream or an iterable of streams.
        ValueError: an empty time range or a naive datetime.
    """
    skipped: dict[str, int] = {}
    walk = _Walk(workloads, TimeRange.of(since, until), skipped)
    return ObservedRequests(walk.run(messages), skipped)


class _Walk:
    def __init__(
        self,
        workloads: KubernetesWorkloads | None,
        time_range: TimeRange | None,
        skipped: dict[str, int],
    ) -> None:
        self._workloads = workloads
        self._time_range = time_range
        self._skipped = skipped
        self._own = OwnWorkloads(workloads)

    def _skip(self, reason: str, count: int = 1) -> None:
        self._skipped[reason] = self._skipped.get(reason, 0) + count

    def run(self, messages: Iterable[object]) -> Iterator[ObservedRequest]:
        for records in split_streams(messages):
            stream = Stream((), role_rule=None)
            position = 0
            for record in records:
                if isinstance(record, L4Connection):
                    self._skip(L4_CONNECTION)
                    continue
                item = stream.take(record)
                assert isinstance(record, AlsMessage)  # take() checked it
                index = position if record.index is None else record.index
                position += 1
                if item.identifier is None:
                    self._skip(SkipReason.NO_IDENTIFIER.value, len(record.entries))
                elif item.role in (Role.SIDECAR, Role.WAYPOINT):
                    yield from self._message(record, index, item.identifier.node, item.role)
                elif item.role is Role.PROXY:
                    self._skip(GATEWAY, len(record.entries))
                else:
                    self._skip(SkipReason.ROLE_NONE.value, len(record.entries))

    def _message(
        self, message: AlsMessage, index: int, node: Node | None, role: Role
    ) -> Iterator[ObservedRequest]:
        own_ips = node_ips(node)
        own = self._own.of(node, own_ips)
        labels = node_metadata(node).get("LABELS")
        file = None if message.source.startswith("<") else message.source
        entries: tuple[LogEntry, ...] = message.entries
        for entry_index, entry in enumerate(entries):
            common = self._server_side(entry, role, own_ips)
            if isinstance(common, str):
                self._skip(common)
                continue
            local = endpoint_of(common.downstream_local_address)
            request = self._request(
                entry,
                common,
                file=file,
                index=(index, entry_index),
                own=own,
                labels=self._labels(labels, local, own_ips),
                local=local,
            )
            yield attrs.evolve(request, waypoint=True) if role is Role.WAYPOINT else request

    def _server_side(
        self, entry: LogEntry, role: Role, own_ips: tuple[str, ...]
    ) -> AccessLogCommon | str:
        """The entry's common properties when a policy sees it, else why not."""
        common = final_common(entry)
        if isinstance(common, SkipReason):
            return common.value
        if self._time_range is not None:
            outside = self._time_range.place(common.start_time_ns)
            if outside is not None:
                return outside.value
        if role is Role.WAYPOINT:
            return common
        caller = caller_of(common)
        local = endpoint_of(common.downstream_local_address)
        if caller is None:
            return SkipReason.NO_SOURCE_ADDRESS.value
        if local is None:
            return SkipReason.NO_LOCAL_ADDRESS.value
        direction = sidecar_direction(common.upstream_cluster, local, caller, own_ips)
        if direction is None:
            return SkipReason.UNKNOWN_DIRECTION.value
        return common if direction.is_inbound else SIDECAR_OUTBOUND

    def _labels(
        self, labels: object, local: Endpoint | None, own_ips: tuple[str, ...]
    ) -> FrozenMap[str, str]:
        if isinstance(labels, Mapping):
            return FrozenMap({str(k): str(v) for k, v in labels.items()})
        if self._workloads is not None:
            for ip in ((local.ip,) if local is not None else ()) + own_ips:
                found = self._workloads.labels(ip)
                if found is not None:
                    return found
        return _NO_LABELS

    def _request(
        self,
        entry: LogEntry,
        common: AccessLogCommon,
        *,
        file: str | None,
        index: tuple[int, int],
        own: IstioWorkload,
        labels: FrozenMap[str, str],
        local: Endpoint | None,
    ) -> ObservedRequest:
        direct = endpoint_of(common.downstream_direct_remote_address)
        remote = endpoint_of(common.downstream_remote_address)
        # Istio's source.ip is the connection's peer: the direct address; Envoys that do not
        # log it give the remote one, which is the same unless X-Forwarded-For is trusted.
        connection = direct or remote
        source_ip = None if connection is None else connection.ip
        caller_meta = getattr(
            peers_of(common.filter_state_objects).of(PeerSide.DOWNSTREAM), "metadata", None
        )
        tls = common.tls_properties
        san = first_uri_san(None if tls is None else tls.peer_certificate_properties)
        principal = san.removeprefix(SPIFFE_SCHEME) if san else None
        request = entry.request if isinstance(entry, HttpEntry) else None
        headers = {} if request is None else request.request_headers
        return ObservedRequest(
            file=file,
            message_index=index[0],
            entry_index=index[1],
            tcp=not isinstance(entry, HttpEntry),
            destination=own,
            destination_labels=labels,
            destination_namespace=own.namespace,
            destination_port=None if local is None else local.port,
            destination_ip=None if local is None else local.ip,
            source=peer_workload(
                caller_meta if isinstance(caller_meta, Mapping) else None,
                source_ip,
                self._workloads,
                cluster=own.cluster,
            ),
            source_principal=principal,
            source_ip=source_ip,
            remote_ip=remote.ip if remote is not None else source_ip,
            host=(request.authority or None) if request is not None else None,
            method=_method(request.request_method) if request is not None else None,
            path=(request.path or None) if request is not None else None,
            request_headers=FrozenMap({name.lower(): value for name, value in headers.items()}),
            sni=(tls.tls_sni_hostname or None) if tls is not None else None,
            destination_service=_service_host(common.upstream_cluster),
        )


def _service_host(cluster: str) -> str | None:
    parsed = parse_istio_cluster(cluster) if cluster else None
    if parsed is None or not parsed.direction.is_inbound:
        return None
    return parsed.host or None


def _method(method: RequestMethod | int) -> str | None:
    return None if method == RequestMethod.METHOD_UNSPECIFIED else _method_name(method)
