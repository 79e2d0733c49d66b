"""A one-line progress display for long command-line runs: files done, entries, entries/s.

It writes only to a terminal: on a stream that is not a TTY (a pipe, a file, a CI log) it
stays silent, so captured stderr holds only warnings and the summary. The line is redrawn in
place with a carriage return at most every ``interval`` seconds and erased by :meth:`close`.
The clock is passed in; the command line gives :func:`time.monotonic`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Final, TextIO

__all__: list[str] = []

_BAR_WIDTH: Final = 20
_ERASE_LINE: Final = "\r\x1b[K"  # carriage return, then ANSI "erase to end of line"


class Progress:
    """Shows ``[#####-----] 2/4 files  1,234 entries  5,678 entries/s`` on a terminal.

    Args:
        stream: where to draw (stderr); nothing is written unless ``stream.isatty()``.
        files: how many files the run reads.
        clock: seconds from any fixed point (:func:`time.monotonic`).
        interval: the least time between two redraws, in seconds.

    Use it as a context manager (the line is erased on exit) or call :meth:`close`.

    >>> import io
    >>> with Progress(io.StringIO(), files=2, clock=lambda: 0.0) as progress:
    ...     progress.entries(10)
    >>> progress.entries_done, progress.enabled
    (10, False)
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        files: int,
        clock: Callable[[], float],
        interval: float = 0.1,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._interval = interval
        self.enabled = _is_terminal(stream)
        self.files = files
        self.files_done = 0
        self.entries_done = 0
        self._started = clock()
        self._drawn_at: float | None = None
        self._drawn = False

    def entries(self, count: int) -> None:
        """Count ``count`` more entries read; redraw if the interval has passed."""
        self.entries_done += count
        self._maybe_draw()

    def file_done(self) -> None:
        """Count one more file finished, and redraw."""
        self.files_done += 1
        self._maybe_draw(force=True)

    def line(self) -> str:
        """The text of the progress line as it is now (without the carriage return)."""
        filled = _BAR_WIDTH * self.files_done // self.files if self.files else _BAR_WIDTH
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        elapsed = self._clock() - self._started
        rate = f"{self.entries_done / elapsed:,.0f}" if elapsed > 0 else "-"
        noun = "entry" if self.entries_done == 1 else "entries"
        return (
            f"[{bar}] {self.files_done}/{self.files} files"
            f"  {self.entries_done:,} {noun}  {rate} entries/s"
        )

    def close(self) -> None:
        """Erase the line, so what is printed next starts on a clean line."""
        if self._drawn:
            self._stream.write(_ERASE_LINE)
            self._stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _maybe_draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        self._stream.write(f"{_ERASE_LINE}{self.line()}")
        self._stream.flush()
        self._drawn = True


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
