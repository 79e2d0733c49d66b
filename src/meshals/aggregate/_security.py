"""How a group of calls was secured: :class:`SecurityStats`, TLS modes and SPIFFE principals.

Envoy logs the TLS of the *downstream* connection only, so a call's TLS is known where its
server side logged it: a server-side metric carries the hop's mode (mTLS, one-way TLS, none),
the client's principal (the peer certificate's SPIFFE id) and the server's (the local
certificate's). A call seen only client-side (the server has no proxy, or never got the call)
has no known TLS; :class:`SecurityStats` counts those apart, by the rule
:meth:`~meshals.aggregate.ReportedTraffic.combined` counts each call once with.

HTTP and gRPC calls are *requests*, TCP calls *connections*, counted apart as Kiali and
``linkerd viz edges`` do. A server-side plaintext call logged by a sidecar, a waypoint or
ztunnel (inbound) is *plaintext into a meshed workload*: a workload with a proxy took
traffic without mutual TLS. Every field is a count, so merging is exact and order-independent.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from meshals._values import FrozenMap
from meshals.model._als import ResponseFlag
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._role import Role

from ._kinds import ROLES, TLS_MODES, Kind

__all__ = ["SecurityAccumulator", "SecurityStats"]

# The roles of proxies that stand in front of meshed workloads; a gateway's listeners are
# there to take traffic from outside the mesh, plaintext included.
_MESHED_ROLES = frozenset({Role.SIDECAR, Role.WAYPOINT, Role.ZTUNNEL})

_TCP = MeshProtocol.TCP.value

_NO_MODES: FrozenMap[TlsMode, int] = FrozenMap()
_NO_PRINCIPALS: FrozenMap[str, int] = FrozenMap()


# TlsMode's members in order, iterated once: iterating the class runs Python code each time.
_TLS_ORDER = tuple(TlsMode)


def _modes(counts: Mapping[TlsMode, int]) -> FrozenMap[TlsMode, int]:
    # In TlsMode's order (NONE, TLS, mTLS), those seen only: equal stats iterate alike.
    if not counts:
        return _NO_MODES
    return FrozenMap({mode: counts[mode] for mode in _TLS_ORDER if counts.get(mode)})


def _principals(counts: Mapping[str, int]) -> FrozenMap[str, int]:
    return FrozenMap(dict(sorted(counts.items()))) if counts else _NO_PRINCIPALS


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count


@attrs.frozen(kw_only=True)
class SecurityStats:
    """The TLS and identities of a group of calls (immutable, mergeable with ``+``).

    Attributes:
        server_requests: HTTP and gRPC calls the server side logged, by TLS mode.
        server_connections: TCP connections the server side logged, by TLS mode.
        client_requests: HTTP and gRPC calls the client side logged.
        client_connections: TCP connections the client side logged.
        unreached_requests: the client's requests that never reached a server
            (:data:`~meshals.aggregate._stats.UNREACHED_FLAGS`).
        unreached_connections: the client's connections that never reached a server.
        client_principals: the clients' SPIFFE ids the server side saw (the peer
            certificate's), with the calls each made, sorted.
        server_principals: the servers' SPIFFE ids (the local certificate's), likewise.
        plaintext_into_meshed: server-side plaintext calls logged by a sidecar, a waypoint
            or ztunnel.
    """

    server_requests: FrozenMap[TlsMode, int] = _NO_MODES
    server_connections: FrozenMap[TlsMode, int] = _NO_MODES
    client_requests: int = 0
    client_connections: int = 0
    unreached_requests: int = 0
    unreached_connections: int = 0
    client_principals: FrozenMap[str, int] = _NO_PRINCIPALS
    server_principals: FrozenMap[str, int] = _NO_PRINCIPALS
    plaintext_into_meshed: int = 0

    def requests(self, mode: TlsMode) -> int:
        """Server-side requests over ``mode``."""
        return self.server_requests.get(mode, 0)

    def connections(self, mode: TlsMode) -> int:
        """Server-side connections over ``mode``."""
        return self.server_connections.get(mode, 0)

    @property
    def unknown_requests(self) -> int:
        """Requests seen only client-side, so over an unknown TLS mode.

        As :meth:`~meshals.aggregate.ReportedTraffic.combined` counts calls: when the server
        side logged anything, the client's unreached requests; otherwise all the client's.

        >>> SecurityStats(client_requests=3).unknown_requests
        3
        """
        return self.unreached_requests if self.known else self.client_requests

    @property
    def unknown_connections(self) -> int:
        """Connections seen only client-side (see :attr:`unknown_requests`)."""
        return self.unreached_connections if self.known else self.client_connections

    @property
    def known(self) -> int:
        """Calls whose TLS is known: the requests and connections the server side logged."""
        return sum(self.server_requests.values()) + sum(self.server_connections.values())

    @property
    def mtls_share(self) -> float | None:
        """The share of calls of known TLS (:attr:`known`) that were over mutual TLS.

        As Kiali's mTLS share, over the server side's reports (``reporter="destination"``);
        None when the server side logged none, since then no call's TLS is known.

        >>> SecurityStats(server_requests=FrozenMap({TlsMode.MTLS: 3, TlsMode.NONE: 1}),
        ...               client_requests=9).mtls_share
        0.75
        >>> SecurityStats(client_requests=4).mtls_share is None
        True
        """
        known = self.known
        if not known:
            return None
        return (self.requests(TlsMode.MTLS) + self.connections(TlsMode.MTLS)) / known

    def merge(self, other: SecurityStats) -> SecurityStats:
        """The security of both groups of calls."""
        accumulator = SecurityAccumulator()
        accumulator.add_stats(self)
        accumulator.add_stats(other)
        return accumulator.result()

    def __add__(self, other: SecurityStats) -> SecurityStats:
        if not isinstance(other, SecurityStats):
            return NotImplemented
        return self.merge(other)

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: counts by kind and mode, the share, principals, the flag."""
        return {
            "requests": _by_mode(self.server_requests, self.unknown_requests),
            "connections": _by_mode(self.server_connections, self.unknown_connections),
            "mtls_share": self.mtls_share,
            "client_principals": dict(self.client_principals),
            "server_principals": dict(self.server_principals),
            "plaintext_into_meshed": self.plaintext_into_meshed,
        }


def _by_mode(counts: Mapping[TlsMode, int], unknown: int) -> dict[str, int]:
    return {
        "mtls": counts.get(TlsMode.MTLS, 0),
        "tls": counts.get(TlsMode.TLS, 0),
        "plaintext": counts.get(TlsMode.NONE, 0),
        "unknown": unknown,
    }


class SecurityAccumulator:
    """Builds :class:`SecurityStats` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = (
        "_client_principals",
        "_client_requests",
        "_connections",
        "_counts",
        "_requests",
        "_server_principals",
    )

    def __init__(self) -> None:
        """Start empty."""
        self._requests: dict[TlsMode, int] = {}
        self._connections: dict[TlsMode, int] = {}
        # client, client connections, unreached, unreached connections, plaintext into meshed
        self._counts = [0, 0, 0, 0, 0]
        self._client_principals: dict[str, int] = {}
        self._server_principals: dict[str, int] = {}

    def add(self, metric: ServiceMeshMetric, *, unreached: bool) -> None:
        """Count one metric; ``unreached``: a client-side call that never reached a server."""
        tcp = metric.protocol is MeshProtocol.TCP
        if metric.detect_point is not DetectPoint.SERVER:
            self._counts[1 if tcp else 0] += 1
            if unreached:
                self._counts[3 if tcp else 2] += 1
            return
        by_mode = self._connections if tcp else self._requests
        mode = metric.tls_mode
        by_mode[mode] = by_mode.get(mode, 0) + 1
        if mode is TlsMode.NONE and metric.role in _MESHED_ROLES:
            self._counts[4] += 1
        if metric.peer_identity is not None:
            principal = metric.peer_identity
            self._client_principals[principal] = self._client_principals.get(principal, 0) + 1
        if metric.local_identity is not None:
            principal = metric.local_identity
            self._server_principals[principal] = self._server_principals.get(principal, 0) + 1

    def _add_kinds(
        self, kinds: Mapping[Kind, int], unreached_flags: frozenset[ResponseFlag]
    ) -> None:
        """Count calls by kind (:mod:`meshals.aggregate._kinds`), as :meth:`add` counts each.

        Args:
            kinds: how many calls of each kind.
            unreached_flags: the flags of a client-side call that never reached a server.
        """
        requests, connections, counts = self._requests, self._connections, self._counts
        clients, servers = self._client_principals, self._server_principals
        for kind, n in kinds.items():
            server, protocol, _, _, _, flags, tls, role, peer, local = kind
            tcp = protocol == _TCP
            if not server:
                counts[1 if tcp else 0] += n
                if flags and not unreached_flags.isdisjoint(flags):
                    counts[3 if tcp else 2] += n
                continue
            by_mode = connections if tcp else requests
            mode = TLS_MODES[tls]
            by_mode[mode] = by_mode.get(mode, 0) + n
            if mode is TlsMode.NONE and ROLES[role] in _MESHED_ROLES:
                counts[4] += n
            if peer is not None:
                clients[peer] = clients.get(peer, 0) + n
            if local is not None:
                servers[local] = servers.get(local, 0) + n

    def add_stats(self, stats: SecurityStats) -> None:
        """Count every call a :class:`SecurityStats` summarises (a merge)."""
        for into, counts in (
            (self._requests, stats.server_requests),
            (self._connections, stats.server_connections),
        ):
            for mode, count in counts.items():
                into[mode] = into.get(mode, 0) + count
        for index, count in enumerate(
            (
                stats.client_requests,
                stats.client_connections,
                stats.unreached_requests,
                stats.unreached_connections,
                stats.plaintext_into_meshed,
            )
        ):
            self._counts[index] += count
        _add(self._client_principals, stats.client_principals)
        _add(self._server_principals, stats.server_principals)

    def result(self) -> SecurityStats:
        """The immutable statistics counted so far."""
        client, client_connections, unreached, unreached_connections, plaintext = self._counts
        return SecurityStats(
            server_requests=_modes(self._requests),
            server_connections=_modes(self._connections),
            client_requests=client,
            client_connections=client_connections,
            unreached_requests=unreached,
            unreached_connections=unreached_connections,
            client_principals=_principals(self._client_principals),
            server_principals=_principals(self._server_principals),
            plaintext_into_meshed=plaintext,
        )
