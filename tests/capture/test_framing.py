"""The sans-IO framers: frames out, exact errors for bad input, limits before buffering."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from meshals import DecodeError
from meshals.capture._framing import (
    END_OF_STREAM,
    NEED_DATA,
    DelimitedFramer,
    Framer,
    GrpcFramer,
    JsonLinesFramer,
    WholeFramer,
    parse_varint,
)


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint, written out independently of the code under test."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def delimited(*frames: bytes) -> bytes:
    return b"".join(varint(len(frame)) + frame for frame in frames)


def grpc(*frames: bytes, flag: int = 0) -> bytes:
    return b"".join(bytes([flag]) + len(frame).to_bytes(4, "big") + frame for frame in frames)


def drain(framer: Framer) -> list[bytes]:
    """Every frame the framer has ready, stopping at NEED_DATA or END_OF_STREAM."""
    frames = []
    while isinstance(frame := framer.next_frame(), bytes):
        frames.append(frame)
    return frames


def feed_all(framer: Framer, data: bytes, *, step: int | None = None) -> list[bytes]:
    """Feed *data* in pieces of *step* bytes (all at once if None), then EOF; all frames."""
    step = step or max(len(data), 1)
    frames: list[bytes] = []
    for start in range(0, len(data), step):
        framer.receive_data(data[start : start + step])
        frames += drain(framer)
        assert framer.next_frame() is NEED_DATA
    framer.receive_data(b"")
    frames += drain(framer)
    assert framer.next_frame() is END_OF_STREAM
    return frames


def error_of(framer: Framer, data: bytes, *, eof: bool = True) -> str:
    framer.receive_data(data)
    if eof:
        framer.receive_data(b"")
    with pytest.raises(DecodeError) as caught:
        drain(framer)
    return str(caught.value)


FRAMES = [b"", b"\x0a\x00", b"x" * 127, b"y" * 128, b"z" * 300, b"w" * 16_384]


# --- varints ---------------------------------------------------------------------------------

VARINTS = [
    # The examples of https://protobuf.dev/programming-guides/encoding/#varints.
    (b"\x01", (1, 1)),
    (b"\x96\x01", (150, 2)),
    (b"\xac\x02", (300, 2)),
    (b"\x00", (0, 1)),
    (b"\xff" * 9 + b"\x01", (2**64 - 1, 10)),
    (b"\x80", None),  # ends inside
    (b"", None),
]


@pytest.mark.parametrize(("data", "expected"), VARINTS)
def test_parse_varint(data: bytes, expected: tuple[int, int] | None) -> None:
    assert parse_varint(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff" * 10 + b"\x01", "varint length prefix is longer than 10 bytes"),
        (b"\x80" * 10, "varint length prefix is longer than 10 bytes"),
        (b"\xff" * 9 + b"\x02", "varint length prefix exceeds 64 bits"),
    ],
)
def test_parse_varint_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        parse_varint(data)


def test_parse_varint_respects_end() -> None:
    assert parse_varint(b"\x00\x96\x01", 1) == (150, 2)
    assert parse_varint(b"\x00\x96\x01", 1, 2) is None


# --- round trips, whole and one byte at a time -----------------------------------------------

ROUND_TRIPS = [
    (DelimitedFramer, delimited(*FRAMES), FRAMES),
    (GrpcFramer, grpc(*FRAMES), FRAMES),
    (JsonLinesFramer, b'{"a": 1}\n{"b": 2}\n', [b'{"a": 1}', b'{"b": 2}']),
    (JsonLinesFramer, b'{"a": 1}\r\n\r\n  \t\n{"b": 2}', [b'{"a": 1}', b'{"b": 2}']),
    (JsonLinesFramer, b'\xef\xbb\xbf{"a": 1}\r\n', [b'{"a": 1}']),
    (JsonLinesFramer, b"\n\n", []),
    (WholeFramer, b"one message", [b"one message"]),
    (WholeFramer, b"", []),
    (DelimitedFramer, b"", []),
    (GrpcFramer, b"", []),
]


@pytest.mark.parametrize(("framer_type", "data", "frames"), ROUND_TRIPS)
@pytest.mark.parametrize("step", [None, 1, 7])
def test_round_trip(
    framer_type: type[Framer], data: bytes, frames: list[bytes], step: int | None
) -> None:
    framer = framer_type()
    assert feed_all(framer, data, step=step) == frames
    assert framer.offset == len(data)
    assert framer.frame_index == len(frames)
    assert framer.buffered == 0


def test_counters_follow_frames() -> None:
    framer = DelimitedFramer()
    framer.receive_data(delimited(b"ab", b"c" * 200) + b"\x05")
    assert framer.next_frame() == b"ab"
    assert (framer.frame_index, framer.offset) == (1, 3)
    assert framer.next_frame() == b"c" * 200
    assert (framer.frame_index, framer.offset) == (2, 205)
    assert framer.next_frame() is NEED_DATA
    assert framer.buffered == 1


def test_json_lines_line_numbers_count_blank_lines() -> None:
    framer = JsonLinesFramer()
    framer.receive_data(b"\n{}\n\r\n{ }\n")
    assert (framer.next_frame(), framer.line_number, framer.frame_index) == (b"{}", 2, 1)
    assert (framer.next_frame(), framer.line_number, framer.frame_index) == (b"{ }", 4, 2)


def test_json_lines_keeps_a_bom_that_is_not_at_the_start() -> None:
    framer = JsonLinesFramer()
    assert feed_all(framer, b'{}\n\xef\xbb\xbf{"a": 1}') == [b"{}", b'\xef\xbb\xbf{"a": 1}']


def test_signals_show_their_names() -> None:
    assert (repr(NEED_DATA), repr(END_OF_STREAM)) == ("NEED_DATA", "END_OF_STREAM")


def test_data_after_eof_is_a_usage_error() -> None:
    framer = DelimitedFramer()
    framer.receive_data(b"")
    framer.receive_data(b"")  # repeating EOF is harmless
    with pytest.raises(RuntimeError, match=r"^received data after the end of input$"):
        framer.receive_data(b"\x00")


def test_negative_limit_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match=r"^max_frame_size must not be negative, got -1$"):
        GrpcFramer(max_frame_size=-1)


# --- truncation and malformed input: where, exactly ------------------------------------------

ERRORS = [
    (
        partial(DelimitedFramer, source="cap.bin"),
        delimited(b"abcde") + b"\x80",
        "cap.bin, message 1: input ends inside a varint length prefix at byte offset 6",
    ),
    (
        partial(DelimitedFramer, source="cap.bin"),
        delimited(b"ab") + b"\x05abc",
        "cap.bin, message 1: input ends inside the frame at byte offset 3:"
        " it declares 5 bytes, 3 remain",
    ),
    (
        DelimitedFramer,
        b"\x00" + b"\xff" * 10 + b"\x01",
        "<bytes>, message 1: varint length prefix is longer than 10 bytes at byte offset 1",
    ),
    (
        DelimitedFramer,
        b"\xff" * 9 + b"\x02",
        "<bytes>, message 0: varint length prefix exceeds 64 bits at byte offset 0",
    ),
    (
        partial(GrpcFramer, source="cap.grpc"),
        grpc(b"ab") + b"\x00\x00\x00",
        "cap.grpc, message 1: input ends inside a gRPC frame header at byte offset 7"
        " (3 of 5 bytes)",
    ),
    (
        partial(GrpcFramer, source="cap.grpc"),
        grpc(b"ab") + b"\x00\x00\x00\x00\x09abc",
        "cap.grpc, message 1: input ends inside the gRPC frame at byte offset 7:"
        " it declares 9 bytes, 3 remain",
    ),
    (
        GrpcFramer,
        grpc(b"ab") + grpc(b"\x1f\x8b", flag=1),
        "<bytes>, message 1: gRPC frame at byte offset 7 is compressed;"
        " compressed messages are not supported",
    ),
    (
        GrpcFramer,
        grpc(b"ab", flag=2),
        "<bytes>, message 0: gRPC frame at byte offset 0 has compressed flag 0x02, not 0 or 1",
    ),
    (
        partial(WholeFramer, max_frame_size=4, source="one.bin"),
        b"12345",
        "one.bin, message 0: the message is longer than the maximum of 4 bytes",
    ),
    (
        partial(JsonLinesFramer, max_frame_size=4, source="x.jsonl"),
        b"{}\n\n{   }\n",
        "x.jsonl, message 1: line 3 at byte offset 4 is longer than the maximum of 4 bytes",
    ),
]


@pytest.mark.parametrize(("make_framer", "data", "message"), ERRORS)
@pytest.mark.parametrize("step", [None, 1])
def test_errors_say_where(
    make_framer: Callable[[], Framer], data: bytes, message: str, step: int | None
) -> None:
    with pytest.raises(DecodeError) as caught:
        feed_all(make_framer(), data, step=step)
    assert str(caught.value) == message


def test_error_carries_location_attributes() -> None:
    framer = DelimitedFramer(source="cap.bin")
    framer.receive_data(delimited(b"abc") + b"\x80")
    framer.receive_data(b"")
    assert framer.next_frame() == b"abc"
    with pytest.raises(DecodeError) as caught:
        framer.next_frame()
    assert (caught.value.source, caught.value.message_index, caught.value.field) == (
        "cap.bin",
        1,
        None,
    )


# --- limits are checked on the declared length, before buffering ----------------------------

HUGE_PREFIXES = [
    (
        DelimitedFramer,
        varint(4 * 2**30),
        "<bytes>, message 0: frame at byte offset 0 declares 4294967296 bytes,"
        " more than the maximum of 67108864",
    ),
    (
        DelimitedFramer,
        varint(2**64 - 1),
        "<bytes>, message 0: frame at byte offset 0 declares 18446744073709551615 bytes,"
        " more than the maximum of 67108864",
    ),
    (
        GrpcFramer,
        b"\x00\xff\xff\xff\xff",
        "<bytes>, message 0: frame at byte offset 0 declares 4294967295 bytes,"
        " more than the maximum of 67108864",
    ),
    (
        partial(DelimitedFramer, max_frame_size=3),
        delimited(b"abc") + varint(4),
        "<bytes>, message 1: frame at byte offset 4 declares 4 bytes, more than the maximum of 3",
    ),
    (
        partial(GrpcFramer, max_frame_size=3),
        grpc(b"abc") + b"\x00\x00\x00\x00\x04",
        "<bytes>, message 1: frame at byte offset 8 declares 4 bytes, more than the maximum of 3",
    ),
]


@pytest.mark.parametrize(("make_framer", "prefix", "message"), HUGE_PREFIXES)
def test_oversized_frame_fails_on_its_prefix_alone(
    make_framer: Callable[[], Framer], prefix: bytes, message: str
) -> None:
    framer = make_framer()
    assert str(error_of(framer, prefix, eof=False)) == message
    assert framer.buffered <= len(prefix)  # nothing of the body was waited for


def test_frame_at_the_limit_is_accepted() -> None:
    assert feed_all(DelimitedFramer(max_frame_size=3), delimited(b"abc")) == [b"abc"]
    assert feed_all(GrpcFramer(max_frame_size=3), grpc(b"abc")) == [b"abc"]
    assert feed_all(WholeFramer(max_frame_size=3), b"abc") == [b"abc"]
    assert feed_all(JsonLinesFramer(max_frame_size=3), b"abc\r\nabc") == [b"abc", b"abc"]


def test_overlong_json_line_fails_before_its_end_arrives() -> None:
    framer = JsonLinesFramer(max_frame_size=10)
    framer.receive_data(b"{}\n" + b" " * 11)
    assert framer.next_frame() == b"{}"
    assert framer.next_frame() is NEED_DATA  # 11 bytes may still be 10 and a CR
    framer.receive_data(b" ")
    with pytest.raises(DecodeError) as caught:
        framer.next_frame()
    assert str(caught.value) == (
        "<bytes>, message 1: line 2 at byte offset 3 is longer than the maximum of 10 bytes"
    )
