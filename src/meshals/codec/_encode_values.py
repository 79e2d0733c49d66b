"""The encoder's writers of values: checked setters, maps, Timestamp, Duration, Struct and Any.

:mod:`meshals.codec._encode` writes messages field by field with these; each turns protobuf's
range and type errors (and values the wire format cannot carry) into
:class:`~meshals.EncodeError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message

from meshals._errors import EncodeError
from meshals._values import AnyValue, OpaqueJson

__all__: list[str] = []

_NANOS_PER_SECOND = 1_000_000_000


def _set(target: Any, name: str, value: object, path: str) -> None:
    """``target.name = value``, with protobuf's range and type errors as EncodeError."""
    try:
        setattr(target, name, value)
    except (ValueError, TypeError, OverflowError) as exc:
        # ValueError: out of range (or a lone surrogate, UnicodeEncodeError); TypeError: the
        # model holds a value of the wrong type; OverflowError: an int too big for a double.
        raise EncodeError(f"cannot write {value!r}: {exc}", field=f"{path}.{name}") from exc


def _copy(source: object, target: Any, names: tuple[str, ...], path: str) -> None:
    """Copy plain scalar fields (same name in model and protobuf) from *source* to *target*."""
    for name in names:
        _set(target, name, getattr(source, name), path)


def _slot(target: Any, key: object, path: str) -> Any:
    """The value of *key* in the message-valued map *target*, created if missing."""
    try:
        return target.get_or_create(key)
    except (ValueError, TypeError) as exc:  # a key that is no str, or has a lone surrogate
        raise EncodeError(f"cannot write key {key!r}: {exc}", field=path) from exc


def _put_map(target: Any, mapping: Mapping[str, str], path: str) -> None:
    """Fill a ``map<string, string>`` field."""
    try:
        target.update(mapping)
    except (ValueError, TypeError) as exc:  # a key or value that is no str, or a lone surrogate
        raise EncodeError(f"cannot write map: {exc}", field=path) from exc


def _timestamp(ns: int, target: timestamp_pb2.Timestamp, path: str) -> None:
    # Floor division: Timestamp nanos are never negative, also before the epoch.
    seconds, nanos = divmod(ns, _NANOS_PER_SECOND)
    _set(target, "seconds", seconds, path)
    _set(target, "nanos", nanos, path)


def _duration(ns: int, target: duration_pb2.Duration, path: str) -> None:
    # Truncation towards zero: Duration seconds and nanos carry the same sign.
    seconds, nanos = divmod(abs(ns), _NANOS_PER_SECOND)
    sign = -1 if ns < 0 else 1
    _set(target, "seconds", sign * seconds, path)
    _set(target, "nanos", sign * nanos, path)


def _value(value: object, target: struct_pb2.Value, path: str) -> None:
    """Write one JSON value (None, bool, number, str, sequence, mapping) into *target*."""
    # bool before float: bool is an int, and must not become a number.
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, (int, float)):
        # An int is accepted (the model's numbers are floats, but hand-built ones may not be);
        # one too large for a double fails in _set.
        _set(target, "number_value", value, path)
    elif isinstance(value, str):
        _set(target, "string_value", value, path)
    elif isinstance(value, (tuple, list)):
        _list_value(value, target.list_value, path)
    elif isinstance(value, Mapping):
        _struct(value, target.struct_value, path)
    else:
        raise EncodeError(f"not a JSON value: {value!r}", field=path)


def _list_value(
    items: tuple[object, ...] | list[object], target: struct_pb2.ListValue, path: str
) -> None:
    target.SetInParent()
    for index, item in enumerate(items):
        _value(item, target.values.add(), f"{path}[{index}]")


def _struct(fields: Mapping[Any, object], target: struct_pb2.Struct, path: str) -> None:
    target.SetInParent()
    for key, item in fields.items():
        if not isinstance(key, str):
            raise EncodeError(f"Struct key {key!r} is not a string", field=path)
        _value(item, _slot(target.fields, key, path), f"{path}.{key}")


def _any_payload(value: object, type_name: str, path: str) -> Message:
    """The well-known message *type_name* holding the model's *value* for it."""
    if type_name == "google.protobuf.Struct":
        if not isinstance(value, Mapping):
            raise EncodeError(f"a Struct payload must be a mapping, not {value!r}", field=path)
        struct = struct_pb2.Struct()
        _struct(value, struct, path)
        return struct
    if type_name == "google.protobuf.Value":
        json_value = struct_pb2.Value()
        _value(value, json_value, path)
        return json_value
    if type_name == "google.protobuf.ListValue":
        if not isinstance(value, (tuple, list)):
            raise EncodeError(f"a ListValue payload must be a sequence, not {value!r}", field=path)
        list_value = struct_pb2.ListValue()
        _list_value(value, list_value, path)
        return list_value
    if type_name == "google.protobuf.Empty":
        if value is not None:
            raise EncodeError(f"an Empty payload must be None, not {value!r}", field=path)
        return empty_pb2.Empty()
    if type_name == "google.protobuf.Duration":
        duration = duration_pb2.Duration()
        _duration(_int(value, path), duration, path)
        return duration
    if type_name == "google.protobuf.Timestamp":
        timestamp = timestamp_pb2.Timestamp()
        _timestamp(_int(value, path), timestamp, path)
        return timestamp
    wrapper = _WRAPPERS.get(type_name)
    if wrapper is None:
        raise EncodeError(f"marked known, but meshals does not know {type_name!r}", field=path)
    message = wrapper()
    _set(message, "value", value, path)
    return message


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"expected integer nanoseconds, not {value!r}", field=path)
    return value


_WRAPPERS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        wrappers_pb2.DoubleValue,
        wrappers_pb2.FloatValue,
        wrappers_pb2.Int64Value,
        wrappers_pb2.UInt64Value,
        wrappers_pb2.Int32Value,
        wrappers_pb2.UInt32Value,
        wrappers_pb2.BoolValue,
        wrappers_pb2.StringValue,
        wrappers_pb2.BytesValue,
    )
}


def _any(value: AnyValue, target: any_pb2.Any, path: str) -> None:
    target.SetInParent()
    _set(target, "type_url", value.type_url, path)
    if value.known:
        payload = _any_payload(value.value, value.type_name, f"{path}.value")
        # Not Any.Pack(): it would rewrite the type URL's prefix. Deterministic, so a Struct's
        # entries come out in key order and equal payloads give equal bytes.
        target.value = payload.SerializeToString(deterministic=True)
    elif isinstance(value.value, OpaqueJson):
        raise EncodeError(
            f"the JSON payload of {value.type_url!r} cannot be encoded: meshals lacks the "
            "schema that would turn it into bytes",
            field=f"{path}.value",
        )
    elif isinstance(value.value, (bytes, bytearray, memoryview)):
        target.value = bytes(value.value)
    else:
        raise EncodeError(f"an opaque payload must be bytes, not {value.value!r}", field=path)


def _any_map(mapping: Mapping[str, AnyValue], target: Any, path: str) -> None:
    for key, value in mapping.items():
        _any(value, _slot(target, key, path), f"{path}[{key!r}]")
