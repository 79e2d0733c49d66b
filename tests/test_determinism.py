"""Same input, same output, byte for byte: across runs, hash seeds and Python versions.

The CLI's machine-readable outputs over committed fixtures are compared with golden files in
``tests/fixtures/golden/`` (written by this test under ``MESHALS_UPDATE_GOLDEN=1``; review the
diff before committing). Any ordering that leaks from a set or a hash (response flags, map
keys, metrics) or float formatting that differs between Pythons shows up here: run the suite
under every supported Python (``nox -s tests``) and with different ``PYTHONHASHSEED``\\ s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import meshals
from meshals import cli

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "fixtures" / "golden"
UPDATE = os.environ.get("MESHALS_UPDATE_GOLDEN") == "1"
# The subprocesses import the meshals these tests import: the checkout's src/, or the installed
# package, whose compiled decoder `nox -s tests` requires (MESHALS_REQUIRE_ACCEL).
PACKAGE_ROOT = str(Path(meshals.__file__).parent.parent)

# Paths relative to the repository root, as the outputs print them.
SKYWALKING = [
    "tests/fixtures/skywalking/envoy-ingress.msg",
    "tests/fixtures/skywalking/envoy-ingress2sidecar.msg",
    "tests/fixtures/skywalking/envoy-mesh-client-sidecar.msg",
    "tests/fixtures/skywalking/envoy-mesh-server-sidecar.msg",
]
SEED = [
    "tests/fixtures/seed/envoy-ingress.msg",
    "tests/fixtures/seed/envoy-ingress2sidecar.msg",
    "tests/fixtures/seed/envoy-mesh-server-sidecar.msg",
]
RESOLVER = ["--resolver", "tests/fixtures/resolvers/skywalking-mock.json"]
# Many flags, maps, metadata, TLS, Any payloads and unknown fields: orders that could leak.
VARIED = ["tests/fixtures/golden/inputs/varied.jsonl"]
# The same messages in binary (delimited): protobuf's parser iterates maps in an order seeded
# per process, so only meshals' own ordering keeps this output stable from run to run.
VARIED_BINARY = ["tests/fixtures/golden/inputs/varied.bin"]

# golden file -> the command's arguments
COMMANDS: dict[str, list[str]] = {
    "analyze.jsonl": ["analyze", "--format", "jsonl", *RESOLVER, *SKYWALKING, *VARIED],
    "analyze.csv": ["analyze", "--format", "csv", *RESOLVER, *SKYWALKING],
    "analyze-skywalking.json": [
        "analyze",
        "--format",
        "skywalking-json",
        *RESOLVER,
        *SKYWALKING,
        *VARIED,
    ],
    "inspect.jsonl": ["inspect", "--json", *SKYWALKING, *SEED, *VARIED],
    "inspect-binary.jsonl": ["inspect", "--json", *VARIED_BINARY],
    "inspect.txt": ["inspect", *SKYWALKING, *SEED, *VARIED],
}


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[str, str]:
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == 0
    return captured.out, captured.err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_matches_the_golden_file(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    first, warnings = run(capsys, COMMANDS[name])
    assert run(capsys, COMMANDS[name]) == (first, warnings)  # no state carried over
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(first, encoding="utf-8", newline="")
    assert first == golden.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("seed", ["1", "4242", "random"])
def test_output_does_not_depend_on_the_hash_seed(seed: str) -> None:
    # A fresh interpreter per seed: set and dict orders of str keys change with the seed.
    for name in ("analyze.jsonl", "inspect.jsonl", "inspect-binary.jsonl"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": PACKAGE_ROOT}
        result = subprocess.run(
            [sys.executable, "-m", "meshals", *COMMANDS[name]],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            check=True,
        )
        assert result.stdout.decode("utf-8") == (GOLDEN / name).read_text(encoding="utf-8")


def test_every_golden_file_has_its_command() -> None:
    written = [path.name for path in GOLDEN.iterdir() if path.is_file() and path.suffix != ".md"]
    assert sorted(written) == sorted(COMMANDS)
