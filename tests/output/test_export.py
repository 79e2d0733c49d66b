"""meshals.output: SkyWalking's schema, field conventions, batching and JSON form.

The expected messages are written out by hand from SkyWalking's asserted and derived values
in ``EXPECTED.md`` (shared/reference/skywalking-fixtures), not computed from meshals' code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attrs import fields
from google.protobuf import descriptor_pb2, json_format
from google.protobuf.message import Message

from meshals import EncodeError, read
from meshals._pb import common_pb2, service_mesh_pb2
from meshals.mesh._analysis import analyze
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.output._skywalking import (
    COLLECT_METHOD,
    DEFAULT_BATCH_SIZE,
    MeshProbeDownstream,
    ServiceMeshMetrics,
    skywalking,
    skywalking_json,
    skywalking_metric,
)
from meshals.resolve._resolvers import StaticResolver

FIXTURES = Path(__file__).parents[1] / "fixtures" / "skywalking"
MOCK_RESOLVER = Path(__file__).parents[1] / "fixtures" / "resolvers" / "skywalking-mock.json"
INGRESS = ServiceMetaInfo(service="ingress", instance="ingress-Inst")
PRODUCTPAGE = ServiceMetaInfo(service="productpage", instance="productpage-Inst")
DETAIL = ServiceMetaInfo(service="detail", instance="detail-Inst")
REVIEW = ServiceMetaInfo(service="review", instance="review-Inst")

# --- the schema ------------------------------------------------------------------------------

# SkyWalking's skywalking.v3 declarations (service-mesh.proto, Common.proto):
# (number, name, type, repeated, message or enum type without the package).
T = descriptor_pb2.FieldDescriptorProto
INT32, INT64, STRING, BOOL, ENUM, MESSAGE = (
    T.TYPE_INT32,
    T.TYPE_INT64,
    T.TYPE_STRING,
    T.TYPE_BOOL,
    T.TYPE_ENUM,
    T.TYPE_MESSAGE,
)
_COMMON_HEAD = [
    (1, "startTime", INT64, False, ""),
    (2, "endTime", INT64, False, ""),
    (3, "sourceServiceName", STRING, False, ""),
    (4, "sourceServiceInstance", STRING, False, ""),
    (5, "destServiceName", STRING, False, ""),
    (6, "destServiceInstance", STRING, False, ""),
]
SKYWALKING_MESSAGES: dict[str, list[tuple[int, str, int, bool, str]]] = {
    "ServiceMeshMetrics": [
        (1, "httpMetrics", MESSAGE, False, "HTTPServiceMeshMetrics"),
        (2, "tcpMetrics", MESSAGE, False, "TCPServiceMeshMetrics"),
    ],
    "HTTPServiceMeshMetric": [
        *_COMMON_HEAD,
        (7, "endpoint", STRING, False, ""),
        (8, "latency", INT32, False, ""),
        (9, "responseCode", INT32, False, ""),
        (10, "status", BOOL, False, ""),
        (11, "protocol", ENUM, False, "Protocol"),
        (12, "detectPoint", ENUM, False, "DetectPoint"),
        (13, "tlsMode", STRING, False, ""),
        (14, "internalErrorCode", STRING, False, ""),
        (15, "internalRequestLatencyNanos", INT64, False, ""),
        (16, "internalResponseLatencyNanos", INT64, False, ""),
        (17, "sourceInstanceProperties", MESSAGE, True, "KeyStringValuePair"),
        (18, "destInstanceProperties", MESSAGE, True, "KeyStringValuePair"),
    ],
    "HTTPServiceMeshMetrics": [(1, "metrics", MESSAGE, True, "HTTPServiceMeshMetric")],
    "TCPServiceMeshMetric": [
        *_COMMON_HEAD,
        (7, "detectPoint", ENUM, False, "DetectPoint"),
        (8, "tlsMode", STRING, False, ""),
        (9, "internalErrorCode", STRING, False, ""),
        (10, "internalRequestLatencyNanos", INT64, False, ""),
        (11, "internalResponseLatencyNanos", INT64, False, ""),
        (12, "sourceInstanceProperties", MESSAGE, True, "KeyStringValuePair"),
        (13, "destInstanceProperties", MESSAGE, True, "KeyStringValuePair"),
        (14, "receivedBytes", INT64, False, ""),
        (15, "sentBytes", INT64, False, ""),
    ],
    "TCPServiceMeshMetrics": [(1, "metrics", MESSAGE, True, "TCPServiceMeshMetric")],
    "MeshProbeDownstream": [],
    "KeyStringValuePair": [(1, "key", STRING, False, ""), (2, "value", STRING, False, "")],
}
SKYWALKING_ENUMS = {
    "Protocol": [("HTTP", 0), ("gRPC", 1)],
    "DetectPoint": [("client", 0), ("server", 1), ("proxy", 2)],
}
PACKAGE = "meshals.wire.skywalking.v3"


def _file_protos() -> list[descriptor_pb2.FileDescriptorProto]:
    protos = []
    for module in (service_mesh_pb2, common_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        protos.append(proto)
    return protos


def test_schema_matches_skywalking_field_for_field() -> None:
    messages: dict[str, list[tuple[int, str, int, bool, str]]] = {}
    enums: dict[str, list[tuple[str, int]]] = {}
    for proto in _file_protos():
        assert proto.package == PACKAGE
        assert proto.syntax == "proto3"
        for message in proto.message_type:
            assert not message.nested_type
            messages[message.name] = [
                (
                    field.number,
                    field.name,
                    field.type,
                    field.label == T.LABEL_REPEATED,
                    field.type_name.removeprefix(f".{PACKAGE}."),
                )
                for field in message.field
            ]
        for enum in proto.enum_type:
            enums[enum.name] = [(value.name, value.number) for value in enum.value]
    assert messages == SKYWALKING_MESSAGES
    assert enums == SKYWALKING_ENUMS


@pytest.mark.parametrize("name", sorted(SKYWALKING_MESSAGES))
def test_json_names_are_the_field_names(name: str) -> None:
    # protoc's JSON name of a camelCase field is the name itself, as in SkyWalking's JSON.
    module = common_pb2 if name == "KeyStringValuePair" else service_mesh_pb2
    fields = getattr(module, name).DESCRIPTOR.fields
    assert [field.json_name for field in fields] == [field.name for field in fields]


def test_only_the_metrics_oneof_exists() -> None:
    oneofs = {
        message.name: [oneof.name for oneof in message.oneof_decl]
        for proto in _file_protos()
        for message in proto.message_type
        if message.oneof_decl
    }
    assert oneofs == {"ServiceMeshMetrics": ["metrics"]}
    fields = ServiceMeshMetrics.DESCRIPTOR.oneofs_by_name["metrics"].fields
    assert [field.name for field in fields] == ["httpMetrics", "tcpMetrics"]


def test_public_names() -> None:
    assert COLLECT_METHOD == "/skywalking.v3.ServiceMeshMetricService/collect"
    assert MeshProbeDownstream.DESCRIPTOR.full_name == f"{PACKAGE}.MeshProbeDownstream"
    assert ServiceMeshMetrics.DESCRIPTOR.full_name == f"{PACKAGE}.ServiceMeshMetrics"
    assert DEFAULT_BATCH_SIZE == 1000


# --- EXPECTED.md's four fixtures ---------------------------------------------------------------


def _timings(fixture: str) -> EntryTimings:
    messages = list(read(FIXTURES / fixture).messages())
    common = messages[0].entries[0].common_properties
    assert common is not None
    # The entry's own times, field by field (EntryTimings' fields are named as the entry's).
    return EntryTimings(
        **{field.name: getattr(common, field.name) for field in fields(EntryTimings)}
    )


def _hand_metric(
    fixture: str,
    role: Role,
    side: DetectPoint,
    route: tuple[ServiceMetaInfo, ServiceMetaInfo, str],
) -> ServiceMeshMetric:
    """A metric as the analysis should make it, built by hand (the export's input only)."""
    source, destination, endpoint = route
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=MeshProtocol.HTTP,
        source=source,
        destination=destination,
        endpoint=endpoint,
        response_code=200,
        status=True,
        timings=_timings(fixture),
        request_bytes=0,  # the fixtures log no request body size
        response_bytes=RESPONSE_BODY_BYTES[fixture],
        origin=MetricOrigin(source=fixture, message_index=0, entry_index=0),
    )


# Each fixture's response.responseBodyBytes (SkyWalking's export has no field for it).
RESPONSE_BODY_BYTES = {
    "envoy-ingress.msg": 4415,
    "envoy-ingress2sidecar.msg": 4415,
    "envoy-mesh-server-sidecar.msg": 295,
    "envoy-mesh-client-sidecar.msg": 178,
}


def _expected(
    source: tuple[str, str],
    dest: tuple[str, str],
    side: str,
    *,
    times: tuple[int, int, int],
    endpoint: str,
    internal: tuple[int, int],
) -> dict[str, object]:
    """The skywalking_json form of one EXPECTED.md row, every field written out."""
    start, end, latency = times
    return {
        "startTime": str(start),
        "endTime": str(end),
        "sourceServiceName": source[0],
        "sourceServiceInstance": source[1],
        "destServiceName": dest[0],
        "destServiceInstance": dest[1],
        "endpoint": endpoint,
        "latency": latency,
        "responseCode": 200,
        "status": True,
        "protocol": "HTTP",
        "detectPoint": side,
        "tlsMode": "NONE",
        "internalErrorCode": "",
        "internalRequestLatencyNanos": str(internal[0]),
        "internalResponseLatencyNanos": str(internal[1]),
        "sourceInstanceProperties": [],
        "destInstanceProperties": [],
    }


INGRESS_TIMES = (1555127993687, 1555127994697, 1010)
# fixture -> the metrics SkyWalking's k8s-mesh analysis makes (EXPECTED.md's tables).
EXPECTED: dict[str, list[dict[str, object]]] = {
    "envoy-ingress.msg": [
        _expected(
            ("UNKNOWN", "UNKNOWN"),
            ("ingress", "ingress-Inst"),
            "server",
            times=INGRESS_TIMES,
            endpoint="GET:/productpage",
            internal=(869250, 42686),
        ),
        _expected(
            ("ingress", "ingress-Inst"),
            ("productpage", "productpage-Inst"),
            "client",
            times=INGRESS_TIMES,
            endpoint="GET:/productpage",
            internal=(869250, 42686),
        ),
    ],
    "envoy-ingress2sidecar.msg": [
        _expected(
            ("", ""),
            ("productpage", "productpage-Inst"),
            "server",
            times=(1555127993688, 1555127994696, 1008),
            endpoint="GET:/productpage",
            internal=(789220, 121957),
        ),
    ],
    "envoy-mesh-server-sidecar.msg": [
        _expected(
            ("productpage", "productpage-Inst"),
            ("review", "review-Inst"),
            "server",
            times=(1555127993712, 1555127994689, 977),
            endpoint="GET:/reviews/0",
            internal=(841545, 147569),
        ),
    ],
    "envoy-mesh-client-sidecar.msg": [
        _expected(
            ("productpage", "productpage-Inst"),
            ("detail", "detail-Inst"),
            "client",
            times=(1555127993697, 1555127993705, 8),
            endpoint="GET:/details/0",
            internal=(2353100, 169503),
        ),
    ],
}


def _hand_metrics(fixture: str) -> list[ServiceMeshMetric]:
    proxy, sidecar = Role.PROXY, Role.SIDECAR
    server, client = DetectPoint.SERVER, DetectPoint.CLIENT
    page = "GET:/productpage"
    return {
        "envoy-ingress.msg": [
            _hand_metric(fixture, proxy, server, (UNKNOWN, INGRESS, page)),
            _hand_metric(fixture, proxy, client, (INGRESS, PRODUCTPAGE, page)),
        ],
        "envoy-ingress2sidecar.msg": [
            _hand_metric(fixture, sidecar, server, (UNKNOWN, PRODUCTPAGE, page)),
        ],
        "envoy-mesh-server-sidecar.msg": [
            _hand_metric(fixture, sidecar, server, (PRODUCTPAGE, REVIEW, "GET:/reviews/0")),
        ],
        "envoy-mesh-client-sidecar.msg": [
            _hand_metric(fixture, sidecar, client, (PRODUCTPAGE, DETAIL, "GET:/details/0")),
        ],
    }[fixture]


def _exported(metrics: list[ServiceMeshMetric]) -> list[dict[str, object]]:
    messages = list(skywalking(metrics))
    assert len(messages) == 1
    assert messages[0].WhichOneof("metrics") == "httpMetrics"
    return [skywalking_json(metric) for metric in messages[0].httpMetrics.metrics]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_expected_fixture_from_hand_built_metrics(fixture: str) -> None:
    assert _exported(_hand_metrics(fixture)) == EXPECTED[fixture]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_expected_fixture_from_analyze(fixture: str) -> None:
    # End to end: the analysis with EXPECTED.md's resolver table, then the export.
    resolver = StaticResolver.from_file(MOCK_RESOLVER)
    with read(FIXTURES / fixture) as reader:
        metrics = analyze(reader, resolver=resolver).metrics()
    assert metrics == _hand_metrics(fixture)
    assert _exported(metrics) == EXPECTED[fixture]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_expected_fixture_parses_into_the_same_protobuf(fixture: str) -> None:
    # The same comparison on the protobuf objects: the expected JSON, parsed, equals the export.
    for metric, expected in zip(_hand_metrics(fixture), EXPECTED[fixture], strict=True):
        parsed = json_format.ParseDict(expected, service_mesh_pb2.HTTPServiceMeshMetric())
        assert skywalking_metric(metric) == parsed


def test_ingress_metric_0_field_by_field() -> None:
    out = skywalking_metric(_hand_metrics("envoy-ingress.msg")[0])
    assert isinstance(out, service_mesh_pb2.HTTPServiceMeshMetric)
    assert (out.sourceServiceName, out.sourceServiceInstance) == ("UNKNOWN", "UNKNOWN")
    assert (out.destServiceName, out.destServiceInstance) == ("ingress", "ingress-Inst")
    assert out.detectPoint == common_pb2.server
    assert (out.startTime, out.endTime, out.latency) == (1555127993687, 1555127994697, 1010)
    assert out.endpoint == "GET:/productpage"
    assert (out.internalRequestLatencyNanos, out.internalResponseLatencyNanos) == (869250, 42686)
    assert (out.tlsMode, out.internalErrorCode) == ("NONE", "")
    assert (out.responseCode, out.status, out.protocol) == (200, True, service_mesh_pb2.HTTP)
    assert list(out.sourceInstanceProperties) == list(out.destInstanceProperties) == []


# --- round trips and JSON ----------------------------------------------------------------------


def _all_hand_metrics() -> list[ServiceMeshMetric]:
    return [metric for fixture in sorted(EXPECTED) for metric in _hand_metrics(fixture)]


def test_binary_round_trip() -> None:
    (message,) = skywalking(_all_hand_metrics())
    data = message.SerializeToString()
    assert ServiceMeshMetrics.FromString(data) == message
    assert len(ServiceMeshMetrics.FromString(data).httpMetrics.metrics) == 5


def test_json_round_trip_uses_skywalking_names() -> None:
    (message,) = skywalking(_all_hand_metrics())
    text = json_format.MessageToJson(message)
    assert json_format.Parse(text, ServiceMeshMetrics()) == message
    data = json.loads(text)
    assert list(data) == ["httpMetrics"]
    first = data["httpMetrics"]["metrics"][0]
    # Defaults (detectPoint client, empty properties) are left out by MessageToJson.
    assert sorted(first) == sorted(
        [
            "startTime",
            "endTime",
            "sourceServiceName",
            "sourceServiceInstance",
            "destServiceName",
            "destServiceInstance",
            "endpoint",
            "latency",
            "responseCode",
            "status",
            "detectPoint",
            "tlsMode",
            "internalRequestLatencyNanos",
            "internalResponseLatencyNanos",
        ]
    )


def test_skywalking_json_writes_every_field_in_field_order() -> None:
    (message,) = skywalking(_all_hand_metrics()[:1])
    data = skywalking_json(message)
    assert list(data) == ["httpMetrics"]
    metrics = data["httpMetrics"]
    assert isinstance(metrics, dict)
    assert list(metrics["metrics"][0]) == [
        name for _, name, *_ in SKYWALKING_MESSAGES["HTTPServiceMeshMetric"]
    ]
    assert json_format.ParseDict(data, ServiceMeshMetrics()) == message


# --- conventions -------------------------------------------------------------------------------

TIMINGS = EntryTimings(
    start_time_ns=1_700_000_000_123_456_789,
    time_to_first_upstream_tx_byte_ns=2_000_300_000,  # 2 s + 300 µs: nanos part 300000
    time_to_first_upstream_rx_byte_ns=3_000_000_100,
    time_to_last_upstream_rx_byte_ns=3_500_000_000,
    time_to_first_downstream_tx_byte_ns=3_000_000_050,  # nanos 50 - 100: negative
    time_to_last_downstream_tx_byte_ns=4_000_000_700,
)
TAGGED = ServiceMetaInfo(
    service="reviews", instance="reviews-v2", namespace="default", tags={"z": "1", "a": "2"}
)
CALLER = ServiceMetaInfo(service="productpage", instance="pp-1", tags={"version": "v1"})


def metric(**changes: Any) -> ServiceMeshMetric:
    fields: dict[str, Any] = {
        "role": Role.SIDECAR,
        "detect_point": DetectPoint.CLIENT,
        "protocol": MeshProtocol.HTTP,
        "source": CALLER,
        "destination": TAGGED,
        "endpoint": "POST:/reviews",
        "response_code": 503,
        "status": False,
        "timings": TIMINGS,
    }
    fields.update(changes)
    return ServiceMeshMetric(**fields)


def test_http_client_metric_with_tags_flags_and_tls() -> None:
    out = skywalking_metric(
        metric(
            tls_mode=TlsMode.MTLS,
            response_flags=frozenset(
                {ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED, ResponseFlag.NO_HEALTHY_UPSTREAM}
            ),
        )
    )
    assert skywalking_json(out) == {
        "startTime": "1700000002123",  # ms(start) + ms(2.0003 s)
        "endTime": "1700000003623",  # ms(start) + ms(3.5 s)
        "sourceServiceName": "productpage",
        "sourceServiceInstance": "pp-1",
        "destServiceName": "reviews",
        "destServiceInstance": "reviews-v2",
        "endpoint": "POST:/reviews",
        "latency": 1500,
        "responseCode": 503,
        "status": False,
        "protocol": "HTTP",
        "detectPoint": "client",
        "tlsMode": "mTLS",
        "internalErrorCode": "no_healthy_upstream",
        "internalRequestLatencyNanos": "300000",
        "internalResponseLatencyNanos": "-50",
        "sourceInstanceProperties": [{"key": "version", "value": "v1"}],
        # In the tags' order, as SkyWalking's properties (a snapshot's: pod, namespace, ...).
        "destInstanceProperties": [{"key": "z", "value": "1"}, {"key": "a", "value": "2"}],
    }


def test_tcp_server_metric() -> None:
    out = skywalking_metric(
        metric(
            protocol=MeshProtocol.TCP,
            detect_point=DetectPoint.SERVER,
            endpoint=None,
            response_code=None,
            status=True,
            tls_mode=TlsMode.TLS,
            received_bytes=64,
            sent_bytes=1500,
            response_flags=frozenset({ResponseFlag.UPSTREAM_REMOTE_RESET}),
        )
    )
    assert isinstance(out, service_mesh_pb2.TCPServiceMeshMetric)
    assert skywalking_json(out) == {
        "startTime": "1700000000123",
        "endTime": "1700000004123",
        "sourceServiceName": "productpage",
        "sourceServiceInstance": "pp-1",
        "destServiceName": "reviews",
        "destServiceInstance": "reviews-v2",
        "detectPoint": "server",
        "tlsMode": "TLS",
        "internalErrorCode": "",  # UR is not one of SkyWalking's codes
        "internalRequestLatencyNanos": "300000",
        # TCP: nanos(last downstream tx) 700 - nanos(first upstream rx) 100
        "internalResponseLatencyNanos": "600",
        "sourceInstanceProperties": [{"key": "version", "value": "v1"}],
        # In the tags' order, as SkyWalking's properties (a snapshot's: pod, namespace, ...).
        "destInstanceProperties": [{"key": "z", "value": "1"}, {"key": "a", "value": "2"}],
        "receivedBytes": "64",
        "sentBytes": "1500",
    }


def test_tcp_metric_without_byte_counts_sends_zero() -> None:
    out = skywalking_metric(metric(protocol=MeshProtocol.TCP, endpoint=None))
    assert isinstance(out, service_mesh_pb2.TCPServiceMeshMetric)
    assert (out.receivedBytes, out.sentBytes) == (0, 0)


@pytest.mark.parametrize(
    ("code", "expected"), [(None, 200), (0, 0), (404, 404), (4_294_967_295, -1)]
)
def test_response_code(code: int | None, expected: int) -> None:
    # None: SkyWalking's 200; a uint32 beyond int32 wraps as Java's int does.
    out = skywalking_metric(metric(response_code=code))
    assert isinstance(out, service_mesh_pb2.HTTPServiceMeshMetric)
    assert out.responseCode == expected


def test_grpc_protocol_and_missing_endpoint() -> None:
    out = skywalking_metric(metric(protocol=MeshProtocol.GRPC, endpoint=None, grpc_status=5))
    assert isinstance(out, service_mesh_pb2.HTTPServiceMeshMetric)
    assert (out.protocol, out.endpoint) == (service_mesh_pb2.gRPC, "")


def test_latency_beyond_int32_wraps() -> None:
    days = 25 * 24 * 3600 * 1_000_000_000  # 2_160_000_000 ms > 2**31 - 1
    timings = EntryTimings(start_time_ns=0, time_to_last_downstream_tx_byte_ns=days)
    out = skywalking_metric(metric(detect_point=DetectPoint.SERVER, timings=timings))
    assert isinstance(out, service_mesh_pb2.HTTPServiceMeshMetric)
    assert (out.latency, out.endTime) == (2_160_000_000 - 2**32, 2_160_000_000)


def test_metric_without_times() -> None:
    out = skywalking_metric(metric(timings=EntryTimings()))
    assert isinstance(out, service_mesh_pb2.HTTPServiceMeshMetric)
    assert (out.startTime, out.endTime, out.latency) == (0, 0, 1)
    assert (out.internalRequestLatencyNanos, out.internalResponseLatencyNanos) == (0, 0)


UNKNOWN_SOURCE_CASES = [
    # (analyzer, role, side, protocol, source names expected)
    ("k8s-mesh", Role.SIDECAR, DetectPoint.SERVER, MeshProtocol.HTTP, ("", "")),
    ("k8s-mesh", Role.SIDECAR, DetectPoint.SERVER, MeshProtocol.TCP, ("", "")),
    ("k8s-mesh", Role.SIDECAR, DetectPoint.CLIENT, MeshProtocol.HTTP, ("UNKNOWN", "UNKNOWN")),
    ("k8s-mesh", Role.PROXY, DetectPoint.SERVER, MeshProtocol.HTTP, ("UNKNOWN", "UNKNOWN")),
    ("k8s-mesh", Role.WAYPOINT, DetectPoint.SERVER, MeshProtocol.HTTP, ("UNKNOWN", "UNKNOWN")),
    ("other", Role.SIDECAR, DetectPoint.SERVER, MeshProtocol.HTTP, ("UNKNOWN", "UNKNOWN")),
]


@pytest.mark.parametrize(("analyzer", "role", "side", "protocol", "expected"), UNKNOWN_SOURCE_CASES)
def test_unknown_source_becomes_empty_only_on_sidecar_inbound(
    analyzer: str,
    role: Role,
    side: DetectPoint,
    protocol: MeshProtocol,
    expected: tuple[str, str],
) -> None:
    out = skywalking_metric(
        metric(analyzer=analyzer, role=role, detect_point=side, protocol=protocol, source=UNKNOWN)
    )
    assert (out.sourceServiceName, out.sourceServiceInstance) == expected
    assert list(out.sourceInstanceProperties) == []
    assert (out.destServiceName, out.destServiceInstance) == ("reviews", "reviews-v2")


def test_known_source_is_kept_on_sidecar_inbound() -> None:
    out = skywalking_metric(metric(detect_point=DetectPoint.SERVER))
    assert (out.sourceServiceName, out.sourceServiceInstance) == ("productpage", "pp-1")


def test_lone_surrogate_raises_encode_error_naming_the_entry() -> None:
    bad = metric(
        endpoint="GET:/\ud800",
        origin=MetricOrigin(source="capture.json", message_index=2, entry_index=5),
    )
    with pytest.raises(EncodeError, match=r"^capture\.json, message 2, entry 5: ") as caught:
        skywalking_metric(bad)
    assert isinstance(caught.value.__cause__, UnicodeEncodeError)
    with pytest.raises(EncodeError, match=r"^<input>, entry 0: "):
        list(skywalking([metric(source=ServiceMetaInfo(service="\udcff", instance="x"))]))


# --- batching ----------------------------------------------------------------------------------


def _kinds(messages: Iterator[Message] | list[Any]) -> list[tuple[str, list[str]]]:
    out = []
    for message in messages:
        kind = message.WhichOneof("metrics")
        batch = getattr(message, kind).metrics
        out.append(
            (
                kind,
                [
                    item.endpoint if kind == "httpMetrics" else item.destServiceName
                    for item in batch
                ],
            )
        )
    return out


def _mixed() -> list[ServiceMeshMetric]:
    tcp = [
        metric(
            protocol=MeshProtocol.TCP,
            endpoint=None,
            destination=ServiceMetaInfo(service=f"db{i}", instance="i"),
        )
        for i in range(3)
    ]
    http = [metric(endpoint=f"GET:/{i}") for i in range(4)]
    return [http[0], tcp[0], http[1], http[2], tcp[1], tcp[2], http[3]]


def test_batches_per_kind_in_input_order() -> None:
    assert _kinds(skywalking(_mixed(), batch_size=2)) == [
        ("httpMetrics", ["GET:/0", "GET:/1"]),
        ("tcpMetrics", ["db0", "db1"]),
        ("httpMetrics", ["GET:/2", "GET:/3"]),
        ("tcpMetrics", ["db2"]),
    ]


def test_no_batch_limit_gives_one_message_per_kind() -> None:
    assert _kinds(skywalking(_mixed(), batch_size=None)) == [
        ("httpMetrics", ["GET:/0", "GET:/1", "GET:/2", "GET:/3"]),
        ("tcpMetrics", ["db0", "db1", "db2"]),
    ]
    assert _kinds(skywalking(_mixed())) == _kinds(skywalking(_mixed(), batch_size=None))


def test_batch_of_one_follows_input_order() -> None:
    kinds = [kind for kind, _ in _kinds(skywalking(_mixed(), batch_size=1))]
    assert kinds == [
        "httpMetrics",
        "tcpMetrics",
        "httpMetrics",
        "httpMetrics",
        "tcpMetrics",
        "tcpMetrics",
        "httpMetrics",
    ]


def test_only_tcp_and_nothing() -> None:
    assert _kinds(skywalking(_mixed()[1:2])) == [("tcpMetrics", ["db0"])]
    assert list(skywalking(iter([]))) == []


def test_export_is_lazy() -> None:
    consumed: list[int] = []

    def source() -> Iterator[ServiceMeshMetric]:
        for index in range(5):
            consumed.append(index)
            yield metric(endpoint=f"GET:/{index}")

    batches = skywalking(source(), batch_size=2)
    assert consumed == []
    next(batches)
    assert consumed == [0, 1]


@pytest.mark.parametrize("size", [0, -1])
def test_bad_batch_size(size: int) -> None:
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, not {size}"):
        skywalking([], batch_size=size)


# --- forwarding ----------------------------------------------------------------------------------


def test_forward_over_grpc_as_an_oap_receives_it() -> None:
    # An OAP stand-in on loopback: the collect method, a client stream answered once.
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    received: list[bytes] = []

    def collect(requests: Iterator[bytes], context: object) -> bytes:
        received.extend(requests)
        return MeshProbeDownstream().SerializeToString()

    service, method = COLLECT_METHOD.strip("/").split("/")
    handler = grpc.method_handlers_generic_handler(
        service, {method: grpc.stream_unary_rpc_method_handler(collect)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            send = channel.stream_unary(
                COLLECT_METHOD,
                request_serializer=ServiceMeshMetrics.SerializeToString,
                response_deserializer=MeshProbeDownstream.FromString,
            )
            reply = send(skywalking(_mixed(), batch_size=3), timeout=10)
    finally:
        server.stop(grace=None)
    assert reply == MeshProbeDownstream()
    messages = [ServiceMeshMetrics.FromString(data) for data in received]
    assert messages == list(skywalking(_mixed(), batch_size=3))
    assert [message.WhichOneof("metrics") for message in messages] == [
        "httpMetrics",
        "tcpMetrics",
        "httpMetrics",
    ]
