"""ztunnel and Kmesh connection log lines: the typed entry, every line shape, every bad line."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from meshals import DecodeError
from meshals._values import FrozenMap
from meshals.codec._go_duration import parse_go_duration
from meshals.codec._l4_fields import _FieldError
from meshals.codec._l4_lines import log_line_format, parse_l4_line
from meshals.model._l4 import (
    ConnectionEvent,
    Direction,
    L4Address,
    L4Connection,
    L4Peer,
    L4Producer,
    LineSkip,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ztunnel"


def ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time, by the standard library."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + int(fraction.ljust(9, "0"))


# The line of the Kmesh proposal (seeds/kmesh-observability-proposal-2024.md), on one line.
PROPOSAL_LINE = (
    "2024-05-30T12:18:10.172761Z info access connection complete src.addr=10.244.0.10:47667"
    " src.workload=sleep-7656cf8794-9v2gv src.namespace=ambient-demo"
    ' src.identity="spiffe://cluster.local/ns/ambient-demo/sa/sleep" dst.addr=10.244.0.7:8080'
    " dst.hbone_addr=10.244.0.7:8080 dst.service=httpbin.ambient-demo.svc.cluster.local"
    " dst.workload=httpbin-86b8ffc5ff-bhvxx dst.namespace=ambient-demo"
    ' dst.identity="spiffe://cluster.local/ns/ambient-demo/sa/httpbin" direction="inbound"'
    ' bytes_sent=239 bytes_recv=76 duration="2ms"'
)
SLEEP = L4Peer(
    address=L4Address("10.244.0.10", 47667),
    workload="sleep-7656cf8794-9v2gv",
    namespace="ambient-demo",
    identity="spiffe://cluster.local/ns/ambient-demo/sa/sleep",
)
HTTPBIN = L4Peer(
    address=L4Address("10.244.0.7", 8080),
    workload="httpbin-86b8ffc5ff-bhvxx",
    namespace="ambient-demo",
    identity="spiffe://cluster.local/ns/ambient-demo/sa/httpbin",
)
PROPOSAL_ENTRY = L4Connection(
    event=ConnectionEvent.COMPLETE,
    timestamp_ns=ns("2024-05-30T12:18:10.172761Z"),
    level="info",
    src=SLEEP,
    dst=HTTPBIN,
    dst_hbone_address=L4Address("10.244.0.7", 8080),
    dst_service="httpbin.ambient-demo.svc.cluster.local",
    direction=Direction.INBOUND,
    bytes_sent=239,
    bytes_recv=76,
    duration_ns=2_000_000,
)

# The same connection in ztunnel's JSON format.
PROPOSAL_JSON = json.dumps(
    {
        "level": "info",
        "time": "2024-05-30T12:18:10.172761Z",
        "scope": "access",
        "message": "connection complete",
        "src.addr": "10.244.0.10:47667",
        "src.workload": "sleep-7656cf8794-9v2gv",
        "src.namespace": "ambient-demo",
        "src.identity": "spiffe://cluster.local/ns/ambient-demo/sa/sleep",
        "dst.addr": "10.244.0.7:8080",
        "dst.hbone_addr": "10.244.0.7:8080",
        "dst.service": "httpbin.ambient-demo.svc.cluster.local",
        "dst.workload": "httpbin-86b8ffc5ff-bhvxx",
        "dst.namespace": "ambient-demo",
        "dst.identity": "spiffe://cluster.local/ns/ambient-demo/sa/httpbin",
        "direction": "inbound",
        "bytes_sent": 239,
        "bytes_recv": 76,
        "duration": "2ms",
    }
)

TAB_HEAD = "2024-06-03T09:12:07.094336Z\terror\taccess\tconnection complete\t"
JSON_HEAD = '{"time":"2024-06-03T09:14:00Z","scope":"access","message":"connection complete",'
KMESH_HEAD = "accesslog: 2024-08-14 10:40:08.005837715 +0000 UTC "
KMESH_TIME = ns("2024-08-14T10:40:08.005837715Z")


def tab_entry(**fields: Any) -> L4Connection:
    """The entry of a line that starts with TAB_HEAD, with *fields*."""
    return L4Connection(
        event=ConnectionEvent.COMPLETE,
        timestamp_ns=ns("2024-06-03T09:12:07.094336Z"),
        level="error",
        **fields,
    )


# (line, the entry it gives)
ENTRIES = [
    pytest.param(PROPOSAL_LINE, PROPOSAL_ENTRY, id="proposal-spaces"),
    pytest.param(
        PROPOSAL_LINE.replace(" ", "\t", 3).replace(" src.addr", "\tsrc.addr"),
        PROPOSAL_ENTRY,
        id="tabs",
    ),
    pytest.param(PROPOSAL_JSON, PROPOSAL_ENTRY, id="json"),
    pytest.param(
        "2024-06-03T09:12:05.131407Z\tinfo\taccess\tconnection complete\t"
        'src.addr=10.244.1.14:44470 src.workload="reviews-v2-86d5db4bd6-dbw4f"'
        ' dst.addr=10.244.2.8:15008 dst.hbone_addr=10.244.2.8:9080 direction="outbound"'
        ' bytes_sent=211 bytes_recv=219 duration="6ms"',
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-06-03T09:12:05.131407Z"),
            level="info",
            src=L4Peer(
                address=L4Address("10.244.1.14", 44470), workload="reviews-v2-86d5db4bd6-dbw4f"
            ),
            dst=L4Peer(address=L4Address("10.244.2.8", 15008)),
            dst_hbone_address=L4Address("10.244.2.8", 9080),
            direction=Direction.OUTBOUND,
            bytes_sent=211,
            bytes_recv=219,
            duration_ns=6_000_000,
        ),
        id="outbound-no-identity-no-service",
    ),
    pytest.param(
        TAB_HEAD + 'src.addr=10.244.0.1:53412 dst.addr=10.244.1.12:9080 direction="inbound"'
        ' bytes_sent=5293 bytes_recv=245 duration="31ms" error="connection refused"',
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-06-03T09:12:07.094336Z"),
            level="error",
            src=L4Peer(address=L4Address("10.244.0.1", 53412)),
            dst=L4Peer(address=L4Address("10.244.1.12", 9080)),
            direction=Direction.INBOUND,
            bytes_sent=5293,
            bytes_recv=245,
            duration_ns=31_000_000,
            error="connection refused",
        ),
        id="error-no-hbone",
    ),
    pytest.param(
        "2024-06-03T09:12:05.112640Z\tdebug\taccess\tconnection opened\t"
        'src.addr=10.244.1.12:51842 dst.addr=10.244.1.13:15008 direction="outbound"',
        L4Connection(
            event=ConnectionEvent.OPENED,
            timestamp_ns=ns("2024-06-03T09:12:05.112640Z"),
            level="debug",
            src=L4Peer(address=L4Address("10.244.1.12", 51842)),
            dst=L4Peer(address=L4Address("10.244.1.13", 15008)),
            direction=Direction.OUTBOUND,
        ),
        id="opened",
    ),
    pytest.param(
        "2024-06-03T09:12:07.311875Z\twarn\taccess\tconnection failed\t"
        'src.addr=10.244.1.12:52214 dst.addr=10.244.1.13:15008 direction="inbound"'
        ' error="connection closed due to policy rejection"',
        L4Connection(
            event=ConnectionEvent.FAILED,
            timestamp_ns=ns("2024-06-03T09:12:07.311875Z"),
            level="warn",
            src=L4Peer(address=L4Address("10.244.1.12", 52214)),
            dst=L4Peer(address=L4Address("10.244.1.13", 15008)),
            direction=Direction.INBOUND,
            error="connection closed due to policy rejection",
        ),
        id="failed",
    ),
    pytest.param(
        # Older ztunnels: strings unquoted; an unquoted value may hold spaces.
        "2023-12-19T18:41:51.124738Z  INFO  access  connection complete"
        " src.addr=[fd00::a]:40000 dst.addr=[fd00::b]:15008 dst.hbone_addr=[fd00::b]:80"
        " direction=outbound error=io error: broken pipe duration=1m2.5s",
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2023-12-19T18:41:51.124738Z"),
            level="info",
            src=L4Peer(address=L4Address("fd00::a", 40000)),
            dst=L4Peer(address=L4Address("fd00::b", 15008)),
            dst_hbone_address=L4Address("fd00::b", 80),
            direction=Direction.OUTBOUND,
            duration_ns=62_500_000_000,
            error="io error: broken pipe",
        ),
        id="unquoted-ipv6-upper-level",
    ),
    pytest.param(
        TAB_HEAD
        + 'error="a \\"quoted\\" word\\\\path\\ttab\\u{e9}\\u{1F600}" dst.cluster="Kubernetes"'
        " dst.hbone_addr=mysql.vm-db.svc.cluster.local:3306 retries=2",
        tab_entry(
            dst_hbone_address=L4Address("mysql.vm-db.svc.cluster.local", 3306),
            error='a "quoted" word\\path\ttab\u00e9\U0001f600',
            extra=FrozenMap({"dst.cluster": "Kubernetes", "retries": "2"}),
        ),
        id="escapes-extra-hbone-name",
    ),
    pytest.param(
        TAB_HEAD + 'src.workload="" bytes_sent=1 bytes_sent=2',
        tab_entry(bytes_sent=2),
        id="empty-is-absent-last-repeat-wins",
    ),
    pytest.param(
        "2024-05-30T14:18:10.5+02:00 info access connection complete",
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-05-30T12:18:10.5Z"),
            level="info",
        ),
        id="offset-no-fields",
    ),
    pytest.param(
        json.dumps(
            {
                "time": "2024-05-30T12:18:10Z",
                "scope": "access",
                "message": "connection complete",
                "bytes_sent": "12",
                "src.identity": None,
                "spans": [{"name": "outbound", "id": 7}],
                "ratio": 0.5,
                "ok": True,
            }
        ),
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-05-30T12:18:10Z"),
            bytes_sent=12,
            extra=FrozenMap({"spans": '[{"name":"outbound","id":7}]', "ratio": 0.5, "ok": True}),
        ),
        id="json-no-level-extras",
    ),
    pytest.param(
        JSON_HEAD
        + '"src.addr":null,"dst.hbone_addr":null,"direction":null,"bytes_recv":null,'
        + '"duration":null,"error":null}',
        L4Connection(event=ConnectionEvent.COMPLETE, timestamp_ns=ns("2024-06-03T09:14:00Z")),
        id="json-nulls-are-absent",
    ),
    pytest.param(
        KMESH_HEAD + "src.addr=10.244.0.10:47667, src.workload=sleep-7656cf8794-9v2gv,"
        " src.namespace=ambient-demo, dst.addr=10.244.0.7:8080,"
        " dst.service=httpbin.ambient-demo.svc.cluster.local,"
        " dst.workload=httpbin-86b8ffc5ff-bhvxx,"
        " dst.namespace=ambient-demo, direction=INBOUND, sent_bytes=60, received_bytes=172,"
        " duration=2.236ms",
        L4Connection(
            producer=L4Producer.KMESH,
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=KMESH_TIME,
            src=L4Peer(
                address=L4Address("10.244.0.10", 47667),
                workload="sleep-7656cf8794-9v2gv",
                namespace="ambient-demo",
            ),
            dst=L4Peer(
                address=L4Address("10.244.0.7", 8080),
                workload="httpbin-86b8ffc5ff-bhvxx",
                namespace="ambient-demo",
            ),
            dst_service="httpbin.ambient-demo.svc.cluster.local",
            direction=Direction.INBOUND,
            bytes_sent=60,
            bytes_recv=172,
            duration_ns=2_236_000,
        ),
        id="kmesh",
    ),
    pytest.param(
        "accesslog: 2024-08-14 18:40:08.1 +0800 CST src.addr=10.244.0.10:52044,"
        " dst.service=-, start_time=2024-08-14 10:40:10.001241114 +0000 UTC, status=failed,"
        " direction=OUTBOUND, srtt=0us",
        L4Connection(
            producer=L4Producer.KMESH,
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-08-14T10:40:08.1Z"),
            src=L4Peer(address=L4Address("10.244.0.10", 52044)),
            direction=Direction.OUTBOUND,
            extra=FrozenMap(
                {
                    "start_time": "2024-08-14 10:40:10.001241114 +0000 UTC",
                    "status": "failed",
                    "srtt": "0us",
                }
            ),
        ),
        id="kmesh-newer-fields-unknown-offset",
    ),
    pytest.param(
        "accesslog: 2024-08-14 10:40:08 +0000",
        L4Connection(
            producer=L4Producer.KMESH,
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-08-14T10:40:08Z"),
        ),
        id="kmesh-no-fields",
    ),
    pytest.param(
        # The highest code point, and the two next to the surrogates, which are refused.
        TAB_HEAD + 'error="\\u{10FFFF}\\u{D7FF}\\u{E000}"',
        tab_entry(error="\U0010ffff\ud7ff\ue000"),
        id="unicode-escape-boundaries",
    ),
    pytest.param(
        # A bare value runs from the "=": a blank there is kept, as read.
        TAB_HEAD + "error= io error dst.workload=x",
        tab_entry(dst=L4Peer(workload="x"), error=" io error"),
        id="bare-value-from-the-equals-sign",
    ),
    pytest.param(
        JSON_HEAD + '"dst.addr":"10.0.0.1:65535","bytes_sent":"18446744073709551615",'
        '"spans":[{"name":"\u00e9"}]}',
        L4Connection(
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=ns("2024-06-03T09:14:00Z"),
            dst=L4Peer(address=L4Address("10.0.0.1", 65535)),
            bytes_sent=2**64 - 1,
            extra=FrozenMap({"spans": '[{"name":"\u00e9"}]'}),
        ),
        id="json-highest-port-20-digit-count-non-ascii-extra",
    ),
    pytest.param(
        KMESH_HEAD + "src.workload=a=b, query=x=1",
        L4Connection(
            producer=L4Producer.KMESH,
            event=ConnectionEvent.COMPLETE,
            timestamp_ns=KMESH_TIME,
            src=L4Peer(workload="a=b"),
            extra=FrozenMap({"query": "x=1"}),
        ),
        id="kmesh-value-with-equals-sign",
    ),
]

# Capture prefixes around the proposal line and its JSON form.
PREFIXED = [
    pytest.param(f"2024-05-30T12:18:10.173Z stderr F {PROPOSAL_LINE}", id="cri"),
    pytest.param(f"2024-05-30T12:18:10.173Z stdout F {PROPOSAL_JSON}", id="cri-json"),
    pytest.param(f"2024-05-30T12:18:10.172800000Z {PROPOSAL_LINE}", id="kubectl-timestamps"),
    pytest.param(f"[pod/ztunnel-8xw2q/istio-proxy] {PROPOSAL_LINE}", id="kubectl-prefix"),
    pytest.param(
        f"[pod/ztunnel-8xw2q/istio-proxy] 2024-05-30T12:18:10.172800000Z {PROPOSAL_JSON}",
        id="kubectl-prefix-and-timestamps",
    ),
    pytest.param(f"  {PROPOSAL_LINE}\r", id="surrounding-whitespace"),
]


@pytest.mark.parametrize(("line", "expected"), ENTRIES)
def test_parse_l4_line(line: str, expected: L4Connection) -> None:
    parsed = parse_l4_line(line, source="x.log", index=3, line=5)
    assert parsed == expected
    assert isinstance(parsed, L4Connection)
    assert (parsed.source, parsed.index, parsed.line) == ("x.log", 3, 5)


@pytest.mark.parametrize("line", PREFIXED)
def test_capture_prefixes_are_removed(line: str) -> None:
    assert parse_l4_line(line) == PROPOSAL_ENTRY
    assert parse_l4_line(line.encode()) == PROPOSAL_ENTRY


SKIPPED = [
    ("2024-06-03T09:12:00.101554Z\tinfo\tapp\tin-pod mode enabled", LineSkip.OTHER_SCOPE),
    (
        "2024-06-03T09:12:00.215904Z\tinfo\txds::client:xds{id=1}\tStream established",
        LineSkip.OTHER_SCOPE,
    ),
    ("2024-06-03T09:12:00Z\tinfo\taccess", LineSkip.OTHER_MESSAGE),
    ("2024-06-03T09:12:00Z\tinfo\taccess\tconnection completed x=1", LineSkip.OTHER_MESSAGE),
    ("2024-06-03T09:12:00Z\tinfo\taccess\trequest complete\tsrc.addr=x", LineSkip.OTHER_MESSAGE),
    ("2024-06-03T09:12:00Z\tnotice\taccess\tconnection complete", LineSkip.NOT_A_LOG_LINE),
    (
        'time="2024-08-14T10:39:58Z" level=info msg="kmesh start" subsys=manager',
        LineSkip.NOT_A_LOG_LINE,
    ),
    ("   ", LineSkip.NOT_A_LOG_LINE),
    ("panicked at src/main.rs:10", LineSkip.NOT_A_LOG_LINE),
    (
        "2024-06-03T09:13:01.204Z stdout P 2024-06-03T09:13:01Z info access connection complete",
        LineSkip.NOT_A_LOG_LINE,
    ),
    ('{"level":"info","msg":"no scope"}', LineSkip.NOT_A_LOG_LINE),
    ('{"scope":"access","message":"connection complete","tcpLogs":{}}', LineSkip.NOT_A_LOG_LINE),
    ('{"scope":"dns","message":"dns request","time":"x"}', LineSkip.OTHER_SCOPE),
    ('{"scope":"access","message":"connection upgraded"}', LineSkip.OTHER_MESSAGE),
]


@pytest.mark.parametrize(("line", "expected"), SKIPPED)
def test_lines_that_are_no_entries(line: str, expected: LineSkip) -> None:
    assert parse_l4_line(line) is expected


# (line, field, reason)
BAD_LINES = [
    (TAB_HEAD + 'src.workload="sleep', "src.workload", "malformed quoting: no closing quote"),
    (
        TAB_HEAD + 'src.workload="sl"eep"',
        "src.workload",
        "malformed quoting: text right after the closing quote",
    ),
    (TAB_HEAD + 'error="bad \\q escape"', "error", "malformed quoting: bad escape '\\\\q'"),
    (TAB_HEAD + 'error="\\u{D800}"', "error", "malformed quoting: bad escape '\\\\u{D800}'"),
    (TAB_HEAD + 'error="\\u{110000}"', "error", "malformed quoting: bad escape '\\\\u{110000}'"),
    (TAB_HEAD + 'error="\\u{DFFF}"', "error", "malformed quoting: bad escape '\\\\u{DFFF}'"),
    (TAB_HEAD + 'error="\\u{zz}"', "error", "malformed quoting: bad escape '\\\\u'"),
    (TAB_HEAD + "bytes_sent=ten", "bytes_sent", "not a byte count (a whole number >= 0): 'ten'"),
    (TAB_HEAD + "bytes_recv=-1", "bytes_recv", "not a byte count (a whole number >= 0): '-1'"),
    (
        TAB_HEAD + "bytes_recv=" + "9" * 21,
        "bytes_recv",
        "not a byte count (a whole number >= 0): '999999999999999999999'",
    ),
    (
        TAB_HEAD + "src.addr=productpage:9080",
        "src.addr",
        "not an IP address and port: 'productpage:9080'",
    ),
    (TAB_HEAD + "dst.addr=10.0.0.1", "dst.addr", "not an IP address and port: '10.0.0.1'"),
    (
        TAB_HEAD + "dst.addr=10.0.0.1:65536",
        "dst.addr",
        "not an IP address and port: '10.0.0.1:65536'",
    ),
    (TAB_HEAD + "dst.addr=fd00::1:80", "dst.addr", "not an IP address and port: 'fd00::1:80'"),
    (
        TAB_HEAD + "dst.addr=10.0.0.1:" + "9" * 5000,
        "dst.addr",
        "not an IP address and port: '10.0.0.1:9999999999999999999999999999999…'",
    ),
    (
        TAB_HEAD + "dst.addr=10.0.0.1:000080",
        "dst.addr",
        "not an IP address and port: '10.0.0.1:000080'",
    ),
    (
        TAB_HEAD + "dst.addr=[fd00::1:80",
        "dst.addr",
        "not an IP address and port: '[fd00::1:80'",
    ),
    (
        TAB_HEAD + "dst.addr=[10.0.0.1]:80",
        "dst.addr",
        "not an IP address and port: '[10.0.0.1]:80'",
    ),
    (
        TAB_HEAD + "dst.hbone_addr=bad/host:80",
        "dst.hbone_addr",
        "not a host (IP or name) and port: 'bad/host:80'",
    ),
    (TAB_HEAD + 'duration="2 ms"', "duration", "not a Go duration: '2 ms'"),
    (TAB_HEAD + 'duration="5d"', "duration", "unknown unit 'd' in duration '5d'"),
    (TAB_HEAD + 'duration="-2ms"', "duration", "negative duration: '-2ms'"),
    (TAB_HEAD + 'direction="sideways"', "direction", "not 'inbound' or 'outbound': 'sideways'"),
    (
        TAB_HEAD + "direction=" + "d" * 40,
        "direction",
        "not 'inbound' or 'outbound': '" + "d" * 40 + "'",
    ),
    (
        "2024-06-03T09:14:61Z info access connection complete",
        "time",
        "bad time: '2024-06-03T09:14:61Z' is not a valid time of day",
    ),
    (
        TAB_HEAD + "src.addr=10.0.0.1:1 stray",
        "src.addr",
        "not an IP address and port: '10.0.0.1:1 stray'",
    ),
    (
        TAB_HEAD + '"quoted" src.addr=10.0.0.1:1',
        None,
        "expected key=value, found '\"quoted\" src.addr=10.0.0.1:1'",
    ),
    (
        JSON_HEAD + '"bytes_sent":-5}',
        "bytes_sent",
        "not a byte count (a whole number >= 0): -5",
    ),
    (
        JSON_HEAD + '"bytes_sent":1.5}',
        "bytes_sent",
        "not a byte count (a whole number >= 0): 1.5",
    ),
    (
        JSON_HEAD + '"src.addr":5}',
        "src.addr",
        "expected a string, got 5",
    ),
    (
        JSON_HEAD + '"error":[]}',
        "error",
        "expected a string, got list",
    ),
    (
        '{"scope":"access","message":"connection complete"}',
        "time",
        "expected an RFC 3339 time string",
    ),
    (
        JSON_HEAD + '"level":1}',
        "level",
        "expected a string",
    ),
    (
        '{"scope":"access","message":"connection complete"',
        None,
        "not a valid JSON object: Expecting ',' delimiter: line 1 column 50 (char 49)",
    ),
    ('{"a": NaN}', None, "not a valid JSON object: NaN is not JSON"),
    ("accesslog: yesterday src.addr=1", "time", "expected 'accesslog: <time> <key=value>, ...'"),
    (
        "accesslog: 2024-08-14 10:40:08.1234567890 +0000 UTC src.addr=1",
        "time",
        "bad time: '2024-08-14 10:40:08.1234567890 +0000 UTC'",
    ),
    (
        "accesslog: 2024-08-14 10:40:08 +2400 UTC direction=IN",
        "time",
        "bad time: '2024-08-14T10:40:08+24:00' has an invalid UTC offset",
    ),
    (KMESH_HEAD + "bogus, src.addr=10.0.0.1:1", None, "expected key=value, found 'bogus'"),
    (KMESH_HEAD + "=x, src.addr=10.0.0.1:1", None, "expected key=value, found '=x'"),
    (KMESH_HEAD + "sent_bytes=1.5", "sent_bytes", "not a byte count (a whole number >= 0): '1.5'"),
]


@pytest.mark.parametrize(("line", "field", "reason"), BAD_LINES)
def test_bad_entries_raise_naming_the_field(line: str, field: str | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_l4_line(line, source="z.log", index=7)
    assert (caught.value.reason, caught.value.field) == (reason, field)
    assert (caught.value.source, caught.value.message_index) == ("z.log", 7)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[1, 2]", None),
        ('"just a string"', None),
        ("{}", None),
        ('{"scope": 1, "message": "connection complete"}', None),
    ],
)
def test_json_that_is_no_log_record(line: str, reason: None) -> None:
    assert parse_l4_line(line) is LineSkip.NOT_A_LOG_LINE


def test_bytes_that_are_not_utf8() -> None:
    line = b"2024-06-03T09:14:00Z info access connection complete error=\xff"
    with pytest.raises(DecodeError) as caught:
        parse_l4_line(line, source="z.log", index=7)
    assert caught.value.reason == "not UTF-8 text: invalid start byte"
    assert (caught.value.source, caught.value.message_index) == ("z.log", 7)


def test_default_source() -> None:
    entry = parse_l4_line(PROPOSAL_LINE)
    assert isinstance(entry, L4Connection)
    assert (entry.source, entry.index, entry.line) == ("<text>", None, None)
    with pytest.raises(DecodeError) as caught:
        parse_l4_line(TAB_HEAD + "bytes_sent=ten")
    assert (caught.value.source, caught.value.message_index) == ("<text>", None)


def test_field_error_carries_its_reason() -> None:
    # Internal, always caught; should one escape, its message is the reason.
    error = _FieldError("not a byte count", "bytes_sent")
    assert (str(error), error.reason, error.field) == (
        "not a byte count",
        "not a byte count",
        "bytes_sent",
    )


GO_DURATIONS = [
    ("2ms", 2_000_000),
    ("1.5s", 1_500_000_000),
    ("350us", 350_000),
    ("350µs", 350_000),
    ("350μs", 350_000),
    ("10ns", 10),
    ("1m2s", 62_000_000_000),
    ("1h2m3.5s", 3_723_500_000_000),
    ("2.236ms", 2_236_000),
    ("1728.765417ms", 1_728_765_417),
    (".5s", 500_000_000),
    ("1.s", 1_000_000_000),
    ("0", 0),
    ("-0", 0),
    ("+0", 0),
    ("+5s", 5_000_000_000),
    ("-1.5h", -5_400_000_000_000),
    ("1.0000000009s", 1_000_000_000),  # truncated, as Go does
    ("0.9999999999ns", 0),
    ("9223372036854775807ns", 2**63 - 1),
    ("-9223372036854775808ns", -(2**63)),
    ("1000000000000000000ns", 10**18),  # 19 digits, as many as an in-range number has
    # Leading zeros are not digits of the range check: Go reads any number of them.
    ("0" * 19 + "1ns", 1),
    ("0" * 30 + "1.5s", 1_500_000_000),
    ("00.5s", 500_000_000),
    # Digits past the 30th are ignored: this 31st digit would carry 1/36 h up to 100 s.
    ("0.02" + "7" * 28 + "8h", 99_999_999_999),
]


@pytest.mark.parametrize(("text", "expected"), GO_DURATIONS)
def test_parse_go_duration(text: str, expected: int) -> None:
    assert parse_go_duration(text) == expected


BAD_GO_DURATIONS = [
    ("", "not a Go duration: ''"),
    ("2", "not a Go duration: '2'"),
    ("ms", "not a Go duration: 'ms'"),
    ("2 ms", "not a Go duration: '2 ms'"),
    ("1.2.3s", "not a Go duration: '1.2.3s'"),
    ("3d", "unknown unit 'd' in duration '3d'"),
    ("9223372036854775808ns", "duration '9223372036854775808ns' is out of range"),
    ("3000000h", "duration '3000000h' is out of range"),
    ("2562047h47m16.854775808s", "duration '2562047h47m16.854775808s' is out of range"),
    ("1" * 21 + "ns", f"duration '{'1' * 21}ns' is out of range"),
    ("1" * 20 + "ns", f"duration '{'1' * 20}ns' is out of range"),
    # Out of range after the first part: refused before the second is read.
    ("9223372036854775809ns1x", "duration '9223372036854775809ns1x' is out of range"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_GO_DURATIONS)
def test_parse_go_duration_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r".") as caught:
        parse_go_duration(text)
    assert str(caught.value) == reason


FORMATS = [
    (PROPOSAL_LINE, "text"),
    (PROPOSAL_JSON, "json"),
    ("2024-06-03T09:12:00.101554Z\tinfo\tapp\tin-pod mode enabled", "text"),
    (KMESH_HEAD + "src.addr=10.0.0.1:1", "text"),
    (f"2024-05-30T12:18:10.173Z stdout F {PROPOSAL_JSON}", "json"),
    ('{"scope":"access","message":"x","httpLogs":{}}', None),
    ('{"identifier": {}}', None),
    ("{not json", None),
    ("hello world", None),
    ("2024-06-03T09:12:00Z\tnotice\taccess\tconnection complete", None),
    ('time="2024-08-14T10:39:58Z" level=info msg="kmesh"', None),
    ("accesslog: garbage", None),
    ("", None),
]


@pytest.mark.parametrize(("line", "expected"), FORMATS)
def test_log_line_format(line: str, expected: str | None) -> None:
    assert log_line_format(line) == expected


def test_start_time_is_the_log_time_less_the_duration() -> None:
    assert PROPOSAL_ENTRY.start_time_ns == ns("2024-05-30T12:18:10.170761Z")
    opened = L4Connection(event=ConnectionEvent.OPENED, timestamp_ns=5, duration_ns=2)
    assert opened.start_time_ns == 5
    assert L4Connection(event=ConnectionEvent.COMPLETE, timestamp_ns=5).start_time_ns == 5


def test_address_text_and_ip() -> None:
    assert [str(L4Address("10.0.0.1", 80)), str(L4Address("fd00::1", 80))] == [
        "10.0.0.1:80",
        "[fd00::1]:80",
    ]
    assert [L4Address("10.0.0.1", 80).ip, L4Address("db.example", 80).ip] == ["10.0.0.1", None]


def test_ip_addresses_are_canonical() -> None:
    entry = parse_l4_line(TAB_HEAD + "src.addr=[FD00:0::00A]:1")
    assert isinstance(entry, L4Connection)
    assert entry.src.address == L4Address("fd00::a", 1)


def test_leading_zero_ipv4_is_refused() -> None:
    # Python refuses leading zeros (ambiguous octal); so does ztunnel's Rust parser.
    with pytest.raises(DecodeError, match=r"not an IP address and port: '010\.0\.0\.1:2'"):
        parse_l4_line(TAB_HEAD + "dst.addr=010.0.0.1:2")


def test_to_dict() -> None:
    entry = parse_l4_line(
        PROPOSAL_LINE + ' dst.cluster="Kubernetes"', source="z.log", index=0, line=1
    )
    assert isinstance(entry, L4Connection)
    assert entry.to_dict() == {
        "producer": "ztunnel",
        "event": "connection complete",
        "timestamp_ns": 1_717_071_490_172_761_000,
        "level": "info",
        "src": {
            "address": "10.244.0.10:47667",
            "workload": "sleep-7656cf8794-9v2gv",
            "namespace": "ambient-demo",
            "identity": "spiffe://cluster.local/ns/ambient-demo/sa/sleep",
        },
        "dst": {
            "address": "10.244.0.7:8080",
            "workload": "httpbin-86b8ffc5ff-bhvxx",
            "namespace": "ambient-demo",
            "identity": "spiffe://cluster.local/ns/ambient-demo/sa/httpbin",
        },
        "dst_hbone_address": "10.244.0.7:8080",
        "dst_service": "httpbin.ambient-demo.svc.cluster.local",
        "direction": "inbound",
        "bytes_sent": 239,
        "bytes_recv": 76,
        "duration_ns": 2_000_000,
        "error": None,
        "extra": {"dst.cluster": "Kubernetes"},
        "origin": {"source": "z.log", "index": 0, "line": 1},
    }
    json.dumps(entry.to_dict())


def test_text_and_json_fixtures_give_the_same_entries() -> None:
    text = (FIXTURES / "ambient-bookinfo.log").read_text().splitlines()
    json_lines = (FIXTURES / "ambient-bookinfo.jsonl").read_text().splitlines()
    assert len(text) == len(json_lines) == 18
    from_text = [parse_l4_line(line) for line in text]
    from_json = [parse_l4_line(line) for line in json_lines]
    assert from_text == from_json
    assert [item if isinstance(item, LineSkip) else item.event for item in from_text] == [
        LineSkip.OTHER_SCOPE,
        LineSkip.OTHER_SCOPE,
        LineSkip.OTHER_SCOPE,
        LineSkip.OTHER_SCOPE,
        ConnectionEvent.OPENED,
        ConnectionEvent.OPENED,
        *[ConnectionEvent.COMPLETE] * 8,
        ConnectionEvent.FAILED,
        *[ConnectionEvent.COMPLETE] * 2,
        LineSkip.OTHER_SCOPE,
    ]
