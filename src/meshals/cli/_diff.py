"""``meshals diff BEFORE... -- AFTER...``: what changed between two captures, as a table,
JSON Lines, JSON, DOT or SVG.

Both sides are read and analysed alike (the same naming and analysis options), each into its
service graph over its own period; :func:`~meshals.compare` says what changed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.aggregate._compare import Comparison, compare
from meshals.aggregate._topology import Topology, TopologyAccumulator, topology
from meshals.capture._detect import Container
from meshals.output._diff import comparison_records, diff_dot
from meshals.output._diff_svg import diff_svg
from meshals.resolve._observed import ObservedResolver

from ._diff_table import comparison_table
from ._graph import note_renderer
from ._inputs import STDIN_ARGUMENT, inputs, stdin_count
from ._naming import NamingOptions, observed_names
from ._run import _analyze_all, _failed, _finish, _Run, note_observed

__all__: list[str] = []

#: The option the first ``--`` after ``diff`` stands for: the AFTER files follow it.
AFTER_OPTION = "--after"


def sides_marked(argv: Sequence[str]) -> list[str]:
    """*argv* with ``diff``'s first ``--`` written as :data:`AFTER_OPTION`.

    argparse drops a ``--`` and would put the files on both sides of it into one list; for
    ``diff`` it separates BEFORE from AFTER (options may follow on either side).

    >>> sides_marked(["diff", "a.bin", "--", "b.bin", "-o", "x.svg"])
    ['diff', 'a.bin', '--after', 'b.bin', '-o', 'x.svg']
    >>> sides_marked(["stats", "--", "-"])
    ['stats', '--', '-']
    """
    marked = list(argv)
    if marked[:1] == ["diff"] and "--" in marked:
        marked[marked.index("--")] = AFTER_OPTION
    return marked


def check_sides(args: argparse.Namespace) -> None:
    """Usage errors of ``diff``'s two sides (exit status 2)."""
    error = args.command_parser.error
    if args.example:
        error("--example: diff compares capture files: BEFORE... -- AFTER...")
    if not args.files or not args.after:
        error("give the BEFORE files, then -- and the AFTER files")
    if stdin_count([*args.files, *args.after]) > 1:
        error(f"{STDIN_ARGUMENT} (standard input) can be given once")
    if not 0 < args.alpha < 1:
        error(f"--alpha must be between 0 and 1, not {args.alpha:g}")


def _side(
    args: argparse.Namespace, container: Container | None, observed: ObservedResolver | None
) -> tuple[Topology, _Run]:
    accumulator = TopologyAccumulator()
    run = _analyze_all(
        args,
        container=container,
        summarise=topology,
        merge=accumulator.add_topology,
        observed=observed,
    )
    return accumulator.result(), run


def _shared_names(args: argparse.Namespace, container: Container | None) -> ObservedResolver | None:
    """``--auto-names`` over both sides at once, so that one table names BEFORE and AFTER (a
    workload whose Envoy logged on one side only is still named alike on both); None when
    it does not run, or when standard input is a side's (read once: each side names itself).
    """
    if not NamingOptions.of(args).auto or STDIN_ARGUMENT in (*args.files, *args.after):
        return None
    sources = [*inputs(args.files)[0], *inputs(args.after)[0]]
    return observed_names(
        sources,
        container=container,
        strict=args.strict,
        reidentify=args.reidentify,
        jobs=args.jobs,
    )


def _both(first: _Run, second: _Run) -> _Run:
    """One run of both sides, for one summary on stderr."""
    return _Run(
        files=first.files + second.files,
        naming_notes=first.naming_notes,  # both sides loaded the same naming files
        notes=[*(f"BEFORE: {note}" for note in first.notes)]
        + [f"AFTER: {note}" for note in second.notes],
        warnings=[*first.warnings, *second.warnings],
        accounts=[*first.accounts, *second.accounts],
        unnamed=first.unnamed,
        quiet=first.quiet,
    )


def _diff(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``diff``: what changed from the BEFORE files to the AFTER files."""
    try:
        shared = _shared_names(args, container)
        before, first = _side(args, container, shared)
        after_args = argparse.Namespace(**{**vars(args), "files": args.after})
        after, second = _side(after_args, container, shared)
        comparison = compare(before, after, alpha=args.alpha)
        if args.format == "svg":
            text = diff_svg(comparison, renderer=args.renderer)
        else:
            text = _DIFF_TEXT[args.format](comparison)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    both = _both(first, second)
    if shared is not None:
        note_observed(both, shared, asked=args.auto_names is not None)
    _finish(both)
    if args.format == "svg":
        note_renderer(args)
    return 0


def _jsonl(comparison: Comparison) -> str:
    return "".join(json.dumps(record) + "\n" for record in comparison_records(comparison))


_DIFF_TEXT: dict[str, Callable[[Comparison], str]] = {
    "table": comparison_table,
    "jsonl": _jsonl,
    "json": lambda comparison: json.dumps(comparison.to_dict(), indent=2) + "\n",
    "dot": diff_dot,
}
