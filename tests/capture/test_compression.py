"""Compressed captures: read() undoes gzip and zstd, found by magic bytes, on any stream."""

from __future__ import annotations

import gzip
import io
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
import zstandard

from meshals import AlsMessage, DecodeError, Diagnostic, DiagnosticKind, Location, read
from meshals._optional import MissingDependencyError
from meshals.capture import Container
from meshals.capture._compression import Decompressing, compression_of, unsupported_compression

ENVOY = Path(__file__).parents[1] / "fixtures" / "envoy"
RECORDINGS = sorted(path for path in ENVOY.iterdir() if path.suffix in (".bin", ".jsonl"))
CUT_OFF = (
    "the gzip-compressed data is cut off: the input ends inside a compressed block"
    " (a truncated file?)"
)


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


COMPRESSORS = {"gzip": gzipped, "zstd": zstd}


class Pipe:
    """A non-seekable binary stream that returns at most *step* bytes per read, like a pipe."""

    name = "<stdin>"

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self._data = data
        self._step = step

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


def plain(path: Path) -> tuple[Container | None, list[AlsMessage]]:
    with read(path) as reader:
        messages = list(reader.messages())
    return reader.container, messages


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda path: path.name)
def test_a_compressed_recording_reads_as_the_plain_one(
    tmp_path: Path, recording: Path, compression: str
) -> None:
    # No suffix that names the compression: the magic bytes decide.
    compressed = tmp_path / recording.name
    compressed.write_bytes(COMPRESSORS[compression](recording.read_bytes()))
    container, messages = plain(recording)
    with read(compressed) as reader:
        assert list(reader.messages()) == messages
    assert (reader.container, reader.compression) == (container, compression)
    assert reader.diagnostics == []
    assert {message.source for message in messages} == {str(recording)}


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_compressed_pipe_reads_without_seeking(compression: str) -> None:
    recording = ENVOY / "productpage-http.bin"
    data = COMPRESSORS[compression](recording.read_bytes())
    with read(Pipe(data, step=333)) as reader:  # type: ignore[arg-type]
        messages = list(reader.messages())
    assert messages == plain(recording)[1]
    assert [message.source for message in messages[:1]] == ["<stdin>"]
    assert (reader.container, reader.compression) == (Container.DELIMITED, compression)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_concatenated_members_and_frames_read_one_after_another(compression: str) -> None:
    # cat a.gz b.gz: both JSON Lines files, as gzip -d and zstd -d read them.
    first, second = ENVOY / "details-http.jsonl", ENVOY / "reviews-http.jsonl"
    compress = COMPRESSORS[compression]
    data = compress(first.read_bytes()) + compress(second.read_bytes())
    with read(io.BytesIO(data)) as reader:
        messages = list(reader.messages())
    assert messages == plain(first)[1] + plain(second)[1]
    assert len(messages) == 4 + 5


def test_zero_padding_after_a_gzip_member_is_ignored_as_gzip_does() -> None:
    recording = ENVOY / "mongodb-tcp.jsonl"
    data = gzipped(recording.read_bytes()) + bytes(1000)
    assert gzip.decompress(data) == recording.read_bytes()
    with read(io.BytesIO(data)) as reader:
        assert list(reader.messages()) == plain(recording)[1]


def test_a_named_container_is_decompressed_too() -> None:
    recording = ENVOY / "details-http.jsonl"
    data = gzipped(recording.read_bytes())
    with read(io.BytesIO(data), container=Container.JSON_LINES) as reader:
        assert list(reader.messages()) == plain(recording)[1]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_emptiness_is_an_empty_input(compression: str) -> None:
    with read(io.BytesIO(COMPRESSORS[compression](b"\n  \n"))) as reader:
        assert list(reader) == []
    assert (reader.container, reader.compression, reader.diagnostics) == (None, compression, [])


@pytest.mark.parametrize(("copies", "whole_lines"), [(1, 13), (8, 118)])
def test_a_cut_off_gzip_stream_keeps_the_messages_before_the_cut(
    tmp_path: Path, copies: int, whole_lines: int
) -> None:
    # One copy is cut inside the first 64 KiB that detection reads; eight copies (300 KiB)
    # (22 KiB compressed) later, while the stream is read on.
    recording = ENVOY / "productpage-http.jsonl"
    whole = gzipped(recording.read_bytes() * copies)
    path = tmp_path / "cut.jsonl.gz"
    cut = len(whole) - 300
    path.write_bytes(whole[:cut])
    assert zlib.decompressobj(31).decompress(whole[:cut]).count(b"\n") == whole_lines
    with read(path) as reader:
        messages = list(reader.messages())
    # The lines decompressed before the cut, each whole; the line the cut runs through is not
    # tried (it would fail as JSON): the stream ends with one diagnostic that says why.
    assert messages == (plain(recording)[1] * copies)[:whole_lines]
    assert reader.diagnostics == [
        Diagnostic(
            kind=DiagnosticKind.PART_SKIPPED,
            location=Location(source=str(path)),
            reason=f"the rest of the stream is skipped: {CUT_OFF}",
        )
    ]
    with pytest.raises(DecodeError) as raised, read(path, strict=True) as reader:
        list(reader)
    assert str(raised.value) == f"{path}: {CUT_OFF}"


def test_a_cut_off_single_message_is_an_error_in_lenient_mode_too() -> None:
    # One JSON message (a SkyWalking recording): nothing of it is whole before the cut.
    for recording in sorted((ENVOY.parent / "skywalking").glob("*.msg")):
        data = gzipped(recording.read_bytes())
        with pytest.raises(DecodeError, match="cut off"), read(io.BytesIO(data[:-20])) as reader:
            list(reader)


def test_a_file_cut_inside_the_gzip_header_is_an_error() -> None:
    data = gzipped((ENVOY / "details-http.jsonl").read_bytes())
    with pytest.raises(DecodeError) as raised, read(io.BytesIO(data[:6])) as reader:
        list(reader)
    assert raised.value.reason == CUT_OFF
    assert raised.value.source == "<stream>"


def test_corrupt_gzip_data_is_an_error_naming_the_file(tmp_path: Path) -> None:
    data = bytearray(gzipped((ENVOY / "mongodb-tcp.bin").read_bytes()))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "capture.bin.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DecodeError) as raised, read(path) as reader:
        list(reader)
    assert str(raised.value) == (
        f"{path}: corrupt gzip-compressed data: Error -3 while decompressing data:"
        " incorrect data check"
    )


def test_corrupt_zstd_data_is_an_error() -> None:
    recording = ENVOY / "mongodb-tcp.jsonl"
    data = zstd(recording.read_bytes()) + b"garbage"
    reason = "corrupt zstd-compressed data: zstd decompressor error: Unknown frame descriptor"
    with pytest.raises(DecodeError) as raised, read(io.BytesIO(data), strict=True) as reader:
        list(reader)
    assert raised.value.reason == reason
    # Lenient: the whole frame before the garbage is read, then the stream ends there.
    with read(io.BytesIO(data)) as reader:
        assert list(reader) == plain(recording)[1]
    assert [diagnostic.reason for diagnostic in reader.diagnostics] == [
        f"the rest of the stream is skipped: {reason}"
    ]


def test_zstd_without_zstandard_names_the_extra_and_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now fails
    path = tmp_path / "capture.jsonl.zst"
    path.write_bytes(zstd((ENVOY / "details-http.jsonl").read_bytes()))
    with pytest.raises(MissingDependencyError) as raised, read(path) as reader:
        list(reader)
    assert str(raised.value) == (
        f"{path}: reading zstd-compressed input needs zstandard, which is not installed:"
        " pip install zstandard (meshals' extra 'zstd')"
    )
    assert (raised.value.module, raised.value.extra) == ("zstandard", "zstd")
    # gzip needs nothing beyond the standard library.
    with read(io.BytesIO(gzipped(b'{"identifier": {}}'))) as reader:
        assert len(list(reader)) == 1


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4F", "xz-compressed"),
        (b"BZh91AY&SY\x00\x00", "bzip2-compressed"),
        (b"\x04\x22\x4d\x18\x64\x40\xa7", "lz4-compressed"),
        (b"PK\x03\x04\x14\x00\x00\x00", "a zip archive"),
    ],
)
def test_other_compressions_are_named_in_the_error(data: bytes, what: str) -> None:
    assert unsupported_compression(data) == what
    assert compression_of(data) is None
    with pytest.raises(DecodeError) as raised, read(io.BytesIO(data), name="c.dat") as reader:
        list(reader)
    assert str(raised.value) == (
        "c.dat: not a recognisable ALS container (JSON, JSON Lines, binary, delimited or gRPC);"
        f" it starts with bytes {data[:8].hex(' ')}: {what}, which meshals does not read"
        " (decompress it, or compress it with gzip or zstd)"
    )


def test_gzip_inside_gzip_is_not_undone_twice() -> None:
    inner = gzipped(b'{"identifier": {}}')
    with pytest.raises(DecodeError) as raised, read(io.BytesIO(gzipped(inner))) as reader:
        list(reader)
    assert raised.value.reason.endswith(
        f"it starts with bytes {inner[:8].hex(' ')}: gzip-compressed data (meshals"
        " decompresses one layer only)"
    )
    # The gzip file before this change: "starts with bytes 1f 8b" and nothing about gzip.
    assert "1f 8b" in raised.value.reason


def test_name_replaces_the_source_of_a_path_or_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "spooled"
    path.write_bytes((ENVOY / "details-http.jsonl").read_bytes())
    with read(path, name="<stdin>") as reader:
        assert {message.source for message in reader} == {"<stdin>"}
    with read(io.BytesIO(path.read_bytes()), name="capture") as reader:
        assert reader.source == "capture"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompressing_holds_a_bounded_slice_of_a_dense_input(compression: str) -> None:
    # 128 MiB of zeros compresses to a few hundred KiB (gzip) or a few KiB (zstd): reading it
    # in 64 KiB pieces never holds it all.
    size = 128 * 1024 * 1024
    if compression == "gzip":
        data = gzip.compress(bytes(size), compresslevel=1, mtime=0)
    else:
        data = zstandard.ZstdCompressor(level=1).compress(bytes(size))
    stream = Decompressing(compression, io.BytesIO(data), source="dense")  # type: ignore[arg-type]
    total = 0
    tracemalloc.start()
    try:
        while chunk := stream.read(64 * 1024):
            assert len(chunk) <= 64 * 1024
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 40 * 1024 * 1024


def test_output_held_back_until_the_end_of_the_input_is_drained() -> None:
    # zlib may keep the last output (and a member's end) after taking all of its input, until
    # asked with no more input, as gzip.GzipFile asks at the end of a file: so does read().
    data = gzipped(b"held back")
    stream = Decompressing("gzip", io.BytesIO(data), source="held")
    asked: list[bytes] = []

    def holding(chunk: bytes) -> tuple[bytes, bytes, bool]:
        asked.append(chunk)
        return (b"", b"", False) if chunk else (b"held back", b"", True)

    stream._step = holding
    assert stream.read(100) == b"held back"
    assert asked == [data, b""]
    assert stream.read(100) == b""  # the member ended: the input ends cleanly

    def broken(chunk: bytes) -> tuple[bytes, bytes, bool]:
        if chunk:
            return b"", b"", False
        raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")

    stream = Decompressing("gzip", io.BytesIO(data), source="held")
    stream._step = broken
    with pytest.raises(DecodeError, match="held: the gzip-compressed data is cut off"):
        stream.read(100)
