"""The gRPC statistics filter's object: which types are read, and the counts from either form."""

from __future__ import annotations

import pytest

from meshals._values import AnyValue, FrozenMap, OpaqueJson
from meshals.codec._filter_objects import grpc_message_counts

TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterObject"


def counts(value: object, type_url: str = TYPE) -> tuple[int, int] | None:
    return grpc_message_counts(AnyValue(type_url=type_url, value=value, known=False))


@pytest.mark.parametrize(
    ("type_url", "expected"),
    [
        (TYPE, (3, 1)),
        ("type.googleapis.com/envoy.config.filter.http.grpc_stats.v2alpha.FilterObject", (3, 1)),
        # A grpc_stats message that is not the object, and an object of another filter.
        ("type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig", None),
        ("type.googleapis.com/envoy.extensions.filters.http.other.v3.FilterObject", None),
    ],
    ids=["v3", "v2alpha", "grpc-stats-config", "other-filter-object"],
)
def test_only_the_grpc_stats_filter_object_is_read(
    type_url: str, expected: tuple[int, int] | None
) -> None:
    assert counts(b"\x08\x03\x10\x01", type_url) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", (0, 0)),
        (b"\x08\x07", (7, 0)),
        (b"\x10\x07", (0, 7)),
        (b"\x10\x02\x08\x05", (5, 2)),
        # Another varint field, and field 1 with another wire type: not counts, and skipped.
        (b"\x18\x09\x08\x01", (1, 0)),
        (b"\x0a\x01x\x10\x04", (0, 4)),
        # A truncated field: the payload is malformed.
        (b"\x08\x03\x10", None),
    ],
    ids=["empty", "requests", "responses", "both-reversed", "field-3", "field-1-bytes", "cut"],
)
def test_binary_counts(payload: bytes, expected: tuple[int, int] | None) -> None:
    assert counts(payload) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, (0, 0)),
        ({"requestMessageCount": "3", "responseMessageCount": "4"}, (3, 4)),
        ({"request_message_count": "5", "response_message_count": 6}, (5, 6)),
        # The JSON name wins where a message has both spellings.
        ({"requestMessageCount": "1", "request_message_count": "2"}, (1, 0)),
        ({"responseMessageCount": 8, "response_message_count": 9}, (0, 8)),
        # What is not a uint64 counts as 0.
        ({"requestMessageCount": -1, "responseMessageCount": True}, (0, 0)),
        ({"requestMessageCount": "-1", "responseMessageCount": "1.5"}, (0, 0)),
        ({"requestMessageCount": "\u0663", "responseMessageCount": None}, (0, 0)),
    ],
    ids=["empty", "camel", "snake", "camel-first", "camel-first-number", "negative-bool",
         "not-digits", "non-ascii-null"],
)  # fmt: skip
def test_json_counts(fields: dict[str, object], expected: tuple[int, int]) -> None:
    assert counts(OpaqueJson(FrozenMap(fields))) == expected


def test_other_payloads_are_not_read() -> None:
    assert counts(FrozenMap({"requestMessageCount": "3"})) is None
