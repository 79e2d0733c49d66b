"""``meshals stats`` and ``meshals metrics``, and the options every analysing command shares."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import meshals
from meshals import Role, ServiceMeshMetric, ServiceMetaInfo, cli
from meshals.aggregate import red
from meshals.examples import example
from meshals.model import DetectPoint, MeshProtocol
from meshals.output import istio_metrics
from meshals.output._records import red_records
from meshals.resolve import KubernetesResolver

FIXTURES = Path(__file__).parents[1] / "fixtures"
CAPTURES = sorted((FIXTURES / "envoy").glob("*.bin"))
SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics"
NS_PER_MINUTE = 60_000_000_000


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def example_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    status, out, _ = run(capsys, "analyze", "--example", "bookinfo", "--format", "jsonl")
    assert status == 0
    return jsonl(out)


# --- stats --------------------------------------------------------------------------------------


def test_stats_by_service_jsonl(
    capsys: pytest.CaptureFixture[str], recorded_period_ns: tuple[int, int]
) -> None:
    status, out, err = run(capsys, "stats", "--example", "bookinfo", "--format", "jsonl")
    assert status == 0
    assert err == SUMMARY + "\n"
    records = jsonl(out)
    assert [record["service"] for record in records] == [
        "UNKNOWN",
        "details",
        "istio-ingressgateway",
        "mongodb",
        "mysqldb",
        "productpage",
        "ratings",
        "recommendations",
        "reviews",
    ]
    by_service = {record["service"]: record for record in records}
    reviews = by_service["reviews"]
    assert list(reviews) == [
        "service",
        "window_start",
        "window_start_ns",
        "protocols",
        "requests",
        "errors",
        "error_rate",
        "errors_4xx",
        "error_rate_4xx",
        "errors_5xx",
        "error_rate_5xx",
        "grpc_errors",
        "grpc_error_rate",
        "rate_per_s",
        "latency_p50_ns",
        "latency_p90_ns",
        "latency_p99_ns",
        "latency_mean_ns",
        "latency_max_ns",
        "received_bytes",
        "sent_bytes",
        "reporters",
        "health",
    ]
    assert (reviews["requests"], reviews["errors"], reviews["error_rate"]) == (5, 2, 0.4)
    assert (reviews["reporters"], reviews["health"]) == (["client", "server"], "failing")
    assert reviews["window_start"] is None
    # Each call once: the server side's view where it reported.
    metrics = example_metrics(capsys)
    server_latencies = sorted(
        metric["latency_ns"]
        for metric in metrics
        if metric["dest_service"] == "reviews" and metric["detect_point"] == "server"
    )
    assert reviews["latency_max_ns"] == server_latencies[-1]
    # Every service's rate is over the whole input's period, worked out from the recordings.
    first, last = recorded_period_ns
    seconds = (last - first) / 1e9
    assert reviews["rate_per_s"] == 5 / seconds
    assert by_service["mysqldb"]["rate_per_s"] == by_service["UNKNOWN"]["rate_per_s"] == 1 / seconds
    mongodb = by_service["mongodb"]
    assert (mongodb["received_bytes"], mongodb["sent_bytes"]) == (1564, 1564)
    assert mongodb["health"] == "unknown"  # TCP: no rule by default
    assert sum(record["requests"] for record in records) == 29


def test_stats_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "stats", "--example", "bookinfo")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "CALLS",
        "ERRORS",
        "ERR%",
        "4XX%",
        "5XX%",
        "RATE/S",
        "P50",
        "P90",
        "P99",
        "HEALTH",
    ]
    assert len(lines) == 10
    reviews = lines[9].split()
    assert reviews[:6] == ["reviews", "5", "2", "40.0%", "0.0%", "40.0%"]
    assert reviews[-1] == "failing"
    assert all(cell.endswith("ms") for cell in reviews[7:10])
    # details answered 3 x 200 and a 404: no error, yet failing, and the table says why.
    assert lines[2].split()[:6] == ["details", "4", "0", "0.0%", "25.0%", "0.0%"]
    assert lines[2].split()[-1] == "failing"
    assert lines[4].split()[:6] == ["mongodb", "2", "0", "0.0%", "-", "-"]  # TCP: no HTTP


# (group, protocols, (4xx, rate), (5xx, rate), (gRPC errors, rate), health), by hand from the
# traffic plan (tests/fixtures/envoy/README.md), each call counted once.
HEALTH_INPUTS = [
    # GET /details/0 three times (200), GET /details/missing (404): 25 % 4xx > 20 %.
    ("details", ["HTTP"], (1, 0.25), (0, 0.0), (0, None), "failing"),
    # 3 x 200, a 500, the timed-out /reviews/slow reset without a code: 40 % 5xx.
    ("reviews", ["HTTP"], (0, 0.0), (2, 0.4), (0, None), "failing"),
    # 4 GetRating calls answered 200, one with grpc-status 5: 25 % gRPC errors > 10 %.
    ("ratings", ["gRPC"], (0, 0.0), (0, 0.0), (1, 0.25), "failing"),
    # Two MongoDB connections: no HTTP, no rule for TCP by default.
    ("mongodb", ["TCP"], (0, None), (0, None), (0, None), "unknown"),
]


def test_stats_records_show_what_decides_health(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "stats", "--example", "bookinfo", "--format", "jsonl")
    records = {record["service"]: record for record in jsonl(out)}
    for service, protocols, http_4xx, http_5xx, grpc, health in HEALTH_INPUTS:
        record = records[service]
        assert record["protocols"] == protocols
        assert (record["errors_4xx"], record["error_rate_4xx"]) == http_4xx
        assert (record["errors_5xx"], record["error_rate_5xx"]) == http_5xx
        assert (record["grpc_errors"], record["grpc_error_rate"]) == grpc
        assert record["health"] == health


def test_stats_by_instance_and_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys, "stats", "--example", "bookinfo", "--by", "instance", "--format", "jsonl"
    )
    instances = [(r["service"], r["instance"]) for r in jsonl(out)]
    assert instances[:3] == [
        ("UNKNOWN", "UNKNOWN"),
        ("details", "details-v1-dtl"),
        ("istio-ingressgateway", "istio-ingressgateway-abc"),
    ]
    _, out, _ = run(
        capsys, "stats", "--example", "bookinfo", "--by", "endpoint", "--format", "jsonl"
    )
    endpoints = {(r["service"], r["endpoint"]): r["requests"] for r in jsonl(out)}
    assert endpoints[("ratings", "POST:/bookinfo.ratings.v1.Ratings/GetRating")] == 4
    assert endpoints[("istio-ingressgateway", "GET:/productpage")] == 3
    assert all(endpoint is not None for _, endpoint in endpoints)  # TCP has no endpoint
    assert sum(endpoints.values()) == 26  # 29 calls less the 3 TCP connections


def test_stats_by_edge_csv(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "stats", "--example", "bookinfo", "--by", "edge", "--format", "csv"
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:4] == ["source", "destination", "window_start", "window_start_ns"]
    edges = {(row["source"], row["destination"]): row for row in rows}
    assert len(edges) == 9
    ratings = edges[("reviews", "ratings")]
    assert (ratings["requests"], ratings["errors"], ratings["reporters"]) == ("4", "1", "client")
    assert (ratings["window_start"], ratings["window_start_ns"]) == ("", "")
    assert ratings["error_rate"] == "0.25"
    # A list is one cell, its items joined with "," (in JSON Lines an array).
    details = edges[("productpage", "details")]
    assert (details["protocols"], details["reporters"]) == ("HTTP", "client,server")
    assert (details["errors_4xx"], details["error_rate_4xx"]) == ("1", "0.25")


def test_stats_per_window(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = example_metrics(capsys)
    status, out, _ = run(
        capsys, "stats", "--example", "bookinfo", "--window", "1m", "--format", "jsonl"
    )
    assert status == 0
    records = jsonl(out)
    groups = {
        (metric["dest_service"], metric["start_time_ns"] // NS_PER_MINUTE * NS_PER_MINUTE)
        for metric in metrics
    }
    assert [(r["service"], r["window_start_ns"]) for r in records] == sorted(groups)
    for record in records:
        assert record["window_start_ns"] % NS_PER_MINUTE == 0
        assert record["window_start"].endswith(":00Z")
        assert record["rate_per_s"] == pytest.approx(record["requests"] / 60)
    assert sum(record["requests"] for record in records) == 29


def test_edge_stats_per_window(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "stats", "--example", "bookinfo", "--by", "edge", "--window", "500ms",
        "--format", "jsonl",
    )  # fmt: skip
    assert status == 0
    records = jsonl(out)
    keys = [(r["source"], r["destination"], r["window_start_ns"]) for r in records]
    assert keys == sorted(keys)
    assert sum(record["requests"] for record in records) == 29
    assert all(r["rate_per_s"] == pytest.approx(r["requests"] / 0.5) for r in records)
    status, out, _ = run(capsys, "stats", "--example", "bookinfo", "--by", "edge", "--window", "1h")
    assert out.splitlines()[0].split()[:3] == ["SOURCE", "DESTINATION", "WINDOW"]


def test_stats_of_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    for scope in ("service", "edge"):
        assert run(capsys, "stats", "--by", scope, empty)[:2] == (0, "(no calls)\n")
        assert run(capsys, "stats", "--by", scope, "--format", "jsonl", empty)[:2] == (0, "")


@pytest.mark.parametrize("window", ["1x", "0s", "fast"])
def test_a_bad_window_is_a_usage_error(capsys: pytest.CaptureFixture[str], window: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["stats", "--window", window, "x.bin"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: meshals stats")
    assert "meshals stats: error: --window: " in err


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_in_prometheus_format(capsys: pytest.CaptureFixture[str]) -> None:
    parser = pytest.importorskip("prometheus_client.parser", reason="needs the prometheus extra")
    status, out, err = run(capsys, "metrics", "--example", "bookinfo")
    assert status == 0
    assert err == SUMMARY + "\n"
    # The command prints what the library computes from the same recordings.
    assert out == istio_metrics(example("bookinfo").streams()).to_prometheus()
    families = {family.name: family for family in parser.text_string_to_metric_families(out)}
    requests = families["istio_requests"].samples
    assert sum(sample.value for sample in requests) == 35
    gateway = [
        sample for sample in requests if sample.labels["source_workload"] == "istio-ingressgateway"
    ]
    assert {sample.labels["reporter"] for sample in gateway} == {"source", "destination"}
    routed = [s for s in gateway if s.labels["destination_workload"] == "productpage-v1"]
    assert {(s.labels["reporter"], s.labels["response_code"], s.value) for s in routed} == {
        ("source", "200", 3.0),
        ("source", "404", 1.0),
        ("source", "500", 1.0),
        ("destination", "200", 3.0),
        ("destination", "404", 1.0),
        ("destination", "500", 1.0),
    }
    assert routed[0].labels["source_workload_namespace"] == "istio-system"
    assert routed[0].labels["destination_version"] == "v1"


def test_metrics_name_peers_from_the_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    reviews = FIXTURES / "envoy" / "reviews-http.bin"
    status, plain, err = run(capsys, "metrics", reviews)
    # Istio's labels do not come from the resolver: no "every workload is UNKNOWN" warning
    assert (status, err) == (0, "meshals: 1 file: 9 entries, 9 analyzed, 0 skipped, 9 metrics\n")
    # ratings runs without a sidecar: no peer metadata, so only the snapshot names it
    assert 'destination_workload="ratings-v1-rtg"' not in plain
    assert 'destination_version="unknown",destination_workload="unknown"' in plain
    snapshot = FIXTURES / "k8s" / "bookinfo-loopback.json"
    _, named, _ = run(capsys, "metrics", reviews, "--k8s-snapshot", snapshot)
    assert (
        named
        == istio_metrics(
            [meshals.read(reviews)], snapshot=KubernetesResolver.from_file(snapshot)
        ).to_prometheus()
    )
    assert 'destination_workload="ratings-v1-rtg"' in named


def test_metrics_without_prometheus_client(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    status, out, err = run(capsys, "metrics", "--example", "bookinfo")
    assert (status, out) == (1, "")
    assert err == (
        "meshals: error: Prometheus output needs prometheus_client, which is not installed:"
        " pip install prometheus_client (meshals' extra 'prometheus')\n"
    )


# --- shared options -----------------------------------------------------------------------------


def test_analyze_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = example_metrics(capsys)
    assert len(metrics) == 45
    assert {metric["origin"]["source"].rsplit("/", 1)[-1] for metric in metrics} == {
        path.name for path in CAPTURES
    }


def test_the_default_analyzer_is_k8s_mesh(capsys: pytest.CaptureFixture[str]) -> None:
    default = run(capsys, "stats", "--example", "bookinfo", "--format", "jsonl")
    explicit = run(
        capsys, "stats", "--example", "bookinfo", "--analyzer", "k8s-mesh", "--format", "jsonl"
    )
    assert default == explicit


def test_analyzers_are_passed_through_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "analyze", "--example", "bookinfo", "--analyzer", "mx-mesh,k8s-mesh",
        "--format", "jsonl",
    )  # fmt: skip
    assert status == 0, err
    analyzers = Counter(metric["analyzer"] for metric in jsonl(out))
    assert set(analyzers) <= {"mx-mesh", "k8s-mesh"}
    assert analyzers["mx-mesh"] > 0  # the recordings carry Istio's peer metadata


def test_mx_mesh_alone_needs_no_resolver(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "analyze", "--analyzer", "mx-mesh", *CAPTURES)
    assert status == 0, err
    assert "every workload is UNKNOWN" not in err


def test_stats_error_prints_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    assert run(capsys, "stats", "--by", "edge", missing) == (
        1,
        "",
        f"meshals: error: {missing}: No such file or directory\n",
    )
    assert run(capsys, "metrics", missing)[:2] == (1, "")


def untimed(service: str) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.CLIENT,
        protocol=MeshProtocol.TCP,
        source=ServiceMetaInfo(service="a", instance="a-0"),
        destination=ServiceMetaInfo(service=service, instance=f"{service}-0"),
        status=True,
    )


def test_calls_without_a_start_time() -> None:
    # Not in any window, and no part of the whole run's period: no rate.
    windowed = red([untimed("b")], scope="edge", window="1m")
    assert (windowed.left_out, red_records(windowed)) == (1, [])
    [record] = red_records(red([untimed("b")], scope="edge"))
    assert (record["source"], record["destination"], record["requests"]) == ("a", "b", 1)
    assert record["rate_per_s"] is None
