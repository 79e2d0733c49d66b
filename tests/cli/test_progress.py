"""The progress bar: bytes read of the total on a terminal only, never with --quiet or
without tqdm, erased at the end; the file object that counts the bytes read; and the command
with --quiet, in this process and as the installed console script."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import sysconfig
from importlib import resources
from pathlib import Path
from typing import TextIO, cast

import pytest

from meshals import cli, examples
from meshals.capture import read
from meshals.cli import _progress
from meshals.cli._progress import Progress, counted, file_sizes

FIXTURES = Path(__file__).parents[1] / "fixtures"
DETAILS = FIXTURES / "envoy" / "details-http.bin"
EXAMPLE_SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def frames(drawn: str) -> tuple[list[str], str]:
    """What a terminal was sent: the bar's frames (each drawn over the last after a ``\\r``),
    and what was printed after the bar was erased (everything, when no bar was drawn)."""
    parts = drawn.split("\r")
    return [part for part in parts[:-1] if part.strip()], parts[-1]


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> FakeTerminal:
    """stderr as a terminal, and the command's bar drawn at once and at every update.

    The bar's delay and redraw interval are 0, so what is drawn depends on the updates alone,
    never on how fast the machine is. Called in the test itself: pytest's own capture sets
    sys.stderr anew when the test starts, after its fixtures.
    """
    stream = FakeTerminal()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(_progress, "DELAY_S", 0.0)
    monkeypatch.setattr(_progress, "MININTERVAL_S", 0.0)
    return stream


def _example_size() -> int:
    with contextlib.ExitStack() as stack:
        paths = [
            stack.enter_context(resources.as_file(capture))
            for capture in examples.example("bookinfo").captures()
        ]
        return sum(path.stat().st_size for path in paths)


# --- the bar ------------------------------------------------------------------------------------


def test_a_terminal_gets_bytes_of_the_total_files_and_entries() -> None:
    stream = FakeTerminal()
    with Progress(stream, total_bytes=3 * 1024**2, files=2, delay=0, mininterval=0) as progress:
        assert progress.enabled
        progress.read(1024**2)
        progress.entries(1)
        progress.read(1024**2)
        progress.file_done()
        progress.entries(41_999)
        progress.read(1024**2)
        progress.file_done()
    drawn, after = frames(stream.getvalue())
    assert after == ""  # erased: the next line starts clean
    assert drawn[0].startswith("meshals:   0%|")
    assert " 0.00/3.00M [" in drawn[0]
    assert drawn[0].endswith(", 0/2 files, 0 entries]")
    # The postfix is what was counted when the bytes arrived that made it redraw.
    assert [re.search(r"\| ([^ ]+) \[", frame)[1] for frame in drawn] == [  # type: ignore[index]
        "0.00/3.00M",
        "1.00M/3.00M",
        "2.00M/3.00M",
        "2.00M/3.00M",
        "3.00M/3.00M",
        "3.00M/3.00M",
    ]
    final = drawn[-1]
    assert final.startswith("meshals: 100%|")
    assert final.endswith(", 2/2 files, 42,000 entries]")
    assert "<00:00" in final  # the time left, which the total allows


def test_without_a_total_bytes_and_rate_but_no_time_left() -> None:
    stream = FakeTerminal()
    with Progress(stream, total_bytes=None, files=1, delay=0, mininterval=0) as progress:
        progress.read(1536)
        progress.file_done()
    drawn, _ = frames(stream.getvalue())
    assert drawn[-1].startswith("meshals: 1.50kB [")
    assert "%" not in drawn[-1]
    assert "<" not in drawn[-1]
    assert drawn[-1].endswith("B/s, 1/1 files, 0 entries]")


def test_files_read_elsewhere_count_their_bytes_when_done() -> None:
    stream = FakeTerminal()
    with Progress(stream, total_bytes=300, files=2, delay=0, mininterval=0) as progress:
        progress.entries(5)
        progress.file_done(unread=100)
        progress.entries(7)
        progress.file_done(unread=200)
    assert (progress.bytes_read, progress.files_done, progress.entries_done) == (300, 2, 12)
    drawn, _ = frames(stream.getvalue())
    assert drawn[-1].startswith("meshals: 100%|")
    assert " 300/300 [" in drawn[-1]
    assert drawn[-1].endswith(", 2/2 files, 12 entries]")


def test_nothing_is_drawn_before_the_delay() -> None:
    # A run shorter than the delay draws nothing: here the delay outlasts any test run.
    stream = FakeTerminal()
    with Progress(stream, total_bytes=10, files=1, delay=3600, mininterval=0) as progress:
        assert progress.enabled
        progress.read(10)
        progress.file_done()
    assert stream.getvalue() == ""


class NoIsatty:
    """A stream without isatty (some wrappers): treated as no terminal."""

    def write(self, text: str) -> int:
        raise AssertionError("must not be written")

    def flush(self) -> None:
        raise AssertionError("must not be flushed")


def _closed() -> io.StringIO:
    stream = FakeTerminal()
    stream.close()  # isatty() now raises ValueError
    return stream


@pytest.mark.parametrize(
    "stream", [io.StringIO(), NoIsatty(), _closed()], ids=["pipe", "no-isatty", "closed"]
)
def test_nothing_but_a_terminal_gets_a_bar(stream: object) -> None:
    with Progress(
        cast(TextIO, stream), total_bytes=10, files=1, delay=0, mininterval=0
    ) as progress:
        progress.read(10)
        progress.entries(5)
        progress.file_done()
    assert not progress.enabled
    assert (progress.bytes_read, progress.entries_done, progress.files_done) == (10, 5, 1)
    if isinstance(stream, io.StringIO) and not stream.closed:
        assert stream.getvalue() == ""


def test_quiet_draws_nothing_on_a_terminal() -> None:
    stream = FakeTerminal()
    with Progress(stream, total_bytes=10, files=1, quiet=True, delay=0, mininterval=0) as bar:
        bar.read(10)
        bar.file_done()
    assert not bar.enabled
    assert stream.getvalue() == ""


def test_without_tqdm_there_is_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    stream = FakeTerminal()
    with Progress(stream, total_bytes=10, files=1, delay=0, mininterval=0) as progress:
        progress.read(10)
        progress.file_done()
    assert not progress.enabled
    assert stream.getvalue() == ""


def test_a_counted_file_reports_every_byte_and_reads_like_the_path() -> None:
    counts: list[int] = []
    with counted(str(DETAILS), counts.append) as file:
        via_file = list(read(file))
        assert file.name == str(DETAILS)
    assert sum(counts) == DETAILS.stat().st_size
    assert via_file == list(read(DETAILS))
    assert via_file[0].source == str(DETAILS)


def test_a_counted_file_is_closed_with_its_reader(tmp_path: Path) -> None:
    counts: list[int] = []
    file = counted(str(DETAILS), counts.append)
    file.close()
    assert file.closed
    with pytest.raises(FileNotFoundError):
        counted(str(tmp_path / "missing.bin"), counts.append)


def test_file_sizes_know_regular_files_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert file_sizes([str(DETAILS), str(empty), str(tmp_path / "missing"), "/dev/null"]) == [
        DETAILS.stat().st_size,
        0,
        None,  # reading it reports why, in its turn
        None,  # a device: no size to measure against
    ]


# --- the command --------------------------------------------------------------------------------


def _size_text(size: int) -> str:
    # tqdm's own formatting of a byte count (unit_scale, unit_divisor 1024).
    from tqdm import tqdm

    return tqdm.format_sizeof(size, divisor=1024)


def test_the_command_draws_bytes_read_of_the_example_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    assert cli.main(["graph", "--example", "bookinfo", "--format", "dot"]) == 0
    drawn, after = frames(terminal.getvalue())
    total = _size_text(_example_size())
    assert drawn[0].startswith("meshals:   0%|")
    assert f" 0.00/{total} [" in drawn[0]
    # Every 64 KiB read (or the end of a file) redraws, never going back.
    done = [int(re.search(r", (\d)/6 files,", frame)[1]) for frame in drawn]  # type: ignore[index]
    assert done == sorted(done)
    assert set(done) == set(range(7))
    assert drawn[-1].startswith("meshals: 100%|")
    assert f" {total}/{total} [" in drawn[-1]
    assert drawn[-1].endswith(", 6/6 files, 40 entries]")
    assert after == EXAMPLE_SUMMARY  # the bar is erased before the summary
    assert capsys.readouterr().out.startswith("digraph")


def test_with_jobs_files_read_by_workers_count_when_done(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["stats", "--example", "bookinfo", "--jobs", "2"]) == 0
    drawn, after = frames(terminal.getvalue())
    total = _size_text(_example_size())
    done = [int(re.search(r", (\d)/6 files,", frame)[1]) for frame in drawn]  # type: ignore[index]
    assert done == list(range(7))  # one redraw per file done, and the first
    assert drawn[-1].startswith("meshals: 100%|")
    assert f" {total}/{total} [" in drawn[-1]
    assert drawn[-1].endswith(", 6/6 files, 40 entries]")
    assert after == EXAMPLE_SUMMARY


def test_quiet_draws_no_bar_and_prints_no_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    assert cli.main(["analyze", "--example", "bookinfo", "--format", "jsonl", "-q"]) == 0
    assert terminal.getvalue() == ""
    assert len(capsys.readouterr().out.splitlines()) == 45


def test_quiet_keeps_the_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    mx = FIXTURES / "mx" / "reviews-sidecar-http.bin"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["analyze", str(mx), "--analyzer", "mx-mesh", "--quiet"]) == 0
    lines = terminal.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [f"meshals: warning: {mx}"] * 2


def test_quiet_graph_writes_its_picture_without_a_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    terminal = on_terminal(monkeypatch)
    picture = tmp_path / "mesh.svg"
    with contextlib.redirect_stdout(io.StringIO()):
        argv = ["graph", "--example", "bookinfo", "--format", "svg", "-o", str(picture), "-q"]
        assert cli.main(argv) == 0
    assert terminal.getvalue() == ""
    assert picture.read_text(encoding="utf-8").startswith("<?xml")


def test_not_a_terminal_gets_no_bar(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "DELAY_S", 0.0)
    assert cli.main(["stats", "--example", "bookinfo"]) == 0
    assert capsys.readouterr().err == EXAMPLE_SUMMARY


# --- the installed console script ---------------------------------------------------------------

MESHALS = Path(sysconfig.get_path("scripts")) / "meshals"


def test_the_console_script_writes_no_bar_into_a_pipe() -> None:
    result = subprocess.run(
        [str(MESHALS), "stats", "--example", "bookinfo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, EXAMPLE_SUMMARY)
    assert result.stdout.startswith("SERVICE ")


def test_the_console_script_is_quiet_on_a_terminal_with_quiet() -> None:
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [str(MESHALS), "stats", "--example", "bookinfo", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            check=False,
        )
    finally:
        os.close(terminal)
    drawn = b""
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and all was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert (result.returncode, drawn) == (0, b"")
    assert result.stdout.startswith("SERVICE ")
