"""DiagnosticKind: each kind comes from a concrete bad input, with its exact location."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import (
    Diagnostic,
    DiagnosticKind,
    Location,
    StaticResolver,
    analyze,
    decode_binary,
    decode_json,
    read,
)
from meshals._errors import map_entry_path
from meshals.capture import Container
from meshals.codec import Limits
from meshals.codec._wire import encode_varint

HTTP_ENTRY = '{"commonProperties": {"startTime": "2024-06-03T09:14:00Z"}}'


def _json_value() -> tuple[Diagnostic, ...]:
    text = '{"httpLogs": {"logEntry": [{"request": {"path": 5}}]}}'
    return decode_json(text, source="c.json").diagnostics


def _json_entry() -> tuple[Diagnostic, ...]:
    return decode_json('{"httpLogs": {"logEntry": [{}, 7]}}', source="c.json").diagnostics


def _binary_entry() -> tuple[Diagnostic, ...]:
    # Two entries; the second holds a string that is not UTF-8 (docs/errors.md).
    data = b"\x12\x0a\x0a\x00\x0a\x06\x0a\x04\x7a\x02\xc3\x28"
    return decode_binary(data, source="c.bin").diagnostics


def _json_lines_message() -> tuple[Diagnostic, ...]:
    content = b'{"httpLogs": {}}\nnot json\n{"tcpLogs": {}}\n'
    reader = read(io.BytesIO(content), container=Container.JSON_LINES)
    assert [message.index for message in reader] == [0, 2]
    return tuple(reader.diagnostics)


def _truncated_delimited_stream() -> tuple[Diagnostic, ...]:
    whole = b"\x12\x02\x0a\x00"  # http_logs with one empty entry
    content = encode_varint(len(whole)) + whole + encode_varint(100) + whole
    reader = read(io.BytesIO(content), container=Container.DELIMITED)
    assert [message.index for message in reader] == [0]
    return tuple(reader.diagnostics)


def _binary_oneof_overwritten() -> tuple[Diagnostic, ...]:
    # http_logs, then tcp_logs: protobuf keeps the last member set, dropping the HTTP entry.
    return decode_binary(b"\x12\x02\x0a\x00\x1a\x02\x0a\x00", source="c.bin").diagnostics


def _bad_ztunnel_line() -> tuple[Diagnostic, ...]:
    good = (
        "2024-06-03T09:14:00.000100Z\tinfo\taccess\tconnection complete\t"
        'src.addr=10.244.1.12:51900 dst.addr=10.244.1.13:15008 direction="outbound"'
    )
    bad = good.replace('"outbound"', '"sideways"')
    reader = read(io.BytesIO(f"{good}\n{bad}\n".encode()), container=Container.ZTUNNEL)
    assert len(list(reader)) == 1
    return tuple(reader.diagnostics)


def _too_many_problems() -> tuple[Diagnostic, ...]:
    text = '{"httpLogs": {}, "a": 1, "b": 2, "c": 3}'
    return decode_json(text, source="c.json", limits=Limits(max_diagnostics=1)).diagnostics


def _analysis_note() -> tuple[Diagnostic, ...]:
    # A stream whose first message has no identifier: its entries are skipped, and noted.
    message = decode_json(f'{{"httpLogs": {{"logEntry": [{HTTP_ENTRY}]}}}}', source="c.json")
    analysis = analyze([message], resolver=StaticResolver({}))
    assert analysis.metrics() == []
    return analysis.diagnostics


class KindCase(NamedTuple):
    name: str
    produce: Callable[[], tuple[Diagnostic, ...]]
    kind: DiagnosticKind
    location: Location


KIND_CASES = [
    KindCase(
        "json-value-ignored",
        _json_value,
        DiagnosticKind.VALUE_IGNORED,
        Location(source="c.json", entry_index=0, field="http_logs.log_entry[0].request.path"),
    ),
    KindCase(
        "json-entry-skipped",
        _json_entry,
        DiagnosticKind.ENTRY_SKIPPED,
        Location(source="c.json", entry_index=1, field="http_logs.log_entry[1]"),
    ),
    KindCase(
        "binary-entry-skipped",
        _binary_entry,
        DiagnosticKind.ENTRY_SKIPPED,
        Location(
            source="c.bin",
            entry_index=1,
            field="http_logs.log_entry[1].common_properties.upstream_cluster",
        ),
    ),
    KindCase(
        "json-lines-message-skipped",
        _json_lines_message,
        DiagnosticKind.MESSAGE_SKIPPED,
        Location(source="<stream>", message_index=1),
    ),
    KindCase(
        "delimited-stream-truncated",
        _truncated_delimited_stream,
        DiagnosticKind.PART_SKIPPED,
        Location(source="<stream>", message_index=1),
    ),
    KindCase(
        "binary-oneof-overwritten",
        _binary_oneof_overwritten,
        DiagnosticKind.PART_SKIPPED,
        Location(source="c.bin", field="http_logs"),
    ),
    KindCase(
        "ztunnel-line-skipped",
        _bad_ztunnel_line,
        DiagnosticKind.LINE_SKIPPED,
        Location(source="<stream>", message_index=1, field="direction"),
    ),
    KindCase(
        "more-not-listed",
        _too_many_problems,
        DiagnosticKind.NOT_LISTED,
        Location(source="c.json"),
    ),
    KindCase(
        "analysis-note",
        _analysis_note,
        DiagnosticKind.NOTE,
        Location(source="c.json"),
    ),
]


@pytest.mark.parametrize("case", KIND_CASES, ids=lambda case: case.name)
def test_each_kind_comes_from_a_concrete_bad_input(case: KindCase) -> None:
    diagnostics = case.produce()
    assert [(d.kind, d.location) for d in diagnostics][-1] == (case.kind, case.location)
    # Nothing else in the input is a problem, but for the problem NOT_LISTED counts.
    others = [d.kind for d in diagnostics[:-1]]
    assert others == (
        [DiagnosticKind.VALUE_IGNORED] if case.kind is DiagnosticKind.NOT_LISTED else []
    )


def test_every_kind_has_a_case() -> None:
    assert {case.kind for case in KIND_CASES} == set(DiagnosticKind)


def test_kind_values_are_stable() -> None:
    assert {kind.name: kind.value for kind in DiagnosticKind} == {
        "VALUE_IGNORED": "value-ignored",
        "ENTRY_SKIPPED": "entry-skipped",
        "MESSAGE_SKIPPED": "message-skipped",
        "LINE_SKIPPED": "line-skipped",
        "PART_SKIPPED": "part-skipped",
        "NOT_LISTED": "not-listed",
        "NOTE": "note",
    }


def test_str_is_the_location_and_the_reason() -> None:
    diagnostic = Diagnostic(
        kind=DiagnosticKind.ENTRY_SKIPPED,
        location=Location(source="c.json", entry_index=1),
        reason="null log entry; ignored",
    )
    assert str(diagnostic) == "c.json, entry 1: null log entry; ignored"


@given(st.text())
def test_map_entry_path_quotes_the_key_as_json_does(key: str) -> None:
    try:
        key.encode("utf-8")
        quoted = json.dumps(key, ensure_ascii=False)
    except UnicodeEncodeError:  # lone surrogates are escaped
        quoted = json.dumps(key)
    assert map_entry_path("custom_tags", key) == f"custom_tags[{quoted}]"
