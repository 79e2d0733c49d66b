"""Istio's standard metrics from ALS streams, and their Prometheus exposition.

:func:`istio_metrics` reads ALS streams (and ztunnel/Kmesh L4 logs), optionally with a
Kubernetes snapshot, and aggregates the series Istio's proxies would have exported for the
same traffic: ``istio_requests_total``, ``istio_request_duration_milliseconds``,
``istio_request_bytes``, ``istio_response_bytes`` (histograms),
``istio_request_messages_total`` and ``istio_response_messages_total`` (gRPC) for HTTP and
gRPC; ``istio_tcp_sent_bytes_total``, ``istio_tcp_received_bytes_total``,
``istio_tcp_connections_opened_total`` and ``istio_tcp_connections_closed_total`` for TCP.
:meth:`IstioMetrics.to_prometheus` renders them in Prometheus' text format through
``prometheus_client`` (the ``prometheus`` extra).

Every label is computed by Istio's rules: the reporter and labels of an Envoy entry by
:mod:`meshals.mesh._istio_rules` (who the sides are: :mod:`meshals.mesh._istio_identity`),
those of a ztunnel line by :mod:`meshals.mesh._istio_l4`. Istio's naming is its own: the
SkyWalking service names of :func:`~meshals.analyze` play no part.

Histograms use Istio's buckets, which are Envoy's defaults, for durations (ms) and byte sizes
alike (:data:`ISTIO_BUCKETS`), printed as Envoy prints them (``le="1800000"``). A request
without a logged duration is counted in ``istio_requests_total`` but not observed in the
duration histogram. A TCP sample of an Envoy entry is one closed connection: it counts once in
both ``..._opened_total`` and ``..._closed_total``; an L4 log's ``connection opened`` line
opens a connection its ``connection complete`` line closes.
"""

from __future__ import annotations

import datetime
import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

import attrs

from meshals._optional import require
from meshals._values import FrozenMap
from meshals.mesh._istio_rules import ISTIO_LABELS, TCP_LABELS
from meshals.mesh._istio_walk import istio_samples
from meshals.mesh._roles import RoleRule
from meshals.model._istio import IstioSample
from meshals.model._metrics import ServiceMeshMetric
from meshals.resolve._k8s_workloads import KubernetesWorkloads
from meshals.resolve._kubernetes import KubernetesResolver

from ._istio_legacy import legacy_samples

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

__all__ = [
    "HTTP_LABELS",
    "ISTIO_BUCKETS",
    "TCP_LABELS",
    "IstioHistogram",
    "IstioMetrics",
    "istio_metrics",
    "istio_metrics_of",
]

#: Istio's histogram buckets (Envoy's defaults): upper bounds in ms, or in bytes.
ISTIO_BUCKETS: Final = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)

#: The labels of the HTTP and gRPC series, in the order Istio's stats filter lists them.
HTTP_LABELS: Final = ISTIO_LABELS

LabelValues = tuple[str, ...]


@attrs.frozen(kw_only=True)
class IstioHistogram:
    """One histogram series: cumulative counts per upper bound of :data:`ISTIO_BUCKETS`.

    Attributes:
        buckets: ``(upper bound, observations <= bound)`` for each bound, ascending.
        count: all observations (the ``+Inf`` bucket).
        sum: the sum of the observations (whole ms for durations, bytes for sizes).
    """

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float

    def __add__(self, other: IstioHistogram) -> IstioHistogram:
        return IstioHistogram(
            buckets=tuple(
                (bound, mine + theirs)
                for (bound, mine), (_, theirs) in zip(self.buckets, other.buckets, strict=True)
            ),
            count=self.count + other.count,
            sum=self.sum + other.sum,
        )


@attrs.frozen(kw_only=True)
class IstioMetrics:
    """Istio's standard metrics over some traffic: label values -> counter value or histogram.

    Keys are the label values in the order of :data:`HTTP_LABELS` (request series) or
    :data:`TCP_LABELS` (TCP series), sorted. Build it with :func:`istio_metrics`; ``a + b``
    adds two (e.g. of two files) exactly.
    """

    requests_total: FrozenMap[LabelValues, int]
    request_duration_milliseconds: FrozenMap[LabelValues, IstioHistogram]
    request_bytes: FrozenMap[LabelValues, IstioHistogram]
    response_bytes: FrozenMap[LabelValues, IstioHistogram]
    tcp_sent_bytes_total: FrozenMap[LabelValues, int]
    tcp_received_bytes_total: FrozenMap[LabelValues, int]
    tcp_connections_opened_total: FrozenMap[LabelValues, int]
    tcp_connections_closed_total: FrozenMap[LabelValues, int]
    request_messages_total: FrozenMap[LabelValues, int]
    response_messages_total: FrozenMap[LabelValues, int]

    def __add__(self, other: IstioMetrics) -> IstioMetrics:
        counters = {
            name: _added(getattr(self, name), getattr(other, name)) for name in _COUNTER_FIELDS
        }
        histograms = {
            name: _added(getattr(self, name), getattr(other, name)) for name in _HISTOGRAM_FIELDS
        }
        return _metrics_of(counters, histograms)

    def collector(self) -> Collector:
        """A ``prometheus_client`` collector of these series, to register in any registry.

        Raises:
            MissingDependencyError: ``prometheus_client`` is not installed.
        """
        return _collector(self)

    def to_prometheus(self) -> str:
        """The series in Prometheus' text exposition format (``prometheus_client``).

        Written with ``generate_latest`` from a private registry holding only these series,
        so nothing of the process (``python_info``, GC counters) leaks in.

        Raises:
            MissingDependencyError: ``prometheus_client`` is not installed.
        """
        collector = self.collector()  # first: raises when prometheus_client is missing
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        return generate_latest(registry).decode("utf-8")


_Value = TypeVar("_Value", int, IstioHistogram)


def _added(
    mine: Mapping[LabelValues, _Value], theirs: Mapping[LabelValues, _Value]
) -> FrozenMap[LabelValues, _Value]:
    out = dict(mine)
    for labels, value in theirs.items():
        out[labels] = value if labels not in out else out[labels] + value
    return FrozenMap({labels: out[labels] for labels in sorted(out)})


def _metrics_of(
    counters: Mapping[str, FrozenMap[LabelValues, int]],
    histograms: Mapping[str, FrozenMap[LabelValues, IstioHistogram]],
) -> IstioMetrics:
    return IstioMetrics(
        requests_total=counters["requests_total"],
        request_messages_total=counters["request_messages_total"],
        response_messages_total=counters["response_messages_total"],
        tcp_sent_bytes_total=counters["tcp_sent_bytes_total"],
        tcp_received_bytes_total=counters["tcp_received_bytes_total"],
        tcp_connections_opened_total=counters["tcp_connections_opened_total"],
        tcp_connections_closed_total=counters["tcp_connections_closed_total"],
        request_duration_milliseconds=histograms["request_duration_milliseconds"],
        request_bytes=histograms["request_bytes"],
        response_bytes=histograms["response_bytes"],
    )


Snapshot = KubernetesResolver | KubernetesWorkloads


def istio_metrics(
    messages: Iterable[object],
    *,
    snapshot: Snapshot | None = None,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
) -> IstioMetrics:
    """Istio's standard metrics of ALS streams, by Istio's rules (module docstring).

    Args:
        messages: what :func:`~meshals.analyze` reads: one stream (``meshals.read(path)``) or
            an iterable of streams, of ALS messages or L4 connection lines.
        snapshot: a Kubernetes snapshot (:class:`~meshals.resolve.KubernetesResolver` or
            :class:`~meshals.resolve.KubernetesWorkloads`) naming peers that carry no Istio
            metadata, by their IP; None: such peers are ``unknown``.
        role_rule: decides an Envoy's role; Istio's node id prefixes when None.
        reidentify: take every identifier a stream carries.
        since: count only entries that started at or after this time (aware datetime or ns).
        until: count only entries that started before this time.

    Returns:
        The series, label values sorted.

    Raises:
        StreamError: (while reading) *messages* is not one stream or an iterable of streams.

    .. deprecated:: next
        Passing :class:`~meshals.ServiceMeshMetric` s (e.g. ``analyze(...)``) approximates
        Istio's labels from SkyWalking's names; it warns and will be removed.

    >>> from meshals import examples
    >>> bookinfo = examples.example("bookinfo")
    >>> series = istio_metrics(bookinfo.streams())
    >>> sum(series.requests_total.values())  # 37 HTTP entries, two of them the gateway's NR
    35
    """
    items = iter(messages)
    first = next(items, None)
    if first is None:
        return istio_metrics_of(())
    items = itertools.chain((first,), items)
    if isinstance(first, ServiceMeshMetric):
        warnings.warn(
            "istio_metrics() of ServiceMeshMetric values is deprecated and will be removed in "
            "the next release; pass the ALS messages (and snapshot=) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return istio_metrics_of(legacy_samples(items))  # type: ignore[arg-type]
    workloads = snapshot.workloads if isinstance(snapshot, KubernetesResolver) else snapshot
    return istio_metrics_of(
        istio_samples(
            items,
            workloads=workloads,
            role_rule=role_rule,
            reidentify=reidentify,
            since=since,
            until=until,
        )
    )


def istio_metrics_of(samples: Iterable[IstioSample]) -> IstioMetrics:
    """Aggregate Istio samples (:func:`meshals.mesh.istio_samples`) into the series.

    >>> from meshals.model import FrozenMap, IstioSample
    >>> sample = IstioSample(labels=FrozenMap(dict.fromkeys(HTTP_LABELS, "x")), tcp=False,
    ...                      duration_ms=7, request_bytes=120, response_bytes=800)
    >>> histogram = istio_metrics_of([sample]).request_duration_milliseconds[("x",) * 25]
    >>> histogram.count, histogram.sum, histogram.buckets[3]
    (1, 7.0, (10.0, 1))
    """
    tally = _Tally()
    for sample in samples:
        tally.add(sample)
    return tally.result()


# --- aggregation ------------------------------------------------------------------------------


class _HistogramBuilder:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(ISTIO_BUCKETS)  # per bucket, not yet cumulative
        self.count = 0
        self.total = 0

    def observe(self, value: int) -> None:
        for index, bound in enumerate(ISTIO_BUCKETS):
            if value <= bound:
                self.counts[index] += 1
                break
        self.count += 1
        self.total += value

    def result(self) -> IstioHistogram:
        cumulative = 0
        buckets = []
        for bound, count in zip(ISTIO_BUCKETS, self.counts, strict=True):
            cumulative += count
            buckets.append((float(bound), cumulative))
        return IstioHistogram(buckets=tuple(buckets), count=self.count, sum=float(self.total))


class _Tally:
    """Mutable sums per label set while the samples stream in."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[LabelValues, int]] = {name: {} for name in _COUNTER_FIELDS}
        self.histograms: dict[str, dict[LabelValues, _HistogramBuilder]] = {
            name: {} for name in _HISTOGRAM_FIELDS
        }

    def count(self, field: str, labels: LabelValues, amount: int) -> None:
        counts = self.counters[field]
        counts[labels] = counts.get(labels, 0) + amount

    def observe(self, field: str, labels: LabelValues, value: int) -> None:
        builders = self.histograms[field]
        builder = builders.get(labels)
        if builder is None:
            builder = builders[labels] = _HistogramBuilder()
        builder.observe(value)

    def add(self, sample: IstioSample) -> None:
        labels = tuple(sample.labels.values())
        if sample.tcp:
            if sample.opened:
                self.count("tcp_connections_opened_total", labels, 1)
            if sample.closed:  # the bytes are counted when the connection's end is logged
                self.count("tcp_connections_closed_total", labels, 1)
                self.count("tcp_sent_bytes_total", labels, sample.response_bytes or 0)
                self.count("tcp_received_bytes_total", labels, sample.request_bytes or 0)
            return
        self.count("requests_total", labels, 1)
        if sample.duration_ms is not None:
            self.observe("request_duration_milliseconds", labels, sample.duration_ms)
        if sample.request_bytes is not None:
            self.observe("request_bytes", labels, sample.request_bytes)
        if sample.response_bytes is not None:
            self.observe("response_bytes", labels, sample.response_bytes)
        if sample.request_messages is not None:
            self.count("request_messages_total", labels, sample.request_messages)
        if sample.response_messages is not None:
            self.count("response_messages_total", labels, sample.response_messages)

    def result(self) -> IstioMetrics:
        return _metrics_of(
            {
                name: FrozenMap({labels: counts[labels] for labels in sorted(counts)})
                for name, counts in self.counters.items()
            },
            {
                name: FrozenMap({labels: builders[labels].result() for labels in sorted(builders)})
                for name, builders in self.histograms.items()
            },
        )


# --- prometheus_client ------------------------------------------------------------------------

# (name, help, field of IstioMetrics, labels); a counter's name without ``_total``: the
# library adds it to counter samples. Istio's own HELP texts are empty; these say what is
# counted.
_COUNTERS: Final = (
    ("istio_requests", "Requests, one per request and reporting proxy.", "requests_total"),
    (
        "istio_request_messages",
        "gRPC messages the client sent (Envoy's grpc_stats filter state).",
        "request_messages_total",
    ),
    (
        "istio_response_messages",
        "gRPC messages the server sent (Envoy's grpc_stats filter state).",
        "response_messages_total",
    ),
    (
        "istio_tcp_sent_bytes",
        "Bytes sent to the downstream on the wire, per connection.",
        "tcp_sent_bytes_total",
    ),
    (
        "istio_tcp_received_bytes",
        "Bytes received from the downstream on the wire, per connection.",
        "tcp_received_bytes_total",
    ),
    ("istio_tcp_connections_opened", "TCP connections opened.", "tcp_connections_opened_total"),
    ("istio_tcp_connections_closed", "TCP connections closed.", "tcp_connections_closed_total"),
)
_HISTOGRAMS: Final = (
    (
        "istio_request_duration_milliseconds",
        "Request durations in whole milliseconds (Envoy's request duration).",
        "request_duration_milliseconds",
    ),
    (
        "istio_request_bytes",
        "Bytes received from the downstream on the wire per request (headers, body, framing).",
        "request_bytes",
    ),
    (
        "istio_response_bytes",
        "Bytes sent to the downstream on the wire per request (headers, body, framing).",
        "response_bytes",
    ),
)
_COUNTER_FIELDS: Final = tuple(field for _, _, field in _COUNTERS)
_HISTOGRAM_FIELDS: Final = tuple(field for _, _, field in _HISTOGRAMS)


def _bound_label(bound: float) -> str:
    # As Envoy's Prometheus output writes them: 0.5, 1, ..., 1800000, 3600000 (whole bounds
    # without a fraction or an exponent).
    return str(int(bound)) if bound == int(bound) else str(bound)


def _collector(series: IstioMetrics) -> Collector:
    require("prometheus_client", extra="prometheus", feature="Prometheus output")
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    families: list[Metric] = []
    for name, documentation, field in _COUNTERS:
        labels: Sequence[str] = TCP_LABELS if field.startswith("tcp_") else HTTP_LABELS
        counter = CounterMetricFamily(name, documentation, labels=labels)
        counts: FrozenMap[LabelValues, int] = getattr(series, field)
        for values, count in counts.items():
            counter.add_metric(values, count)
        families.append(counter)
    for name, documentation, field in _HISTOGRAMS:
        histogram = HistogramMetricFamily(name, documentation, labels=HTTP_LABELS)
        histograms: FrozenMap[LabelValues, IstioHistogram] = getattr(series, field)
        for values, observed in histograms.items():
            buckets: list[tuple[str, float]] = [
                (_bound_label(bound), count) for bound, count in observed.buckets
            ]
            buckets.append(("+Inf", observed.count))
            histogram.add_metric(values, buckets, observed.sum)
        families.append(histogram)
    return _FixedCollector(families)


class _FixedCollector:
    """A ``prometheus_client`` collector (its Collector is a Protocol) of prepared families."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = tuple(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
