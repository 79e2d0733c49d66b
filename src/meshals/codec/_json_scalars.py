"""Leaf values of the proto3 JSON mapping: scalars, bytes, Timestamp, Duration and Struct.

Each ``parse_*`` function takes what :func:`json.loads` produced for one field and returns
the model's value, or raises :class:`InvalidValueError` with a reason. Where the value sat in the
message is the caller's business (:mod:`meshals.codec._json_walk`). The rules are those of the
proto3 JSON mapping (https://protobuf.dev/programming-guides/json/), checked against protobuf's
own ``json_format``; where that parser is laxer than the mapping (``int(" 1")``, lossy float
arithmetic on timestamps) these functions follow the mapping, exactly and in integers.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
import re
import struct
from collections.abc import Callable, Iterator
from typing import Any

from meshals._values import FrozenMap, JsonValue

from ._limits import DEFAULT_LIMITS, LimitExceeded, too_deep

JsonMap = FrozenMap[str, JsonValue]

__all__: list[str] = []


class InvalidValueError(Exception):
    """A JSON value that the field's type does not accept; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(raw: object) -> str:
    """A short description of a JSON value for messages: ``string "x"``, ``number 5``."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return f"string {_shortened(raw)!r}"
    if isinstance(raw, (int, float)):
        return f"number {_shortened(repr(raw))}"
    if isinstance(raw, dict):
        return "an object"
    return "an array"


def _shortened(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# --- strings and bools -----------------------------------------------------------------------


def parse_string(raw: object) -> str:
    """A ``string`` field: a JSON string that is valid Unicode."""
    if type(raw) is str and raw.isascii():
        return raw
    if type(raw) is not str:
        raise InvalidValueError(f"expected a string, got {describe(raw)}")
    return check_text(raw)


def check_text(text: str) -> str:
    """*text* itself, if it can be encoded as UTF-8 (as protobuf requires of strings).

    ``json.loads`` turns an escaped lone surrogate (``"\\ud800"``) into a str that cannot.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValueError("string holds an unpaired surrogate") from None
    return text


def parse_bool(raw: object) -> bool:
    """A ``bool`` field: ``true`` or ``false``, never a string or number."""
    if type(raw) is bool:
        return raw
    raise InvalidValueError(f"expected true or false, got {describe(raw)}")


# --- integers ---------------------------------------------------------------------------------

# (name, lowest, highest) of each integer type.
INT32 = ("int32", -(2**31), 2**31 - 1)
INT64 = ("int64", -(2**63), 2**63 - 1)
UINT32 = ("uint32", 0, 2**32 - 1)
UINT64 = ("uint64", 0, 2**64 - 1)

_UINT32_MAX = UINT32[2]
_UINT64_MAX = UINT64[2]
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
# Numeric strings with a fraction or exponent ("1e3", "1.0"); accepted for integers if exact.
_NUMBER_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def parse_uint32(raw: object) -> int:
    """A ``uint32`` field (also ``UInt32Value``): a number or a numeric string."""
    if type(raw) is int and 0 <= raw <= _UINT32_MAX:
        return raw
    return parse_integer(raw, UINT32)


def parse_uint64(raw: object) -> int:
    """A ``uint64`` field: usually a decimal string (``"1038"``), which this reads fast."""
    if type(raw) is str and raw.isdigit() and raw.isascii() and len(raw) <= 20:
        value = int(raw)
        if value <= _UINT64_MAX:
            return value
    elif type(raw) is int and 0 <= raw <= _UINT64_MAX:
        return raw
    return parse_integer(raw, UINT64)


def parse_integer(raw: object, kind: tuple[str, int, int]) -> int:
    """An integer of *kind* (``INT32`` ...) from a JSON number or numeric string.

    Exponent and fraction forms are accepted when the value is an exact integer
    (``"1e3"``, ``1.0``); the arithmetic is decimal, so no digit is lost to floats.
    """
    name, lowest, highest = kind
    value: int | decimal.Decimal
    if type(raw) is int:
        value = raw
    elif type(raw) is float:
        if not raw.is_integer():
            raise InvalidValueError(f"expected an integer ({name}), got {describe(raw)}")
        value = int(raw)
    elif type(raw) is str:
        value = _integer_from_text(raw, name)
    else:
        raise InvalidValueError(f"expected an integer ({name}), got {describe(raw)}")
    if not lowest <= value <= highest:
        raise InvalidValueError(f"{describe(raw)} is out of range for {name}")
    return int(value)


def _integer_from_text(text: str, name: str) -> int | decimal.Decimal:
    # An integer, or a Decimal that the caller range-checks before int() (so "1e999999999"
    # is rejected without building a billion-digit int).
    if _INTEGER_TEXT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise InvalidValueError(f"{describe(text)} is out of range for {name}") from None
    if not _NUMBER_TEXT.fullmatch(text):
        raise InvalidValueError(f"expected an integer ({name}), got {describe(text)}")
    number = decimal.Decimal(text)
    if number != number.to_integral_value():
        raise InvalidValueError(f"expected an integer ({name}), got {describe(text)}")
    return number


# --- floating point ---------------------------------------------------------------------------

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_double(raw: object) -> float:
    """A ``double`` field: a JSON number, a numeric string, or "NaN"/"Infinity"/"-Infinity"."""
    if type(raw) is float:
        if math.isfinite(raw):
            return raw
        # json.loads accepts the bare tokens NaN/Infinity (and 1e999 overflows to inf).
        raise InvalidValueError(f"{describe(raw)} must be written as a quoted string")
    if type(raw) is int:
        try:
            return float(raw)
        except OverflowError:
            raise InvalidValueError(f"{describe(raw)} is out of range for double") from None
    if type(raw) is str:
        special = _SPECIAL_FLOATS.get(raw)
        if special is not None:
            return special
        if _NUMBER_TEXT.fullmatch(raw):
            return float(raw)
    raise InvalidValueError(f"expected a number, got {describe(raw)}")


def parse_float(raw: object) -> float:
    """A ``float`` field: as :func:`parse_double`, rounded to single precision as on the wire."""
    value = parse_double(raw)
    try:
        packed = struct.pack("<f", value)
    except OverflowError:
        raise InvalidValueError(f"{describe(raw)} is out of range for float") from None
    return float(struct.unpack("<f", packed)[0])


# --- bytes ------------------------------------------------------------------------------------

# Standard and URL-safe alphabets (even mixed, as protobuf's parsers allow), padding optional.
_BASE64_TEXT = re.compile(r"([A-Za-z0-9+/_-]*)(=*)")
_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")


def parse_bytes(raw: object) -> bytes:
    """A ``bytes`` field: standard or URL-safe base64, with or without ``=`` padding."""
    if type(raw) is not str:
        raise InvalidValueError(f"expected a base64 string, got {describe(raw)}")
    match = _BASE64_TEXT.fullmatch(raw)
    if match is None:
        raise InvalidValueError(f"malformed base64: {describe(raw)}")
    body, padding = match.groups()
    missing = -len(body) % 4
    if len(body) % 4 == 1 or (padding and len(padding) != missing):
        raise InvalidValueError(f"malformed base64: {describe(raw)}")
    # Cannot fail: the alphabet, length and padding are checked above.
    return base64.b64decode(body.translate(_URL_SAFE_TO_STANDARD) + "=" * missing, validate=True)


# --- Duration and Timestamp -------------------------------------------------------------------

_NANOS = 1_000_000_000
# Multiplier that turns a fraction of n digits into nanoseconds.
_FRACTION_SCALE: tuple[int, ...] = tuple(10 ** (9 - digits) for digits in range(10))
_DURATION_SECONDS_MAX = 315_576_000_000  # 10,000 years, google/protobuf/duration.proto
_TIMESTAMP_SECONDS_MIN = -62_135_596_800  # 0001-01-01T00:00:00Z, timestamp.proto
_TIMESTAMP_SECONDS_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z

# The spec writes 0, 3, 6 or 9 fractional digits; any of 1-9 is accepted.
# Leading zeros of the seconds are outside their group, so the length check below counts
# significant digits only ("0000000000001s" is 1s, as json_format reads it). The group starts
# with a digit 0* cannot take, so a long run of zeros is read in linear time.
_DURATION_TEXT = re.compile(r"(-?)0*([1-9][0-9]*|0)(?:\.([0-9]{1,9}))?s")
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_DAY_SECONDS = 86_400


_DURATION_NANOS_MAX = _DURATION_SECONDS_MAX * _NANOS + _NANOS - 1


def parse_duration(raw: object) -> int:
    """A ``Duration`` (``"1.000340012s"``, ``"-0.5s"``) in integer nanoseconds."""
    # Fast path for what Envoy writes most: a non-negative value with 9 fractional digits,
    # whose digits without the point are the nanoseconds. ".123456789s" has no whole seconds,
    # which the mapping requires: the slow path rejects it.
    if type(raw) is str and raw[-11:-10] == "." and raw[-1:] == "s" and raw[:1] != ".":
        digits = raw[:-11] + raw[-10:-1]
        if digits.isdigit() and len(digits) <= 21 and digits.isascii():
            nanos = int(digits)
            if nanos <= _DURATION_NANOS_MAX:
                return nanos
    if type(raw) is not str:
        raise InvalidValueError(f"expected a duration string such as '1.5s', got {describe(raw)}")
    match = _DURATION_TEXT.fullmatch(raw)
    if match is None:
        raise InvalidValueError(f"expected a duration string such as '1.5s', got {describe(raw)}")
    sign, seconds_text, fraction = match.groups()
    if len(seconds_text) > 12 or int(seconds_text) > _DURATION_SECONDS_MAX:
        raise InvalidValueError(f"duration {raw!r} is out of range (at most 10,000 years)")
    nanos = int(seconds_text) * _NANOS
    if fraction:
        nanos += int(fraction) * _FRACTION_SCALE[len(fraction)]
    return -nanos if sign else nanos


# Epoch seconds at the start of each minute seen in canonical form ("2019-04-13T03:59"):
# entries of one capture share few minutes, so most timestamps skip the date arithmetic.
_MINUTE_STARTS: dict[str, int] = {}
_MINUTE_STARTS_SIZE = 4096


def parse_timestamp(raw: object) -> int:
    """A ``Timestamp`` (RFC 3339, ``Z`` or ``±hh:mm``) in integer nanoseconds since the epoch."""
    # Fast path: "YYYY-MM-DDTHH:MM:SS.fffZ" (1-9 digits) in a minute already seen.
    if type(raw) is str and raw[19:20] == "." and raw[-1:] == "Z":
        minute_start = _MINUTE_STARTS.get(raw[:16])
        if minute_start is not None and raw[16] == ":":
            fraction = raw[20:-1]
            digits = raw[17:19] + fraction
            if 0 < len(fraction) <= 9 and digits.isdigit() and digits.isascii() and digits < "6":
                return minute_start * _NANOS + int(digits) * _FRACTION_SCALE[len(fraction)]
    return _parse_timestamp_fully(raw)


def _parse_timestamp_fully(raw: object) -> int:
    if type(raw) is not str:
        raise InvalidValueError(f"expected an RFC 3339 timestamp string, got {describe(raw)}")
    match = _TIMESTAMP_TEXT.fullmatch(raw)
    if match is None:
        raise InvalidValueError(f"expected an RFC 3339 timestamp string, got {describe(raw)}")
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    try:
        days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:  # month 13, February 30th, year 0
        raise InvalidValueError(f"{raw!r} is not a valid date") from None
    # Leap seconds (second 60) are not representable: Timestamp smears them.
    if int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        raise InvalidValueError(f"{raw!r} is not a valid time of day")
    minute_start = days * _DAY_SECONDS + int(hour) * 3600 + int(minute) * 60
    seconds = minute_start + int(second)
    if sign:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            raise InvalidValueError(f"{raw!r} has an invalid UTC offset")
        offset = int(off_hours) * 3600 + int(off_minutes) * 60
        seconds += -offset if sign == "+" else offset
    elif raw[10] == "T":  # canonical UTC: remember the minute for the fast path
        if len(_MINUTE_STARTS) >= _MINUTE_STARTS_SIZE:
            _MINUTE_STARTS.clear()
        _MINUTE_STARTS[raw[:16]] = minute_start
    if not _TIMESTAMP_SECONDS_MIN <= seconds <= _TIMESTAMP_SECONDS_MAX:
        raise InvalidValueError(f"timestamp {raw!r} is out of range (years 0001 to 9999 UTC)")
    nanos = int(fraction) * _FRACTION_SCALE[len(fraction)] if fraction else 0
    return seconds * _NANOS + nanos


# --- Struct, Value, ListValue ------------------------------------------------------------------

# Containers of a JSON tree being frozen: (raw object or array, its items, the frozen items so
# far, the key under which the container sits in its parent).
_Frame = tuple[object, Iterator[Any], list[Any], object]


def parse_struct(raw: object, max_depth: int = DEFAULT_LIMITS.max_nesting_depth) -> JsonMap:
    """A ``Struct``: a JSON object, its numbers all floats (as ``number_value`` holds them).

    Raises:
        InvalidValueError: not an object, or a value JSON cannot hold (see
            :func:`parse_json_value`).
        LimitExceeded: objects and arrays nest deeper than *max_depth* (the object itself
            is level 1).
    """
    if type(raw) is not dict:
        raise InvalidValueError(f"expected a JSON object (Struct), got {describe(raw)}")
    if all(type(value) is str and value.isascii() for value in raw.values()):
        # The usual metadata: labels and names. No nesting, no numbers to convert.
        return FrozenMap({check_text(key): value for key, value in raw.items()})
    frozen: JsonMap = freeze_json(raw, _struct_leaf, max_depth)
    return frozen


def parse_list_value(
    raw: object, max_depth: int = DEFAULT_LIMITS.max_nesting_depth
) -> tuple[JsonValue, ...]:
    """A ``ListValue``: a JSON array, as a tuple. Raises as :func:`parse_struct`."""
    if type(raw) is not list:
        raise InvalidValueError(f"expected a JSON array (ListValue), got {describe(raw)}")
    frozen: tuple[JsonValue, ...] = freeze_json(raw, _struct_leaf, max_depth)
    return frozen


def parse_json_value(raw: object, max_depth: int = DEFAULT_LIMITS.max_nesting_depth) -> JsonValue:
    """A ``Value``: any JSON value, null included, made immutable.

    Raises:
        InvalidValueError: a number JSON cannot hold (NaN, an infinity, or an integer too
            large for a double) or a string with an unpaired surrogate.
        LimitExceeded: objects and arrays nest deeper than *max_depth*.
    """
    if type(raw) is dict or type(raw) is list:
        frozen: JsonValue = freeze_json(raw, _struct_leaf, max_depth)
        return frozen
    return _struct_leaf(raw)


def _struct_leaf(raw: object) -> JsonValue:
    if type(raw) is str:
        return check_text(raw)
    if type(raw) is float:
        if math.isfinite(raw):
            return raw
        # json.loads reads the bare tokens NaN and Infinity (and turns 1e999 into inf),
        # which are not JSON: a Value in JSON form cannot hold them.
        raise InvalidValueError(f"{describe(raw)} is not a JSON number")
    if type(raw) is int:
        try:
            return float(raw)
        except OverflowError:
            raise InvalidValueError(f"{describe(raw)} is out of range for double") from None
    return raw  # type: ignore[return-value] # None or a bool, as json.loads gives no more


def keep_json_leaf(raw: object) -> object:
    """A JSON scalar kept as it is (numbers keep their type), but checked as any JSON text is."""
    if type(raw) is str:
        return check_text(raw)
    if type(raw) is float and not math.isfinite(raw):
        raise InvalidValueError(f"{describe(raw)} is not a JSON number")
    return raw


def freeze_json(raw: object, leaf: Callable[[object], object], max_depth: int) -> Any:
    """*raw* (a JSON object or array) with objects as FrozenMaps, arrays as tuples.

    Iterative, so no JSON that ``json.loads`` returns can exhaust Python's stack here.
    *leaf* converts each scalar; keys must be valid text.

    Raises:
        InvalidValueError: from *leaf*, or a key with an unpaired surrogate.
        LimitExceeded: containers nest deeper than *max_depth* (*raw* is level 1).
    """
    stack: list[_Frame] = [_frame(raw, None)]
    while True:
        container, items, frozen, _ = frame = stack[-1]
        is_object = type(container) is dict
        for item in items:
            key, value = item if is_object else ("", item)
            if type(value) is dict or type(value) is list:
                if len(stack) >= max_depth:
                    raise LimitExceeded(too_deep(max_depth))
                stack.append(_frame(value, check_text(key)))
                break
            frozen.append((check_text(key), leaf(value)) if is_object else leaf(value))
        else:
            stack.pop()
            done: object = FrozenMap(dict(frozen)) if is_object else tuple(frozen)
            if not stack:
                return done
            parent_key = frame[3]
            parent = stack[-1]
            parent[2].append(done if type(parent[0]) is list else (parent_key, done))


def count_members(raw: object) -> int:
    """How many members the JSON objects in *raw* have, all of them, at every depth."""
    count = 0
    stack = [raw]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            count += len(value)
            stack.extend(
                item for item in value.values() if type(item) is dict or type(item) is list
            )
        elif type(value) is list:
            stack.extend(value)
    return count


def _frame(container: object, key: object) -> _Frame:
    if isinstance(container, dict):
        return (container, iter(container.items()), [], key)
    assert isinstance(container, list)
    return (container, iter(container), [], key)
