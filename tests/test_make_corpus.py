"""``tools/make_corpus.py``: a deterministic benchmark corpus built from the real recordings."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import meshals

TOOLS = Path(__file__).parent.parent / "tools"
sys.path.insert(0, str(TOOLS))

import make_corpus  # noqa: E402 -- a script in tools/, importable once on the path

ENVOY_FIXTURES = Path(__file__).parent / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads(
    (ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8")
)
RESOLVER = meshals.StaticResolver.from_mapping(GROUND_TRUTH["resolver"])
# Small, but more than one replayed stream (50..500 messages of 1..3 entries each).
ENTRIES = 1_500
TEMPLATES = make_corpus.load_templates()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus.write_corpus(
        tmp_path_factory.mktemp("corpus"), ENTRIES, seed=7, formats=("bin", "jsonl")
    )


@pytest.fixture(scope="module")
def messages(corpus: dict[str, Path]) -> list[meshals.AlsMessage]:
    return _read(corpus["bin"])


def _read(path: Path, *, strict: bool = True) -> list[meshals.AlsMessage]:
    """The ALS messages of *path* (``read`` may also yield L4 records; a corpus has none)."""
    with meshals.read(path, strict=strict) as reader:
        records: list[object] = list(reader)
    messages = [record for record in records if isinstance(record, meshals.AlsMessage)]
    assert len(messages) == len(records)
    return messages


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_the_same_bytes(corpus: dict[str, Path], tmp_path: Path) -> None:
    again = make_corpus.write_corpus(tmp_path, ENTRIES, seed=7, formats=("bin", "jsonl"))
    assert _digest(again["bin"]) == _digest(corpus["bin"])
    assert _digest(again["jsonl"]) == _digest(corpus["jsonl"])


def test_another_seed_gives_other_bytes(corpus: dict[str, Path], tmp_path: Path) -> None:
    other = make_corpus.write_corpus(tmp_path, ENTRIES, seed=8)
    assert _digest(other["bin"]) != _digest(corpus["bin"])


@pytest.mark.parametrize("entries", [0, 1, 2, 3, 101])
def test_entry_count_is_exact(entries: int, tmp_path: Path) -> None:
    path = make_corpus.write_corpus(tmp_path, entries, seed=1)["bin"]
    assert sum(len(message.entries) for message in _read(path)) == entries


def test_entries_per_message(tmp_path: Path) -> None:
    path = make_corpus.write_corpus(tmp_path, 100, seed=1, entries_per_message=16)["bin"]
    sizes = [len(message.entries) for message in _read(path)]
    assert sum(sizes) == 100
    assert set(sizes[:-1]) == {16}


def test_decodes_strictly_with_every_entry(messages: list[meshals.AlsMessage]) -> None:
    assert sum(len(message.entries) for message in messages) == ENTRIES
    assert all(message.diagnostics == () for message in messages)
    sizes = {len(message.entries) for message in messages[:-1]}
    assert sizes <= {size for template in TEMPLATES for size in template.sizes}  # as recorded


def test_identifiers_open_each_stream(messages: list[meshals.AlsMessage]) -> None:
    recorded = {
        message.identifier.node.id
        for path in ENVOY_FIXTURES.glob("*.bin")
        for message in _read(path, strict=False)
        if message.identifier is not None and message.identifier.node is not None
    }
    openers = [index for index, message in enumerate(messages) if message.identifier is not None]
    assert openers[0] == 0
    assert len(openers) >= 2
    # Each replayed stream has at least 50 messages, so identifiers are rare.
    assert all(later - earlier >= 50 for earlier, later in itertools.pairwise(openers))
    for index in openers:
        identifier = messages[index].identifier
        assert identifier is not None
        assert identifier.node is not None
        assert identifier.node.id in recorded


def test_json_lines_hold_the_same_messages(
    corpus: dict[str, Path], messages: list[meshals.AlsMessage]
) -> None:
    with meshals.read(corpus["jsonl"], strict=True) as reader:
        assert list(reader) == messages
        assert reader.container is meshals.capture.Container.JSON_LINES


def test_what_varies(messages: list[meshals.AlsMessage]) -> None:
    http = [entry for message in messages for entry in message.http_entries]
    request_ids = [entry.request.request_id for entry in http if entry.request is not None]
    assert len(set(request_ids)) == len(request_ids)
    starts = [
        entry.common_properties.start_time_ns or 0
        for message in messages
        for entry in message.entries
        if entry.common_properties is not None and entry.common_properties.start_time_ns
    ]
    assert len(starts) == ENTRIES
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    recorded = {
        entry.request.path
        for template in TEMPLATES
        if template.kind == "http"
        for entry in template.entries
    }
    paths = {entry.request.path for entry in http if entry.request is not None}
    assert paths - recorded  # numeric segments and queries vary
    ports = {
        entry.common_properties.downstream_remote_address.port
        for entry in http
        if entry.common_properties is not None
        and isinstance(
            entry.common_properties.downstream_remote_address, meshals.model.SocketAddress
        )
    }
    assert len(ports) > len(http) // 2
    assert all(port is not None and 32768 <= port <= 60999 for port in ports)


def test_latencies_keep_their_order(messages: list[meshals.AlsMessage]) -> None:
    for message in messages:
        for entry in message.http_entries:
            common = entry.common_properties
            assert common is not None
            first, last = (
                common.time_to_first_upstream_rx_byte_ns,
                common.time_to_last_upstream_rx_byte_ns,
            )
            if first is not None and last is not None:
                assert first <= last


def test_analysis_names_the_recorded_pods(corpus: dict[str, Path]) -> None:
    analysis = meshals.analyze(meshals.read(corpus["bin"]), resolver=RESOLVER, reidentify=True)
    metrics = analysis.metrics()
    accounting = analysis.accounting
    assert accounting.entries_in == ENTRIES
    assert accounting.analyzed == ENTRIES
    assert analysis.diagnostics == ()
    pairs = {(metric.source.service, metric.destination.service) for metric in metrics}
    assert ("productpage", "reviews") in pairs
    assert ("istio-ingressgateway", "productpage") in pairs
    # The same metrics from the JSON Lines corpus: the differential check of the benchmark.
    from_json = meshals.analyze(meshals.read(corpus["jsonl"]), resolver=RESOLVER, reidentify=True)
    assert from_json.metrics() == metrics


def test_generate_is_lazy() -> None:
    stream = make_corpus.generate(10**12, seed=0)
    first, identifier_json = next(stream)
    assert first.HasField("identifier")
    assert identifier_json is not None
    assert "node" in identifier_json
    second, none = next(stream)
    assert not second.HasField("identifier")
    assert none is None


@pytest.mark.parametrize(
    ("entries", "per_message", "match"),
    [(-1, None, "entries must be >= 0"), (1, 0, "entries_per_message must be >= 1")],
)
def test_bad_arguments(entries: int, per_message: int | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        next(make_corpus.generate(entries, entries_per_message=per_message))


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown formats"):
        make_corpus.write_corpus(tmp_path, 1, formats=("csv",))


def test_main_writes_and_prints_the_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_corpus.main(["--entries", "5", "--output", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'als-5-seed0.bin'}\n"


def test_main_refuses_a_bad_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_corpus.main(["--entries", "-3", "--output", str(tmp_path)])
    assert "entries must be >= 0" in capsys.readouterr().err


def test_script_runs_standalone(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(TOOLS / "make_corpus.py"),
            "--entries",
            "20",
            "--seed",
            "3",
            "--output",
            str(tmp_path),
            "--format",
            "bin",
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        check=True,
        # Another process with another hash seed writes the same bytes.
        env={**os.environ, "PYTHONPATH": _pythonpath(), "PYTHONHASHSEED": "12345"},
    )
    written = [Path(line) for line in result.stdout.splitlines()]
    assert [path.name for path in written] == ["als-20-seed3.bin", "als-20-seed3.jsonl"]
    assert not list(tmp_path.glob("*.tmp"))
    expected = make_corpus.write_corpus(tmp_path / "again", 20, seed=3)["bin"]
    assert written[0].read_bytes() == expected.read_bytes()


def _pythonpath() -> str:
    # The subprocess must import the meshals these tests import (installed or a checkout).
    package_root = str(Path(meshals.__file__).parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return package_root if not existing else os.pathsep.join([package_root, existing])
