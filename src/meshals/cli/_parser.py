"""The ``meshals`` command's arguments: the parser, the options every analysing command shares
(input, naming workloads, analysis), ``--jobs``' value, and the usage checks the parser cannot
make itself.
"""

from __future__ import annotations

import argparse
import os
from typing import Final

import meshals
from meshals import examples
from meshals._errors import MeshalsError
from meshals.aggregate._windows import parse_window
from meshals.capture._detect import Container
from meshals.mesh._chain import ANALYZERS
from meshals.mesh._mx_mesh import MX_MESH
from meshals.mesh._semantics import SEMANTICS
from meshals.model._metrics import K8S_MESH
from meshals.model._role import Role
from meshals.output._records import STATS_SCOPES

from ._diff import check_sides
from ._formats import (
    DIFF_FORMATS,
    FORMATS,
    GRAPH_FORMATS,
    IDENTITIES_FORMATS,
    INSPECT_FORMATS,
    STATS_FORMATS,
    extensions_help,
    format_named_by,
)
from ._inputs import FILE_HELP, STDIN_ARGUMENT, stdin_count
from ._policy import add_policy_command
from ._stderr import _PROG
from ._times import SINCE_HELP, UNTIL_HELP, TimeArgument, parse_time

__all__: list[str] = []


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshals`` command."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Offline analysis of Envoy Access Log Service (ALS) messages.",
        epilog="Exit status: 0 success, 1 an input failed, 2 a usage error, 130 interrupted"
        " (Ctrl-C), 141 stdout closed by its reader (as SIGPIPE ends other tools, e.g. in"
        " '| head').",
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {meshals.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="show the messages and entries of ALS capture files",
        description="Show the container, messages and entries of ALS capture files.",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE", help=FILE_HELP)
    inspect.add_argument(
        "--format",
        choices=INSPECT_FORMATS,
        help="text: each message and a line per entry; jsonl: one JSON object per entry"
        " (default: text, or what -o's extension names)",
    )
    inspect.add_argument(
        "--json",
        action="store_const",
        const="jsonl",
        dest="format",
        help="the same as --format jsonl",
    )
    _add_output_option(inspect, "inspect")
    inspect.add_argument(
        "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
    )
    inspect.add_argument(
        "--container",
        choices=[container.value for container in Container],
        help="the container of every FILE, instead of detecting it",
    )
    inspect.set_defaults(command_parser=inspect)  # for usage errors later
    _add_analysis_commands(commands)
    _add_names_command(commands)
    add_policy_command(commands)
    return parser


def _add_names_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    names = commands.add_parser(
        "names",
        help="the workloads the captures name themselves, as a --resolver table",
        description="Name the workloads the captures name themselves (each Envoy's node id"
        " and metadata, Istio's peer metadata in the entries) and write them as the static"
        " table --resolver reads (JSON: IP -> service, instance, namespace, tags), to review"
        " and edit. The same in any file order; conflicts (one IP named as two workloads,"
        " one workload as two services) are warnings on stderr, and such an IP is left out.",
    )
    names.add_argument(
        "files", nargs="+", metavar="FILE", help=f"{FILE_HELP}; each file one stream"
    )
    names.add_argument("--format", choices=("json",), help="the output (the only one: json)")
    _add_output_option(names, "names")
    _add_reading_options(names)
    names.add_argument(
        "--reidentify",
        action="store_true",
        help="take every identifier a stream carries (collectors multiplexing many Envoys)",
    )
    names.add_argument(
        "--jobs",
        type=_job_count,
        default=1,
        metavar="N",
        help="read the FILEs in N processes (0: one per CPU); the output is the same",
    )
    names.add_argument(
        "--quiet", action="store_true", help="no summary of the run; warnings are still printed"
    )
    names.set_defaults(command_parser=names)


def _add_output_option(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write the output to PATH instead of stdout ('-': stdout), only if the command"
        " succeeds: to a temporary file beside it, then renamed. Without --format, PATH's"
        f" extension names the format ({extensions_help(command)}; without an extension, the"
        " default format)",
    )


def _add_reading_options(group: argparse._ActionsContainer) -> None:
    """``--container`` and ``--strict``: how the FILEs are read."""
    group.add_argument(
        "--container",
        choices=[container.value for container in Container],
        help="the container of every FILE, instead of detecting it",
    )
    group.add_argument(
        "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
    )


def _analysis_options() -> argparse.ArgumentParser:
    """The input and analysis options every analysing command shares (a parent parser)."""
    options = argparse.ArgumentParser(add_help=False)
    inputs = options.add_argument_group("input (FILEs or --example)")
    inputs.add_argument(
        "files", nargs="*", metavar="FILE", help=f"{FILE_HELP}; each file one stream"
    )
    inputs.add_argument(
        "--example",
        choices=examples.names(),
        help="analyse a bundled example (real Envoy recordings) instead of FILEs; its resolver"
        " is used unless --resolver or --k8s-snapshot is given",
    )
    _add_reading_options(inputs)
    names = options.add_argument_group(
        "naming workloads (default: the names the captures give themselves, --auto-names)"
    )
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
        "--auto-names",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also name the workloads the captures name themselves (their Envoys' node ids and"
        " metadata, Istio's peer metadata; a first pass over the FILEs), asked last; the"
        " default unless --resolver, --k8s-snapshot or --example is given"
        " (--no-auto-names: leave unnamed workloads UNKNOWN)",
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
    names.add_argument(
        "--mapping",
        metavar="FILE",
        help="how mx-mesh names workloads from Istio metadata: SkyWalking's"
        " metadata-service-mapping.yaml (serviceName, serviceInstanceName; or JSON);"
        " default SkyWalking's rules. --service-rule and --instance-rule are the snapshot's,"
        " for k8s-mesh",
    )
    times = options.add_argument_group(
        "time range (by each entry's start time; half-open: since <= start < until)"
    )
    times.add_argument("--since", type=_time, metavar="TIME", help=SINCE_HELP)
    times.add_argument("--until", type=_time, metavar="TIME", help=UNTIL_HELP)
    analysis = options.add_argument_group("analysis")
    analysis.add_argument(
        "--analyzer",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"the analyzers to run, in order ({', '.join(ANALYZERS)}; default {K8S_MESH})",
    )
    analysis.add_argument(
        "--semantics",
        choices=SEMANTICS,
        default="meshals",
        help="whose rules: meshals' own (default), or skywalking for exactly the metrics"
        " Apache SkyWalking's ALS receiver computes, its mistakes included (a --k8s-snapshot"
        " then counts the Endpoints' ready addresses only, as SkyWalking does)",
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
    messages = options.add_argument_group("messages on stderr")
    messages.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar, no summary of the run and no notes of files written;"
        " warnings and errors are still printed",
    )
    return options


def _time(text: str) -> TimeArgument:
    """``--since``'s and ``--until``'s value."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        "before it stays printed), the table at the end; otlp and otlp-json write each call as "
        "an OpenTelemetry span, linked into one trace per request (by x-request-id), at the "
        "end." + summary,
    )
    analyze_parser.add_argument("--format", choices=FORMATS, help=_FORMAT_HELP)
    graph_parser = commands.add_parser(
        "graph",
        parents=shared,
        help="the service graph: a table, DOT, Mermaid, SVG or JSON",
        description="Build the service graph (services, calls between them, health) and "
        "print it as a table of services and edges, DOT, Mermaid, SVG or JSON (nodes and "
        "edges with their statistics, for other tools), on stdout or to -o "
        "PATH (e.g. -o map.svg writes the picture, and prints nothing on stdout). With "
        "--example and the table on stdout, the picture is also written to <example>.svg."
        + summary,
    )
    graph_parser.add_argument("--format", choices=GRAPH_FORMATS, help=_FORMAT_HELP)
    _add_renderer_option(graph_parser)
    stats_parser = commands.add_parser(
        "stats",
        parents=shared,
        help="RED statistics per service, instance, endpoint or edge",
        description="Requests, errors and latency percentiles of the calls, each counted once, "
        "grouped by the called service, instance or endpoint, or by edge; optionally per time "
        "window; or, with --format otlp or otlp-json, the calls' duration histograms as "
        "OpenTelemetry metrics (semantic conventions' names and attributes; not --by's groups)."
        + summary,
    )
    stats_parser.add_argument(
        "--by", choices=STATS_SCOPES, default="service", help="the grouping (default: service)"
    )
    stats_parser.add_argument(
        "--window", metavar="LENGTH", help="per time window, e.g. 30s, 1m, 5m, 1h (UTC-aligned)"
    )
    stats_parser.add_argument("--format", choices=STATS_FORMATS, help=_FORMAT_HELP)
    metrics_parser = commands.add_parser(
        "metrics",
        parents=shared,
        help="Istio's standard metrics in Prometheus' text format",
        description="Istio's standard metrics (istio_requests_total, ...) computed from the "
        "entries by Istio's rules, in Prometheus' text exposition format (needs the prometheus "
        "extra). Workloads come from the proxies' and peers' Istio metadata, else from "
        "--k8s-snapshot by IP; --resolver, --service-rule and --mapping do not change them."
        + summary,
    )
    metrics_parser.add_argument(
        "--format", choices=("prometheus",), help="the output (the only one: prometheus)"
    )
    identities_parser = commands.add_parser(
        "identities",
        parents=shared,
        help="the SPIFFE ids each workload presented, and their conflicts",
        description="List each workload (service and instance, as the resolver names them) "
        "with the SPIFFE ids it presented: as a server its local certificate, as a client the "
        "peer certificate its servers saw (Envoy logs the TLS of the connections it accepts, "
        "so server-side entries count), with the calls and where each was first seen. A "
        "workload with several ids, or an id of several workloads, is a conflict: a warning "
        "on stderr, and in the JSON output." + summary,
    )
    identities_parser.add_argument("--format", choices=IDENTITIES_FORMATS, help=_FORMAT_HELP)
    diff_parser = _add_diff_command(commands, shared, summary)
    command_parsers = {
        "analyze": analyze_parser,
        "graph": graph_parser,
        "stats": stats_parser,
        "metrics": metrics_parser,
        "identities": identities_parser,
        "diff": diff_parser,
    }
    for command, command_parser in command_parsers.items():
        _add_output_option(command_parser, command)
        command_parser.set_defaults(command_parser=command_parser)  # for usage errors later


def _add_renderer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--renderer",
        choices=("auto", "graphviz", "builtin"),
        default="auto",
        help="how SVG is drawn: Graphviz' dot, meshals' own layout, or dot when installed",
    )


def _add_diff_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    shared: list[argparse.ArgumentParser],
    summary: str,
) -> argparse.ArgumentParser:
    diff_parser = commands.add_parser(
        "diff",
        parents=shared,
        usage=f"{_PROG} diff [options] BEFORE... -- AFTER...",
        help="what changed between two captures: BEFORE... -- AFTER...",
        description="Compare two captures (each FILE one stream, both sides analysed alike):"
        " services and edges that appeared or vanished, and per edge in both the request rate"
        " (over each side's own period), the 4xx and 5xx shares with a pooled two-proportion"
        " z-test (a regression: the share rose with p < --alpha), and latency p50/p90/p99."
        " The FILEs before -- are BEFORE, those after it AFTER; options may stand on either"
        " side." + summary,
    )
    diff_parser.add_argument(
        "--after", nargs="+", default=[], metavar="FILE", help="the AFTER files (what -- starts)"
    )
    diff_parser.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="the significance level of a regression (default: 0.05)",
    )
    diff_parser.add_argument("--format", choices=DIFF_FORMATS, help=_FORMAT_HELP)
    _add_renderer_option(diff_parser)
    return diff_parser


_FORMAT_HELP = "the output (default: table, or what -o's extension names)"

#: Each command's output format without --format, and without -o or an extension to name one.
DEFAULT_FORMATS: Final = {
    "inspect": "text",
    "analyze": "table",
    "graph": "table",
    "stats": "table",
    "metrics": "prometheus",
    "identities": "table",
    "diff": "table",
    "names": "json",
    "policy check": "table",
    "policy suggest": "yaml",
}


def _check_output_args(args: argparse.Namespace) -> None:
    """The output format: ``--format``'s, else what ``-o``'s extension names, else the default.

    An extension that names no format of the command is a usage error (exit status 2).
    """
    command = getattr(args, "format_command", args.command)  # "policy check": a subcommand's
    if args.format is None and args.output is not None:
        try:
            args.format = format_named_by(command, args.output)
        except ValueError as exc:
            args.command_parser.error(f"-o {args.output}: {exc}")
    if args.format is None:
        args.format = DEFAULT_FORMATS[command]


def _check_inputs(args: argparse.Namespace) -> None:
    """Standard input can be read once: ``-`` may stand among the FILEs once (exit status 2)."""
    if stdin_count(args.files) > 1:
        args.command_parser.error(f"{STDIN_ARGUMENT} (standard input) can be given once")


def _check_time_range(args: argparse.Namespace) -> None:
    """A range that is empty whatever the capture (exit status 2): until not after since."""
    since: TimeArgument | None = args.since
    until: TimeArgument | None = args.until
    if since is None or until is None or since.relative != until.relative:
        return  # one absolute and one relative: known once the capture's end is
    end = 0  # relative forms compare the same wherever the capture ends
    if until.at(end) <= since.at(end):
        args.command_parser.error(
            f"--until {until.text} is not after --since {since.text}: the range is empty"
        )


def _check_names_args(args: argparse.Namespace) -> None:
    """``names``' usage errors (exit status 2)."""
    _check_inputs(args)
    args.jobs = args.jobs or os.cpu_count() or 1


def _check_analysis_args(args: argparse.Namespace) -> None:
    """Usage errors the parser cannot find itself (exit status 2)."""
    error = args.command_parser.error
    if args.command == "diff":
        check_sides(args)
    if bool(args.files) == bool(args.example):
        error("give capture FILEs or --example NAME (not both)")
    _check_inputs(args)
    if (args.service_rule or args.instance_rule) and not args.k8s_snapshot:
        error("--service-rule and --instance-rule need --k8s-snapshot")
    names = [name.strip() for value in args.analyzer for name in value.split(",")]
    unknown = [name for name in names if name not in ANALYZERS]
    if unknown:
        error(f"unknown analyzer {unknown[0]!r} (choose from {', '.join(ANALYZERS)})")
    if len(set(names)) != len(names):
        error("an analyzer is named twice in --analyzer")
    args.analyzers = tuple(names) or (K8S_MESH,)
    if args.mapping is not None and MX_MESH not in args.analyzers:
        # The rules would go unused: the k8s-mesh analyzer names by address (the snapshot's
        # --service-rule and --instance-rule), never by metadata.
        error("--mapping names workloads for the mx-mesh analyzer: add --analyzer mx-mesh")
    _check_time_range(args)
    args.jobs = args.jobs or os.cpu_count() or 1
    if args.command == "stats" and args.window is not None:
        try:
            args.window_ns = parse_window(args.window)
        except MeshalsError as exc:
            error(f"--window: {exc}")
    else:
        args.window_ns = None
