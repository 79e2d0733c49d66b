"""Go's duration strings (``time.ParseDuration``) in integer nanoseconds: ``2ms``, ``1.5s``.

ztunnel and Kmesh write a connection's ``duration`` this way (:mod:`meshals.codec._l4_lines`).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_go_duration"]

_GO_DURATION: Final = re.compile(r"([-+]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[a-zµμ]+)+)")
# Leading zeros are outside the whole number's group: Go reads "007s" as 7s, however many.
_GO_DURATION_PART: Final = re.compile(r"0*([0-9]*)(?:\.([0-9]*))?([a-zµμ]+)")
_GO_UNITS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_INT64_MAX: Final = 2**63 - 1


def parse_go_duration(text: str) -> int:
    """A Go duration string (Go's ``time.ParseDuration``) in integer nanoseconds.

    A sequence of decimal numbers, each with an optional fraction and a unit (``ns``, ``us``,
    ``µs``, ``ms``, ``s``, ``m``, ``h``), with an optional sign; ``0`` alone needs no unit.
    Fractions are truncated to whole nanoseconds, as Go does.

    Args:
        text: the duration, e.g. ``"2ms"`` (ztunnel) or ``"2.236ms"`` (Kmesh).

    Returns:
        The duration in ns.

    Raises:
        ValueError: *text* is not a Go duration, or it exceeds Go's range (about 292 years).

    >>> [parse_go_duration(text) for text in ("2ms", "1.5s", "350us", "10ns", "1m2s", "0")]
    [2000000, 1500000000, 350000, 10, 62000000000, 0]
    """
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        if text in ("0", "+0", "-0"):
            return 0
        raise ValueError(f"not a Go duration: {text!r}")
    sign, parts = match.groups()
    total = 0
    for whole, fraction, unit in _GO_DURATION_PART.findall(parts):
        scale = _GO_UNITS.get(unit)
        if scale is None:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        if len(whole) > 19:  # more digits than any in-range value: refuse before int()
            raise ValueError(f"duration {text!r} is out of range")
        total += int(whole or "0") * scale
        if fraction:
            # Digits past the 30th are ignored (Go reads about 19): they move the result by
            # one nanosecond at most, and int() refuses thousands of them.
            digits = fraction[:30]
            total += int(digits) * scale // 10 ** len(digits)
        if total > _INT64_MAX + 1:
            raise ValueError(f"duration {text!r} is out of range")
    if total > _INT64_MAX + (1 if sign == "-" else 0):
        raise ValueError(f"duration {text!r} is out of range")
    return -total if sign == "-" else total
