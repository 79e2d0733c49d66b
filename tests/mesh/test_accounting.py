"""Nothing lost: every entry of the input is analysed, skipped, or dropped while reading.

A lenient analysis counts in its :class:`Accounting` what lenient decoding dropped before it
(``dropped``, by diagnostic kind): from each message's diagnostics and from the reader's. Each
case asserts the complete accounting, and where the input's entry count is known, that it is
``analyzed + skipped_total + entries_dropped``; strict mode raises instead.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest

from meshals import (
    Accounting,
    AlsMessage,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    Location,
    StaticResolver,
    analyze,
    decode_binary,
    decode_json,
    read,
)
from meshals._values import FrozenMap
from meshals.capture import Container
from meshals.codec import Limits, encode_binary
from meshals.codec._wire import encode_varint
from meshals.mesh import SkipReason
from meshals.mesh._accounting import dropped_by

RESOLVER = StaticResolver.from_mapping(
    {
        "10.0.0.1": {"service": "a", "instance": "a-1"},
        "10.0.0.2": {"service": "b", "instance": "b-1"},
    }
)
NODE = {"node": {"id": "sidecar~10.0.0.1~a-1.default~default.svc.cluster.local"}}
ENTRY = {
    "commonProperties": {
        "downstreamRemoteAddress": {"socketAddress": {"address": "10.0.0.1", "portValue": 40000}},
        "downstreamLocalAddress": {"socketAddress": {"address": "10.0.0.1", "portValue": 80}},
        "upstreamRemoteAddress": {"socketAddress": {"address": "10.0.0.2", "portValue": 80}},
        "upstreamCluster": "outbound|80||b.default.svc.cluster.local",
        "startTime": "2024-01-01T00:00:00Z",
    },
    "request": {"path": "/", "requestMethod": "GET"},
    "response": {"responseCode": 200},
}
NO_COMMON: dict[str, object] = {}  # skipped: no-common-properties
ENTRY_SKIPPED = DiagnosticKind.ENTRY_SKIPPED
MESSAGE_SKIPPED = DiagnosticKind.MESSAGE_SKIPPED
LINE_SKIPPED = DiagnosticKind.LINE_SKIPPED
PART_SKIPPED = DiagnosticKind.PART_SKIPPED
NOT_LISTED = DiagnosticKind.NOT_LISTED


def message_json(*entries: object, identified: bool = False) -> bytes:
    doc: dict[str, object] = {"httpLogs": {"logEntry": list(entries)}}
    if identified:
        doc = {"identifier": NODE, **doc}
    return json.dumps(doc).encode()


def message_binary(*entries: object, identified: bool = False) -> bytes:
    return encode_binary(decode_json(message_json(*entries, identified=identified), strict=True))


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def delimited(*frames: bytes) -> bytes:
    return b"".join(encode_varint(len(frame)) + frame for frame in frames)


# http_logs holding one entry whose upstream_cluster is not UTF-8: appended to a serialized
# message, protobuf merges it into the message's entry list (as entry N).
BAD_ENTRY = ld(2, ld(1, ld(1, ld(15, b"\xff"))))


def lenient_analysis(content: bytes, **options: object) -> tuple[Accounting, list[Diagnostic]]:
    reader = read(io.BytesIO(content), **options)  # type: ignore[arg-type]
    analysis = analyze(reader, resolver=RESOLVER)
    metrics = analysis.metrics()
    assert analysis.accounting.metrics_out == len(metrics)
    return analysis.accounting, reader.diagnostics


def assert_nothing_lost(accounting: Accounting, *, input_entries: int) -> None:
    """The input's *input_entries* entries are all analysed, skipped or dropped."""
    assert accounting.input_entries == input_entries
    assert accounting.analyzed + accounting.skipped_total + accounting.entries_dropped == (
        input_entries
    )


def strict_error(content: bytes, **options: object) -> str:
    reader = read(io.BytesIO(content), strict=True, **options)  # type: ignore[arg-type]
    with pytest.raises(DecodeError) as caught:
        analyze(reader, resolver=RESOLVER).metrics()
    return str(caught.value)


# --- (a) a JSON Lines file with one bad line among good ones ------------------------------------

JSON_LINES = b"\n".join(
    [
        message_json(ENTRY, NO_COMMON, identified=True),
        b'{"httpLogs": [}',  # not JSON: the message (line 2) is dropped whole
        message_json(ENTRY, 7),  # an entry that is not an object: that entry is dropped
        message_json(ENTRY),
    ]
)


def test_json_lines_with_one_bad_line() -> None:
    accounting, diagnostics = lenient_analysis(JSON_LINES)
    assert accounting == Accounting(
        streams=1,
        messages=3,
        entries_in=4,
        analyzed=3,
        skipped=FrozenMap({SkipReason.NO_COMMON_PROPERTIES: 1}),
        metrics_out=3,
        dropped=FrozenMap({ENTRY_SKIPPED: 1, MESSAGE_SKIPPED: 1}),
    )
    assert [(d.kind, d.location.message_index) for d in diagnostics] == [(MESSAGE_SKIPPED, 1)]
    assert accounting.entries_dropped == 1
    assert accounting.input_entries is None  # the lost line's entries are not known
    assert accounting.to_dict() == {
        "streams": 1,
        "messages": 3,
        "entries_in": 4,
        "analyzed": 3,
        "skipped": {"no-common-properties": 1},
        "skipped_total": 1,
        "metrics_out": 3,
        "dropped": {"entry-skipped": 1, "message-skipped": 1},
        "entries_dropped": 1,
        "input_entries": None,
    }


def test_json_lines_without_a_lost_line_adds_up_to_the_input() -> None:
    content = b"\n".join(JSON_LINES.split(b"\n")[::2])  # lines 1 and 3: four entries
    accounting, diagnostics = lenient_analysis(content)
    assert diagnostics == []
    assert accounting == Accounting(
        streams=1,
        messages=2,
        entries_in=3,
        analyzed=2,
        skipped=FrozenMap({SkipReason.NO_COMMON_PROPERTIES: 1}),
        metrics_out=2,
        dropped=FrozenMap({ENTRY_SKIPPED: 1}),
    )
    assert_nothing_lost(accounting, input_entries=4)


def test_json_lines_strict_raises_at_the_bad_line() -> None:
    assert strict_error(JSON_LINES) == (
        "<stream>, message 1: invalid JSON: Expecting value at line 1 column 15"
    )


# --- (b) a binary message with one undecodable entry ----------------------------------------------

BINARY = message_binary(ENTRY, NO_COMMON, identified=True) + BAD_ENTRY  # entries 0, 1; 2 bad


def test_binary_message_with_one_undecodable_entry() -> None:
    accounting, diagnostics = lenient_analysis(BINARY, container=Container.BINARY)
    assert diagnostics == []  # the reader dropped nothing: the message did, inside
    assert accounting == Accounting(
        streams=1,
        messages=1,
        entries_in=2,
        analyzed=1,
        skipped=FrozenMap({SkipReason.NO_COMMON_PROPERTIES: 1}),
        metrics_out=1,
        dropped=FrozenMap({ENTRY_SKIPPED: 1}),
    )
    assert_nothing_lost(accounting, input_entries=3)


def test_binary_message_decoded_by_hand_accounts_the_same() -> None:
    message = decode_binary(BINARY, source="cap.bin")
    assert [(d.kind, d.location.entry_index) for d in message.diagnostics] == [(ENTRY_SKIPPED, 2)]
    analysis = analyze([message], resolver=RESOLVER)
    analysis.metrics()
    assert analysis.accounting == lenient_analysis(BINARY, container=Container.BINARY)[0]


def test_binary_message_strict_raises_at_the_entry() -> None:
    assert strict_error(BINARY, container=Container.BINARY) == (
        "<stream>, message 0, entry 2, field"
        " http_logs.log_entry[2].common_properties.upstream_cluster:"
        " not a StreamAccessLogsMessage: a string is not UTF-8 at byte offset "
        f"{len(BINARY) - 1}"
    )


# --- (c) a delimited file whose framing breaks midway ---------------------------------------------

GOOD_FRAME = message_binary(ENTRY, ENTRY)
DELIMITED = (
    delimited(
        message_binary(ENTRY, identified=True),
        b"\x12\x03\x0a\x05\x08",  # a frame that does not decode: dropped whole
        GOOD_FRAME + BAD_ENTRY,  # two entries kept, one dropped
        GOOD_FRAME,
    )[:-3]  # the last frame cut off: the rest of the stream is lost
)


def test_delimited_stream_whose_framing_breaks_midway() -> None:
    accounting, diagnostics = lenient_analysis(DELIMITED)
    assert accounting == Accounting(
        streams=1,
        messages=2,
        entries_in=3,
        analyzed=3,
        metrics_out=3,
        dropped=FrozenMap({ENTRY_SKIPPED: 1, MESSAGE_SKIPPED: 1, PART_SKIPPED: 1}),
    )
    assert [(d.kind, d.location.message_index) for d in diagnostics] == [
        (MESSAGE_SKIPPED, 1),
        (PART_SKIPPED, 3),
    ]
    assert accounting.input_entries is None


def test_delimited_stream_strict_raises_at_the_first_bad_frame() -> None:
    assert strict_error(DELIMITED) == (
        "<stream>, message 1, entry 0, field http_logs.log_entry[0]: not a"
        " StreamAccessLogsMessage: the data ends inside the varint of field 1 at byte offset 5"
    )


# --- (d) an L4 log with a bad line ----------------------------------------------------------------

L4_LINE = (
    "2024-05-30T12:18:10.172761Z info access connection complete src.addr=10.0.0.1:47667"
    " src.workload=a-1 src.namespace=default dst.addr=10.0.0.2:8080 dst.workload=b-1"
    ' dst.namespace=default direction="inbound" bytes_sent=239 bytes_recv=76 duration="2ms"'
)
L4_LOG = "\n".join(
    [
        L4_LINE,
        L4_LINE.replace("bytes_sent=239", "bytes_sent=ten"),  # a bad line: dropped
        "2024-05-30T12:18:10.172761Z info xds connected",  # not a connection: no entry
        L4_LINE,
    ]
).encode()


def test_l4_log_with_a_bad_line() -> None:
    accounting, diagnostics = lenient_analysis(L4_LOG)
    assert accounting == Accounting(
        streams=1,
        entries_in=2,
        analyzed=2,
        metrics_out=2,
        dropped=FrozenMap({LINE_SKIPPED: 1}),
    )
    assert diagnostics == [
        Diagnostic(
            kind=LINE_SKIPPED,
            location=Location(source="<stream>", message_index=1, field="bytes_sent"),
            reason="line 2: access log line skipped: not a byte count (a whole number >= 0): 'ten'",
        )
    ]
    assert accounting.entries_dropped == 1
    assert_nothing_lost(accounting, input_entries=3)


def test_l4_log_strict_raises_at_the_bad_line() -> None:
    assert strict_error(L4_LOG) == (
        "<stream>, message 1, field bytes_sent: line 2: not a byte count (a whole number >= 0):"
        " 'ten'"
    )


# --- how and when drops are counted ---------------------------------------------------------------


def test_drops_are_counted_as_the_analysis_goes() -> None:
    reader = read(io.BytesIO(JSON_LINES))
    analysis = analyze(reader, resolver=RESOLVER)
    steps = []
    for _ in analysis:
        accounting = analysis.accounting
        steps.append((accounting.entries_in, dict(accounting.dropped)))
    assert steps == [
        (1, {}),  # line 1, entry 0
        # Entry 1 skipped; line 2 dropped on the way to line 3, whose entry 1 was dropped.
        (3, {ENTRY_SKIPPED: 1, MESSAGE_SKIPPED: 1}),
        (4, {ENTRY_SKIPPED: 1, MESSAGE_SKIPPED: 1}),  # line 4
    ]
    assert analysis.accounting.dropped == {ENTRY_SKIPPED: 1, MESSAGE_SKIPPED: 1}


def test_readers_as_streams_are_each_counted(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.bin"
    first.write_bytes(JSON_LINES)
    second.write_bytes(DELIMITED)
    analysis = analyze([read(first), read(second)], resolver=RESOLVER)
    analysis.metrics()
    assert analysis.accounting.streams == 2
    assert analysis.accounting.dropped == {
        ENTRY_SKIPPED: 2,
        MESSAGE_SKIPPED: 2,
        PART_SKIPPED: 1,
    }


def test_separate_analyses_merge_to_the_same_counts(tmp_path: Path) -> None:
    accountings = [
        lenient_analysis(content)[0] for content in (JSON_LINES, DELIMITED, L4_LOG, BINARY)
    ]
    merged = accountings[0] + accountings[1] + accountings[2] + accountings[3]
    assert merged.dropped == {
        ENTRY_SKIPPED: 3,
        MESSAGE_SKIPPED: 2,
        LINE_SKIPPED: 1,
        PART_SKIPPED: 1,
    }
    assert list(merged.dropped) == [ENTRY_SKIPPED, MESSAGE_SKIPPED, LINE_SKIPPED, PART_SKIPPED]
    assert merged.entries_dropped == 4
    assert merged.entries_in == sum(accounting.entries_in for accounting in accountings)


def test_a_wrapped_reader_hides_its_own_drops() -> None:
    reader = read(io.BytesIO(JSON_LINES))
    analysis = analyze(itertools.chain(reader), resolver=RESOLVER)
    analysis.metrics()
    assert analysis.accounting.dropped == {ENTRY_SKIPPED: 1}  # the message's, not the reader's


def test_a_reader_partly_read_before_counts_from_where_the_analysis_began() -> None:
    reader = read(io.BytesIO(JSON_LINES))
    next(reader)
    next(reader)  # drops line 2 on the way to line 3
    analysis = analyze(reader, resolver=RESOLVER)
    analysis.metrics()
    assert analysis.accounting.entries_in == 1
    assert analysis.accounting.dropped == {}


def test_problems_past_max_diagnostics_make_the_input_count_unknown() -> None:
    text = message_json(1, 2, 3, ENTRY)
    message = decode_json(text, limits=Limits(max_diagnostics=2))
    assert [d.kind for d in message.diagnostics] == [ENTRY_SKIPPED, ENTRY_SKIPPED, NOT_LISTED]
    analysis = analyze([message], resolver=RESOLVER)
    analysis.metrics()
    assert analysis.accounting.dropped == {ENTRY_SKIPPED: 2, NOT_LISTED: 1}
    assert analysis.accounting.entries_dropped == 2  # at least
    assert analysis.accounting.input_entries is None


def test_values_ignored_and_notes_drop_nothing() -> None:
    text = message_json(ENTRY).replace(b'"httpLogs"', b'"bogus": 1, "httpLogs"')
    message = decode_json(text)
    assert [d.kind for d in message.diagnostics] == [DiagnosticKind.VALUE_IGNORED]
    analysis = analyze([message, AlsMessage()], resolver=RESOLVER)
    analysis.metrics()
    assert [d.kind for d in analysis.diagnostics] == [DiagnosticKind.NOTE]
    assert analysis.accounting.dropped == {}
    assert analysis.accounting.input_entries == 1


def test_dropped_by_counts_the_dropping_kinds_only() -> None:
    kinds = [
        DiagnosticKind.VALUE_IGNORED,
        DiagnosticKind.ENTRY_SKIPPED,
        DiagnosticKind.PART_SKIPPED,
        DiagnosticKind.ENTRY_SKIPPED,
    ]
    diagnostics = [Diagnostic(kind=kind, location=Location(), reason="r") for kind in kinds]
    assert dropped_by(diagnostics) == Accounting(
        dropped=FrozenMap({DiagnosticKind.ENTRY_SKIPPED: 2, DiagnosticKind.PART_SKIPPED: 1})
    )
    assert dropped_by([]) == Accounting()
