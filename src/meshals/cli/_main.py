"""The ``meshals`` command: :func:`main` parses the arguments and runs the command they name.

One module per command:

- ``meshals inspect`` (``_inspect``): per file, the container, each message's identifier and
  the role its node id implies, and a one-line summary per entry, or one JSON object per entry.
- ``meshals analyze`` (``_analyze``): the metrics as a table, JSON Lines, CSV or SkyWalking JSON.
- ``meshals graph`` (``_graph``): the service graph as a table (and the picture, SVG, with
  ``--example``), DOT, Mermaid or SVG.
- ``meshals stats`` (``_stats``): RED statistics by service, instance, endpoint or edge,
  optionally per time window, as a table, JSON Lines or CSV.
- ``meshals metrics`` (``_metrics``): Istio's standard metrics in Prometheus' text format.
- ``meshals identities`` (``_identities``): the SPIFFE ids each workload presented, with their
  conflicts, as a table, JSON or JSON Lines.
- ``meshals diff`` (``_diff``): what changed between two captures (BEFORE... -- AFTER...), as
  a table, JSON Lines, JSON, DOT or SVG.
- ``meshals names`` (``_names``): the workloads the captures name themselves, as the static
  table ``--resolver`` reads.
- ``meshals policy check`` (``_policy_check``, registered by ``_policy``): Istio
  AuthorizationPolicies evaluated on every observed request; exit status 1 when one would be
  denied (the output is written all the same).
- ``meshals policy suggest`` (``_policy_suggest``, registered by ``_policy``): the ALLOW
  AuthorizationPolicies that admit exactly the observed traffic, as YAML.

The analysing commands (all but ``inspect``) share their input and analysis options
(``_parser``) and how files are read, analysed and summed up on stderr (``_run``). Every
command writes to stdout or, with ``-o PATH``, to a file put in place only when it succeeds
(``_output``); the format follows PATH's extension unless ``--format`` is given (``_formats``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from meshals.capture._detect import Container

from ._analyze import _analyze
from ._diff import _diff, sides_marked
from ._graph import _graph
from ._identities import _identities
from ._inputs import inputs
from ._inspect import _inspect_file
from ._metrics import _metrics
from ._names import _names
from ._otlp import OTLP_FORMATS
from ._output import destination
from ._parser import (
    _check_analysis_args,
    _check_inputs,
    _check_names_args,
    _check_output_args,
    build_parser,
)
from ._policy import run_policy
from ._run import _failed
from ._stats import _stats
from ._stderr import _PROG, _error
from ._times import attach_negative_times

__all__ = ["entrypoint", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meshals`` command with *argv* (default: ``sys.argv[1:]``); the exit status."""
    argv = sides_marked(attach_negative_times(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    _check_output_args(args)
    if args.command == "names":
        _check_names_args(args)
    elif args.command == "policy":
        _check_inputs(args)
    elif args.command != "inspect":
        _check_analysis_args(args)
    container = None if args.container is None else Container(args.container)
    try:
        with destination(args.output) as output:
            status = _COMMANDS[args.command](args, container=container, out=output.stream)
            # A command whose non-zero status is its answer (policy check: a denial) keeps -o.
            if status == 0 or getattr(args, "output_complete", False):
                output.commit()
    except BrokenPipeError:
        raise  # stdout closed: not a failure of the command (see entrypoint)
    except OSError as exc:  # the file -o names cannot be created, written or put in place
        return _failed(exc)
    # inspect has no --quiet: its note is always printed.
    written = status == 0 or getattr(args, "output_complete", False)
    if written and output.path is not None and not getattr(args, "quiet", False):
        print(f"{_PROG}: wrote {_written(args)} to {output.path}", file=sys.stderr)
    return status


#: The exit status when stdout (or stderr) is a pipe whose reader has gone (``| head``).
#: Python ignores SIGPIPE, so a write raises BrokenPipeError instead of ending the process. The
#: status is the one a shell reports for a process SIGPIPE killed (128 + 13), as ``cat``,
#: ``grep`` or ``seq`` end in ``... | head``: under ``set -o pipefail`` meshals looks like
#: them, and 1 stays what meshals means by it, a failed input (Python's docs suggest 1).
PIPE_CLOSED = 141

#: The exit status after Ctrl-C (SIGINT): 128 + 2, what a shell reports for a process SIGINT
#: ended.
INTERRUPTED = 130


def entrypoint() -> None:
    """The console script: :func:`main` on ``sys.argv``, then exit with its status.

    A closed pipe ends it quietly with :data:`PIPE_CLOSED`, Ctrl-C with :data:`INTERRUPTED`:
    no traceback, and ``-o``'s file is left as it was.
    """
    try:
        status = main()
        _flush(sys.stdout)  # a closed pipe shows now, not as "Exception ignored" at exit
    except BrokenPipeError:
        status = PIPE_CLOSED
        _discard_stdout()
    except KeyboardInterrupt:
        status = INTERRUPTED
        try:
            _flush(sys.stdout)  # what was written before the interrupt
        except (BrokenPipeError, KeyboardInterrupt):
            _discard_stdout()
    sys.exit(status)


def _flush(stream: TextIO | None) -> None:
    if stream is not None:
        stream.flush()


def _discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered cannot fail again at exit."""
    if sys.stdout is None:
        return
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (replaced, or closed)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)


def _inspect(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``inspect``: each input's report in turn; exit status 1 if any failed."""
    _check_inputs(args)
    status = 0
    as_json = args.format == "jsonl"
    for argument in args.files:
        try:
            sources, notes = inputs([argument])
        except OSError as exc:  # a directory that cannot be listed
            _error(f"{argument}: {exc.strerror or exc}")
            status = 1
            continue
        for note in notes:
            print(f"{_PROG}: warning: {note}", file=sys.stderr)
        for source in sources:
            if not _inspect_file(
                source, container=container, strict=args.strict, as_json=as_json, out=out
            ):
                status = 1
    return status


_COMMANDS: dict[str, Callable[..., int]] = {
    "inspect": _inspect,
    "analyze": _analyze,
    "graph": _graph,
    "stats": _stats,
    "metrics": _metrics,
    "identities": _identities,
    "diff": _diff,
    "names": _names,
    "policy": run_policy,
}


# What each command writes, as the line after ``-o PATH`` says.
def _written(args: argparse.Namespace) -> str:
    """What the command wrote to -o's file: ``analyze``'s OTLP formats hold spans."""
    if args.command == "analyze" and getattr(args, "format", None) in OTLP_FORMATS:
        return "the spans"
    what: str = getattr(args, "what", None) or _WHAT[args.command]  # a subcommand's own
    return what


_WHAT = {
    "inspect": "the report",
    "analyze": "the metrics",
    "graph": "the service graph",
    "stats": "the statistics",
    "metrics": "the metrics",
    "identities": "the identities",
    "diff": "the comparison",
    "names": "the names",
}
