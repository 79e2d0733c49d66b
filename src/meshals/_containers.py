"""Container formats of ALS captures, their detection, and :func:`read`: files to messages.

:func:`read` and the CLI are the only places in meshals that touch files. Detection
(:func:`detect_container`) and framing (:mod:`meshals._framing`) are sans-IO; :func:`read`
reads chunks, feeds them through, and hands each frame to :func:`~meshals.decode_json` or
:func:`~meshals.decode_binary`.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Generator, Iterator
from types import TracebackType
from typing import BinaryIO, Final, Literal, NamedTuple

from ._binary import decode_binary
from ._errors import DecodeError, Diagnostic
from ._framing import (
    DEFAULT_MAX_FRAME_SIZE,
    END_OF_STREAM,
    NEED_DATA,
    Buffer,
    DelimitedFramer,
    Framer,
    GrpcFramer,
    JsonLinesFramer,
    WholeFramer,
    parse_varint,
)
from ._json import decode_json
from ._model import AlsMessage

__all__ = ["Container", "Reader", "detect_container", "read"]

DEFAULT_MAX_MESSAGE_SIZE: Final = DEFAULT_MAX_FRAME_SIZE
_CHUNK_SIZE: Final = 64 * 1024


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


_TEXT_CONTAINERS: Final = frozenset({Container.JSON, Container.JSON_LINES})
_STREAM_CONTAINERS: Final = frozenset({Container.JSON_LINES, Container.DELIMITED, Container.GRPC})
_FRAMERS: Final[dict[Container, type[Framer]]] = {
    Container.JSON: WholeFramer,
    Container.JSON_LINES: JsonLinesFramer,
    Container.BINARY: WholeFramer,
    Container.DELIMITED: DelimitedFramer,
    Container.GRPC: GrpcFramer,
}


class _NeedData(enum.Enum):
    NEED_MORE = "NEED_MORE"


NEED_MORE: Final = _NeedData.NEED_MORE
"""Returned by :func:`detect_container` when the prefix is too short to decide."""

Detection = Container | None | Literal[_NeedData.NEED_MORE]

# --- detection -------------------------------------------------------------------------------

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
       lines), or a first value spanning lines, or text after it on its line or on the next
       non-blank line that does not start with ``{``: :attr:`Container.JSON`. A first line that
       holds one complete object followed by a line starting with ``{``:
       :attr:`Container.JSON_LINES`. A single line: JSON Lines for a ``.jsonl``/``.ndjson``
       name, else JSON.
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
    """
    text_start = _skip_whitespace(prefix, len(_UTF8_BOM) if prefix.startswith(_UTF8_BOM) else 0)
    if text_start == len(prefix):
        return None if final else NEED_MORE
    if prefix[0] in (0x00, 0x01) and _frames_fit(prefix, _grpc_header).valid:
        return Container.GRPC
    starts_like_text = prefix[text_start] in b"{#/"
    if starts_like_text and not _NON_TEXT_BYTE.search(prefix):
        return _detect_text(prefix, text_start, name=name, final=final)
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
    raise DecodeError(
        "not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
        f" it starts with bytes {bytes(prefix[:8]).hex(' ')}",
        source=name,
    )


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
    if line_end < 0:
        return one_line if final else NEED_MORE
    next_line = _skip_whitespace(prefix, line_end)
    if next_line == len(prefix):
        return one_line if final else NEED_MORE
    return Container.JSON_LINES if prefix[next_line] == ord("{") else Container.JSON


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


# --- reading ---------------------------------------------------------------------------------


class Reader(Iterator[AlsMessage]):
    """The messages of one input, read lazily; what :func:`read` returns.

    Iterate over it for the messages in order. ``container`` is the container given or
    detected (None until the first message is requested, and for an empty input);
    ``diagnostics`` collects the messages skipped in lenient mode, as they are skipped (each
    message's own tolerated problems stay in its ``AlsMessage.diagnostics``). Use it as a
    context manager, or call :meth:`close`, to close a file that :func:`read` opened
    before the end; at the end it is closed anyway.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        source: str,
        container: Container | None,
        strict: bool,
        max_message_size: int,
        owns_stream: bool,
    ) -> None:
        self.source = source
        self.container = container
        self.strict = strict
        self.max_message_size = max_message_size
        self.diagnostics: list[Diagnostic] = []
        self._stream = stream
        self._owns_stream = owns_stream
        self._messages = self._generate()

    def __iter__(self) -> Reader:
        return self

    def __next__(self) -> AlsMessage:
        return next(self._messages)

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; close the file if :func:`read` opened it."""
        self._messages.close()
        if self._owns_stream:
            self._stream.close()

    def _generate(self) -> Generator[AlsMessage, None, None]:
        try:
            yield from self._read_all()
        finally:
            if self._owns_stream:
                self._stream.close()

    def _read_all(self) -> Iterator[AlsMessage]:
        head, at_eof = self._read_head()
        container = self.container
        if container is None:
            return
        framer = _FRAMERS[container](max_frame_size=self.max_message_size, source=self.source)
        if head:
            framer.receive_data(head)
        if at_eof:
            framer.receive_data(b"")
        del head
        while True:
            frame = framer.next_frame()
            if frame is NEED_DATA:
                framer.receive_data(self._read_chunk(_CHUNK_SIZE))
            elif frame is END_OF_STREAM:
                return
            else:
                message = self._decode(frame, framer, container)
                if message is not None:
                    yield message

    def _read_head(self) -> tuple[bytearray, bool]:
        """The first bytes of the input, enough to detect its container if none was given."""
        head = bytearray()
        # A whole chunk (short reads from pipes add up): detection needs more than a byte or two.
        at_eof = self._fill(head, _CHUNK_SIZE)
        if self.container is not None:
            return head, at_eof
        while True:
            final = at_eof or len(head) >= self.max_message_size
            detected = detect_container(head, name=self.source, final=final)
            if detected is not NEED_MORE:
                self.container = detected
                return head, at_eof
            # Double the head so that re-scanning it each time stays linear overall.
            at_eof = self._fill(head, 2 * len(head))

    def _fill(self, buffer: bytearray, size: int) -> bool:
        """Read into *buffer* until it holds *size* bytes; whether the input ended first."""
        while len(buffer) < size:
            chunk = self._read_chunk(size - len(buffer))
            if not chunk:
                return True
            buffer += chunk
        return False

    def _read_chunk(self, size: int) -> bytes:
        chunk = self._stream.read(size)
        if not isinstance(chunk, bytes):
            raise TypeError(f"{self.source}: read() needs a binary file, opened with 'rb'")
        return chunk

    def _decode(self, frame: bytes, framer: Framer, container: Container) -> AlsMessage | None:
        """Decode one frame; in lenient mode skip a bad message of a stream, recording why."""
        index = framer.frame_index - 1
        text = container in _TEXT_CONTAINERS
        if text:
            frame = frame.removeprefix(_UTF8_BOM)
            if not frame.strip():
                return None  # a whitespace-only JSON file holds no message
        decode = decode_json if text else decode_binary
        try:
            return decode(frame, source=self.source, index=index, strict=self.strict)
        except DecodeError as exc:
            located = exc if exc.message_index is not None else exc.relocated(message_index=index)
            if self.strict or container not in _STREAM_CONTAINERS:
                if located is exc:
                    raise
                raise located from exc
            where = f"line {framer.line_number}: " if isinstance(framer, JsonLinesFramer) else ""
            reason = f"{where}message skipped: {located.reason}"
            self.diagnostics.append(Diagnostic(location=located.location, reason=reason))
            return None


def read(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    container: Container | None = None,
    strict: bool = False,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> Reader:
    """Read the ALS messages of a file (or binary file object), lazily and in order.

    The container is detected from the content (see :func:`detect_container`) unless
    *container* is given. The input is read in 64 KiB chunks and only one message is held at
    a time, so memory follows the largest message, not the file. Each message is decoded with
    ``source`` (the path, or the file object's name) and ``index`` (its position in the
    file from 0, counting skipped messages).

    In lenient mode (the default) a message of a stream (JSON Lines, delimited, gRPC) that
    fails to decode is skipped and recorded in the returned reader's ``diagnostics``; with
    *strict* it raises. An empty or whitespace-only input yields no messages.

    Args:
        source: a path, or a file object opened in binary mode (left open).
        container: the container to assume instead of detecting it.
        strict: raise on anything lenient decoding would tolerate.
        max_message_size: the largest message (or JSON line) accepted, in bytes; also the
            most read ahead when detection needs a long first line.

    Returns:
        A :class:`Reader`: an iterator of :class:`~meshals.AlsMessage` that also carries the
        container and the diagnostics.

    Raises:
        OSError: the file cannot be opened (at once) or read (while iterating).
        DecodeError: while iterating, the input is in no known container, is truncated or
            malformed, or a message in it is invalid (see above for lenient mode).
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        stream: BinaryIO = open(path, "rb")  # noqa: SIM115 -- the Reader closes it
        return Reader(
            stream,
            source=path,
            container=container,
            strict=strict,
            max_message_size=max_message_size,
            owns_stream=True,
        )
    name = getattr(source, "name", None)
    return Reader(
        source,
        source=name if isinstance(name, str) else "<stream>",
        container=container,
        strict=strict,
        max_message_size=max_message_size,
        owns_stream=False,
    )
