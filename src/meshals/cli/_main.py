"""The ``meshals`` command line: argument parsing, file reading and rendering, nothing more.

``meshals inspect FILE...`` prints, per file, the container, each message's identifier and
the role its node id implies, and a one-line summary per entry (``--json``: one JSON object
per entry). Each file's output is buffered: a file that fails prints nothing to stdout, only
``meshals: error: <where>: <reason>`` to stderr, and the exit status is 1.

The analysing commands share their input and analysis options (one parent parser): capture
FILEs (each file one stream) or ``--example NAME`` (a bundled recording, with its resolver),
``--resolver``, ``--k8s-snapshot``, ``--analyzer``... Each analyses everything first, then
prints at once; the first failure prints ``meshals: error: <where>: <reason>``, nothing on
stdout, and the exit status is 1. After the output, warnings and a summary of the entries
read, analyzed and skipped (by reason), and of what lenient reading dropped, go to stderr;
during the run, a progress line when stderr is a terminal. ``--jobs N`` analyses files in N
worker processes; each file's summary (its metrics, graph or statistics) comes back and is
merged in file order, so the output is the same as with one process.

- ``meshals analyze``: the metrics as a table, JSON Lines, CSV or SkyWalking JSON.
- ``meshals graph``: the service graph as a table (and the picture, SVG, with ``-o`` or
  ``--example``), DOT, Mermaid or SVG.
- ``meshals stats``: RED statistics by service, instance, endpoint or edge, optionally per
  time window, as a table, JSON Lines or CSV.
- ``meshals metrics``: Istio's standard metrics in Prometheus' text format.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from typing import Final, Generic, TextIO, TypeVar

import attrs

from meshals import examples
from meshals._errors import Diagnostic, DiagnosticKind, MeshalsError
from meshals.aggregate._health import TopologyHealth, topology_health
from meshals.aggregate._red import RedAccumulator, RedStats
from meshals.aggregate._topology import Topology, TopologyAccumulator, topology
from meshals.aggregate._windows import parse_window, window_start_ns
from meshals.capture._containers import Container, read
from meshals.mesh._accounting import Accounting, SkipReason, dropped_by
from meshals.mesh._analysis import ANALYZERS, analyze
from meshals.mesh._roles import fixed_role, role_of
from meshals.model._als import (
    AccessLogCommon,
    Address,
    AlsMessage,
    EnvoyInternalAddress,
    HttpEntry,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    TcpEntry,
)
from meshals.model._metrics import K8S_MESH, ServiceMeshMetric
from meshals.model._role import Role
from meshals.output._graph_formats import SvgRenderer, to_dot, to_mermaid, to_svg
from meshals.output._istio_metrics import istio_metrics
from meshals.output._jsonout import to_json
from meshals.output._records import STATS_SCOPES, edge_records, red_records
from meshals.resolve._kubernetes import KubernetesNaming, KubernetesResolver
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import ChainResolver, StaticResolver

from ._formats import FORMATS, STATS_FORMATS, render, render_stats
from ._jobs import in_order
from ._progress import Progress
from ._tables import topology_table

__all__ = ["entrypoint", "main"]

_PROG = "meshals"
_EPOCH = datetime.datetime(1970, 1, 1)
_NANOS_PER_SECOND = 1_000_000_000
_NO_COMMON = AccessLogCommon()
_MISSING = "-"
_NO_ONE = StaticResolver({})  # knows no address


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshals`` command."""
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Offline analysis of Envoy Access Log Service (ALS) messages."
    )
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
        "with SkyWalking's k8s-mesh rules. Prints the metrics on stdout." + summary,
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


# --- one file ----------------------------------------------------------------------------------


@attrs.define
class _Stream:
    """What the stream's last identified message said: later messages carry no identifier."""

    node_id: str | None = None
    role: Role | None = None
    identified_at: int | None = None

    def update(self, message: AlsMessage, index: int) -> None:
        if message.identifier is not None:
            node = message.identifier.node
            self.node_id = "" if node is None else node.id
            self.role = role_of(self.node_id)
            self.identified_at = index


def _inspect_file(
    path: str, *, container: Container | None, strict: bool, as_json: bool, out: TextIO
) -> bool:
    """Print one file's report to *out*, or one error line to stderr; whether it succeeded."""
    try:
        lines, warnings = _render_file(path, container=container, strict=strict, as_json=as_json)
    except MeshalsError as exc:
        _error(str(exc))
        return False
    except OSError as exc:
        _error(f"{path}: {exc.strerror or exc}")
        return False
    out.writelines(line + "\n" for line in lines)
    _report_warnings(path, warnings)
    return True


def _render_file(
    path: str, *, container: Container | None, strict: bool, as_json: bool
) -> tuple[list[str], list[Diagnostic]]:
    """The output lines of one file and its warnings in input order, all held until the end."""
    render = _json_lines if as_json else _text_lines
    lines: list[str] = []
    warnings: list[Diagnostic] = []
    reported = 0  # of the reader's diagnostics: it adds one per skipped message, as it skips
    with read(path, container=container, strict=strict) as reader:
        stream = _Stream()
        for position, record in enumerate(reader):
            index = position if record.index is None else record.index
            warnings.extend(reader.diagnostics[reported:])
            reported = len(reader.diagnostics)
            if not isinstance(record, AlsMessage):  # an L4 log's connection, not ALS
                lines.append(_other_record_line(path, record, index, as_json=as_json))
                continue
            warnings.extend(record.diagnostics)
            stream.update(record, index)
            lines.extend(render(path, record, index, stream))
        warnings.extend(reader.diagnostics[reported:])
    if not as_json:
        detected = _MISSING if reader.container is None else reader.container.value
        lines.insert(0, f"{path}: container {detected}")
    return lines, warnings


def _other_record_line(path: str, record: object, index: int, *, as_json: bool) -> str:
    """A record that is not an ALS message (a connection of an L4 log), as one line."""
    kind = type(record).__name__
    if as_json:
        return json.dumps(
            {"file": path, "record_index": index, "kind": kind, "record": to_json(record)}
        )
    return f"record {index}: {kind} {json.dumps(to_json(record))}"


def _error(reason: str) -> None:
    print(f"{_PROG}: error: {reason}", file=sys.stderr)


def _report_warnings(path: str, warnings: Sequence[Diagnostic]) -> None:
    for warning in warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        print(f"{_PROG}: {path}: {len(warnings)} {noun}", file=sys.stderr)


# --- the analysing commands ---------------------------------------------------------------------


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


@attrs.define
class _Run:
    """What one run of an analysing command noticed, held until every file has been read."""

    files: int = 0
    warnings: list[Diagnostic] = attrs.Factory(list)
    accounts: list[Accounting] = attrs.Factory(list)
    unnamed: bool = False  # k8s-mesh ran without any resolver


FileSummary = TypeVar("FileSummary")


@attrs.frozen(kw_only=True)
class _FileResult(Generic[FileSummary]):
    """One file's analysis as a worker process sends it back: small and picklable.

    Attributes:
        summary: what the command keeps of the file's metrics (the metrics, a graph...).
        warnings: the file's diagnostics: reading's, decoding's, then the analysis'.
        accounting: the file's accounting.
        entries: the entries (and L4 connections) read, for the progress line.
    """

    summary: FileSummary
    warnings: tuple[Diagnostic, ...]
    accounting: Accounting
    entries: int


@attrs.frozen(kw_only=True)
class _FileAnalysis(Generic[FileSummary]):
    """How each file of a run is read, analysed and summarised, the same in every process.

    Built from the options once; picklable (no argparse inside), so worker processes get a
    copy and load the resolver themselves (:meth:`resolver`, once per process).
    """

    container: Container | None
    strict: bool
    role: Role | None
    reidentify: bool
    strip_query: bool
    analyzers: tuple[str, ...]
    resolver_table: str | None
    k8s_snapshots: tuple[str, ...]
    service_rule: str | None
    instance_rule: str | None
    example: str | None
    summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary]

    @classmethod
    def of(
        cls,
        args: argparse.Namespace,
        *,
        container: Container | None,
        summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary],
    ) -> _FileAnalysis[FileSummary]:
        return cls(
            container=container,
            strict=args.strict,
            role=None if args.role is None else Role(args.role),
            reidentify=args.reidentify,
            strip_query=args.strip_query,
            analyzers=args.analyzers,
            resolver_table=args.resolver,
            k8s_snapshots=tuple(args.k8s_snapshot),
            service_rule=args.service_rule,
            instance_rule=args.instance_rule,
            example=args.example,
            summarise=summarise,
        )

    @property
    def unnamed(self) -> bool:
        """Whether k8s-mesh runs without any resolver: every workload is UNKNOWN."""
        named = self.resolver_table is not None or self.k8s_snapshots or self.example
        return not named and K8S_MESH in self.analyzers

    def resolver(self) -> Resolver | None:
        """The resolvers the options name, the static table first; the example's; or None.

        Raises:
            MeshalsError, OSError: a table or snapshot cannot be read.
        """
        resolvers: list[Resolver] = []
        if self.resolver_table is not None:
            resolvers.append(StaticResolver.from_file(self.resolver_table))
        if self.k8s_snapshots:
            rules = {"service_rule": self.service_rule, "instance_rule": self.instance_rule}
            naming = KubernetesNaming(**{key: rule for key, rule in rules.items() if rule})
            resolvers.append(KubernetesResolver.from_files(self.k8s_snapshots, naming=naming))
        if not resolvers and self.example:
            resolvers.append(examples.example(self.example).resolver())
        if not resolvers:
            return _NO_ONE if K8S_MESH in self.analyzers else None  # all UNKNOWN
        return resolvers[0] if len(resolvers) == 1 else ChainResolver(*resolvers)

    def __call__(
        self,
        resolver: Resolver | None,
        path: str,
        *,
        on_entries: Callable[[int], None] | None = None,
    ) -> _FileResult[FileSummary]:
        """Analyse the file at *path* as one stream; *on_entries* counts entries as they come.

        Raises:
            MeshalsError, OSError: reading or analysing failed.
        """
        entries = 0

        def count(more: int) -> None:
            nonlocal entries
            entries += more
            if on_entries is not None:
                on_entries(more)

        message_warnings: list[Diagnostic] = []
        with read(path, container=self.container, strict=self.strict) as reader:
            analysis = analyze(
                _noting(reader, message_warnings, count),
                resolver=resolver,
                role_rule=None if self.role is None else fixed_role(self.role),
                reidentify=self.reidentify,
                endpoint_query="strip" if self.strip_query else "keep",
                analyzers=self.analyzers,
            )
            summary = self.summarise(analysis)
        return _FileResult(
            summary=summary,
            warnings=(*reader.diagnostics, *message_warnings, *analysis.diagnostics),
            # The analysis saw the reader's records through _noting, not the reader itself.
            accounting=analysis.accounting + dropped_by(reader.diagnostics),
            entries=entries,
        )


def _analyze_all(
    args: argparse.Namespace,
    *,
    container: Container | None,
    summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary],
    merge: Callable[[FileSummary], None],
) -> _Run:
    """Analyse every input (FILEs or the example's captures), each file one stream.

    Each file's metrics are summarised by *summarise* (in a worker process with ``--jobs``),
    and the summaries go to *merge* in file order, so the result does not depend on the
    number of processes. A progress line is drawn on a terminal stderr.

    Raises:
        MeshalsError, OSError: reading or analysing failed (nothing has been printed).
    """
    analysis = _FileAnalysis.of(args, container=container, summarise=summarise)
    run = _Run(unnamed=analysis.unnamed)
    with contextlib.ExitStack() as stack:
        paths = list(args.files)
        if args.example:
            paths = [
                os.fspath(stack.enter_context(resources.as_file(capture)))
                for capture in examples.example(args.example).captures()
            ]
        progress = stack.enter_context(Progress(sys.stderr, files=len(paths), clock=time.monotonic))
        parallel = args.jobs > 1 and len(paths) > 1
        # Here, entries are counted as they are read; from workers, per file done.
        work = analysis if parallel else functools.partial(analysis, on_entries=progress.entries)
        results = in_order(
            work, paths, setup=analysis.resolver, jobs=args.jobs, preload=(__name__,)
        )
        for result in stack.enter_context(contextlib.closing(results)):
            if parallel:
                progress.entries(result.entries)
            progress.file_done()
            merge(result.summary)
            run.warnings.extend(result.warnings)
            run.accounts.append(result.accounting)
    run.files = len(paths)
    return run


def _noting(
    records: Iterable[object], sink: list[Diagnostic], count: Callable[[int], None]
) -> Iterator[object]:
    """*records*, their entries counted, collecting what lenient decoding tolerated into *sink*."""
    for record in records:
        if isinstance(record, AlsMessage):
            sink.extend(record.diagnostics)
            count(len(record.entries))
        else:  # one connection of an L4 log
            count(1)
        yield record


def _finish(run: _Run) -> None:
    """The warnings and the summary of a successful run, on stderr."""
    if run.unnamed:
        print(
            f"{_PROG}: warning: no --resolver or --k8s-snapshot: every workload is UNKNOWN",
            file=sys.stderr,
        )
    for warning in run.warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    dropped = _dropped(run.accounts)
    summary = _summary(run.accounts, run.files)
    print(f"{_PROG}: {summary}{f'; {dropped}' if dropped else ''}", file=sys.stderr)


def _failed(exc: Exception) -> int:
    if isinstance(exc, OSError) and not isinstance(exc, MeshalsError):
        _error(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc))
    else:
        _error(str(exc))
    return 1


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


def _graph(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``graph``: the service graph as a table (and a picture), DOT, Mermaid or SVG."""
    accumulator = TopologyAccumulator()
    try:
        run = _analyze_all(
            args, container=container, summarise=topology, merge=accumulator.add_topology
        )
        graph = accumulator.result()
        health = topology_health(graph)
        picture_path = args.output
        if args.format == "table" and picture_path is None and args.example:
            picture_path = f"{args.example}.svg"
        picture = None
        if args.format == "table":
            text = topology_table(graph, health)
            if picture_path is not None:
                picture = to_svg(graph, health=health, renderer=args.renderer)
        else:
            text = _GRAPH_TEXT[args.format](graph, health, args.renderer)
            if args.output is not None:
                picture, text = text, ""
        if picture is not None:
            with open(picture_path, "w", encoding="utf-8") as file:
                file.write(picture)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    if picture is not None:
        print(f"{_PROG}: wrote the service graph to {picture_path}", file=sys.stderr)
    return 0


_GRAPH_TEXT: dict[str, Callable[[Topology, TopologyHealth, SvgRenderer], str]] = {
    "dot": lambda graph, health, renderer: to_dot(graph, health=health),
    "mermaid": lambda graph, health, renderer: to_mermaid(graph, health=health),
    "svg": lambda graph, health, renderer: to_svg(graph, health=health, renderer=renderer),
}


@attrs.define
class _Span:
    """The earliest start and latest end of the calls seen: the period whole-run rates cover."""

    first_ns: int | None = None
    last_ns: int | None = None

    def add(self, metric: ServiceMeshMetric) -> None:
        start = metric.start_time_ns
        if start is None:
            return
        end = metric.end_time_ns
        self._cover(start, start if end is None else max(start, end))

    def add_span(self, other: _Span) -> None:
        if other.first_ns is not None and other.last_ns is not None:
            self._cover(other.first_ns, other.last_ns)

    def _cover(self, first_ns: int, last_ns: int) -> None:
        self.first_ns = first_ns if self.first_ns is None else min(self.first_ns, first_ns)
        self.last_ns = last_ns if self.last_ns is None else max(self.last_ns, last_ns)

    def seconds(self) -> float | None:
        if self.first_ns is None or self.last_ns is None or self.last_ns <= self.first_ns:
            return None
        return (self.last_ns - self.first_ns) / 1_000_000_000


_Windows = dict[int | None, Topology]  # one service graph per window start (None: no windows)


class _EdgeWindows:
    """One service graph per time window (or one for the whole input): edge statistics."""

    def __init__(self, window_ns: int | None) -> None:
        self.window_ns = window_ns
        self.graphs: dict[int | None, TopologyAccumulator] = {}
        self.left_out = 0  # metrics in no window: without a start time

    def _graph(self, start: int | None) -> TopologyAccumulator:
        graph = self.graphs.get(start)
        if graph is None:
            graph = self.graphs[start] = TopologyAccumulator()
        return graph

    def add(self, metric: ServiceMeshMetric) -> None:
        start: int | None = None
        if self.window_ns is not None:
            if metric.start_time_ns is None:
                self.left_out += 1
                return
            start = window_start_ns(metric.start_time_ns, self.window_ns)
        self._graph(start).add(metric)

    def add_windows(self, windows: _Windows) -> None:
        for start, graph in windows.items():
            self._graph(start).add_topology(graph)

    def result(self) -> _Windows:
        ordered = sorted(self.graphs.items(), key=lambda item: item[0] or 0)
        return {start: accumulator.result() for start, accumulator in ordered}

    def records(self, period_s: float | None) -> list[dict[str, object]]:
        records = edge_records(self.result(), window_ns=self.window_ns, period_s=period_s)
        # By edge first, then window, as the other groupings.
        return sorted(
            records,
            key=lambda r: (str(r["source"]), str(r["destination"]), r["window_start_ns"] or 0),
        )


@attrs.frozen
class _StatsPart:
    """``stats``' summary of some files: the groups and the time span of their calls."""

    groups: RedStats | _Windows
    span: _Span


class _Stats:
    """``stats``' groups (RED groups, or edges per window) and the span of every call."""

    def __init__(self, by: str, window_ns: int | None) -> None:
        self.span = _Span()
        self.groups: _EdgeWindows | RedAccumulator
        if by == "edge":
            self.groups = _EdgeWindows(window_ns)
        else:
            self.groups = RedAccumulator(by, window=window_ns)

    def add(self, metric: ServiceMeshMetric) -> None:
        self.span.add(metric)
        self.groups.add(metric)

    def add_part(self, part: _StatsPart) -> None:
        self.span.add_span(part.span)
        if isinstance(self.groups, _EdgeWindows):
            assert not isinstance(part.groups, RedStats), "summarised with the same grouping"
            self.groups.add_windows(part.groups)
        else:
            assert isinstance(part.groups, RedStats), "summarised with the same grouping"
            self.groups.add_stats(part.groups)

    def part(self) -> _StatsPart:
        return _StatsPart(self.groups.result(), self.span)

    def records(self) -> list[dict[str, object]]:
        # Without windows, rates are over the whole input's span, not each group's.
        if isinstance(self.groups, _EdgeWindows):
            return self.groups.records(self.span.seconds())
        return red_records(self.groups.result(), period_s=self.span.seconds())


@attrs.frozen
class _StatsOf:
    """Summarises one file's metrics for ``stats`` (picklable: sent to worker processes)."""

    by: str
    window_ns: int | None

    def __call__(self, metrics: Iterable[ServiceMeshMetric]) -> _StatsPart:
        stats = _Stats(self.by, self.window_ns)
        for metric in metrics:
            stats.add(metric)
        return stats.part()


def _stats(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``stats``: RED statistics per group (and window) as a table, JSON Lines or CSV."""
    stats = _Stats(args.by, args.window_ns)
    try:
        run = _analyze_all(
            args,
            container=container,
            summarise=_StatsOf(args.by, args.window_ns),
            merge=stats.add_part,
        )
        text = render_stats(stats.records(), args.by, args.format)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0


def _metrics(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``metrics``: Istio's standard metrics in Prometheus' text format."""
    metrics: list[ServiceMeshMetric] = []
    try:
        # The metrics themselves, in order: istio_metrics pairs a gateway's two of one entry.
        run = _analyze_all(args, container=container, summarise=list, merge=metrics.extend)
        text = istio_metrics(metrics).to_prometheus()
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    return 0


_COMMANDS: dict[str, Callable[..., int]] = {
    "analyze": _analyze,
    "graph": _graph,
    "stats": _stats,
    "metrics": _metrics,
}


def _summary(accounts: Sequence[Accounting], files: int) -> str:
    """``N files: E entries, A analyzed, S skipped (reason: n, ...), M metrics``."""
    skipped: dict[SkipReason, int] = dict.fromkeys(SkipReason, 0)
    for account in accounts:
        for reason, count in account.skipped.items():
            skipped[reason] += count
    reasons = ", ".join(f"{reason.value}: {count}" for reason, count in skipped.items() if count)
    total = sum(skipped.values())
    return (
        f"{_plural(files, 'file')}: {_plural(sum(a.entries_in for a in accounts), 'entry')},"
        f" {sum(a.analyzed for a in accounts)} analyzed,"
        f" {total} skipped{f' ({reasons})' if reasons else ''},"
        f" {_plural(sum(a.metrics_out for a in accounts), 'metric')}"
    )


# What each kind of diagnostic dropped while reading, one unit each (singular, plural).
_DROPPED: Final[dict[DiagnosticKind, tuple[str, str]]] = {
    DiagnosticKind.ENTRY_SKIPPED: ("entry", "entries"),
    DiagnosticKind.MESSAGE_SKIPPED: ("message", "messages"),
    DiagnosticKind.LINE_SKIPPED: ("log line", "log lines"),
    DiagnosticKind.PART_SKIPPED: ("part of unknown size", "parts of unknown size"),
}


def _dropped(accounts: Sequence[Accounting]) -> str:
    """``2 entries and 1 message dropped while reading (see warnings)``, or "" if none were.

    Entries the analysis skipped are in the summary; these never reached it. Past
    ``Limits.max_diagnostics`` problems are only counted, so the figures become "at least".
    """
    counts: Counter[DiagnosticKind] = Counter()
    for account in accounts:
        counts.update(account.dropped)
    parts = [
        f"{counts[kind]} {one if counts[kind] == 1 else many}"
        for kind, (one, many) in _DROPPED.items()
        if counts[kind]
    ]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    at_least = "at least " if counts[DiagnosticKind.NOT_LISTED] else ""
    return f"{at_least}{listed} dropped while reading (see warnings)"


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


# --- text rendering ----------------------------------------------------------------------------


def _text_lines(path: str, message: AlsMessage, index: int, stream: _Stream) -> Iterator[str]:
    yield f"message {index}: {_identity(message, stream)} {_contents(message)}"
    entries: Sequence[HttpEntry | TcpEntry] = message.entries
    for entry_index, entry in enumerate(entries):
        yield f"  {_entry_line(entry_index, entry)}"


def _identity(message: AlsMessage, stream: _Stream) -> str:
    if message.identifier is not None:
        node = message.identifier.node
        node_id = _or_missing("" if node is None else node.id)
        cluster = _or_missing("" if node is None else node.cluster)
        log_name = _or_missing(message.identifier.log_name)
        return f"node={node_id} cluster={cluster} log={log_name} role={_role_name(stream.role)}"
    if stream.role is None:
        return "(no identifier: continues the stream) role=unknown"
    return (
        f"(no identifier: continues the stream) role={stream.role.name}"
        f" (from message {stream.identified_at})"
    )


def _contents(message: AlsMessage) -> str:
    count = len(message.entries)
    return f"{message.kind or 'no entries'} entries={count}"


def _entry_line(index: int, entry: HttpEntry | TcpEntry) -> str:
    common = entry.common_properties or _NO_COMMON
    peers = (
        f"{_address(common.downstream_remote_address)}"
        f" -> {_address(common.downstream_local_address)}"
        f" => {_or_missing(common.upstream_cluster)} {_address(common.upstream_remote_address)}"
    )
    if isinstance(entry, HttpEntry):
        request = entry.request
        method = _method(request.request_method) if request else _MISSING
        path = _or_missing(request.path) if request else _MISSING
        code = entry.response.response_code if entry.response else None
        what = f"{method} {path} {_MISSING if code is None else code} {peers}"
    else:
        connection = entry.connection_properties
        received = _MISSING if connection is None else connection.received_bytes
        sent = _MISSING if connection is None else connection.sent_bytes
        what = f"{peers} recv={received} sent={sent}"
    return (
        f"#{index} {_timestamp(common.start_time_ns)} {what}"
        f" {_duration(common)} flags={_flags(common.response_flags)}"
    )


def _or_missing(text: str) -> str:
    return text or _MISSING


def _role_name(role: Role | None) -> str:
    return "unknown" if role is None else role.name


def _method(method: RequestMethod | int) -> str:
    if isinstance(method, RequestMethod):
        return _MISSING if method is RequestMethod.METHOD_UNSPECIFIED else method.name
    return str(method)


def _timestamp(nanos: int | None) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as proto3 JSON writes Timestamps."""
    if nanos is None:
        return _MISSING
    seconds, fraction = divmod(nanos, _NANOS_PER_SECOND)
    text = (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()
    if fraction == 0:
        return f"{text}Z"
    digits = f"{fraction:09d}"
    for width in (3, 6):
        if digits[width:] == "0" * (9 - width):
            return f"{text}.{digits[:width]}Z"
    return f"{text}.{digits}Z"


def _duration(common: AccessLogCommon) -> str:
    # Older Envoys send no duration; the last byte sent downstream then marks the end.
    nanos = common.duration_ns
    if nanos is None:
        nanos = common.time_to_last_downstream_tx_byte_ns
    return _MISSING if nanos is None else f"{nanos / 1_000_000:.2f}ms"


def _flags(flags: frozenset[ResponseFlag]) -> str:
    codes = [flag.short_code for flag in sorted(flags, key=lambda flag: flag.field_number)]
    return ",".join(codes) or _MISSING


def _address(address: Address | None) -> str:
    if isinstance(address, SocketAddress):
        host = f"[{address.address}]" if ":" in address.address else address.address
        port = address.port if address.port is not None else address.named_port
        return host if port is None else f"{host}:{port}"
    if isinstance(address, PipeAddress):
        return f"unix:{address.path}"
    if isinstance(address, EnvoyInternalAddress):
        return f"envoy://{address.server_listener_name or ''}/{address.endpoint_id}"
    return _MISSING


# --- JSON rendering ----------------------------------------------------------------------------


def _json_lines(path: str, message: AlsMessage, index: int, stream: _Stream) -> Iterator[str]:
    for entry_index, entry in enumerate(message.entries):
        record = {
            "file": path,
            "message_index": index,
            "entry_index": entry_index,
            "node_id": stream.node_id,
            "role": None if stream.role is None else stream.role.name,
            "kind": message.kind,
            "entry": to_json(entry),
        }
        yield json.dumps(record)
