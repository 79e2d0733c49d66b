"""meshals' calls as OTLP spans, linked into one trace per request (:func:`otlp_traces`, the
``otlp`` extra); :mod:`._otlp_links` decides the links.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo

from ._otlp import (
    SCOPE_NAME,
    AttributeValue,
    call_attributes,
    error_type,
    key_values,
    load,
    reporter,
    resource,
    workload_order,
)
from ._otlp_links import SpanPlan, plan_spans

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

__all__ = ["otlp_traces"]


def otlp_traces(metrics: Iterable[ServiceMeshMetric]) -> ExportTraceServiceRequest:
    """Each call as a span, as an OTLP ``ExportTraceServiceRequest``.

    A server-side call is a ``SPAN_KIND_SERVER`` span, a client-side one ``SPAN_KIND_CLIENT``;
    it starts and ends when the call did on its side (``start_time_ns``, ``end_time_ns``), its
    status is ``ERROR`` when the call failed (meshals' status rules, which agree with the
    conventions': a 4xx is an error for the client only) and unset otherwise, and it carries the
    attributes of the metrics (:func:`otlp_metrics`) plus ``url.path`` and the request id
    (``http.request.header.x-request-id``). The span name is the HTTP method, the gRPC
    ``service/method``, or ``TCP``. Calls with the same ``x-request-id`` (or ``traceparent``)
    form one trace, each hop the child of the one that made it (see the user guide for what is
    inferred); the ids are derived from the calls, so the same captures give the same ids.
    Calls that Envoy logged without a start time or an end are left out. Spans are grouped by
    the workload that logged them (the resource) and sorted by trace, start and id.

    Args:
        metrics: the calls.

    Returns:
        The request (``SerializeToString()`` for OTLP/protobuf, :func:`otlp_json` for JSON).

    Raises:
        MissingDependencyError: opentelemetry-proto is not installed.
    """
    load("otlp_traces()")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    by_workload: dict[ServiceMetaInfo, list[SpanPlan]] = {}
    for plan in plan_spans(metrics):
        by_workload.setdefault(reporter(plan.metric), []).append(plan)
    request = ExportTraceServiceRequest()
    for workload in sorted(by_workload, key=workload_order):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.CopyFrom(resource(workload))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = SCOPE_NAME
        for plan in by_workload[workload]:
            metric = plan.metric
            span = scope_spans.spans.add(
                trace_id=plan.trace_id,
                span_id=plan.span_id,
                parent_span_id=plan.parent_span_id,
                name=span_name(metric),
                kind=(
                    Span.SpanKind.SPAN_KIND_SERVER
                    if metric.detect_point is DetectPoint.SERVER
                    else Span.SpanKind.SPAN_KIND_CLIENT
                ),
                start_time_unix_nano=plan.start_ns,
                end_time_unix_nano=plan.end_ns,
            )
            span.attributes.extend(key_values(span_attributes(metric)))
            if not metric.status:
                span.status.code = Status.StatusCode.STATUS_CODE_ERROR
                span.status.message = error_type(metric)
    return request


def span_name(metric: ServiceMeshMetric) -> str:
    """The span's name by the conventions: ``GET`` (no route template is logged), the gRPC
    ``package.Service/Method``, or ``TCP``."""
    method, _, path = (metric.endpoint or "").partition(":")
    if metric.protocol is MeshProtocol.GRPC and path.startswith("/"):
        return path[1:]
    if metric.protocol is MeshProtocol.TCP:
        return "TCP"
    return method or "HTTP"


def span_attributes(metric: ServiceMeshMetric) -> tuple[tuple[str, AttributeValue], ...]:
    """A call's span attributes: the metric's, the path and the request id."""
    attributes = list(call_attributes(metric))
    path = (metric.endpoint or "").partition(":")[2]
    if path and metric.protocol is MeshProtocol.HTTP:
        attributes.append(("url.path", path.partition("?")[0]))
    if metric.request_id:
        attributes.append(("http.request.header.x-request-id", (metric.request_id,)))
    return tuple(attributes)
