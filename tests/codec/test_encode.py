"""Tests of the encoder: hand-built models against hand-built Envoy protobuf messages.

The expected side is written with Envoy's own classes (xds-protos), so the encoder is checked
against a schema meshals did not generate; then the decoders must give the model back.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from envoy.service.accesslog.v2 import als_pb2 as als_v2
from envoy.service.accesslog.v3 import als_pb2 as als_v3
from google.protobuf import (
    any_pb2,
    duration_pb2,
    json_format,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

import meshals
from meshals import (
    AccessLogCommon,
    AlsMessage,
    EncodeError,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Node,
    TcpEntry,
)
from meshals.codec import encode_binary, encode_message
from meshals.model import (
    AccessLogType,
    AnyValue,
    BuildVersion,
    CertificateProperties,
    ConnectionProperties,
    EnvoyInternalAddress,
    Extension,
    FrozenMap,
    HttpVersion,
    Locality,
    Metadata,
    OpaqueJson,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SemanticVersion,
    SocketAddress,
    SocketProtocol,
    SubjectAltName,
    TlsProperties,
    TlsVersion,
    UnauthorizedReason,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"

PB2Message = als_v3.StreamAccessLogsMessage
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1


def _parse(fields: dict[str, Any]) -> als_v3.StreamAccessLogsMessage:
    return json_format.ParseDict(fields, PB2Message())


def _packed(type_url: str, payload: Any) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url, value=payload.SerializeToString(deterministic=True))


# --- a message with every field set ---------------------------------------------------------------

_NODE = Node(
    id="sidecar~10.44.2.56~productpage-v1.default~default.svc.cluster.local",
    cluster="productpage.default",
    metadata=FrozenMap(
        {
            "NAMESPACE": "default",
            "LABELS": FrozenMap({"app": "productpage", "version": "v1"}),
            "PORTS": (9080.0, -0.5, True, None),
        }
    ),
    dynamic_parameters=FrozenMap(
        {"xds": FrozenMap({"region": "eu", "zone": "a"}), "empty": FrozenMap()}
    ),
    locality=Locality(region="europe-west1", zone="b", sub_zone="c"),
    user_agent_name="envoy",
    user_agent_build_version=BuildVersion(
        version=SemanticVersion(major_number=1, minor_number=30, patch=UINT32_MAX),
        metadata=FrozenMap({"build.type": "RELEASE"}),
    ),
    extensions=(
        Extension(
            name="envoy.access_loggers.http_grpc",
            category="envoy.access_loggers",
            type_descriptor="",
            version=BuildVersion(),
            disabled=True,
            type_urls=("type.googleapis.com/a.B", "type.googleapis.com/c.D"),
        ),
        Extension(name="x"),
    ),
    client_features=("envoy.lb.does_not_support_overprovisioning", "ünïcode"),
    listening_addresses=(
        SocketAddress(address="0.0.0.0", port=15006),
        None,
        PipeAddress(path="/var/run/envoy.sock", mode=0o644),
    ),
)

_NODE_PB = {
    "id": "sidecar~10.44.2.56~productpage-v1.default~default.svc.cluster.local",
    "cluster": "productpage.default",
    "metadata": {
        "NAMESPACE": "default",
        "LABELS": {"app": "productpage", "version": "v1"},
        "PORTS": [9080, -0.5, True, None],
    },
    "dynamicParameters": {"xds": {"params": {"region": "eu", "zone": "a"}}, "empty": {}},
    "locality": {"region": "europe-west1", "zone": "b", "subZone": "c"},
    "userAgentName": "envoy",
    "userAgentBuildVersion": {
        "version": {"majorNumber": 1, "minorNumber": 30, "patch": UINT32_MAX},
        "metadata": {"build.type": "RELEASE"},
    },
    "extensions": [
        {
            "name": "envoy.access_loggers.http_grpc",
            "category": "envoy.access_loggers",
            "version": {},
            "disabled": True,
            "typeUrls": ["type.googleapis.com/a.B", "type.googleapis.com/c.D"],
        },
        {"name": "x"},
    ],
    "clientFeatures": ["envoy.lb.does_not_support_overprovisioning", "ünïcode"],
    "listeningAddresses": [
        {"socketAddress": {"address": "0.0.0.0", "portValue": 15006}},
        {},
        {"pipe": {"path": "/var/run/envoy.sock", "mode": 0o644}},
    ],
}

_OPAQUE = b"\x08\x96\x01\xff"

_COMMON = AccessLogCommon(
    sample_rate=0.25,
    downstream_remote_address=SocketAddress(
        address="10.138.0.14",
        port=0,  # present though 0: port_value is a oneof member
        protocol=SocketProtocol.UDP,
        resolver_name="r",
        ipv4_compat=True,
        network_namespace_filepath="/run/netns/x",
    ),
    downstream_local_address=SocketAddress(address="::1", named_port="http"),
    tls_properties=TlsProperties(
        tls_version=TlsVersion.TLSv1_3,
        tls_cipher_suite=0,
        tls_sni_hostname="details.default.svc",
        local_certificate_properties=CertificateProperties(
            subject_alt_name=(
                SubjectAltName(uri="spiffe://cluster.local/ns/default/sa/details"),
                SubjectAltName(dns="details"),
                SubjectAltName(),
            ),
            subject="CN=details",
            issuer="CN=istio",
        ),
        peer_certificate_properties=CertificateProperties(),
        tls_session_id="abc",
        ja3_fingerprint="771,4865",
    ),
    start_time_ns=-1,  # just before the epoch: seconds -1, nanos 999999999
    time_to_last_rx_byte_ns=31_206,
    time_to_first_upstream_tx_byte_ns=-1_500_000_000,  # seconds and nanos both negative
    time_to_last_upstream_tx_byte_ns=0,
    time_to_first_upstream_rx_byte_ns=1_010_010_710,
    time_to_last_upstream_rx_byte_ns=-1,
    time_to_first_downstream_tx_byte_ns=315_576_000_000 * 10**9 + 999_999_999,
    time_to_last_downstream_tx_byte_ns=None,
    upstream_remote_address=EnvoyInternalAddress(server_listener_name="waypoint", endpoint_id="e1"),
    upstream_local_address=EnvoyInternalAddress(),
    upstream_cluster="outbound|9080||details.default.svc.cluster.local",
    response_flags=frozenset(
        {
            ResponseFlag.NO_HEALTHY_UPSTREAM,
            ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
            ResponseFlag.DOWNSTREAM_REMOTE_RESET,
        }
    ),
    unauthorized_reason=UnauthorizedReason.EXTERNAL_SERVICE,
    metadata=Metadata(
        filter_metadata=FrozenMap({"istio": FrozenMap({"mtls": True}), "empty": FrozenMap()}),
        typed_filter_metadata=FrozenMap(
            {
                "typed": AnyValue(
                    type_url="type.googleapis.com/google.protobuf.Struct",
                    value=FrozenMap({"n": 1.5}),
                    known=True,
                )
            }
        ),
    ),
    upstream_transport_failure_reason="tls error",
    route_name="default",
    downstream_direct_remote_address=PipeAddress(path="@abstract"),
    filter_state_objects=FrozenMap(
        {
            "string": AnyValue(
                type_url="type.googleapis.com/google.protobuf.StringValue", value="v", known=True
            ),
            "bytes": AnyValue(
                type_url="example.com/t/google.protobuf.BytesValue", value=b"\x00\xff", known=True
            ),
            "duration": AnyValue(
                type_url="type.googleapis.com/google.protobuf.Duration", value=-1, known=True
            ),
            "list": AnyValue(
                type_url="type.googleapis.com/google.protobuf.ListValue",
                value=("a", 1.0, None, FrozenMap({"k": ()})),
                known=True,
            ),
            "empty": AnyValue(
                type_url="type.googleapis.com/google.protobuf.Empty", value=None, known=True
            ),
            "opaque": AnyValue(
                type_url="type.googleapis.com/envoy.some.Unknown", value=_OPAQUE, known=False
            ),
        }
    ),
    custom_tags=FrozenMap({"mesh": "istio", "": "empty key"}),
    duration_ns=1_010_432_910,
    upstream_request_attempt_count=UINT32_MAX,
    connection_termination_details="closed",
    stream_id="5f6e",
    intermediate_log_entry=True,
    downstream_transport_failure_reason="none",
    downstream_wire_bytes_sent=UINT64_MAX,
    downstream_wire_bytes_received=1,
    upstream_wire_bytes_sent=2,
    upstream_wire_bytes_received=3,
    access_log_type=AccessLogType.DownstreamEnd,
)

_COMMON_PB: dict[str, Any] = {
    "sampleRate": 0.25,
    "downstreamRemoteAddress": {
        "socketAddress": {
            "address": "10.138.0.14",
            "portValue": 0,
            "protocol": "UDP",
            "resolverName": "r",
            "ipv4Compat": True,
            "networkNamespaceFilepath": "/run/netns/x",
        }
    },
    "downstreamLocalAddress": {"socketAddress": {"address": "::1", "namedPort": "http"}},
    "tlsProperties": {
        "tlsVersion": "TLSv1_3",
        "tlsCipherSuite": 0,
        "tlsSniHostname": "details.default.svc",
        "localCertificateProperties": {
            "subjectAltName": [
                {"uri": "spiffe://cluster.local/ns/default/sa/details"},
                {"dns": "details"},
                {},
            ],
            "subject": "CN=details",
            "issuer": "CN=istio",
        },
        "peerCertificateProperties": {},
        "tlsSessionId": "abc",
        "ja3Fingerprint": "771,4865",
    },
    "startTime": "1969-12-31T23:59:59.999999999Z",
    "timeToLastRxByte": "0.000031206s",
    "timeToFirstUpstreamTxByte": "-1.500s",
    "timeToLastUpstreamTxByte": "0s",
    "timeToFirstUpstreamRxByte": "1.010010710s",
    "timeToLastUpstreamRxByte": "-0.000000001s",
    "timeToFirstDownstreamTxByte": "315576000000.999999999s",
    "upstreamRemoteAddress": {
        "envoyInternalAddress": {"serverListenerName": "waypoint", "endpointId": "e1"}
    },
    "upstreamLocalAddress": {"envoyInternalAddress": {}},
    "upstreamCluster": "outbound|9080||details.default.svc.cluster.local",
    "responseFlags": {
        "noHealthyUpstream": True,
        "unauthorizedDetails": {"reason": "EXTERNAL_SERVICE"},
        "downstreamRemoteReset": True,
    },
    "metadata": {
        "filterMetadata": {"istio": {"mtls": True}, "empty": {}},
        "typedFilterMetadata": {
            "typed": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"n": 1.5}}
        },
    },
    "upstreamTransportFailureReason": "tls error",
    "routeName": "default",
    "downstreamDirectRemoteAddress": {"pipe": {"path": "@abstract"}},
    "filterStateObjects": {
        "string": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "v"},
        "bytes": {"@type": "example.com/t/google.protobuf.BytesValue", "value": "AP8="},
        "duration": {
            "@type": "type.googleapis.com/google.protobuf.Duration",
            "value": "-0.000000001s",
        },
        "list": {
            "@type": "type.googleapis.com/google.protobuf.ListValue",
            "value": ["a", 1, None, {"k": []}],
        },
        "empty": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    },
    "customTags": {"mesh": "istio", "": "empty key"},
    "duration": "1.010432910s",
    "upstreamRequestAttemptCount": UINT32_MAX,
    "connectionTerminationDetails": "closed",
    "streamId": "5f6e",
    "intermediateLogEntry": True,
    "downstreamTransportFailureReason": "none",
    "downstreamWireBytesSent": str(UINT64_MAX),
    "downstreamWireBytesReceived": "1",
    "upstreamWireBytesSent": "2",
    "upstreamWireBytesReceived": "3",
    "accessLogType": "DownstreamEnd",
}


def _full_http_message() -> tuple[AlsMessage, als_v3.StreamAccessLogsMessage]:
    model = AlsMessage(
        identifier=Identifier(node=_NODE, log_name="als"),
        kind="http",
        entries=(
            HttpEntry(
                common_properties=_COMMON,
                protocol_version=HttpVersion.HTTP2,
                request=HttpRequest(
                    request_method=RequestMethod.PATCH,
                    scheme="https",
                    authority="details:9080",
                    port=UINT32_MAX,
                    path="/details/0",
                    user_agent="curl/8",
                    referer="r",
                    forwarded_for="10.0.0.1",
                    request_id="0ac1feff",
                    original_path="/orig",
                    request_headers_bytes=869,
                    request_body_bytes=UINT64_MAX,
                    request_headers=FrozenMap({":method": "GET", "x-ünï": "ç"}),
                    upstream_header_bytes_sent=4,
                    downstream_header_bytes_received=5,
                ),
                response=HttpResponse(
                    response_code=0,  # present though 0: a wrapper
                    response_headers_bytes=129,
                    response_body_bytes=178,
                    response_headers=FrozenMap({"server": "envoy"}),
                    response_trailers=FrozenMap({"grpc-status": "0"}),
                    response_code_details="via_upstream",
                    upstream_header_bytes_received=6,
                    downstream_header_bytes_sent=7,
                ),
            ),
            HttpEntry(),
            HttpEntry(protocol_version=77, request=HttpRequest(request_method=-3)),
        ),
    )
    expected = _parse(
        {
            "identifier": {"node": _NODE_PB, "logName": "als"},
            "httpLogs": {
                "logEntry": [
                    {
                        "commonProperties": _COMMON_PB,
                        "protocolVersion": "HTTP2",
                        "request": {
                            "requestMethod": "PATCH",
                            "scheme": "https",
                            "authority": "details:9080",
                            "port": UINT32_MAX,
                            "path": "/details/0",
                            "userAgent": "curl/8",
                            "referer": "r",
                            "forwardedFor": "10.0.0.1",
                            "requestId": "0ac1feff",
                            "originalPath": "/orig",
                            "requestHeadersBytes": "869",
                            "requestBodyBytes": str(UINT64_MAX),
                            "requestHeaders": {":method": "GET", "x-ünï": "ç"},
                            "upstreamHeaderBytesSent": "4",
                            "downstreamHeaderBytesReceived": "5",
                        },
                        "response": {
                            "responseCode": 0,
                            "responseHeadersBytes": "129",
                            "responseBodyBytes": "178",
                            "responseHeaders": {"server": "envoy"},
                            "responseTrailers": {"grpc-status": "0"},
                            "responseCodeDetails": "via_upstream",
                            "upstreamHeaderBytesReceived": "6",
                            "downstreamHeaderBytesSent": "7",
                        },
                    },
                    {},
                    {"protocolVersion": 77, "request": {"requestMethod": -3}},
                ]
            },
        }
    )
    # json_format cannot write an Any of a type it does not know: add the opaque one by hand.
    expected.http_logs.log_entry[0].common_properties.filter_state_objects["opaque"].CopyFrom(
        any_pb2.Any(type_url="type.googleapis.com/envoy.some.Unknown", value=_OPAQUE)
    )
    return model, expected


_TCP_MODEL = AlsMessage(
    kind="tcp",
    entries=(
        TcpEntry(
            common_properties=AccessLogCommon(
                start_time_ns=1_555_127_993_687_224_601,
                access_log_type=12345,  # a number the schema does not know
                response_flags=frozenset({ResponseFlag.FAILED_LOCAL_HEALTHCHECK}),
            ),
            connection_properties=ConnectionProperties(received_bytes=UINT64_MAX, sent_bytes=0),
        ),
        TcpEntry(connection_properties=ConnectionProperties()),
    ),
)
_TCP_PB = {
    "tcpLogs": {
        "logEntry": [
            {
                "commonProperties": {
                    "startTime": "2019-04-13T03:59:53.687224601Z",
                    "accessLogType": 12345,
                    "responseFlags": {"failedLocalHealthcheck": True},
                },
                "connectionProperties": {"receivedBytes": str(UINT64_MAX)},
            },
            {"connectionProperties": {}},
        ]
    }
}

# (model, the Envoy message it must encode to), for models without opaque payloads.
EXPECTED: list[tuple[str, AlsMessage, dict[str, Any]]] = [
    ("empty", AlsMessage(), {}),
    ("identifier only", AlsMessage(identifier=Identifier()), {"identifier": {}}),
    ("http, no entries", AlsMessage(kind="http"), {"httpLogs": {}}),
    ("tcp, no entries", AlsMessage(kind="tcp"), {"tcpLogs": {}}),
    ("tcp entries", _TCP_MODEL, _TCP_PB),
    (
        "unauthorized reason with its flag",
        AlsMessage(
            kind="http",
            entries=(
                HttpEntry(
                    common_properties=AccessLogCommon(
                        response_flags=frozenset({ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE}),
                        unauthorized_reason=7,
                    )
                ),
            ),
        ),
        {
            "httpLogs": {
                "logEntry": [
                    {"commonProperties": {"responseFlags": {"unauthorizedDetails": {"reason": 7}}}}
                ]
            }
        },
    ),
    (
        "empty oneof members are present",
        AlsMessage(
            identifier=Identifier(
                node=Node(
                    metadata=FrozenMap(),
                    user_agent_version="",  # present though empty: a oneof member
                    listening_addresses=(EnvoyInternalAddress(server_listener_name=""),),
                )
            )
        ),
        {
            "identifier": {
                "node": {
                    "metadata": {},
                    "userAgentVersion": "",
                    "listeningAddresses": [{"envoyInternalAddress": {"serverListenerName": ""}}],
                }
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("model", "fields"), [case[1:] for case in EXPECTED], ids=[case[0] for case in EXPECTED]
)
def test_encode_binary_gives_the_envoy_message(model: AlsMessage, fields: dict[str, Any]) -> None:
    expected = _parse(fields)
    assert PB2Message.FromString(encode_binary(model)) == expected
    assert meshals.decode_binary(encode_binary(model)) == model


def test_unauthorized_reason_implies_its_flag() -> None:
    # A hand-built model may leave the flag out; the reason alone still means the
    # unauthorized_details message was there, and decoding then shows the flag.
    common = AccessLogCommon(unauthorized_reason=UnauthorizedReason.REASON_UNSPECIFIED)
    model = AlsMessage(kind="tcp", entries=(TcpEntry(common_properties=common),))
    expected = _parse(
        {
            "tcpLogs": {
                "logEntry": [{"commonProperties": {"responseFlags": {"unauthorizedDetails": {}}}}]
            }
        }
    )
    assert PB2Message.FromString(encode_binary(model)) == expected
    decoded = meshals.decode_binary(encode_binary(model)).entries[0].common_properties
    assert decoded is not None
    assert decoded.response_flags == {ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE}
    assert decoded.unauthorized_reason == UnauthorizedReason.REASON_UNSPECIFIED


def test_every_field_is_encoded() -> None:
    model, expected = _full_http_message()
    encoded = encode_binary(model)
    assert PB2Message.FromString(encoded) == expected
    # The decoder gives the model back (the well-known payloads decoded as they were built).
    assert meshals.decode_binary(encoded) == model


def test_full_message_sets_every_field_of_access_log_common() -> None:
    # Guards the test above: it covers all 33 fields, a new one makes this fail.
    _, expected = _full_http_message()
    common = expected.http_logs.log_entry[0].common_properties
    present = {field.name for field, _ in common.ListFields()}
    missing = {field.name for field in common.DESCRIPTOR.fields} - present
    assert missing == {"time_to_last_downstream_tx_byte"}  # left None on purpose


def test_encode_message_returns_meshals_class() -> None:
    model, _ = _full_http_message()
    message = encode_message(model)
    assert (
        message.DESCRIPTOR.full_name
        == "meshals.wire.envoy.service.accesslog.v3.StreamAccessLogsMessage"
    )
    assert message.SerializeToString(deterministic=True) == encode_binary(model)


def test_encode_binary_is_deterministic() -> None:
    first = AlsMessage(
        kind="tcp",
        entries=(
            TcpEntry(
                common_properties=AccessLogCommon(custom_tags=FrozenMap({"b": "2", "a": "1"}))
            ),
        ),
    )
    second = AlsMessage(
        kind="tcp",
        entries=(
            TcpEntry(
                common_properties=AccessLogCommon(custom_tags=FrozenMap({"a": "1", "b": "2"}))
            ),
        ),
    )
    assert encode_binary(first) == encode_binary(second)


def test_struct_payload_is_packed_deterministically() -> None:
    value = FrozenMap({"z": 1.0, "a": FrozenMap({"y": "", "b": True})})
    model = AlsMessage(
        kind="tcp",
        entries=(
            TcpEntry(
                common_properties=AccessLogCommon(
                    filter_state_objects=FrozenMap(
                        {
                            "s": AnyValue(
                                type_url="type.googleapis.com/google.protobuf.Struct",
                                value=value,
                                known=True,
                            )
                        }
                    )
                )
            ),
        ),
    )
    packed = (
        PB2Message.FromString(encode_binary(model))
        .tcp_logs.log_entry[0]
        .common_properties.filter_state_objects["s"]
    )
    struct = struct_pb2.Struct()
    struct.update({"a": {"b": True, "y": ""}, "z": 1})
    assert packed.value == struct.SerializeToString(deterministic=True)


def test_v2_build_version_is_written_to_field_5() -> None:
    model = AlsMessage(
        identifier=Identifier(node=Node(id="n", build_version="abc/1.9.0/Clean/RELEASE"))
    )
    parsed = als_v2.StreamAccessLogsMessage.FromString(encode_binary(model))
    assert parsed.identifier.node.build_version == "abc/1.9.0/Clean/RELEASE"
    assert parsed.identifier.node.id == "n"


@pytest.mark.parametrize(
    ("value", "type_name", "payload"),
    [
        (True, "BoolValue", wrappers_pb2.BoolValue(value=True)),
        (-(2**63), "Int64Value", wrappers_pb2.Int64Value(value=-(2**63))),
        (UINT64_MAX, "UInt64Value", wrappers_pb2.UInt64Value(value=UINT64_MAX)),
        (-(2**31), "Int32Value", wrappers_pb2.Int32Value(value=-(2**31))),
        (UINT32_MAX, "UInt32Value", wrappers_pb2.UInt32Value(value=UINT32_MAX)),
        (0.5, "FloatValue", wrappers_pb2.FloatValue(value=0.5)),
        (float("-inf"), "DoubleValue", wrappers_pb2.DoubleValue(value=float("-inf"))),
        (-0.0, "DoubleValue", wrappers_pb2.DoubleValue(value=-0.0)),
        (b"", "BytesValue", wrappers_pb2.BytesValue()),
        ("x", "Value", struct_pb2.Value(string_value="x")),
        (None, "Value", struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)),
        (
            -62_135_596_800 * 10**9,
            "Timestamp",
            timestamp_pb2.Timestamp(seconds=-62_135_596_800),
        ),
        (-1_500_000_000, "Duration", duration_pb2.Duration(seconds=-1, nanos=-500_000_000)),
    ],
)
def test_well_known_payloads(value: object, type_name: str, payload: Any) -> None:
    type_url = f"type.googleapis.com/google.protobuf.{type_name}"
    model = AlsMessage(
        kind="tcp",
        entries=(
            TcpEntry(
                common_properties=AccessLogCommon(
                    metadata=Metadata(
                        typed_filter_metadata=FrozenMap(
                            {"k": AnyValue(type_url=type_url, value=value, known=True)}
                        )
                    )
                )
            ),
        ),
    )
    encoded = encode_binary(model)
    packed = (
        PB2Message.FromString(encoded)
        .tcp_logs.log_entry[0]
        .common_properties.metadata.typed_filter_metadata["k"]
    )
    assert packed == _packed(type_url, payload)
    assert meshals.decode_binary(encoded) == model


# --- what cannot be encoded ---------------------------------------------------------------------


def _with_common(**fields: Any) -> AlsMessage:
    return AlsMessage(
        kind="http", entries=(HttpEntry(common_properties=AccessLogCommon(**fields)),)
    )


def _with_any(value: AnyValue) -> AlsMessage:
    return _with_common(filter_state_objects=FrozenMap({"k": value}))


_COMMON_PATH = "http_logs.log_entry[0].common_properties"
_NOT_JSON: Any = object()
_HUGE: Any = 10**400

INVALID: list[tuple[str, AlsMessage, str | None]] = [
    (
        "opaque JSON payload",
        _with_any(
            AnyValue(
                type_url="type.googleapis.com/a.B",
                value=OpaqueJson(FrozenMap({"x": 1})),
                known=False,
            )
        ),
        f"{_COMMON_PATH}.filter_state_objects['k'].value",
    ),
    (
        "known payload of an unknown type",
        _with_any(AnyValue(type_url="type.googleapis.com/a.B", value=1, known=True)),
        f"{_COMMON_PATH}.filter_state_objects['k'].value",
    ),
    (
        "opaque payload that is not bytes",
        _with_any(AnyValue(type_url="type.googleapis.com/a.B", value="text", known=False)),
        f"{_COMMON_PATH}.filter_state_objects['k']",
    ),
    (
        "Struct payload that is not a mapping",
        _with_any(
            AnyValue(type_url="type.googleapis.com/google.protobuf.Struct", value=(), known=True)
        ),
        f"{_COMMON_PATH}.filter_state_objects['k'].value",
    ),
    (
        "Duration payload that is not an int",
        _with_any(
            AnyValue(type_url="type.googleapis.com/google.protobuf.Duration", value=1.5, known=True)
        ),
        f"{_COMMON_PATH}.filter_state_objects['k'].value",
    ),
    (
        "wrapper payload of the wrong type",
        _with_any(
            AnyValue(
                type_url="type.googleapis.com/google.protobuf.Int32Value", value="1", known=True
            )
        ),
        f"{_COMMON_PATH}.filter_state_objects['k'].value.value",
    ),
    (
        "wrapper payload out of range",
        _with_any(
            AnyValue(
                type_url="type.googleapis.com/google.protobuf.UInt32Value", value=-1, known=True
            )
        ),
        f"{_COMMON_PATH}.filter_state_objects['k'].value.value",
    ),
    (
        "uint64 out of range",
        _with_common(downstream_wire_bytes_sent=2**64),
        f"{_COMMON_PATH}.downstream_wire_bytes_sent",
    ),
    (
        "negative uint32",
        _with_common(upstream_request_attempt_count=-1),
        f"{_COMMON_PATH}.upstream_request_attempt_count",
    ),
    ("enum out of int32", _with_common(access_log_type=2**31), f"{_COMMON_PATH}.access_log_type"),
    (
        "timestamp out of int64",
        _with_common(start_time_ns=2**63 * 10**9),
        f"{_COMMON_PATH}.start_time.seconds",
    ),
    ("lone surrogate", _with_common(route_name="\ud800"), f"{_COMMON_PATH}.route_name"),
    (
        "string where a number belongs",
        _with_common(sample_rate="0.5"),
        f"{_COMMON_PATH}.sample_rate",
    ),
    (
        "struct value that is not JSON",
        _with_common(
            metadata=Metadata(filter_metadata=FrozenMap({"f": FrozenMap({"x": _NOT_JSON})}))
        ),
        f"{_COMMON_PATH}.metadata.filter_metadata['f'].x",
    ),
    (
        "struct number too large for a double",
        _with_common(metadata=Metadata(filter_metadata=FrozenMap({"f": FrozenMap({"x": _HUGE})}))),
        f"{_COMMON_PATH}.metadata.filter_metadata['f'].x.number_value",
    ),
    (
        "map key that is not a string",
        _with_common(
            filter_state_objects=FrozenMap(
                {_NOT_JSON: AnyValue(type_url="", value=b"", known=False)}
            )
        ),
        f"{_COMMON_PATH}.filter_state_objects",
    ),
    (
        "both port and named port",
        _with_common(upstream_remote_address=SocketAddress(port=1, named_port="http")),
        f"{_COMMON_PATH}.upstream_remote_address.socket_address",
    ),
    (
        "both uri and dns",
        _with_common(
            tls_properties=TlsProperties(
                peer_certificate_properties=CertificateProperties(
                    subject_alt_name=(SubjectAltName(uri="u", dns="d"),)
                )
            )
        ),
        f"{_COMMON_PATH}.tls_properties.peer_certificate_properties.subject_alt_name[0]",
    ),
    (
        "port out of range",
        AlsMessage(kind="http", entries=(HttpEntry(request=HttpRequest(port=2**32)),)),
        "http_logs.log_entry[0].request.port.value",
    ),
    ("unknown kind", AlsMessage(kind="udp"), "kind"),
    ("entries without kind", AlsMessage(entries=(TcpEntry(),)), "log_entries"),
    (
        "TCP entry among HTTP",
        AlsMessage(kind="http", entries=(TcpEntry(),)),
        "http_logs.log_entry[0]",
    ),
    (
        "HTTP entry among TCP",
        AlsMessage(kind="tcp", entries=(HttpEntry(),)),
        "tcp_logs.log_entry[0]",
    ),
    (
        "both user agent versions",
        AlsMessage(
            identifier=Identifier(
                node=Node(user_agent_version="1", user_agent_build_version=BuildVersion())
            )
        ),
        "identifier.node",
    ),
]


@pytest.mark.parametrize(
    ("model", "field"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_models_raise_encode_error(model: AlsMessage, field: str) -> None:
    with pytest.raises(EncodeError) as info:
        encode_binary(model)
    assert info.value.field == field
    assert str(info.value) == f"{field}: {info.value.reason}"


def test_encode_error_is_a_meshals_value_error_and_pickles() -> None:
    error = EncodeError("cannot write", field="a.b")
    assert isinstance(error, meshals.MeshalsError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reason, copy.field, str(copy)) == (
        EncodeError,
        "cannot write",
        "a.b",
        "a.b: cannot write",
    )
    assert str(EncodeError("no place")) == "no place"


# --- the recorded fixtures ----------------------------------------------------------------------

# The SkyWalking captures that are ALS messages (envoy-metric.msg is a metrics-service message
# in protobuf text format). They carry "#" and "//" comment lines, and one has a stray "}".
SKYWALKING = [
    "envoy-ingress.msg",
    "envoy-ingress2sidecar.msg",
    "envoy-mesh-client-sidecar.msg",
    "envoy-mesh-server-sidecar.msg",
]


def _without_comments(text: str) -> str:
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith(("#", "//"))
    )


@pytest.mark.parametrize("name", SKYWALKING)
def test_skywalking_fixtures_survive_encoding(name: str) -> None:
    text = _without_comments((FIXTURES / "skywalking" / name).read_text(encoding="utf-8"))
    decoded = meshals.decode_json(text)
    encoded = encode_binary(decoded)
    assert meshals.decode_binary(encoded) == decoded
    # And against Envoy's classes: the first JSON value of the file, parsed by json_format.
    first, _ = json.JSONDecoder().raw_decode(text.lstrip())
    assert PB2Message.FromString(encoded) == json_format.ParseDict(first, PB2Message())


# The v2-era captures: like SkyWalking's, plus the v2-only Node.buildVersion (field 5).
SEEDS = sorted(path.name for path in (FIXTURES / "seed").glob("*.msg"))


@pytest.mark.parametrize("name", SEEDS)
def test_seed_fixtures_survive_encoding(name: str) -> None:
    text = _without_comments((FIXTURES / "seed" / name).read_text(encoding="utf-8"))
    decoded = meshals.decode_json(text)
    encoded = encode_binary(decoded)
    assert meshals.decode_binary(encoded) == decoded
    first, _ = json.JSONDecoder().raw_decode(text.lstrip())
    expected = json_format.ParseDict(first, als_v2.StreamAccessLogsMessage())
    assert als_v2.StreamAccessLogsMessage.FromString(encoded) == expected


def _delimited(data: bytes) -> list[bytes]:
    """Split protobuf's writeDelimitedTo framing: a varint length before each message."""
    frames = []
    position = 0
    while position < len(data):
        length = shift = 0
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        frames.append(data[position : position + length])
        position += length
    return frames


RECORDINGS = sorted(path.stem for path in (FIXTURES / "envoy").glob("*.bin"))


@pytest.mark.parametrize("name", RECORDINGS)
def test_envoy_recordings_survive_encoding(name: str) -> None:
    # Real Envoy output, each message as Envoy's classes read it: re-encoding the model decoded
    # from its bytes, or from the same message's JSON line, gives an equal message.
    frames = _delimited((FIXTURES / "envoy" / f"{name}.bin").read_bytes())
    text = (FIXTURES / "envoy" / f"{name}.jsonl").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert frames
    assert len(lines) == len(frames)
    for frame, line in zip(frames, lines, strict=True):
        expected = PB2Message.FromString(frame)
        assert PB2Message.FromString(encode_binary(meshals.decode_binary(frame))) == expected
        assert PB2Message.FromString(encode_binary(meshals.decode_json(line))) == expected
