"""Records and typed pandas frames of metrics, graphs and RED statistics, on the recordings."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from meshals import analyze
from meshals._optional import MissingDependencyError
from meshals.aggregate import red, topology
from meshals.examples import example
from meshals.model._metric_list import MetricList
from meshals.output import to_pandas, to_records

BOOKINFO = example("bookinfo")
METRICS = MetricList(analyze(BOOKINFO.streams(), resolver=BOOKINFO.resolver()))
GRAPH = topology(METRICS)
S = 1_000_000_000

METRIC_DTYPES = {
    "analyzer": "category",
    "role": "category",
    "detect_point": "category",
    "protocol": "category",
    "source_service": "category",
    "source_instance": "category",
    "source_namespace": "category",
    "source_tags": "object",
    "dest_service": "category",
    "dest_instance": "category",
    "dest_namespace": "category",
    "dest_tags": "object",
    "endpoint": "category",
    "response_code": "Int64",
    "grpc_status": "Int64",
    "status": "bool",
    "start_time_ms": "int64",
    "end_time_ms": "int64",
    "latency_ms": "int64",
    "start_time": "datetime64[ns, UTC]",
    "end_time": "datetime64[ns, UTC]",
    "latency": "timedelta64[ns]",
    "tls_mode": "category",
    "peer_identity": "category",
    "local_identity": "category",
    "response_flags": "object",
    "internal_error_code": "category",
    "internal_request_latency": "timedelta64[ns]",
    "internal_response_latency": "timedelta64[ns]",
    "received_bytes": "Int64",
    "sent_bytes": "Int64",
    "request_bytes": "Int64",
    "response_bytes": "Int64",
    "origin_source": "category",
    "origin_message_index": "Int64",
    "origin_entry_index": "Int64",
}
STATS_DTYPES = {
    "window_start": "datetime64[ns, UTC]",
    "protocols": "object",
    "requests": "int64",
    "errors": "int64",
    "error_rate": "float64",
    "errors_4xx": "int64",
    "error_rate_4xx": "float64",
    "errors_5xx": "int64",
    "error_rate_5xx": "float64",
    "grpc_errors": "int64",
    "grpc_error_rate": "float64",
    "rate_per_s": "float64",
    "latency_p50": "timedelta64[ns]",
    "latency_p90": "timedelta64[ns]",
    "latency_p99": "timedelta64[ns]",
    "latency_mean": "timedelta64[ns]",
    "latency_max": "timedelta64[ns]",
    "received_bytes": "int64",
    "sent_bytes": "int64",
    "reporters": "object",
    "health": "category",
}
EDGE_DTYPES = {
    **STATS_DTYPES,
    "mtls_requests": "int64",
    "tls_requests": "int64",
    "plaintext_requests": "int64",
    "unknown_tls_requests": "int64",
    "mtls_connections": "int64",
    "tls_connections": "int64",
    "plaintext_connections": "int64",
    "unknown_tls_connections": "int64",
    "mtls_share": "float64",
    "client_principals": "object",
    "server_principals": "object",
    "plaintext_into_meshed": "int64",
}


def dtypes(frame: Any) -> dict[str, str]:
    return {str(name): str(dtype) for name, dtype in frame.dtypes.items()}


def no_none(frame: Any) -> bool:
    return not any(value is None for column in frame.columns for value in frame[column])


# --- records -------------------------------------------------------------------------------------


def test_to_records(recorded_period_ns: tuple[int, int]) -> None:
    assert to_records(METRICS) == [metric.to_dict() for metric in METRICS]
    assert METRICS.to_records() == to_records(METRICS)
    edges = to_records(GRAPH)
    assert len(edges) == 9
    slow = GRAPH.edge("productpage", "reviews").combined()
    first, last = recorded_period_ns
    assert edges[7] == {
        "source": "productpage",
        "destination": "reviews",
        "window_start": None,
        "window_start_ns": None,
        "protocols": ["HTTP"],
        "requests": 5,
        "errors": 2,
        "error_rate": 0.4,
        "errors_4xx": 0,
        "error_rate_4xx": 0.0,
        "errors_5xx": 2,  # a 500 and the reset /reviews/slow
        "error_rate_5xx": 0.4,
        "grpc_errors": 0,
        "grpc_error_rate": None,
        "rate_per_s": 5 / ((last - first) / S),
        "latency_p50_ns": slow.p50,
        "latency_p90_ns": slow.p90,
        "latency_p99_ns": slow.p99,
        "latency_mean_ns": round(slow.latency.mean or 0),
        "latency_max_ns": slow.latency.maximum,
        "received_bytes": 0,
        "sent_bytes": 0,
        "reporters": ["client", "server"],
        "health": "failing",
        # The recordings are plaintext: reviews' sidecar logged every call.
        "mtls_requests": 0,
        "tls_requests": 0,
        "plaintext_requests": 5,
        "unknown_tls_requests": 0,
        "mtls_connections": 0,
        "tls_connections": 0,
        "plaintext_connections": 0,
        "unknown_tls_connections": 0,
        "mtls_share": 0.0,
        "client_principals": {},
        "server_principals": {},
        "plaintext_into_meshed": 5,
    }
    services = to_records(red(METRICS))
    assert [record["service"] for record in services][:3] == [
        "UNKNOWN",
        "details",
        "istio-ingressgateway",
    ]
    with pytest.raises(TypeError, match="not str"):
        to_records(["not a metric"])  # type: ignore[list-item]


# --- pandas --------------------------------------------------------------------------------------


def test_metric_frame_types() -> None:
    pytest.importorskip("pandas", reason="needs the pandas extra")
    frame = to_pandas(METRICS)
    assert frame.shape == (45, 36)
    assert dtypes(frame) == METRIC_DTYPES
    assert dtypes(METRICS.to_pandas()) == METRIC_DTYPES
    assert no_none(frame)
    empty = to_pandas([])
    assert (empty.shape, dtypes(empty)) == ((0, 36), METRIC_DTYPES)


def test_metric_frame_times_are_exact(recorded_extents_ns: list[tuple[int, int]]) -> None:
    pandas = pytest.importorskip("pandas", reason="needs the pandas extra")
    frame = to_pandas(METRICS)
    # Nanoseconds since the epoch need 61 bits: through a float they would round.
    starts = frame["start_time"].astype("int64")
    ends = frame["end_time"].astype("int64")
    assert sorted(zip(starts, ends, strict=True)) == sorted(recorded_extents_ns)
    assert (frame["latency"] == frame["end_time"] - frame["start_time"]).all()
    # The first metric: details' sidecar answered GET /details/0 in 3.435156 ms
    # (details-http.jsonl: startTime 09:08:31.129330Z, timeToLastDownstreamTxByte).
    first = frame.iloc[0]
    assert first["start_time"] == pandas.Timestamp("2026-11-21T09:08:31.129330Z")
    assert first["latency"] == pandas.Timedelta(3_435_156, unit="ns")
    assert first["internal_request_latency"] == pandas.Timedelta(473_226, unit="ns")


def test_metric_frame_values() -> None:
    pandas = pytest.importorskip("pandas", reason="needs the pandas extra")
    frame = to_pandas(METRICS)
    # No code: the 5 TCP connections (mongodb's 2 and productpage's 3), and the reset
    # /reviews/slow at reviews' sidecar.
    assert int(frame["response_code"].isna().sum()) == 6
    assert sorted(frame["grpc_status"].dropna()) == [0, 0, 0, 5]  # the 4 GetRating calls
    assert list(frame["role"].cat.categories) == ["proxy", "sidecar"]
    assert list(frame["protocol"].cat.categories) == ["HTTP", "TCP", "gRPC"]
    assert frame["protocol"].value_counts().to_dict() == {"HTTP": 36, "TCP": 5, "gRPC": 4}
    assert frame["received_bytes"].iloc[0] is pandas.NA  # HTTP: no TCP byte counts
    assert frame["peer_identity"].isna().all()
    assert frame["local_identity"].isna().all()  # plaintext recordings
    tcp = frame[frame["protocol"] == "TCP"]
    assert sorted(tcp["received_bytes"]) == [0, 64, 64, 1500, 1500]  # mongodb: echoed
    assert list(frame["origin_source"].cat.categories) == sorted(
        str(path) for path in BOOKINFO.captures()
    )
    assert frame["origin_message_index"].dtype == "Int64"


def test_stats_frame(recorded_period_ns: tuple[int, int]) -> None:
    pandas = pytest.importorskip("pandas", reason="needs the pandas extra")
    stats = red(METRICS)
    frame = to_pandas(stats)
    assert dtypes(frame) == {"service": "category", **STATS_DTYPES}
    assert no_none(frame)
    assert frame["window_start"].isna().all()  # NaT without windows
    details = frame.set_index("service").loc["details"]
    assert (details["requests"], details["errors_4xx"], details["error_rate_4xx"]) == (4, 1, 0.25)
    assert pandas.isna(details["grpc_error_rate"])  # no gRPC calls: NaN
    first, last = recorded_period_ns
    assert details["rate_per_s"] == 4 / ((last - first) / S)
    key = next(key for key in stats.groups if key.service == "details")
    assert details["latency_p99"] == pandas.Timedelta(stats.groups[key].combined().p99, unit="ns")
    # Health is ordered: sorting puts the worst last.
    assert list(frame["health"].cat.categories) == ["unknown", "healthy", "degraded", "failing"]
    assert frame["health"].cat.ordered
    assert frame.sort_values("health")["service"].iloc[:2].tolist() == ["mongodb", "mysqldb"]
    assert (frame["health"] > "healthy").sum() == 7


def test_stats_frame_windows_and_edges() -> None:
    pandas = pytest.importorskip("pandas", reason="needs the pandas extra")
    windowed = to_pandas(red(METRICS, scope="endpoint", window="1m"))
    assert dtypes(windowed) == {"service": "category", "endpoint": "category", **STATS_DTYPES}
    # Everything happened within 09:08 UTC on 2026-11-21 (the recordings' minute).
    assert set(windowed["window_start"]) == {pandas.Timestamp("2026-11-21T09:08:00Z")}
    edges = to_pandas(GRAPH)
    assert dtypes(edges) == {"source": "category", "destination": "category", **EDGE_DTYPES}
    assert edges.loc[7, "source"] == "productpage"
    assert int(edges["requests"].sum()) == 29  # each call once
    by_edge = to_pandas(red(METRICS, scope="edge"))
    assert by_edge.drop(columns=["rate_per_s"]).equals(edges.drop(columns=["rate_per_s"]))
    assert list(by_edge["rate_per_s"]) == list(edges["rate_per_s"])
    empty = to_pandas(red([], scope="instance"))
    assert dtypes(empty) == {"service": "category", "instance": "category", **STATS_DTYPES}


def test_to_pandas_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(
        MissingDependencyError, match=r"pip install pandas \(meshals' extra 'pandas'\)"
    ):
        to_pandas(METRICS)
