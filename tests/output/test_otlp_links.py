"""How calls become linked spans when the recordings do not show it: skewed clocks, a workload
calling itself, traceparent without a request id, calls without times, identical calls."""

from __future__ import annotations

import types

import pytest

from meshals._errors import MeshalsError
from meshals.model import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    Role,
    ServiceMeshMetric,
    ServiceMetaInfo,
)
from meshals.output import _otlp
from meshals.output._otlp_links import plan_spans
from meshals.output._otlp_traces import span_name

PAGE = ServiceMetaInfo(service="productpage", instance="productpage-1")
REVIEWS = ServiceMetaInfo(service="reviews", instance="reviews-1")
HEADER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def call(
    side: DetectPoint,
    source: ServiceMetaInfo,
    destination: ServiceMetaInfo,
    start: int | None,
    duration: int,
    *,
    request_id: str | None = "r1",
    traceparent: str | None = None,
) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=side,
        protocol=MeshProtocol.HTTP,
        source=source,
        destination=destination,
        endpoint="GET:/reviews/0",
        response_code=200,
        status=True,
        timings=EntryTimings(start_time_ns=start, duration_ns=duration),
        request_id=request_id,
        traceparent=traceparent,
    )


def parents(metrics: list[ServiceMeshMetric]) -> dict[tuple[str, int], tuple[str, int] | None]:
    plans = plan_spans(metrics)
    name = {p.span_id: (p.metric.detect_point.value, p.start_ns) for p in plans}
    return {name[p.span_id]: name.get(p.parent_span_id) for p in plans}


def test_a_server_span_that_outlives_its_client_span_still_has_it_as_parent() -> None:
    # Two machines' clocks: reviews' server side seems to end after productpage's client side.
    client = call(DetectPoint.CLIENT, PAGE, REVIEWS, 1_000, 100)
    server = call(DetectPoint.SERVER, PAGE, REVIEWS, 1_010, 200)
    assert parents([client, server]) == {
        ("client", 1_000): None,
        ("server", 1_010): ("client", 1_000),
    }


def test_a_server_span_that_seems_to_start_first_takes_the_nearest_client_span() -> None:
    early = call(DetectPoint.CLIENT, PAGE, REVIEWS, 1_000, 100)
    late = call(DetectPoint.CLIENT, PAGE, REVIEWS, 5_000, 100)
    server = call(DetectPoint.SERVER, PAGE, REVIEWS, 900, 50)
    assert parents([early, late, server])[("server", 900)] == ("client", 1_000)


def test_a_workload_calling_itself_makes_no_cycle() -> None:
    client = call(DetectPoint.CLIENT, PAGE, PAGE, 1_000, 100)
    server = call(DetectPoint.SERVER, PAGE, PAGE, 1_000, 100)
    # Each fits as the other's parent; the link that would close the cycle is dropped.
    assert parents([client, server]) == {
        ("client", 1_000): ("server", 1_000),
        ("server", 1_000): None,
    }


def test_traceparent_without_request_id_groups_calls_and_untimed_calls_have_no_span() -> None:
    client = call(
        DetectPoint.CLIENT, PAGE, REVIEWS, 1_000, 100, request_id=None, traceparent=HEADER
    )
    server = call(DetectPoint.SERVER, PAGE, REVIEWS, 1_010, 50, request_id=None, traceparent=HEADER)
    untimed = call(DetectPoint.SERVER, PAGE, REVIEWS, None, 50)
    plans = plan_spans([client, server, untimed])
    assert [(p.trace_id.hex(), p.parent_span_id.hex()) for p in plans] == [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", plans[0].span_id.hex()),
    ]


def test_identical_calls_get_distinct_span_ids() -> None:
    same = call(DetectPoint.SERVER, PAGE, REVIEWS, 1_000, 100, request_id=None)
    plans = plan_spans([same, same, same])
    assert len({p.span_id for p in plans}) == len({p.trace_id for p in plans}) == 3


def test_names_and_error_types_without_an_endpoint_or_a_code() -> None:
    bare = ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.HTTP,
        source=PAGE,
        destination=REVIEWS,
        status=False,
    )
    assert (span_name(bare), _otlp.error_type(bare)) == ("HTTP", "_OTHER")
    assert dict(_otlp.call_attributes(bare))["http.request.method"] == "_OTHER"


def test_an_old_copy_of_the_classes_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    old = types.ModuleType("metrics_pb2")
    old.__file__ = "/site-packages/opentelemetry/proto/metrics/v1/metrics_pb2.py"
    monkeypatch.setattr(_otlp, "require", lambda *args, **kwargs: old)
    with pytest.raises(MeshalsError, match=r"predates OTLP's scopes.*--force-reinstall"):
        _otlp.load("otlp_metrics()")


def test_metrics_leave_out_untimed_calls_and_hold_the_rest() -> None:
    from meshals.output import otlp_metrics

    timed = call(DetectPoint.SERVER, PAGE, REVIEWS, 1_000, 2_000_000)
    untimed = call(DetectPoint.SERVER, PAGE, REVIEWS, None, 50)
    (point,) = (
        otlp_metrics([untimed, timed])
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics[0]
        .histogram.data_points
    )
    assert (point.count, point.sum, point.start_time_unix_nano, point.time_unix_nano) == (
        1,
        0.002,
        1_000,
        2_001_000,
    )
