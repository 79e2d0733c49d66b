"""The progress bar of long command-line runs: bytes read of the total, the rate, time left.

Drawn with tqdm (the ``progress`` extra) on stderr, and only when it helps: stderr is a
terminal, ``--quiet`` was not given, tqdm is installed, and the run has lasted longer than
:data:`DELAY_S` (a short run draws nothing). Otherwise nothing is written, so captured stderr
holds only the warnings and the summary. Without tqdm there is no bar: a hand-made one is not
worth its upkeep beside a maintained library, and the run's summary says what was read.

Progress counts the bytes of the capture files as they are read (:func:`counted`), against
the sum of their sizes, so one large file advances smoothly instead of showing ``0/1 files``
until its end; entries and files done follow the bar. When a size is unknown (not a regular
file) there is no total and so no time left, only the bytes read and the rate. The bar is
erased when the run ends, before anything else is printed.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Final, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

__all__: list[str] = []

# Module variables, not Final: the tests set them to 0 to draw at once.
#: A run shorter than this (seconds) draws no bar at all.
DELAY_S = 1.0
#: The least time between two redraws (seconds).
MININTERVAL_S = 0.1
_BUFFER_SIZE: Final = 64 * 1024  # what capture's reader asks for at a time


class Progress:
    """The bar of one run: bytes read, entries and files done; a no-op when not drawn.

    Args:
        stream: where to draw (stderr).
        total_bytes: the sum of the inputs' sizes; None if one is unknown (then no time left).
        files: how many files the run reads.
        quiet: ``--quiet``: draw nothing.
        delay: draw nothing before this many seconds; default :data:`DELAY_S`.
        mininterval: the least time between two redraws; default :data:`MININTERVAL_S`.

    Use it as a context manager (the bar is erased on exit) or call :meth:`close`.

    >>> with Progress(io.StringIO(), total_bytes=10, files=1) as progress:
    ...     progress.read(10)
    >>> progress.enabled, progress.bytes_read
    (False, 10)
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        total_bytes: int | None,
        files: int,
        quiet: bool = False,
        delay: float | None = None,
        mininterval: float | None = None,
    ) -> None:
        self.files = files
        self.files_done = 0
        self.entries_done = 0
        self.bytes_read = 0
        self._bar: tqdm[object] | None = None
        if not quiet and _is_terminal(stream):
            self._bar = _bar(
                stream,
                total_bytes,
                postfix=self._postfix(),
                delay=DELAY_S if delay is None else delay,
                mininterval=MININTERVAL_S if mininterval is None else mininterval,
            )

    @property
    def enabled(self) -> bool:
        """Whether a bar may be drawn (a terminal, not quiet, tqdm installed)."""
        return self._bar is not None

    def read(self, count: int) -> None:
        """Count *count* more bytes read; the bar redraws at most every ``mininterval``."""
        self.bytes_read += count
        if self._bar is not None:
            self._describe()
            self._bar.update(count)

    def entries(self, count: int) -> None:
        """Count *count* more entries read (shown at the next redraw)."""
        self.entries_done += count

    def file_done(self, *, unread: int = 0) -> None:
        """Count one more file finished; *unread*: its bytes not counted by :meth:`read`.

        A worker process reads a file where this process cannot count its bytes: its size
        is passed here when it is done.
        """
        self.files_done += 1
        if unread:
            self.read(unread)
        elif self._bar is not None:
            self._describe()
            self._bar.update(0)  # redrawn if the interval has passed (and the delay)

    def close(self) -> None:
        """Erase the bar, so what is printed next starts on a clean line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _postfix(self) -> str:
        noun = "entry" if self.entries_done == 1 else "entries"
        return f"{self.files_done}/{self.files} files, {self.entries_done:,} {noun}"

    def _describe(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)


def _bar(
    stream: TextIO, total: int | None, *, postfix: str, delay: float, mininterval: float
) -> tqdm[object] | None:
    """A tqdm bar counting bytes on *stream*, or None without tqdm (the ``progress`` extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None

    class _Bar(tqdm):  # type: ignore[type-arg]  # tqdm is generic in what it iterates
        # No monitor thread: it would redraw from another thread, also after a fork.
        monitor_interval = 0

    bar: tqdm[object] = _Bar(
        desc="meshals",
        total=total,
        file=stream,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        postfix=postfix,
        delay=delay,
        mininterval=mininterval,
        # Every update asks the clock (one per 64 KiB read), so a redraw follows the interval
        # alone, and the end of a file, which reads no bytes, redraws too.
        miniters=0,
        leave=False,
        dynamic_ncols=True,
    )
    return bar


def file_sizes(paths: Sequence[str | None]) -> list[int | None]:
    """The size of each of *paths* in bytes; None for one that is no regular file (a pipe, a
    device), standard input (None), or cannot be examined (reading it will report why, in its
    turn)."""
    sizes: list[int | None] = []
    for path in paths:
        if path is None:
            sizes.append(None)
            continue
        try:
            status = os.stat(path)
        except OSError:
            sizes.append(None)
            continue
        sizes.append(status.st_size if stat.S_ISREG(status.st_mode) else None)
    return sizes


class _CountingRaw(io.RawIOBase):
    """A binary file that tells *count* how many bytes each read got."""

    def __init__(self, raw: io.RawIOBase, count: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._count = count

    @property
    def name(self) -> object:
        return getattr(self._raw, "name", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int | None:  # type: ignore[override]
        got = self._raw.readinto(buffer)
        if got:
            self._count(got)
        return got

    def close(self) -> None:
        self._raw.close()
        super().close()


def counted(path: str, count: Callable[[int], None]) -> BinaryIO:
    """The file at *path* opened for reading in binary, *count* told the bytes as they are read.

    Its ``name`` is *path*, so what is read from it is located as from the path itself.

    Raises:
        OSError: the file cannot be opened.
    """
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 -- the BufferedReader closes it
    return io.BufferedReader(_CountingRaw(raw, count), buffer_size=_BUFFER_SIZE)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
