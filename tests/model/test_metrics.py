"""The metric model: time views (exact and SkyWalking's), error code, to_dict."""

from __future__ import annotations

import json

import attrs
import pytest

from meshals import Role
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
    skywalking_internal_error_code,
)
from meshals.model._service import UNKNOWN, ServiceMetaInfo

MS = 1_000_000
S = 1_000_000_000
# 2019-04-13T03:59:53.687519Z, the start of SkyWalking's envoy-ingress.msg entry.
START = 1_555_127_993_687_519_000

PRODUCTPAGE = ServiceMetaInfo(service="productpage", instance="productpage-Inst")
REVIEWS = ServiceMetaInfo(service="reviews", instance="reviews-1", tags={"version": "v1"})


def _metric(
    detect_point: DetectPoint,
    timings: EntryTimings,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    **changes: object,
) -> ServiceMeshMetric:
    metric = ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=detect_point,
        protocol=protocol,
        source=PRODUCTPAGE,
        destination=REVIEWS,
        status=True,
        timings=timings,
    )
    return attrs.evolve(metric, **changes)  # type: ignore[arg-type]


FULL = EntryTimings(
    start_time_ns=START,
    time_to_first_upstream_tx_byte_ns=2 * S + 869_250,
    time_to_first_upstream_rx_byte_ns=1_009_000_000,
    time_to_last_upstream_rx_byte_ns=1_010_600_000,
    time_to_first_downstream_tx_byte_ns=1_009_042_686,
    time_to_last_downstream_tx_byte_ns=1_010_700_000,
    duration_ns=1_011_000_000,
)

# (detect point, timings, (start, end, latency) in ns, (start, end, latency) in ms)
TIME_CASES = [
    (
        DetectPoint.SERVER,
        FULL,
        (START, START + 1_010_700_000, 1_010_700_000),
        (1_555_127_993_687, 1_555_127_993_687 + 1010, 1010),
    ),
    (
        DetectPoint.CLIENT,
        FULL,
        (START + 2 * S + 869_250, START + 1_010_600_000, 1_010_600_000 - 2 * S - 869_250),
        # SkyWalking clamps its negative latency to 1.
        (1_555_127_993_687 + 2000, 1_555_127_993_687 + 1010, 1),
    ),
    # No times at all: ns views None, SkyWalking's views count missing times as 0.
    (DetectPoint.SERVER, EntryTimings(), (None, None, None), (0, 0, 1)),
    (DetectPoint.CLIENT, EntryTimings(), (None, None, None), (0, 0, 1)),
    # A TCP-like entry: only start and duration. The ns views fall back to the duration.
    (
        DetectPoint.SERVER,
        EntryTimings(start_time_ns=START, duration_ns=3 * MS + 5),
        (START, START + 3 * MS + 5, 3 * MS + 5),
        (1_555_127_993_687, 1_555_127_993_687, 1),
    ),
    (
        DetectPoint.CLIENT,
        EntryTimings(start_time_ns=START, duration_ns=3 * MS + 5),
        (START, START + 3 * MS + 5, 3 * MS + 5),
        (1_555_127_993_687, 1_555_127_993_687, 1),
    ),
    # Sub-millisecond digits are truncated for each term separately, as SkyWalking does.
    (
        DetectPoint.CLIENT,
        EntryTimings(
            start_time_ns=999_999,
            time_to_first_upstream_tx_byte_ns=999_999,
            time_to_last_upstream_rx_byte_ns=5 * MS + 999_999,
        ),
        (1_999_998, 5 * MS + 1_999_998, 5 * MS),
        (0, 5, 5),
    ),
    # A timestamp before 1970 floors; a negative duration truncates toward zero.
    (
        DetectPoint.SERVER,
        EntryTimings(start_time_ns=-1, time_to_last_downstream_tx_byte_ns=-(2 * MS + 1)),
        (-1, -(2 * MS + 2), -(2 * MS + 1)),
        (-1, -3, 1),
    ),
]


@pytest.mark.parametrize(("detect_point", "timings", "exact", "skywalking"), TIME_CASES)
def test_time_views(
    detect_point: DetectPoint,
    timings: EntryTimings,
    exact: tuple[int | None, int | None, int | None],
    skywalking: tuple[int, int, int],
) -> None:
    metric = _metric(detect_point, timings)
    assert (metric.start_time_ns, metric.end_time_ns, metric.latency_ns) == exact
    assert (metric.start_time_ms, metric.end_time_ms, metric.latency_ms) == skywalking


# (protocol, timings, exact (request, response) ns, SkyWalking's (request, response) nanos)
INTERNAL_LATENCY_CASES = [
    (MeshProtocol.HTTP, FULL, (2 * S + 869_250, 42_686), (869_250, 42_686)),
    (
        MeshProtocol.HTTP,
        EntryTimings(
            time_to_first_upstream_rx_byte_ns=999_000_000,
            time_to_first_downstream_tx_byte_ns=1 * S + 1_000,
        ),
        (None, 1_000_000 + 1_000),
        # Nanos fields only: the second is lost and the result is negative.
        (0, 1_000 - 999_000_000),
    ),
    (
        MeshProtocol.TCP,
        EntryTimings(
            time_to_first_upstream_rx_byte_ns=100,
            time_to_first_downstream_tx_byte_ns=5_000,
            time_to_last_downstream_tx_byte_ns=9_000,
        ),
        (None, 8_900),  # TCP measures to the LAST downstream byte
        (0, 8_900),
    ),
    (MeshProtocol.GRPC, EntryTimings(), (None, None), (0, 0)),
    (
        MeshProtocol.HTTP,
        EntryTimings(time_to_first_upstream_tx_byte_ns=-(S + 5)),
        (-(S + 5), None),
        (-5, 0),  # a negative Duration's nanos carry its sign
    ),
]


@pytest.mark.parametrize(("protocol", "timings", "exact", "skywalking"), INTERNAL_LATENCY_CASES)
def test_internal_latencies(
    protocol: MeshProtocol,
    timings: EntryTimings,
    exact: tuple[int | None, int | None],
    skywalking: tuple[int, int],
) -> None:
    metric = _metric(DetectPoint.SERVER, timings, protocol)
    assert (metric.internal_request_latency_ns, metric.internal_response_latency_ns) == exact
    assert (
        metric.skywalking_internal_request_latency_nanos,
        metric.skywalking_internal_response_latency_nanos,
    ) == skywalking


ERROR_CODE_CASES = [
    (frozenset(), ""),
    (frozenset({ResponseFlag.NO_HEALTHY_UPSTREAM}), "no_healthy_upstream"),
    (
        frozenset(
            {ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED, ResponseFlag.UPSTREAM_CONNECTION_FAILURE}
        ),
        "upstream_connection_failure",
    ),
    (
        frozenset({ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION, ResponseFlag.NO_ROUTE_FOUND}),
        "no_route_found",
    ),
    (frozenset({ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE}), "unauthorized_details"),
    (frozenset({ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR}), "downstream_protocol_error"),
    # Not in SkyWalking's list.
    (frozenset({ResponseFlag.UPSTREAM_REMOTE_RESET}), ""),
    (frozenset({ResponseFlag.DNS_RESOLUTION_FAILURE}), ""),
    (
        frozenset({ResponseFlag.UPSTREAM_REMOTE_RESET, ResponseFlag.STREAM_IDLE_TIMEOUT}),
        "stream_idle_timeout",
    ),
]


@pytest.mark.parametrize(("flags", "code"), ERROR_CODE_CASES)
def test_skywalking_internal_error_code(flags: frozenset[ResponseFlag], code: str) -> None:
    assert skywalking_internal_error_code(flags) == code
    assert _metric(DetectPoint.CLIENT, FULL, response_flags=flags).internal_error_code == code


def test_origin_is_not_part_of_equality() -> None:
    first = _metric(DetectPoint.SERVER, FULL, origin=MetricOrigin(source="a", message_index=1))
    second = _metric(DetectPoint.SERVER, FULL, origin=MetricOrigin(source="b", entry_index=4))
    assert first == second
    assert hash(first) == hash(second)
    assert first != attrs.evolve(first, status=False)


def test_to_dict_http() -> None:
    metric = _metric(
        DetectPoint.SERVER,
        FULL,
        MeshProtocol.GRPC,
        source=UNKNOWN,
        endpoint="POST:/bookinfo.ratings.v1.Ratings/GetRating",
        response_code=200,
        grpc_status=5,
        status=False,
        tls_mode=TlsMode.MTLS,
        peer_identity="spiffe://cluster.local/ns/default/sa/reviews",
        local_identity="spiffe://cluster.local/ns/default/sa/ratings",
        response_flags=frozenset(
            {ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED, ResponseFlag.UPSTREAM_CONNECTION_FAILURE}
        ),
        origin=MetricOrigin(source="reviews.bin", message_index=2, entry_index=0),
    )
    assert metric.to_dict() == {
        "analyzer": "k8s-mesh",
        "role": "sidecar",
        "detect_point": "server",
        "protocol": "gRPC",
        "source_service": "UNKNOWN",
        "source_instance": "UNKNOWN",
        "source_namespace": None,
        "source_tags": {},
        "dest_service": "reviews",
        "dest_instance": "reviews-1",
        "dest_namespace": None,
        "dest_tags": {"version": "v1"},
        "endpoint": "POST:/bookinfo.ratings.v1.Ratings/GetRating",
        "response_code": 200,
        "grpc_status": 5,
        "status": False,
        "start_time_ms": 1_555_127_993_687,
        "end_time_ms": 1_555_127_994_697,
        "latency_ms": 1010,
        "start_time_ns": START,
        "end_time_ns": START + 1_010_700_000,
        "latency_ns": 1_010_700_000,
        "tls_mode": "mTLS",
        "peer_identity": "spiffe://cluster.local/ns/default/sa/reviews",
        "local_identity": "spiffe://cluster.local/ns/default/sa/ratings",
        "response_flags": ["UF", "URX"],  # Envoy's field order, not the set's
        "internal_error_code": "upstream_connection_failure",
        "internal_request_latency_ns": 2 * S + 869_250,
        "internal_response_latency_ns": 42_686,
        "received_bytes": None,
        "sent_bytes": None,
        "request_bytes": None,
        "response_bytes": None,
        "origin": {"source": "reviews.bin", "message_index": 2, "entry_index": 0},
    }


def test_to_dict_tcp_is_json_ready() -> None:
    metric = _metric(
        DetectPoint.CLIENT,
        EntryTimings(start_time_ns=START, duration_ns=MS),
        MeshProtocol.TCP,
        received_bytes=64,
        sent_bytes=1500,
    )
    as_dict = metric.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert (as_dict["protocol"], as_dict["endpoint"], as_dict["response_code"]) == (
        "TCP",
        None,
        None,
    )
    assert (as_dict["received_bytes"], as_dict["sent_bytes"]) == (64, 1500)
    assert (as_dict["tls_mode"], as_dict["response_flags"]) == ("NONE", [])


def test_metric_is_frozen() -> None:
    metric = _metric(DetectPoint.SERVER, FULL)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        metric.status = False  # type: ignore[misc]
