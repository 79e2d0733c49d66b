"""decode_json's repeated keys: which ones the member count lets through, and what is reported.

A key repeated in one object is found by comparing the members the walk read with the text's
member count (``codec/_json_duplicates.py``); the report names the key's path as written in the
JSON, the entry it is in, and, for a replaced list of log entries, each entry dropped.
"""

from __future__ import annotations

import pytest

from meshals import DecodeError, DiagnosticKind, decode_json
from meshals.codec._json_duplicates import report_duplicates
from meshals.codec._json_walk import _Context
from meshals.codec._limits import DEFAULT_LIMITS

IGNORED = DiagnosticKind.VALUE_IGNORED
SKIPPED = DiagnosticKind.ENTRY_SKIPPED

Note = tuple[int | None, str | None, str, DiagnosticKind]


def _twice(key: str) -> str:
    return f"key {key!r} appears 2 times in one object"


def _kept(key: str) -> str:
    return f"{_twice(key)}; kept the last"


# (id, text, the diagnostics of lenient decoding: entry index, field, reason, kind)
CASES: list[tuple[str, str, list[Note]]] = [
    (
        "in-an-entry",
        '{"httpLogs": {"logEntry": [{"response": {}, "response": {"responseCode": 200}}]}}',
        [(0, "httpLogs.logEntry[0].response", _kept("response"), IGNORED)],
    ),
    (
        "after-leading-whitespace",
        ' \n\t{"identifier": {}, "identifier": {}}',
        [(None, "identifier", _kept("identifier"), IGNORED)],
    ),
    (
        "after-a-comment-line",
        '# recorded\n{"httpLogs": {}, "httpLogs": {}}',
        [(None, "httpLogs", _kept("httpLogs"), IGNORED)],
    ),
    (
        "after-a-comment-line-before-trailing-text",
        '# recorded\n{"httpLogs": {}, "httpLogs": {}}\n}',
        [
            (None, None, "trailing text after the JSON value at line 3 column 1; ignored", IGNORED),
            (None, "httpLogs", _kept("httpLogs"), IGNORED),
        ],
    ),
    (
        # A spaced colon is not counted, so the count would miss the repeat: it is not trusted.
        "spaced-colon-and-a-repeat",
        '{"identifier" : {}, "httpLogs": {}, "httpLogs": {}}',
        [(None, "httpLogs", _kept("httpLogs"), IGNORED)],
    ),
    (
        "spaced-colon-and-a-repeat-of-one-member",
        '{"httpLogs" : {}, "httpLogs": {}}',
        [(None, "httpLogs", _kept("httpLogs"), IGNORED)],
    ),
    (
        "repeated-log-entry-not-a-list",
        '{"httpLogs": {"logEntry": "ab", "logEntry": []}}',
        [(None, "httpLogs.logEntry", _kept("logEntry"), IGNORED)],
    ),
    (
        "entry-key-in-another-object",
        '{"identifier": {"node": {"logEntry": [1]}, "node": {}}}',
        [(None, "identifier.node", _kept("node"), IGNORED)],
    ),
    (
        "list-in-another-object",
        '{"identifier": {"node": [1], "node": {}}}',
        [(None, "identifier.node", _kept("node"), IGNORED)],
    ),
    (
        "top-level-value-not-an-object",
        '{"identifier": 5, "identifier": {}}',
        [(None, "identifier", _kept("identifier"), IGNORED)],
    ),
    (
        # A plain repeat first, then a replaced entry list: its entries are skipped entries,
        # of no entry of the message's own.
        "plain-repeat-then-entry-list",
        '{"identifier": {"node": {}, "node": {}},'
        ' "httpLogs": {"logEntry": [{}, {}], "logEntry": []}}',
        [
            (None, "identifier.node", _kept("node"), IGNORED),
            *(
                (
                    None,
                    "httpLogs.logEntry",
                    f"{_twice('logEntry')}; kept the last, so entry {position} of occurrence 1"
                    " is dropped",
                    SKIPPED,
                )
                for position in (0, 1)
            ),
        ],
    ),
    (
        "replaced-message",
        '{"tcpLogs": {"logEntry": [{}]}, "tcpLogs": {}}',
        [
            (
                None,
                "tcpLogs",
                f"{_twice('tcpLogs')}; kept the last, so entry 0 of occurrence 1 is dropped",
                SKIPPED,
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "notes"), [pytest.param(text, notes, id=name) for name, text, notes in CASES]
)
def test_repeated_keys_are_reported(text: str, notes: list[Note]) -> None:
    message = decode_json(text, source="t.json")
    assert [
        (d.location.entry_index, d.location.field, d.reason, d.kind) for d in message.diagnostics
    ] == notes
    with pytest.raises(DecodeError) as caught:
        decode_json(text, source="t.json", strict=True)
    entry_index, field, reason, _ = notes[0]
    assert (caught.value.entry_index, caught.value.field) == (entry_index, field)
    assert f"{caught.value.reason}; " in reason


def test_a_count_that_differs_without_a_repeat_reports_nothing() -> None:
    context = _Context("t.json", None, False, DEFAULT_LIMITS)
    assert report_duplicates(' {"a": {"b": [1, {"c": 2}]}}', 1, context) is False
    assert context.diagnostics == []
    assert report_duplicates(' {"a": {"b": 1, "b": 2}}', 1, context) is True
    assert [d.location.field for d in context.diagnostics] == ["a.b"]
