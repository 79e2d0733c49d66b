"""Sans-IO framers: split a byte stream into the serialized messages a container holds.

Each framer is fed bytes with :meth:`~Framer.receive_data` (an empty chunk means end of
input) and asked for frames with :meth:`~Framer.next_frame`, which returns the frame's bytes,
:data:`NEED_DATA` (feed more) or :data:`END_OF_STREAM` (input ended after the last frame).
No framer reads a file; :func:`meshals.read` does that and feeds them.

A declared frame length is checked against ``max_frame_size`` as soon as its prefix is
parsed, before any of the frame is buffered, so a prefix claiming 4 GiB costs nothing. A
framer holds at most one frame plus the caller's last chunk: memory follows the largest
frame, not the input. Truncated or malformed input raises :class:`~meshals.DecodeError`
naming the frame index (``message N``) and the byte offset.

Formats:

- :class:`DelimitedFramer`: varint length + message, repeated (protobuf's ``writeDelimitedTo``).
- :class:`GrpcFramer`: gRPC message framing, a 1-byte compressed flag and a 4-byte big-endian
  length before each message (gRPC's PROTOCOL-HTTP2 "Length-Prefixed-Message").
- :class:`LineFramer`: each non-blank line of a text, LF or CRLF line ends (ztunnel and
  Kmesh logs); :class:`JsonLinesFramer` is the same for one JSON message per line.
- :class:`WholeFramer`: the entire input is one frame (one JSON or binary message).
"""

from __future__ import annotations

import abc
import enum
from typing import Final, Literal

from meshals._errors import DecodeError

__all__: list[str] = []

DEFAULT_MAX_FRAME_SIZE: Final = 64 * 1024 * 1024


class _Signal(enum.Enum):
    NEED_DATA = "NEED_DATA"
    END_OF_STREAM = "END_OF_STREAM"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Signal.NEED_DATA
"""Returned by ``next_frame()`` when the next frame is not complete yet: feed more bytes."""
END_OF_STREAM: Final = _Signal.END_OF_STREAM
"""Returned by ``next_frame()`` once input has ended and every frame has been returned."""

# What the wire-format helpers read: bytes, a bytearray buffer or a memoryview slice of one.
Buffer = bytes | bytearray | memoryview
FrameOrSignal = bytes | Literal[_Signal.NEED_DATA, _Signal.END_OF_STREAM]

_MAX_VARINT_BYTES = 10  # 64 bits at 7 bits per byte
_GRPC_HEADER_SIZE = 5
_UTF8_BOM = b"\xef\xbb\xbf"


class Framer(abc.ABC):
    """What every framer shares: the input buffer, end of input, counters and the size limit.

    ``frame_index`` is the number of frames returned so far (the index of the next one) and
    ``offset`` the number of input bytes consumed, both from the start of the input.
    """

    def __init__(
        self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, source: str = "<bytes>"
    ) -> None:
        if max_frame_size < 0:
            raise ValueError(f"max_frame_size must not be negative, got {max_frame_size}")
        self.max_frame_size = max_frame_size
        self.source = source
        self.frame_index = 0
        self.offset = 0
        self._buffer = bytearray()
        self._eof = False

    def receive_data(self, data: bytes | bytearray) -> None:
        """Add *data* to the input; ``b""`` marks the end of input.

        Raises:
            RuntimeError: data arrived after the end of input was signalled.
        """
        if self._eof:
            if data:
                raise RuntimeError("received data after the end of input")
            return
        if data:
            self._buffer += data
        else:
            self._eof = True

    @abc.abstractmethod
    def next_frame(self) -> FrameOrSignal:
        """The next complete frame, :data:`NEED_DATA` or :data:`END_OF_STREAM`.

        Raises:
            DecodeError: the input is malformed, truncated or declares an oversized frame.
        """

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a frame."""
        return len(self._buffer)

    def _take(self, header_size: int, body_size: int) -> bytes:
        """Consume a header and return the body after it as the next frame."""
        with memoryview(self._buffer) as view:  # one copy of the body, not two
            frame = bytes(view[header_size : header_size + body_size])
        # Deleting a bytearray's head only moves its start pointer: no quadratic copying.
        del self._buffer[: header_size + body_size]
        self.offset += header_size + body_size
        self.frame_index += 1
        return frame

    def _error(self, reason: str) -> DecodeError:
        return DecodeError(reason, source=self.source, message_index=self.frame_index)

    def _check_size(self, size: int) -> None:
        if size > self.max_frame_size:
            raise self._error(
                f"frame at byte offset {self.offset} declares {size} bytes,"
                f" more than the maximum of {self.max_frame_size}"
            )

    def _end_or_need_data(self) -> FrameOrSignal:
        return END_OF_STREAM if self._eof else NEED_DATA


def parse_varint(data: Buffer, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """The varint at ``data[start:end]`` as ``(value, size in bytes)``; None if it ends inside.

    Raises:
        ValueError: the varint runs over 10 bytes or its value does not fit in 64 bits.
    """
    available = (len(data) if end is None else end) - start
    value = 0
    for position in range(min(available, _MAX_VARINT_BYTES)):
        byte = data[start + position]
        value |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            if value >= 1 << 64:
                raise ValueError("varint length prefix exceeds 64 bits")
            return value, position + 1
    if available >= _MAX_VARINT_BYTES:
        raise ValueError("varint length prefix is longer than 10 bytes")
    return None


class DelimitedFramer(Framer):
    """Frames of a varint-length-delimited stream: ``varint(size) message``, repeated."""

    def next_frame(self) -> FrameOrSignal:
        try:
            prefix = parse_varint(self._buffer)
        except ValueError as exc:
            raise self._error(f"{exc} at byte offset {self.offset}") from None
        if prefix is None:
            if self._eof and self._buffer:
                raise self._error(
                    f"input ends inside a varint length prefix at byte offset {self.offset}"
                )
            return self._end_or_need_data()
        size, prefix_size = prefix
        self._check_size(size)
        if len(self._buffer) - prefix_size >= size:
            return self._take(prefix_size, size)
        if self._eof:
            raise self._error(
                f"input ends inside the frame at byte offset {self.offset}: it declares"
                f" {size} bytes, {len(self._buffer) - prefix_size} remain"
            )
        return NEED_DATA


class GrpcFramer(Framer):
    """Frames of gRPC message framing: ``flag(1) length(4, big-endian) message``, repeated.

    A set compressed flag is an error: the compression algorithm travels in the
    ``grpc-encoding`` header, which a captured stream of frames no longer has.
    """

    def next_frame(self) -> FrameOrSignal:
        if len(self._buffer) < _GRPC_HEADER_SIZE:
            if self._eof and self._buffer:
                raise self._error(
                    f"input ends inside a gRPC frame header at byte offset {self.offset}"
                    f" ({len(self._buffer)} of {_GRPC_HEADER_SIZE} bytes)"
                )
            return self._end_or_need_data()
        flag = self._buffer[0]
        if flag == 1:
            raise self._error(
                f"gRPC frame at byte offset {self.offset} is compressed;"
                " compressed messages are not supported"
            )
        if flag != 0:
            raise self._error(
                f"gRPC frame at byte offset {self.offset} has compressed flag {flag:#04x},"
                " not 0 or 1"
            )
        size = int.from_bytes(self._buffer[1:_GRPC_HEADER_SIZE], "big")
        self._check_size(size)
        if len(self._buffer) - _GRPC_HEADER_SIZE >= size:
            return self._take(_GRPC_HEADER_SIZE, size)
        if self._eof:
            raise self._error(
                f"input ends inside the gRPC frame at byte offset {self.offset}: it declares"
                f" {size} bytes, {len(self._buffer) - _GRPC_HEADER_SIZE} remain"
            )
        return NEED_DATA


class LineFramer(Framer):
    """Frames of a line-oriented text: each non-blank line, without its LF or CRLF.

    Blank (whitespace-only) lines are skipped and do not count as frames; a UTF-8 byte-order
    mark at the very start is dropped. ``line_number`` is the 1-based line of the last frame.
    A line longer than ``max_frame_size`` is an error as soon as that many bytes arrive
    without a line end.
    """

    def __init__(
        self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, source: str = "<bytes>"
    ) -> None:
        super().__init__(max_frame_size=max_frame_size, source=source)
        self.line_number = 0
        self._scanned = 0  # bytes of the buffer known to hold no line end

    def next_frame(self) -> FrameOrSignal:
        while True:
            line = self._next_line()
            if not isinstance(line, bytes):
                return line
            if self.offset == len(line) and line.startswith(_UTF8_BOM):
                line = line[len(_UTF8_BOM) :]  # the first line
            content = line.rstrip(b"\r\n")
            if content.strip():
                self.frame_index += 1
                return content

    def _next_line(self) -> FrameOrSignal:
        """The next line with its line end, counting it as consumed but not as a frame."""
        end = self._buffer.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(self._buffer)
            # One byte of slack: a CR may still be waiting for its LF.
            if self._scanned > self.max_frame_size + 1:
                raise self._error(
                    f"line {self.line_number + 1} at byte offset {self.offset} is longer"
                    f" than the maximum of {self.max_frame_size} bytes"
                )
            if not self._eof:
                return NEED_DATA
            if not self._buffer:
                return END_OF_STREAM
            end = len(self._buffer) - 1  # a last line without a line end
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        self._scanned = 0
        self.offset += len(line)
        self.line_number += 1
        if len(line.rstrip(b"\r\n")) > self.max_frame_size:
            raise self._error(
                f"line {self.line_number} at byte offset {self.offset - len(line)} is longer"
                f" than the maximum of {self.max_frame_size} bytes"
            )
        return line


class JsonLinesFramer(LineFramer):
    """Frames of JSON Lines: one JSON message per non-blank line (see :class:`LineFramer`)."""


class WholeFramer(Framer):
    """The whole input as one frame, returned at end of input (nothing for empty input).

    Raises DecodeError as soon as more than ``max_frame_size`` bytes arrive.
    """

    def receive_data(self, data: bytes | bytearray) -> None:
        super().receive_data(data)
        if len(self._buffer) > self.max_frame_size:
            raise self._error(
                f"the message is longer than the maximum of {self.max_frame_size} bytes"
            )

    def next_frame(self) -> FrameOrSignal:
        if not self._eof:
            return NEED_DATA
        if not self._buffer:
            return END_OF_STREAM
        return self._take(0, len(self._buffer))
