"""The latency sketch: buckets, quantiles within the bound, exact merges, settings errors."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from meshals import AggregateError, MeshalsError
from meshals.aggregate._sketch import (
    DEFAULT_RELATIVE_ACCURACY,
    LatencySketch,
    SketchAccumulator,
    exact_fraction,
)


def nearest_rank(values: list[int], q: float) -> int:
    """The exact nearest-rank quantile, computed independently of the sketch."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(str(q)) * len(ordered)))
    return ordered[rank - 1]


# (values, q, expected estimate): small integers each have a bucket of their own.
QUANTILE_CASES: list[tuple[list[int], float, int | None]] = [
    ([], 0.5, None),
    ([7], 0.0, 7),
    ([7], 0.99, 7),
    ([1, 2, 3, 4], 0.5, 2),
    ([1, 2, 3, 4], 0.75, 3),
    ([1, 2, 3, 4], 0.76, 4),
    ([0, 0, 0, 5], 0.5, 0),
    ([0, 1, 1, 5], 0.5, 1),  # bucket key 1 (the value 1): the first positive bucket
    ([-40, -3, 0, 9], 0.25, -40),
    ([-40, -3, 0, 9], 0.5, -3),
    # 1000 and 1010 share bucket 346, (gamma**345, gamma**346] = (992.50, 1012.55] with
    # gamma = 1.01 / 0.99: integers 993..1012, representative round(2*993*1012 / 2005) = 1002.
    ([1000, 1010, 1010, 1010], 0.5, 1002),
    ([1000, 1010, 1010, 1010], 0.0, 1000),
    ([1000, 1010, 1010, 1010], 1.0, 1010),
    # 0.9 is read as 9/10: rank 9 of 10, not 10 (the binary float is slightly above 0.9).
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9),
]


@pytest.mark.parametrize(("values", "q", "expected"), QUANTILE_CASES)
def test_quantile(values: list[int], q: float, expected: int | None) -> None:
    assert LatencySketch.of(values).quantile(q) == expected


def test_buckets_count_and_extremes() -> None:
    sketch = LatencySketch.of([5, 0, -5, 5, 2_000_000])
    # Keys are bucket + 1 (0 for zero, mirrored for negatives); ceil(log(5) / log(gamma)) = 81,
    # ceil(log(2e6) / log(gamma)) = ceil(725.41) = 726.
    assert sketch.buckets == ((-82, 1), (0, 1), (82, 2), (727, 1))
    assert (sketch.count, sketch.total, sketch.minimum, sketch.maximum) == (
        5,
        2_000_005,
        -5,
        2_000_000,
    )
    assert sketch.mean == 400_001.0


def test_empty_sketch() -> None:
    sketch = LatencySketch()
    assert (sketch.count, sketch.total, sketch.minimum, sketch.maximum) == (0, 0, None, None)
    assert sketch.mean is None
    assert sketch.quantile(0.5) is None


BOUND_VALUES = [
    [3, 17, 250, 999, 1_000_001, 42_000_000_000],
    list(range(1, 2000, 7)),
    [10**k for k in range(12)],
    [-(10**k) for k in range(10)] + [0, 0, 12_345],
]


@pytest.mark.parametrize("values", BOUND_VALUES)
@pytest.mark.parametrize("accuracy", [0.0001, 0.01, 0.05, 0.5])
@pytest.mark.parametrize("q", [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_quantile_within_bound(values: list[int], accuracy: float, q: float) -> None:
    sketch = LatencySketch.of(values, relative_accuracy=accuracy)
    exact = nearest_rank(values, q)
    estimate = sketch.quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) < accuracy * abs(exact) + 0.5


def test_merge_is_exact_and_order_free() -> None:
    a = LatencySketch.of([1, 50, 50, 7_000])
    b = LatencySketch.of([-2, 0, 123_456_789])
    whole = LatencySketch.of([1, 50, 50, 7_000, -2, 0, 123_456_789])
    assert a + b == whole
    assert b + a == whole
    assert a.merge(b) == whole
    assert LatencySketch.merge_all([b, LatencySketch(), a]) == whole


def test_merge_with_empty_ignores_accuracy() -> None:
    coarse = LatencySketch.of([10, 20], relative_accuracy=0.05)
    assert coarse + LatencySketch() == coarse
    assert LatencySketch() + coarse == coarse
    assert LatencySketch.merge_all([]) == LatencySketch()
    assert LatencySketch.merge_all([], relative_accuracy=0.05) == LatencySketch(
        relative_accuracy=0.05
    )


def test_merge_of_different_accuracies_fails() -> None:
    coarse = LatencySketch.of([10], relative_accuracy=0.05)
    fine = LatencySketch.of([10], relative_accuracy=0.01)
    with pytest.raises(AggregateError, match=r"relative accuracy 0\.05 and 0\.01"):
        coarse.merge(fine)
    with pytest.raises(AggregateError):
        LatencySketch.merge_all([coarse, fine])
    accumulator = SketchAccumulator(relative_accuracy=0.01)
    with pytest.raises(
        AggregateError, match=r"^cannot merge sketches of relative accuracy 0\.01 and 0\.05$"
    ):
        accumulator.add_sketch(coarse)


def test_add_operator_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        _ = LatencySketch() + 1  # type: ignore[operator]


def test_accumulator_matches_of() -> None:
    accumulator = SketchAccumulator()
    for value in (3, 1, 4, 1, 5, 9, 2, 6):
        accumulator.add(value)
    accumulator.add_sketch(LatencySketch())
    assert accumulator.result() == LatencySketch.of([3, 1, 4, 1, 5, 9, 2, 6])
    assert accumulator.relative_accuracy == DEFAULT_RELATIVE_ACCURACY


@pytest.mark.parametrize("accuracy", [0.0, 0.00009, 0.51, 1.0, -0.01, math.nan])
def test_accuracy_out_of_range(accuracy: float) -> None:
    with pytest.raises(AggregateError, match="relative accuracy must be between"):
        SketchAccumulator(relative_accuracy=accuracy)
    with pytest.raises(AggregateError):
        LatencySketch(relative_accuracy=accuracy)


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (-0.01, r"^quantile must be between 0 and 1: -0\.01$"),
        (1.01, r"^quantile must be between 0 and 1: 1\.01$"),
        (math.inf, r"^not a finite number: inf$"),
        (math.nan, r"^not a finite number: nan$"),
    ],
)
def test_quantile_out_of_range(q: float, message: str) -> None:
    with pytest.raises(AggregateError, match=message):
        LatencySketch.of([1]).quantile(q)


EXACT_FRACTIONS: list[tuple[float | int | str | Fraction, Fraction]] = [
    (0.001, Fraction(1, 1000)),
    (0.1, Fraction(1, 10)),
    (0, Fraction(0)),
    ("0.2", Fraction(1, 5)),
    (Fraction(1, 3), Fraction(1, 3)),
]


@pytest.mark.parametrize(("value", "expected"), EXACT_FRACTIONS)
def test_exact_fraction(value: float | int | str | Fraction, expected: Fraction) -> None:
    assert exact_fraction(value) == expected


@pytest.mark.parametrize("value", ["ten", "1/0", math.inf])
def test_exact_fraction_rejects(value: float | str) -> None:
    with pytest.raises(AggregateError):
        exact_fraction(value)


def test_aggregate_error_is_a_meshals_error() -> None:
    assert issubclass(AggregateError, MeshalsError)
    assert issubclass(AggregateError, ValueError)


def test_quantile_of_a_sketch_from_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bucket boundaries are grown per process on demand: an unpickled sketch may hold
    # buckets this process has not grown to yet (``meshals stats --jobs``).
    sketch = LatencySketch.of([1_000, 5_000_000_000, 9_000_000_000_000])
    median = sketch.quantile(0.5)
    monkeypatch.setattr("meshals.aggregate._sketch._BOUNDARIES", {})
    assert sketch.quantile(0.5) == median == 4_989_963_218


def test_merge_adds_the_counts_of_shared_buckets() -> None:
    one = LatencySketch.of([10_000_000, 20_000_000])
    other = LatencySketch.of([10_000_000, 40_000_000])
    assert one.merge(other) == LatencySketch.of([10_000_000, 20_000_000, 10_000_000, 40_000_000])
    assert one.merge(other).count == 4


def test_a_sketch_missing_an_extreme_answers_no_quantile() -> None:
    # Made by hand, not by an accumulator: without both extremes there is nothing to clamp to.
    only_minimum = LatencySketch(buckets=((1, 1),), count=1, total=1, minimum=1)
    only_maximum = LatencySketch(buckets=((1, 1),), count=1, total=1, maximum=1)
    assert (only_minimum.quantile(0.5), only_maximum.quantile(0.5)) == (None, None)


def test_bucket_ranges_hold_their_values_and_mirror_negatives() -> None:
    values = [-1000, -3, -1, 0, 0, 1, 3, 1000]
    ranges = LatencySketch.of(values).bucket_ranges()
    assert ranges == (
        (-1013, -993, 1),
        (-4, -3, 1),
        (-2, -1, 1),
        (-1, 0, 2),
        (0, 1, 1),
        (2, 3, 1),
        (992, 1012, 1),
    )
    # The negative buckets (the first three) hold their values: low < value <= high.
    pairs = zip(values[:3], ranges[:3], strict=True)
    assert all(low < value <= high for value, (low, high, _) in pairs)


def test_keys_from_a_table_grown_from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each accuracy's boundary table starts as [1] and grows on demand: the first values of a
    # process find it short, on both sides of zero.
    monkeypatch.setattr("meshals.aggregate._sketch._BOUNDARIES", {})
    sketch = LatencySketch.of([1, 5, -5, 2, 2_000_000, 1])
    assert sketch.buckets == ((-82, 1), (1, 2), (36, 1), (82, 1), (727, 1))
    monkeypatch.setattr("meshals.aggregate._sketch._BOUNDARIES", {})
    assert LatencySketch.of([2_000_000, 5, 1]).buckets == ((1, 1), (82, 1), (727, 1))
    # The first bucket holds 1 only.
    monkeypatch.setattr("meshals.aggregate._sketch._BOUNDARIES", {})
    assert LatencySketch.of([1]).bucket_ranges() == ((0, 1, 1),)
