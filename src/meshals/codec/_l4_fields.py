"""The fields of one L4 log line to an :class:`L4Connection`: a converter per known key.

:mod:`meshals.codec._l4_lines` finds a line's ``key=value`` fields (or JSON members) and hands
them here: each known key's value is checked and converted (addresses, counts, a Go duration,
a direction), a repeated key's last value counts, and unknown keys are kept as extras. A value
that cannot be read raises :class:`_FieldError`, which names the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Final

import attrs

from meshals._values import FrozenMap
from meshals.model._l4 import (
    NO_EXTRA,
    ConnectionEvent,
    Direction,
    ExtraValue,
    L4Address,
    L4Connection,
    L4Peer,
    L4Producer,
)

from ._go_duration import parse_go_duration

__all__: list[str] = []

_HOST_NAME: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_MAX_COUNT_DIGITS: Final = 20  # 2**64 has 20 digits


class _FieldError(Exception):
    """A field (or, with field None, the line) cannot be read; caught in parse_l4_line."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --- fields -> entry -------------------------------------------------------------------------


@attrs.frozen
class _Where:
    source: str
    index: int | None
    line: int | None


@attrs.define
class _Values:
    """The known fields of a line as they are read; absent ones stay None."""

    src_address: L4Address | None = None
    src_workload: str | None = None
    src_namespace: str | None = None
    src_identity: str | None = None
    dst_address: L4Address | None = None
    dst_hbone_address: L4Address | None = None
    dst_service: str | None = None
    dst_workload: str | None = None
    dst_namespace: str | None = None
    dst_identity: str | None = None
    direction: Direction | None = None
    bytes_sent: int | None = None
    bytes_recv: int | None = None
    duration_ns: int | None = None
    error: str | None = None


def _connection(
    producer: L4Producer,
    event: ConnectionEvent,
    *,
    timestamp_ns: int,
    level: str | None,
    fields: list[tuple[str, object]],
    where: _Where,
) -> L4Connection:
    values = _Values()
    extra: dict[str, ExtraValue] = {}
    for key, raw in fields:  # a repeated key: the last one counts
        known = _FIELDS.get(key)
        if known is None:
            extra[key] = _extra_value(raw)
            continue
        name, convert = known
        try:
            setattr(values, name, convert(raw))
        except _FieldError as exc:
            raise _FieldError(exc.reason, key) from None
    src = L4Peer(
        address=values.src_address,
        workload=values.src_workload,
        namespace=values.src_namespace,
        identity=values.src_identity,
    )
    dst = L4Peer(
        address=values.dst_address,
        workload=values.dst_workload,
        namespace=values.dst_namespace,
        identity=values.dst_identity,
    )
    return L4Connection(
        producer=producer,
        event=event,
        timestamp_ns=timestamp_ns,
        level=level,
        src=src,
        dst=dst,
        dst_hbone_address=values.dst_hbone_address,
        dst_service=values.dst_service,
        direction=values.direction,
        bytes_sent=values.bytes_sent,
        bytes_recv=values.bytes_recv,
        duration_ns=values.duration_ns,
        error=values.error,
        extra=FrozenMap(extra) if extra else NO_EXTRA,
        source=where.source,
        index=where.index,
        line=where.line,
    )


def _extra_value(raw: object) -> ExtraValue:
    if raw is None or isinstance(raw, (str, int, float, bool)):
        return raw
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)


def _string(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _FieldError(f"expected a string, got {_described(raw)}")
    return raw or None


def _described(raw: object) -> str:
    return json.dumps(raw) if isinstance(raw, (int, float, bool)) else type(raw).__name__


def _host_port(raw: object, *, names: bool) -> L4Address | None:
    text = _string(raw)
    if text is None:
        return None
    host, separator, port_text = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    port = int(port_text) if digits else -1
    if separator and 0 <= port <= 65535:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and bracketed == (ip.version == 6):
            return L4Address(str(ip), port)
        if ip is None and names and not bracketed and _HOST_NAME.fullmatch(host):
            return L4Address(host, port)
    kind = "a host (IP or name)" if names else "an IP address"
    raise _FieldError(f"not {kind} and port: {_shortened(text)!r}")


def _ip_port(raw: object) -> L4Address | None:
    return _host_port(raw, names=False)


def _hbone_address(raw: object) -> L4Address | None:
    return _host_port(raw, names=True)


def _direction(raw: object) -> Direction | None:
    text = _string(raw)
    if text is None:
        return None
    try:
        return Direction(text.lower())  # Kmesh writes INBOUND, OUTBOUND
    except ValueError:
        raise _FieldError(f"not 'inbound' or 'outbound': {_shortened(text)!r}") from None


def _count(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= _MAX_COUNT_DIGITS:
        return int(raw)
    shown = repr(_shortened(raw)) if isinstance(raw, str) else _described(raw)
    raise _FieldError(f"not a byte count (a whole number >= 0): {shown}")


def _duration(raw: object) -> int | None:
    text = _string(raw)
    if text is None:
        return None
    try:
        nanos = parse_go_duration(text)
    except ValueError as exc:
        raise _FieldError(str(exc)) from None
    if nanos < 0:
        raise _FieldError(f"negative duration: {text!r}")
    return nanos


_FIELDS: Final[dict[str, tuple[str, Callable[[object], object]]]] = {
    "src.addr": ("src_address", _ip_port),
    "src.workload": ("src_workload", _string),
    "src.namespace": ("src_namespace", _string),
    "src.identity": ("src_identity", _string),
    "dst.addr": ("dst_address", _ip_port),
    "dst.hbone_addr": ("dst_hbone_address", _hbone_address),
    "dst.service": ("dst_service", _string),
    "dst.workload": ("dst_workload", _string),
    "dst.namespace": ("dst_namespace", _string),
    "dst.identity": ("dst_identity", _string),
    "direction": ("direction", _direction),
    "bytes_sent": ("bytes_sent", _count),
    "bytes_recv": ("bytes_recv", _count),
    "sent_bytes": ("bytes_sent", _count),  # Kmesh
    "received_bytes": ("bytes_recv", _count),  # Kmesh
    "duration": ("duration_ns", _duration),
    "error": ("error", _string),
}
