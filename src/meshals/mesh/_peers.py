"""Workload metadata for the ``mx-mesh`` analysis: the peers in an entry's filter state, and the
node's own metadata, each as one mapping of Istio's keys.

**Peers.** Istio's metadata exchange leaves what it learnt about the other side of a request or
connection in the filter state, which the access loggers copy into ``filter_state_objects``:

=====================  ============================  ==========================================
Istio                  keys                          value (a ``google.protobuf.Any``)
=====================  ============================  ==========================================
1.24 and later         ``upstream_peer``,            ``Struct``: ``type``, ``workload``,
                       ``downstream_peer``           ``name``, ``namespace``, ``cluster``,
                                                     ``service``, ``revision``, ``app``,
                                                     ``version``, ``identity`` (or the
                                                     upper-case ``NAME``/``NAMESPACE``/
                                                     ``LABELS`` layout of node metadata)
1.8 to 1.23            ``wasm.upstream_peer``,       ``BytesValue`` holding a FlatBuffers
                       ``wasm.downstream_peer``      ``FlatNode`` (:mod:`meshals.mesh._flatnode`)
(set by configuration) either                        ``StringValue`` holding the
                                                     ``x-envoy-peer-metadata`` header: a
                                                     base64 serialized node-metadata ``Struct``
=====================  ============================  ==========================================

The last row is what an upstream Envoy's ``set_filter_state`` filter logs when it copies Istio's
metadata-exchange header into the filter state (its objects are strings). Envoy logs a key from
the request's filter state, else from the upstream connection's (where Istio's TCP metadata
exchange puts the upstream peer); both arrive under the same key.

An entry with both key generations uses the modern key and ignores the legacy one, so a peer is
never counted twice; the legacy key is the fallback when the modern value cannot be decoded. A
value that cannot be decoded is a :class:`PeerProblem`, reported by the analysis, never raised.

**The node.** Modern Istio node metadata already has the keys the naming reads (``NAME``,
``NAMESPACE``, ``LABELS``, ...). Istio 1.1 wrote a flat layout: ``POD_NAME``,
``CONFIG_NAMESPACE``, ``ISTIO_META_INSTANCE_IPS`` and the pod labels as top-level keys
(``app``, ``version``). :func:`node_metadata` adds ``NAME``, ``NAMESPACE``, ``INSTANCE_IPS``
and ``LABELS`` (every top-level string whose key is not an upper-case ``ISTIO_STYLE`` name)
to such metadata, so that one mapping serves both.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Mapping

import attrs
import google.protobuf.message
from google.protobuf import struct_pb2

from meshals._errors import DecodeError
from meshals._values import AnyValue, FrozenMap, JsonValue
from meshals.model._als import Node

from ._flatnode import parse_flat_node

__all__: list[str] = []

_STRUCT = "google.protobuf.Struct"
_BYTES = "google.protobuf.BytesValue"
_STRING = "google.protobuf.StringValue"
# Istio's own environment-style keys in the 1.1 layout; everything else top-level is a label.
_UPPER_CASE_KEY = re.compile(r"[A-Z][A-Z0-9_]*")

Metadata = FrozenMap[str, object]


class PeerSide(enum.Enum):
    """Which peer: the one the Envoy called (upstream) or the one that called it (downstream)."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"

    @property
    def keys(self) -> tuple[str, str]:
        """The filter-state keys of this peer, modern (Istio 1.24+) first."""
        return (f"{self.value}_peer", f"wasm.{self.value}_peer")


class PeerEncoding(enum.Enum):
    """How a peer object was encoded."""

    STRUCT = "struct"  # a google.protobuf.Struct
    FLAT_NODE = "flatnode"  # a BytesValue holding a FlatBuffers FlatNode
    MX_HEADER = "mx-header"  # a StringValue holding the base64 x-envoy-peer-metadata header


@attrs.frozen(kw_only=True)
class Peer:
    """One peer object: its metadata (Istio's keys), the key it was logged under, its encoding."""

    metadata: Metadata
    key: str
    encoding: PeerEncoding


@attrs.frozen(kw_only=True)
class PeerProblem:
    """A peer object that could not be decoded: its key and what was wrong."""

    key: str
    reason: str


@attrs.frozen(kw_only=True)
class EntryPeers:
    """The peers of one entry (None where there is none) and the objects that were unusable."""

    upstream: Peer | None = None
    downstream: Peer | None = None
    problems: tuple[PeerProblem, ...] = ()

    def of(self, side: PeerSide) -> Peer | None:
        """The peer on *side*."""
        return self.upstream if side is PeerSide.UPSTREAM else self.downstream


def peer_metadata(value: AnyValue) -> tuple[Metadata, PeerEncoding]:
    """The metadata a peer object holds, and its encoding.

    Args:
        value: a ``filter_state_objects`` value.

    Returns:
        The metadata (a Struct's fields, or a FlatNode's as :meth:`FlatNode.to_metadata
        <meshals.mesh._flatnode.FlatNode.to_metadata>` names them) and how it was encoded.

    Raises:
        DecodeError: the type is none of Struct, BytesValue and StringValue, or the payload
            is not what that type should hold (a truncated FlatBuffer, bad base64).

    >>> from meshals.model import AnyValue, FrozenMap
    >>> struct = AnyValue(type_url="type.googleapis.com/google.protobuf.Struct",
    ...                   value=FrozenMap({"name": "reviews-v1-abc"}), known=True)
    >>> peer_metadata(struct)
    (FrozenMap({'name': 'reviews-v1-abc'}), <PeerEncoding.STRUCT: 'struct'>)
    """
    type_name = value.type_name
    payload = value.value
    if not value.known:
        raise DecodeError(f"a peer of type {type_name!r}, which meshals cannot read")
    if type_name == _STRUCT and isinstance(payload, FrozenMap):
        return payload, PeerEncoding.STRUCT
    if type_name == _BYTES and isinstance(payload, bytes):
        return parse_flat_node(payload).to_metadata(), PeerEncoding.FLAT_NODE
    if type_name == _STRING and isinstance(payload, str):
        return _mx_header_metadata(payload), PeerEncoding.MX_HEADER
    raise DecodeError(f"a peer of type {type_name!r}: expected a Struct, BytesValue or StringValue")


def _mx_header_metadata(text: str) -> Metadata:
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("a string peer that is not base64 (x-envoy-peer-metadata)") from None
    message = struct_pb2.Struct()
    try:
        message.ParseFromString(data)
    except google.protobuf.message.DecodeError:
        raise DecodeError("a string peer whose base64 is not a serialized Struct") from None
    return FrozenMap[str, object](_struct_fields(message))


# The header is parsed here rather than by the ALS decoders; protobuf's parser has already
# bounded its depth (100 nested messages).
def _struct_fields(message: struct_pb2.Struct) -> FrozenMap[str, JsonValue]:
    return FrozenMap({key: _json_value(value) for key, value in message.fields.items()})


def _json_value(value: struct_pb2.Value) -> JsonValue:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct_fields(value.struct_value)
    if kind == "list_value":
        return tuple(_json_value(item) for item in value.list_value.values)
    if kind in ("string_value", "number_value", "bool_value"):
        scalar: str | float | bool = getattr(value, kind)
        return scalar
    return None


def peers_of(filter_state: Mapping[str, AnyValue]) -> EntryPeers:
    """The upstream and downstream peers in an entry's ``filter_state_objects``.

    Per side the modern key wins over the legacy ``wasm.`` key; the legacy one is used only when
    the modern one is absent or cannot be decoded. Every value read that cannot be decoded is
    listed in ``problems`` (upstream first, modern key first).

    Args:
        filter_state: ``AccessLogCommon.filter_state_objects``.

    Returns:
        The peers and the problems.
    """
    found: dict[PeerSide, Peer] = {}
    problems: list[PeerProblem] = []
    for side in PeerSide:
        for key in side.keys:
            value = filter_state.get(key)
            if value is None:
                continue
            try:
                metadata, encoding = peer_metadata(value)
            except DecodeError as exc:
                problems.append(PeerProblem(key=key, reason=_reason(exc)))
                continue
            found[side] = Peer(metadata=metadata, key=key, encoding=encoding)
            break  # the legacy key of a side that has a modern peer is not even read
    return EntryPeers(
        upstream=found.get(PeerSide.UPSTREAM),
        downstream=found.get(PeerSide.DOWNSTREAM),
        problems=tuple(problems),
    )


def skywalking_peers(
    filter_state: Mapping[str, AnyValue],
) -> tuple[tuple[PeerSide, Metadata], ...]:
    """The peers SkyWalking's ``mx-mesh`` reads (``semantics="skywalking"``): every key of
    either generation, in the filter state's order, one peer per key; a ``Struct`` or a
    FlatNode ``BytesValue`` only (it decodes no ``StringValue``); what cannot be decoded is
    dropped, as SkyWalking logs and drops it."""
    sides = {key: side for side in PeerSide for key in side.keys}
    found = []
    for key, value in filter_state.items():
        side = sides.get(key)
        if side is None or value.type_name not in (_STRUCT, _BYTES):
            continue
        try:
            metadata, _ = peer_metadata(value)
        except DecodeError:
            continue
        found.append((side, metadata))
    return tuple(found)


def _reason(error: DecodeError) -> str:
    return f"{error.field}: {error.reason}" if error.field else error.reason


def node_metadata(node: Node | None) -> Metadata:
    """The node's metadata with Istio 1.1's flat layout mapped to the modern keys.

    Args:
        node: the stream identifier's node.

    Returns:
        The metadata (empty when the node has none). Modern metadata (it has ``NAME`` or
        ``LABELS``) is returned as it is.

    >>> from meshals import Node
    >>> old = Node(metadata=FrozenMap({"POD_NAME": "reviews-v1-kh6v7", "CONFIG_NAMESPACE":
    ...     "default", "app": "reviews", "ISTIO_VERSION": "1.0-dev"}))
    >>> dict(node_metadata(old))["LABELS"], dict(node_metadata(old))["NAME"]
    (FrozenMap({'app': 'reviews'}), 'reviews-v1-kh6v7')
    """
    metadata: Mapping[str, object] = (
        node.metadata if node is not None and node.metadata is not None else FrozenMap()
    )
    if "NAME" in metadata or "LABELS" in metadata:
        return FrozenMap(metadata)
    derived: dict[str, object] = {}
    for modern, legacy_keys in (
        ("NAME", ("POD_NAME",)),
        ("NAMESPACE", ("CONFIG_NAMESPACE", "POD_NAMESPACE")),
        ("INSTANCE_IPS", ("ISTIO_META_INSTANCE_IPS",)),
    ):
        for legacy in legacy_keys:
            value = metadata.get(legacy)
            if isinstance(value, str) and value and modern not in metadata:
                derived[modern] = value
                break
    labels = {
        key: value
        for key, value in metadata.items()
        if isinstance(value, str) and not _UPPER_CASE_KEY.fullmatch(key)
    }
    if not derived and not labels:
        return FrozenMap(metadata)
    return FrozenMap({**metadata, **derived, "LABELS": FrozenMap(labels)})
