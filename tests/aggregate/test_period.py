"""The analysed period and the rates over it: by hand, and on the real recordings."""

from __future__ import annotations

import pytest

import meshals
from meshals import Role
from meshals.aggregate import Period, RedKey, Topology, red, summarize, topology
from meshals.aggregate._period import PeriodAccumulator
from meshals.examples import example
from meshals.model._metrics import DetectPoint, EntryTimings, MeshProtocol, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo

S = 1_000_000_000
MS = 1_000_000
BOOKINFO = example("bookinfo")
METRICS = meshals.analyze(BOOKINFO.streams(), resolver=BOOKINFO.resolver()).metrics()


def test_period_by_hand() -> None:
    period = Period(first_start_ns=10 * S, last_end_ns=14 * S)
    assert (period.span_ns, period.seconds) == (4 * S, 4.0)
    assert period.rate(2) == 0.5
    assert period.rate(0) == 0.0
    assert period.to_dict() == {"first_start_ns": 10 * S, "last_end_ns": 14 * S, "seconds": 4.0}


@pytest.mark.parametrize(
    "period",
    [Period(), Period(first_start_ns=S, last_end_ns=S), Period(first_start_ns=S)],
    ids=["unknown", "zero-length", "no end"],
)
def test_no_rate_over_an_unknown_or_empty_period(period: Period) -> None:
    assert period.seconds is None
    assert period.rate(3) is None


def test_periods_merge_exactly() -> None:
    early = Period(first_start_ns=S, last_end_ns=3 * S)
    late = Period(first_start_ns=2 * S, last_end_ns=5 * S)
    both = Period(first_start_ns=S, last_end_ns=5 * S)
    assert early + late == late + early == both
    assert early + Period() == Period() + early == early
    assert Period.of([]) == Period()
    with pytest.raises(TypeError):
        _ = early + 1  # type: ignore[operator]


def _client_call(**timings: int) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.CLIENT,
        protocol=MeshProtocol.HTTP,
        source=ServiceMetaInfo(service="a", instance="a-1"),
        destination=ServiceMetaInfo(service="b", instance="b-1"),
        endpoint="GET:/",
        response_code=200,
        status=True,
        timings=EntryTimings(**timings),
    )


@pytest.mark.parametrize(
    ("timings", "first", "last"),
    [
        (
            {"start_time_ns": 10 * S, "time_to_last_upstream_rx_byte_ns": 3 * MS},
            10 * S,
            10 * S + 3 * MS,
        ),
        # No end logged: the call is its start.
        ({"start_time_ns": 10 * S}, 10 * S, 10 * S),
        # The client sent its first byte after the last it received: it ends at its start.
        (
            {
                "start_time_ns": 10 * S,
                "time_to_first_upstream_tx_byte_ns": 5 * MS,
                "time_to_last_upstream_rx_byte_ns": 3 * MS,
            },
            10 * S + 5 * MS,
            10 * S + 5 * MS,
        ),
    ],
    ids=["start-and-end", "no-end", "end-before-start"],
)
def test_the_period_of_one_call(timings: dict[str, int], first: int, last: int) -> None:
    metric = _client_call(**timings)
    expected = Period(first_start_ns=first, last_end_ns=last)
    assert Period.of([metric]) == expected
    assert topology([metric]).period == red([metric]).period == expected
    stats = topology([metric]).edge("a", "b").combined()
    assert (stats.first_start_ns, stats.last_end_ns) == (first, last)


@pytest.mark.parametrize(
    "period",
    [
        Period(),
        Period(first_start_ns=S),
        Period(last_end_ns=S),
        Period(first_start_ns=S, last_end_ns=2 * S),
    ],
    ids=["unknown", "no-end", "no-start", "both"],
)
def test_a_merged_period_keeps_each_known_end(period: Period) -> None:
    accumulator = PeriodAccumulator()
    accumulator.add_period(period)
    assert accumulator.result() == period
    assert (Topology(period=period) + Topology()).period == period


# --- the recordings -------------------------------------------------------------------------------


def test_the_period_of_the_recordings(recorded_period_ns: tuple[int, int]) -> None:
    first, last = recorded_period_ns
    expected = Period(first_start_ns=first, last_end_ns=last)
    assert Period.of(METRICS) == expected
    assert red(METRICS).period == expected
    assert red(METRICS, scope="endpoint", window="1m").period == expected
    assert topology(METRICS).period == expected
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
    assert summary.red.period == summary.topology.period == expected


def test_every_group_divides_by_the_whole_period(recorded_period_ns: tuple[int, int]) -> None:
    first, last = recorded_period_ns
    seconds = (last - first) / S  # about 3 s: the whole traffic plan
    stats = red(METRICS)
    assert stats.rate_seconds == seconds
    # One call each: the same rate, not one call over its own 0.2 ms (5,042 req/s before).
    assert stats.rate(RedKey(service="UNKNOWN")) == 1 / seconds
    assert stats.rate(RedKey(service="mysqldb")) == 1 / seconds
    assert stats.rate(RedKey(service="reviews")) == 5 / seconds
    rows = {row.key.service: row.rate for row in stats.rows()}
    assert rows["istio-ingressgateway"] == 6 / seconds
    # Rates over one period add up: 29 calls, each counted once, in the whole period.
    assert sum(rate or 0.0 for rate in rows.values()) == pytest.approx(29 / seconds)


def test_edge_rates_over_the_whole_period(recorded_period_ns: tuple[int, int]) -> None:
    first, last = recorded_period_ns
    seconds = (last - first) / S
    graph = topology(METRICS)
    assert graph.rate("productpage", "details") == 4 / seconds
    assert graph.rate("productpage", "mysqldb") == 1 / seconds
    edges = graph.to_dict()["edges"]
    assert isinstance(edges, list)
    assert [edge["rate"] for edge in edges] == [
        graph.rate(*key) for key in graph.edges
    ]  # the same numbers in the dict form
    with pytest.raises(KeyError):
        graph.rate("details", "productpage")


def test_periods_of_separate_files_merge_to_the_whole(recorded_period_ns: tuple[int, int]) -> None:
    resolver = BOOKINFO.resolver()
    parts = [summarize([stream], resolver=resolver, window="1s") for stream in BOOKINFO.streams()]
    merged = meshals.aggregate.Summary.merge_all(parts)
    first, last = recorded_period_ns
    assert merged.red.period == Period(first_start_ns=first, last_end_ns=last)
    assert merged.topology.period == merged.red.period
    assert {part.red.period for part in parts} != {merged.red.period}  # each file saw less


def test_edge_scope_groups_as_the_graph_does() -> None:
    stats = red(METRICS, scope="edge")
    graph = topology(METRICS)
    assert [(key.source, key.service) for key in stats.groups] == list(graph.edges)
    for (source, destination), edge in graph.edges.items():
        key = RedKey(source=source, service=destination)
        assert stats.groups[key] == edge.traffic
        assert stats.rate(key) == graph.rate(source, destination)
    # productpage -> details: 4 calls both sides logged, counted once.
    details = stats.groups[RedKey(source="productpage", service="details")]
    assert (details.client.requests, details.server.requests, details.combined().requests) == (
        4,
        4,
        4,
    )
