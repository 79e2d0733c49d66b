"""The compiled decoder against the pure path, on generated and on damaged messages.

For every input, decoding with and without :func:`~meshals.codec._accelerated.pure_path`
gives identical outcomes (messages compared object for object, diagnostics and errors
included), and where the compiled decoder answers at all, its answer is the pure path's.
Skipped where the extension is not built.
"""

from __future__ import annotations

import datetime

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from meshals.codec._accelerated import ACCELERATED
from meshals.codec._wire import WireError, encode_varint, fields

from .accel_paths import both_paths
from .strategies import Family, als_messages

pytestmark = [
    pytest.mark.property,
    pytest.mark.skipif(not ACCELERATED, reason="the compiled decoder is not built"),
]

BOUNDED = settings(deadline=datetime.timedelta(seconds=5))
FAMILIES = st.sampled_from(
    [Family(), Family(exact=False, unknown_any=True), Family(version="v2", exact=False)]
)


@st.composite
def serialized(draw: st.DrawFn) -> bytes:
    message: Message = draw(als_messages(draw(FAMILIES)))
    data: bytes = message.SerializeToString()
    return data


def spans(data: bytes) -> list[tuple[int, int, int, int]]:
    """(start, value start, end, wire type) of every field, nested ones too, that parses."""
    found: list[tuple[int, int, int, int]] = []
    pending = [(0, len(data))]
    while pending:
        start, end = pending.pop()
        try:
            for field in fields(data, start, end):
                found.append((field.start, field.value_start, field.end, field.wire_type))
                if field.wire_type == 2 and field.end > field.value_start:
                    pending.append((field.value_start, field.end))
        except WireError:
            continue
    return found


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = draw(serialized())
    kind = draw(st.sampled_from(["flip", "cut", "unknown", "repeat", "splice"]))
    if not data:
        return data
    if kind == "flip":
        position = draw(st.integers(0, len(data) - 1))
        bit = draw(st.integers(0, 7))
        return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1 :]
    if kind == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    found = spans(data)
    if not found:
        return data
    start, _, end, _ = draw(st.sampled_from(found))
    if kind == "unknown":  # an unknown field beside a field, in the same message
        number = draw(st.integers(60, 5000))
        field = encode_varint(number << 3) + encode_varint(draw(st.integers(0, 2**40)))
        return data[:start] + field + data[start:]
    if kind == "repeat":  # the same field again, right after itself
        return data[:end] + data[start:end] + data[end:]
    other_start, _, other_end, _ = draw(st.sampled_from(found))
    return data[:start] + data[other_start:other_end] + data[end:]


@BOUNDED
@given(data=serialized(), strict=st.booleans())
def test_generated_messages_decode_identically(data: bytes, strict: bool) -> None:
    both_paths(data, strict=strict)


@BOUNDED
@given(data=damaged(), strict=st.booleans())
def test_damaged_messages_decode_identically(data: bytes, strict: bool) -> None:
    both_paths(data, strict=strict)


@BOUNDED
@given(data=st.binary(max_size=64))
def test_random_bytes_decode_identically(data: bytes) -> None:
    both_paths(data)
