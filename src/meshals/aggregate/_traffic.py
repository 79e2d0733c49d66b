"""The statistics of a set of calls: :class:`TrafficStats` and :class:`TrafficAccumulator`.

:class:`TrafficStats` summarises a set of observed calls: counts by response code, gRPC status,
response flag, protocol and TLS mode, a latency sketch and TCP byte totals. Every field is an
integer count or sum, a minimum or a maximum, so merging is exact and order-independent:
``stats(A + B) == stats(A) + stats(B)``. Build with :class:`TrafficAccumulator` (mutable,
O(1) per metric), freeze with ``result()``, merge results with ``+``.

The client's and the server's observations kept apart, each call counted once:
:mod:`meshals.aggregate._stats`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TypeVar

import attrs

from meshals._display import html
from meshals._values import FrozenMap
from meshals.model._metrics import MeshProtocol, ServiceMeshMetric, TlsMode

from ._kinds import PROTOCOLS, TLS_MODES, Facts, Kind, KindCalls, facts_of
from ._sketch import (
    DEFAULT_RELATIVE_ACCURACY,
    LatencySketch,
    SketchAccumulator,
    _max,
    _min,
)

__all__ = ["TrafficAccumulator", "TrafficStats", "code_class"]

K = TypeVar("K")

#: The response-code classes, in order: 1xx-5xx, and ``none`` for no code or one outside 100-599.
CODE_CLASSES: tuple[str, ...] = ("1xx", "2xx", "3xx", "4xx", "5xx", "none")


def code_class(response_code: int | None) -> str:
    """The class of an HTTP response code: ``"2xx"``..., or ``"none"`` (absent, outside 100-599).

    >>> code_class(503), code_class(None), code_class(0)
    ('5xx', 'none', 'none')
    """
    if response_code is None or not 100 <= response_code <= 599:
        return "none"
    return f"{response_code // 100}xx"


def _sort_key(key: object) -> object:
    return key.value if isinstance(key, enum.Enum) else key


def _freeze(counts: Mapping[K, int]) -> FrozenMap[K, int]:
    # Sorted, so equal aggregates also iterate (and serialise) alike; most count maps are
    # empty (no gRPC, no flags) or hold one key, which need no sorting.
    if len(counts) < 2:
        return FrozenMap(counts) if counts else _EMPTY_COUNTS  # type: ignore[return-value]
    return FrozenMap(dict(sorted(counts.items(), key=lambda item: _sort_key(item[0]))))  # type: ignore[arg-type, return-value]


def _add_counts(into: dict[K, int], counts: Mapping[K, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count


_EMPTY_COUNTS: FrozenMap[object, int] = FrozenMap()
_EMPTY_SKETCH = LatencySketch()


@attrs.frozen(kw_only=True)
class TrafficStats:
    """RED statistics of a set of observed calls (immutable, mergeable with ``+``).

    Attributes:
        requests: calls (HTTP/gRPC requests and TCP connections) observed.
        errors: calls whose ``status`` was False (see ``meshals.mesh._status``).
        protocols: calls by protocol.
        protocol_errors: failed calls (``status`` False) by protocol.
        response_codes: HTTP and gRPC calls by response code (calls without one not counted).
        grpc_statuses: gRPC calls by ``grpc-status`` (calls without one not counted).
        response_flags: calls by Envoy response flag short code (a call counts once per flag).
        tls_modes: calls by TLS mode.
        latency: a sketch of the latencies in ns (calls without a known latency left out).
        received_bytes: TCP bytes received from the downstream, summed.
        sent_bytes: TCP bytes sent to the downstream, summed.
        first_start_ns: the earliest start time, or None.
        last_end_ns: the latest end time (the start where the end is unknown), or None.
    """

    requests: int = 0
    errors: int = 0
    protocols: FrozenMap[MeshProtocol, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    protocol_errors: FrozenMap[MeshProtocol, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    response_codes: FrozenMap[int, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    grpc_statuses: FrozenMap[int, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    response_flags: FrozenMap[str, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    tls_modes: FrozenMap[TlsMode, int] = _EMPTY_COUNTS  # type: ignore[assignment]
    latency: LatencySketch = _EMPTY_SKETCH
    received_bytes: int = 0
    sent_bytes: int = 0
    first_start_ns: int | None = None
    last_end_ns: int | None = None

    @classmethod
    def of(
        cls,
        metrics: Iterable[ServiceMeshMetric],
        *,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> TrafficStats:
        """The statistics of some metrics, whatever their side, source and destination."""
        accumulator = TrafficAccumulator(relative_accuracy=relative_accuracy)
        for metric in metrics:
            accumulator.add(metric)
        return accumulator.result()

    # --- rates ---------------------------------------------------------------------------

    @property
    def error_rate(self) -> float | None:
        """``errors / requests``, or None without requests."""
        return self.errors / self.requests if self.requests else None

    @property
    def http_requests(self) -> int:
        """Calls with HTTP semantics: HTTP and gRPC (which runs over HTTP/2)."""
        return self.protocols.get(MeshProtocol.HTTP, 0) + self.protocols.get(MeshProtocol.GRPC, 0)

    @property
    def grpc_requests(self) -> int:
        """gRPC calls."""
        return self.protocols.get(MeshProtocol.GRPC, 0)

    @property
    def grpc_errors(self) -> int:
        """gRPC calls that did not end with ``grpc-status`` 0 (a missing status is an error)."""
        return self.grpc_requests - self.grpc_statuses.get(0, 0)

    @property
    def code_classes(self) -> FrozenMap[str, int]:
        """HTTP and gRPC calls by :func:`code_class`; ``none`` counts calls without a code.

        The counts add up to :attr:`http_requests`; classes with no calls are left out.
        """
        classes: dict[str, int] = {}
        coded = 0
        for code, count in self.response_codes.items():
            name = code_class(code)
            classes[name] = classes.get(name, 0) + count
            coded += count
        if self.http_requests > coded:
            classes["none"] = classes.get("none", 0) + self.http_requests - coded
        return _freeze(classes)

    @property
    def errors_4xx(self) -> int:
        """HTTP and gRPC calls answered 4xx: what the ``4xx`` health rule counts.

        Not in :attr:`errors` (the server answered as designed), yet Kiali's health looks at
        them: a 25 % 4xx rate fails an edge with no :attr:`errors` at all.
        """
        return self.code_classes.get("4xx", 0)

    @property
    def errors_5xx(self) -> int:
        """HTTP and gRPC calls answered 5xx or not at all (a reset: no response code): what the
        ``5xx`` health rule counts."""
        classes = self.code_classes
        return classes.get("5xx", 0) + classes.get("none", 0)

    @property
    def error_rate_4xx(self) -> float | None:
        """``errors_4xx / http_requests``, or None without HTTP or gRPC calls."""
        return self.errors_4xx / self.http_requests if self.http_requests else None

    @property
    def error_rate_5xx(self) -> float | None:
        """``errors_5xx / http_requests``, or None without HTTP or gRPC calls."""
        return self.errors_5xx / self.http_requests if self.http_requests else None

    @property
    def grpc_error_rate(self) -> float | None:
        """``grpc_errors / grpc_requests``: the ``grpc`` health rule's rate; None without gRPC."""
        return self.grpc_errors / self.grpc_requests if self.grpc_requests else None

    def span_ns(self) -> int | None:
        """The observed span, ``last_end_ns - first_start_ns``, or None if unknown."""
        if self.first_start_ns is None or self.last_end_ns is None:
            return None
        return self.last_end_ns - self.first_start_ns

    def rate(self, seconds: float | None) -> float | None:
        """Requests per second over a period of ``seconds``.

        A rate is over the analysed period, which these statistics alone do not know (their own
        span covers only their calls): :meth:`RedStats.rate <meshals.aggregate.RedStats.rate>`
        and :meth:`Topology.rate <meshals.aggregate.Topology.rate>` pass it (see
        :class:`~meshals.aggregate.Period`).

        Args:
            seconds: the length of the period the calls came from (the analysed period's, or
                a window's).

        Returns:
            The rate; None when the period is unknown (None) or not positive.

        >>> TrafficStats(requests=30).rate(60)
        0.5
        """
        if seconds is None or seconds <= 0:
            return None
        return self.requests / seconds

    # --- duration ------------------------------------------------------------------------

    def percentile(self, q: float) -> int | None:
        """Latency quantile ``q`` (0..1) in ns, within the sketch's error bound; None if none."""
        return self.latency.quantile(q)

    @property
    def p50(self) -> int | None:
        """Median latency in ns (estimate)."""
        return self.latency.quantile(0.5)

    @property
    def p90(self) -> int | None:
        """90th percentile latency in ns (estimate)."""
        return self.latency.quantile(0.9)

    @property
    def p95(self) -> int | None:
        """95th percentile latency in ns (estimate)."""
        return self.latency.quantile(0.95)

    @property
    def p99(self) -> int | None:
        """99th percentile latency in ns (estimate)."""
        return self.latency.quantile(0.99)

    # --- merging -------------------------------------------------------------------------

    def merge(self, other: TrafficStats) -> TrafficStats:
        """The statistics of both sets of calls.

        Raises:
            AggregateError: if the latency sketches have different relative accuracies.
        """
        if not other.requests:
            return self
        if not self.requests:
            return other
        accumulator = TrafficAccumulator(relative_accuracy=self.latency.relative_accuracy)
        accumulator.add_stats(self)
        accumulator.add_stats(other)
        return accumulator.result()

    def __add__(self, other: TrafficStats) -> TrafficStats:
        if not isinstance(other, TrafficStats):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(cls, stats: Iterable[TrafficStats]) -> TrafficStats:
        """Merge any number of statistics (the empty statistics for none).

        Raises:
            AggregateError: if the latency sketches have different relative accuracies.
        """
        accumulator: TrafficAccumulator | None = None
        for item in stats:
            if not item.requests:
                continue
            if accumulator is None:
                accumulator = TrafficAccumulator(relative_accuracy=item.latency.relative_accuracy)
            accumulator.add_stats(item)
        return EMPTY_TRAFFIC if accumulator is None else accumulator.result()

    def to_dict(self) -> dict[str, object]:
        """The statistics as a plain, JSON-ready dict (rates, classes and percentiles included)."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "protocols": {protocol.value: n for protocol, n in self.protocols.items()},
            "protocol_errors": {protocol.value: n for protocol, n in self.protocol_errors.items()},
            "response_codes": {str(code): n for code, n in self.response_codes.items()},
            "code_classes": dict(self.code_classes),
            "grpc_statuses": {str(status): n for status, n in self.grpc_statuses.items()},
            "response_flags": dict(self.response_flags),
            "tls_modes": {mode.value: n for mode, n in self.tls_modes.items()},
            "latency_ns": {
                "count": self.latency.count,
                "mean": self.latency.mean,
                "min": self.latency.minimum,
                "max": self.latency.maximum,
                "p50": self.p50,
                "p90": self.p90,
                "p95": self.p95,
                "p99": self.p99,
            },
            "received_bytes": self.received_bytes,
            "sent_bytes": self.sent_bytes,
            "first_start_ns": self.first_start_ns,
            "last_end_ns": self.last_end_ns,
        }

    def _repr_html_(self) -> str | None:
        """The statistics as an HTML table, for notebooks."""
        return html(self)


#: The statistics of no calls.
EMPTY_TRAFFIC = TrafficStats()


class TrafficAccumulator:
    """Builds :class:`TrafficStats` one metric at a time (mutable, O(1) per metric).

    >>> accumulator = TrafficAccumulator()
    >>> accumulator.result() == TrafficStats()
    True
    """

    __slots__ = (
        "_codes",
        "_first_start_ns",
        "_flags",
        "_grpc",
        "_kinds",
        "_last_end_ns",
        "_latency",
        "_protocol_errors",
        "_protocols",
        "_received",
        "_sent",
        "_tls",
        "errors",
        "requests",
    )

    def __init__(self, *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        """Start empty.

        Args:
            relative_accuracy: the latency sketch's alpha.

        Raises:
            AggregateError: if the accuracy is out of range.
        """
        self._latency = SketchAccumulator(relative_accuracy=relative_accuracy)
        self.requests = 0
        self.errors = 0
        self._protocols: dict[MeshProtocol, int] = {}
        self._protocol_errors: dict[MeshProtocol, int] = {}
        self._codes: dict[int, int] = {}
        self._grpc: dict[int, int] = {}
        self._flags: dict[str, int] = {}
        self._tls: dict[TlsMode, int] = {}
        self._kinds: dict[Kind, int] = {}
        self._received = 0
        self._sent = 0
        self._first_start_ns: int | None = None
        self._last_end_ns: int | None = None

    def add(self, metric: ServiceMeshMetric) -> None:
        """Count one metric."""
        self._add_facts(facts_of(metric, self._latency._table))

    def _add_facts(self, facts: Facts) -> None:
        # Count one metric from its facts (:mod:`._kinds`): its kind now, its fields at result().
        kind, latency, latency_key, table, first, last, received, sent = facts
        self.requests += 1
        if not kind[2]:
            self.errors += 1
        kinds = self._kinds
        kinds[kind] = kinds.get(kind, 0) + 1
        if latency is not None:
            sketch = self._latency
            if table is sketch._table:
                sketch._add_keyed(latency, latency_key)
            else:  # add_stats adopted another accuracy: the key is of another table
                sketch.add(latency)
        if received is not None:
            self._received += received
        if sent is not None:
            self._sent += sent
        if first is not None:
            if self._first_start_ns is None or first < self._first_start_ns:
                self._first_start_ns = first
            if self._last_end_ns is None or last > self._last_end_ns:  # type: ignore[operator]
                self._last_end_ns = last

    def _drain(self) -> dict[Kind, int]:
        # Spread the kinds counted so far into the per-field counts; hand them back.
        kinds, self._kinds = self._kinds, {}
        protocols, protocol_errors = self._protocols, self._protocol_errors
        codes, grpc, flags, tls = self._codes, self._grpc, self._flags, self._tls
        for kind, n in kinds.items():
            _, protocol_value, status, code, grpc_status, response_flags, tls_value, *_ = kind
            protocol = PROTOCOLS[protocol_value]
            protocols[protocol] = protocols.get(protocol, 0) + n
            if not status:
                protocol_errors[protocol] = protocol_errors.get(protocol, 0) + n
            if code is not None:
                codes[code] = codes.get(code, 0) + n
            if grpc_status is not None and protocol is MeshProtocol.GRPC:
                grpc[grpc_status] = grpc.get(grpc_status, 0) + n
            for flag in response_flags:
                flags[flag.short_code] = flags.get(flag.short_code, 0) + n
            mode = TLS_MODES[tls_value]
            tls[mode] = tls.get(mode, 0) + n
        return kinds

    def add_stats(self, stats: TrafficStats) -> None:
        """Count every call a :class:`TrafficStats` summarises (a merge).

        Raises:
            AggregateError: if its latency sketch has a different relative accuracy.
        """
        sketch = stats.latency
        if sketch.count:
            if (
                not self._latency.count
                and sketch.relative_accuracy != self._latency.relative_accuracy
            ):
                # Nothing timed yet: adopt the other's accuracy (an empty sketch merges with any).
                self._latency = SketchAccumulator(relative_accuracy=sketch.relative_accuracy)
            self._latency.add_sketch(sketch)
        _add_counts(self._protocols, stats.protocols)
        _add_counts(self._protocol_errors, stats.protocol_errors)
        _add_counts(self._codes, stats.response_codes)
        _add_counts(self._grpc, stats.grpc_statuses)
        _add_counts(self._flags, stats.response_flags)
        _add_counts(self._tls, stats.tls_modes)
        self._add_totals(
            (stats.requests, stats.errors, stats.received_bytes, stats.sent_bytes),
            stats.first_start_ns,
            stats.last_end_ns,
        )

    def _add_calls(self, kind: Kind, calls: KindCalls) -> None:
        # Count calls of one kind, counted apart (:mod:`._fold`); their latency keys are of
        # this accumulator's table.
        n = calls.count
        self._kinds[kind] = self._kinds.get(kind, 0) + n
        if calls.timed:
            self._latency._add_buckets(
                calls.latencies.items(), calls.timed, calls.total, calls.minimum, calls.maximum
            )
        self._add_totals(
            (n, 0 if kind[2] else n, calls.received, calls.sent), calls.first, calls.last
        )

    def _add_totals(
        self, sums: tuple[int, int, int, int], first: int | None, last: int | None
    ) -> None:
        # requests, errors, received and sent bytes; the earliest start and the latest end.
        requests, errors, received, sent = sums
        self.requests += requests
        self.errors += errors
        self._received += received
        self._sent += sent
        self._first_start_ns = _min(self._first_start_ns, first)
        self._last_end_ns = _max(self._last_end_ns, last)

    def result(self) -> TrafficStats:
        """The immutable statistics of everything counted so far."""
        self._drain()
        if not self.requests:
            return EMPTY_TRAFFIC
        return TrafficStats(
            requests=self.requests,
            errors=self.errors,
            protocols=_freeze(self._protocols),
            protocol_errors=_freeze(self._protocol_errors),
            response_codes=_freeze(self._codes),
            grpc_statuses=_freeze(self._grpc),
            response_flags=_freeze(self._flags),
            tls_modes=_freeze(self._tls),
            latency=self._latency.result(),
            received_bytes=self._received,
            sent_bytes=self._sent,
            first_start_ns=self._first_start_ns,
            last_end_ns=self._last_end_ns,
        )
