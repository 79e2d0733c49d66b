"""Notebook helpers: HTML tables and inline pictures for Jupyter.

The ``*_html`` functions return HTML fragments for ``_repr_html_`` methods: Jupyter shows
them instead of the ``repr``. :func:`latency_chart_svg` draws p50/p99 latency per edge as an
SVG bar chart, so a notebook needs no plotting library. Records and pandas frames of the same
values: :mod:`meshals.output._frames`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from meshals import _display
from meshals._errors import DiagnosticKind
from meshals.aggregate._health import TopologyHealth, health_of, topology_health
from meshals.aggregate._identities import Identities
from meshals.aggregate._red import RedStats, Scope
from meshals.aggregate._topology import Topology
from meshals.aggregate._traffic import TrafficStats
from meshals.mesh._accounting import Accounting
from meshals.mesh._analysis import Analysis
from meshals.model._metric_list import MetricList
from meshals.model._metrics import ServiceMeshMetric

from ._markup import escape, quoteattr
from ._records import KEY_COLUMNS, red_records, security_values
from ._svg import SvgRenderer, to_svg

__all__ = ["latency_chart_svg"]

_NS_PER_MS: Final = 1_000_000
_MISSING: Final = "-"
_METRIC_COLUMNS: Final = (
    ("detect_point", "side"),
    ("protocol", "protocol"),
    ("source_service", "source"),
    ("dest_service", "destination"),
    ("endpoint", "endpoint"),
    ("response_code", "code"),
    ("status", "ok"),
    ("latency_ns", "latency"),
    ("response_flags", "flags"),
)


def _cell(value: object) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value) or _MISSING
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "") -> str:
    """An HTML table; every cell is escaped here."""
    parts = ['<table class="meshals">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        + "</tr></thead>"
    )
    parts.append("<tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _ms(ns: object) -> str:
    return f"{ns / _NS_PER_MS:.2f} ms" if isinstance(ns, int) else _MISSING


def _percent(rate: object) -> str:
    return f"{rate:.1%}" if isinstance(rate, float) else _MISSING


# --- metrics -----------------------------------------------------------------------------------


def metrics_html(metrics: Sequence[ServiceMeshMetric], *, limit: int = 50) -> str:
    """An HTML table of metrics: the first ``limit`` rows, and how many more there are.

    >>> metrics_html([])
    '<p>0 metrics</p>'
    """
    if not metrics:
        return "<p>0 metrics</p>"
    rows = []
    for metric in metrics[:limit]:
        record = metric.to_dict()
        cells = []
        for key, _ in _METRIC_COLUMNS:
            value = record[key]
            cells.append(_ms(value) if key == "latency_ns" else _cell(value))
        rows.append(cells)
    noun = "metric" if len(metrics) == 1 else "metrics"
    caption = f"{len(metrics)} {noun}"
    more = len(metrics) - limit
    table = _table([title for _, title in _METRIC_COLUMNS], rows, caption=caption)
    return table + (f"<p>... and {more} more</p>" if more > 0 else "")


_DROPPED_UNITS: Final = {
    DiagnosticKind.ENTRY_SKIPPED: "entries left out of their messages",
    DiagnosticKind.MESSAGE_SKIPPED: "whole messages",
    DiagnosticKind.LINE_SKIPPED: "L4 log lines (connections)",
    DiagnosticKind.PART_SKIPPED: "parts of uncounted size",
    DiagnosticKind.NOT_LISTED: "problems past the diagnostics limit",
}


def _count_rows(rows: Iterable[tuple[str, str, bool]]) -> str:
    """A two-column table body: what, how many; a detail row is indented under its total."""
    cells = []
    for what, count, detail in rows:
        indent = ' style="padding-left:2em"' if detail else ""
        cells.append(
            f"<tr><td{indent}>{html.escape(what)}</td>"
            f'<td style="text-align:right">{html.escape(count)}</td></tr>'
        )
    return "".join(cells)


def accounting_html(accounting: Accounting, *, caption: str = "accounting") -> str:
    """A table of what an analysis read and did: entries analysed, skipped by reason, dropped
    while reading by kind, metrics made.

    >>> print(accounting_html(Accounting(streams=1, messages=2, entries_in=3, analyzed=3,
    ...                                  metrics_out=4)).replace("</tr>", "</tr>\\n"))
    ... # doctest: +ELLIPSIS
    <table class="meshals"><caption>accounting</caption><tbody><tr><td>streams</td>...</tr>
    <tr><td>messages</td><td style="text-align:right">2</td></tr>
    <tr><td>entries read</td><td style="text-align:right">3</td></tr>
    <tr><td>analysed</td><td style="text-align:right">3</td></tr>
    <tr><td>skipped</td><td style="text-align:right">none</td></tr>
    <tr><td>metrics made</td><td style="text-align:right">4</td></tr>
    <tr><td>dropped while reading</td><td style="text-align:right">none</td></tr>
    </tbody></table>
    """
    rows: list[tuple[str, str, bool]] = [
        ("streams", str(accounting.streams), False),
        ("messages", str(accounting.messages), False),
        ("entries read", str(accounting.entries_in), False),
        ("analysed", str(accounting.analyzed), False),
        ("skipped", str(accounting.skipped_total or "none"), False),
        *((reason.value, str(n), True) for reason, n in accounting.skipped.items()),
        ("metrics made", str(accounting.metrics_out), False),
        ("dropped while reading", "none" if not accounting.dropped else "", False),
        *(
            (_DROPPED_UNITS.get(kind, kind.value), str(n), True)
            for kind, n in accounting.dropped.items()
        ),
    ]
    if accounting.dropped:
        total = accounting.input_entries
        rows.append(("entries the input held", "unknown" if total is None else str(total), False))
    return (
        f'<table class="meshals"><caption>{html.escape(caption)}</caption><tbody>'
        + _count_rows(rows)
        + "</tbody></table>"
    )


def _analysis_html(analysis: Analysis) -> str:
    """The accounting so far, and how many diagnostics there are to look at."""
    table = accounting_html(analysis.accounting, caption="analysis so far")
    count = len(analysis.diagnostics)
    if not count:
        return table
    noun = "diagnostic" if count == 1 else "diagnostics"
    return table + f"<p>{count} {noun}: see <code>.diagnostics</code></p>"


# --- traffic, graph and RED statistics ---------------------------------------------------------


def traffic_html(stats: TrafficStats) -> str:
    """One-row HTML table of some traffic: calls, errors, error rate, p50/p90/p99, health."""
    header = ("calls", "errors", "error rate", "p50", "p90", "p99", "health")
    row = (
        str(stats.requests),
        str(stats.errors),
        _percent(stats.error_rate),
        _ms(stats.p50),
        _ms(stats.p90),
        _ms(stats.p99),
        health_of(stats).status.value,
    )
    return _table(header, [row])


_SVG_SIZE: Final = re.compile(r'<svg([^>]*?) width="([\d.]+)" height="[\d.]+"')


def inline_svg(svg: str) -> str:
    """An SVG document as an element for HTML, as wide as the page allows and never wider than
    drawn: without the XML declaration and comments before it, its height following its
    ``viewBox``.

    >>> inline_svg('<?xml version="1.0"?>\\n<svg width="300" height="100" viewBox="0 0 300 100"/>')
    '<svg width="100%" style="max-width:300px;height:auto" viewBox="0 0 300 100"/>'
    """
    element = svg[svg.index("<svg") :].rstrip()
    return _SVG_SIZE.sub(r'<svg\1 width="100%" style="max-width:\2px;height:auto"', element, 1)


def topology_html(
    graph: Topology,
    *,
    health: TopologyHealth | None = None,
    renderer: SvgRenderer = "auto",
) -> str:
    """The service graph's picture (inline SVG, as wide as the page) above tables of its
    services and edges.

    Args:
        graph: the service graph.
        health: its health (default Kiali's thresholds).
        renderer: how to draw the picture (see :func:`~meshals.output.to_svg`); with ``"auto"``,
            Graphviz when installed, else meshals' own layout.
    """
    if not graph.nodes:
        return "<p>empty service graph</p>"
    health = topology_health(graph) if health is None else health
    svg = inline_svg(to_svg(graph, health=health, renderer=renderer))
    services = [
        (
            name,
            node.kind.value,
            str(len(node.instances)),
            ",".join(role.value for role in node.reporter_roles) or _MISSING,
            health.nodes[name].status.value,
        )
        for name, node in graph.nodes.items()
    ]
    header = (
        "source",
        "destination",
        "protocols",
        "calls",
        "errors",
        "p50",
        "p99",
        "health",
        *_SECURITY_HEADER,
    )
    rows = []
    for key, edge in graph.edges.items():
        stats = edge.combined()
        rows.append(
            (
                edge.source,
                edge.destination,
                ",".join(protocol.value for protocol in stats.protocols) or _MISSING,
                str(stats.requests),
                str(stats.errors),
                _ms(stats.p50),
                _ms(stats.p99),
                health.edges[key].status.value,
                *_security_cells(security_values(edge.security)),
            )
        )
    service_header = ("service", "kind", "instances", "reported by", "health")
    return (
        f"<div>{svg}</div>"
        + _table(service_header, services, caption=f"{len(graph.nodes)} services")
        + _table(header, rows, caption=f"{len(graph.edges)} edges")
    )


# An edge's TLS: the mTLS share of calls of known TLS, the principals seen, and plaintext
# calls into a workload with a proxy.
_SECURITY_HEADER: Final = ("mTLS", "client principals", "server principals", "plaintext in")


def _principals(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return _MISSING
    return ", ".join(f"{principal} ({calls})" for principal, calls in value.items())


def _security_cells(record: Mapping[str, object]) -> tuple[str, str, str, str]:
    return (
        _percent(record["mtls_share"]),
        _principals(record["client_principals"]),
        _principals(record["server_principals"]),
        _cell(record["plaintext_into_meshed"]),
    )


def red_html(stats: RedStats) -> str:
    """An HTML table of RED statistics, one row per group (and window); by edge, with the
    edges' TLS."""
    records = red_records(stats)
    if not records:
        return "<p>no calls</p>"
    edges = stats.scope is Scope.EDGE
    keys = list(KEY_COLUMNS[stats.scope.value])
    windowed = stats.window_ns is not None
    header = [*keys, *(["window"] if windowed else []), "calls", "errors", "error rate"]
    header += ["rate/s", "p50", "p90", "p99", "health", *(_SECURITY_HEADER if edges else ())]
    rows = []
    for record in records:
        rate = record["rate_per_s"]
        rows.append(
            [
                *(_cell(record[key]) for key in keys),
                *([_cell(record["window_start"])] if windowed else []),
                _cell(record["requests"]),
                _cell(record["errors"]),
                _percent(record["error_rate"]),
                f"{rate:.2f}" if isinstance(rate, float) else _MISSING,
                _ms(record["latency_p50_ns"]),
                _ms(record["latency_p90_ns"]),
                _ms(record["latency_p99_ns"]),
                _cell(record["health"]),
                *(_security_cells(record) if edges else ()),
            ]
        )
    return _table(header, rows, caption=f"RED by {stats.scope.value}")


def identities_html(table: Identities) -> str:
    """An HTML table of the workloads' SPIFFE ids, then their conflicts."""
    if not table.rows:
        return "<p>no certificates: no server side logged a local or peer certificate</p>"
    header = ["service", "instance", "SPIFFE id", "as server", "as client", "first seen"]
    header.append("conflict")
    kinds = table.row_conflicts()
    rows = [
        (
            row.service,
            row.instance,
            row.identity,
            str(row.as_server),
            str(row.as_client),
            str(row.first_seen),
            ",".join(kind.value for kind in kinds[key]) or _MISSING,
        )
        for key, row in table.rows.items()
    ]
    conflicts = "".join(
        f"<p>conflict: {html.escape(conflict.reason)}</p>" for conflict in table.conflicts
    )
    return _table(header, rows, caption=f"{len(rows)} workload identities") + conflicts


# --- latency chart -----------------------------------------------------------------------------

_BAR_HEIGHT: Final = 12
_ROW_HEIGHT: Final = 34
_LABEL_WIDTH: Final = 300
_CHART_WIDTH: Final = 360
_P50_COLOUR: Final = "#73bcf7"
_P99_COLOUR: Final = "#0066cc"


def latency_chart_svg(graph: Topology) -> str:
    """p50 and p99 latency per edge as a horizontal SVG bar chart (no plotting library).

    Bars share one linear scale, the largest p99; edges without timed calls are left out.

    Returns:
        A standalone SVG document with one ``<g class="bar">`` per edge.
    """
    rows: list[tuple[str, int, int]] = []
    for edge in graph.edges.values():
        stats = edge.combined()
        if stats.p50 is not None and stats.p99 is not None:
            rows.append((f"{edge.source} -> {edge.destination}", stats.p50, stats.p99))
    top = max((p99 for _, _, p99 in rows), default=0) or 1
    height = 40 + _ROW_HEIGHT * len(rows) + 24
    width = _LABEL_WIDTH + _CHART_WIDTH + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif"'
        ' font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_LABEL_WIDTH}" y="16" font-size="12">latency per edge (ms):'
        f' <tspan fill="{_P50_COLOUR}">p50</tspan>, <tspan fill="{_P99_COLOUR}">p99</tspan></text>',
    ]
    for index, (label, p50, p99) in enumerate(rows):
        y = 32 + index * _ROW_HEIGHT
        p50_width = _CHART_WIDTH * p50 / top
        p99_width = _CHART_WIDTH * p99 / top
        parts += [
            f'<g class="bar" data-edge={quoteattr(label)} data-p50-ns="{p50}" data-p99-ns="{p99}">',
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + _BAR_HEIGHT + 3}" text-anchor="end">'
            f"{escape(label)}</text>",
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{p50_width:.1f}" height="{_BAR_HEIGHT}"'
            f' fill="{_P50_COLOUR}"/>',
            f'<rect x="{_LABEL_WIDTH}" y="{y + _BAR_HEIGHT + 2}" width="{p99_width:.1f}"'
            f' height="{_BAR_HEIGHT}" fill="{_P99_COLOUR}"/>',
            f'<text x="{_LABEL_WIDTH + p50_width + 4:.1f}" y="{y + _BAR_HEIGHT - 2}">'
            f"{p50 / _NS_PER_MS:.2f}</text>",
            f'<text x="{_LABEL_WIDTH + p99_width + 4:.1f}" y="{y + 2 * _BAR_HEIGHT}">'
            f"{p99 / _NS_PER_MS:.2f}</text>",
            "</g>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- what the values show in notebooks (they call these through meshals._display) ---------------


_display.html.register(MetricList, metrics_html)
_display.html.register(Analysis, _analysis_html)
_display.html.register(Accounting, accounting_html)
_display.html.register(TrafficStats, traffic_html)
_display.html.register(Topology, topology_html)
_display.html.register(RedStats, red_html)
_display.html.register(Identities, identities_html)
