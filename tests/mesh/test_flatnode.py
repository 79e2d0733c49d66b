"""Istio's FlatNode: meshals' reader against buffers built by the ``flatbuffers`` package.

The buffers are built independently of the reader, with the builder calls flatc generates for
Istio's ``node_info.fbs`` (``FlatNodeStart`` = ``StartObject(11)``, ``FlatNodeAddName`` =
``PrependUOffsetTRelativeSlot(0, ...)``, ...), so a wrong field id in the reader fails here.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import flatbuffers  # type: ignore[import-untyped]
import pytest

from meshals import DecodeError
from meshals.mesh._flatnode import FlatNode, parse_flat_node
from meshals.model import FrozenMap

# The schema's field ids (node_info.fbs declaration order).
SLOTS = {
    "name": 0,
    "namespace": 1,
    "labels": 2,
    "owner": 3,
    "workload_name": 4,
    "platform_metadata": 5,
    "istio_version": 6,
    "mesh_id": 7,
    "app_containers": 8,
    "cluster_id": 9,
    "instance_ips": 10,
}


def _vector(builder: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def build_flat_node(fields: Mapping[str, object], *, table_fields: int = 11) -> bytes:
    """A FlatNode; maps become sorted KeyVal vectors, sequences string vectors."""
    builder = flatbuffers.Builder(128)
    offsets: dict[int, int] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            offsets[SLOTS[name]] = builder.CreateString(value)
        elif isinstance(value, Mapping):
            pairs = []
            for key in sorted(value):
                key_offset = builder.CreateString(key)
                value_offset = builder.CreateString(value[key])
                builder.StartObject(2)
                builder.PrependUOffsetTRelativeSlot(0, key_offset, 0)
                builder.PrependUOffsetTRelativeSlot(1, value_offset, 0)
                pairs.append(builder.EndObject())
            offsets[SLOTS[name]] = _vector(builder, pairs)
        else:
            assert isinstance(value, Sequence)
            strings = [builder.CreateString(text) for text in value]
            offsets[SLOTS[name]] = _vector(builder, strings)
    builder.StartObject(table_fields)
    for slot, offset in sorted(offsets.items()):
        builder.PrependUOffsetTRelativeSlot(slot, offset, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


FULL_FIELDS: dict[str, object] = {
    "name": "details-v1-4c3d2",
    "namespace": "bookinfo",
    "labels": {"app": "details", "version": "v1", "service.istio.io/canonical-name": "details"},
    "owner": "kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/details-v1",
    "workload_name": "details-v1",
    "platform_metadata": {"gcp_project": "p", "gcp_location": "europe-west1"},
    "istio_version": "1.22.3",
    "mesh_id": "cluster.local",
    "app_containers": ["details", "logger"],
    "cluster_id": "Kubernetes",
    "instance_ips": ["10.244.1.14", "fd00::e"],
}
FULL_NODE = FlatNode(
    name="details-v1-4c3d2",
    namespace="bookinfo",
    labels=FrozenMap(
        {"app": "details", "service.istio.io/canonical-name": "details", "version": "v1"}
    ),
    owner="kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/details-v1",
    workload_name="details-v1",
    platform_metadata=FrozenMap({"gcp_location": "europe-west1", "gcp_project": "p"}),
    istio_version="1.22.3",
    mesh_id="cluster.local",
    app_containers=("details", "logger"),
    cluster_id="Kubernetes",
    instance_ips=("10.244.1.14", "fd00::e"),
)

VALID_CASES: list[tuple[str, dict[str, object], FlatNode]] = [
    ("every field", FULL_FIELDS, FULL_NODE),
    ("empty table", {}, FlatNode()),
    ("name only", {"name": "a"}, FlatNode(name="a")),
    ("last field only", {"instance_ips": ["10.0.0.1"]}, FlatNode(instance_ips=("10.0.0.1",))),
    ("cluster id only", {"cluster_id": "c1"}, FlatNode(cluster_id="c1")),
    ("empty strings", {"name": "", "namespace": ""}, FlatNode(name="", namespace="")),
    ("no labels", {"name": "vm-1", "labels": {}}, FlatNode(name="vm-1")),
    (
        "non-ASCII",
        {"name": "händler-vm-1", "namespace": "läden", "labels": {"app": "認証"}},
        FlatNode(name="händler-vm-1", namespace="läden", labels=FrozenMap({"app": "認証"})),
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [(fields, expected) for _, fields, expected in VALID_CASES],
    ids=[case[0] for case in VALID_CASES],
)
def test_reads_what_flatbuffers_wrote(fields: dict[str, object], expected: FlatNode) -> None:
    assert parse_flat_node(build_flat_node(fields)) == expected


def test_an_older_schema_with_fewer_fields_reads_the_rest_as_absent() -> None:
    data = build_flat_node({"name": "a", "namespace": "ns"}, table_fields=2)
    assert parse_flat_node(data) == FlatNode(name="a", namespace="ns")


def test_a_newer_schema_with_more_fields_is_read() -> None:
    builder = flatbuffers.Builder(64)
    name = builder.CreateString("a")
    extra = builder.CreateString("from-the-future")
    builder.StartObject(13)
    builder.PrependUOffsetTRelativeSlot(0, name, 0)
    builder.PrependUOffsetTRelativeSlot(12, extra, 0)
    builder.Finish(builder.EndObject())
    assert parse_flat_node(bytes(builder.Output())) == FlatNode(name="a")


def test_bytearray_and_memoryview_inputs() -> None:
    data = build_flat_node({"name": "a"})
    assert parse_flat_node(bytearray(data)) == FlatNode(name="a")
    assert parse_flat_node(memoryview(data)) == FlatNode(name="a")


def test_to_metadata_uses_istio_node_metadata_keys() -> None:
    assert FULL_NODE.to_metadata() == {
        "NAME": "details-v1-4c3d2",
        "NAMESPACE": "bookinfo",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/details-v1",
        "WORKLOAD_NAME": "details-v1",
        "ISTIO_VERSION": "1.22.3",
        "MESH_ID": "cluster.local",
        "CLUSTER_ID": "Kubernetes",
        "LABELS": {
            "app": "details",
            "service.istio.io/canonical-name": "details",
            "version": "v1",
        },
        "PLATFORM_METADATA": {"gcp_location": "europe-west1", "gcp_project": "p"},
        "APP_CONTAINERS": ("details", "logger"),
        "INSTANCE_IPS": ("10.244.1.14", "fd00::e"),
    }
    assert FlatNode().to_metadata() == {"LABELS": {}}


def test_every_truncation_is_a_decode_error() -> None:
    data = build_flat_node(FULL_FIELDS)
    sources: list[str] = []
    for length in range(len(data)):
        try:
            parsed = parse_flat_node(data[:length])
        except DecodeError as exc:
            sources.append(exc.source)
            continue
        # A cut that only loses padding or data nobody points to still parses.
        assert parsed == FULL_NODE, length
    assert set(sources) == {"<FlatNode>"}


def test_every_single_byte_corruption_is_a_value_or_a_decode_error() -> None:
    data = build_flat_node(FULL_FIELDS)
    for position in range(len(data)):
        for replacement in (0x00, 0x7F, 0xFF):
            corrupt = bytearray(data)
            corrupt[position] = replacement
            try:
                parsed = parse_flat_node(bytes(corrupt))
            except DecodeError:
                continue
            assert isinstance(parsed, FlatNode)


MALFORMED_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "<FlatNode>: buffer of 0 bytes, too short for a root offset"),
    ("root offset outside", b"\xff\x00\x00\x00", "<FlatNode>: offset 255 is outside the buffer"),
    (
        "odd vtable size",
        # root -> table at 8; soffset 4 -> vtable at 4 with size 3.
        b"\x08\x00\x00\x00\x03\x00\x08\x00\x04\x00\x00\x00",
        "<FlatNode>: vtable of 3 bytes at offset 4",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"),
    [(data, message) for _, data, message in MALFORMED_CASES],
    ids=[case[0] for case in MALFORMED_CASES],
)
def test_malformed_buffers(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(data)
    assert str(caught.value).startswith(message)


def test_a_string_that_is_not_utf8_names_its_field() -> None:
    data = bytearray(build_flat_node({"namespace": "ab"}))
    position = data.index(b"ab\x00")
    data[position] = 0xFF
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(bytes(data))
    assert caught.value.field == "namespace"
    assert caught.value.reason.startswith("string is not UTF-8")


def test_a_string_without_terminator_is_malformed() -> None:
    data = bytearray(build_flat_node({"name": "abc"}))
    position = data.index(b"abc\x00")
    data[position + 3] = ord("x")
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(bytes(data))
    assert (caught.value.field, caught.value.reason) == (
        "name",
        "string overruns the buffer or lacks its NUL terminator",
    )


def test_a_label_error_names_the_element() -> None:
    data = bytearray(build_flat_node({"labels": {"app": "x", "version": "yz"}}))
    position = data.index(b"yz\x00")
    data[position] = 0xC3  # a lead byte without its continuation
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(bytes(data))
    assert caught.value.field == "labels[1].value"


def test_a_pair_without_key_is_dropped_and_without_value_is_empty() -> None:
    builder = flatbuffers.Builder(64)
    key = builder.CreateString("app")
    value = builder.CreateString("orphan")
    builder.StartObject(2)
    builder.PrependUOffsetTRelativeSlot(0, key, 0)
    keyed = builder.EndObject()
    builder.StartObject(2)
    builder.PrependUOffsetTRelativeSlot(1, value, 0)
    unkeyed = builder.EndObject()
    labels = _vector(builder, [keyed, unkeyed])
    builder.StartObject(11)
    builder.PrependUOffsetTRelativeSlot(2, labels, 0)
    builder.Finish(builder.EndObject())
    assert parse_flat_node(bytes(builder.Output())) == FlatNode(labels=FrozenMap({"app": ""}))


# Buffers laid out by hand, for the corruptions flatbuffers will not write. A table's bytes are
# its vtable, then the table (its soffset back to the vtable, one uoffset per field), then the
# fields' data in slot order; the root uoffset (or a vector's element) points past the vtable.


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _string(text: bytes) -> bytes:
    return _u32(len(text)) + text + b"\x00"


def _table(fields: Mapping[int, bytes], *, slots: int | None = None) -> tuple[bytes, int]:
    """A table of *fields* (slot -> the data its uoffset points to) and where the table starts."""
    order = sorted(fields)
    slots = max(order, default=-1) + 1 if slots is None else slots
    entries = [0] * slots
    for index, slot in enumerate(order):
        entries[slot] = 4 + 4 * index
    vtable_size, table_size = 4 + 2 * slots, 4 + 4 * len(order)
    vtable = struct.pack(f"<HH{slots}H", vtable_size, table_size, *entries)
    data, uoffsets = b"", []
    for index, slot in enumerate(order):
        uoffsets.append(table_size + len(data) - (4 + 4 * index))
        data += fields[slot]
    table = struct.pack(f"<i{len(order)}I", vtable_size, *uoffsets)
    return vtable + table + data, vtable_size


def _root(fields: Mapping[int, bytes], *, slots: int | None = None) -> bytearray:
    """A FlatNode of *fields*; its vtable starts at offset 4, its entries at 8 + 2 * slot."""
    table, start = _table(fields, slots=slots)
    return bytearray(_u32(4 + start) + table)


def _pairs(*pairs: tuple[bytes, int]) -> bytes:
    """A vector of the tables *pairs* (each as _table returns it), laid out after the vector."""
    elements, data = [], b""
    for index, (table, start) in enumerate(pairs):
        elements.append(4 * (len(pairs) - index) + len(data) + start)
        data += table
    return _u32(len(pairs)) + b"".join(map(_u32, elements)) + data


def _pair(key: bytes) -> tuple[bytes, int]:
    return _table({0: _string(key), 1: _string(b"v")})


def test_the_hand_built_buffers_read_as_flatbuffers_buffers_do() -> None:
    data = _root({0: _string(b"a"), 2: _pairs(_pair(b"app"), _pair(b"version")), 8: _u32(0)})
    assert parse_flat_node(bytes(data)) == FlatNode(
        name="a", labels=FrozenMap({"app": "v", "version": "v"})
    )


def _field_offset_outside(slot: int) -> bytes:
    # The vtable entry points 6 bytes into a table of 8: the field's uoffset would end at 10.
    data = _root({slot: _string(b"a")}, slots=11)
    struct.pack_into("<H", data, 8 + 2 * slot, 6)
    return bytes(data)


@pytest.mark.parametrize(("field", "slot"), SLOTS.items())
def test_a_field_offset_outside_its_table_names_the_field(field: str, slot: int) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(_field_offset_outside(slot))
    assert (caught.value.field, caught.value.reason) == (
        field,
        "field offset 6 outside its table",
    )


def _vtable_at_the_end(cut: int) -> bytes:
    # The root table (4 bytes, no field written) comes first; its vtable of 13 slots (30 bytes,
    # a newer schema) ends the buffer: soffset -4 points from the table at 4 to 8.
    data = _u32(4) + struct.pack("<i", -4) + struct.pack("<HH13H", 30, 4, *[0] * 13)
    return data[: len(data) - cut]


def _patched(data: bytes | bytearray, layout: str, position: int, value: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(layout, patched, position, value)
    return bytes(patched)


def _label_bytes(data: bytes | bytearray) -> int:
    """Where the pair table of the only label of *data* (a _root of labels) starts."""
    vector = bytes(data).index(_u32(1))
    offset: int = struct.unpack_from("<I", data, vector + 4)[0]
    return vector + 4 + offset


# The root: vtable at 4 (entries at 8 + 2 * slot), table after it.
_LABEL = _root({2: _pairs(_pair(b"app"))})
_PAIR_TABLE = _label_bytes(_LABEL)
_CONTAINERS = _root({8: _u32(1) + _u32(4) + _string(b"app")})


def _outside(size: int) -> str:
    return f"offset {size} is outside the buffer of {size} bytes"


HAND_MALFORMED: list[tuple[str, bytes, str | None, str]] = [
    (
        "vtable of 2 bytes",
        _patched(_root({0: _string(b"a")}), "<H", 4, 2),
        None,
        "vtable of 2 bytes at offset 4",
    ),
    (
        "vtable of 5 bytes",
        _patched(_root({0: _string(b"a")}), "<H", 4, 5),
        None,
        "vtable of 5 bytes at offset 4",
    ),
    (
        "vtable's last byte cut",
        _vtable_at_the_end(1),
        None,
        "offset 36 is outside the buffer of 37 bytes",
    ),
    # A uoffset to the end of the buffer: the length it points to is not there.
    ("string length outside", bytes(_root({0: b""})), "name", _outside(18)),
    ("vector length outside", bytes(_root({2: b""})), "labels", _outside(22)),
    (
        "labels overrun",
        bytes(_root({2: _u32(2) + _u32(4)})),
        "labels",
        "vector of 2 elements overruns the buffer",
    ),
    (
        "app containers overrun",
        bytes(_root({8: _u32(2) + _u32(4)})),
        "app_containers",
        "vector of 2 elements overruns the buffer",
    ),
    (
        "app containers' length outside",
        bytes(_root({8: b""}, slots=11)),
        "app_containers",
        _outside(38),
    ),
    (
        "app container string outside",
        _patched(_CONTAINERS, "<I", len(_CONTAINERS) - 12, 400),
        "app_containers[0]",
        f"offset {len(_CONTAINERS) - 12 + 400} is outside the buffer of {len(_CONTAINERS)} bytes",
    ),
    (
        "pair table outside",
        _patched(_LABEL, "<I", _PAIR_TABLE - 12, 400),
        "labels[0]",
        f"offset {_PAIR_TABLE - 12 + 400} is outside the buffer of {len(_LABEL)} bytes",
    ),
    (
        "pair vtable outside",
        _patched(_LABEL, "<i", _PAIR_TABLE, 400),
        "labels[0]",
        f"offset {_PAIR_TABLE - 400} is outside the buffer of {len(_LABEL)} bytes",
    ),
    (
        "pair vtable of 3 bytes",
        _patched(_LABEL, "<H", _PAIR_TABLE - 8, 3),
        "labels[0]",
        f"vtable of 3 bytes at offset {_PAIR_TABLE - 8}",
    ),
    (
        "pair vtable past the end",
        _patched(_LABEL, "<H", _PAIR_TABLE - 8, 400),
        "labels[0]",
        f"offset {_PAIR_TABLE - 8 + 398} is outside the buffer of {len(_LABEL)} bytes",
    ),
    (
        "pair table overruns",
        _patched(_LABEL, "<H", _PAIR_TABLE - 6, 400),
        "labels[0]",
        f"table of 400 bytes at offset {_PAIR_TABLE} overruns",
    ),
    (
        "pair key outside",
        _patched(_LABEL, "<I", _PAIR_TABLE + 4, 400),
        "labels[0].key",
        f"offset {_PAIR_TABLE + 404} is outside the buffer of {len(_LABEL)} bytes",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [case[1:] for case in HAND_MALFORMED],
    ids=[case[0] for case in HAND_MALFORMED],
)
def test_hand_built_malformed_buffers_name_the_field(
    data: bytes, field: str | None, reason: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_flat_node(data)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_a_vtable_that_ends_the_buffer_is_read() -> None:
    assert parse_flat_node(_vtable_at_the_end(0)) == FlatNode()


def test_an_empty_vector_that_ends_the_buffer_is_read() -> None:
    assert parse_flat_node(bytes(_root({10: _u32(0)}))) == FlatNode()
