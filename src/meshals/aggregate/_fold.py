"""Summarize's fold: every metric counted once, in its cell; the graph and RED groups from those.

An edge of the service graph and a group of the RED statistics are both unions of *cells*:
the calls of one calling service and one called service, (by the RED scope) one called
instance or endpoint, one time window and one *kind* (side, protocol, status, codes, flags,
TLS, role, identities: :mod:`meshals.aggregate._kinds`), and one set of node facts (both
ends' instances and namespaces, noted in the graph once per cell). :func:`fold` counts each
metric in its cell alone, with no call per metric: how many, the latency's sketch bucket, its
sum and extremes, TCP bytes and the time extent, as ``TrafficAccumulator._add_facts`` counts
them.
Then each cell is added to its edge's side and its RED group's (``_add_calls``), and the
analysed period, the same for both, is stretched once per cell. Counting is a sum and adding
counts is exact, so the result is the one :func:`~meshals.topology` and :func:`~meshals.red`
give when each counts every metric itself (``tests/aggregate/test_fold.py`` and the Hypothesis
differential in ``tests/property/test_merge_laws.py`` hold them to it).

At most :data:`_CELL_LIMIT` cells are kept: when there are that many, they are added to the
accumulators and forgotten, so memory stays flat however long the input.

Where the compiled extension is built, :mod:`meshals.aggregate._tally` counts each batch in
compiled code, and leaves to :func:`_count` every metric it cannot count the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from itertools import islice

from meshals.model._metrics import ServiceMeshMetric

from ._kinds import Kind, KindCalls, facts_of
from ._period import PeriodAccumulator
from ._red import RedAccumulator, Scope, _Key
from ._sketch import _Boundaries, _boundaries
from ._stats import UNREACHED_FLAGS
from ._tally import DESTINATION_INSTANCE, DETAILS, ENDPOINT, NO_DETAIL, compiled_tally
from ._topology import TopologyAccumulator
from ._windows import window_start_ns

__all__: list[str] = []

# (source service, destination service, instance or endpoint by the scope, window start, kind,
# and the rest of the nodes' facts: source instance and namespace, destination's).
_Cell = tuple[str, str, str | None, int | None, Kind, str, str | None, str, str | None]

# How many metrics are taken from the analysis before they are counted. Alternating between
# the analysis and the counting metric by metric takes about a quarter more time than the
# same instructions run in batches (the interpreter's dispatch predicts a loop it stays in).
_BATCH = 256
# The compiled tally costs little per batch, and smaller batches keep fewer metrics alive:
# fewer outlive a young collection of the garbage collector, to be traversed again by the
# older ones (summarize's share over the analysis: 2-5 points less than with 256).
_COMPILED_BATCH = 32

# How many cells are kept before they are added to the accumulators and forgotten.
_CELL_LIMIT = 4096


def _batches(metrics: Iterable[ServiceMeshMetric], size: int) -> Iterator[list[ServiceMeshMetric]]:
    iterator = iter(metrics)
    while batch := list(islice(iterator, size)):
        yield batch


def _red_key(cell: _Cell, scope: Scope) -> _Key:
    source, destination, detail, window_start = cell[:4]
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
    """Count every metric in ``graph`` and in ``stats``: as ``add(metric)`` on each.

    Both must be of one relative accuracy, and their latency sketches of it (not adopted
    from a merge of another accuracy): the cells' sketch buckets are added as they are.
    """
    table = _boundaries(graph._relative_accuracy)
    detail = DETAILS.get(stats.scope, NO_DETAIL)
    window = stats.window_ns
    tally = compiled_tally(table, detail, window)
    cells: dict[_Cell, KindCalls] = {}
    count = partial(
        _count,
        cells=cells,
        table=table,
        detail_of=detail,
        window=window,
        graph=graph,
        stats=stats,
    )
    for batch in _batches(metrics, _BATCH if tally is None else _COMPILED_BATCH):
        if tally is None:
            count(batch, 0, len(batch))
            continue
        # The compiled fold counts up to a metric it leaves to Python: that one is counted
        # here, and the compiled fold goes on after it.
        index = 0
        while (index := tally(batch, index, cells)) < len(batch):
            count(batch, index, index + 1)
            index += 1
    _add_cells(cells, graph, stats)


def _count(
    batch: list[ServiceMeshMetric],
    start: int,
    stop: int,
    *,
    cells: dict[_Cell, KindCalls],
    table: _Boundaries,
    detail_of: int,
    window: int | None,
    graph: TopologyAccumulator,
    stats: RedAccumulator,
) -> None:
    """Count ``batch[start:stop]`` in ``cells``: making the cells that are new, kept bounded."""
    note_nodes = graph._note_nodes
    detail: str | None
    for index in range(start, stop):
        metric = batch[index]
        kind, latency, latency_key, _, first, last, received, sent = facts_of(metric, table)
        destination = metric.destination
        if detail_of == DESTINATION_INSTANCE:
            detail = destination.instance
        elif detail_of == ENDPOINT:
            detail = metric.endpoint
        else:
            detail = None
        source = metric.source
        key = (
            source.service,
            destination.service,
            detail,
            None if window is None or first is None else window_start_ns(first, window),
            kind,
            source.instance,
            source.namespace,
            destination.instance,
            destination.namespace,
        )
        calls = cells.get(key)
        if calls is None:
            if len(cells) >= _CELL_LIMIT:  # bounded: added and forgotten when full
                _add_cells(cells, graph, stats)
                cells.clear()
            calls = cells[key] = KindCalls()
            # What a metric says of its nodes is in its cell's key (the kind holds the
            # reporter's side and role): noted once per cell.
            note_nodes(metric, kind)
        # TrafficAccumulator._add_facts and SketchAccumulator._add_keyed, inline: the
        # loop runs once per metric, and a call costs as much as these lines.
        calls.count += 1
        if latency is not None:
            latencies = calls.latencies
            latencies[latency_key] = latencies.get(latency_key, 0) + 1
            calls.timed += 1
            calls.total += latency
            if calls.minimum is None or latency < calls.minimum:
                calls.minimum = latency
            if calls.maximum is None or latency > calls.maximum:
                calls.maximum = latency
        if received is not None:
            calls.received += received
        if sent is not None:
            calls.sent += sent
        if first is not None:
            if calls.first is None or first < calls.first:
                calls.first = first
            if calls.last is None or last > calls.last:  # type: ignore[operator]
                calls.last = last


def _add_cells(
    cells: dict[_Cell, KindCalls], graph: TopologyAccumulator, stats: RedAccumulator
) -> None:
    """Add each cell to its edge's side and to its RED group's, or to ``left_out``."""
    scope, window = stats.scope, stats.window_ns
    by_endpoint = scope is Scope.ENDPOINT
    period = PeriodAccumulator()
    for key, calls in cells.items():
        period._stretch(calls.first, calls.last)
        kind = key[4]
        sides = ["_server" if kind[0] else "_client"]
        flags = kind[5]
        if flags and not kind[0] and not UNREACHED_FLAGS.isdisjoint(flags):
            sides.append("_unreached")  # also on the client's side, as ReportedAccumulator
        edge = graph._edge((key[0], key[1]))
        # Out of the RED groups: no start time (windowed), no endpoint (endpoint scope).
        if (window is not None and key[3] is None) or (by_endpoint and key[2] is None):
            stats.left_out += calls.count
            groups = [edge]
        else:
            groups = [edge, stats._group(_red_key(key, scope))]
        for traffic in groups:
            for side in sides:
                traffic._side(side)._add_calls(kind, calls)
    whole = period.result()
    graph._period.add_period(whole)
    stats._period.add_period(whole)
