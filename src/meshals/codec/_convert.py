"""Conversion of a parsed ``StreamAccessLogsMessage`` (protobuf objects) into meshals' model.

One private ``_<thing>_from_pb`` function per message type, the OTel encoders in reverse, each
reading meshals' generated classes (``meshals._pb``, whose field names are Envoy's). This is
the hot path of binary decoding, hence:
message-typed fields are converted only after a ``HasField`` check, empty maps and flag sets
are shared constants, enums go through dicts, and identical addresses within one message
share one model object.

This module converts the message, its entries and its identifier; an entry's
``common_properties`` are converted by :mod:`meshals.codec._convert_common`, and what every
part uses (the :class:`Context`, addresses, maps, time, metadata, ``Struct`` and ``Any``) is
in :mod:`meshals.codec._convert_values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from meshals._errors import DecodeError, DiagnosticKind
from meshals._values import FrozenMap
from meshals.model._als import (
    AlsMessage,
    BuildVersion,
    ConnectionProperties,
    Extension,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    HttpVersion,
    Identifier,
    Locality,
    Node,
    RequestMethod,
    SemanticVersion,
    TcpEntry,
)

from ._compiled import slot_constructor
from ._convert_common import _common_from_pb
from ._convert_values import (
    Context,
    _address_from_pb,
    _by_number,
    _checked_struct,
    _in_order,
    _str_map,
)
from ._limits import LimitExceeded, find_too_long

if TYPE_CHECKING:
    from meshals._pb.accesslog_pb2 import ConnectionProperties as PB2ConnectionProperties
    from meshals._pb.accesslog_pb2 import HTTPAccessLogEntry as PB2HTTPAccessLogEntry
    from meshals._pb.accesslog_pb2 import HTTPRequestProperties as PB2HTTPRequestProperties
    from meshals._pb.accesslog_pb2 import HTTPResponseProperties as PB2HTTPResponseProperties
    from meshals._pb.accesslog_pb2 import TCPAccessLogEntry as PB2TCPAccessLogEntry
    from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
    from meshals._pb.base_pb2 import BuildVersion as PB2BuildVersion
    from meshals._pb.base_pb2 import Extension as PB2Extension
    from meshals._pb.base_pb2 import Node as PB2Node

    PB2Identifier = PB2StreamAccessLogsMessage.Identifier

__all__: list[str] = []

_Entry = TypeVar("_Entry", HttpEntry, TcpEntry)

_EMPTY_PARAMS_MAP: FrozenMap[str, FrozenMap[str, str]] = FrozenMap()

# Numbers missing from these dicts are kept as plain ints: proto3 enums are open.
_HTTP_VERSIONS = _by_number(HttpVersion)
_REQUEST_METHODS = _by_number(RequestMethod)

_ENTRIES_KINDS = {"http_logs": "http", "tcp_logs": "tcp"}


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
    return _new_message(
        identifier,
        _ENTRIES_KINDS.get(which) if which else None,  # kind
        entries,
        context.source,
        context.message_index,  # index
        context.message_diagnostics(),
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


# Positional, in each class's field order (see model._construct): built for every entry.
_new_http_entry = slot_constructor(HttpEntry)
_new_request = slot_constructor(HttpRequest)
_new_response = slot_constructor(HttpResponse)
_new_message = slot_constructor(AlsMessage)


def _http_entry_from_pb(pb: PB2HTTPAccessLogEntry, context: Context) -> HttpEntry:
    has = pb.HasField
    version = pb.protocol_version
    return _new_http_entry(
        _common_from_pb(pb.common_properties, context) if has("common_properties") else None,
        _HTTP_VERSIONS.get(version, version),
        _request_from_pb(pb.request) if has("request") else None,
        _response_from_pb(pb.response) if has("response") else None,
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


def _request_from_pb(pb: PB2HTTPRequestProperties) -> HttpRequest:
    method = pb.request_method
    return _new_request(
        _REQUEST_METHODS.get(method, method),
        pb.scheme,
        pb.authority,
        pb.port.value if pb.HasField("port") else None,
        pb.path,
        pb.user_agent,
        pb.referer,
        pb.forwarded_for,
        pb.request_id,
        pb.original_path,
        pb.request_headers_bytes,
        pb.request_body_bytes,
        _str_map(pb.request_headers),
        pb.upstream_header_bytes_sent,
        pb.downstream_header_bytes_received,
    )


def _response_from_pb(pb: PB2HTTPResponseProperties) -> HttpResponse:
    return _new_response(
        pb.response_code.value if pb.HasField("response_code") else None,
        pb.response_headers_bytes,
        pb.response_body_bytes,
        _str_map(pb.response_headers),
        _str_map(pb.response_trailers),
        pb.response_code_details,
        pb.upstream_header_bytes_received,
        pb.downstream_header_bytes_sent,
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
