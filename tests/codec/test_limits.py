"""Limits: each one configurable, with a safe default, enforced by both decoders and the framers."""

from __future__ import annotations

import enum
import json
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from envoy.service.accesslog.v3 import als_pb2 as envoy_als
from google.protobuf import json_format, struct_pb2

from meshals import (
    AlsMessage,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    Location,
    decode_binary,
    decode_json,
    decode_message,
    read,
)
from meshals.capture._framing import DelimitedFramer, GrpcFramer, JsonLinesFramer, WholeFramer
from meshals.codec._json_walk import _Context, _map_of, _repeated, _struct
from meshals.codec._limits import (
    DEFAULT_LIMITS,
    LimitExceeded,
    Limits,
    TooLong,
    _leaves,
    find_too_long,
)
from meshals.codec._wire import encode_varint
from meshals.model import AnyValue, FrozenMap, SocketAddress

Json = Any
MIB = 1024 * 1024


def decode_both(doc: Json, **options: Any) -> tuple[AlsMessage, AlsMessage]:
    """*doc* decoded from JSON and from binary (built with Envoy's own classes)."""
    text, data = both_forms(doc)
    return decode_json(text, **options), decode_binary(data, **options)


Decoder = Callable[..., AlsMessage]


def decoders(doc: Json) -> list[tuple[Decoder, str | bytes]]:
    """Each decoder with *doc* in its form: (decode_json, text), (decode_binary, bytes)."""
    text, data = both_forms(doc)
    return [(decode_json, text), (decode_binary, data)]


def both_forms(doc: Json) -> tuple[str, bytes]:
    """*doc* as JSON text and as the binary form Envoy's classes give it."""
    text = json.dumps(doc)
    message = json_format.Parse(text, envoy_als.StreamAccessLogsMessage())
    return text, message.SerializeToString()


def raised(call: Callable[[], object]) -> DecodeError:
    """The DecodeError *call* raises."""
    with pytest.raises(DecodeError) as caught:
        call()
    return caught.value


def nested(depth: int) -> Json:
    """A JSON object *depth* levels deep (objects and arrays alternating), a string at the end."""
    value: Json = "leaf"
    for level in range(depth, 0, -1):
        value = {"k": value} if level % 2 else [value]
    return value


def entry_with(**common: Json) -> Json:
    return {"commonProperties": common}


def http(*entries: Json, identifier: Json = None) -> Json:
    doc: Json = {"httpLogs": {"logEntry": list(entries)}}
    if identifier is not None:
        doc["identifier"] = identifier
    return doc


# --- the Limits object ----------------------------------------------------------------------------


def test_defaults() -> None:
    assert attrs.asdict(DEFAULT_LIMITS) == {
        "max_message_size": 64 * MIB,
        "max_entries": 100_000,
        "max_nesting_depth": 24,
        "max_string_length": MIB,
        "max_diagnostics": 1000,
    }
    assert Limits() == DEFAULT_LIMITS


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(Limits)])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "5", None])
def test_limits_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be a positive int, not {value!r}$"):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_limits_are_immutable() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT_LIMITS.max_entries = 1  # type: ignore[misc]


# --- maximum message size -------------------------------------------------------------------------

SMALL = Limits(max_message_size=10)


@pytest.mark.parametrize(
    ("decode", "data", "reason"),
    [
        (
            decode_json,
            "{" + " " * 9 + "}",
            "the message is 11 characters long, more than the maximum of 10",
        ),
        (
            decode_json,
            b"{" + b" " * 9 + b"}",
            "the message is 11 bytes long, more than the maximum of 10",
        ),
        (
            decode_binary,
            b"\x0a\x09" + b"\x12\x07" + b"a" * 7,
            "the message is 11 bytes long, more than the maximum of 10",
        ),
    ],
    ids=["json-str", "json-bytes", "binary"],
)
def test_message_size(decode: Any, data: Any, reason: str) -> None:
    for strict in (False, True):
        with pytest.raises(DecodeError) as caught:
            decode(data, source="s", index=4, strict=strict, limits=SMALL)
        assert (caught.value.reason, caught.value.location) == (
            reason,
            Location(source="s", message_index=4),
        )


def test_message_size_at_the_limit_is_accepted() -> None:
    assert decode_json("{" + " " * 8 + "}", limits=SMALL) == AlsMessage()
    assert decode_binary(b"\x0a\x08\x12\x06" + b"a" * 6, limits=SMALL).identifier is not None


def test_decode_message_passes_the_limits_on() -> None:
    message = envoy_als.StreamAccessLogsMessage()
    message.identifier.log_name = "x" * 20
    error = raised(lambda: decode_message(message, limits=SMALL))
    assert error.reason == "the message is 24 bytes long, more than the maximum of 10"


# Length prefixes are checked before anything is buffered: the framers, by default 64 MiB.
FRAMER_HEADERS = [
    (DelimitedFramer, encode_varint(4 * 2**30) + b"\x0a", 4 * 2**30),  # a 5-byte varint: 4 GiB
    (DelimitedFramer, encode_varint(2**64 - 1) + b"\x0a", 2**64 - 1),
    (GrpcFramer, b"\x00\xff\xff\xff\xff\x0a", 2**32 - 1),
    (GrpcFramer, b"\x00" + (64 * MIB + 1).to_bytes(4, "big"), 64 * MIB + 1),
]


@pytest.mark.parametrize(("framer_type", "data", "declared"), FRAMER_HEADERS)
def test_framers_check_declared_lengths_before_buffering(
    framer_type: type[DelimitedFramer | GrpcFramer], data: bytes, declared: int
) -> None:
    framer = framer_type(source="cap")
    assert framer.max_frame_size == 64 * MIB
    framer.receive_data(data)
    with pytest.raises(DecodeError) as caught:
        framer.next_frame()
    assert caught.value.reason == (
        f"frame at byte offset 0 declares {declared} bytes, more than the maximum of {64 * MIB}"
    )
    assert framer.buffered == len(data)  # nothing more was asked for, nothing allocated


def test_framer_at_the_limit_waits_for_data() -> None:
    framer = DelimitedFramer(max_frame_size=5)
    framer.receive_data(b"\x05\x0a")
    assert repr(framer.next_frame()) == "NEED_DATA"


@pytest.mark.parametrize("framer_type", [JsonLinesFramer, WholeFramer])
def test_unframed_input_is_bounded_as_it_arrives(
    framer_type: type[JsonLinesFramer | WholeFramer],
) -> None:
    framer = framer_type(max_frame_size=8, source="cap")
    framer.receive_data(b'{"a":1')
    assert repr(framer.next_frame()) == "NEED_DATA"
    error = raised(lambda: (framer.receive_data(b'{"a":1'), framer.next_frame()))
    assert error.reason.endswith("longer than the maximum of 8 bytes")


def test_read_of_a_huge_declared_length_allocates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "huge.bin"
    path.write_bytes(encode_varint(4 * 2**30) + b"\x0a\x00" * 100)
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as caught:
            list(read(path, strict=True))
        lenient = read(path)
        assert list(lenient) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reason = (
        f"frame at byte offset 0 declares {4 * 2**30} bytes, more than the maximum of {64 * MIB}"
    )
    assert caught.value.reason == reason
    assert [d.reason for d in lenient.diagnostics] == [
        f"the rest of the stream is skipped: {reason}"
    ]
    assert peak < MIB


# --- maximum entries ------------------------------------------------------------------------------

THREE = Limits(max_entries=3)


@pytest.mark.parametrize("count", [3, 4, 40])
def test_entries_per_message(count: int) -> None:
    doc: Json = {"tcpLogs": {"logEntry": [{}] * count}}
    for strict in (False, True):
        if count <= 3:
            assert [len(m.entries) for m in decode_both(doc, strict=strict, limits=THREE)] == [3, 3]
            continue
        inputs: list[tuple[Decoder, str | bytes]] = [
            (decode_json, json.dumps(doc)),
            (decode_binary, b"\x1a" + encode_varint(2 * count) + b"\x0a\x00" * count),
        ]
        for decode, data in inputs:
            with pytest.raises(DecodeError) as caught:
                decode(data, strict=strict, limits=THREE)
            # JSON names the list; binary counts on the wire, before protobuf builds the
            # entries, and stops counting at the limit.
            assert caught.value.reason == (
                f"{count} log entries, more than the maximum of 3"
                if decode is decode_json
                else STOPPED_AT_THREE
            )
            assert caught.value.field == ("tcp_logs.log_entry" if decode is decode_json else None)


STOPPED_AT_THREE = "more than the maximum of 3 log entries (counting stopped there)"


def test_entries_split_over_repeated_lists_are_counted_together() -> None:
    data = (b"\x1a\x04" + b"\x0a\x00" * 2) * 2  # two tcp_logs fields, protobuf merges them
    error = raised(lambda: decode_binary(data, limits=THREE))
    assert error.reason == STOPPED_AT_THREE


def test_entries_of_a_broken_message_are_counted_after_the_salvage() -> None:
    # The list is cut, so the count before parsing stops at it; the salvage finds 4 entries.
    data = b"\x1a\x20" + b"\x0a\x00" * 4  # declares 32 bytes, 8 follow
    error = raised(lambda: decode_binary(data, limits=THREE))
    assert error.reason == "4 log entries, more than the maximum of 3"


def test_default_entry_limit_is_checked_before_allocation() -> None:
    count = DEFAULT_LIMITS.max_entries + 1
    body = b"\x0a\x00" * count
    data = b"\x0a\x02\x12\x00" + b"\x1a" + encode_varint(len(body)) + body  # identifier first
    tracemalloc.start()
    try:
        error = raised(lambda: decode_binary(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == ("more than the maximum of 100000 log entries (counting stopped there)")
    assert peak < MIB  # the message is 200 KB; its entries would take about 13 MB


# --- maximum nesting depth ------------------------------------------------------------------------

SHALLOW = Limits(max_nesting_depth=3)
DEPTH_REASON = "nested too deeply: more than 3 levels of objects and arrays"
FILTER = "http_logs.log_entry[0].common_properties.metadata.filter_metadata"


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_nesting_within_the_limit(depth: int) -> None:
    doc = http(entry_with(metadata={"filterMetadata": {"f": {"v": nested(depth - 1)}}}))
    for message in decode_both(doc, strict=True, limits=SHALLOW):
        common = message.entries[0].common_properties
        assert common is not None
        assert common.metadata is not None
        assert "v" in common.metadata.filter_metadata["f"]


def test_nesting_beyond_the_limit_skips_the_entry() -> None:
    doc = http({}, entry_with(metadata={"filterMetadata": {"f": {"v": nested(3)}}}), {})
    field = FILTER.replace("[0]", "[1]") + '["f"]'
    for message in decode_both(doc, limits=SHALLOW):
        assert len(message.entries) == 2
        assert [(d.location.entry_index, d.location.field) for d in message.diagnostics] == [
            (1, field)
        ]
        assert message.diagnostics[0].reason.startswith(DEPTH_REASON)
        assert message.diagnostics[0].reason.endswith("; entry skipped")
    for decode, data in decoders(doc):
        with pytest.raises(DecodeError) as caught:
            decode(data, strict=True, limits=SHALLOW)
        assert (caught.value.reason, caught.value.entry_index, caught.value.field) == (
            DEPTH_REASON,
            1,
            field,
        )


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ({"metadata": {"a": nested(3)}}, "identifier.node.metadata"),
        (
            {"userAgentBuildVersion": {"metadata": {"a": nested(3)}}},
            "identifier.node.user_agent_build_version.metadata",
        ),
        (
            {"extensions": [{}, {"version": {"metadata": {"a": nested(3)}}}]},
            "identifier.node.extensions[1].version.metadata",
        ),
    ],
    ids=["node", "build-version", "extension"],
)
def test_nesting_beyond_the_limit_in_the_identifier_fails_the_message(
    node: Json, field: str
) -> None:
    doc = http({}, identifier={"node": node})
    for decode, data in decoders(doc):
        for strict in (False, True):
            with pytest.raises(DecodeError) as caught:
                decode(data, strict=strict, limits=SHALLOW)
            assert (caught.value.reason, caught.value.entry_index, caught.value.field) == (
                DEPTH_REASON,
                None,
                field,
            )


WKT = "type.googleapis.com/google.protobuf."


@pytest.mark.parametrize(
    ("payload", "allowed"),
    [
        ({"@type": WKT + "Struct", "value": {"a": nested(2)}}, True),
        ({"@type": WKT + "Struct", "value": {"a": nested(3)}}, False),
        ({"@type": WKT + "ListValue", "value": [nested(2)]}, True),
        ({"@type": WKT + "ListValue", "value": [nested(3)]}, False),
        ({"@type": WKT + "Value", "value": nested(3)}, True),
        ({"@type": WKT + "Value", "value": nested(4)}, False),
        ({"@type": WKT + "Value", "value": "scalar"}, True),
    ],
    ids=["struct", "struct-deep", "list", "list-deep", "value", "value-deep", "scalar"],
)
def test_nesting_of_any_payloads(payload: Json, allowed: bool) -> None:
    doc = http(entry_with(filterStateObjects={"k": payload}))
    for message in decode_both(doc, limits=SHALLOW):
        assert len(message.entries) == (1 if allowed else 0)
        assert [d.location.field for d in message.diagnostics] == (
            []
            if allowed
            else ['http_logs.log_entry[0].common_properties.filter_state_objects["k"]']
        )


def test_nesting_of_opaque_any_json() -> None:
    payload = {"@type": "example.com/x.Y", "a": nested(2)}
    assert (
        len(
            decode_json(
                json.dumps(http(entry_with(filterStateObjects={"k": payload}))), limits=SHALLOW
            ).entries
        )
        == 1
    )
    payload = {"@type": "example.com/x.Y", "a": nested(3)}
    message = decode_json(
        json.dumps(http(entry_with(filterStateObjects={"k": payload}))), limits=SHALLOW
    )
    assert message.entries == ()
    assert message.diagnostics[0].reason == f"{DEPTH_REASON}; entry skipped"


@pytest.mark.parametrize(
    ("of", "raw", "field"),
    [
        (_repeated, [{}, {"a": nested(3)}], "x[1]"),
        (_map_of, {"k": {}, "m": {"a": nested(3)}}, 'x["m"]'),
    ],
    ids=["repeated", "map"],
)
def test_a_limit_broken_in_an_element_is_located_at_it(
    of: Callable[..., Callable[..., object]], raw: Json, field: str
) -> None:
    # A Struct does not know where it is: the repeated field or the map around it says.
    # (Made here, not at import, so that a mutated converter is made as the test runs.)
    convert = of(_struct, nested=True)
    context = _Context("t.json", None, False, SHALLOW)
    with pytest.raises(LimitExceeded) as caught:
        convert(raw, context, "x")
    assert (caught.value.reason, caught.value.field) == (DEPTH_REASON, field)


def test_default_depth_is_below_protobufs_own_limit() -> None:
    # The deepest filter_metadata protobuf parses inside a whole message: 31 levels. The
    # default limit must bite first, so that JSON and binary input agree.
    assert DEFAULT_LIMITS.max_nesting_depth < 31
    doc = http(entry_with(metadata={"filterMetadata": {"f": {"v": nested(30)}}}))
    for message in decode_both(doc):
        assert message.entries == ()
        assert [(d.location.field, d.reason) for d in message.diagnostics] == [
            (
                FILTER + '["f"]',
                "nested too deeply: more than 24 levels of objects and arrays; entry skipped",
            )
        ]


def test_deeper_than_protobuf_allows_is_an_entry_protobuf_refuses() -> None:
    inner = struct_pb2.Struct()
    level = inner
    for _ in range(40):
        level = level.fields["k"].struct_value
    message = envoy_als.StreamAccessLogsMessage()
    message.http_logs.log_entry.add()
    entry = message.http_logs.log_entry.add()
    entry.common_properties.metadata.filter_metadata["f"].CopyFrom(inner)
    data = message.SerializeToString()
    lenient = decode_binary(data)
    assert len(lenient.entries) == 1
    (diagnostic,) = lenient.diagnostics
    assert diagnostic.location.entry_index == 1
    assert diagnostic.reason.startswith("entry skipped: messages nest more than 100 deep")
    error = raised(lambda: decode_binary(data, strict=True))
    assert error.reason.startswith("not a StreamAccessLogsMessage: messages nest more than 100")


@pytest.mark.parametrize("depth", [500, 100_000])
def test_deep_json_never_reaches_the_recursion_limit(depth: int) -> None:
    text = json.dumps(http(entry_with(metadata={"filterMetadata": {"f": {"v": "@"}}})))
    text = text.replace('"@"', "[" * depth + "]" * depth)
    limits = Limits(max_nesting_depth=10**6)  # even with no practical limit
    if depth == 100_000:  # json.loads itself gives up first
        error = raised(lambda: decode_json(text, limits=limits))
        assert error.reason == "invalid JSON: nested too deeply"
    else:
        assert len(decode_json(text, limits=limits).entries) == 1


def test_deep_json_in_a_thread_with_a_small_stack() -> None:
    # Iterative conversion: the stack depth does not grow with the input's nesting.
    results: list[object] = []
    text = json.dumps(http(entry_with(metadata={"filterMetadata": {"f": {"v": nested(500)}}})))

    def run() -> None:
        limit = sys.getrecursionlimit()
        results.append(decode_json(text, limits=Limits(max_nesting_depth=1000)))
        assert sys.getrecursionlimit() == limit

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert isinstance(results[0], AlsMessage)


# --- maximum string length ------------------------------------------------------------------------

SHORT = Limits(max_string_length=8)


@pytest.mark.parametrize(
    ("entry", "field", "length", "unit"),
    [
        ({"request": {"path": "/" * 9}}, "request.path", 9, "characters"),
        ({"request": {"path": "é" * 9}}, "request.path", 9, "characters"),
        (
            {"request": {"requestHeaders": {"h" * 9: "v"}}},
            'request.request_headers["hhhhhhhhh"]',
            9,
            "characters",
        ),
        (
            {"request": {"requestHeaders": {"h": "v" * 9}}},
            'request.request_headers["h"]',
            9,
            "characters",
        ),
        (
            entry_with(downstreamRemoteAddress={"socketAddress": {"address": "1" * 9}}),
            "common_properties.downstream_remote_address.socket_address.address",
            9,
            "characters",
        ),
        (
            entry_with(metadata={"filterMetadata": {"f": {"a": ["x", {"b": "y" * 9}]}}}),
            'common_properties.metadata.filter_metadata["f"]["a"][1]["b"]',
            9,
            "characters",
        ),
    ],
    ids=["path", "unicode", "header-key", "header-value", "address", "struct"],
)
def test_string_length(entry: Json, field: str, length: int, unit: str) -> None:
    doc = http({}, entry)
    reason = f"a value of {length} {unit} is longer than the maximum of 8"
    where = f"http_logs.log_entry[1].{field}"
    for message in decode_both(doc, limits=SHORT):
        assert len(message.entries) == 1
        assert message.diagnostics == (
            Diagnostic(
                kind=DiagnosticKind.ENTRY_SKIPPED,
                location=Location(source=message.source, entry_index=1, field=where),
                reason=f"{reason}; entry skipped",
            ),
        )
    for decode, data in decoders(doc):
        with pytest.raises(DecodeError) as caught:
            decode(data, strict=True, limits=SHORT)
        assert (caught.value.reason, caught.value.entry_index, caught.value.field) == (
            reason,
            1,
            where,
        )


def test_bytes_length() -> None:
    payload = {"@type": WKT + "BytesValue", "value": "YWFh" * 17}  # 51 bytes
    doc = http(entry_with(filterStateObjects={"k": payload}))
    for message in decode_both(doc, limits=Limits(max_string_length=50)):
        assert [(d.location.field, d.reason) for d in message.diagnostics] == [
            (
                'http_logs.log_entry[0].common_properties.filter_state_objects["k"].value',
                "a value of 51 bytes is longer than the maximum of 50; entry skipped",
            )
        ]


def test_string_length_in_the_identifier_fails_the_message() -> None:
    doc = http(identifier={"node": {"id": "n" * 9}})
    for decode, data in decoders(doc):
        for strict in (False, True):
            with pytest.raises(DecodeError) as caught:
                decode(data, strict=strict, limits=SHORT)
            assert (caught.value.field, caught.value.reason) == (
                "identifier.node.id",
                "a value of 9 characters is longer than the maximum of 8",
            )


def test_strings_at_the_limit_are_kept() -> None:
    doc = http({"request": {"path": "/" * 8}}, identifier={"node": {"id": "n" * 8}})
    for message in decode_both(doc, strict=True, limits=SHORT):
        assert message.http_entries[0].request is not None
        assert message.http_entries[0].request.path == "/" * 8


def test_a_long_key_is_shown_shortened() -> None:
    doc = http({"request": {"requestHeaders": {"h" * 100: "v"}}})
    message = decode_json(json.dumps(doc), limits=SHORT)
    assert message.diagnostics[0].location.field == (
        f'http_logs.log_entry[0].request.request_headers["{"h" * 37}..."]'
    )


def test_long_strings_in_opaque_any_json() -> None:
    payload = {"@type": "example.com/x.Y", "a": [1, {"b": "x" * 21}]}
    message = decode_json(
        json.dumps(http(entry_with(filterStateObjects={"k": payload}))),
        limits=Limits(max_string_length=20),
    )
    assert [(d.location.field, d.reason) for d in message.diagnostics] == [
        (
            'http_logs.log_entry[0].common_properties.filter_state_objects["k"].value["a"][1]["b"]',
            "a value of 21 characters is longer than the maximum of 20; entry skipped",
        )
    ]


class Colour(str, enum.Enum):
    """A str subclass, as a future model enum might be."""

    RED = "red-red-red"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (FrozenMap({"k": Colour.RED}), TooLong('["k"]', 11, "characters")),
        ((b"ok", b"long-bytes"), TooLong("[1]", 10, "bytes")),
        (
            SocketAddress(address="a", named_port="n" * 9),
            TooLong("socket_address.named_port", 9, "characters"),
        ),
        (SocketAddress(address="a"), None),
        (
            FrozenMap({"k": AnyValue(type_url="t" * 9, value=None, known=True)}),
            TooLong('["k"].type_url', 9, "characters"),
        ),
        # One at the limit, then one over it: the first over it is found.
        ((b"x" * 8, b"y" * 9), TooLong("[1]", 9, "bytes")),
        # A key is shown whole up to 40 characters, shortened to 37 and "..." past them.
        (FrozenMap({"k" * 40: ""}), TooLong('["' + "k" * 40 + '"]', 40, "characters")),
        (FrozenMap({"k" * 41: ""}), TooLong('["' + "k" * 37 + '..."]', 41, "characters")),
    ],
    ids=[
        "str-subclass",
        "bytes",
        "address",
        "none",
        "any-type-url",
        "at-then-over",
        "key-40",
        "key-41",
    ],
)
def test_find_too_long(value: object, found: TooLong | None) -> None:
    assert find_too_long(value, 8) == found


def test_leaves_name_every_string_in_field_order() -> None:
    value = (SocketAddress(address="10.0.0.1", named_port="http"), FrozenMap({"k": "v"}))
    assert list(_leaves(value)) == [
        ("[0].socket_address.address", "10.0.0.1"),
        ("[0].socket_address.named_port", "http"),
        ("[0].socket_address.resolver_name", ""),
        ("[0].socket_address.network_namespace_filepath", ""),
        ('[1]["k"]', "k"),
        ('[1]["k"]', "v"),
    ]


def test_limit_exceeded_carries_its_reason() -> None:
    # Internal, always caught by the decoders; should one escape, its message is the reason.
    error = LimitExceeded("too long", "request.path")
    assert (str(error), error.reason, error.field) == ("too long", "too long", "request.path")


# --- maximum diagnostics --------------------------------------------------------------------------


def test_diagnostics_per_message() -> None:
    unknown = {f"bogus{index}": 1 for index in range(5)}
    text = json.dumps({"httpLogs": {}, **unknown})
    message = decode_json(text, source="s", limits=Limits(max_diagnostics=2))
    assert [d.reason for d in message.diagnostics] == [
        "unknown field 'bogus0'; ignored",
        "unknown field 'bogus1'; ignored",
        "3 more problems not listed (max_diagnostics is 2)",
    ]
    assert message.diagnostics[-1].location == Location(source="s")
    data = b"".join(encode_varint(number << 3) + b"\x00" for number in range(20, 25))
    binary = decode_binary(data, source="b", index=3, limits=Limits(max_diagnostics=2))
    assert [d.reason for d in binary.diagnostics] == [
        "unknown field number 20 (varint) ignored",
        "unknown field number 21 (varint) ignored",
        "3 more problems not listed (max_diagnostics is 2)",
    ]
    # The summary is about the whole message: it names the message, no entry or field.
    assert binary.diagnostics[-1].location == Location(source="b", message_index=3)
    indexed = decode_json(text, source="s", index=5, limits=Limits(max_diagnostics=2))
    assert indexed.diagnostics[-1].location == Location(source="s", message_index=5)


def test_strict_mode_raises_at_the_first_problem_whatever_the_diagnostics_limit() -> None:
    with pytest.raises(DecodeError, match="unknown field 'bogus'"):
        decode_json('{"tcpLogs": {}, "bogus": 1}', strict=True, limits=Limits(max_diagnostics=1))


def test_values_within_the_limits_are_frozen_all_the_way_down() -> None:
    doc = http(identifier={"node": {"metadata": {"a": nested(3)}}})
    for message in decode_both(doc, strict=True, limits=Limits(max_nesting_depth=4)):
        assert message.identifier is not None
        assert message.identifier.node is not None
        assert message.identifier.node.metadata == FrozenMap(
            {"a": FrozenMap({"k": (FrozenMap({"k": "leaf"}),)})}
        )
