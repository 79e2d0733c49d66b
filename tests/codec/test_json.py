"""decode_json: SkyWalking's recorded messages, and the proto3 JSON mapping rule by rule.

Every value the mapping accepts is checked against an independent reader: protobuf's own
``json_format.Parse`` into Envoy's generated classes (xds-protos). Every error is checked for its
exact location (field path, entry index) in strict mode and for its diagnostic in lenient mode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, TypeVar

import pytest
from envoy.service.accesslog.v2 import als_pb2 as als_v2
from envoy.service.accesslog.v3 import als_pb2 as als_v3
from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    json_format,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from meshals import (
    AccessLogCommon,
    AlsMessage,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    HttpEntry,
    Location,
    decode_json,
)
from meshals.model import (
    AccessLogType,
    AnyValue,
    EnvoyInternalAddress,
    FrozenMap,
    HttpVersion,
    OpaqueJson,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    SubjectAltName,
    UnauthorizedReason,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
PB2Message = als_v3.StreamAccessLogsMessage
ENTRY = "http_logs.log_entry[0]"
COMMON = "http_logs.log_entry[0].common_properties"

Json = Any  # a value as json.loads returns it
T = TypeVar("T")


# --- helpers --------------------------------------------------------------------------------------


def http_doc(entry: Json) -> Json:
    """A message with one HTTP entry."""
    return {"httpLogs": {"logEntry": [entry]}}


def common_doc(**fields: Json) -> Json:
    """A message with one HTTP entry whose common_properties has *fields*."""
    return http_doc({"commonProperties": fields})


def request_doc(**fields: Json) -> Json:
    return http_doc({"request": fields})


def response_doc(**fields: Json) -> Json:
    return http_doc({"response": fields})


def decode(doc: Json, *, strict: bool = True) -> AlsMessage:
    return decode_json(json.dumps(doc), source="test.json", index=3, strict=strict)


def reference(doc: Json) -> Any:
    """The same document read by protobuf's json_format into Envoy's class."""
    return json_format.Parse(json.dumps(doc), PB2Message())


def first_entry(message: AlsMessage) -> HttpEntry:
    entry = message.entries[0]
    assert isinstance(entry, HttpEntry)
    return entry


def common_of(message: AlsMessage) -> AccessLogCommon:
    common = first_entry(message).common_properties
    assert common is not None
    return common


def present(value: T | None) -> T:
    assert value is not None
    return value


def strict_error(doc: Json) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(doc, strict=True)
    return caught.value


def where(error: DecodeError) -> tuple[str, int | None, int | None, str | None]:
    return error.source, error.message_index, error.entry_index, error.field


def plain_id(value: object) -> str:
    """*value* as a test id of printable ASCII without backslashes (``U+0661`` for the rest).

    pytest escapes ids made by ``parametrize(ids=...)`` once more when it collects them again in
    the same process, as mutation testing does; a backslash would double (tests/conftest.py).
    """
    return "".join(c if " " <= c <= "~" and c != "\\" else f"U+{ord(c):04X}" for c in str(value))


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# --- SkyWalking's recorded messages and the seeds -------------------------------------------------


class FixtureFacts(NamedTuple):
    name: str
    node_id: str
    cluster: str
    downstream_remote: tuple[str, int]
    downstream_local: tuple[str, int]
    upstream_remote: tuple[str, int]
    start_time_ns: int
    # time_to_: last_rx, first_upstream_tx, last_upstream_tx, first_upstream_rx,
    # last_upstream_rx, first_downstream_tx, last_downstream_tx
    durations_ns: tuple[int, int, int, int, int, int, int]
    upstream_cluster: str
    authority: str
    path: str
    request_headers_bytes: int
    response_headers_bytes: int
    response_body_bytes: int
    filter_metadata: tuple[str, ...]
    build_version: str | None


BUILD = "55c80965eab994e6bfa2227e3942fa89928d0d70/1.10.0-dev/Clean/RELEASE/BoringSSL"
INGRESS_NODE = (
    "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system"
    "~istio-system.svc.cluster.local"
)
PRODUCT_NODE = "sidecar~10.44.2.54~product-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
REVIEWS_NODE = "sidecar~10.44.2.55~reviews-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
CLIENT_NODE = "sidecar~10.44.2.55~productpage-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
INGRESS_DURATIONS = (31206, 869250, 881276, 1010010710, 1010423815, 1010053396, 1010432910)
PRODUCT_DURATIONS = (81758, 789220, 808326, 1008120501, 1008369826, 1008242458, 1008378251)
REVIEWS_DURATIONS = (127695, 841545, 854020, 977617052, 977797037, 977764621, 977811534)
CLIENT_DURATIONS = (82339, 2353100, 2362295, 10500490, 10735195, 10669993, 10745496)


def _facts(directory: str, build_version: str | None) -> list[FixtureFacts]:
    return [
        FixtureFacts(
            f"{directory}/envoy-ingress.msg",
            INGRESS_NODE,
            "istio-ingressgateway",
            ("10.138.0.14", 51489),
            ("10.44.2.56", 80),
            ("10.44.2.54", 9080),
            1555127993687224601,
            INGRESS_DURATIONS,
            "outbound|9080||productpage.default.svc.cluster.local",
            "35.227.162.132",
            "/productpage",
            1038,
            147,
            4415,
            (),
            build_version,
        ),
        FixtureFacts(
            f"{directory}/envoy-ingress2sidecar.msg",
            PRODUCT_NODE,
            "product.default",
            ("10.138.0.14", 0),
            ("10.44.2.54", 9080),
            ("127.0.0.1", 9080),
            1555127993688609181,
            PRODUCT_DURATIONS,
            "inbound|9080|http|productpage.default.svc.cluster.local",
            "35.227.162.132",
            "/productpage",
            579,
            147,
            4415,
            ("istio_authn",),
            build_version,
        ),
        FixtureFacts(
            f"{directory}/envoy-mesh-server-sidecar.msg",
            REVIEWS_NODE,
            "reviews.default",
            ("10.44.2.54", 58356),
            ("10.44.2.55", 9080),
            ("127.0.0.1", 9080),
            1555127993712690678,
            REVIEWS_DURATIONS,
            "inbound|9080|http|reviews.default.svc.cluster.local",
            "reviews:9080",
            "/reviews/0",
            423,
            181,
            295,
            ("istio_authn",),
            build_version,
        ),
    ]


FIXTURE_FACTS = [
    *_facts("skywalking", None),
    FixtureFacts(
        "skywalking/envoy-mesh-client-sidecar.msg",
        CLIENT_NODE,
        "productpage.default",
        ("10.44.2.54", 58996),
        ("10.47.247.180", 9080),
        ("10.44.6.66", 9080),
        1555127993695750999,
        CLIENT_DURATIONS,
        "outbound|9080||details.default.svc.cluster.local",
        "details:9080",
        "/details/0",
        869,
        129,
        178,
        (),
        None,
    ),
    *_facts("seed", BUILD),
]


def _socket_of(address: object) -> SocketAddress:
    assert isinstance(address, SocketAddress)
    return address


def _socket(address: object) -> tuple[str, int | None]:
    return _socket_of(address).address, _socket_of(address).port


@pytest.mark.parametrize("facts", FIXTURE_FACTS, ids=lambda facts: facts.name)
def test_recorded_fixture(facts: FixtureFacts) -> None:
    message = decode_json(fixture_text(facts.name), source=facts.name)

    assert message.identifier is not None
    node = message.identifier.node
    assert node is not None
    assert (node.id, node.cluster, node.build_version) == (
        facts.node_id,
        facts.cluster,
        facts.build_version,
    )
    assert message.identifier.log_name == "als"
    assert node.locality is not None  # "locality": { } is present, and empty
    assert (node.locality.region, node.locality.zone, node.locality.sub_zone) == ("", "", "")
    assert node.metadata is not None
    assert node.metadata["ISTIO_PROXY_VERSION"] == "1.1.0"
    assert message.kind == "http"
    assert len(message.entries) == 1

    entry = first_entry(message)
    common = common_of(message)
    assert _socket(common.downstream_remote_address) == facts.downstream_remote
    assert _socket(common.downstream_local_address) == facts.downstream_local
    assert _socket(common.upstream_remote_address) == facts.upstream_remote
    assert common.upstream_local_address is None
    assert common.start_time_ns == facts.start_time_ns
    assert (
        common.time_to_last_rx_byte_ns,
        common.time_to_first_upstream_tx_byte_ns,
        common.time_to_last_upstream_tx_byte_ns,
        common.time_to_first_upstream_rx_byte_ns,
        common.time_to_last_upstream_rx_byte_ns,
        common.time_to_first_downstream_tx_byte_ns,
        common.time_to_last_downstream_tx_byte_ns,
    ) == facts.durations_ns
    assert common.duration_ns is None
    assert common.upstream_cluster == facts.upstream_cluster
    assert common.response_flags == frozenset()
    metadata_keys = () if common.metadata is None else tuple(common.metadata.filter_metadata)
    assert metadata_keys == facts.filter_metadata
    if facts.filter_metadata:
        assert common.metadata is not None
        assert common.metadata.filter_metadata["istio_authn"] == FrozenMap()

    assert entry.protocol_version is HttpVersion.HTTP11
    assert entry.request is not None
    assert entry.request.request_method is RequestMethod.GET
    assert entry.request.scheme == "http"
    assert entry.request.authority == facts.authority
    assert entry.request.path == facts.path
    assert entry.request.request_id == "0ac1feff-84ae-4d3a-8b15-890da2b194c5"
    assert entry.request.request_headers_bytes == facts.request_headers_bytes
    assert entry.request.port is None
    assert entry.response is not None
    assert entry.response.response_code == 200
    assert entry.response.response_headers_bytes == facts.response_headers_bytes
    assert entry.response.response_body_bytes == facts.response_body_bytes


ROLE_PREFIXES = [
    ("skywalking/envoy-ingress.msg", "router"),
    ("skywalking/envoy-ingress2sidecar.msg", "sidecar"),
    ("skywalking/envoy-mesh-server-sidecar.msg", "sidecar"),
    ("skywalking/envoy-mesh-client-sidecar.msg", "sidecar"),
    ("seed/envoy-ingress.msg", "router"),
]


@pytest.mark.parametrize(("name", "prefix"), ROLE_PREFIXES)
def test_recorded_fixture_node_type(name: str, prefix: str) -> None:
    identifier = decode_json(fixture_text(name)).identifier
    assert identifier is not None
    assert identifier.node is not None
    assert identifier.node.id.split("~")[0] == prefix


def _cleaned(name: str) -> str:
    """The fixture's JSON value alone: what json_format can read."""
    lines = fixture_text(name).split("\n")
    text = "\n".join("" if line.lstrip().startswith(("#", "//")) else line for line in lines)
    value, _ = json.JSONDecoder().raw_decode(text, text.index("{"))
    return json.dumps(value)


@pytest.mark.parametrize("facts", FIXTURE_FACTS, ids=lambda facts: facts.name)
def test_recorded_fixture_against_json_format(facts: FixtureFacts) -> None:
    cleaned = _cleaned(facts.name)
    schema = als_v2 if facts.build_version else als_v3  # only v2 has node.build_version
    expected = json_format.Parse(cleaned, schema.StreamAccessLogsMessage())
    common = common_of(decode_json(fixture_text(facts.name)))
    pb_common = expected.http_logs.log_entry[0].common_properties
    assert common.start_time_ns == pb_common.start_time.ToNanoseconds()
    assert common.time_to_last_downstream_tx_byte_ns == (
        pb_common.time_to_last_downstream_tx_byte.ToNanoseconds()
    )
    # And the recording decodes exactly as its plain JSON does.
    assert decode_json(fixture_text(facts.name)) == decode_json(cleaned, strict=True)


def test_recorded_fixture_trailing_brace_is_one_diagnostic() -> None:
    name = "skywalking/envoy-mesh-client-sidecar.msg"
    message = decode_json(fixture_text(name), source=name, index=0)
    assert message.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED,
            location=Location(source=name, message_index=0),
            reason="trailing text after the JSON value at line 91 column 1; ignored",
        ),
    )


def test_recorded_fixture_trailing_brace_is_an_error_when_strict() -> None:
    name = "skywalking/envoy-mesh-client-sidecar.msg"
    with pytest.raises(DecodeError) as caught:
        decode_json(fixture_text(name), source=name, strict=True)
    assert caught.value.reason == "trailing text after the JSON value at line 91 column 1"
    assert where(caught.value) == (name, None, None, None)


@pytest.mark.parametrize(
    "name",
    [
        "skywalking/envoy-ingress.msg",  # leading # licence lines
        "skywalking/envoy-ingress2sidecar.msg",  # and // lines inside the object
        "seed/envoy-ingress2sidecar.msg",
    ],
)
def test_recorded_fixture_comments_are_not_problems(name: str) -> None:
    assert decode_json(fixture_text(name), strict=True).diagnostics == ()


def test_protobuf_text_format_is_not_json() -> None:
    name = "skywalking/envoy-metric.msg"
    with pytest.raises(DecodeError) as caught:
        decode_json(fixture_text(name), source=name)
    assert caught.value.reason == "invalid JSON: Expecting value at line 17 column 1"
    assert where(caught.value) == (name, None, None, None)


# --- every field of the schema, in both spellings, as json_format reads it ------------------------


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


# Where each message of the schema is put to test its fields: a path of protobuf field names
# from the root (an int indexes a repeated field, "[k]" is map key k), and the model object there.
Step = str | int
Place = tuple[tuple[Step, ...], Callable[[AlsMessage], Any]]
NODE_PATH: tuple[Step, ...] = ("identifier", "node")
LISTENING: tuple[Step, ...] = (*NODE_PATH, "listening_addresses", 0)
ENTRY_PATH: tuple[Step, ...] = ("http_logs", "log_entry", 0)
COMMON_PATH: tuple[Step, ...] = (*ENTRY_PATH, "common_properties")
TLS_PATH: tuple[Step, ...] = (*COMMON_PATH, "tls_properties")
CERT_PATH: tuple[Step, ...] = (*TLS_PATH, "local_certificate_properties")


def _node_of(message: AlsMessage) -> Any:
    assert message.identifier is not None
    return message.identifier.node


def _members(address: object) -> SimpleNamespace:
    """An Address in the model is its oneof member: spread it back into the three fields."""
    return SimpleNamespace(
        socket_address=address if isinstance(address, SocketAddress) else None,
        pipe=address if isinstance(address, PipeAddress) else None,
        envoy_internal_address=address if isinstance(address, EnvoyInternalAddress) else None,
    )


def _root(message: AlsMessage) -> SimpleNamespace:
    return SimpleNamespace(
        identifier=message.identifier,
        http_logs=message.entries if message.kind == "http" else None,
        tcp_logs=message.entries if message.kind == "tcp" else None,
    )


def _flags(message: AlsMessage) -> SimpleNamespace:
    flags = common_of(message).response_flags
    return SimpleNamespace(**{flag.field_name: flag in flags for flag in ResponseFlag})


PLACES: dict[str, Place] = {
    "envoy.service.accesslog.v3.StreamAccessLogsMessage": ((), _root),
    "envoy.service.accesslog.v3.StreamAccessLogsMessage.Identifier": (
        ("identifier",),
        lambda m: m.identifier,
    ),
    "envoy.config.core.v3.Node": (NODE_PATH, _node_of),
    "xds.core.v3.ContextParams": (
        (*NODE_PATH, "dynamic_parameters", "[k]"),
        lambda m: SimpleNamespace(params=_node_of(m).dynamic_parameters["k"]),
    ),
    "envoy.config.core.v3.Locality": ((*NODE_PATH, "locality"), lambda m: _node_of(m).locality),
    "envoy.config.core.v3.BuildVersion": (
        (*NODE_PATH, "user_agent_build_version"),
        lambda m: _node_of(m).user_agent_build_version,
    ),
    "envoy.type.v3.SemanticVersion": (
        (*NODE_PATH, "user_agent_build_version", "version"),
        lambda m: _node_of(m).user_agent_build_version.version,
    ),
    "envoy.config.core.v3.Extension": (
        (*NODE_PATH, "extensions", 0),
        lambda m: _node_of(m).extensions[0],
    ),
    "envoy.config.core.v3.Address": (
        LISTENING,
        lambda m: _members(_node_of(m).listening_addresses[0]),
    ),
    "envoy.config.core.v3.SocketAddress": (
        (*LISTENING, "socket_address"),
        lambda m: _node_of(m).listening_addresses[0],
    ),
    "envoy.config.core.v3.Pipe": (
        (*LISTENING, "pipe"),
        lambda m: _node_of(m).listening_addresses[0],
    ),
    "envoy.config.core.v3.EnvoyInternalAddress": (
        (*LISTENING, "envoy_internal_address"),
        lambda m: _node_of(m).listening_addresses[0],
    ),
    "envoy.service.accesslog.v3.StreamAccessLogsMessage.HTTPAccessLogEntries": (
        ("http_logs",),
        lambda m: SimpleNamespace(log_entry=m.http_entries),
    ),
    "envoy.data.accesslog.v3.HTTPAccessLogEntry": (ENTRY_PATH, first_entry),
    "envoy.data.accesslog.v3.AccessLogCommon": (COMMON_PATH, common_of),
    "envoy.data.accesslog.v3.TLSProperties": (TLS_PATH, lambda m: common_of(m).tls_properties),
    "envoy.data.accesslog.v3.TLSProperties.CertificateProperties": (
        CERT_PATH,
        lambda m: present(common_of(m).tls_properties).local_certificate_properties,
    ),
    "envoy.data.accesslog.v3.TLSProperties.CertificateProperties.SubjectAltName": (
        (*CERT_PATH, "subject_alt_name", 0),
        lambda m: present(
            present(common_of(m).tls_properties).local_certificate_properties
        ).subject_alt_name[0],
    ),
    "envoy.data.accesslog.v3.ResponseFlags": ((*COMMON_PATH, "response_flags"), _flags),
    "envoy.data.accesslog.v3.ResponseFlags.Unauthorized": (
        (*COMMON_PATH, "response_flags", "unauthorized_details"),
        lambda m: SimpleNamespace(reason=common_of(m).unauthorized_reason),
    ),
    "envoy.config.core.v3.Metadata": ((*COMMON_PATH, "metadata"), lambda m: common_of(m).metadata),
    "envoy.data.accesslog.v3.HTTPRequestProperties": (
        (*ENTRY_PATH, "request"),
        lambda m: first_entry(m).request,
    ),
    "envoy.data.accesslog.v3.HTTPResponseProperties": (
        (*ENTRY_PATH, "response"),
        lambda m: first_entry(m).response,
    ),
    "envoy.service.accesslog.v3.StreamAccessLogsMessage.TCPAccessLogEntries": (
        ("tcp_logs",),
        lambda m: SimpleNamespace(log_entry=m.tcp_entries),
    ),
    "envoy.data.accesslog.v3.TCPAccessLogEntry": (
        ("tcp_logs", "log_entry", 0),
        lambda m: m.tcp_entries[0],
    ),
    "envoy.data.accesslog.v3.ConnectionProperties": (
        ("tcp_logs", "log_entry", 0, "connection_properties"),
        lambda m: m.tcp_entries[0].connection_properties,
    ),
}

TIME_TYPES = ("google.protobuf.Duration", "google.protobuf.Timestamp")
MESSAGE_SAMPLES: dict[str, Json] = {
    "google.protobuf.Duration": "1.5s",
    "google.protobuf.Timestamp": "2019-04-13T03:59:53.687224601Z",
    "google.protobuf.UInt32Value": 7,
    "google.protobuf.Struct": {"s": "v", "n": 2, "b": True, "z": None, "o": {"x": 1.5}},
    "google.protobuf.Any": {
        "@type": "type.googleapis.com/google.protobuf.StringValue",
        "value": "x",
    },
    "envoy.config.core.v3.Address": {"socketAddress": {"address": "10.0.0.1", "portValue": 7}},
}


def _is_map(field: FieldDescriptor) -> bool:
    message_type = field.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _single_sample(field: FieldDescriptor) -> Json:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return MESSAGE_SAMPLES.get(present(field.message_type).full_name, {})
    if field.type == FieldDescriptor.TYPE_ENUM:
        return present(field.enum_type).values[-1].name
    samples: dict[int, Json] = {
        FieldDescriptor.TYPE_STRING: f"text of {field.name}",
        FieldDescriptor.TYPE_BOOL: True,
        FieldDescriptor.TYPE_UINT32: 7,
        FieldDescriptor.TYPE_UINT64: "7",
        FieldDescriptor.TYPE_DOUBLE: 0.25,
    }
    return samples[field.type]


def _sample(field: FieldDescriptor) -> Json:
    if _is_map(field):
        return {"k": _single_sample(present(field.message_type).fields_by_name["value"])}
    if field.is_repeated:
        return [_single_sample(field)]
    return _single_sample(field)


def _nest(path: tuple[Step, ...], leaf: Json) -> Json:
    for step in reversed(path):
        if isinstance(step, int):
            leaf = [leaf]
        elif step.startswith("["):
            leaf = {step[1:-1]: leaf}
        else:
            leaf = {camel(step): leaf}
    return leaf


def _pb_at(message: Any, path: tuple[Step, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            message = message[step]
        elif step.startswith("["):
            message = message[step[1:-1]]
        else:
            message = getattr(message, step)
    return message


def _schema_messages(descriptor: Descriptor, seen: dict[str, Descriptor]) -> dict[str, Descriptor]:
    """Every message type of the ALS schema (map entries and well-known types excepted)."""
    if descriptor.full_name not in seen:
        seen[descriptor.full_name] = descriptor
        for field in descriptor.fields:
            message_type = field.message_type
            if message_type is None or message_type.full_name.startswith("google.protobuf."):
                continue
            if _is_map(field):
                message_type = message_type.fields_by_name["value"].message_type
                if message_type is None or message_type.full_name.startswith("google."):
                    continue
            _schema_messages(message_type, seen)
    return seen


SCHEMA = _schema_messages(PB2Message.DESCRIPTOR, {})
SCHEMA_FIELDS = [
    pytest.param(message_name, field, spelling, id=f"{message_name}.{spelling}")
    for message_name, descriptor in SCHEMA.items()
    for field in descriptor.fields
    for spelling in dict.fromkeys((field.json_name, field.name))
]


def test_every_schema_message_has_a_place() -> None:
    assert set(SCHEMA) == set(PLACES)


def _model_attr(message_name: str, field: FieldDescriptor) -> str:
    if (message_name, field.name) == ("envoy.config.core.v3.SocketAddress", "port_value"):
        return "port"
    if field.message_type is not None and field.message_type.full_name in TIME_TYPES:
        return f"{field.name}_ns"
    return field.name


def _expected(field: FieldDescriptor, value: Any) -> Any:
    """json_format's reading of the field, in the model's terms (None: only 'present')."""
    if _is_map(field):
        scalar_values = present(field.message_type).fields_by_name["value"].message_type is None
        return dict(value) if scalar_values else set(value)
    if field.is_repeated:
        return list(value) if field.message_type is None else len(value)
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return value
    name = present(field.message_type).full_name
    if name in TIME_TYPES:
        return value.ToNanoseconds()
    if name == "google.protobuf.UInt32Value":
        return value.value
    if name == "google.protobuf.Struct":
        return json_format.MessageToDict(value)
    return None


@pytest.mark.parametrize(("message_name", "field", "spelling"), SCHEMA_FIELDS)
def test_every_schema_field_in_each_spelling(
    message_name: str, field: FieldDescriptor, spelling: str
) -> None:
    path, model_at = PLACES[message_name]
    doc = _nest(path, {spelling: _sample(field)})
    decoded = model_at(decode(doc, strict=True))
    actual = getattr(decoded, _model_attr(message_name, field))
    expected = _expected(field, getattr(_pb_at(reference(doc), path), field.name))
    if isinstance(expected, set):  # a map of messages: its keys
        assert set(actual) == expected
    elif isinstance(expected, list):  # repeated scalars
        assert list(actual) == expected
    elif field.is_repeated and not _is_map(field):  # repeated messages: how many
        assert len(actual) == expected
    elif expected is None:  # a message: present (its fields have their own tests)
        assert actual is not None
    else:
        assert actual == expected


# --- one rule at a time: valid forms against json_format, invalid ones with their location ------


class Invalid(NamedTuple):
    """A value the field rejects: the reason, and whether json_format rejects it too."""

    value: Json
    reason: str
    json_format_rejects: bool = True


def check_invalid(
    doc: Json,
    case: Invalid,
    field: str,
    read: Callable[[AlsMessage], object],
    default: object,
    *,
    entry_index: int | None = 0,
) -> None:
    """Strict decoding raises at *field*; lenient decoding notes it and keeps the default."""
    error = strict_error(doc)
    assert (error.reason, where(error)) == (case.reason, ("test.json", 3, entry_index, field))
    lenient = decode(doc, strict=False)
    assert read(lenient) == default
    location = Location(source="test.json", message_index=3, entry_index=entry_index, field=field)
    assert lenient.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED, location=location, reason=f"{case.reason}; ignored"
        ),
    )
    if case.json_format_rejects:
        with pytest.raises(json_format.ParseError):
            reference(doc)


# uint64: requestHeadersBytes (Envoy writes these as strings).
UINT64_VALID: list[tuple[Json, int]] = [
    ("1038", 1038),
    (1038, 1038),
    ("0", 0),
    ("-0", 0),
    ("007", 7),
    ("18446744073709551615", 2**64 - 1),
    (18446744073709551615, 2**64 - 1),
    ("1e3", 1000),
    ("1E3", 1000),
    (1e3, 1000),
    (1.0, 1),
    ("1.0", 1),
    ("1.5e1", 15),
]
UINT64_INVALID = [
    Invalid("-1", "string '-1' is out of range for uint64"),
    Invalid(-1, "number -1 is out of range for uint64"),
    Invalid("18446744073709551616", "string '18446744073709551616' is out of range for uint64"),
    Invalid("1e20", "string '1e20' is out of range for uint64"),
    Invalid("1.5", "expected an integer (uint64), got string '1.5'"),
    Invalid(1.5, "expected an integer (uint64), got number 1.5"),
    Invalid("1e-3", "expected an integer (uint64), got string '1e-3'"),
    Invalid("abc", "expected an integer (uint64), got string 'abc'"),
    Invalid("", "expected an integer (uint64), got string ''"),
    Invalid(" 1", "expected an integer (uint64), got string ' 1'"),
    Invalid("0x10", "expected an integer (uint64), got string '0x10'"),
    Invalid("Infinity", "expected an integer (uint64), got string 'Infinity'"),
    Invalid(True, "expected an integer (uint64), got true"),
    Invalid([], "expected an integer (uint64), got an array"),
    Invalid({}, "expected an integer (uint64), got an object"),
    # int() would take these; the mapping does not.
    Invalid("1_000", "expected an integer (uint64), got string '1_000'", False),
    Invalid("\u0661\u0662", "expected an integer (uint64), got string '\u0661\u0662'", False),
]


@pytest.mark.parametrize(("value", "expected"), UINT64_VALID)
def test_uint64_forms(value: Json, expected: int) -> None:
    doc = request_doc(requestHeadersBytes=value)
    request = first_entry(decode(doc)).request
    assert request is not None
    assert request.request_headers_bytes == expected
    assert reference(doc).http_logs.log_entry[0].request.request_headers_bytes == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Decimal arithmetic keeps every digit; json_format goes through a float here.
        ("1.8446744073709551615e19", 2**64 - 1),
        ("9007199254740993e0", 9007199254740993),
    ],
)
def test_uint64_exponent_forms_are_exact(value: str, expected: int) -> None:
    request = first_entry(decode(request_doc(requestHeadersBytes=value))).request
    assert request is not None
    assert request.request_headers_bytes == expected


@pytest.mark.parametrize("case", UINT64_INVALID, ids=lambda case: plain_id(repr(case)))
def test_uint64_invalid(case: Invalid) -> None:
    check_invalid(
        request_doc(requestHeadersBytes=case.value),
        case,
        f"{ENTRY}.request.request_headers_bytes",
        lambda m: first_entry(m).request.request_headers_bytes,  # type: ignore[union-attr]
        0,
    )


# uint32: portValue (a plain field) and responseCode (a UInt32Value wrapper, a bare number).
UINT32_VALID: list[tuple[Json, int]] = [
    (80, 80),
    ("80", 80),
    (80.0, 80),
    ("8e1", 80),
    (0, 0),
    (4294967295, 2**32 - 1),
    ("4294967295", 2**32 - 1),
]
UINT32_INVALID = [
    Invalid(-1, "number -1 is out of range for uint32"),
    Invalid("-1", "string '-1' is out of range for uint32"),
    Invalid(4294967296, "number 4294967296 is out of range for uint32"),
    Invalid(1.5, "expected an integer (uint32), got number 1.5"),
    Invalid("x", "expected an integer (uint32), got string 'x'"),
    Invalid(False, "expected an integer (uint32), got false"),
]


@pytest.mark.parametrize(("value", "expected"), UINT32_VALID)
def test_uint32_forms(value: Json, expected: int) -> None:
    doc = common_doc(downstreamRemoteAddress={"socketAddress": {"portValue": value}})
    assert common_of(decode(doc)).downstream_remote_address == SocketAddress(port=expected)
    pb_common = reference(doc).http_logs.log_entry[0].common_properties
    assert pb_common.downstream_remote_address.socket_address.port_value == expected


@pytest.mark.parametrize(("value", "expected"), UINT32_VALID)
def test_uint32_wrapper_forms(value: Json, expected: int) -> None:
    doc = response_doc(responseCode=value)
    response = first_entry(decode(doc)).response
    assert response is not None
    assert response.response_code == expected
    assert reference(doc).http_logs.log_entry[0].response.response_code.value == expected


@pytest.mark.parametrize("case", UINT32_INVALID, ids=repr)
def test_uint32_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(downstreamRemoteAddress={"socketAddress": {"portValue": case.value}}),
        case,
        f"{COMMON}.downstream_remote_address.socket_address.port_value",
        lambda m: common_of(m).downstream_remote_address,
        SocketAddress(),  # the port is dropped, the address stays
    )


@pytest.mark.parametrize("case", UINT32_INVALID, ids=repr)
def test_uint32_wrapper_invalid(case: Invalid) -> None:
    check_invalid(
        response_doc(responseCode=case.value),
        case,
        f"{ENTRY}.response.response_code",
        lambda m: first_entry(m).response.response_code,  # type: ignore[union-attr]
        None,
    )


# double: sampleRate.
DOUBLE_VALID: list[tuple[Json, float]] = [
    (0.5, 0.5),
    ("0.5", 0.5),
    (1, 1.0),
    ("1e2", 100.0),
    ("-1.5E-3", -0.0015),
    (-0.0, -0.0),
    ("Infinity", math.inf),
    ("-Infinity", -math.inf),
]
DOUBLE_INVALID = [
    Invalid("nan", "expected a number, got string 'nan'"),
    Invalid("abc", "expected a number, got string 'abc'"),
    Invalid("", "expected a number, got string ''"),
    Invalid({}, "expected a number, got an object"),
    Invalid(math.nan, "number nan must be written as a quoted string"),  # the bare NaN token
    Invalid(math.inf, "number inf must be written as a quoted string"),
    Invalid("inf", "expected a number, got string 'inf'", False),
    Invalid(True, "expected a number, got true", False),
]


@pytest.mark.parametrize(("value", "expected"), DOUBLE_VALID)
def test_double_forms(value: Json, expected: float) -> None:
    doc = common_doc(sampleRate=value)
    assert common_of(decode(doc)).sample_rate == expected
    assert reference(doc).http_logs.log_entry[0].common_properties.sample_rate == expected


def test_double_nan() -> None:
    doc = common_doc(sampleRate="NaN")
    assert math.isnan(common_of(decode(doc)).sample_rate)
    assert math.isnan(reference(doc).http_logs.log_entry[0].common_properties.sample_rate)


@pytest.mark.parametrize("case", DOUBLE_INVALID, ids=repr)
def test_double_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(sampleRate=case.value),
        case,
        f"{COMMON}.sample_rate",
        lambda m: common_of(m).sample_rate,
        0.0,
    )


# bool: intermediateLogEntry.
@pytest.mark.parametrize("value", [True, False])
def test_bool_forms(value: bool) -> None:
    doc = common_doc(intermediateLogEntry=value)
    assert common_of(decode(doc)).intermediate_log_entry is value
    assert reference(doc).http_logs.log_entry[0].common_properties.intermediate_log_entry is value


@pytest.mark.parametrize(
    "case",
    [
        Invalid("true", "expected true or false, got string 'true'"),
        Invalid("false", "expected true or false, got string 'false'"),
        Invalid(1, "expected true or false, got number 1"),
        Invalid(0, "expected true or false, got number 0"),
    ],
    ids=repr,
)
def test_bool_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(intermediateLogEntry=case.value),
        case,
        f"{COMMON}.intermediate_log_entry",
        lambda m: common_of(m).intermediate_log_entry,
        False,
    )


# string: upstreamCluster.
def test_string_with_an_unpaired_surrogate_is_invalid() -> None:
    doc = common_doc(upstreamCluster="\ud800")
    case = Invalid("\ud800", "string holds an unpaired surrogate")
    check_invalid(
        doc, case, f"{COMMON}.upstream_cluster", lambda m: common_of(m).upstream_cluster, ""
    )


def test_string_must_be_a_string() -> None:
    case = Invalid(5, "expected a string, got number 5")
    check_invalid(
        common_doc(upstreamCluster=5),
        case,
        f"{COMMON}.upstream_cluster",
        lambda m: common_of(m).upstream_cluster,
        "",
    )


@pytest.mark.parametrize("value", ["outbound|9080||a", "ünïcödé ☃ 🚀", ""])
def test_string_forms(value: str) -> None:
    doc = common_doc(upstreamCluster=value)
    assert common_of(decode(doc)).upstream_cluster == value
    assert reference(doc).http_logs.log_entry[0].common_properties.upstream_cluster == value


# Duration: common duration.
DURATION_VALID: list[tuple[str, int]] = [
    ("1.000340012s", 1_000_340_012),
    ("-0.5s", -500_000_000),
    ("3s", 3_000_000_000),
    ("0s", 0),
    ("0.001s", 1_000_000),
    ("0.000001s", 1_000),
    ("0.000000001s", 1),
    ("-0.000000001s", -1),
    ("1.5s", 1_500_000_000),  # 1, 2, 4, 5 ... digits: off the 0/3/6/9 rule but accepted
    ("0.12s", 120_000_000),
    ("315576000000s", 315_576_000_000 * 10**9),
    ("315576000000.999999999s", 315_576_000_000_999_999_999),
    ("-315576000000.999999999s", -315_576_000_000_999_999_999),
    ("1.010432910s", 1_010_432_910),
    # Leading zeros are not digits of the range check; on the fast path (21 digits) or not.
    ("0000000000001s", 1_000_000_000),
    ("000000000001.000000001s", 1_000_000_001),
    ("0000000000001.000000001s", 1_000_000_001),
    ("-000315576000000.999999999s", -315_576_000_000_999_999_999),
]
DURATION_INVALID = [
    Invalid("1", "expected a duration string such as '1.5s', got string '1'"),
    Invalid("s", "expected a duration string such as '1.5s', got string 's'"),
    Invalid(".5s", "expected a duration string such as '1.5s', got string '.5s'"),
    Invalid("1.5S", "expected a duration string such as '1.5s', got string '1.5S'"),
    # Nine fractional digits, the fast path's shape: its other checks must hold too.
    Invalid("1.000000000S", "expected a duration string such as '1.5s', got string '1.000000000S'"),
    Invalid("1.000000000x", "expected a duration string such as '1.5s', got string '1.000000000x'"),
    Invalid(".123456789s", "expected a duration string such as '1.5s', got string '.123456789s'"),
    Invalid(
        "0000000000000315576000001s",
        "duration '0000000000000315576000001s' is out of range (at most 10,000 years)",
    ),
    Invalid("1e3s", "expected a duration string such as '1.5s', got string '1e3s'"),
    Invalid(1.5, "expected a duration string such as '1.5s', got number 1.5"),
    Invalid("315576000001s", "duration '315576000001s' is out of range (at most 10,000 years)"),
    Invalid(
        "-315576000001.5s", "duration '-315576000001.5s' is out of range (at most 10,000 years)"
    ),
    # json_format rounds these through floats or int() and lets them through.
    Invalid(
        "1.0000000001s",
        "expected a duration string such as '1.5s', got string '1.0000000001s'",
        False,
    ),
    Invalid("1.s", "expected a duration string such as '1.5s', got string '1.s'", False),
    Invalid("+1s", "expected a duration string such as '1.5s', got string '+1s'", False),
    Invalid(
        "+1.000000000s",
        "expected a duration string such as '1.5s', got string '+1.000000000s'",
        False,
    ),
]


@pytest.mark.parametrize(("value", "expected"), DURATION_VALID)
def test_duration_forms(value: str, expected: int) -> None:
    doc = common_doc(duration=value)
    assert common_of(decode(doc)).duration_ns == expected
    pb_common = reference(doc).http_logs.log_entry[0].common_properties
    assert pb_common.duration.ToNanoseconds() == expected


@pytest.mark.parametrize("case", DURATION_INVALID, ids=repr)
def test_duration_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(duration=case.value),
        case,
        f"{COMMON}.duration",
        lambda m: common_of(m).duration_ns,
        None,
    )


# Timestamp: startTime.
TIMESTAMP_VALID: list[tuple[str, int]] = [
    ("2019-04-13T03:59:53.687224601Z", 1555127993687224601),
    ("2019-04-13T05:59:53.687224601+02:00", 1555127993687224601),
    ("2019-04-12T22:59:53.687-05:00", 1555127993687000000),
    ("2019-04-13T03:59:53+00:00", 1555127993000000000),
    ("2019-04-13T03:59:53-00:00", 1555127993000000000),
    ("2019-04-13T03:59:53.1Z", 1555127993100000000),
    ("2019-04-13T03:59:53.123456Z", 1555127993123456000),
    ("2019-04-13T03:59:53.999999999Z", 1555127993999999999),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.999999999Z", -1),
    ("2020-02-29T12:00:00Z", 1582977600000000000),
    ("0001-01-01T00:00:00Z", -62135596800 * 10**9),
    ("9999-12-31T23:59:59.999999999Z", 253402300799 * 10**9 + 999_999_999),
    ("9999-12-31T23:59:59Z", 253402300799 * 10**9),
    # The largest offsets, and one with minutes.
    ("2019-04-13T03:59:53+23:00", 1555045193000000000),
    ("2019-04-13T03:59:53-00:59", 1555131533000000000),
    ("2019-04-13T09:29:53.687224601+05:30", 1555127993687224601),
]
TIMESTAMP_INVALID = [
    Invalid("2019-13-01T00:00:00Z", "'2019-13-01T00:00:00Z' is not a valid date"),
    Invalid("2019-02-30T00:00:00Z", "'2019-02-30T00:00:00Z' is not a valid date"),
    Invalid("0000-12-31T00:00:00Z", "'0000-12-31T00:00:00Z' is not a valid date"),
    Invalid("2019-04-13T24:00:00Z", "'2019-04-13T24:00:00Z' is not a valid time of day"),
    Invalid("2019-04-13T03:59:60Z", "'2019-04-13T03:59:60Z' is not a valid time of day"),
    Invalid("2019-04-13T03:60:00Z", "'2019-04-13T03:60:00Z' is not a valid time of day"),
    Invalid(
        "2019-04-13 03:59:53Z",
        "expected an RFC 3339 timestamp string, got string '2019-04-13 03:59:53Z'",
    ),
    Invalid(
        "2019-04-13T03:59:53",
        "expected an RFC 3339 timestamp string, got string '2019-04-13T03:59:53'",
    ),
    Invalid(
        "2019-04-13T03:59:53+0200",
        "expected an RFC 3339 timestamp string, got string '2019-04-13T03:59:53+0200'",
    ),
    Invalid(
        "2019-04-13T03:59:53.1234567891Z",
        "expected an RFC 3339 timestamp string, got string '2019-04-13T03:59:53.1234567891Z'",
    ),
    Invalid(1555127993, "expected an RFC 3339 timestamp string, got number 1555127993"),
    Invalid(
        "0001-01-01T00:00:00+00:01",
        "timestamp '0001-01-01T00:00:00+00:01' is out of range (years 0001 to 9999 UTC)",
    ),
    Invalid(
        "9999-12-31T23:59:59-00:01",
        "timestamp '9999-12-31T23:59:59-00:01' is out of range (years 0001 to 9999 UTC)",
    ),
    # json_format lets these through (strptime takes "4" for a month, offsets are not checked).
    Invalid(
        "2019-4-13T03:59:53Z",
        "expected an RFC 3339 timestamp string, got string '2019-4-13T03:59:53Z'",
        False,
    ),
    Invalid(
        "2019-04-13T03:59:53.Z",
        "expected an RFC 3339 timestamp string, got string '2019-04-13T03:59:53.Z'",
        False,
    ),
    Invalid(
        "2019-04-13T03:59:53+24:00", "'2019-04-13T03:59:53+24:00' has an invalid UTC offset", False
    ),
    Invalid(
        "2019-04-13T03:59:53+00:60", "'2019-04-13T03:59:53+00:60' has an invalid UTC offset", False
    ),
]


@pytest.mark.parametrize(("value", "expected"), TIMESTAMP_VALID)
def test_timestamp_forms(value: str, expected: int) -> None:
    doc = common_doc(startTime=value)
    assert common_of(decode(doc)).start_time_ns == expected
    pb_common = reference(doc).http_logs.log_entry[0].common_properties
    assert pb_common.start_time.ToNanoseconds() == expected


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("2019-04-13t03:59:53.687224601z", "2019-04-13T03:59:53.687224601Z"),
        ("2019-04-13T03:59:53.687224601z", "2019-04-13T03:59:53.687224601Z"),
        ("2019-04-13t05:59:53+02:00", "2019-04-13T05:59:53+02:00"),
    ],
)
def test_timestamp_lowercase_t_and_z(value: str, canonical: str) -> None:
    # RFC 3339 allows lower case; json_format does not, so compare with the upper-case form.
    expected = reference(common_doc(startTime=canonical))
    pb_start = expected.http_logs.log_entry[0].common_properties.start_time
    assert common_of(decode(common_doc(startTime=value))).start_time_ns == pb_start.ToNanoseconds()


def test_timestamp_same_minute_twice() -> None:
    # The second timestamp of a minute takes the fast path: the same arithmetic, exactly.
    doc = {
        "httpLogs": {
            "logEntry": [
                {"commonProperties": {"startTime": "2031-05-06T07:08:09.5Z"}},
                {"commonProperties": {"startTime": "2031-05-06T07:08:59.000000001Z"}},
            ]
        }
    }
    starts = [entry.common_properties.start_time_ns for entry in decode(doc).entries]  # type: ignore[union-attr]
    assert starts == [1935817689500000000, 1935817739000000001]
    pb_entries = reference(doc).http_logs.log_entry
    assert starts == [entry.common_properties.start_time.ToNanoseconds() for entry in pb_entries]


@pytest.mark.parametrize("case", TIMESTAMP_INVALID, ids=repr)
def test_timestamp_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(startTime=case.value),
        case,
        f"{COMMON}.start_time",
        lambda m: common_of(m).start_time_ns,
        None,
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2019-04-13T03:59:53.Z", "expected an RFC 3339 timestamp string, got string '{}'"),
        ("2019-04-13T03:59:60.5Z", "'{}' is not a valid time of day"),
        ("2019-04-13T03:59:5x.1Z", "expected an RFC 3339 timestamp string, got string '{}'"),
        ("2019-04-13T03:59:53.1 Z", "expected an RFC 3339 timestamp string, got string '{}'"),
        ("2019-04-13T03:59:53.+1Z", "expected an RFC 3339 timestamp string, got string '{}'"),
        # The fast path's shape but one character: no point, no Z, no colon before the seconds.
        ("2019-04-13T03:59:0012Z", "expected an RFC 3339 timestamp string, got string '{}'"),
        ("2019-04-13T03:59:00.1234", "expected an RFC 3339 timestamp string, got string '{}'"),
        ("2019-04-13T03:59X00.5Z", "expected an RFC 3339 timestamp string, got string '{}'"),
    ],
)
def test_timestamp_invalid_in_a_minute_already_seen(value: str, reason: str) -> None:
    doc = {
        "httpLogs": {
            "logEntry": [
                {"commonProperties": {"startTime": "2019-04-13T03:59:00.1Z"}},
                {"commonProperties": {"startTime": value}},
            ]
        }
    }
    error = strict_error(doc)
    assert error.reason == reason.format(value)
    assert where(error) == (
        "test.json",
        3,
        1,
        "http_logs.log_entry[1].common_properties.start_time",
    )


# Enums: by name or by number; unknown numbers are kept as plain ints.
ENUM_VALID: list[tuple[str, Json, int]] = [
    ("requestMethod", "GET", RequestMethod.GET),
    ("requestMethod", 1, RequestMethod.GET),
    ("requestMethod", "1", RequestMethod.GET),
    ("requestMethod", 1.0, RequestMethod.GET),
    ("requestMethod", "PATCH", RequestMethod.PATCH),
    ("requestMethod", 0, RequestMethod.METHOD_UNSPECIFIED),
    ("requestMethod", 42, 42),
    ("requestMethod", -3, -3),
    ("requestMethod", "-3", -3),  # a negative number in a string: its sign is not a name
]


@pytest.mark.parametrize(("key", "value", "expected"), ENUM_VALID)
def test_enum_forms(key: str, value: Json, expected: int) -> None:
    doc = request_doc(**{key: value})
    request = first_entry(decode(doc)).request
    assert request is not None
    assert request.request_method == expected
    assert type(request.request_method) is (int if expected in (42, -3) else RequestMethod)
    assert reference(doc).http_logs.log_entry[0].request.request_method == expected


@pytest.mark.parametrize(
    ("doc", "read", "expected"),
    [
        (http_doc({"protocolVersion": "HTTP2"}), lambda m: first_entry(m).protocol_version, 3),
        (
            common_doc(accessLogType="DownstreamEnd"),
            lambda m: common_of(m).access_log_type,
            AccessLogType.DownstreamEnd,
        ),
        (
            common_doc(tlsProperties={"tlsVersion": "TLSv1_3"}),
            lambda m: present(common_of(m).tls_properties).tls_version,
            4,
        ),
        (
            common_doc(downstreamLocalAddress={"socketAddress": {"protocol": "UDP"}}),
            lambda m: _socket_of(common_of(m).downstream_local_address).protocol,
            1,
        ),
        (
            common_doc(responseFlags={"unauthorizedDetails": {"reason": "EXTERNAL_SERVICE"}}),
            lambda m: common_of(m).unauthorized_reason,
            UnauthorizedReason.EXTERNAL_SERVICE,
        ),
    ],
    ids=["protocol_version", "access_log_type", "tls_version", "protocol", "reason"],
)
def test_enum_fields(doc: Json, read: Callable[[AlsMessage], object], expected: int) -> None:
    assert read(decode(doc)) == expected
    reference(doc)  # json_format reads it too


@pytest.mark.parametrize(
    "case",
    [
        Invalid("FOO", "unknown RequestMethod value 'FOO'"),
        Invalid("get", "unknown RequestMethod value 'get'"),
        Invalid("", "unknown RequestMethod value ''"),
        Invalid("X1", "unknown RequestMethod value 'X1'"),  # only a sign may precede the digits
        Invalid(2147483648, "number 2147483648 is out of range for int32"),
        Invalid("2147483648", "string '2147483648' is out of range for int32"),
        Invalid([], "expected an integer (int32), got an array"),
        Invalid(1.5, "expected an integer (int32), got number 1.5", False),
        Invalid(True, "expected an integer (int32), got true", False),
    ],
    ids=repr,
)
def test_enum_invalid(case: Invalid) -> None:
    check_invalid(
        request_doc(requestMethod=case.value),
        case,
        f"{ENTRY}.request.request_method",
        lambda m: first_entry(m).request.request_method,  # type: ignore[union-attr]
        RequestMethod.METHOD_UNSPECIFIED,
    )


# Any: well-known types decoded from their JSON form under "value".
WKT = "type.googleapis.com/google.protobuf."
WKT_CLASSES: dict[str, type[Message]] = {
    "Struct": struct_pb2.Struct,
    "Value": struct_pb2.Value,
    "ListValue": struct_pb2.ListValue,
    "BoolValue": wrappers_pb2.BoolValue,
    "StringValue": wrappers_pb2.StringValue,
    "BytesValue": wrappers_pb2.BytesValue,
    "Int32Value": wrappers_pb2.Int32Value,
    "UInt32Value": wrappers_pb2.UInt32Value,
    "Int64Value": wrappers_pb2.Int64Value,
    "UInt64Value": wrappers_pb2.UInt64Value,
    "FloatValue": wrappers_pb2.FloatValue,
    "DoubleValue": wrappers_pb2.DoubleValue,
    "Duration": duration_pb2.Duration,
    "Timestamp": timestamp_pb2.Timestamp,
    "Empty": empty_pb2.Empty,
}


def freeze(value: Any) -> Any:
    """A plain JSON-like value as the model holds it: tuples and FrozenMaps."""
    if isinstance(value, dict):
        return FrozenMap({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def unpacked(packed: any_pb2.Any) -> Any:
    """json_format's reading of an Any, in the model's terms."""
    payload = WKT_CLASSES[packed.type_url.rpartition(".")[2]]()
    assert packed.Unpack(payload)
    if isinstance(payload, (duration_pb2.Duration, timestamp_pb2.Timestamp)):
        return payload.ToNanoseconds()
    if isinstance(payload, empty_pb2.Empty):
        return None
    if isinstance(payload, (struct_pb2.Struct, struct_pb2.Value, struct_pb2.ListValue)):
        return freeze(json_format.MessageToDict(payload))
    return payload.value  # type: ignore[attr-defined]


ANY_KNOWN: list[tuple[Json, object]] = [
    (
        {"@type": WKT + "Struct", "value": {"a": 1, "b": [True, None, "x"], "c": {"d": 2.5}}},
        FrozenMap({"a": 1.0, "b": (True, None, "x"), "c": FrozenMap({"d": 2.5})}),
    ),
    ({"@type": WKT + "Value", "value": "x"}, "x"),
    ({"@type": WKT + "Value", "value": 1}, 1.0),
    ({"@type": WKT + "Value", "value": None}, None),
    ({"@type": WKT + "Value", "value": {"a": []}}, FrozenMap({"a": ()})),
    ({"@type": WKT + "ListValue", "value": [1, "a", [False]]}, (1.0, "a", (False,))),
    ({"@type": WKT + "BoolValue", "value": True}, True),
    ({"@type": WKT + "StringValue", "value": "s"}, "s"),
    ({"@type": WKT + "BytesValue", "value": "aGk="}, b"hi"),
    ({"@type": WKT + "Int32Value", "value": -5}, -5),
    ({"@type": WKT + "Int32Value", "value": "-5"}, -5),
    ({"@type": WKT + "UInt32Value", "value": 7}, 7),
    ({"@type": WKT + "Int64Value", "value": "-9223372036854775808"}, -(2**63)),
    ({"@type": WKT + "UInt64Value", "value": "18446744073709551615"}, 2**64 - 1),
    ({"@type": WKT + "FloatValue", "value": 0.1}, 0.10000000149011612),  # float32, as on the wire
    ({"@type": WKT + "FloatValue", "value": "-Infinity"}, -math.inf),
    ({"@type": WKT + "DoubleValue", "value": 0.1}, 0.1),
    ({"@type": WKT + "Duration", "value": "1.5s"}, 1_500_000_000),
    ({"@type": WKT + "Timestamp", "value": "1970-01-01T00:00:01Z"}, 1_000_000_000),
    ({"@type": WKT + "Empty"}, None),  # Empty has no special form: written inline, no fields
    ({"@type": "example.com/t/google.protobuf.StringValue", "value": "p"}, "p"),  # any prefix
]


@pytest.mark.parametrize(("body", "expected"), ANY_KNOWN, ids=lambda v: str(v)[:60])
def test_any_well_known(body: Json, expected: object) -> None:
    doc = common_doc(filterStateObjects={"k": body})
    decoded = common_of(decode(doc)).filter_state_objects["k"]
    assert decoded == AnyValue(type_url=body["@type"], value=expected, known=True)
    pb_common = reference(doc).http_logs.log_entry[0].common_properties
    assert unpacked(pb_common.filter_state_objects["k"]) == expected


def test_any_empty_also_under_value() -> None:
    doc = common_doc(filterStateObjects={"k": {"@type": WKT + "Empty", "value": {}}})
    decoded = common_of(decode(doc)).filter_state_objects["k"]
    assert decoded == AnyValue(type_url=WKT + "Empty", value=None, known=True)


def test_any_empty_object_is_an_empty_any() -> None:
    doc = common_doc(filterStateObjects={"k": {}})
    decoded = common_of(decode(doc)).filter_state_objects["k"]
    assert decoded == AnyValue(type_url="", value=b"", known=False)  # as binary decoding has it
    pb_any = reference(doc).http_logs.log_entry[0].common_properties.filter_state_objects["k"]
    assert (pb_any.type_url, pb_any.value) == ("", b"")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"@type": "type.googleapis.com/envoy.config.core.v3.Locality", "region": "r"},
            FrozenMap({"region": "r"}),
        ),
        (
            {"@type": "example.com/acme.v1.Custom", "list": [1, {"a": 2.5}], "n": None},
            FrozenMap({"list": (1, FrozenMap({"a": 2.5})), "n": None}),
        ),
        ({"@type": "type.googleapis.com/istio.Unknown"}, FrozenMap()),
    ],
)
def test_any_of_another_type_is_kept_opaque(body: Json, fields: FrozenMap[str, object]) -> None:
    doc = common_doc(filterStateObjects={"k": body})
    decoded = common_of(decode(doc)).filter_state_objects["k"]
    assert decoded == AnyValue(type_url=body["@type"], value=OpaqueJson(fields), known=False)
    assert decoded.type_name == body["@type"].rpartition("/")[2]


def test_any_in_typed_filter_metadata() -> None:
    body = {"@type": WKT + "Struct", "value": {"x": "y"}}
    doc = common_doc(metadata={"typedFilterMetadata": {"envoy.lb": body}})
    metadata = common_of(decode(doc)).metadata
    assert metadata is not None
    expected = AnyValue(type_url=WKT + "Struct", value=FrozenMap({"x": "y"}), known=True)
    assert metadata.typed_filter_metadata == FrozenMap({"envoy.lb": expected})
    pb_metadata = reference(doc).http_logs.log_entry[0].common_properties.metadata
    assert unpacked(pb_metadata.typed_filter_metadata["envoy.lb"]) == FrozenMap({"x": "y"})


ANY_INVALID = [
    Invalid({"value": 1}, "Any needs an '@type' string, got null"),
    Invalid({"@type": 5}, "Any needs an '@type' string, got number 5"),
    Invalid({"@type": "type.googleapis.com/"}, "malformed '@type' 'type.googleapis.com/'"),
    Invalid(
        {"@type": "type.googleapis.com/bad name"},
        "malformed '@type' 'type.googleapis.com/bad name'",
    ),
    Invalid({"@type": WKT + "Struct", "value": 5}, "expected a JSON object (Struct), got number 5"),
    Invalid({"@type": WKT + "Struct"}, "Any of google.protobuf.Struct has no 'value'"),
    Invalid(
        {"@type": WKT + "ListValue", "value": {}},
        "expected a JSON array (ListValue), got an object",
    ),
    Invalid(
        {"@type": WKT + "Int32Value", "value": 2**31}, "number 2147483648 is out of range for int32"
    ),
    Invalid({"@type": WKT + "FloatValue", "value": 1e39}, "number 1e+39 is out of range for float"),
    Invalid(
        {"@type": WKT + "Timestamp", "value": 0},
        "expected an RFC 3339 timestamp string, got number 0",
    ),
    Invalid("x", "expected a JSON object (Any), got string 'x'"),
    # json_format accepts non-base64 characters.
    Invalid({"@type": WKT + "BytesValue", "value": "!!!"}, "malformed base64: string '!!!'", False),
    Invalid(
        {"@type": WKT + "Empty", "value": {"a": 1}}, "expected {} (Empty), got an object", False
    ),
]


@pytest.mark.parametrize("case", ANY_INVALID, ids=repr)
def test_any_invalid(case: Invalid) -> None:
    check_invalid(
        common_doc(filterStateObjects={"k": case.value}),
        case,
        f'{COMMON}.filter_state_objects["k"]',
        lambda m: common_of(m).filter_state_objects,
        FrozenMap(),  # the entry is dropped
    )


def test_any_extra_key_next_to_value() -> None:
    body = {"@type": WKT + "StringValue", "value": "x", "extra": 1}
    doc = common_doc(filterStateObjects={"k": body})
    error = strict_error(doc)
    field = f'{COMMON}.filter_state_objects["k"].extra'
    reason = "unknown field 'extra' in an Any of google.protobuf.StringValue"
    assert (error.reason, where(error)) == (reason, ("test.json", 3, 0, field))
    lenient = decode(doc, strict=False)
    expected = AnyValue(type_url=WKT + "StringValue", value="x", known=True)
    assert common_of(lenient).filter_state_objects == FrozenMap({"k": expected})
    assert [d.reason for d in lenient.diagnostics] == [f"{reason}; ignored"]


# bytes (BytesValue inside Any): standard or URL-safe base64, padded or not.
BYTES_VALID: list[tuple[str, bytes]] = [
    ("aGk=", b"hi"),
    ("aGk", b"hi"),
    ("aGVsbG8=", b"hello"),
    ("aGVsbG8", b"hello"),
    ("", b""),
    ("AAEC", b"\x00\x01\x02"),
    ("+/8=", b"\xfb\xff"),
    ("-_8=", b"\xfb\xff"),
    ("-_8", b"\xfb\xff"),
    ("YQ==", b"a"),
    ("YQ", b"a"),
    ("aGVsbA", b"hell"),  # six characters: a length of 2 modulo 4
    ("aGVsbA==", b"hell"),
]


@pytest.mark.parametrize(("text", "expected"), BYTES_VALID)
def test_bytes_forms(text: str, expected: bytes) -> None:
    body = {"@type": WKT + "BytesValue", "value": text}
    doc = common_doc(filterStateObjects={"k": body})
    assert common_of(decode(doc)).filter_state_objects["k"].value == expected
    pb_common = reference(doc).http_logs.log_entry[0].common_properties
    assert unpacked(pb_common.filter_state_objects["k"]) == expected


@pytest.mark.parametrize("text", ["a", "aGk==", "YQ=", "aG=k", "aGk=a", "a b", "aGk=\n"])
def test_bytes_malformed(text: str) -> None:
    body = {"@type": WKT + "BytesValue", "value": text}
    error = strict_error(common_doc(filterStateObjects={"k": body}))
    assert error.reason == f"malformed base64: string {text!r}"
    assert error.field == f'{COMMON}.filter_state_objects["k"]'


# Struct (node metadata, filter metadata): numbers are floats, null is a value.
STRUCTS: list[tuple[Json, FrozenMap[str, Any]]] = [
    ({}, FrozenMap()),
    ({"a": 1}, FrozenMap({"a": 1.0})),
    (
        {"a": -2.5, "b": "x", "c": True, "d": None},
        FrozenMap({"a": -2.5, "b": "x", "c": True, "d": None}),
    ),
    ({"l": [1, [2], {"x": None}]}, FrozenMap({"l": (1.0, (2.0,), FrozenMap({"x": None}))})),
    ({"o": {"p": {"q": "deep"}}}, FrozenMap({"o": FrozenMap({"p": FrozenMap({"q": "deep"})})})),
    ({"big": 2**53 + 1}, FrozenMap({"big": float(2**53)})),  # a double, like number_value
]


@pytest.mark.parametrize(("value", "expected"), STRUCTS, ids=repr)
def test_struct_forms(value: Json, expected: FrozenMap[str, Any]) -> None:
    doc = {"identifier": {"node": {"metadata": value}}}
    node = _node_of(decode(doc))
    assert node.metadata == expected
    assert all(type(v) is float for v in node.metadata.values() if type(v) in (int, float))
    assert freeze(json_format.MessageToDict(reference(doc).identifier.node.metadata)) == expected


def test_struct_map_values() -> None:
    doc = common_doc(metadata={"filterMetadata": {"istio_authn": {}, "envoy.lb": {"canary": True}}})
    metadata = common_of(decode(doc)).metadata
    assert metadata is not None
    assert metadata.filter_metadata == FrozenMap(
        {"istio_authn": FrozenMap(), "envoy.lb": FrozenMap({"canary": True})}
    )


@pytest.mark.parametrize(
    "case",
    [
        Invalid([], "expected a JSON object (Struct), got an array"),
        Invalid("x", "expected a JSON object (Struct), got string 'x'"),
        Invalid({"n": 10**400}, f"number {str(10**400)[:37]}... is out of range for double", False),
    ],
    ids=lambda case: repr(case)[:60],
)
def test_struct_invalid(case: Invalid) -> None:
    check_invalid(
        {"identifier": {"node": {"metadata": case.value}}},
        case,
        "identifier.node.metadata",
        lambda m: _node_of(m).metadata,
        None,
        entry_index=None,
    )


# null means "absent": the default, or None where the model has presence.
NULLS: list[tuple[Json, Callable[[AlsMessage], object], object]] = [
    (common_doc(upstreamCluster=None), lambda m: common_of(m).upstream_cluster, ""),
    (common_doc(startTime=None), lambda m: common_of(m).start_time_ns, None),
    (common_doc(duration=None), lambda m: common_of(m).duration_ns, None),
    (
        common_doc(downstreamRemoteAddress=None),
        lambda m: common_of(m).downstream_remote_address,
        None,
    ),
    (common_doc(responseFlags=None), lambda m: common_of(m).response_flags, frozenset()),
    (common_doc(customTags=None), lambda m: common_of(m).custom_tags, FrozenMap()),
    (common_doc(sampleRate=None), lambda m: common_of(m).sample_rate, 0.0),
    (common_doc(accessLogType=None), lambda m: common_of(m).access_log_type, AccessLogType.NotSet),
    (request_doc(port=None), lambda m: first_entry(m).request.port, None),  # type: ignore[union-attr]
    (
        request_doc(requestMethod=None),
        lambda m: first_entry(m).request.request_method,  # type: ignore[union-attr]
        RequestMethod.METHOD_UNSPECIFIED,
    ),
    (response_doc(responseCode=None), lambda m: first_entry(m).response.response_code, None),  # type: ignore[union-attr]
    (http_doc({"commonProperties": None}), lambda m: first_entry(m).common_properties, None),
    ({"identifier": None}, lambda m: m.identifier, None),
    ({"identifier": {"node": {"metadata": None}}}, lambda m: _node_of(m).metadata, None),
    ({"identifier": {"node": {"clientFeatures": None}}}, lambda m: _node_of(m).client_features, ()),
    ({"httpLogs": {"logEntry": None}}, lambda m: (m.kind, m.entries), ("http", ())),
    # A null oneof member is not a member: no conflict with the other one.
    ({"httpLogs": None, "tcpLogs": {"logEntry": [{}]}}, lambda m: m.kind, "tcp"),
    (
        common_doc(downstreamRemoteAddress={"pipe": None, "socketAddress": {"address": "a"}}),
        lambda m: common_of(m).downstream_remote_address,
        SocketAddress(address="a"),
    ),
    # Inside a Struct, null is the null value.
    (
        {"identifier": {"node": {"metadata": {"k": None}}}},
        lambda m: _node_of(m).metadata,
        FrozenMap({"k": None}),
    ),
]


# Ids stay the same from run to run (a lambda's repr holds its address): the mutation tool
# selects tests by id.
@pytest.mark.parametrize(
    ("doc", "read", "expected"), NULLS, ids=lambda v: "read" if callable(v) else str(v)[:70]
)
def test_null_is_absent(doc: Json, read: Callable[[AlsMessage], object], expected: object) -> None:
    assert read(decode(doc)) == expected
    reference(doc)  # json_format accepts it as well


@pytest.mark.parametrize(
    ("doc", "field", "entry_index", "reason"),
    [
        (
            {"identifier": {"node": {"listeningAddresses": [None]}}},
            "identifier.node.listening_addresses[0]",
            None,
            "null element in a repeated field",
        ),
        (
            {"identifier": {"node": {"clientFeatures": ["a", None]}}},
            "identifier.node.client_features[1]",
            None,
            "null element in a repeated field",
        ),
        (common_doc(customTags={"k": None}), f'{COMMON}.custom_tags["k"]', 0, "null map value"),
        ({"httpLogs": {"logEntry": [{}, None]}}, "http_logs.log_entry[1]", 1, "null log entry"),
    ],
)
def test_null_where_no_null_is_allowed(
    doc: Json, field: str, entry_index: int | None, reason: str
) -> None:
    error = strict_error(doc)
    assert (error.reason, where(error)) == (reason, ("test.json", 3, entry_index, field))
    assert [d.location.field for d in decode(doc, strict=False).diagnostics] == [field]
    with pytest.raises(json_format.ParseError):
        reference(doc)


# Maps are JSON objects.
def test_string_maps() -> None:
    headers = {":authority": "a", "x-b3-traceid": "c", "ünï": "ü"}
    doc = http_doc(
        {
            "commonProperties": {"customTags": {"team": "mesh"}},
            "request": {"requestHeaders": headers},
            "response": {"responseHeaders": {"a": "1"}, "responseTrailers": {"grpc-status": "0"}},
        }
    )
    entry = first_entry(decode(doc))
    assert entry.request is not None
    assert entry.response is not None
    assert entry.request.request_headers == FrozenMap(headers)
    assert entry.response.response_headers == FrozenMap({"a": "1"})
    assert entry.response.response_trailers == FrozenMap({"grpc-status": "0"})
    assert common_of(decode(doc)).custom_tags == FrozenMap({"team": "mesh"})
    assert dict(reference(doc).http_logs.log_entry[0].request.request_headers) == headers


def test_dynamic_parameters_map() -> None:
    doc = {"identifier": {"node": {"dynamicParameters": {"d": {"params": {"a": "b"}}, "e": {}}}}}
    node = _node_of(decode(doc))
    assert node.dynamic_parameters == FrozenMap({"d": FrozenMap({"a": "b"}), "e": FrozenMap()})
    pb_node = reference(doc).identifier.node
    assert dict(pb_node.dynamic_parameters["d"].params) == {"a": "b"}


@pytest.mark.parametrize(
    ("headers", "field", "reason", "kept"),
    [
        ([], f"{ENTRY}.request.request_headers", "expected a JSON object (map), got an array", {}),
        (
            {"k": 5, "ok": "v"},
            f'{ENTRY}.request.request_headers["k"]',
            "expected a string, got number 5",
            {"ok": "v"},
        ),
        (
            {"k\ud800": "v", "ok": "v"},
            f'{ENTRY}.request.request_headers["k\\ud800"]',
            "string holds an unpaired surrogate",
            {"ok": "v"},
        ),
        # The one member of the map: nothing else sends it down the member-by-member path.
        (
            {"k\ud800": "v"},
            f'{ENTRY}.request.request_headers["k\\ud800"]',
            "string holds an unpaired surrogate",
            {},
        ),
        (
            {"k": "v\ud800"},
            f'{ENTRY}.request.request_headers["k"]',
            "string holds an unpaired surrogate",
            {},
        ),
    ],
    ids=["array", "number", "surrogate-key", "only-surrogate-key", "only-surrogate-value"],
)
def test_map_invalid(headers: Json, field: str, reason: str, kept: dict[str, str]) -> None:
    doc = request_doc(requestHeaders=headers)
    error = strict_error(doc)
    assert (error.reason, where(error)) == (reason, ("test.json", 3, 0, field))
    lenient = decode(doc, strict=False)
    assert first_entry(lenient).request.request_headers == FrozenMap(kept)  # type: ignore[union-attr]
    assert [d.location.field for d in lenient.diagnostics] == [field]


def test_repeated_must_be_an_array() -> None:
    doc = {"identifier": {"node": {"clientFeatures": "a"}}}
    error = strict_error(doc)
    reason = "expected a JSON array, got string 'a'"
    assert (error.reason, where(error)) == (
        reason,
        ("test.json", 3, None, "identifier.node.client_features"),
    )


def test_message_must_be_an_object() -> None:
    doc = http_doc({"request": ["GET"]})
    error = strict_error(doc)
    reason = "expected a JSON object, got an array"
    assert (error.reason, where(error)) == (reason, ("test.json", 3, 0, f"{ENTRY}.request"))
    assert first_entry(decode(doc, strict=False)).request is None


# Oneofs: two members set is an error; lenient decoding keeps the first in the text.
class OneofCase(NamedTuple):
    doc: Json
    oneof: str
    first: str  # the member kept (protobuf name)
    second: str  # the member dropped
    field: str  # the dropped member's path
    read: Callable[[AlsMessage], object]
    kept: object
    entry_index: int | None


ONEOFS = [
    OneofCase(
        {"httpLogs": {"logEntry": [{}]}, "tcpLogs": {"logEntry": [{}, {}]}},
        "log_entries",
        "http_logs",
        "tcp_logs",
        "tcp_logs",
        lambda m: (m.kind, len(m.entries)),
        ("http", 1),
        None,
    ),
    OneofCase(
        {"tcpLogs": {"logEntry": [{}, {}]}, "http_logs": {"logEntry": [{}]}},
        "log_entries",
        "tcp_logs",
        "http_logs",
        "http_logs",
        lambda m: (m.kind, len(m.entries)),
        ("tcp", 2),
        None,
    ),
    OneofCase(
        common_doc(
            downstreamRemoteAddress={"socketAddress": {"address": "a"}, "pipe": {"path": "/p"}}
        ),
        "address",
        "socket_address",
        "pipe",
        f"{COMMON}.downstream_remote_address.pipe",
        lambda m: common_of(m).downstream_remote_address,
        SocketAddress(address="a"),
        0,
    ),
    OneofCase(
        common_doc(
            upstreamLocalAddress={
                "envoyInternalAddress": {"serverListenerName": "l"},
                "socketAddress": {},
            }
        ),
        "address",
        "envoy_internal_address",
        "socket_address",
        f"{COMMON}.upstream_local_address.socket_address",
        lambda m: common_of(m).upstream_local_address,
        EnvoyInternalAddress(server_listener_name="l"),
        0,
    ),
    OneofCase(
        common_doc(
            downstreamLocalAddress={"socketAddress": {"portValue": 80, "namedPort": "http"}}
        ),
        "port_specifier",
        "port_value",
        "named_port",
        f"{COMMON}.downstream_local_address.socket_address.named_port",
        lambda m: common_of(m).downstream_local_address,
        SocketAddress(port=80),
        0,
    ),
    OneofCase(
        common_doc(
            tlsProperties={
                "peerCertificateProperties": {"subjectAltName": [{"dns": "d", "uri": "spiffe://u"}]}
            }
        ),
        "san",
        "dns",
        "uri",
        f"{COMMON}.tls_properties.peer_certificate_properties.subject_alt_name[0].uri",
        lambda m: (
            present(
                present(common_of(m).tls_properties).peer_certificate_properties
            ).subject_alt_name
        ),
        (SubjectAltName(dns="d"),),
        0,
    ),
    OneofCase(
        {"identifier": {"node": {"userAgentVersion": "1.0", "userAgentBuildVersion": {}}}},
        "user_agent_version_type",
        "user_agent_version",
        "user_agent_build_version",
        "identifier.node.user_agent_build_version",
        lambda m: (_node_of(m).user_agent_version, _node_of(m).user_agent_build_version),
        ("1.0", None),
        None,
    ),
]


@pytest.mark.parametrize("case", ONEOFS, ids=lambda case: f"{case.oneof}-{case.first}")
def test_oneof_with_two_members(case: OneofCase) -> None:
    doc, oneof, first, second, field, read, kept, entry_index = case
    reason = f"oneof {oneof!r} has more than one member set ({first!r} and {second!r})"
    error = strict_error(doc)
    assert (error.reason, where(error)) == (reason, ("test.json", 3, entry_index, field))
    lenient = decode(doc, strict=False)
    assert read(lenient) == kept
    location = Location(source="test.json", message_index=3, entry_index=entry_index, field=field)
    # Dropping a member of log_entries drops its entries.
    kind = DiagnosticKind.PART_SKIPPED if oneof == "log_entries" else DiagnosticKind.VALUE_IGNORED
    assert lenient.diagnostics == (
        Diagnostic(kind=kind, location=location, reason=f"{reason}; kept {first!r}"),
    )
    with pytest.raises(json_format.ParseError):
        reference(doc)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            common_doc(downstreamRemoteAddress={"pipe": {"path": "/s", "mode": 384}}),
            PipeAddress(path="/s", mode=384),
        ),
        (
            common_doc(downstreamRemoteAddress={"envoyInternalAddress": {"endpointId": "e"}}),
            EnvoyInternalAddress(endpoint_id="e"),
        ),
        (
            common_doc(
                downstreamRemoteAddress={"socketAddress": {"address": "a", "namedPort": "http"}}
            ),
            SocketAddress(address="a", named_port="http"),
        ),
        (
            common_doc(
                downstreamRemoteAddress={"socket_address": {"address": "a", "port_value": 1}}
            ),
            SocketAddress(address="a", port=1),
        ),
        (common_doc(downstreamRemoteAddress={}), None),  # an Address with no member
    ],
    ids=["pipe", "internal", "named_port", "snake_case", "empty"],
)
def test_address_members(doc: Json, expected: object) -> None:
    assert common_of(decode(doc)).downstream_remote_address == expected
    reference(doc)


def test_response_flags() -> None:
    flags = {"noRouteFound": True, "upstream_overflow": True, "localReset": False}
    doc = common_doc(responseFlags={**flags, "unauthorizedDetails": {}})
    common = common_of(decode(doc))
    assert common.response_flags == frozenset(
        {
            ResponseFlag.NO_ROUTE_FOUND,
            ResponseFlag.UPSTREAM_OVERFLOW,
            ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
        }
    )
    assert common.unauthorized_reason is UnauthorizedReason.REASON_UNSPECIFIED
    pb_flags = reference(doc).http_logs.log_entry[0].common_properties.response_flags
    assert (pb_flags.no_route_found, pb_flags.upstream_overflow, pb_flags.local_reset) == (
        True,
        True,
        False,
    )
    assert pb_flags.HasField("unauthorized_details")


# Unknown keys: noted with their path and skipped, or an error when strict.
UNKNOWN_KEYS: list[tuple[Json, str, int | None]] = [
    ({"bogus": 1, "httpLogs": {}}, "bogus", None),
    ({"identifier": {"bogus": 1}}, "identifier.bogus", None),
    ({"identifier": {"node": {"bogus": 1}}}, "identifier.node.bogus", None),
    (
        {"identifier": {"node": {"locality": {"Region": "r"}}}},
        "identifier.node.locality.Region",
        None,
    ),
    ({"httpLogs": {"bogus": 1}}, "http_logs.bogus", None),
    (http_doc({"bogus": 1}), f"{ENTRY}.bogus", 0),
    (common_doc(bogus=1), f"{COMMON}.bogus", 0),
    (common_doc(StartTime="x"), f"{COMMON}.StartTime", 0),  # names are case-sensitive
    (
        common_doc(downstreamRemoteAddress={"socketAddress": {"bogus": 1}}),
        f"{COMMON}.downstream_remote_address.socket_address.bogus",
        0,
    ),
    (
        common_doc(downstreamRemoteAddress={"bogus": 1}),
        f"{COMMON}.downstream_remote_address.bogus",
        0,
    ),
    (common_doc(responseFlags={"bogus": True}), f"{COMMON}.response_flags.bogus", 0),
    (request_doc(bogus=1), f"{ENTRY}.request.bogus", 0),
    (
        {"httpLogs": {"logEntry": [{}, {"response": {"bogus": 1}}]}},
        "http_logs.log_entry[1].response.bogus",
        1,
    ),
    ({"tcpLogs": {"logEntry": [{"bogus": 1}]}}, "tcp_logs.log_entry[0].bogus", 0),
    (
        {"identifier": {"node": {"dynamicParameters": {"d": {"bogus": 1}}}}},
        'identifier.node.dynamic_parameters["d"].bogus',
        None,
    ),
    # After the entries, a problem is in no entry (the clean path, then the walk).
    ({"httpLogs": {"logEntry": [{}]}, "identifier": {"bogus": 1}}, "identifier.bogus", None),
    ({"tcp_logs": {"logEntry": [{}]}, "bogus": 1}, "bogus", None),
]


@pytest.mark.parametrize(
    ("doc", "field", "entry_index"), UNKNOWN_KEYS, ids=lambda v: v if isinstance(v, str) else None
)
def test_unknown_key(doc: Json, field: str, entry_index: int | None) -> None:
    key = field.rpartition(".")[2]
    error = strict_error(doc)
    assert (error.reason, where(error)) == (
        f"unknown field {key!r}",
        ("test.json", 3, entry_index, field),
    )
    lenient = decode(doc, strict=False)
    location = Location(source="test.json", message_index=3, entry_index=entry_index, field=field)
    assert lenient.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED,
            location=location,
            reason=f"unknown field {key!r}; ignored",
        ),
    )
    with pytest.raises(json_format.ParseError):
        reference(doc)


def test_unknown_keys_leave_the_rest_alone() -> None:
    doc = common_doc(upstreamCluster="c", bogus=[1, 2], startTime="1970-01-01T00:00:01Z", zzz={})
    lenient = decode(doc, strict=False)
    common = common_of(lenient)
    assert (common.upstream_cluster, common.start_time_ns) == ("c", 1_000_000_000)
    assert [d.location.field for d in lenient.diagnostics] == [f"{COMMON}.bogus", f"{COMMON}.zzz"]


def test_both_spellings_of_one_field() -> None:
    doc = common_doc(startTime="1970-01-01T00:00:01Z", start_time="1970-01-01T00:00:02Z")
    error = strict_error(doc)
    reason = "field 'start_time' given more than once"
    assert (error.reason, where(error)) == (reason, ("test.json", 3, 0, f"{COMMON}.start_time"))
    lenient = decode(doc, strict=False)
    assert common_of(lenient).start_time_ns == 1_000_000_000  # the first in the text
    assert [d.reason for d in lenient.diagnostics] == [f"{reason}; kept the first"]


@pytest.mark.parametrize("key", ["buildVersion", "build_version"])
def test_v2_node_build_version(key: str) -> None:
    doc = {"identifier": {"node": {"id": "n", key: "abc/1.10.0/Clean/RELEASE/BoringSSL"}}}
    node = _node_of(decode(doc))
    assert node.build_version == "abc/1.10.0/Clean/RELEASE/BoringSSL"
    expected = json_format.Parse(json.dumps(doc), als_v2.StreamAccessLogsMessage())
    assert node.build_version == expected.identifier.node.build_version


def test_tcp_entries() -> None:
    doc = {
        "tcpLogs": {
            "logEntry": [
                {
                    "commonProperties": {"upstreamCluster": "db", "duration": "2s"},
                    "connectionProperties": {"receivedBytes": "10", "sentBytes": 20},
                }
            ]
        }
    }
    message = decode(doc)
    assert (message.kind, message.http_entries) == ("tcp", ())
    (entry,) = message.tcp_entries
    assert entry.common_properties is not None
    assert (entry.common_properties.upstream_cluster, entry.common_properties.duration_ns) == (
        "db",
        2_000_000_000,
    )
    assert entry.connection_properties is not None
    assert (entry.connection_properties.received_bytes, entry.connection_properties.sent_bytes) == (
        10,
        20,
    )


@pytest.mark.parametrize(
    ("doc", "kind", "count"),
    [({}, None, 0), ({"httpLogs": {}}, "http", 0), ({"tcpLogs": {"logEntry": []}}, "tcp", 0)],
)
def test_messages_without_entries(doc: Json, kind: str | None, count: int) -> None:
    message = decode(doc)
    assert (message.identifier, message.kind, len(message.entries)) == (None, kind, count)


# --- the text itself -----------------------------------------------------------------------------

SMALL = '{"httpLogs": {"logEntry": [{"response": {"responseCode": 204}}]}}'


def _response_code(message: AlsMessage) -> int | None:
    response = first_entry(message).response
    assert response is not None
    return response.response_code


@pytest.mark.parametrize(
    "text",
    [
        SMALL,
        SMALL.encode(),
        bytearray(SMALL.encode()),
        "\ufeff" + SMALL,
        b"\xef\xbb\xbf" + SMALL.encode(),
        f"\n\n  {SMALL}\n\n",
        f"# header\n// comment\n{SMALL}\n# footer\n",
        f"{SMALL}\r\n",
    ],
    ids=["str", "bytes", "bytearray", "bom-str", "bom-bytes", "whitespace", "comments", "crlf"],
)
def test_text_forms(text: str | bytes | bytearray) -> None:
    message = decode_json(text, strict=True)
    assert _response_code(message) == 204
    assert message.diagnostics == ()


def test_source_and_index_are_kept() -> None:
    message = decode_json(SMALL, source="capture.json", index=7)
    assert (message.source, message.index) == ("capture.json", 7)
    assert decode_json(SMALL).source == "<json>"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "invalid JSON: Expecting value at line 1 column 1"),
        ("   \n", "invalid JSON: Expecting value at line 2 column 1"),
        ("# only a comment\n// and another\n", "invalid JSON: Expecting value at line 3 column 1"),
        ('{"a": }', "invalid JSON: Expecting value at line 1 column 7"),
        ('{\n  "a" 1\n}', "invalid JSON: Expecting ':' delimiter at line 2 column 7"),
        (
            "# licence\n{\n  'a': 1\n}",
            "invalid JSON: Expecting property name enclosed in double quotes at line 3 column 3",
        ),
        ("[]", "expected a JSON object (StreamAccessLogsMessage), got an array"),
        ('"x"', "expected a JSON object (StreamAccessLogsMessage), got string 'x'"),
        ("5", "expected a JSON object (StreamAccessLogsMessage), got number 5"),
        ("null", "expected a JSON object (StreamAccessLogsMessage), got null"),
        ("[1] trailing", "expected a JSON object (StreamAccessLogsMessage), got an array"),
        (
            "1" * 5000,
            "invalid JSON: a number with too many digits",
        ),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ],
    ids=lambda v: plain_id(v[:30]) if isinstance(v, str) else None,
)
def test_not_a_message(text: str, reason: str) -> None:
    for strict in (False, True):
        with pytest.raises(DecodeError) as caught:
            decode_json(text, source="bad.json", index=2, strict=strict)
        assert caught.value.reason == reason
        assert where(caught.value) == ("bad.json", 2, None, None)


def test_not_utf8() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_json(b'{"a": "\xff"}', source="bad.json")
    assert caught.value.reason == "not UTF-8: invalid byte at offset 7"


def test_deep_struct_is_a_decode_error() -> None:
    depth = 600  # json.loads copes; the walk would recurse too deep
    text = '{"identifier": {"node": {"metadata": {"k": ' + "[" * depth + "]" * depth + "}}}}"
    with pytest.raises(DecodeError) as caught:
        decode_json(text)
    assert "nested too deeply" in caught.value.reason


def test_trailing_text() -> None:
    text = SMALL + "\n}\n"
    lenient = decode_json(text, source="t.msg")
    assert _response_code(lenient) == 204
    reason = "trailing text after the JSON value at line 2 column 1"
    assert lenient.diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.VALUE_IGNORED,
            location=Location(source="t.msg"),
            reason=f"{reason}; ignored",
        ),
    )
    with pytest.raises(DecodeError) as caught:
        decode_json(text, source="t.msg", strict=True)
    assert caught.value.reason == reason


def test_not_text_at_all() -> None:
    with pytest.raises(TypeError):
        decode_json(5)  # type: ignore[arg-type]


# --- nothing but DecodeError, whatever the input -------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "1.5s", "2019-04-13T03:59:53Z", "GET", "1e3", "aGk=", "-1"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# Places in a valid message where the fuzzed value goes.
FUZZ_PLACES: list[tuple[Step, ...]] = [
    (),
    ("identifier",),
    (*NODE_PATH,),
    (*NODE_PATH, "metadata"),
    (*NODE_PATH, "dynamic_parameters"),
    (*LISTENING,),
    ("http_logs",),
    ("http_logs", "log_entry"),
    ENTRY_PATH,
    COMMON_PATH,
    (*COMMON_PATH, "filter_state_objects", "[k]"),
    (*COMMON_PATH, "response_flags"),
    (*COMMON_PATH, "downstream_remote_address", "socket_address"),
    TLS_PATH,
    (*ENTRY_PATH, "request"),
    (*ENTRY_PATH, "response"),
]
FIELD_NAMES = sorted(
    {name for d in SCHEMA.values() for f in d.fields for name in (f.name, f.json_name)}
)


@given(
    place=st.sampled_from(FUZZ_PLACES),
    key=st.sampled_from(FIELD_NAMES) | st.just("@type"),
    value=JSON_VALUES,
    strict=st.booleans(),
)
def test_fuzzed_values_raise_only_decode_errors(
    place: tuple[Step, ...], key: str, value: Json, strict: bool
) -> None:
    doc = _nest(place, {key: value}) if place else {key: value}
    try:
        text = json.dumps(doc)
    except ValueError:  # pragma: no cover - json.dumps refuses nothing we generate
        return
    try:
        message = decode_json(text, strict=strict)
    except DecodeError:
        return
    assert isinstance(message, AlsMessage)
    hash(message)  # immutable all the way down


# --- odd corners ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field", "entry_index", "reason"),
    [
        (
            {"httpLogs": {"logEntry": {}}},
            "http_logs.log_entry",
            None,
            "expected a JSON array, got an object",
        ),
        (
            {"identifier": {"node": {"dynamicParameters": {"d": 5}}}},
            'identifier.node.dynamic_parameters["d"]',
            None,
            "expected a JSON object, got number 5",
        ),
        (
            request_doc(requestBodyBytes="1" * 5000),
            f"{ENTRY}.request.request_body_bytes",
            0,
            f"string '{'1' * 37}...' is out of range for uint64",
        ),
        (
            common_doc(sampleRate=10**400),
            f"{COMMON}.sample_rate",
            0,
            f"number {'1' + '0' * 36}... is out of range for double",
        ),
        (
            common_doc(filterStateObjects={"k": {"@type": WKT + "BytesValue", "value": 5}}),
            f'{COMMON}.filter_state_objects["k"]',
            0,
            "expected a base64 string, got number 5",
        ),
        (
            common_doc(
                downstreamRemoteAddress={"socketAddress": {"address": "a", "portValue": -1}}
            ),
            f"{COMMON}.downstream_remote_address.socket_address.port_value",
            0,
            "number -1 is out of range for uint32",
        ),
        (
            {"identifier": {"node": {"bogus\ud800": 1}}},
            "identifier.node.bogus\\ud800",
            None,
            "unknown field 'bogus\\ud800'",
        ),
        (
            common_doc(
                downstreamRemoteAddress={"socketAddress": {"address": "\ud800", "portValue": 1}}
            ),
            f"{COMMON}.downstream_remote_address.socket_address.address",
            0,
            "string holds an unpaired surrogate",
        ),
        (
            common_doc(downstreamRemoteAddress=5),
            f"{COMMON}.downstream_remote_address",
            0,
            "expected a JSON object, got number 5",
        ),
        (
            common_doc(downstreamRemoteAddress="x"),
            f"{COMMON}.downstream_remote_address",
            0,
            "expected a JSON object, got string 'x'",
        ),
        (
            common_doc(
                tlsProperties={
                    "peerCertificateProperties": {"subjectAltName": [{"uri": "u", "bogus": 1}]}
                }
            ),
            f"{COMMON}.tls_properties.peer_certificate_properties.subject_alt_name[0].bogus",
            0,
            "unknown field 'bogus'",
        ),
        (
            common_doc(responseFlags={"unauthorizedDetails": {"reason": "NOPE"}}),
            f"{COMMON}.response_flags.unauthorized_details.reason",
            0,
            "unknown ResponseFlags.Unauthorized.Reason value 'NOPE'",
        ),
    ],
    ids=[
        "entries",
        "context-params",
        "digits",
        "huge",
        "bytes",
        "port",
        "surrogate-key",
        "surrogate-address",
        "address-number",
        "address-string",
        "subject-alt-name",
        "unauthorized-reason",
    ],
)
def test_odd_values(doc: Json, field: str, entry_index: int | None, reason: str) -> None:
    error = strict_error(doc)
    assert (error.reason, where(error)) == (reason, ("test.json", 3, entry_index, field))
    assert [d.location.field for d in decode(doc, strict=False).diagnostics] == [field]


def test_deep_nesting_after_comments() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_json("# comment\n" + "[" * 100_000 + "]" * 100_000)
    assert caught.value.reason == "invalid JSON: nested too deeply"


def test_many_distinct_addresses_and_minutes() -> None:
    # More than the caches hold: they are emptied and refilled, the values stay right.
    count = 5000
    entries = [
        {
            "commonProperties": {
                "upstreamRemoteAddress": {"socketAddress": {"address": "10.0.0.1", "portValue": i}},
                "startTime": f"2019-04-{1 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:07.5Z",
            }
        }
        for i in range(count)
    ]
    message = decode({"httpLogs": {"logEntry": entries}})
    pb_entries = reference({"httpLogs": {"logEntry": entries}}).http_logs.log_entry
    for i in (0, 1, 4095, 4096, 4097, count - 1):
        common = present(message.entries[i].common_properties)
        assert common.upstream_remote_address == SocketAddress(address="10.0.0.1", port=i)
        assert common.start_time_ns == pb_entries[i].common_properties.start_time.ToNanoseconds()


def test_dropped_oneof_member_is_not_decoded() -> None:
    doc = {"httpLogs": {"logEntry": [{}]}, "tcpLogs": {"logEntry": [{"bogus": 1}]}}
    reason = "oneof 'log_entries' has more than one member set ('http_logs' and 'tcp_logs')"
    assert strict_error(doc).reason == reason  # not the unknown field inside tcp_logs
    assert [d.reason for d in decode(doc, strict=False).diagnostics] == [
        f"{reason}; kept 'http_logs'"
    ]


def test_oneof_member_in_both_spellings_is_a_repeated_field() -> None:
    doc = common_doc(downstreamRemoteAddress={"socketAddress": {"portValue": 1, "port_value": 2}})
    lenient = decode(doc, strict=False)
    assert common_of(lenient).downstream_remote_address == SocketAddress(port=1)
    field = f"{COMMON}.downstream_remote_address.socket_address.port_value"
    assert [(d.location.field, d.reason) for d in lenient.diagnostics] == [
        (field, "field 'port_value' given more than once; kept the first")
    ]


def test_any_type_url_without_slash_is_all_type_name() -> None:
    # As the binary decoder reads it (and json_format accepts it): the name after the last "/".
    doc = {
        "tcpLogs": {
            "logEntry": [
                {
                    "commonProperties": {
                        "filterStateObjects": {
                            "k": {"@type": "google.protobuf.Struct", "value": {"a": 1}}
                        }
                    }
                }
            ]
        }
    }
    message = decode_json(json.dumps(doc), strict=True)
    common = message.tcp_entries[0].common_properties
    assert common is not None
    assert common.filter_state_objects["k"] == AnyValue(
        type_url="google.protobuf.Struct", value=FrozenMap({"a": 1.0}), known=True
    )


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("k" * 79, "k" * 79),
        ("k" * 80, "k" * 80),
        ("k" * 81, "k" * 77 + "..."),
        ("bé", "bé"),
        ('a"b\\c', 'a"b\\c'),
        ("k\ud800", "k\\ud800"),
    ],
    ids=["79", "80", "81", "non-ascii", "quote-and-backslash", "surrogate"],
)
def test_unknown_key_in_a_field_path(key: str, shown: str) -> None:
    # As it is up to 80 characters; escaped only where it cannot be printed as it is.
    notes = decode({"identifier": {key: 1}}, strict=False).diagnostics
    assert [d.location.field for d in notes] == [f"identifier.{shown}"]


def test_fields_after_one_given_in_both_spellings_are_read() -> None:
    doc = response_doc(responseCode=200, response_code=201, responseCodeDetails="via_upstream")
    lenient = decode(doc, strict=False)
    response = present(first_entry(lenient).response)
    assert (response.response_code, response.response_code_details) == (200, "via_upstream")
    assert [(d.location.field, d.reason) for d in lenient.diagnostics] == [
        (
            f"{ENTRY}.response.response_code",
            "field 'response_code' given more than once; kept the first",
        )
    ]
