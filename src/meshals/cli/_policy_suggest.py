"""``meshals policy suggest``: the ALLOW AuthorizationPolicies that admit exactly the observed
traffic, as YAML on stdout or ``-o``'s file; what they leave out as warnings on stderr.

The policies are :func:`meshals.policy.suggest`'s and the YAML :func:`render_policies`'
(comments included); stderr gets one warning per caller without a principal (with what would
admit it) and per request left out, then how many entries were no request a policy sees.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Final, TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.policy._render import (
    admission,
    caller_summary,
    one_line,
    render_policies,
    waypoint_lines,
)
from meshals.policy._suggest import Suggestion, suggest
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._inputs import FILE_HELP, inputs, nothing_read
from ._run import _failed
from ._stderr import _PROG

__all__ = ["add_parser", "run"]

#: ``policy suggest --format``.
SUGGEST_FORMATS: Final = ("yaml",)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``suggest`` to the ``policy`` command's subcommands."""
    parser = subparsers.add_parser(
        "suggest",
        help="ALLOW policies that admit exactly the observed traffic",
        description="Suggest one security.istio.io/v1 AuthorizationPolicy (action ALLOW) per"
        " destination workload of the sidecar-inbound entries (a waypoint takes only targetRefs"
        " policies: its requests are counted, not suggested for): selected by its"
        " labels (app, and version where app alone would select another workload seen), with"
        " rules that admit exactly the principals, methods, paths and ports observed. Callers"
        " without a principal (no mutual TLS) are not admitted: the YAML's comments and"
        " stderr list them, with what would admit them. A capture shows what happened, not"
        " what must be allowed: review the policies, then hold them against the capture with"
        " 'meshals policy check'.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help=FILE_HELP)
    parser.add_argument(
        "--format",
        choices=SUGGEST_FORMATS,
        help="the output (the only one: yaml, Kubernetes resources)",
    )
    parser.add_argument(
        "--paths",
        choices=("exact", "template"),
        default="exact",
        help="exact: each path as observed, without its query (default); template: identifier"
        " segments (numbers, UUIDs, long hex) folded into Istio's one-segment template {*}"
        " (Istio 1.22 or later)",
    )
    parser.add_argument(
        "--snapshot",
        action="append",
        default=[],
        metavar="K8S.json",
        help="a Kubernetes snapshot (kubectl get pods,services,endpoints -A -o json) for the"
        " labels and callers node metadata does not name; may be repeated",
    )
    parser.set_defaults(policy_run=run, format_command="policy suggest", what="the policies")


def run(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``policy suggest``: the YAML on *out*; 1 when an input or the snapshot failed."""
    try:
        workloads = KubernetesWorkloads.from_files(args.snapshot) if args.snapshot else None
        sources, notes = inputs(args.files)
        with contextlib.ExitStack() as stack:
            readers = [
                stack.enter_context(source.open(container=container, strict=args.strict))
                for source in sources
            ]
            suggestion = suggest(readers, workloads=workloads, paths=args.paths)
            notes.extend(diagnostic for reader in readers for diagnostic in reader.diagnostics)
            notes.extend(note for reader in readers if (note := nothing_read(reader)))
        text = render_policies(suggestion)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    for note in notes:
        _warn(str(note))
    _report(suggestion)
    return 0


def _warn(text: str) -> None:
    # The capture's names and paths are in it: one line, whatever they hold.
    print(f"{_PROG}: warning: {one_line(text)}", file=sys.stderr)


def _report(suggestion: Suggestion) -> None:
    """What the policies leave out, one warning a line; then what was no request at all."""
    for line in waypoint_lines(suggestion):
        _warn(line)
    for policy in suggestion.policies:
        if not policy.rules:
            _warn(
                f"{policy.key} admits no request (no caller presented a principal): applied,"
                " it denies every request to the workloads it selects"
            )
    for caller in suggestion.unnamed_callers:
        _warn(f"not admitted, no principal: {caller_summary(caller)}; {admission(caller)}")
    for item in suggestion.left_out:
        noun = "connection" if item.operation == "TCP" else "request"
        _warn(
            f"not admitted: {item.destination}: {item.count} {noun}(s) {item.operation} from"
            f" {item.principal or 'no principal'}: {item.reason}"
        )
    if suggestion.skipped:
        counts = ", ".join(f"{count} {reason}" for reason, count in suggestion.skipped.items())
        print(f"{_PROG}: entries no policy sees: {counts}", file=sys.stderr)
