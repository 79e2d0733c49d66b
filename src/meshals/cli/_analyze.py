"""``meshals analyze``: the metrics as a table, JSON Lines, CSV or SkyWalking JSON."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric

from ._formats import render
from ._run import _analyze_all, _failed, _finish

__all__: list[str] = []


def _analyze(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``analyze``: all or nothing on stdout, warnings and a summary on stderr."""
    metrics: list[ServiceMeshMetric] = []
    try:
        run = _analyze_all(args, container=container, summarise=list, merge=metrics.extend)
        text = render(metrics, args.format)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0
