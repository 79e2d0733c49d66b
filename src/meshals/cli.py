"""The ``meshals`` command line: argument parsing, file reading and rendering, nothing more.

``meshals inspect FILE...`` prints, per file, the container, each message's identifier and
the role its node id implies, and a one-line summary per entry (``--json``: one JSON object
per entry). Each file's output is buffered: a file that fails prints nothing to stdout, only
``meshals: error: <where>: <reason>`` to stderr, and the exit status is 1.

``meshals analyze FILE...`` turns captures into service-mesh metrics (:func:`meshals.analyze`),
each file one stream, and prints them as a table, JSON Lines, CSV or SkyWalking JSON; then a
summary of the entries read, analyzed and skipped (by reason) on stderr. Its output is
buffered for the whole run: the first file that fails (or a bad resolver file) prints
``meshals: error: <where>: <reason>`` and the exit status is 1, with nothing on stdout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

import attrs

from ._accounting import Accounting, SkipReason
from ._analysis import analyze
from ._containers import Container, read
from ._errors import Diagnostic, MeshalsError
from ._jsonout import to_json
from ._kubernetes import KubernetesNaming, KubernetesResolver
from ._metrics import ServiceMeshMetric
from ._model import (
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
from ._render import FORMATS, render
from ._resolvers import ChainResolver, StaticResolver
from ._roles import Role, RoleRule, fixed_role, role_of
from ._service import Resolver

__all__ = ["build_parser", "entrypoint", "main"]

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
    _add_analyze(commands)
    return parser


def _add_analyze(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analyze_parser = commands.add_parser(
        "analyze",
        help="turn ALS capture files into service-mesh metrics",
        description="Turn ALS capture files into service-mesh metrics, one stream per file, "
        "with SkyWalking's k8s-mesh rules. Prints the metrics on stdout and a summary of the "
        "entries read, analyzed and skipped on stderr.",
    )
    analyze_parser.set_defaults(command_parser=analyze_parser)  # for usage errors found later
    analyze_parser.add_argument("files", nargs="+", metavar="FILE", help="a capture file")
    names = analyze_parser.add_argument_group("naming workloads (default: everything UNKNOWN)")
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
    analyze_parser.add_argument(
        "--format", choices=list(FORMATS), default="table", help="the output (default: table)"
    )
    analyze_parser.add_argument(
        "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
    )
    analyze_parser.add_argument(
        "--reidentify",
        action="store_true",
        help="take every identifier a stream carries (collectors multiplexing many Envoys)",
    )
    analyze_parser.add_argument(
        "--strip-query", action="store_true", help="drop the query string from endpoints"
    )
    analyze_parser.add_argument(
        "--role",
        choices=[role.value for role in Role if role is not Role.NONE],
        help="the role of every Envoy, instead of reading it from Istio's node ids",
    )
    analyze_parser.add_argument(
        "--container",
        choices=[container.value for container in Container],
        help="the container of every FILE, instead of detecting it",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meshals`` command with *argv* (default: ``sys.argv[1:]``); the exit status."""
    args = build_parser().parse_args(argv)
    container = None if args.container is None else Container(args.container)
    if args.command == "analyze":
        if (args.service_rule or args.instance_rule) and not args.k8s_snapshot:
            args.command_parser.error("--service-rule and --instance-rule need --k8s-snapshot")
        return _analyze(args, container=container, out=sys.stdout)
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
        for position, message in enumerate(reader):
            index = position if message.index is None else message.index
            warnings.extend(reader.diagnostics[reported:])
            reported = len(reader.diagnostics)
            warnings.extend(message.diagnostics)
            stream.update(message, index)
            lines.extend(render(path, message, index, stream))
        warnings.extend(reader.diagnostics[reported:])
    if not as_json:
        detected = _MISSING if reader.container is None else reader.container.value
        lines.insert(0, f"{path}: container {detected}")
    return lines, warnings


def _error(reason: str) -> None:
    print(f"{_PROG}: error: {reason}", file=sys.stderr)


def _report_warnings(path: str, warnings: Sequence[Diagnostic]) -> None:
    for warning in warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        print(f"{_PROG}: {path}: {len(warnings)} {noun}", file=sys.stderr)


# --- analyze -----------------------------------------------------------------------------------


@attrs.define
class _Run:
    """What one ``analyze`` run collected, held until every file has been read."""

    metrics: list[ServiceMeshMetric] = attrs.Factory(list)
    warnings: list[Diagnostic] = attrs.Factory(list)
    accounts: list[Accounting] = attrs.Factory(list)


def _analyze(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """The ``analyze`` command: all or nothing on stdout, warnings and a summary on stderr."""
    run = _Run()
    try:
        resolver = _resolver(args)
        for path in args.files:
            _analyze_file(path, args, container=container, resolver=resolver, run=run)
        text = render(run.metrics, args.format)
    except MeshalsError as exc:
        _error(str(exc))
        return 1
    except OSError as exc:
        _error(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc))
        return 1
    out.write(text)
    if resolver is None:
        print(
            f"{_PROG}: warning: no --resolver or --k8s-snapshot: every workload is UNKNOWN",
            file=sys.stderr,
        )
    for warning in run.warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    print(f"{_PROG}: {_summary(run.accounts, len(args.files))}", file=sys.stderr)
    return 0


def _resolver(args: argparse.Namespace) -> Resolver | None:
    """The resolvers the options name, the static table first; None without any."""
    resolvers: list[Resolver] = []
    if args.resolver is not None:
        resolvers.append(StaticResolver.from_file(args.resolver))
    if args.k8s_snapshot:
        rules = {"service_rule": args.service_rule, "instance_rule": args.instance_rule}
        naming = KubernetesNaming(**{key: rule for key, rule in rules.items() if rule})
        resolvers.append(KubernetesResolver.from_files(args.k8s_snapshot, naming=naming))
    if not resolvers:
        return None
    return resolvers[0] if len(resolvers) == 1 else ChainResolver(*resolvers)


def _analyze_file(
    path: str,
    args: argparse.Namespace,
    *,
    container: Container | None,
    resolver: Resolver | None,
    run: _Run,
) -> None:
    role_rule: RoleRule | None = None if args.role is None else fixed_role(Role(args.role))
    with read(path, container=container, strict=args.strict) as reader:
        message_warnings: list[Diagnostic] = []
        analysis = analyze(
            _noting(reader, message_warnings),
            resolver=_NO_ONE if resolver is None else resolver,  # all UNKNOWN
            role_rule=role_rule,
            reidentify=args.reidentify,
            endpoint_query="strip" if args.strip_query else "keep",
        )
        run.metrics.extend(analysis)
    run.warnings.extend(reader.diagnostics)
    run.warnings.extend(message_warnings)
    run.warnings.extend(analysis.diagnostics)
    run.accounts.append(analysis.accounting)


def _noting(messages: Iterator[AlsMessage], sink: list[Diagnostic]) -> Iterator[AlsMessage]:
    """*messages*, collecting what lenient decoding tolerated in each into *sink*."""
    for message in messages:
        sink.extend(message.diagnostics)
        yield message


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
