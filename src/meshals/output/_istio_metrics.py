"""Istio's standard metrics computed from service-mesh metrics, and their Prometheus exposition.

:func:`istio_metrics` aggregates :class:`~meshals.ServiceMeshMetric` s into the series an Istio
proxy would have exported for the same calls: ``istio_requests_total``,
``istio_request_duration_milliseconds``, ``istio_request_bytes`` and ``istio_response_bytes``
(histograms) for HTTP and gRPC; ``istio_tcp_sent_bytes_total``,
``istio_tcp_received_bytes_total``, ``istio_tcp_connections_opened_total`` and
``istio_tcp_connections_closed_total`` for TCP. :meth:`IstioMetrics.to_prometheus` renders them
in Prometheus' text format through ``prometheus_client`` (the ``prometheus`` extra).

**One sample per request per proxy.** Istio's proxies count each request once:

- a sidecar's client-side metric is ``reporter="source"``, its server-side metric
  ``reporter="destination"``;
- a gateway (:attr:`~meshals.Role.PROXY`) reports ``reporter="source"`` only: its caller ->
  gateway and gateway -> upstream metrics of one entry become one sample, gateway ->
  upstream (destination ``unknown`` when no upstream was chosen, e.g. ``NR``);
- a waypoint reports ``reporter="waypoint"`` (Istio ambient): its two metrics of one entry
  become one sample, caller -> upstream.

Measurements of a merged sample (code, flags, latency, bytes) are the gateway's or waypoint's
server-side ones: the request as the proxy served it. The two metrics of one entry are found
as the analysis emits them, one after the other with equal ``origin``.

**Labels.** meshals knows services, instances, namespaces and the resolver's tags, not Istio's
workload labels; each label is ``"unknown"`` where meshals cannot know it, as Istio writes it:

=================================  ==========================================================
label                              value
=================================  ==========================================================
``*_workload``                     tag ``workload``, else the service name without a trailing
                                   ``.<namespace>``
``*_workload_namespace``           the namespace
``*_app``, ``*_version``           tags ``app``, ``version``
``*_canonical_service``            tag ``service.istio.io/canonical-name``, else ``app``, else
                                   the workload
``*_canonical_revision``           tag ``service.istio.io/canonical-revision``, else
                                   ``version``, else ``latest`` (Istio's default)
``destination_service``            the service name as resolved (meshals has no Service host)
``destination_service_name``       the service name without ``.<namespace>``
``destination_service_namespace``  the namespace
``source_principal``               the peer certificate's SPIFFE id, destination and waypoint
                                   reporters only (Envoy logs TLS for the downstream only)
``destination_principal``          always ``unknown`` (the local certificate is not kept)
``connection_security_policy``     ``mutual_tls`` or ``none`` for destination and waypoint
                                   reporters; ``unknown`` for source reporters, as Istio
``request_protocol``               ``http``, ``grpc`` or ``tcp``
``response_code``                  the HTTP status, ``0`` when none was sent (a reset)
``grpc_response_status``           the gRPC status, ``""`` when none (not gRPC)
``response_flags``                 Envoy's short codes joined with ``,``, ``-`` when none
=================================  ==========================================================

TCP series have no ``response_code`` nor ``grpc_response_status``. Every TCP metric is one
closed connection (the analysis skips intermediate entries): it counts once in both
``..._opened_total`` and ``..._closed_total``.

Histograms use Istio's buckets, which are Envoy's defaults, for durations (ms) and byte sizes
alike: :data:`ISTIO_BUCKETS`. A request without a latency (no start time) is counted in
``istio_requests_total`` but not observed in the duration histogram; one without a logged
request (or response) not in the request (or response) bytes histogram. Sizes are body sizes,
as Istio measures them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final

import attrs

from meshals._optional import require
from meshals._values import FrozenMap
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

__all__ = ["ISTIO_BUCKETS", "IstioHistogram", "IstioMetrics", "istio_metrics"]

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

_PEER_LABELS: Final = ("workload", "workload_namespace", "principal", "app", "version")
_CANONICAL: Final = ("canonical_service", "canonical_revision")

#: The labels of the TCP series, in the order they are written.
TCP_LABELS: Final = (
    "reporter",
    *(f"source_{label}" for label in _PEER_LABELS),
    *(f"source_{label}" for label in _CANONICAL),
    *(f"destination_{label}" for label in _PEER_LABELS),
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    *(f"destination_{label}" for label in _CANONICAL),
    "request_protocol",
    "response_flags",
    "connection_security_policy",
)

#: The labels of the HTTP and gRPC series, in the order they are written.
HTTP_LABELS: Final = (*TCP_LABELS, "response_code", "grpc_response_status")

_UNKNOWN_LABEL: Final = "unknown"
_NS_PER_MS: Final = 1_000_000
# Bucket bounds in the unit of the integers observed: ns for durations, bytes for sizes.
_DURATION_BOUNDS_NS: Final = tuple(int(bound * _NS_PER_MS) for bound in ISTIO_BUCKETS)
_BYTE_BOUNDS: Final = tuple(float(bound) for bound in ISTIO_BUCKETS)

LabelValues = tuple[str, ...]


@attrs.frozen(kw_only=True)
class IstioHistogram:
    """One histogram series: cumulative counts per upper bound of :data:`ISTIO_BUCKETS`.

    Attributes:
        buckets: ``(upper bound, observations <= bound)`` for each bound, ascending.
        count: all observations (the ``+Inf`` bucket).
        sum: the sum of the observations (ms for durations, bytes for sizes).
    """

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float


@attrs.frozen(kw_only=True)
class IstioMetrics:
    """Istio's standard metrics over some calls: label values -> counter value or histogram.

    Keys are the label values in the order of :data:`HTTP_LABELS` (request series) or
    :data:`TCP_LABELS` (TCP series). Build it with :func:`istio_metrics`.
    """

    requests_total: FrozenMap[LabelValues, int]
    request_duration_milliseconds: FrozenMap[LabelValues, IstioHistogram]
    request_bytes: FrozenMap[LabelValues, IstioHistogram]
    response_bytes: FrozenMap[LabelValues, IstioHistogram]
    tcp_sent_bytes_total: FrozenMap[LabelValues, int]
    tcp_received_bytes_total: FrozenMap[LabelValues, int]
    tcp_connections_opened_total: FrozenMap[LabelValues, int]
    tcp_connections_closed_total: FrozenMap[LabelValues, int]

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


def istio_metrics(metrics: Iterable[ServiceMeshMetric]) -> IstioMetrics:
    """Aggregate service-mesh metrics into Istio's standard metrics (rules: module docstring).

    Args:
        metrics: metrics in the order the analysis emitted them (a gateway's or waypoint's
            two metrics of one entry next to each other).

    Returns:
        The series, label values sorted.

    >>> from meshals.model import DetectPoint, MeshProtocol
    >>> from meshals import Role, ServiceMeshMetric, ServiceMetaInfo
    >>> call = ServiceMeshMetric(
    ...     role=Role.SIDECAR, detect_point=DetectPoint.CLIENT, protocol=MeshProtocol.HTTP,
    ...     source=ServiceMetaInfo(service="a", instance="a-0"),
    ...     destination=ServiceMetaInfo(service="b", instance="b-0"),
    ...     response_code=200, status=True)
    >>> [(dict(zip(HTTP_LABELS, labels))["reporter"], count)
    ...  for labels, count in istio_metrics([call]).requests_total.items()]
    [('source', 1)]
    """
    tally = _Tally()
    for sample in _samples(iter(metrics)):
        tally.add(sample)
    return tally.result()


# --- one sample per request per proxy ---------------------------------------------------------


@attrs.frozen
class _Sample:
    """One request or connection as one Istio proxy would report it."""

    reporter: str
    source: ServiceMetaInfo
    destination: ServiceMetaInfo
    measured: ServiceMeshMetric  # codes, flags, latency, bytes, TLS


def _samples(metrics: Iterator[ServiceMeshMetric]) -> Iterator[_Sample]:
    pending: ServiceMeshMetric | None = None  # a proxy's server-side metric, maybe paired next
    for metric in metrics:
        if pending is not None:
            if _pairs(pending, metric):
                yield _proxy_sample(pending, metric)
                pending = None
                continue
            yield _proxy_sample(pending, None)
            pending = None
        if metric.role in _PER_SIDE_REPORTERS:
            reporter = "source" if metric.detect_point is DetectPoint.CLIENT else "destination"
            yield _Sample(reporter, metric.source, metric.destination, metric)
        elif metric.detect_point is DetectPoint.SERVER:
            pending = metric
        else:  # a proxy's client-side metric whose server-side one is not here
            yield _Sample(_proxy_reporter(metric.role), metric.source, metric.destination, metric)
    if pending is not None:
        yield _proxy_sample(pending, None)


# Sidecars and ztunnel report each side of a call on their own; gateways and waypoints log
# both sides of one request in one entry.
_PER_SIDE_REPORTERS = frozenset({Role.SIDECAR, Role.ZTUNNEL})


def _pairs(server: ServiceMeshMetric, client: ServiceMeshMetric) -> bool:
    return (
        client.detect_point is DetectPoint.CLIENT
        and client.role is server.role
        and client.origin == server.origin
    )


def _proxy_reporter(role: Role) -> str:
    return "waypoint" if role is Role.WAYPOINT else "source"


def _proxy_sample(server: ServiceMeshMetric, client: ServiceMeshMetric | None) -> _Sample:
    destination = UNKNOWN if client is None else client.destination
    if server.role is Role.WAYPOINT:
        return _Sample("waypoint", server.source, destination, server)
    return _Sample("source", server.destination, destination, server)


# --- labels ---------------------------------------------------------------------------------


def _short_name(peer: ServiceMetaInfo) -> str:
    suffix = f".{peer.namespace}" if peer.namespace else None
    if suffix and peer.service.endswith(suffix) and len(peer.service) > len(suffix):
        return peer.service[: -len(suffix)]
    return peer.service


def _peer_labels(peer: ServiceMetaInfo, principal: str) -> tuple[list[str], list[str]]:
    """The peer's (workload labels, canonical labels) in :data:`_PEER_LABELS` order."""
    if peer.is_unknown:
        return [_UNKNOWN_LABEL] * 5, [_UNKNOWN_LABEL] * 2
    tags: Mapping[str, str] = peer.tags
    workload = tags.get("workload") or _short_name(peer)
    app = tags.get("app")
    version = tags.get("version")
    canonical = tags.get("service.istio.io/canonical-name") or app or workload
    revision = tags.get("service.istio.io/canonical-revision") or version or "latest"
    return (
        [
            workload,
            peer.namespace or _UNKNOWN_LABEL,
            principal,
            app or _UNKNOWN_LABEL,
            version or _UNKNOWN_LABEL,
        ],
        [canonical, revision],
    )


def _labels(sample: _Sample) -> LabelValues:
    measured = sample.measured
    downstream_known = sample.reporter != "source"  # ALS logs TLS for the downstream only
    principal = (measured.peer_identity or _UNKNOWN_LABEL) if downstream_known else _UNKNOWN_LABEL
    if not downstream_known:
        security = _UNKNOWN_LABEL
    else:
        security = "mutual_tls" if measured.tls_mode is TlsMode.MTLS else "none"
    source, source_canonical = _peer_labels(sample.source, principal)
    destination, destination_canonical = _peer_labels(sample.destination, _UNKNOWN_LABEL)
    peer = sample.destination
    flags = sorted(measured.response_flags, key=lambda flag: flag.field_number)
    values = [
        sample.reporter,
        *source,
        *source_canonical,
        *destination,
        _UNKNOWN_LABEL if peer.is_unknown else peer.service,
        _UNKNOWN_LABEL if peer.is_unknown else _short_name(peer),
        (peer.namespace or _UNKNOWN_LABEL) if not peer.is_unknown else _UNKNOWN_LABEL,
        *destination_canonical,
        measured.protocol.value.lower(),
        ",".join(flag.short_code for flag in flags) or "-",
        security,
    ]
    if measured.protocol is not MeshProtocol.TCP:
        code = measured.response_code
        grpc = measured.grpc_status
        values += ["0" if code is None else str(code), "" if grpc is None else str(grpc)]
    return tuple(values)


# --- aggregation ------------------------------------------------------------------------------


class _HistogramBuilder:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not yet cumulative
        self.count = 0
        self.total = 0

    def observe(self, value: int) -> None:
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
                break
        self.count += 1
        self.total += value

    def result(self, unit: int) -> IstioHistogram:
        cumulative = 0
        buckets = []
        for bound, count in zip(ISTIO_BUCKETS, self.counts, strict=True):
            cumulative += count
            buckets.append((float(bound), cumulative))
        return IstioHistogram(buckets=tuple(buckets), count=self.count, sum=self.total / unit)


class _Tally:
    """Mutable sums per label set while the samples stream in."""

    def __init__(self) -> None:
        self.requests: dict[LabelValues, int] = {}
        self.durations: dict[LabelValues, _HistogramBuilder] = {}
        self.request_bytes: dict[LabelValues, _HistogramBuilder] = {}
        self.response_bytes: dict[LabelValues, _HistogramBuilder] = {}
        self.sent: dict[LabelValues, int] = {}
        self.received: dict[LabelValues, int] = {}
        self.connections: dict[LabelValues, int] = {}

    def add(self, sample: _Sample) -> None:
        labels = _labels(sample)
        measured = sample.measured
        if measured.protocol is MeshProtocol.TCP:
            self.connections[labels] = self.connections.get(labels, 0) + 1
            self.sent[labels] = self.sent.get(labels, 0) + (measured.sent_bytes or 0)
            self.received[labels] = self.received.get(labels, 0) + (measured.received_bytes or 0)
            return
        self.requests[labels] = self.requests.get(labels, 0) + 1
        if measured.latency_ns is not None:
            _builder(self.durations, labels, _DURATION_BOUNDS_NS).observe(measured.latency_ns)
        if measured.request_bytes is not None:
            _builder(self.request_bytes, labels, _BYTE_BOUNDS).observe(measured.request_bytes)
        if measured.response_bytes is not None:
            _builder(self.response_bytes, labels, _BYTE_BOUNDS).observe(measured.response_bytes)

    def result(self) -> IstioMetrics:
        return IstioMetrics(
            requests_total=_sorted(self.requests),
            request_duration_milliseconds=_histograms(self.durations, _NS_PER_MS),
            request_bytes=_histograms(self.request_bytes, 1),
            response_bytes=_histograms(self.response_bytes, 1),
            tcp_sent_bytes_total=_sorted(self.sent),
            tcp_received_bytes_total=_sorted(self.received),
            tcp_connections_opened_total=_sorted(self.connections),
            tcp_connections_closed_total=_sorted(self.connections),
        )


def _builder(
    builders: dict[LabelValues, _HistogramBuilder], labels: LabelValues, bounds: Sequence[float]
) -> _HistogramBuilder:
    builder = builders.get(labels)
    if builder is None:
        builder = builders[labels] = _HistogramBuilder(bounds)
    return builder


def _sorted(counts: Mapping[LabelValues, int]) -> FrozenMap[LabelValues, int]:
    return FrozenMap({labels: counts[labels] for labels in sorted(counts)})


def _histograms(
    builders: Mapping[LabelValues, _HistogramBuilder], unit: int
) -> FrozenMap[LabelValues, IstioHistogram]:
    return FrozenMap({labels: builders[labels].result(unit) for labels in sorted(builders)})


# --- prometheus_client ------------------------------------------------------------------------

# (name, help, field of IstioMetrics); a name without ``_total``: the library
# adds it to counter samples.
_COUNTERS: Final = (
    ("istio_requests", "Requests, one per request and reporting proxy.", "requests_total"),
    ("istio_tcp_sent_bytes", "Bytes sent to the downstream.", "tcp_sent_bytes_total"),
    ("istio_tcp_received_bytes", "Bytes received from the downstream.", "tcp_received_bytes_total"),
    ("istio_tcp_connections_opened", "TCP connections opened.", "tcp_connections_opened_total"),
    ("istio_tcp_connections_closed", "TCP connections closed.", "tcp_connections_closed_total"),
)
_HISTOGRAMS: Final = (
    (
        "istio_request_duration_milliseconds",
        "Request durations in milliseconds.",
        "request_duration_milliseconds",
    ),
    ("istio_request_bytes", "Request sizes (headers and body) in bytes.", "request_bytes"),
    ("istio_response_bytes", "Response sizes (headers and body) in bytes.", "response_bytes"),
)


def _bound_label(bound: float) -> str:
    # As Envoy writes them: 0.5, 1, ..., 600000, 1.8e+06 (Go's %g).
    return format(bound, "g")


def _collector(series: IstioMetrics) -> Collector:
    require("prometheus_client", extra="prometheus", feature="Prometheus output")
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    families: list[Metric] = []
    for name, documentation, field in _COUNTERS:
        labels = HTTP_LABELS if field == "requests_total" else TCP_LABELS
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
