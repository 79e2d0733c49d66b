"""Protobuf -> model conversion, field by field.

Messages are built with Envoy's own generated classes (``xds-protos``), an independent path,
serialized, parsed into meshals' generated classes and converted; every field of every
message is set at least once and compared with exact model values.
"""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import address_pb2 as envoy_address
from envoy.config.core.v3 import base_pb2 as envoy_base
from envoy.data.accesslog.v3 import accesslog_pb2 as envoy_log
from envoy.service.accesslog.v3 import als_pb2 as envoy_als
from envoy.type.v3 import semantic_version_pb2 as envoy_semver
from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message
from xds.core.v3 import context_params_pb2 as xds_context

from meshals import (
    AccessLogCommon,
    AlsMessage,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Location,
    Node,
    TcpEntry,
)
from meshals._pb import accesslog_pb2 as pb_log
from meshals._pb import als_pb2 as pb_als
from meshals.codec import Limits
from meshals.codec._convert import _entries_from_pb, message_from_pb
from meshals.codec._convert_values import Context
from meshals.codec._limits import LimitExceeded
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
    JsonValue,
    Locality,
    Metadata,
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

SOURCE = "test.bin"


def convert(message: Any, *, strict: bool = False, index: int | None = 4) -> AlsMessage:
    """Serialize an Envoy v3 StreamAccessLogsMessage, parse it as meshals' class, convert."""
    parsed = pb_als.StreamAccessLogsMessage.FromString(message.SerializeToString())
    context = Context(source=SOURCE, message_index=index, strict=strict)
    return message_from_pb(parsed, context)


def http_message(*entries: Any) -> Any:
    message = envoy_als.StreamAccessLogsMessage()
    message.http_logs.log_entry.extend(entries)
    return message


def common_entry(common: Any) -> Any:
    return http_message(envoy_log.HTTPAccessLogEntry(common_properties=common))


def convert_common(common: Any, *, strict: bool = False) -> AccessLogCommon:
    entry = convert(common_entry(common), strict=strict).http_entries[0]
    assert entry.common_properties is not None
    return entry.common_properties


def socket(address: str, port: int) -> Any:
    return envoy_address.Address(
        socket_address=envoy_address.SocketAddress(address=address, port_value=port)
    )


def packed(message: Message) -> Any:
    any_message = any_pb2.Any()
    any_message.Pack(message)
    return any_message


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def typed(value: object) -> object:
    """*value* with the type of every JSON leaf spelled out: True == 1.0, but not here."""
    if isinstance(value, FrozenMap):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def field_names(message: Message) -> set[str]:
    return {field.name for field in message.DESCRIPTOR.fields}


def set_field_names(message: Message) -> set[str]:
    return {field.name for field, _ in message.ListFields()}


# --- AccessLogCommon: every field ---------------------------------------------------------


def full_common() -> Any:
    return envoy_log.AccessLogCommon(
        sample_rate=0.25,
        downstream_remote_address=socket("10.138.0.14", 51489),
        downstream_local_address=socket("10.44.2.56", 80),
        tls_properties=envoy_log.TLSProperties(tls_sni_hostname="sni.example"),
        start_time=timestamp_pb2.Timestamp(seconds=1555127993, nanos=687224601),
        time_to_last_rx_byte=duration_pb2.Duration(nanos=31206),
        time_to_first_upstream_tx_byte=duration_pb2.Duration(nanos=869250),
        time_to_last_upstream_tx_byte=duration_pb2.Duration(nanos=881276),
        time_to_first_upstream_rx_byte=duration_pb2.Duration(seconds=1, nanos=10710),
        time_to_last_upstream_rx_byte=duration_pb2.Duration(seconds=1, nanos=423815),
        time_to_first_downstream_tx_byte=duration_pb2.Duration(seconds=1, nanos=53396),
        time_to_last_downstream_tx_byte=duration_pb2.Duration(seconds=1, nanos=10432910),
        upstream_remote_address=socket("10.44.2.54", 9080),
        upstream_local_address=socket("10.44.2.56", 40000),
        upstream_cluster="outbound|9080||productpage.default.svc.cluster.local",
        response_flags=envoy_log.ResponseFlags(no_healthy_upstream=True),
        metadata=envoy_base.Metadata(filter_metadata={"istio_authn": struct({"a": "b"})}),
        upstream_transport_failure_reason="TLS error",
        route_name="default",
        downstream_direct_remote_address=socket("192.168.0.1", 3000),
        filter_state_objects={"state": packed(wrappers_pb2.StringValue(value="kept"))},
        custom_tags={"team": "mesh"},
        duration=duration_pb2.Duration(seconds=2, nanos=5),
        upstream_request_attempt_count=3,
        connection_termination_details="closed by peer",
        stream_id="stream-1",
        intermediate_log_entry=True,
        downstream_transport_failure_reason="reset",
        downstream_wire_bytes_sent=11,
        downstream_wire_bytes_received=12,
        upstream_wire_bytes_sent=13,
        upstream_wire_bytes_received=14,
        access_log_type=envoy_log.DownstreamEnd,
    )


FULL_COMMON = AccessLogCommon(
    sample_rate=0.25,
    downstream_remote_address=SocketAddress(address="10.138.0.14", port=51489),
    downstream_local_address=SocketAddress(address="10.44.2.56", port=80),
    tls_properties=TlsProperties(tls_sni_hostname="sni.example"),
    start_time_ns=1555127993687224601,
    time_to_last_rx_byte_ns=31206,
    time_to_first_upstream_tx_byte_ns=869250,
    time_to_last_upstream_tx_byte_ns=881276,
    time_to_first_upstream_rx_byte_ns=1000010710,
    time_to_last_upstream_rx_byte_ns=1000423815,
    time_to_first_downstream_tx_byte_ns=1000053396,
    time_to_last_downstream_tx_byte_ns=1010432910,
    upstream_remote_address=SocketAddress(address="10.44.2.54", port=9080),
    upstream_local_address=SocketAddress(address="10.44.2.56", port=40000),
    upstream_cluster="outbound|9080||productpage.default.svc.cluster.local",
    response_flags=frozenset({ResponseFlag.NO_HEALTHY_UPSTREAM}),
    unauthorized_reason=None,
    metadata=Metadata(filter_metadata=FrozenMap({"istio_authn": FrozenMap({"a": "b"})})),
    upstream_transport_failure_reason="TLS error",
    route_name="default",
    downstream_direct_remote_address=SocketAddress(address="192.168.0.1", port=3000),
    filter_state_objects=FrozenMap(
        {
            "state": AnyValue(
                type_url="type.googleapis.com/google.protobuf.StringValue",
                value="kept",
                known=True,
            )
        }
    ),
    custom_tags=FrozenMap({"team": "mesh"}),
    duration_ns=2000000005,
    upstream_request_attempt_count=3,
    connection_termination_details="closed by peer",
    stream_id="stream-1",
    intermediate_log_entry=True,
    downstream_transport_failure_reason="reset",
    downstream_wire_bytes_sent=11,
    downstream_wire_bytes_received=12,
    upstream_wire_bytes_sent=13,
    upstream_wire_bytes_received=14,
    access_log_type=AccessLogType.DownstreamEnd,
)


def test_access_log_common_every_field() -> None:
    common = full_common()
    assert set_field_names(common) == field_names(common)
    assert convert_common(common) == FULL_COMMON


def test_access_log_common_all_absent() -> None:
    assert convert_common(envoy_log.AccessLogCommon()) == AccessLogCommon()


def test_identical_addresses_share_one_object() -> None:
    entry = envoy_log.HTTPAccessLogEntry(common_properties=full_common())
    message = convert(http_message(entry, entry))
    first, second = (e.common_properties for e in message.http_entries)
    assert first is not None
    assert second is not None
    assert first.upstream_remote_address is second.upstream_remote_address


# --- HTTP and TCP entries -------------------------------------------------------------------


def full_request() -> Any:
    return envoy_log.HTTPRequestProperties(
        request_method=envoy_base.POST,
        scheme="https",
        authority="reviews:9080",
        port=wrappers_pb2.UInt32Value(value=9080),
        path="/reviews/0?x=1",
        user_agent="curl/8.0",
        referer="https://example.com/",
        forwarded_for="10.0.0.1",
        request_id="0ac1feff-84ae-4d3a-8b15-890da2b194c5",
        original_path="/reviews/0",
        request_headers_bytes=1038,
        request_body_bytes=12,
        request_headers={"x-b3-traceid": "abc", "x-empty": ""},
        upstream_header_bytes_sent=900,
        downstream_header_bytes_received=1000,
    )


FULL_REQUEST = HttpRequest(
    request_method=RequestMethod.POST,
    scheme="https",
    authority="reviews:9080",
    port=9080,
    path="/reviews/0?x=1",
    user_agent="curl/8.0",
    referer="https://example.com/",
    forwarded_for="10.0.0.1",
    request_id="0ac1feff-84ae-4d3a-8b15-890da2b194c5",
    original_path="/reviews/0",
    request_headers_bytes=1038,
    request_body_bytes=12,
    request_headers=FrozenMap({"x-b3-traceid": "abc", "x-empty": ""}),
    upstream_header_bytes_sent=900,
    downstream_header_bytes_received=1000,
)


def full_response() -> Any:
    return envoy_log.HTTPResponseProperties(
        response_code=wrappers_pb2.UInt32Value(value=503),
        response_headers_bytes=147,
        response_body_bytes=4415,
        response_headers={"server": "envoy"},
        response_trailers={"grpc-status": "14"},
        response_code_details="upstream_reset_before_response_started{overflow}",
        upstream_header_bytes_received=140,
        downstream_header_bytes_sent=150,
    )


FULL_RESPONSE = HttpResponse(
    response_code=503,
    response_headers_bytes=147,
    response_body_bytes=4415,
    response_headers=FrozenMap({"server": "envoy"}),
    response_trailers=FrozenMap({"grpc-status": "14"}),
    response_code_details="upstream_reset_before_response_started{overflow}",
    upstream_header_bytes_received=140,
    downstream_header_bytes_sent=150,
)


def test_http_entry_every_field() -> None:
    entry = envoy_log.HTTPAccessLogEntry(
        common_properties=full_common(),
        protocol_version=envoy_log.HTTPAccessLogEntry.HTTP2,
        request=full_request(),
        response=full_response(),
    )
    for message in (entry, entry.request, entry.response):
        assert set_field_names(message) == field_names(message)
    converted = convert(http_message(entry))
    assert converted == AlsMessage(
        kind="http",
        entries=(
            HttpEntry(
                common_properties=FULL_COMMON,
                protocol_version=HttpVersion.HTTP2,
                request=FULL_REQUEST,
                response=FULL_RESPONSE,
            ),
        ),
    )
    assert (converted.source, converted.index, converted.diagnostics) == (SOURCE, 4, ())


def test_http_entry_all_absent() -> None:
    converted = convert(http_message(envoy_log.HTTPAccessLogEntry()))
    assert converted.http_entries == (HttpEntry(),)
    assert converted.tcp_entries == ()


# Wrappers have presence: a present zero is 0, an absent one None.
WRAPPER_CASES = [
    (envoy_log.HTTPResponseProperties(), None),
    (envoy_log.HTTPResponseProperties(response_code=wrappers_pb2.UInt32Value()), 0),
    (envoy_log.HTTPResponseProperties(response_code=wrappers_pb2.UInt32Value(value=200)), 200),
]


@pytest.mark.parametrize(("response", "code"), WRAPPER_CASES)
def test_response_code_presence(response: Any, code: int | None) -> None:
    entry = envoy_log.HTTPAccessLogEntry(response=response)
    converted = convert(http_message(entry)).http_entries[0].response
    assert converted == HttpResponse(response_code=code)


def test_tcp_entries_every_field() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.tcp_logs.log_entry.add(
        common_properties=full_common(),
        connection_properties=envoy_log.ConnectionProperties(received_bytes=100, sent_bytes=200),
    )
    message.tcp_logs.log_entry.add()
    entry = message.tcp_logs.log_entry[0]
    assert set_field_names(entry) == field_names(entry)
    assert set_field_names(entry.connection_properties) == field_names(entry.connection_properties)
    converted = convert(message)
    assert converted == AlsMessage(
        kind="tcp",
        entries=(
            TcpEntry(
                common_properties=FULL_COMMON,
                connection_properties=ConnectionProperties(received_bytes=100, sent_bytes=200),
            ),
            TcpEntry(),
        ),
    )
    assert converted.http_entries == ()


def test_message_without_entries() -> None:
    assert convert(envoy_als.StreamAccessLogsMessage()) == AlsMessage()


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_properties_every_field() -> None:
    certificate = envoy_log.TLSProperties.CertificateProperties
    san = certificate.SubjectAltName
    tls = envoy_log.TLSProperties(
        tls_version=envoy_log.TLSProperties.TLSv1_3,
        tls_cipher_suite=wrappers_pb2.UInt32Value(value=0x1301),
        tls_sni_hostname="reviews.default.svc.cluster.local",
        local_certificate_properties=certificate(
            subject_alt_name=[san(uri="spiffe://cluster.local/ns/default/sa/reviews"), san()],
            subject="CN=reviews",
            issuer="CN=istio-ca",
        ),
        peer_certificate_properties=certificate(subject_alt_name=[san(dns="example.com")]),
        tls_session_id="a1b2",
        ja3_fingerprint="771,4865-4866",
    )
    assert set_field_names(tls) == field_names(tls)
    local = tls.local_certificate_properties
    assert set_field_names(local) == field_names(local)
    common = convert_common(envoy_log.AccessLogCommon(tls_properties=tls))
    assert common.tls_properties == TlsProperties(
        tls_version=TlsVersion.TLSv1_3,
        tls_cipher_suite=0x1301,
        tls_sni_hostname="reviews.default.svc.cluster.local",
        local_certificate_properties=CertificateProperties(
            subject_alt_name=(
                SubjectAltName(uri="spiffe://cluster.local/ns/default/sa/reviews"),
                SubjectAltName(),
            ),
            subject="CN=reviews",
            issuer="CN=istio-ca",
        ),
        peer_certificate_properties=CertificateProperties(
            subject_alt_name=(SubjectAltName(dns="example.com"),)
        ),
        tls_session_id="a1b2",
        ja3_fingerprint="771,4865-4866",
    )


# --- enums -------------------------------------------------------------------------------------


def test_unknown_enum_numbers_are_kept_as_int() -> None:
    entry = envoy_log.HTTPAccessLogEntry(
        common_properties=envoy_log.AccessLogCommon(
            access_log_type=99,
            tls_properties=envoy_log.TLSProperties(tls_version=42),
            response_flags=envoy_log.ResponseFlags(
                unauthorized_details=envoy_log.ResponseFlags.Unauthorized(reason=7)
            ),
            upstream_remote_address=envoy_address.Address(
                socket_address=envoy_address.SocketAddress(protocol=5, port_value=1)
            ),
        ),
        protocol_version=17,
        request=envoy_log.HTTPRequestProperties(request_method=33),
    )
    converted = convert(http_message(entry))
    result = converted.http_entries[0]
    common = result.common_properties
    assert common is not None
    assert common.tls_properties is not None
    assert result.request is not None
    values = [
        result.protocol_version,
        result.request.request_method,
        common.access_log_type,
        common.tls_properties.tls_version,
        common.unauthorized_reason,
        common.upstream_remote_address,
    ]
    assert values == [17, 33, 99, 42, 7, SocketAddress(protocol=5, port=1)]
    assert not any(
        isinstance(value, (HttpVersion, RequestMethod, AccessLogType, TlsVersion))
        for value in values[:4]
    )
    assert common.response_flags == frozenset({ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE})
    assert converted.diagnostics == ()


# --- response flags ----------------------------------------------------------------------------

BOOL_FLAGS = [
    flag for flag in ResponseFlag if flag is not ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE
]


@pytest.mark.parametrize("flag", BOOL_FLAGS, ids=[flag.field_name for flag in BOOL_FLAGS])
def test_each_boolean_response_flag(flag: ResponseFlag) -> None:
    flags = envoy_log.ResponseFlags(**{flag.field_name: True})
    common = convert_common(envoy_log.AccessLogCommon(response_flags=flags))
    assert (common.response_flags, common.unauthorized_reason) == (frozenset({flag}), None)


def test_every_schema_flag_has_a_model_flag() -> None:
    schema = {field.name for field in pb_log.ResponseFlags.DESCRIPTOR.fields}
    assert schema == {flag.field_name for flag in ResponseFlag}


UNAUTHORIZED = envoy_log.ResponseFlags.Unauthorized
FLAG_CASES = [
    (envoy_log.ResponseFlags(), frozenset(), None),
    (
        envoy_log.ResponseFlags(unauthorized_details=UNAUTHORIZED()),
        frozenset({ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE}),
        UnauthorizedReason.REASON_UNSPECIFIED,
    ),
    (
        envoy_log.ResponseFlags(
            unauthorized_details=UNAUTHORIZED(reason=UNAUTHORIZED.EXTERNAL_SERVICE),
            local_reset=True,
            downstream_remote_reset=True,
        ),
        frozenset(
            {
                ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
                ResponseFlag.LOCAL_RESET,
                ResponseFlag.DOWNSTREAM_REMOTE_RESET,
            }
        ),
        UnauthorizedReason.EXTERNAL_SERVICE,
    ),
]


@pytest.mark.parametrize(("flags", "expected", "reason"), FLAG_CASES)
def test_response_flag_combinations(
    flags: Any, expected: frozenset[ResponseFlag], reason: UnauthorizedReason | None
) -> None:
    common = convert_common(envoy_log.AccessLogCommon(response_flags=flags))
    assert (common.response_flags, common.unauthorized_reason) == (expected, reason)


# --- addresses ---------------------------------------------------------------------------------

SOCKET = envoy_address.SocketAddress
ADDRESS_CASES = [
    (envoy_address.Address(), None),
    (socket("10.0.0.1", 0), SocketAddress(address="10.0.0.1", port=0)),
    (envoy_address.Address(socket_address=SOCKET(address="::1")), SocketAddress(address="::1")),
    (
        envoy_address.Address(
            socket_address=SOCKET(
                protocol=SOCKET.UDP,
                address="dns.example",
                named_port="http",
                resolver_name="envoy.resolvers.custom",
                ipv4_compat=True,
                network_namespace_filepath="/var/run/netns/ns1",
            )
        ),
        SocketAddress(
            address="dns.example",
            named_port="http",
            protocol=SocketProtocol.UDP,
            resolver_name="envoy.resolvers.custom",
            ipv4_compat=True,
            network_namespace_filepath="/var/run/netns/ns1",
        ),
    ),
    (
        envoy_address.Address(pipe=envoy_address.Pipe(path="/tmp/envoy.sock", mode=0o600)),
        PipeAddress(path="/tmp/envoy.sock", mode=0o600),
    ),
    (
        envoy_address.Address(
            envoy_internal_address=envoy_address.EnvoyInternalAddress(
                server_listener_name="waypoint", endpoint_id="10.0.0.5:80"
            )
        ),
        EnvoyInternalAddress(server_listener_name="waypoint", endpoint_id="10.0.0.5:80"),
    ),
    (
        envoy_address.Address(
            envoy_internal_address=envoy_address.EnvoyInternalAddress(endpoint_id="e")
        ),
        EnvoyInternalAddress(endpoint_id="e"),
    ),
]


@pytest.mark.parametrize(("address", "expected"), ADDRESS_CASES)
def test_address_variants(address: Any, expected: object) -> None:
    common = envoy_log.AccessLogCommon()
    common.upstream_local_address.CopyFrom(address)
    assert convert_common(common).upstream_local_address == expected


def test_socket_address_every_field_is_covered() -> None:
    covered = set().union(*(set_field_names(a.socket_address) for a, _ in ADDRESS_CASES))
    assert covered == field_names(SOCKET())


# --- identifier and node -----------------------------------------------------------------------


def full_node() -> Any:
    build_version = envoy_base.BuildVersion(
        version=envoy_semver.SemanticVersion(major_number=1, minor_number=36, patch=2),
        metadata=struct({"revision": "abc"}),
    )
    return envoy_base.Node(
        id="sidecar~10.44.2.55~reviews-v1.default~default.svc.cluster.local",
        cluster="reviews.default",
        metadata=struct({"ISTIO_VERSION": "1.24.0", "ports": [9080, 15090], "mesh": True}),
        dynamic_parameters={
            "xds": xds_context.ContextParams(params={"k": "v"}),
            "empty": xds_context.ContextParams(),
        },
        locality=envoy_base.Locality(region="us-east1", zone="us-east1-b", sub_zone="rack-1"),
        user_agent_name="envoy",
        user_agent_build_version=build_version,
        extensions=[
            envoy_base.Extension(
                name="envoy.access_loggers.http_grpc",
                category="envoy.access_loggers",
                type_descriptor="",
                version=build_version,
                disabled=True,
                type_urls=["type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.X"],
            ),
            envoy_base.Extension(name="bare"),
        ],
        client_features=["envoy.lb.does_not_support_overprovisioning", "xds.config"],
        listening_addresses=[socket("0.0.0.0", 15001), envoy_address.Address()],
    )


BUILD_VERSION = BuildVersion(
    version=SemanticVersion(major_number=1, minor_number=36, patch=2),
    metadata=FrozenMap({"revision": "abc"}),
)
FULL_NODE = Node(
    id="sidecar~10.44.2.55~reviews-v1.default~default.svc.cluster.local",
    cluster="reviews.default",
    metadata=FrozenMap({"ISTIO_VERSION": "1.24.0", "ports": (9080.0, 15090.0), "mesh": True}),
    dynamic_parameters=FrozenMap({"xds": FrozenMap({"k": "v"}), "empty": FrozenMap()}),
    locality=Locality(region="us-east1", zone="us-east1-b", sub_zone="rack-1"),
    build_version=None,
    user_agent_name="envoy",
    user_agent_version=None,
    user_agent_build_version=BUILD_VERSION,
    extensions=(
        Extension(
            name="envoy.access_loggers.http_grpc",
            category="envoy.access_loggers",
            type_descriptor="",
            version=BUILD_VERSION,
            disabled=True,
            type_urls=("type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.X",),
        ),
        Extension(name="bare"),
    ),
    client_features=("envoy.lb.does_not_support_overprovisioning", "xds.config"),
    listening_addresses=(SocketAddress(address="0.0.0.0", port=15001), None),
)


def test_identifier_and_node_every_field() -> None:
    node = full_node()
    # user_agent_version and user_agent_build_version share a oneof: see the next test.
    assert set_field_names(node) == field_names(node) - {"user_agent_version"}
    message = envoy_als.StreamAccessLogsMessage(
        identifier=envoy_als.StreamAccessLogsMessage.Identifier(node=node, log_name="als")
    )
    converted = convert(message)
    assert converted == AlsMessage(identifier=Identifier(node=FULL_NODE, log_name="als"))
    assert converted.identifier is not None
    assert converted.identifier.node is not None
    assert typed(converted.identifier.node.metadata) == typed(FULL_NODE.metadata)


def test_node_user_agent_version_string() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.node.user_agent_version = "1.36.2"
    identifier = convert(message).identifier
    assert identifier == Identifier(node=Node(user_agent_version="1.36.2"))


def test_identifier_without_node() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.log_name = "als"
    assert convert(message).identifier == Identifier(log_name="als")


def test_node_locality_present_but_empty_is_not_none() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.node.locality.SetInParent()
    identifier = convert(message).identifier
    assert identifier is not None
    assert identifier.node == Node(locality=Locality())


# --- Struct values ------------------------------------------------------------------------------

STRUCT_CASES: list[tuple[str, Any, JsonValue]] = [
    ("null", None, None),
    ("true", True, True),
    ("false", False, False),
    ("integer", 3, 3.0),
    ("float", 0.5, 0.5),
    ("string", "text", "text"),
    ("empty string", "", ""),
    ("list", [1, "a", None, [True]], (1.0, "a", None, (True,))),
    ("empty list", [], ()),
    ("struct", {"inner": {"x": 1}}, FrozenMap({"inner": FrozenMap({"x": 1.0})})),
    ("empty struct", {}, FrozenMap()),
]


@pytest.mark.parametrize(("name", "value", "expected"), STRUCT_CASES)
def test_struct_metadata_values(name: str, value: Any, expected: JsonValue) -> None:
    metadata = envoy_base.Metadata(filter_metadata={"filter": struct({name: value})})
    common = convert_common(envoy_log.AccessLogCommon(metadata=metadata))
    assert common.metadata == Metadata(
        filter_metadata=FrozenMap({"filter": FrozenMap({name: expected})})
    )
    assert common.metadata is not None
    assert typed(common.metadata.filter_metadata["filter"][name]) == typed(expected)


def test_struct_value_without_kind_is_none() -> None:
    metadata = envoy_base.Metadata()
    metadata.filter_metadata["filter"].fields["unset"].SetInParent()
    common = convert_common(envoy_log.AccessLogCommon(metadata=metadata))
    assert common.metadata == Metadata(
        filter_metadata=FrozenMap({"filter": FrozenMap({"unset": None})})
    )


def test_empty_metadata_message() -> None:
    common = convert_common(envoy_log.AccessLogCommon(metadata=envoy_base.Metadata()))
    assert common.metadata == Metadata()


# --- Any ---------------------------------------------------------------------------------------

TYPE_PREFIX = "type.googleapis.com/google.protobuf."
ANY_CASES: list[tuple[Message, object]] = [
    (struct({"a": 1, "b": [True]}), FrozenMap({"a": 1.0, "b": (True,)})),
    (struct_pb2.Value(string_value="v"), "v"),
    (struct_pb2.Value(null_value=struct_pb2.NULL_VALUE), None),
    (struct_pb2.ListValue(values=[struct_pb2.Value(number_value=2)]), (2.0,)),
    (wrappers_pb2.DoubleValue(value=0.5), 0.5),
    (wrappers_pb2.FloatValue(value=0.25), 0.25),
    (wrappers_pb2.Int64Value(value=-(2**40)), -(2**40)),
    (wrappers_pb2.UInt64Value(value=2**64 - 1), 2**64 - 1),
    (wrappers_pb2.Int32Value(value=-7), -7),
    (wrappers_pb2.UInt32Value(value=7), 7),
    (wrappers_pb2.BoolValue(value=True), True),
    (wrappers_pb2.StringValue(value="s"), "s"),
    (wrappers_pb2.BytesValue(value=b"\x00\xff"), b"\x00\xff"),
    (duration_pb2.Duration(seconds=-1, nanos=-5), -1_000_000_005),
    (timestamp_pb2.Timestamp(seconds=1, nanos=2), 1_000_000_002),
    (empty_pb2.Empty(), None),
]


@pytest.mark.parametrize(
    ("payload", "expected"), ANY_CASES, ids=[type(p).__name__ for p, _ in ANY_CASES]
)
def test_any_well_known_payloads(payload: Message, expected: object) -> None:
    common = envoy_log.AccessLogCommon(filter_state_objects={"k": packed(payload)})
    converted = convert_common(common).filter_state_objects["k"]
    type_url = TYPE_PREFIX + payload.DESCRIPTOR.name
    assert converted == AnyValue(type_url=type_url, value=expected, known=True)
    assert typed(converted.value) == typed(expected)


def test_any_of_unknown_type_keeps_its_bytes() -> None:
    payload = envoy_log.ConnectionProperties(received_bytes=5)
    metadata = envoy_base.Metadata(typed_filter_metadata={"envoy.filters.x": packed(payload)})
    common = convert_common(envoy_log.AccessLogCommon(metadata=metadata))
    assert common.metadata == Metadata(
        typed_filter_metadata=FrozenMap(
            {
                "envoy.filters.x": AnyValue(
                    type_url="type.googleapis.com/envoy.data.accesslog.v3.ConnectionProperties",
                    value=b"\x08\x05",
                    known=False,
                )
            }
        )
    )


def test_any_with_empty_type_url_is_opaque() -> None:
    common = envoy_log.AccessLogCommon(filter_state_objects={"k": any_pb2.Any(value=b"\x01")})
    converted = convert_common(common).filter_state_objects["k"]
    assert converted == AnyValue(type_url="", value=b"\x01", known=False)


BROKEN_STRUCT = any_pb2.Any(type_url=TYPE_PREFIX + "Struct", value=b"\xff\xff")


def test_any_with_broken_well_known_payload_is_kept_opaque_leniently() -> None:
    common = envoy_log.AccessLogCommon(filter_state_objects={"k": BROKEN_STRUCT})
    converted = convert(common_entry(common))
    entry = converted.http_entries[0].common_properties
    assert entry is not None
    assert entry.filter_state_objects["k"] == AnyValue(
        type_url=TYPE_PREFIX + "Struct", value=b"\xff\xff", known=False
    )
    field = 'http_logs.log_entry[0].common_properties.filter_state_objects["k"]'
    assert converted.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED,
            location=Location(source=SOURCE, message_index=4, entry_index=0, field=field),
            reason="payload is not a valid google.protobuf.Struct; kept opaque",
        ),
    )


def test_any_with_broken_well_known_payload_raises_when_strict() -> None:
    metadata = envoy_base.Metadata(typed_filter_metadata={"f": BROKEN_STRUCT})
    with pytest.raises(DecodeError) as caught:
        convert(common_entry(envoy_log.AccessLogCommon(metadata=metadata)), strict=True)
    assert caught.value.location == Location(
        source=SOURCE,
        message_index=4,
        entry_index=0,
        field='http_logs.log_entry[0].common_properties.metadata.typed_filter_metadata["f"]',
    )


def test_any_timestamp_payload_out_of_range_is_reported() -> None:
    payload = packed(timestamp_pb2.Timestamp(seconds=-62_135_596_801))
    common = envoy_log.AccessLogCommon(filter_state_objects={"t": payload})
    converted = convert(common_entry(common))
    assert [d.location.field for d in converted.diagnostics] == [
        'http_logs.log_entry[0].common_properties.filter_state_objects["t"]'
    ]


def test_any_payload_decoded_once_is_shared() -> None:
    common = envoy_log.AccessLogCommon(filter_state_objects={"k": packed(struct({"a": "b"}))})
    first = convert_common(common).filter_state_objects["k"]
    assert convert_common(common).filter_state_objects["k"] is first


def test_any_payload_with_a_report_is_reported_every_time() -> None:
    payload = packed(timestamp_pb2.Timestamp(seconds=-62_135_596_801))
    message = common_entry(envoy_log.AccessLogCommon(filter_state_objects={"t": payload}))
    assert [len(convert(message).diagnostics) for _ in range(2)] == [1, 1]


def test_any_payload_is_decoded_again_under_another_nesting_limit() -> None:
    payload = packed(struct({"a": {"b": {"c": 1}}}))
    message = common_entry(envoy_log.AccessLogCommon(filter_state_objects={"k": payload}))
    parsed = pb_als.StreamAccessLogsMessage.FromString(message.SerializeToString())
    for limits, kept in [(Limits(), 1), (Limits(max_nesting_depth=2), 0), (Limits(), 1)]:
        context = Context(source=SOURCE, message_index=0, strict=False, limits=limits)
        assert len(message_from_pb(parsed, context).entries) == kept


def test_any_payload_too_deep_skips_the_entry_naming_the_limit() -> None:
    payload = packed(struct({"a": {"b": {"c": 1}}}))
    message = common_entry(envoy_log.AccessLogCommon(filter_state_objects={"k": payload}))
    parsed = pb_als.StreamAccessLogsMessage.FromString(message.SerializeToString())
    context = Context(
        source=SOURCE, message_index=4, strict=False, limits=Limits(max_nesting_depth=2)
    )
    converted = message_from_pb(parsed, context)
    assert (converted.entries, [d.reason for d in converted.diagnostics]) == (
        (),
        ["nested too deeply: more than 2 levels of objects and arrays; entry skipped"],
    )


def test_any_payload_reported_past_the_diagnostics_limit_is_reported_every_time() -> None:
    # The second report is only counted, not listed: the payload is still not kept, so the
    # third entry reports it too.
    payload = packed(timestamp_pb2.Timestamp(seconds=-62_135_596_801))
    common = envoy_log.AccessLogCommon(filter_state_objects={"t": payload})
    entry = envoy_log.HTTPAccessLogEntry(common_properties=common)
    parsed = pb_als.StreamAccessLogsMessage.FromString(
        http_message(entry, entry, entry).SerializeToString()
    )
    context = Context(
        source=SOURCE, message_index=4, strict=False, limits=Limits(max_diagnostics=1)
    )
    converted = message_from_pb(parsed, context)
    assert [(d.location.entry_index, d.reason) for d in converted.diagnostics] == [
        (
            0,
            "timestamp out of range (seconds=-62135596801, nanos=0); "
            "valid is 0001-01-01..9999-12-31 with nanos in [0, 1e9)",
        ),
        (None, "2 more problems not listed (max_diagnostics is 1)"),
    ]


# --- timestamps and durations --------------------------------------------------------------

TIMESTAMP_CASES = [
    (0, 0, True),
    (-62_135_596_800, 0, True),  # 0001-01-01T00:00:00Z
    (253_402_300_799, 999_999_999, True),  # 9999-12-31T23:59:59.999999999Z
    (-1, 999_999_999, True),  # nanos count forward even before the epoch
    (-62_135_596_801, 0, False),
    (253_402_300_800, 0, False),
    (0, -1, False),
    (0, 1_000_000_000, False),
]


@pytest.mark.parametrize(("seconds", "nanos", "valid"), TIMESTAMP_CASES)
def test_start_time_range(seconds: int, nanos: int, valid: bool) -> None:
    timestamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    message = http_message(
        envoy_log.HTTPAccessLogEntry(),
        envoy_log.HTTPAccessLogEntry(
            common_properties=envoy_log.AccessLogCommon(start_time=timestamp)
        ),
    )
    converted = convert(message)
    common = converted.http_entries[1].common_properties
    assert common is not None
    assert common.start_time_ns == seconds * 1_000_000_000 + nanos
    location = Location(
        source=SOURCE,
        message_index=4,
        entry_index=1,
        field="http_logs.log_entry[1].common_properties.start_time",
    )
    assert [d.location for d in converted.diagnostics] == ([] if valid else [location])
    if valid:
        assert convert(message, strict=True) == converted
    else:
        assert converted.diagnostics[0].kind is DiagnosticKind.VALUE_IGNORED  # kept as read
        assert converted.diagnostics[0].reason == (
            f"timestamp out of range (seconds={seconds}, nanos={nanos}); "
            "valid is 0001-01-01..9999-12-31 with nanos in [0, 1e9)"
        )
        with pytest.raises(DecodeError) as caught:
            convert(message, strict=True)
        assert caught.value.location == location


DURATION_CASES = [
    (0, 0, True),
    (0, -5, True),
    (-1, -5, True),
    (1, 0, True),
    (315_576_000_000, 999_999_999, True),
    (-315_576_000_000, -999_999_999, True),
    (315_576_000_001, 0, False),
    (-315_576_000_001, 0, False),
    (0, 1_000_000_000, False),
    (0, -1_000_000_000, False),
    (1, -1, False),
    (-1, 1, False),
]
DURATION_FIELDS = [
    "time_to_last_rx_byte",
    "time_to_first_upstream_tx_byte",
    "time_to_last_upstream_tx_byte",
    "time_to_first_upstream_rx_byte",
    "time_to_last_upstream_rx_byte",
    "time_to_first_downstream_tx_byte",
    "time_to_last_downstream_tx_byte",
    "duration",
]


@pytest.mark.parametrize(("seconds", "nanos", "valid"), DURATION_CASES)
@pytest.mark.parametrize("name", DURATION_FIELDS)
def test_duration_range(name: str, seconds: int, nanos: int, valid: bool) -> None:
    common = envoy_log.AccessLogCommon()
    getattr(common, name).CopyFrom(duration_pb2.Duration(seconds=seconds, nanos=nanos))
    message = common_entry(common)
    converted = convert(message)
    result = converted.http_entries[0].common_properties
    assert getattr(result, name + "_ns") == seconds * 1_000_000_000 + nanos
    field = f"http_logs.log_entry[0].common_properties.{name}"
    assert [(d.location.field, d.kind) for d in converted.diagnostics] == (
        [] if valid else [(field, DiagnosticKind.VALUE_IGNORED)]
    )
    if not valid:
        with pytest.raises(DecodeError) as caught:
            convert(message, strict=True)
        assert (caught.value.field, caught.value.entry_index) == (field, 0)
        assert caught.value.reason.startswith(
            f"duration out of range (seconds={seconds}, nanos={nanos})"
        )


def test_problems_in_several_entries_are_all_reported() -> None:
    bad = envoy_log.AccessLogCommon(
        start_time=timestamp_pb2.Timestamp(nanos=-1),
        duration=duration_pb2.Duration(seconds=1, nanos=-1),
    )
    entry = envoy_log.HTTPAccessLogEntry(common_properties=bad)
    message = envoy_als.StreamAccessLogsMessage()
    message.tcp_logs.log_entry.add(common_properties=bad)
    message.tcp_logs.log_entry.add(common_properties=bad)
    converted = convert(message, index=None)
    assert [(d.location.entry_index, d.location.field) for d in converted.diagnostics] == [
        (0, "tcp_logs.log_entry[0].common_properties.start_time"),
        (0, "tcp_logs.log_entry[0].common_properties.duration"),
        (1, "tcp_logs.log_entry[1].common_properties.start_time"),
        (1, "tcp_logs.log_entry[1].common_properties.duration"),
    ]
    assert {d.location.message_index for d in converted.diagnostics} == {None}
    assert convert(http_message(entry)).diagnostics[0].location.field == (
        "http_logs.log_entry[0].common_properties.start_time"
    )


@pytest.mark.parametrize("strict", [False, True])
def test_context_report_outside_entries(strict: bool) -> None:
    context = Context(source="s", message_index=None, strict=strict)
    location = Location(source="s", field="identifier.node")
    if strict:
        with pytest.raises(DecodeError) as caught:
            context.report("identifier.node", "odd", kind=DiagnosticKind.VALUE_IGNORED)
        assert (caught.value.location, caught.value.reason) == (location, "odd")
    else:
        context.report("identifier.node", "odd", kind=DiagnosticKind.NOTE)
        assert context.diagnostics == [
            Diagnostic(kind=DiagnosticKind.NOTE, location=location, reason="odd")
        ]


def test_entries_of_a_salvaged_message_keep_their_original_numbers() -> None:
    # The salvage of a broken message (see _binary) drops entries and says where the kept
    # ones stood: problems name those places.
    bad = envoy_log.AccessLogCommon(start_time=timestamp_pb2.Timestamp(nanos=-1))
    message = envoy_als.StreamAccessLogsMessage()
    message.tcp_logs.log_entry.add()
    message.tcp_logs.log_entry.add(common_properties=bad)
    parsed = pb_als.StreamAccessLogsMessage.FromString(message.SerializeToString())
    context = Context(source=SOURCE, message_index=4, strict=False, entry_numbers=[0, 3])
    converted = message_from_pb(parsed, context)
    assert len(converted.entries) == 2
    assert [(d.location.entry_index, d.location.field) for d in converted.diagnostics] == [
        (3, "tcp_logs.log_entry[3].common_properties.start_time")
    ]


def test_a_limit_broken_in_the_identifier_names_the_message() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.node.id = "n" * 9
    parsed = pb_als.StreamAccessLogsMessage.FromString(message.SerializeToString())
    context = Context(
        source=SOURCE,
        message_index=4,
        strict=False,
        limits=Limits(max_string_length=8),
        check_strings=True,
    )
    with pytest.raises(DecodeError) as caught:
        message_from_pb(parsed, context)
    assert caught.value.location == Location(
        source=SOURCE, message_index=4, field="identifier.node.id"
    )
    assert caught.value.reason == "a value of 9 characters is longer than the maximum of 8"


def _too_big(pb: object, context: Context) -> TcpEntry:
    raise LimitExceeded("too big")


def test_an_entry_limit_without_a_field_names_the_entry() -> None:
    context = Context(source=SOURCE, message_index=4, strict=False)
    assert _entries_from_pb([object()], context, "tcp_logs", _too_big) == ()
    location = Location(
        source=SOURCE, message_index=4, entry_index=0, field="tcp_logs.log_entry[0]"
    )
    assert context.diagnostics == [
        Diagnostic(
            kind=DiagnosticKind.ENTRY_SKIPPED, location=location, reason="too big; entry skipped"
        )
    ]
    # Past the entries, fields are the message's again.
    assert context.entry_index is None
