"""Time ranges: which entries an analysis keeps by when they started (``analyze(since=,
until=)``), and the end of a capture, for ranges relative to it.

**Which time counts.** An entry is in the range when its *start time* is: Envoy's
``common_properties.start_time`` (the first byte of the downstream request or connection),
one time for both metrics of a gateway entry; an L4 connection's start (its timestamp less
its duration). SkyWalking buckets a call by its start too. The range is half-open,
``since <= start < until``, so consecutive ranges never count an entry twice; either end may
be open (None). An entry outside it is skipped as ``outside-time-range``, and, when a range
is given, one without a start time as ``no-start-time``: it cannot be placed in the range.
Both are counted in the accounting like every skipped entry.

**Where a capture ends.** :func:`latest_end_ns` is the latest end of any entry or connection
read (:attr:`~meshals.model.AccessLogCommon.end_time_ns`; an L4 connection's timestamp): the
anchor of the command line's relative ranges (``--since 15m``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from meshals.model._als import AlsMessage, LogEntry
from meshals.model._l4 import L4Connection

from ._accounting import SkipReason

__all__ = ["latest_end_ns"]

#: A bound of a time range: an aware datetime, or ns since the Unix epoch.
TimeBound = datetime.datetime | int

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _ns(bound: TimeBound, name: str) -> int:
    """*bound* in ns since the epoch.

    Raises:
        ValueError: a naive datetime (whose time zone would be a guess).
        TypeError: neither a datetime nor an int.
    """
    if isinstance(bound, datetime.datetime):
        if bound.tzinfo is None or bound.utcoffset() is None:
            raise ValueError(
                f"{name} is a naive datetime: give it a time zone"
                " (e.g. tzinfo=datetime.timezone.utc)"
            )
        # Exact integer arithmetic: timestamp() is a float.
        delta = bound - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(bound, bool) or not isinstance(bound, int):  # a bool is an int, not a time
        raise TypeError(f"{name} must be a datetime or ns since the epoch (int), not {bound!r}")
    return bound


@attrs.frozen
class TimeRange:
    """``since_ns <= start < until_ns``, either end open (None)."""

    since_ns: int | None
    until_ns: int | None

    @classmethod
    def of(cls, since: TimeBound | None, until: TimeBound | None) -> TimeRange | None:
        """The range between *since* and *until*; None when both are None (no range).

        Raises:
            ValueError: a naive datetime, or *until* not after *since* (an empty range).
            TypeError: a bound is neither a datetime nor an int.
        """
        if since is None and until is None:
            return None
        since_ns = None if since is None else _ns(since, "since")
        until_ns = None if until is None else _ns(until, "until")
        if since_ns is not None and until_ns is not None and until_ns <= since_ns:
            raise ValueError(f"an empty time range: until ({until}) is not after since ({since})")
        return cls(since_ns, until_ns)

    def place(self, start_ns: int | None) -> SkipReason | None:
        """Why an entry that started at *start_ns* is skipped, or None if it is in the range."""
        if start_ns is None:
            return SkipReason.NO_START_TIME
        if self.since_ns is not None and start_ns < self.since_ns:
            return SkipReason.OUTSIDE_TIME_RANGE
        if self.until_ns is not None and start_ns >= self.until_ns:
            return SkipReason.OUTSIDE_TIME_RANGE
        return None

    def place_entry(self, entry: LogEntry) -> SkipReason | None:
        """Why *entry* is skipped (by its ``common_properties.start_time``), or None."""
        common = entry.common_properties
        return self.place(None if common is None else common.start_time_ns)


def latest_end_ns(records: Iterable[object]) -> int | None:
    """The latest end of the entries and L4 connections in *records*, in ns since the epoch.

    An entry's end is :attr:`~meshals.model.AccessLogCommon.end_time_ns`, an L4 connection's
    its timestamp (when the line was written: a completed connection's end). This is where the
    command line's relative ranges count from (``--since 15m``: the last 15 minutes of the
    capture).

    Args:
        records: what :func:`~meshals.read` yields (:class:`~meshals.AlsMessage` and
            :class:`~meshals.L4Connection`), of one input or several; other values are
            ignored.

    Returns:
        The latest end, or None when no entry has a start time (nor any connection).

    Raises:
        DecodeError: (from *records*) reading the input failed.

    >>> import meshals
    >>> bookinfo = meshals.examples.example("bookinfo")
    >>> latest_end_ns(record for stream in bookinfo.streams() for record in stream)
    1795252114167952172
    """
    latest: int | None = None
    for record in records:
        if isinstance(record, AlsMessage):
            for entry in record.entries:
                common = entry.common_properties
                end = None if common is None else common.end_time_ns
                if end is not None and (latest is None or end > latest):
                    latest = end
        elif isinstance(record, L4Connection) and (latest is None or record.timestamp_ns > latest):
            latest = record.timestamp_ns
    return latest
