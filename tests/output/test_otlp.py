"""OTLP metrics and spans on the real recordings, parsed back with opentelemetry-proto's classes
(binary with ParseFromString, OTLP/JSON with json_format) and checked against the metrics and
the recordings' ground truth."""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import meshals
from meshals.aggregate import LatencySketch
from meshals.model import DetectPoint, MeshProtocol, ServiceMeshMetric, ServiceMetaInfo
from meshals.output import otlp_json, otlp_metrics, otlp_traces
from meshals.output._otlp_links import plan_spans, traceparent_ids
from meshals.output._otlp_metrics import histogram_buckets
from meshals.resolve import StaticResolver

# Where it is installed, it must be the current one (not xds-protos' old copy): no skip then.
metrics_pb2 = pytest.importorskip("opentelemetry.proto.metrics.v1.metrics_pb2")

from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: E402
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"
RECORDINGS = {"bookinfo": FIXTURES, "mtls": FIXTURES / "mtls"}
UNITS = {"s": 1_000_000_000, "ms": 1_000_000}


def _truth(name: str) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(
        (RECORDINGS[name] / "ground_truth.json").read_text(encoding="utf-8")
    )
    return truth


def _analysed(name: str) -> tuple[list[ServiceMeshMetric], dict[tuple[str, int, int], int]]:
    """Every stream's metrics (pods and Service VIPs named), and (stream, message, entry) ->
    the entry's position in its stream, as the ground truth counts them."""
    truth = _truth(name)
    table = {
        **truth["resolver"],
        **{ip: {"service": s, "instance": s} for ip, s in truth["service_vips"].items()},
    }
    resolver = StaticResolver.from_mapping(table)
    metrics: list[ServiceMeshMetric] = []
    positions: dict[tuple[str, int, int], int] = {}
    for stream in sorted(truth["streams"]):
        with meshals.read(RECORDINGS[name] / f"{stream}.bin") as reader:
            messages = list(reader.messages())
        flat = 0
        for message in messages:
            for entry_index in range(len(message.entries)):
                positions[stream, message.index or 0, entry_index] = flat
                flat += 1
        metrics += meshals.analyze(messages, resolver=resolver)
    return metrics, positions


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    assert kind is not None
    return getattr(value, kind)


def _attributes(pairs: Sequence[KeyValue]) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _json_back(text: str, message: Any) -> Any:
    """OTLP/JSON into the OTLP class: ids from hex to protobuf JSON's base64 first."""

    def ids(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    base64.b64encode(bytes.fromhex(item)).decode()
                    if key in {"traceId", "spanId", "parentSpanId"}
                    else ids(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [ids(item) for item in value]
        return value

    return json_format.ParseDict(ids(json.loads(text)), message)


def _reporter(metric: ServiceMeshMetric) -> ServiceMetaInfo:
    return metric.destination if metric.detect_point is DetectPoint.SERVER else metric.source


def _peer(metric: ServiceMeshMetric) -> ServiceMetaInfo:
    return metric.source if metric.detect_point is DetectPoint.SERVER else metric.destination


INSTRUMENTS = {
    ("http.server.request.duration", "s"): (MeshProtocol.HTTP, DetectPoint.SERVER),
    ("http.client.request.duration", "s"): (MeshProtocol.HTTP, DetectPoint.CLIENT),
    ("rpc.server.duration", "ms"): (MeshProtocol.GRPC, DetectPoint.SERVER),
    ("rpc.client.duration", "ms"): (MeshProtocol.GRPC, DetectPoint.CLIENT),
    ("meshals.tcp.server.connection.duration", "s"): (MeshProtocol.TCP, DetectPoint.SERVER),
    ("meshals.tcp.client.connection.duration", "s"): (MeshProtocol.TCP, DetectPoint.CLIENT),
}


def _in_point(metric: ServiceMeshMetric, attributes: Mapping[str, object]) -> bool:
    """Whether a call belongs to the data point with these attributes (read off the call)."""
    method, _, path = (metric.endpoint or "").partition(":")
    peer = _peer(metric)
    expected: dict[str, object] = {}
    if metric.protocol is MeshProtocol.HTTP:
        expected["http.request.method"] = method
        expected["network.protocol.name"] = "http"
        if metric.response_code is not None:
            expected["http.response.status_code"] = metric.response_code
    elif metric.protocol is MeshProtocol.GRPC:
        expected["rpc.system"] = "grpc"
        expected["rpc.service"], expected["rpc.method"] = path[1:].split("/")
        if metric.grpc_status is not None:
            expected["rpc.grpc.status_code"] = metric.grpc_status
    else:
        expected["network.transport"] = "tcp"
    if not peer.is_unknown:
        expected["peer.service"] = peer.service
        if metric.detect_point is DetectPoint.CLIENT:
            expected["server.address"] = peer.service
    if not metric.status:
        expected["error.type"] = attributes.get("error.type")
    return dict(attributes) == expected


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_metrics_parse_back_and_hold_every_call_exactly(name: str) -> None:
    metrics, _ = _analysed(name)
    request = otlp_metrics(metrics)
    from_binary = ExportMetricsServiceRequest.FromString(request.SerializeToString())
    from_json = _json_back(otlp_json(request), ExportMetricsServiceRequest())
    assert from_binary == from_json == request
    timed = [metric for metric in metrics if metric.latency_ns is not None]
    assert len(timed) == len(metrics)  # the recordings log every time
    start = min(metric.start_time_ns or 0 for metric in timed)
    end = max(metric.end_time_ns or 0 for metric in timed)
    placed = 0
    for resource_metrics in from_binary.resource_metrics:
        workload = _attributes(resource_metrics.resource.attributes)
        (scope,) = resource_metrics.scope_metrics
        assert scope.scope.name == "meshals"
        for metric in scope.metrics:
            protocol, side = INSTRUMENTS[metric.name, metric.unit]
            unit = UNITS[metric.unit]
            assert metric.histogram.aggregation_temporality == (
                metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            )
            for point in metric.histogram.data_points:
                attributes = _attributes(point.attributes)
                calls = [
                    call
                    for call in timed
                    if call.protocol is protocol
                    and call.detect_point is side
                    and _reporter(call).service == workload["service.name"]
                    and _reporter(call).instance == workload["service.instance.id"]
                    and _in_point(call, attributes)
                ]
                latencies = sorted(call.latency_ns or 0 for call in calls)
                assert point.count == len(calls) > 0
                assert (point.start_time_unix_nano, point.time_unix_nano) == (start, end)
                assert point.sum == sum(latencies) / unit
                assert (point.min, point.max) == (latencies[0] / unit, latencies[-1] / unit)
                # Each latency in the bucket OTLP's rule names: bounds[i-1] < x <= bounds[i].
                counts = [0] * (len(point.explicit_bounds) + 1)
                for latency in latencies:
                    counts[bisect.bisect_left(list(point.explicit_bounds), latency / unit)] += 1
                assert list(point.bucket_counts) == counts
                # ... and the bounds are the sketch's own boundaries.
                sketch = LatencySketch.of(latencies)
                bounds = [round(bound * unit) for bound in point.explicit_bounds]
                assert tuple(bounds) == histogram_buckets(sketch)[0]
                assert {high for _, high, _ in sketch.bucket_ranges()} <= set(bounds)
                placed += len(calls)
    assert placed == len(timed)  # every call in exactly one point


def test_metrics_series_of_the_bookinfo_recording() -> None:
    metrics, _ = _analysed("bookinfo")
    request = otlp_metrics(metrics)
    series = {
        (
            _attributes(resource_metrics.resource.attributes)["service.name"],
            metric.name,
            tuple(sorted(_attributes(point.attributes).items())),
        ): point.count
        for resource_metrics in request.resource_metrics
        for metric in resource_metrics.scope_metrics[0].metrics
        for point in metric.histogram.data_points
    }
    reviews = {key[1:]: count for key, count in series.items() if key[0] == "reviews"}
    assert reviews == {
        (
            "http.server.request.duration",
            (
                ("http.request.method", "GET"),
                ("http.response.status_code", 200),
                ("network.protocol.name", "http"),
                ("peer.service", "productpage"),
            ),
        ): 3,
        (
            "http.server.request.duration",
            (
                ("error.type", "500"),
                ("http.request.method", "GET"),
                ("http.response.status_code", 500),
                ("network.protocol.name", "http"),
                ("peer.service", "productpage"),
            ),
        ): 1,
        (
            "http.server.request.duration",
            (
                # /reviews/slow: the gateway timed out, reviews' Envoy saw its caller leave.
                ("error.type", "DC"),
                ("http.request.method", "GET"),
                ("network.protocol.name", "http"),
                ("peer.service", "productpage"),
            ),
        ): 1,
        (
            "rpc.client.duration",
            (
                ("peer.service", "ratings"),
                ("rpc.grpc.status_code", 0),
                ("rpc.method", "GetRating"),
                ("rpc.service", "bookinfo.ratings.v1.Ratings"),
                ("rpc.system", "grpc"),
                ("server.address", "ratings"),
            ),
        ): 3,
        (
            "rpc.client.duration",
            (
                ("error.type", "5"),
                ("peer.service", "ratings"),
                ("rpc.grpc.status_code", 5),
                ("rpc.method", "GetRating"),
                ("rpc.service", "bookinfo.ratings.v1.Ratings"),
                ("rpc.system", "grpc"),
                ("server.address", "ratings"),
            ),
        ): 1,
    }


def _spans(request: Any) -> list[tuple[dict[str, object], Any]]:
    return [
        (_attributes(resource_spans.resource.attributes), span)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_spans_parse_back_and_describe_each_call(name: str) -> None:
    metrics, _ = _analysed(name)
    request = otlp_traces(metrics)
    from_binary = ExportTraceServiceRequest.FromString(request.SerializeToString())
    from_json = _json_back(otlp_json(request), ExportTraceServiceRequest())
    assert from_binary == from_json == request
    by_id = {plan.span_id: plan.metric for plan in plan_spans(metrics)}
    spans = _spans(from_binary)
    assert len(spans) == len(by_id) == len(metrics)
    for workload, span in spans:
        metric = by_id[span.span_id]
        assert workload["service.name"] == _reporter(metric).service
        assert span.kind == (
            Span.SpanKind.SPAN_KIND_SERVER
            if metric.detect_point is DetectPoint.SERVER
            else Span.SpanKind.SPAN_KIND_CLIENT
        )
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
            metric.start_time_ns,
            metric.end_time_ns,
        )
        assert span.status.code == (
            Status.StatusCode.STATUS_CODE_UNSET
            if metric.status
            else Status.StatusCode.STATUS_CODE_ERROR
        )
        attributes = _attributes(span.attributes)
        method, _, path = (metric.endpoint or "").partition(":")
        if metric.protocol is MeshProtocol.HTTP:
            assert span.name == method
            assert attributes["url.path"] == path
            assert attributes.get("http.response.status_code") == metric.response_code
        elif metric.protocol is MeshProtocol.GRPC:
            assert span.name == "bookinfo.ratings.v1.Ratings/GetRating"
            assert attributes["rpc.grpc.status_code"] == metric.grpc_status
        else:
            assert (span.name, attributes["network.transport"]) == ("TCP", "tcp")
        assert attributes.get("http.request.header.x-request-id") == (
            None if metric.request_id is None else (metric.request_id,)
        )
        assert (len(span.trace_id), len(span.span_id)) == (16, 8)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_one_trace_per_external_request_with_the_hops_as_parents(name: str) -> None:
    truth = _truth(name)
    metrics, positions = _analysed(name)
    request = otlp_traces(metrics)
    by_id = {plan.span_id: plan.metric for plan in plan_spans(metrics)}
    # Each span's call: the ground truth names the (stream, position) entries of each call.
    call_of_entry = {
        (logged["stream"], logged["index"]): call["id"]
        for call in truth["calls"]
        for logged in call["logged_by"]
    }
    spans_of: dict[int, dict[tuple[str, str], Any]] = {}
    for workload, span in _spans(request):
        metric = by_id[span.span_id]
        stream = Path(metric.origin.source).name.removesuffix(".bin")
        position = positions[stream, metric.origin.message_index or 0, metric.origin.entry_index]
        side = "server" if span.kind == Span.SpanKind.SPAN_KIND_SERVER else "client"
        key = (side, str(workload["service.name"]))
        spans_of.setdefault(call_of_entry[stream, position], {})[key] = span
    calls = {call["id"]: call for call in truth["calls"]}

    def root(call_id: int) -> int:
        parent = calls[call_id]["parent"]
        return call_id if parent is None else root(parent)

    # One trace per external request: the spans of a request's calls, and no other. A TCP
    # connection logs no request id: each of its spans is a trace of its own.
    traces: dict[bytes, set[int]] = {}
    for call_id, spans in spans_of.items():
        for span in spans.values():
            traces.setdefault(span.trace_id, set()).add(root(call_id))
    assert all(len(roots) == 1 for roots in traces.values())
    http_requests = {root(c) for c in spans_of if calls[c]["protocol"] != "TCP"}
    tcp_spans = sum(len(spans) for c, spans in spans_of.items() if calls[c]["protocol"] == "TCP")
    assert len(traces) == len(http_requests) + tcp_spans

    # Each hop's parent: the call that made it, as the ground truth says.
    for call_id, spans in spans_of.items():
        call = calls[call_id]
        client = call["via"] or call["client"]["service"]
        expected: dict[tuple[str, str], bytes] = {}
        caller_span = None
        if call["parent"] is not None:
            caller_span = spans_of[call["parent"]][("server", call["client"]["service"])]
        if call["via"] is not None:
            gateway_server = spans[("server", call["via"])]
            expected[("server", call["via"])] = b""
            if ("client", call["via"]) in spans:
                expected[("client", call["via"])] = gateway_server.span_id
        elif ("client", client) in spans:
            expected[("client", client)] = b"" if caller_span is None else caller_span.span_id
        server_key = ("server", call["server"]["service"])
        if server_key in spans:
            hop = spans.get(("client", client))
            if hop is not None:
                expected[server_key] = hop.span_id
            else:
                expected[server_key] = b"" if caller_span is None else caller_span.span_id
        if call["protocol"] == "TCP":  # nothing ties a connection to its other end
            expected = dict.fromkeys(spans, b"")
        assert {key: span.parent_span_id for key, span in spans.items()} == expected, call_id


def test_the_full_chain_gateway_productpage_reviews_ratings() -> None:
    metrics, _ = _analysed("mtls")
    request_id = next(m.request_id for m in metrics if m.endpoint == "GET:/productpage")
    metric_of = {plan.span_id: plan.metric for plan in plan_spans(metrics)}
    spans = _spans(otlp_traces(metrics))
    by_id = {span.span_id: (str(workload["service.name"]), span) for workload, span in spans}
    (ratings,) = [
        span
        for workload, span in spans
        if workload["service.name"] == "ratings"
        and metric_of[span.span_id].request_id == request_id
    ]
    chain = []
    service, span = "ratings", ratings
    while True:
        side = "server" if span.kind == Span.SpanKind.SPAN_KIND_SERVER else "client"
        chain.append((service, side))
        assert span.trace_id == ratings.trace_id
        if not span.parent_span_id:
            break
        service, span = by_id[span.parent_span_id]
    assert chain[::-1] == [
        ("istio-ingressgateway", "server"),
        ("istio-ingressgateway", "client"),
        ("productpage", "server"),
        ("productpage", "client"),
        ("reviews", "server"),
        ("reviews", "client"),
        ("ratings", "server"),
    ]


def test_ids_do_not_depend_on_the_order_of_the_calls() -> None:
    metrics, _ = _analysed("bookinfo")
    assert otlp_traces(metrics[::-1]) == otlp_traces(metrics)
    assert otlp_metrics(metrics[::-1]) == otlp_metrics(metrics)


def test_a_logged_traceparent_sets_the_trace_and_the_roots_parent() -> None:
    import attrs

    metrics, _ = _analysed("bookinfo")
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    first = next(m for m in metrics if m.endpoint == "GET:/productpage")
    tagged = [
        attrs.evolve(m, traceparent=header) if m.request_id == first.request_id else m
        for m in metrics
    ]
    plans = [p for p in plan_spans(tagged) if p.metric.request_id == first.request_id]
    assert {p.trace_id.hex() for p in plans} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    roots = [p for p in plans if p.parent_span_id == bytes.fromhex("00f067aa0ba902b7")]
    assert [(r.metric.detect_point, r.metric.destination.service) for r in roots] == [
        (DetectPoint.SERVER, "istio-ingressgateway")
    ]
    assert traceparent_ids("not a header") is None


def test_json_is_otlp_json() -> None:
    metrics, _ = _analysed("bookinfo")
    document = json.loads(otlp_json(otlp_traces(metrics)))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert set(span) >= {"traceId", "spanId", "name", "kind", "startTimeUnixNano"}
    assert bytes.fromhex(span["traceId"]).hex() == span["traceId"]  # hex, not base64
    assert isinstance(span["startTimeUnixNano"], str)  # 64-bit integers as strings
    assert isinstance(span["kind"], int)  # enums as integers


def test_histogram_buckets_of_zero_and_empty_sketches() -> None:
    assert histogram_buckets(LatencySketch()) == ((), (0,))
    assert histogram_buckets(LatencySketch.of([0, 0])) == ((), (2,))
    assert histogram_buckets(LatencySketch.of([-5, 2])) == ((1, 2), (1, 1, 0))
    assert LatencySketch.of([-5]).bucket_ranges() == ((-6, -5, 1),)
