"""Which container a capture or L4 log is: :class:`Container`, and :func:`detect_container`.

Sans-IO: detection looks only at the bytes it is given (the first bytes of an input);
:func:`~meshals.read` asks it when no container is named.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Final, Literal, NamedTuple

from meshals._errors import DecodeError
from meshals.codec._l4_lines import log_line_format

from ._compression import compression_of, unsupported_compression
from ._framing import Buffer, parse_varint

__all__ = ["Container"]


class Container(enum.Enum):
    """How the ``StreamAccessLogsMessage`` messages of a capture are stored."""

    JSON = "json"
    """One proto3-JSON message (``.json``, SkyWalking's ``.msg``), possibly multi-line,
    with SkyWalking's quirks: ``#`` and ``//`` comment lines, text after the message."""
    JSON_LINES = "jsonl"
    """One proto3-JSON message per non-blank line (``.jsonl``, ``.ndjson``); LF or CRLF."""
    BINARY = "binary"
    """One serialized message, the whole file."""
    DELIMITED = "delimited"
    """Serialized messages each preceded by its varint length (protobuf ``writeDelimitedTo``)."""
    GRPC = "grpc"
    """Serialized messages in gRPC message framing: a compressed flag (always 0) and a 4-byte
    big-endian length before each, as on the wire of the ALS stream."""
    ZTUNNEL = "ztunnel"
    """Not ALS: a text log of Istio ambient's node proxy, ztunnel (or of Kmesh), one line per
    event; :func:`~meshals.codec.parse_l4_line` reads each (and JSON lines among them)."""
    ZTUNNEL_JSON = "ztunnel-json"
    """Not ALS: ztunnel's JSON log (``LOG_FORMAT=json``), one JSON object per line; read as
    :attr:`ZTUNNEL` is."""


class _NeedData(enum.Enum):
    NEED_MORE = "NEED_MORE"


NEED_MORE: Final = _NeedData.NEED_MORE
"""Returned by :func:`detect_container` when the prefix is too short to decide."""

Detection = Container | None | Literal[_NeedData.NEED_MORE]

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_JSON_WHITESPACE: Final = b" \t\r\n"
_JSON_LINES_SUFFIXES: Final = (".jsonl", ".ndjson")
# JSON text has no raw control characters besides whitespace (RFC 8259 section 7 requires
# them escaped inside strings), while serialized protobuf is full of them (tags, lengths).
_NON_TEXT_BYTE: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_JSON_STRUCTURE: Final = re.compile(rb'[{}\[\]"\n]')
_JSON_STRING_END: Final = re.compile(rb'["\\]')
# StreamAccessLogsMessage has three fields, all length-delimited (wire type 2):
# identifier = 1, http_logs = 2, tcp_logs = 3.
_MESSAGE_TAGS: Final = frozenset({0x0A, 0x12, 0x1A})
_GRPC_HEADER_SIZE: Final = 5


def detect_container(
    prefix: bytes | bytearray,
    *,
    name: str = "<bytes>",
    final: bool,
) -> Detection:
    """The container of an input that starts with *prefix*, from its content.

    *final* says no more bytes will be offered: *prefix* is the whole input, or as much of it
    as the caller is willing to look at. *name* is the file name; a ``.jsonl``/``.ndjson``
    suffix only breaks the tie for a one-line JSON file. The rule, first match wins:

    1. Nothing but a UTF-8 BOM and whitespace: ``None`` (no messages).
    2. First byte 0x00 or 0x01 and the prefix reads as gRPC frames (flag 0 or 1, a 4-byte
       length, each uncompressed frame a valid message as far as the prefix goes):
       :attr:`Container.GRPC`. Declared lengths are not held against the size limit here, so
       that an oversized frame gets the framer's error, which names it.
    3. After a BOM and whitespace the text starts with ``{``, ``#`` or ``/`` and the prefix has
       no control characters but whitespace: text. ``#`` or ``/`` (SkyWalking's comment
       lines), or a first value spanning lines, or text after it on its line:
       :attr:`Container.JSON`. A first line holding one object that is a ztunnel log record
       (string ``"scope"`` and ``"message"`` members, none of ``identifier``, ``httpLogs``,
       ``tcpLogs`` or their snake_case forms): :attr:`Container.ZTUNNEL_JSON`. Else a first
       line that holds one complete object followed by a line starting with ``{``:
       :attr:`Container.JSON_LINES`; by any other line: JSON. A single line: JSON Lines for
       a ``.jsonl``/``.ndjson`` name, else JSON.
    3a. Any other text without control characters but whitespace, in which some complete
       line (the last line too, with *final*) is written by ztunnel or Kmesh (see
       :func:`~meshals.codec.parse_l4_line`: a ztunnel log line of any scope, a Kmesh
       ``accesslog:`` line, after any capture prefix): :attr:`Container.ZTUNNEL`, or
       :attr:`Container.ZTUNNEL_JSON` when that first such line is JSON. Without a complete
       line yet: :data:`NEED_MORE` (non-final). Only the prefix is searched.
    4. Binary, by checking the top-level wire structure: a StreamAccessLogsMessage has only
       fields 1, 2 and 3, all length-delimited, so its bytes are tiled by tag bytes 0x0a, 0x12
       or 0x1a each followed by a varint length and that many bytes. DELIMITED fits if the
       prefix reads as varint lengths each followed by such a message; BINARY fits if it reads
       as one. With *final*, a fit that ends exactly at the end wins (DELIMITED first). Else a
       fit cut by the end of the prefix counts (a truncated capture, so the framer or decoder
       can say where); where both fit, DELIMITED wins only if its first frame lies wholly in
       the prefix, else BINARY.
    5. Neither, but text-like start (``{``, ``#``, ``/``): :attr:`Container.JSON`, so the JSON
       decoder says what is wrong.

    Returns:
        The container, None for an input without messages, or :data:`NEED_MORE` when a
        non-final prefix cannot decide yet (only text whose first line is not complete).

    Raises:
        DecodeError: the content matches no container.

    >>> detect_container(b"2024-05-30T12:18:10.172761Z info access connection complete",
    ...                  final=True)
    <Container.ZTUNNEL: 'ztunnel'>
    """
    text_start = _skip_whitespace(prefix, len(_UTF8_BOM) if prefix.startswith(_UTF8_BOM) else 0)
    if text_start == len(prefix):
        return None if final else NEED_MORE
    if prefix[0] in (0x00, 0x01) and _frames_fit(prefix, _grpc_header).valid:
        return Container.GRPC
    starts_like_text = prefix[text_start] in b"{#/"
    is_text = not _NON_TEXT_BYTE.search(prefix)
    if starts_like_text and is_text:
        return _detect_text(prefix, text_start, name=name, final=final)
    if is_text:
        detected = _detect_l4_log(prefix, text_start, final=final)
        if detected is not None:
            return detected
    delimited = _frames_fit(prefix, _varint_header)
    binary = _message_fits(prefix, 0, len(prefix))
    if final and delimited.exact:
        return Container.DELIMITED
    if final and binary.exact:
        return Container.BINARY
    if delimited.valid and (not binary.valid or delimited.first_frame_complete):
        return Container.DELIMITED
    if binary.valid:
        return Container.BINARY
    if starts_like_text:
        return Container.JSON
    raise DecodeError(_unrecognised(prefix), source=name)


def _unrecognised(prefix: bytes | bytearray) -> str:
    """Why *prefix* is no container: what it starts with, and what it is if it is compressed."""
    reason = (
        "not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
        f" it starts with bytes {bytes(prefix[:8]).hex(' ')}"
    )
    compressed = compression_of(prefix)
    if compressed is not None:  # read() undoes one layer: this is a second one
        return f"{reason}: {compressed}-compressed data (meshals decompresses one layer only)"
    other = unsupported_compression(prefix)
    if other is not None:
        return (
            f"{reason}: {other}, which meshals does not read (decompress it, or compress it"
            " with gzip or zstd)"
        )
    return reason


def _skip_whitespace(data: bytes | bytearray, position: int) -> int:
    while position < len(data) and data[position] in _JSON_WHITESPACE:
        position += 1
    return position


def _detect_text(prefix: bytes | bytearray, start: int, *, name: str, final: bool) -> Detection:
    one_line = (
        Container.JSON_LINES if name.lower().endswith(_JSON_LINES_SUFFIXES) else Container.JSON
    )
    if prefix[start] != ord("{"):
        return Container.JSON  # a comment line: only SkyWalking's .msg files have them
    end = _end_of_first_value(prefix, start)
    if end is None:
        return one_line if final else NEED_MORE
    if end < 0:
        return Container.JSON  # the value spans lines: pretty-printed
    line_end = prefix.find(b"\n", end)
    if prefix[end : len(prefix) if line_end < 0 else line_end].strip():
        return Container.JSON  # trailing text after the value
    if line_end < 0 and not final:
        return NEED_MORE
    if _is_l4_json_record(prefix[start:end]):
        return Container.ZTUNNEL_JSON
    if line_end < 0:
        return one_line
    next_line = _skip_whitespace(prefix, line_end)
    if next_line == len(prefix):
        return one_line if final else NEED_MORE
    return Container.JSON_LINES if prefix[next_line] == ord("{") else Container.JSON


def _is_l4_json_record(value: bytes | bytearray) -> bool:
    # Cheap test first: ALS lines can be megabytes long and have no "scope" member.
    if b'"scope"' not in value or b'"message"' not in value:
        return False
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return log_line_format(text) == "json"


def _detect_l4_log(prefix: bytes | bytearray, start: int, *, final: bool) -> Detection | None:
    """ZTUNNEL or ZTUNNEL_JSON if a line of *prefix* is a ztunnel or Kmesh log line."""
    text = bytes(prefix[start:]).decode("utf-8", errors="replace")
    lines = text.split("\n")
    complete = lines if final else lines[:-1]  # the last one may be cut by the prefix
    for line in complete:
        found = log_line_format(line)
        if found is not None:
            return Container.ZTUNNEL_JSON if found == "json" else Container.ZTUNNEL
    return NEED_MORE if not complete and not final else None


def _end_of_first_value(text: bytes | bytearray, start: int) -> int | None:
    """Where the JSON object at *start* closes; -1 if a line ends first, None if the text does."""
    depth = 0
    position = start
    while True:
        found = _JSON_STRUCTURE.search(text, position)
        if found is None:
            return None
        token = found.group()
        position = found.end()
        if token == b"\n":
            return -1
        if token == b'"':
            string_end = _end_of_string(text, position)
            if string_end is None:
                return None
            position = string_end
        elif token in (b"{", b"["):
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return position


def _end_of_string(text: bytes | bytearray, position: int) -> int | None:
    """The position after the closing quote of the string whose content starts at *position*."""
    while True:
        found = _JSON_STRING_END.search(text, position)
        if found is None:
            return None
        if found.group() == b'"':
            return found.end()
        position = found.end() + 1  # skip the escaped character


class _Fit(NamedTuple):
    """How data fits a wire structure.

    ``valid``: consistent as far as the data goes (the end may cut the last frame or field);
    ``exact``: also ends exactly on a boundary; ``first_frame_complete``: the first frame
    lies wholly in the data.
    """

    valid: bool
    exact: bool = False
    first_frame_complete: bool = False


_NO_FIT: Final = _Fit(valid=False)

# A frame header parser: ``(header size, body size, body is a plain message)``, None if the
# data ends inside the header; ValueError if the header is malformed.
_HeaderParser = Callable[[Buffer, int], tuple[int, int, bool] | None]


def _varint_header(data: Buffer, position: int) -> tuple[int, int, bool] | None:
    varint = parse_varint(data, position)
    if varint is None:
        return None
    size, prefix_size = varint
    return prefix_size, size, True


def _grpc_header(data: Buffer, position: int) -> tuple[int, int, bool] | None:
    if len(data) - position < _GRPC_HEADER_SIZE:
        return None
    flag = data[position]
    if flag not in (0, 1):
        raise ValueError("not a gRPC compressed flag")
    size = int.from_bytes(data[position + 1 : position + _GRPC_HEADER_SIZE], "big")
    return _GRPC_HEADER_SIZE, size, flag == 0  # a compressed body cannot be checked


def _frames_fit(data: Buffer, parse_header: _HeaderParser) -> _Fit:
    """How *data* fits length-prefixed frames, each holding a StreamAccessLogsMessage.

    A cut header is valid only after a whole frame: one frame must be seen to call the
    rest a truncated stream.
    """
    view = memoryview(data)
    position = 0
    first_frame_complete = False
    while position < len(view):
        try:
            header = parse_header(view, position)
        except ValueError:
            return _NO_FIT
        if header is None:
            return _Fit(valid=position > 0, first_frame_complete=first_frame_complete)
        header_size, size, checkable = header
        body_start = position + header_size
        body_end = min(body_start + size, len(view))
        if checkable and not _message_fits(view, body_start, body_end).valid:
            return _NO_FIT
        if position == 0:
            first_frame_complete = body_end == body_start + size
        position = body_start + size
    return _Fit(
        valid=position > 0,
        exact=position == len(view),
        first_frame_complete=first_frame_complete,
    )


def _message_fits(data: Buffer, start: int, end: int) -> _Fit:
    """How ``data[start:end]`` fits the top-level fields of a StreamAccessLogsMessage."""
    position = start
    while position < end:
        if data[position] not in _MESSAGE_TAGS:
            return _NO_FIT
        try:
            varint = parse_varint(data, position + 1, end)
        except ValueError:
            return _NO_FIT
        if varint is None:
            return _Fit(valid=True)
        size, prefix_size = varint
        position += 1 + prefix_size + size
    return _Fit(valid=True, exact=position == end)
