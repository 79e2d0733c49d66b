"""The frame around a service graph picture: a title over it and a legend under it.

Both renderers' drawings (meshals' own layout and Graphviz') get the same frame: the title says
what the picture covers (services, edges, calls, and the time from the first call's start to
the last call's end), the legend what the colours mean, with the thresholds that decided them,
and how edges read. The document's ``viewBox`` holds everything, so the picture scales to
whatever width it is shown at without cutting anything off.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from fractions import Fraction
from typing import Final

from meshals.aggregate._health import HealthStatus, HealthThresholds, Threshold, TopologyHealth
from meshals.aggregate._topology import Topology

from ._graph_labels import HEALTH_COLOURS
from ._markup import escape, quoteattr
from ._text_width import FONT_FAMILY, text_width

__all__: list[str] = []

MARGIN: Final = 20.0
TEXT_COLOUR: Final = "#151515"
MUTED_COLOUR: Final = "#4f5255"
_TITLE_FONT: Final = 17.0
_SUBTITLE_FONT: Final = 13.0
_LEGEND_FONT: Final = 12.0
_ROW: Final = 19.0  # from one legend row to the next
_SWATCH: Final = 14.0
_KEY_WIDTH: Final = 40.0  # the column of swatches and samples
_NAME_WIDTH: Final = 72.0  # the column of status names
_NS_PER_S: Final = 1_000_000_000


def _percent(ratio: Fraction) -> str:
    return f"{float(ratio * 100):g} %"


def _rule_limits(thresholds: HealthThresholds) -> tuple[str, str]:
    """What makes traffic degraded and what failing, rule by rule (the enabled rules)."""
    rules: Sequence[tuple[str, Threshold | None]] = (
        ("5xx", thresholds.http_5xx),
        ("4xx", thresholds.http_4xx),
        ("gRPC", thresholds.grpc),
        ("TCP", thresholds.tcp),
    )
    degraded, failing = [], []
    for name, limit in rules:
        if limit is None:
            continue
        degraded.append(
            f"{name} any error" if limit.degraded == 0 else f"{name} ≥ {_percent(limit.degraded)}"
        )
        failing.append(f"{name} > {_percent(limit.failing)}")
    return "  ·  ".join(degraded) or "no rule", "  ·  ".join(failing) or "no rule"


def _legend_rows(thresholds: HealthThresholds) -> list[tuple[str, str, str]]:
    """The legend's rows: (key, name, text); a key is a health status, ``heading``, ``note``,
    ``edge``, ``dashed`` (a node), ``lock`` or ``plaintext`` (an edge)."""
    degraded, failing = _rule_limits(thresholds)
    unknown = "no rule applies: no calls" + (
        "" if thresholds.tcp else ", or TCP only (no TCP rule)"
    )
    return [
        (
            "heading",
            "Health",
            "an edge's: the worst rule over its calls; a service's: over all it sent and got",
        ),
        (HealthStatus.HEALTHY.value, "healthy", "errors under every degraded limit"),
        (HealthStatus.DEGRADED.value, "degraded", degraded),
        (HealthStatus.FAILING.value, "failing", failing),
        (HealthStatus.UNKNOWN.value, "unknown", unknown),
        (
            "note",
            "",
            "a rule's rate: errors / calls of its kind; 5xx counts calls answered 5xx or never",
        ),
        (
            "heading",
            "Edges",
            "from caller to callee; most point right, one pointing left closes a cycle",
        ),
        (
            "edge",
            "label",
            "protocol and calls (conn: TCP connections)  ·  error rate  ·  p99 latency",
        ),
        ("dashed", "dashed", "a peer no resolver named (UNKNOWN) or an Istio pseudo-service"),
        (
            "lock",
            "mTLS",
            "label mTLS 100%: all calls its server logged were mutual TLS; mTLS n %: a share;"
            " TLS n %: one-way TLS",
        ),
        (
            "plaintext",
            "dashed",
            "plaintext calls into a workload with a proxy (sidecar, waypoint or ztunnel)",
        ),
    ]


def _when(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns // _NS_PER_S, datetime.timezone.utc).replace(
        microsecond=ns % _NS_PER_S // 1000
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _duration(seconds: float) -> str:
    """A span as people say it: ``3.04 s``, ``12 min 5 s``, ``3 h 12 min``, ``2 d 3 h``.

    >>> _duration(3.0412), _duration(725), _duration(11_530), _duration(183_600)
    ('3.04 s', '12 min 5 s', '3 h 12 min', '2 d 3 h')
    """
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86_400, "h", 3_600),
        ("h", 3_600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            return f"{whole // size} {unit} {whole % size // smaller_size} {smaller}"
    raise AssertionError(seconds)  # 60 s or more is at least a minute


def title_lines(graph: Topology) -> tuple[str, str]:
    """The title and the line under it: what the graph holds, and when its calls were made.

    >>> title_lines(Topology())
    ('Service graph', 'no calls')
    """
    if not graph.nodes:
        return "Service graph", "no calls"
    stats = [edge.combined() for edge in graph.edges.values()]
    counts = ", ".join(
        (
            _count(len(graph.nodes), "service"),
            _count(len(graph.edges), "edge"),
            _count(sum(s.requests for s in stats), "call"),
        )
    )
    starts = [s.first_start_ns for s in stats if s.first_start_ns is not None]
    ends = [s.last_end_ns for s in stats if s.last_end_ns is not None]
    if not starts or not ends:
        return "Service graph", counts
    first, last = _when(min(starts)), _when(max(ends))
    end_format = "%H:%M:%S.%f" if first.date() == last.date() else "%Y-%m-%d %H:%M:%S.%f"
    when = (
        f"{first.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} to {last.strftime(end_format)[:-3]} UTC"
        f" ({_duration((max(ends) - min(starts)) / _NS_PER_S)})"
    )
    return "Service graph", f"{counts}  ·  {when}"


def _text(x: float, y: float, text: str, size: float, **attributes: str) -> str:
    extra = "".join(
        f" {key.replace('_', '-')}={quoteattr(value)}" for key, value in attributes.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}"{extra}>{escape(text)}</text>'


_BY_VALUE: Final = {status.value: colour for status, colour in HEALTH_COLOURS.items()}


def _key(key: str, y: float) -> str:
    """The swatch or sample drawn left of a legend row whose text's baseline is ``y``."""
    middle = y - _LEGEND_FONT / 3
    swatch = f'x="4" y="{middle - _SWATCH / 2:.1f}" width="{_SWATCH * 2:g}" height="{_SWATCH:g}"'
    if key in _BY_VALUE:
        return (
            f'<rect {swatch} rx="3" fill="#ffffff" stroke="{_BY_VALUE[key]}" stroke-width="2.5"/>'
        )
    if key == "edge":
        return (
            f'<path d="M 2 {middle:.1f} L 30 {middle:.1f}" stroke="{MUTED_COLOUR}"'
            ' stroke-width="1.6" marker-end="url(#legend-arrow)"/>'
        )
    if key == "dashed":
        return (
            f'<rect {swatch} rx="3" fill="#ffffff" stroke="{MUTED_COLOUR}" stroke-width="2"'
            ' stroke-dasharray="4,2"/>'
        )
    if key == "plaintext":
        return (
            f'<path d="M 2 {middle:.1f} L 30 {middle:.1f}" stroke="{MUTED_COLOUR}"'
            ' stroke-width="1.6" stroke-dasharray="7,4" marker-end="url(#legend-arrow)"/>'
        )
    if key == "lock":
        # The padlock the edge labels carry, at the legend's size.
        top, left = middle - 6, 10.0
        return (
            f'<path d="M {left + 2:.1f} {top + 5:.1f} V {top + 3:.1f} A 3.5 3.5 0 0 1'
            f' {left + 9:.1f} {top + 3:.1f} V {top + 5:.1f}" fill="none" stroke="{TEXT_COLOUR}"'
            f' stroke-width="1.4"/><rect x="{left:.1f}" y="{top + 5:.1f}" width="11"'
            f' height="8" rx="1.5" fill="{TEXT_COLOUR}"/>'
        )
    return ""


def _legend(thresholds: HealthThresholds, *, locks: bool) -> tuple[list[str], float, float]:
    """The legend's elements (from its own (0, 0)), its width and its height; ``locks``: the
    drawing puts a padlock before ``mTLS 100%`` (Graphviz' does not)."""
    parts: list[str] = []
    width = 0.0
    y = _LEGEND_FONT
    for key, name, text in _legend_rows(thresholds):
        if key == "heading":
            if parts:
                y += _ROW * 0.4
            parts.append(
                f'<text y="{y:.1f}" font-size="{_LEGEND_FONT:g}" fill="{TEXT_COLOUR}">'
                f'<tspan font-weight="bold">{escape(name)}</tspan>'
                f'<tspan dx="8" fill="{MUTED_COLOUR}">{escape(text)}</tspan></text>'
            )
            width = max(
                width, text_width(name, _LEGEND_FONT) * 1.1 + 8 + text_width(text, _LEGEND_FONT)
            )
        else:
            # Without padlocks in the drawing, the row stays (the label text) but shows none.
            parts.append(_key(key if locks or key != "lock" else "", y))
            if name:
                parts.append(_text(_KEY_WIDTH, y, name, _LEGEND_FONT, fill=TEXT_COLOUR))
            parts.append(_text(_KEY_WIDTH + _NAME_WIDTH, y, text, _LEGEND_FONT, fill=MUTED_COLOUR))
            width = max(width, _KEY_WIDTH + _NAME_WIDTH + text_width(text, _LEGEND_FONT))
        y += _ROW
    return parts, width, y - _ROW + _LEGEND_FONT / 2


def framed_svg(
    drawing: str,
    width: float,
    height: float,
    *,
    graph: Topology,
    health: TopologyHealth,
    comment: str = "",
    locks: bool = False,
) -> str:
    """A standalone SVG document: the title, the drawing (``width`` x ``height``, drawn from
    (0, 0)) and the legend, in a ``viewBox`` that holds them all; ``locks``: the drawing
    marks all-mTLS edges with a padlock (the legend shows it)."""
    title, subtitle = title_lines(graph)
    legend, legend_width, legend_height = _legend(health.thresholds, locks=locks)
    title_height = _TITLE_FONT + 8 + _SUBTITLE_FONT + 16
    drawing_top = MARGIN + title_height
    legend_top = drawing_top + height + (24.0 if height else 0.0)
    inner = max(
        width, legend_width, text_width(subtitle, _SUBTITLE_FONT), text_width(title, _TITLE_FONT)
    )
    total_width = inner + 2 * MARGIN
    total_height = legend_top + legend_height + MARGIN
    size = f'width="{total_width:.0f}" height="{total_height:.0f}"'
    return (
        "\n".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                *([f"<!-- {comment} -->"] if comment else []),
                f'<svg xmlns="http://www.w3.org/2000/svg" {size}'
                f' viewBox="0 0 {total_width:.0f} {total_height:.0f}"'
                f" font-family={quoteattr(FONT_FAMILY)}>",
                "<defs>",
                '<marker id="legend-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6"'
                ' markerHeight="6" orient="auto">'
                f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{MUTED_COLOUR}"/></marker>',
                "</defs>",
                f'<rect width="{total_width:.0f}" height="{total_height:.0f}" fill="#ffffff"/>',
                f'<g class="title" transform="translate({MARGIN:g} {MARGIN:g})">',
                _text(0, _TITLE_FONT, title, _TITLE_FONT, font_weight="bold", fill=TEXT_COLOUR),
                _text(
                    0, _TITLE_FONT + 8 + _SUBTITLE_FONT, subtitle, _SUBTITLE_FONT, fill=MUTED_COLOUR
                ),
                "</g>",
                f'<g class="drawing" transform="translate({MARGIN:g} {drawing_top:.1f})">',
                drawing,
                "</g>",
                f'<g class="legend" transform="translate({MARGIN:g} {legend_top:.1f})">',
                *legend,
                "</g>",
                "</svg>",
            ]
        )
        + "\n"
    )
