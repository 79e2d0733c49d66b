"""The lines ``meshals inspect`` prints: per message and entry as text, or per entry as JSON.

A message without an identifier continues its stream: :class:`_Stream` remembers what the
last identified one said (the node id and the role it implies).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Sequence

import attrs

from meshals.mesh._roles import role_of
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
from meshals.model._role import Role
from meshals.output._jsonout import to_json

__all__: list[str] = []

_EPOCH = datetime.datetime(1970, 1, 1)
_NANOS_PER_SECOND = 1_000_000_000
_NO_COMMON = AccessLogCommon()
_MISSING = "-"


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


def _other_record_line(path: str, record: object, index: int, *, as_json: bool) -> str:
    """A record that is not an ALS message (a connection of an L4 log), as one line."""
    kind = type(record).__name__
    if as_json:
        return json.dumps(
            {"file": path, "record_index": index, "kind": kind, "record": to_json(record)}
        )
    return f"record {index}: {kind} {json.dumps(to_json(record))}"


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
        f"(no identifier: continues the stream) role={stream.role.value}"
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
    return "unknown" if role is None else role.value


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
            "role": None if stream.role is None else stream.role.value,
            "kind": message.kind,
            "entry": to_json(entry),
        }
        yield json.dumps(record)
