"""``meshals policy check POLICIES.yaml FILE...``: AuthorizationPolicies evaluated on every
observed request, as a table per edge, JSON Lines (one decision per request) or JSON; exit
status 1 when any observed request would be denied.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container
from meshals.policy._check import ROOT_NAMESPACE, check
from meshals.policy._load import load_policies
from meshals.policy._report import (
    Decision,
    PolicyReport,
    Verdict,
    destination_name,
    source_name,
)
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._inputs import FILE_HELP, inputs
from ._run import _failed
from ._stderr import _PROG
from ._tables import _aligned

__all__ = ["add_parser", "run"]

#: ``policy check --format``.
CHECK_FORMATS = ("table", "jsonl", "json")


def add_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policy check``."""
    parser = subcommands.add_parser(
        "check",
        help="evaluate AuthorizationPolicies on every observed request",
        description="Evaluate Istio AuthorizationPolicies (YAML) on every request and"
        " connection the captures saw a sidecar receive, with Istio's semantics (selector,"
        " namespace and root namespace, CUSTOM, DENY, ALLOW, AUDIT). Per edge: allowed,"
        " denied and not-evaluable counts with the deciding policy and rule. Exit status 1"
        " when any observed request would be denied (with --fail-on-not-evaluable also when"
        " one is not evaluable); a warning when no policy or no request was checked.",
    )
    parser.add_argument("policies", metavar="POLICIES.yaml", help="the AuthorizationPolicies")
    parser.add_argument("files", nargs="+", metavar="FILE", help=FILE_HELP)
    parser.add_argument(
        "--format",
        choices=CHECK_FORMATS,
        help="table: per edge; jsonl: one decision per request; json: the summary and the"
        " edges (default: table, or what -o's extension names)",
    )
    parser.add_argument(
        "--snapshot",
        action="append",
        default=[],
        metavar="K8S.json",
        help="a Kubernetes snapshot (kubectl get pods,services,endpoints -A -o json) for pod"
        " labels and callers the captures do not describe; may be repeated",
    )
    parser.add_argument(
        "--root-namespace",
        default=ROOT_NAMESPACE,
        metavar="NS",
        help=f"Istio's root namespace (default: {ROOT_NAMESPACE})",
    )
    parser.add_argument(
        "--fail-on-not-evaluable",
        action="store_true",
        help="exit status 1 also when a request is not evaluable offline (CUSTOM, JWT, headers"
        " not logged, ...): a CI gate that trusts only what was decided",
    )
    parser.set_defaults(policy_run=run, format_command="policy check", what="the policy report")


def run(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``policy check``; 1 when a request would be denied, or with ``--fail-on-not-evaluable``
    is not evaluable (the output is still written)."""
    try:
        with open(args.policies, "rb") as file:
            policies = load_policies(file.read(), source=args.policies)
        workloads = KubernetesWorkloads.from_files(args.snapshot) if args.snapshot else None
        sources, _ = inputs(args.files)
        streams = []
        for source in sources:
            with source.open(container=container, strict=args.strict) as reader:
                streams.append(list(reader))
        report = check(policies, streams, workloads=workloads, root_namespace=args.root_namespace)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(render(report, args.format))
    skipped = ", ".join(f"{reason}: {count}" for reason, count in report.skipped.items())
    print(
        f"{_PROG}: {_plural(len(policies), 'policy', 'policies')},"
        f" {_plural(len(report.decisions), 'request', 'requests')}:"
        f" {report.allowed} allowed, {report.denied} denied,"
        f" {report.not_evaluable} not evaluable; entries left out: {skipped or 'none'}",
        file=sys.stderr,
    )
    # A gate that checked nothing passes: say so, loudly, rather than let it pass quietly.
    if not policies:
        print(f"{_PROG}: warning: {args.policies} holds no policy", file=sys.stderr)
    if not report.decisions:
        print(
            f"{_PROG}: warning: no request checked: no sidecar or waypoint received any in the"
            " captures",
            file=sys.stderr,
        )
    args.output_complete = True  # a denial is the answer, not a failure: -o's file is kept
    failed = report.denied or (args.fail_on_not_evaluable and report.not_evaluable)
    return 1 if failed else 0


def render(report: PolicyReport, fmt: str) -> str:
    """The report as a table, JSON Lines (one decision per request) or JSON."""
    if fmt == "jsonl":
        return "".join(json.dumps(decision_record(d)) + "\n" for d in report.decisions)
    if fmt == "json":
        return json.dumps(report_record(report), indent=2) + "\n"
    return _table(report)


def decision_record(decision: Decision) -> dict[str, object]:
    """One decision as a JSON object: where the request was, what it was, the verdict."""
    request = decision.request
    return {
        "file": request.file,
        "message": request.message_index,
        "entry": request.entry_index,
        "source": source_name(request),
        "destination": destination_name(request),
        "source_principal": request.source_principal,
        "source_ip": request.source_ip,
        "destination_port": request.destination_port,
        "protocol": "tcp" if request.tcp else "http",
        "method": request.method,
        "host": request.host,
        "path": request.path,
        "verdict": decision.verdict.value,
        "policy": decision.policy,
        "rule": decision.rule,
        "reason": decision.reason,
        "audited": list(decision.audited),
    }


def report_record(report: PolicyReport) -> dict[str, object]:
    """The summary and the edges as one JSON object."""
    return {
        "allowed": report.allowed,
        "denied": report.denied,
        "not_evaluable": report.not_evaluable,
        "skipped": dict(report.skipped),
        "edges": [
            {
                "source": edge.source,
                "destination": edge.destination,
                "allowed": edge.allowed,
                "denied": edge.denied,
                "not_evaluable": edge.not_evaluable,
                "decided_by": [
                    {
                        "verdict": verdict.value,
                        "policy": policy,
                        "rule": rule,
                        "reason": reason,
                        "requests": count,
                    }
                    for verdict, policy, rule, reason, count in edge.deciders
                ],
            }
            for edge in report.edges()
        ],
    }


def _table(report: PolicyReport) -> str:
    if not report.decisions:
        return "(no requests: no sidecar or waypoint received any in the captures)\n"
    rows: list[tuple[str, ...]] = [
        ("DESTINATION", "SOURCE", "ALLOWED", "DENIED", "NOT EVALUABLE", "DECIDED BY")
    ]
    for edge in report.edges():
        deciders = [
            _decided(count, verdict, reason)
            for verdict, _policy, _rule, reason, count in edge.deciders
        ]
        for index, decider in enumerate(deciders):
            first = index == 0
            rows.append(
                (
                    edge.destination if first else "",
                    edge.source if first else "",
                    str(edge.allowed) if first else "",
                    str(edge.denied) if first else "",
                    str(edge.not_evaluable) if first else "",
                    decider,
                )
            )
    return _aligned(rows, frozenset({2, 3, 4}))


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _decided(count: int, verdict: Verdict, reason: str) -> str:
    """``3 allowed by ALLOW ns/name rule 0``; ``1 denied: no ALLOW policy matched``."""
    if reason.startswith(verdict.value + " "):
        return f"{count} {reason}"
    return f"{count} {verdict.value}: {reason}"
