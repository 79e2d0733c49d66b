"""What JSON is not an ALS message: an object with members, none of them a message field."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from meshals import DecodeError, decode_json, read

FIXTURES = Path(__file__).parents[1] / "fixtures"
GROUND_TRUTH = FIXTURES / "envoy" / "ground_truth.json"


@pytest.mark.parametrize("strict", [False, True])
def test_the_recordings_ground_truth_is_not_an_als_message(strict: bool) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_json(GROUND_TRUTH.read_bytes(), source="truth.json", strict=strict)
    assert str(raised.value) == (
        'truth.json: not an ALS message: a JSON object whose members ("envoy_version",'
        ' "envoy_build", "resolver", ...) include none of identifier, httpLogs, tcpLogs'
        " (http_logs, tcp_logs)"
    )


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ('{"a": 1, "b": 2, "c": 3}', '"a", "b", "c"'),  # all three shown: no "..."
        ('{"a": 1, "b": 2, "c": 3, "d": 4}', '"a", "b", "c", ...'),
    ],
)
def test_the_members_shown_end_with_dots_only_when_some_are_left_out(
    text: str, members: str
) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_json(text)
    assert raised.value.reason == (
        f"not an ALS message: a JSON object whose members ({members}) include none of"
        " identifier, httpLogs, tcpLogs (http_logs, tcp_logs)"
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{}", None),  # proto3 JSON's empty message
        ('{"identifier": {}, "note": 1}', None),
        ('{"httpLogs": {}, "note": 1}', "http"),
        ('{"http_logs": {}, "note": 1}', "http"),  # the protobuf spelling
        ('{"tcpLogs": {}, "note": 1}', "tcp"),
        ('{"note": 1, "tcp_logs": {}}', "tcp"),  # wherever the member stands
    ],
)
def test_one_member_of_the_message_makes_an_als_message(text: str, kind: str | None) -> None:
    message = decode_json(text)
    assert (message.kind, message.entries) == (kind, ())
    assert [d.reason for d in message.diagnostics] == (
        [] if text == "{}" else ["unknown field 'note'; ignored"]
    )


def test_every_skywalking_als_recording_is_an_als_message() -> None:
    # envoy-metric.msg is a StreamMetricsMessage in protobuf's text format, not ALS or JSON.
    recordings = sorted(
        path for path in (FIXTURES / "skywalking").glob("*.msg") if path.name != "envoy-metric.msg"
    )
    assert len(recordings) == 4
    for recording in recordings:
        with read(recording) as reader:
            (message,) = reader.messages()
        assert message.identifier is not None


def test_a_json_lines_line_that_is_not_an_als_message_is_skipped_leniently() -> None:
    lines = io.BytesIO(
        b'{"identifier": {}}\n{"level": "info", "msg": "started"}\n{"httpLogs": {}}\n'
    )
    with read(lines, name="lines.jsonl") as reader:
        assert len(list(reader)) == 2
    assert [str(d) for d in reader.diagnostics] == [
        "lines.jsonl, message 1: line 2: message skipped: not an ALS message: a JSON object"
        ' whose members ("level", "msg") include none of identifier, httpLogs, tcpLogs'
        " (http_logs, tcp_logs)"
    ]
