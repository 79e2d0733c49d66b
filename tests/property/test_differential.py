"""Differential properties: every way of decoding one message gives the same model.

The messages come from Envoy's own classes (xds-protos), and the oracles are protobuf's: its
binary serializer, ``json_format`` (both field-name styles and more printer options), and a
field-by-field comparison of the model with the protobuf object through reflection. Then the
encoder: re-encoding a decoded message gives back a message equal to the original.
"""

from __future__ import annotations

import contextlib
import enum
import math
from typing import Any

import attrs
import pytest
from envoy.service.accesslog.v3 import als_pb2 as als_v3
from google.protobuf import (
    duration_pb2,
    empty_pb2,
    json_format,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message
from hypothesis import example, given
from hypothesis import strategies as st

import meshals
from meshals.codec import encode_binary, encode_message

from .strategies import Family, als_messages, json_spellings

pytestmark = pytest.mark.property

# All three decodings and JSON: no Any payload of a type meshals does not decode.
JSON_FAMILY = Family(exact=False)
# Binary decodings only: adds opaque Any payloads (json_format cannot print most of them).
BINARY_FAMILY = Family(unknown_any=True, exact=False)
# Round trips: only inputs the model keeps exactly (see strategies.py).
EXACT_FAMILY = Family(unknown_any=True, exact=True)
EXACT_JSON_FAMILY = Family(exact=True)
V2_FAMILY = Family(version="v2", exact=False)

PB2V3Message = als_v3.StreamAccessLogsMessage


def _json_texts(message: Message) -> list[str]:
    """The same message printed by json_format in each style a producer might use."""
    return [
        json_format.MessageToJson(message),
        json_format.MessageToJson(message, preserving_proto_field_name=True),
        # Every scalar at its default printed too, and enums as numbers.
        json_format.MessageToJson(
            message,
            always_print_fields_with_no_presence=True,
            use_integers_for_enums=True,
            indent=None,
        ),
    ]


# --- the decoders agree -------------------------------------------------------------------------


@given(als_messages(JSON_FAMILY))
def test_binary_json_and_object_decodings_agree(message: Message) -> None:
    from_binary = meshals.decode_binary(message.SerializeToString())
    assert meshals.decode_message(message) == from_binary
    for text in _json_texts(message):
        assert meshals.decode_json(text) == from_binary, text
    # Nothing was tolerated: these are valid messages.
    assert from_binary.diagnostics == ()


@given(als_messages(BINARY_FAMILY))
def test_binary_and_object_decodings_agree_with_opaque_any(message: Message) -> None:
    data = message.SerializeToString()
    from_binary = meshals.decode_binary(data)
    assert meshals.decode_message(message) == from_binary
    assert meshals.decode_binary(data, strict=True) == from_binary
    assert from_binary.diagnostics == ()


@given(als_messages(JSON_FAMILY), st.data())
def test_json_decoding_accepts_every_spelling_protobuf_parses(
    message: Message, data: st.DataObject
) -> None:
    text = data.draw(json_spellings(message), label="text")
    # The oracle: protobuf's own parser reads the respelled text as the same message. (Compared
    # as dicts: the parser re-serializes Any payloads, a Struct's entries in another order.)
    parsed = json_format.Parse(text, type(message)())
    assert json_format.MessageToDict(parsed) == json_format.MessageToDict(message)
    assert meshals.decode_json(text) == meshals.decode_binary(message.SerializeToString())


@given(als_messages(V2_FAMILY))
def test_v2_binary_json_and_object_decodings_agree(message: Message) -> None:
    from_binary = meshals.decode_binary(message.SerializeToString())
    assert meshals.decode_message(message) == from_binary
    assert meshals.decode_json(json_format.MessageToJson(message)) == from_binary
    _check_message(from_binary, message)


@given(als_messages(JSON_FAMILY), st.booleans())
def test_json_strict_decoding_of_valid_messages_equals_lenient(
    message: Message, proto_names: bool
) -> None:
    text = json_format.MessageToJson(message, preserving_proto_field_name=proto_names)
    lenient = meshals.decode_json(text)
    assert meshals.decode_json(text, strict=True) == lenient
    assert lenient.diagnostics == ()


def test_source_and_index_are_kept_but_not_compared() -> None:
    data = PB2V3Message(identifier={"log_name": "als"}).SerializeToString()
    decoded = meshals.decode_binary(data, source="capture.bin", index=7)
    assert (decoded.source, decoded.index) == ("capture.bin", 7)
    assert decoded == meshals.decode_binary(data)


# --- the model against the protobuf object, by reflection ---------------------------------------


@given(als_messages(BINARY_FAMILY))
def test_decoded_values_match_the_protobuf_object(message: Message) -> None:
    _check_message(meshals.decode_binary(message.SerializeToString()), message)


_MODEL_CLASSES: dict[str, type[attrs.AttrsInstance]] = {
    "Identifier": meshals.Identifier,
    "Node": meshals.Node,
    "Locality": meshals.model.Locality,
    "BuildVersion": meshals.model.BuildVersion,
    "SemanticVersion": meshals.model.SemanticVersion,
    "Extension": meshals.model.Extension,
    "SocketAddress": meshals.model.SocketAddress,
    "Pipe": meshals.model.PipeAddress,
    "EnvoyInternalAddress": meshals.model.EnvoyInternalAddress,
    "AccessLogCommon": meshals.AccessLogCommon,
    "TLSProperties": meshals.model.TlsProperties,
    "CertificateProperties": meshals.model.CertificateProperties,
    "SubjectAltName": meshals.model.SubjectAltName,
    "Metadata": meshals.model.Metadata,
    "HTTPAccessLogEntry": meshals.HttpEntry,
    "HTTPRequestProperties": meshals.HttpRequest,
    "HTTPResponseProperties": meshals.HttpResponse,
    "TCPAccessLogEntry": meshals.TcpEntry,
    "ConnectionProperties": meshals.model.ConnectionProperties,
}

# Model attributes named differently from their protobuf field.
_RENAMED = {("SocketAddress", "port_value"): "port"}

_WELL_KNOWN: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        struct_pb2.Struct,
        struct_pb2.Value,
        struct_pb2.ListValue,
        duration_pb2.Duration,
        timestamp_pb2.Timestamp,
        empty_pb2.Empty,
        wrappers_pb2.DoubleValue,
        wrappers_pb2.FloatValue,
        wrappers_pb2.Int64Value,
        wrappers_pb2.UInt64Value,
        wrappers_pb2.Int32Value,
        wrappers_pb2.UInt32Value,
        wrappers_pb2.BoolValue,
        wrappers_pb2.StringValue,
        wrappers_pb2.BytesValue,
    )
}


def _frozen_json(python: Any) -> Any:
    """json_format's Python form of a Struct/Value, in the model's immutable types."""
    if isinstance(python, dict):
        return {key: _frozen_json(value) for key, value in python.items()}
    if isinstance(python, list):
        return tuple(_frozen_json(item) for item in python)
    if isinstance(python, int) and not isinstance(python, bool):
        return float(python)
    return python


def _expected_any(packed: Any) -> meshals.model.AnyValue:
    type_name = packed.type_url.rpartition("/")[2]
    cls = _WELL_KNOWN.get(type_name)
    if cls is None:
        return meshals.model.AnyValue(type_url=packed.type_url, value=packed.value, known=False)
    payload: Any = cls.FromString(packed.value)
    value: object
    if isinstance(payload, (struct_pb2.Struct, struct_pb2.Value, struct_pb2.ListValue)):
        value = _frozen_json(json_format.MessageToDict(payload))
    elif isinstance(payload, (duration_pb2.Duration, timestamp_pb2.Timestamp)):
        value = payload.ToNanoseconds()
    elif isinstance(payload, empty_pb2.Empty):
        value = None
    else:
        value = payload.value
    return meshals.model.AnyValue(type_url=packed.type_url, value=value, known=True)


def _same_float(actual: object, expected: float) -> bool:
    # Exact, down to the sign of zero, which protobuf's equality also tells apart.
    return (
        isinstance(actual, float)
        and actual == expected
        and math.copysign(1.0, actual) == math.copysign(1.0, expected)
    )


def _check_message(decoded: meshals.AlsMessage, message: Any) -> None:
    if message.HasField("identifier"):
        assert decoded.identifier is not None
        _check(decoded.identifier, message.identifier, "identifier")
    else:
        assert decoded.identifier is None
    member = message.WhichOneof("log_entries")
    expected_kind = {"http_logs": "http", "tcp_logs": "tcp", None: None}[member]
    assert decoded.kind == expected_kind
    pb_entries = getattr(message, member).log_entry if member else []
    assert isinstance(decoded.entries, tuple)
    assert len(decoded.entries) == len(pb_entries)
    for index, (entry, pb_entry) in enumerate(zip(decoded.entries, pb_entries, strict=True)):
        _check(entry, pb_entry, f"{member}.log_entry[{index}]")


def _check_address(address: object, pb_address: Any, path: str) -> None:
    member = pb_address.WhichOneof("address") if pb_address is not None else None
    if member is None:
        # Absent, or an Address with no member: both are None in the model.
        assert address is None, path
    else:
        _check(address, getattr(pb_address, member), f"{path}.{member}")


def _check_response_flags(common: Any, pb_common: Any, path: str) -> None:
    expected: set[meshals.model.ResponseFlag] = set()
    reason = None
    if pb_common.HasField("response_flags"):
        flags = pb_common.response_flags
        for field in flags.DESCRIPTOR.fields:
            flag = meshals.model.ResponseFlag.from_field_name(field.name)
            assert flag.field_number == field.number, field.name
            if field.name == "unauthorized_details":
                if flags.HasField(field.name):
                    expected.add(flag)
                    reason = flags.unauthorized_details.reason
            elif getattr(flags, field.name):
                expected.add(flag)
    assert common.response_flags == frozenset(expected), path
    assert isinstance(common.response_flags, frozenset), path
    assert common.unauthorized_reason == reason, path
    if reason is not None:
        _check_enum(
            common.unauthorized_reason,
            reason,
            pb_common.response_flags.unauthorized_details.DESCRIPTOR.fields_by_name["reason"],
            path,
        )


def _check_enum(actual: object, number: int, field: Any, path: str) -> None:
    assert actual == number, path
    if number in field.enum_type.values_by_number:
        assert isinstance(actual, enum.IntEnum), path
        assert actual.name == field.enum_type.values_by_number[number].name, path
    else:
        # A number the schema does not know stays a plain int (proto3 enums are open).
        assert type(actual) is int, path


def _check(model: Any, pb: Any, path: str) -> None:
    """Assert that *model* holds exactly what *pb* holds, walking *pb*'s descriptor."""
    descriptor = pb.DESCRIPTOR
    assert type(model) is _MODEL_CLASSES[descriptor.name], path
    checked: set[str] = set()
    for field in descriptor.fields:
        where = f"{path}.{field.name}"
        name = _RENAMED.get((descriptor.name, field.name), field.name)
        value_type = field.message_type.full_name if field.message_type is not None else None
        if value_type in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
            name += "_ns"
            expected = getattr(pb, field.name).ToNanoseconds() if pb.HasField(field.name) else None
            assert getattr(model, name) == expected, where
        elif field.name == "response_flags":
            _check_response_flags(model, pb, where)
            checked.add("unauthorized_reason")
        elif value_type is not None and field.message_type.GetOptions().map_entry:
            _check_map(getattr(model, name), getattr(pb, field.name), field, where)
        elif field.message_type is not None and field.is_repeated:
            items = getattr(model, name)
            assert isinstance(items, tuple), where
            pb_items = getattr(pb, field.name)
            assert len(items) == len(pb_items), where
            for index, (item, pb_item) in enumerate(zip(items, pb_items, strict=True)):
                if field.message_type.name == "Address":
                    _check_address(item, pb_item, f"{where}[{index}]")
                else:
                    _check(item, pb_item, f"{where}[{index}]")
        elif field.message_type is not None:
            _check_singular_message(getattr(model, name), pb, field, where)
        elif field.is_repeated:
            assert getattr(model, name) == tuple(getattr(pb, field.name)), where
        else:
            _check_scalar(getattr(model, name), pb, field, where)
        checked.add(name)
    # What the model has and this schema lacks (v3's fields in a v2 message, v2's build_version
    # in a v3 one) must be at its default.
    for attribute in attrs.fields(_MODEL_CLASSES[descriptor.name]):
        if attribute.name not in checked:
            default = attribute.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            assert getattr(model, attribute.name) == default, f"{path}.{attribute.name}"


def _check_singular_message(value: object, pb: Any, field: Any, where: str) -> None:
    present = pb.HasField(field.name)
    sub = getattr(pb, field.name)
    type_name = field.message_type.full_name
    if field.message_type.name == "Address":
        _check_address(value, sub if present else None, where)
    elif not present:
        assert value is None, where
    elif type_name == "google.protobuf.UInt32Value":
        assert value == sub.value, where
        assert type(value) is int, where
    elif type_name == "google.protobuf.Struct":
        assert value == _frozen_json(json_format.MessageToDict(sub)), where
        assert isinstance(value, meshals.model.FrozenMap), where
    else:
        assert value is not None, where
        _check(value, sub, where)


def _check_scalar(value: object, pb: Any, field: Any, where: str) -> None:
    expected = getattr(pb, field.name)
    if (
        field.containing_oneof is not None
        and pb.WhichOneof(field.containing_oneof.name) != field.name
    ):
        assert value is None, where
    elif field.enum_type is not None:
        _check_enum(value, expected, field, where)
    elif field.type == field.TYPE_DOUBLE:
        assert _same_float(value, expected), where
    elif field.name == "build_version":
        # v2's Node.build_version: a plain string without presence, None in the model if empty.
        assert value == (expected or None), where
    else:
        assert value == expected, where
        assert type(value) is type(expected), where


def _check_map(value: Any, pb_map: Any, field: Any, where: str) -> None:
    assert isinstance(value, meshals.model.FrozenMap), where
    assert set(value) == set(pb_map), where
    value_field = field.message_type.fields_by_name["value"]
    value_type = value_field.message_type.full_name if value_field.message_type else None
    for key, pb_value in pb_map.items():
        if value_type is None:
            expected: object = pb_value
        elif value_type == "google.protobuf.Any":
            expected = _expected_any(pb_value)
        elif value_type == "google.protobuf.Struct":
            expected = _frozen_json(json_format.MessageToDict(pb_value))
        elif value_type == "xds.core.v3.ContextParams":
            expected = dict(pb_value.params)
        else:  # pragma: no cover - a new map field: extend the oracle
            raise AssertionError(f"{where}: no oracle for maps of {value_type}")
        assert value[key] == expected, f"{where}[{key!r}]"


# --- the encoder inverts the decoders -----------------------------------------------------------


@given(als_messages(EXACT_FAMILY))
def test_encode_binary_inverts_decode_binary(message: Message) -> None:
    decoded = meshals.decode_binary(message.SerializeToString())
    encoded = encode_binary(decoded)
    assert PB2V3Message.FromString(encoded) == message
    assert meshals.decode_binary(encoded) == decoded
    # meshals' own generated message, decoded as an object, gives the model back too.
    encoded_message = encode_message(decoded)
    assert encoded_message.SerializeToString(deterministic=True) == encoded
    assert meshals.decode_message(encoded_message) == decoded


@given(als_messages(EXACT_JSON_FAMILY))
def test_encode_binary_inverts_decode_json(message: Message) -> None:
    decoded = meshals.decode_json(json_format.MessageToJson(message))
    assert PB2V3Message.FromString(encode_binary(decoded)) == message


@given(als_messages(Family(version="v2", unknown_any=True)))
def test_encode_binary_keeps_everything_of_a_v2_message(message: Message) -> None:
    # meshals writes v3, but v3 is wire-compatible with v2 and meshals keeps field 5 of v2's
    # Node (build_version), so Envoy's v2 class reads back the original.
    decoded = meshals.decode_binary(message.SerializeToString())
    assert type(message).FromString(encode_binary(decoded)) == message


# --- decoding bad input raises DecodeError and nothing else -------------------------------------


@given(st.binary(max_size=300), st.booleans())
@example(b"\x0a", False)  # a field key and no length
@example(b"\x12\x02\x0a\x05", True)  # http_logs -> log_entry longer than its parent
@example(b"\x0f", False)  # field 1 with wire type 7, which does not exist
def test_decode_binary_raises_only_decode_error_on_random_bytes(data: bytes, strict: bool) -> None:
    with contextlib.suppress(meshals.DecodeError):
        meshals.decode_binary(data, strict=strict)


@given(als_messages(BINARY_FAMILY), st.data(), st.booleans())
def test_decode_binary_raises_only_decode_error_on_damaged_messages(
    message: Message, data: st.DataObject, strict: bool
) -> None:
    original = message.SerializeToString()
    if not original:
        return
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    damage = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]), label="damage")
    if damage == "truncate":
        damaged = original[:position]
    elif damage == "flip":
        bit = data.draw(st.integers(0, 7), label="bit")
        flipped = bytearray(original)
        flipped[position] ^= 1 << bit
        damaged = bytes(flipped)
    elif damage == "insert":
        byte = data.draw(st.integers(0, 255), label="byte")
        damaged = original[:position] + bytes([byte]) + original[position:]
    else:
        damaged = original[:position] + original[position + 1 :]
    with contextlib.suppress(meshals.DecodeError):
        meshals.decode_binary(damaged, strict=strict)


@given(als_messages(JSON_FAMILY), st.data(), st.booleans())
def test_decode_json_raises_only_decode_error_on_damaged_text(
    message: Message, data: st.DataObject, strict: bool
) -> None:
    text = json_format.MessageToJson(message)
    cut = data.draw(st.integers(0, len(text) - 1), label="cut")
    inserted = data.draw(st.sampled_from(["", '"', "{", "]", ",", "1", "null", "\\u"]))
    with contextlib.suppress(meshals.DecodeError):
        meshals.decode_json(text[:cut] + inserted + text[cut + 1 :], strict=strict)
