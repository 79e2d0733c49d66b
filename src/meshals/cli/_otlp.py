"""``--format otlp`` and ``--format otlp-json``: the calls as OTLP spans (``analyze``) or their
duration histograms as OTLP metrics (``stats``), written whole once every file is analysed.

``otlp`` is the protobuf binary an OTLP/HTTP receiver takes as ``application/x-protobuf``
(an ``ExportTraceServiceRequest`` or ``ExportMetricsServiceRequest``); ``otlp-json`` is the
same message in OTLP/JSON, on one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._otlp import otlp_json

from ._run import _analyze_all, _failed, _finish
from ._stderr import _PROG

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__: list[str] = []

#: The OTLP formats of ``analyze`` and ``stats``.
OTLP_FORMATS = ("otlp", "otlp-json")

#: The extensions that name them (``-o spans.pb``, ``-o metrics.json``).
OTLP_EXTENSIONS = {".pb": "otlp", ".json": "otlp-json"}


def _write_otlp(
    args: argparse.Namespace,
    *,
    container: Container | None,
    out: TextIO,
    build: Callable[[Sequence[ServiceMeshMetric]], Message],
    what: str,
) -> int:
    """Analyse every input, then write ``build(metrics)`` in ``args.format``."""
    binary = args.format == "otlp"
    if binary and (out.isatty() or not hasattr(out, "buffer")):
        return _failed(
            MeshalsError("--format otlp writes protobuf binary: give -o FILE.pb or redirect stdout")
        )
    metrics: list[ServiceMeshMetric] = []
    try:
        run = _analyze_all(args, container=container, summarise=list, merge=metrics.extend)
        message = build(metrics)
        if binary:
            data = message.SerializeToString()
            out.flush()
            out.buffer.write(data)
        else:
            out.write(otlp_json(message) + "\n")
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    untimed = sum(1 for metric in metrics if metric.latency_ns is None)
    if untimed:
        print(
            f"{_PROG}: warning: {untimed} calls without a start time or an end are not in the"
            f" OTLP {what}",
            file=sys.stderr,
        )
    _finish(run)
    return 0
