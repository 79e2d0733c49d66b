"""``meshals stats``: RED statistics by service, instance, endpoint or edge, optionally per
time window, as a table, JSON Lines or CSV; or the calls' duration histograms as OTLP metrics
(:mod:`._otlp`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TextIO

import attrs

from meshals._errors import MeshalsError
from meshals.aggregate._red import RedAccumulator, RedStats
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._otlp_metrics import otlp_metrics
from meshals.output._records import red_records

from ._formats import render_stats
from ._otlp import OTLP_FORMATS, _write_otlp
from ._run import _analyze_all, _failed, _finish

__all__: list[str] = []


@attrs.frozen
class _StatsOf:
    """Summarises one file's metrics for ``stats`` (picklable: sent to worker processes)."""

    by: str
    window_ns: int | None

    def __call__(self, metrics: Iterable[ServiceMeshMetric]) -> RedStats:
        accumulator = RedAccumulator(self.by, window=self.window_ns)
        for metric in metrics:
            accumulator.add(metric)
        return accumulator.result()


def _stats(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``stats``: RED statistics per group (and window) as a table, JSON Lines or CSV."""
    if args.format in OTLP_FORMATS:
        if args.window_ns is not None:
            return _failed(MeshalsError("--window does not apply to --format otlp/otlp-json"))
        return _write_otlp(
            args, container=container, out=out, build=otlp_metrics, what="histograms"
        )
    stats = RedAccumulator(args.by, window=args.window_ns)
    try:
        run = _analyze_all(
            args,
            container=container,
            summarise=_StatsOf(args.by, args.window_ns),
            merge=stats.add_stats,
        )
        text = render_stats(red_records(stats.result()), args.by, args.format)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0
