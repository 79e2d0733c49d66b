"""decode_binary and decode_message: fixtures, v2 and v3 objects, unknown fields, every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import attrs
import google.protobuf.message
import pytest
from envoy.data.accesslog.v3 import accesslog_pb2 as envoy_log
from envoy.service.accesslog.v2 import als_pb2 as envoy_als_v2
from envoy.service.accesslog.v3 import als_pb2 as envoy_als
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
)

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
    decode_binary,
    decode_message,
)
from meshals._pb import als_pb2 as pb_als
from meshals.codec import Limits
from meshals.model import (
    Address,
    FrozenMap,
    HttpVersion,
    JsonValue,
    Locality,
    RequestMethod,
    SocketAddress,
)

SKYWALKING = Path(__file__).parents[1] / "fixtures" / "skywalking"
SEED = Path(__file__).parents[1] / "fixtures" / "seed"
SKYWALKING_ALS = [
    "envoy-ingress.msg",
    "envoy-ingress2sidecar.msg",
    "envoy-mesh-client-sidecar.msg",
    "envoy-mesh-server-sidecar.msg",
]
# This one closes one brace more than it opens.
EXTRA_CLOSING_BRACE = {"envoy-mesh-client-sidecar.msg"}


def load_fixture(path: Path, message: Any) -> Any:
    """Parse a SkyWalking ``.msg`` file (JSON behind ``#`` license and ``//`` comment lines)."""
    lines = path.read_text().splitlines()
    text = "\n".join(
        line for line in lines if not line.startswith("#") and not line.lstrip().startswith("//")
    ).strip()
    if path.name in EXTRA_CLOSING_BRACE:
        text = text.removesuffix("}")
    return json_format.Parse(text, message)


def fixture_bytes(name: str) -> bytes:
    message = load_fixture(SKYWALKING / name, envoy_als.StreamAccessLogsMessage())
    data: bytes = message.SerializeToString()
    return data


def varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


UNKNOWN_PAYLOADS = {0: varint(5), 1: bytes(8), 2: varint(3) + b"abc", 5: bytes(4)}


def unknown_field(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type) + UNKNOWN_PAYLOADS[wire_type]


# --- the SkyWalking fixtures ---------------------------------------------------------------

USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.1 Safari/605.1.15"
)
REQUEST_ID = "0ac1feff-84ae-4d3a-8b15-890da2b194c5"
INGRESS_NODE_ID = (
    "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system"
    "~istio-system.svc.cluster.local"
)
INGRESS_METADATA = {
    "CONFIG_NAMESPACE": "istio-system",
    "ISTIO_META_INSTANCE_IPS": "10.44.2.56,10.44.2.56,fe80::9ca5:e5ff:fede:6414",
    "ISTIO_PROXY_SHA": "istio-proxy:55c80965eab994e6bfa2227e3942fa89928d0d70",
    "ISTIO_PROXY_VERSION": "1.1.0",
    "ISTIO_VERSION": "1.0-dev",
    "POD_NAME": "istio-ingressgateway-699c7dc774-hjxq5",
    "ROUTER_MODE": "sni-dnat",
    "istio": "sidecar",
}
INGRESS_NODE = Node(
    id=INGRESS_NODE_ID,
    cluster="istio-ingressgateway",
    metadata=FrozenMap(INGRESS_METADATA),
    locality=Locality(),
)
INGRESS = AlsMessage(
    identifier=Identifier(node=INGRESS_NODE, log_name="als"),
    kind="http",
    entries=(
        HttpEntry(
            common_properties=AccessLogCommon(
                downstream_remote_address=SocketAddress(address="10.138.0.14", port=51489),
                downstream_local_address=SocketAddress(address="10.44.2.56", port=80),
                start_time_ns=1555127993687224601,
                time_to_last_rx_byte_ns=31206,
                time_to_first_upstream_tx_byte_ns=869250,
                time_to_last_upstream_tx_byte_ns=881276,
                time_to_first_upstream_rx_byte_ns=1010010710,
                time_to_last_upstream_rx_byte_ns=1010423815,
                time_to_first_downstream_tx_byte_ns=1010053396,
                time_to_last_downstream_tx_byte_ns=1010432910,
                upstream_remote_address=SocketAddress(address="10.44.2.54", port=9080),
                upstream_cluster="outbound|9080||productpage.default.svc.cluster.local",
            ),
            protocol_version=HttpVersion.HTTP11,
            request=HttpRequest(
                request_method=RequestMethod.GET,
                scheme="http",
                authority="35.227.162.132",
                path="/productpage",
                user_agent=USER_AGENT,
                forwarded_for="10.138.0.14",
                request_id=REQUEST_ID,
                request_headers_bytes=1038,
            ),
            response=HttpResponse(
                response_code=200, response_headers_bytes=147, response_body_bytes=4415
            ),
        ),
    ),
)


def test_envoy_ingress_fixture_exactly() -> None:
    decoded = decode_binary(fixture_bytes("envoy-ingress.msg"), source="envoy-ingress.msg")
    assert decoded == INGRESS
    assert (decoded.source, decoded.index, decoded.diagnostics) == ("envoy-ingress.msg", None, ())


class Facts(NamedTuple):
    """What each SkyWalking fixture says, as meshals should decode it."""

    node_id: str
    downstream_remote: Address | None
    downstream_local: Address | None
    upstream_remote: Address | None
    cluster: str
    authority: str
    path: str
    start_time_ns: int | None
    time_to_last_downstream_tx_byte_ns: int | None
    filter_metadata: FrozenMap[str, FrozenMap[str, JsonValue]] | None
    request_headers_bytes: int
    response_headers_bytes: int


FIXTURE_FACTS = {
    "envoy-ingress.msg": Facts(
        node_id=INGRESS_NODE_ID,
        downstream_remote=SocketAddress(address="10.138.0.14", port=51489),
        downstream_local=SocketAddress(address="10.44.2.56", port=80),
        upstream_remote=SocketAddress(address="10.44.2.54", port=9080),
        cluster="outbound|9080||productpage.default.svc.cluster.local",
        authority="35.227.162.132",
        path="/productpage",
        start_time_ns=1555127993687224601,
        time_to_last_downstream_tx_byte_ns=1010432910,
        filter_metadata=None,
        request_headers_bytes=1038,
        response_headers_bytes=147,
    ),
    "envoy-ingress2sidecar.msg": Facts(
        node_id="sidecar~10.44.2.54~product-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local",
        # "portValue": 0 is sent explicitly: the oneof member is set, so the port is 0.
        downstream_remote=SocketAddress(address="10.138.0.14", port=0),
        downstream_local=SocketAddress(address="10.44.2.54", port=9080),
        upstream_remote=SocketAddress(address="127.0.0.1", port=9080),
        cluster="inbound|9080|http|productpage.default.svc.cluster.local",
        authority="35.227.162.132",
        path="/productpage",
        start_time_ns=1555127993688609181,
        time_to_last_downstream_tx_byte_ns=1008378251,
        filter_metadata=FrozenMap({"istio_authn": FrozenMap()}),
        request_headers_bytes=579,
        response_headers_bytes=147,
    ),
    "envoy-mesh-client-sidecar.msg": Facts(
        node_id=(
            "sidecar~10.44.2.55~productpage-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
        ),
        downstream_remote=SocketAddress(address="10.44.2.54", port=58996),
        downstream_local=SocketAddress(address="10.47.247.180", port=9080),
        upstream_remote=SocketAddress(address="10.44.6.66", port=9080),
        cluster="outbound|9080||details.default.svc.cluster.local",
        authority="details:9080",
        path="/details/0",
        start_time_ns=1555127993695750999,
        time_to_last_downstream_tx_byte_ns=10745496,
        filter_metadata=None,
        request_headers_bytes=869,
        response_headers_bytes=129,
    ),
    "envoy-mesh-server-sidecar.msg": Facts(
        node_id="sidecar~10.44.2.55~reviews-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local",
        downstream_remote=SocketAddress(address="10.44.2.54", port=58356),
        downstream_local=SocketAddress(address="10.44.2.55", port=9080),
        upstream_remote=SocketAddress(address="127.0.0.1", port=9080),
        cluster="inbound|9080|http|reviews.default.svc.cluster.local",
        authority="reviews:9080",
        path="/reviews/0",
        start_time_ns=1555127993712690678,
        time_to_last_downstream_tx_byte_ns=977811534,
        filter_metadata=FrozenMap({"istio_authn": FrozenMap()}),
        request_headers_bytes=423,
        response_headers_bytes=181,
    ),
}


@pytest.mark.parametrize(("name", "facts"), FIXTURE_FACTS.items())
def test_skywalking_fixtures(name: str, facts: Facts) -> None:
    decoded = decode_binary(fixture_bytes(name), source=name, index=0)
    assert decoded.identifier is not None
    assert decoded.identifier.node is not None
    assert (decoded.identifier.node.id, decoded.identifier.log_name) == (facts.node_id, "als")
    assert decoded.kind == "http"
    assert len(decoded.http_entries) == 1
    entry = decoded.http_entries[0]
    common, request, response = entry.common_properties, entry.request, entry.response
    assert common is not None
    assert request is not None
    assert response is not None
    metadata = None if common.metadata is None else common.metadata.filter_metadata
    actual = Facts(
        node_id=decoded.identifier.node.id,
        downstream_remote=common.downstream_remote_address,
        downstream_local=common.downstream_local_address,
        upstream_remote=common.upstream_remote_address,
        cluster=common.upstream_cluster,
        authority=request.authority,
        path=request.path,
        start_time_ns=common.start_time_ns,
        time_to_last_downstream_tx_byte_ns=common.time_to_last_downstream_tx_byte_ns,
        filter_metadata=metadata,
        request_headers_bytes=request.request_headers_bytes,
        response_headers_bytes=response.response_headers_bytes,
    )
    assert actual == facts
    assert (entry.protocol_version, request.request_method, request.request_id) == (
        HttpVersion.HTTP11,
        RequestMethod.GET,
        REQUEST_ID,
    )
    assert response.response_code == 200
    assert (decoded.source, decoded.index, decoded.diagnostics) == (name, 0, ())


@pytest.mark.parametrize("name", SKYWALKING_ALS)
def test_fixture_objects_decode_like_their_bytes(name: str) -> None:
    message = load_fixture(SKYWALKING / name, envoy_als.StreamAccessLogsMessage())
    assert decode_message(message) == decode_binary(message.SerializeToString())


# --- v2 and Node.build_version -------------------------------------------------------------

BUILD_VERSION = "55c80965eab994e6bfa2227e3942fa89928d0d70/1.10.0-dev/Clean/RELEASE/BoringSSL"


def test_v2_seed_fixture_keeps_build_version() -> None:
    message = load_fixture(SEED / "envoy-ingress.msg", envoy_als_v2.StreamAccessLogsMessage())
    decoded = decode_message(message, source="seed", index=1)
    assert INGRESS.identifier is not None
    assert decoded == attrs.evolve(
        INGRESS,
        identifier=Identifier(
            node=attrs.evolve(INGRESS_NODE, build_version=BUILD_VERSION),
            log_name="als",
        ),
    )
    assert decoded.diagnostics == ()
    assert decode_binary(message.SerializeToString()) == decoded


def test_v2_build_version_only() -> None:
    message = envoy_als_v2.StreamAccessLogsMessage()
    message.identifier.node.build_version = "abc/1.12.0/Clean/RELEASE/BoringSSL"
    decoded = decode_message(message)
    assert decoded == AlsMessage(
        identifier=Identifier(node=Node(build_version="abc/1.12.0/Clean/RELEASE/BoringSSL"))
    )


def test_v2_and_v3_objects_with_the_same_content_decode_alike() -> None:
    v3 = load_fixture(SKYWALKING / "envoy-ingress.msg", envoy_als.StreamAccessLogsMessage())
    v2 = load_fixture(SKYWALKING / "envoy-ingress.msg", envoy_als_v2.StreamAccessLogsMessage())
    assert decode_message(v2) == decode_message(v3) == INGRESS


def test_meshals_own_class_is_accepted() -> None:
    message = pb_als.StreamAccessLogsMessage.FromString(fixture_bytes("envoy-ingress.msg"))
    decoded = decode_message(message, source="own", index=7)
    assert decoded == INGRESS
    assert (decoded.source, decoded.index) == ("own", 7)


# --- input types -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_inputs(kind: type[Any]) -> None:
    assert decode_binary(kind(fixture_bytes("envoy-ingress.msg"))) == INGRESS


def test_memoryview_of_wider_items() -> None:
    data = memoryview(b"\x12\x00").cast("H")
    assert decode_binary(data, strict=True) == AlsMessage(kind="http")


def test_the_size_limit_counts_bytes_not_items() -> None:
    # One item of two bytes is two bytes long, over a limit of one.
    data = memoryview(b"\x12\x00").cast("H")
    with pytest.raises(DecodeError) as caught:
        decode_binary(data, limits=Limits(max_message_size=1))
    assert caught.value.reason == "the message is 2 bytes long, more than the maximum of 1"


def test_empty_input_is_an_empty_message() -> None:
    decoded = decode_binary(b"")
    assert decoded == AlsMessage()
    assert (decoded.kind, decoded.source, decoded.diagnostics) == (None, "<bytes>", ())


def test_default_source_of_decode_message() -> None:
    assert decode_message(envoy_als.StreamAccessLogsMessage()).source == "<message>"


# --- errors ---------------------------------------------------------------------------------

CORRUPT = "not a StreamAccessLogsMessage: "
INGRESS_BYTES = fixture_bytes("envoy-ingress.msg")
# Input that holds nothing whole: it raises in both modes, saying where it breaks.
BAD_BYTES = [
    pytest.param(
        b"\xff\xff\xff\xff",
        "the data ends inside a field tag at byte offset 0",
        None,
        id="overlong-varint",
    ),
    pytest.param(b"garbage!", "invalid wire type 7 (field 12) at byte offset 0", None, id="text"),
    pytest.param(
        b"\x12\x05\x0a",
        "the data ends inside the length of field 1 at byte offset 3",
        "http_logs",
        id="length-past-end",
    ),
    pytest.param(
        b"\x0a\x04\x12\x02\xc3\x28",
        "a string is not UTF-8 at byte offset 4",
        "identifier.log_name",
        id="invalid-utf8-string",
    ),
]


@pytest.mark.parametrize(("data", "reason", "field"), BAD_BYTES)
@pytest.mark.parametrize("strict", [False, True])
def test_corrupt_bytes(data: bytes, reason: str, field: str | None, strict: bool) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_binary(data, source="capture.bin", index=3, strict=strict)
    error = caught.value
    assert (error.reason, error.location) == (
        CORRUPT + reason,
        Location(source="capture.bin", message_index=3, field=field),
    )
    assert isinstance(error.__cause__, google.protobuf.message.DecodeError)


def test_a_message_cut_in_its_last_entry_keeps_the_identifier_when_lenient() -> None:
    decoded = decode_binary(INGRESS_BYTES[:-1], source="capture.bin", index=3)
    assert decoded.identifier is not None
    assert decoded.identifier.node is not None
    assert decoded.identifier.node.id.startswith("router~10.44.2.56~")
    assert decoded.entries == ()
    [diagnostic] = decoded.diagnostics
    assert diagnostic.location.entry_index == 0
    assert diagnostic.reason.startswith("entry skipped: ")
    with pytest.raises(DecodeError) as caught:
        decode_binary(INGRESS_BYTES[:-1], source="capture.bin", index=3, strict=True)
    assert caught.value.entry_index == 0


@pytest.mark.parametrize("strict", [False, True])
def test_a_message_cut_in_its_identifier_raises(strict: bool) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_binary(INGRESS_BYTES[: len(INGRESS_BYTES) // 2], strict=strict)
    assert (caught.value.field or "").startswith("identifier.")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("text", "str"), (None, "NoneType"), (42, "int"), ([1, 2], "list")],
)
def test_decode_binary_rejects_non_bytes(value: Any, type_name: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_binary(value, source="x", index=0)
    assert caught.value.reason == f"expected bytes, bytearray or memoryview, got {type_name}"
    assert caught.value.location == Location(source="x", message_index=0)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(b"\x0a\x00", "bytes"), ({"identifier": {}}, "dict"), (None, "NoneType")],
)
def test_decode_message_rejects_non_protobuf_objects(value: Any, type_name: str) -> None:
    with pytest.raises(ValueError, match="expected a protobuf") as caught:
        decode_message(value, index=2)
    assert isinstance(caught.value, DecodeError)
    assert caught.value.reason == f"expected a protobuf StreamAccessLogsMessage, got {type_name}"
    assert caught.value.location == Location(source="<message>", message_index=2)


@pytest.mark.parametrize(
    "message",
    [
        envoy_log.HTTPAccessLogEntry(),
        envoy_als.StreamAccessLogsMessage.Identifier(),
        envoy_als.StreamAccessLogsResponse(),
        struct_pb2.Struct(),
        pb_als.StreamAccessLogsMessage.Identifier(),
    ],
    ids=lambda message: type(message).__name__,
)
def test_decode_message_rejects_other_message_types(message: Any) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(message, source="obj", index=4)
    name = message.DESCRIPTOR.full_name
    assert caught.value.reason == f"expected a StreamAccessLogsMessage, got {name}"
    assert caught.value.location == Location(source="obj", message_index=4)


def test_bad_timestamp_end_to_end() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.http_logs.log_entry.add()
    message.http_logs.log_entry.add().common_properties.start_time.CopyFrom(
        timestamp_pb2.Timestamp(seconds=253_402_300_800)
    )
    data = message.SerializeToString()
    lenient = decode_binary(data, source="cap", index=5)
    location = Location(
        source="cap",
        message_index=5,
        entry_index=1,
        field="http_logs.log_entry[1].common_properties.start_time",
    )
    assert [d.location for d in lenient.diagnostics] == [location]
    common = lenient.http_entries[1].common_properties
    assert common is not None
    assert common.start_time_ns == 253_402_300_800_000_000_000
    with pytest.raises(DecodeError) as caught:
        decode_binary(data, source="cap", index=5, strict=True)
    assert caught.value.location == location
    with pytest.raises(DecodeError) as caught:
        decode_message(message, source="cap", index=5, strict=True)
    assert caught.value.location == location


# --- unknown fields ---------------------------------------------------------------------------


def message_with_unknown_fields() -> Any:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.node.id = "n"
    message.identifier.node.MergeFromString(unknown_field(99, 0))
    for _ in range(4):
        message.http_logs.log_entry.add().request.path = "/"
    message.http_logs.MergeFromString(unknown_field(7, 2))
    entries = message.http_logs.log_entry
    entries[0].MergeFromString(unknown_field(1000, 1))
    entries[0].common_properties.custom_tags["tag"] = "value"  # a map without message values
    entries[1].common_properties.metadata.filter_metadata["f"].MergeFromString(unknown_field(3, 0))
    address = entries[2].common_properties.downstream_remote_address.socket_address
    address.address = "10.0.0.1"
    address.MergeFromString(unknown_field(50, 5))
    entries[3].request.MergeFromString(unknown_field(99, 0) + unknown_field(100, 2))
    message.MergeFromString(unknown_field(100, 0))
    return message


def unknown(field: str | None, entry: int | None, reason: str) -> Diagnostic:
    location = Location(source="cap", message_index=1, entry_index=entry, field=field)
    return Diagnostic(kind=DiagnosticKind.VALUE_IGNORED, location=location, reason=reason)


UNKNOWN_DIAGNOSTICS = (
    unknown(None, None, "unknown field number 100 (varint) ignored"),
    unknown("identifier.node", None, "unknown field number 99 (varint) ignored"),
    unknown("http_logs", None, "unknown field number 7 (length-delimited) ignored"),
    unknown("http_logs.log_entry[0]", 0, "unknown field number 1000 (64-bit) ignored"),
    unknown(
        'http_logs.log_entry[1].common_properties.metadata.filter_metadata["f"]',
        1,
        "unknown field number 3 (varint) ignored",
    ),
    unknown(
        "http_logs.log_entry[2].common_properties.downstream_remote_address.socket_address",
        2,
        "unknown field number 50 (32-bit) ignored",
    ),
    unknown("http_logs.log_entry[3].request", 3, "unknown field number 99 (varint) ignored"),
    unknown(
        "http_logs.log_entry[3].request", 3, "unknown field number 100 (length-delimited) ignored"
    ),
)


def test_unknown_fields_lenient() -> None:
    message = message_with_unknown_fields()
    decoded = decode_binary(message.SerializeToString(), source="cap", index=1)
    assert decoded.diagnostics == UNKNOWN_DIAGNOSTICS
    assert decoded.identifier == Identifier(node=Node(id="n"))
    assert [entry.request for entry in decoded.http_entries] == [HttpRequest(path="/")] * 4
    common = decoded.http_entries[0].common_properties
    assert common is not None
    assert common.custom_tags == {"tag": "value"}
    common = decoded.http_entries[2].common_properties
    assert common is not None
    assert common.downstream_remote_address == SocketAddress(address="10.0.0.1")


def test_unknown_fields_strict_raise_at_the_first() -> None:
    message = message_with_unknown_fields()
    with pytest.raises(DecodeError) as caught:
        decode_binary(message.SerializeToString(), source="cap", index=1, strict=True)
    first = UNKNOWN_DIAGNOSTICS[0]
    assert (caught.value.location, caught.value.reason) == (first.location, first.reason)


def test_unknown_field_in_an_entry_strict() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    for _ in range(4):
        message.http_logs.log_entry.add()
    message.http_logs.log_entry[3].request.MergeFromString(unknown_field(99, 0))
    with pytest.raises(DecodeError) as caught:
        decode_message(message, source="cap", index=1, strict=True)
    assert caught.value.location == Location(
        source="cap", message_index=1, entry_index=3, field="http_logs.log_entry[3].request"
    )
    assert str(caught.value) == (
        "cap, message 1, entry 3, field http_logs.log_entry[3].request: "
        "unknown field number 99 (varint) ignored"
    )


def test_unknown_fields_in_tcp_entries() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.tcp_logs.log_entry.add()
    message.tcp_logs.log_entry.add().connection_properties.MergeFromString(unknown_field(9, 0))
    decoded = decode_binary(message.SerializeToString())
    assert decoded.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED,
            location=Location(
                source="<bytes>",
                entry_index=1,
                field="tcp_logs.log_entry[1].connection_properties",
            ),
            reason="unknown field number 9 (varint) ignored",
        ),
    )


def test_unknown_fields_after_a_scalar_field() -> None:
    # protocol_version (2), a scalar, comes before request (3) in field order.
    message = envoy_als.StreamAccessLogsMessage()
    entry = message.http_logs.log_entry.add()
    entry.protocol_version = envoy_log.HTTPAccessLogEntry.HTTP11
    entry.request.MergeFromString(unknown_field(99, 0))
    decoded = decode_binary(message.SerializeToString(), source="cap", index=1)
    assert decoded.diagnostics == (
        unknown("http_logs.log_entry[0].request", 0, "unknown field number 99 (varint) ignored"),
    )


def test_known_field_with_wrong_wire_type() -> None:
    decoded = decode_binary(b"\x08\x01")
    assert decoded == AlsMessage()
    assert [d.reason for d in decoded.diagnostics] == [
        "field number 1 (identifier) with wrong wire type (varint) ignored"
    ]
    with pytest.raises(DecodeError, match="wrong wire type"):
        decode_binary(b"\x08\x01", strict=True)


def test_decode_message_leaves_the_object_untouched() -> None:
    message = message_with_unknown_fields()
    before = message.SerializeToString()
    decoded = decode_message(message, source="cap", index=1)
    assert decoded.diagnostics == UNKNOWN_DIAGNOSTICS
    assert message.SerializeToString() == before


def test_non_canonical_encoding_without_unknown_fields() -> None:
    # sample_rate = 0.0 written out explicitly: valid, longer than protobuf would write it.
    common = b"\x09" + bytes(8)
    entry = b"\x0a" + varint(len(common)) + common
    http_logs = b"\x0a" + varint(len(entry)) + entry
    data = b"\x12" + varint(len(http_logs)) + http_logs
    decoded = decode_binary(data, strict=True)
    assert decoded == AlsMessage(
        kind="http", entries=(HttpEntry(common_properties=AccessLogCommon()),)
    )
    assert decoded.diagnostics == ()


FIELD = descriptor_pb2.FieldDescriptorProto


def required_field_message_class(full_name: str) -> Any:
    """A proto2 class named *full_name*, with a required field, in a pool of its own."""
    package, _, name = full_name.rpartition(".")
    file = descriptor_pb2.FileDescriptorProto(name="lookalike.proto", package=package)
    file.message_type.add(name=name).field.add(
        name="must", number=1, type=FIELD.TYPE_INT32, label=FIELD.LABEL_REQUIRED
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def test_lookalike_class_is_accepted_by_name() -> None:
    lookalike = required_field_message_class("envoy.service.accesslog.v3.StreamAccessLogsMessage")
    message = lookalike(must=5)
    decoded = decode_message(message, source="x")
    assert decoded == AlsMessage()
    assert [d.reason for d in decoded.diagnostics] == [
        "field number 1 (identifier) with wrong wire type (varint) ignored"
    ]


def test_unserializable_lookalike_is_a_decode_error() -> None:
    name = "envoy.service.accesslog.v2.StreamAccessLogsMessage"
    message = required_field_message_class(name)()
    with pytest.raises(DecodeError) as caught:
        decode_message(message, source="x", index=0)
    assert caught.value.reason.startswith(f"cannot serialize the {name}: ")
    assert caught.value.location == Location(source="x", message_index=0)
    assert isinstance(caught.value.__cause__, google.protobuf.message.EncodeError)
