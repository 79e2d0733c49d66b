"""The installed ``meshals`` as a Unix tool: ``--version``, closed pipes and Ctrl-C.

These run the console script in a subprocess, as a shell would.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import itertools
import json
import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshals import cli
from meshals.cli import _main

SCRIPT = str(Path(sysconfig.get_path("scripts")) / "meshals")
VERSION = importlib.metadata.version("meshals")
ENVOY = Path(__file__).parents[1] / "fixtures" / "envoy"
HANG = 300  # seconds: a subprocess still running after this is taken to hang


# --- --version ----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr() == (f"meshals {VERSION}\n", "")


def test_the_installed_script_prints_its_version() -> None:
    result = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"meshals {VERSION}\n", "")


# --- large inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """A JSON Lines capture of *messages* messages: a recorded stream's, repeated."""
    directory = tmp_path_factory.mktemp("large")
    first, *rest = (ENVOY / "productpage-http.jsonl").read_text().splitlines(keepends=True)

    @functools.cache
    def make(messages: int) -> Path:
        path = directory / f"productpage-{messages}.jsonl"
        with path.open("w") as file:
            file.write(first)  # the identifier; the rest continue its stream
            file.writelines(itertools.islice(itertools.cycle(rest), messages - 1))
        return path

    return make


def start(*argv: str | Path, **options: Any) -> subprocess.Popen[str]:
    """The installed ``meshals ARGV``, its stdout and stderr pipes to read."""
    command = [SCRIPT, *map(str, argv)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )


def wait(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Its exit status and stderr, after draining what is left of its stdout."""
    try:
        _, err = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:  # hung: fail rather than hang the test run
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"meshals did not end within {HANG} s; stderr: {err}")
    return process.returncode, err


# --- a closed pipe --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "messages"),
    [
        (("inspect", "--json"), 300),  # about 600 kB, more than a pipe holds
        (("analyze", "--format", "jsonl"), 3000),  # written as made
        (("analyze", "--format", "csv", "--jobs", "2"), 3000),  # two files, two workers
    ],
    ids=["inspect", "analyze", "analyze-jobs"],
)
def test_a_closed_pipe_ends_quietly(
    capture: Callable[[int], Path], argv: tuple[str, ...], messages: int
) -> None:
    # meshals ... | head -1: the reader takes one line and goes.
    files = [capture(messages)] * (2 if "--jobs" in argv else 1)
    process = start(*argv, *files)
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()
    assert wait(process) == (141, "")
    if argv[0] == "inspect":
        assert json.loads(first)["message_index"] == 0
    else:
        assert first.startswith("analyzer,role," if "csv" in argv else '{"analyzer": ')


# --- Ctrl-C ---------------------------------------------------------------------------------------


def test_ctrl_c_ends_quietly_with_130(capture: Callable[[int], Path]) -> None:
    process = start("analyze", "--format", "jsonl", capture(20_000))
    assert process.stdout is not None
    first = process.stdout.readline()  # it has started writing; the full pipe holds it there
    assert first.startswith('{"analyzer": ')
    process.send_signal(signal.SIGINT)
    assert wait(process) == (130, "")


def test_ctrl_c_in_the_terminal_stops_the_workers_quietly(capture: Callable[[int], Path]) -> None:
    # A terminal sends SIGINT to the whole process group: the workers and the fork server too.
    large = capture(3000)  # each file's output, whole, is more than a pipe holds
    process = start(
        "analyze", "--format", "jsonl", "--jobs", "2", large, large, start_new_session=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith('{"analyzer": ')  # the first file is done
    os.killpg(process.pid, signal.SIGINT)
    assert wait(process) == (130, "")


def test_sigint_to_the_main_process_stops_the_workers_too(capture: Callable[[int], Path]) -> None:
    # kill -INT PID: only the main process gets it; it stops the worker still on the large file.
    process = start("analyze", "--format", "jsonl", "--jobs", "2", capture(300), capture(20_000))
    assert process.stdout is not None
    assert process.stdout.readline().startswith('{"analyzer": ')  # the small file is done
    process.send_signal(signal.SIGINT)
    assert wait(process) == (130, "")


def test_ctrl_c_leaves_the_output_file_as_it_was(
    capture: Callable[[int], Path], tmp_path: Path
) -> None:
    target = tmp_path / "metrics.jsonl"
    target.write_text("what was there\n")
    process = start("analyze", "-o", target, capture(20_000))
    # Wait until it has written some of it, to the temporary file beside the target.
    while not any(path.stat().st_size for path in tmp_path.glob(".metrics.jsonl.*.tmp")):
        assert process.poll() is None, "it ended before it could be interrupted"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    assert wait(process) == (130, "")
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.jsonl"]
    assert target.read_text() == "what was there\n"


# --- the entry point in this process ------------------------------------------------------------


class Stdout(io.StringIO):
    """stdout on a real file descriptor (a temporary file), whose flush may fail."""

    def __init__(self, file: Any, flush_raises: BaseException | None = None) -> None:
        super().__init__()
        self.file = file
        self.flush_raises = flush_raises

    def fileno(self) -> int:
        return int(self.file.fileno())

    def flush(self) -> None:
        if self.flush_raises is not None:
            raise self.flush_raises


@pytest.mark.parametrize(
    "case",
    [  # what main() raises, what flushing stdout raises, the status, whether stdout is discarded
        (None, BrokenPipeError(), 141, True),  # the end of the output met a closed pipe
        (BrokenPipeError(), None, 141, True),
        (KeyboardInterrupt(), None, 130, False),
        (KeyboardInterrupt(), BrokenPipeError(), 130, True),
    ],
)
def test_the_entry_point_exits_quietly(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    case: tuple[BaseException | None, BaseException | None, int, bool],
) -> None:
    raised, flush_raises, status, discarded = case

    def main() -> int:
        if raised is not None:
            raise raised
        return 0

    monkeypatch.setattr(_main, "main", main)
    with (tmp_path / "stdout").open("w") as file:
        monkeypatch.setattr("sys.stdout", Stdout(file, flush_raises))
        before = os.fstat(file.fileno())
        with pytest.raises(SystemExit) as caught:
            cli.entrypoint()
        after = os.fstat(file.fileno())
    assert caught.value.code == status
    # Pointed at the null device: what is still buffered cannot fail again at exit.
    assert ((after.st_dev, after.st_ino) != (before.st_dev, before.st_ino)) is discarded
    if discarded:
        assert after.st_rdev == os.stat(os.devnull).st_rdev


def test_stdout_that_is_no_file_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def main() -> int:
        raise BrokenPipeError

    monkeypatch.setattr(_main, "main", main)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    with pytest.raises(SystemExit) as caught:
        cli.entrypoint()
    assert caught.value.code == 141


class ClosedPipe(io.StringIO):
    """stdout whose reader has gone."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", str(ENVOY / "details-http.bin")],
        ["analyze", "--format", "jsonl", "--example", "bookinfo"],  # written as made
        ["analyze", "--example", "bookinfo"],
        ["graph", "--format", "dot", "--example", "bookinfo"],
    ],
)
def test_a_closed_stdout_is_no_failure_of_the_command(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # main() lets it through to the entry point, which exits quietly: no "meshals: error".
    with contextlib.redirect_stdout(ClosedPipe()), pytest.raises(BrokenPipeError):
        cli.main(argv)
    assert "error" not in capsys.readouterr().err
