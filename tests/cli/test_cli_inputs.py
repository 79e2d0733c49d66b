"""The installed ``meshals`` command's inputs, run as a user runs them: compressed captures,
JSON that is not ALS, standard input (``-``), directories and empty inputs.

Each test starts the console script the distribution installs, in a subprocess, on the real
Envoy recordings (or copies of them made in ``tmp_path``).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sysconfig
from pathlib import Path

import pytest
import zstandard

ROOT = Path(__file__).parents[2]
ENVOY = ROOT / "tests" / "fixtures" / "envoy"
RECORDINGS = sorted(ENVOY.glob("*.bin"))  # the bundled example's captures
RESOLVER = ROOT / "src" / "meshals" / "examples" / "bookinfo" / "resolver.json"
MESHALS = Path(sysconfig.get_path("scripts")) / "meshals"
SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"


def meshals(*args: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run the installed ``meshals`` with *args*: exit status, stdout and stderr."""
    result = subprocess.run(
        [str(MESHALS), *map(str, args)], input=stdin, capture_output=True, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def compress(compression: str, data: bytes) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    return zstandard.ZstdCompressor().compress(data)


@pytest.fixture(scope="module")
def plain_table() -> str:
    status, out, err = meshals("analyze", "--resolver", RESOLVER, *RECORDINGS)
    assert (status, err) == (0, SUMMARY)
    assert len(out.splitlines()) == 1 + 45
    return out


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_captures_analyse_as_the_plain_ones(
    tmp_path: Path, plain_table: str, compression: str
) -> None:
    copies = []
    for recording in RECORDINGS:
        # A misleading suffix: the magic bytes decide, not the name.
        copy = tmp_path / f"{recording.stem}.capture"
        copy.write_bytes(compress(compression, recording.read_bytes()))
        copies.append(copy)
    assert meshals("analyze", "--resolver", RESOLVER, *copies) == (0, plain_table, SUMMARY)
    status, out, err = meshals("inspect", copies[0])
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == f"{copies[0]}: container delimited ({compression})"


def test_a_gzip_file_that_holds_no_capture_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    inner = gzip.compress(b"nothing to see", mtime=0)
    path.write_bytes(gzip.compress(inner, mtime=0))
    assert meshals("analyze", path) == (
        1,
        "",
        f"meshals: error: {path}: not a recognisable ALS container (JSON, JSON Lines, binary,"
        " delimited or gRPC); it starts with bytes 1f 8b 08 00 00 00 00 00: gzip-compressed"
        " data (meshals decompresses one layer only)\n",
    )


@pytest.mark.parametrize(
    "command", ["inspect", "analyze", "graph", "stats", "metrics", "identities"]
)
def test_json_that_is_not_an_als_message_is_an_error_naming_the_file(command: str) -> None:
    truth = ENVOY / "ground_truth.json"
    assert meshals(command, truth) == (
        1,
        "",
        f"meshals: error: {truth}, message 0: not an ALS message: a JSON object whose members"
        ' ("envoy_version", "envoy_build", "resolver", ...) include none of identifier,'
        " httpLogs, tcpLogs (http_logs, tcp_logs)\n",
    )


# --- standard input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("analyze",),
        ("analyze", "--format", "csv"),
        ("graph", "--format", "dot"),
        ("stats", "--by", "endpoint"),
        ("metrics",),
    ],
    ids=" ".join,
)
def test_dash_reads_standard_input_as_the_file_reads(command: tuple[str, ...]) -> None:
    recording = ENVOY / "productpage-http.bin"
    from_file = meshals(*command, "--resolver", RESOLVER, recording)
    from_stdin = meshals(*command, "--resolver", RESOLVER, "-", stdin=recording.read_bytes())
    assert from_file[0] == 0
    assert (
        from_file[2]
        == from_stdin[2]
        == ("meshals: 1 file: 16 entries, 16 analyzed, 0 skipped, 16 metrics\n")
    )
    # Only the CSV's origin_source column names the input.
    assert from_stdin[1] == from_file[1].replace(str(recording), "<stdin>")
    assert (str(recording) in from_file[1]) == (command[-1] == "csv")


def test_inspect_reads_standard_input_and_names_it() -> None:
    recording = ENVOY / "reviews-http.jsonl"
    status, out, err = meshals("inspect", recording)
    assert meshals("inspect", "-", stdin=recording.read_bytes()) == (
        status,
        out.replace(str(recording), "<stdin>"),
        err,
    )
    assert out.splitlines()[0] == f"{recording}: container jsonl"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_standard_input(compression: str) -> None:
    data = compress(compression, (ENVOY / "details-http.bin").read_bytes())
    status, out, err = meshals("analyze", "--resolver", RESOLVER, "-", stdin=data)
    assert (status, err) == (0, "meshals: 1 file: 4 entries, 4 analyzed, 0 skipped, 4 metrics\n")
    assert out == meshals("analyze", "--resolver", RESOLVER, ENVOY / "details-http.bin")[1]
    assert len(out.splitlines()) == 1 + 4


def test_standard_input_among_files_in_worker_processes() -> None:
    # Workers cannot read this process' stdin: it is copied for them, and keeps its name.
    first, second = ENVOY / "details-http.bin", ENVOY / "reviews-http.bin"
    expected = meshals("analyze", "--resolver", RESOLVER, "--format", "jsonl", first, second)
    got = meshals(
        "analyze",
        "--resolver",
        RESOLVER,
        "--format",
        "jsonl",
        "--jobs",
        "2",
        first,
        "-",
        stdin=second.read_bytes(),
    )
    assert got == (0, expected[1].replace(str(second), "<stdin>"), expected[2])
    assert expected[2] == "meshals: 2 files: 13 entries, 13 analyzed, 0 skipped, 13 metrics\n"


def test_not_an_als_message_on_standard_input_is_named_stdin() -> None:
    truth = (ENVOY / "ground_truth.json").read_bytes()
    status, out, err = meshals("stats", "-", stdin=truth)
    assert (status, out) == (1, "")
    assert err.startswith("meshals: error: <stdin>, message 0: not an ALS message: ")


@pytest.mark.parametrize("command", ["inspect", "analyze"])
def test_standard_input_can_be_named_once(command: str) -> None:
    status, out, err = meshals(command, "-", ENVOY / "details-http.bin", "-", stdin=b"")
    assert (status, out) == (2, "")
    assert err.endswith(f"meshals {command}: error: - (standard input) can be given once\n")


# --- directories ------------------------------------------------------------------------------


@pytest.fixture
def capture_directory(tmp_path: Path) -> Path:
    """The six captures in a directory, in reverse order of creation; beside them a hidden
    file and a subdirectory, both holding what is not a capture."""
    directory = tmp_path / "captures"
    directory.mkdir()
    for recording in reversed(RECORDINGS):
        (directory / recording.name).write_bytes(recording.read_bytes())
    (directory / ".recorder.swp").write_bytes(b"\x00not a capture")
    (directory / "old").mkdir()
    (directory / "old" / "notes.txt").write_text("not a capture either")
    return directory


def test_a_directory_reads_its_files_in_name_order(capture_directory: Path) -> None:
    in_order = [capture_directory / recording.name for recording in RECORDINGS]
    assert [path.name for path in in_order] == sorted(path.name for path in in_order)
    listed = meshals("analyze", "--resolver", RESOLVER, "--format", "jsonl", *in_order)
    assert listed[0] == 0
    assert meshals("analyze", "--resolver", RESOLVER, "--format", "jsonl", capture_directory) == (
        listed
    )
    assert listed[2] == SUMMARY
    status, out, err = meshals("inspect", capture_directory)
    assert (status, err) == (0, "")
    headers = [line for line in out.splitlines() if ": container " in line]
    assert headers == [f"{path}: container delimited" for path in in_order]


def test_directories_and_files_mix_in_argument_order(capture_directory: Path) -> None:
    first = ENVOY / "reviews-http.jsonl"
    status, out, err = meshals("inspect", "--json", first, capture_directory, first)
    assert (status, err) == (0, "")
    files = [json.loads(line)["file"] for line in out.splitlines()]
    assert list(dict.fromkeys(files)) == [
        str(first),
        *(str(capture_directory / recording.name) for recording in RECORDINGS),
    ]
    assert files[-1] == str(first)  # named twice, read twice
    assert files.count(str(first)) == 2 * 9


def test_an_empty_directory_is_a_warning(tmp_path: Path) -> None:
    assert meshals("graph", "--resolver", RESOLVER, tmp_path) == (
        0,
        "(no calls)\n",
        f"meshals: warning: {tmp_path}: a directory without files to read: nothing read\n"
        "meshals: 0 files: 0 entries, 0 analyzed, 0 skipped, 0 metrics\n",
    )


# --- empty inputs -----------------------------------------------------------------------------


def test_an_empty_file_is_a_warning_not_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    recording = ENVOY / "mongodb-tcp.bin"
    assert meshals("stats", "--resolver", RESOLVER, "--format", "jsonl", empty, recording) == (
        0,
        meshals("stats", "--resolver", RESOLVER, "--format", "jsonl", recording)[1],
        f"meshals: warning: {empty}: empty input: nothing was read\n"
        "meshals: 2 files: 2 entries, 2 analyzed, 0 skipped, 2 metrics\n",
    )


@pytest.mark.parametrize("command", ["inspect", "analyze", "graph", "stats", "metrics"])
def test_nothing_on_standard_input_is_a_warning(command: str) -> None:
    naming = () if command == "inspect" else ("--resolver", RESOLVER)
    status, _, err = meshals(command, *naming, "-", stdin=b"")
    assert status == 0
    assert err == "meshals: warning: <stdin>: empty input: nothing was read\n" + (
        "meshals: <stdin>: 1 warning\n"
        if command == "inspect"
        else "meshals: 1 file: 0 entries, 0 analyzed, 0 skipped, 0 metrics\n"
    )
