"""Compressed inputs: which compression an input's first bytes name, and a stream that undoes it.

:func:`~meshals.read` undoes one layer of gzip (RFC 1952, the standard library's :mod:`zlib`)
or Zstandard (RFC 8878, the ``zstandard`` package of the ``zstd`` extra) before it detects the
container. The compression is recognised by its magic bytes, never by the file name, so a
pipe or a file without a suffix reads as well. Several members (``cat a.gz b.gz``) or frames
are read one after another, as ``gzip -d`` and ``zstd -d`` do.

The data is decompressed as it is read, a step at a time, so memory stays bounded whatever the
ratio: a gzip step stops at 1 MiB of output, a zstd step reads so little input (512 bytes)
that even the densest frame cannot expand it beyond 16 MiB. An input that ends inside a member
or frame, or whose data is corrupt, raises :class:`~meshals.DecodeError` naming the input; the
bytes before the damage have been returned already.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import BinaryIO, Final, Literal, Protocol

from meshals._errors import DecodeError
from meshals._optional import require

__all__: list[str] = []

#: A compression :func:`~meshals.read` undoes itself.
Compression = Literal["gzip", "zstd"]

_MAGIC: Final[tuple[tuple[bytes, Compression], ...]] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
#: The most bytes :func:`compression_of` looks at.
MAGIC_SIZE: Final = 4
# Compressions and archives meshals does not undo, named so that the error can say what the
# input is.
_OTHER_MAGIC: Final[tuple[tuple[re.Pattern[bytes], str], ...]] = (
    (re.compile(rb"\xfd7zXZ\x00"), "xz-compressed"),
    (
        re.compile(rb"BZh[1-9](?:\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)"),
        "bzip2-compressed",
    ),
    (re.compile(rb"\x04\x22\x4d\x18"), "lz4-compressed"),
    (re.compile(rb"PK\x03\x04"), "a zip archive"),
)
# zlib's window bits for a gzip header and trailer (and so the CRC-32 check) around deflate.
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
# How much compressed input is read at once, and the most one step decompresses. zlib stops at
# a given output size; zstandard's decompression objects cannot, so their input slice is small:
# Zstandard (with RLE blocks) expands at most about 32768 times, to 16 MiB per 512 bytes.
_GZIP_SLICE: Final = 64 * 1024
_GZIP_STEP_OUTPUT: Final = 1024 * 1024
_ZSTD_SLICE: Final = 512


def compression_of(prefix: bytes | bytearray) -> Compression | None:
    """The compression whose magic bytes *prefix* starts with, or None.

    No ALS container or L4 log can start with these bytes (``1f 8b`` and ``28 b5`` are
    neither a field tag nor text), so the test cannot misread an uncompressed capture.

    >>> compression_of(b"\\x1f\\x8b\\x08\\x00"), compression_of(b'{"identifier"')
    ('gzip', None)
    """
    for magic, compression in _MAGIC:
        if prefix.startswith(magic):
            return compression
    return None


def unsupported_compression(prefix: bytes | bytearray) -> str | None:
    """What *prefix* is, if it starts like a compression or archive format that meshals does
    not undo (``"xz-compressed"``, ``"bzip2-compressed"``, ``"lz4-compressed"``, ``"a zip
    archive"``), or None."""
    for magic, name in _OTHER_MAGIC:
        if magic.match(prefix):
            return name
    return None


class _Step(Protocol):
    """One member's or frame's decompression: ``step(data)`` is ``(output, rest, ended)``.

    *rest* is the input not consumed yet (held back by an output limit, or after the end of
    the member or frame); *ended* says the member or frame ended. Raises the library's error
    on corrupt data.
    """

    def __call__(self, data: bytes, /) -> tuple[bytes, bytes, bool]: ...


def _gzip_member() -> _Step:
    member = zlib.decompressobj(_GZIP_WBITS)

    def step(data: bytes) -> tuple[bytes, bytes, bool]:
        output = member.decompress(data, _GZIP_STEP_OUTPUT)
        if member.eof:
            return output, member.unused_data, True
        return output, member.unconsumed_tail, False

    return step


def _zstd_frames(source: str) -> tuple[Callable[[], _Step], type[Exception]]:
    """A new frame's decompression, and the error zstandard raises on corrupt data."""
    zstandard = require(
        "zstandard", extra="zstd", feature=f"{source}: reading zstd-compressed input"
    )
    decompressor = zstandard.ZstdDecompressor()

    def frame() -> _Step:
        current = decompressor.decompressobj()

        def step(data: bytes) -> tuple[bytes, bytes, bool]:
            output = current.decompress(data)
            if current.eof:
                return output, current.unused_data, True
            return output, b"", False

        return step

    error: type[Exception] = zstandard.ZstdError
    return frame, error


class Decompressing:
    """The decompressed bytes of a compressed input, read in order with :meth:`read`.

    Args:
        compression: the input's compression.
        raw: the compressed input, from its first byte (its magic).
        source: the input's name, for errors.

    Raises:
        MissingDependencyError: *compression* is ``"zstd"`` and ``zstandard`` is missing.
    """

    def __init__(self, compression: Compression, raw: _Readable, *, source: str) -> None:
        self.compression = compression
        self.source = source
        self._raw = raw
        self._pending = bytearray()  # decompressed, not yet returned
        self._rest = b""  # compressed, not yet decompressed
        self._in_member = False  # compressed bytes of a member or frame whose end is not seen
        self._at_end = False
        self._error: DecodeError | None = None  # raised once _pending is empty
        self._new_member: Callable[[], _Step]
        self._errors: tuple[type[Exception], ...]
        if compression == "gzip":
            self._slice, self._errors, self._new_member = _GZIP_SLICE, (zlib.error,), _gzip_member
        else:
            self._new_member, error = _zstd_frames(source)
            self._slice, self._errors = _ZSTD_SLICE, (error,)
        self._step = self._new_member()

    def read(self, size: int) -> bytes:
        """Up to *size* decompressed bytes; ``b""`` at the end of the input.

        Raises:
            DecodeError: the input ends inside a member or frame, or its data is corrupt;
                only once the bytes decompressed before the damage have been returned.
            OSError: reading the input failed.
        """
        while len(self._pending) < size and not self._at_end and self._error is None:
            data = self._rest or self._raw.read(self._slice)
            if not data:
                if self._in_member and self._drain():
                    continue
                self._at_end = True
                if self._in_member:
                    self._error = DecodeError(
                        f"the {self.compression}-compressed data is cut off: the input ends"
                        " inside a compressed block (a truncated file?)",
                        source=self.source,
                    )
                break
            try:
                self._decompress(data)
            except self._errors as exc:
                self._error = DecodeError(
                    f"corrupt {self.compression}-compressed data: {exc}", source=self.source
                )
        if not self._pending and self._error is not None:
            raise self._error
        chunk = bytes(self._pending[:size])
        del self._pending[:size]
        return chunk

    def _drain(self) -> bool:
        """At the end of the input, whether the member or frame still had output held back.

        zlib stops at the output limit and may hold the last output (and the member's end)
        even once all its input is taken; asking with no more input gives it.
        """
        try:
            output, _, ended = self._step(b"")
        except self._errors:
            return False  # nothing more to give: the input is cut off
        self._pending += output
        if ended:
            self._in_member = False
            self._step = self._new_member()
        return bool(output) or ended

    def _decompress(self, data: bytes) -> None:
        if not self._in_member and self.compression == "gzip":
            # gzip -d ignores zero bytes after a member (tape padding); so does this.
            data = data.lstrip(b"\x00")
            if not data:
                self._rest = b""
                return
        self._in_member = True
        output, self._rest, ended = self._step(data)
        self._pending += output
        if ended:  # what follows starts the next member or frame
            self._in_member = False
            self._step = self._new_member()


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Prefixed:
    """*head* and then the rest of *stream*: gives back the bytes detection has already read."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int) -> bytes:
        """Up to *size* bytes: the head's first, then the stream's."""
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._stream.read(size)
