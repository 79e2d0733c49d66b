"""The installed ``meshals`` command's inputs: compressed captures, run as a user runs them.

Each test starts the console script the distribution installs, in a subprocess, on the real
Envoy recordings (or copies of them made in ``tmp_path``).
"""

from __future__ import annotations

import gzip
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


@pytest.mark.parametrize("command", ["inspect", "analyze", "graph", "stats", "metrics"])
def test_json_that_is_not_an_als_message_is_an_error_naming_the_file(command: str) -> None:
    truth = ENVOY / "ground_truth.json"
    assert meshals(command, truth) == (
        1,
        "",
        f"meshals: error: {truth}, message 0: not an ALS message: a JSON object whose members"
        ' ("envoy_version", "envoy_build", "resolver", ...) include none of identifier,'
        " httpLogs, tcpLogs (http_logs, tcp_logs)\n",
    )
