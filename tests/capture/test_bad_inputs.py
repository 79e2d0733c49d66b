"""Hostile and broken input, case by case, each with its exact outcome (see docs/errors.md).

Every case runs in lenient and in strict mode. The outcome is either the exact
:class:`DecodeError` (reason, entry index, field) or what lenient decoding kept: the entries,
and the diagnostics (entry index, field, reason). Nothing but ``MeshalsError`` may escape.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from meshals import (
    AlsMessage,
    DecodeError,
    MeshalsError,
    ResolverError,
    StaticResolver,
    analyze,
    decode_binary,
    decode_json,
    read,
)
from meshals.capture import Container
from meshals.codec._wire import encode_varint
from meshals.mesh import SkipReason
from meshals.resolve import NameTemplate

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))
from fuzz_targets import TARGETS

Json = Any
REGRESSIONS = Path(__file__).parents[1] / "fixtures" / "regressions"


class Raises(NamedTuple):
    """The DecodeError a case raises."""

    reason: str
    entry_index: int | None = None
    field: str | None = None
    message_index: int | None = None  # read(): the message's position in the file


class Keeps(NamedTuple):
    """What lenient decoding keeps: the kind, how many entries, and each diagnostic."""

    kind: str | None
    entries: int
    diagnostics: tuple[tuple[int | None, str | None, str], ...] = ()
    identifier: bool = False


Outcome = Raises | Keeps


def outcome(call: Callable[[], AlsMessage]) -> Outcome:
    try:
        message = call()
    except DecodeError as error:
        return Raises(error.reason, error.entry_index, error.field, error.message_index)
    diagnostics = tuple(
        (d.location.entry_index, d.location.field, d.reason) for d in message.diagnostics
    )
    return Keeps(message.kind, len(message.entries), diagnostics, message.identifier is not None)


# --- binary building blocks -------------------------------------------------------------------


def tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag(number, 2) + encode_varint(len(payload)) + payload


def vi(number: int, value: int) -> bytes:
    """A varint field (negative numbers as protobuf writes int64: two's complement)."""
    return tag(number, 0) + encode_varint(value & (2**64 - 1))


IDENTIFIER = ld(1, ld(1, ld(1, b"sidecar~10.0.0.1~a~ns.svc.cluster.local")))  # node.id
EMPTY_ENTRY = ld(1, b"")


def http(*entries: bytes) -> bytes:
    return ld(2, b"".join(ld(1, entry) for entry in entries))


def common(*fields: bytes) -> bytes:
    """An HTTP entry holding common_properties with *fields*."""
    return ld(1, b"".join(fields))


def timestamp(seconds: int, nanos: int) -> bytes:
    return ld(5, vi(1, seconds) + vi(2, nanos))  # common_properties.start_time


def duration(seconds: int, nanos: int) -> bytes:
    return ld(23, vi(1, seconds) + vi(2, nanos))  # common_properties.duration


START = "http_logs.log_entry[0].common_properties.start_time"
DURATION = "http_logs.log_entry[0].common_properties.duration"
TIMESTAMP_RANGE = "valid is 0001-01-01..9999-12-31 with nanos in [0, 1e9)"
DURATION_RANGE = "valid is +-315576000000 s with nanos in (-1e9, 1e9) of the same sign as seconds"
NOT_A_MESSAGE = "not a StreamAccessLogsMessage: "
GOOD = http(common(timestamp(1_700_000_000, 0)))

BAD_STRING = common(ld(15, b"\xff"))  # an entry whose upstream_cluster is not UTF-8
SAN = "http_logs.log_entry[1].common_properties.tls_properties.peer_certificate_properties"

# (id, bytes, lenient outcome, strict outcome; None: the same as lenient)
BINARY_CASES: list[tuple[str, bytes, Outcome, Outcome | None]] = [
    (
        "salvage-keeps-unknown-top-level-fields",
        ld(9, b"xyz") + http(EMPTY_ENTRY, BAD_STRING),
        Keeps(
            "http",
            1,
            (
                (
                    1,
                    "http_logs.log_entry[1].common_properties.upstream_cluster",
                    "entry skipped: a string is not UTF-8 at byte offset 17",
                ),
                (None, None, "unknown field number 9 (length-delimited) ignored"),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 17",
            1,
            "http_logs.log_entry[1].common_properties.upstream_cluster",
        ),
    ),
    (
        "salvage-of-entries-in-two-lists",
        http(EMPTY_ENTRY) + http(BAD_STRING, EMPTY_ENTRY),
        Keeps(
            "http",
            2,
            (
                (
                    1,
                    "http_logs.log_entry[1].common_properties.upstream_cluster",
                    "entry skipped: a string is not UTF-8 at byte offset 14",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 14",
            1,
            "http_logs.log_entry[1].common_properties.upstream_cluster",
        ),
    ),
    (
        "salvage-keeps-the-original-entry-numbers",
        http(BAD_STRING, common(ld(4, ld(5, ld(1, vi(9, 1)))))),  # SAN with field 9
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].common_properties.upstream_cluster",
                    "entry skipped: a string is not UTF-8 at byte offset 8",
                ),
                (1, f"{SAN}.subject_alt_name[0]", "unknown field number 9 (varint) ignored"),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 8",
            0,
            "http_logs.log_entry[0].common_properties.upstream_cluster",
        ),
    ),
    (
        "scalar-field-as-length-delimited",
        http(ld(2, b"x") + BAD_STRING),  # protocol_version (an enum) written as bytes
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 11",
            0,
            "http_logs.log_entry[0].common_properties.upstream_cluster",
        ),
        None,
    ),
    (
        "whole-group-then-garbage",
        GOOD + tag(99, 3) + vi(1, 5) + tag(99, 4) + b"\xff",
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    None,
                    "rest of the message left out: the data ends inside a field tag at byte"
                    " offset 22",
                ),
                (None, None, "unknown field number 99 (group) ignored"),
            ),
        ),
        Raises(NOT_A_MESSAGE + "the data ends inside a field tag at byte offset 22"),
    ),
    (
        "mismatched-end-group",
        GOOD + tag(99, 3) + tag(98, 4),
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    None,
                    "rest of the message left out: group 99 ends with the end-group tag of"
                    " field 98 at byte offset 18",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "group 99 ends with the end-group tag of field 98 at byte offset 18"
        ),
    ),
    ("empty", b"", Keeps(None, 0), None),
    (
        "cut-in-a-varint",
        b"\x12\x04\x0a\x02\x08\x80",  # entry 0: field 1 varint, cut after a continuation byte
        Raises(
            NOT_A_MESSAGE + "the data ends inside the varint of field 1 at byte offset 5",
            0,
            "http_logs.log_entry[0]",
        ),
        None,
    ),
    (
        "cut-in-a-length",
        IDENTIFIER + b"\x12\x03\x0a\x02\x0a",  # the entries' list says 3 bytes, 3 remain
        Keeps(
            "http",
            0,
            (
                (
                    0,
                    "http_logs.log_entry[0]",
                    "entry skipped: the data ends inside the length of field 1 at byte offset 50",
                ),
            ),
            identifier=True,
        ),
        Raises(
            NOT_A_MESSAGE + "the data ends inside the length of field 1 at byte offset 50",
            0,
            "http_logs.log_entry[0]",
        ),
    ),
    (
        "cut-in-a-nested-message",
        http(EMPTY_ENTRY, common(timestamp(5, 0)))[:-3],  # entry 1's start_time cut
        Keeps(
            "http",
            1,
            (
                (
                    1,
                    "http_logs.log_entry[1].common_properties.start_time",
                    "entry skipped: the data ends inside the varint of field 1 at byte offset 13",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "the data ends inside the varint of field 1 at byte offset 13",
            1,
            "http_logs.log_entry[1].common_properties.start_time",
        ),
    ),
    (
        "cut-after-good-entries",
        http(EMPTY_ENTRY, EMPTY_ENTRY, common(timestamp(5, 0)))[:-1],
        Keeps(
            "http",
            2,
            (
                (
                    2,
                    "http_logs.log_entry[2].common_properties.start_time",
                    "entry skipped: the data ends inside the varint of field 2 at byte offset 19",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "the data ends inside the varint of field 2 at byte offset 19",
            2,
            "http_logs.log_entry[2].common_properties.start_time",
        ),
    ),
    (
        "cut-in-the-identifier",
        IDENTIFIER[:-4],
        Raises(
            NOT_A_MESSAGE + "cut off: 39 bytes declared, 35 remain at byte offset 4",
            None,
            "identifier.node.id",
        ),
        None,
    ),
    (
        "garbage-tag-after-the-identifier",
        IDENTIFIER + b"\xff",
        Keeps(
            None,
            0,
            (
                (
                    None,
                    None,
                    "rest of the message left out: the data ends inside a field tag"
                    " at byte offset 45",
                ),
            ),
            identifier=True,
        ),
        Raises(NOT_A_MESSAGE + "the data ends inside a field tag at byte offset 45"),
    ),
    (
        "invalid-wire-type",
        b"\x0f",
        Raises(NOT_A_MESSAGE + "invalid wire type 7 (field 1) at byte offset 0"),
        None,
    ),
    (
        "field-number-zero",
        b"\x02\x00" + GOOD,
        Raises(NOT_A_MESSAGE + "invalid field number 0 at byte offset 0"),
        None,
    ),
    (
        "end-group-without-group",
        GOOD + b"\x0c",
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    None,
                    "rest of the message left out: an end-group tag"
                    " (field 1) without a group at byte offset 16",
                ),
            ),
        ),
        Raises(NOT_A_MESSAGE + "an end-group tag (field 1) without a group at byte offset 16"),
    ),
    (
        "unterminated-group",
        GOOD + tag(99, 3) + vi(1, 5),
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    None,
                    "rest of the message left out: the data ends inside group 99 at byte offset 20",
                ),
            ),
        ),
        Raises(NOT_A_MESSAGE + "the data ends inside group 99 at byte offset 20"),
    ),
    (
        "wrong-wire-type-known-field",
        vi(1, 5) + GOOD,  # identifier as a varint: kept as an unknown field
        Keeps(
            "http",
            1,
            ((None, None, "field number 1 (identifier) with wrong wire type (varint) ignored"),),
        ),
        Raises("field number 1 (identifier) with wrong wire type (varint) ignored"),
    ),
    (
        "wrong-wire-type-in-an-entry",
        http(common(vi(5, 7))),  # start_time as a varint
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].common_properties",
                    "field number 5 (start_time) with wrong wire type (varint) ignored",
                ),
            ),
        ),
        Raises(
            "field number 5 (start_time) with wrong wire type (varint) ignored",
            0,
            "http_logs.log_entry[0].common_properties",
        ),
    ),
    (
        "invalid-utf8-in-the-identifier",
        ld(1, ld(2, b"\xff\xfe")) + GOOD,  # log_name
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    "identifier.log_name",
                    "identifier left out: a string is not UTF-8 at byte offset 4",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 4", None, "identifier.log_name"
        ),
    ),
    (
        "invalid-utf8-in-an-entry",
        http(EMPTY_ENTRY, common(ld(15, b"ok\xc3"))),  # upstream_cluster, a cut 2-byte sequence
        Keeps(
            "http",
            1,
            (
                (
                    1,
                    "http_logs.log_entry[1].common_properties.upstream_cluster",
                    "entry skipped: a string is not UTF-8 at byte offset 14",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 14",
            1,
            "http_logs.log_entry[1].common_properties.upstream_cluster",
        ),
    ),
    (
        "huge-declared-length",
        IDENTIFIER + tag(2, 2) + encode_varint(2**32),  # http_logs claims 4 GiB
        Keeps(
            "http",
            0,
            ((None, "http_logs", "http_logs declares more bytes than the message holds"),),
            identifier=True,
        ),
        Raises(
            NOT_A_MESSAGE + "cut off: 4294967296 bytes declared, 0 remain at byte offset 45",
            None,
            "http_logs",
        ),
    ),
    (
        "overlong-varint",
        b"\x12" + b"\xff" * 10 + b"\x01",
        Raises(NOT_A_MESSAGE + "the length of field 2 is longer than 10 bytes at byte offset 1"),
        None,
    ),
    (
        "both-oneof-members",
        http(EMPTY_ENTRY, EMPTY_ENTRY) + ld(3, EMPTY_ENTRY),
        Keeps(
            "tcp",
            1,
            (
                (
                    None,
                    "http_logs",
                    "oneof 'log_entries' is set more than once:"
                    " protobuf keeps the last member set (tcp_logs), so 2 entries of this"
                    " http_logs are lost",
                ),
            ),
        ),
        Raises(
            "oneof 'log_entries' is set more than once: protobuf keeps the last member set"
            " (tcp_logs), so 2 entries of this http_logs are lost",
            None,
            "http_logs",
        ),
    ),
    (
        "unknown-fields",
        GOOD + vi(99, 1) + http(common(vi(1000, 1))),
        Keeps(
            "http",
            2,
            (
                (None, None, "unknown field number 99 (varint) ignored"),
                (
                    1,
                    "http_logs.log_entry[1].common_properties",
                    "unknown field number 1000 (varint) ignored",
                ),
            ),
        ),
        Raises("unknown field number 99 (varint) ignored"),
    ),
    (
        "year-0",
        http(common(timestamp(-62_135_596_801, 0))),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    START,
                    f"timestamp out of range (seconds=-62135596801, nanos=0); {TIMESTAMP_RANGE}",
                ),
            ),
        ),
        Raises(
            f"timestamp out of range (seconds=-62135596801, nanos=0); {TIMESTAMP_RANGE}", 0, START
        ),
    ),
    (
        "year-10000",
        http(common(timestamp(253_402_300_800, 0))),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    START,
                    f"timestamp out of range (seconds=253402300800, nanos=0); {TIMESTAMP_RANGE}",
                ),
            ),
        ),
        Raises(
            f"timestamp out of range (seconds=253402300800, nanos=0); {TIMESTAMP_RANGE}", 0, START
        ),
    ),
    (
        "nanos-1e9",
        http(common(timestamp(0, 10**9))),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    START,
                    f"timestamp out of range (seconds=0, nanos=1000000000); {TIMESTAMP_RANGE}",
                ),
            ),
        ),
        Raises(
            f"timestamp out of range (seconds=0, nanos=1000000000); {TIMESTAMP_RANGE}", 0, START
        ),
    ),
    (
        "negative-nanos",
        http(common(timestamp(0, -1))),
        Keeps(
            "http",
            1,
            ((0, START, f"timestamp out of range (seconds=0, nanos=-1); {TIMESTAMP_RANGE}"),),
        ),
        Raises(f"timestamp out of range (seconds=0, nanos=-1); {TIMESTAMP_RANGE}", 0, START),
    ),
    ("negative-duration", http(common(duration(-1, -5))), Keeps("http", 1), None),
    (
        "absurd-duration",
        http(common(duration(10**12, 0))),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    DURATION,
                    f"duration out of range (seconds=1000000000000, nanos=0); {DURATION_RANGE}",
                ),
            ),
        ),
        Raises(
            f"duration out of range (seconds=1000000000000, nanos=0); {DURATION_RANGE}", 0, DURATION
        ),
    ),
    (
        "mixed-sign-duration",
        http(common(duration(1, -1))),
        Keeps(
            "http",
            1,
            ((0, DURATION, f"duration out of range (seconds=1, nanos=-1); {DURATION_RANGE}"),),
        ),
        Raises(f"duration out of range (seconds=1, nanos=-1); {DURATION_RANGE}", 0, DURATION),
    ),
    ("unknown-enum-number", http(vi(2, 99)), Keeps("http", 1), None),  # protocol_version
    (
        "any-unknown-type",
        http(common(ld(21, ld(1, b"k") + ld(2, ld(1, b"example.com/x.Y") + ld(2, b"\x01"))))),
        Keeps("http", 1),
        None,
    ),
    (
        "any-malformed-payload",
        http(
            common(
                ld(
                    21,
                    ld(1, b"k")
                    + ld(2, ld(1, b"type.googleapis.com/google.protobuf.Struct") + ld(2, b"\xff")),
                )
            )
        ),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    'http_logs.log_entry[0].common_properties.filter_state_objects["k"]',
                    "payload is not a valid google.protobuf.Struct; kept opaque",
                ),
            ),
        ),
        Raises(
            "payload is not a valid google.protobuf.Struct; kept opaque",
            0,
            'http_logs.log_entry[0].common_properties.filter_state_objects["k"]',
        ),
    ),
]


@pytest.mark.parametrize(
    ("data", "lenient", "strict"),
    [pytest.param(data, lenient, strict, id=name) for name, data, lenient, strict in BINARY_CASES],
)
def test_binary(data: bytes, lenient: Outcome, strict: Outcome | None) -> None:
    assert outcome(lambda: decode_binary(data)) == lenient
    assert outcome(lambda: decode_binary(data, strict=True)) == (strict or lenient)


def entry_doc(**common_properties: Json) -> Json:
    return {"httpLogs": {"logEntry": [{"commonProperties": common_properties}]}}


COMMON = "http_logs.log_entry[0].common_properties"
WKT = "type.googleapis.com/google.protobuf."

DUP_ENTRY = "httpLogs.logEntry[0]"
DUP_PATH = "key 'path' appears 2 times in one object"
DUP_LOGS = "key 'httpLogs' appears 2 times in one object"
DUP_ENTRIES = "key 'logEntry' appears 3 times in one object"
DROPPED = "kept the last, so entry {} of occurrence {} is dropped"

# (id, text, lenient outcome, strict outcome; None: the same as lenient)
JSON_CASES: list[tuple[str, str | bytes, Outcome, Outcome | None]] = [
    (
        "long-unknown-key",
        '{"httpLogs": {}, "' + "k" * 100 + '": 1}',
        Keeps("http", 0, ((None, "k" * 77 + "...", f"unknown field {'k' * 100!r}; ignored"),)),
        Raises(f"unknown field {'k' * 100!r}", None, "k" * 77 + "..."),
    ),
    (
        # Other JSON, not a message with unknown fields: an error in both modes.
        "not-an-als-message",
        '{"envoy_version": "1.40.0", "' + "k" * 100 + '": 1, "calls": [], "streams": {}}',
        Raises(
            'not an ALS message: a JSON object whose members ("envoy_version", "'
            + "k" * 77
            + '...", "calls", ...) include none of identifier, httpLogs, tcpLogs'
            " (http_logs, tcp_logs)",
            None,
            None,
        ),
        None,
    ),
    (
        "duration-out-of-range-in-envoys-form",
        json.dumps(entry_doc(duration="999999999999.000000000s")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.duration",
                    "duration '999999999999.000000000s' is out of range (at most 10,000"
                    " years); ignored",
                ),
            ),
        ),
        Raises(
            "duration '999999999999.000000000s' is out of range (at most 10,000 years)",
            0,
            f"{COMMON}.duration",
        ),
    ),
    (
        "nan-in-an-opaque-any",
        '{"httpLogs": {"logEntry": [{"commonProperties": {"filterStateObjects": {"k":'
        ' {"@type": "example.com/x.Y", "a": [NaN]}}}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f'{COMMON}.filter_state_objects["k"]',
                    "number nan is not a JSON number; ignored",
                ),
            ),
        ),
        Raises("number nan is not a JSON number", 0, f'{COMMON}.filter_state_objects["k"]'),
    ),
    ("empty", "", Raises("invalid JSON: Expecting value at line 1 column 1"), None),
    ("whitespace", " \n\t", Raises("invalid JSON: Expecting value at line 2 column 2"), None),
    ("array", "[]", Raises("expected a JSON object (StreamAccessLogsMessage), got an array"), None),
    ("number", "5", Raises("expected a JSON object (StreamAccessLogsMessage), got number 5"), None),
    ("invalid-utf8", b'{"a": "\xc3"}', Raises("not UTF-8: invalid byte at offset 7"), None),
    (
        "lone-surrogate",
        '{"httpLogs": {"logEntry": [{"request": {"path": "\\ud800"}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].request.path",
                    "string holds an unpaired surrogate; ignored",
                ),
            ),
        ),
        Raises("string holds an unpaired surrogate", 0, "http_logs.log_entry[0].request.path"),
    ),
    (
        "bare-nan",
        '{"httpLogs": {"logEntry": [{"commonProperties": {"sampleRate": NaN}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.sample_rate",
                    "number nan must be written as a quoted string; ignored",
                ),
            ),
        ),
        Raises("number nan must be written as a quoted string", 0, f"{COMMON}.sample_rate"),
    ),
    (
        "infinity-for-an-integer",
        '{"httpLogs": {"logEntry": [{"response": {"responseCode": Infinity}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].response.response_code",
                    "expected an integer (uint32), got number inf; ignored",
                ),
            ),
        ),
        Raises(
            "expected an integer (uint32), got number inf",
            0,
            "http_logs.log_entry[0].response.response_code",
        ),
    ),
    (
        "nan-in-a-struct",
        '{"identifier": {"node": {"metadata": {"a": NaN}}}}',
        Keeps(
            None,
            0,
            ((None, "identifier.node.metadata", "number nan is not a JSON number; ignored"),),
            identifier=True,
        ),
        Raises("number nan is not a JSON number", None, "identifier.node.metadata"),
    ),
    (
        "overflowing-float",
        json.dumps(entry_doc()).replace("{}", '{"sampleRate": 1e999}'),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.sample_rate",
                    "number inf must be written as a quoted string; ignored",
                ),
            ),
        ),
        Raises("number inf must be written as a quoted string", 0, f"{COMMON}.sample_rate"),
    ),
    (
        "duplicate-key",
        '{"httpLogs": {"logEntry": [{"request": {"path": "/a", "path": "/b"}}]}}',
        # The last value wins, as in json.loads (see docs/errors.md), and that is said.
        Keeps("http", 1, ((0, f"{DUP_ENTRY}.request.path", f"{DUP_PATH}; kept the last"),)),
        Raises(DUP_PATH, 0, f"{DUP_ENTRY}.request.path"),
    ),
    (
        # The example: the first entry list is replaced, its entry counted as skipped.
        "duplicate-entry-list",
        '{"httpLogs":{"logEntry":[{"request":{"path":"/a"}}]},"httpLogs":{"logEntry":[]}}',
        Keeps("http", 0, ((None, "httpLogs", f"{DUP_LOGS}; {DROPPED.format(0, 1)}"),)),
        Raises(DUP_LOGS, None, "httpLogs"),
    ),
    (
        "duplicate-log-entry-key-three-times",
        '{"tcpLogs": {"logEntry": [{}, {}], "logEntry": [{}], "logEntry": [{}, {}, {}]}}',
        Keeps(
            "tcp",
            3,
            tuple(
                (None, "tcpLogs.logEntry", f"{DUP_ENTRIES}; {DROPPED.format(entry, occurrence)}")
                for occurrence, entry in ((1, 0), (1, 1), (2, 0))
            ),
        ),
        Raises(DUP_ENTRIES, None, "tcpLogs.logEntry"),
    ),
    (
        "duplicate-key-spaced-colon",
        '{"httpLogs" : {"logEntry": [{"request": {"path": "/a", "path" : "/b"}}]}}',
        Keeps("http", 1, ((0, f"{DUP_ENTRY}.request.path", f"{DUP_PATH}; kept the last"),)),
        Raises(DUP_PATH, 0, f"{DUP_ENTRY}.request.path"),
    ),
    (
        "duplicate-key-in-map-struct-and-any",
        '{"httpLogs": {"logEntry": [{"commonProperties": {"metadata": {"filterMetadata":'
        ' {"istio": {"k": 1, "k": {"n": 2, "n": 3}}}}, "filterStateObjects": {"s": {"@type":'
        ' "type.googleapis.com/x.Y", "v": 1, "v": 2}}, "customTags": {"team": "a", "team": "b"}'
        "}}]}}",
        Keeps(
            "http",
            1,
            tuple(
                (
                    0,
                    f"{DUP_ENTRY}.{path}",
                    f"key {key!r} appears 2 times in one object; kept the last",
                )
                for path, key in (
                    # The kept value of k repeats a key of its own.
                    ("commonProperties.metadata.filterMetadata.istio.k", "k"),
                    ("commonProperties.metadata.filterMetadata.istio.k.n", "n"),
                    ("commonProperties.filterStateObjects.s.v", "v"),
                    ("commonProperties.customTags.team", "team"),
                )
            ),
        ),
        Raises(
            "key 'k' appears 2 times in one object",
            0,
            f"{DUP_ENTRY}.commonProperties.metadata.filterMetadata.istio.k",
        ),
    ),
    (
        "both-spellings",
        '{"httpLogs": {"logEntry": [{"request": {"path": "/a", "path": "/b"}}]}}'.replace(
            '"path": "/b"', '"request_id": "r", "requestId": "s"'
        ),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].request.request_id",
                    "field 'request_id' given more than once; kept the first",
                ),
            ),
        ),
        Raises(
            "field 'request_id' given more than once",
            0,
            "http_logs.log_entry[0].request.request_id",
        ),
    ),
    (
        "both-oneof-members",
        '{"httpLogs": {"logEntry": [{}]}, "tcpLogs": {"logEntry": [{}, {}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    None,
                    "tcp_logs",
                    "oneof 'log_entries' has more than one member set"
                    " ('http_logs' and 'tcp_logs'); kept 'http_logs'",
                ),
            ),
        ),
        Raises(
            "oneof 'log_entries' has more than one member set ('http_logs' and 'tcp_logs')",
            None,
            "tcp_logs",
        ),
    ),
    (
        "unknown-field",
        '{"httpLogs": {"logEntry": [{"bogus": {"deep": [1]}}]}}',
        Keeps("http", 1, ((0, "http_logs.log_entry[0].bogus", "unknown field 'bogus'; ignored"),)),
        Raises("unknown field 'bogus'", 0, "http_logs.log_entry[0].bogus"),
    ),
    (
        "year-0",
        json.dumps(entry_doc(startTime="0000-12-31T23:59:59Z")),
        Keeps(
            "http",
            1,
            ((0, f"{COMMON}.start_time", "'0000-12-31T23:59:59Z' is not a valid date; ignored"),),
        ),
        Raises("'0000-12-31T23:59:59Z' is not a valid date", 0, f"{COMMON}.start_time"),
    ),
    (
        "year-10000",
        json.dumps(entry_doc(startTime="10000-01-01T00:00:00Z")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.start_time",
                    "expected an RFC 3339 timestamp string,"
                    " got string '10000-01-01T00:00:00Z'; ignored",
                ),
            ),
        ),
        Raises(
            "expected an RFC 3339 timestamp string, got string '10000-01-01T00:00:00Z'",
            0,
            f"{COMMON}.start_time",
        ),
    ),
    (
        "ten-digit-fraction",
        json.dumps(entry_doc(startTime="2024-01-01T00:00:00.1234567891Z")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.start_time",
                    "expected an RFC 3339 timestamp string,"
                    " got string '2024-01-01T00:00:00.1234567891Z'; ignored",
                ),
            ),
        ),
        Raises(
            "expected an RFC 3339 timestamp string, got string '2024-01-01T00:00:00.1234567891Z'",
            0,
            f"{COMMON}.start_time",
        ),
    ),
    (
        "out-of-range-after-offset",
        json.dumps(entry_doc(startTime="0001-01-01T00:00:00+00:01")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.start_time",
                    "timestamp '0001-01-01T00:00:00+00:01'"
                    " is out of range (years 0001 to 9999 UTC); ignored",
                ),
            ),
        ),
        Raises(
            "timestamp '0001-01-01T00:00:00+00:01' is out of range (years 0001 to 9999 UTC)",
            0,
            f"{COMMON}.start_time",
        ),
    ),
    ("negative-duration", json.dumps(entry_doc(duration="-1.5s")), Keeps("http", 1), None),
    (
        "absurd-duration",
        json.dumps(entry_doc(duration="315576000001s")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.duration",
                    "duration '315576000001s' is out of range (at most 10,000 years); ignored",
                ),
            ),
        ),
        Raises(
            "duration '315576000001s' is out of range (at most 10,000 years)",
            0,
            f"{COMMON}.duration",
        ),
    ),
    (
        "int64-overflow",
        json.dumps(entry_doc(downstreamWireBytesSent=str(2**64))),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.downstream_wire_bytes_sent",
                    "string '18446744073709551616' is out of range for uint64; ignored",
                ),
            ),
        ),
        Raises(
            "string '18446744073709551616' is out of range for uint64",
            0,
            f"{COMMON}.downstream_wire_bytes_sent",
        ),
    ),
    (
        "huge-exponent",
        json.dumps(entry_doc(downstreamWireBytesSent="1e999999999")),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f"{COMMON}.downstream_wire_bytes_sent",
                    "string '1e999999999' is out of range for uint64; ignored",
                ),
            ),
        ),
        Raises(
            "string '1e999999999' is out of range for uint64",
            0,
            f"{COMMON}.downstream_wire_bytes_sent",
        ),
    ),
    (
        "unknown-enum-name",
        '{"httpLogs": {"logEntry": [{"request": {"requestMethod": "BREW"}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].request.request_method",
                    "unknown RequestMethod value 'BREW'; ignored",
                ),
            ),
        ),
        Raises(
            "unknown RequestMethod value 'BREW'", 0, "http_logs.log_entry[0].request.request_method"
        ),
    ),
    (
        "unknown-enum-number",
        '{"httpLogs": {"logEntry": [{"request": {"requestMethod": 99}}]}}',
        Keeps("http", 1),  # proto3 enums are open: kept as the int 99
        None,
    ),
    (
        "enum-number-out-of-int32",
        '{"httpLogs": {"logEntry": [{"request": {"requestMethod": 2147483648}}]}}',
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    "http_logs.log_entry[0].request.request_method",
                    "number 2147483648 is out of range for int32; ignored",
                ),
            ),
        ),
        Raises(
            "number 2147483648 is out of range for int32",
            0,
            "http_logs.log_entry[0].request.request_method",
        ),
    ),
    (
        "any-unknown-type",
        json.dumps(entry_doc(filterStateObjects={"k": {"@type": "example.com/x.Y", "a": 1}})),
        Keeps("http", 1),  # kept as OpaqueJson: an unknown type is not an error
        None,
    ),
    (
        "any-malformed-type",
        json.dumps(entry_doc(filterStateObjects={"k": {"@type": "example.com/x..Y"}})),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f'{COMMON}.filter_state_objects["k"]',
                    "malformed '@type' 'example.com/x..Y'; ignored",
                ),
            ),
        ),
        Raises("malformed '@type' 'example.com/x..Y'", 0, f'{COMMON}.filter_state_objects["k"]'),
    ),
    (
        "any-without-type",
        json.dumps(entry_doc(filterStateObjects={"k": {"value": 1}})),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f'{COMMON}.filter_state_objects["k"]',
                    "Any needs an '@type' string, got null; ignored",
                ),
            ),
        ),
        Raises("Any needs an '@type' string, got null", 0, f'{COMMON}.filter_state_objects["k"]'),
    ),
    (
        "malformed-base64",
        json.dumps(
            entry_doc(filterStateObjects={"k": {"@type": WKT + "BytesValue", "value": "YWJj!"}})
        ),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f'{COMMON}.filter_state_objects["k"]',
                    "malformed base64: string 'YWJj!'; ignored",
                ),
            ),
        ),
        Raises("malformed base64: string 'YWJj!'", 0, f'{COMMON}.filter_state_objects["k"]'),
    ),
    (
        "base64-bad-padding",
        json.dumps(
            entry_doc(filterStateObjects={"k": {"@type": WKT + "BytesValue", "value": "YQ="}})
        ),
        Keeps(
            "http",
            1,
            (
                (
                    0,
                    f'{COMMON}.filter_state_objects["k"]',
                    "malformed base64: string 'YQ='; ignored",
                ),
            ),
        ),
        Raises("malformed base64: string 'YQ='", 0, f'{COMMON}.filter_state_objects["k"]'),
    ),
    (
        "entry-not-an-object",
        '{"httpLogs": {"logEntry": [{}, 5, null]}}',
        Keeps(
            "http",
            1,
            (
                (1, "http_logs.log_entry[1]", "expected a JSON object, got number 5; ignored"),
                (2, "http_logs.log_entry[2]", "null log entry; ignored"),
            ),
        ),
        Raises("expected a JSON object, got number 5", 1, "http_logs.log_entry[1]"),
    ),
    (
        "msg-with-comments-and-trailing-garbage",
        '# licence\n// note\n{"httpLogs": {"logEntry": [{}]}}\n}}} garbage',
        Keeps(
            "http",
            1,
            ((None, None, "trailing text after the JSON value at line 4 column 1; ignored"),),
        ),
        Raises("trailing text after the JSON value at line 4 column 1"),
    ),
    (
        "deeply-nested-json",
        '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        Raises("invalid JSON: nested too deeply"),
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "lenient", "strict"),
    [pytest.param(text, lenient, strict, id=name) for name, text, lenient, strict in JSON_CASES],
)
def test_json(text: str | bytes, lenient: Outcome, strict: Outcome | None) -> None:
    assert outcome(lambda: decode_json(text)) == lenient
    assert outcome(lambda: decode_json(text, strict=True)) == (strict or lenient)


@pytest.mark.parametrize("value", [5, None, ["{}"], object()])
def test_wrong_argument_types_are_decode_errors(value: object) -> None:
    with pytest.raises(DecodeError):
        decode_binary(value)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        decode_json(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # decode_json's is also a TypeError, as before
        decode_json(value)  # type: ignore[arg-type]


# --- containers, through read() on files ------------------------------------------------------


def delimited(*frames: bytes) -> bytes:
    return b"".join(encode_varint(len(frame)) + frame for frame in frames)


def grpc(*frames: bytes) -> bytes:
    return b"".join(b"\x00" + len(frame).to_bytes(4, "big") + frame for frame in frames)


class Read(NamedTuple):
    """What read() gives: the container, each message's entry count, the reader's diagnostics
    (message index, reason: messages skipped) and the messages' own (message index, entry
    index, reason: what lenient decoding tolerated inside them)."""

    container: Container | None
    entries: tuple[int, ...]
    diagnostics: tuple[tuple[int | None, str], ...] = ()
    message_diagnostics: tuple[tuple[int | None, int | None, str], ...] = ()


JSON_LINE = b'{"httpLogs": {"logEntry": [{}, {}]}}'


def read_outcome(path: Path, *, strict: bool = False) -> Read | Raises:
    try:
        with read(path, strict=strict) as reader:
            messages = [message for message in reader if isinstance(message, AlsMessage)]
    except DecodeError as error:
        return Raises(error.reason, error.entry_index, error.field, error.message_index)
    return Read(
        reader.container,
        tuple(len(message.entries) for message in messages),
        tuple((d.location.message_index, d.reason) for d in reader.diagnostics),
        tuple(
            (d.location.message_index, d.location.entry_index, d.reason)
            for message in messages
            for d in message.diagnostics
        ),
    )


# (id, file name, content, lenient outcome, strict outcome; None: the same)
READ_CASES: list[tuple[str, str, bytes, Read | Raises, Read | Raises | None]] = [
    ("empty-file", "empty.bin", b"", Read(None, ()), None),
    ("whitespace-only", "blank.json", b" \n\r\n\t ", Read(None, ()), None),
    ("bom-and-whitespace", "bom.jsonl", b"\xef\xbb\xbf \n", Read(None, ()), None),
    (
        "jsonl-with-one-bad-line",
        "cap.jsonl",
        JSON_LINE + b"\n" + b'{"httpLogs": [}\n' + JSON_LINE + b"\n\n" + JSON_LINE + b"\n",
        Read(
            Container.JSON_LINES,
            (2, 2, 2),
            ((1, "line 2: message skipped: invalid JSON: Expecting value at line 1 column 15"),),
        ),
        Raises("invalid JSON: Expecting value at line 1 column 15", message_index=1),
    ),
    (
        "jsonl-with-a-binary-line",
        "cap.jsonl",
        JSON_LINE + b"\n" + b'{"a": "\xff"}\n' + JSON_LINE + b"\n",
        Read(
            Container.JSON_LINES,
            (2, 2),
            ((1, "line 2: message skipped: not UTF-8: invalid byte at offset 7"),),
        ),
        Raises("not UTF-8: invalid byte at offset 7", message_index=1),
    ),
    (
        "msg-with-comments-and-trailing-garbage",
        "cap.msg",
        b"# licence\n// comment\n" + JSON_LINE + b"\n}\ngarbage\n",
        Read(
            Container.JSON,
            (2,),
            message_diagnostics=(
                (0, None, "trailing text after the JSON value at line 4 column 1; ignored"),
            ),
        ),
        Raises("trailing text after the JSON value at line 4 column 1", message_index=0),
    ),
    (
        "delimited-with-a-corrupt-message",
        "cap.bin",
        delimited(GOOD, b"\x12\x03\x0a\x05\x08", GOOD),
        Read(
            Container.DELIMITED,
            (1, 1),
            (
                (
                    1,
                    "message skipped: not a StreamAccessLogsMessage: the data ends inside the"
                    " varint of field 1 at byte offset 5",
                ),
            ),
        ),
        Raises(
            NOT_A_MESSAGE + "the data ends inside the varint of field 1 at byte offset 5",
            0,
            "http_logs.log_entry[0]",
            message_index=1,
        ),
    ),
    (
        "grpc-with-a-corrupt-entry",
        "cap.grpc",
        grpc(GOOD, http(EMPTY_ENTRY, common(ld(15, b"\xff")))),
        Read(
            Container.GRPC,
            (1, 1),
            message_diagnostics=((1, 1, "entry skipped: a string is not UTF-8 at byte offset 12"),),
        ),
        Raises(
            NOT_A_MESSAGE + "a string is not UTF-8 at byte offset 12",
            1,
            "http_logs.log_entry[1].common_properties.upstream_cluster",
            message_index=1,
        ),
    ),
    (
        # Detected as JSON (it starts with "{"): one message, which is not all text.
        "mixed-json-then-binary",
        "mixed.jsonl",
        JSON_LINE + b"\n" + delimited(GOOD),
        Raises("not UTF-8: invalid byte at offset 47", message_index=0),
        None,
    ),
    (
        "mixed-binary-then-json",
        "mixed.bin",
        delimited(GOOD) + JSON_LINE + b"\n",
        Raises(
            "not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
            " it starts with bytes 10 12 0e 0a 0c 0a 0a 2a"
        ),
        None,
    ),
    (
        # Lenient: the messages before the cut survive (xfail until read() does so).
        "truncated-delimited-stream",
        "cut.bin",
        delimited(GOOD, GOOD)[:-3],
        Read(
            Container.DELIMITED,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: input ends inside the frame at byte"
                    " offset 17: it declares 16 bytes, 13 remain",
                ),
            ),
        ),
        Raises(
            "input ends inside the frame at byte offset 17: it declares 16 bytes, 13 remain",
            message_index=1,
        ),
    ),
    (
        "delimited-cut-in-a-length-prefix",
        "cut.bin",
        delimited(GOOD) + b"\x80",
        Read(
            Container.DELIMITED,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: input ends inside a varint length"
                    " prefix at byte offset 17",
                ),
            ),
        ),
        Raises("input ends inside a varint length prefix at byte offset 17", message_index=1),
    ),
    (
        "delimited-huge-declared-length",
        "huge.bin",
        delimited(GOOD) + encode_varint(2**40) + b"\x12\x00",
        Read(
            Container.DELIMITED,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: frame at byte offset 17 declares"
                    " 1099511627776 bytes, more than the maximum of 67108864",
                ),
            ),
        ),
        Raises(
            "frame at byte offset 17 declares 1099511627776 bytes, more than the maximum of"
            " 67108864",
            message_index=1,
        ),
    ),
    (
        "grpc-cut-in-a-frame-header",
        "cut.grpc",
        grpc(GOOD) + b"\x00\x00\x00",
        Read(
            Container.GRPC,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: input ends inside a gRPC frame header"
                    " at byte offset 21 (3 of 5 bytes)",
                ),
            ),
        ),
        Raises(
            "input ends inside a gRPC frame header at byte offset 21 (3 of 5 bytes)",
            message_index=1,
        ),
    ),
    (
        "grpc-cut-in-a-frame",
        "cut.grpc",
        grpc(GOOD, GOOD)[:-3],
        Read(
            Container.GRPC,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: input ends inside the gRPC frame at"
                    " byte offset 21: it declares 16 bytes, 13 remain",
                ),
            ),
        ),
        Raises(
            "input ends inside the gRPC frame at byte offset 21: it declares 16 bytes, 13 remain",
            message_index=1,
        ),
    ),
    (
        "grpc-huge-declared-length",
        "huge.grpc",
        grpc(GOOD) + b"\x00\xff\xff\xff\xff\x12\x00",
        Read(
            Container.GRPC,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: frame at byte offset 21 declares"
                    " 4294967295 bytes, more than the maximum of 67108864",
                ),
            ),
        ),
        Raises(
            "frame at byte offset 21 declares 4294967295 bytes, more than the maximum of 67108864",
            message_index=1,
        ),
    ),
    (
        "grpc-compressed-frame",
        "gzip.grpc",
        grpc(GOOD) + b"\x01\x00\x00\x00\x02\x12\x00",
        Read(
            Container.GRPC,
            (1,),
            (
                (
                    1,
                    "the rest of the stream is skipped: gRPC frame at byte offset 21 is"
                    " compressed; compressed messages are not supported",
                ),
            ),
        ),
        Raises(
            "gRPC frame at byte offset 21 is compressed; compressed messages are not supported",
            message_index=1,
        ),
    ),
    (
        # Not text (it holds control characters), so not JSON Lines: one JSON message.
        "mixed-json-lines-then-delimited",
        "mixed.jsonl",
        JSON_LINE + b"\n" + JSON_LINE + b"\n" + delimited(GOOD),
        Raises("not UTF-8: invalid byte at offset 84", message_index=0),
        None,
    ),
    (
        "mixed-grpc-then-json-lines",
        "mixed.grpc",
        grpc(GOOD) + JSON_LINE + b"\n",
        Raises(
            "not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
            " it starts with bytes 00 00 00 00 10 12 0e 0a"
        ),
        None,
    ),
    (
        # Ambiguous, and read as delimited: a gRPC header 00 00 00 00 10 is four empty
        # messages and the length 16 of the next one.
        "mixed-delimited-then-grpc",
        "mixed.bin",
        delimited(GOOD) + grpc(GOOD),
        Read(Container.DELIMITED, (1, 0, 0, 0, 0, 1)),
        None,
    ),
    (
        "not-a-container",
        "noise.bin",
        b"\x00\x01\x02 not anything",
        Raises(
            "not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
            " it starts with bytes 00 01 02 20 6e 6f 74 20"
        ),
        None,
    ),
]


# Cases that need a change in read() (not in this suite's files): id -> the change.
OPEN_READ_CASES: dict[str, str] = {}


@pytest.mark.parametrize(
    ("name", "content", "lenient", "strict"),
    [
        pytest.param(
            *case[1:],
            id=case[0],
            marks=[pytest.mark.xfail(strict=True, reason=OPEN_READ_CASES[case[0]])]
            if case[0] in OPEN_READ_CASES
            else [],
        )
        for case in READ_CASES
    ],
)
def test_read(
    tmp_path: Path,
    name: str,
    content: bytes,
    lenient: Read | Raises,
    strict: Read | Raises | None,
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert read_outcome(path) == lenient
    assert read_outcome(path, strict=True) == (strict or lenient)


# --- every decode case, in every container read() detects that carries it ---------------------

# A stream's messages around the case's message: what is lost must be the case's part only.
STREAM_GOOD: dict[Container, tuple[bytes, Callable[..., bytes], tuple[str, int, bool]]] = {
    Container.JSON_LINES: (JSON_LINE, lambda *lines: b"\n".join(lines), ("http", 2, False)),
    Container.DELIMITED: (GOOD, delimited, ("http", 1, False)),
    Container.GRPC: (GOOD, grpc, ("http", 1, False)),
}


class Contents(NamedTuple):
    """What read() gives, for a case wrapped in a container: each message (kind, entries,
    has an identifier), the reader's diagnostics (kind value, message index, entry index,
    field, reason) and the messages' own (message index, entry index, field, reason)."""

    messages: tuple[tuple[str | None, int, bool], ...]
    reader: tuple[tuple[str, int | None, int | None, str | None, str], ...] = ()
    inside: tuple[tuple[int | None, int | None, str | None, str], ...] = ()


def contents(content: bytes, container: Container, *, strict: bool) -> Contents | Raises:
    try:
        with read(io.BytesIO(content), container=container, strict=strict) as reader:
            messages = list(reader.messages())
    except DecodeError as error:
        return Raises(error.reason, error.entry_index, error.field, error.message_index)
    return Contents(
        tuple((m.kind, len(m.entries), m.identifier is not None) for m in messages),
        tuple(
            (
                d.kind.value,
                d.location.message_index,
                d.location.entry_index,
                d.location.field,
                d.reason,
            )
            for d in reader.diagnostics
        ),
        tuple(
            (d.location.message_index, d.location.entry_index, d.location.field, d.reason)
            for m in messages
            for d in m.diagnostics
        ),
    )


def expected_contents(
    container: Container, case: bytes, decoded: Outcome, *, strict: bool
) -> Contents | Raises:
    """What read() must give for a case whose decoder outcome is *decoded*: the message as the
    decoder gives it, or the decoder's error at its position; in a stream, lenient mode skips
    that message and keeps the others."""
    index = 1 if container in STREAM_GOOD else 0
    if isinstance(decoded, Raises):
        if strict or container not in STREAM_GOOD:
            return decoded._replace(message_index=index)
        _, _, good = STREAM_GOOD[container]
        line = "line 2: " if container is Container.JSON_LINES else ""
        skipped = (
            "message-skipped",
            1,
            decoded.entry_index,
            decoded.field,
            f"{line}message skipped: {decoded.reason}",
        )
        return Contents((good, good), (skipped,))
    message = (decoded.kind, decoded.entries, decoded.identifier)
    inside = tuple((index, entry, field, reason) for entry, field, reason in decoded.diagnostics)
    if container in STREAM_GOOD:
        _, _, good = STREAM_GOOD[container]
        return Contents((good, message, good), (), inside)
    return Contents((message,), (), inside)


def wrapped(container: Container, case: bytes) -> bytes:
    if container not in STREAM_GOOD:
        return case
    good, frame, _ = STREAM_GOOD[container]
    return frame(good, case, good)


def container_cases() -> list[Any]:
    cases = []
    for name, data, lenient, strict in BINARY_CASES:
        for container in (Container.BINARY, Container.DELIMITED, Container.GRPC):
            if container is Container.BINARY and not data:
                continue  # an empty binary file holds no message (test_empty_input_...)
            outcomes = (lenient, strict or lenient)
            cases.append(pytest.param(container, data, *outcomes, id=f"{container.value}-{name}"))
    for name, text, lenient, strict in JSON_CASES:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        if not data.strip():
            continue  # a blank input or line holds no message (test_empty_input_...)
        containers = [Container.JSON]
        if b"\n" not in data:
            containers.append(Container.JSON_LINES)
        for container in containers:
            outcomes = (lenient, strict or lenient)
            cases.append(pytest.param(container, data, *outcomes, id=f"{container.value}-{name}"))
    return cases


@pytest.mark.parametrize(("container", "case", "lenient", "strict"), container_cases())
def test_decode_case_in_container(
    container: Container, case: bytes, lenient: Outcome, strict: Outcome
) -> None:
    content = wrapped(container, case)
    assert contents(content, container, strict=False) == expected_contents(
        container, case, lenient, strict=False
    )
    assert contents(content, container, strict=True) == expected_contents(
        container, case, strict, strict=True
    )


@pytest.mark.parametrize("container", list(Container))
def test_empty_input_holds_no_messages_in_any_container(container: Container) -> None:
    for strict in (False, True):
        assert contents(b"", container, strict=strict) == Contents(())


@pytest.mark.parametrize(
    "container", [Container.JSON, Container.JSON_LINES, Container.ZTUNNEL, Container.ZTUNNEL_JSON]
)
@pytest.mark.parametrize("content", [b" \n\r\n\t ", b"\xef\xbb\xbf\n "], ids=["blank", "bom"])
def test_whitespace_only_text_holds_no_messages(container: Container, content: bytes) -> None:
    for strict in (False, True):
        assert contents(content, container, strict=strict) == Contents(())


def test_blank_lines_in_json_lines_are_no_messages() -> None:
    content = JSON_LINE + b"\n\n   \n" + JSON_LINE + b"\r\n"
    assert contents(content, Container.JSON_LINES, strict=True) == Contents(
        (("http", 2, False), ("http", 2, False))
    )


# --- analysis: addresses and node ids ---------------------------------------------------------

RESOLVER = StaticResolver.from_mapping(
    {
        "10.0.0.1": {"service": "a", "instance": "a-1"},
        "10.0.0.2": {"service": "b", "instance": "b-1"},
        "fe80::1": {"service": "v6", "instance": "v6-1"},
    }
)
SIDECAR = "sidecar~10.0.0.1~a-1.default~default.svc.cluster.local"


def socket(address: str, port: int = 80) -> Json:
    return {"socketAddress": {"address": address, "portValue": port}}


def analysed(
    node_id: str, remote: Json, cluster: str = "outbound|80||b.default"
) -> tuple[dict[str, int], int, list[tuple[str, str, str]]]:
    """(skipped by reason, analysed, [(source, destination, detect point)]) for one entry."""
    doc = {
        "identifier": {"node": {"id": node_id}},
        "httpLogs": {
            "logEntry": [
                {
                    "commonProperties": {
                        "downstreamRemoteAddress": remote,
                        "downstreamLocalAddress": socket("10.0.0.1"),
                        "upstreamRemoteAddress": socket("10.0.0.2"),
                        "upstreamCluster": cluster,
                        "startTime": "2024-01-01T00:00:00Z",
                    },
                    "request": {"path": "/", "requestMethod": "GET"},
                    "response": {"responseCode": 200},
                }
            ]
        },
    }
    analysis = analyze([decode_json(json.dumps(doc), strict=True)], resolver=RESOLVER)
    metrics = analysis.metrics()
    accounting = analysis.accounting
    assert accounting.entries_in == 1 == accounting.analyzed + accounting.skipped_total
    skipped = {reason.value: count for reason, count in accounting.skipped.items()}
    return (
        skipped,
        accounting.analyzed,
        [(m.source.service, m.destination.service, m.detect_point.name) for m in metrics],
    )


ANALYSIS_CASES: list[
    tuple[str, str, Json, tuple[dict[str, int], int, list[tuple[str, str, str]]]]
] = [
    (
        "pipe",
        SIDECAR,
        {"pipe": {"path": "/run/app.sock"}},
        ({SkipReason.NO_SOURCE_ADDRESS.value: 1}, 0, []),
    ),
    (
        "internal-address",
        SIDECAR,
        {"envoyInternalAddress": {"serverListenerName": "x", "endpointId": "10.0.0.2:80"}},
        ({}, 1, [("b", "b", "CLIENT")]),
    ),
    (
        "internal-address-no-endpoint",
        SIDECAR,
        {"envoyInternalAddress": {"serverListenerName": "x"}},
        ({SkipReason.NO_SOURCE_ADDRESS.value: 1}, 0, []),
    ),
    ("ipv6-with-zone", SIDECAR, socket("fe80::1%eth0"), ({}, 1, [("v6", "b", "CLIENT")])),
    ("empty-address", SIDECAR, socket(""), ({SkipReason.NO_SOURCE_ADDRESS.value: 1}, 0, [])),
    ("no-address-member", SIDECAR, {}, ({SkipReason.NO_SOURCE_ADDRESS.value: 1}, 0, [])),
    ("hostname", SIDECAR, socket("reviews"), ({}, 1, [("UNKNOWN", "b", "CLIENT")])),
    (
        "node-id-without-tilde",
        "sidecar",
        socket("10.0.0.2"),
        ({SkipReason.ROLE_NONE.value: 1}, 0, []),
    ),
    ("empty-node-id", "", socket("10.0.0.2"), ({SkipReason.ROLE_NONE.value: 1}, 0, [])),
    ("only-tildes", "~~~~", socket("10.0.0.2"), ({SkipReason.ROLE_NONE.value: 1}, 0, [])),
    ("sidecar-and-tildes", "sidecar~~~~", socket("10.0.0.2"), ({}, 1, [("b", "b", "CLIENT")])),
    (
        "many-tildes",
        "router~10.0.0.1~gw~ns~extra~more",
        socket("10.0.0.2"),
        ({}, 1, [("b", "a", "SERVER"), ("a", "b", "CLIENT")]),
    ),
    (
        "huge-node-id",
        "sidecar~" + "~" * 100_000,
        socket("10.0.0.2"),
        ({}, 1, [("b", "b", "CLIENT")]),
    ),
]


@pytest.mark.parametrize(
    ("node_id", "remote", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ANALYSIS_CASES],
)
def test_analysis(
    node_id: str, remote: Json, expected: tuple[dict[str, int], int, list[tuple[str, str, str]]]
) -> None:
    assert analysed(node_id, remote) == expected


# --- templates: parsed, never evaluated ---------------------------------------------------------

TEMPLATE_ERRORS: list[tuple[str, str, str, int | None]] = [
    ("deeply-nested", "${" * 10_000 + "pod.x" + "}" * 10_000, "expected a name, found '$'", 3),
    ("unclosed", "${pod.metadata.name", "unclosed '${'", 1),
    ("huge-unclosed", "${pod." + "a." * 200_000, "unclosed '${'", 1),
    ("unclosed-key", "${pod.metadata.(" + "x" * 100_000, "unclosed '('", 16),
    ("empty", "", "empty template", None),
    ("code", "${__import__('os').system('true')}", "unexpected '(': expected '.', ',' or '}'", 13),
]


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [pytest.param(*case[1:], id=case[0]) for case in TEMPLATE_ERRORS],
)
def test_template_errors(text: str, reason: str, column: int | None) -> None:
    with pytest.raises(ResolverError) as caught:
        NameTemplate(text)
    assert (caught.value.reason, caught.value.column) == (reason, column)


def python_lines_run(action: Callable[[], object]) -> int:
    """How many lines of Python *action* runs: a measure of work that needs no clock."""
    lines = 0

    def count(frame: object, event: str, arg: object) -> object:
        nonlocal lines
        if event == "line":
            lines += 1
        return count

    previous = sys.gettrace()
    sys.settrace(count)  # type: ignore[arg-type]
    try:
        action()
    finally:
        sys.settrace(previous)
    return lines


def grows_linearly(make_input: Callable[[int], object], action: Callable[[Any], object]) -> bool:
    """Whether doubling the input at most (about) doubles the work of *action* on it."""
    single = python_lines_run(lambda: action(make_input(2_000)))
    double = python_lines_run(lambda: action(make_input(4_000)))
    return double <= 2.2 * single + 100


def parse_template(text: str) -> None:
    with contextlib.suppress(ResolverError):
        NameTemplate(text)


@pytest.mark.parametrize(
    "make_text",
    [
        lambda n: "${pod." + "a." * n,  # unclosed, many segments
        lambda n: "${pod.metadata.(" + "x" * n,  # unclosed key
        lambda n: "${" * n + "pod.x" + "}" * n,  # nested placeholders
        lambda n: "${pod.a , " * n,  # many alternatives, never closed
        lambda n: "${pod.metadata.name}" * n,  # many placeholders
    ],
    ids=["segments", "key", "nested", "alternatives", "placeholders"],
)
def test_template_parsing_work_grows_linearly(make_text: Callable[[int], str]) -> None:
    assert grows_linearly(make_text, parse_template)


def test_template_rendering_work_grows_linearly() -> None:
    pod = {"pod": {"metadata": {"name": "x"}}}
    assert grows_linearly(
        lambda n: NameTemplate("${pod.metadata.name,pod.a}-" * n), lambda t: t.render(pod)
    )


TEMPLATE_RENDERINGS: list[tuple[str, str, Json, str]] = [
    (
        "unicode",
        "${pod.metadata.labels.(名前)}-ü",
        {"metadata": {"labels": {"名前": "値"}}},
        "値-ü",
    ),
    ("huge", "${pod.metadata.name}" * 20_000, {"metadata": {"name": "x"}}, "x" * 20_000),
    ("long-literal", "a" * 1_000_000, {}, "a" * 1_000_000),
    ("looks-like-format", "{0}{pod}%s${pod.a}", {"a": "v"}, "{0}{pod}%sv"),
    ("dunder-path", "${pod.__class__}", {}, "-"),
]


@pytest.mark.parametrize(
    ("text", "pod", "rendered"),
    [pytest.param(*case[1:], id=case[0]) for case in TEMPLATE_RENDERINGS],
)
def test_template_renderings(text: str, pod: Json, rendered: str) -> None:
    assert NameTemplate(text).render({"pod": pod}) == rendered


# --- fuzzing findings -------------------------------------------------------------------------


# Findings in code this suite does not own, open until fixed there: file -> what they need.
OPEN_FINDINGS: dict[str, str] = {}


def regression_cases() -> list[Any]:
    cases = []
    for path in sorted(REGRESSIONS.iterdir()):
        if path.suffix == ".md":
            continue
        target = path.name.split("-", 1)[0]
        open_finding = OPEN_FINDINGS.get(path.name)
        marks = [pytest.mark.xfail(strict=True, reason=open_finding)] if open_finding else []
        cases.append(pytest.param(target, path, id=path.name, marks=marks))
    return cases


@pytest.mark.parametrize(("target", "path"), regression_cases())
def test_fuzz_regressions(target: str, path: Path) -> None:
    data = path.read_bytes()
    TARGETS[target](data)  # raises on a finding
    # No hang: the input twice over costs at most about twice the work (found quadratic once).
    single = python_lines_run(lambda: TARGETS[target](data))
    double = python_lines_run(lambda: TARGETS[target](data + data))
    assert double <= 2.2 * single + 100


def test_every_target_accepts_nothing_and_noise() -> None:
    for target in TARGETS.values():
        for data in (b"", b"\x00", b"\xff" * 64, b"{" * 64, b"${" * 64):
            target(data)


# --- nothing but MeshalsError ------------------------------------------------------------------

NOISE: Sequence[bytes] = [
    b"\x00" * 5,
    b"\x0a\xff\xff\xff\xff\x0f",
    b"{" * 5000,
    b'{"httpLogs": {"logEntry": [' * 300,
    bytes(range(256)),
    b"\x1f\x8b\x08\x00",  # gzip
    b"PK\x03\x04",  # zip
]


def noise_calls(data: bytes, *, strict: bool) -> list[Callable[[], object]]:
    return [
        lambda: decode_json(data, strict=strict),
        lambda: decode_binary(data, strict=strict),
        lambda: list(read(io.BytesIO(data), strict=strict)),
        lambda: analyze(read(io.BytesIO(data), strict=strict), resolver=RESOLVER).metrics(),
    ]


@pytest.mark.parametrize("data", NOISE)
def test_noise_raises_only_meshals_errors(data: bytes, tmp_path: Path) -> None:
    for strict in (False, True):
        for call in noise_calls(data, strict=strict):
            with contextlib.suppress(MeshalsError):
                call()
