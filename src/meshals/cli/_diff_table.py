"""The text tables of ``meshals diff``: services that appeared or vanished, every edge's rates
and error shares before and after with the test's p-value, and latency quantiles of the edges in
both.
"""

from __future__ import annotations

from typing import Final

from meshals.aggregate._compare import QUANTILES, Comparison, EdgeChange, ProportionTest
from meshals.aggregate._topology import Edge
from meshals.output._diff import edge_status

from ._tables import _aligned, _ms, _percent

__all__: list[str] = []

_MISSING: Final = "-"
_NS_PER_MS: Final = 1_000_000
_EDGE_HEADER: Final = (
    "CHANGE",
    "SOURCE -> DEST",
    "CALLS",
    "RATE/S",
    "CHANGE/S",
    "4XX%",
    "P(4XX)",
    "5XX%",
    "P(5XX)",
)


def _rate(rate: float | None) -> str:
    return _MISSING if rate is None else f"{rate:.2f}"


def _signed(value: float | None, text: str) -> str:
    return _MISSING if value is None else ("+" if value >= 0 else "") + text


def _p(test: ProportionTest) -> str:
    return _MISSING if test.p_value is None else f"{test.p_value:.3g}"


def _one_side(edge: Edge, status: str, rate: float | None) -> tuple[str, ...]:
    stats = edge.combined()
    before = status == "removed"

    def sides(text: str) -> str:
        return f"{text} -> {_MISSING}" if before else f"{_MISSING} -> {text}"

    return (
        status,
        f"{edge.source} -> {edge.destination}",
        sides(str(stats.requests)),
        sides(_rate(rate)),
        _MISSING,
        sides(_percent(stats.error_rate_4xx)),
        _MISSING,
        sides(_percent(stats.error_rate_5xx)),
        _MISSING,
    )


def _both_sides(change: EdgeChange) -> tuple[str, ...]:
    status = edge_status(change)
    if change.regressed:
        status = f"{status} ({','.join(change.regressed)})"
    rate_change = change.rate_change
    return (
        status,
        f"{change.source} -> {change.destination}",
        f"{change.before.requests} -> {change.after.requests}",
        f"{_rate(change.rate_before)} -> {_rate(change.rate_after)}",
        _signed(rate_change, f"{abs(rate_change or 0):.2f}"),
        f"{_percent(change.errors_4xx.rate_before)} -> {_percent(change.errors_4xx.rate_after)}",
        _p(change.errors_4xx),
        f"{_percent(change.errors_5xx.rate_before)} -> {_percent(change.errors_5xx.rate_after)}",
        _p(change.errors_5xx),
    )


def _latency_cells(change: EdgeChange, q: float) -> tuple[str, str]:
    before, after = change.latency(q)
    if before is None or after is None:
        return f"{_ms(before)} -> {_ms(after)}", _MISSING
    difference = after - before
    return (
        f"{_ms(before)} -> {_ms(after)}",
        _signed(difference, f"{abs(difference) / _NS_PER_MS:.2f}ms"),
    )


def comparison_table(comparison: Comparison) -> str:
    """What changed as text tables: services, edges (rates and error shares), latency.

    Returns:
        The text; ``(nothing to compare)`` when neither side had a call.
    """
    before, after = comparison.before, comparison.after
    if not before.nodes and not after.nodes:
        return "(nothing to compare)\n"
    parts = []
    services: list[tuple[str, ...]] = [("CHANGE", "SERVICE")]
    services.extend(("added", name) for name in comparison.services_added)
    services.extend(("removed", name) for name in comparison.services_removed)
    if len(services) > 1:
        parts.append(_aligned(services))
    edges: list[tuple[str, ...]] = [_EDGE_HEADER]
    edges.extend(
        _one_side(edge, "added", after.rate(edge.source, edge.destination))
        for edge in comparison.edges_added
    )
    edges.extend(
        _one_side(edge, "removed", before.rate(edge.source, edge.destination))
        for edge in comparison.edges_removed
    )
    edges.extend(_both_sides(change) for change in comparison.edges)
    parts.append(_aligned(edges, frozenset(range(2, len(_EDGE_HEADER)))))
    if comparison.edges:
        latency: list[tuple[str, ...]] = [
            (
                "SOURCE -> DEST",
                *(
                    name
                    for q in QUANTILES
                    for name in (f"P{round(q * 100)}", f"CHANGE P{round(q * 100)}")
                ),
            )
        ]
        for change in comparison.edges:
            latency.append(
                (
                    f"{change.source} -> {change.destination}",
                    *(cell for q in QUANTILES for cell in _latency_cells(change, q)),
                )
            )
        parts.append(_aligned(latency, frozenset(range(1, 1 + 2 * len(QUANTILES)))))
    footer = (
        f"regressed: the 4xx or 5xx rate rose with p < {comparison.alpha:g} (pooled two-proportion"
        f" z-test); {len(comparison.regressions)} of {len(comparison.edges)} edges in both\n"
    )
    return "\n".join(parts) + "\n" + footer
