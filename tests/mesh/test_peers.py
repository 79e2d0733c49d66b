"""Peer objects from filter state (every Istio encoding) and the node's own metadata."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from google.protobuf import struct_pb2
from test_flatnode import build_flat_node

from meshals import DecodeError, Node
from meshals.mesh._peers import (
    EntryPeers,
    Peer,
    PeerEncoding,
    PeerProblem,
    PeerSide,
    node_metadata,
    peer_metadata,
    peers_of,
    skywalking_peers,
)
from meshals.model import AnyValue, FrozenMap, JsonValue, OpaqueJson

TYPE = "type.googleapis.com/google.protobuf."
PRODUCTPAGE: FrozenMap[str, object] = FrozenMap(
    {"NAME": "productpage-v1-7d8f9", "NAMESPACE": "bookinfo"}
)


def struct_value(fields: FrozenMap[str, object]) -> AnyValue:
    return AnyValue(type_url=TYPE + "Struct", value=fields, known=True)


def bytes_value(data: bytes) -> AnyValue:
    return AnyValue(type_url=TYPE + "BytesValue", value=data, known=True)


def string_value(text: str) -> AnyValue:
    return AnyValue(type_url=TYPE + "StringValue", value=text, known=True)


def mx_header(fields: dict[str, Any]) -> str:
    message = struct_pb2.Struct()
    message.update(fields)
    return base64.b64encode(message.SerializeToString()).decode()


FLAT = build_flat_node({"name": "details-v1-4c3d2", "namespace": "bookinfo"})
FLAT_METADATA: FrozenMap[str, object] = FrozenMap(
    {"NAME": "details-v1-4c3d2", "NAMESPACE": "bookinfo", "LABELS": {}}
)

DECODE_CASES: list[tuple[str, AnyValue, FrozenMap[str, object], PeerEncoding]] = [
    ("Struct", struct_value(PRODUCTPAGE), PRODUCTPAGE, PeerEncoding.STRUCT),
    ("FlatNode", bytes_value(FLAT), FLAT_METADATA, PeerEncoding.FLAT_NODE),
    (
        "mx header",
        string_value(mx_header({"NAME": "p", "LABELS": {"app": "a"}})),
        FrozenMap({"NAME": "p", "LABELS": FrozenMap({"app": "a"})}),
        PeerEncoding.MX_HEADER,
    ),
    (
        "mx header with surrounding whitespace",
        string_value(" " + mx_header({"NAME": "p"}) + "\n"),
        FrozenMap({"NAME": "p"}),
        PeerEncoding.MX_HEADER,
    ),
    (
        "mx header with every JSON kind",
        string_value(mx_header({"N": 3, "L": ["a", 1.5], "B": True, "Z": None, "S": {}})),
        FrozenMap({"N": 3.0, "L": ("a", 1.5), "B": True, "Z": None, "S": FrozenMap()}),
        PeerEncoding.MX_HEADER,
    ),
    ("empty Struct", struct_value(FrozenMap()), FrozenMap(), PeerEncoding.STRUCT),
]


@pytest.mark.parametrize(
    ("value", "metadata", "encoding"),
    [case[1:] for case in DECODE_CASES],
    ids=[case[0] for case in DECODE_CASES],
)
def test_peer_metadata(
    value: AnyValue, metadata: FrozenMap[str, object], encoding: PeerEncoding
) -> None:
    assert peer_metadata(value) == (metadata, encoding)


UNDECODABLE: list[tuple[str, AnyValue, str]] = [
    (
        "unknown type",
        AnyValue(type_url="type.googleapis.com/istio.Peer", value=b"\x0a\x01a", known=False),
        "a peer of type 'istio.Peer', which meshals cannot read",
    ),
    (
        "unknown type from JSON",
        AnyValue(type_url="type.googleapis.com/x.Y", value=OpaqueJson(FrozenMap()), known=False),
        "a peer of type 'x.Y', which meshals cannot read",
    ),
    (
        "a known type that is no peer",
        AnyValue(type_url=TYPE + "UInt32Value", value=3, known=True),
        "a peer of type 'google.protobuf.UInt32Value': expected a Struct, BytesValue or "
        "StringValue",
    ),
    (
        # A payload of another kind than its type holds (JSON decoding can make these).
        "a Struct type without a map",
        AnyValue(type_url=TYPE + "Struct", value="x", known=True),
        "a peer of type 'google.protobuf.Struct': expected a Struct, BytesValue or StringValue",
    ),
    (
        "a map of another type",
        AnyValue(type_url=TYPE + "Value", value=FrozenMap({"NAME": "p"}), known=True),
        "a peer of type 'google.protobuf.Value': expected a Struct, BytesValue or StringValue",
    ),
    (
        "bytes of another type",
        AnyValue(type_url=TYPE + "Value", value=FLAT, known=True),
        "a peer of type 'google.protobuf.Value': expected a Struct, BytesValue or StringValue",
    ),
    (
        "a string of another type",
        AnyValue(type_url=TYPE + "Value", value=mx_header({"NAME": "p"}), known=True),
        "a peer of type 'google.protobuf.Value': expected a Struct, BytesValue or StringValue",
    ),
    ("truncated FlatNode", bytes_value(FLAT[:12]), "offset 12 is outside the buffer of 12 bytes"),
    (
        "not base64",
        string_value("not base64!"),
        "a string peer that is not base64 (x-envoy-peer-metadata)",
    ),
    (
        "base64 of no Struct",
        string_value(base64.b64encode(b"\xff\xff\xff").decode()),
        "a string peer whose base64 is not a serialized Struct",
    ),
]


@pytest.mark.parametrize(
    ("value", "reason"),
    [case[1:] for case in UNDECODABLE],
    ids=[case[0] for case in UNDECODABLE],
)
def test_undecodable_peers_raise_decode_error(value: AnyValue, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        peer_metadata(value)
    assert caught.value.reason == reason


def test_side_keys() -> None:
    assert PeerSide.UPSTREAM.keys == ("upstream_peer", "wasm.upstream_peer")
    assert PeerSide.DOWNSTREAM.keys == ("downstream_peer", "wasm.downstream_peer")


MODERN = struct_value(PRODUCTPAGE)
LEGACY = bytes_value(FLAT)
BROKEN = bytes_value(FLAT[:12])
TRUNCATED_REASON = peers_of({"wasm.upstream_peer": BROKEN}).problems[0].reason


def _peer(key: str, value: AnyValue) -> Peer:
    metadata, encoding = peer_metadata(value)
    return Peer(metadata=metadata, key=key, encoding=encoding)


PEERS_CASES: list[tuple[str, dict[str, AnyValue], EntryPeers]] = [
    ("nothing", {}, EntryPeers()),
    ("unrelated keys", {"envoy.string": string_value("x")}, EntryPeers()),
    (
        "modern upstream",
        {"upstream_peer": MODERN},
        EntryPeers(upstream=_peer("upstream_peer", MODERN)),
    ),
    (
        "legacy downstream",
        {"wasm.downstream_peer": LEGACY},
        EntryPeers(downstream=_peer("wasm.downstream_peer", LEGACY)),
    ),
    (
        "both generations: modern wins, legacy not read",
        {"downstream_peer": MODERN, "wasm.downstream_peer": BROKEN},
        EntryPeers(downstream=_peer("downstream_peer", MODERN)),
    ),
    (
        "broken modern: legacy used, problem listed",
        {"upstream_peer": string_value("!"), "wasm.upstream_peer": LEGACY},
        EntryPeers(
            upstream=_peer("wasm.upstream_peer", LEGACY),
            problems=(
                PeerProblem(
                    key="upstream_peer",
                    reason="a string peer that is not base64 (x-envoy-peer-metadata)",
                ),
            ),
        ),
    ),
    (
        "only broken",
        {"wasm.upstream_peer": BROKEN},
        EntryPeers(problems=(PeerProblem(key="wasm.upstream_peer", reason=TRUNCATED_REASON),)),
    ),
    (
        "both sides",
        {"wasm.upstream_peer": LEGACY, "downstream_peer": MODERN},
        EntryPeers(
            upstream=_peer("wasm.upstream_peer", LEGACY),
            downstream=_peer("downstream_peer", MODERN),
        ),
    ),
]


@pytest.mark.parametrize(
    ("filter_state", "expected"),
    [case[1:] for case in PEERS_CASES],
    ids=[case[0] for case in PEERS_CASES],
)
def test_peers_of(filter_state: dict[str, AnyValue], expected: EntryPeers) -> None:
    assert peers_of(FrozenMap(filter_state)) == expected


def test_a_problem_names_the_field_of_the_flat_node() -> None:
    data = bytearray(FLAT)
    data[data.index(b"details")] = 0xFF
    assert peers_of({"upstream_peer": bytes_value(bytes(data))}).problems == (
        PeerProblem(key="upstream_peer", reason="name: string is not UTF-8: invalid start byte"),
    )
    # A truncation is found outside any field: the reason alone.
    assert TRUNCATED_REASON == "offset 12 is outside the buffer of 12 bytes"


SKYWALKING_PEERS_CASES: list[
    tuple[str, dict[str, AnyValue], tuple[tuple[PeerSide, object], ...]]
] = [
    (
        "every key of either generation, in order",
        {"wasm.downstream_peer": LEGACY, "upstream_peer": MODERN},
        ((PeerSide.DOWNSTREAM, FLAT_METADATA), (PeerSide.UPSTREAM, PRODUCTPAGE)),
    ),
    (
        "unrelated keys and StringValues are passed over",
        {
            "envoy.string": struct_value(PRODUCTPAGE),
            "downstream_peer": string_value(mx_header({"NAME": "p"})),
            "upstream_peer": MODERN,
        },
        ((PeerSide.UPSTREAM, PRODUCTPAGE),),
    ),
    (
        "what cannot be decoded is dropped",
        {"wasm.upstream_peer": BROKEN, "downstream_peer": MODERN},
        ((PeerSide.DOWNSTREAM, PRODUCTPAGE),),
    ),
]


@pytest.mark.parametrize(
    ("filter_state", "expected"),
    [case[1:] for case in SKYWALKING_PEERS_CASES],
    ids=[case[0] for case in SKYWALKING_PEERS_CASES],
)
def test_skywalking_peers(
    filter_state: dict[str, AnyValue], expected: tuple[tuple[PeerSide, object], ...]
) -> None:
    assert skywalking_peers(FrozenMap(filter_state)) == expected


def test_entry_peers_of_side() -> None:
    peers = peers_of({"upstream_peer": MODERN})
    assert peers.of(PeerSide.UPSTREAM) == peers.upstream
    assert peers.of(PeerSide.DOWNSTREAM) is None


ISTIO_1_1: FrozenMap[str, JsonValue] = FrozenMap(
    {
        "CONFIG_NAMESPACE": "default",
        "ISTIO_META_INSTANCE_IPS": "10.44.2.55,10.44.2.55,fe80::d8e8:b6ff:fed6:f857",
        "ISTIO_VERSION": "1.0-dev",
        "POD_NAME": "reviews-v1-d66dcfdc5-kh6v7",
        "app": "reviews",
        "istio": "sidecar",
        "kubernetes.io/limit-ranger": "LimitRanger plugin set: cpu request",
        "pod-template-hash": "822879871",
        "version": "v1",
    }
)

NODE_CASES: list[tuple[str, Node | None, FrozenMap[str, object]]] = [
    ("no node", None, FrozenMap()),
    ("no metadata", Node(id="x"), FrozenMap()),
    (
        "modern metadata as it is",
        Node(metadata=FrozenMap({"NAME": "a", "LABELS": FrozenMap({"app": "b"})})),
        FrozenMap({"NAME": "a", "LABELS": FrozenMap({"app": "b"})}),
    ),
    (
        "modern metadata with LABELS only",
        Node(metadata=FrozenMap({"LABELS": FrozenMap(), "app": "x"})),
        FrozenMap({"LABELS": FrozenMap(), "app": "x"}),
    ),
    (
        "Istio 1.1 layout",
        Node(metadata=ISTIO_1_1),
        FrozenMap(
            {
                **ISTIO_1_1,
                "NAME": "reviews-v1-d66dcfdc5-kh6v7",
                "NAMESPACE": "default",
                "INSTANCE_IPS": "10.44.2.55,10.44.2.55,fe80::d8e8:b6ff:fed6:f857",
                "LABELS": FrozenMap(
                    {
                        "app": "reviews",
                        "istio": "sidecar",
                        "kubernetes.io/limit-ranger": "LimitRanger plugin set: cpu request",
                        "pod-template-hash": "822879871",
                        "version": "v1",
                    }
                ),
            }
        ),
    ),
    (
        "POD_NAMESPACE when there is no CONFIG_NAMESPACE",
        Node(metadata=FrozenMap({"POD_NAME": "p", "POD_NAMESPACE": "ns"})),
        FrozenMap(
            {"POD_NAME": "p", "POD_NAMESPACE": "ns", "NAME": "p", "NAMESPACE": "ns", "LABELS": {}}
        ),
    ),
    (
        "modern metadata with NAME only",
        Node(metadata=FrozenMap({"NAME": "a", "app": "b"})),
        FrozenMap({"NAME": "a", "app": "b"}),
    ),
    (
        "an empty or non-string legacy value derives nothing",
        Node(metadata=FrozenMap({"POD_NAME": "", "POD_NAMESPACE": 3.0, "app": "b"})),
        FrozenMap({"POD_NAME": "", "POD_NAMESPACE": 3.0, "app": "b", "LABELS": {"app": "b"}}),
    ),
    (
        "nothing to derive",
        Node(metadata=FrozenMap({"ISTIO_VERSION": "1.0", "COUNT": 3.0})),
        FrozenMap({"ISTIO_VERSION": "1.0", "COUNT": 3.0}),
    ),
]


@pytest.mark.parametrize(
    ("node", "expected"),
    [case[1:] for case in NODE_CASES],
    ids=[case[0] for case in NODE_CASES],
)
def test_node_metadata(node: Node | None, expected: FrozenMap[str, object]) -> None:
    assert node_metadata(node) == expected
