"""The ``meshals`` command's arguments: the parser, the options every analysing command shares
(input, naming workloads, analysis), ``--jobs``' value, and the usage checks the parser cannot
make itself.
"""

from __future__ import annotations

import argparse
import os

import meshals
from meshals import examples
from meshals._errors import MeshalsError
from meshals.aggregate._windows import parse_window
from meshals.capture._detect import Container
from meshals.mesh._chain import ANALYZERS
from meshals.model._metrics import K8S_MESH
from meshals.model._role import Role
from meshals.output._records import STATS_SCOPES

from ._formats import FORMATS, STATS_FORMATS
from ._stderr import _PROG

__all__: list[str] = []


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshals`` command."""
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Offline analysis of Envoy Access Log Service (ALS) messages."
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {meshals.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="show the messages and entries of ALS capture files",
        description="Show the container, messages and entries of ALS capture files.",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE", help="a capture file")
    inspect.add_argument(
        "--json", action="store_true", help="print one JSON object per entry (JSON Lines)"
    )
    inspect.add_argument(
        "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
    )
    inspect.add_argument(
        "--container",
        choices=[container.value for container in Container],
        help="the container of every FILE, instead of detecting it",
    )
    _add_analysis_commands(commands)
    return parser


def _analysis_options() -> argparse.ArgumentParser:
    """The input and analysis options every analysing command shares (a parent parser)."""
    options = argparse.ArgumentParser(add_help=False)
    inputs = options.add_argument_group("input (FILEs or --example)")
    inputs.add_argument("files", nargs="*", metavar="FILE", help="a capture file (one stream)")
    inputs.add_argument(
        "--example",
        choices=examples.names(),
        help="analyse a bundled example (real Envoy recordings) instead of FILEs; its resolver"
        " is used unless --resolver or --k8s-snapshot is given",
    )
    inputs.add_argument(
        "--container",
        choices=[container.value for container in Container],
        help="the container of every FILE, instead of detecting it",
    )
    inputs.add_argument(
        "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
    )
    names = options.add_argument_group("naming workloads (default: everything UNKNOWN)")
    names.add_argument(
        "--resolver",
        metavar="STATIC.json",
        help='a static table {"IP" or "IP:port": {"service": ..., "instance": ...}}',
    )
    names.add_argument(
        "--k8s-snapshot",
        action="append",
        default=[],
        metavar="FILE",
        help="a Kubernetes snapshot (kubectl get pods,services,endpoints -A -o json);"
        " repeat to merge several; asked after --resolver",
    )
    names.add_argument(
        "--service-rule",
        metavar="TEMPLATE",
        help="the snapshot's service-name rule, e.g. '${pod.metadata.labels.app}'",
    )
    names.add_argument(
        "--instance-rule",
        metavar="TEMPLATE",
        help="the snapshot's instance-name rule, e.g. '${pod.metadata.name}'",
    )
    analysis = options.add_argument_group("analysis")
    analysis.add_argument(
        "--analyzer",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"the analyzers to run, in order ({', '.join(ANALYZERS)}; default {K8S_MESH})",
    )
    analysis.add_argument(
        "--reidentify",
        action="store_true",
        help="take every identifier a stream carries (collectors multiplexing many Envoys)",
    )
    analysis.add_argument(
        "--strip-query", action="store_true", help="drop the query string from endpoints"
    )
    analysis.add_argument(
        "--role",
        choices=[role.value for role in Role if role is not Role.NONE],
        help="the role of every Envoy, instead of reading it from Istio's node ids",
    )
    analysis.add_argument(
        "--jobs",
        type=_job_count,
        default=1,
        metavar="N",
        help="analyse up to N files at once, in worker processes (0: one per CPU; default 1);"
        " the output is the same, and one file (one stream) is never split",
    )
    return options


def _job_count(text: str) -> int:
    """``--jobs``' value: a number of processes, 0 for one per CPU."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one per CPU) or more, not {count}")
    return count


def _add_analysis_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shared = [_analysis_options()]
    summary = " Prints a summary of the entries read, analyzed and skipped on stderr."
    analyze_parser = commands.add_parser(
        "analyze",
        parents=shared,
        help="turn ALS capture files into service-mesh metrics",
        description="Turn ALS capture files into service-mesh metrics, one stream per file, "
        "with SkyWalking's k8s-mesh rules. Prints the metrics on stdout: jsonl, csv and "
        "skywalking-json as they are made (in constant memory; after an error, what came "
        "before it stays printed), the table at the end." + summary,
    )
    analyze_parser.add_argument(
        "--format", choices=list(FORMATS), default="table", help="the output (default: table)"
    )
    graph_parser = commands.add_parser(
        "graph",
        parents=shared,
        help="the service graph: a table, DOT, Mermaid or SVG",
        description="Build the service graph (services, calls between them, health). "
        "--format table prints a table of services and edges and, with -o or --example, "
        "also writes the picture as SVG (default <example>.svg). dot, mermaid and svg write "
        "the graph to -o or stdout." + summary,
    )
    graph_parser.add_argument(
        "--format",
        choices=("table", "dot", "mermaid", "svg"),
        default="table",
        help="the output (default: table)",
    )
    graph_parser.add_argument("-o", "--output", metavar="PATH", help="write the graph here")
    graph_parser.add_argument(
        "--renderer",
        choices=("auto", "graphviz", "builtin"),
        default="auto",
        help="how SVG is drawn: Graphviz' dot, meshals' own layout, or dot when installed",
    )
    stats_parser = commands.add_parser(
        "stats",
        parents=shared,
        help="RED statistics per service, instance, endpoint or edge",
        description="Requests, errors and latency percentiles of the calls, each counted once, "
        "grouped by the called service, instance or endpoint, or by edge; optionally per time "
        "window." + summary,
    )
    stats_parser.add_argument(
        "--by", choices=STATS_SCOPES, default="service", help="the grouping (default: service)"
    )
    stats_parser.add_argument(
        "--window", metavar="LENGTH", help="per time window, e.g. 30s, 1m, 5m, 1h (UTC-aligned)"
    )
    stats_parser.add_argument(
        "--format", choices=STATS_FORMATS, default="table", help="the output (default: table)"
    )
    metrics_parser = commands.add_parser(
        "metrics",
        parents=shared,
        help="Istio's standard metrics in Prometheus' text format",
        description="Istio's standard metrics (istio_requests_total, ...) computed from the "
        "calls, in Prometheus' text exposition format (needs the prometheus extra)." + summary,
    )
    metrics_parser.add_argument(
        "--format", choices=("prometheus",), default="prometheus", help="the output"
    )
    for command_parser in (analyze_parser, graph_parser, stats_parser, metrics_parser):
        command_parser.set_defaults(command_parser=command_parser)  # for usage errors later


def _check_analysis_args(args: argparse.Namespace) -> None:
    """Usage errors the parser cannot find itself (exit status 2)."""
    error = args.command_parser.error
    if bool(args.files) == bool(args.example):
        error("give capture FILEs or --example NAME (not both)")
    if (args.service_rule or args.instance_rule) and not args.k8s_snapshot:
        error("--service-rule and --instance-rule need --k8s-snapshot")
    names = [name.strip() for value in args.analyzer for name in value.split(",")]
    unknown = [name for name in names if name not in ANALYZERS]
    if unknown:
        error(f"unknown analyzer {unknown[0]!r} (choose from {', '.join(ANALYZERS)})")
    if len(set(names)) != len(names):
        error("an analyzer is named twice in --analyzer")
    args.analyzers = tuple(names) or (K8S_MESH,)
    args.jobs = args.jobs or os.cpu_count() or 1
    if args.command == "stats" and args.window is not None:
        try:
            args.window_ns = parse_window(args.window)
        except MeshalsError as exc:
            error(f"--window: {exc}")
    else:
        args.window_ns = None
