"""What changed between two captures as an SVG picture: :func:`diff_svg`.

Graphviz' drawing of :func:`~meshals.output.diff_dot` when ``dot`` is installed, else meshals'
own layout (:mod:`meshals.output._layout`) of both graphs in one, with the same marks: what
appeared green, what vanished grey and dashed, regressed edges red and thick, and a legend.
"""

from __future__ import annotations

from typing import Final

from meshals.aggregate._compare import Comparison
from meshals.aggregate._topology import ServiceNode

from ._diff import CHANGE_STYLES, NODE_CAPTIONS, diff_dot, drawn_edges, drawn_nodes, title
from ._graph_frame import MARGIN, MUTED_COLOUR, TEXT_COLOUR
from ._layout import EdgePlace, Rect, graph_layout
from ._markup import quoteattr
from ._svg import SvgRenderer, _text, chosen_renderer, edge_line, graphviz_svg, service_box
from ._text_width import FONT_FAMILY, text_width

__all__ = ["diff_svg"]

_TITLE_FONT: Final = 17.0
_LEGEND_FONT: Final = 12.0
_ROW: Final = 19.0
_KEY_WIDTH: Final = 44.0
_NAME_WIDTH: Final = 76.0


def diff_svg(comparison: Comparison, *, renderer: SvgRenderer = "auto") -> str:
    """Both service graphs as one SVG picture, with what changed marked and a legend.

    Args:
        comparison: what :func:`~meshals.compare` found.
        renderer: ``"graphviz"`` (``dot`` must be installed), ``"builtin"`` (meshals' own
            layout), or ``"auto"``: Graphviz when ``dot`` is on the PATH.

    Returns:
        The SVG document.

    Raises:
        GraphRenderError: Graphviz was asked for and is missing or failed.
    """
    if chosen_renderer(renderer) == "graphviz":
        return graphviz_svg(diff_dot(comparison))
    return _builtin(comparison)


def _builtin(comparison: Comparison) -> str:
    union = comparison.before.merge(comparison.after)  # only its shape is drawn
    edges = {(edge.source, edge.destination): edge for edge in drawn_edges(comparison)}
    layout = graph_layout(union, labels={key: edge.lines for key, edge in edges.items()})
    markers = "".join(
        f'<marker id="diff-arrow-{status}" viewBox="0 0 10 10" refX="10" refY="5"'
        # In user units: a thick (regressed) line would otherwise get an outsized head.
        f' markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto">'
        f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
        for status, (colour, _, _, _) in CHANGE_STYLES.items()
    )
    parts = [f"<defs>{markers}</defs>"]
    parts.extend(_edge(place, edges[key].status) for key, place in layout.edges.items())
    nodes = drawn_nodes(comparison)
    parts.extend(_node(*nodes[name], box) for name, box in layout.nodes.items())
    legend, legend_width, legend_height = _legend()
    top = MARGIN + _TITLE_FONT + 16
    legend_top = top + layout.height + (24.0 if layout.height else 0.0)
    width = max(layout.width, legend_width, text_width(title(comparison), _TITLE_FONT))
    total_width, total_height = width + 2 * MARGIN, legend_top + legend_height + MARGIN
    return (
        "\n".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width:.0f}"'
                f' height="{total_height:.0f}" viewBox="0 0 {total_width:.0f}'
                f' {total_height:.0f}" font-family={quoteattr(FONT_FAMILY)}>',
                f'<rect width="{total_width:.0f}" height="{total_height:.0f}" fill="#ffffff"/>',
                _text(
                    MARGIN,
                    MARGIN + _TITLE_FONT,
                    title(comparison),
                    _TITLE_FONT,
                    font_weight="bold",
                    fill=TEXT_COLOUR,
                ),
                f'<g class="drawing" transform="translate({MARGIN:g} {top:.1f})">',
                *parts,
                "</g>",
                f'<g class="legend" transform="translate({MARGIN:g} {legend_top:.1f})">',
                *legend,
                "</g>",
                "</svg>",
            ]
        )
        + "\n"
    )


def _dash(status: str) -> str:
    return ' stroke-dasharray="7,4"' if CHANGE_STYLES[status][1] == "dashed" else ""


def _node(node: ServiceNode, status: str, box: Rect) -> str:
    colour, _, width, _ = CHANGE_STYLES[status]
    return service_box(
        node.name,
        node.kind,
        box,
        caption=NODE_CAPTIONS[status],
        colour=colour,
        data=f'data-change="{status}"',
        dash=_dash(status),
        stroke_width=width,
        caption_colour=colour,
    )


def _edge(place: EdgePlace, status: str) -> str:
    colour, _, width, _ = CHANGE_STYLES[status]
    return edge_line(
        place,
        colour=colour,
        marker=f"diff-arrow-{status}",
        data=f'data-change="{status}"',
        dash=_dash(status),
        stroke_width=width,
        label_colour=colour,
    )


def _legend() -> tuple[list[str], float, float]:
    """The legend's elements (from its own (0, 0)), its width and its height."""
    parts = [
        f'<text y="{_LEGEND_FONT:g}" font-size="{_LEGEND_FONT:g}" font-weight="bold"'
        f' fill="{TEXT_COLOUR}">Changes</text>'
    ]
    width = 0.0
    y = _LEGEND_FONT + _ROW
    for status, (colour, _, stroke, text) in CHANGE_STYLES.items():
        middle = y - _LEGEND_FONT / 3
        parts.append(
            f'<path d="M 2 {middle:.1f} L 34 {middle:.1f}" stroke="{colour}"'
            f' stroke-width="{stroke:g}"{_dash(status)} marker-end="url(#diff-arrow-{status})"/>'
        )
        parts.append(_text(_KEY_WIDTH, y, status, _LEGEND_FONT, fill=TEXT_COLOUR))
        parts.append(_text(_KEY_WIDTH + _NAME_WIDTH, y, text, _LEGEND_FONT, fill=MUTED_COLOUR))
        width = max(width, _KEY_WIDTH + _NAME_WIDTH + text_width(text, _LEGEND_FONT))
        y += _ROW
    return parts, width, y - _ROW + _LEGEND_FONT / 2
