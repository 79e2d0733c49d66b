"""Decoding of binary (protobuf wire format) ALS messages and of protobuf message objects.

Owns the wire-level part: parsing with meshals' generated ``StreamAccessLogsMessage``,
mapping protobuf's errors to :class:`DecodeError`, and finding unknown fields. The conversion
of the parsed message into the model lives in ``_convert``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.protobuf.message
from google.protobuf.unknown_fields import UnknownFieldSet

from ._convert import Context, message_from_pb
from ._errors import DecodeError, map_entry_path
from ._model import AlsMessage
from ._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage

__all__ = ["decode_binary", "decode_message"]

# Envoy's own generated classes carry these names; their wire format is meshals'.
_ENVOY_MESSAGE_NAMES = frozenset(
    {
        "envoy.service.accesslog.v3.StreamAccessLogsMessage",
        "envoy.service.accesslog.v2.StreamAccessLogsMessage",
    }
)
_ENTRY_LISTS = frozenset({"http_logs", "tcp_logs"})
_WIRE_TYPES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "group", 5: "32-bit"}


def decode_binary(
    data: bytes | bytearray | memoryview,
    *,
    source: str = "<bytes>",
    index: int | None = None,
    strict: bool = False,
) -> AlsMessage:
    """Decode one serialized ``StreamAccessLogsMessage`` (v3, or v2: the wire formats agree).

    Args:
        data: the message in protobuf wire format, without any framing.
        source: where *data* came from, for diagnostics and errors (a file name, say).
        index: the message's position in *source*, counted from 0, if it has one.
        strict: raise on input that lenient decoding would only report (unknown fields,
            timestamps or durations out of range, undecodable well-known ``Any`` payloads).

    Returns:
        The decoded message; what lenient decoding tolerated is in its ``diagnostics``.

    Raises:
        DecodeError: *data* is not bytes-like or not a valid message; with ``strict=True``,
            also at the first problem lenient decoding would have reported.

    >>> decode_binary(b"").kind is None
    True
    >>> decode_binary(b"\\x1a\\x02\\x0a\\x00").tcp_entries
    (TcpEntry(common_properties=None, connection_properties=None),)
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(
            f"expected bytes, bytearray or memoryview, got {type(data).__name__}",
            source=source,
            message_index=index,
        )
    if not isinstance(data, bytes):
        data = bytes(data)  # also makes len() count bytes for a memoryview of wider items
    message = _parse(data, source=source, index=index)
    context = Context(source=source, message_index=index, strict=strict)
    _report_unknown_fields(message, data, context)
    return message_from_pb(message, context)


def decode_message(
    message: google.protobuf.message.Message,
    *,
    source: str = "<message>",
    index: int | None = None,
    strict: bool = False,
) -> AlsMessage:
    """Decode a ``StreamAccessLogsMessage`` protobuf object.

    Accepts meshals' own generated class and Envoy's (``envoy.service.accesslog.v3`` or
    ``v2``, e.g. from the ``xds-protos`` package) without importing Envoy's code: the object is
    serialized and decoded as by :func:`decode_binary`, so both behave alike, unknown fields
    included, and *message* is left untouched.

    Args:
        message: the protobuf object.
        source: where *message* came from, for diagnostics and errors.
        index: the message's position in *source*, counted from 0, if it has one.
        strict: as for :func:`decode_binary`.

    Returns:
        The decoded message.

    Raises:
        DecodeError: *message* is not a protobuf message (``DecodeError`` is a ``ValueError``,
            not a ``TypeError``: every bad input raises it), is another message type, or
            (with ``strict=True``) has a problem lenient decoding would have reported.

    >>> from meshals._pb.als_pb2 import StreamAccessLogsMessage
    >>> pb = StreamAccessLogsMessage()
    >>> pb.identifier.log_name = "als"
    >>> decode_message(pb).identifier.log_name
    'als'
    """
    if not isinstance(message, google.protobuf.message.Message):
        raise DecodeError(
            f"expected a protobuf StreamAccessLogsMessage, got {type(message).__name__}",
            source=source,
            message_index=index,
        )
    name = message.DESCRIPTOR.full_name
    if not isinstance(message, PB2StreamAccessLogsMessage) and name not in _ENVOY_MESSAGE_NAMES:
        raise DecodeError(
            f"expected a StreamAccessLogsMessage, got {name}",
            source=source,
            message_index=index,
        )
    # Re-reading the serialized form costs little next to the conversion, and leaves the
    # caller's object untouched (finding unknown fields would otherwise discard them).
    try:
        data = message.SerializeToString()
    except google.protobuf.message.Error as exc:
        raise DecodeError(
            f"cannot serialize the {name}: {exc}", source=source, message_index=index
        ) from exc
    return decode_binary(data, source=source, index=index, strict=strict)


def _parse(data: bytes, *, source: str, index: int | None) -> PB2StreamAccessLogsMessage:
    message = PB2StreamAccessLogsMessage()
    try:
        message.ParseFromString(data)
    except google.protobuf.message.DecodeError as exc:
        raise DecodeError(
            "not a StreamAccessLogsMessage: the protobuf wire format is corrupt or truncated",
            source=source,
            message_index=index,
        ) from exc
    return message


def _report_unknown_fields(
    message: PB2StreamAccessLogsMessage, data: bytes, context: Context
) -> None:
    """Drop the unknown fields from *message*, reporting each to *context*."""
    # DiscardUnknownFields() walks the whole tree in C. Protobuf serializers write canonical
    # encodings, so if what is left re-serializes to the input's length, nothing was dropped;
    # only otherwise does the slow search for where they were run, on a fresh parse. (Known
    # fields written shorter than protobuf writes them, e.g. a negative enum number in five
    # bytes, could hide unknown fields of exactly the same size: harmless, and contrived.)
    message.DiscardUnknownFields()
    if message.ByteSize() == len(data):
        return
    original = _parse(data, source=context.source, index=context.message_index)
    for field, entry_index, reason in _unknown_fields(original):
        context.report_at(field, entry_index, reason)


def _unknown_fields(message: Any) -> Iterator[tuple[str | None, int | None, str]]:
    """Yield ``(field path, entry index, reason)`` for each unknown field, in field order."""
    yield from _unknown_fields_in(message, "", None)


def _unknown_fields_in(
    message: Any, path: str, entry_index: int | None
) -> Iterator[tuple[str | None, int | None, str]]:
    unknowns = UnknownFieldSet(message)
    known_fields = message.DESCRIPTOR.fields_by_number
    for unknown in (unknowns[position] for position in range(len(unknowns))):
        number = unknown.field_number
        wire_type = _WIRE_TYPES.get(unknown.wire_type, str(unknown.wire_type))
        if number in known_fields:  # protobuf keeps a known field with a mismatched wire type
            name = known_fields[number].name
            reason = f"field number {number} ({name}) with wrong wire type ({wire_type}) ignored"
        else:
            reason = f"unknown field number {number} ({wire_type}) ignored"
        yield path or None, entry_index, reason
    for field, value in message.ListFields():
        message_type = field.message_type
        if message_type is None:
            continue
        child = f"{path}.{field.name}" if path else field.name
        if message_type.GetOptions().map_entry:
            value_type = message_type.fields_by_name["value"].message_type
            if value_type is not None:
                for key, item in value.items():
                    yield from _unknown_fields_in(item, map_entry_path(child, key), entry_index)
        elif isinstance(value, google.protobuf.message.Message):
            yield from _unknown_fields_in(value, child, entry_index)
        else:  # a repeated field
            is_entries = field.name == "log_entry" and path in _ENTRY_LISTS
            for item_index, item in enumerate(value):
                yield from _unknown_fields_in(
                    item,
                    f"{child}[{item_index}]",
                    item_index if is_entries else entry_index,
                )
