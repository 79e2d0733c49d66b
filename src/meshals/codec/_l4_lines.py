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

import json
import re
from typing import Final, Literal

from meshals._errors import DecodeError
from meshals.model._l4 import (
    ConnectionEvent,
    L4Connection,
    L4Producer,
    LineSkip,
)

from ._json_scalars import InvalidValueError, parse_timestamp
from ._l4_fields import _connection, _FieldError, _shortened, _Where

__all__ = ["parse_l4_line"]

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
# Keys of a StreamAccessLogsMessage in proto3 JSON: a record with any of them is ALS, not a log.
_ALS_KEYS: Final = frozenset({"identifier", "httpLogs", "tcpLogs", "http_logs", "tcp_logs"})
_KMESH_UNKNOWN: Final = "-"


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
