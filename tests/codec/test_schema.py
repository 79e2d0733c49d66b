"""meshals' wire schema (protos/, generated into meshals._pb) against Envoy's own protos.

Envoy's generated classes come from xds-protos. meshals' copies live under the
``meshals.wire.`` package prefix; with it stripped, every message, field and enum must match
Envoy's v3 schema, except Node field 5 (v2's ``build_version``), which v3 reserves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, cast

import pytest
from envoy.config.core.v3 import base_pb2 as envoy_base
from envoy.service.accesslog.v2 import als_pb2 as envoy_als_v2
from envoy.service.accesslog.v3 import als_pb2 as envoy_als
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    json_format,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message

from meshals._pb import als_pb2

PREFIX = "meshals.wire."
NODE = "meshals.wire.envoy.config.core.v3.Node"
# v2's Node.build_version: the one field meshals declares that Envoy's v3 Node does not.
V2_ONLY = {NODE: 5}


def _files(root: FileDescriptor) -> list[FileDescriptor]:
    """meshals' own .proto files reachable from ``root`` (well-known types excluded)."""
    found: dict[str, FileDescriptor] = {}
    pending = [root]
    while pending:
        file = pending.pop()
        if file.name in found or not file.name.startswith("meshals/"):
            continue
        found[file.name] = file
        pending.extend(file.dependencies)
    return [found[name] for name in sorted(found)]


def _messages() -> list[Descriptor]:
    out: list[Descriptor] = []

    def visit(message: Descriptor) -> None:
        out.append(message)
        for nested in message.nested_types:
            visit(nested)

    for file in _files(als_pb2.DESCRIPTOR):
        for message in file.message_types_by_name.values():
            visit(message)
    return out


def _enums() -> list[EnumDescriptor]:
    out: list[EnumDescriptor] = []
    for file in _files(als_pb2.DESCRIPTOR):
        out.extend(file.enum_types_by_name.values())
    for message in _messages():
        out.extend(message.enum_types)
    return out


MESSAGES = _messages()
ENUMS = _enums()


def _envoy_name(name: str) -> str:
    return name.removeprefix(PREFIX)


def _field_shape(field: FieldDescriptor, *, strip: bool) -> dict[str, object]:
    """Everything about a field that shows on the wire or in JSON."""
    target = field.message_type or field.enum_type
    target_name = None if target is None else target.full_name
    if strip and target_name is not None:
        target_name = _envoy_name(target_name)
    oneof = field.containing_oneof
    return {
        "name": field.name,
        "type": field.type,
        "repeated": field.is_repeated,
        "json_name": field.json_name,
        "target": target_name,
        "oneof": None if oneof is None else oneof.name,
        "presence": field.has_presence,
    }


def _message_shape(message: Descriptor, *, strip: bool) -> dict[str, object]:
    return {
        "map_entry": message.GetOptions().map_entry,
        "oneofs": sorted(oneof.name for oneof in message.oneofs),
        "fields": {f.number: _field_shape(f, strip=strip) for f in message.fields},
    }


def _reserved(message: Descriptor) -> tuple[set[int], set[str]]:
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    numbers = {n for r in proto.reserved_range for n in range(r.start, r.end)}
    return numbers, set(proto.reserved_name)


def test_walk_finds_the_whole_schema() -> None:
    # Guards the parametrized tests below against an empty or partial walk.
    assert len(MESSAGES) == 35
    assert len(ENUMS) == 6
    assert {f.name for f in _files(als_pb2.DESCRIPTOR)} == {
        "meshals/wire/envoy/config/core/v3/address.proto",
        "meshals/wire/envoy/config/core/v3/base.proto",
        "meshals/wire/envoy/data/accesslog/v3/accesslog.proto",
        "meshals/wire/envoy/service/accesslog/v3/als.proto",
        "meshals/wire/envoy/type/v3/semantic_version.proto",
        "meshals/wire/xds/core/v3/context_params.proto",
    }


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.full_name.removeprefix(PREFIX))
def test_message_matches_envoy(message: Descriptor) -> None:
    assert message.full_name.startswith(PREFIX)
    pool = descriptor_pool.Default()
    envoy = pool.FindMessageTypeByName(_envoy_name(message.full_name))
    ours = _message_shape(message, strip=True)
    extra = V2_ONLY.get(message.full_name)
    if extra is not None:
        fields = ours["fields"]
        assert isinstance(fields, dict)
        del fields[extra]
    assert ours == _message_shape(envoy, strip=False)


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.full_name.removeprefix(PREFIX))
def test_enum_matches_envoy(enum: EnumDescriptor) -> None:
    envoy = descriptor_pool.Default().FindEnumTypeByName(_envoy_name(enum.full_name))
    ours = [(v.name, v.number) for v in enum.values]
    assert ours == [(v.name, v.number) for v in envoy.values]


def test_node_build_version_is_v2s_field_reserved_by_v3() -> None:
    ours = als_pb2.DESCRIPTOR.pool.FindMessageTypeByName(NODE).fields_by_number[5]
    assert (ours.name, ours.type, ours.json_name) == (
        "build_version",
        FieldDescriptor.TYPE_STRING,
        "buildVersion",
    )
    numbers, names = _reserved(envoy_base.Node.DESCRIPTOR)
    assert 5 in numbers
    assert "build_version" in names
    v2 = envoy_als_v2.StreamAccessLogsMessage.DESCRIPTOR.fields_by_name["identifier"]
    v2_field = v2.message_type.fields_by_name["node"].message_type.fields_by_number[5]
    assert _field_shape(v2_field, strip=False) == _field_shape(ours, strip=True)


def test_schema_reaches_everything_envoy_streams() -> None:
    """meshals declares exactly the messages and enums Envoy's v3 stream message reaches."""
    reached: set[str] = set()
    pending: list[Descriptor] = [envoy_als.StreamAccessLogsMessage.DESCRIPTOR]
    while pending:
        message = pending.pop()
        if message.full_name in reached or message.full_name.startswith("google.protobuf."):
            continue
        reached.add(message.full_name)
        for field in message.fields:
            if field.enum_type is not None:
                reached.add(field.enum_type.full_name)
            if field.message_type is not None:
                pending.append(field.message_type)
    ours = {_envoy_name(d.full_name) for d in [*MESSAGES, *ENUMS]}
    assert reached == ours


# -- Wire compatibility ------------------------------------------------------------------------


def _fill(message: Message, variant: int) -> None:
    """Set every field of an Envoy message, recursively, with non-default values.

    A oneof keeps its ``variant``-th member (modulo its size), so variants 0..2 together
    cover every member of every oneof in the schema.
    """
    # The stubs type DESCRIPTOR as a union of the pure-Python and upb classes; same API.
    desc = cast("Descriptor", message.DESCRIPTOR)
    chosen = {o.name: o.fields[variant % len(o.fields)].name for o in desc.oneofs}
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen[oneof.name] != field.name:
            continue
        value: Any = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key in (f"{field.name}-a", f"{field.name}-b"):
                if value_field.message_type is None:
                    value[key] = _scalar(value_field, variant)
                else:
                    _fill_message(value[key], variant)
        elif field.message_type is not None:
            if field.is_repeated:
                _fill_message(value.add(), variant)
                _fill_message(value.add(), variant + 1)
            else:
                _fill_message(value, variant)
        elif field.is_repeated:
            value.extend([_scalar(field, variant), _scalar(field, variant + 1)])
        else:
            setattr(message, field.name, _scalar(field, variant))


def _fill_message(message: Message, variant: int) -> None:
    # Well-known types get valid values (JSON rejects arbitrary Timestamps, Anys need a type).
    if isinstance(message, struct_pb2.Struct):
        message.update({"app": "reviews", "weight": 2.5, "canary": True, "tags": ["a", "b"]})
    elif isinstance(message, any_pb2.Any):
        message.Pack(wrappers_pb2.StringValue(value=f"state-{variant}"))
    elif isinstance(message, timestamp_pb2.Timestamp):
        message.FromSeconds(1_700_000_000 + variant)
    elif isinstance(message, duration_pb2.Duration):
        message.FromNanoseconds(1_234_567 + variant)
    else:
        _fill(message, variant)


def _scalar(field: FieldDescriptor, variant: int) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-{variant}"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return 0.25 + variant
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return field.enum_type.values[-1].number
    if field.type == FieldDescriptor.TYPE_UINT64:
        # Above 2**32, so a 32-bit mix-up would show.
        return 2**40 + field.number + variant
    assert field.type == FieldDescriptor.TYPE_UINT32, field.full_name
    return 300 + field.number + variant


def _envoy_v3_message(variant: int, entries: str) -> Message:
    message: Message = envoy_als.StreamAccessLogsMessage()
    _fill(message, variant)
    # The log_entries oneof alternates by variant; pin it so both kinds run with each variant.
    entry_list = getattr(message, entries).log_entry
    if not entry_list:
        _fill_message(entry_list.add(), variant)
        _fill_message(entry_list.add(), variant + 1)
    assert message.WhichOneof("log_entries") == entries
    return message


@pytest.mark.parametrize("entries", ["http_logs", "tcp_logs"])
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_envoy_v3_bytes_round_trip_through_meshals(variant: int, entries: str) -> None:
    envoy = _envoy_v3_message(variant, entries)
    data = envoy.SerializeToString(deterministic=True)
    ours = als_pb2.StreamAccessLogsMessage.FromString(data)
    assert ours.SerializeToString(deterministic=True) == data
    # Equal JSON means every field landed in a declared field, none among unknown fields
    # (which JSON drops).
    assert json_format.MessageToDict(ours) == json_format.MessageToDict(envoy)


def test_round_trip_message_is_large() -> None:
    # The generic filler must really reach deep: spot-check values it set.
    envoy = _envoy_v3_message(1, "http_logs")
    ours = als_pb2.StreamAccessLogsMessage.FromString(envoy.SerializeToString())
    entry = ours.http_logs.log_entry[1]
    common = entry.common_properties
    assert common.upstream_wire_bytes_received == 2**40 + 32 + 2
    assert common.access_log_type == 13  # UdpSessionEnd, the last AccessLogType
    assert common.response_flags.downstream_remote_reset is True
    assert common.response_flags.unauthorized_details.reason == 1
    sans = common.tls_properties.peer_certificate_properties.subject_alt_name
    assert [(san.WhichOneof("san"), san.uri or san.dns) for san in sans] == [
        ("uri", "uri-2"),
        ("dns", "dns-3"),
    ]
    assert common.downstream_remote_address.WhichOneof("address") == "envoy_internal_address"
    assert dict(common.custom_tags) == {"custom_tags-a": "value-2", "custom_tags-b": "value-2"}
    assert entry.request.port.value == 300 + 1 + 2
    assert ours.identifier.node.WhichOneof("user_agent_version_type") == "user_agent_build_version"
    assert ours.identifier.node.dynamic_parameters["dynamic_parameters-a"].params == {
        "params-a": "value-1",
        "params-b": "value-1",
    }
    assert len(envoy.SerializeToString()) == 4100


@pytest.mark.parametrize("variant", [0, 1])
def test_envoy_v2_bytes_round_trip_and_keep_build_version(variant: int) -> None:
    envoy = envoy_als_v2.StreamAccessLogsMessage()
    _fill(envoy, variant)
    data = envoy.SerializeToString(deterministic=True)
    ours = als_pb2.StreamAccessLogsMessage.FromString(data)
    assert ours.identifier.node.build_version == f"build_version-{variant}"
    assert ours.SerializeToString(deterministic=True) == data
    assert json_format.MessageToDict(ours) == json_format.MessageToDict(envoy)


def test_v2_build_version_alone() -> None:
    envoy = envoy_als_v2.StreamAccessLogsMessage()
    envoy.identifier.node.id = "sidecar~10.1.2.3~reviews-v1.default~default.svc.cluster.local"
    envoy.identifier.node.build_version = "e5f864a82d4f27110359daa2fbdcb12d99e415b9/1.12.2/Clean"
    data = envoy.SerializeToString()
    ours = als_pb2.StreamAccessLogsMessage.FromString(data)
    assert ours.identifier.node.build_version == (
        "e5f864a82d4f27110359daa2fbdcb12d99e415b9/1.12.2/Clean"
    )
    assert ours.SerializeToString() == data


# -- Coexistence -----------------------------------------------------------------------------

_COEXIST = textwrap.dedent(
    """
    import sys
    order = sys.argv[1:]
    modules = {}
    for name in order:
        modules[name] = __import__(name, fromlist=["StreamAccessLogsMessage"])
    for name in order:
        cls = modules[name].StreamAccessLogsMessage
        message = cls()
        message.identifier.node.id = name
        message.identifier.log_name = "als"
        message.tcp_logs.log_entry.add().connection_properties.sent_bytes = 7
        parsed = cls.FromString(message.SerializeToString())
        assert parsed == message, name
        print(name, parsed.identifier.node.id == name)
    """
)
_MODULES = [
    "meshals._pb.als_pb2",
    "envoy.service.accesslog.v3.als_pb2",
    "envoy.service.accesslog.v2.als_pb2",
]


@pytest.mark.parametrize("order", [_MODULES, _MODULES[::-1]], ids=["meshals-first", "envoy-first"])
def test_meshals_and_envoy_modules_load_in_one_process(order: list[str]) -> None:
    # A fresh interpreter: in this one, the imports above have already happened.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _COEXIST, *order],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{name} True" for name in order]
