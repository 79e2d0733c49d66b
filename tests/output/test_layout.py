"""The builtin layout's geometry: what the picture promises, checked on the numbers.

On every real recording and on generated graphs: no edge passes through a box (its own or
another's), no label overlaps another label, a box or an edge, every piece of an edge joins the
next, and everything lies inside the picture.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import meshals
from meshals import ServiceMeshMetric, ServiceMetaInfo
from meshals.aggregate._topology import Topology, topology
from meshals.examples import example
from meshals.model import DetectPoint, EntryTimings, MeshProtocol, Role
from meshals.output._layout import GraphLayout, PieceKind, Rect, graph_layout
from meshals.resolve import StaticResolver

FIXTURES = Path(__file__).parent.parent / "fixtures"
MS = 1_000_000


def bookinfo() -> Topology:
    files = sorted((FIXTURES / "envoy").glob("*.bin"))
    resolver = example("bookinfo").resolver()
    return topology(meshals.analyze([meshals.read(path) for path in files], resolver=resolver))


def recording(paths: list[Path], *, analyzers: tuple[str, ...] = ("k8s-mesh",)) -> Topology:
    readers = [meshals.read(path) for path in paths]
    return topology(meshals.analyze(readers, resolver=StaticResolver({}), analyzers=analyzers))


RECORDINGS: dict[str, Callable[[], Topology]] = {
    "envoy with the bookinfo resolver": bookinfo,
    "envoy without a resolver": lambda: recording(sorted((FIXTURES / "envoy").glob("*.bin"))),
    "mx": lambda: recording(
        sorted((FIXTURES / "mx").glob("*.bin")), analyzers=("mx-mesh", "k8s-mesh")
    ),
    "ztunnel": lambda: recording([FIXTURES / "ztunnel" / "ambient-bookinfo.log"]),
    "kmesh": lambda: recording([FIXTURES / "ztunnel" / "kmesh-accesslog.log"]),
}


def check_geometry(graph: Topology, layout: GraphLayout) -> None:
    """Everything the picture promises, on the layout's numbers."""
    assert list(layout.nodes) == list(graph.nodes)
    assert list(layout.edges) == list(graph.edges)
    picture = Rect(0, 0, layout.width, layout.height)
    boxes = list(layout.nodes.values())
    labels = [place.label for place in layout.edges.values()]
    pieces = [piece for place in layout.edges.values() for piece in place.pieces]
    for rect in [*boxes, *labels, *(piece.bounds for piece in pieces)]:
        assert picture.x <= rect.x
        assert rect.right <= picture.right + 0.01
        assert picture.y <= rect.y
        assert rect.bottom <= picture.bottom + 0.01
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second)
    for first, second in itertools.combinations(labels, 2):
        assert not first.overlaps(second)
    for label in labels:
        assert not any(label.overlaps(box) for box in boxes)
    for piece in pieces:
        # A box's own edges meet it at its border; no edge enters a box or crosses a label.
        assert not any(piece.bounds.overlaps(box) for box in boxes), piece
        assert not any(piece.bounds.overlaps(label) for label in labels), piece
    for (source, destination), place in layout.edges.items():
        assert (place.source, place.destination) == (source, destination)
        assert place.pieces
        for before, after in itertools.pairwise(place.pieces):
            assert before.end == after.start
        start, end = place.pieces[0].start, place.pieces[-1].end
        assert on_border(start, layout.nodes[source])
        assert on_border(end, layout.nodes[destination])


def on_border(point: tuple[float, float], box: Rect) -> bool:
    x, y = point
    on_side = x in (box.x, box.right) and box.y < y < box.bottom
    on_top = y == box.y and box.x < x < box.right
    return on_side or on_top


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_the_geometry_of_every_recording(name: str) -> None:
    graph = RECORDINGS[name]()
    assert graph.edges
    check_geometry(graph, graph_layout(graph))


def centre(box: Rect) -> float:
    return box.x + box.width / 2


def test_bookinfo_reads_left_to_right() -> None:
    graph = bookinfo()
    layout = graph_layout(graph)
    x = {name: centre(box) for name, box in layout.nodes.items()}
    callees = ("details", "mongodb", "mysqldb", "recommendations", "reviews")
    assert x["UNKNOWN"] < x["istio-ingressgateway"] < x["productpage"]
    assert [x[name] for name in callees] == pytest.approx([x["details"]] * len(callees))
    assert x["productpage"] < x["details"] < x["ratings"]
    # productpage's callees from top to bottom, each below the previous one's label and box.
    tops = [layout.nodes[name].y for name in callees]
    assert tops == sorted(tops)
    # The call back to UNKNOWN leaves productpage's left side and arrives on UNKNOWN's right.
    back = layout.edges["productpage", "UNKNOWN"]
    assert back.pieces[0].start[0] == layout.nodes["productpage"].x
    assert back.pieces[-1].end[0] == layout.nodes["UNKNOWN"].right
    assert back.lines == ("HTTP 1 req", "5xx 100.0%", "p99 0.20 ms")
    # Its label sits next to UNKNOWN, the service it points to, above its edge.
    assert back.label.right < layout.nodes["istio-ingressgateway"].x
    assert layout.edges["reviews", "ratings"].label.x > layout.nodes["reviews"].right


def test_a_long_edge_goes_round_the_boxes_between() -> None:
    # gateway -> mysql spans two layers: its lane passes productpage's column beside the boxes.
    metrics = [
        call("gateway", "details"),
        call("details", "ratings"),
        call("gateway", "mysql", protocol=MeshProtocol.TCP),
        call("ratings", "mysql", protocol=MeshProtocol.TCP),
    ]
    graph = topology(metrics)
    layout = graph_layout(graph)
    check_geometry(graph, layout)
    long = layout.edges["gateway", "mysql"]
    kinds = [piece.kind for piece in long.pieces]
    assert kinds.count(PieceKind.LINE) >= 3  # straight through the columns it crosses
    details, ratings = layout.nodes["details"], layout.nodes["ratings"]
    passing = [
        p.bounds for p in long.pieces if p.bounds.x < details.right and details.x < p.bounds.right
    ]
    assert passing
    assert all(not (details.y <= rect.y <= details.bottom) for rect in passing)
    assert all(not rect.overlaps(ratings) for rect in passing)


def test_a_self_loop_arches_over_its_box_under_its_label() -> None:
    graph = topology([call("a", "a"), call("a", "b")])
    layout = graph_layout(graph)
    check_geometry(graph, layout)
    loop = layout.edges["a", "a"]
    box = layout.nodes["a"]
    (piece,) = loop.pieces
    assert piece.kind is PieceKind.LOOP
    assert piece.start[1] == piece.end[1] == box.y
    assert loop.label.bottom < piece.bounds.y
    assert centre(loop.label) == centre(box)


def test_a_big_graph() -> None:
    # 40 services, each calling the next five: hundreds of bends and labels, so the order
    # swaps neighbours once, on the best order of the sweeps.
    names = [f"service-{index:02}" for index in range(40)]
    metrics = [
        call(names[index], names[index + step])
        for index in range(len(names))
        for step in range(1, 6)
        if index + step < len(names)
    ]
    graph = topology(metrics)
    layout = graph_layout(graph)
    check_geometry(graph, layout)
    lefts = [layout.nodes[name].x for name in names]
    assert lefts == sorted(lefts)  # each calls the next: one layer each
    assert len(set(lefts)) == len(names)


def test_the_empty_graph() -> None:
    layout = graph_layout(Topology())
    assert (layout.width, layout.height) == (0.0, 0.0)
    assert not layout.nodes
    assert not layout.edges


def test_the_layout_is_deterministic() -> None:
    assert graph_layout(bookinfo()) == graph_layout(bookinfo())


def call(
    source: str,
    destination: str,
    *,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    ok: bool = True,
) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.CLIENT,
        protocol=protocol,
        source=ServiceMetaInfo(service=source, instance=f"{source}-0"),
        destination=ServiceMetaInfo(service=destination, instance=f"{destination}-0"),
        response_code=200 if ok else 503,
        status=ok,
        timings=EntryTimings(
            start_time_ns=0,
            time_to_last_upstream_rx_byte_ns=3 * MS,
            time_to_last_downstream_tx_byte_ns=3 * MS,
        ),
    )


NAMES = st.sampled_from(
    ["a", "UNKNOWN", "productpage", "istio-ingressgateway.istio-system", "認証-v1", "W" * 12, "x.y"]
)


@st.composite
def graphs(draw: st.DrawFn) -> Topology:
    names = draw(
        st.lists(
            NAMES | st.text("abcdefgh-", min_size=1, max_size=6),
            min_size=1,
            max_size=9,
            unique=True,
        )
    )
    pairs = st.tuples(st.sampled_from(names), st.sampled_from(names))
    edges = draw(st.lists(pairs, max_size=24, unique=True))
    metrics = [
        call(s, d, protocol=draw(st.sampled_from(MeshProtocol)), ok=draw(st.booleans()))
        for s, d in edges
    ]
    return topology(metrics)


@given(graphs())
def test_the_geometry_of_any_graph(graph: Topology) -> None:
    check_geometry(graph, graph_layout(graph))
