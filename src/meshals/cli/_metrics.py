"""``meshals metrics``: Istio's standard metrics in Prometheus' text format."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._istio_metrics import istio_metrics

from ._run import _analyze_all, _failed, _finish

__all__: list[str] = []


def _metrics(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``metrics``: Istio's standard metrics in Prometheus' text format."""
    metrics: list[ServiceMeshMetric] = []
    try:
        # The metrics themselves, in order: istio_metrics pairs a gateway's two of one entry.
        run = _analyze_all(args, container=container, summarise=list, merge=metrics.extend)
        text = istio_metrics(metrics).to_prometheus()
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0
