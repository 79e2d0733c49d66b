"""The title and the legend around both renderers' pictures, and a viewBox that holds it all."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from meshals import analyze
from meshals._values import FrozenMap
from meshals.aggregate._health import HealthThresholds, Threshold, topology_health
from meshals.aggregate._stats import ReportedTraffic
from meshals.aggregate._topology import Edge, ServiceNode, Topology, topology
from meshals.aggregate._traffic import TrafficStats
from meshals.examples import example
from meshals.output import _svg as svg_module
from meshals.output._graph_frame import title_lines
from meshals.output._layout import graph_layout
from meshals.output._svg import GraphRenderError, builtin_svg, to_svg

SVG = "{http://www.w3.org/2000/svg}"
needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz' dot")


def bookinfo() -> Topology:
    files = example("bookinfo")
    return topology(analyze(files.streams(), resolver=files.resolver()))


def group(svg: ET.Element, name: str) -> ET.Element:
    (found,) = (g for g in svg.iter(f"{SVG}g") if g.get("class") == name)
    return found


def texts(svg: ET.Element, name: str) -> list[str]:
    return ["".join(text.itertext()) for text in group(svg, name).iter(f"{SVG}text")]


def translation(element: ET.Element) -> tuple[float, float]:
    found = re.fullmatch(r"translate\(([\d.]+) ([\d.]+)\)", element.get("transform", ""))
    assert found is not None
    return float(found.group(1)), float(found.group(2))


SUBTITLE = "9 services, 9 edges, 29 calls  ·  2026-11-21 09:08:31.124 to 09:08:34.167 UTC (3.04 s)"
LEGEND = [
    "Healthan edge's: the worst rule over its calls; a service's: over all it sent and got",
    "healthy",
    "errors under every degraded limit",
    "degraded",
    "5xx ≥ 0.1 %  ·  4xx ≥ 10 %  ·  gRPC any error",
    "failing",
    "5xx > 10 %  ·  4xx > 20 %  ·  gRPC > 10 %",
    "unknown",
    "no rule applies: no calls, or TCP only (no TCP rule)",
    "a rule's rate: errors / calls of its kind; 5xx counts calls answered 5xx or never",
    "Edgesfrom caller to callee; most point right, one pointing left closes a cycle",
    "label",
    "protocol and calls (conn: TCP connections)  ·  error rate  ·  p99 latency",
    "dashed",
    "a peer no resolver named (UNKNOWN) or an Istio pseudo-service",
    "mTLS",
    "label mTLS 100%: all calls its server logged were mutual TLS; mTLS n %: a share;"
    " TLS n %: one-way TLS",
    "dashed",
    "plaintext calls into a workload with a proxy (sidecar, waypoint or ztunnel)",
]


def test_title_of_the_recording() -> None:
    assert title_lines(bookinfo()) == ("Service graph", SUBTITLE)


def test_builtin_picture_has_title_legend_and_a_view_box_that_holds_them() -> None:
    graph = bookinfo()
    svg = ET.fromstring(builtin_svg(graph))
    assert texts(svg, "title") == ["Service graph", SUBTITLE]
    assert texts(svg, "legend") == LEGEND
    width, height = float(svg.get("width", "")), float(svg.get("height", ""))
    assert svg.get("viewBox") == f"0 0 {width:.0f} {height:.0f}"
    layout = graph_layout(graph)
    left, top = translation(group(svg, "drawing"))
    assert left + layout.width <= width
    _, legend_top = translation(group(svg, "legend"))
    assert top + layout.height < legend_top < height


def test_the_legend_shows_the_thresholds_that_decided() -> None:
    graph = bookinfo()
    thresholds = HealthThresholds(grpc=None, tcp=Threshold(degraded="0.05", failing="0.5"))
    legend = texts(
        ET.fromstring(builtin_svg(graph, health=topology_health(graph, thresholds))), "legend"
    )
    assert legend[4] == "5xx ≥ 0.1 %  ·  4xx ≥ 10 %  ·  TCP ≥ 5 %"
    assert legend[6] == "5xx > 10 %  ·  4xx > 20 %  ·  TCP > 50 %"
    assert legend[8] == "no rule applies: no calls"


def test_a_title_without_times_and_one_of_each() -> None:
    assert title_lines(topology([])) == ("Service graph", "no calls")
    untimed = Topology(
        nodes=FrozenMap({name: ServiceNode(name=name) for name in ("a", "b")}),
        edges=FrozenMap({("a", "b"): Edge(source="a", destination="b")}),
    )
    assert title_lines(untimed) == ("Service graph", "2 services, 1 edge, 0 calls")


def test_a_title_across_days() -> None:
    day = 86_400 * 1_000_000_000
    stats = TrafficStats(
        requests=1, first_start_ns=day - 1_000_000, last_end_ns=day + 7_200 * 10**9
    )
    edge = Edge(source="a", destination="a", traffic=ReportedTraffic(client=stats))
    graph = Topology(
        nodes=FrozenMap({"a": ServiceNode(name="a")}), edges=FrozenMap({("a", "a"): edge})
    )
    assert title_lines(graph)[1] == (
        "1 service, 1 edge, 1 call  ·  1970-01-01 23:59:59.999 to 1970-01-02 02:00:00.000 UTC"
        " (2 h 0 min)"
    )


@needs_graphviz
def test_graphviz_picture_in_the_same_frame() -> None:
    graph = bookinfo()
    document = to_svg(graph, renderer="graphviz")
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- Generated by graphviz')
    svg = ET.fromstring(document)
    assert texts(svg, "title") == ["Service graph", SUBTITLE]
    assert texts(svg, "legend") == LEGEND
    (drawing,) = group(svg, "drawing").findall(f"{SVG}svg")
    # Graphviz measures in points; nested at its size in CSS pixels (4/3 of a point).
    view_box = [float(n) for n in drawing.get("viewBox", "").split()]
    assert float(drawing.get("width", "")) == pytest.approx(view_box[2] * 4 / 3, abs=0.1)
    assert float(drawing.get("height", "")) == pytest.approx(view_box[3] * 4 / 3, abs=0.1)
    nodes = {g.findtext(f"{SVG}title") for g in drawing.iter(f"{SVG}g") if g.get("class") == "node"}
    assert nodes == set(graph.nodes)
    left, _ = translation(group(svg, "drawing"))
    assert left + float(drawing.get("width", "")) <= float(svg.get("width", ""))


def test_graphviz_output_without_a_view_box(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svg_module, "graphviz_svg", lambda source: "<svg></svg>")
    with pytest.raises(GraphRenderError, match="no <svg> element with a viewBox"):
        to_svg(bookinfo(), renderer="graphviz")
