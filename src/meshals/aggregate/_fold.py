"""Summarize's fold: every metric counted once, in its cell; the graph and RED groups from those.

An edge of the service graph and a group of the RED statistics are both unions of *cells*:
the metrics of one calling service and one called service, and (by the RED scope) one called
instance or endpoint, in one time window, each side (client, server, the client's calls that
never reached a server) apart. :func:`fold` counts each metric in its cell alone, and at the
end adds each cell's counts, unfrozen, to its edge's side and to its RED group's. Counting is
a sum and adding counts is exact, so the result is the one :func:`~meshals.topology` and
:func:`~meshals.red` give when each counts every metric itself, with half the per-metric
counting. The analysed period, the same for both, is stretched once per metric.

The cells are as many as the distinct (source, destination, RED group, side) sets: no more
than the edges times the groups, three sides each, whatever the input's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from meshals.model._metrics import ServiceMeshMetric

from ._kinds import facts_of
from ._period import PeriodAccumulator
from ._red import RedAccumulator, Scope, _Key
from ._sketch import _boundaries
from ._stats import UNREACHED_FLAGS
from ._topology import TopologyAccumulator
from ._traffic import TrafficAccumulator
from ._windows import window_start_ns

__all__: list[str] = []

# (source service, destination service, instance or endpoint by the scope, window start).
_Cell = tuple[str, str, str | None, int | None]

# How many metrics are taken from the analysis before they are counted. Interleaving the
# analysis and the counting metric by metric costs a third more time than the same
# instructions run in batches (the interpreter's dispatch predicts a loop it stays in better).
_BATCH = 256


def _batches(metrics: Iterable[ServiceMeshMetric]) -> Iterator[list[ServiceMeshMetric]]:
    iterator = iter(metrics)
    while batch := list(islice(iterator, _BATCH)):
        yield batch


def _red_key(cell: _Cell, scope: Scope) -> _Key:
    source, destination, detail, window_start = cell
    if scope is Scope.INSTANCE:
        return (destination, detail, None, window_start, None)
    if scope is Scope.ENDPOINT:
        return (destination, None, detail, window_start, None)
    if scope is Scope.EDGE:
        return (destination, None, None, window_start, source)
    return (destination, None, None, window_start, None)


def fold(
    metrics: Iterable[ServiceMeshMetric], graph: TopologyAccumulator, stats: RedAccumulator
) -> None:
    """Count every metric in ``graph`` and in ``stats`` (of the same relative accuracy).

    The same as ``graph.add(metric)`` and ``stats.add(metric)`` for each metric.
    """
    accuracy = graph._relative_accuracy
    table = _boundaries(accuracy)
    scope, window = stats.scope, stats.window_ns
    by_instance, by_endpoint = scope is Scope.INSTANCE, scope is Scope.ENDPOINT
    period = PeriodAccumulator()
    stretch, note_nodes = period._stretch, graph._note_nodes
    # A cell's calls by side: client ("_client"), server, and the client's never served.
    sides: dict[str, dict[_Cell, TrafficAccumulator]] = {
        "_client": {},
        "_server": {},
        "_unreached": {},
    }
    clients, servers, unreached = sides.values()
    detail: str | None
    for batch in _batches(metrics):
        for metric in batch:
            facts = facts_of(metric, table)
            kind, first = facts[0], facts[4]
            stretch(first, facts[5])
            note_nodes(metric, kind)
            destination = metric.destination
            if by_instance:
                detail = destination.instance
            elif by_endpoint:
                detail = metric.endpoint
            else:
                detail = None
            key = (
                metric.source.service,
                destination.service,
                detail,
                None if window is None or first is None else window_start_ns(first, window),
            )
            cells = servers if kind[0] else clients
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = TrafficAccumulator(relative_accuracy=accuracy)
            cell._add_facts(facts)
            flags = kind[5]
            if flags and not kind[0] and not UNREACHED_FLAGS.isdisjoint(flags):
                cell = unreached.get(key)
                if cell is None:
                    cell = unreached[key] = TrafficAccumulator(relative_accuracy=accuracy)
                cell._add_facts(facts)
    for side, cells in sides.items():
        for key, cell in cells.items():
            graph._edge(key[:2])._side(side)._add_accumulator(cell)
            # Out of the RED groups: no start time (windowed), no endpoint (endpoint scope).
            if (window is not None and key[3] is None) or (by_endpoint and key[2] is None):
                if side != "_unreached":  # counted on the client's side already
                    stats.left_out += cell.requests
            else:
                stats._group(_red_key(key, scope))._side(side)._add_accumulator(cell)
    whole = period.result()
    graph._period.add_period(whole)
    stats._period.add_period(whole)
