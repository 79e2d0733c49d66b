r"""Istio ambient's L4 connection logs (ztunnel, Kmesh): the typed entry and the line parsers.

Ambient mode has no sidecars. Its node proxy, ztunnel, and Kmesh, which reproduces it with
eBPF, log one line per TCP connection instead of streaming ALS. :func:`parse_l4_line` turns
one line into an :class:`L4Connection`, or says why the line is not one (:class:`LineSkip`);
:func:`meshals.read` applies it to every line of a log file.

Accepted lines (before them, a capture prefix may stand: see below):

- **ztunnel text**, tracing's format as ztunnel writes it: ``<RFC 3339 time> <level> <scope>
  <message> <key=value>...``, the first five parts separated by tabs (or spaces), e.g. (one
  line) ``2024-05-30T12:18:10.172761Z info access connection complete
  src.addr=10.244.0.10:47667 src.workload="sleep-7656cf8794-9v2gv" ... direction="inbound"
  bytes_sent=239 bytes_recv=76 duration="2ms"``. A value is double-quoted with Rust's
  escapes (``\"``, ``\\``, ``\n``, ``\r``, ``\t``, ``\0``, ``\'``, ``\u{…}``), or bare: then it
  runs to the last non-blank character before the next `` key=`` or the line end (older
  ztunnels leave strings unquoted).
- **ztunnel JSON** (``LOG_FORMAT=json``): one object per line with the string members
  ``"time"`` (RFC 3339), ``"level"``, ``"scope"`` and ``"message"``, and each field as a member
  named like its key (``"src.addr"``, ``"dst.service"``, ...): strings, except ``bytes_sent``
  and ``bytes_recv``, which are JSON integers (digit strings are accepted too). A member that
  is null counts as absent.
- **Kmesh** (``kmeshctl accesslog``): ``accesslog: <Go time> <key=value>, <key=value>...``,
  e.g. ``accesslog: 2024-08-14 10:40:08.005837715 +0000 UTC src.addr=10.244.0.10:47667,
  src.workload=sleep-7656cf8794-9v2gv, ..., direction=INBOUND, sent_bytes=60,
  received_bytes=172, duration=2.236ms``. Values are bare, ``-`` means unknown, and Kmesh's
  ``sent_bytes``/``received_bytes`` are read as ``bytes_sent``/``bytes_recv`` (both count from
  the reporting node's socket, as ztunnel's do).

Fields: addresses are ``IP:port`` (IPv6 in brackets); ``dst.hbone_addr`` may name a host
(``mysql.db.svc.cluster.local:3306``); ``duration`` is a Go duration (:func:`parse_go_duration`;
ztunnel writes whole milliseconds, Kmesh fractions); byte counts are whole numbers. An empty
value counts as absent, a repeated key's last value counts, and keys meshals does not know
are kept in :attr:`L4Connection.extra` (Kmesh's ``status``, ``connection_id``, ``srtt``...
too).

Capture prefixes removed first, at most one of each, in this order: ``kubectl logs --prefix``
(``[pod/ztunnel-x/istio-proxy] ``), then the container runtime's CRI log format of
``/var/log/pods`` (``<time> stdout F ``) or ``kubectl logs --timestamps`` (``<time> ``). A
CRI partial line (``P``: the runtime split a line longer than 16 KiB) is not a log line.

An entry is a line of scope ``access`` whose message is one of :class:`ConnectionEvent`
(ztunnel writes ``connection opened`` at debug level, ``connection complete`` at info level,
or at error level with ``error=``, and ``connection failed`` at warn level for a connection
denied before it was set up); every Kmesh ``accesslog:`` line is a completed connection. Any
other line is skipped, never an error: :class:`LineSkip` says which kind it was. A line that
is an entry but cannot be read (malformed quoting, a bad number, address, duration or time)
raises :class:`~meshals.DecodeError` naming the field; so does a line that starts with ``{``
but is no JSON (a JSON record cut short).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Final, Literal

import attrs

from meshals._errors import DecodeError
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
    LineSkip,
)

from ._json_scalars import InvalidValueError, parse_timestamp

__all__ = ["parse_go_duration", "parse_l4_line"]

# --- Go durations ----------------------------------------------------------------------------

_GO_DURATION: Final = re.compile(r"([-+]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[a-zµμ]+)+)")
_GO_DURATION_PART: Final = re.compile(r"([0-9]*)(?:\.([0-9]*))?([a-zµμ]+)")
_GO_UNITS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_INT64_MAX: Final = 2**63 - 1


def parse_go_duration(text: str) -> int:
    """A Go duration string (Go's ``time.ParseDuration``) in integer nanoseconds.

    A sequence of decimal numbers, each with an optional fraction and a unit (``ns``, ``us``,
    ``µs``, ``ms``, ``s``, ``m``, ``h``), with an optional sign; ``0`` alone needs no unit.
    Fractions are truncated to whole nanoseconds, as Go does.

    Args:
        text: the duration, e.g. ``"2ms"`` (ztunnel) or ``"2.236ms"`` (Kmesh).

    Returns:
        The duration in ns.

    Raises:
        ValueError: *text* is not a Go duration, or it exceeds Go's range (about 292 years).

    >>> [parse_go_duration(text) for text in ("2ms", "1.5s", "350us", "10ns", "1m2s", "0")]
    [2000000, 1500000000, 350000, 10, 62000000000, 0]
    """
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        if text in ("0", "+0", "-0"):
            return 0
        raise ValueError(f"not a Go duration: {text!r}")
    sign, parts = match.groups()
    total = 0
    for whole, fraction, unit in _GO_DURATION_PART.findall(parts):
        scale = _GO_UNITS.get(unit)
        if scale is None:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        if len(whole) > 20:  # more digits than any in-range value: refuse before int()
            raise ValueError(f"duration {text!r} is out of range")
        total += int(whole or "0") * scale
        if fraction:
            digits = fraction[:30]  # beyond 30 digits nothing reaches a nanosecond
            total += int(digits) * scale // 10 ** len(digits)
        if total > _INT64_MAX + 1:
            raise ValueError(f"duration {text!r} is out of range")
    if total > _INT64_MAX + (1 if sign == "-" else 0):
        raise ValueError(f"duration {text!r} is out of range")
    return -total if sign == "-" else total


# --- line shapes ---------------------------------------------------------------------------

_LEVELS: Final = frozenset({"trace", "debug", "info", "warn", "warning", "error"})
_EVENTS: Final = {event.value: event for event in ConnectionEvent}
_ACCESS_SCOPE: Final = "access"
_KMESH_MARK: Final = "accesslog:"

_KUBECTL_PREFIX: Final = re.compile(r"\[[^\]\s]+\] ")
_CRI_PREFIX: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T\S+ (?:stdout|stderr) ([FP]) ")
_TIMESTAMPS_PREFIX: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T\S+ (?=[0-9]{4}-[0-9]{2}-[0-9]{2}T|accesslog:|\{)"
)
_ZTUNNEL_LINE: Final = re.compile(
    r"(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]\S+)\s+(?P<level>[A-Za-z]+)\s+(?P<scope>\S+)"
    r"(?:\s+(?P<rest>.*))?",
    re.DOTALL,
)
_KMESH_LINE: Final = re.compile(
    r"accesslog:\s*(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]+)? [+-][0-9]{4}(?: [^\s=]+)?)(?:\s+(?P<rest>.*))?",
    re.DOTALL,
)
_GO_TIME: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)"
    r" ([+-][0-9]{2})([0-9]{2})(?: [^\s=]+)?"
)
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*=")
# Only at the start of a run of blanks (the lookbehind): trying every blank of a long run
# would rescan the value after it each time, quadratic on hostile lines.
_NEXT_FIELD: Final = re.compile(r"(?<!\s)\s+(?=[A-Za-z_][A-Za-z0-9_.-]*=)")
_NEXT_KMESH_FIELD: Final = re.compile(r",\s*(?=[A-Za-z_][A-Za-z0-9_.-]*=)")
_QUOTED_SPECIAL: Final = re.compile(r'["\\]')
_SIMPLE_ESCAPES: Final = {
    "t": "\t",
    "r": "\r",
    "n": "\n",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_UNICODE_ESCAPE: Final = re.compile(r"u\{([0-9a-fA-F]{1,6})\}")
_HOST_NAME: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
# Keys of a StreamAccessLogsMessage in proto3 JSON: a record with any of them is ALS, not a log.
_ALS_KEYS: Final = frozenset({"identifier", "httpLogs", "tcpLogs", "http_logs", "tcp_logs"})
_KMESH_UNKNOWN: Final = "-"
_MAX_COUNT_DIGITS: Final = 20  # 2**64 has 20 digits


def _strip_capture_prefix(text: str) -> str | None:
    """*text* without capture prefixes; None for a CRI partial line."""
    match = _KUBECTL_PREFIX.match(text)
    if match is not None:
        text = text[match.end() :]
    match = _CRI_PREFIX.match(text)
    if match is not None:
        return None if match.group(1) == "P" else text[match.end() :]
    match = _TIMESTAMPS_PREFIX.match(text)
    return text if match is None else text[match.end() :]


def log_line_format(text: str) -> Literal["text", "json"] | None:
    """Whether *text* (one line) is written by ztunnel or Kmesh: ``"json"``, ``"text"`` or None.

    Any ztunnel log line counts, of any scope, and any Kmesh ``accesslog:`` line; a JSON line
    counts when it is an object with string ``scope`` and ``message`` members and none of a
    StreamAccessLogsMessage's keys. Used to detect the container of a file.
    """
    stripped = _strip_capture_prefix(text.strip())
    if not stripped:
        return None
    if stripped.startswith("{"):
        return "json" if _log_record(stripped) is not None else None
    match = _ZTUNNEL_LINE.fullmatch(stripped)
    if match is not None and match.group("level").lower() in _LEVELS:
        return "text"
    return "text" if _KMESH_LINE.fullmatch(stripped) else None


def _log_record(text: str) -> dict[str, object] | None:
    """The JSON object on *text* if it is a ztunnel log record, else None."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if (
        isinstance(record, dict)
        and isinstance(record.get("scope"), str)
        and isinstance(record.get("message"), str)
        and _ALS_KEYS.isdisjoint(record)
    ):
        return record
    return None


# --- parsing -----------------------------------------------------------------------------------


class _FieldError(Exception):
    """A field (or, with field None, the line) cannot be read; caught in parse_l4_line."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def parse_l4_line(
    text: str | bytes,
    *,
    source: str = "<text>",
    index: int | None = None,
    line: int | None = None,
) -> L4Connection | LineSkip:
    r"""Read one line of a ztunnel or Kmesh log (see the module docstring for the shapes).

    Args:
        text: the line, without its line end (bytes are decoded as UTF-8).
        source: the file name, for the entry and for errors.
        index: the line's position among the input's non-blank lines, from 0 (the
            ``message_index`` of errors).
        line: the 1-based line number, kept in the entry.

    Returns:
        The entry, or why the line is not one.

    Raises:
        DecodeError: the line is an entry that cannot be read; ``field`` names the key.

    >>> entry = parse_l4_line('2024-05-30T12:18:10.172761Z\tinfo\taccess\tconnection complete\t'
    ...     'src.addr=10.244.0.10:47667 dst.addr=10.244.0.7:15008 direction="inbound" '
    ...     'bytes_sent=239 bytes_recv=76 duration="2ms"')
    >>> entry.event, entry.direction, entry.dst.address, entry.bytes_sent, entry.duration_ns
    (<ConnectionEvent.COMPLETE: 'connection complete'>, <Direction.INBOUND: 'inbound'>,
     L4Address(host='10.244.0.7', port=15008), 239, 2000000)
    >>> parse_l4_line("2024-05-30T12:18:09.001Z\tinfo\tztunnel\tserving readiness")
    <LineSkip.OTHER_SCOPE: 'other-scope'>
    """
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        return _parse(decoded, source=source, index=index, line=line)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"not UTF-8 text: {exc.reason}", source=source, message_index=index
        ) from None
    except _FieldError as exc:
        raise DecodeError(exc.reason, source=source, message_index=index, field=exc.field) from None


def _parse(
    text: str, *, source: str, index: int | None, line: int | None
) -> L4Connection | LineSkip:
    stripped = _strip_capture_prefix(text.strip())
    if not stripped:
        return LineSkip.NOT_A_LOG_LINE
    where = _Where(source, index, line)
    if stripped.startswith("{"):
        return _parse_json(stripped, where)
    if stripped.startswith(_KMESH_MARK):
        return _parse_kmesh(stripped, where)
    match = _ZTUNNEL_LINE.fullmatch(stripped)
    if match is None or match.group("level").lower() not in _LEVELS:
        return LineSkip.NOT_A_LOG_LINE
    if match.group("scope") != _ACCESS_SCOPE:
        return LineSkip.OTHER_SCOPE
    rest = match.group("rest") or ""
    event = next((kind for text, kind in _EVENTS.items() if _starts_with_word(rest, text)), None)
    if event is None:
        return LineSkip.OTHER_MESSAGE
    fields = _ztunnel_fields(rest[len(event.value) :])
    return _connection(
        L4Producer.ZTUNNEL,
        event,
        timestamp_ns=_rfc3339(match.group("time")),
        level=match.group("level").lower(),
        fields=fields,
        where=where,
    )


def _starts_with_word(text: str, word: str) -> bool:
    return text.startswith(word) and (len(text) == len(word) or text[len(word)].isspace())


def _rfc3339(text: str) -> int:
    try:
        return parse_timestamp(text)
    except InvalidValueError as exc:
        raise _FieldError(f"bad time: {exc}", "time") from None


def _parse_json(text: str, where: _Where) -> L4Connection | LineSkip:
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _FieldError(f"not a valid JSON object: {exc}") from None
    # The text starts with "{", so what json.loads returns is an object (a dict).
    scope, message = record.pop("scope", None), record.pop("message", None)
    if (
        not isinstance(scope, str)
        or not isinstance(message, str)
        or not _ALS_KEYS.isdisjoint(record)
    ):
        return LineSkip.NOT_A_LOG_LINE
    if scope != _ACCESS_SCOPE:
        return LineSkip.OTHER_SCOPE
    event = _EVENTS.get(message)
    if event is None:
        return LineSkip.OTHER_MESSAGE
    time = record.pop("time", None)
    if not isinstance(time, str):
        raise _FieldError("expected an RFC 3339 time string", "time")
    level = record.pop("level", None)
    if level is not None and not isinstance(level, str):
        raise _FieldError("expected a string", "level")
    return _connection(
        L4Producer.ZTUNNEL,
        event,
        timestamp_ns=_rfc3339(time),
        level=None if level is None else level.lower(),
        fields=list(record.items()),
        where=where,
    )


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _parse_kmesh(text: str, where: _Where) -> L4Connection:
    match = _KMESH_LINE.fullmatch(text)
    if match is None:
        raise _FieldError("expected 'accesslog: <time> <key=value>, ...'", "time")
    time = _GO_TIME.fullmatch(match.group("time"))
    if time is None:  # the line pattern admits more fraction digits than a time has
        raise _FieldError(f"bad time: {match.group('time')!r}", "time")
    date, clock, offset_hours, offset_minutes = time.groups()
    timestamp = _rfc3339(f"{date}T{clock}{offset_hours}:{offset_minutes}")
    fields: list[tuple[str, object]] = []
    rest = match.group("rest") or ""
    for part in _NEXT_KMESH_FIELD.split(rest.strip()) if rest.strip() else ():
        key, separator, value = part.partition("=")
        if not separator or _KEY.fullmatch(key + "=") is None:
            raise _FieldError(f"expected key=value, found {_shortened(part)!r}")
        value = value.strip()
        fields.append((key, None if value == _KMESH_UNKNOWN else value))
    return _connection(
        L4Producer.KMESH,
        ConnectionEvent.COMPLETE,
        timestamp_ns=timestamp,
        level=None,
        fields=fields,
        where=where,
    )


def _ztunnel_fields(text: str) -> list[tuple[str, object]]:
    """The ``key=value`` fields of a ztunnel text line, in order."""
    fields: list[tuple[str, object]] = []
    position = 0
    end = len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position == end:
            return fields
        key_match = _KEY.match(text, position)
        if key_match is None:
            raise _FieldError(f"expected key=value, found {_shortened(text[position:])!r}")
        key = key_match.group()[:-1]
        position = key_match.end()
        if text.startswith('"', position):
            value, position = _quoted(text, position + 1, key)
            if position < end and not text[position].isspace():
                raise _FieldError("malformed quoting: text right after the closing quote", key)
        else:
            found = _NEXT_FIELD.search(text, position)
            value_end = end if found is None else found.start()
            value = text[position:value_end].rstrip()
            position = value_end
        fields.append((key, value))


def _quoted(text: str, position: int, key: str) -> tuple[str, int]:
    """The Rust-escaped string whose content starts at *position*, and the position after it."""
    parts: list[str] = []
    while True:
        found = _QUOTED_SPECIAL.search(text, position)
        if found is None:
            raise _FieldError("malformed quoting: no closing quote", key)
        parts.append(text[position : found.start()])
        if found.group() == '"':
            return "".join(parts), found.end()
        escape = text[found.end() : found.end() + 1]
        simple = _SIMPLE_ESCAPES.get(escape)
        if simple is not None:
            parts.append(simple)
            position = found.end() + 1
            continue
        unicode = _UNICODE_ESCAPE.match(text, found.end())
        code = int(unicode.group(1), 16) if unicode is not None else -1
        if unicode is None or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            shown = "\\" + (escape if unicode is None else unicode.group())
            raise _FieldError(f"malformed quoting: bad escape {shown!r}", key)
        parts.append(chr(code))
        position = unicode.end()


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
