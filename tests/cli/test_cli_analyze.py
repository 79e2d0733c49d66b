"""``meshals analyze``: resolvers, the four output formats, the summary, and errors."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from meshals import Accounting, Diagnostic, DiagnosticKind, Location, cli
from meshals.cli import _run
from meshals.mesh._accounting import dropped_by
from meshals.output._records import CSV_COLUMNS
from meshals.output._skywalking import ServiceMeshMetrics

FIXTURES = Path(__file__).parents[1] / "fixtures"
SKYWALKING = FIXTURES / "skywalking"
INGRESS = SKYWALKING / "envoy-ingress.msg"
INGRESS2SIDECAR = SKYWALKING / "envoy-ingress2sidecar.msg"
SERVER_SIDECAR = SKYWALKING / "envoy-mesh-server-sidecar.msg"
CLIENT_SIDECAR = SKYWALKING / "envoy-mesh-client-sidecar.msg"
# Each fixture's response.responseBodyBytes.
RESPONSE_BODY_BYTES = {
    INGRESS: 4415,
    INGRESS2SIDECAR: 4415,
    SERVER_SIDECAR: 295,
    CLIENT_SIDECAR: 178,
}
# EXPECTED.md's resolver table (SkyWalking's mocked K8s registry).
MOCK_RESOLVER = FIXTURES / "resolvers" / "skywalking-mock.json"
ENVOY = FIXTURES / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads((ENVOY / "ground_truth.json").read_text())
LOOPBACK_SNAPSHOT = FIXTURES / "k8s" / "bookinfo-loopback.json"
# The client-sidecar fixture has one extra "}" after its message: a tolerated warning.
TRAILING_WARNING = (
    f"meshals: warning: {CLIENT_SIDECAR}, message 0: trailing text after the JSON value"
    " at line 91 column 1; ignored"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# --- SkyWalking's fixtures, JSON Lines ----------------------------------------------------------


def record(
    fixture: Path,
    *,
    role: str,
    side: str,
    source: tuple[str, str],
    dest: tuple[str, str],
    endpoint: str,
    ms: tuple[int, int, int],
    ns: tuple[int, int, int],
    internal: tuple[int, int],
) -> dict[str, Any]:
    """One jsonl record of a fixture metric: every key, SkyWalking's values where it has them."""
    return {
        "analyzer": "k8s-mesh",
        "role": role,
        "detect_point": side,
        "protocol": "HTTP",
        "source_service": source[0],
        "source_instance": source[1],
        "source_namespace": None,
        "source_tags": {},
        "dest_service": dest[0],
        "dest_instance": dest[1],
        "dest_namespace": None,
        "dest_tags": {},
        "endpoint": endpoint,
        "response_code": 200,
        "grpc_status": None,
        "status": True,
        "start_time_ms": ms[0],
        "end_time_ms": ms[1],
        "latency_ms": ms[2],
        "start_time_ns": ns[0],
        "end_time_ns": ns[1],
        "latency_ns": ns[2],
        "tls_mode": "NONE",
        "peer_identity": None,
        "local_identity": None,
        "response_flags": [],
        "internal_error_code": "",
        "internal_request_latency_ns": internal[0],
        "internal_response_latency_ns": internal[1],
        "received_bytes": None,
        "sent_bytes": None,
        "request_bytes": 0,  # the fixtures log no request body size
        "response_bytes": RESPONSE_BODY_BYTES[fixture],
        "origin": {"source": str(fixture), "message_index": 0, "entry_index": 0},
    }


UNKNOWN = ("UNKNOWN", "UNKNOWN")
INGRESS_GW = ("ingress", "ingress-Inst")
PRODUCTPAGE = ("productpage", "productpage-Inst")
# Each fixture's start_time in ns; the other times are its durations (EXPECTED.md's sources).
INGRESS_START = 1_555_127_993_687_224_601
INGRESS2SIDECAR_START = 1_555_127_993_688_609_181
SERVER_SIDECAR_START = 1_555_127_993_712_690_678
CLIENT_SIDECAR_START = 1_555_127_993_695_750_999

EXPECTED_RECORDS = {
    INGRESS: [
        record(
            INGRESS,
            role="proxy",
            side="server",
            source=UNKNOWN,
            dest=INGRESS_GW,
            endpoint="GET:/productpage",
            ms=(1555127993687, 1555127994697, 1010),
            # end: time_to_last_downstream_tx_byte
            ns=(INGRESS_START, INGRESS_START + 1_010_432_910, 1_010_432_910),
            internal=(869_250, 1_010_053_396 - 1_010_010_710),
        ),
        record(
            INGRESS,
            role="proxy",
            side="client",
            source=INGRESS_GW,
            dest=PRODUCTPAGE,
            endpoint="GET:/productpage",
            ms=(1555127993687, 1555127994697, 1010),
            # start: time_to_first_upstream_tx_byte, end: time_to_last_upstream_rx_byte
            ns=(
                INGRESS_START + 869_250,
                INGRESS_START + 1_010_423_815,
                1_010_423_815 - 869_250,
            ),
            internal=(869_250, 42_686),
        ),
    ],
    INGRESS2SIDECAR: [
        record(
            INGRESS2SIDECAR,
            role="sidecar",
            side="server",
            source=UNKNOWN,  # meshals keeps UNKNOWN; only the SkyWalking export writes ""
            dest=PRODUCTPAGE,
            endpoint="GET:/productpage",
            ms=(1555127993688, 1555127994696, 1008),
            ns=(INGRESS2SIDECAR_START, INGRESS2SIDECAR_START + 1_008_378_251, 1_008_378_251),
            internal=(789_220, 1_008_242_458 - 1_008_120_501),
        ),
    ],
    SERVER_SIDECAR: [
        record(
            SERVER_SIDECAR,
            role="sidecar",
            side="server",
            source=PRODUCTPAGE,
            dest=("review", "review-Inst"),
            endpoint="GET:/reviews/0",
            ms=(1555127993712, 1555127994689, 977),
            ns=(SERVER_SIDECAR_START, SERVER_SIDECAR_START + 977_811_534, 977_811_534),
            internal=(841_545, 977_764_621 - 977_617_052),
        ),
    ],
    CLIENT_SIDECAR: [
        record(
            CLIENT_SIDECAR,
            role="sidecar",
            side="client",
            source=PRODUCTPAGE,
            dest=("detail", "detail-Inst"),
            endpoint="GET:/details/0",
            ms=(1555127993697, 1555127993705, 8),
            ns=(
                CLIENT_SIDECAR_START + 2_353_100,
                CLIENT_SIDECAR_START + 10_735_195,
                10_735_195 - 2_353_100,
            ),
            internal=(2_353_100, 10_669_993 - 10_500_490),
        ),
    ],
}


@pytest.mark.parametrize("fixture", list(EXPECTED_RECORDS), ids=lambda path: path.name)
def test_skywalking_fixture_jsonl(capsys: pytest.CaptureFixture[str], fixture: Path) -> None:
    status, out, err = run(
        capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "jsonl", fixture
    )
    assert status == 0
    assert jsonl(out) == EXPECTED_RECORDS[fixture]
    metrics = len(EXPECTED_RECORDS[fixture])
    summary = (
        f"meshals: 1 file: 1 entry, 1 analyzed, 0 skipped, {metrics} metric"
        f"{'s' if metrics > 1 else ''}"
    )
    warnings = [TRAILING_WARNING] if fixture == CLIENT_SIDECAR else []
    assert err.splitlines() == [*warnings, summary]


def test_all_four_fixtures_in_one_run_keep_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    files = list(EXPECTED_RECORDS)
    status, out, err = run(
        capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "jsonl", *files
    )
    assert status == 0
    assert jsonl(out) == [item for path in files for item in EXPECTED_RECORDS[path]]
    assert err.splitlines()[-1] == "meshals: 4 files: 4 entries, 4 analyzed, 0 skipped, 5 metrics"


# --- the other formats --------------------------------------------------------------------------


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    files = list(EXPECTED_RECORDS)
    status, out, _ = run(capsys, "analyze", "--resolver", MOCK_RESOLVER, *files)
    assert status == 0
    assert out.splitlines() == [
        "SIDE    PROTO  SOURCE -> DEST          ENDPOINT          CODE  STATUS    LATENCY  FLAGS",
        "server  HTTP   UNKNOWN -> ingress      GET:/productpage  200   ok      1010.43ms  -",
        "client  HTTP   ingress -> productpage  GET:/productpage  200   ok      1009.55ms  -",
        "server  HTTP   UNKNOWN -> productpage  GET:/productpage  200   ok      1008.38ms  -",
        "server  HTTP   productpage -> review   GET:/reviews/0    200   ok       977.81ms  -",
        "client  HTTP   productpage -> detail   GET:/details/0    200   ok         8.38ms  -",
    ]


def test_table_without_metrics_is_the_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "empty.json"
    path.write_text("")
    status, out, err = run(capsys, "analyze", "--resolver", MOCK_RESOLVER, path)
    assert status == 0
    assert out == "SIDE  PROTO  SOURCE -> DEST  ENDPOINT  CODE  STATUS  LATENCY  FLAGS\n"
    assert err == (
        f"meshals: warning: {path}: empty input: nothing was read\n"
        "meshals: 1 file: 0 entries, 0 analyzed, 0 skipped, 0 metrics\n"
    )


def test_csv_parses_back_to_the_jsonl_records(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(path) for path in EXPECTED_RECORDS]
    _, out, _ = run(capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "csv", *files)
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = [item for path in EXPECTED_RECORDS for item in EXPECTED_RECORDS[path]]
    assert len(rows) == 1 + len(expected)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first == {
        "analyzer": "k8s-mesh",
        "role": "proxy",
        "detect_point": "server",
        "protocol": "HTTP",
        "source_service": "UNKNOWN",
        "source_instance": "UNKNOWN",
        "source_namespace": "",
        "source_tags": "",
        "dest_service": "ingress",
        "dest_instance": "ingress-Inst",
        "dest_namespace": "",
        "dest_tags": "",
        "endpoint": "GET:/productpage",
        "response_code": "200",
        "grpc_status": "",
        "status": "true",
        "start_time_ms": "1555127993687",
        "end_time_ms": "1555127994697",
        "latency_ms": "1010",
        "start_time_ns": str(INGRESS_START),
        "end_time_ns": str(INGRESS_START + 1_010_432_910),
        "latency_ns": "1010432910",
        "tls_mode": "NONE",
        "peer_identity": "",
        "local_identity": "",
        "response_flags": "",
        "internal_error_code": "",
        "internal_request_latency_ns": "869250",
        "internal_response_latency_ns": "42686",
        "received_bytes": "",
        "sent_bytes": "",
        "request_bytes": "0",
        "response_bytes": "4415",
        "origin_source": str(INGRESS),
        "origin_message_index": "0",
        "origin_entry_index": "0",
    }
    for row, item in zip(rows[1:], expected, strict=True):
        cells = dict(zip(rows[0], row, strict=True))
        assert cells["dest_service"] == item["dest_service"]
        assert cells["start_time_ns"] == str(item["start_time_ns"])
        assert cells["origin_source"] == item["origin"]["source"]


def test_csv_columns_are_the_jsonl_keys(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "jsonl", INGRESS)
    keys = list(jsonl(out)[0])
    spread = [f"origin_{part}" for part in ("source", "message_index", "entry_index")]
    assert list(CSV_COLUMNS) == [key for key in keys if key != "origin"] + spread


def test_skywalking_json(capsys: pytest.CaptureFixture[str]) -> None:
    files = list(EXPECTED_RECORDS)
    status, out, _ = run(
        capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "skywalking-json", *files
    )
    assert status == 0
    messages = [json_format.Parse(line, ServiceMeshMetrics()) for line in out.splitlines()]
    assert [message.WhichOneof("metrics") for message in messages] == ["httpMetrics"] * 5
    metrics = [message.httpMetrics.metrics[0] for message in messages]
    assert [(m.sourceServiceName, m.destServiceName, m.detectPoint) for m in metrics] == [
        ("UNKNOWN", "ingress", 1),
        ("ingress", "productpage", 0),
        ("", "productpage", 1),  # SkyWalking's sidecar-inbound rule
        ("productpage", "review", 1),
        ("productpage", "detail", 0),
    ]
    assert [(m.startTime, m.endTime, m.latency) for m in metrics] == [
        (1555127993687, 1555127994697, 1010),
        (1555127993687, 1555127994697, 1010),
        (1555127993688, 1555127994696, 1008),
        (1555127993712, 1555127994689, 977),
        (1555127993697, 1555127993705, 8),
    ]
    assert [(m.internalRequestLatencyNanos, m.internalResponseLatencyNanos) for m in metrics] == [
        (869250, 42686),
        (869250, 42686),
        (789220, 121957),
        (841545, 147569),
        (2353100, 169503),
    ]
    first = json.loads(out.splitlines()[0])["httpMetrics"]["metrics"][0]
    assert (first["tlsMode"], first["responseCode"], first["protocol"]) == ("NONE", 200, "HTTP")


# A snapshot's tags: the pod's name and namespace and every label (SkyWalking's properties).
MONGODB_TAGS = (
    "app=mongodb,namespace=default,pod=mongodb-v1-mdb,security.istio.io/tlsMode=istio,"
    "service.istio.io/canonical-name=mongodb,service.istio.io/canonical-revision=v1,version=v1"
)


def test_csv_cells_for_tags_flags_and_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "analyze",
        "--k8s-snapshot",
        LOOPBACK_SNAPSHOT,
        "--format",
        "csv",
        ENVOY / "productpage-tcp.bin",
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [
        (row["dest_tags"], row["response_flags"], row["received_bytes"], row["status"])
        for row in rows
    ] == [
        (MONGODB_TAGS, "", "64", "true"),
        (MONGODB_TAGS, "", "1500", "true"),
        ("app=mysqldb,namespace=default,pod=mysqldb-v1-sql,version=v1", "UF,URX", "0", "false"),
    ]
    assert {row["source_namespace"] for row in rows} == {"default"}


# --- the real Envoy recordings ------------------------------------------------------------------


@pytest.fixture
def truth_resolver(tmp_path: Path) -> Path:
    path = tmp_path / "resolver.json"
    path.write_text(json.dumps(GROUND_TRUTH["resolver"]))
    return path


def _name(ip: str | None) -> tuple[str, str]:
    entry = GROUND_TRUTH["resolver"].get(ip)
    return UNKNOWN if entry is None else (entry["service"], entry["instance"])


def _ip(address: str | None) -> str | None:
    return None if address is None else address.rpartition(":")[0]


def _expected_from_ground_truth() -> Counter[tuple[object, ...]]:
    """(file, side, protocol, source, dest, endpoint, code, flags) of every metric."""
    expected: Counter[tuple[object, ...]] = Counter()
    for name, stream in GROUND_TRUTH["streams"].items():
        envoy = GROUND_TRUTH["envoys"][stream["envoy"]]
        own = (envoy["service"], envoy["instance"])
        for entry in stream["entries"]:
            common = (
                None if entry["protocol"] == "TCP" else f"{entry['method']}:{entry['path']}",
                entry.get("response_code"),
                tuple(entry["response_flags"]),
            )
            caller = _name(entry["downstream_remote_ip"])
            upstream = _ip(entry["upstream_remote_address"])
            direction = entry["direction"]
            sides = []
            if direction in ("inbound", "gateway"):
                sides.append(("server", caller, own))
            if direction == "gateway" and upstream is not None:
                sides.append(("client", own, _name(upstream)))
            if direction == "outbound":
                # No upstream host: the peer is the dialled address (a VIP, unknown here).
                sides.append(("client", caller, _name(upstream)))
            for side, source, dest in sides:
                key = (f"{name}.bin", side, entry["protocol"], source, dest, *common)
                expected[key] += 1
    return expected


def _observed(records: list[dict[str, Any]]) -> Counter[tuple[object, ...]]:
    return Counter(
        (
            Path(item["origin"]["source"]).name,
            item["detect_point"],
            item["protocol"],
            (item["source_service"], item["source_instance"]),
            (item["dest_service"], item["dest_instance"]),
            item["endpoint"],
            item["response_code"],
            tuple(item["response_flags"]),
        )
        for item in records
    )


def test_envoy_recordings_with_the_ground_truth_resolver(
    capsys: pytest.CaptureFixture[str], truth_resolver: Path
) -> None:
    files = sorted(ENVOY.glob("*.bin"))
    status, out, err = run(
        capsys, "analyze", "--resolver", truth_resolver, "--format", "jsonl", *files
    )
    assert status == 0
    records = jsonl(out)
    assert _observed(records) == _expected_from_ground_truth()
    assert err == "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"
    grpc = [item for item in records if item["protocol"] == "gRPC"]
    assert [(item["grpc_status"], item["status"]) for item in grpc] == [
        (0, True),
        (0, True),
        (0, True),
        (5, False),
    ]
    tcp = [
        (item["detect_point"], item["dest_service"], item["received_bytes"], item["sent_bytes"])
        for item in records
        if item["protocol"] == "TCP"
    ]
    assert tcp == [
        ("server", "mongodb", 64, 64),
        ("server", "mongodb", 1500, 1500),
        ("client", "mongodb", 64, 64),
        ("client", "mongodb", 1500, 1500),
        ("client", "mysqldb", 0, 0),
    ]


def test_table_of_the_recordings(capsys: pytest.CaptureFixture[str], truth_resolver: Path) -> None:
    files = [ENVOY / "reviews-http.bin", ENVOY / "productpage-tcp.bin"]
    status, out, _ = run(capsys, "analyze", "--resolver", truth_resolver, *files)
    assert status == 0
    lines = out.splitlines()
    # Cells are separated by two spaces or more (latencies vary between recordings).
    rows = [re.split(r" {2,}", line.strip()) for line in lines]
    assert rows[0] == [
        "SIDE",
        "PROTO",
        "SOURCE -> DEST",
        "ENDPOINT",
        "CODE",
        "STATUS",
        "LATENCY",
        "FLAGS",
    ]
    without_latency = [row[:6] + row[7:] for row in rows[1:]]
    grpc = ["client", "gRPC", "reviews -> ratings", "POST:/bookinfo.ratings.v1.Ratings/GetRating"]
    inbound = ["server", "HTTP", "productpage -> reviews"]
    assert without_latency == [
        [*grpc, "200 grpc=0", "ok", "-"],
        [*inbound, "GET:/reviews/0", "200", "ok", "-"],
        [*grpc, "200 grpc=0", "ok", "-"],
        [*inbound, "GET:/reviews/0", "200", "ok", "-"],
        [*grpc, "200 grpc=0", "ok", "-"],
        [*inbound, "GET:/reviews/0", "200", "ok", "-"],
        [*grpc, "200 grpc=5", "error", "-"],
        [*inbound, "GET:/reviews/1", "500", "error", "-"],
        [*inbound, "GET:/reviews/slow", "-", "error", "DC"],
        ["client", "TCP", "productpage -> mongodb", "-", "-", "ok", "-"],
        ["client", "TCP", "productpage -> mongodb", "-", "-", "ok", "-"],
        ["client", "TCP", "productpage -> mysqldb", "-", "-", "error", "UF,URX"],
    ]
    assert all(re.fullmatch(r"\d+\.\d\dms", row[6]) for row in rows[1:])
    # Aligned: every column starts where its header does; latencies end together.
    for column in ("PROTO", "SOURCE", "ENDPOINT", "CODE", "STATUS", "FLAGS"):
        start = lines[0].index(column)
        assert all(line[start - 2 : start + 1].startswith("  ") for line in lines[1:])
        assert all(line[start] != " " for line in lines[1:])
    assert {line.index("ms") for line in lines[1:]} == {lines[0].index("LATENCY") + 5}


def test_k8s_snapshot_names_the_recordings_like_the_ground_truth(
    capsys: pytest.CaptureFixture[str], truth_resolver: Path
) -> None:
    files = sorted(ENVOY.glob("*.bin"))
    _, static_out, _ = run(
        capsys, "analyze", "--resolver", truth_resolver, "--format", "jsonl", *files
    )
    status, out, err = run(
        capsys,
        "analyze",
        "--k8s-snapshot",
        LOOPBACK_SNAPSHOT,
        "--service-rule",
        "${pod.metadata.labels.app}",
        "--instance-rule",
        "${pod.metadata.name}",
        "--format",
        "jsonl",
        *files,
    )
    assert status == 0
    assert err.endswith("45 metrics\n")

    def names(text: str) -> list[tuple[str, ...]]:
        return [
            (
                item["source_service"],
                item["source_instance"],
                item["dest_service"],
                item["dest_instance"],
            )
            for item in jsonl(text)
        ]

    assert names(out) == names(static_out)
    productpage = next(item for item in jsonl(out) if item["dest_service"] == "productpage")
    assert (productpage["dest_namespace"], productpage["dest_tags"]) == (
        "default",
        {
            "pod": "productpage-v1-xyz",
            "namespace": "default",
            "app": "productpage",
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": "productpage",
            "service.istio.io/canonical-revision": "v1",
            "version": "v1",
        },
    )


def test_static_resolver_is_asked_before_the_snapshot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    static = tmp_path / "static.json"
    static.write_text('{"127.0.0.4": {"service": "details-override", "instance": "d-0"}}')
    path = ENVOY / "details-http.bin"
    status, out, _ = run(
        capsys,
        "analyze",
        "--resolver",
        static,
        "--k8s-snapshot",
        LOOPBACK_SNAPSHOT,
        "--service-rule",
        "${pod.metadata.labels.app}",
        "--format",
        "jsonl",
        path,
    )
    assert status == 0
    records = jsonl(out)
    assert {(item["source_service"], item["dest_service"]) for item in records} == {
        ("productpage", "details-override")
    }
    # The instance rule left at its default: name.namespace.
    assert {item["source_instance"] for item in records} == {"productpage-v1-xyz.default"}


def test_without_resolver_everything_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "analyze", "--no-auto-names", "--format", "jsonl", INGRESS, SERVER_SIDECAR
    )
    assert status == 0
    names = {
        (item[f"{end}_service"], item[f"{end}_instance"])
        for item in jsonl(out)
        for end in ("source", "dest")
    }
    assert names == {UNKNOWN}
    assert err.splitlines() == [
        "meshals: warning: no --resolver or --k8s-snapshot, and no names from the captures"
        " (--auto-names): every workload is UNKNOWN",
        "meshals: 2 files: 2 entries, 2 analyzed, 0 skipped, 3 metrics",
    ]


# --- options that change the analysis -----------------------------------------------------------

NODE_SIDECAR = "sidecar~10.44.2.54~product-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"


def _message(node_id: str | None, path: str = "/productpage") -> str:
    """One compact JSON ALS message: an inbound HTTP entry 10.138.0.14 -> 10.44.2.54."""
    message: dict[str, Any] = {
        "httpLogs": {
            "logEntry": [
                {
                    "commonProperties": {
                        "downstreamRemoteAddress": {
                            "socketAddress": {"address": "10.138.0.14", "portValue": 51489}
                        },
                        "downstreamLocalAddress": {
                            "socketAddress": {"address": "10.44.2.54", "portValue": 9080}
                        },
                        "upstreamRemoteAddress": {
                            "socketAddress": {"address": "127.0.0.1", "portValue": 9080}
                        },
                        "upstreamCluster": "inbound|9080||",
                        "startTime": "2019-04-13T03:59:53.688609181Z",
                        "timeToLastDownstreamTxByte": "0.002s",
                    },
                    "request": {"requestMethod": "GET", "scheme": "http", "path": path},
                    "response": {"responseCode": 200},
                }
            ]
        }
    }
    if node_id is not None:
        message["identifier"] = {"node": {"id": node_id}, "logName": "als"}
    return json.dumps(message)


def test_skipped_entries_are_summarised_by_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plain = tmp_path / "plain-envoy.jsonl"
    plain.write_text(_message("envoy-1") + "\n" + _message(None) + "\n")
    orphan = tmp_path / "orphan.json"
    orphan.write_text(_message(None))
    status, out, err = run(
        capsys, "analyze", "--resolver", MOCK_RESOLVER, "--format", "jsonl", plain, orphan, INGRESS
    )
    assert status == 0
    assert len(jsonl(out)) == 2
    assert err.splitlines() == [
        f"meshals: warning: {plain}, message 0: the role rule gives node 'envoy-1' no role: its"
        " entries are skipped (pass role_rule= for Envoys that do not use Istio's node ids)",
        f"meshals: warning: {orphan}, message 0: the stream's first message has no identifier:"
        " its entries are skipped until a message brings one",
        "meshals: 3 files: 4 entries, 1 analyzed, 3 skipped (no-identifier: 1, role-none: 2),"
        " 2 metrics",
    ]


def _with_bad_entry(message: str) -> str:
    """*message* with a second entry that is not a JSON object (skipped when reading)."""
    loaded = json.loads(message)
    loaded["httpLogs"]["logEntry"].append(7)
    return json.dumps(loaded)


@pytest.mark.parametrize("command", ["analyze", "graph", "stats"])
def test_summary_counts_what_reading_dropped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    capture = tmp_path / "capture.jsonl"
    lines = [_with_bad_entry(_message(NODE_SIDECAR)), "not json", _message(NODE_SIDECAR)]
    capture.write_text("\n".join(lines) + "\n")
    # The line that is not JSON would make detection read a JSON file with trailing text.
    argv: list[str | Path] = [command, "--container", "jsonl", "--resolver", MOCK_RESOLVER, capture]
    status, _, err = run(capsys, *argv)
    assert status == 0
    assert err.splitlines() == [  # the reader's warnings first, then the messages'
        f"meshals: warning: {capture}, message 1: line 2: message skipped: invalid JSON:"
        " Expecting value at line 1 column 1",
        f"meshals: warning: {capture}, message 0, entry 1, field http_logs.log_entry[1]:"
        " expected a JSON object, got number 7; ignored",
        "meshals: 1 file: 2 entries, 2 analyzed, 0 skipped, 2 metrics;"
        " 1 entry and 1 message dropped while reading (see warnings)",
    ]


def test_dropped_lists_each_unit_and_says_at_least_past_the_limit() -> None:
    def accounting(*kinds: DiagnosticKind) -> Accounting:
        return dropped_by(
            [Diagnostic(kind=kind, location=Location(), reason="r") for kind in kinds]
        )

    first = accounting(
        DiagnosticKind.ENTRY_SKIPPED,
        DiagnosticKind.PART_SKIPPED,
        DiagnosticKind.LINE_SKIPPED,
        DiagnosticKind.VALUE_IGNORED,
        DiagnosticKind.NOTE,
    )
    second = accounting(DiagnosticKind.ENTRY_SKIPPED)
    assert _run._dropped([first, second]) == (
        "2 entries, 1 log line and 1 part of unknown size dropped while reading (see warnings)"
    )
    third = accounting(DiagnosticKind.NOT_LISTED, DiagnosticKind.MESSAGE_SKIPPED)
    assert _run._dropped([first, second, third]) == (
        "at least 2 entries, 1 message, 1 log line and 1 part of unknown size dropped while"
        " reading (see warnings)"
    )
    assert _run._dropped([accounting(DiagnosticKind.VALUE_IGNORED), Accounting()]) == ""


def test_role_option_names_every_envoy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plain = tmp_path / "plain-envoy.json"
    plain.write_text(_message("envoy-1"))
    status, out, err = run(
        capsys,
        "analyze",
        "--resolver",
        MOCK_RESOLVER,
        "--role",
        "sidecar",
        "--format",
        "jsonl",
        plain,
    )
    assert status == 0
    [item] = jsonl(out)
    assert (item["role"], item["detect_point"], item["dest_service"]) == (
        "sidecar",
        "server",
        "productpage",
    )
    assert err == "meshals: 1 file: 1 entry, 1 analyzed, 0 skipped, 1 metric\n"


def test_strip_query(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "query.json"
    path.write_text(_message(NODE_SIDECAR, path="/productpage?user=1"))
    endpoints = []
    for extra in ([], ["--strip-query"]):
        _, out, _ = run(capsys, "analyze", "--format", "jsonl", *extra, path)
        endpoints.append(jsonl(out)[0]["endpoint"])
    assert endpoints == ["GET:/productpage?user=1", "GET:/productpage"]


def test_reidentify(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A collector's stream: a plain Envoy first, then a sidecar re-identifies it.
    path = tmp_path / "multiplexed.jsonl"
    path.write_text(_message("envoy-1") + "\n" + _message(NODE_SIDECAR) + "\n")
    _, out, err = run(capsys, "analyze", "--format", "jsonl", path)
    assert out == ""
    assert "a later identifier differs from the stream's and is ignored" in err
    _, out, err = run(capsys, "analyze", "--format", "jsonl", "--reidentify", path)
    assert [item["origin"]["message_index"] for item in jsonl(out)] == [1]
    assert err.splitlines()[-1] == (
        "meshals: 1 file: 2 entries, 1 analyzed, 1 skipped (role-none: 1), 1 metric"
    )


# --- errors -------------------------------------------------------------------------------------


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    assert run(capsys, "analyze", "--resolver", MOCK_RESOLVER, INGRESS, missing) == (
        1,
        "",
        f"meshals: error: {missing}: No such file or directory\n",
    )


def test_a_corrupt_file_ends_the_output_where_it_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = ENVOY / "details-http.bin"
    bad = tmp_path / "truncated.bin"
    bad.write_bytes(good.read_bytes()[:-10])
    # Strict: a stream cut off mid-frame is an error (lenient keeps what came before it).
    # --auto-names' first pass reads every file before the analysis: it fails there, with
    # the same error, and nothing is written.
    status, out, err = run(capsys, "analyze", "--strict", "--format", "jsonl", good, bad, INGRESS)
    assert (status, out) == (1, "")
    last = GROUND_TRUTH["streams"]["details-http"]["messages"] - 1  # the truncated message
    assert err.startswith(f"meshals: error: {bad}, message {last}: input ends inside the frame")
    assert err.count("\n") == 1
    no_auto = ("analyze", "--no-auto-names", "--format", "jsonl")
    status, out, err = run(capsys, *no_auto, "--strict", good, bad, INGRESS)
    assert status == 1
    assert err.startswith(f"meshals: error: {bad}, message {last}: input ends inside the frame")
    # JSON Lines are written as the metrics are made: what came before the failure stays.
    _, lenient, _ = run(capsys, *no_auto, good, bad)
    assert out == lenient
    sources = [metric["origin"]["source"] for metric in jsonl(out)]
    assert sources == [str(good)] * 4 + [str(bad)] * 3
    # The table is printed once everything is analysed: nothing.
    status, out, _ = run(capsys, "analyze", "--strict", good, bad, INGRESS)
    assert (status, out) == (1, "")


def test_not_als_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = SKYWALKING / "envoy-metric.msg"
    status, out, err = run(capsys, "analyze", INGRESS, path)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {path}, message 0: ")
    assert err.count("\n") == 1


def test_strict_fails_on_trailing_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "analyze", "--strict", CLIENT_SIDECAR)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {CLIENT_SIDECAR}, message 0: ")
    assert err.count("\n") == 1


RESOLVER_ERRORS = [
    ("{", ": not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
    ('{"10.0.0.x": {"service": "a", "instance": "b"}}', ', $["10.0.0.x"]: bad key'),
    ('{"10.0.0.1": {"service": ""}}', ', $["10.0.0.1"].service: expected a non-empty string'),
]


@pytest.mark.parametrize(("text", "reason"), RESOLVER_ERRORS)
def test_bad_resolver_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "static.json"
    path.write_text(text)
    status, out, err = run(capsys, "analyze", "--resolver", path, INGRESS)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {path}{reason}")
    assert err.count("\n") == 1


def test_missing_resolver_and_snapshot_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    for option in ("--resolver", "--k8s-snapshot"):
        assert run(capsys, "analyze", option, missing, INGRESS) == (
            1,
            "",
            f"meshals: error: {missing}: No such file or directory\n",
        )


def test_bad_service_rule(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "analyze", "--k8s-snapshot", LOOPBACK_SNAPSHOT, "--service-rule", "${pod", INGRESS
    )
    assert (status, out) == (1, "")
    assert err.startswith("meshals: error: ")
    assert err.count("\n") == 1


def test_lone_surrogate_in_skywalking_json_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # JSON allows a lone surrogate; SkyWalking's UTF-8 string fields cannot carry it.
    static = tmp_path / "static.json"
    static.write_text('{"10.44.2.54": {"service": "product\\ud800", "instance": "p-0"}}')
    status, out, _ = run(capsys, "analyze", "--resolver", static, "--format", "jsonl", INGRESS)
    assert status == 0
    assert jsonl(out)[1]["dest_service"] == "product\ud800"
    status, out, err = run(
        capsys, "analyze", "--resolver", static, "--format", "skywalking-json", INGRESS
    )
    assert status == 1
    # Written as made: the gateway's first metric (client -> gateway), then the error.
    (line,) = jsonl(out)
    services = line["httpMetrics"]["metrics"][0]
    assert (services["sourceServiceName"], services["destServiceName"]) == ("UNKNOWN", "UNKNOWN")
    assert err.startswith(f"meshals: error: {INGRESS}, message 0, entry 0: ")
    assert err.count("\n") == 1


ANALYZE_USAGE_ERRORS = [
    ["analyze"],
    ["analyze", "--format", "xml", "x"],
    ["analyze", "--service-rule", "${pod.metadata.name}", "x"],
    ["analyze", "--instance-rule", "${pod.metadata.name}", "x"],
    ["analyze", "--role", "none", "x"],
]


@pytest.mark.parametrize("argv", ANALYZE_USAGE_ERRORS)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("usage: meshals analyze")
