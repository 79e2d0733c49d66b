"""compare(): what changed between the bookinfo recordings and the same capture with changes
injected (tests/fixtures/diff: reviews fails, productpage calls a new reviews-v2, its call to
recommendations is gone)."""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest

import meshals
from meshals import AggregateError, Summary, compare
from meshals.aggregate import (
    Comparison,
    EdgeChange,
    ProportionTest,
    TrafficStats,
    two_proportion_test,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
BEFORE = sorted((FIXTURES / "envoy").glob("*.bin"))
AFTER = sorted((FIXTURES / "diff" / "after").glob("*.bin"))
RESOLVER = meshals.StaticResolver.from_json(
    (FIXTURES / "diff" / "resolver.json").read_bytes(), source="resolver.json"
)


def _summary(paths: Sequence[Path]) -> Summary:
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(meshals.read(path)) for path in paths]
        return meshals.summarize(streams, resolver=RESOLVER)


@pytest.fixture(scope="module")
def before() -> Summary:
    return _summary(BEFORE)


@pytest.fixture(scope="module")
def after() -> Summary:
    return _summary(AFTER)


def textbook_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled two-proportion z-test as textbooks write it, with the standard normal CDF
    of the standard library (not math.erfc, which compare() uses)."""
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / standard_error
    return 2 * (1 - statistics.NormalDist().cdf(abs(z)))


def _keys(edges: Sequence[meshals.aggregate.Edge]) -> list[tuple[str, str]]:
    return [(edge.source, edge.destination) for edge in edges]


def _tests(comparison: Comparison) -> Iterator[ProportionTest]:
    for change in comparison.edges:
        yield change.errors_4xx
        yield change.errors_5xx


def test_what_appeared_and_vanished(before: Summary, after: Summary) -> None:
    comparison = compare(before, after)
    assert comparison.services_added == ("reviews-v2",)
    assert comparison.services_removed == ("recommendations",)
    assert _keys(comparison.edges_added) == [("productpage", "reviews-v2")]
    assert _keys(comparison.edges_removed) == [("productpage", "recommendations")]
    assert [(change.source, change.destination) for change in comparison.edges] == [
        ("UNKNOWN", "istio-ingressgateway"),
        ("istio-ingressgateway", "productpage"),
        ("productpage", "UNKNOWN"),
        ("productpage", "details"),
        ("productpage", "mongodb"),
        ("productpage", "mysqldb"),
        ("productpage", "reviews"),
        ("reviews", "ratings"),
    ]
    assert comparison.changed


def test_the_failing_service_is_the_one_regression(before: Summary, after: Summary) -> None:
    comparison = compare(before, after)
    (regression,) = comparison.regressions
    assert (regression.source, regression.destination) == ("productpage", "reviews")
    assert regression.regressed == ("5xx",)
    test = regression.errors_5xx
    # Before: one 500 and one reset of five calls; after: all five answered 503.
    assert (test.before, test.before_total, test.after, test.after_total) == (2, 5, 5, 5)
    assert test.rate_before == 0.4
    assert test.rate_after == 1.0
    assert test.p_value == pytest.approx(textbook_p_value(2, 5, 5, 5), rel=1e-12)
    assert test.p_value == pytest.approx(0.03843393, abs=1e-8)
    assert test.z == pytest.approx(0.6 / math.sqrt(0.7 * 0.3 * 0.4), rel=1e-12)
    # The 4xx share did not move: no errors on either side, no test.
    assert regression.errors_4xx == ProportionTest(
        before=0, before_total=5, after=0, after_total=5, z=None, p_value=None
    )


def test_the_regression_needs_p_below_alpha(before: Summary, after: Summary) -> None:
    assert compare(before, after, alpha=0.03).regressions == ()
    assert len(compare(before, after, alpha=0.04).regressions) == 1


def test_rates_are_over_each_sides_period(before: Summary, after: Summary) -> None:
    comparison = compare(before, after)
    # The changes kept every timestamp: both sides span the same period.
    assert before.topology.period == after.topology.period
    seconds = before.topology.period.seconds
    assert seconds is not None
    by_key = {(change.source, change.destination): change for change in comparison.edges}
    reviews = by_key["productpage", "reviews"]
    assert (reviews.rate_before, reviews.rate_after) == (5 / seconds, 5 / seconds)
    assert reviews.rate_change == 0.0
    (new,) = comparison.edges_added
    assert after.topology.rate(new.source, new.destination) == 1 / seconds
    assert comparison.to_dict()["edges_added"] == [
        {"source": "productpage", "destination": "reviews-v2", "requests": 1, "rate": 1 / seconds}
    ]


def test_each_side_divides_by_its_own_period(before: Summary) -> None:
    # reviews' own log spans less time than the whole recording.
    reviews_only = _summary([FIXTURES / "envoy" / "reviews-http.bin"])
    seconds_before = before.topology.period.seconds
    seconds_after = reviews_only.topology.period.seconds
    assert seconds_before is not None
    assert seconds_after is not None
    assert seconds_after < seconds_before
    comparison = compare(before, reviews_only)
    by_key = {(change.source, change.destination): change for change in comparison.edges}
    ratings = by_key["reviews", "ratings"]
    assert ratings.rate_before == 4 / seconds_before
    assert ratings.rate_after == 4 / seconds_after
    assert ratings.rate_change == 4 / seconds_after - 4 / seconds_before


def test_latency_quantiles_come_from_both_sketches(before: Summary, after: Summary) -> None:
    comparison = compare(before, after)
    edge = before.topology.edge("productpage", "reviews").combined()
    (change,) = [item for item in comparison.edges if item.destination == "reviews"]
    # Only the response codes changed: the same durations, the same sketch.
    for q in (0.5, 0.9, 0.99):
        assert change.latency(q) == (edge.latency.quantile(q), edge.latency.quantile(q))
    assert change.to_dict()["latency_ns"] == {
        "p50": {"before": edge.p50, "after": edge.p50, "change": 0},
        "p90": {"before": edge.p90, "after": edge.p90, "change": 0},
        "p99": {"before": edge.p99, "after": edge.p99, "change": 0},
    }


def test_an_unchanged_capture_reports_nothing(before: Summary) -> None:
    comparison = compare(before, before)
    assert not comparison.changed
    assert comparison.services_added == comparison.services_removed == ()
    assert comparison.edges_added == comparison.edges_removed == ()
    assert comparison.regressions == ()
    p_values = {test.p_value for test in _tests(comparison)}
    assert p_values == {1.0, None}
    for change in comparison.edges:
        assert change.rate_change == 0.0


def test_appear_and_vanish_are_symmetric(before: Summary, after: Summary) -> None:
    forward, backward = compare(before, after), compare(after, before)
    assert backward.services_added == forward.services_removed
    assert backward.services_removed == forward.services_added
    assert _keys(backward.edges_added) == _keys(forward.edges_removed)
    assert _keys(backward.edges_removed) == _keys(forward.edges_added)
    # The same test the other way round: the same p-value, but a fall is no regression.
    assert [test.p_value for test in _tests(backward)] == [test.p_value for test in _tests(forward)]
    assert backward.regressions == ()


def test_summaries_and_graphs_compare_alike(before: Summary, after: Summary) -> None:
    assert compare(before, after) == compare(before.topology, after.topology)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((5, 100, 20, 100), textbook_p_value(5, 100, 20, 100)),
        ((30, 1000, 45, 1100), textbook_p_value(30, 1000, 45, 1100)),
        ((1, 3, 0, 7), textbook_p_value(1, 3, 0, 7)),
    ],
)
def test_two_proportion_test_is_the_textbooks(
    counts: tuple[int, int, int, int], expected: float
) -> None:
    assert two_proportion_test(*counts).p_value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "counts",
    [(0, 0, 1, 5), (1, 5, 0, 0), (0, 5, 0, 5), (5, 5, 3, 3)],
    ids=["no-requests-before", "no-requests-after", "no-errors", "all-errors"],
)
def test_two_proportion_test_is_undefined_without_variance(
    counts: tuple[int, int, int, int],
) -> None:
    test = two_proportion_test(*counts)
    assert (test.z, test.p_value) == (None, None)
    assert not test.rose(0.05)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 2.0])
def test_alpha_must_be_a_probability(alpha: float) -> None:
    with pytest.raises(AggregateError, match="alpha must be between 0 and 1"):
        compare(Summary(), Summary(), alpha=alpha)


def test_the_dict_holds_every_part(before: Summary, after: Summary) -> None:
    comparison = compare(before, after, alpha=0.04)
    seconds = before.topology.period.seconds
    assert seconds is not None
    period = {
        "first_start_ns": 1795252111124831000,
        "last_end_ns": 1795252114167952172,
        "seconds": 3.043121172,
    }
    result = comparison.to_dict()
    assert {key: value for key, value in result.items() if key != "edges"} == {
        "alpha": 0.04,
        "period_before": period,
        "period_after": period,
        "services_added": ["reviews-v2"],
        "services_removed": ["recommendations"],
        "edges_added": [
            {
                "source": "productpage",
                "destination": "reviews-v2",
                "requests": 1,
                "rate": 1 / seconds,
            }
        ],
        "edges_removed": [
            {
                "source": "productpage",
                "destination": "recommendations",
                "requests": 1,
                "rate": 1 / seconds,
            }
        ],
    }
    edges = result["edges"]
    assert isinstance(edges, list)
    assert [(edge["source"], edge["destination"]) for edge in edges] == [
        (change.source, change.destination) for change in comparison.edges
    ]
    (regression,) = comparison.regressions
    latency = before.topology.edge("productpage", "reviews").combined()
    assert edges[comparison.edges.index(regression)] == {
        "source": "productpage",
        "destination": "reviews",
        "requests_before": 5,
        "requests_after": 5,
        "rate_before": 5 / seconds,
        "rate_after": 5 / seconds,
        "rate_change": 0.0,
        "errors_4xx": {
            "before": 0,
            "before_total": 5,
            "after": 0,
            "after_total": 5,
            "rate_before": 0.0,
            "rate_after": 0.0,
            "z": None,
            "p_value": None,
        },
        "errors_5xx": {
            "before": 2,
            "before_total": 5,
            "after": 5,
            "after_total": 5,
            "rate_before": 0.4,
            "rate_after": 1.0,
            "z": regression.errors_5xx.z,
            "p_value": regression.errors_5xx.p_value,
        },
        "latency_ns": {
            name: {"before": value, "after": value, "change": 0}
            for name, value in (
                ("p50", latency.p50),
                ("p90", latency.p90),
                ("p99", latency.p99),
            )
        },
        "regressed": ["5xx"],
    }


def test_a_side_without_rate_or_latency_has_no_change(before: Summary) -> None:
    # A graph whose calls had no timestamps: no period, no rate and no latency.
    timed = before.topology.edge("productpage", "reviews").combined()
    untimed = TrafficStats(requests=5)
    change = EdgeChange(
        source="productpage",
        destination="reviews",
        before=untimed,
        after=timed,
        rate_before=None,
        rate_after=2.0,
        errors_4xx=two_proportion_test(0, 0, 0, 5),
        errors_5xx=two_proportion_test(0, 0, 2, 5),
        alpha=0.05,
    )
    assert change.rate_change is None
    backwards = attrs.evolve(change, before=timed, after=untimed, rate_before=2.0, rate_after=None)
    assert backwards.rate_change is None
    for item in (change, backwards):
        latency = item.to_dict()["latency_ns"]
        assert isinstance(latency, dict)
        assert [value["change"] for value in latency.values()] == [None, None, None]


def test_a_regression_needs_p_strictly_below_alpha() -> None:
    test = two_proportion_test(5, 100, 20, 100)
    assert test.p_value is not None
    assert test.rose(math.nextafter(test.p_value, 1.0))
    assert not test.rose(test.p_value)


@pytest.mark.parametrize("alpha", [0.05, 1.0, 1.5])
def test_an_unchanged_rate_never_rose(alpha: float) -> None:
    # Equal rates give z = 0 and p = 1: only an alpha above 1 lets p through, and then the
    # rate still has to have risen.
    test = two_proportion_test(1, 10, 2, 20)
    assert (test.z, test.p_value) == (0.0, 1.0)
    assert not test.rose(alpha)
