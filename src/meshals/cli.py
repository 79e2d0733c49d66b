"""The ``meshals`` command line: argument parsing, file reading and rendering, nothing more.

``meshals inspect FILE...`` prints, per file, the container, each message's identifier and
the role its node id implies, and a one-line summary per entry (``--json``: one JSON object
per entry). Each file's output is buffered: a file that fails prints nothing to stdout, only
``meshals: error: <where>: <reason>`` to stderr, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

import attrs

from ._containers import Container, read
from ._errors import Diagnostic, MeshalsError
from ._jsonout import to_json
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
from ._roles import Role, role_of

__all__ = ["build_parser", "entrypoint", "main"]

_PROG = "meshals"
_EPOCH = datetime.datetime(1970, 1, 1)
_NANOS_PER_SECOND = 1_000_000_000
_NO_COMMON = AccessLogCommon()
_MISSING = "-"


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meshals`` command with *argv* (default: ``sys.argv[1:]``); the exit status."""
    args = build_parser().parse_args(argv)
    container = None if args.container is None else Container(args.container)
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
