"""``meshals analyze``: the metrics as a table, JSON Lines, CSV or SkyWalking JSON, or the
calls as OTLP spans (:mod:`._otlp`).

The table aligns its columns, so it is printed once every metric is made. JSON Lines, CSV and
SkyWalking JSON are line-oriented: each metric's line is written as the analysis makes it, and
none is held (``meshals analyze --format jsonl big.bin | head`` prints at once, in constant
memory). With ``--jobs N``, a worker process sends back each file's text whole, and the text is
written in file order: the output is the same as with one process.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TextIO

import attrs

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._otlp_traces import otlp_traces
from meshals.output._records import SERIALISATIONS

from ._otlp import OTLP_FORMATS, _write_otlp
from ._run import _analyze_all, _failed, _finish
from ._tables import _table

__all__: list[str] = []


def _analyze(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``analyze``: the metrics on *out*, warnings and a summary on stderr."""
    if args.format in OTLP_FORMATS:
        return _write_otlp(args, container=container, out=out, build=otlp_traces, what="spans")
    if args.format != "table":
        return _stream(args, container=container, out=out)
    metrics: list[ServiceMeshMetric] = []
    try:
        run = _analyze_all(args, container=container, summarise=list, merge=metrics.extend)
        text = _table(metrics)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0


def _stream(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """A line-oriented format, written as the metrics are made (after a failure, what came
    before it stays written)."""
    writer = _LineWriter(out, SERIALISATIONS[args.format].header)
    try:
        run = _analyze_all(
            args,
            container=container,
            summarise=_FileText(args.format),
            merge=writer.write,
            summarise_here=_Writing(args.format, writer),
        )
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    writer.write_header()  # even without metrics: a CSV file is its header
    _finish(run)
    return 0


class _LineWriter:
    """Writes text to *out*, the header before the first of it."""

    def __init__(self, out: TextIO, header: str) -> None:
        self.out = out
        self.header: str | None = header

    def write_header(self) -> None:
        if self.header:
            self.out.write(self.header)
        self.header = None

    def write(self, text: str) -> None:
        if text:
            self.write_header()
            self.out.write(text)


@attrs.frozen
class _FileText:
    """One file's metrics as text, whole: what a worker process sends back (picklable)."""

    fmt: str

    def __call__(self, metrics: Iterable[ServiceMeshMetric]) -> str:
        return "".join(SERIALISATIONS[self.fmt].lines(metrics))


@attrs.frozen
class _Writing:
    """Writes each metric's text as it comes, in this process; keeps nothing."""

    fmt: str
    writer: _LineWriter

    def __call__(self, metrics: Iterable[ServiceMeshMetric]) -> str:
        write = self.writer.write
        for line in SERIALISATIONS[self.fmt].lines(metrics):
            write(line)
        return ""  # merged as nothing: written already
