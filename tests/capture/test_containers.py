"""Container detection and read(): files in, messages out, in order, with exact boundaries."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import json_format

from meshals import AlsMessage, DecodeError, Diagnostic, DiagnosticKind, Location, read
from meshals.capture import Container, _containers
from meshals.capture._containers import Record
from meshals.capture._detect import NEED_MORE, detect_container
from meshals.codec._binary import decode_binary
from meshals.codec._json import decode_json
from meshals.codec._l4_lines import parse_l4_line
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.model._l4 import L4Connection, LineSkip

PB2Message = als_pb2.StreamAccessLogsMessage
BOM = b"\xef\xbb\xbf"
FIXTURES = Path(__file__).parents[1] / "fixtures"
ROUTER_ID = (
    "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system"
    "~istio-system.svc.cluster.local"
)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


# --- messages and the containers that hold them ----------------------------------------------


def build_messages() -> list[Any]:
    """A short stream as Envoy sends it: identifier first, then HTTP, then TCP entries."""
    first = PB2Message()
    first.identifier.node.id = ROUTER_ID
    first.identifier.node.cluster = "istio-ingressgateway"
    first.identifier.log_name = "als"
    for path, code in [("/productpage", 200), ("/reviews/0", 503)]:
        entry = first.http_logs.log_entry.add()
        entry.common_properties.start_time.FromNanoseconds(1_555_127_993_687_224_601)
        entry.common_properties.upstream_cluster = "outbound|9080||productpage"
        entry.request.path = path
        entry.request.request_method = 1
        entry.response.response_code.value = code
    second = PB2Message()
    second.http_logs.log_entry.add().request.path = "/details/0"
    third = PB2Message()
    tcp = third.tcp_logs.log_entry.add()
    tcp.common_properties.downstream_remote_address.socket_address.address = "127.0.0.1"
    tcp.common_properties.downstream_remote_address.socket_address.port_value = 5555
    tcp.connection_properties.received_bytes = 12
    tcp.connection_properties.sent_bytes = 34
    return [first, second, third]


MESSAGES = build_messages()
SERIALIZED = [message.SerializeToString() for message in MESSAGES]
JSON_LINES = [json_format.MessageToJson(message, indent=None).encode() for message in MESSAGES]
PRETTY_JSON = json_format.MessageToJson(MESSAGES[0]).encode()


def as_delimited(frames: Sequence[bytes]) -> bytes:
    return b"".join(varint(len(frame)) + frame for frame in frames)


def as_grpc(frames: Sequence[bytes], *, flag: int = 0) -> bytes:
    return b"".join(bytes([flag]) + len(frame).to_bytes(4, "big") + frame for frame in frames)


def as_json_lines(lines: Sequence[bytes], *, newline: bytes = b"\n") -> bytes:
    return b"".join(line + newline for line in lines)


# (container, file content, the frames read() must hand to the decoder)
CONTAINED = [
    (Container.JSON, PRETTY_JSON, [PRETTY_JSON]),
    (Container.JSON_LINES, as_json_lines(JSON_LINES), JSON_LINES),
    (Container.BINARY, SERIALIZED[0], SERIALIZED[:1]),
    (Container.DELIMITED, as_delimited(SERIALIZED), SERIALIZED),
    (Container.GRPC, as_grpc(SERIALIZED), SERIALIZED),
]


# --- a stub decoder that records what read() passes --------------------------------------------


@attrs.frozen
class Call:
    decoder: str
    data: bytes
    source: str
    index: int | None
    strict: bool


BAD_FRAMES = {b'{"bad": true}', b"\x0a\x00\x0a"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Replace both decoders with stubs; the list of their calls, in order."""
    recorded: list[Call] = []

    def stub(decoder: str) -> Callable[..., AlsMessage]:
        def decode(
            data: bytes, *, source: str, index: int | None, strict: bool, limits: Limits
        ) -> AlsMessage:
            assert limits is DEFAULT_LIMITS
            if data in BAD_FRAMES:
                raise DecodeError("stub says bad", source=source, field="identifier")
            recorded.append(Call(decoder, data, source, index, strict))
            return AlsMessage(source=source, index=index)

        return decode

    monkeypatch.setattr(_containers, "decode_binary", stub("binary"))
    monkeypatch.setattr(_containers, "decode_json", stub("json"))
    return recorded


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


class TrickleReader(io.BytesIO):
    """A binary stream that returns at most *step* bytes per read(), like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        limit = self.step if size is None or size < 0 else min(size, self.step)
        return super().read(limit)


# --- detection --------------------------------------------------------------------------------

# The ambiguous case: one byte 0x12 then 18 bytes read both as one message (fields 2 and 3)
# and as a delimited frame of 18 bytes holding one message (field 1).
BOTH_BINARY_AND_DELIMITED = b"\x12" + b"\x0a\x10" + b"a" * 9 + b"\x1a\x05" + b"b" * 5

DETECTIONS = [
    pytest.param(SERIALIZED[0], "capture.bin", Container.BINARY, id="binary"),
    pytest.param(SERIALIZED[0], "capture.json", Container.BINARY, id="binary-named-json"),
    pytest.param(SERIALIZED[1], "capture.jsonl", Container.BINARY, id="binary-no-identifier"),
    pytest.param(as_delimited(SERIALIZED), "capture.bin", Container.DELIMITED, id="delimited"),
    pytest.param(as_delimited(SERIALIZED[:1]), "x.msg", Container.DELIMITED, id="delimited-one"),
    pytest.param(as_delimited(SERIALIZED), "x.jsonl", Container.DELIMITED, id="delimited-jsonl"),
    pytest.param(as_grpc(SERIALIZED), "x.delimited", Container.GRPC, id="grpc"),
    pytest.param(as_grpc(SERIALIZED[:1]), "x.bin", Container.GRPC, id="grpc-one"),
    pytest.param(as_grpc([b"\x1f\x8b"], flag=1), "x.bin", Container.GRPC, id="grpc-compressed"),
    pytest.param(PRETTY_JSON, "x.jsonl", Container.JSON, id="pretty-json-named-jsonl"),
    pytest.param(b"\n \t" + PRETTY_JSON, "x.json", Container.JSON, id="json-leading-space"),
    pytest.param(as_json_lines(JSON_LINES), "x.json", Container.JSON_LINES, id="jsonl-named-json"),
    pytest.param(
        as_json_lines(JSON_LINES, newline=b"\r\n"), "x", Container.JSON_LINES, id="jsonl-crlf"
    ),
    pytest.param(BOM + as_json_lines(JSON_LINES), "x", Container.JSON_LINES, id="jsonl-bom"),
    pytest.param(
        JSON_LINES[0] + b"\n\n  \n" + JSON_LINES[1], "x", Container.JSON_LINES, id="jsonl-gaps"
    ),
    pytest.param(
        b'{"a": "}\\"{]"}\n{"b": 1}\n', "x", Container.JSON_LINES, id="jsonl-brace-in-string"
    ),
    pytest.param(JSON_LINES[0], "x.jsonl", Container.JSON_LINES, id="one-line-jsonl-name"),
    pytest.param(JSON_LINES[0] + b"\n", "X.NDJSON", Container.JSON_LINES, id="one-line-ndjson"),
    pytest.param(JSON_LINES[0] + b"\n", "x.json", Container.JSON, id="one-line-json-name"),
    pytest.param(JSON_LINES[0] + b"\n\n", "capture", Container.JSON, id="one-line-no-name"),
    pytest.param(b"# licence\n" + PRETTY_JSON, "x.jsonl", Container.JSON, id="hash-comment"),
    pytest.param(b"// comment\n{}", "x.jsonl", Container.JSON, id="slash-comment"),
    pytest.param(b'{"a": 1}\ntrailing\n', "x", Container.JSON, id="trailing-line"),
    pytest.param(b'{"a": 1} x\n{"b": 1}\n', "x", Container.JSON, id="trailing-same-line"),
    pytest.param(b'{"a": "\x00"}', "x.bin", Container.JSON, id="json-with-control-byte"),
    pytest.param(b'{"a": ', "x", Container.JSON, id="truncated-json"),
    pytest.param(BOTH_BINARY_AND_DELIMITED, "x", Container.DELIMITED, id="ambiguous"),
    # Truncated captures: detected, so that the framer or decoder can say what is missing.
    pytest.param(SERIALIZED[0][:-1], "x", Container.BINARY, id="binary-truncated"),
    pytest.param(as_delimited(SERIALIZED)[:-1], "x", Container.DELIMITED, id="delim-truncated"),
    pytest.param(as_grpc(SERIALIZED)[:-1], "x", Container.GRPC, id="grpc-truncated"),
    pytest.param(b"\x00\x00\x00\x00\x09\x0a\x07ab", "x", Container.GRPC, id="grpc-cut-first"),
    pytest.param(b"\x00\x00\x00", "x", Container.DELIMITED, id="three-empty-messages"),
    pytest.param(
        as_delimited(SERIALIZED[:1]) + b"\x80", "x", Container.DELIMITED, id="delim-cut-varint"
    ),
    pytest.param(SERIALIZED[0][:2], "x", Container.BINARY, id="binary-cut-in-length"),
    pytest.param(b"", "x.json", None, id="empty"),
    pytest.param(b" \r\n\t\n", "x.bin", None, id="whitespace"),
    pytest.param(BOM, "x", None, id="bom-only"),
    pytest.param(BOM + b"\n\n", "x", None, id="bom-and-whitespace"),
]


@pytest.mark.parametrize(("data", "name", "expected"), DETECTIONS)
def test_detect_container(data: bytes, name: str, expected: Container | None) -> None:
    assert detect_container(data, name=name, final=True) is expected


PREFIX_DETECTIONS = [
    # The delimited frame runs past the prefix, so the tie goes to BINARY.
    pytest.param(BOTH_BINARY_AND_DELIMITED[:10], Container.BINARY, id="ambiguous-cut"),
    pytest.param(as_delimited(SERIALIZED)[:40], Container.DELIMITED, id="delimited-cut"),
    pytest.param(as_grpc(SERIALIZED)[:40], Container.GRPC, id="grpc-cut"),
    pytest.param(SERIALIZED[0][:40], Container.BINARY, id="binary-cut"),
    pytest.param(b'{"a": "' + b"x" * 100, NEED_MORE, id="long-first-line"),
    pytest.param(b'{"a": 1}\n  ', NEED_MORE, id="next-line-unseen"),
    pytest.param(b'{"a": 1}  ', NEED_MORE, id="line-end-unseen"),
    pytest.param(b"  \n", NEED_MORE, id="whitespace-so-far"),
    pytest.param(b'{"a": 1}\n{', Container.JSON_LINES, id="next-line-starts"),
]


@pytest.mark.parametrize(("prefix", "expected"), PREFIX_DETECTIONS)
def test_detect_container_on_a_prefix(prefix: bytes, expected: object) -> None:
    assert detect_container(prefix, name="x", final=False) is expected


UNRECOGNISABLE = [
    (b"\xff\xfe\x00garbage", "ff fe 00 67 61 72 62 61"),
    (b"\x05abcde", "05 61 62 63 64 65"),  # a delimited frame, but not of a message
    (b"\x01\x00\x00", "01 00 00"),  # a cut gRPC header, or a 1-byte message
    (b"hello world\n", "68 65 6c 6c 6f 20 77 6f"),
    (b"\x08\x96\x01", "08 96 01"),  # a valid message, but not of this type (field 1 varint)
    (b"\xff" * 11, "ff ff ff ff ff ff ff ff"),  # an overlong varint
    (b"\x0a" + b"\xff" * 10 + b"\x01", "0a ff ff ff ff ff ff ff"),  # field with an overlong length
    (as_grpc([b""]) + b"\x02" + bytes(4), "00 00 00 00 00 02 00 00"),  # a bad second gRPC flag
]


@pytest.mark.parametrize(("data", "shown"), UNRECOGNISABLE)
def test_detect_container_rejects(data: bytes, shown: str) -> None:
    with pytest.raises(DecodeError) as caught:
        detect_container(data, name="junk.bin", final=True)
    assert str(caught.value) == (
        "junk.bin: not a recognisable ALS container (JSON, JSON Lines, binary, delimited or"
        f" gRPC); it starts with bytes {shown}"
    )


# --- read(): framing and what it passes to the decoders ------------------------------------


@pytest.mark.parametrize(("container", "content", "frames"), CONTAINED)
def test_read_hands_each_frame_to_its_decoder(
    tmp_path: Path, calls: list[Call], container: Container, content: bytes, frames: list[bytes]
) -> None:
    path = write(tmp_path, "capture", content)
    reader = read(path)
    messages = list(reader)
    decoder = "json" if container in (Container.JSON, Container.JSON_LINES) else "binary"
    assert reader.container is container
    assert calls == [Call(decoder, frame, str(path), i, False) for i, frame in enumerate(frames)]
    assert [(m.source, m.index) for m in messages] == [(str(path), i) for i in range(len(frames))]
    assert reader.diagnostics == []


@pytest.mark.parametrize(("container", "content", "frames"), CONTAINED)
@pytest.mark.parametrize("step", [1, 1000])
def test_read_from_a_trickling_stream(
    calls: list[Call], container: Container, content: bytes, frames: list[bytes], step: int
) -> None:
    reader = read(TrickleReader(content, step), strict=True)
    list(reader)
    assert reader.container is container
    assert [(call.data, call.source, call.strict) for call in calls] == [
        (frame, "<stream>", True) for frame in frames
    ]


@pytest.mark.parametrize(("container", "content", "frames"), CONTAINED)
def test_container_argument_overrides_detection(
    tmp_path: Path, calls: list[Call], container: Container, content: bytes, frames: list[bytes]
) -> None:
    # A misleading name and content that detection would read otherwise are both ignored.
    path = write(tmp_path, "capture.jsonl", content)
    assert len(list(read(path, container=container))) == len(frames)
    assert [call.data for call in calls] == frames


def test_container_argument_frames_as_told(calls: list[Call]) -> None:
    # Delimited bytes read as one binary message: one frame, the whole file.
    data = as_delimited(SERIALIZED)
    reader = read(io.BytesIO(data), container=Container.BINARY)
    assert len(list(reader)) == 1
    assert reader.container is Container.BINARY
    assert [call.data for call in calls] == [data]


def test_read_keeps_the_file_object_name_and_leaves_it_open(
    tmp_path: Path, calls: list[Call]
) -> None:
    path = write(tmp_path, "capture.bin", as_grpc(SERIALIZED))
    with path.open("rb") as stream:
        assert len(list(read(stream))) == 3
        assert not stream.closed
    assert {call.source for call in calls} == {str(path)}


def test_read_accepts_str_paths(tmp_path: Path, calls: list[Call]) -> None:
    path = write(tmp_path, "capture.bin", SERIALIZED[0])
    assert len(list(read(str(path)))) == 1
    assert calls[0].source == str(path)


def test_read_closes_what_it_opened(tmp_path: Path, calls: list[Call]) -> None:
    path = write(tmp_path, "capture.bin", as_delimited(SERIALIZED))
    with read(path) as reader:
        next(reader)
    assert reader._stream.closed
    exhausted = read(path)
    list(exhausted)
    assert exhausted._stream.closed


def test_read_is_lazy(tmp_path: Path, calls: list[Call]) -> None:
    path = write(tmp_path, "capture.bin", as_delimited(SERIALIZED))
    reader = read(path)
    assert (calls, reader.container) == ([], None)
    next(reader)
    assert (len(calls), reader.container) == (1, Container.DELIMITED)
    reader.close()


def test_missing_file_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.msg")


def test_text_stream_is_a_usage_error(calls: list[Call]) -> None:
    with pytest.raises(TypeError, match=r"^<stream>: read\(\) needs a binary file"):
        list(read(io.StringIO("{}")))  # type: ignore[arg-type]


EMPTY_INPUTS = [
    (b"", None),
    (b" \r\n\t\n", None),
    (BOM, None),
    (b"", Container.BINARY),
    (b"", Container.DELIMITED),
    (b"", Container.GRPC),
    (b"", Container.JSON_LINES),
    (b" \n", Container.JSON),
    (BOM + b"\r\n", Container.JSON),
    (BOM + b"\r\n\n", Container.JSON_LINES),
]


@pytest.mark.parametrize(("content", "container"), EMPTY_INPUTS)
def test_empty_input_yields_nothing(
    tmp_path: Path, calls: list[Call], content: bytes, container: Container | None
) -> None:
    reader = read(write(tmp_path, "empty.msg", content), container=container)
    assert list(reader) == []
    assert calls == []
    assert reader.container is container


def test_bom_is_dropped_before_json_decoding(calls: list[Call]) -> None:
    list(read(io.BytesIO(BOM + PRETTY_JSON)))
    list(read(io.BytesIO(BOM + as_json_lines(JSON_LINES, newline=b"\r\n"))))
    assert [call.data for call in calls] == [PRETTY_JSON, *JSON_LINES]


def test_long_first_json_line_is_detected_as_json_lines(calls: list[Call]) -> None:
    # Longer than the first 64 KiB chunk: detection reads on until the line ends.
    long_line = b'{"httpLogs": {"logEntry": [' + b"{}, " * 40_000 + b"{}]}}"
    content = as_json_lines([long_line, JSON_LINES[1]])
    reader = read(io.BytesIO(content))
    assert len(list(reader)) == 2
    assert reader.container is Container.JSON_LINES
    assert [call.data for call in calls] == [long_line, JSON_LINES[1]]


def test_unrecognisable_file_fails_on_iteration(tmp_path: Path, calls: list[Call]) -> None:
    reader = read(write(tmp_path, "junk.msg", b"\xff\xfe junk"))
    with pytest.raises(DecodeError) as caught:
        next(reader)
    assert caught.value.source == str(tmp_path / "junk.msg")
    assert caught.value.reason.startswith("not a recognisable ALS container")


# --- limits and truncation through read() ------------------------------------------------------

READ_ERRORS = [
    (
        Container.BINARY,
        SERIALIZED[0],
        len(SERIALIZED[0]) - 1,
        f"message 0: the message is longer than the maximum of {len(SERIALIZED[0]) - 1} bytes",
    ),
    (
        Container.JSON,
        PRETTY_JSON,
        100,
        "message 0: the message is longer than the maximum of 100 bytes",
    ),
    (
        Container.DELIMITED,
        as_delimited(SERIALIZED)[:-1],
        2**20,
        f"message 2: input ends inside the frame at byte offset"
        f" {len(as_delimited(SERIALIZED[:2]))}: it declares {len(SERIALIZED[2])} bytes,"
        f" {len(SERIALIZED[2]) - 1} remain",
    ),
    (
        Container.GRPC,
        as_grpc(SERIALIZED) + b"\x00\x00",
        2**20,
        f"message 3: input ends inside a gRPC frame header at byte offset"
        f" {len(as_grpc(SERIALIZED))} (2 of 5 bytes)",
    ),
    (
        Container.DELIMITED,
        varint(4 * 2**30) + b"\x0a\x00",
        2**20,
        "message 0: frame at byte offset 0 declares 4294967296 bytes,"
        " more than the maximum of 1048576",
    ),
]


@pytest.mark.usefixtures("calls")
@pytest.mark.parametrize(("container", "content", "limit", "reason"), READ_ERRORS)
def test_read_errors_say_where(
    tmp_path: Path, container: Container, content: bytes, limit: int, reason: str
) -> None:
    path = write(tmp_path, "cap.msg", content)
    for given in (None, container):  # detected, and given
        with pytest.raises(DecodeError) as caught:
            list(read(path, container=given, max_message_size=limit, strict=True))
        assert str(caught.value) == f"{path}, {reason}"
        if container in (Container.JSON, Container.BINARY):
            continue  # a single message that cannot be read leaves nothing to keep
        # Lenient: what came before the broken frame survives, and the break is reported.
        reader = read(path, container=given, max_message_size=limit)
        list(reader)
        [diagnostic] = reader.diagnostics
        where, _, why = reason.partition(": ")
        assert str(diagnostic) == f"{path}, {where}: the rest of the stream is skipped: {why}"


def test_huge_declared_length_allocates_nothing(tmp_path: Path, calls: list[Call]) -> None:
    path = write(tmp_path, "huge.bin", as_grpc([b""]) + b"\x00\xff\xff\xff\xf0" + b"\x0a" * 10)
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="declares 4294967280 bytes"):
            list(read(path, container=Container.GRPC, max_message_size=2**32, strict=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert calls == [Call("binary", b"", str(path), 0, True)]
    assert peak < 1_000_000


def test_memory_follows_the_largest_message_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = b"\x12\x90\x4e" + b"h" * 10_000  # field 2, 10 000 bytes
    count = 1_000  # 10 MB in all
    path = tmp_path / "big.delimited"
    with path.open("wb") as out:
        for _ in range(count):
            out.write(varint(len(frame)) + frame)
    monkeypatch.setattr(_containers, "decode_binary", lambda data, **_: AlsMessage())
    tracemalloc.start()
    try:
        seen = sum(1 for _ in read(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 1_000_000  # a chunk, a frame and the bookkeeping; the file is 10 MB


# --- lenient and strict handling of bad messages -----------------------------------------------

BAD_IN_STREAMS = [
    (
        Container.JSON_LINES,
        as_json_lines([JSON_LINES[0], b'{"bad": true}', JSON_LINES[1]], newline=b"\r\n"),
        "line 2: message skipped: stub says bad",
    ),
    (
        Container.DELIMITED,
        as_delimited([SERIALIZED[0], b"\x0a\x00\x0a", SERIALIZED[1]]),
        "message skipped: stub says bad",
    ),
    (
        Container.GRPC,
        as_grpc([SERIALIZED[0], b"\x0a\x00\x0a", SERIALIZED[1]]),
        "message skipped: stub says bad",
    ),
]


@pytest.mark.parametrize(("container", "content", "reason"), BAD_IN_STREAMS)
def test_lenient_read_skips_a_bad_message_and_says_so(
    tmp_path: Path, calls: list[Call], container: Container, content: bytes, reason: str
) -> None:
    path = write(tmp_path, "cap", content)
    reader = read(path, container=container)
    messages = list(reader)
    assert [message.index for message in messages] == [0, 2]
    assert reader.diagnostics == [
        Diagnostic(
            kind=DiagnosticKind.MESSAGE_SKIPPED,
            location=Location(source=str(path), message_index=1, field="identifier"),
            reason=reason,
        )
    ]


@pytest.mark.parametrize(("container", "content", "reason"), BAD_IN_STREAMS)
def test_strict_read_raises_on_a_bad_message(
    tmp_path: Path, calls: list[Call], container: Container, content: bytes, reason: str
) -> None:
    path = write(tmp_path, "cap", content)
    reader = read(path, container=container, strict=True)
    assert next(reader).index == 0
    with pytest.raises(DecodeError) as caught:
        next(reader)
    assert str(caught.value) == f"{path}, message 1, field identifier: stub says bad"
    assert isinstance(caught.value.__cause__, DecodeError)  # the decoder's, without the index
    assert caught.value.__cause__.message_index is None
    assert reader.diagnostics == []


@pytest.mark.parametrize(
    ("container", "content"),
    [(Container.BINARY, b"\x0a\x00\x0a"), (Container.JSON, b'{"bad": true}')],
)
def test_a_bad_single_message_raises_even_when_lenient(
    tmp_path: Path, calls: list[Call], container: Container, content: bytes
) -> None:
    path = write(tmp_path, "cap", content)
    with pytest.raises(DecodeError) as caught:
        list(read(path, container=container))
    assert str(caught.value) == f"{path}, message 0, field identifier: stub says bad"


# --- with the real decoders --------------------------------------------------------------------


def als_messages(records: Iterable[Record]) -> list[AlsMessage]:
    """*records*, checked to be ALS messages (read() yields L4 connections for L4 logs)."""
    messages = list(records)
    assert all(isinstance(message, AlsMessage) for message in messages)
    return [message for message in messages if isinstance(message, AlsMessage)]


def decoded(container: Container, content: bytes) -> list[AlsMessage]:
    return als_messages(read(io.BytesIO(content), container=container))


@pytest.mark.parametrize(("container", "content", "frames"), CONTAINED)
def test_round_trip_equals_decoding_each_message(
    tmp_path: Path, container: Container, content: bytes, frames: list[bytes]
) -> None:
    path = write(tmp_path, f"capture.{container.value}", content)
    messages = list(read(path))
    if container in (Container.JSON, Container.JSON_LINES):
        expected = [decode_json(frame, source="x", index=i) for i, frame in enumerate(frames)]
        by_binary = [decode_binary(data, source="x", index=0) for data in SERIALIZED]
        assert expected == by_binary[: len(expected)]
    else:
        expected = [decode_binary(frame, source="x", index=i) for i, frame in enumerate(frames)]
    assert messages == expected
    assert [(message.source, message.index) for message in messages] == [
        (str(path), i) for i in range(len(frames))
    ]


def test_round_trip_keeps_stream_structure(tmp_path: Path) -> None:
    messages = als_messages(read(write(tmp_path, "x.bin", as_grpc(SERIALIZED))))
    assert [message.identifier is not None for message in messages] == [True, False, False]
    assert [message.kind for message in messages] == ["http", "http", "tcp"]
    assert [len(message.entries) for message in messages] == [2, 1, 1]
    assert messages[0].identifier is not None
    assert messages[0].identifier.node is not None
    assert messages[0].identifier.node.id == ROUTER_ID


def fixture_files() -> Iterator[Path]:
    for folder in ("skywalking", "seed"):
        yield from sorted((FIXTURES / folder).glob("*.msg"))


ALS_FIXTURES = [path for path in fixture_files() if path.name != "envoy-metric.msg"]


@pytest.mark.parametrize("path", ALS_FIXTURES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_fixtures_read_as_one_json_message(path: Path) -> None:
    reader = read(path)
    messages = als_messages(reader)
    assert reader.container is Container.JSON
    assert messages == [decode_json(path.read_bytes(), source="x", index=0)]
    assert (messages[0].source, messages[0].index) == (str(path), 0)
    assert messages[0].kind == "http"


def test_metrics_fixture_is_not_an_als_message() -> None:
    # SkyWalking's envoy-metric.msg is a StreamMetricsMessage in protobuf text format.
    path = FIXTURES / "skywalking" / "envoy-metric.msg"
    with pytest.raises(DecodeError) as caught:
        list(read(path))
    assert (caught.value.source, caught.value.message_index) == (str(path), 0)


# --- L4 connection logs (ztunnel, Kmesh) ------------------------------------------------------

ZTUNNEL_FIXTURES = FIXTURES / "ztunnel"
ZTUNNEL_LINE = (
    b"2024-05-30T12:18:10.172761Z\tinfo\taccess\tconnection complete\tsrc.addr=10.244.0.10:47667"
    b' dst.addr=10.244.0.7:15008 direction="inbound" bytes_sent=239 bytes_recv=76 duration="2ms"'
)
ZTUNNEL_OTHER_SCOPE = b"2024-05-30T12:18:09.001Z\tinfo\tapp\tin-pod mode enabled"
ZTUNNEL_JSON_LINE = (
    b'{"level":"info","time":"2024-05-30T12:18:10.172761Z","scope":"access",'
    b'"message":"connection complete","src.addr":"10.244.0.10:47667",'
    b'"dst.addr":"10.244.0.7:15008","direction":"inbound","bytes_sent":239,"bytes_recv":76,'
    b'"duration":"2ms"}'
)
LOGRUS_LINE = b'time="2024-08-14T10:39:58Z" level=info msg="kmesh start with Normal" subsys=manager'
KMESH_LINE = (
    b"accesslog: 2024-08-14 10:40:08.005837715 +0000 UTC src.addr=10.244.0.10:47667,"
    b" dst.addr=10.244.0.7:8080, direction=INBOUND, sent_bytes=239, received_bytes=76,"
    b" duration=2.236ms"
)
ALS_LINE_WITH_LOG_KEYS = b'{"identifier": {}, "scope": "access", "message": "x"}'

L4_DETECTIONS = [
    pytest.param(ZTUNNEL_LINE, "x.log", Container.ZTUNNEL, id="one-line"),
    pytest.param(ZTUNNEL_LINE + b"\n", "x.json", Container.ZTUNNEL, id="named-json"),
    pytest.param(BOM + b"\r\n" + ZTUNNEL_LINE + b"\r\n", "x", Container.ZTUNNEL, id="bom-crlf"),
    pytest.param(
        ZTUNNEL_OTHER_SCOPE + b"\n" + ZTUNNEL_LINE, "x", Container.ZTUNNEL, id="other-scope-first"
    ),
    pytest.param(ZTUNNEL_OTHER_SCOPE, "x", Container.ZTUNNEL, id="only-other-scopes"),
    pytest.param(
        b"\n".join([LOGRUS_LINE, LOGRUS_LINE, KMESH_LINE, LOGRUS_LINE]),
        "x",
        Container.ZTUNNEL,
        id="kmesh-after-daemon-lines",
    ),
    pytest.param(ZTUNNEL_JSON_LINE, "x.log", Container.ZTUNNEL_JSON, id="json-one-line"),
    pytest.param(ZTUNNEL_JSON_LINE, "x.jsonl", Container.ZTUNNEL_JSON, id="json-named-jsonl"),
    pytest.param(
        ZTUNNEL_JSON_LINE + b"\n" + ZTUNNEL_JSON_LINE + b"\n",
        "x",
        Container.ZTUNNEL_JSON,
        id="json-lines",
    ),
    pytest.param(
        b"2024-05-30T12:18:10.173Z stdout F " + ZTUNNEL_JSON_LINE,
        "x",
        Container.ZTUNNEL_JSON,
        id="json-cri",
    ),
    pytest.param(
        b"2024-05-30T12:18:10.173Z stderr F " + ZTUNNEL_LINE,
        "x",
        Container.ZTUNNEL,
        id="text-cri",
    ),
    # ALS keys win: a JSON Lines capture is never read as a ztunnel log.
    pytest.param(
        ALS_LINE_WITH_LOG_KEYS + b"\n" + JSON_LINES[0], "x", Container.JSON_LINES, id="als-keys"
    ),
    pytest.param(
        ZTUNNEL_JSON_LINE + b" trailing\n", "x", Container.JSON, id="json-with-trailing-text"
    ),
    pytest.param(
        b'{"scope": "\xff", "message": "x"}\n{"a": 1}\n', "x", Container.JSON_LINES, id="not-utf8"
    ),
]


@pytest.mark.parametrize(("data", "name", "expected"), L4_DETECTIONS)
def test_detect_l4_logs(data: bytes, name: str, expected: Container) -> None:
    assert detect_container(data, name=name, final=True) is expected


L4_PREFIX_DETECTIONS = [
    pytest.param(ZTUNNEL_LINE[:40], NEED_MORE, id="first-line-cut"),
    pytest.param(ZTUNNEL_LINE + b"\n" + ZTUNNEL_LINE[:10], Container.ZTUNNEL, id="one-whole-line"),
    pytest.param(ZTUNNEL_JSON_LINE, NEED_MORE, id="json-line-end-unseen"),
    pytest.param(ZTUNNEL_JSON_LINE + b"\n", Container.ZTUNNEL_JSON, id="json-line-ends"),
    pytest.param(LOGRUS_LINE + b"\n" + KMESH_LINE[:30], None, id="no-l4-line-in-prefix"),
]


@pytest.mark.parametrize(("prefix", "expected"), L4_PREFIX_DETECTIONS)
def test_detect_l4_logs_on_a_prefix(prefix: bytes, expected: object) -> None:
    if expected is None:  # text that is no L4 log goes on to the binary rules: rejected
        with pytest.raises(DecodeError, match="not a recognisable ALS container"):
            detect_container(prefix, name="x", final=False)
    else:
        assert detect_container(prefix, name="x", final=False) is expected


def test_daemon_lines_alone_are_no_container() -> None:
    with pytest.raises(DecodeError, match="not a recognisable ALS container"):
        detect_container(LOGRUS_LINE + b"\n", name="kmesh.log", final=True)


def l4_entries(records: Iterable[Record]) -> list[L4Connection]:
    """*records*, checked to be L4 connections."""
    entries = list(records)
    assert all(isinstance(entry, L4Connection) for entry in entries)
    return [entry for entry in entries if isinstance(entry, L4Connection)]


# (fixture, container, records, skipped lines by kind)
L4_FIXTURES = [
    (
        "ambient-bookinfo.log",
        Container.ZTUNNEL,
        13,
        {LineSkip.OTHER_SCOPE: 5},
    ),
    (
        "ambient-bookinfo.jsonl",
        Container.ZTUNNEL_JSON,
        13,
        {LineSkip.OTHER_SCOPE: 5},
    ),
    ("kmesh-accesslog.log", Container.ZTUNNEL, 3, {LineSkip.NOT_A_LOG_LINE: 4}),
    ("cri-ztunnel.log", Container.ZTUNNEL, 2, {LineSkip.NOT_A_LOG_LINE: 2}),
]


@pytest.mark.parametrize(("name", "container", "count", "skipped"), L4_FIXTURES)
def test_read_l4_fixtures(
    name: str, container: Container, count: int, skipped: dict[LineSkip, int]
) -> None:
    path = ZTUNNEL_FIXTURES / name
    with read(path, strict=True) as reader:
        entries = l4_entries(reader)
    assert reader.container is container
    assert len(entries) == count
    assert reader.skipped_lines == skipped
    assert reader.diagnostics == []
    lines = path.read_bytes().splitlines()
    assert [parse_l4_line(lines[entry.index or 0]) for entry in entries] == entries
    assert all(entry.index == (entry.line or 0) - 1 for entry in entries)  # no blank lines
    assert {entry.source for entry in entries} == {str(path)}


def test_text_and_json_logs_read_alike() -> None:
    text = l4_entries(read(ZTUNNEL_FIXTURES / "ambient-bookinfo.log"))
    from_json = l4_entries(read(ZTUNNEL_FIXTURES / "ambient-bookinfo.jsonl"))
    assert text == from_json
    assert [entry.line for entry in text] == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]


def test_l4_index_and_line_count_around_blank_lines() -> None:
    content = b"\n".join([b"", ZTUNNEL_OTHER_SCOPE, b"  ", ZTUNNEL_LINE, b"", ZTUNNEL_LINE])
    entries = l4_entries(read(io.BytesIO(content)))
    assert [(entry.index, entry.line) for entry in entries] == [(1, 4), (2, 6)]
    assert [entry.source for entry in entries] == ["<stream>", "<stream>"]


BAD_LINE_DIAGNOSTICS = [
    (1, "src.workload", "malformed quoting: text right after the closing quote"),
    (2, "bytes_sent", "not a byte count (a whole number >= 0): 'ten'"),
    (3, "src.addr", "not an IP address and port: 'productpage:51903'"),
    (4, "duration", "not a Go duration: '2 ms'"),
    (5, "direction", "not 'inbound' or 'outbound': 'sideways'"),
    (6, "time", "bad time: '2024-06-03T09:14:61.000700Z' is not a valid time of day"),
    (7, "bytes_sent", "not a byte count (a whole number >= 0): -5"),
    (
        8,
        None,
        "not a valid JSON object: Expecting ',' delimiter: line 1 column 133 (char 132)",
    ),
]


def test_lenient_read_reports_bad_l4_lines_and_keeps_the_rest() -> None:
    path = ZTUNNEL_FIXTURES / "bad-lines.log"
    reader = read(path)
    entries = l4_entries(reader)
    assert [(entry.line, entry.bytes_sent) for entry in entries] == [(1, 10), (10, 30)]
    assert reader.diagnostics == [
        Diagnostic(
            kind=DiagnosticKind.LINE_SKIPPED,
            location=Location(source=str(path), message_index=index, field=field),
            reason=f"line {index + 1}: access log line skipped: {reason}",
        )
        for index, field, reason in BAD_LINE_DIAGNOSTICS
    ]
    assert reader.skipped_lines == {}


def test_strict_read_raises_at_the_first_bad_l4_line() -> None:
    path = ZTUNNEL_FIXTURES / "bad-lines.log"
    reader = read(path, strict=True)
    assert next(reader).line == 1  # type: ignore[union-attr]
    with pytest.raises(DecodeError) as caught:
        next(reader)
    assert str(caught.value) == (
        f"{path}, message 1, field src.workload:"
        " line 2: malformed quoting: text right after the closing quote"
    )


def test_a_non_utf8_l4_line_is_reported() -> None:
    reader = read(io.BytesIO(ZTUNNEL_LINE + b"\n" + ZTUNNEL_LINE[:-5] + b'\xff"\n'))
    assert len(l4_entries(reader)) == 1
    assert [str(diagnostic) for diagnostic in reader.diagnostics] == [
        "<stream>, message 1: line 2: access log line skipped: not UTF-8 text: invalid start byte"
    ]


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_l4_log_from_a_trickling_stream(step: int) -> None:
    content = (ZTUNNEL_FIXTURES / "ambient-bookinfo.log").read_bytes()
    reader = read(TrickleReader(content, step))
    assert l4_entries(reader) == l4_entries(read(io.BytesIO(content)))
    assert reader.container is Container.ZTUNNEL


@pytest.mark.parametrize("container", [Container.ZTUNNEL, Container.ZTUNNEL_JSON])
def test_l4_container_argument_reads_either_format(container: Container) -> None:
    expected = l4_entries(read(ZTUNNEL_FIXTURES / "ambient-bookinfo.log"))
    for name in ("ambient-bookinfo.log", "ambient-bookinfo.jsonl"):
        reader = read(ZTUNNEL_FIXTURES / name, container=container)
        assert l4_entries(reader) == expected
        assert reader.container is container


def test_als_reader_has_no_skipped_lines() -> None:
    reader = read(io.BytesIO(as_grpc(SERIALIZED)))
    assert len(als_messages(reader)) == 3
    assert reader.skipped_lines == {}


def test_an_l4_line_longer_than_the_limit_is_an_error() -> None:
    content = ZTUNNEL_LINE + b"\n" + ZTUNNEL_LINE + b' error="' + b"x" * 300 + b'"\n'
    with pytest.raises(DecodeError) as caught:
        list(read(io.BytesIO(content), max_message_size=256))
    assert str(caught.value) == (
        f"<stream>, message 1: line 2 at byte offset {len(ZTUNNEL_LINE) + 1} is longer than"
        " the maximum of 256 bytes"
    )


def test_an_l4_line_beyond_the_first_chunk_is_not_searched() -> None:
    # Detection looks at the first 64 KiB only: a Kmesh log whose first access line comes
    # later is not recognised (pass container=Container.ZTUNNEL).
    content = (LOGRUS_LINE + b"\n") * 1000 + KMESH_LINE + b"\n"
    with pytest.raises(DecodeError, match="not a recognisable ALS container"):
        list(read(io.BytesIO(content)))
    reader = read(io.BytesIO(content), container=Container.ZTUNNEL)
    assert len(l4_entries(reader)) == 1
    assert reader.skipped_lines == {LineSkip.NOT_A_LOG_LINE: 1000}


def test_messages_gives_als_messages_typed() -> None:
    with read(io.BytesIO(as_grpc(SERIALIZED))) as reader:
        identifiers = [message.identifier is not None for message in reader.messages()]
    assert identifiers == [True, False, False]


def test_messages_refuses_an_l4_log() -> None:
    reader = read(io.BytesIO(ZTUNNEL_OTHER_SCOPE + b"\n" + ZTUNNEL_LINE))
    with pytest.raises(DecodeError) as caught:
        list(reader.messages())
    assert str(caught.value) == (
        "<stream>, message 1: an L4 connection log, not ALS messages (iterate the reader for"
        " its L4Connection records)"
    )
