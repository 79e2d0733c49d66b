"""meshals' metrics as OTLP metrics: semantic-convention duration histograms of the calls
(:func:`otlp_metrics`, the ``otlp`` extra).

Each histogram holds the data of meshals' latency sketch (:class:`~meshals.aggregate.LatencySketch`)
and nothing else: an explicit-bucket histogram whose boundaries are the sketch's own bucket
boundaries, with its exact count, sum, minimum and maximum. OTLP's exponential histogram would
need base-2 buckets (``2 ** (2 ** -scale)``), which the sketch's ``(1 + a) / (1 - a)`` buckets
are not: re-bucketing would invent where in a bucket the values lay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from meshals.aggregate._sketch import DEFAULT_RELATIVE_ACCURACY, LatencySketch, SketchAccumulator
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo

from ._otlp import (
    SCOPE_NAME,
    Attributes,
    call_attributes,
    key_values,
    load,
    reporter,
    resource,
    workload_order,
)

if TYPE_CHECKING:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint

__all__ = ["otlp_metrics"]


@attrs.frozen
class OtlpInstrument:
    """A duration histogram of the semantic conventions: its name, unit and description.

    Attributes:
        name: the metric's name (``"http.server.request.duration"``).
        unit: its UCUM unit (``"s"`` or ``"ms"``).
        description: its description.
        ns_per_unit: nanoseconds per unit, to convert the sketch's values.
    """

    name: str
    unit: str
    description: str
    ns_per_unit: int


_S = 1_000_000_000
_MS = 1_000_000

# The HTTP conventions (stable) measure in seconds; the RPC ones up to v1.37 in milliseconds.
# TCP connections have no convention: meshals' own names, in seconds like HTTP's.
_INSTRUMENTS = {
    (MeshProtocol.HTTP, DetectPoint.SERVER): OtlpInstrument(
        "http.server.request.duration", "s", "Duration of HTTP server requests.", _S
    ),
    (MeshProtocol.HTTP, DetectPoint.CLIENT): OtlpInstrument(
        "http.client.request.duration", "s", "Duration of HTTP client requests.", _S
    ),
    (MeshProtocol.GRPC, DetectPoint.SERVER): OtlpInstrument(
        "rpc.server.duration", "ms", "Measures the duration of inbound RPC.", _MS
    ),
    (MeshProtocol.GRPC, DetectPoint.CLIENT): OtlpInstrument(
        "rpc.client.duration", "ms", "Measures the duration of outbound RPC.", _MS
    ),
    (MeshProtocol.TCP, DetectPoint.SERVER): OtlpInstrument(
        "meshals.tcp.server.connection.duration",
        "s",
        "Duration of TCP connections into the workload, as its proxy logged them.",
        _S,
    ),
    (MeshProtocol.TCP, DetectPoint.CLIENT): OtlpInstrument(
        "meshals.tcp.client.connection.duration",
        "s",
        "Duration of TCP connections the workload made, as its proxy logged them.",
        _S,
    ),
}


def otlp_instrument(metric: ServiceMeshMetric) -> OtlpInstrument:
    """The duration histogram a call is recorded in (by protocol and side)."""
    return _INSTRUMENTS[metric.protocol, metric.detect_point]


def otlp_metrics(
    metrics: Iterable[ServiceMeshMetric],
    *,
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
) -> ExportMetricsServiceRequest:
    """The calls' duration histograms as an OTLP ``ExportMetricsServiceRequest``.

    One ``ResourceMetrics`` per workload that logged calls (``service.name``,
    ``service.instance.id``, ``service.namespace``), one histogram per instrument
    (by protocol and side: ``http.server.request.duration``, ``http.client.request.duration``,
    ``rpc.server.duration``, ``rpc.client.duration`` and meshals' TCP connection durations),
    one data point per attribute set (``call_attributes``: method, status code, gRPC status,
    peer service, ...). Temporality is cumulative; every point starts at the earliest start of
    the calls and ends at the latest end (the capture's span), and holds a latency sketch's
    data as explicit buckets (see the module docstring). A call without a latency (Envoy logged
    no start time or no end) is in no histogram. The order is the workloads', instruments' and
    attributes' sort order, whatever the calls' order.

    Args:
        metrics: the calls.
        relative_accuracy: the sketches' relative accuracy (the buckets' width).

    Returns:
        The request (``SerializeToString()`` for OTLP/protobuf, :func:`otlp_json` for JSON).

    Raises:
        MissingDependencyError: opentelemetry-proto is not installed.
        AggregateError: the accuracy is out of range.
    """
    load("otlp_metrics()")
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    series: dict[ServiceMetaInfo, dict[OtlpInstrument, dict[Attributes, SketchAccumulator]]]
    series = {}
    start: int | None = None
    end: int | None = None
    for metric in metrics:
        latency = metric.latency_ns
        if latency is None:
            continue
        start = _min(start, metric.start_time_ns)
        end = _max(end, metric.end_time_ns)
        by_attributes = series.setdefault(reporter(metric), {}).setdefault(
            otlp_instrument(metric), {}
        )
        key = call_attributes(metric)
        accumulator = by_attributes.get(key)
        if accumulator is None:
            accumulator = by_attributes[key] = SketchAccumulator(
                relative_accuracy=relative_accuracy
            )
        accumulator.add(latency)
    request = ExportMetricsServiceRequest()
    for workload in sorted(series, key=workload_order):
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.CopyFrom(resource(workload))
        scope_metrics = resource_metrics.scope_metrics.add()
        scope_metrics.scope.name = SCOPE_NAME
        instruments = series[workload]
        for instrument in sorted(instruments, key=lambda item: item.name):
            out = scope_metrics.metrics.add(
                name=instrument.name, unit=instrument.unit, description=instrument.description
            )
            out.histogram.aggregation_temporality = (
                AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            )
            for attributes, accumulator in sorted(instruments[instrument].items()):
                point = out.histogram.data_points.add(
                    start_time_unix_nano=start or 0, time_unix_nano=end or 0
                )
                point.attributes.extend(key_values(attributes))
                _fill(point, accumulator.result(), instrument.ns_per_unit)
    return request


def histogram_buckets(sketch: LatencySketch) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A sketch as explicit buckets: ``(bounds, counts)``, bounds in the sketch's integers.

    OTLP's bucket ``i`` holds the values ``bounds[i - 1] < x <= bounds[i]`` (the first from
    minus infinity, the last to plus infinity), so ``len(counts) == len(bounds) + 1``. The
    bounds are the sketch's own boundaries from its lowest positive bucket to its highest; a
    gap between two buckets is a bucket of count 0; values at or below 0 (a zero latency) are
    in the first bucket.

    >>> histogram_buckets(LatencySketch.of([0, 1, 3, 3, 1_000]))
    ((0, 1, 2, 3, 992, 1012), (1, 1, 0, 2, 0, 1, 0))
    """
    bounds: list[int] = []
    counts = [0]
    for low, high, count in sketch.bucket_ranges():
        if high <= 0:
            counts[0] += count
            continue
        if not bounds:
            bounds.append(low)
        elif bounds[-1] != low:
            bounds.append(low)
            counts.append(0)
        bounds.append(high)
        counts.append(count)
    if bounds:
        counts.append(0)  # above the highest boundary: nothing, by construction
    return tuple(bounds), tuple(counts)


def _fill(point: HistogramDataPoint, sketch: LatencySketch, ns_per_unit: int) -> None:
    # Dividing by 10**9 (or 10**6) is correctly rounded and monotonic, so a value at or below
    # an integer boundary stays at or below it in the unit, and one above stays above (the
    # distinct integers of a latency under 100 days are distinct doubles there).
    bounds, counts = histogram_buckets(sketch)
    point.count = sketch.count
    point.sum = sketch.total / ns_per_unit
    if sketch.minimum is not None and sketch.maximum is not None:
        point.min = sketch.minimum / ns_per_unit
        point.max = sketch.maximum / ns_per_unit
    point.explicit_bounds.extend(bound / ns_per_unit for bound in bounds)
    point.bucket_counts.extend(counts)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None or (b is not None and b < a) else a


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None or (b is not None and b > a) else a
