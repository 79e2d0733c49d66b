"""Traffic by the side that reported it (:class:`ReportedTraffic`), and :func:`merge`.

Client and server observations of one call are kept apart in :class:`ReportedTraffic`, like
Istio's ``reporter`` label. :meth:`ReportedTraffic.combined` counts each call once:

- when the server side reported anything, the server's observations, plus the client's
  observations of calls that never reached a server (a flag of :data:`UNREACHED_FLAGS`:
  no server can have logged those);
- otherwise (the destination has no sidecar, or is outside the mesh) the client's.

Each side is a :class:`~meshals.aggregate.TrafficStats` (:mod:`meshals.aggregate._traffic`),
exact and mergeable. The RED statistics per service, instance, endpoint or edge are in
:mod:`meshals.aggregate._red`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import attrs

from meshals.model._als import ResponseFlag
from meshals.model._metrics import DetectPoint, ServiceMeshMetric

from ._kinds import Facts, facts_of
from ._security import SecurityAccumulator, SecurityStats
from ._sketch import DEFAULT_RELATIVE_ACCURACY, _boundaries, check_relative_accuracy
from ._traffic import EMPTY_TRAFFIC, TrafficAccumulator, TrafficStats

__all__ = ["ReportedAccumulator", "ReportedTraffic", "merge"]

#: Flags meaning the client's Envoy never handed the request to a server (no upstream host,
#: connection refused, local rate limit or fault, no route...): no server-side entry can exist
#: for such a call, so :meth:`ReportedTraffic.combined` adds it to the server's observations.
UNREACHED_FLAGS: frozenset[ResponseFlag] = frozenset(
    {
        ResponseFlag.NO_HEALTHY_UPSTREAM,  # UH
        ResponseFlag.UPSTREAM_CONNECTION_FAILURE,  # UF
        ResponseFlag.UPSTREAM_OVERFLOW,  # UO
        ResponseFlag.NO_ROUTE_FOUND,  # NR
        ResponseFlag.FAULT_INJECTED,  # FI
        ResponseFlag.RATE_LIMITED,  # RL
        ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,  # UAEX
        ResponseFlag.RATE_LIMIT_SERVICE_ERROR,  # RLSE
        ResponseFlag.INVALID_ENVOY_REQUEST_HEADERS,  # IH
        ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR,  # DPE
        ResponseFlag.NO_FILTER_CONFIG_FOUND,  # NFCF
        ResponseFlag.NO_CLUSTER_FOUND,  # NC
        ResponseFlag.OVERLOAD_MANAGER,  # OM
        ResponseFlag.DNS_RESOLUTION_FAILURE,  # DF
    }
)


_NO_SECURITY = SecurityStats()


@attrs.frozen(kw_only=True)
class ReportedTraffic:
    """The traffic of one edge or group, kept apart by the side that reported it.

    Attributes:
        client: what client-side Envoys (the callers' sidecars, gateways calling out) saw.
        server: what server-side Envoys (the callees' sidecars, gateways called) saw.
        unreached: the part of ``client`` that never reached a server (:data:`UNREACHED_FLAGS`).
        security: how the calls were secured: TLS modes and principals, as the server side
            logged them (:class:`~meshals.aggregate.SecurityStats`).
    """

    client: TrafficStats = EMPTY_TRAFFIC
    server: TrafficStats = EMPTY_TRAFFIC
    unreached: TrafficStats = EMPTY_TRAFFIC
    security: SecurityStats = _NO_SECURITY

    def combined(self) -> TrafficStats:
        """Each call counted once: the server's view (plus unreached calls), else the client's.

        >>> client = TrafficStats(requests=10, errors=1)
        >>> ReportedTraffic(client=client).combined().requests
        10
        >>> server = TrafficStats(requests=9)
        >>> unreached = TrafficStats(requests=1, errors=1)
        >>> both = ReportedTraffic(client=client, server=server, unreached=unreached).combined()
        >>> both.requests, both.errors
        (10, 1)
        """
        if self.server.requests:
            return self.server + self.unreached
        return self.client

    @property
    def reporters(self) -> frozenset[DetectPoint]:
        """The sides that reported any call."""
        sides = set()
        if self.client.requests:
            sides.add(DetectPoint.CLIENT)
        if self.server.requests:
            sides.add(DetectPoint.SERVER)
        return frozenset(sides)

    def merge(self, other: ReportedTraffic) -> ReportedTraffic:
        """Both traffics, side by side."""
        return ReportedTraffic(
            client=self.client + other.client,
            server=self.server + other.server,
            unreached=self.unreached + other.unreached,
            security=self.security + other.security,
        )

    def __add__(self, other: ReportedTraffic) -> ReportedTraffic:
        if not isinstance(other, ReportedTraffic):
            return NotImplemented
        return self.merge(other)

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: ``client``, ``server``, ``unreached``, ``combined`` and
        ``security``."""
        return {
            "client": self.client.to_dict(),
            "server": self.server.to_dict(),
            "unreached": self.unreached.to_dict(),
            "combined": self.combined().to_dict(),
            "security": self.security.to_dict(),
        }


class ReportedAccumulator:
    """Builds :class:`ReportedTraffic` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = ("_client", "_relative_accuracy", "_security", "_server", "_unreached")

    def __init__(self, *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        """Start empty.

        Raises:
            AggregateError: if the accuracy is out of range.
        """
        self._relative_accuracy = check_relative_accuracy(relative_accuracy)
        self._client: TrafficAccumulator | None = None
        self._server: TrafficAccumulator | None = None
        self._unreached: TrafficAccumulator | None = None
        self._security = SecurityAccumulator()

    def _side(self, name: str) -> TrafficAccumulator:
        accumulator: TrafficAccumulator | None = getattr(self, name)
        if accumulator is None:
            accumulator = TrafficAccumulator(relative_accuracy=self._relative_accuracy)
            setattr(self, name, accumulator)
        return accumulator

    def add(self, metric: ServiceMeshMetric) -> None:
        """Count one metric on its side."""
        self._add_facts(facts_of(metric, _boundaries(self._relative_accuracy)))

    def _add_facts(self, facts: Facts) -> None:
        # Count one metric from its facts (:mod:`._kinds`); its security is counted from the
        # sides' kinds at result().
        kind = facts[0]
        if kind[0]:
            side = self._server
            if side is None:
                side = self._server = TrafficAccumulator(relative_accuracy=self._relative_accuracy)
            side._add_facts(facts)
            return
        side = self._client
        if side is None:
            side = self._client = TrafficAccumulator(relative_accuracy=self._relative_accuracy)
        side._add_facts(facts)
        flags = kind[5]
        if flags and not UNREACHED_FLAGS.isdisjoint(flags):
            self._side("_unreached")._add_facts(facts)

    def add_traffic(self, traffic: ReportedTraffic) -> None:
        """Count every call a :class:`ReportedTraffic` summarises (a merge)."""
        for name, stats in (
            ("_client", traffic.client),
            ("_server", traffic.server),
            ("_unreached", traffic.unreached),
        ):
            if stats.requests:
                self._side(name).add_stats(stats)
        self._security.add_stats(traffic.security)

    def result(self) -> ReportedTraffic:
        """The immutable traffic counted so far."""
        for side in (self._client, self._server):
            if side is not None:
                self._security._add_kinds(side._drain(), UNREACHED_FLAGS)
        return ReportedTraffic(
            client=EMPTY_TRAFFIC if self._client is None else self._client.result(),
            server=EMPTY_TRAFFIC if self._server is None else self._server.result(),
            unreached=EMPTY_TRAFFIC if self._unreached is None else self._unreached.result(),
            security=self._security.result(),
        )


# --- merging any aggregate ------------------------------------------------------------------------


class _SupportsMerge(Protocol):
    def merge(self, other: Any, /) -> Any: ...


_M = TypeVar("_M", bound=_SupportsMerge)


def merge(first: _M, *rest: _M) -> _M:
    """Merge aggregates of one kind (:class:`TrafficStats`, :class:`RedStats`, ``Topology``...).

    Args:
        first: an aggregate.
        rest: more of the same kind.

    Returns:
        Their merge, equal whatever the order.

    Raises:
        AggregateError: if the aggregates were built with different settings.

    >>> merge(TrafficStats(requests=1), TrafficStats(requests=2)).requests
    3
    """
    result = first
    for item in rest:
        result = result.merge(item)
    return result
