"""Istio ambient's L4 connection logs (ztunnel, Kmesh) as typed values: one per connection line.

:mod:`meshals.codec` parses the log lines into these (see :func:`~meshals.codec.parse_l4_line`).
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Final

import attrs

from meshals._values import FrozenMap

__all__ = [
    "ConnectionEvent",
    "Direction",
    "ExtraValue",
    "L4Address",
    "L4Connection",
    "L4Peer",
    "L4Producer",
    "LineSkip",
]

#: A field value kept as it was logged: text from text lines; a JSON scalar from JSON lines
#: (nested JSON values are kept as their compact JSON text).
ExtraValue = str | int | float | bool | None


class ConnectionEvent(enum.Enum):
    """What an L4 log line reports; the values are the log messages."""

    OPENED = "connection opened"
    """The connection was set up (ztunnel logs it at debug level); no byte counts yet."""
    COMPLETE = "connection complete"
    """The connection ended; the line carries its byte counts, duration and any error."""
    FAILED = "connection failed"
    """ztunnel refused the connection before setting it up (e.g. denied by policy)."""


class Direction(enum.Enum):
    """Which side of the connection the reporting node proxy served."""

    INBOUND = "inbound"
    """The proxy delivered the connection to a local workload (Istio's reporter=destination)."""
    OUTBOUND = "outbound"
    """The proxy carried a local workload's connection out (Istio's reporter=source)."""


class L4Producer(enum.Enum):
    """Which node proxy wrote a line."""

    ZTUNNEL = "ztunnel"
    KMESH = "kmesh"


class LineSkip(enum.Enum):
    """Why a line of an L4 log is not an entry. The values are stable strings."""

    NOT_A_LOG_LINE = "not-a-log-line"
    """Not a ztunnel or Kmesh log line: other programs' output, Kmesh's own logs, CRI partial
    lines, JSON records without ``scope`` and ``message``."""
    OTHER_SCOPE = "other-scope"
    """A ztunnel log line of a scope other than ``access`` (startup, xDS, DNS, ...)."""
    OTHER_MESSAGE = "other-message"
    """An ``access`` line whose message is none of :class:`ConnectionEvent`."""


@attrs.frozen
class L4Address:
    """A host and port as a node proxy logged them.

    ``host`` is an IP in canonical text form (``10.0.0.1``, ``fd00::1``), except in an HBONE
    address, where it may be a host name (``mysql.db.svc.cluster.local``).

    >>> str(L4Address("fd00::1", 8080))
    '[fd00::1]:8080'
    """

    host: str
    port: int

    @property
    def ip(self) -> str | None:
        """``host`` if it is an IP, else None."""
        return self.host if is_ip(self.host) else None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@attrs.frozen(kw_only=True)
class L4Peer:
    """One end of a connection: its address and the workload the node proxy knew there.

    ``workload`` is the pod name (ztunnel falls back to the canonical service name),
    ``identity`` the SPIFFE id the peer proved over mTLS. Each is None when not logged.
    """

    address: L4Address | None = None
    workload: str | None = None
    namespace: str | None = None
    identity: str | None = None


_NO_PEER: Final = L4Peer()
#: The shared empty `extra` map (the parser reuses it, so most connections share one).
NO_EXTRA: FrozenMap[str, ExtraValue] = FrozenMap()


@attrs.frozen(kw_only=True)
class L4Connection:
    """One line of a ztunnel or Kmesh connection log.

    ``timestamp_ns`` is when the line was written (ns since the epoch): for a completed
    connection, its end. ``bytes_sent`` and ``bytes_recv`` count from the reporting proxy's
    point of view towards the far peer: outbound, sent is what the local workload sent (the
    request), inbound, sent is what went back to the caller (the response).
    ``dst_hbone_address`` is the target inside the HBONE tunnel (``dst.addr`` is then the
    tunnel's end, port 15008). Fields the line does not carry are None; fields meshals does
    not know are kept in ``extra``. ``source``, ``index`` (position among the input's
    non-blank lines, from 0) and ``line`` (1-based line number) say where the line came from
    and take no part in equality.
    """

    producer: L4Producer = L4Producer.ZTUNNEL
    event: ConnectionEvent
    timestamp_ns: int
    level: str | None = None
    src: L4Peer = _NO_PEER
    dst: L4Peer = _NO_PEER
    dst_hbone_address: L4Address | None = None
    dst_service: str | None = None
    direction: Direction | None = None
    bytes_sent: int | None = None
    bytes_recv: int | None = None
    duration_ns: int | None = None
    error: str | None = None
    extra: FrozenMap[str, ExtraValue] = NO_EXTRA
    source: str = attrs.field(default="<text>", eq=False)
    index: int | None = attrs.field(default=None, eq=False)
    line: int | None = attrs.field(default=None, eq=False)

    @property
    def start_time_ns(self) -> int:
        """When the connection started: the timestamp less the duration of a completed one.

        ztunnel logs whole milliseconds, so the start is late by less than a millisecond.
        """
        if self.event is ConnectionEvent.COMPLETE and self.duration_ns is not None:
            return self.timestamp_ns - self.duration_ns
        return self.timestamp_ns

    def to_dict(self) -> dict[str, object]:
        """The entry as a plain, JSON-ready dict; addresses as ``host:port`` text."""

        def text(address: L4Address | None) -> str | None:
            return None if address is None else str(address)

        def peer(value: L4Peer) -> dict[str, object]:
            return {
                "address": text(value.address),
                "workload": value.workload,
                "namespace": value.namespace,
                "identity": value.identity,
            }

        return {
            "producer": self.producer.value,
            "event": self.event.value,
            "timestamp_ns": self.timestamp_ns,
            "level": self.level,
            "src": peer(self.src),
            "dst": peer(self.dst),
            "dst_hbone_address": text(self.dst_hbone_address),
            "dst_service": self.dst_service,
            "direction": None if self.direction is None else self.direction.value,
            "bytes_sent": self.bytes_sent,
            "bytes_recv": self.bytes_recv,
            "duration_ns": self.duration_ns,
            "error": self.error,
            "extra": dict(self.extra),
            "origin": {"source": self.source, "index": self.index, "line": self.line},
        }


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
