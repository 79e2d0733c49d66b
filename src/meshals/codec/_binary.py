"""Decoding of binary (protobuf wire format) ALS messages and of protobuf message objects.

Owns the wire-level part: parsing with meshals' generated ``StreamAccessLogsMessage``,
mapping protobuf's errors to :class:`DecodeError` that say where (with :mod:`meshals.codec._wire`),
keeping the whole entries of a broken message in lenient mode, the message-wide limits, and
finding unknown fields and overwritten oneof members. The conversion of the parsed message
into the model lives in ``_convert``.
"""

from __future__ import annotations

from typing import Any

import google.protobuf.message

from meshals._errors import DecodeError, DiagnosticKind
from meshals._pb.accesslog_pb2 import HTTPAccessLogEntry as PB2HTTPAccessLogEntry
from meshals._pb.accesslog_pb2 import TCPAccessLogEntry as PB2TCPAccessLogEntry
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals.model._als import AlsMessage

from ._accelerated import decode_accelerated
from ._convert import message_from_pb
from ._convert_values import Context
from ._limits import DEFAULT_LIMITS, Limits
from ._unknown_fields import ENTRY_LISTS as _ENTRY_LISTS
from ._unknown_fields import unknown_fields as _unknown_fields
from ._wire import (
    LENGTH_DELIMITED,
    Field,
    Problem,
    WireError,
    cut_off,
    fields,
    find_problem,
    length_delimited,
)

__all__ = ["decode_binary", "decode_message"]

# Envoy's own generated classes carry these names; their wire format is meshals'.
_ENVOY_MESSAGE_NAMES = frozenset(
    {
        "envoy.service.accesslog.v3.StreamAccessLogsMessage",
        "envoy.service.accesslog.v2.StreamAccessLogsMessage",
    }
)
_CORRUPT = "not a StreamAccessLogsMessage: the protobuf wire format is corrupt or truncated"
# StreamAccessLogsMessage's fields: identifier = 1, and the log_entries oneof, whose
# members (HTTPAccessLogEntries, TCPAccessLogEntries) hold log_entry = 1.
_IDENTIFIER = 1
_ENTRIES_MEMBERS: dict[int, tuple[str, Any]] = {
    2: ("http_logs", PB2HTTPAccessLogEntry),
    3: ("tcp_logs", PB2TCPAccessLogEntry),
}
_LOG_ENTRY = 1
# The depth of each part in the message, where protobuf's limit on nesting counts it.
_IDENTIFIER_DEPTH = _ENTRY_LIST_DEPTH = 1
_ENTRY_DEPTH = 2
_MIN_ENTRY_SIZE = 2  # a tag byte and a zero length


def decode_binary(
    data: bytes | bytearray | memoryview,
    *,
    source: str = "<bytes>",
    index: int | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> AlsMessage:
    """Decode one serialized ``StreamAccessLogsMessage`` (v3, or v2: the wire formats agree).

    In lenient mode a message whose wire format is broken keeps what is whole: the identifier
    if it is intact, and every entry that parses on its own; each part left out is reported
    (with its field path, entry index and byte offset) in the message's ``diagnostics``.

    Args:
        data: the message in protobuf wire format, without any framing.
        source: where *data* came from, for diagnostics and errors (a file name, say).
        index: the message's position in *source*, counted from 0, if it has one.
        strict: raise on input that lenient decoding would only report (unknown fields,
            timestamps or durations out of range, undecodable well-known ``Any`` payloads,
            broken entries, a oneof set twice).
        limits: the resource limits (:class:`~meshals.codec.Limits`); an entry that breaks a
            per-value limit (nesting, string length) is skipped in lenient mode.

    Returns:
        The decoded message; what lenient decoding tolerated is in its ``diagnostics``.

    Raises:
        DecodeError: *data* is not bytes-like; it is longer than ``max_message_size`` or
            holds more than ``max_entries`` entries; nothing of it is whole (lenient) or any
            of it is broken (strict), with the place in ``field``, ``entry_index`` and the
            reason; the identifier breaks a limit; with ``strict=True``, also at the first
            problem lenient decoding would have reported.

    >>> decode_binary(b"").kind is None
    True
    >>> decode_binary(b"\\x1a\\x02\\x0a\\x00").tcp_entries
    (TcpEntry(common_properties=None, connection_properties=None),)
    >>> broken = decode_binary(b"\\x1a\\x05\\x0a\\x00\\x0a\\x02\\x08")
    >>> len(broken.tcp_entries), broken.diagnostics[0].reason
    (1, 'entry skipped: the data ends inside the varint of field 1 at byte offset 7')
    """
    if type(data) is not bytes:  # the usual case first: one check
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(
                f"expected bytes, bytearray or memoryview, got {type(data).__name__}",
                source=source,
                message_index=index,
            )
        data = bytes(data)  # also makes len() count bytes for a memoryview of wider items
    if len(data) > limits.max_message_size:
        raise DecodeError(
            f"the message is {len(data)} bytes long, more than the maximum of"
            f" {limits.max_message_size}",
            source=source,
            message_index=index,
        )
    # The compiled decoder, when built, takes the canonical messages; None leaves the rest
    # to the path below, which reports what it finds (the results are the same objects).
    accelerated = decode_accelerated(data, source, index, limits)
    if accelerated is not None:
        return accelerated
    context = Context(
        source=source,
        message_index=index,
        strict=strict,
        limits=limits,
        check_strings=len(data) > limits.max_string_length,
    )
    if len(data) > _MIN_ENTRY_SIZE * limits.max_entries:  # else it cannot hold too many
        count = _count_entries(data, limits.max_entries)
        _check_entry_count(count, context, counted_all=False)
    message = PB2StreamAccessLogsMessage()
    try:
        message.ParseFromString(data)
    except google.protobuf.message.DecodeError as exc:
        if strict:
            raise _corrupt(data, context) from exc
        data, context.entry_numbers = _Salvage(data, context).run(exc)
        message = _parse_salvaged(data, context)
        # The count on the wire stops at a cut; the salvage may have found more after it.
        _check_entry_count(_entries_in(message), context, counted_all=True)
    _report_unknown_fields(message, data, context)
    return message_from_pb(message, context)


def decode_message(
    message: google.protobuf.message.Message,
    *,
    source: str = "<message>",
    index: int | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
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
        limits: as for :func:`decode_binary`.

    Returns:
        The decoded message.

    Raises:
        DecodeError: *message* is not a protobuf message (``DecodeError`` is a ``ValueError``,
            not a ``TypeError``: every bad input raises it), is another message type, breaks
            a limit as for :func:`decode_binary`, or (with ``strict=True``) has a problem
            lenient decoding would have reported.

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
    return decode_binary(data, source=source, index=index, strict=strict, limits=limits)


# --- limits ------------------------------------------------------------------------------------


def _count_entries(data: bytes, limit: int) -> int:
    """How many entries the wire holds (before protobuf allocates them), up to *limit* + 1.

    Counting stops past the limit, so that the count costs at most that many steps.
    """
    count = 0
    try:
        for field in fields(data):
            if field.number in _ENTRIES_MEMBERS and field.wire_type == LENGTH_DELIMITED:
                for inner in fields(data, field.value_start, field.end):
                    count += inner.number == _LOG_ENTRY
                    if count > limit:
                        return count
    except WireError:
        pass  # the parser or the salvage will say what is wrong
    return count


def _entries_in(message: PB2StreamAccessLogsMessage) -> int:
    which = message.WhichOneof("log_entries")
    if which is None:
        return 0
    return len(getattr(message, which).log_entry)


def _check_entry_count(count: int, context: Context, *, counted_all: bool) -> None:
    limit = context.limits.max_entries
    if count > limit:
        reason = (
            f"{count} log entries, more than the maximum of {limit}"
            if counted_all
            else f"more than the maximum of {limit} log entries (counting stopped there)"
        )
        raise DecodeError(reason, source=context.source, message_index=context.message_index)


# --- broken messages ---------------------------------------------------------------------------


def _corrupt(data: bytes, context: Context) -> DecodeError:
    """The DecodeError for *data*, which protobuf refused, saying where it breaks."""
    problem = find_problem(data, PB2StreamAccessLogsMessage.DESCRIPTOR, entry_lists=_ENTRY_LISTS)
    if problem is None:  # pragma: no cover -- the walk checks what the parser checks
        return DecodeError(_CORRUPT, source=context.source, message_index=context.message_index)
    return DecodeError(
        f"not a StreamAccessLogsMessage: {_at(problem)}",
        source=context.source,
        message_index=context.message_index,
        entry_index=problem.entry_index,
        field=problem.field,
    )


def _at(problem: Problem) -> str:
    return f"{problem.reason} at byte offset {problem.offset}"


class _Salvage:
    """Rebuild a broken message from its whole parts, reporting each part left out.

    The result is the message's top-level fields in their order, each entry list keeping only
    the entries that parse on their own (and the unknown fields it holds), so protobuf's
    parser then treats it as it treats the original: repeated occurrences merge, and of the
    oneof members the last one set wins. ``entry_numbers`` maps the kept entries of the
    winning member to their index in the original message.
    """

    def __init__(self, data: bytes, context: Context) -> None:
        self.data = data
        self.context = context
        self.pieces: list[bytes] = []
        self.kept = 0  # whole parts: the identifier, entries
        self.member = 0  # field number of the oneof member being read
        self.position = 0  # entries seen of it, the broken ones included
        self.numbers: list[int] = []

    def run(self, cause: Exception) -> tuple[bytes, list[int]]:
        data = self.data
        try:
            for field in fields(data):
                self._top_level(field, field.end)
        except WireError as broken:
            partial = broken.partial
            if partial is not None and partial.number in _ENTRIES_MEMBERS:
                self._entries(partial, len(data), truncated=True)
            elif partial is not None and partial.number == _IDENTIFIER:
                descriptor = PB2StreamAccessLogsMessage.Identifier
                problem = self._cut(partial, len(data), descriptor, "identifier", _IDENTIFIER_DEPTH)
                reason = f"identifier left out: {_at(problem)}"
                self._report(problem.field, None, reason, DiagnosticKind.VALUE_IGNORED)
            else:
                reason = f"rest of the message left out: {broken}"
                self._report(None, None, reason, DiagnosticKind.PART_SKIPPED)
        if not self.kept:
            raise _corrupt(data, self.context) from cause
        return b"".join(self.pieces), self.numbers

    def _report(
        self, field: str | None, entry_index: int | None, reason: str, kind: DiagnosticKind
    ) -> None:
        self.context.record(field, entry_index, reason, kind=kind)

    def _top_level(self, field: Field, end: int) -> None:
        if field.wire_type != LENGTH_DELIMITED:
            self.pieces.append(self.data[field.start : end])  # unknown: reported later
        elif field.number == _IDENTIFIER:
            self._identifier(field)
        elif field.number in _ENTRIES_MEMBERS:
            self._entries(field, end, truncated=False)
        else:
            self.pieces.append(self.data[field.start : end])

    def _identifier(self, field: Field) -> None:
        whole = self.data[field.start : field.end]
        try:  # as part of a message, where protobuf counts its depth
            PB2StreamAccessLogsMessage().ParseFromString(whole)
        except google.protobuf.message.DecodeError:
            body = self.data[field.value_start : field.end]
            descriptor = PB2StreamAccessLogsMessage.Identifier.DESCRIPTOR
            found = find_problem(body, descriptor, depth=_IDENTIFIER_DEPTH)
            problem = _shifted(found, field.value_start, "identifier")
            reason = f"identifier left out: {_at(problem)}"
            self._report(problem.field, None, reason, DiagnosticKind.VALUE_IGNORED)
            return
        self.pieces.append(self.data[field.start : field.end])
        self.kept += 1

    def _entries(self, field: Field, end: int, *, truncated: bool) -> None:
        name, entry_type = _ENTRIES_MEMBERS[field.number]
        if field.number != self.member:  # protobuf clears the other member's entries
            self.member, self.position, self.numbers = field.number, 0, []
        kept: list[bytes] = []
        data = self.data
        try:
            for inner in fields(data, field.value_start, end, depth=_ENTRY_LIST_DEPTH):
                if inner.number == _LOG_ENTRY and inner.wire_type == LENGTH_DELIMITED:
                    if self._entry(inner, field.number, entry_type):
                        kept.append(data[inner.start : inner.end])
                else:
                    kept.append(data[inner.start : inner.end])  # unknown: reported later
        except WireError as broken:
            partial = broken.partial
            if partial is not None and partial.number == _LOG_ENTRY:
                position = self.position
                self.position += 1
                path = f"{name}.log_entry[{position}]"
                problem = self._cut(partial, end, entry_type, path, _ENTRY_DEPTH)
                reason = f"entry skipped: {_at(problem)}"
                self._report(problem.field, position, reason, DiagnosticKind.ENTRY_SKIPPED)
            else:
                reason = f"rest of {name} left out: {broken}"
                self._report(name, None, reason, DiagnosticKind.PART_SKIPPED)
        else:
            if truncated:  # the list's declared length runs past the end of the data
                reason = f"{name} declares more bytes than the message holds"
                self._report(name, None, reason, DiagnosticKind.PART_SKIPPED)
        body = b"".join(kept)
        self.pieces.append(length_delimited(field.number, body))

    def _cut(self, partial: Field, end: int, message_type: Any, path: str, depth: int) -> Problem:
        """Where *partial*, a message at *path* and *depth* that runs past *end*, is cut."""
        body = self.data[partial.value_start : end]
        problem = find_problem(body, message_type.DESCRIPTOR, depth=depth)
        if problem is None:  # cut between two of its fields
            declared, remaining = partial.end - partial.value_start, end - partial.value_start
            return Problem(path, None, partial.start, cut_off(declared, remaining))
        return _shifted(problem, partial.value_start, path)

    def _entry(self, inner: Field, member: int, entry_type: Any) -> bool:
        """Whether the entry parses on its own, in its list; reports it if not."""
        position = self.position
        self.position += 1
        entry = self.data[inner.start : inner.end]
        # Parsed in a message of its own, as deep as it is in this one: protobuf counts that.
        alone = length_delimited(member, entry)
        try:
            PB2StreamAccessLogsMessage().ParseFromString(alone)
        except google.protobuf.message.DecodeError:
            body = self.data[inner.value_start : inner.end]
            path = f"{_ENTRIES_MEMBERS[member][0]}.log_entry[{position}]"
            found = find_problem(body, entry_type.DESCRIPTOR, depth=_ENTRY_DEPTH)
            problem = _shifted(found, inner.value_start, path)
            reason = f"entry skipped: {_at(problem)}"
            self._report(problem.field, position, reason, DiagnosticKind.ENTRY_SKIPPED)
            return False
        self.numbers.append(position)
        self.kept += 1
        return True


def _shifted(problem: Problem | None, offset: int, path: str) -> Problem:
    """*problem*, found in a part at *offset* under *path*, as a place in the whole message."""
    if problem is None:  # pragma: no cover -- the walk checks what the parser checks
        return Problem(path, None, offset, "the protobuf wire format is corrupt")
    field = path if problem.field is None else f"{path}.{problem.field}"
    return Problem(field, problem.entry_index, problem.offset + offset, problem.reason)


def _parse_salvaged(data: bytes, context: Context) -> PB2StreamAccessLogsMessage:
    message = PB2StreamAccessLogsMessage()
    try:
        message.ParseFromString(data)
    except google.protobuf.message.DecodeError as exc:  # pragma: no cover -- parts parsed
        raise DecodeError(
            _CORRUPT, source=context.source, message_index=context.message_index
        ) from exc
    return message


# --- unknown fields and overwritten oneof members ----------------------------------------------


def _report_unknown_fields(
    message: PB2StreamAccessLogsMessage, data: bytes, context: Context
) -> None:
    """Drop the unknown fields from *message*, reporting each, and any oneof member dropped."""
    # DiscardUnknownFields() walks the whole tree in C. Protobuf serializers write canonical
    # encodings, so if what is left re-serializes to the input's length, nothing was dropped;
    # only otherwise does the slow search for what was dropped run, on a fresh parse. (Known
    # fields written shorter than protobuf writes them, e.g. a negative enum number in five
    # bytes, could hide unknown fields of exactly the same size: harmless, and contrived.)
    message.DiscardUnknownFields()
    if message.ByteSize() == len(data):
        return
    _report_overwritten_members(data, context)
    original = PB2StreamAccessLogsMessage()
    original.ParseFromString(data)  # parsed once already
    for field, entry_index, reason in _unknown_fields(original, context.entry_numbers):
        context.record(field, entry_index, reason, kind=DiagnosticKind.VALUE_IGNORED)


def _report_overwritten_members(data: bytes, context: Context) -> None:
    """Report entries lost because both members of the ``log_entries`` oneof were set.

    protobuf keeps the member set last, silently: the entries of the other are lost.
    """
    runs: list[tuple[int, int]] = []  # (member, entries), one per change of member
    try:
        for field in fields(data):
            if field.number in _ENTRIES_MEMBERS and field.wire_type == LENGTH_DELIMITED:
                count = sum(
                    inner.number == _LOG_ENTRY
                    for inner in fields(data, field.value_start, field.end)
                )
                if runs and runs[-1][0] == field.number:
                    runs[-1] = (field.number, runs[-1][1] + count)
                else:
                    runs.append((field.number, count))
    except WireError:  # pragma: no cover -- protobuf parsed it
        return
    kept = _ENTRIES_MEMBERS[runs[-1][0]][0] if runs else ""
    for member, count in runs[:-1]:
        name = _ENTRIES_MEMBERS[member][0]
        context.record(
            name,
            None,
            f"oneof 'log_entries' is set more than once: protobuf keeps the last member set"
            f" ({kept}), so {count} entries of this {name} are lost",
            kind=DiagnosticKind.PART_SKIPPED,
        )
