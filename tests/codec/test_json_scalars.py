"""The JSON leaf helpers that decode_json's tests reach only in part: messages, text, counts.

tests/codec/test_json.py checks every field type through decode_json against protobuf's
json_format; these are the helpers' own contracts, at their boundaries.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from meshals._values import FrozenMap
from meshals.codec._json_scalars import (
    InvalidValueError,
    count_members,
    describe,
    keep_json_leaf,
    parse_json_value,
    parse_list_value,
    parse_struct,
)

LONE_SURROGATE = "\ud800"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a" * 40, "string '" + "a" * 40 + "'"),  # 40 characters are shown whole
        ("a" * 41, "string '" + "a" * 37 + "...'"),
        (10**39, "number " + "1" + "0" * 39),
        (10**40, "number " + "1" + "0" * 36 + "..."),
    ],
    ids=["str-40", "str-41", "number-40", "number-41"],
)
def test_describe_shortens_past_40_characters(raw: object, expected: str) -> None:
    assert describe(raw) == expected


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        # Not all values are ASCII strings, so each leaf is checked one by one.
        (parse_struct, {"n": 1, "bad": LONE_SURROGATE}),
        (parse_list_value, ["ok", LONE_SURROGATE]),
        (parse_json_value, {"l": [LONE_SURROGATE]}),
        (parse_json_value, LONE_SURROGATE),
    ],
    ids=["struct", "list", "nested-value", "value"],
)
def test_an_unpaired_surrogate_in_json_values(parse: Any, raw: object) -> None:
    with pytest.raises(InvalidValueError, match=r"^string holds an unpaired surrogate$"):
        parse(raw)


def test_struct_values_keep_their_text() -> None:
    assert parse_struct({"n": 1, "s": "ünï"}) == FrozenMap({"n": 1.0, "s": "ünï"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ünï", "ünï"), (7, 7), (2.5, 2.5), (True, True), (None, None)],
    ids=["text", "int", "float", "true", "null"],
)
def test_keep_json_leaf_keeps_the_value_and_its_type(raw: object, expected: object) -> None:
    kept = keep_json_leaf(raw)
    assert (kept, type(kept)) == (expected, type(expected))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (LONE_SURROGATE, "string holds an unpaired surrogate"),
        (math.inf, "number inf is not a JSON number"),
    ],
    ids=["surrogate", "infinity"],
)
def test_keep_json_leaf_rejects_what_json_cannot_hold(raw: object, reason: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        keep_json_leaf(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, 0),
        ([], 0),
        ({"a": 1, "b": "x"}, 2),
        ({"a": {"b": {"c": 1}}}, 3),
        # Objects inside arrays, at the top and under a member, count too.
        ([{"a": 1}, {"b": 2, "c": 3}], 3),
        ({"a": [{"b": 1}, [{"c": 2}], "x", 5]}, 3),
    ],
    ids=["empty-object", "empty-array", "flat", "nested", "array-of-objects", "mixed"],
)
def test_count_members_at_every_depth(raw: object, expected: int) -> None:
    assert count_members(raw) == expected
