"""``-o PATH`` on every command: the format its extension names, and an atomic write."""

from __future__ import annotations

import os
import stat
import subprocess
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from meshals import cli
from meshals._errors import Diagnostic
from meshals.cli import _run

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
DETAILS = str(ENVOY / "details-http.bin")
REVIEWS = str(ENVOY / "reviews-http.bin")
SCRIPT = str(Path(sysconfig.get_path("scripts")) / "meshals")
EXAMPLE = ("--example", "bookinfo")


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``graph --example NAME`` without ``-o`` writes ``NAME.svg`` into the working folder."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics"

# (the command, what it writes, the extension, the --format the extension names)
NAMED = [
    ("inspect", "the report", ".txt", "text"),
    ("inspect", "the report", ".jsonl", "jsonl"),
    ("inspect", "the report", ".NDJSON", "jsonl"),
    ("analyze", "the metrics", ".txt", "table"),
    ("analyze", "the metrics", ".jsonl", "jsonl"),
    ("analyze", "the metrics", ".ndjson", "jsonl"),
    ("analyze", "the metrics", ".csv", "csv"),
    ("graph", "the service graph", ".txt", "table"),
    ("graph", "the service graph", ".dot", "dot"),
    ("graph", "the service graph", ".gv", "dot"),
    ("graph", "the service graph", ".mmd", "mermaid"),
    ("graph", "the service graph", ".mermaid", "mermaid"),
    ("graph", "the service graph", ".svg", "svg"),
    ("stats", "the statistics", ".txt", "table"),
    ("stats", "the statistics", ".jsonl", "jsonl"),
    ("stats", "the statistics", ".csv", "csv"),
    ("metrics", "the metrics", ".prom", "prometheus"),
    ("metrics", "the metrics", ".txt", "prometheus"),
    ("identities", "the identities", ".txt", "table"),
    ("identities", "the identities", ".json", "json"),
    ("identities", "the identities", ".jsonl", "jsonl"),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def inputs(command: str) -> tuple[str, ...]:
    return (DETAILS, REVIEWS) if command == "inspect" else EXAMPLE


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.parametrize("case", NAMED, ids=lambda case: f"{case[0]}{case[2]}")
def test_the_extension_names_the_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: tuple[str, str, str, str]
) -> None:
    command, what, extension, fmt = case
    if command == "metrics":
        pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    target = tmp_path / f"out{extension}"
    status, out, err = run(capsys, command, "-o", target, *inputs(command))
    assert (status, out) == (0, "")
    assert err.splitlines()[-1] == f"meshals: wrote {what} to {target}"
    status, expected, _ = run(capsys, command, "--format", fmt, *inputs(command))
    assert status == 0
    assert target.read_text(encoding="utf-8") == expected
    assert listing(tmp_path) == [target.name]


def test_format_wins_over_the_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    assert run(capsys, "analyze", "--format", "jsonl", "-o", target, *EXAMPLE)[:2] == (0, "")
    _, expected, _ = run(capsys, "analyze", "--format", "jsonl", *EXAMPLE)
    assert target.read_text() == expected


def test_inspect_json_wins_over_the_extension(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "report.txt"
    assert run(capsys, "inspect", "--json", "-o", target, DETAILS)[:2] == (0, "")
    _, expected, _ = run(capsys, "inspect", "--format", "jsonl", DETAILS)
    assert target.read_text() == expected
    assert expected.startswith('{"file": ')


@pytest.mark.parametrize("command", ["inspect", "analyze", "graph", "stats"])
def test_without_an_extension_the_default_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    target = tmp_path / "output"
    assert run(capsys, command, "-o", target, *inputs(command))[:2] == (0, "")
    _, expected, _ = run(capsys, command, *inputs(command))
    assert target.read_text() == expected


def test_dash_is_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "analyze", "--format", "csv", "-o", "-", *EXAMPLE)
    assert (status, err.splitlines()[-1]) == (0, SUMMARY)
    assert out == run(capsys, "analyze", "--format", "csv", *EXAMPLE)[1]
    assert listing(tmp_path) == []


UNNAMED = [
    (
        "graph",
        "map.png",
        ".png names no format meshals graph writes (.txt: table, .dot or .gv: dot, .mmd or"
        " .mermaid: mermaid, .svg: svg, .json: json); give --format to write another name",
    ),
    (
        "analyze",
        "metrics.xml",
        ".xml names no format meshals analyze writes (.txt: table, .jsonl or .ndjson: jsonl,"
        " .csv: csv, .pb: otlp, .json: otlp-json); give --format to write another name",
    ),
    (
        "stats",
        "stats.svg",
        ".svg names no format meshals stats writes (.txt: table, .jsonl or .ndjson: jsonl,"
        " .csv: csv, .pb: otlp, .json: otlp-json); give --format to write another name",
    ),
    (
        "metrics",
        "istio.csv",
        ".csv names no format meshals metrics writes (.prom or .txt: prometheus); give"
        " --format to write another name",
    ),
    (
        "inspect",
        "report.log",
        ".log names no format meshals inspect writes (.txt: text, .jsonl or .ndjson: jsonl);"
        " give --format to write another name",
    ),
]


@pytest.mark.parametrize(("command", "name", "reason"), UNNAMED)
def test_an_extension_that_names_no_format_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, name: str, reason: str
) -> None:
    target = tmp_path / name
    with pytest.raises(SystemExit) as caught:
        cli.main([command, "-o", str(target), *inputs(command)])
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"usage: meshals {command} ")
    assert captured.err.splitlines()[-1] == f"meshals {command}: error: -o {target}: {reason}"
    assert listing(tmp_path) == []


def test_another_name_with_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "map.png"
    assert run(capsys, "graph", "--format", "dot", "-o", target, *EXAMPLE)[:2] == (0, "")
    assert target.read_text().startswith("digraph meshals {\n")


# --- atomic: all or nothing ------------------------------------------------------------------


def test_a_failure_leaves_the_file_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # JSON Lines are written as made: into the temporary file, which the failure removes.
    bad = tmp_path / "truncated.bin"
    bad.write_bytes(Path(DETAILS).read_bytes()[:-10])
    target = tmp_path / "metrics.jsonl"
    target.write_text("what was there\n")
    status, out, err = run(capsys, "analyze", "--strict", "-o", target, DETAILS, bad)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {bad}, message 3: input ends inside the frame")
    assert err.count("\n") == 1  # and no "wrote"
    assert target.read_text() == "what was there\n"
    assert listing(tmp_path) == ["metrics.jsonl", "truncated.bin"]


def test_inspect_with_a_failing_file_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.bin"
    target = tmp_path / "report.txt"
    status, out, err = run(capsys, "inspect", "-o", target, DETAILS, missing)
    assert (status, out) == (1, "")
    assert err == f"meshals: error: {missing}: No such file or directory\n"
    assert listing(tmp_path) == []


def test_an_interrupt_leaves_no_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noting = _run._noting

    def interrupted(
        records: Iterable[object], sink: list[Diagnostic], count: Callable[[int], None]
    ) -> Iterator[object]:
        for index, record in enumerate(noting(records, sink, count)):
            if index == 2:  # after two messages' metrics were written
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(_run, "_noting", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["analyze", "--format", "jsonl", "-o", str(tmp_path / "m.jsonl"), DETAILS])
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [("missing/metrics.csv", "No such file or directory"), (".", "Is a directory")],
)
def test_a_path_that_cannot_be_written_is_an_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    reason: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "analyze", "-o", target, *EXAMPLE) == (
        1,
        "",
        f"meshals: error: {target}: {reason}\n",
    )
    assert listing(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_permissions_are_those_of_a_new_file_or_the_old_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "graph.dot"
    umask = os.umask(0o027)
    try:
        assert run(capsys, "graph", "-o", target, *EXAMPLE)[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # not mkstemp's 0o600
    target.chmod(0o604)
    assert run(capsys, "graph", "-o", target, *EXAMPLE)[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


# --- the installed command --------------------------------------------------------------------


def test_the_installed_script_writes_what_the_extension_names(tmp_path: Path) -> None:
    def meshals(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, *map(str, argv)], capture_output=True, text=True, check=False, cwd=tmp_path
        )

    csv = meshals("analyze", "-o", "metrics.csv", *EXAMPLE)
    assert (csv.returncode, csv.stdout) == (0, "")
    assert csv.stderr.splitlines() == [SUMMARY, "meshals: wrote the metrics to metrics.csv"]
    expected = meshals("analyze", "--format", "csv", *EXAMPLE).stdout
    assert (tmp_path / "metrics.csv").read_text() == expected
    dot = meshals("graph", "-o", "map.dot", *EXAMPLE)
    assert (dot.returncode, dot.stdout) == (0, "")
    expected = meshals("graph", "--format", "dot", *EXAMPLE).stdout
    assert (tmp_path / "map.dot").read_text() == expected
    png = meshals("graph", "-o", "map.png", *EXAMPLE)
    assert (png.returncode, png.stdout) == (2, "")
    assert png.stderr.splitlines()[-1].startswith("meshals graph: error: -o map.png: .png names")
    assert listing(tmp_path) == ["map.dot", "metrics.csv"]


@pytest.mark.parametrize("step", ["chmod", "replace"])
def test_a_temporary_file_that_cannot_be_set_up_or_renamed_is_an_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    def refuse(source: str, *args: object) -> None:
        raise PermissionError(13, "Permission denied", source)

    monkeypatch.setattr(os, step, refuse)  # meshals.cli._output uses os.chmod and os.replace
    target = tmp_path / "metrics.csv"
    status, out, err = run(capsys, "analyze", "-o", target, *EXAMPLE)
    assert (status, out) == (1, "")
    assert err.splitlines()[-1] == f"meshals: error: {target}: Permission denied"
    assert listing(tmp_path) == []
