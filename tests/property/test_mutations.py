"""Structure-aware fuzzing with Hypothesis: valid messages, mutated, and the error contract.

Valid messages (Envoy's own classes, :mod:`.strategies`) are mutated the way broken input
is broken: fields dropped, values of the wrong type, bytes cut off, parts of two messages
spliced, garbage written over a field. Whatever comes out, meshals must

- raise nothing but :class:`~meshals.MeshalsError`, in strict and in lenient mode;
- agree with itself: where strict decoding succeeds, lenient decoding gives the same message
  with no diagnostics;
- account for every entry when lenient ``read()`` feeds ``analyze()``;
- keep every whole entry of a binary message in which one entry is broken;
- finish each input in bounded time (the tests' deadline).
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from meshals import (
    AlsMessage,
    DecodeError,
    DiagnosticKind,
    MeshalsError,
    StaticResolver,
    analyze,
    decode_binary,
    decode_json,
    read,
)
from meshals.capture import Container
from meshals.codec._wire import WireError, encode_varint, fields

from .strategies import Family, als_messages

pytestmark = pytest.mark.property

# Generous: a slow example is re-run before it fails, and CI machines vary.
BOUNDED = settings(deadline=datetime.timedelta(seconds=5))
FAMILY = Family(exact=False)
RESOLVER = StaticResolver({})
Json = Any


def serialized(message: Message) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def as_json(message: Message) -> Json:
    return json.loads(json_format.MessageToJson(message))


# --- mutations of bytes ------------------------------------------------------------------------


def top_fields(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) spans of the whole fields of ``data[start:end]``."""
    spans = []
    try:
        for field in fields(data, start, end):
            spans.append((field.start, field.end))
    except WireError:
        pass
    return spans


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, other: bytes) -> bytes:
    """*data* broken in one of the ways serialized messages break."""
    kind = draw(
        st.sampled_from(
            ["truncate", "flip", "overwrite", "insert", "splice", "drop", "duplicate", "garbage"]
        )
    )
    size = len(data)
    at = draw(st.integers(0, size))
    if kind == "truncate":
        return data[:at]
    if kind == "flip" and size:
        at = min(at, size - 1)
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if kind == "overwrite":
        patch = draw(st.binary(min_size=1, max_size=8))
        return data[:at] + patch + data[at + len(patch) :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "splice":
        return data[:at] + other[draw(st.integers(0, len(other))) :]
    spans = nested_spans(data)
    if not spans:
        return data + draw(st.binary(max_size=4))
    start, end = draw(st.sampled_from(spans))
    if kind == "drop":
        return data[:start] + data[end:]
    if kind == "duplicate":
        return data[:end] + data[start:end] + data[end:]
    # "garbage": a field's bytes replaced by as many random ones.
    return data[:start] + draw(st.binary(min_size=end - start, max_size=end - start)) + data[end:]


def nested_spans(data: bytes) -> list[tuple[int, int]]:
    """Spans of the top-level fields and of the fields inside them, two levels deep."""
    spans = top_fields(data)
    for start, end in list(spans):
        inner = _payload_start(data, start)
        if inner is not None:
            children = top_fields(data, inner, end)
            spans += children
            for child_start, child_end in children:
                grandchild = _payload_start(data, child_start)
                if grandchild is not None:
                    spans += top_fields(data, grandchild, child_end)
    return spans


def _payload_start(data: bytes, start: int) -> int | None:
    """Where the payload of the length-delimited field at *start* begins (None: not one)."""
    try:
        field = next(fields(data, start))
    except (WireError, StopIteration):
        return None
    return field.value_start if field.wire_type == 2 else None


# --- mutations of JSON documents ---------------------------------------------------------------


def paths(document: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) to a value in *document*, the root excluded."""
    found = []
    if isinstance(document, dict):
        items: list[tuple[Any, Json]] = list(document.items())
    elif isinstance(document, list):
        items = list(enumerate(document))
    else:
        return []
    for key, value in items:
        found.append((*prefix, key))
        found += paths(value, (*prefix, key))
    return found


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["NaN", "-1", "1e400", "1.5s", "0001-01-01T00:00:00Z", "GET", "@type"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_json(draw: st.DrawFn, document: Json, other: str) -> str:
    """*document* (as text) broken in one of the ways JSON messages break."""
    text = json.dumps(document)
    kind = draw(st.sampled_from(["retype", "drop", "duplicate", "truncate", "splice", "wrap"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "splice":
        return text[: draw(st.integers(0, len(text)))] + other[draw(st.integers(0, len(other))) :]
    if kind == "wrap":
        return json.dumps(draw(st.sampled_from([[document], {"x": document}, "text", 5])))
    candidates = paths(document)
    if not candidates:
        return json.dumps(draw(JSON_VALUES))
    path = draw(st.sampled_from(candidates))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "retype":
        parent[last] = draw(JSON_VALUES)
        return json.dumps(document, allow_nan=True)
    if kind == "drop":
        del parent[last]
        return json.dumps(document)
    if isinstance(parent, dict):  # "duplicate": the key again, with another value
        body = json.dumps(document)[1:-1] if parent is document else None
        if body is not None and body:
            return (
                "{"
                + body
                + ", "
                + json.dumps(str(last))
                + ": "
                + json.dumps(draw(JSON_VALUES))
                + "}"
            )
    parent[last] = [parent[last], parent[last]]
    return json.dumps(document)


# --- the contract ------------------------------------------------------------------------------


def check_contract(decode: Callable[..., AlsMessage], data: bytes | str) -> AlsMessage | None:
    """Decode strict and lenient; only DecodeError, and the two agree where strict succeeds."""
    try:
        strict = decode(data, strict=True)
    except DecodeError:
        strict = None
    try:
        lenient = decode(data)
    except DecodeError:
        assert strict is None
        return None
    hash(lenient)  # immutable all the way down
    if strict is not None:
        assert lenient == strict
        assert lenient.diagnostics == ()
    return lenient


@BOUNDED
@given(message=als_messages(FAMILY), other=als_messages(FAMILY), data=st.data())
def test_mutated_binary(message: Message, other: Message, data: st.DataObject) -> None:
    broken = data.draw(mutated_bytes(serialized(message), serialized(other)))
    check_contract(decode_binary, broken)


@BOUNDED
@given(message=als_messages(FAMILY), other=als_messages(FAMILY), data=st.data())
def test_mutated_json(message: Message, other: Message, data: st.DataObject) -> None:
    broken = data.draw(mutated_json(as_json(message), json_format.MessageToJson(other)))
    check_contract(decode_json, broken)
    check_contract(decode_json, broken.encode("utf-8", "surrogatepass"))


# --- nothing lost --------------------------------------------------------------------------------


def delimited(frames: list[bytes]) -> bytes:
    return b"".join(encode_varint(len(frame)) + frame for frame in frames)


@BOUNDED
@given(
    messages=st.lists(als_messages(FAMILY), min_size=1, max_size=4),
    data=st.data(),
    strict=st.booleans(),
)
def test_lenient_read_then_analyze_accounts_for_every_entry(
    messages: list[Message], data: st.DataObject, strict: bool
) -> None:
    frames = [serialized(message) for message in messages]
    victim = data.draw(st.integers(0, len(frames) - 1))
    frames[victim] = data.draw(mutated_bytes(frames[victim], frames[0]))
    content = delimited(frames)
    try:
        # The container is given: a mutated first frame can make the whole stream a plausible
        # binary message (0x1a: tcp_logs), and detection is not what this tests. The reader
        # goes to analyze() as it is, so that the analysis counts what it drops.
        reader = read(io.BytesIO(content), container=Container.DELIMITED, strict=strict)
        analysis = analyze(reader, resolver=RESOLVER)
        metrics = analysis.metrics()
    except MeshalsError:
        assert strict  # lenient mode drops what it cannot read, and goes on
        return
    # The same messages again (decoding is deterministic), to count what they hold.
    seen = list(read(io.BytesIO(content), container=Container.DELIMITED).messages())
    accounting = analysis.accounting
    assert accounting.entries_in == accounting.analyzed + accounting.skipped_total
    assert accounting.entries_in == sum(len(message.entries) for message in seen)
    assert accounting.metrics_out == len(metrics)
    # Every drop is counted, by kind: the reader's, and those inside the messages.
    diagnostics = [*reader.diagnostics, *(d for m in seen for d in m.diagnostics)]
    assert accounting.dropped == {
        kind: count
        for kind in DiagnosticKind
        if kind not in (DiagnosticKind.VALUE_IGNORED, DiagnosticKind.NOTE)
        and (count := sum(d.kind is kind for d in diagnostics))
    }
    if accounting.input_entries is not None:
        assert accounting.input_entries == accounting.entries_in + accounting.entries_dropped
    # Every frame is a message yielded or one the reader skipped and said so; where the
    # framing itself breaks, one diagnostic says the rest of the stream is skipped from there.
    skipped = {d.location.message_index for d in reader.diagnostics}
    yielded = {message.index for message in seen}
    assert yielded.isdisjoint(skipped)
    cuts = [
        d.location.message_index
        for d in reader.diagnostics
        if d.reason.startswith("the rest of the stream is skipped: ")
    ]
    if cuts:
        [cut] = cuts
        assert cut is not None
        assert all(index is not None and index < cut for index in yielded)
    else:
        assert yielded | skipped == set(range(len(frames)))


@BOUNDED
@given(
    message=als_messages(Family(exact=False)).filter(
        lambda m: (
            m.WhichOneof("log_entries") is not None
            and len(getattr(m, m.WhichOneof("log_entries")).log_entry) >= 2
        )
    ),
    data=st.data(),
)
def test_one_broken_entry_costs_that_entry_only(message: Any, data: st.DataObject) -> None:
    member = message.WhichOneof("log_entries")
    entries = getattr(message, member).log_entry
    victim = data.draw(st.integers(0, len(entries) - 1))
    original = decode_binary(serialized(message))
    # The victim's payload becomes a string field with invalid UTF-8: protobuf refuses it.
    broken_entry = b"\x0a\x04\x7a\x02\xc3\x28"  # common_properties.upstream_cluster
    body = b"".join(
        b"\x0a" + encode_varint(len(payload)) + payload
        for payload in (
            broken_entry if index == victim else serialized(entry)
            for index, entry in enumerate(entries)
        )
    )
    number = {"http_logs": 2, "tcp_logs": 3}[member]
    identifier = serialized(message.identifier) if message.HasField("identifier") else None
    head = b"" if identifier is None else b"\x0a" + encode_varint(len(identifier)) + identifier
    broken = head + bytes([number << 3 | 2]) + encode_varint(len(body)) + body
    lenient = decode_binary(broken)
    kept = tuple(entry for index, entry in enumerate(original.entries) if index != victim)
    assert lenient.entries == kept
    assert lenient.identifier == original.identifier
    skips = [d for d in lenient.diagnostics if "entry skipped" in d.reason]
    assert [(d.location.entry_index, d.location.field) for d in skips] == [
        (victim, f"{member}.log_entry[{victim}].common_properties.upstream_cluster")
    ]
    # The other diagnostics are the original's (out-of-range values and the like), renumbered
    # nowhere: entry indexes stay those of the original message.
    assert [d for d in lenient.diagnostics if d not in skips] == [
        d for d in original.diagnostics if d.location.entry_index != victim
    ]
    with pytest.raises(DecodeError) as caught:
        decode_binary(broken, strict=True)
    assert caught.value.entry_index == victim
