"""Envoy's messages in proto3 JSON: one field table per message type, up to the whole message.

Addresses, the identifier and its node, the parts of an entry, the entries and the
StreamAccessLogsMessage, each a table of :mod:`meshals.codec._json_walk` plus the converters
that need more than a table: oneofs, the address cache, the entry lists with their limits.
"""

from __future__ import annotations

from meshals._errors import DiagnosticKind
from meshals._values import FrozenMap
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

from ._compiled import slot_constructor
from ._json_compiled import (
    AddressKind,
    Attempt,
    FlagsKind,
    Kind,
    MessagesKind,
    any_map_kind,
    attempt,
    compiled_converter,
    compiled_or,
    string_map_kind,
    struct_map_kind,
)
from ._json_fast import clean_message, fast_converter, fast_or_walk_message
from ._json_scalars import (
    UINT32,
    InvalidValueError,
    describe,
    parse_bool,
    parse_double,
    parse_duration,
    parse_string,
    parse_timestamp,
    parse_uint32,
    parse_uint64,
)
from ._json_walk import (
    _LOG_ENTRIES,
    _any,
    _Context,
    _Convert,
    _enum,
    _first_member_only,
    _join,
    _json_name,
    _map_of,
    _message,
    _nested,
    _oneof,
    _read,
    _repeated,
    _scalar,
    _string_map,
    _struct,
    _Table,
    _table,
)
from ._limits import LimitExceeded, find_too_long

__all__: list[str] = []


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
                context.pairs += 3  # the address's one member and its socket address's two
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


_subject_alt_names = _repeated(_subject_alt_name, nested=True)
_certificate_properties = _message(
    CertificateProperties,
    _table(
        _nested("subject_alt_name", _subject_alt_names),
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


# The flags of _RESPONSE_FLAGS by lowerCamelCase JSON key (unauthorized_details is no bool).
_FLAGS_BY_KEY = {
    _json_name(flag.field_name): flag
    for flag in ResponseFlag
    if flag is not ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE
}


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


_filter_state_objects = _map_of(_any, nested=True)

_filter_metadata = _map_of(_struct, nested=True)
_typed_filter_metadata = _map_of(_any, nested=True)
_METADATA = _table(
    _nested("filter_metadata", _filter_metadata),
    _nested("typed_filter_metadata", _typed_filter_metadata),
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
    _nested("filter_state_objects", _filter_state_objects),
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


# Clean entries, as Envoy writes them, take converters generated from these tables.
fast_converter(
    AccessLogCommon,
    _COMMON,
    spread={"response_flags": ("response_flags", "unauthorized_reason")},
    replaces=_common,
)


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


# The converters with a compiled kind of their own, and AccessLogCommon's (no plain _message).
_COMPILED_KINDS: dict[_Convert, Kind] = {
    _address: AddressKind(
        _SOCKET_ADDRESS_CACHE, (SocketAddress, _SOCKET_ADDRESS), _SOCKET_ADDRESS_CACHE_SIZE
    ),
    _filter_state_objects: any_map_kind(),
    _typed_filter_metadata: any_map_kind(),
    _filter_metadata: struct_map_kind(),
    _subject_alt_names: MessagesKind(SubjectAltName, _SUBJECT_ALT_NAME, 1),
    _string_map: string_map_kind(),
    _response_flags: FlagsKind(_FLAGS_BY_KEY, "unauthorized_reason"),
}
_COMPILED_MESSAGES = {_common: (AccessLogCommon, _COMMON)}


def _entry_list(model: type, table: _Table, compiled: Attempt) -> _Convert:
    """The converter for a ``log_entry`` array of *model*: a tuple of entries.

    The *compiled* converter takes the whole array if it can, else each entry it can; the
    generated one, then the walk, the others. Problems inside ``log_entry[i]`` carry
    ``entry_index=i``; a bad entry is skipped, and so is one that breaks a per-value limit
    (nesting depth, string length).
    """
    convert_entry = compiled_or(compiled, fast_or_walk_message(model, table))

    def convert_entries(raw: object, context: _Context, path: str) -> tuple[object, ...]:
        if type(raw) is not list:
            raise InvalidValueError(f"expected a JSON array, got {describe(raw)}")
        limits = context.limits
        if len(raw) > limits.max_entries:
            raise LimitExceeded(
                f"{len(raw)} log entries, more than the maximum of {limits.max_entries}"
            )
        every: tuple[object, ...] | None = compiled(raw, context)
        if every is not None:
            return every
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

    return convert_entries


def _log_entries(convert_entries: _Convert) -> _Convert:
    """The converter for ``HTTPAccessLogEntries``/``TCPAccessLogEntries``: a tuple of entries."""
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


_identifier = _message(Identifier, _IDENTIFIER)
# The compiled converters of the entries (None without the extension), and where they may run.
COMPILED_ENTRIES = {
    model: compiled_converter(model, table, kinds=_COMPILED_KINDS, messages=_COMPILED_MESSAGES)
    for model, table in ((HttpEntry, _HTTP_ENTRY), (TcpEntry, _TCP_ENTRY))
}
_COMPILED_HTTP = attempt(COMPILED_ENTRIES[HttpEntry])
_COMPILED_TCP = attempt(COMPILED_ENTRIES[TcpEntry])
_ENTRY_LISTS = {
    "httpLogs": ("http_logs", _entry_list(HttpEntry, _HTTP_ENTRY, _COMPILED_HTTP)),
    "tcpLogs": ("tcp_logs", _entry_list(TcpEntry, _TCP_ENTRY, _COMPILED_TCP)),
}
_new_message = slot_constructor(AlsMessage)
# The usual message, {"httpLogs": {"logEntry": [...]}}: its kind and compiled converter by key.
_COMPILED_LISTS = {"httpLogs": ("http", _COMPILED_HTTP), "tcpLogs": ("tcp", _COMPILED_TCP)}
_STREAM_MESSAGE = _table(
    _nested("identifier", _identifier),
    _nested("http_logs", _log_entries(_ENTRY_LISTS["httpLogs"][1])),
    _nested("tcp_logs", _log_entries(_ENTRY_LISTS["tcpLogs"][1])),
)


def _als_message(document: dict[str, object], context: _Context) -> AlsMessage:
    compiled = _compiled_message(document, context)
    if compiled is not None:
        return _new_message(
            None,
            *compiled,
            context.source,
            context.message_index,
            context.message_diagnostics(),
        )
    values = clean_message(document, context, _identifier, _ENTRY_LISTS)
    if values is None:  # anything unusual: the walk, and its oneof check first
        one_list = _first_member_only(document, _LOG_ENTRIES, context, "")
        values = _read(one_list, _STREAM_MESSAGE, context, "")
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


def _compiled_message(
    document: dict[str, object], context: _Context
) -> tuple[str, tuple[HttpEntry, ...] | tuple[TcpEntry, ...]] | None:
    """The kind and entries of a message of one entry list and nothing else, all compiled.

    None for any other message, or where the compiled converter leaves an entry to Python.
    """
    if len(document) != 1:
        return None
    ((key, logs),) = document.items()
    found = _COMPILED_LISTS.get(key)
    if found is None or type(logs) is not dict or len(logs) != 1:
        return None
    raw = logs.get("logEntry")
    if type(raw) is not list or len(raw) > context.limits.max_entries:
        return None
    kind, compiled = found
    entries = compiled(raw, context)
    if entries is None:
        return None
    context.pairs += 2  # the message's member and its entry list's
    return kind, entries
