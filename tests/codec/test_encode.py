"""Tests of the encoder: hand-built models against hand-built Envoy protobuf messages.

The expected side is written with Envoy's own classes (xds-protos), so the encoder is checked
against a schema meshals did not generate; then the decoders must give the model back.
"""

from __future__ import annotations

import json
import pickle
from fractions import Fraction
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
    # Enough keys, out of order, that protobuf's own order (a hash table's) is not theirs.
    keys = [f"k{number:02}" for number in range(20, 0, -1)]
    value = FrozenMap({"z": 1.0, "a": FrozenMap({"y": "", "b": True}), **dict.fromkeys(keys, "")})
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
    struct.update({"z": 1, "a": {"y": "", "b": True}, **dict.fromkeys(keys, "")})
    assert packed.value == struct.SerializeToString(deterministic=True)
    assert packed.value != struct.SerializeToString(deterministic=False)  # the test can fail


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


def _with_known(type_name: str, value: object) -> AlsMessage:
    type_url = f"type.googleapis.com/google.protobuf.{type_name}"
    return _with_any(AnyValue(type_url=type_url, value=value, known=True))


def _with_struct(**fields: Any) -> AlsMessage:
    return _with_common(metadata=Metadata(filter_metadata=FrozenMap({"f": FrozenMap(fields)})))


def _with_node(**fields: Any) -> AlsMessage:
    return AlsMessage(identifier=Identifier(node=Node(**fields)))


def _with_request(**fields: Any) -> AlsMessage:
    return AlsMessage(kind="http", entries=(HttpEntry(request=HttpRequest(**fields)),))


def _with_response(**fields: Any) -> AlsMessage:
    return AlsMessage(kind="http", entries=(HttpEntry(response=HttpResponse(**fields)),))


def _with_tls(**fields: Any) -> AlsMessage:
    return _with_common(tls_properties=TlsProperties(**fields))


def _with_address(address: Any) -> AlsMessage:
    return _with_common(upstream_remote_address=address)


class _NotJson:
    """A value no JSON type holds, with a repr that is the same in every run."""

    def __repr__(self) -> str:
        return "<not JSON>"


_COMMON_PATH = "http_logs.log_entry[0].common_properties"
_ANY_PATH = f"{_COMMON_PATH}.filter_state_objects['k']"
_STRUCT_PATH = f"{_COMMON_PATH}.metadata.filter_metadata['f']"
_ADDRESS_PATH = f"{_COMMON_PATH}.upstream_remote_address"
_TLS_PATH = f"{_COMMON_PATH}.tls_properties"
_NOT_JSON: Any = _NotJson()
_NOT_STR: Any = 1
_MIXED_ENTRIES: Any = (HttpEntry(), TcpEntry())
_HUGE: Any = 10**400
_SURROGATE = "\ud800"
# What protobuf said is kept after the field's value: "{cause}" stands for the chained
# exception's text, which is protobuf's own wording.
_CANNOT_WRITE_SURROGATE = "cannot write '\\ud800': {cause}"
_OUT_OF_INT32 = 2**31
_OUT_OF_UINT32 = 2**32

# (id, model, field, reason): every place the encoder can fail, with the path it names.
INVALID: list[tuple[str, AlsMessage, str, str]] = [
    # Entries and kind.
    (
        "unknown kind",
        AlsMessage(kind="udp"),
        "kind",
        "kind must be 'http', 'tcp' or None, not 'udp'",
    ),
    (
        "entries without kind",
        AlsMessage(entries=(TcpEntry(),)),
        "log_entries",
        "entries without a kind",
    ),
    (
        "TCP entry among HTTP",
        AlsMessage(kind="http", entries=_MIXED_ENTRIES),
        "http_logs.log_entry[1]",
        "a TcpEntry among HTTP entries",
    ),
    (
        "HTTP entry among TCP",
        AlsMessage(kind="tcp", entries=(HttpEntry(),)),
        "tcp_logs.log_entry[0]",
        "a HttpEntry among TCP entries",
    ),
    (
        "HTTP protocol version out of int32",
        AlsMessage(kind="http", entries=(HttpEntry(protocol_version=_OUT_OF_INT32),)),
        "http_logs.log_entry[0].protocol_version",
        "cannot write 2147483648: {cause}",
    ),
    (
        "TCP common properties",
        AlsMessage(
            kind="tcp",
            entries=(
                TcpEntry(),
                TcpEntry(common_properties=AccessLogCommon(route_name=_SURROGATE)),
            ),
        ),
        "tcp_logs.log_entry[1].common_properties.route_name",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "negative TCP byte count",
        AlsMessage(
            kind="tcp",
            entries=(TcpEntry(connection_properties=ConnectionProperties(received_bytes=-1)),),
        ),
        "tcp_logs.log_entry[0].connection_properties.received_bytes",
        "cannot write -1: {cause}",
    ),
    # The identifier and its node.
    (
        "log name",
        AlsMessage(identifier=Identifier(log_name=_SURROGATE)),
        "identifier.log_name",
        _CANNOT_WRITE_SURROGATE,
    ),
    ("node id", _with_node(id=_SURROGATE), "identifier.node.id", _CANNOT_WRITE_SURROGATE),
    (
        "node metadata",
        _with_node(metadata=FrozenMap({"x": _NOT_JSON})),
        "identifier.node.metadata.x",
        "not a JSON value: <not JSON>",
    ),
    (
        "dynamic parameters key",
        _with_node(dynamic_parameters=FrozenMap({1: FrozenMap()})),
        "identifier.node.dynamic_parameters",
        "cannot write key 1: {cause}",
    ),
    (
        "dynamic parameters value",
        _with_node(dynamic_parameters=FrozenMap({"k": FrozenMap({"p": 1})})),
        "identifier.node.dynamic_parameters['k'].params",
        "cannot write map: {cause}",
    ),
    (
        "locality",
        _with_node(locality=Locality(zone=_SURROGATE)),
        "identifier.node.locality.zone",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "v2 build version",
        _with_node(build_version=_SURROGATE),
        "identifier.node.build_version",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "both user agent versions",
        _with_node(user_agent_version="1", user_agent_build_version=BuildVersion()),
        "identifier.node",
        "both user_agent_version and user_agent_build_version are set (members of one oneof)",
    ),
    (
        "user agent version",
        _with_node(user_agent_version=_SURROGATE),
        "identifier.node.user_agent_version",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "negative semantic version",
        _with_node(user_agent_build_version=BuildVersion(version=SemanticVersion(major_number=-1))),
        "identifier.node.user_agent_build_version.version.major_number",
        "cannot write -1: {cause}",
    ),
    (
        "build version metadata",
        _with_node(user_agent_build_version=BuildVersion(metadata=FrozenMap({"x": _NOT_JSON}))),
        "identifier.node.user_agent_build_version.metadata.x",
        "not a JSON value: <not JSON>",
    ),
    (
        "extension name",
        _with_node(extensions=(Extension(), Extension(name=_SURROGATE))),
        "identifier.node.extensions[1].name",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "extension version",
        _with_node(
            extensions=(Extension(version=BuildVersion(version=SemanticVersion(patch=-1))),)
        ),
        "identifier.node.extensions[0].version.version.patch",
        "cannot write -1: {cause}",
    ),
    (
        "extension type URL that is not a string",
        _with_node(extensions=(Extension(type_urls=("a", _NOT_STR)),)),
        "identifier.node.extensions[0].type_urls",
        "cannot write type_urls: {cause}",
    ),
    (
        "client feature that is not a string",
        _with_node(client_features=("a", 1)),
        "identifier.node.client_features",
        "cannot write: {cause}",
    ),
    (
        "listening address that is not an Address",
        _with_node(listening_addresses=(None, "0.0.0.0:15006")),
        "identifier.node.listening_addresses[1]",
        "not an address: '0.0.0.0:15006'",
    ),
    # Addresses.
    (
        "socket protocol out of int32",
        _with_address(SocketAddress(protocol=_OUT_OF_INT32)),
        f"{_ADDRESS_PATH}.socket_address.protocol",
        "cannot write 2147483648: {cause}",
    ),
    (
        "socket address",
        _with_address(SocketAddress(address=_SURROGATE)),
        f"{_ADDRESS_PATH}.socket_address.address",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "both port and named port",
        _with_address(SocketAddress(port=1, named_port="http")),
        f"{_ADDRESS_PATH}.socket_address",
        "both port and named_port are set",
    ),
    (
        "socket port out of uint32",
        _with_address(SocketAddress(port=_OUT_OF_UINT32)),
        f"{_ADDRESS_PATH}.socket_address.port_value",
        "cannot write 4294967296: {cause}",
    ),
    (
        "named port",
        _with_address(SocketAddress(named_port=_SURROGATE)),
        f"{_ADDRESS_PATH}.socket_address.named_port",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "pipe mode out of uint32",
        _with_address(PipeAddress(mode=_OUT_OF_UINT32)),
        f"{_ADDRESS_PATH}.pipe.mode",
        "cannot write 4294967296: {cause}",
    ),
    (
        "internal address endpoint",
        _with_address(EnvoyInternalAddress(endpoint_id=_SURROGATE)),
        f"{_ADDRESS_PATH}.envoy_internal_address.endpoint_id",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "internal address listener",
        _with_address(EnvoyInternalAddress(server_listener_name=_SURROGATE)),
        f"{_ADDRESS_PATH}.envoy_internal_address.server_listener_name",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "address that is not an Address",
        _with_address("10.0.0.1:80"),
        _ADDRESS_PATH,
        "not an address: '10.0.0.1:80'",
    ),
    # Common properties.
    (
        "uint64 out of range",
        _with_common(downstream_wire_bytes_sent=2**64),
        f"{_COMMON_PATH}.downstream_wire_bytes_sent",
        "cannot write 18446744073709551616: {cause}",
    ),
    (
        "negative uint32",
        _with_common(upstream_request_attempt_count=-1),
        f"{_COMMON_PATH}.upstream_request_attempt_count",
        "cannot write -1: {cause}",
    ),
    (
        "enum out of int32",
        _with_common(access_log_type=_OUT_OF_INT32),
        f"{_COMMON_PATH}.access_log_type",
        "cannot write 2147483648: {cause}",
    ),
    (
        "timestamp out of int64",
        _with_common(start_time_ns=2**63 * 10**9),
        f"{_COMMON_PATH}.start_time.seconds",
        "cannot write 9223372036854775808: {cause}",
    ),
    # A Fraction is no int: divmod gives whole seconds, and the nanos are what cannot be written.
    (
        "timestamp nanos that are not an int",
        _with_common(start_time_ns=Fraction(3, 2)),
        f"{_COMMON_PATH}.start_time.nanos",
        "cannot write Fraction(3, 2): {cause}",
    ),
    (
        "duration out of int64",
        _with_common(duration_ns=2**63 * 10**9),
        f"{_COMMON_PATH}.duration.seconds",
        "cannot write 9223372036854775808: {cause}",
    ),
    # A float is no int either: 0.0 must be written as it is, not as -0.0.
    (
        "duration that is a float zero",
        _with_common(duration_ns=0.0),
        f"{_COMMON_PATH}.duration.seconds",
        "cannot write 0.0: {cause}",
    ),
    (
        "duration that is a float under one",
        _with_common(duration_ns=0.5),
        f"{_COMMON_PATH}.duration.seconds",
        "cannot write 0.0: {cause}",
    ),
    (
        "duration nanos that are not an int",
        _with_common(time_to_last_rx_byte_ns=Fraction(3, 2)),
        f"{_COMMON_PATH}.time_to_last_rx_byte.nanos",
        "cannot write Fraction(3, 2): {cause}",
    ),
    (
        "lone surrogate",
        _with_common(route_name=_SURROGATE),
        f"{_COMMON_PATH}.route_name",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "string where a number belongs",
        _with_common(sample_rate="0.5"),
        f"{_COMMON_PATH}.sample_rate",
        "cannot write '0.5': {cause}",
    ),
    (
        "response flag that is not a ResponseFlag",
        _with_common(response_flags=frozenset({"NO_HEALTHY_UPSTREAM"})),
        f"{_COMMON_PATH}.response_flags",
        "not a ResponseFlag: 'NO_HEALTHY_UPSTREAM'",
    ),
    (
        "unauthorized reason out of int32",
        _with_common(unauthorized_reason=_OUT_OF_INT32),
        f"{_COMMON_PATH}.response_flags.unauthorized_details.reason",
        "cannot write 2147483648: {cause}",
    ),
    (
        "custom tag that is not a string",
        _with_common(custom_tags=FrozenMap({"k": 1})),
        f"{_COMMON_PATH}.custom_tags",
        "cannot write map: {cause}",
    ),
    (
        "filter metadata key",
        _with_common(metadata=Metadata(filter_metadata=FrozenMap({_NOT_STR: FrozenMap()}))),
        f"{_COMMON_PATH}.metadata.filter_metadata",
        "cannot write key 1: {cause}",
    ),
    (
        "typed filter metadata key",
        _with_common(
            metadata=Metadata(
                typed_filter_metadata=FrozenMap(
                    {_NOT_STR: AnyValue(type_url="", value=b"", known=False)}
                )
            )
        ),
        f"{_COMMON_PATH}.metadata.typed_filter_metadata",
        "cannot write key 1: {cause}",
    ),
    (
        "map key that is not a string",
        _with_common(
            filter_state_objects=FrozenMap(
                {_NOT_JSON: AnyValue(type_url="", value=b"", known=False)}
            )
        ),
        f"{_COMMON_PATH}.filter_state_objects",
        "cannot write key <not JSON>: {cause}",
    ),
    # TLS properties.
    (
        "TLS version out of int32",
        _with_tls(tls_version=_OUT_OF_INT32),
        f"{_TLS_PATH}.tls_version",
        "cannot write 2147483648: {cause}",
    ),
    (
        "SNI",
        _with_tls(tls_sni_hostname=_SURROGATE),
        f"{_TLS_PATH}.tls_sni_hostname",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "cipher suite out of uint32",
        _with_tls(tls_cipher_suite=_OUT_OF_UINT32),
        f"{_TLS_PATH}.tls_cipher_suite.value",
        "cannot write 4294967296: {cause}",
    ),
    (
        "local certificate issuer",
        _with_tls(local_certificate_properties=CertificateProperties(issuer=_SURROGATE)),
        f"{_TLS_PATH}.local_certificate_properties.issuer",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "peer certificate subject",
        _with_tls(peer_certificate_properties=CertificateProperties(subject=_SURROGATE)),
        f"{_TLS_PATH}.peer_certificate_properties.subject",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "both uri and dns",
        _with_tls(
            peer_certificate_properties=CertificateProperties(
                subject_alt_name=(SubjectAltName(uri="u", dns="d"),)
            )
        ),
        f"{_TLS_PATH}.peer_certificate_properties.subject_alt_name[0]",
        "both uri and dns are set (members of one oneof)",
    ),
    (
        "SAN URI",
        _with_tls(
            peer_certificate_properties=CertificateProperties(
                subject_alt_name=(SubjectAltName(), SubjectAltName(uri=_SURROGATE))
            )
        ),
        f"{_TLS_PATH}.peer_certificate_properties.subject_alt_name[1].uri",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "SAN DNS",
        _with_tls(
            local_certificate_properties=CertificateProperties(
                subject_alt_name=(SubjectAltName(dns=_SURROGATE),)
            )
        ),
        f"{_TLS_PATH}.local_certificate_properties.subject_alt_name[0].dns",
        _CANNOT_WRITE_SURROGATE,
    ),
    # HTTP request and response.
    (
        "request method out of int32",
        _with_request(request_method=_OUT_OF_INT32),
        "http_logs.log_entry[0].request.request_method",
        "cannot write 2147483648: {cause}",
    ),
    (
        "request scheme",
        _with_request(scheme=_SURROGATE),
        "http_logs.log_entry[0].request.scheme",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "port out of range",
        _with_request(port=_OUT_OF_UINT32),
        "http_logs.log_entry[0].request.port.value",
        "cannot write 4294967296: {cause}",
    ),
    (
        "request header that is not a string",
        _with_request(request_headers=FrozenMap({"k": 1})),
        "http_logs.log_entry[0].request.request_headers",
        "cannot write map: {cause}",
    ),
    (
        "negative response body bytes",
        _with_response(response_body_bytes=-1),
        "http_logs.log_entry[0].response.response_body_bytes",
        "cannot write -1: {cause}",
    ),
    (
        "response code out of uint32",
        _with_response(response_code=_OUT_OF_UINT32),
        "http_logs.log_entry[0].response.response_code.value",
        "cannot write 4294967296: {cause}",
    ),
    (
        "response header that is not a string",
        _with_response(response_headers=FrozenMap({"k": 1})),
        "http_logs.log_entry[0].response.response_headers",
        "cannot write map: {cause}",
    ),
    (
        "response trailer that is not a string",
        _with_response(response_trailers=FrozenMap({"k": 1})),
        "http_logs.log_entry[0].response.response_trailers",
        "cannot write map: {cause}",
    ),
    # Struct values.
    (
        "struct value that is not JSON",
        _with_struct(x=_NOT_JSON),
        f"{_STRUCT_PATH}.x",
        "not a JSON value: <not JSON>",
    ),
    (
        "struct number too large for a double",
        _with_struct(x=_HUGE),
        f"{_STRUCT_PATH}.x.number_value",
        f"cannot write {_HUGE}: {{cause}}",
    ),
    (
        "struct string",
        _with_struct(x=_SURROGATE),
        f"{_STRUCT_PATH}.x.string_value",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "struct list item",
        _with_struct(x=(None, _NOT_JSON)),
        f"{_STRUCT_PATH}.x[1]",
        "not a JSON value: <not JSON>",
    ),
    (
        "nested struct value",
        _with_struct(x=FrozenMap({"y": _NOT_JSON})),
        f"{_STRUCT_PATH}.x.y",
        "not a JSON value: <not JSON>",
    ),
    (
        "struct key that is not a string",
        _with_common(
            metadata=Metadata(filter_metadata=FrozenMap({"f": FrozenMap({_NOT_STR: 1.0})}))
        ),
        _STRUCT_PATH,
        "Struct key 1 is not a string",
    ),
    (
        "struct key with a lone surrogate",
        _with_struct(**{_SURROGATE: 1.0}),
        _STRUCT_PATH,
        "cannot write key '\\ud800': {cause}",
    ),
    # Any payloads.
    (
        "type URL",
        _with_any(AnyValue(type_url=_SURROGATE, value=b"", known=False)),
        f"{_ANY_PATH}.type_url",
        _CANNOT_WRITE_SURROGATE,
    ),
    (
        "opaque JSON payload",
        _with_any(
            AnyValue(
                type_url="type.googleapis.com/a.B",
                value=OpaqueJson(FrozenMap({"x": 1})),
                known=False,
            )
        ),
        f"{_ANY_PATH}.value",
        "the JSON payload of 'type.googleapis.com/a.B' cannot be encoded: meshals lacks the"
        " schema that would turn it into bytes",
    ),
    (
        "known payload of an unknown type",
        _with_any(AnyValue(type_url="type.googleapis.com/a.B", value=1, known=True)),
        f"{_ANY_PATH}.value",
        "marked known, but meshals does not know 'a.B'",
    ),
    (
        "opaque payload that is not bytes",
        _with_any(AnyValue(type_url="type.googleapis.com/a.B", value="text", known=False)),
        _ANY_PATH,
        "an opaque payload must be bytes, not 'text'",
    ),
    (
        "Struct payload that is not a mapping",
        _with_known("Struct", ()),
        f"{_ANY_PATH}.value",
        "a Struct payload must be a mapping, not ()",
    ),
    (
        "Struct payload value",
        _with_known("Struct", FrozenMap({"x": _NOT_JSON})),
        f"{_ANY_PATH}.value.x",
        "not a JSON value: <not JSON>",
    ),
    (
        "Value payload",
        _with_known("Value", _NOT_JSON),
        f"{_ANY_PATH}.value",
        "not a JSON value: <not JSON>",
    ),
    (
        "ListValue payload that is not a sequence",
        _with_known("ListValue", "ab"),
        f"{_ANY_PATH}.value",
        "a ListValue payload must be a sequence, not 'ab'",
    ),
    (
        "ListValue payload item",
        _with_known("ListValue", ("a", _NOT_JSON)),
        f"{_ANY_PATH}.value[1]",
        "not a JSON value: <not JSON>",
    ),
    (
        "Empty payload that is not None",
        _with_known("Empty", 0),
        f"{_ANY_PATH}.value",
        "an Empty payload must be None, not 0",
    ),
    (
        "Duration payload that is not an int",
        _with_known("Duration", 1.5),
        f"{_ANY_PATH}.value",
        "expected integer nanoseconds, not 1.5",
    ),
    (
        "Duration payload out of int64",
        _with_known("Duration", 2**63 * 10**9),
        f"{_ANY_PATH}.value.seconds",
        "cannot write 9223372036854775808: {cause}",
    ),
    (
        "Timestamp payload that is a bool",
        _with_known("Timestamp", True),
        f"{_ANY_PATH}.value",
        "expected integer nanoseconds, not True",
    ),
    (
        "Timestamp payload out of int64",
        _with_known("Timestamp", 2**63 * 10**9),
        f"{_ANY_PATH}.value.seconds",
        "cannot write 9223372036854775808: {cause}",
    ),
    (
        "wrapper payload of the wrong type",
        _with_known("Int32Value", "1"),
        f"{_ANY_PATH}.value.value",
        "cannot write '1': {cause}",
    ),
    (
        "wrapper payload out of range",
        _with_known("UInt32Value", -1),
        f"{_ANY_PATH}.value.value",
        "cannot write -1: {cause}",
    ),
]


@pytest.mark.parametrize(
    ("model", "field", "reason"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_models_raise_encode_error(model: AlsMessage, field: str, reason: str) -> None:
    with pytest.raises(EncodeError) as info:
        encode_binary(model)
    # The part after the value is protobuf's wording; it must be chained, not lost.
    cause = info.value.__cause__
    expected = reason.replace("{cause}", str(cause))
    assert (info.value.field, info.value.reason) == (field, expected)
    assert (cause is not None) == ("{cause}" in reason)
    assert str(info.value) == f"{field}: {expected}"


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
