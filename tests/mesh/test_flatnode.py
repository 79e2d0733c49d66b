"""Istio's FlatNode: meshals' reader against buffers built by the ``flatbuffers`` package.

The buffers are built independently of the reader, with the builder calls flatc generates for
Istio's ``node_info.fbs`` (``FlatNodeStart`` = ``StartObject(11)``, ``FlatNodeAddName`` =
``PrependUOffsetTRelativeSlot(0, ...)``, ...), so a wrong field id in the reader fails here.
"""

from __future__ import annotations

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
