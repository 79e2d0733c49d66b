"""L4 log lines over generated input: text and JSON lines of one entry read alike; any line
either parses, is skipped, or raises DecodeError; Go durations read back exactly."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import DecodeError
from meshals._values import FrozenMap
from meshals.codec._go_duration import parse_go_duration
from meshals.codec._l4_lines import parse_l4_line
from meshals.model._l4 import ConnectionEvent, Direction, L4Address, L4Connection, L4Peer, LineSkip

pytestmark = pytest.mark.property

KNOWN_KEYS = {
    "src.addr",
    "src.workload",
    "src.namespace",
    "src.identity",
    "dst.addr",
    "dst.hbone_addr",
    "dst.service",
    "dst.workload",
    "dst.namespace",
    "dst.identity",
    "direction",
    "bytes_sent",
    "bytes_recv",
    "sent_bytes",
    "received_bytes",
    "duration",
    "error",
    "time",
    "level",
    "scope",
    "message",
}
MAX_NS = 253_402_300_799 * 10**9 + 999_999_999  # 9999-12-31T23:59:59.999999999Z

texts = st.text(min_size=1, max_size=20)
ips = st.ip_addresses().map(str)
ports = st.integers(min_value=0, max_value=65535)
addresses = st.builds(L4Address, ips, ports)
host_names = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda name: not name.replace(".", "").isdigit()
)
hbone_addresses = addresses | st.builds(L4Address, host_names, ports)
peers = st.builds(
    L4Peer,
    address=st.none() | addresses,
    workload=st.none() | texts,
    namespace=st.none() | texts,
    identity=st.none() | texts,
)
extra_keys = st.from_regex(r"[a-z_][a-z0-9_.]{0,12}", fullmatch=True).filter(
    lambda key: key not in KNOWN_KEYS
)
connections = st.builds(
    L4Connection,
    event=st.sampled_from(ConnectionEvent),
    timestamp_ns=st.integers(min_value=0, max_value=MAX_NS),
    level=st.sampled_from(["trace", "debug", "info", "warn", "error"]),
    src=peers,
    dst=peers,
    dst_hbone_address=st.none() | hbone_addresses,
    dst_service=st.none() | texts,
    direction=st.none() | st.sampled_from(Direction),
    bytes_sent=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    bytes_recv=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    duration_ns=st.none() | st.integers(min_value=0, max_value=9 * 10**12).map(lambda n: n * 10**6),
    error=st.none() | texts,
    extra=st.dictionaries(extra_keys, texts, max_size=3).map(FrozenMap),
)


def rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, 10**9)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def rust_debug(text: str) -> str:
    """*text* as Rust's ``{:?}`` writes a str: quoted, with escapes."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\t\r\n\0":
            out.append({"\t": "\\t", "\r": "\\r", "\n": "\\n", "\0": "\\0"}[char])
        elif not char.isprintable():
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def fields(connection: L4Connection) -> list[tuple[str, object]]:
    """The entry's fields as ztunnel logs them: (key, value), absent ones left out."""
    src, dst = connection.src, connection.dst
    duration = connection.duration_ns
    candidates: list[tuple[str, object]] = [
        ("src.addr", src.address),
        ("src.workload", src.workload),
        ("src.namespace", src.namespace),
        ("src.identity", src.identity),
        ("dst.addr", dst.address),
        ("dst.hbone_addr", connection.dst_hbone_address),
        ("dst.service", connection.dst_service),
        ("dst.workload", dst.workload),
        ("dst.namespace", dst.namespace),
        ("dst.identity", dst.identity),
        ("direction", None if connection.direction is None else connection.direction.value),
        ("bytes_sent", connection.bytes_sent),
        ("bytes_recv", connection.bytes_recv),
        ("duration", None if duration is None else f"{duration // 10**6}ms"),
        ("error", connection.error),
        *connection.extra.items(),
    ]
    return [(key, value) for key, value in candidates if value is not None]


def as_text(connection: L4Connection) -> str:
    parts = []
    for key, value in fields(connection):
        if isinstance(value, L4Address | int):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={rust_debug(str(value))}")
    head = f"{rfc3339(connection.timestamp_ns)}\t{connection.level}\taccess\t"
    return head + connection.event.value + "\t" + " ".join(parts)


def as_json(connection: L4Connection) -> str:
    record: dict[str, object] = {
        "level": connection.level,
        "time": rfc3339(connection.timestamp_ns),
        "scope": "access",
        "message": connection.event.value,
    }
    for key, value in fields(connection):
        record[key] = str(value) if isinstance(value, L4Address) else value
    return json.dumps(record)


@given(connections)
def test_text_and_json_lines_read_back_the_entry(connection: L4Connection) -> None:
    assert parse_l4_line(as_text(connection)) == connection
    assert parse_l4_line(as_json(connection)) == connection


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_line_parses_is_skipped_or_raises_decode_error(line: str | bytes) -> None:
    try:
        result = parse_l4_line(line)
    except DecodeError:
        return
    assert isinstance(result, (L4Connection, LineSkip))


@given(
    st.sampled_from(["2024-05-30T12:18:10Z info access connection complete ", "accesslog: "]),
    st.text(max_size=200),
)
def test_any_fields_parse_or_raise_decode_error(head: str, tail: str) -> None:
    try:
        result = parse_l4_line(head + tail)
    except DecodeError:
        return
    assert isinstance(result, (L4Connection, LineSkip))


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_go_durations_read_back(ns: int) -> None:
    hours, rest = divmod(ns, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds, nanos = divmod(rest, 10**9)
    assert parse_go_duration(f"{ns}ns") == ns
    assert parse_go_duration(f"{hours}h{minutes}m{seconds}.{nanos:09d}s") == ns
    assert parse_go_duration(f"{ns // 1000}.{ns % 1000:03d}us") == ns
