"""The compiled converter of clean JSON log entries: its spec, made from the walk's tables.

The extension's ``json_converter`` (``_accel_json.h``) converts a log entry, as
:func:`json.loads` made it, straight into the model, for the shapes Envoy writes; for anything
else it answers None and the entry takes the Python converters (:mod:`meshals.codec._json_fast`,
then the walk). Its spec is written here from the same field tables the walk reads: for each
model, its slots, its defaults, and each lowerCamelCase JSON key with the field's slot and
kind of value (:data:`KINDS`). A field whose converter has no compiled kind is left to Python
(the C answers None for an entry that has it), so a field added to a table with a converter of
its own is converted by Python until the C learns that converter, never wrongly.

:func:`compiled_or` puts the compiled converter in front of Python's. It stays out of the way
where Python must look at every value (a text long enough to break the string limit), under
:func:`~meshals.codec._json_fast.walk_only` and under
:func:`~meshals.codec._accelerated.pure_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

import attrs

from meshals._values import AnyValue, FrozenMap
from meshals.model._construct import slot_fields

from ._accelerated import _PURE
from ._compiled import EXTENSION, slot_constructor
from ._json_fast import _WALK_ONLY
from ._json_scalars import (
    parse_bool,
    parse_duration,
    parse_timestamp,
    parse_uint32,
    parse_uint64,
)
from ._json_walk import ENUM_TABLES, MESSAGE_TABLES, _Context, _Convert, _json_name, _Table

__all__: list[str] = []

# The kinds of value of _accel_json.h, in its order.
KINDS: Final = (
    "string",
    "uint64",
    "uint32",
    "bool",
    "duration",
    "timestamp",
    "enum",
    "address",
    "any_map",
    "message",
    "unsupported",
    "string_map",
    "response_flags",
    "struct_map",
    "messages",
)
(
    STRING,
    UINT64,
    UINT32,
    BOOL,
    DURATION,
    TIMESTAMP,
    ENUM,
    ADDRESS,
    ANY_MAP,
    MESSAGE,
    UNSUPPORTED,
    STRING_MAP,
    RESPONSE_FLAGS,
    STRUCT_MAP,
    MESSAGES,
) = range(len(KINDS))

_LEAVES: Final[Mapping[_Convert, int]] = {
    parse_uint64: UINT64,
    parse_uint32: UINT32,
    parse_bool: BOOL,
    parse_duration: DURATION,
    parse_timestamp: TIMESTAMP,
}

# The types of the Anys the compiled converter reads (Istio's peer metadata, in filter state).
STRING_VALUE_URL: Final = "type.googleapis.com/google.protobuf.StringValue"
STRUCT_URL: Final = "type.googleapis.com/google.protobuf.Struct"
BYTES_VALUE_URL: Final = "type.googleapis.com/google.protobuf.BytesValue"
# How deep the objects of a Struct it reads may nest (the Struct is level 1): Istio's peer
# metadata has its labels one level down. Where the limits allow less, Python converts.
STRUCT_DEPTH: Final = 2

# (JSON object) -> (the entry, the members of its objects), or None: Python converts it.
CompiledEntry = Callable[[object], "tuple[Any, int] | None"]
# A model of the spec: (class, slots, defaults, {JSON key: (slot, kind, extra)}).
_Model = tuple[type, tuple[Any, ...], tuple[Any, ...], dict[str, tuple[int, int, object]]]


class AddressKind(NamedTuple):
    """An ``Address`` field of one socket address with its address and port.

    Its value is looked up in *cache* by (address, port); on a miss it is made as *socket*
    (the model and table of a SocketAddress) and cached, the cache cleared first when it holds
    *size* values.
    """

    cache: dict[tuple[str, int], Any]
    socket: tuple[type, _Table]
    size: int


class MessagesKind(NamedTuple):
    """A repeated message: *model* from *table*, each item *at_most* members (a oneof's 1)."""

    model: type
    table: _Table
    at_most: int


class FlagsKind(NamedTuple):
    """``response_flags``: the flags by JSON key; the reason goes to *reason_attr*.

    Only bools are read; ``unauthorizedDetails`` is left to Python.
    """

    flags: Mapping[str, object]
    reason_attr: str


# A compiled kind of a converter: one of these, or (kind, what the C needs beside it).
Kind = AddressKind | FlagsKind | MessagesKind | tuple[int, object]


def any_map_kind() -> Kind:
    """The kind of a ``map<string, Any>`` field: Anys of StringValues, BytesValues, Structs."""
    names = tuple(field.name for field in attrs.fields(AnyValue))
    if names != ("type_url", "value", "known"):  # the order _accel_json.h passes them in
        raise TypeError(f"AnyValue's fields are {names}")
    return ANY_MAP, (STRING_VALUE_URL, STRUCT_URL, BYTES_VALUE_URL, slot_constructor(AnyValue))


def struct_map_kind() -> Kind:
    """The kind of a ``map<string, Struct>`` field (filter metadata)."""
    return STRUCT_MAP, None


def string_map_kind() -> Kind:
    """The kind of a ``map<string, string>`` field (headers, tags)."""
    return STRING_MAP, None


def compiled_converter(
    model: type,
    table: _Table,
    *,
    kinds: Mapping[_Convert, Kind],
    messages: Mapping[_Convert, tuple[type, _Table]],
) -> CompiledEntry | None:
    """The compiled converter of *model* from its field *table*; None without the extension.

    Args:
        model: the entry's class.
        table: the walk's field table of the entry.
        kinds: converters of the tables with a compiled kind of their own (addresses, the
            map of filter state objects), besides the scalars and enums.
        messages: converters of nested messages that are no plain ``_message`` (AccessLogCommon's),
            with their model and table.
    """
    make = getattr(EXTENSION, "json_converter", None)  # None too in a stale in-place build
    if make is None:
        return None
    models: list[_Model | None] = []
    added: dict[tuple[type, int], int] = {}

    def add(model: type, table: _Table) -> int:
        if (model, id(table)) in added:
            return added[model, id(table)]
        index = added[model, id(table)] = len(models)
        models.append(None)  # its own index first: nested models come after it
        names, slots = slot_fields(model)
        defaults = tuple(field.default for field in attrs.fields(model))
        if any(isinstance(default, attrs.Factory) for default in defaults):  # type: ignore[arg-type]
            raise TypeError(f"{model.__name__}: a default factory; the converters pass values")
        fields: dict[str, tuple[int, int, object]] = {}
        for field in {field.name: field for field in table.values()}.values():
            found = _kind(field.convert, kinds, messages)
            extra: object
            if isinstance(found, AddressKind):
                kind, extra = ADDRESS, (found.cache, add(*found.socket), found.size)
            elif isinstance(found, MessagesKind):
                kind, extra = MESSAGES, (add(found.model, found.table), found.at_most)
            elif isinstance(found, FlagsKind):
                kind, extra = RESPONSE_FLAGS, (dict(found.flags), names.index(found.reason_attr))
            elif isinstance(found, Message):
                kind, extra = MESSAGE, add(found.model, found.table)
            else:
                kind, extra = found
            fields[_json_name(field.name)] = (names.index(field.attr), kind, extra)
        models[index] = (model, slots, defaults, fields)
        return index

    add(model, table)
    # FrozenMap as its __init__ makes it: its own dict, its hash not computed yet.
    frozen_map = (FrozenMap, FrozenMap.__dict__["_data"], FrozenMap.__dict__["_hash"])
    spec = (attrs.NOTHING, frozen_map, STRUCT_DEPTH, tuple(models))
    convert: CompiledEntry = make(spec)
    return convert


class Message(NamedTuple):
    """A nested message, converted by its own model of the spec."""

    model: type
    table: _Table


def _kind(
    convert: _Convert | None,
    kinds: Mapping[_Convert, Kind],
    messages: Mapping[_Convert, tuple[type, _Table]],
) -> Kind | Message:
    if convert is None:
        return STRING, None
    leaf = _LEAVES.get(convert)
    if leaf is not None:
        return leaf, None
    if convert in ENUM_TABLES:
        return ENUM, ENUM_TABLES[convert]
    if convert in kinds:
        return kinds[convert]
    message = messages.get(convert) or MESSAGE_TABLES.get(convert)
    if message is not None:
        return Message(*message)
    return UNSUPPORTED, None


# (JSON value, context) -> what the compiled converter made of it, or None: Python converts it.
Attempt = Callable[[object, _Context], Any]


def attempt(compiled: CompiledEntry | None) -> Attempt:
    """*compiled* where it may run: its value (its members counted), or None."""
    walk_only, pure = _WALK_ONLY.get, _PURE.get

    def convert(raw: object, context: _Context) -> object:
        if (
            compiled is None
            or context.check_strings
            or context.limits.max_nesting_depth < STRUCT_DEPTH
            or walk_only()
            or pure()
        ):
            return None
        made = compiled(raw)
        if made is None:
            return None
        context.pairs += made[1]
        return made[0]

    return convert


def compiled_or(tried: Attempt, fallback: _Convert) -> _Convert:
    """A converter of the walk's shape that tries *tried* first, then *fallback*."""

    def convert(raw: object, context: _Context, path: str) -> object:
        made = tried(raw, context)
        return fallback(raw, context, path) if made is None else made

    return convert
