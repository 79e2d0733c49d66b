"""FILE arguments as inputs (``meshals.cli._inputs``), in this process: what the installed
command does with them is in ``test_cli_inputs.py``."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from meshals import cli
from meshals._errors import Diagnostic, DiagnosticKind, Location
from meshals.cli._inputs import Input, Spool, inputs, nothing_read

ENVOY = Path(__file__).parents[1] / "fixtures" / "envoy"
RESOLVER = Path(__file__).parents[2] / "src" / "meshals" / "examples" / "bookinfo" / "resolver.json"


class FakeStdin:
    """What ``sys.stdin`` is to the command: a text stream whose ``buffer`` holds the bytes."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)
        self.buffer.name = "<stdin>"


def test_arguments_become_inputs_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"")
    (tmp_path / "a.jsonl").write_bytes(b"")
    (tmp_path / ".hidden").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.bin").write_bytes(b"")
    os.symlink(tmp_path / "b.bin", tmp_path / "link")
    empty = tmp_path / "sub" / "empty"
    empty.mkdir()
    found, notes = inputs(["x.bin", str(tmp_path), "-", str(empty)])
    assert found == [
        Input("x.bin", "x.bin"),  # not there: opening it will say so
        Input(f"{tmp_path}/a.jsonl", f"{tmp_path}/a.jsonl"),
        Input(f"{tmp_path}/b.bin", f"{tmp_path}/b.bin"),
        Input(f"{tmp_path}/link", f"{tmp_path}/link"),
        Input(None, "<stdin>"),
    ]
    assert notes == [
        Diagnostic(
            kind=DiagnosticKind.NOTE,
            location=Location(source=str(empty)),
            reason="a directory without files to read: nothing read",
        )
    ]
    assert [source.is_stdin for source in found] == [False, False, False, False, True]


def test_the_spool_copies_standard_input_once_and_keeps_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = (ENVOY / "details-http.bin").read_bytes()
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    stdin, file = Input(None, "<stdin>"), Input("a.bin", "a.bin")
    with Spool() as spool:
        assert spool.of(file) is file
        copy = spool.of(stdin)
        assert spool.of(stdin) is copy
        assert copy.name == "<stdin>"
        assert copy.path is not None
        assert Path(copy.path).read_bytes() == data
        with copy.open(container=None, strict=False) as reader:
            assert {record.source for record in reader} == {"<stdin>"}
    assert not Path(copy.path).exists()
    with Spool():  # never asked: nothing to remove
        pass


def test_nothing_read_is_a_note_once_an_empty_input_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(b" \n\t\n"))  # only whitespace: nothing
    with Input(None, "<stdin>").open(container=None, strict=True) as reader:
        assert list(reader) == []
    note = nothing_read(reader)
    assert note is not None
    assert (note.kind, str(note)) == (DiagnosticKind.NOTE, "<stdin>: empty input: nothing was read")
    with Input(str(ENVOY / "mongodb-tcp.bin"), "m").open(container=None, strict=False) as reader:
        assert len(list(reader)) == 2
    assert nothing_read(reader) is None


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_standard_input_in_this_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = ENVOY / "reviews-http.bin"
    expected = run(capsys, "graph", "--resolver", RESOLVER, recording)
    monkeypatch.setattr(sys, "stdin", FakeStdin(recording.read_bytes()))
    assert run(capsys, "graph", "--resolver", RESOLVER, "-") == expected
    monkeypatch.setattr(sys, "stdin", FakeStdin(recording.read_bytes()))
    status, out, err = run(capsys, "inspect", "-")
    assert (status, err) == (0, "")
    assert out.startswith("<stdin>: container delimited\nmessage 0: ")


def test_a_directory_that_cannot_be_listed_fails_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As root, permissions cannot make listing fail: the listing itself is made to.
    listdir = os.listdir

    def refuse(path: str) -> list[str]:
        if path == str(tmp_path):
            raise PermissionError(13, "Permission denied", path)
        return listdir(path)

    monkeypatch.setattr(os, "listdir", refuse)
    recording = ENVOY / "mongodb-tcp.bin"
    status, out, err = run(capsys, "inspect", tmp_path, recording)
    assert status == 1
    assert out.startswith(f"{recording}: container delimited\n")
    assert err == f"meshals: error: {tmp_path}: Permission denied\n"
    assert run(capsys, "analyze", tmp_path, recording) == (
        1,
        "",
        f"meshals: error: {tmp_path}: Permission denied\n",
    )


def test_empty_directories_are_noted_by_inspect(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "inspect", tmp_path) == (
        0,
        "",
        f"meshals: warning: {tmp_path}: a directory without files to read: nothing read\n",
    )


@pytest.mark.parametrize("command", ["inspect", "stats"])
def test_standard_input_twice_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "-", "-"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"meshals {command}: error: - (standard input) can be given once\n"
    )
