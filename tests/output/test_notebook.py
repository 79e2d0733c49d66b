"""Notebook helpers: HTML tables, the inline graph and the latency chart."""

from __future__ import annotations

import datetime
import json
import pickle
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import pytest
from conftest import MtlsCapture, spiffe_id, write_mtls_capture

import meshals
from meshals import DiagnosticKind, ServiceMetaInfo, analyze
from meshals._optional import MissingDependencyError, require
from meshals.aggregate._identities import Identities, identities
from meshals.aggregate._red import red
from meshals.aggregate._topology import Topology, topology
from meshals.aggregate._traffic import TrafficStats
from meshals.examples import example
from meshals.mesh import SkipReason
from meshals.model import FrozenMap
from meshals.model._metric_list import MetricList
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._notebook import (
    accounting_html,
    identities_html,
    latency_chart_svg,
    metrics_html,
    red_html,
    topology_html,
    traffic_html,
)
from meshals.output._svg import builtin_svg

SVG = "{http://www.w3.org/2000/svg}"
UTC = datetime.timezone.utc
FIXTURES = Path(__file__).parents[1] / "fixtures"
GROUND_TRUTH = json.loads((FIXTURES / "envoy" / "ground_truth.json").read_text())
# How Envoy batched entries into messages changes with every recording.
MESSAGES = sum(stream["messages"] for stream in GROUND_TRUTH["streams"].values())
BOOKINFO = example("bookinfo")
ANALYSIS = analyze(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
METRICS = MetricList(ANALYSIS)
GRAPH = topology(METRICS)


def ms(ns: int | None) -> str:
    # The recordings' latencies change with every re-recording: computed, not written down.
    assert ns is not None
    return f"{ns / 1_000_000:.2f} ms"


def html_rows(html: str) -> list[str]:
    return html.split("<tr>")[1:]


def test_metrics_html() -> None:
    html = metrics_html(METRICS, limit=3)
    assert html.startswith('<table class="meshals"><caption>45 metrics</caption><thead><tr>')
    assert (
        "<th>side</th><th>protocol</th><th>source</th><th>destination</th><th>endpoint</th>"
        "<th>code</th><th>ok</th><th>latency</th><th>flags</th>"
    ) in html
    rows = html_rows(html)
    assert len(rows) == 4
    assert rows[1] == (
        "<td>server</td><td>HTTP</td><td>productpage</td><td>details</td>"
        f"<td>GET:/details/0</td><td>200</td><td>True</td><td>{ms(METRICS[0].latency_ns)}</td>"
        "<td>-</td></tr>"
    )
    assert html.endswith("</tbody></table><p>... and 42 more</p>")
    one = metrics_html(METRICS[:1])
    assert "<caption>1 metric</caption>" in one
    assert "more" not in one


def test_metrics_html_escapes() -> None:
    odd = attrs.evolve(METRICS[0], source=ServiceMetaInfo(service="<b>&", instance="x"))
    assert "<td>&lt;b&gt;&amp;</td>" in metrics_html([odd])


def test_metric_list() -> None:
    assert len(METRICS) == 45
    assert isinstance(METRICS[:2], MetricList)
    assert isinstance(METRICS[0], ServiceMeshMetric)
    assert METRICS._repr_html_() == metrics_html(METRICS)
    assert METRICS.to_records() == [metric.to_dict() for metric in METRICS]


def count_rows(html: str) -> list[tuple[str, str]]:
    """The (what, how many) rows of an accounting table."""
    return re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td></tr>", html)


def test_accounting_html() -> None:
    html = accounting_html(ANALYSIS.accounting)
    assert html.startswith('<table class="meshals"><caption>accounting</caption>')
    assert count_rows(html) == [
        ("streams", "6"),
        ("messages", str(MESSAGES)),
        ("entries read", "40"),
        ("analysed", "40"),
        ("skipped", "none"),
        ("metrics made", "45"),
        ("dropped while reading", "none"),
    ]
    assert ANALYSIS.accounting._repr_html_() == html
    assert ANALYSIS._repr_html_() == accounting_html(ANALYSIS.accounting, caption="analysis so far")
    lossy = attrs.evolve(
        ANALYSIS.accounting,
        skipped=FrozenMap({SkipReason.INTERMEDIATE_ENTRY: 2, SkipReason.NO_PEER: 1}),
        dropped=FrozenMap({DiagnosticKind.ENTRY_SKIPPED: 2, DiagnosticKind.MESSAGE_SKIPPED: 1}),
    )
    lossy_html = accounting_html(lossy)
    assert count_rows(lossy_html)[4:] == [
        ("skipped", "3"),
        ("intermediate-entry", "2"),
        ("no-peer", "1"),
        ("metrics made", "45"),
        ("dropped while reading", ""),
        ("entries left out of their messages", "2"),
        ("whole messages", "1"),
        ("entries the input held", "unknown"),  # a whole message's entries were not counted
    ]
    assert '<td style="padding-left:2em">no-peer</td>' in lossy_html
    one_entry = attrs.evolve(lossy, dropped=FrozenMap({DiagnosticKind.ENTRY_SKIPPED: 2}))
    assert count_rows(accounting_html(one_entry))[-1] == ("entries the input held", "42")


def test_an_analysis_with_diagnostics_says_where_they_are() -> None:
    noisy = analyze(
        meshals.read(FIXTURES / "mx" / "reviews-sidecar-http.bin"), analyzers=["mx-mesh"]
    )
    noisy.metrics()
    # The truncated FlatNode and the string peer that is not base64 (tests/fixtures/mx).
    assert len(noisy.diagnostics) == 2
    assert noisy._repr_html_() == (
        accounting_html(noisy.accounting, caption="analysis so far")
        + "<p>2 diagnostics: see <code>.diagnostics</code></p>"
    )


def test_traffic_html() -> None:
    edge = GRAPH.edge("productpage", "reviews").combined()
    assert html_rows(traffic_html(edge))[1] == (
        f"<td>5</td><td>2</td><td>40.0%</td><td>{ms(edge.p50)}</td><td>{ms(edge.p90)}</td>"
        f"<td>{ms(edge.p99)}</td><td>failing</td></tr></tbody></table>"
    )
    assert "<td>0</td><td>0</td><td>-</td><td>-</td>" in traffic_html(TrafficStats())
    assert edge._repr_html_() == traffic_html(edge)


def test_topology_html() -> None:
    html = topology_html(GRAPH, renderer="builtin")
    # As wide as the cell, never wider than drawn; its height follows the viewBox.
    assert html.startswith('<div><svg xmlns="http://www.w3.org/2000/svg" width="100%"')
    element = html[len("<div>") : html.index("</svg></div>") + len("</svg>")]
    picture = ET.fromstring(element)
    drawn = ET.fromstring(builtin_svg(GRAPH))
    assert picture.get("style") == f"max-width:{drawn.get('width')}px;height:auto"
    assert picture.get("viewBox") == drawn.get("viewBox")
    assert picture.get("height") is None
    nodes = [g for g in picture.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == 9
    assert "<caption>9 services</caption>" in html
    assert (
        "<tr><td>istio-ingressgateway</td><td>gateway</td><td>1</td><td>proxy</td>"
        "<td>failing</td></tr>"
    ) in html
    assert "<tr><td>mysqldb</td><td>service</td><td>1</td><td>-</td><td>unknown</td></tr>" in html
    assert "<caption>9 edges</caption>" in html
    slow = GRAPH.edge("productpage", "reviews").combined()
    assert (
        "<td>productpage</td><td>reviews</td><td>HTTP</td><td>5</td><td>2</td>"
        f"<td>{ms(slow.p50)}</td><td>{ms(slow.p99)}</td><td>failing</td>"
        # Plaintext recordings: no mTLS, no principals, reviews' sidecar took 5 in plaintext.
        "<td>0.0%</td><td>-</td><td>-</td><td>5</td>"
    ) in html
    assert "<?xml" not in topology_html(GRAPH)  # inline, whichever renderer
    assert GRAPH._repr_html_() == topology_html(GRAPH)
    assert topology_html(Topology()) == "<p>empty service graph</p>"


def test_red_html(recorded_period_ns: tuple[int, int]) -> None:
    html = red_html(red(METRICS, scope="service"))
    assert "<caption>RED by service</caption>" in html
    assert (
        "<th>service</th><th>calls</th><th>errors</th><th>error rate</th><th>rate/s</th>"
    ) in html
    first, last = recorded_period_ns
    seconds = (last - first) / 1e9  # the whole input's period, for every service
    assert f"<td>reviews</td><td>5</td><td>2</td><td>40.0%</td><td>{5 / seconds:.2f}</td>" in html
    assert f"<td>mysqldb</td><td>1</td><td>1</td><td>100.0%</td><td>{1 / seconds:.2f}</td>" in html
    windowed = red_html(red(METRICS, scope="endpoint", window="1m"))
    assert "<th>service</th><th>endpoint</th><th>window</th>" in windowed
    slow = next(metric for metric in METRICS if metric.endpoint == "GET:/reviews/slow")
    assert slow.start_time_ns is not None
    minute = datetime.datetime.fromtimestamp(slow.start_time_ns // 60_000_000_000 * 60, UTC)
    window = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"<td>reviews</td><td>GET:/reviews/slow</td><td>{window}</td>" in windowed
    assert red_html(red([])) == "<p>no calls</p>"


def test_the_edges_tls_in_html(synthetic_mtls: MtlsCapture) -> None:
    metrics = synthetic_mtls.metrics()
    graph_html = topology_html(topology(metrics), renderer="builtin")
    assert (
        "<th>health</th><th>mTLS</th><th>client principals</th><th>server principals</th>"
        "<th>plaintext in</th>"
    ) in graph_html
    productpage, mongodb = spiffe_id("productpage"), spiffe_id("mongodb")
    assert (
        f"<td>unknown</td><td>50.0%</td><td>{productpage} (1)</td><td>{mongodb} (1)</td><td>1</td>"
    ) in graph_html
    assert graph_html.count('<g class="lock">') == 3
    by_edge = red_html(red(metrics, scope="edge"))
    assert "<th>source</th><th>destination</th><th>calls</th>" in by_edge
    assert "<td>productpage</td><td>mongodb</td><td>2</td>" in by_edge
    assert f"<td>50.0%</td><td>{productpage} (1)</td><td>{mongodb} (1)</td><td>1</td>" in by_edge
    assert "<th>mTLS</th>" not in red_html(red(metrics))  # by service: no edge columns


def test_identities_html(tmp_path: Path) -> None:
    table = identities(write_mtls_capture(tmp_path, conflicts=True).metrics())
    html = identities_html(table)
    assert "<caption>6 workload identities</caption>" in html
    details = str(tmp_path / "details-http.bin")
    assert (
        f"<tr><td>details</td><td>details-v1-dtl</td><td>{spiffe_id('productpage')}</td>"
        f"<td>4</td><td>0</td><td>{details}, message 0, entry 0</td><td>identity</td></tr>"
    ) in html
    assert "<p>conflict: workload reviews presented 2 SPIFFE ids: " in html
    assert table._repr_html_() == html
    assert identities_html(Identities()) == (
        "<p>no certificates: no server side logged a local or peer certificate</p>"
    )


def test_latency_chart() -> None:
    chart = ET.fromstring(latency_chart_svg(GRAPH))
    bars = [g for g in chart.iter(f"{SVG}g") if g.get("class") == "bar"]
    assert len(bars) == 9
    stats = GRAPH.edge("productpage", "reviews").combined()  # the slowest: the 250 ms timeout
    slow = next(bar for bar in bars if bar.get("data-edge") == "productpage -> reviews")
    assert (slow.get("data-p50-ns"), slow.get("data-p99-ns")) == (str(stats.p50), str(stats.p99))
    widths = [float(rect.get("width", "")) for rect in slow.iter(f"{SVG}rect")]
    assert widths[1] == 360.0  # the largest p99 spans the chart
    assert [text.text for text in slow.iter(f"{SVG}text")] == [
        "productpage -> reviews",
        ms(stats.p50).removesuffix(" ms"),
        ms(stats.p99).removesuffix(" ms"),
    ]
    empty = ET.fromstring(latency_chart_svg(Topology()))
    assert list(empty.iter(f"{SVG}g")) == []


def test_missing_dependency_error_pickles() -> None:
    error = MissingDependencyError("pandas", "pandas", "to_pandas()")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.module, copy.extra, copy.feature) == (
        MissingDependencyError,
        str(error),
        "pandas",
        "pandas",
        "to_pandas()",
    )
    assert copy.name == "pandas"


def test_a_broken_dependency_is_not_reported_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "meshals_broken_extra.py").write_text("import meshals_not_there_at_all\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        require("meshals_broken_extra", extra="x", feature="a test")
    assert not isinstance(caught.value, MissingDependencyError)
    assert caught.value.name == "meshals_not_there_at_all"
