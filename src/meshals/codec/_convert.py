"""Conversion of a parsed ``StreamAccessLogsMessage`` (protobuf objects) into meshals' model.

One private ``_<thing>_from_pb`` function per message type, the OTel encoders in reverse, each
reading meshals' generated classes (``meshals._pb``, whose field names are Envoy's). This is
the hot path of binary decoding, hence:
message-typed fields are converted only after a ``HasField`` check, empty maps and flag sets
are shared constants, enums go through dicts, and identical addresses within one message
share one model object.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import google.protobuf.message
from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

from meshals._errors import DecodeError, DiagnosticKind, map_entry_path
from meshals._values import AnyValue, FrozenMap, JsonValue
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

from ._limits import (
    DEFAULT_LIMITS,
    DiagnosticRecorder,
    LimitExceeded,
    Limits,
    find_too_long,
    too_deep,
)

if TYPE_CHECKING:
    from meshals._pb.accesslog_pb2 import AccessLogCommon as PB2AccessLogCommon
    from meshals._pb.accesslog_pb2 import ConnectionProperties as PB2ConnectionProperties
    from meshals._pb.accesslog_pb2 import HTTPAccessLogEntry as PB2HTTPAccessLogEntry
    from meshals._pb.accesslog_pb2 import HTTPRequestProperties as PB2HTTPRequestProperties
    from meshals._pb.accesslog_pb2 import HTTPResponseProperties as PB2HTTPResponseProperties
    from meshals._pb.accesslog_pb2 import ResponseFlags as PB2ResponseFlags
    from meshals._pb.accesslog_pb2 import TCPAccessLogEntry as PB2TCPAccessLogEntry
    from meshals._pb.accesslog_pb2 import TLSProperties as PB2TLSProperties
    from meshals._pb.address_pb2 import Address as PB2Address
    from meshals._pb.address_pb2 import SocketAddress as PB2SocketAddress
    from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
    from meshals._pb.base_pb2 import BuildVersion as PB2BuildVersion
    from meshals._pb.base_pb2 import Extension as PB2Extension
    from meshals._pb.base_pb2 import Metadata as PB2Metadata
    from meshals._pb.base_pb2 import Node as PB2Node

    PB2CertificateProperties = PB2TLSProperties.CertificateProperties
    PB2SubjectAltName = PB2CertificateProperties.SubjectAltName
    PB2Identifier = PB2StreamAccessLogsMessage.Identifier

__all__: list[str] = []

_E = TypeVar("_E", bound=enum.IntEnum)
_Entry = TypeVar("_Entry", HttpEntry, TcpEntry)

_NS_PER_S = 1_000_000_000
# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_MIN_TIMESTAMP_S = -62_135_596_800
_MAX_TIMESTAMP_S = 253_402_300_799
# google.protobuf.Duration: +-10,000 years, nanos with the sign of seconds.
_MAX_DURATION_S = 315_576_000_000

_EMPTY_STR_MAP: FrozenMap[str, str] = FrozenMap()
_EMPTY_STRUCT: FrozenMap[str, JsonValue] = FrozenMap()
_EMPTY_ANY_MAP: FrozenMap[str, AnyValue] = FrozenMap()
_EMPTY_STRUCT_MAP: FrozenMap[str, FrozenMap[str, JsonValue]] = FrozenMap()
_EMPTY_PARAMS_MAP: FrozenMap[str, FrozenMap[str, str]] = FrozenMap()
_NO_FLAGS: frozenset[ResponseFlag] = frozenset()


def _by_number(enum_type: type[_E]) -> dict[int, _E]:
    return {member.value: member for member in enum_type}


# Numbers missing from these dicts are kept as plain ints: proto3 enums are open.
_HTTP_VERSIONS = _by_number(HttpVersion)
_ACCESS_LOG_TYPES = _by_number(AccessLogType)
_TLS_VERSIONS = _by_number(TlsVersion)
_REQUEST_METHODS = _by_number(RequestMethod)
_SOCKET_PROTOCOLS = _by_number(SocketProtocol)
_UNAUTHORIZED_REASONS = _by_number(UnauthorizedReason)
_FLAGS_BY_FIELD = {flag.field_name: flag for flag in ResponseFlag}

_ENTRIES_KINDS = {"http_logs": "http", "tcp_logs": "tcp"}


class Context(DiagnosticRecorder):
    """The state of one message's conversion: where it came from and what went wrong.

    ``report`` raises in strict mode and collects a :class:`Diagnostic` otherwise. Field paths
    given to it are relative to the current entry while ``entry_index`` is set; ``record``
    takes absolute ones.

    ``entry_numbers``, when given, are the entries' indexes in the original message, for a
    message rebuilt without its broken entries (see ``_binary``); ``check_strings`` says that
    the input is long enough to hold a string longer than ``limits.max_string_length``.
    """

    __slots__ = ("check_strings", "entries_field", "entry_index", "entry_numbers")

    def __init__(
        self,
        *,
        source: str,
        message_index: int | None,
        strict: bool,
        limits: Limits = DEFAULT_LIMITS,
        entry_numbers: list[int] | None = None,
        check_strings: bool = False,
    ) -> None:
        super().__init__(source=source, message_index=message_index, strict=strict, limits=limits)
        self.entry_numbers = entry_numbers
        self.check_strings = check_strings
        self.entries_field = ""
        self.entry_index: int | None = None

    def report(self, field: str, reason: str, *, kind: DiagnosticKind) -> None:
        """Record (or, when strict, raise) a problem at *field*, relative to the entry."""
        if self.entry_index is not None:
            entry = f"{self.entries_field}.log_entry[{self.entry_index}]"
            field = f"{entry}.{field}" if field else entry
        self.record(field, self.entry_index, reason, kind=kind)


def message_from_pb(pb: PB2StreamAccessLogsMessage, context: Context) -> AlsMessage:
    """Convert one parsed message; problems go to *context* (which raises when strict).

    Raises:
        DecodeError: strict, at the first problem; or, in both modes, the identifier breaks a
            limit (an entry that does is skipped in lenient mode instead).
    """
    identifier = None
    if pb.HasField("identifier"):
        try:
            identifier = _identifier_from_pb(pb.identifier, context)
            if context.check_strings:
                _check_strings(identifier, context.limits.max_string_length)
        except LimitExceeded as exceeded:
            field = "identifier" if exceeded.field is None else f"identifier.{exceeded.field}"
            raise DecodeError(
                exceeded.reason,
                source=context.source,
                message_index=context.message_index,
                field=field,
            ) from None
    which = pb.WhichOneof("log_entries")
    entries: tuple[HttpEntry, ...] | tuple[TcpEntry, ...] = ()
    if which == "http_logs":
        entries = _entries_from_pb(pb.http_logs.log_entry, context, which, _http_entry_from_pb)
    elif which == "tcp_logs":
        entries = _entries_from_pb(pb.tcp_logs.log_entry, context, which, _tcp_entry_from_pb)
    return AlsMessage(
        identifier=identifier,
        kind=_ENTRIES_KINDS.get(which) if which else None,
        entries=entries,
        source=context.source,
        index=context.message_index,
        diagnostics=context.message_diagnostics(),
    )


# --- entries ----------------------------------------------------------------------------------


def _entries_from_pb(
    log_entries: Iterable[Any],
    context: Context,
    entries_field: str,
    entry_from_pb: Callable[[Any, Context], _Entry],
) -> tuple[_Entry, ...]:
    context.entries_field = entries_field
    numbers = context.entry_numbers
    # Only an entry serialized in more bytes than the limit can hold a longer string.
    string_limit = context.limits.max_string_length if context.check_strings else None
    try:
        result = []
        for index, pb in enumerate(log_entries):
            context.entry_index = index if numbers is None else numbers[index]
            try:
                entry = entry_from_pb(pb, context)
                if string_limit is not None and pb.ByteSize() > string_limit:
                    _check_strings(entry, string_limit)
            except LimitExceeded as exceeded:
                reason = exceeded.reason if context.strict else f"{exceeded.reason}; entry skipped"
                context.report(exceeded.field or "", reason, kind=DiagnosticKind.ENTRY_SKIPPED)
                continue
            result.append(entry)
        return tuple(result)
    finally:
        context.entry_index = None


def _check_strings(value: object, limit: int) -> None:
    """Raise LimitExceeded if *value* holds a string (or bytes) longer than *limit*."""
    too_long = find_too_long(value, limit)
    if too_long is not None:
        raise LimitExceeded(too_long.reason(limit), too_long.field)


def _http_entry_from_pb(pb: PB2HTTPAccessLogEntry, context: Context) -> HttpEntry:
    has = pb.HasField
    version = pb.protocol_version
    return HttpEntry(
        common_properties=(
            _common_from_pb(pb.common_properties, context) if has("common_properties") else None
        ),
        protocol_version=_HTTP_VERSIONS.get(version, version),
        request=_request_from_pb(pb.request) if has("request") else None,
        response=_response_from_pb(pb.response) if has("response") else None,
    )


def _tcp_entry_from_pb(pb: PB2TCPAccessLogEntry, context: Context) -> TcpEntry:
    has = pb.HasField
    return TcpEntry(
        common_properties=(
            _common_from_pb(pb.common_properties, context) if has("common_properties") else None
        ),
        connection_properties=(
            _connection_from_pb(pb.connection_properties) if has("connection_properties") else None
        ),
    )


def _connection_from_pb(pb: PB2ConnectionProperties) -> ConnectionProperties:
    return ConnectionProperties(received_bytes=pb.received_bytes, sent_bytes=pb.sent_bytes)


def _common_from_pb(pb: PB2AccessLogCommon, context: Context) -> AccessLogCommon:
    has = pb.HasField
    flags: frozenset[ResponseFlag] = _NO_FLAGS
    reason: UnauthorizedReason | int | None = None
    if has("response_flags"):
        flags, reason = _response_flags_from_pb(pb.response_flags)
    access_log_type = pb.access_log_type
    return AccessLogCommon(
        sample_rate=pb.sample_rate,
        downstream_remote_address=(
            _cached_address(pb.downstream_remote_address)
            if has("downstream_remote_address")
            else None
        ),
        downstream_local_address=(
            _cached_address(pb.downstream_local_address)
            if has("downstream_local_address")
            else None
        ),
        tls_properties=_tls_from_pb(pb.tls_properties) if has("tls_properties") else None,
        start_time_ns=(
            _timestamp_ns(pb.start_time, context, "common_properties.start_time")
            if has("start_time")
            else None
        ),
        time_to_last_rx_byte_ns=(
            _duration_ns(pb.time_to_last_rx_byte, context, "common_properties.time_to_last_rx_byte")
            if has("time_to_last_rx_byte")
            else None
        ),
        time_to_first_upstream_tx_byte_ns=(
            _duration_ns(
                pb.time_to_first_upstream_tx_byte,
                context,
                "common_properties.time_to_first_upstream_tx_byte",
            )
            if has("time_to_first_upstream_tx_byte")
            else None
        ),
        time_to_last_upstream_tx_byte_ns=(
            _duration_ns(
                pb.time_to_last_upstream_tx_byte,
                context,
                "common_properties.time_to_last_upstream_tx_byte",
            )
            if has("time_to_last_upstream_tx_byte")
            else None
        ),
        time_to_first_upstream_rx_byte_ns=(
            _duration_ns(
                pb.time_to_first_upstream_rx_byte,
                context,
                "common_properties.time_to_first_upstream_rx_byte",
            )
            if has("time_to_first_upstream_rx_byte")
            else None
        ),
        time_to_last_upstream_rx_byte_ns=(
            _duration_ns(
                pb.time_to_last_upstream_rx_byte,
                context,
                "common_properties.time_to_last_upstream_rx_byte",
            )
            if has("time_to_last_upstream_rx_byte")
            else None
        ),
        time_to_first_downstream_tx_byte_ns=(
            _duration_ns(
                pb.time_to_first_downstream_tx_byte,
                context,
                "common_properties.time_to_first_downstream_tx_byte",
            )
            if has("time_to_first_downstream_tx_byte")
            else None
        ),
        time_to_last_downstream_tx_byte_ns=(
            _duration_ns(
                pb.time_to_last_downstream_tx_byte,
                context,
                "common_properties.time_to_last_downstream_tx_byte",
            )
            if has("time_to_last_downstream_tx_byte")
            else None
        ),
        upstream_remote_address=(
            _cached_address(pb.upstream_remote_address) if has("upstream_remote_address") else None
        ),
        upstream_local_address=(
            _cached_address(pb.upstream_local_address) if has("upstream_local_address") else None
        ),
        upstream_cluster=pb.upstream_cluster,
        response_flags=flags,
        unauthorized_reason=reason,
        metadata=(
            _metadata_from_pb(pb.metadata, context, "common_properties.metadata")
            if has("metadata")
            else None
        ),
        upstream_transport_failure_reason=pb.upstream_transport_failure_reason,
        route_name=pb.route_name,
        downstream_direct_remote_address=(
            _cached_address(pb.downstream_direct_remote_address)
            if has("downstream_direct_remote_address")
            else None
        ),
        filter_state_objects=(
            _any_map_from_pb(
                pb.filter_state_objects, context, "common_properties.filter_state_objects"
            )
            if pb.filter_state_objects
            else _EMPTY_ANY_MAP
        ),
        custom_tags=_str_map(pb.custom_tags),
        duration_ns=(
            _duration_ns(pb.duration, context, "common_properties.duration")
            if has("duration")
            else None
        ),
        upstream_request_attempt_count=pb.upstream_request_attempt_count,
        connection_termination_details=pb.connection_termination_details,
        stream_id=pb.stream_id,
        intermediate_log_entry=pb.intermediate_log_entry,
        downstream_transport_failure_reason=pb.downstream_transport_failure_reason,
        downstream_wire_bytes_sent=pb.downstream_wire_bytes_sent,
        downstream_wire_bytes_received=pb.downstream_wire_bytes_received,
        upstream_wire_bytes_sent=pb.upstream_wire_bytes_sent,
        upstream_wire_bytes_received=pb.upstream_wire_bytes_received,
        access_log_type=_ACCESS_LOG_TYPES.get(access_log_type, access_log_type),
    )


def _response_flags_from_pb(
    pb: PB2ResponseFlags,
) -> tuple[frozenset[ResponseFlag], UnauthorizedReason | int | None]:
    # ListFields() yields only the flags that are set: usually none or one of the 28.
    present = pb.ListFields()
    if not present:
        return _NO_FLAGS, None
    reason: UnauthorizedReason | int | None = None
    flags = []
    for field, value in present:
        # The schema's ResponseFlags fields and the model's flags match one to one (tested).
        flag = _FLAGS_BY_FIELD[field.name]
        if flag is ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE:
            number = value.reason
            reason = _UNAUTHORIZED_REASONS.get(number, number)
        flags.append(flag)
    return frozenset(flags), reason


def _tls_from_pb(pb: PB2TLSProperties) -> TlsProperties:
    has = pb.HasField
    version = pb.tls_version
    return TlsProperties(
        tls_version=_TLS_VERSIONS.get(version, version),
        tls_cipher_suite=pb.tls_cipher_suite.value if has("tls_cipher_suite") else None,
        tls_sni_hostname=pb.tls_sni_hostname,
        local_certificate_properties=(
            _certificate_from_pb(pb.local_certificate_properties)
            if has("local_certificate_properties")
            else None
        ),
        peer_certificate_properties=(
            _certificate_from_pb(pb.peer_certificate_properties)
            if has("peer_certificate_properties")
            else None
        ),
        tls_session_id=pb.tls_session_id,
        ja3_fingerprint=pb.ja3_fingerprint,
    )


def _certificate_from_pb(pb: PB2CertificateProperties) -> CertificateProperties:
    return CertificateProperties(
        subject_alt_name=tuple(_san_from_pb(san) for san in pb.subject_alt_name),
        subject=pb.subject,
        issuer=pb.issuer,
    )


def _san_from_pb(pb: PB2SubjectAltName) -> SubjectAltName:
    which = pb.WhichOneof("san")
    if which == "uri":
        return SubjectAltName(uri=pb.uri)
    if which == "dns":
        return SubjectAltName(dns=pb.dns)
    return SubjectAltName()


def _request_from_pb(pb: PB2HTTPRequestProperties) -> HttpRequest:
    method = pb.request_method
    return HttpRequest(
        request_method=_REQUEST_METHODS.get(method, method),
        scheme=pb.scheme,
        authority=pb.authority,
        port=pb.port.value if pb.HasField("port") else None,
        path=pb.path,
        user_agent=pb.user_agent,
        referer=pb.referer,
        forwarded_for=pb.forwarded_for,
        request_id=pb.request_id,
        original_path=pb.original_path,
        request_headers_bytes=pb.request_headers_bytes,
        request_body_bytes=pb.request_body_bytes,
        request_headers=_str_map(pb.request_headers),
        upstream_header_bytes_sent=pb.upstream_header_bytes_sent,
        downstream_header_bytes_received=pb.downstream_header_bytes_received,
    )


def _response_from_pb(pb: PB2HTTPResponseProperties) -> HttpResponse:
    return HttpResponse(
        response_code=pb.response_code.value if pb.HasField("response_code") else None,
        response_headers_bytes=pb.response_headers_bytes,
        response_body_bytes=pb.response_body_bytes,
        response_headers=_str_map(pb.response_headers),
        response_trailers=_str_map(pb.response_trailers),
        response_code_details=pb.response_code_details,
        upstream_header_bytes_received=pb.upstream_header_bytes_received,
        downstream_header_bytes_sent=pb.downstream_header_bytes_sent,
    )


# --- addresses --------------------------------------------------------------------------------


# Addresses repeat across the entries and messages of a stream (the Envoy's own listeners,
# its upstream hosts) and convert without context: each distinct one is converted once. The
# cache is cleared when full (remote addresses carry ephemeral ports, so they rarely repeat).
_ADDRESS_CACHE: dict[bytes, Address | None] = {}
_ADDRESS_CACHE_SIZE = 4096


def _cached_address(pb: PB2Address) -> Address | None:
    key = pb.SerializeToString()
    try:
        return _ADDRESS_CACHE[key]
    except KeyError:
        pass
    if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_SIZE:
        _ADDRESS_CACHE.clear()
    address = _ADDRESS_CACHE[key] = _address_from_pb(pb)
    return address


def _address_from_pb(pb: PB2Address) -> Address | None:
    which = pb.WhichOneof("address")
    if which == "socket_address":
        return _socket_address_from_pb(pb.socket_address)
    if which == "pipe":
        return PipeAddress(path=pb.pipe.path, mode=pb.pipe.mode)
    if which == "envoy_internal_address":
        internal = pb.envoy_internal_address
        named = internal.WhichOneof("address_name_specifier") == "server_listener_name"
        return EnvoyInternalAddress(
            server_listener_name=internal.server_listener_name if named else None,
            endpoint_id=internal.endpoint_id,
        )
    return None  # no member set (or one newer than this schema)


def _socket_address_from_pb(pb: PB2SocketAddress) -> SocketAddress:
    which = pb.WhichOneof("port_specifier")
    protocol = pb.protocol
    return SocketAddress(
        address=pb.address,
        port=pb.port_value if which == "port_value" else None,
        named_port=pb.named_port if which == "named_port" else None,
        protocol=_SOCKET_PROTOCOLS.get(protocol, protocol),
        resolver_name=pb.resolver_name,
        ipv4_compat=pb.ipv4_compat,
        network_namespace_filepath=pb.network_namespace_filepath,
    )


# --- identifier and node ----------------------------------------------------------------------


def _identifier_from_pb(pb: PB2Identifier, context: Context) -> Identifier:
    return Identifier(
        node=_node_from_pb(pb.node, context) if pb.HasField("node") else None,
        log_name=pb.log_name,
    )


def _node_from_pb(pb: PB2Node, context: Context) -> Node:
    has = pb.HasField
    version_type = pb.WhichOneof("user_agent_version_type")
    return Node(
        id=pb.id,
        cluster=pb.cluster,
        metadata=_checked_struct(pb.metadata, context, "node.metadata")
        if has("metadata")
        else None,
        dynamic_parameters=(
            FrozenMap(
                {key: _str_map(value.params) for key, value in _in_order(pb.dynamic_parameters)}
            )
            if pb.dynamic_parameters
            else _EMPTY_PARAMS_MAP
        ),
        locality=(
            Locality(
                region=pb.locality.region, zone=pb.locality.zone, sub_zone=pb.locality.sub_zone
            )
            if has("locality")
            else None
        ),
        # v2's plain string field 5: proto3 gives it no presence, so empty means absent.
        build_version=pb.build_version or None,
        user_agent_name=pb.user_agent_name,
        user_agent_version=(
            pb.user_agent_version if version_type == "user_agent_version" else None
        ),
        user_agent_build_version=(
            _build_version_from_pb(
                pb.user_agent_build_version, context, "node.user_agent_build_version"
            )
            if version_type == "user_agent_build_version"
            else None
        ),
        extensions=tuple(
            _extension_from_pb(extension, context, f"node.extensions[{index}]")
            for index, extension in enumerate(pb.extensions)
        ),
        client_features=tuple(pb.client_features),
        listening_addresses=tuple(_address_from_pb(address) for address in pb.listening_addresses),
    )


def _build_version_from_pb(pb: PB2BuildVersion, context: Context, field: str) -> BuildVersion:
    has = pb.HasField
    version = pb.version
    return BuildVersion(
        version=(
            SemanticVersion(
                major_number=version.major_number,
                minor_number=version.minor_number,
                patch=version.patch,
            )
            if has("version")
            else None
        ),
        metadata=(
            _checked_struct(pb.metadata, context, f"{field}.metadata") if has("metadata") else None
        ),
    )


def _extension_from_pb(pb: PB2Extension, context: Context, field: str) -> Extension:
    return Extension(
        name=pb.name,
        category=pb.category,
        type_descriptor=pb.type_descriptor,
        version=(
            _build_version_from_pb(pb.version, context, f"{field}.version")
            if pb.HasField("version")
            else None
        ),
        disabled=pb.disabled,
        type_urls=tuple(pb.type_urls),
    )


def _str_map(pb_map: Mapping[str, str]) -> FrozenMap[str, str]:
    return FrozenMap(dict(_in_order(pb_map))) if pb_map else _EMPTY_STR_MAP


_V = TypeVar("_V")


def _in_order(pb_map: Mapping[str, _V]) -> list[tuple[str, _V]]:
    """A protobuf map's items sorted by key.

    protobuf's parser iterates a map in an order that changes from process to process (its
    hash tables are seeded), and the wire order is lost; sorted, the model's FrozenMaps (and
    every output that walks them) are the same in every run. Keys are unique, so values are
    never compared.
    """
    return sorted(pb_map.items())


# --- time -------------------------------------------------------------------------------------


def _timestamp_ns(pb: timestamp_pb2.Timestamp, context: Context, field: str) -> int:
    seconds = pb.seconds
    nanos = pb.nanos
    if not (_MIN_TIMESTAMP_S <= seconds <= _MAX_TIMESTAMP_S and 0 <= nanos < _NS_PER_S):
        context.report(
            field,
            f"timestamp out of range (seconds={seconds}, nanos={nanos}); "
            "valid is 0001-01-01..9999-12-31 with nanos in [0, 1e9)",
            kind=DiagnosticKind.VALUE_IGNORED,  # kept as read
        )
    return seconds * _NS_PER_S + nanos


def _duration_ns(pb: duration_pb2.Duration, context: Context, field: str) -> int:
    seconds = pb.seconds
    nanos = pb.nanos
    if not (
        -_MAX_DURATION_S <= seconds <= _MAX_DURATION_S
        and -_NS_PER_S < nanos < _NS_PER_S
        and (seconds >= 0 or nanos <= 0)
        and (seconds <= 0 or nanos >= 0)
    ):
        context.report(
            field,
            f"duration out of range (seconds={seconds}, nanos={nanos}); valid is "
            "+-315576000000 s with nanos in (-1e9, 1e9) of the same sign as seconds",
            kind=DiagnosticKind.VALUE_IGNORED,  # kept as read
        )
    return seconds * _NS_PER_S + nanos


# --- metadata, Struct and Any -----------------------------------------------------------------


def _metadata_from_pb(pb: PB2Metadata, context: Context, field: str) -> Metadata:
    return Metadata(
        filter_metadata=(
            FrozenMap(
                {
                    key: _checked_struct(
                        value, context, map_entry_path(field + ".filter_metadata", key)
                    )
                    for key, value in _in_order(pb.filter_metadata)
                }
            )
            if pb.filter_metadata
            else _EMPTY_STRUCT_MAP
        ),
        typed_filter_metadata=(
            _any_map_from_pb(pb.typed_filter_metadata, context, field + ".typed_filter_metadata")
            if pb.typed_filter_metadata
            else _EMPTY_ANY_MAP
        ),
    )


def _checked_struct(
    pb: struct_pb2.Struct, context: Context, field: str
) -> FrozenMap[str, JsonValue]:
    """A Struct within the nesting limit; LimitExceeded (at *field*) if deeper."""
    limit = context.limits.max_nesting_depth
    try:
        return _struct_from_pb(pb, limit)
    except LimitExceeded:
        raise LimitExceeded(too_deep(limit), field) from None


# The Struct family recurses, but protobuf's parser has already bounded the depth (100 nested
# messages, three per Struct level); *levels* is what the nesting limit leaves, counting this one.
# The reason is written where the limit is known.


def _too_deep() -> LimitExceeded:
    return LimitExceeded("too deep")


def _struct_from_pb(pb: struct_pb2.Struct, levels: int) -> FrozenMap[str, JsonValue]:
    if levels < 1:
        raise _too_deep()
    fields = pb.fields
    if not fields:
        return _EMPTY_STRUCT
    return FrozenMap({key: _value_from_pb(value, levels) for key, value in _in_order(fields)})


def _value_from_pb(pb: struct_pb2.Value, levels: int) -> JsonValue:
    """A Value inside a container with *levels* left: its own struct or list takes one more."""
    kind = pb.WhichOneof("kind")
    if kind == "string_value":
        return pb.string_value
    if kind == "number_value":
        return pb.number_value
    if kind == "bool_value":
        return pb.bool_value
    if kind == "struct_value":
        return _struct_from_pb(pb.struct_value, levels - 1)
    if kind == "list_value":
        return _list_from_pb(pb.list_value, levels - 1)
    # null_value, or a Value with no kind set, which JSON can only show as null.
    return None


def _list_from_pb(pb: struct_pb2.ListValue, levels: int) -> tuple[JsonValue, ...]:
    if levels < 1:
        raise _too_deep()
    return tuple(_value_from_pb(value, levels) for value in pb.values)


def _any_map_from_pb(
    pb_map: Mapping[str, any_pb2.Any], context: Context, field: str
) -> FrozenMap[str, AnyValue]:
    return FrozenMap(
        {
            key: _any_from_pb(value, context, map_entry_path(field, key))
            for key, value in _in_order(pb_map)
        }
    )


def _any_from_pb(pb: any_pb2.Any, context: Context, field: str) -> AnyValue:
    """Decode the payload of a well-known type; keep any other type's bytes opaque."""
    type_url: str = pb.type_url
    payload: bytes = pb.value
    decoder = _WELL_KNOWN_DECODERS.get(type_url.rpartition("/")[2])
    if decoder is None:
        return AnyValue(type_url=type_url, value=payload, known=False)
    message_type, to_value = decoder
    message = message_type()
    try:
        message.ParseFromString(payload)
    except google.protobuf.message.DecodeError:
        context.report(
            field,
            f"payload is not a valid {message_type.DESCRIPTOR.full_name}; kept opaque",
            kind=DiagnosticKind.VALUE_IGNORED,
        )
        return AnyValue(type_url=type_url, value=payload, known=False)
    try:
        value = to_value(message, context, field)
    except LimitExceeded:  # only the Struct family nests
        raise LimitExceeded(too_deep(context.limits.max_nesting_depth), field) from None
    return AnyValue(type_url=type_url, value=value, known=True)


def _wrapped(message: Any, context: Context, field: str) -> object:
    return message.value


_WELL_KNOWN_DECODERS: dict[
    str, tuple[type[google.protobuf.message.Message], Callable[[Any, Context, str], object]]
] = {
    "google.protobuf.Struct": (
        struct_pb2.Struct,
        lambda pb, c, _f: _struct_from_pb(pb, c.limits.max_nesting_depth),
    ),
    "google.protobuf.Value": (
        struct_pb2.Value,
        # A Value's struct or list is level 1, as in JSON: Value itself is no container.
        lambda pb, c, _f: _value_from_pb(pb, c.limits.max_nesting_depth + 1),
    ),
    "google.protobuf.ListValue": (
        struct_pb2.ListValue,
        lambda pb, c, _f: _list_from_pb(pb, c.limits.max_nesting_depth),
    ),
    "google.protobuf.Duration": (duration_pb2.Duration, _duration_ns),
    "google.protobuf.Timestamp": (timestamp_pb2.Timestamp, _timestamp_ns),
    "google.protobuf.Empty": (empty_pb2.Empty, lambda _pb, _c, _f: None),
    "google.protobuf.DoubleValue": (wrappers_pb2.DoubleValue, _wrapped),
    "google.protobuf.FloatValue": (wrappers_pb2.FloatValue, _wrapped),
    "google.protobuf.Int64Value": (wrappers_pb2.Int64Value, _wrapped),
    "google.protobuf.UInt64Value": (wrappers_pb2.UInt64Value, _wrapped),
    "google.protobuf.Int32Value": (wrappers_pb2.Int32Value, _wrapped),
    "google.protobuf.UInt32Value": (wrappers_pb2.UInt32Value, _wrapped),
    "google.protobuf.BoolValue": (wrappers_pb2.BoolValue, _wrapped),
    "google.protobuf.StringValue": (wrappers_pb2.StringValue, _wrapped),
    "google.protobuf.BytesValue": (wrappers_pb2.BytesValue, _wrapped),
}
