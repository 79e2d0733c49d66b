"""The analysed period (:class:`Period`) and the one definition of a request rate.

A rate is requests per second over the **analysed time range**, as Prometheus' ``rate()`` and
Kiali's graph compute it over their query range: every group (a service, an endpoint, an edge)
of one input divides by the same period, so rates add up and compare. The period is the
input's, not a group's: from the earliest start of any call to the latest end of any call,
over all the metrics analysed together (:class:`Period`); with time windows, the window's
length. A group with one call in a ten-second capture therefore gets 0.1 req/s, never "one
call in its own 0.2 ms".

A period is a minimum and a maximum, so merging two is exact and order-independent: the
period of ``A + B`` is the merge of the periods of ``A`` and ``B``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from meshals.model._metrics import ServiceMeshMetric

from ._sketch import _max, _min

__all__ = ["Period"]

_NS_PER_S = 1_000_000_000


def extent_ns(metric: ServiceMeshMetric) -> tuple[int, int] | None:
    """When a call started and ended on its side (the start again where the end is unknown)."""
    start = metric.start_time_ns
    if start is None:
        return None
    end = metric.end_time_ns
    return start, start if end is None else max(start, end)


@attrs.frozen(kw_only=True)
class Period:
    """The analysed time range: the earliest start and the latest end of the calls seen.

    Attributes:
        first_start_ns: the earliest start of a call, ns since the epoch, or None (no call
            had a start time).
        last_end_ns: the latest end of a call (its start where the end is unknown), or None.

    >>> period = Period(first_start_ns=0, last_end_ns=4_000_000_000)
    >>> period.seconds, period.rate(2)
    (4.0, 0.5)
    >>> Period().rate(2) is None  # no time known: no rate
    True
    """

    first_start_ns: int | None = None
    last_end_ns: int | None = None

    @classmethod
    def of(cls, metrics: Iterable[ServiceMeshMetric]) -> Period:
        """The period of some metrics: their earliest start to their latest end."""
        accumulator = PeriodAccumulator()
        for metric in metrics:
            accumulator.add(metric)
        return accumulator.result()

    @property
    def span_ns(self) -> int | None:
        """``last_end_ns - first_start_ns``, or None if unknown."""
        if self.first_start_ns is None or self.last_end_ns is None:
            return None
        return self.last_end_ns - self.first_start_ns

    @property
    def seconds(self) -> float | None:
        """The length in seconds, or None when unknown or zero (no rate can be over it)."""
        span = self.span_ns
        if span is None or span <= 0:
            return None
        return span / _NS_PER_S

    def rate(self, requests: int) -> float | None:
        """``requests`` per second over the period, or None when its length is unknown or 0."""
        seconds = self.seconds
        return None if seconds is None else requests / seconds

    def merge(self, other: Period) -> Period:
        """The period covering both (exact: a minimum and a maximum)."""
        return Period(
            first_start_ns=_min(self.first_start_ns, other.first_start_ns),
            last_end_ns=_max(self.last_end_ns, other.last_end_ns),
        )

    def __add__(self, other: Period) -> Period:
        if not isinstance(other, Period):
            return NotImplemented
        return self.merge(other)

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: the two ends and the length in seconds."""
        return {
            "first_start_ns": self.first_start_ns,
            "last_end_ns": self.last_end_ns,
            "seconds": self.seconds,
        }


#: The period of no calls.
NO_PERIOD = Period()


class PeriodAccumulator:
    """Builds a :class:`Period` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = ("first_start_ns", "last_end_ns")

    def __init__(self) -> None:
        self.first_start_ns: int | None = None
        self.last_end_ns: int | None = None

    def add(self, metric: ServiceMeshMetric) -> None:
        """Stretch the period over one call (a call without a start time changes nothing)."""
        extent = extent_ns(metric)
        if extent is not None:
            self.first_start_ns = _min(self.first_start_ns, extent[0])
            self.last_end_ns = _max(self.last_end_ns, extent[1])

    def _stretch(self, first: int | None, last: int | None) -> None:
        # Stretch over a call's extent_ns (both None without a start time), known already.
        if first is not None:
            if self.first_start_ns is None or first < self.first_start_ns:
                self.first_start_ns = first
            if self.last_end_ns is None or last > self.last_end_ns:  # type: ignore[operator]
                self.last_end_ns = last

    def add_period(self, period: Period) -> None:
        """Stretch the period over another (a merge)."""
        self.first_start_ns = _min(self.first_start_ns, period.first_start_ns)
        self.last_end_ns = _max(self.last_end_ns, period.last_end_ns)

    def result(self) -> Period:
        """The immutable period so far."""
        if self.first_start_ns is None and self.last_end_ns is None:
            return NO_PERIOD
        return Period(first_start_ns=self.first_start_ns, last_end_ns=self.last_end_ns)
