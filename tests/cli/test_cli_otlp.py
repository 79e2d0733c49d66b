"""``--format otlp`` and ``otlp-json`` of ``analyze`` and ``stats``: what they write where."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from meshals import cli

pytest.importorskip("opentelemetry.proto.metrics.v1.metrics_pb2")
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from meshals.output import otlp_json

REVIEWS = str(Path(__file__).parents[1] / "fixtures" / "envoy" / "reviews-http.bin")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_pb_file_is_the_binary_and_a_json_file_the_same_message_in_otlp_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for command, message in (
        ("analyze", ExportTraceServiceRequest),
        ("stats", ExportMetricsServiceRequest),
    ):
        binary, text = tmp_path / f"{command}.pb", tmp_path / f"{command}.json"
        assert run(capsys, command, "--example", "bookinfo", "-q", "-o", str(binary))[:2] == (0, "")
        assert run(capsys, command, "--example", "bookinfo", "-q", "-o", str(text))[:2] == (0, "")
        parsed = message.FromString(binary.read_bytes())
        assert text.read_text(encoding="utf-8") == otlp_json(parsed) + "\n"
        status, out, _ = run(
            capsys, command, "--example", "bookinfo", "-q", "--format", "otlp-json"
        )
        assert (status, out) == (0, text.read_text(encoding="utf-8"))


def test_the_note_names_spans_for_analyze_and_metrics_for_stats(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for command, argv, what in (
        ("analyze", ("-o", str(tmp_path / "a.pb")), "the spans"),
        ("analyze", ("--format", "otlp-json", "-o", str(tmp_path / "a.txt")), "the spans"),
        ("analyze", ("-o", str(tmp_path / "a.jsonl")), "the metrics"),
        ("stats", ("-o", str(tmp_path / "s.pb")), "the statistics"),
    ):
        status, _, err = run(capsys, command, "--example", "bookinfo", *argv)
        assert status == 0
        assert err.splitlines()[-1] == f"meshals: wrote {what} to {argv[-1]}"


def test_the_binary_goes_to_a_file_or_a_redirected_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A text-only stdout (StringIO here, a terminal for a user) is refused before reading.
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert cli.main(["analyze", REVIEWS, "--format", "otlp"]) == 1
    assert err.getvalue() == (
        "meshals: error: --format otlp writes protobuf binary: give -o FILE.pb or redirect stdout\n"
    )
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="utf-8")
    monkeypatch.setattr("sys.stdout", stdout)
    assert cli.main(["stats", REVIEWS, "-q", "--format", "otlp"]) == 0
    stdout.flush()
    request = ExportMetricsServiceRequest.FromString(buffer.getvalue())
    assert [m.name for m in request.resource_metrics[0].scope_metrics[0].metrics] == [
        "http.server.request.duration",
        "rpc.client.duration",
    ]


def test_stats_otlp_has_no_windows(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "stats", REVIEWS, "--window", "1m", "--format", "otlp-json")
    assert (status, out, err) == (
        1,
        "",
        "meshals: error: --window does not apply to --format otlp/otlp-json\n",
    )


def test_calls_without_times_are_counted_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The reviews recording as JSON Lines, one entry's start time removed.
    lines = (Path(REVIEWS).with_suffix(".jsonl")).read_text(encoding="utf-8").splitlines()
    message = json.loads(lines[0])
    del message["httpLogs"]["logEntry"][0]["commonProperties"]["startTime"]
    capture = tmp_path / "reviews.jsonl"
    capture.write_text("\n".join([json.dumps(message), *lines[1:]]) + "\n", encoding="utf-8")
    status, out, err = run(capsys, "analyze", str(capture), "--format", "otlp-json")
    assert status == 0
    spans = json.loads(out)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len(spans) == 8  # of 9
    assert err.startswith(
        "meshals: warning: 1 calls without a start time or an end are not in the OTLP spans\n"
    )


def test_a_missing_file_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    status, out, err = run(capsys, "stats", str(missing), "--format", "otlp-json")
    assert (status, out, err) == (1, "", f"meshals: error: {missing}: No such file or directory\n")
