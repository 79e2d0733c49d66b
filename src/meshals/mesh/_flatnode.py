"""Reading Istio's ``FlatNode``: the FlatBuffers peer metadata of Istio 1.8 to 1.23.

Istio's metadata exchange stored the peer it learnt in the filter state keys
``wasm.upstream_peer`` / ``wasm.downstream_peer`` as a FlatBuffers ``FlatNode``, which Envoy's
access loggers send as a ``google.protobuf.BytesValue``. The schema is Istio's
``extensions/common/node_info.fbs`` (``istio/proxy``, namespace ``Wasm.Common``; earlier
``proxy_info.fbs``); field ids, in declaration order::

    table KeyVal   { key:string (key); value:string; }
    table FlatNode { name:string;                 // 0   the pod name
                     namespace:string;            // 1
                     labels:[KeyVal];             // 2   sorted by key
                     owner:string;                // 3   kubernetes://apis/apps/v1/...
                     workload_name:string;        // 4
                     platform_metadata:[KeyVal];  // 5
                     istio_version:string;        // 6
                     mesh_id:string;              // 7
                     app_containers:[string];     // 8
                     cluster_id:string;           // 9
                     instance_ips:[string]; }     // 10
    root_type FlatNode;

This is a reader of its own for just that schema (the FlatBuffers binary format: a root
``uoffset`` to the table, a signed offset from the table back to its vtable, 16-bit field
offsets in the vtable, 32-bit offsets to strings and vectors). Every offset and length is
checked against the buffer: a truncated or corrupt buffer is a :class:`~meshals.DecodeError`,
never an ``IndexError``. Strings must be UTF-8. Fields the reader does not know (a newer
schema) are ignored, as FlatBuffers readers do.
"""

from __future__ import annotations

import struct

import attrs

from meshals._errors import DecodeError
from meshals._values import FrozenMap

__all__: list[str] = []

_SOURCE = "<FlatNode>"
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

# Field ids (the vtable slot) of FlatNode and KeyVal, from node_info.fbs.
_NAME, _NAMESPACE, _LABELS, _OWNER, _WORKLOAD_NAME, _PLATFORM_METADATA = 0, 1, 2, 3, 4, 5
_ISTIO_VERSION, _MESH_ID, _APP_CONTAINERS, _CLUSTER_ID, _INSTANCE_IPS = 6, 7, 8, 9, 10
_KEY, _VALUE = 0, 1

_NO_PAIRS: FrozenMap[str, str] = FrozenMap()


@attrs.frozen(kw_only=True)
class FlatNode:
    """A decoded ``FlatNode``; a string field Istio did not write is None.

    >>> FlatNode(name="reviews-v1-abc", namespace="default").to_metadata()
    FrozenMap({'NAME': 'reviews-v1-abc', 'NAMESPACE': 'default', 'LABELS': FrozenMap({})})
    """

    name: str | None = None
    namespace: str | None = None
    labels: FrozenMap[str, str] = _NO_PAIRS
    owner: str | None = None
    workload_name: str | None = None
    platform_metadata: FrozenMap[str, str] = _NO_PAIRS
    istio_version: str | None = None
    mesh_id: str | None = None
    app_containers: tuple[str, ...] = ()
    cluster_id: str | None = None
    instance_ips: tuple[str, ...] = ()

    def to_metadata(self) -> FrozenMap[str, object]:
        """The node as Istio's node-metadata ``Struct`` would hold it (upper-case keys).

        ``LABELS`` is always present (possibly empty); the other keys only where the field was
        written: ``NAME``, ``NAMESPACE``, ``OWNER``, ``WORKLOAD_NAME``, ``ISTIO_VERSION``,
        ``MESH_ID``, ``CLUSTER_ID``, ``PLATFORM_METADATA`` (a map), ``APP_CONTAINERS`` and
        ``INSTANCE_IPS`` (lists). SkyWalking converts a FlatNode the same way.
        """
        metadata: dict[str, object] = {}
        for key, text in (
            ("NAME", self.name),
            ("NAMESPACE", self.namespace),
            ("OWNER", self.owner),
            ("WORKLOAD_NAME", self.workload_name),
            ("ISTIO_VERSION", self.istio_version),
            ("MESH_ID", self.mesh_id),
            ("CLUSTER_ID", self.cluster_id),
        ):
            if text is not None:
                metadata[key] = text
        metadata["LABELS"] = self.labels
        if self.platform_metadata:
            metadata["PLATFORM_METADATA"] = self.platform_metadata
        if self.app_containers:
            metadata["APP_CONTAINERS"] = self.app_containers
        if self.instance_ips:
            metadata["INSTANCE_IPS"] = self.instance_ips
        return FrozenMap(metadata)


def parse_flat_node(data: bytes | bytearray | memoryview) -> FlatNode:
    """Decode a FlatBuffers ``FlatNode`` (see the module docstring for the schema).

    Args:
        data: the buffer, e.g. the payload of a ``wasm.upstream_peer`` BytesValue.

    Returns:
        The node.

    Raises:
        DecodeError: the buffer is truncated, an offset points outside it, a string is not
            UTF-8 or not NUL-terminated; ``field`` names the FlatNode field.

    >>> parse_flat_node(b"\\x00\\x00")
    Traceback (most recent call last):
    ...
    meshals._errors.DecodeError: <FlatNode>: buffer of 2 bytes, too short for a root offset
    """
    reader = _Reader(bytes(data))
    root = reader.root_table()
    return FlatNode(
        name=reader.string_field(root, _NAME, "name"),
        namespace=reader.string_field(root, _NAMESPACE, "namespace"),
        labels=reader.pairs_field(root, _LABELS, "labels"),
        owner=reader.string_field(root, _OWNER, "owner"),
        workload_name=reader.string_field(root, _WORKLOAD_NAME, "workload_name"),
        platform_metadata=reader.pairs_field(root, _PLATFORM_METADATA, "platform_metadata"),
        istio_version=reader.string_field(root, _ISTIO_VERSION, "istio_version"),
        mesh_id=reader.string_field(root, _MESH_ID, "mesh_id"),
        app_containers=reader.strings_field(root, _APP_CONTAINERS, "app_containers"),
        cluster_id=reader.string_field(root, _CLUSTER_ID, "cluster_id"),
        instance_ips=reader.strings_field(root, _INSTANCE_IPS, "instance_ips"),
    )


class _Reader:
    """Bounds-checked reads of FlatBuffers tables, strings and vectors from one buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def error(self, reason: str, field: str | None = None) -> DecodeError:
        return DecodeError(reason, source=_SOURCE, field=field)

    def _unpack(self, layout: struct.Struct, position: int, field: str | None) -> int:
        if position < 0 or position + layout.size > len(self.data):
            raise self.error(
                f"offset {position} is outside the buffer of {len(self.data)} bytes", field
            )
        value: int = layout.unpack_from(self.data, position)[0]
        return value

    def root_table(self) -> int:
        if len(self.data) < _U32.size:
            raise self.error(f"buffer of {len(self.data)} bytes, too short for a root offset")
        return self._table(0, None)

    def _table(self, position: int, field: str | None) -> int:
        """The table that the ``uoffset`` at *position* points to; its vtable is checked."""
        table = position + self._unpack(_U32, position, field)
        vtable = table - self._unpack(_I32, table, field)
        vtable_size = self._unpack(_U16, vtable, field)
        if vtable_size < 4 or vtable_size % 2:
            raise self.error(f"vtable of {vtable_size} bytes at offset {vtable}", field)
        self._unpack(_U16, vtable + vtable_size - 2, field)  # the whole vtable is inside
        table_size = self._unpack(_U16, vtable + 2, field)
        if table_size < 4 or table + table_size > len(self.data):
            raise self.error(f"table of {table_size} bytes at offset {table} overruns", field)
        return table

    def _field_position(self, table: int, slot: int, field: str) -> int | None:
        """Where field *slot* of *table* is stored, or None when the field is absent."""
        vtable = table - self._unpack(_I32, table, field)
        vtable_size = self._unpack(_U16, vtable, field)
        entry = 4 + 2 * slot
        if entry >= vtable_size:
            return None  # written by an older schema that had fewer fields
        offset = self._unpack(_U16, vtable + entry, field)
        if offset == 0:
            return None
        table_size = self._unpack(_U16, vtable + 2, field)
        if offset + _U32.size > table_size:
            raise self.error(f"field offset {offset} outside its table", field)
        return table + offset

    def _string_at(self, position: int, field: str) -> str:
        start = position + self._unpack(_U32, position, field)
        length = self._unpack(_U32, start, field)
        end = start + _U32.size + length
        if end >= len(self.data) or self.data[end] != 0:
            raise self.error("string overruns the buffer or lacks its NUL terminator", field)
        try:
            return self.data[start + _U32.size : end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"string is not UTF-8: {exc.reason}", field) from None

    def _vector(self, position: int, field: str) -> list[int]:
        """The positions of the ``uoffset`` elements of the vector referenced at *position*."""
        start = position + self._unpack(_U32, position, field)
        length = self._unpack(_U32, start, field)
        first = start + _U32.size
        if first + length * _U32.size > len(self.data):
            raise self.error(f"vector of {length} elements overruns the buffer", field)
        return [first + index * _U32.size for index in range(length)]

    def string_field(self, table: int, slot: int, field: str) -> str | None:
        position = self._field_position(table, slot, field)
        return None if position is None else self._string_at(position, field)

    def strings_field(self, table: int, slot: int, field: str) -> tuple[str, ...]:
        position = self._field_position(table, slot, field)
        if position is None:
            return ()
        return tuple(
            self._string_at(element, f"{field}[{index}]")
            for index, element in enumerate(self._vector(position, field))
        )

    def pairs_field(self, table: int, slot: int, field: str) -> FrozenMap[str, str]:
        """A ``[KeyVal]`` vector as a map; a pair without key is dropped, without value is ""."""
        position = self._field_position(table, slot, field)
        if position is None:
            return _NO_PAIRS
        pairs: dict[str, str] = {}
        for index, element in enumerate(self._vector(position, field)):
            where = f"{field}[{index}]"
            pair = self._table(element, where)
            key = self.string_field(pair, _KEY, f"{where}.key")
            if key is not None:
                pairs[key] = self.string_field(pair, _VALUE, f"{where}.value") or ""
        return FrozenMap(pairs)
