"""``meshals analyze``'s line-oriented formats are written as the metrics are made."""

from __future__ import annotations

import contextlib
import io
import pickle
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path

import pytest

from meshals import ServiceMeshMetric, analyze, cli, examples, read
from meshals._errors import Diagnostic
from meshals.cli import _analyze, _run
from meshals.output._records import CSV_COLUMNS, SERIALISATIONS

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
DETAILS = ENVOY / "details-http.bin"  # 4 messages, one entry each
REVIEWS = ENVOY / "reviews-http.bin"  # 5 messages; the first 4 carry two entries
CSV_HEADER = ",".join(CSV_COLUMNS) + "\n"


class Recorder(io.StringIO):
    """stdout that notes each write in *events*, beside the messages read."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def write(self, text: str) -> int:
        self.events.append(f"{text.count(chr(10))} lines")
        return super().write(text)


def run(events: list[str], *argv: str | Path) -> int:
    """``meshals ARGV`` with stdout noting each write in *events*."""
    with contextlib.redirect_stdout(Recorder(events)):
        return cli.main([str(arg) for arg in argv])


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happens in order: "message" as each one is read, "N lines" as stdout is written."""
    noted: list[str] = []
    noting = _run._noting

    def spying(
        records: Iterable[object], sink: list[Diagnostic], count: Callable[[int], None]
    ) -> Iterator[object]:
        for record in noting(records, sink, count):
            noted.append("message")
            yield record

    monkeypatch.setattr(_run, "_noting", spying)
    return noted


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "skywalking-json"])
def test_each_metric_is_written_before_the_next_message_is_read(
    events: list[str], fmt: str
) -> None:
    assert run(events, "analyze", "--format", fmt, DETAILS, REVIEWS) == 0
    header = ["1 lines"] if fmt == "csv" else []
    assert events == [
        *("message", *header, "1 lines"),
        *(["message", "1 lines"] * 3),  # details: one metric per message
        *(["message", "1 lines", "1 lines"] * 4),  # reviews: two per message,
        *("message", "1 lines"),  # then one
    ]


def test_the_table_is_written_at_the_end(events: list[str]) -> None:
    assert run(events, "analyze", DETAILS, REVIEWS) == 0
    assert events == ["message"] * 9 + ["14 lines"]  # the header and 13 metrics, aligned


def test_csv_without_metrics_is_its_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli.main(["analyze", "--format", "csv", str(empty)]) == 0
    assert capsys.readouterr().out == CSV_HEADER


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_failure_before_the_first_metric_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    table = tmp_path / "static.json"
    table.write_text("{")
    assert cli.main(["analyze", "--format", fmt, "--resolver", str(table), str(DETAILS)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"meshals: error: {table}: not valid JSON")


@pytest.mark.parametrize("fmt", sorted(SERIALISATIONS))
def test_streamed_is_the_whole_serialisation(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["analyze", "--format", fmt, "--example", "bookinfo"]) == 0
    example = examples.example("bookinfo")
    metrics: list[ServiceMeshMetric] = []
    for capture in example.captures():
        with resources.as_file(capture) as path:
            metrics.extend(analyze(read(path), resolver=example.resolver()))
    assert len(metrics) == 45
    assert capsys.readouterr().out == SERIALISATIONS[fmt].whole(metrics)


def test_a_worker_sends_back_a_files_lines_whole() -> None:
    example = examples.example("bookinfo")
    with resources.as_file(next(iter(example.captures()))) as path:
        metrics = analyze(read(path), resolver=example.resolver()).metrics()
    text = _analyze._FileText("csv")
    assert pickle.loads(pickle.dumps(text)) == text
    assert text(metrics) == SERIALISATIONS["csv"].whole(metrics).removeprefix(CSV_HEADER)
    assert text(metrics).count("\n") == len(metrics) > 0
