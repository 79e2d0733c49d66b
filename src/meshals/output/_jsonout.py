"""Plain JSON values from meshals' typed model, for machine-readable CLI output.

The mapping: attrs instances become objects with every field (``None`` as ``null``), maps
objects, tuples and lists arrays, frozensets sorted arrays, ``bytes`` base64 strings, and
:class:`~meshals.model.OpaqueJson` its fields. Enums are spelled as everywhere else in meshals'
output (``analyze``, ``stats``, ``graph``, the tables): an enum with a text value as that value
(``"sidecar"``, ``"gRPC"``, ``"mTLS"``, ``"inbound"``), a response flag as Envoy's short code
(``"UF"``; a set of them in Envoy's order), and the ALS' protobuf enums, which are integers in
the model, by their proto3 JSON name (``"HTTP11"``, ``"GET"``). Integers stay
integers (nanosecond timestamps and durations included); non-finite floats become the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, as in proto3 JSON.
"""

from __future__ import annotations

import base64
import enum
import math
from collections.abc import Mapping
from typing import TypeAlias

import attrs

from meshals._values import OpaqueJson
from meshals.model._als import ResponseFlag

__all__: list[str] = []

JsonOut: TypeAlias = bool | int | float | str | list["JsonOut"] | dict[str, "JsonOut"] | None


def to_json(value: object) -> JsonOut:
    """*value* as plain JSON data, ready for :func:`json.dumps`.

    Raises:
        TypeError: *value* holds a type the model does not use.
    """
    if isinstance(value, enum.Enum):  # before int: IntEnum members are ints too
        return _enum(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, OpaqueJson):
        return to_json(value.fields)
    cls = type(value)
    if attrs.has(cls):
        return {field.name: to_json(getattr(value, field.name)) for field in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_json(item) for item in value]
    if isinstance(value, frozenset):
        if all(isinstance(item, ResponseFlag) for item in value):
            return [to_json(flag) for flag in sorted(value, key=_flag_order)]
        return sorted((to_json(item) for item in value), key=str)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _enum(value: enum.Enum) -> str:
    if isinstance(value, ResponseFlag):
        return value.short_code
    if isinstance(value.value, str):
        return value.value
    return value.name


def _flag_order(flag: ResponseFlag) -> int:
    return flag.field_number


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
