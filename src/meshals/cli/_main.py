"""The ``meshals`` command: :func:`main` parses the arguments and runs the command they name.

One module per command, each printing everything at once after reading everything:

- ``meshals inspect`` (``_inspect``): per file, the container, each message's identifier and
  the role its node id implies, and a one-line summary per entry, or one JSON object per entry.
- ``meshals analyze`` (``_analyze``): the metrics as a table, JSON Lines, CSV or SkyWalking JSON.
- ``meshals graph`` (``_graph``): the service graph as a table (and the picture, SVG, with
  ``-o`` or ``--example``), DOT, Mermaid or SVG.
- ``meshals stats`` (``_stats``): RED statistics by service, instance, endpoint or edge,
  optionally per time window, as a table, JSON Lines or CSV.
- ``meshals metrics`` (``_metrics``): Istio's standard metrics in Prometheus' text format.

The analysing commands (all but ``inspect``) share their input and analysis options
(``_parser``) and how files are read, analysed and summed up on stderr (``_run``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from meshals.capture._detect import Container

from ._analyze import _analyze
from ._graph import _graph
from ._inspect import _inspect_file
from ._metrics import _metrics
from ._parser import _check_analysis_args, build_parser
from ._stats import _stats

__all__ = ["entrypoint", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meshals`` command with *argv* (default: ``sys.argv[1:]``); the exit status."""
    args = build_parser().parse_args(argv)
    container = None if args.container is None else Container(args.container)
    if args.command != "inspect":
        _check_analysis_args(args)
        return _COMMANDS[args.command](args, container=container, out=sys.stdout)
    status = 0
    for path in args.files:
        if not _inspect_file(
            path, container=container, strict=args.strict, as_json=args.json, out=sys.stdout
        ):
            status = 1
    return status


def entrypoint() -> None:
    """The console script: :func:`main` on ``sys.argv``, then exit with its status."""
    sys.exit(main())


_COMMANDS: dict[str, Callable[..., int]] = {
    "analyze": _analyze,
    "graph": _graph,
    "stats": _stats,
    "metrics": _metrics,
}
