"""``--since`` and ``--until``: a time as RFC 3339, a human form, or relative to the capture's
end, and the note that says which range a relative form made.

The forms, tried in this order:

- **Relative**: a duration, ``15m``, ``1h30m``, ``90s``, ``500ms``, ``2d`` (units ``ms``, ``s``,
  ``m``, ``h``, ``d``; whole numbers), with or without a leading ``-``: that long before the
  capture's end, the latest end of any entry in the inputs (like swctl's ``--start``/``--end``
  count back from now). ``0s`` is the end itself.
- **RFC 3339 / ISO 8601** (:func:`dateutil.parser.isoparse`): ``2026-11-21T09:08:32Z``,
  ``2026-11-21T10:08:32.5+01:00``, ``2026-11-21`` (midnight).
- **Human forms** (:func:`dateutil.parser.parse`): ``2026-11-21 09:08:32``, ``21 Nov 2026
  09:08``, ``Sat, 21 Nov 2026 09:08:32 GMT``. A date is required (a time of day alone would
  be today's, which means nothing for a recording); ``01/02/2026`` is January 2nd.

A time without a time zone is UTC, never the machine's local time, so a command gives the same
answer everywhere. Zones are numeric offsets (``+01:00``) or UTC (``Z``, ``UTC``, ``GMT``):
other names (``CET``, ``EST``) mean different things in different places and are refused.
Times are kept to the microsecond (datetime's precision).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Final

import attrs
from dateutil import parser as dateutil_parser
from dateutil import tz

__all__: list[str] = []

_UTC: Final = datetime.timezone.utc
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_NS: Final = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_RELATIVE: Final = re.compile(r"-?((?:[0-9]+(?:ms|s|m|h|d))+)", re.ASCII)
_RELATIVE_PART: Final = re.compile(r"([0-9]+)(ms|s|m|h|d)", re.ASCII)
_UTC_NAMES: Final = frozenset({"UTC", "UT", "GMT", "Z"})
# ISO 8601's reduced precision (a year, a month): isoparse takes them, but they are no date.
_REDUCED_ISO_DATE: Final = re.compile(r"[0-9]{4}(?:-[0-9]{2})?", re.ASCII)
_NO_FULL_DATE: Final = "{text!r} has no full date (year, month and day): give one"
# Two defaults that differ in every part of the date: what parse() filled in from them was
# not in the text.
_DEFAULTS: Final = (datetime.datetime(2000, 1, 1), datetime.datetime(2001, 2, 2))

#: The help texts of --since and --until.
SINCE_HELP: Final = (
    "analyse only the entries that started at or after TIME: RFC 3339"
    " (2026-11-21T09:08:32Z), a date and time (2026-11-21 09:08:32; UTC unless a zone is"
    " given), or a duration before the capture's end, the latest end of an entry in the"
    " inputs (15m: the last 15 minutes; 1h30m, 90s, 500ms). A duration reads the inputs"
    " twice (standard input through a temporary copy)"
)
UNTIL_HELP: Final = (
    "analyse only the entries that started before TIME (the same forms; -5m: all but the"
    " last 5 minutes). Entries outside the range are skipped as outside-time-range and, with"
    " a range, entries without a start time as no-start-time"
)


@attrs.frozen
class TimeArgument:
    """A parsed ``--since``/``--until``: a time (ns since the epoch), or a duration before the
    capture's end."""

    text: str
    time_ns: int | None = None
    before_end_ns: int | None = None

    @property
    def relative(self) -> bool:
        """Whether this counts back from the capture's end."""
        return self.before_end_ns is not None

    def at(self, end_ns: int | None) -> int:
        """The time in ns since the epoch, given where the capture ends."""
        if self.time_ns is not None:
            return self.time_ns
        assert self.before_end_ns is not None, "a time or a duration"
        assert end_ns is not None, "a relative time needs the capture's end"
        return end_ns - self.before_end_ns


def attach_negative_times(argv: Sequence[str]) -> list[str]:
    """*argv* with ``--since -5m`` written ``--since=-5m``.

    argparse takes a value that starts with ``-`` for an option unless it looks like a
    negative number, and ``-5m`` does not; the ``=`` form is unambiguous. Only a duration
    right after ``--since`` or ``--until`` is joined, and nothing after ``--``.

    >>> attach_negative_times(["stats", "--until", "-5m", "-", "--since", "-x"])
    ['stats', '--until=-5m', '-', '--since', '-x']
    """
    joined: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--":
            joined.append(argument)
            joined.extend(arguments)
            break
        if argument in ("--since", "--until"):
            value = next(arguments, None)
            if value is not None and value.startswith("-") and _RELATIVE.fullmatch(value):
                joined.append(f"{argument}={value}")
                continue
            joined.append(argument)
            if value is not None:
                joined.append(value)
            continue
        joined.append(argument)
    return joined


def parse_time(text: str) -> TimeArgument:
    """``--since``'s or ``--until``'s value.

    Raises:
        ValueError: *text* is none of the forms, names a time zone other than UTC, or has no
            date; the message says which.
    """
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative is not None:
        total = sum(int(number) * _NS[unit] for number, unit in _RELATIVE_PART.findall(relative[1]))
        return TimeArgument(text, before_end_ns=total)
    try:
        parsed = dateutil_parser.isoparse(stripped)
    except (ValueError, OverflowError):
        parsed = _human(stripped)
    else:
        if _REDUCED_ISO_DATE.fullmatch(re.split("[T ]", stripped, maxsplit=1)[0]):
            raise ValueError(_NO_FULL_DATE.format(text=stripped))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return TimeArgument(text, time_ns=to_ns(parsed))


def _human(text: str) -> datetime.datetime:
    results = []
    for default in _DEFAULTS:
        try:
            results.append(dateutil_parser.parse(text, default=default, tzinfos=_zone))
        except _UnknownZoneError as unknown:
            raise ValueError(
                f"unknown time zone {unknown.name!r} in {text!r}: give an offset (+01:00) or UTC"
            ) from None
        except (ValueError, OverflowError):
            raise ValueError(
                f"not a time: {text!r} (e.g. 2026-11-21T09:08:32Z, '2026-11-21 09:08', or 15m"
                " before the capture's end)"
            ) from None
    first, second = results
    if first.date() != second.date():
        raise ValueError(_NO_FULL_DATE.format(text=text))
    return first


class _UnknownZoneError(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _zone(name: str | None, offset: int | None) -> datetime.tzinfo | None:
    """dateutil's ``tzinfos``: UTC's names, and numeric offsets; other names are refused."""
    if name is None:
        return None if offset is None else tz.tzoffset(None, offset)
    if name.upper() in _UTC_NAMES:
        return tz.UTC
    raise _UnknownZoneError(name)


def to_ns(moment: datetime.datetime) -> int:
    """An aware datetime in ns since the epoch, exactly (not through a float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def rfc3339(time_ns: int) -> str:
    """*time_ns* as RFC 3339 in UTC, with as many fraction digits as it needs (up to 9).

    >>> rfc3339(1_795_252_114_167_952_172), rfc3339(1_795_252_114_000_000_000)
    ('2026-11-21T09:08:34.167952172Z', '2026-11-21T09:08:34Z')
    """
    seconds, nanoseconds = divmod(time_ns, 1_000_000_000)
    moment = _EPOCH + datetime.timedelta(seconds=seconds)
    fraction = f".{nanoseconds:09d}".rstrip("0") if nanoseconds else ""
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z"


def range_note(
    since: TimeArgument | None, until: TimeArgument | None, end_ns: int | None
) -> str | None:
    """The line that says which range relative forms made, or None when none was relative.

    >>> end = 1_795_252_114_167_952_172
    >>> print(range_note(parse_time("1s"), None, end))
    time range: entries that started at or after 2026-11-21T09:08:33.167952172Z (--since 1s;
    the capture ends at 2026-11-21T09:08:34.167952172Z)
    """
    named = [
        (name, argument)
        for name, argument in (("since", since), ("until", until))
        if argument is not None and argument.relative
    ]
    if not named:
        return None
    said = ", ".join(f"--{name} {argument.text}" for name, argument in named)
    if end_ns is None:
        return f"time range: none ({said}: no entry has a time to count back from)"
    bounds = []
    if since is not None:
        bounds.append(f"at or after {rfc3339(since.at(end_ns))}")
    if until is not None:
        bounds.append(f"before {rfc3339(until.at(end_ns))}")
    return (
        f"time range: entries that started {' and '.join(bounds)} ({said};"
        f" the capture ends at {rfc3339(end_ns)})"
    )
