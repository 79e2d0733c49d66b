"""RED statistics: exact counts on hand-computed metrics, sides, groups, windows, merges."""

from __future__ import annotations

import datetime
import time

import pytest

from meshals import AggregateError, Role
from meshals._values import FrozenMap
from meshals.aggregate._period import Period
from meshals.aggregate._red import RedAccumulator, RedKey, RedRow, RedStats, Scope, red
from meshals.aggregate._sketch import LatencySketch
from meshals.aggregate._stats import ReportedAccumulator, ReportedTraffic, merge
from meshals.aggregate._traffic import EMPTY_TRAFFIC, TrafficAccumulator, TrafficStats, code_class
from meshals.aggregate._windows import parse_window, skywalking_minute_bucket, window_start_ns
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._service import UNKNOWN, ServiceMetaInfo

MS = 1_000_000
S = 1_000_000_000
MINUTE = 60 * S
# 2024-01-02T15:04:00Z, a whole minute.
T0 = 1_704_207_840 * S

PRODUCTPAGE = ServiceMetaInfo(service="productpage", instance="productpage-v1")
REVIEWS_1 = ServiceMetaInfo(service="reviews", instance="reviews-v1")
REVIEWS_2 = ServiceMetaInfo(service="reviews", instance="reviews-v2")
RATINGS = ServiceMetaInfo(service="ratings", instance="ratings-v1")


def call(
    side: DetectPoint,
    *,
    source: ServiceMetaInfo = PRODUCTPAGE,
    destination: ServiceMetaInfo = REVIEWS_1,
    start: int | None = T0,
    latency: int | None = 10 * MS,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    code: int | None = 200,
    grpc_status: int | None = None,
    status: bool = True,
    flags: tuple[ResponseFlag, ...] = (),
    tls: TlsMode = TlsMode.MTLS,
    endpoint: str | None = "GET:/reviews/0",
    received: int | None = None,
    sent: int | None = None,
    role: Role = Role.SIDECAR,
) -> ServiceMeshMetric:
    """A metric whose start, end and latency on its side are ``start``, +latency, latency."""
    if start is None:
        timings = EntryTimings()
    elif side is DetectPoint.SERVER:
        timings = EntryTimings(start_time_ns=start, time_to_last_downstream_tx_byte_ns=latency)
    else:
        timings = EntryTimings(start_time_ns=start, time_to_last_upstream_rx_byte_ns=latency)
    tcp = protocol is MeshProtocol.TCP
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=protocol,
        source=source,
        destination=destination,
        endpoint=None if tcp else endpoint,
        response_code=None if tcp else code,
        grpc_status=grpc_status,
        status=status,
        tls_mode=tls,
        response_flags=frozenset(flags),
        timings=timings,
        received_bytes=received,
        sent_bytes=sent,
    )


CLIENT = DetectPoint.CLIENT
SERVER = DetectPoint.SERVER
HTTP = MeshProtocol.HTTP
GRPC = MeshProtocol.GRPC
TCP = MeshProtocol.TCP

# Six calls of every kind, and their statistics worked out by hand.
MIXED = [
    call(SERVER, latency=10 * MS),
    call(SERVER, start=T0 + 2 * S, latency=30 * MS, code=503, status=False),
    call(
        CLIENT,
        latency=None,
        code=None,
        status=False,
        flags=(
            ResponseFlag.UPSTREAM_CONNECTION_FAILURE,
            ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED,
        ),
        tls=TlsMode.NONE,
    ),
    call(CLIENT, protocol=GRPC, code=200, grpc_status=5, status=False, latency=2 * MS),
    call(CLIENT, protocol=GRPC, code=200, grpc_status=0, latency=4 * MS, start=T0 + S),
    call(SERVER, protocol=TCP, received=100, sent=2000, latency=5 * S, start=T0 - S),
    call(SERVER, start=None, code=404, tls=TlsMode.TLS),
]
MIXED_STATS = TrafficStats(
    requests=7,
    errors=3,
    protocols=FrozenMap({GRPC: 2, HTTP: 4, TCP: 1}),
    protocol_errors=FrozenMap({GRPC: 1, HTTP: 2}),
    response_codes=FrozenMap({200: 3, 404: 1, 503: 1}),
    grpc_statuses=FrozenMap({0: 1, 5: 1}),
    response_flags=FrozenMap({"UF": 1, "URX": 1}),
    tls_modes=FrozenMap({TlsMode.NONE: 1, TlsMode.TLS: 1, TlsMode.MTLS: 5}),
    latency=LatencySketch.of([10 * MS, 30 * MS, 2 * MS, 4 * MS, 5 * S]),
    received_bytes=100,
    sent_bytes=2000,
    first_start_ns=T0 - S,
    last_end_ns=T0 + 4 * S,
)


def test_traffic_stats_of_mixed_calls() -> None:
    assert TrafficStats.of(MIXED) == MIXED_STATS


def test_derived_numbers() -> None:
    stats = MIXED_STATS
    assert stats.http_requests == 6
    assert stats.grpc_requests == 2
    assert stats.grpc_errors == 1
    assert stats.code_classes == {"2xx": 3, "4xx": 1, "5xx": 1, "none": 1}
    assert list(stats.code_classes) == ["2xx", "4xx", "5xx", "none"]
    assert stats.error_rate == 3 / 7
    # What the health rules look at: the 404; the 503 and the call reset without a code.
    assert (stats.errors_4xx, stats.error_rate_4xx) == (1, 1 / 6)
    assert (stats.errors_5xx, stats.error_rate_5xx) == (2, 2 / 6)
    assert stats.grpc_error_rate == 1 / 2
    assert stats.span_ns() == 5 * S
    assert stats.rate(70) == 0.1
    assert stats.rate(None) is None  # the period is what the caller knows, not the stats
    assert stats.percentile(0.0) == 2 * MS
    # The median, 10 ms, shares a bucket with others: an estimate within 1 %.
    assert stats.p50 == 9_924_202
    assert (stats.p90, stats.p95, stats.p99) == (5 * S, 5 * S, 5 * S)


def test_maps_are_sorted() -> None:
    stats = TrafficStats.of(reversed(MIXED))
    assert list(stats.protocols) == [HTTP, TCP, GRPC]  # by value: "HTTP" < "TCP" < "gRPC"
    assert list(stats.response_codes) == [200, 404, 503]
    assert list(stats.tls_modes) == [TlsMode.NONE, TlsMode.TLS, TlsMode.MTLS]


@pytest.mark.parametrize(
    "metrics",
    [
        [call(SERVER, code=503, status=False), call(SERVER, code=200)],
        [call(SERVER, code=503, status=False), call(SERVER, code=200), call(SERVER, code=404)],
    ],
    ids=["two-keys", "three-keys"],
)
def test_maps_of_two_keys_or_more_are_sorted(metrics: list[ServiceMeshMetric]) -> None:
    stats = TrafficStats.of([*metrics, call(SERVER, protocol=TCP), call(SERVER, tls=TlsMode.NONE)])
    codes = sorted({metric.response_code for metric in metrics if metric.response_code})
    assert list(stats.response_codes) == codes
    assert list(stats.protocols) == [HTTP, TCP]
    assert list(stats.tls_modes) == [TlsMode.NONE, TlsMode.MTLS]


def test_empty_stats() -> None:
    stats = TrafficStats.of([])
    assert stats == EMPTY_TRAFFIC == TrafficStats()
    assert stats.error_rate is None
    assert stats.rate(None) is None
    assert stats.rate(60) == 0.0
    assert stats.rate(0) is None
    assert stats.span_ns() is None
    assert stats.p99 is None
    assert stats.code_classes == {}
    assert (stats.errors_4xx, stats.errors_5xx) == (0, 0)
    assert (stats.error_rate_4xx, stats.error_rate_5xx, stats.grpc_error_rate) == (None,) * 3


def test_grpc_without_status_is_a_grpc_error() -> None:
    stats = TrafficStats.of([call(CLIENT, protocol=GRPC, code=None, status=False)])
    assert (stats.grpc_requests, stats.grpc_errors) == (1, 1)
    assert stats.code_classes == {"none": 1}


CODE_CLASSES = [
    (101, "1xx"),
    (100, "1xx"),
    (200, "2xx"),
    (304, "3xx"),
    (404, "4xx"),
    (599, "5xx"),
    (0, "none"),
    (600, "none"),
    (99, "none"),
    (None, "none"),
]


@pytest.mark.parametrize(("code", "expected"), CODE_CLASSES)
def test_code_class(code: int | None, expected: str) -> None:
    assert code_class(code) == expected


def test_merge_equals_stats_of_concatenation() -> None:
    first, second = TrafficStats.of(MIXED[:3]), TrafficStats.of(MIXED[3:])
    assert first + second == MIXED_STATS
    assert second + first == MIXED_STATS
    assert merge(first, second) == MIXED_STATS
    assert TrafficStats.merge_all([second, EMPTY_TRAFFIC, first]) == MIXED_STATS
    assert TrafficStats.merge_all([]) == EMPTY_TRAFFIC
    assert first + EMPTY_TRAFFIC is first
    assert EMPTY_TRAFFIC + first is first


def test_merge_keeps_a_custom_accuracy() -> None:
    coarse = TrafficStats.of(MIXED, relative_accuracy=0.05)
    halves = TrafficStats.of(MIXED[:2], relative_accuracy=0.05) + TrafficStats.of(
        MIXED[2:], relative_accuracy=0.05
    )
    assert halves == coarse
    assert coarse.latency.relative_accuracy == 0.05
    # A part without latencies carries the default accuracy yet merges.
    untimed = TrafficStats.of([call(SERVER, start=None)])
    assert (untimed + coarse).latency == coarse.latency


def test_adding_after_adopting_another_accuracy() -> None:
    # An accumulator that took a coarser sketch while untimed keeps counting in that accuracy.
    accumulator = TrafficAccumulator()
    accumulator.add_stats(TrafficStats.of(MIXED[:2], relative_accuracy=0.05))
    for metric in MIXED[2:]:
        accumulator.add(metric)
    assert accumulator.result() == TrafficStats.of(MIXED, relative_accuracy=0.05)


def test_reported_sides_add_in_the_accuracy_they_adopted() -> None:
    # A side that took a coarser sketch while untimed: a metric counted after that is keyed in
    # the accumulator's own accuracy, and the side adds its latency again in the one it took.
    coarse = ReportedAccumulator(relative_accuracy=0.05)
    for metric in MIXED[:2]:
        coarse.add(metric)
    accumulator = ReportedAccumulator()
    accumulator.add_traffic(coarse.result())
    for metric in MIXED[2:]:
        accumulator.add(metric)
    expected = ReportedAccumulator(relative_accuracy=0.05)
    for metric in MIXED:
        expected.add(metric)
    # The server's side took the coarse sketch (the client's, untimed then, did not).
    result = accumulator.result()
    assert result.server == expected.result().server
    assert result.server.latency.count == 3
    assert result.server.latency.relative_accuracy == 0.05


def reported(metrics: list[ServiceMeshMetric]) -> ReportedTraffic:
    accumulator = ReportedAccumulator()
    for metric in metrics:
        accumulator.add(metric)
    return accumulator.result()


def test_counting_on_after_a_result() -> None:
    # Calls are counted by kind until a result: one taken mid-way changes nothing after it.
    accumulator = ReportedAccumulator()
    for metric in MIXED[:3]:
        accumulator.add(metric)
    assert accumulator.result() == reported(MIXED[:3])
    for metric in MIXED[3:]:
        accumulator.add(metric)
    assert accumulator.result() == reported(MIXED)
    traffic = accumulator.result()  # a second result: the kinds are not counted twice
    assert (traffic.client.requests, traffic.server.requests, traffic.unreached.requests) == (
        3,
        4,
        1,
    )
    assert (traffic.security.known, traffic.security.client_requests) == (4, 3)
    assert traffic.security.unreached_requests == 1


def test_merge_of_different_accuracies_fails() -> None:
    with pytest.raises(AggregateError):
        _ = TrafficStats.of(MIXED, relative_accuracy=0.05) + MIXED_STATS


def test_add_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        _ = EMPTY_TRAFFIC + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = ReportedTraffic() + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = RedStats() + 1  # type: ignore[operator]


def test_to_dict() -> None:
    stats = TrafficStats.of([call(SERVER, latency=10 * MS), call(SERVER, code=503, status=False)])
    assert stats.to_dict() == {
        "requests": 2,
        "errors": 1,
        "error_rate": 0.5,
        "protocols": {"HTTP": 2},
        "protocol_errors": {"HTTP": 1},
        "response_codes": {"200": 1, "503": 1},
        "code_classes": {"2xx": 1, "5xx": 1},
        "grpc_statuses": {},
        "response_flags": {},
        "tls_modes": {"mTLS": 2},
        "latency_ns": {
            "count": 2,
            "mean": 10_000_000.0,
            "min": 10 * MS,
            "max": 10 * MS,
            "p50": 10 * MS,
            "p90": 10 * MS,
            "p95": 10 * MS,
            "p99": 10 * MS,
        },
        "received_bytes": 0,
        "sent_bytes": 0,
        "first_start_ns": T0,
        "last_end_ns": T0 + 10 * MS,
    }


# --- sides -----------------------------------------------------------------------------

UF = (ResponseFlag.UPSTREAM_CONNECTION_FAILURE,)
UH = (ResponseFlag.NO_HEALTHY_UPSTREAM,)
UT = (ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,)

# (metrics, (client, server, unreached, combined) request counts, combined errors)
SIDE_CASES: list[tuple[str, list[ServiceMeshMetric], tuple[int, int, int, int], int]] = [
    ("no calls", [], (0, 0, 0, 0), 0),
    (
        "client only",
        [call(CLIENT), call(CLIENT, code=503, status=False, flags=UF)],
        (2, 0, 1, 2),
        1,
    ),
    ("server only", [call(SERVER), call(SERVER)], (0, 2, 0, 2), 0),
    ("both sides", [call(CLIENT), call(SERVER)], (1, 1, 0, 1), 0),
    (
        "server and an unreached call",
        [call(CLIENT), call(SERVER), call(CLIENT, code=503, status=False, flags=UH)],
        (2, 1, 1, 2),
        1,
    ),
    (
        "a timeout reached the server: counted once, as the server saw it",
        [call(CLIENT, code=504, status=False, flags=UT), call(SERVER, code=None, status=False)],
        (1, 1, 0, 1),
        1,
    ),
]


@pytest.mark.parametrize(
    ("metrics", "counts", "combined_errors"),
    [case[1:] for case in SIDE_CASES],
    ids=[case[0] for case in SIDE_CASES],
)
def test_reported_traffic(
    metrics: list[ServiceMeshMetric], counts: tuple[int, int, int, int], combined_errors: int
) -> None:
    accumulator = ReportedAccumulator()
    for metric in metrics:
        accumulator.add(metric)
    traffic = accumulator.result()
    combined = traffic.combined()
    assert (
        traffic.client.requests,
        traffic.server.requests,
        traffic.unreached.requests,
        combined.requests,
    ) == counts
    assert combined.errors == combined_errors


def test_combined_adds_unreached_to_server() -> None:
    unreached = call(CLIENT, code=503, status=False, flags=UH, latency=MS)
    server = call(SERVER, latency=20 * MS)
    traffic = ReportedTraffic(
        client=TrafficStats.of([call(CLIENT), unreached]),
        server=TrafficStats.of([server]),
        unreached=TrafficStats.of([unreached]),
    )
    assert traffic.combined() == TrafficStats.of([server, unreached])
    assert traffic.reporters == {CLIENT, SERVER}
    assert ReportedTraffic().reporters == frozenset()


def test_reported_traffic_merge_and_dict() -> None:
    a = ReportedTraffic(client=TrafficStats.of([call(CLIENT)]))
    b = ReportedTraffic(server=TrafficStats.of([call(SERVER)]))
    both = a + b
    assert both == ReportedTraffic(client=a.client, server=b.server)
    assert both.to_dict()["combined"] == b.server.to_dict()
    assert set(both.to_dict()) == {"client", "server", "unreached", "combined", "security"}


def test_reported_traffic_merge_keeps_every_part() -> None:
    calls = [call(CLIENT), call(CLIENT, code=503, status=False, flags=UH), call(SERVER)]
    parts = []
    for part in (calls[:1], calls[1:]):
        accumulator = ReportedAccumulator()
        for metric in part:
            accumulator.add(metric)
        parts.append(accumulator.result())
    whole = ReportedAccumulator()
    for metric in calls:
        whole.add(metric)
    merged = parts[0].merge(parts[1])
    assert merged == whole.result()
    assert merged.unreached.requests == 1
    assert merged.security == whole.result().security != parts[1].security


def test_to_dict_names_grpc_statuses_by_number() -> None:
    assert MIXED_STATS.to_dict()["grpc_statuses"] == {"0": 1, "5": 1}


def test_span_needs_both_ends() -> None:
    assert TrafficStats(first_start_ns=5).span_ns() is None
    assert TrafficStats(last_end_ns=12).span_ns() is None
    assert TrafficStats(first_start_ns=5, last_end_ns=12).span_ns() == 7


def test_reported_accumulator_add_traffic() -> None:
    accumulator = ReportedAccumulator()
    accumulator.add_traffic(ReportedTraffic(server=TrafficStats.of([call(SERVER)])))
    accumulator.add(call(SERVER))
    assert accumulator.result().server.requests == 2
    assert accumulator.result().client == EMPTY_TRAFFIC


# --- RED groups --------------------------------------------------------------------------

RED_METRICS = [
    call(SERVER, destination=REVIEWS_1, endpoint="GET:/reviews/0", start=T0 + 5 * S),
    call(CLIENT, destination=REVIEWS_1, endpoint="GET:/reviews/0", start=T0 + 5 * S),
    call(
        SERVER,
        destination=REVIEWS_2,
        endpoint="GET:/reviews/1",
        start=T0 + 65 * S,
        code=500,
        status=False,
    ),
    call(
        CLIENT,
        source=REVIEWS_1,
        destination=RATINGS,
        protocol=GRPC,
        endpoint="POST:/Ratings/Get",
        start=T0 + 70 * S,
    ),
    call(CLIENT, destination=RATINGS, protocol=TCP, start=T0 + 61 * S),
    call(
        CLIENT, destination=UNKNOWN, start=None, endpoint="GET:/x", flags=UH, code=503, status=False
    ),
]

# (scope, window, {key: combined requests}, left_out)
RED_CASES: list[tuple[str, str | None, dict[RedKey, int], int]] = [
    (
        "service",
        None,
        {RedKey(service="UNKNOWN"): 1, RedKey(service="ratings"): 2, RedKey(service="reviews"): 2},
        0,
    ),
    (
        "instance",
        None,
        {
            RedKey(service="UNKNOWN", instance="UNKNOWN"): 1,
            RedKey(service="ratings", instance="ratings-v1"): 2,
            RedKey(service="reviews", instance="reviews-v1"): 1,
            RedKey(service="reviews", instance="reviews-v2"): 1,
        },
        0,
    ),
    (
        "endpoint",
        None,
        {
            RedKey(service="UNKNOWN", endpoint="GET:/x"): 1,
            RedKey(service="ratings", endpoint="POST:/Ratings/Get"): 1,
            RedKey(service="reviews", endpoint="GET:/reviews/0"): 1,
            RedKey(service="reviews", endpoint="GET:/reviews/1"): 1,
        },
        1,  # the TCP call has no endpoint
    ),
    (
        "edge",
        None,
        {
            RedKey(source="productpage", service="UNKNOWN"): 1,
            RedKey(source="productpage", service="ratings"): 1,
            RedKey(source="productpage", service="reviews"): 2,
            RedKey(source="reviews", service="ratings"): 1,
        },
        0,
    ),
    (
        "edge",
        "1m",
        {
            RedKey(source="productpage", service="ratings", window_start_ns=T0 + MINUTE): 1,
            RedKey(source="productpage", service="reviews", window_start_ns=T0): 1,
            RedKey(source="productpage", service="reviews", window_start_ns=T0 + MINUTE): 1,
            RedKey(source="reviews", service="ratings", window_start_ns=T0 + MINUTE): 1,
        },
        1,  # the call without a start time
    ),
    (
        "service",
        "1m",
        {
            RedKey(service="ratings", window_start_ns=T0 + MINUTE): 2,
            RedKey(service="reviews", window_start_ns=T0): 1,
            RedKey(service="reviews", window_start_ns=T0 + MINUTE): 1,
        },
        1,  # the call without a start time
    ),
]


@pytest.mark.parametrize(("scope", "window", "expected", "left_out"), RED_CASES)
def test_red_groups(
    scope: str, window: str | None, expected: dict[RedKey, int], left_out: int
) -> None:
    stats = red(RED_METRICS, scope=scope, window=window)
    assert {key: traffic.combined().requests for key, traffic in stats.groups.items()} == expected
    assert list(stats.groups) == list(expected)  # sorted by key
    assert stats.left_out == left_out
    assert stats.scope is Scope(scope)


def test_red_rates() -> None:
    windowed = red(RED_METRICS, window="1m")
    ratings = RedKey(service="ratings", window_start_ns=T0 + MINUTE)
    assert windowed.window_ns == MINUTE
    assert windowed.rate_seconds == 60
    assert windowed.rate(ratings) == 2 / 60
    whole = red(RED_METRICS)
    # The whole input: from T0 + 5 s (the first calls) to T0 + 70.01 s (the gRPC call's end),
    # for every group alike, however short its own calls' span.
    assert whole.period == Period(first_start_ns=T0 + 5 * S, last_end_ns=T0 + 70 * S + 10 * MS)
    assert whole.rate_seconds == 65.01
    assert whole.rate(RedKey(service="ratings")) == 2 / 65.01
    assert whole.rate(RedKey(service="UNKNOWN")) == 1 / 65.01  # a call with no time of its own
    assert red(RED_METRICS[-1:]).rate(RedKey(service="UNKNOWN")) is None  # no time known
    # Calls left out of every group still belong to the analysed period.
    assert red(RED_METRICS, scope="endpoint").period == whole.period
    assert red(RED_METRICS[4:5], scope="endpoint").period.first_start_ns == T0 + 61 * S


def test_red_rows() -> None:
    stats = red(RED_METRICS[:2])
    key = RedKey(service="reviews")
    row = stats.rows()[0]
    # One call (the server's view) in a 10 ms period: both sides logged it in the same 10 ms.
    assert row == RedRow(key=key, stats=stats.groups[key].combined(), rate=100.0)
    assert row.stats.requests == 1
    assert stats.groups[key].client.requests == 1


def test_red_to_dict() -> None:
    stats = red(RED_METRICS[:1], scope="endpoint", window=datetime.timedelta(minutes=1))
    data = stats.to_dict()
    assert {k: v for k, v in data.items() if k != "groups"} == {
        "scope": "endpoint",
        "window_ns": MINUTE,
        "left_out": 0,
        "period": {
            "first_start_ns": T0 + 5 * S,
            "last_end_ns": T0 + 5 * S + 10 * MS,
            "seconds": 0.01,
        },
    }
    groups: list[dict[str, object]] = data["groups"]  # type: ignore[assignment]
    (group,) = groups
    assert {k: v for k, v in group.items() if k != "traffic"} == {
        "source": None,
        "service": "reviews",
        "instance": None,
        "endpoint": "GET:/reviews/0",
        "window_start_ns": T0,
        "rate": 1 / 60,
    }


@pytest.mark.parametrize("scope", ["service", "instance", "endpoint", "edge"])
@pytest.mark.parametrize("window", [None, "1m", "1s"])
def test_red_merge_equals_red_of_concatenation(scope: str, window: str | None) -> None:
    whole = red(RED_METRICS, scope=scope, window=window)
    parts = [red(RED_METRICS[i::3], scope=scope, window=window) for i in range(3)]
    assert parts[0] + parts[1] + parts[2] == whole
    assert merge(parts[2], parts[0], parts[1]) == whole
    assert RedStats.merge_all(reversed(parts)) == whole


def test_red_merge_all_empty() -> None:
    assert RedStats.merge_all([]) == RedStats()
    assert RedStats.merge_all([], scope="endpoint", window="5m") == RedStats(
        scope=Scope.ENDPOINT, window_ns=5 * MINUTE
    )


@pytest.mark.parametrize(
    ("other_scope", "other_window"), [("instance", None), ("service", "1m"), ("service", "2m")]
)
def test_red_merge_needs_equal_settings(other_scope: str, other_window: str | None) -> None:
    base = red(RED_METRICS[:1], window=None if other_window else "1m")
    other = red(RED_METRICS[:1], scope=other_scope, window=other_window)
    with pytest.raises(AggregateError, match="cannot merge RED statistics"):
        base.merge(other)
    accumulator = RedAccumulator(window=None if other_window else "1m")
    with pytest.raises(AggregateError, match="cannot merge RED statistics"):
        accumulator.add_stats(other)


BAD_SETTINGS: list[dict[str, object]] = [
    {"scope": "pod"},
    {"window": "1x"},
    {"window": 0},
    {"window": True},
    {"window": datetime.timedelta(0)},
    {"relative_accuracy": 2.0},
]


@pytest.mark.parametrize("settings", BAD_SETTINGS)
def test_red_bad_settings(settings: dict[str, object]) -> None:
    with pytest.raises(AggregateError):
        red([], **settings)  # type: ignore[arg-type]


def test_red_window_as_ns() -> None:
    assert red(RED_METRICS, window=MINUTE) == red(RED_METRICS, window="1m")


def test_accumulators_start_empty() -> None:
    assert TrafficAccumulator().result() == EMPTY_TRAFFIC
    assert RedAccumulator().result() == RedStats()


# --- windows -------------------------------------------------------------------------------

WINDOWS: list[tuple[str | datetime.timedelta, int]] = [
    ("500ms", 500 * MS),
    ("30s", 30 * S),
    ("1m", MINUTE),
    (" 5m ", 5 * MINUTE),
    ("1h", 60 * MINUTE),
    ("2d", 2 * 24 * 60 * MINUTE),
    (datetime.timedelta(seconds=90), 90 * S),
    (datetime.timedelta(days=1, microseconds=1), 86_400 * S + 1000),
]


@pytest.mark.parametrize(("window", "expected"), WINDOWS)
def test_parse_window(window: str | datetime.timedelta, expected: int) -> None:
    assert parse_window(window) == expected


@pytest.mark.parametrize(
    "window", ["", "1", "m", "1.5m", "-1m", "0s", "1 minute", datetime.timedelta(seconds=-1), 60]
)
def test_parse_window_rejects(window: object) -> None:
    with pytest.raises(AggregateError):
        parse_window(window)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            "1 minute",
            r"^not a time window: '1 minute' \(expected e\.g\. '30s', '1m', '5m', '1h'\)$",
        ),
        (60, r"^not a time window: 60$"),
        ("0s", r"^a time window must be positive: '0s'$"),
        (
            datetime.timedelta(seconds=-1),
            r"^a time window must be positive: datetime\.timedelta\(days=-1, seconds=86399\)$",
        ),
    ],
    ids=["words", "a-number", "zero", "negative"],
)
def test_parse_window_says_what_is_wrong(window: object, message: str) -> None:
    with pytest.raises(AggregateError, match=message):
        parse_window(window)  # type: ignore[arg-type]


WINDOW_STARTS = [
    (T0, MINUTE, T0),
    (T0 + MINUTE - 1, MINUTE, T0),
    (T0 + MINUTE, MINUTE, T0 + MINUTE),
    (T0 + 7 * S, 5 * S, T0 + 5 * S),
    (-1, MINUTE, -MINUTE),
]


@pytest.mark.parametrize(("time", "window", "expected"), WINDOW_STARTS)
def test_window_start(time: int, window: int, expected: int) -> None:
    assert window_start_ns(time, window) == expected


def test_skywalking_minute_bucket() -> None:
    assert skywalking_minute_bucket(T0) == 202401021504
    assert skywalking_minute_bucket(T0 + MINUTE - 1) == 202401021504
    assert skywalking_minute_bucket(0) == 197001010000


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset is POSIX only")
def test_skywalking_minute_bucket_is_utc_in_any_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # A POSIX zone 5:30 east of UTC (it needs no time zone database).
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    try:
        assert time.localtime(0).tm_min == 30
        assert skywalking_minute_bucket(T0) == 202401021504
    finally:
        monkeypatch.undo()
        time.tzset()
