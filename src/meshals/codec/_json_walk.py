"""The walk of the proto3 JSON decoder: its context, field tables and generic converters.

The walk is hand-written for speed: one table per message maps each JSON key (the
lowerCamelCase JSON name and the original snake_case name) to a model attribute and a
converter, so an entry costs dict look-ups and small functions rather than the descriptor
reflection of protobuf's ``json_format`` (which also builds protobuf objects first). Here are
the :class:`_Context` that problems go through, the tables and :func:`_read` that applies one,
oneofs, and the converters of shapes any message has: repeated fields, maps, enums, ``Struct``
and ``Any``. The tables of Envoy's messages are in :mod:`meshals.codec._json_messages`; leaf
values are parsed by :mod:`meshals.codec._json_scalars`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from meshals._errors import DecodeError, DiagnosticKind, map_entry_path
from meshals._values import AnyValue, FrozenMap, JsonValue, OpaqueJson

from ._json_scalars import (
    INT32,
    INT64,
    InvalidValueError,
    check_text,
    count_members,
    describe,
    freeze_json,
    keep_json_leaf,
    parse_bool,
    parse_bytes,
    parse_double,
    parse_duration,
    parse_float,
    parse_integer,
    parse_json_value,
    parse_list_value,
    parse_string,
    parse_struct,
    parse_timestamp,
    parse_uint32,
    parse_uint64,
)
from ._limits import DiagnosticRecorder, LimitExceeded, Limits

__all__: list[str] = []

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.IntEnum)


# --- reporting ---------------------------------------------------------------------------------


class _Context(DiagnosticRecorder):
    """Where decoding is, and what to do about a problem (raise, or note it and go on)."""

    __slots__ = ("check_strings", "entry_index", "pairs")

    def __init__(
        self, source: str, message_index: int | None, strict: bool, limits: Limits
    ) -> None:
        super().__init__(source=source, message_index=message_index, strict=strict, limits=limits)
        # Only a text longer than max_string_length can hold a string that is.
        self.check_strings = False
        self.entry_index: int | None = None  # set while inside log_entry[i]
        # Members of the JSON objects the walk has read, each object counted once: equal to
        # the member count of the text when no key repeats (see _json_duplicates).
        self.pairs = 0

    def error(self, reason: str, field: str | None = None) -> DecodeError:
        return DecodeError(
            reason,
            source=self.source,
            message_index=self.message_index,
            entry_index=self.entry_index,
            field=field,
        )

    def problem(
        self,
        reason: str,
        field: str | None,
        outcome: str = "ignored",
        kind: DiagnosticKind = DiagnosticKind.VALUE_IGNORED,
    ) -> None:
        """Raise in strict mode; otherwise record *reason* and what lenient decoding did."""
        if self.strict:  # without the outcome: nothing was done
            raise self.error(reason, field)
        self.record(field, self.entry_index, f"{reason}; {outcome}", kind=kind)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_text(key: str) -> bool:
    try:
        check_text(key)
    except InvalidValueError:
        return False
    return True


def _printable(key: str) -> str:
    """*key* for a field path: as it is (its start, if long), escaped if it holds a surrogate."""
    if len(key) > _KEY_SHOWN:
        key = key[: _KEY_SHOWN - 3] + "..."
    return key if _is_text(key) else json.dumps(key)[1:-1]


_KEY_SHOWN = 80  # an unknown key is shown in a diagnostic's field path up to this length


_map_key = map_entry_path


# --- field tables and the generic walk -----------------------------------------------------------

# A leaf converter takes the JSON value and raises InvalidValueError; a nested one also takes the
# context and its field path, and reports problems inside the value itself.
_Convert = Callable[..., Any]


class _Field(NamedTuple):
    attr: str  # keyword of the model class
    name: str  # protobuf field name, as field paths show it
    convert: _Convert | None  # None: a plain string, checked inline (the commonest case)
    nested: bool


_Table = dict[str, _Field]


def _scalar(name: str, convert: _Convert | None = None, *, attr: str | None = None) -> _Field:
    return _Field(attr or name, name, convert, nested=False)


def _nested(name: str, convert: _Convert, *, attr: str | None = None) -> _Field:
    return _Field(attr or name, name, convert, nested=True)


def _json_name(name: str) -> str:
    # protoc's json_name: drop each underscore and capitalize the letter after it.
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _table(*fields: _Field) -> _Table:
    """Each field under its JSON name and its protobuf name: parsers must accept both."""
    table: _Table = {}
    for field in fields:
        table[field.name] = field
        table[_json_name(field.name)] = field
    return table


def _read(raw: object, table: _Table, context: _Context, path: str) -> dict[str, Any]:
    """The model keyword arguments for the message *raw*, one per field present and valid."""
    if type(raw) is not dict:
        raise InvalidValueError(f"expected a JSON object, got {describe(raw)}")
    context.pairs += len(raw)
    values: dict[str, Any] = {}
    for key, item in raw.items():
        field = table.get(key)
        if field is None:
            context.problem(f"unknown field {key!r}", _join(path, _printable(key)))
            continue
        if item is None:
            continue  # proto3 JSON: null stands for the field's default
        attr, name, convert, nested = field
        if attr in values:  # both spellings of one field
            context.problem(
                f"field {name!r} given more than once", _join(path, name), "kept the first"
            )
            continue
        try:
            if convert is None:
                values[attr] = item if type(item) is str and item.isascii() else parse_string(item)
            elif nested:
                values[attr] = convert(item, context, f"{path}.{name}" if path else name)
            else:
                values[attr] = convert(item)
        except InvalidValueError as invalid:
            context.problem(invalid.reason, _join(path, name))
        except LimitExceeded as exceeded:
            exceeded.locate(_join(path, name))
            raise
    return values


class _Oneof(NamedTuple):
    name: str
    keys: dict[str, str]  # JSON key (both spellings) -> protobuf name of the member


def _oneof(name: str, *members: str) -> _Oneof:
    return _Oneof(name, {key: member for member in members for key in (_json_name(member), member)})


# StreamAccessLogsMessage's oneof of entry lists: _first_member_only reports a dropped member
# of it as a skipped part.
_LOG_ENTRIES = _oneof("log_entries", "http_logs", "tcp_logs")


def _first_member_only(raw: object, oneof: _Oneof, context: _Context, path: str) -> object:
    """*raw* without the members of *oneof* after the first one set, each of them reported.

    Run before the fields are read, as protobuf's parsers check, so that a dropped member
    is neither converted nor a source of further diagnostics. (null members do not count.)
    """
    keys = oneof.keys
    if type(raw) is not dict or sum(raw.get(key) is not None for key in keys) < 2:
        return raw
    members = list(
        dict.fromkeys(keys[key] for key, item in raw.items() if key in keys and item is not None)
    )
    if len(members) < 2:  # one member in both spellings: _read reports that
        return raw
    kept, *dropped = members
    for name in dropped:
        context.problem(
            f"oneof {oneof.name!r} has more than one member set ({kept!r} and {name!r})",
            _join(path, name),
            f"kept {kept!r}",
            # Dropping the other member of log_entries drops its entries, as in binary input.
            DiagnosticKind.PART_SKIPPED if oneof is _LOG_ENTRIES else DiagnosticKind.VALUE_IGNORED,
        )
    return {key: item for key, item in raw.items() if keys.get(key) not in dropped}


# The converters made by _message, with their model and table: _json_fast generates faster
# ones from them.
MESSAGE_TABLES: dict[_Convert, tuple[type, _Table]] = {}


def _message(model: Callable[..., _T], table: _Table) -> Callable[[object, _Context, str], _T]:
    """The converter for a message without oneofs or renamed fields."""

    def convert(raw: object, context: _Context, path: str) -> _T:
        return model(**_read(raw, table, context, path))

    if isinstance(model, type):
        MESSAGE_TABLES[convert] = (model, table)
    return convert


def _repeated(convert: _Convert, *, nested: bool = False) -> _Convert:
    """The converter for a repeated field of *convert*'s type; bad elements are skipped."""

    def convert_list(raw: object, context: _Context, path: str) -> tuple[object, ...]:
        if type(raw) is not list:
            raise InvalidValueError(f"expected a JSON array, got {describe(raw)}")
        items = []
        for position, item in enumerate(raw):
            try:
                if item is None:
                    raise InvalidValueError("null element in a repeated field")
                items.append(
                    convert(item, context, f"{path}[{position}]") if nested else convert(item)
                )
            except InvalidValueError as invalid:
                context.problem(invalid.reason, f"{path}[{position}]")
            except LimitExceeded as exceeded:
                exceeded.locate(f"{path}[{position}]")
                raise
        return tuple(items)

    return convert_list


def _map_of(convert: _Convert, *, nested: bool = False) -> _Convert:
    """The converter for a ``map<string, T>`` field (a JSON object); bad entries are skipped."""

    def convert_map(raw: object, context: _Context, path: str) -> FrozenMap[str, object]:
        if type(raw) is not dict:
            raise InvalidValueError(f"expected a JSON object (map), got {describe(raw)}")
        context.pairs += len(raw)
        entries: dict[str, object] = {}
        for key, item in raw.items():
            try:
                if item is None:
                    raise InvalidValueError("null map value")
                value = convert(item, context, _map_key(path, key)) if nested else convert(item)
                entries[check_text(key)] = value
            except InvalidValueError as invalid:
                context.problem(invalid.reason, _map_key(path, key))
            except LimitExceeded as exceeded:
                exceeded.locate(_map_key(path, key))
                raise
        return FrozenMap(entries)

    return convert_map


def _string_map(raw: object, context: _Context, path: str) -> FrozenMap[str, str]:
    """A ``map<string, string>`` (headers, tags): checked in one pass when all is well."""
    if type(raw) is dict:
        for key, item in raw.items():
            if type(item) is not str or not item.isascii() or not key.isascii():
                break
        else:
            context.pairs += len(raw)
            return FrozenMap(raw)
    return _STRING_MAP_SLOW(raw, context, path)  # type: ignore[no-any-return]


_STRING_MAP_SLOW = _map_of(parse_string)


# The converters made by _enum, with their members by name and by number: the compiled
# converter (_json_compiled) looks members up in the same tables.
ENUM_TABLES: dict[_Convert, tuple[dict[str, Any], dict[int, Any]]] = {}


def _enum(kind: type[_E], proto_name: str) -> Callable[[object], _E | int]:
    """The converter for an enum field: by name, or by number (unknown numbers kept as int)."""
    by_name = {member.name: member for member in kind}
    by_number = {member.value: member for member in kind}

    def convert(raw: object) -> _E | int:
        if type(raw) is str:
            member = by_name.get(raw)
            if member is not None:
                return member
            if not raw.lstrip("-").isdigit():
                raise InvalidValueError(f"unknown {proto_name} value {raw!r}")
        number = parse_integer(raw, INT32)
        return by_number.get(number, number)

    ENUM_TABLES[convert] = (by_name, by_number)
    return convert


# --- Struct and Any ------------------------------------------------------------------------------


def _struct(raw: object, context: _Context, path: str) -> FrozenMap[str, JsonValue]:
    struct = parse_struct(raw, context.limits.max_nesting_depth)
    context.pairs += count_members(raw)
    return struct


def _parse_empty(raw: object) -> None:
    if type(raw) is not dict or raw:
        raise InvalidValueError(f"expected {{}} (Empty), got {describe(raw)}")


def _parse_int32(raw: object) -> int:
    return parse_integer(raw, INT32)


def _parse_int64(raw: object) -> int:
    return parse_integer(raw, INT64)


# The well-known types whose JSON form sits under "value" in an Any, and their parsers; those
# of the Struct family also take the nesting limit.
_JSON_TREES: dict[str, Callable[[object, int], object]] = {
    "google.protobuf.Struct": parse_struct,
    "google.protobuf.Value": parse_json_value,
    "google.protobuf.ListValue": parse_list_value,
}
_WELL_KNOWN: dict[str, Callable[[object], object]] = {
    "google.protobuf.BoolValue": parse_bool,
    "google.protobuf.StringValue": parse_string,
    "google.protobuf.BytesValue": parse_bytes,
    "google.protobuf.Int32Value": _parse_int32,
    "google.protobuf.UInt32Value": parse_uint32,
    "google.protobuf.Int64Value": _parse_int64,
    "google.protobuf.UInt64Value": parse_uint64,
    "google.protobuf.FloatValue": parse_float,
    "google.protobuf.DoubleValue": parse_double,
    "google.protobuf.Duration": parse_duration,
    "google.protobuf.Timestamp": parse_timestamp,
    "google.protobuf.Empty": _parse_empty,
}
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _any(raw: object, context: _Context, path: str) -> AnyValue:
    """A ``google.protobuf.Any``: decoded for the well-known types, opaque for the rest."""
    if type(raw) is not dict:
        raise InvalidValueError(f"expected a JSON object (Any), got {describe(raw)}")
    if not raw:
        return AnyValue(type_url="", value=b"", known=False)  # an empty Any, as on the wire
    context.pairs += count_members(raw)
    type_url = raw.get("@type")
    if type(type_url) is not str:
        raise InvalidValueError(f"Any needs an '@type' string, got {describe(type_url)}")
    # The type name is what follows the last "/"; a URL without one is all name, as the
    # binary decoder (and AnyValue.type_name) reads it, so both paths agree.
    type_name = type_url.rpartition("/")[2]
    if not _TYPE_NAME.fullmatch(type_name):
        raise InvalidValueError(f"malformed '@type' {type_url!r}")
    max_depth = context.limits.max_nesting_depth
    tree = _JSON_TREES.get(type_name)
    parse = _WELL_KNOWN.get(type_name) if tree is None else lambda item: tree(item, max_depth)
    if parse is None:  # its schema is unknown here: keep the JSON, which is not an error
        body = {key: item for key, item in raw.items() if key != "@type"}
        # The Any's own object is level 1 of the limit, as for a Struct.
        fields: FrozenMap[str, object] = freeze_json(body, keep_json_leaf, max_depth)
        return AnyValue(type_url=type_url, value=OpaqueJson(fields), known=False)
    for key in raw:
        if key not in ("@type", "value"):
            reason = f"unknown field {key!r} in an Any of {type_name}"
            context.problem(reason, _join(path, _printable(key)))
    if "value" in raw:
        value = parse(raw["value"])
    elif type_name == "google.protobuf.Empty":
        # Empty has no special JSON form, so printers write it inline: no fields at all.
        value = None
    else:
        raise InvalidValueError(f"Any of {type_name} has no 'value'")
    return AnyValue(type_url=type_url, value=value, known=True)
