"""The progress line: drawn on a terminal only, throttled, erased at the end."""

from __future__ import annotations

import io

import pytest

from meshals.cli._progress import Progress


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class NoIsatty:
    """A stream without isatty (some wrappers): treated as no terminal."""

    def write(self, text: str) -> int:
        raise AssertionError("must not be written")

    def flush(self) -> None:
        raise AssertionError("must not be flushed")


ERASE = "\r\x1b[K"


def test_a_terminal_gets_a_throttled_line_and_its_erasure() -> None:
    stream, clock = FakeTerminal(), Clock()
    with Progress(stream, files=4, clock=clock, interval=0.5) as progress:
        clock.now = 101.0
        progress.entries(1)  # the first draw
        clock.now = 101.2
        progress.entries(999)  # within the interval: not drawn
        clock.now = 102.0
        progress.entries(1000)
        progress.file_done()  # always drawn
    assert stream.getvalue().split(ERASE) == [
        "",
        "[--------------------] 0/4 files  1 entry  1 entries/s",
        "[--------------------] 0/4 files  2,000 entries  1,000 entries/s",
        "[#####---------------] 1/4 files  2,000 entries  1,000 entries/s",
        "",  # erased on exit
    ]


def test_the_line_at_the_start_and_the_end() -> None:
    clock = Clock()
    progress = Progress(FakeTerminal(), files=2, clock=clock)
    assert progress.line() == "[--------------------] 0/2 files  0 entries  - entries/s"
    progress.file_done()
    progress.file_done()
    clock.now = 104.0
    progress.entries(10)
    assert progress.line() == "[####################] 2/2 files  10 entries  2 entries/s"
    assert Progress(FakeTerminal(), files=0, clock=clock).line().startswith("[" + "#" * 20)


@pytest.mark.parametrize("stream", [io.StringIO(), NoIsatty()])
def test_silent_unless_a_terminal(stream: io.StringIO) -> None:
    with Progress(stream, files=1, clock=Clock()) as progress:
        progress.entries(5)
        progress.file_done()
    assert not progress.enabled
    assert progress.entries_done == 5
    assert progress.files_done == 1
    if isinstance(stream, io.StringIO):
        assert stream.getvalue() == ""


def test_a_closed_stream_is_no_terminal() -> None:
    stream = io.StringIO()
    stream.close()  # isatty() now raises ValueError
    assert not Progress(stream, files=1, clock=Clock()).enabled


def test_close_without_drawing_writes_nothing() -> None:
    stream = FakeTerminal()
    Progress(stream, files=1, clock=Clock()).close()
    assert stream.getvalue() == ""
