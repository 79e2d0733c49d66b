"""decode_json's text: what it accepts, where trailing text starts, and when it is parsed again.

``codec/_json_load.py`` turns the text into a JSON document, blanking the comment lines of
SkyWalking's recorded ``.msg`` files, and counts its members so that clean text is parsed once.
"""

from __future__ import annotations

import pytest

from meshals import DecodeError, decode_json

SMALL = '{"httpLogs": {"logEntry": [{"response": {"responseCode": 204}}]}}'


@pytest.mark.parametrize(
    ("text", "kind"),
    [(42, "int"), (None, "NoneType"), (["{}"], "list")],
    ids=["int", "none", "list"],
)
def test_not_text_is_a_type_error_that_says_where(text: object, kind: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_json(text, source="x.json", index=7)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    assert caught.value.reason == f"decode_json() needs str or bytes, not {kind}"
    assert (caught.value.source, caught.value.message_index) == ("x.json", 7)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        # The comment line is blanked, so the value's line starts at offset 1.
        ('# recorded\n{"httpLogs": {}} x', "line 2 column 18"),
        ('{"httpLogs": {}}\n\n  }', "line 3 column 3"),
        # Only JSON's four whitespace characters end the text: not a form feed or a no-break
        # space.
        ('{"httpLogs": {}}\f', "line 1 column 17"),
        ('{"httpLogs": {}} \u00a0', "line 1 column 18"),
    ],
    ids=["after-a-comment", "on-a-later-line", "form-feed", "no-break-space"],
)
def test_where_trailing_text_starts(text: str, at: str) -> None:
    message = decode_json(text, source="t.msg")
    assert [d.reason for d in message.diagnostics] == [
        f"trailing text after the JSON value at {at}; ignored"
    ]


@pytest.mark.parametrize(
    ("text", "notes"),
    [
        ("// recorded by SkyWalking\n" + SMALL + "\n", 0),
        # The trailing value's members, spaced colon or not, are not the message's.
        ("# recorded\n" + SMALL + '\n{"next": {"a": 1, "b" : 2}}\n', 1),
        (" \n" + SMALL, 0),
    ],
    ids=["comment", "comment-and-trailing-value", "leading-whitespace"],
)
def test_clean_text_is_parsed_once(monkeypatch: pytest.MonkeyPatch, text: str, notes: int) -> None:
    # Its member count equals the members the walk read, so no repeated key is suspected.
    def refuse(*arguments: object) -> bool:
        raise AssertionError("parsed again")

    monkeypatch.setattr("meshals.codec._json.report_duplicates", refuse)
    message = decode_json(text)
    assert (len(message.entries), len(message.diagnostics)) == (1, notes)
