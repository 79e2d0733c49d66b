"""A mergeable latency sketch with a relative-error guarantee (DDSketch-style log buckets).

Values are integers (nanoseconds). A positive value ``x`` falls in bucket ``i``, the smallest
``i`` with ``x <= floor(gamma ** i)``, where ``gamma = (1 + alpha) / (1 - alpha)`` and
``alpha`` is the relative accuracy; 0 has its own bucket and a negative value the mirror
bucket of ``-x``. A sketch keeps only integer counts per bucket, the exact count, sum, minimum
and maximum, so merging two sketches adds counts: exact, associative and commutative, and
the sketch of a concatenation equals the merge of the sketches of its parts.

Error bound: :meth:`LatencySketch.quantile` returns, for the nearest-rank quantile ``x`` of
the values added (the value of rank ``ceil(q * n)``, the minimum for ``q = 0``), an integer
``r`` with ``|r - x| < alpha * |x| + 1/2``: the bucket of ``x`` holds only integers in
``(gamma ** (i - 1), gamma ** i]``, its representative ``2 * lo * hi / (lo + hi)`` is within
``alpha`` of each of them, and rounding to an integer adds at most half a nanosecond.
``q = 0`` and ``q = 1`` are exact (the minimum and maximum).

The bucket boundaries are integers computed once per accuracy, so a value's bucket depends on
the value and ``alpha`` only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from fractions import Fraction

import attrs

from meshals._errors import AggregateError

__all__ = ["LatencySketch", "SketchAccumulator"]

#: The default relative accuracy of latency percentiles: 1 %.
DEFAULT_RELATIVE_ACCURACY = 0.01

# Tighter accuracies need ever longer boundary tables (about ln(max) / (2 * alpha) entries).
_MIN_ACCURACY = 0.0001
_MAX_ACCURACY = 0.5


def exact_fraction(value: float | int | str | Fraction) -> Fraction:
    """The exact rational a user meant: ``0.001`` is 1/1000, not the nearest binary float."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AggregateError(f"not a finite number: {value!r}")
        return Fraction(repr(value))
    try:
        return Fraction(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise AggregateError(f"not a number: {value!r}") from exc


def check_relative_accuracy(value: float) -> float:
    """The accuracy as a float if it is in range; AggregateError otherwise."""
    if not _MIN_ACCURACY <= value <= _MAX_ACCURACY:
        raise AggregateError(
            f"relative accuracy must be between {_MIN_ACCURACY} and {_MAX_ACCURACY}: {value!r}"
        )
    return float(value)


class _Boundaries:
    """``floor(gamma ** i)`` for i = 0, 1, ..., grown on demand; shared per accuracy."""

    __slots__ = ("_gamma", "upper")

    def __init__(self, accuracy: float) -> None:
        self._gamma = (1 + accuracy) / (1 - accuracy)
        self.upper: list[int] = [1]

    def _grow(self) -> None:
        self.upper.append(math.floor(self._gamma ** len(self.upper)))

    def index(self, magnitude: int) -> int:
        """The bucket of a positive integer."""
        while magnitude > self.upper[-1]:
            self._grow()
        return bisect.bisect_left(self.upper, magnitude)

    def limits(self, index: int) -> tuple[int, int]:
        """``(low, high)``: bucket ``index`` holds the integers ``low < x <= high``."""
        # A sketch made in another process (unpickled) may hold buckets not grown here yet.
        while index >= len(self.upper):
            self._grow()
        return (self.upper[index - 1] if index else 0), self.upper[index]

    def representative(self, index: int) -> int:
        """The integer of bucket ``index`` with the least worst-case relative error."""
        low, hi = self.limits(index)
        lo = low + 1
        # round(2 * lo * hi / (lo + hi)) in integers: the harmonic mean of the bucket's ends.
        return (4 * lo * hi + lo + hi) // (2 * (lo + hi))


_BOUNDARIES: dict[float, _Boundaries] = {}


def _boundaries(accuracy: float) -> _Boundaries:
    table = _BOUNDARIES.get(accuracy)
    if table is None:
        table = _BOUNDARIES[accuracy] = _Boundaries(accuracy)
    return table


def _key(value: int, table: _Boundaries) -> int:
    # Keys order like the values: negatives below 0 below positives.
    if value > 0:
        # index(), without its call for a table grown far enough already: once per metric.
        upper = table.upper
        if value <= upper[-1]:
            return bisect.bisect_left(upper, value) + 1
        return table.index(value) + 1
    if value < 0:
        return -table.index(-value) - 1
    return 0


def _representative(key: int, table: _Boundaries) -> int:
    if key > 0:
        return table.representative(key - 1)
    if key < 0:
        return -table.representative(-key - 1)
    return 0


def _range(key: int, table: _Boundaries) -> tuple[int, int]:
    # (low, high]: the integers of the key's bucket; a negative key mirrors a positive one.
    if key == 0:
        return -1, 0
    low, high = table.limits(abs(key) - 1)
    return (low, high) if key > 0 else (-high - 1, -low - 1)


@attrs.frozen(kw_only=True)
class LatencySketch:
    """An immutable summary of integer values (latencies in ns) that answers quantiles.

    Build one with :class:`SketchAccumulator` or :meth:`of`; merge with ``+``, :meth:`merge`
    or :meth:`merge_all`. See the module docstring for the error bound.

    Attributes:
        relative_accuracy: alpha, the relative error bound of quantiles.
        buckets: ``(key, count)`` pairs sorted by key; counts are positive integers.
        count: how many values were added.
        total: their exact sum.
        minimum: the smallest value, or None when empty.
        maximum: the largest value, or None when empty.

    >>> sketch = LatencySketch.of([1_000, 2_000, 3_000, 4_000_000])
    >>> sketch.count, sketch.total, sketch.quantile(0.5), sketch.quantile(1.0)  # p50 within 1 %
    (4, 4006000, 2019, 4000000)
    >>> sketch + LatencySketch.of([5]) == LatencySketch.of([5, 1_000, 2_000, 3_000, 4_000_000])
    True
    """

    relative_accuracy: float = attrs.field(
        default=DEFAULT_RELATIVE_ACCURACY, converter=check_relative_accuracy
    )
    buckets: tuple[tuple[int, int], ...] = ()
    count: int = 0
    total: int = 0
    minimum: int | None = None
    maximum: int | None = None

    @classmethod
    def of(
        cls, values: Iterable[int], *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY
    ) -> LatencySketch:
        """The sketch of some integer values.

        Args:
            values: the values (ns).
            relative_accuracy: alpha.

        Returns:
            The sketch.

        Raises:
            AggregateError: if the accuracy is out of range.
        """
        accumulator = SketchAccumulator(relative_accuracy=relative_accuracy)
        for value in values:
            accumulator.add(value)
        return accumulator.result()

    @property
    def mean(self) -> float | None:
        """The exact mean (as a float), or None when empty."""
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> int | None:
        """An estimate of the nearest-rank ``q``-quantile, within the documented error bound.

        Args:
            q: between 0 and 1 (``0.99`` for p99); read as the decimal it is written as.

        Returns:
            The estimate (an integer inside ``[minimum, maximum]``), or None when empty.

        Raises:
            AggregateError: if ``q`` is outside [0, 1].
        """
        exact_q = exact_fraction(q)
        if not 0 <= exact_q <= 1:
            raise AggregateError(f"quantile must be between 0 and 1: {q!r}")
        if self.minimum is None or self.maximum is None:
            return None
        rank = max(1, math.ceil(exact_q * self.count))
        if rank == 1:
            return self.minimum
        if rank == self.count:
            return self.maximum
        table = _boundaries(self.relative_accuracy)
        seen = 0
        for key, count in self.buckets:
            seen += count
            if seen >= rank:
                estimate = _representative(key, table)
                return min(max(estimate, self.minimum), self.maximum)
        raise AssertionError("bucket counts do not add up to count")  # pragma: no cover

    def bucket_ranges(self) -> tuple[tuple[int, int, int], ...]:
        """Each bucket as the integers it holds: ``(low, high, count)`` for ``low < x <= high``.

        What the sketch knows of its values' distribution, exactly: an exporter that needs
        explicit bucket boundaries (OpenTelemetry, Prometheus) can use these ranges as they
        are. In key order (ascending values); 0 is ``(-1, 0, n)``.

        >>> LatencySketch.of([1, 1, 3, 1_000]).bucket_ranges()
        ((0, 1, 2), (2, 3, 1), (992, 1012, 1))
        """
        table = _boundaries(self.relative_accuracy)
        return tuple((*_range(key, table), count) for key, count in self.buckets)

    def merge(self, other: LatencySketch) -> LatencySketch:
        """The sketch of both sketches' values.

        Raises:
            AggregateError: if both are non-empty and of different relative accuracies.
        """
        # An empty sketch merges with any: an input without latencies has no accuracy to keep.
        if not other.count:
            return self
        if not self.count:
            return other
        if other.relative_accuracy != self.relative_accuracy:
            raise AggregateError(
                "cannot merge sketches of relative accuracy "
                f"{self.relative_accuracy} and {other.relative_accuracy}"
            )
        counts = dict(self.buckets)
        for key, count in other.buckets:
            counts[key] = counts.get(key, 0) + count
        return LatencySketch(
            relative_accuracy=self.relative_accuracy,
            buckets=tuple(sorted(counts.items())),
            count=self.count + other.count,
            total=self.total + other.total,
            minimum=_min(self.minimum, other.minimum),
            maximum=_max(self.maximum, other.maximum),
        )

    def __add__(self, other: LatencySketch) -> LatencySketch:
        if not isinstance(other, LatencySketch):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(
        cls,
        sketches: Iterable[LatencySketch],
        *,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> LatencySketch:
        """Merge any number of sketches; an empty iterable gives the empty sketch.

        Args:
            sketches: sketches of one relative accuracy.
            relative_accuracy: the accuracy of the result when ``sketches`` is empty.

        Raises:
            AggregateError: if the sketches' accuracies differ.
        """
        accumulator: SketchAccumulator | None = None
        for sketch in sketches:
            if not sketch.count:
                continue
            if accumulator is None:
                accumulator = SketchAccumulator(relative_accuracy=sketch.relative_accuracy)
            accumulator.add_sketch(sketch)
        if accumulator is None:
            return cls(relative_accuracy=relative_accuracy)
        return accumulator.result()


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


class SketchAccumulator:
    """Builds a :class:`LatencySketch` one value at a time (mutable; O(log buckets) per value).

    >>> accumulator = SketchAccumulator()
    >>> for latency in (5, 7, 9):
    ...     accumulator.add(latency)
    >>> accumulator.result().quantile(0.5)
    7
    """

    __slots__ = ("_counts", "_table", "count", "maximum", "minimum", "relative_accuracy", "total")

    def __init__(self, *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        """Start empty.

        Raises:
            AggregateError: if the accuracy is out of range.
        """
        self.relative_accuracy = check_relative_accuracy(relative_accuracy)
        self._table = _boundaries(self.relative_accuracy)
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.minimum: int | None = None
        self.maximum: int | None = None

    def add(self, value: int) -> None:
        """Add one integer value."""
        self._add_keyed(value, _key(value, self._table))

    def _add_keyed(self, value: int, key: int) -> None:
        """Add one integer value whose bucket key (in this accumulator's table) is known."""
        self._counts[key] = self._counts.get(key, 0) + 1
        self.count += 1
        self.total += value
        if self.minimum is None or value < self.minimum:
            self.minimum = value
        if self.maximum is None or value > self.maximum:
            self.maximum = value

    def add_sketch(self, sketch: LatencySketch) -> None:
        """Add every value a sketch summarises.

        Raises:
            AggregateError: if the sketch's accuracy differs from this accumulator's.
        """
        if not sketch.count:
            return
        if sketch.relative_accuracy != self.relative_accuracy:
            raise AggregateError(
                "cannot merge sketches of relative accuracy "
                f"{self.relative_accuracy} and {sketch.relative_accuracy}"
            )
        self._add_buckets(
            sketch.buckets, sketch.count, sketch.total, sketch.minimum, sketch.maximum
        )

    def _add_buckets(
        self,
        buckets: Iterable[tuple[int, int]],
        count: int,
        total: int,
        minimum: int | None,
        maximum: int | None,
    ) -> None:
        counts = self._counts
        for key, n in buckets:
            counts[key] = counts.get(key, 0) + n
        self.count += count
        self.total += total
        self.minimum = _min(self.minimum, minimum)
        self.maximum = _max(self.maximum, maximum)

    def result(self) -> LatencySketch:
        """The immutable sketch of everything added so far."""
        return LatencySketch(
            relative_accuracy=self.relative_accuracy,
            buckets=tuple(sorted(self._counts.items())),
            count=self.count,
            total=self.total,
            minimum=self.minimum,
            maximum=self.maximum,
        )
