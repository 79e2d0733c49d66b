"""The compiled decoder (``_accel.c``) against the pure path: the same objects, or "not mine".

Every binary input the tests hold (the recordings, the other fixtures, the fuzz corpus, the
benchmark corpus's generator) is decoded with and without :func:`pure_path`, and the results
compared object for object, diagnostics and errors included; on the real recordings the
compiled decoder must also have taken the exact number of messages it takes today. Skipped
where the extension is not built (``python tools/build_accel.py``); CI builds it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from property.accel_paths import assert_identical, both_paths, counting_accelerator

from meshals import AlsMessage, DecodeError, read
from meshals._pb.accesslog_pb2 import AccessLogCommon as PB2AccessLogCommon
from meshals.codec import decode_binary, encode_binary
from meshals.codec._accelerated import (
    _ACCEL,
    _EXTRA_CACHE,
    ACCELERATED,
    _context,
    decode_accelerated,
    pure_path,
)
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.codec._wire import encode_varint
from meshals.model import HttpVersion

pytestmark = pytest.mark.skipif(
    not ACCELERATED, reason="the compiled decoder is not built (python tools/build_accel.py)"
)

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
BINARY_FIXTURES = sorted(FIXTURES.rglob("*.bin"))
FUZZ_CORPUS = sorted((ROOT / "tests" / "fuzz_corpus" / "binary").iterdir())

# Per recording set: its messages, how many the compiled decoder takes (all), its entries.
RECORDINGS = {
    "envoy/*.bin": (35, 35, 40),
    "envoy/mtls/*.bin": (45, 45, 46),
    "envoy/rbac/*.bin": (78, 78, 84),
    "envoy/reconnect/*.bin": (35, 35, 40),
    "mx/*.bin": (7, 7, 16),
}


def test_the_fixtures_are_found() -> None:
    assert len(BINARY_FIXTURES) == 44
    assert len(FUZZ_CORPUS) == 16


@pytest.mark.parametrize("path", BINARY_FIXTURES, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_binary_fixture_reads_identically(path: Path) -> None:
    with pure_path():
        pure = list(read(path))
    fast = list(read(path))
    assert len(pure) == len(fast)
    for one, other in zip(pure, fast, strict=True):
        assert_identical(one, other)


@pytest.mark.parametrize("pattern", sorted(RECORDINGS))
def test_the_compiled_decoder_takes_the_recordings(pattern: str) -> None:
    with counting_accelerator() as counter:
        entries = sum(
            len(message.entries)
            for path in FIXTURES.glob(pattern)
            for message in read(path)
            if isinstance(message, AlsMessage)
        )
    assert (counter.taken + counter.left, counter.taken, entries) == RECORDINGS[pattern]


@pytest.mark.parametrize("path", FUZZ_CORPUS, ids=lambda path: path.name)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_the_fuzz_corpus_decodes_identically(path: Path, strict: bool) -> None:
    both_paths(path.read_bytes(), strict=strict)


def test_the_benchmark_corpus_decodes_identically() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(ROOT / "tools"))
    messages = taken = 0
    for message, _ in make_corpus.generate(300, seed=7):
        _, fast = both_paths(message.SerializeToString())
        messages += 1
        taken += fast is not None
    assert (messages, taken) == (219, 219)


# --- what the compiled decoder leaves to the pure path --------------------------------------

TCP_ENTRY = b"\x0a\x00"  # an empty TCPAccessLogEntry


def tcp_message(entry: bytes) -> bytes:
    body = b"\x0a" + encode_varint(len(entry)) + entry
    return b"\x1a" + encode_varint(len(body)) + body


def common(fields: bytes) -> bytes:
    """A TCP message whose one entry has these common_properties."""
    return tcp_message(b"\x0a" + encode_varint(len(fields)) + fields)


START = b"\x2a\x06\x08" + encode_varint(1_700_000_000)  # start_time: 2023-11-14T22:13:20Z
CLUSTER = b"\x7a\x01a"  # upstream_cluster "a"

LEFT_TO_THE_PURE_PATH = {
    "unknown field": common(START + b"\xf8\x07\x01"),  # field 127
    "wrong wire type": common(b"\x7d\x00\x00\x00\x00"),  # upstream_cluster as fixed32
    "singular field twice": common(CLUSTER + CLUSTER),
    "both oneof members": b"\x12\x00" + tcp_message(b""),
    "entry list twice": tcp_message(b"") + tcp_message(b""),
    "invalid UTF-8": common(b"\x7a\x02\xc3\x28"),
    "timestamp out of range": common(b"\x2a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
    "negative nanos": common(b"\x2a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    "truncated": common(START)[:-1],
    "group wire type": common(b"\x7b\x7c"),
    "bool of 2": common(b"\xd8\x01\x02"),  # intermediate_log_entry = 2
    "enum beyond int32": common(b"\x88\x02\x80\x80\x80\x80\x10"),  # access_log_type 2**32
    "port and named port": common(b"\x12\x09\x0a\x07\x18\x50\x22\x03abc"),
    # upstream_request_attempt_count's tag in 6 bytes: protobuf refuses tags over 5.
    "tag of 6 bytes": bytes.fromhex("120b0a090a07c0818080800005"),
}

# Taken, with the rarer parts through the callbacks (the pure path's converters).
TAKEN_THROUGH_CALLBACKS = {
    "pipe address": common(b"\x12\x04\x12\x02\x0a\x00"),
    "empty address": common(b"\x12\x00"),
    "identifier": b"\x0a\x07\x0a\x03\x0a\x01n\x12\x00" + tcp_message(b""),
    "custom tags twice": common(b"\xb2\x01\x06\x0a\x01k\x12\x01v" * 2),
    "metadata": common(b"\x8a\x01\x00"),
    "tag of 5 bytes": common(b"\xfa\x80\x80\x80\x00\x01a"),  # upstream_cluster "a"
}


@pytest.mark.parametrize("name", sorted(TAKEN_THROUGH_CALLBACKS))
def test_rarer_parts_are_taken_through_the_callbacks(name: str) -> None:
    _, fast = both_paths(TAKEN_THROUGH_CALLBACKS[name])
    assert fast is not None


@pytest.mark.parametrize("name", sorted(LEFT_TO_THE_PURE_PATH))
def test_irregular_input_is_left_to_the_pure_path(name: str) -> None:
    data = LEFT_TO_THE_PURE_PATH[name]
    assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is None
    both_paths(data)
    both_paths(data, strict=True)


@pytest.mark.parametrize(
    ("limits", "data"),
    [
        (Limits(max_entries=2), tcp_message(b"") * 0 + b"\x1a\x06" + TCP_ENTRY * 3),
        (Limits(max_string_length=1), common(b"\x7a\x02ab")),
        (Limits(max_nesting_depth=25), common(CLUSTER)),
    ],
    ids=["entries", "string", "nesting"],
)
def test_limits_leave_the_message_to_the_pure_path(limits: Limits, data: bytes) -> None:
    assert decode_accelerated(data, "case", None, limits) is None
    both_paths(data, limits=limits)


def test_canonical_input_is_taken() -> None:
    data = common(START + CLUSTER)
    fast = decode_accelerated(data, "case", 3, DEFAULT_LIMITS)
    assert fast is not None
    assert fast.tcp_entries[0].common_properties is not None
    assert fast.tcp_entries[0].common_properties.start_time_ns == 1_700_000_000 * 10**9
    assert (fast.source, fast.index, fast.diagnostics) == ("case", 3, ())
    both_paths(data)


def test_pure_path_forces_the_pure_decoder() -> None:
    data = common(START)
    with pure_path():
        assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is None
    assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is not None


def test_the_encoder_round_trips_through_the_compiled_decoder() -> None:
    message = decode_binary(common(START + CLUSTER))
    assert decode_accelerated(encode_binary(message), "x", None, DEFAULT_LIMITS) == message


def test_the_comparison_tells_an_enum_member_from_its_int() -> None:
    with pytest.raises(AssertionError, match="HttpVersion != int"):
        assert_identical(HttpVersion.HTTP11, 2)


def test_a_remembered_part_is_decoded_again_under_a_lower_nesting_limit() -> None:
    pb = PB2AccessLogCommon()
    pb.metadata.filter_metadata["f"].update({"a": {"b": {"c": 1}}})  # 3 levels
    data = common(pb.SerializeToString())
    _, fast = both_paths(data)  # remembered now
    assert fast is not None
    outcome, fast = both_paths(data, limits=Limits(max_nesting_depth=2))
    assert fast is None
    assert outcome[1].entries == ()  # the entry is skipped there


def length_delimited(number: int, body: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


def test_a_callback_counts_the_depth_of_what_protobuf_parses_and_drops() -> None:
    # filter_metadata "a" twice: the first value 32 Structs deep (past protobuf's 100 levels
    # in the whole message), the second empty. protobuf parses the first, then keeps the
    # second, so the depth refuses the whole message on the pure path, which says where; the
    # callback, which parses its part inside the enclosing messages, must leave it there too.
    struct = b""
    for _ in range(32):
        field = length_delimited(1, b"x") + length_delimited(2, length_delimited(5, struct))
        struct = length_delimited(1, field)
    metadata = length_delimited(1, length_delimited(1, b"a") + length_delimited(2, struct))
    metadata += length_delimited(1, length_delimited(1, b"a") + length_delimited(2, b""))
    data = common(length_delimited(17, metadata))
    assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is None
    with pure_path(), pytest.raises(DecodeError) as caught:
        decode_binary(data)
    assert caught.value.reason == (
        "not a StreamAccessLogsMessage: messages nest more than 100 deep (protobuf's limit)"
        " at byte offset 361"
    )
    assert caught.value.entry_index == 0


# The part handed to the callback is custom_tags' field: 10 bytes more than the tag's value,
# so a value of 4086 bytes makes a part of 4096, the largest remembered.
@pytest.mark.parametrize(("size", "kept"), [(100, 1), (4086, 1), (4087, 0), (5000, 0)])
def test_only_small_parts_are_remembered(size: int, kept: int) -> None:
    tag = length_delimited(1, b"k") + length_delimited(2, b"v" * size)
    data = common(length_delimited(22, tag))  # custom_tags
    _EXTRA_CACHE.clear()
    _, fast = both_paths(data)
    assert fast is not None
    assert len(_EXTRA_CACHE) == kept


def test_a_negative_limit_is_refused_not_wrapped() -> None:
    assert _ACCEL is not None
    context = _context(DEFAULT_LIMITS)
    with pytest.raises(OverflowError):
        _ACCEL.decode(common(START), "case", None, -1, 100, context)
