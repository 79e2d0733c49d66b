"""What changed between two captures, rendered: records (JSON Lines), DOT and SVG.

:func:`comparison_records` flattens a :class:`~meshals.aggregate.Comparison` into one record per
service or edge that appeared or vanished and one per edge in both; :func:`diff_dot` draws the
union of both service graphs with what changed marked (added green, removed grey and dashed,
regressed red and thick), with a legend (:func:`~meshals.output.diff_svg` draws it as SVG).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import attrs

from meshals.aggregate._compare import Comparison, EdgeChange, ProportionTest
from meshals.aggregate._topology import Edge, ServiceNode

from ._dot import _DOT_SHAPES, _dot_id, _dot_label, _dot_string

__all__ = ["comparison_records", "diff_dot"]

#: Each kind of change: its colour, line style and width, and its legend text.
CHANGE_STYLES: Final = {
    "added": ("#3f9c35", "solid", 2.5, "appeared (only after)"),
    "removed": ("#8a8d90", "dashed", 1.5, "vanished (only before)"),
    "regressed": ("#c9190b", "solid", 3.5, "4xx or 5xx rate rose, p < alpha"),
    "kept": ("#4f5255", "solid", 1.2, "in both, no regression"),
}


def edge_status(change: EdgeChange) -> str:
    """``"regressed"`` or ``"kept"``: how an edge in both summaries is drawn and listed."""
    return "regressed" if change.regressed else "kept"


def _edge_record(edge: Edge, status: str, rate: float | None) -> dict[str, object]:
    stats = edge.combined()
    return {
        "kind": "edge",
        "change": status,
        "source": edge.source,
        "destination": edge.destination,
        "requests": stats.requests,
        "rate": rate,
        "rate_4xx": stats.error_rate_4xx,
        "rate_5xx": stats.error_rate_5xx,
        "p50_ns": stats.p50,
        "p90_ns": stats.p90,
        "p99_ns": stats.p99,
    }


def comparison_records(comparison: Comparison) -> Iterator[dict[str, object]]:
    """One JSON-ready record per change: services added and removed, edges added and removed
    (with their traffic on the side they were seen), then every edge in both, compared."""
    for status, names in (
        ("added", comparison.services_added),
        ("removed", comparison.services_removed),
    ):
        for name in names:
            yield {"kind": "service", "change": status, "service": name}
    for edge in comparison.edges_added:
        yield _edge_record(edge, "added", comparison.after.rate(edge.source, edge.destination))
    for edge in comparison.edges_removed:
        yield _edge_record(edge, "removed", comparison.before.rate(edge.source, edge.destination))
    for change in comparison.edges:
        yield {"kind": "edge", "change": edge_status(change), **change.to_dict()}


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}/s"


def _share(test: ProportionTest) -> str:
    before, after = test.rate_before, test.rate_after
    if before is None or after is None:
        return ""
    return f"{before:.0%} -> {after:.0%}"


def _p_value(test: ProportionTest) -> str:
    return "" if test.p_value is None else f" (p={test.p_value:.3g})"


def _change_lines(change: EdgeChange) -> tuple[str, ...]:
    lines = [f"{_rate(change.rate_before)} -> {_rate(change.rate_after)}"]
    for name, test in (("4xx", change.errors_4xx), ("5xx", change.errors_5xx)):
        if test.before or test.after:
            lines.append(f"{name} {_share(test)}{_p_value(test)}")
    before, after = change.latency(0.99)
    if before is not None and after is not None:
        lines.append(f"p99 {before / 1e6:.2f} -> {after / 1e6:.2f} ms")
    return tuple(lines)


def _style(status: str) -> str:
    colour, line, width, _ = CHANGE_STYLES[status]
    return (
        f"color={_dot_string(colour)}, fontcolor={_dot_string(colour)}, style={line},"
        f" penwidth={width:g}"
    )


#: The caption under a service's name, by its change.
NODE_CAPTIONS: Final = {"added": "(new)", "removed": "(gone)", "kept": ""}


def _node_line(node: ServiceNode, status: str) -> str:
    colour, line, width, _ = CHANGE_STYLES[status]
    caption = NODE_CAPTIONS[status]
    return (
        f"  {_dot_id(node.name)} [label={_dot_label((node.name, caption))},"
        f" shape={_DOT_SHAPES[node.kind]}, color={_dot_string(colour)},"
        f' style="rounded,filled,{line}", penwidth={width:g}];'
    )


def _legend() -> list[str]:
    lines = [
        "  subgraph cluster_legend {",
        '    label="Legend"; fontsize=10; color="#d2d2d2";',
    ]
    for index, (status, (_, _, _, text)) in enumerate(CHANGE_STYLES.items()):
        left, right = f'"legend {index}a"', f'"legend {index}b"'
        lines.append(f'    {left} [label="", shape=point, width=0.05, color="#ffffff"];')
        lines.append(f"    {right} [label={_dot_string(text)}, shape=plaintext];")
        lines.append(f"    {left} -> {right} [label={_dot_string(status)}, {_style(status)}];")
    lines.append("  }")
    return lines


@attrs.frozen
class DrawnEdge:
    """An edge of the drawing: its ends, its label lines and its change (a
    :data:`CHANGE_STYLES` key)."""

    source: str
    destination: str
    lines: tuple[str, ...]
    status: str


def drawn_nodes(comparison: Comparison) -> dict[str, tuple[ServiceNode, str]]:
    """Every service of either side, by name (sorted), with its change: ``added``,
    ``removed`` or ``kept``."""
    before, after = comparison.before, comparison.after
    nodes: dict[str, tuple[ServiceNode, str]] = {}
    for name in sorted(before.nodes.keys() | after.nodes.keys()):
        if name in comparison.services_added:
            nodes[name] = (after.nodes[name], "added")
        elif name in comparison.services_removed:
            nodes[name] = (before.nodes[name], "removed")
        else:
            nodes[name] = (before.nodes[name].merge(after.nodes[name]), "kept")
    return nodes


def drawn_edges(comparison: Comparison) -> list[DrawnEdge]:
    """Every edge of either side, sorted by its ends, with its label and change."""
    before, after = comparison.before, comparison.after
    drawn: list[DrawnEdge] = []
    for edge in comparison.edges_added:
        rate = after.rate(edge.source, edge.destination)
        drawn.append(DrawnEdge(edge.source, edge.destination, (f"new: {_rate(rate)}",), "added"))
    for edge in comparison.edges_removed:
        rate = before.rate(edge.source, edge.destination)
        label = (f"gone: was {_rate(rate)}",)
        drawn.append(DrawnEdge(edge.source, edge.destination, label, "removed"))
    for change in comparison.edges:
        drawn.append(
            DrawnEdge(change.source, change.destination, _change_lines(change), edge_status(change))
        )
    return sorted(drawn, key=lambda edge: (edge.source, edge.destination))


def title(comparison: Comparison) -> str:
    """The drawing's title."""
    return f"What changed (alpha {comparison.alpha:g})"


def diff_dot(comparison: Comparison) -> str:
    """Both service graphs as one, in Graphviz' DOT language, with what changed marked.

    Services and edges that appeared are green, those that vanished grey and dashed, edges
    whose 4xx or 5xx rate rose significantly red and thick; edges in both are labelled with
    their rate before and after, their error shares with the test's p-value, and p99
    latency. A legend cluster names each style.
    """
    lines = [
        "digraph meshals_diff {",
        "  rankdir=LR;",
        f'  label={_dot_string(title(comparison))}; labelloc=t; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=11, fillcolor="#ffffff"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    lines.extend(_node_line(node, status) for node, status in drawn_nodes(comparison).values())
    for edge in drawn_edges(comparison):
        lines.append(
            f"  {_dot_id(edge.source)} -> {_dot_id(edge.destination)}"
            f" [label={_dot_label(edge.lines)}, {_style(edge.status)}];"
        )
    lines.extend(_legend())
    lines.append("}")
    return "\n".join(lines) + "\n"
