"""The wire format read by hand: fields, their errors, and where find_problem says it breaks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor

from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals.codec._unknown_fields import ENTRY_LISTS
from meshals.codec._wire import (
    Field,
    Problem,
    WireError,
    _is_repeated,
    cut_off,
    encode_varint,
    fields,
    find_problem,
    wire_type_name,
)

ALS = PB2StreamAccessLogsMessage.DESCRIPTOR
VALUE = struct_pb2.Value.DESCRIPTOR
STRUCT = struct_pb2.Struct.DESCRIPTOR
NOT_UTF8 = b"\xc3\x28"  # a lead byte followed by an ASCII byte


def tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def delimited(number: int, body: bytes) -> bytes:
    return tag(number, 2) + encode_varint(len(body)) + body


def wire_error(data: bytes) -> WireError:
    with pytest.raises(WireError) as caught:
        list(fields(data))
    return caught.value


# --- fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**32 - 1, "ffffffff0f")],
)
def test_encode_varint(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded


def test_the_largest_field_number_is_a_field() -> None:
    data = tag(2**29 - 1, 0) + b"\x01"
    assert list(fields(data)) == [Field(2**29 - 1, 0, 0, 5, 6)]


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        pytest.param(tag(2**29, 0) + b"\x01", "invalid field number 536870912", 0, id="number"),
        pytest.param(b"\x00", "invalid field number 0", 0, id="zero"),
        pytest.param(
            b"\x1d\x01\x02\x03",
            "the data ends inside the fixed-size value of field 3",
            0,
            id="fixed32-cut",
        ),
        pytest.param(
            b"\x19" + bytes(7),
            "the data ends inside the fixed-size value of field 3",
            0,
            id="fixed64-cut",
        ),
        # Ten bytes that all say "more follows": too long, not cut (the data ends after them).
        pytest.param(b"\xff" * 10, "a field tag is longer than 10 bytes", 0, id="varint-10"),
        pytest.param(b"\xff" * 9, "the data ends inside a field tag", 0, id="varint-9"),
        pytest.param(
            b"\x08\x01\x0b\x80", "the data ends inside a field tag", 3, id="tag-in-group-cut"
        ),
        pytest.param(b"\x0b\x08\x01", "the data ends inside group 1", 3, id="group-unclosed"),
        pytest.param(
            b"\x0b\x14", "group 1 ends with the end-group tag of field 2", 1, id="group-wrong-end"
        ),
        pytest.param(b"\x0c", "an end-group tag (field 1) without a group", 0, id="end-group"),
        pytest.param(b"\x0e", "invalid wire type 6 (field 1)", 0, id="wire-type-6"),
    ],
)
def test_field_errors(data: bytes, reason: str, offset: int) -> None:
    error = wire_error(data)
    assert (error.reason, error.offset, error.partial) == (reason, offset, None)
    assert str(error) == f"{reason} at byte offset {offset}"


def test_a_length_past_the_end_keeps_the_partial_field() -> None:
    error = wire_error(b"\x08\x01\x12\x05ab")
    assert (error.reason, error.offset) == ("field 2 is cut off: 5 bytes declared, 2 remain", 2)
    assert error.partial == Field(2, 2, 2, 4, 9)


def test_groups_nest_up_to_protobufs_limit() -> None:
    nested = tag(1, 3) * 100 + tag(1, 4) * 100
    assert list(fields(nested)) == [Field(1, 3, 0, 1, 200)]
    error = wire_error(tag(1, 3) * 101 + tag(1, 4) * 101)
    assert (error.reason, error.offset) == ("groups nest too deeply", 101)


def test_groups_count_on_top_of_the_message_they_are_in() -> None:
    # In a message 2 deep, 98 groups reach protobuf's limit and 99 pass it.
    assert list(fields(tag(9, 3) * 98 + tag(9, 4) * 98, depth=2)) == [Field(9, 3, 0, 1, 196)]
    with pytest.raises(WireError, match=r"^groups nest too deeply at byte offset 99$"):
        list(fields(tag(9, 3) * 99 + tag(9, 4) * 99, depth=2))
    # identifier.node is 2 deep; its content starts at byte 6.
    data = delimited(1, delimited(1, tag(9, 3) * 99 + tag(9, 4) * 99))
    assert find_problem(data, ALS) == Problem(
        "identifier.node", None, 105, "groups nest too deeply"
    )


def test_a_part_is_walked_at_its_depth() -> None:
    # A Value 50 list levels deep is 100 deep on its own, 101 inside a message.
    assert find_problem(list_chain(50), VALUE, depth=1) == Problem(
        "list_value.values[0]." * 49 + "list_value.values[0]",
        None,
        len(list_chain(50)),
        "messages nest more than 100 deep (protobuf's limit)",
    )


@pytest.mark.parametrize(
    ("declared", "remaining", "reason"),
    [
        (1, 0, "cut off: 1 byte declared, 0 remain"),
        (2, 1, "cut off: 2 bytes declared, 1 remain"),
        (0, 0, "cut off: 0 bytes declared, 0 remain"),
    ],
)
def test_cut_off(declared: int, remaining: int, reason: str) -> None:
    assert cut_off(declared, remaining) == reason


@pytest.mark.parametrize(
    ("wire_type", "name"),
    [
        (0, "varint"),
        (1, "64-bit"),
        (2, "length-delimited"),
        (3, "group"),
        (4, "4"),
        (5, "32-bit"),
        (6, "6"),
    ],
)
def test_wire_type_name(wire_type: int, name: str) -> None:
    assert wire_type_name(wire_type) == name


@pytest.mark.parametrize(
    ("declared", "repeated"),
    [
        # protobuf 6 descriptors have no ``is_repeated``: the label says it.
        (SimpleNamespace(label=FieldDescriptor.LABEL_REPEATED), True),
        (SimpleNamespace(label=FieldDescriptor.LABEL_OPTIONAL), False),
        (SimpleNamespace(is_repeated=True), True),
        (SimpleNamespace(is_repeated=False), False),
    ],
    ids=["label-repeated", "label-optional", "flag-true", "flag-false"],
)
def test_is_repeated_with_and_without_the_flag(declared: object, repeated: bool) -> None:
    assert _is_repeated(declared) is repeated


# --- find_problem: paths, entry indexes, offsets ----------------------------------------------


def list_chain(levels: int, innermost: bytes = b"") -> bytes:
    """A Value holding *levels* list_value.values[0] pairs: its last Value is 2*levels deep."""
    body = innermost
    for _ in range(levels):
        body = delimited(6, delimited(1, body))
    return body


def struct_chain(levels: int, innermost: bytes = b"") -> bytes:
    """A Struct holding *levels* fields["k"].struct_value: its last Struct is 3*levels deep."""
    body = innermost
    for _ in range(levels):
        entry = delimited(1, b"k") + delimited(2, delimited(5, body))
        body = delimited(1, entry)
    return body


def test_messages_nest_100_deep_but_not_101() -> None:
    assert find_problem(list_chain(50), VALUE) is None
    deeper = list_chain(50, delimited(6, b""))
    assert find_problem(deeper, VALUE) == Problem(
        "list_value.values[0]." * 50 + "list_value",
        None,
        len(deeper),
        "messages nest more than 100 deep (protobuf's limit)",
    )


def test_map_entries_count_as_a_level_of_nesting() -> None:
    # A Struct 99 deep; its map entry is 100 deep, and the entry's value 101.
    assert find_problem(struct_chain(33, delimited(1, delimited(1, b"k"))), STRUCT) is None
    deeper = struct_chain(33, delimited(1, delimited(2, b"")))
    problem = find_problem(deeper, STRUCT)
    assert problem == Problem(
        "fields.struct_value." * 33 + "fields",
        None,
        len(deeper),
        "messages nest more than 100 deep (protobuf's limit)",
    )


def test_a_string_in_a_map_value_has_the_maps_path() -> None:
    data = delimited(1, delimited(1, b"k") + delimited(2, delimited(3, NOT_UTF8)))
    assert find_problem(data, STRUCT) == Problem(
        "fields.string_value", None, len(data) - 2, "a string is not UTF-8"
    )


def test_repeated_fields_are_numbered_in_wire_order() -> None:
    values = (
        delimited(1, b"")
        + delimited(1, delimited(3, b"ok"))
        + delimited(1, delimited(3, b"no\xff"))
    )
    data = delimited(6, values)
    assert find_problem(data, VALUE) == Problem(
        "list_value.values[2].string_value", None, len(data) - 1, "a string is not UTF-8"
    )


def test_a_cut_inside_a_map_value_has_the_maps_path() -> None:
    # The entry's value declares 5 bytes; the entry holds 2 of them (a whole null_value).
    entry = delimited(1, b"k") + tag(2, 2) + b"\x05" + b"\x08\x00"
    data = delimited(1, entry)
    assert find_problem(data, STRUCT) == Problem(
        "fields", None, 5, "cut off: 5 bytes declared, 2 remain"
    )


def als_message(*entries: bytes, member: int = 2) -> bytes:
    return delimited(member, b"".join(delimited(1, entry) for entry in entries))


def test_a_problem_in_an_entry_has_its_index() -> None:
    data = als_message(
        b"", b"", delimited(3, delimited(13, delimited(1, b"k") + delimited(2, NOT_UTF8)))
    )
    offset = len(data) - 2
    path = "http_logs.log_entry[2].request.request_headers"
    assert find_problem(data, ALS, entry_lists=ENTRY_LISTS) == Problem(
        path, 2, offset, "a string is not UTF-8"
    )
    # Without entry lists, the entry is only a repeated field.
    assert find_problem(data, ALS) == Problem(path, None, offset, "a string is not UTF-8")


def test_entries_are_counted_per_member_of_the_oneof() -> None:
    # protobuf merges repeated http_logs and drops them when tcp_logs follows.
    data = (
        als_message(b"")
        + als_message(b"", b"")
        + als_message(b"", delimited(1, delimited(15, NOT_UTF8)), member=3)
    )
    assert find_problem(data, ALS, entry_lists=ENTRY_LISTS) == Problem(
        "tcp_logs.log_entry[1].common_properties.upstream_cluster",
        1,
        len(data) - 2,
        "a string is not UTF-8",
    )
    merged = als_message(b"") + als_message(b"", delimited(1, delimited(15, NOT_UTF8)))
    assert find_problem(merged, ALS, entry_lists=ENTRY_LISTS) == Problem(
        "http_logs.log_entry[2].common_properties.upstream_cluster",
        2,
        len(merged) - 2,
        "a string is not UTF-8",
    )


def test_a_cut_entry_has_its_index() -> None:
    # The second entry declares 5 bytes; the message holds 2 (a whole protocol_version).
    data = delimited(2, delimited(1, b"") + b"\x0a\x05\x10\x01")
    assert find_problem(data, ALS, entry_lists=ENTRY_LISTS) == Problem(
        "http_logs.log_entry[1]", 1, 4, "cut off: 5 bytes declared, 2 remain"
    )


def test_too_deep_inside_an_entry_has_its_index() -> None:
    # http_logs is 1 deep, an entry 2, its metadata 4, the Struct in filter_metadata 6; 31
    # levels of 3 more make a Struct 99 deep, its map entry 100 and the entry's value 101.
    struct = struct_chain(31, delimited(1, delimited(2, b"")))
    metadata = delimited(1, delimited(1, b"f") + delimited(2, struct))
    data = als_message(b"", delimited(1, delimited(17, metadata)))
    problem = find_problem(data, ALS, entry_lists=ENTRY_LISTS)
    assert problem == Problem(
        "http_logs.log_entry[1].common_properties.metadata.filter_metadata"
        + ".fields.struct_value" * 31
        + ".fields",
        1,
        len(data),
        "messages nest more than 100 deep (protobuf's limit)",
    )
