"""Analyzer chains: every combination of analyzers, entry kinds and present/absent peers.

Each row says what ``analyze(..., analyzers=...)`` gives for one entry, as
``"<side> <analyzer> <source>><destination>"`` per metric in output order (``S``: server side,
``C``: client side; ``mx``/``k8s``: the analyzer), or ``"skip:<reason>"``. mx-mesh names
``<app>.ns`` from metadata; k8s-mesh names ``<who>-k8s`` by address.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import attrs
import pytest

from meshals import (
    AccessLogCommon,
    AlsMessage,
    HttpEntry,
    Identifier,
    Node,
    ServiceMetaInfo,
    TcpEntry,
)
from meshals.mesh._accounting import SkipReason
from meshals.mesh._analysis import analyze
from meshals.mesh._chain import ANALYZERS, _in_direction_order
from meshals.model import (
    AnyValue,
    DetectPoint,
    FrozenMap,
    HttpRequest,
    JsonValue,
    RequestMethod,
    SocketAddress,
)

STRUCT = "type.googleapis.com/google.protobuf.Struct"


def _peer(app: str) -> AnyValue:
    metadata = FrozenMap({"NAME": f"{app}-1", "NAMESPACE": "ns", "LABELS": FrozenMap({"app": app})})
    return AnyValue(type_url=STRUCT, value=metadata, known=True)


BROKEN = AnyValue(type_url="type.googleapis.com/google.protobuf.BytesValue", value=b"", known=True)
PEERS: dict[str, dict[str, AnyValue]] = {
    "none": {},
    "up": {"upstream_peer": _peer("callee")},
    "down": {"downstream_peer": _peer("caller")},
    "both": {"upstream_peer": _peer("callee"), "wasm.downstream_peer": _peer("caller")},
    "broken": {"wasm.upstream_peer": BROKEN},
}


def _node(node_id: str, app: str) -> Node:
    metadata: FrozenMap[str, JsonValue] = FrozenMap(
        {"NAME": f"{app}-1", "NAMESPACE": "ns", "LABELS": FrozenMap({"app": app})}
    )
    return Node(id=node_id, metadata=metadata)


def _address(ip: str, port: int) -> SocketAddress:
    return SocketAddress(address=ip, port=port)


# (node, remote, local, upstream, cluster) per kind of entry
ENTRIES: dict[str, tuple[Node, str, tuple[str, int], tuple[str, int], str]] = {
    "inbound": (
        _node("sidecar~10.0.0.1~me-1.ns~ns", "me"),
        "10.0.0.2",
        ("10.0.0.1", 9080),
        ("10.0.0.1", 19080),
        "inbound|9080||",
    ),
    "outbound": (
        _node("sidecar~10.0.0.1~me-1.ns~ns", "me"),
        "10.0.0.1",
        ("10.96.0.3", 9080),
        ("10.0.0.3", 9080),
        "outbound|9080||callee.ns.svc.cluster.local",
    ),
    "gateway": (
        _node("router~10.0.0.5~gw-1.ns~ns", "gw"),
        "10.0.0.2",
        ("10.0.0.5", 8080),
        ("10.0.0.3", 9080),
        "outbound|9080||callee.ns.svc.cluster.local",
    ),
}


class K8sNames:
    """k8s-mesh's view: every address names ``<who>-k8s``."""

    names: ClassVar[dict[str, str]] = {
        "10.0.0.1": "me",
        "10.0.0.2": "caller",
        "10.0.0.3": "callee",
        "10.0.0.5": "gw",
    }

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        name = self.names.get(ip)
        return None if name is None else ServiceMetaInfo(service=f"{name}-k8s", instance=name)


MX, K8S, MX_K8S, K8S_MX = ("mx-mesh",), ("k8s-mesh",), ("mx-mesh", "k8s-mesh"), ANALYZERS

# (analyzers, entry, peers, expected)
CHAIN_TABLE: list[tuple[tuple[str, ...], str, str, str]] = [
    # k8s-mesh alone: peers play no part
    (K8S, "inbound", "none", "S k8s caller-k8s>me-k8s"),
    (K8S, "inbound", "both", "S k8s caller-k8s>me-k8s"),
    (K8S, "outbound", "none", "C k8s me-k8s>callee-k8s"),
    (K8S, "outbound", "both", "C k8s me-k8s>callee-k8s"),
    (K8S, "gateway", "none", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (K8S, "gateway", "broken", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    # mx-mesh alone: peers decide the sides
    (MX, "inbound", "none", "skip:no-peer"),
    (MX, "inbound", "up", "C mx me.ns>callee.ns"),
    (MX, "inbound", "down", "S mx caller.ns>me.ns"),
    (MX, "inbound", "both", "S mx caller.ns>me.ns; C mx me.ns>callee.ns"),
    (MX, "inbound", "broken", "skip:malformed-peer"),
    (MX, "outbound", "none", "skip:no-peer"),
    (MX, "outbound", "up", "C mx me.ns>callee.ns"),
    (MX, "outbound", "down", "S mx caller.ns>me.ns"),
    (MX, "outbound", "both", "S mx caller.ns>me.ns; C mx me.ns>callee.ns"),
    (MX, "outbound", "broken", "skip:malformed-peer"),
    (MX, "gateway", "none", "S mx UNKNOWN>gw.ns"),
    (MX, "gateway", "up", "S mx UNKNOWN>gw.ns; C mx gw.ns>callee.ns"),
    (MX, "gateway", "down", "S mx caller.ns>gw.ns"),
    (MX, "gateway", "both", "S mx caller.ns>gw.ns; C mx gw.ns>callee.ns"),
    (MX, "gateway", "broken", "S mx UNKNOWN>gw.ns"),
    # mx-mesh, then k8s-mesh for the sides still empty
    (MX_K8S, "inbound", "none", "S k8s caller-k8s>me-k8s"),
    (MX_K8S, "inbound", "up", "S k8s caller-k8s>me-k8s; C mx me.ns>callee.ns"),
    (MX_K8S, "inbound", "down", "S mx caller.ns>me.ns"),
    (MX_K8S, "inbound", "both", "S mx caller.ns>me.ns; C mx me.ns>callee.ns"),
    (MX_K8S, "inbound", "broken", "S k8s caller-k8s>me-k8s"),
    (MX_K8S, "outbound", "none", "C k8s me-k8s>callee-k8s"),
    (MX_K8S, "outbound", "up", "C mx me.ns>callee.ns"),
    (MX_K8S, "outbound", "down", "S mx caller.ns>me.ns; C k8s me-k8s>callee-k8s"),
    (MX_K8S, "outbound", "both", "S mx caller.ns>me.ns; C mx me.ns>callee.ns"),
    (MX_K8S, "outbound", "broken", "C k8s me-k8s>callee-k8s"),
    # the gateway's stand-in server side gives way to k8s-mesh's
    (MX_K8S, "gateway", "none", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (MX_K8S, "gateway", "up", "S k8s caller-k8s>gw-k8s; C mx gw.ns>callee.ns"),
    (MX_K8S, "gateway", "down", "S mx caller.ns>gw.ns; C k8s gw-k8s>callee-k8s"),
    (MX_K8S, "gateway", "both", "S mx caller.ns>gw.ns; C mx gw.ns>callee.ns"),
    (MX_K8S, "gateway", "broken", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    # k8s-mesh, then mx-mesh for the sides still empty
    (K8S_MX, "inbound", "none", "S k8s caller-k8s>me-k8s"),
    (K8S_MX, "inbound", "up", "S k8s caller-k8s>me-k8s; C mx me.ns>callee.ns"),
    (K8S_MX, "inbound", "down", "S k8s caller-k8s>me-k8s"),
    (K8S_MX, "inbound", "both", "S k8s caller-k8s>me-k8s; C mx me.ns>callee.ns"),
    (K8S_MX, "inbound", "broken", "S k8s caller-k8s>me-k8s"),
    (K8S_MX, "outbound", "none", "C k8s me-k8s>callee-k8s"),
    (K8S_MX, "outbound", "up", "C k8s me-k8s>callee-k8s"),
    (K8S_MX, "outbound", "down", "S mx caller.ns>me.ns; C k8s me-k8s>callee-k8s"),
    (K8S_MX, "outbound", "both", "S mx caller.ns>me.ns; C k8s me-k8s>callee-k8s"),
    (K8S_MX, "outbound", "broken", "C k8s me-k8s>callee-k8s"),
    (K8S_MX, "gateway", "none", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (K8S_MX, "gateway", "up", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (K8S_MX, "gateway", "down", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (K8S_MX, "gateway", "both", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
    (K8S_MX, "gateway", "broken", "S k8s caller-k8s>gw-k8s; C k8s gw-k8s>callee-k8s"),
]


def test_the_table_covers_every_combination() -> None:
    assert {(row[0], row[1], row[2]) for row in CHAIN_TABLE} >= {
        (analyzers, entry, peers)
        for analyzers in (MX, MX_K8S, K8S_MX)
        for entry in ENTRIES
        for peers in PEERS
    }


def _message(entry_kind: str, peers: str, *, tcp: bool = False) -> AlsMessage:
    node, remote, local, upstream, cluster = ENTRIES[entry_kind]
    common = AccessLogCommon(
        downstream_remote_address=_address(remote, 40000),
        downstream_local_address=_address(*local),
        upstream_remote_address=_address(*upstream),
        upstream_cluster=cluster,
        start_time_ns=1_700_000_000_000_000_000,
        filter_state_objects=FrozenMap(PEERS[peers]),
    )
    entry: HttpEntry | TcpEntry = (
        TcpEntry(common_properties=common) if tcp else HttpEntry(common_properties=common)
    )
    return AlsMessage(
        identifier=Identifier(node=node),
        kind="tcp" if tcp else "http",
        entries=(entry,),  # type: ignore[arg-type]
    )


_SHORT = {"mx-mesh": "mx", "k8s-mesh": "k8s"}


def _described(analyzers: tuple[str, ...], message: AlsMessage) -> str:
    analysis = analyze([message], resolver=K8sNames(), analyzers=analyzers)
    metrics = analysis.metrics()
    accounting = analysis.accounting
    if not metrics:
        assert (accounting.analyzed, accounting.skipped_total) == (0, 1)
        (reason,) = accounting.skipped
        return f"skip:{reason.value}"
    assert (accounting.analyzed, accounting.skipped_total) == (1, 0)
    assert accounting.metrics_out == len(metrics)
    return "; ".join(
        f"{metric.detect_point.value[0].upper()} {_SHORT[metric.analyzer]} "
        f"{metric.source.service}>{metric.destination.service}"
        for metric in metrics
    )


@pytest.mark.parametrize("tcp", [False, True], ids=["http", "tcp"])
@pytest.mark.parametrize(
    ("analyzers", "entry_kind", "peers", "expected"),
    CHAIN_TABLE,
    ids=[f"{'+'.join(_SHORT[a] for a in row[0])}-{row[1]}-{row[2]}" for row in CHAIN_TABLE],
)
def test_chain(
    analyzers: tuple[str, ...], entry_kind: str, peers: str, expected: str, tcp: bool
) -> None:
    assert _described(analyzers, _message(entry_kind, peers, tcp=tcp)) == expected


@pytest.mark.parametrize("analyzers", [MX, MX_K8S, K8S_MX])
def test_a_broken_peer_is_reported_whatever_fills_the_entry(analyzers: tuple[str, ...]) -> None:
    analysis = analyze([_message("outbound", "broken")], resolver=K8sNames(), analyzers=analyzers)
    analysis.metrics()
    assert [str(d) for d in analysis.diagnostics] == [
        '<input>, entry 0, field common_properties.filter_state_objects["wasm.upstream_peer"]: '
        "buffer of 0 bytes, too short for a root offset; the peer object is ignored"
    ]


def test_a_skipped_chain_reports_the_last_analyzers_reason() -> None:
    message = AlsMessage(
        identifier=Identifier(node=ENTRIES["inbound"][0]),
        kind="http",
        entries=(HttpEntry(common_properties=AccessLogCommon()),),
    )
    for analyzers, reason in [
        (MX_K8S, SkipReason.NO_SOURCE_ADDRESS),
        (K8S_MX, SkipReason.NO_PEER),
    ]:
        analysis = analyze([message], resolver=K8sNames(), analyzers=analyzers)
        assert analysis.metrics() == []
        assert dict(analysis.accounting.skipped) == {reason: 1}


def test_mx_mesh_alone_asks_no_resolver() -> None:
    class Refusing:
        def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
            raise AssertionError("mx-mesh must not resolve addresses")

    metrics = analyze([_message("inbound", "down")], resolver=Refusing(), analyzers=MX).metrics()
    assert len(metrics) == 1


def test_a_later_analyzer_is_not_asked_once_both_sides_are_filled() -> None:
    class Counting(K8sNames):
        questions = 0

        def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
            Counting.questions += 1
            return super().resolve(ip, port)

    analyze([_message("gateway", "both")], resolver=Counting(), analyzers=MX_K8S).metrics()
    assert Counting.questions == 0


BAD_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"analyzers": []}, "analyzers is empty: name at least one of k8s-mesh, mx-mesh"),
    (
        {"analyzers": "mx-mesh"},
        "analyzers must be a sequence of names such as ('mx-mesh', 'k8s-mesh'), not the string "
        "'mx-mesh'",
    ),
    ({"analyzers": ["sw-mesh"]}, "unknown analyzer 'sw-mesh' (expected k8s-mesh, mx-mesh)"),
    ({"analyzers": ["mx-mesh", "mx-mesh"]}, "an analyzer is named twice in ['mx-mesh', 'mx-mesh']"),
    (
        {"analyzers": ["k8s-mesh"]},
        "the k8s-mesh analyzer names peers by address and needs a resolver: pass resolver=, or "
        "analyzers=('mx-mesh',) to name them from Istio's metadata exchange",
    ),
    ({}, "the k8s-mesh analyzer names peers by address and needs a resolver"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_ARGUMENTS)
def test_bad_arguments_fail_at_call_time(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        analyze([], **arguments)


S, C = DetectPoint.SERVER, DetectPoint.CLIENT
DIRECTION_ORDER_CASES: list[tuple[tuple[DetectPoint, ...], bool]] = [
    ((S,), True),
    ((C,), True),
    ((S, C), True),
    ((C, S), False),
    ((S, S), False),
    ((C, C), False),
    ((S, C, C), False),
]


@pytest.mark.parametrize(
    ("sides", "in_order"),
    DIRECTION_ORDER_CASES,
    ids=["".join(side.value[0] for side in case[0]) for case in DIRECTION_ORDER_CASES],
)
def test_in_direction_order(sides: tuple[DetectPoint, ...], in_order: bool) -> None:
    metric = analyze([_message("outbound", "up")], resolver=K8sNames(), analyzers=MX).metrics()[0]
    metrics = tuple(attrs.evolve(metric, detect_point=side) for side in sides)
    assert _in_direction_order(metrics) is in_order


@pytest.mark.parametrize(
    ("analyzers", "entry_kind"),
    [(MX, "outbound"), (MX, "gateway"), (MX_K8S, "outbound"), (MX_K8S, "gateway")],
)
def test_a_broken_peer_is_noted_once_where_it_was_read(
    analyzers: tuple[str, ...], entry_kind: str
) -> None:
    # A gateway's mx-mesh step makes a stand-in server side: the chain merges its answer, and
    # must not ask the step (and note its problem) a second time.
    message = attrs.evolve(_message(entry_kind, "broken"), source="recorded.bin", index=3)
    analysis = analyze([message], resolver=K8sNames(), analyzers=analyzers)
    analysis.metrics()
    assert [str(d) for d in analysis.diagnostics] == [
        "recorded.bin, message 3, entry 0, field "
        'common_properties.filter_state_objects["wasm.upstream_peer"]: '
        "buffer of 0 bytes, too short for a root offset; the peer object is ignored"
    ]


@pytest.mark.parametrize("analyzers", [MX, MX_K8S])
def test_mx_mesh_strips_the_query_when_asked(analyzers: tuple[str, ...]) -> None:
    message = _message("outbound", "up")
    entry = HttpEntry(
        common_properties=message.entries[0].common_properties,
        request=HttpRequest(
            request_method=RequestMethod.GET, scheme="http", path="/reviews/1?user=a"
        ),
    )
    message = attrs.evolve(message, entries=(entry,))
    endpoints = {
        query: [
            metric.endpoint
            for metric in analyze(
                [message], resolver=K8sNames(), analyzers=analyzers, endpoint_query=query
            ).metrics()
        ]
        for query in ("keep", "strip")
    }
    assert endpoints == {"keep": ["GET:/reviews/1?user=a"], "strip": ["GET:/reviews/1"]}


def test_skywalking_semantics_keep_the_analyzers_order_when_merging() -> None:
    analysis = analyze(
        [_message("gateway", "up")], resolver=K8sNames(), analyzers=MX_K8S, semantics="skywalking"
    )
    assert [
        (metric.detect_point, metric.analyzer, metric.source.service, metric.destination.service)
        for metric in analysis.metrics()
    ] == [(C, "mx-mesh", "gw.ns", "callee.ns"), (S, "mx-mesh", "UNKNOWN", "gw.ns")]
