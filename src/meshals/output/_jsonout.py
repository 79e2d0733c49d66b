"""Plain JSON values from meshals' typed model, for machine-readable CLI output.

The mapping: attrs instances become objects with every field (``None`` as ``null``), enums
their member name, maps objects, tuples and lists arrays, frozensets arrays sorted by
name, ``bytes`` base64 strings, and :class:`~meshals.model.OpaqueJson` its fields. Integers stay
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

__all__: list[str] = []

JsonOut: TypeAlias = bool | int | float | str | list["JsonOut"] | dict[str, "JsonOut"] | None


def to_json(value: object) -> JsonOut:
    """*value* as plain JSON data, ready for :func:`json.dumps`.

    Raises:
        TypeError: *value* holds a type the model does not use.
    """
    if isinstance(value, enum.Enum):  # before int: IntEnum members are ints too
        return value.name
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
        return sorted((to_json(item) for item in value), key=str)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
