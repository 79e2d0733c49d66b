"""``meshals metrics``: Istio's standard metrics in Prometheus' text format.

Each file's series are computed from its records by Istio's rules (a tap on the analysis'
input: :class:`meshals.mesh.IstioWalk`, with the ``--k8s-snapshot`` workloads), then added in
file order, so ``--jobs N`` prints the same bytes as one process.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.mesh._istio_walk import IstioWalk
from meshals.mesh._roles import fixed_role
from meshals.model._istio import IstioSample
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._istio_metrics import IstioMetrics, istio_metrics_of

from ._naming import Naming
from ._run import _analyze_all, _failed, _FileAnalysis, _finish

__all__: list[str] = []


class _IstioTap:
    """One file's Istio series, from the records the analysis reads (a ``RecordTap``)."""

    def __init__(self, naming: Naming, analysis: _FileAnalysis[IstioMetrics]) -> None:
        self._walk = IstioWalk(
            workloads=naming.workloads,
            role_rule=None if analysis.role is None else fixed_role(analysis.role),
            reidentify=analysis.reidentify,
            since=analysis.since_ns,
            until=analysis.until_ns,
        )
        self._samples: list[IstioSample] = []

    def add(self, record: object) -> None:
        self._samples.extend(self._walk.add(record))

    def result(self) -> IstioMetrics:
        return istio_metrics_of(self._samples)


def _unused(metrics: Iterable[ServiceMeshMetric]) -> IstioMetrics:
    """Not called: the tap summarises each file."""
    raise AssertionError("the Istio tap summarises the files")  # pragma: no cover


def _metrics(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``metrics``: Istio's standard metrics in Prometheus' text format."""
    files: list[IstioMetrics] = []
    try:
        run = _analyze_all(
            args, container=container, summarise=_unused, merge=files.append, tap=_IstioTap
        )
        series = istio_metrics_of(())
        for each in files:  # in file order; the sums are exact, so any order would do
            series = series + each
        text = series.to_prometheus()
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    # Istio's labels come from the proxies' metadata (and --k8s-snapshot), not from the
    # resolver the analysis names peers with: its "every workload is UNKNOWN" does not apply.
    run.unnamed = False
    _finish(run)
    return 0
