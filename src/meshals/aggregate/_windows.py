"""Time windows: parsing ``"1m"``-style durations and aligning times to window starts.

Windows are aligned like SkyWalking's minute buckets: a time falls in the window that starts
at the floor of the time in whole windows since the Unix epoch (UTC), so a one-minute window
starting at 12:30:00 holds every call that started in ``[12:30:00, 12:31:00)``. Times are
integer nanoseconds since the epoch, windows integer nanoseconds.
"""

from __future__ import annotations

import datetime
import re

from meshals._errors import AggregateError

__all__ = ["parse_window"]

_NS_PER_S = 1_000_000_000
_UNITS_NS = {
    "ms": 1_000_000,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
    "d": 86400 * _NS_PER_S,
}
_WINDOW = re.compile(r"\s*([0-9]+)\s*(ms|s|m|h|d)\s*", re.ASCII)
_UTC = datetime.timezone.utc


def parse_window(window: str | datetime.timedelta) -> int:
    """A window's length in nanoseconds.

    Args:
        window: a whole number and a unit (``"500ms"``, ``"30s"``, ``"1m"``, ``"5m"``,
            ``"1h"``, ``"1d"``) or a :class:`datetime.timedelta`.

    Returns:
        The length in ns (positive).

    Raises:
        AggregateError: if the window is not in that form, or not positive.

    >>> parse_window("1m")
    60000000000
    >>> parse_window(datetime.timedelta(milliseconds=250))
    250000000
    """
    if isinstance(window, datetime.timedelta):
        # Exact integer arithmetic: timedelta.total_seconds() is a float.
        length = (window.days * 86400 + window.seconds) * _NS_PER_S + window.microseconds * 1000
    elif isinstance(window, str):
        match = _WINDOW.fullmatch(window)
        if match is None:
            raise AggregateError(
                f"not a time window: {window!r} (expected e.g. '30s', '1m', '5m', '1h')"
            )
        length = int(match[1]) * _UNITS_NS[match[2]]
    else:
        raise AggregateError(f"not a time window: {window!r}")
    if length <= 0:
        raise AggregateError(f"a time window must be positive: {window!r}")
    return length


def window_start_ns(time_ns: int, window_ns: int) -> int:
    """The start of the window that holds ``time_ns``: its floor in whole windows since the epoch.

    Args:
        time_ns: a time in ns since the epoch (negative before 1970).
        window_ns: the window length in ns.

    Returns:
        The window's start in ns since the epoch.

    >>> window_start_ns(90_500_000_000, 60_000_000_000)
    60000000000
    >>> window_start_ns(-1, 60_000_000_000)
    -60000000000
    """
    return time_ns - time_ns % window_ns


def skywalking_minute_bucket(time_ns: int) -> int:
    """SkyWalking's minute time bucket of a time: ``yyyyMMddHHmm`` in UTC, as an integer.

    Args:
        time_ns: a time in ns since the epoch.

    Returns:
        The bucket, e.g. ``202401021504``.

    >>> skywalking_minute_bucket(1_704_207_890_123_456_789)
    202401021504
    """
    minute = datetime.datetime.fromtimestamp(time_ns // (60 * _NS_PER_S) * 60, tz=_UTC)
    return int(minute.strftime("%Y%m%d%H%M"))
