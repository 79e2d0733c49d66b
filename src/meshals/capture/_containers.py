"""Reading captures and L4 logs: :func:`read` and its lazy :class:`Reader`.

:func:`read` and the CLI are the only places in meshals that touch files. Detection
(:func:`detect_container`, :mod:`meshals.capture._detect`) and framing
(:mod:`meshals.capture._framing`) are sans-IO; :func:`read` reads chunks, feeds them through,
and hands each frame to :func:`~meshals.decode_json` or :func:`~meshals.decode_binary` (ALS),
or each line to :func:`~meshals.codec.parse_l4_line` (ztunnel and Kmesh connection logs,
Istio ambient mode's stand-in for ALS).

What :func:`read` yields depends on the container, one :data:`Record` at a time: an
:class:`~meshals.AlsMessage` per message of an ALS container, an
:class:`~meshals.L4Connection` per connection line of an L4 log. Dispatch on the type
(``isinstance``); :func:`~meshals.analyze` accepts both.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import BinaryIO, Final

from meshals._errors import DecodeError, Diagnostic, DiagnosticKind
from meshals._values import FrozenMap
from meshals.codec._binary import decode_binary
from meshals.codec._json import decode_json
from meshals.codec._l4_lines import parse_l4_line
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.model._als import AlsMessage
from meshals.model._l4 import L4Connection, LineSkip

from ._compression import Compression, Decompressing, Prefixed, compression_of
from ._detect import _UTF8_BOM, NEED_MORE, Container, detect_container
from ._framing import (
    DEFAULT_MAX_FRAME_SIZE,
    END_OF_STREAM,
    NEED_DATA,
    DelimitedFramer,
    Framer,
    GrpcFramer,
    JsonLinesFramer,
    LineFramer,
    WholeFramer,
)

__all__ = ["Reader", "Record", "read"]

#: What :func:`read` yields: an ALS message, or one connection of an L4 log.
Record = AlsMessage | L4Connection

DEFAULT_MAX_MESSAGE_SIZE: Final = DEFAULT_MAX_FRAME_SIZE
_CHUNK_SIZE: Final = 64 * 1024

_TEXT_CONTAINERS: Final = frozenset({Container.JSON, Container.JSON_LINES})
_STREAM_CONTAINERS: Final = frozenset({Container.JSON_LINES, Container.DELIMITED, Container.GRPC})
_L4_CONTAINERS: Final = frozenset({Container.ZTUNNEL, Container.ZTUNNEL_JSON})
_FRAMERS: Final[dict[Container, type[Framer]]] = {
    Container.JSON: WholeFramer,
    Container.JSON_LINES: JsonLinesFramer,
    Container.BINARY: WholeFramer,
    Container.DELIMITED: DelimitedFramer,
    Container.GRPC: GrpcFramer,
    Container.ZTUNNEL: LineFramer,
    Container.ZTUNNEL_JSON: LineFramer,
}


class Reader(Iterator[Record]):
    """The records of one input, read lazily; what :func:`read` returns.

    Iterate over it for the records in order: :class:`~meshals.AlsMessage` from an ALS
    container, :class:`~meshals.L4Connection` from an L4 log (:attr:`Container.ZTUNNEL`,
    :attr:`Container.ZTUNNEL_JSON`); :meth:`messages` gives them typed as ALS messages, for
    code that reads only ALS. ``container`` is the container given or detected (None until
    the first record is requested, and for an empty input); ``compression`` is ``"gzip"`` or
    ``"zstd"`` when the input is compressed (known once the first record is requested, None
    for an uncompressed input); ``diagnostics`` collects the messages and L4 lines skipped in
    lenient mode, as they are skipped (each message's own tolerated problems stay in its
    ``AlsMessage.diagnostics``); :attr:`skipped_lines` counts the lines of an L4 log that are
    no entries. Use it as a context manager, or call :meth:`close`, to close a file that
    :func:`read` opened before the end; at the end it is
    closed anyway.
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
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.source = source
        self.container = container
        self.compression: Compression | None = None
        self.strict = strict
        self.max_message_size = max_message_size
        self.limits = limits
        self.diagnostics: list[Diagnostic] = []
        self._skipped_lines: Counter[LineSkip] = Counter()
        self._stream = stream
        # Where the input's bytes come from: the stream, or a decompressor reading it.
        self._input: Decompressing | BinaryIO = stream
        # Why the compressed data broke off, once it has: the input ends there.
        self._input_error: DecodeError | None = None
        self._owns_stream = owns_stream
        # The file read() opened, to read it again from the start (reopen()); None for a stream.
        self._path: str | None = None
        self._messages = self._generate()

    def __iter__(self) -> Reader:
        return self

    def __next__(self) -> Record:
        return next(self._messages)

    def reopen(self) -> Reader | None:
        """A new reader of the same file from its start, with the same settings; None when
        this one reads a stream it was given (a stream cannot be read twice).

        For two passes over an input (naming workloads first, then analysing): this reader
        is left as it is.

        Raises:
            OSError: the file cannot be opened again.
        """
        if self._path is None:
            return None
        again = read(
            self._path,
            container=self.container,
            strict=self.strict,
            max_message_size=self.max_message_size,
            limits=self.limits,
            name=self.source,
        )
        return again

    def messages(self) -> Iterator[AlsMessage]:
        """The records still to come, typed as ALS messages: for code that reads only ALS.

        Returns:
            An iterator over the remaining :class:`~meshals.AlsMessage` records.

        Raises:
            DecodeError: (while iterating) the input is an L4 log: it holds connections,
                not ALS messages.
        """
        for record in self:
            if isinstance(record, L4Connection):
                raise DecodeError(
                    "an L4 connection log, not ALS messages (iterate the reader for its"
                    " L4Connection records)",
                    source=self.source,
                    message_index=record.index,
                )
            yield record

    @property
    def skipped_lines(self) -> FrozenMap[LineSkip, int]:
        """Counts of the L4 log lines read so far that are no entries, by kind.

        In :class:`~meshals.model.LineSkip` order, kinds never seen left out; empty for ALS.
        """
        counts = self._skipped_lines
        return FrozenMap({kind: counts[kind] for kind in LineSkip if counts[kind]})

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

    def _generate(self) -> Generator[Record, None, None]:
        try:
            yield from self._read_all()
        finally:
            if self._owns_stream:
                self._stream.close()

    def _read_all(self) -> Iterator[Record]:
        head, at_eof = self._read_head()
        container = self.container
        if container is None:
            if self._input_error is not None:
                raise self._input_error
            return
        framer = _FRAMERS[container](max_frame_size=self.max_message_size, source=self.source)
        if head:
            framer.receive_data(head)
        if at_eof and self._input_error is None:
            framer.receive_data(b"")
        del head
        while True:
            try:
                frame = framer.next_frame()
                if frame is NEED_DATA:
                    if self._input_error is None:
                        chunk = self._read_chunk(_CHUNK_SIZE)
                        if chunk or self._input_error is None:
                            framer.receive_data(chunk)
                            continue
                    # The compressed data broke off: the frames before it were whole, this
                    # one is not (the framer would call it truncated; the cause is this).
                    raise self._input_error
            except DecodeError as exc:
                # A stream cut off (or broken) mid-frame, or its compressed data: in lenient
                # mode keep what came before it and say where the rest was lost.
                if self.strict or container not in _STREAM_CONTAINERS:
                    raise
                reason = f"the rest of the stream is skipped: {exc.reason}"
                self.diagnostics.append(
                    Diagnostic(
                        kind=DiagnosticKind.PART_SKIPPED, location=exc.location, reason=reason
                    )
                )
                return
            if frame is END_OF_STREAM:
                return
            if container in _L4_CONTAINERS:
                record: Record | None = self._parse_l4(frame, framer)
            else:
                record = self._decode(frame, framer, container)
            if record is not None:
                yield record

    def _read_head(self) -> tuple[bytearray, bool]:
        """The first bytes of the input, decompressed, enough to detect its container if none
        was given; and whether they are all there is."""
        head = bytearray()
        # A whole chunk (short reads from pipes add up): detection needs more than a byte or two.
        at_eof = self._fill(head, _CHUNK_SIZE)
        compression = compression_of(head)
        if compression is not None:
            self.compression = compression
            self._input = Decompressing(
                compression, Prefixed(bytes(head), self._stream), source=self.source
            )
            head = bytearray()
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
        """Read into *buffer* until it holds *size* bytes; whether the input ended (or broke
        off) first."""
        while len(buffer) < size:
            chunk = self._read_chunk(size - len(buffer))
            if not chunk:
                return True
            buffer += chunk
        return False

    def _read_chunk(self, size: int) -> bytes:
        """Up to *size* bytes of the input; ``b""`` at its end, or where its compressed data
        broke off (then ``_input_error`` says why)."""
        try:
            chunk = self._input.read(size)
        except DecodeError as exc:  # only a decompressor raises it
            self._input_error = exc
            return b""
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
            return decode(
                frame, source=self.source, index=index, strict=self.strict, limits=self.limits
            )
        except DecodeError as exc:
            located = exc if exc.message_index is not None else exc.relocated(message_index=index)
            if self.strict or container not in _STREAM_CONTAINERS:
                if located is exc:
                    raise
                raise located from exc
            where = f"line {framer.line_number}: " if isinstance(framer, JsonLinesFramer) else ""
            reason = f"{where}message skipped: {located.reason}"
            self.diagnostics.append(
                Diagnostic(
                    kind=DiagnosticKind.MESSAGE_SKIPPED, location=located.location, reason=reason
                )
            )
            return None

    def _parse_l4(self, frame: bytes, framer: Framer) -> L4Connection | None:
        """Parse one line of an L4 log; count a line that is no entry, skip a bad one."""
        line = framer.line_number if isinstance(framer, LineFramer) else None
        index = framer.frame_index - 1
        try:
            parsed = parse_l4_line(frame, source=self.source, index=index, line=line)
        except DecodeError as exc:
            if self.strict:
                raise DecodeError(
                    f"line {line}: {exc.reason}",
                    source=self.source,
                    message_index=index,
                    field=exc.field,
                ) from None
            reason = f"line {line}: access log line skipped: {exc.reason}"
            self.diagnostics.append(
                Diagnostic(kind=DiagnosticKind.LINE_SKIPPED, location=exc.location, reason=reason)
            )
            return None
        if isinstance(parsed, LineSkip):
            self._skipped_lines[parsed] += 1
            return None
        return parsed


def read(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    container: Container | None = None,
    strict: bool = False,
    max_message_size: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    name: str | None = None,
) -> Reader:
    """Read the ALS messages, or L4 connections, of a file (or binary file object), lazily.

    The container is detected from the content (see :func:`detect_container`) unless
    *container* is given. The input is read in 64 KiB chunks and only one message is held at
    a time, so memory follows the largest message, not the file. Each message is decoded with
    ``source`` (*name*: the path, or the file object's name) and ``index`` (its position in
    the file from 0, counting skipped messages).

    A gzip- or zstd-compressed input is decompressed as it is read, whatever the container
    (given or detected): the compression is recognised by its magic bytes, not by a file name,
    so pipes work too (``reader.compression`` says which it was). Zstandard needs the
    ``zstandard`` package (the ``zstd`` extra). A compressed input cut off inside
    its compressed data reads like a stream cut off inside a frame (see below).

    In lenient mode (the default) a message of a stream (JSON Lines, delimited, gRPC) that
    fails to decode is skipped and recorded in the returned reader's ``diagnostics``, and a
    stream cut off inside a frame ends there with a diagnostic; with *strict* both raise. An
    empty or whitespace-only input yields no messages.

    An L4 log (:attr:`Container.ZTUNNEL`, :attr:`Container.ZTUNNEL_JSON`) yields one
    :class:`~meshals.L4Connection` per connection line, in order (``index``: the line's
    position among non-blank lines, from 0; ``line``: its 1-based number). Lines that are no
    entries are counted in the reader's ``skipped_lines``; an entry that cannot be read is
    skipped and recorded in ``diagnostics`` (``line N: access log line skipped: ...``), or
    with *strict* raises.

    Args:
        source: a path, or a file object opened in binary mode (left open).
        container: the container to assume instead of detecting it.
        strict: raise on anything lenient decoding would tolerate.
        max_message_size: the largest message (or JSON line) accepted, in bytes; also the
            most read ahead when detection needs a long first line. Default:
            ``limits.max_message_size``.
        limits: the decoders' limits (:class:`~meshals.codec.Limits`), passed to each message.
        name: what errors, diagnostics and each record's ``source`` call the input. Default:
            the path, or the file object's ``name`` (``"<stdin>"`` for ``sys.stdin.buffer``),
            else ``"<stream>"``.

    Returns:
        A :class:`Reader`: an iterator of :data:`Record` (:class:`~meshals.AlsMessage`, or
        :class:`~meshals.L4Connection` for an L4 log) that also carries the container, the
        diagnostics and the skipped L4 lines.

    Raises:
        OSError: the file cannot be opened (at once) or read (while iterating).
        DecodeError: while iterating, the input is in no known container, is truncated or
            malformed (its compressed data too), or a message or L4 entry in it is invalid
            (see above for lenient mode), or a line is longer than *max_message_size*.
        MissingDependencyError: while iterating, the input is zstd-compressed and the
            ``zstandard`` package (the ``zstd`` extra) is not installed.
    """
    if max_message_size is None:
        max_message_size = limits.max_message_size
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        stream: BinaryIO = open(path, "rb")  # noqa: SIM115 -- the Reader closes it
        reader = Reader(
            stream,
            source=path if name is None else name,
            container=container,
            strict=strict,
            max_message_size=max_message_size,
            owns_stream=True,
            limits=limits,
        )
        reader._path = path
        return reader
    if name is None:
        stream_name = getattr(source, "name", None)
        name = stream_name if isinstance(stream_name, str) else "<stream>"
    return Reader(
        source,
        source=name,
        container=container,
        strict=strict,
        max_message_size=max_message_size,
        owns_stream=False,
        limits=limits,
    )
