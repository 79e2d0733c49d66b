"""``meshals stats``: RED statistics by service, instance, endpoint or edge, optionally per
time window, as a table, JSON Lines or CSV.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TextIO

import attrs

from meshals._errors import MeshalsError
from meshals.aggregate._red import RedAccumulator, RedStats
from meshals.aggregate._topology import Topology, TopologyAccumulator
from meshals.aggregate._windows import window_start_ns
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._records import edge_records, red_records

from ._formats import render_stats
from ._run import _analyze_all, _failed, _finish

__all__: list[str] = []


_Windows = dict[int | None, Topology]  # one service graph per window start (None: no windows)


class _EdgeWindows:
    """One service graph per time window (or one for the whole input): edge statistics."""

    def __init__(self, window_ns: int | None) -> None:
        self.window_ns = window_ns
        self.graphs: dict[int | None, TopologyAccumulator] = {}
        self.left_out = 0  # metrics in no window: without a start time

    def _graph(self, start: int | None) -> TopologyAccumulator:
        graph = self.graphs.get(start)
        if graph is None:
            graph = self.graphs[start] = TopologyAccumulator()
        return graph

    def add(self, metric: ServiceMeshMetric) -> None:
        start: int | None = None
        if self.window_ns is not None:
            if metric.start_time_ns is None:
                self.left_out += 1
                return
            start = window_start_ns(metric.start_time_ns, self.window_ns)
        self._graph(start).add(metric)

    def add_windows(self, windows: _Windows) -> None:
        for start, graph in windows.items():
            self._graph(start).add_topology(graph)

    def result(self) -> _Windows:
        ordered = sorted(self.graphs.items(), key=lambda item: item[0] or 0)
        return {start: accumulator.result() for start, accumulator in ordered}

    def records(self) -> list[dict[str, object]]:
        records = edge_records(self.result(), window_ns=self.window_ns)
        # By edge first, then window, as the other groupings.
        return sorted(
            records,
            key=lambda r: (str(r["source"]), str(r["destination"]), r["window_start_ns"] or 0),
        )


@attrs.frozen
class _StatsPart:
    """``stats``' summary of some files: the groups (each carries the analysed period)."""

    groups: RedStats | _Windows


class _Stats:
    """``stats``' groups: RED groups, or edges per window."""

    def __init__(self, by: str, window_ns: int | None) -> None:
        self.groups: _EdgeWindows | RedAccumulator
        if by == "edge":
            self.groups = _EdgeWindows(window_ns)
        else:
            self.groups = RedAccumulator(by, window=window_ns)

    def add(self, metric: ServiceMeshMetric) -> None:
        self.groups.add(metric)

    def add_part(self, part: _StatsPart) -> None:
        if isinstance(self.groups, _EdgeWindows):
            assert not isinstance(part.groups, RedStats), "summarised with the same grouping"
            self.groups.add_windows(part.groups)
        else:
            assert isinstance(part.groups, RedStats), "summarised with the same grouping"
            self.groups.add_stats(part.groups)

    def part(self) -> _StatsPart:
        return _StatsPart(self.groups.result())

    def records(self) -> list[dict[str, object]]:
        if isinstance(self.groups, _EdgeWindows):
            return self.groups.records()
        return red_records(self.groups.result())


@attrs.frozen
class _StatsOf:
    """Summarises one file's metrics for ``stats`` (picklable: sent to worker processes)."""

    by: str
    window_ns: int | None

    def __call__(self, metrics: Iterable[ServiceMeshMetric]) -> _StatsPart:
        stats = _Stats(self.by, self.window_ns)
        for metric in metrics:
            stats.add(metric)
        return stats.part()


def _stats(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``stats``: RED statistics per group (and window) as a table, JSON Lines or CSV."""
    stats = _Stats(args.by, args.window_ns)
    try:
        run = _analyze_all(
            args,
            container=container,
            summarise=_StatsOf(args.by, args.window_ns),
            merge=stats.add_part,
        )
        text = render_stats(stats.records(), args.by, args.format)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0
