"""``decode_json``: the proto3 JSON form of a StreamAccessLogsMessage, straight into the model.

The walk is hand-written for speed: one table per message maps each JSON key (the
lowerCamelCase JSON name and the original snake_case name) to a model attribute and a
converter, so an entry costs dict look-ups and small functions rather than the descriptor
reflection of protobuf's ``json_format`` (which also builds protobuf objects first).
Leaf values are parsed by :mod:`meshals.codec._json_scalars`. Problems go through a
:class:`_Context`: a :class:`DecodeError` in strict mode, a :class:`Diagnostic` (and the value
skipped) otherwise.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from meshals._errors import DecodeError, DiagnosticKind, map_entry_path
from meshals._values import AnyValue, FrozenMap, JsonValue, OpaqueJson
from meshals.model._als import (
    AccessLogCommon,
    AccessLogType,
    Address,
    AlsMessage,
    BuildVersion,
    CertificateProperties,
    ConnectionProperties,
    EnvoyInternalAddress,
    Extension,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    HttpVersion,
    Identifier,
    Locality,
    Metadata,
    Node,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SemanticVersion,
    SocketAddress,
    SocketProtocol,
    SubjectAltName,
    TcpEntry,
    TlsProperties,
    TlsVersion,
    UnauthorizedReason,
)

from ._json_scalars import (
    INT32,
    INT64,
    UINT32,
    InvalidValueError,
    check_text,
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
from ._limits import DEFAULT_LIMITS, DiagnosticRecorder, LimitExceeded, Limits, find_too_long

__all__ = ["decode_json"]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.IntEnum)


# --- reporting ---------------------------------------------------------------------------------


class _Context(DiagnosticRecorder):
    """Where decoding is, and what to do about a problem (raise, or note it and go on)."""

    __slots__ = ("check_strings", "entry_index")

    def __init__(
        self, source: str, message_index: int | None, strict: bool, limits: Limits
    ) -> None:
        super().__init__(source=source, message_index=message_index, strict=strict, limits=limits)
        # Only a text longer than max_string_length can hold a string that is.
        self.check_strings = False
        self.entry_index: int | None = None  # set while inside log_entry[i]

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


def _message(model: Callable[..., _T], table: _Table) -> Callable[[object, _Context, str], _T]:
    """The converter for a message without oneofs or renamed fields."""

    def convert(raw: object, context: _Context, path: str) -> _T:
        return model(**_read(raw, table, context, path))

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
            return FrozenMap(raw)
    return _STRING_MAP_SLOW(raw, context, path)  # type: ignore[no-any-return]


_STRING_MAP_SLOW = _map_of(parse_string)


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

    return convert


# --- Struct and Any ------------------------------------------------------------------------------


def _struct(raw: object, context: _Context, path: str) -> FrozenMap[str, JsonValue]:
    return parse_struct(raw, context.limits.max_nesting_depth)


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


# --- addresses ----------------------------------------------------------------------------------

_SOCKET_ADDRESS = _table(
    _scalar("protocol", _enum(SocketProtocol, "SocketAddress.Protocol")),
    _scalar("address"),
    _scalar("port_value", parse_uint32, attr="port"),
    _scalar("named_port"),
    _scalar("resolver_name"),
    _scalar("ipv4_compat", parse_bool),
    _scalar("network_namespace_filepath"),
)


_PORT_SPECIFIER = _oneof("port_specifier", "port_value", "named_port")


def _socket_address(raw: object, context: _Context, path: str) -> SocketAddress:
    raw = _first_member_only(raw, _PORT_SPECIFIER, context, path)
    return SocketAddress(**_read(raw, _SOCKET_ADDRESS, context, path))


# Addresses repeat (local listeners, upstream hosts) and are immutable, so the common shape
# {"address": "10.0.0.1", "portValue": 80} is built once; the cache is cleared when full.
_SOCKET_ADDRESS_CACHE: dict[tuple[str, int], SocketAddress] = {}
_SOCKET_ADDRESS_CACHE_SIZE = 4096


def _cached_socket_address(raw: dict[str, object]) -> SocketAddress | None:
    if len(raw) != 2:
        return None
    address = raw.get("address")
    port = raw.get("portValue")
    if type(address) is not str or type(port) is not int or not address.isascii():
        return None
    if not 0 <= port <= UINT32[2]:
        return None
    key = (address, port)
    found = _SOCKET_ADDRESS_CACHE.get(key)
    if found is None:
        if len(_SOCKET_ADDRESS_CACHE) >= _SOCKET_ADDRESS_CACHE_SIZE:
            _SOCKET_ADDRESS_CACHE.clear()
        found = _SOCKET_ADDRESS_CACHE[key] = SocketAddress(address=address, port=port)
    return found


_ADDRESS_ONEOF = _oneof("address", "socket_address", "pipe", "envoy_internal_address")
_ADDRESS = _table(
    _nested("socket_address", _socket_address),
    _nested("pipe", _message(PipeAddress, _table(_scalar("path"), _scalar("mode", parse_uint32)))),
    _nested(
        "envoy_internal_address",
        _message(
            EnvoyInternalAddress,
            _table(_scalar("server_listener_name"), _scalar("endpoint_id")),
        ),
    ),
)


def _address(raw: object, context: _Context, path: str) -> Address | None:
    """An ``Address``: the member of its oneof that is set, or None for an empty one."""
    if type(raw) is dict and len(raw) == 1:
        inner = raw.get("socketAddress")
        if type(inner) is dict:
            cached = _cached_socket_address(inner)
            if cached is not None:
                return cached
    raw = _first_member_only(raw, _ADDRESS_ONEOF, context, path)
    return next(iter(_read(raw, _ADDRESS, context, path).values()), None)


# --- identifier and node ------------------------------------------------------------------------

_BUILD_VERSION = _table(
    _nested(
        "version",
        _message(
            SemanticVersion,
            _table(
                _scalar("major_number", parse_uint32),
                _scalar("minor_number", parse_uint32),
                _scalar("patch", parse_uint32),
            ),
        ),
    ),
    _nested("metadata", _struct),
)
_build_version = _message(BuildVersion, _BUILD_VERSION)

_EXTENSION = _table(
    _scalar("name"),
    _scalar("category"),
    _scalar("type_descriptor"),
    _nested("version", _build_version),
    _scalar("disabled", parse_bool),
    _nested("type_urls", _repeated(parse_string)),
)
_CONTEXT_PARAMS = _table(_nested("params", _string_map))


def _context_params(raw: object, context: _Context, path: str) -> FrozenMap[str, str]:
    """An ``xds.core.v3.ContextParams``, as its only field: the params map."""
    params: FrozenMap[str, str] = _read(raw, _CONTEXT_PARAMS, context, path).get(
        "params", FrozenMap()
    )
    return params


_NODE = _table(
    _scalar("id"),
    _scalar("cluster"),
    _nested("metadata", _struct),
    _nested("dynamic_parameters", _map_of(_context_params, nested=True)),
    _nested(
        "locality",
        _message(Locality, _table(_scalar("region"), _scalar("zone"), _scalar("sub_zone"))),
    ),
    _scalar("build_version"),  # v2's string field 5, reserved in v3: kept for v2 producers
    _scalar("user_agent_name"),
    _scalar("user_agent_version"),
    _nested("user_agent_build_version", _build_version),
    _nested("extensions", _repeated(_message(Extension, _EXTENSION), nested=True)),
    _nested("client_features", _repeated(parse_string)),
    _nested("listening_addresses", _repeated(_address, nested=True)),
)


_USER_AGENT_VERSION_TYPE = _oneof(
    "user_agent_version_type", "user_agent_version", "user_agent_build_version"
)


def _node(raw: object, context: _Context, path: str) -> Node:
    raw = _first_member_only(raw, _USER_AGENT_VERSION_TYPE, context, path)
    return Node(**_read(raw, _NODE, context, path))


_IDENTIFIER = _table(_nested("node", _node), _scalar("log_name"))


# --- entry parts --------------------------------------------------------------------------------

_SUBJECT_ALT_NAME = _table(_scalar("uri"), _scalar("dns"))


_SAN = _oneof("san", "uri", "dns")


def _subject_alt_name(raw: object, context: _Context, path: str) -> SubjectAltName:
    raw = _first_member_only(raw, _SAN, context, path)
    return SubjectAltName(**_read(raw, _SUBJECT_ALT_NAME, context, path))


_certificate_properties = _message(
    CertificateProperties,
    _table(
        _nested("subject_alt_name", _repeated(_subject_alt_name, nested=True)),
        _scalar("subject"),
        _scalar("issuer"),
    ),
)
_TLS_PROPERTIES = _table(
    _scalar("tls_version", _enum(TlsVersion, "TLSProperties.TLSVersion")),
    _scalar("tls_cipher_suite", parse_uint32),  # a UInt32Value: the bare number in JSON
    _scalar("tls_sni_hostname"),
    _nested("local_certificate_properties", _certificate_properties),
    _nested("peer_certificate_properties", _certificate_properties),
    _scalar("tls_session_id"),
    _scalar("ja3_fingerprint"),
)

_UNAUTHORIZED = _table(
    _scalar("reason", _enum(UnauthorizedReason, "ResponseFlags.Unauthorized.Reason"))
)


def _unauthorized(raw: object, context: _Context, path: str) -> UnauthorizedReason | int:
    reason: UnauthorizedReason | int = _read(raw, _UNAUTHORIZED, context, path).get(
        "reason", UnauthorizedReason.REASON_UNSPECIFIED
    )
    return reason


_RESPONSE_FLAGS = _table(
    *(
        _scalar(flag.field_name, parse_bool)
        for flag in ResponseFlag
        if flag is not ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE
    ),
    _nested("unauthorized_details", _unauthorized),
)


def _response_flags(
    raw: object, context: _Context, path: str
) -> tuple[frozenset[ResponseFlag], UnauthorizedReason | int | None]:
    """The set flags, and the ``unauthorized_details`` reason (None if that is not set)."""
    values = _read(raw, _RESPONSE_FLAGS, context, path)
    reason = values.pop("unauthorized_details", None)
    flags = {ResponseFlag.from_field_name(name) for name, is_set in values.items() if is_set}
    if reason is not None:
        flags.add(ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE)
    return frozenset(flags), reason


_METADATA = _table(
    _nested("filter_metadata", _map_of(_struct, nested=True)),
    _nested("typed_filter_metadata", _map_of(_any, nested=True)),
)

_COMMON = _table(
    _scalar("sample_rate", parse_double),
    _nested("downstream_remote_address", _address),
    _nested("downstream_local_address", _address),
    _nested("tls_properties", _message(TlsProperties, _TLS_PROPERTIES)),
    _scalar("start_time", parse_timestamp, attr="start_time_ns"),
    _scalar("time_to_last_rx_byte", parse_duration, attr="time_to_last_rx_byte_ns"),
    _scalar(
        "time_to_first_upstream_tx_byte",
        parse_duration,
        attr="time_to_first_upstream_tx_byte_ns",
    ),
    _scalar(
        "time_to_last_upstream_tx_byte", parse_duration, attr="time_to_last_upstream_tx_byte_ns"
    ),
    _scalar(
        "time_to_first_upstream_rx_byte",
        parse_duration,
        attr="time_to_first_upstream_rx_byte_ns",
    ),
    _scalar(
        "time_to_last_upstream_rx_byte", parse_duration, attr="time_to_last_upstream_rx_byte_ns"
    ),
    _scalar(
        "time_to_first_downstream_tx_byte",
        parse_duration,
        attr="time_to_first_downstream_tx_byte_ns",
    ),
    _scalar(
        "time_to_last_downstream_tx_byte",
        parse_duration,
        attr="time_to_last_downstream_tx_byte_ns",
    ),
    _nested("upstream_remote_address", _address),
    _nested("upstream_local_address", _address),
    _scalar("upstream_cluster"),
    _nested("response_flags", _response_flags),
    _nested("metadata", _message(Metadata, _METADATA)),
    _scalar("upstream_transport_failure_reason"),
    _scalar("route_name"),
    _nested("downstream_direct_remote_address", _address),
    _nested("filter_state_objects", _map_of(_any, nested=True)),
    _nested("custom_tags", _string_map),
    _scalar("duration", parse_duration, attr="duration_ns"),
    _scalar("upstream_request_attempt_count", parse_uint32),
    _scalar("connection_termination_details"),
    _scalar("stream_id"),
    _scalar("intermediate_log_entry", parse_bool),
    _scalar("downstream_transport_failure_reason"),
    _scalar("downstream_wire_bytes_sent", parse_uint64),
    _scalar("downstream_wire_bytes_received", parse_uint64),
    _scalar("upstream_wire_bytes_sent", parse_uint64),
    _scalar("upstream_wire_bytes_received", parse_uint64),
    _scalar("access_log_type", _enum(AccessLogType, "AccessLogType")),
)


def _common(raw: object, context: _Context, path: str) -> AccessLogCommon:
    values = _read(raw, _COMMON, context, path)
    flags = values.pop("response_flags", None)
    if flags is not None:
        values["response_flags"], values["unauthorized_reason"] = flags
    return AccessLogCommon(**values)


_HTTP_REQUEST = _table(
    _scalar("request_method", _enum(RequestMethod, "RequestMethod")),
    _scalar("scheme"),
    _scalar("authority"),
    _scalar("port", parse_uint32),  # a UInt32Value: the bare number in JSON
    _scalar("path"),
    _scalar("user_agent"),
    _scalar("referer"),
    _scalar("forwarded_for"),
    _scalar("request_id"),
    _scalar("original_path"),
    _scalar("request_headers_bytes", parse_uint64),
    _scalar("request_body_bytes", parse_uint64),
    _nested("request_headers", _string_map),
    _scalar("upstream_header_bytes_sent", parse_uint64),
    _scalar("downstream_header_bytes_received", parse_uint64),
)
_HTTP_RESPONSE = _table(
    _scalar("response_code", parse_uint32),  # a UInt32Value: the bare number in JSON
    _scalar("response_headers_bytes", parse_uint64),
    _scalar("response_body_bytes", parse_uint64),
    _nested("response_headers", _string_map),
    _nested("response_trailers", _string_map),
    _scalar("response_code_details"),
    _scalar("upstream_header_bytes_received", parse_uint64),
    _scalar("downstream_header_bytes_sent", parse_uint64),
)
_HTTP_ENTRY = _table(
    _nested("common_properties", _common),
    _scalar("protocol_version", _enum(HttpVersion, "HTTPAccessLogEntry.HTTPVersion")),
    _nested("request", _message(HttpRequest, _HTTP_REQUEST)),
    _nested("response", _message(HttpResponse, _HTTP_RESPONSE)),
)
_TCP_ENTRY = _table(
    _nested("common_properties", _common),
    _nested(
        "connection_properties",
        _message(
            ConnectionProperties,
            _table(_scalar("received_bytes", parse_uint64), _scalar("sent_bytes", parse_uint64)),
        ),
    ),
)


# --- the message --------------------------------------------------------------------------------


def _log_entries(convert_entry: _Convert) -> _Convert:
    """The converter for ``HTTPAccessLogEntries``/``TCPAccessLogEntries``: a tuple of entries.

    Problems inside ``log_entry[i]`` carry ``entry_index=i``; a bad entry is skipped, and so
    is one that breaks a per-value limit (nesting depth, string length).
    """

    def convert_entries(raw: object, context: _Context, path: str) -> tuple[object, ...]:
        if type(raw) is not list:
            raise InvalidValueError(f"expected a JSON array, got {describe(raw)}")
        limits = context.limits
        if len(raw) > limits.max_entries:
            raise LimitExceeded(
                f"{len(raw)} log entries, more than the maximum of {limits.max_entries}"
            )
        entries = []
        try:
            for position, item in enumerate(raw):
                context.entry_index = position
                where = f"{path}[{position}]"
                try:
                    if item is None:
                        raise InvalidValueError("null log entry")
                    entry = convert_entry(item, context, where)
                    if context.check_strings:
                        _check_strings(entry, where, limits.max_string_length)
                    entries.append(entry)
                except InvalidValueError as invalid:
                    context.problem(invalid.reason, where, kind=DiagnosticKind.ENTRY_SKIPPED)
                except LimitExceeded as exceeded:
                    context.problem(
                        exceeded.reason,
                        exceeded.field,
                        "entry skipped",
                        DiagnosticKind.ENTRY_SKIPPED,
                    )
        finally:
            context.entry_index = None
        return tuple(entries)

    table = _table(_nested("log_entry", convert_entries))

    def convert(raw: object, context: _Context, path: str) -> tuple[object, ...]:
        entries: tuple[object, ...] = _read(raw, table, context, path).get("log_entry", ())
        return entries

    return convert


def _check_strings(value: object, path: str, limit: int) -> None:
    """Raise LimitExceeded if a string in *value* (found at *path*) is longer than *limit*."""
    too_long = find_too_long(value, limit)
    if too_long is not None:
        raise LimitExceeded(too_long.reason(limit), _join(path, too_long.field))


_STREAM_MESSAGE = _table(
    _nested("identifier", _message(Identifier, _IDENTIFIER)),
    _nested("http_logs", _log_entries(_message(HttpEntry, _HTTP_ENTRY))),
    _nested("tcp_logs", _log_entries(_message(TcpEntry, _TCP_ENTRY))),
)


_LOG_ENTRIES = _oneof("log_entries", "http_logs", "tcp_logs")


def _als_message(document: dict[str, object], context: _Context) -> AlsMessage:
    values = _read(
        _first_member_only(document, _LOG_ENTRIES, context, ""), _STREAM_MESSAGE, context, ""
    )
    identifier = values.get("identifier")
    if identifier is not None and context.check_strings:
        _check_strings(identifier, "identifier", context.limits.max_string_length)
    kind: str | None = None
    entries: tuple[HttpEntry, ...] | tuple[TcpEntry, ...] = ()
    if "http_logs" in values:
        kind, entries = "http", values["http_logs"]
    elif "tcp_logs" in values:
        kind, entries = "tcp", values["tcp_logs"]
    return AlsMessage(
        identifier=identifier,
        kind=kind,
        entries=entries,
        source=context.source,
        index=context.message_index,
        diagnostics=context.message_diagnostics(),
    )


# --- text to JSON -------------------------------------------------------------------------------

_JSON_WHITESPACE = " \t\n\r"
_COMMENT_PREFIXES = ("#", "//")
_DECODER = json.JSONDecoder()


class _Loaded(NamedTuple):
    document: object
    trailing: str | None  # where text after the JSON value starts ("line 3 column 1"), if any


class _NotTextError(DecodeError, TypeError):
    """decode_json() was given neither str nor bytes: a DecodeError, and a TypeError."""


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object_pairs_hook for strict mode: the object, unless a key repeats."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch -- a repeated key is there to be found
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _load(text: str | bytes | bytearray, context: _Context) -> _Loaded:
    """The first JSON value in *text*, tolerating SkyWalking's recorded ``.msg`` files."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise _NotTextError(
            f"decode_json() needs str or bytes, not {type(text).__name__}",
            source=context.source,
            message_index=context.message_index,
        )
    limits = context.limits
    if len(text) > limits.max_message_size:
        unit = "characters" if isinstance(text, str) else "bytes"
        raise context.error(
            f"the message is {len(text)} {unit} long, more than the maximum of"
            f" {limits.max_message_size}"
        )
    context.check_strings = len(text) > limits.max_string_length
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as invalid:
            raise context.error(f"not UTF-8: invalid byte at offset {invalid.start}") from None
    text = text.removeprefix("\ufeff")
    try:
        try:
            document = _STRICT_DECODER.decode(text) if context.strict else json.loads(text)
            return _Loaded(document, None)
        except RecursionError:
            raise context.error("invalid JSON: nested too deeply") from None
        except ValueError:
            pass  # comments, trailing text, or not JSON at all: look closer
        return _load_recorded(text, context)
    except _DuplicateKeyError as duplicate:
        key = _printable(duplicate.key)
        raise context.error(f"invalid JSON: key {key!r} appears twice in one object") from None


def _load_recorded(text: str, context: _Context) -> _Loaded:
    # Comment lines are blanked, not removed, so that positions in errors stay true. JSON
    # strings cannot span lines, so a line that starts with # or // is never inside one.
    cleaned = "\n".join(
        "" if line.lstrip().startswith(_COMMENT_PREFIXES) else line for line in text.split("\n")
    )
    start = len(cleaned) - len(cleaned.lstrip(_JSON_WHITESPACE))
    try:
        decoder = _STRICT_DECODER if context.strict else _DECODER
        document, end = decoder.raw_decode(cleaned, start)
    except json.JSONDecodeError as invalid:
        raise context.error(
            f"invalid JSON: {invalid.msg} at line {invalid.lineno} column {invalid.colno}"
        ) from None
    except RecursionError:
        raise context.error("invalid JSON: nested too deeply") from None
    except ValueError:  # the only other ValueError: a number longer than int() converts
        raise context.error("invalid JSON: a number with too many digits") from None
    rest = cleaned[end:]
    if not rest.strip(_JSON_WHITESPACE):
        return _Loaded(document, None)
    trailing = end + len(rest) - len(rest.lstrip(_JSON_WHITESPACE))
    line = cleaned.count("\n", 0, trailing) + 1
    column = trailing - cleaned.rfind("\n", 0, trailing)
    return _Loaded(document, f"line {line} column {column}")


def decode_json(
    text: str | bytes | bytearray,
    *,
    source: str = "<json>",
    index: int | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> AlsMessage:
    """Decode one ``StreamAccessLogsMessage`` in proto3 JSON form.

    Both field spellings (``startTime``, ``start_time``) and every form the proto3 JSON
    mapping allows are accepted, as is the v2 ``node.buildVersion``. Recorded ``.msg`` files
    as Apache SkyWalking keeps them also decode: whole-line ``#`` and ``//`` comments are
    skipped, and text after the first JSON value is ignored with a diagnostic.

    Args:
        text: The JSON, as str or UTF-8 bytes (a leading byte-order mark is allowed).
        source: Where the text came from, for error locations (a file name).
        index: The message's position in its file or stream, if it has one.
        strict: Raise on anything off-spec (unknown fields, bad values, trailing text,
            duplicate keys) instead of skipping it and recording a :class:`Diagnostic`.
        limits: The resource limits (:class:`~meshals.codec.Limits`); an entry that breaks a
            per-value limit (nesting, string length) is skipped in lenient mode.

    Returns:
        The message, with its ``diagnostics`` listing what lenient decoding skipped. A key
        given twice in one object keeps its last value (as :func:`json.loads` does; checking
        would slow every message by about 15%), unless *strict*.

    Raises:
        DecodeError: The text is not JSON, its top-level value is not an object, it breaks
            a message-wide limit (size, entries) or a limit outside the entries (in the
            identifier), or (in strict mode) any value breaks the mapping. ``field`` names
            the protobuf field path (``http_logs.log_entry[0].common_properties.start_time``)
            and ``entry_index`` the entry. A *text* that is neither str nor bytes raises a
            DecodeError that is also a :class:`TypeError`. No other exception is raised
            for bad input.

    >>> message = decode_json('{"httpLogs": {"logEntry": [{"response": {"responseCode": 200}}]}}')
    >>> message.kind, message.entries[0].response.response_code
    ('http', 200)
    >>> decode_json('{"httpLogs": {}, "bogus": 1}').diagnostics[0].reason
    "unknown field 'bogus'; ignored"
    """
    context = _Context(source, index, strict, limits)
    document, trailing = _load(text, context)
    if type(document) is not dict:
        raise context.error(
            f"expected a JSON object (StreamAccessLogsMessage), got {describe(document)}"
        )
    if trailing is not None:  # SkyWalking's recordings: the first value is the message
        context.problem(f"trailing text after the JSON value at {trailing}", None)
    try:
        return _als_message(document, context)
    except LimitExceeded as exceeded:  # outside any entry: the message as a whole
        raise context.error(exceeded.reason, exceeded.field) from None
