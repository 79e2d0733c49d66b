"""decode_json's generated converters against its table-driven walk: the same results always.

The generated converters (``codec/_json_fast.py``) take clean entries; anything else goes back
to the walk. Here every recorded entry must take them, and recorded messages damaged in every
way a producer could (unknown and snake_case names, nulls, wrong types, bad values, huge
numbers, lone surrogates, both spellings of one field) must decode to the same message, the same
diagnostics and in strict mode the same DecodeError as with the walk alone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshals import AlsMessage, DecodeError, decode_json
from meshals.codec import _json_messages, _json_walk
from meshals.codec._json_fast import (
    SlowPathError,
    clean_message,
    fast_converter,
    fast_or_walk_message,
    walk_only,
)
from meshals.codec._json_messages import (
    _COMMON,
    _ENTRY_LISTS,
    _HTTP_ENTRY,
    _TCP_ENTRY,
    _identifier,
)
from meshals.codec._json_scalars import parse_uint32
from meshals.codec._json_walk import (
    _LOG_ENTRIES,
    MESSAGE_TABLES,
    _Context,
    _first_member_only,
    _json_name,
    _Oneof,
    _scalar,
    _Table,
    _table,
)
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.model import (
    CertificateProperties,
    ConnectionProperties,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Metadata,
    SocketAddress,
    TcpEntry,
    TlsProperties,
)
from meshals.model._construct import CONSTRUCTORS

ENVOY = Path(__file__).parents[1] / "fixtures" / "envoy"
RECORDINGS = sorted(ENVOY.glob("**/*.jsonl"))
LINES = [
    line for path in RECORDINGS for line in path.read_text(encoding="utf-8").splitlines() if line
]
DOCUMENTS: list[dict[str, Any]] = [json.loads(line) for line in LINES]
T = TypeVar("T")
Json = dict[str, Any]


def _both(text: str, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
    """Decode *text* with and without the generated converters: the same outcome, exactly."""
    outcomes: list[AlsMessage | tuple[str, str | None, int | None]] = []
    for walk in (False, True):
        try:
            if walk:
                with walk_only():
                    message = decode_json(text, source="t.json", strict=strict, limits=limits)
            else:
                message = decode_json(text, source="t.json", strict=strict, limits=limits)
        except DecodeError as error:
            outcomes.append((str(error), error.field, error.entry_index))
        else:
            outcomes.append(message)
    fast, walked = outcomes
    assert fast == walked
    if isinstance(fast, AlsMessage) and isinstance(walked, AlsMessage):
        assert fast.diagnostics == walked.diagnostics


def test_every_recorded_entry_takes_the_generated_converter() -> None:
    converters = {
        "httpLogs": fast_converter(HttpEntry, _HTTP_ENTRY),
        "tcpLogs": fast_converter(TcpEntry, _TCP_ENTRY),
    }
    taken = {"httpLogs": 0, "tcpLogs": 0}
    for document in DOCUMENTS:
        for kind, convert in converters.items():
            for entry in document.get(kind, {}).get("logEntry", []):
                context = _Context("t.json", None, False, DEFAULT_LIMITS)
                convert(entry, context)
                assert context.diagnostics == []
                taken[kind] += 1
    assert taken == {"httpLogs": 191, "tcpLogs": 19}


# The messages of an entry that have a generated converter: an entry takes them all the way
# down, and the walk reads only the parts that have none (response flags, subject alt names,
# addresses not in the cache) and the identifier.
GENERATED = (
    CertificateProperties,
    ConnectionProperties,
    HttpRequest,
    HttpResponse,
    Metadata,
    TlsProperties,
)


def test_recorded_entries_never_reach_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = [table for model, table in MESSAGE_TABLES.values() if model in GENERATED]
    tables += [_COMMON, _HTTP_ENTRY, _TCP_ENTRY]
    assert len(tables) == 9
    read = _json_walk._read

    def refuse(raw: object, table: _Table, context: _Context, path: str) -> dict[str, Any]:
        assert all(table is not generated for generated in tables), f"walked at {path!r}"
        return read(raw, table, context, path)

    monkeypatch.setattr(_json_walk, "_read", refuse)
    monkeypatch.setattr(_json_messages, "_read", refuse)
    assert sum(len(decode_json(line).entries) for line in LINES) == 210


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_recordings_decode_alike(strict: bool) -> None:
    assert len(LINES) == 193
    for line in LINES:
        _both(line, strict=strict)


def test_recordings_need_no_second_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    # The members counted in clean input equal those in its text, so no repeated key is
    # suspected and the text is not parsed again.
    def refuse(*arguments: object) -> bool:
        raise AssertionError("parsed again")

    monkeypatch.setattr("meshals.codec._json.report_duplicates", refuse)
    assert sum(len(decode_json(line).entries) for line in LINES) == 210


def test_every_recorded_message_takes_the_clean_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The walk of the message starts with its oneof check: clean messages never get there.
    def refuse(raw: object, oneof: _Oneof, context: _Context, path: str) -> object:
        assert oneof is not _LOG_ENTRIES, "the message was walked"
        return _first_member_only(raw, oneof, context, path)

    monkeypatch.setattr(_json_messages, "_first_member_only", refuse)
    assert sum(len(decode_json(line).entries) for line in LINES) == 210


def test_the_clean_path_counts_what_it_reads() -> None:
    # Added to what the context counted before; a list of exactly max_entries is still clean.
    for line, document in zip(LINES, DOCUMENTS, strict=True):
        entries = [e for key in _ENTRY_LISTS for e in document.get(key, {}).get("logEntry", [])]
        limits = Limits(max_entries=max(1, len(entries)))
        context = _Context("t.json", None, False, limits)
        context.pairs = 5
        values = clean_message(document, context, _identifier, _ENTRY_LISTS)
        assert values is not None
        assert sorted(values) == sorted(
            {"httpLogs": "http_logs", "tcpLogs": "tcp_logs"}.get(key, key) for key in document
        )
        assert context.pairs == 5 + line.count('":')


def test_recorded_maps_take_the_one_pass_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*arguments: object) -> object:
        raise AssertionError("checked member by member")

    monkeypatch.setattr("meshals.codec._json_walk._STRING_MAP_SLOW", refuse)
    messages = [decode_json(line) for line in LINES]
    headers = [
        entry.request.request_headers
        for message in messages
        for entry in message.http_entries
        if entry.request is not None and entry.request.request_headers
    ]
    assert len(headers) > 0


@pytest.mark.parametrize("port", [0, 80, 2**32 - 1], ids=["0", "80", "max"])
def test_an_address_is_built_once(port: int) -> None:
    # Addresses repeat in a capture (listeners, upstream hosts): one immutable value each.
    address = {"socketAddress": {"address": "10.0.0.1", "portValue": port}}
    entry = {"commonProperties": {"upstreamRemoteAddress": address}}
    text = json.dumps({"tcpLogs": {"logEntry": [entry, entry]}})
    first, second = (
        present(entry.common_properties).upstream_remote_address
        for entry in decode_json(text).tcp_entries
    )
    assert first == SocketAddress(address="10.0.0.1", port=port)
    assert first is second
    again = decode_json(text).tcp_entries[0].common_properties
    assert present(again).upstream_remote_address is first


def present(value: T | None) -> T:
    assert value is not None
    return value


def test_generated_converter_gives_up_on_a_snake_case_name() -> None:
    entry = json.loads(LINES[1])["httpLogs"]["logEntry"][0]
    entry["protocol_version"] = entry.pop("protocolVersion", "HTTP11")
    context = _Context("t.json", None, False, DEFAULT_LIMITS)
    with pytest.raises(SlowPathError):
        fast_converter(HttpEntry, _HTTP_ENTRY)(entry, context)


@attrs.frozen
class Listener:
    """A message whose model has a required field and one that its JSON does not hold.

    No model of Envoy's tables has either today (AlsMessage, whose source is not in JSON, is
    read by clean_message), so only a model made for the test reaches that code.
    """

    name: str
    source: str = "not in JSON"
    port: int = 0


_LISTENER = _table(_scalar("name"), _scalar("port", parse_uint32))


@pytest.fixture
def forget_listener() -> Iterator[None]:
    """Take the test's model out of the process-wide constructor table afterwards."""
    yield
    CONSTRUCTORS.pop(Listener, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"name": "l", "port": 8}, Listener("l", port=8)),
        ({"name": "l"}, Listener("l")),
        ({"port": 8, "name": "l"}, Listener("l", port=8)),
    ],
    ids=["all", "default", "order"],
)
@pytest.mark.usefixtures("forget_listener")
def test_a_generated_converter_keeps_the_models_defaults(raw: Json, expected: Listener) -> None:
    convert = fast_converter(Listener, _LISTENER)
    context = _Context("t.json", None, False, DEFAULT_LIMITS)
    assert convert(raw, context) == expected
    assert context.pairs == len(raw)


@pytest.mark.parametrize("raw", [{"port": 8}, {}, {"name": None}], ids=["port", "empty", "null"])
@pytest.mark.usefixtures("forget_listener")
def test_a_generated_converter_gives_up_without_a_required_field(raw: Json) -> None:
    # The walk's keyword call fails there, and says so: the generated one leaves it to the walk.
    context = _Context("t.json", None, False, DEFAULT_LIMITS)
    with pytest.raises(SlowPathError):
        fast_converter(Listener, _LISTENER)(raw, context)


def test_a_fallback_counts_the_members_once() -> None:
    # The count is what rules out a repeated key (codec/_json_duplicates.py): what the
    # generated converter counted before it gave up must not stay in it.
    entry = json.loads(LINES[1])["httpLogs"]["logEntry"][0]
    entry["bogus"] = {"a": 1}
    counts = []
    for walk in (False, True):
        context = _Context("t.json", None, False, DEFAULT_LIMITS)
        with walk_only() if walk else contextlib.nullcontext():
            fast_or_walk_message(HttpEntry, _HTTP_ENTRY)(entry, context, "http_logs.log_entry[0]")
        counts.append((context.pairs, [str(diagnostic) for diagnostic in context.diagnostics]))
    assert counts[0] == counts[1]
    assert counts[0][1] == [
        "t.json, field http_logs.log_entry[0].bogus: unknown field 'bogus'; ignored"
    ]


def test_a_problem_below_a_generated_converter_is_reported_once_where_it_is() -> None:
    # The filter state's Any is converted by the walk inside the generated converter; its
    # problem sends the entry back to the walk, which reports it (and the others) once.
    document = json.loads(LINES[0])
    common = document["httpLogs"]["logEntry"][0]["commonProperties"]
    common["filterStateObjects"]["downstream_peer"]["extra"] = 1
    common["startTime"] = 5
    message = decode_json(json.dumps(document), source="t.json")
    where = "t.json, entry 0, field http_logs.log_entry[0].common_properties"
    assert [str(diagnostic) for diagnostic in message.diagnostics] == [
        f"{where}.start_time: expected an RFC 3339 timestamp string, got number 5; ignored",
        f"{where}.filter_state_objects[\"downstream_peer\"].extra: unknown field 'extra'"
        " in an Any of google.protobuf.StringValue; ignored",
    ]
    _both(json.dumps(document))
    _both(json.dumps(document), strict=True)


def test_diagnostics_past_the_limit_are_counted_once() -> None:
    document = json.loads(LINES[0])
    common = document["httpLogs"]["logEntry"][0]["commonProperties"]
    common["filterStateObjects"]["downstream_peer"]["extra"] = 1
    for position in range(4):
        common[f"bogus{position}"] = position
    limits = Limits(max_diagnostics=2)
    message = decode_json(json.dumps(document), limits=limits)
    assert [str(diagnostic).rsplit(": ", 1)[-1] for diagnostic in message.diagnostics] == [
        "unknown field 'extra' in an Any of google.protobuf.StringValue; ignored",
        "unknown field 'bogus0'; ignored",
        "3 more problems not listed (max_diagnostics is 2)",
    ]
    _both(json.dumps(document), limits=limits)


# --- damaged recordings ---------------------------------------------------------------------------

_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**32, 2**64, 1.5, -0.0, 1e300, "1.5s", "12", "", "\ud800"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["@type", "value", "x"]), st.text(max_size=4), max_size=2),
)


def _objects(value: object, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every JSON object in *value*, outermost first."""
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            _objects(item, found)
    elif isinstance(value, list):
        for item in value:
            _objects(item, found)
    return found


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


@st.composite
def damaged_messages(draw: st.DrawFn) -> str:
    document = json.loads(draw(st.sampled_from(LINES)))
    objects = _objects(document, [])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(objects))
        keys = sorted(target)
        how = draw(st.sampled_from(["value", "snake", "both", "unknown", "null", "drop"]))
        if not keys and how != "unknown":
            continue
        key = draw(st.sampled_from(keys)) if keys else ""
        if how == "value":
            target[key] = draw(_ODD_VALUES)
        elif how == "snake":
            target[_snake(key)] = target.pop(key)
        elif how == "both":
            target[_snake(key)] = target[key]
        elif how == "unknown":
            target[draw(st.sampled_from(["bogus", "@type", _json_name("x_y")]))] = 1
        elif how == "null":
            target[key] = None
        else:
            del target[key]
    return json.dumps(document)


_TIGHT = Limits(max_entries=1, max_diagnostics=2, max_string_length=40, max_nesting_depth=2)


@settings(max_examples=300)
@given(damaged_messages(), st.booleans(), st.sampled_from([DEFAULT_LIMITS, _TIGHT]))
def test_damaged_recordings_decode_alike(text: str, strict: bool, limits: Limits) -> None:
    _both(text, strict=strict, limits=limits)


@pytest.mark.parametrize(
    "text",
    [
        '{"httpLogs": {"logEntry": []}, "tcpLogs": {"logEntry": []}}',
        '{"httpLogs": {"logEntry": [{}, {}]}}',
        '{"httpLogs": {"logEntry": {}}}',
        '{"httpLogs": {"logEntry": [], "x": 1}}',
        '{"http_logs": {"logEntry": [{}]}, "identifier": {}}',
        '{"identifier": [], "httpLogs": {"logEntry": [null]}}',
        '{"identifier": {"logName": "x"}, "httpLogs": null}',
        '{"identifier": {"node": {"metadata": {"a": {"b": {"c": 1}}}}}}',
    ],
    ids=[
        "two-lists",
        "too-many-entries",
        "entries-not-an-array",
        "unknown-member",
        "snake-case",
        "identifier-not-an-object",
        "null-list",
        "identifier-too-deep",
    ],
)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_unusual_messages_decode_alike(text: str, strict: bool) -> None:
    _both(text, strict=strict, limits=_TIGHT)
