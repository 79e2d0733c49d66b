"""RED statistics per service, instance, endpoint or edge, optionally in time windows.

:func:`red` groups the traffic of service-mesh metrics by destination service, instance or
endpoint, or by edge (caller and called service; a :class:`Scope`), over the whole input or in
epoch-aligned time windows
(:mod:`meshals.aggregate._windows`). Each group is a
:class:`~meshals.aggregate.ReportedTraffic`, so a call is counted once whichever sides
reported it, and :class:`RedStats` merge exactly like the traffic they hold. Rates are over
the analysed period of the whole input, or per window (:mod:`meshals.aggregate._period`).
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterable

import attrs

from meshals._display import html
from meshals._errors import AggregateError
from meshals._values import FrozenMap
from meshals.model._metrics import ServiceMeshMetric

from ._kinds import Facts, facts_of
from ._period import NO_PERIOD, Period, PeriodAccumulator
from ._sketch import DEFAULT_RELATIVE_ACCURACY, _boundaries, check_relative_accuracy
from ._stats import ReportedAccumulator, ReportedTraffic
from ._traffic import TrafficStats
from ._windows import parse_window, window_start_ns

__all__ = ["RedAccumulator", "RedKey", "RedRow", "RedStats", "Scope", "red"]

_NS_PER_S = 1_000_000_000


class Scope(enum.Enum):
    """What :func:`red` groups calls by: the called service, instance or endpoint, or the edge
    (the calling and the called service, as the edges of :func:`~meshals.aggregate.topology`).
    """

    SERVICE = "service"
    INSTANCE = "instance"
    ENDPOINT = "endpoint"
    EDGE = "edge"


@attrs.frozen(kw_only=True)
class RedKey:
    """One group of :class:`RedStats`: the called service, and per scope instance, endpoint or
    calling service.

    Attributes:
        service: the destination service.
        instance: the destination instance (instance scope), else None.
        endpoint: the endpoint called, ``METHOD:path`` (endpoint scope), else None.
        window_start_ns: the window's start in ns since the epoch (windowed), else None.
        source: the calling service (edge scope), else None.
    """

    service: str
    instance: str | None = None
    endpoint: str | None = None
    window_start_ns: int | None = None
    source: str | None = None

    def sort_key(self) -> tuple[str, str, str, str, int]:
        """A total order: source (edges), service, instance, endpoint, window."""
        return (
            self.source or "",
            self.service,
            self.instance or "",
            self.endpoint or "",
            -1 if self.window_start_ns is None else self.window_start_ns,
        )


_NO_GROUPS: FrozenMap[RedKey, ReportedTraffic] = FrozenMap()


@attrs.frozen(kw_only=True)
class RedRow:
    """One group's numbers: its key, its calls counted once, and its request rate.

    Attributes:
        key: the group.
        stats: :meth:`ReportedTraffic.combined` of the group.
        rate: requests per second: per window, or over the analysed period
            (:meth:`RedStats.rate`); None when that period is unknown.
    """

    key: RedKey
    stats: TrafficStats
    rate: float | None


def _window_ns(window: str | datetime.timedelta | int | None) -> int | None:
    if window is None or isinstance(window, int):
        if isinstance(window, int) and (isinstance(window, bool) or window <= 0):
            raise AggregateError(f"a time window must be a positive ns count: {window!r}")
        return window
    return parse_window(window)


def _scope(scope: Scope | str) -> Scope:
    try:
        return Scope(scope)
    except ValueError as exc:
        raise AggregateError(
            f"not a scope: {scope!r} (service, instance, endpoint or edge)"
        ) from exc


@attrs.frozen(kw_only=True)
class RedStats:
    """RED statistics per service, instance, endpoint or edge, optionally per time window.

    Attributes:
        scope: what the groups are.
        window_ns: the window length in ns, or None for the whole input.
        groups: each group's traffic by side, in key order.
        left_out: metrics in no group: without a start time (windowed) or without an
            endpoint (TCP, endpoint scope).
        period: the analysed period: the earliest start to the latest end of every metric
            counted, those left out included.
    """

    scope: Scope = Scope.SERVICE
    window_ns: int | None = None
    groups: FrozenMap[RedKey, ReportedTraffic] = _NO_GROUPS
    left_out: int = 0
    period: Period = NO_PERIOD

    @property
    def rate_seconds(self) -> float | None:
        """What every rate divides by: the window's length, or the analysed period's.

        None when there are no windows and the period is unknown or zero.
        """
        if self.window_ns is not None:
            return self.window_ns / _NS_PER_S
        return self.period.seconds

    def rate(self, key: RedKey) -> float | None:
        """A group's requests (combined sides) per second: per window, or over the period.

        Without windows every group divides by the same analysed period (:attr:`period`, the
        whole input's), as Prometheus' ``rate()`` over a query range does, so the groups' rates
        add up to the input's.

        Returns:
            The rate, or None if the period is unknown. KeyError for an unknown group.
        """
        return self.groups[key].combined().rate(self.rate_seconds)

    def rows(self) -> tuple[RedRow, ...]:
        """Every group's key, combined statistics and rate, in key order."""
        return tuple(
            RedRow(key=key, stats=traffic.combined(), rate=self.rate(key))
            for key, traffic in self.groups.items()
        )

    def _check_compatible(self, other: RedStats) -> None:
        if (self.scope, self.window_ns) != (other.scope, other.window_ns):
            raise AggregateError(
                f"cannot merge RED statistics by {self.scope.value}/{self.window_ns} ns "
                f"with ones by {other.scope.value}/{other.window_ns} ns"
            )

    def merge(self, other: RedStats) -> RedStats:
        """The statistics of both inputs.

        Raises:
            AggregateError: if scope or window differ, or the latency accuracies.
        """
        self._check_compatible(other)
        accumulator = RedAccumulator(self.scope, window=self.window_ns)
        accumulator.add_stats(self)
        accumulator.add_stats(other)
        return accumulator.result()

    def __add__(self, other: RedStats) -> RedStats:
        if not isinstance(other, RedStats):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(
        cls,
        stats: Iterable[RedStats],
        *,
        scope: Scope | str = Scope.SERVICE,
        window: str | datetime.timedelta | int | None = None,
    ) -> RedStats:
        """Merge any number of RED statistics of one scope and window.

        Args:
            stats: the statistics.
            scope: the scope of the result when ``stats`` is empty.
            window: the window of the result when ``stats`` is empty.

        Raises:
            AggregateError: if scopes or windows differ.
        """
        accumulator: RedAccumulator | None = None
        for item in stats:
            if accumulator is None:
                accumulator = RedAccumulator(item.scope, window=item.window_ns)
            accumulator.add_stats(item)
        if accumulator is None:
            return cls(scope=_scope(scope), window_ns=_window_ns(window))
        return accumulator.result()

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: scope, window and one row per group."""
        return {
            "scope": self.scope.value,
            "window_ns": self.window_ns,
            "left_out": self.left_out,
            "period": self.period.to_dict(),
            "groups": [
                {
                    "source": row.key.source,
                    "service": row.key.service,
                    "instance": row.key.instance,
                    "endpoint": row.key.endpoint,
                    "window_start_ns": row.key.window_start_ns,
                    "rate": row.rate,
                    "traffic": self.groups[row.key].to_dict(),
                }
                for row in self.rows()
            ],
        }

    def _repr_html_(self) -> str | None:
        """The RED rows as an HTML table, for notebooks."""
        return html(self)


# A group's key while counting: RedKey's fields, in its order; RedKeys are made at result().
_Key = tuple[str, str | None, str | None, int | None, str | None]


def _service_key(metric: ServiceMeshMetric, window_start: int | None) -> _Key | None:
    return (metric.destination.service, None, None, window_start, None)


def _instance_key(metric: ServiceMeshMetric, window_start: int | None) -> _Key | None:
    destination = metric.destination
    return (destination.service, destination.instance, None, window_start, None)


def _endpoint_key(metric: ServiceMeshMetric, window_start: int | None) -> _Key | None:
    if metric.endpoint is None:
        return None
    return (metric.destination.service, None, metric.endpoint, window_start, None)


def _edge_key(metric: ServiceMeshMetric, window_start: int | None) -> _Key | None:
    return (metric.destination.service, None, None, window_start, metric.source.service)


def _fields(key: RedKey) -> _Key:
    return (key.service, key.instance, key.endpoint, key.window_start_ns, key.source)


def _red_key(fields: _Key) -> RedKey:
    service, instance, endpoint, window_start, source = fields
    return RedKey(
        service=service,
        instance=instance,
        endpoint=endpoint,
        window_start_ns=window_start,
        source=source,
    )


_KEYS: dict[Scope, Callable[[ServiceMeshMetric, int | None], _Key | None]] = {
    Scope.SERVICE: _service_key,
    Scope.INSTANCE: _instance_key,
    Scope.ENDPOINT: _endpoint_key,
    Scope.EDGE: _edge_key,
}


def _by_red_key(pair: tuple[RedKey, _Key]) -> tuple[str, str, str, str, int]:
    return pair[0].sort_key()


class RedAccumulator:
    """Builds :class:`RedStats` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = (
        "_groups",
        "_key_of",
        "_period",
        "_relative_accuracy",
        "left_out",
        "scope",
        "window_ns",
    )

    def __init__(
        self,
        scope: Scope | str = Scope.SERVICE,
        *,
        window: str | datetime.timedelta | int | None = None,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        """Start empty.

        Args:
            scope: group by destination service, instance or endpoint, or by edge.
            window: None for the whole input, else a window (``"1m"``, a timedelta, or ns).
            relative_accuracy: the latency sketches' alpha.

        Raises:
            AggregateError: for an unknown scope, a bad window or accuracy.
        """
        self.scope = _scope(scope)
        self.window_ns = _window_ns(window)
        self._relative_accuracy = check_relative_accuracy(relative_accuracy)
        self._key_of = _KEYS[self.scope]
        self._groups: dict[_Key, ReportedAccumulator] = {}
        self._period = PeriodAccumulator()
        self.left_out = 0

    def add(self, metric: ServiceMeshMetric) -> None:
        """Count one metric in its group (or in ``left_out``), and in the analysed period."""
        self._add_facts(metric, facts_of(metric, _boundaries(self._relative_accuracy)))

    def _add_facts(self, metric: ServiceMeshMetric, facts: Facts) -> None:
        # add(), the metric's facts (:mod:`._kinds`) computed already.
        start = facts[4]
        self._period._stretch(start, facts[5])
        window_start = None
        if self.window_ns is not None:
            if start is None:
                self.left_out += 1
                return
            window_start = window_start_ns(start, self.window_ns)
        key = self._key_of(metric, window_start)
        if key is None:
            self.left_out += 1
            return
        self._group(key)._add_facts(facts)

    def _group(self, key: _Key) -> ReportedAccumulator:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = ReportedAccumulator(
                relative_accuracy=self._relative_accuracy
            )
        return group

    def add_stats(self, stats: RedStats) -> None:
        """Count everything a :class:`RedStats` summarises (a merge).

        Raises:
            AggregateError: if its scope or window differ from this accumulator's.
        """
        if (stats.scope, stats.window_ns) != (self.scope, self.window_ns):
            raise AggregateError(
                f"cannot merge RED statistics by {stats.scope.value}/{stats.window_ns} ns "
                f"into ones by {self.scope.value}/{self.window_ns} ns"
            )
        self.left_out += stats.left_out
        self._period.add_period(stats.period)
        for red_key, traffic in stats.groups.items():
            self._group(_fields(red_key)).add_traffic(traffic)

    def result(self) -> RedStats:
        """The immutable statistics counted so far."""
        keys = sorted(((_red_key(key), key) for key in self._groups), key=_by_red_key)
        return RedStats(
            scope=self.scope,
            window_ns=self.window_ns,
            groups=FrozenMap({key: self._groups[fields].result() for key, fields in keys}),
            left_out=self.left_out,
            period=self._period.result(),
        )


def red(
    metrics: Iterable[ServiceMeshMetric],
    *,
    scope: Scope | str = Scope.SERVICE,
    window: str | datetime.timedelta | int | None = None,
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
) -> RedStats:
    """RED statistics of metrics, per destination service, instance or endpoint, or per edge.

    A call counts for the service it was made to (its destination), and by edge for the pair
    of the calling and the called service (an edge of :func:`~meshals.aggregate.topology`,
    here optionally per window). Client and server observations are kept apart per group;
    :meth:`RedStats.rows` combines them (:meth:`ReportedTraffic.combined`).

    Args:
        metrics: the metrics (e.g. ``meshals.analyze(...)``).
        scope: ``"service"``, ``"instance"``, ``"endpoint"`` (TCP calls have no endpoint) or
            ``"edge"``.
        window: None for the whole input (rates over its analysed period: the earliest start
            to the latest end of all ``metrics``), or a window (``"1m"``, a timedelta, or ns)
            aligned to the epoch in UTC (rates per window).
        relative_accuracy: the latency sketches' alpha.

    Returns:
        The statistics.

    Raises:
        AggregateError: for an unknown scope, a bad window or accuracy.
    """
    accumulator = RedAccumulator(scope, window=window, relative_accuracy=relative_accuracy)
    for metric in metrics:
        accumulator.add(metric)
    return accumulator.result()
