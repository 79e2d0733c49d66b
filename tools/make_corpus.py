"""Generate a large, deterministic ALS corpus from the real Envoy recordings, for benchmarks.

Usage: ``python tools/make_corpus.py --entries 1000000 [--seed 0] [--output DIR]
[--format bin --format jsonl] [--entries-per-message N]``. Writes
``DIR/als-<entries>-seed<seed>.bin`` (varint length-delimited ``StreamAccessLogsMessage``s,
protobuf's ``writeDelimitedTo`` framing) and, with ``--format jsonl``, ``.jsonl`` (the same
messages as proto3 JSON, one per line, as ``json_format.MessageToJson`` writes them).
Corpora are generated on demand (into ``benchmarks/.corpus/`` by default), never committed.

The corpus is a collector's dump of many ALS streams, one after another. Each stream replays
one recorded stream of ``tests/fixtures/envoy`` (picked with the weight of its entry count):
its first message carries the recorded identifier, the others none, as Envoy sends them; the
messages hold as many entries as the recorded ones did (or ``--entries-per-message``). Every
entry is a recorded entry with what varies between real requests varied: start time (a clock
advancing by ~0.5 ms per entry), the ephemeral ports (downstream remote and upstream local),
request and stream ids, numeric path segments and query strings, the latencies (all of an
entry's times scaled by one factor, so their order holds), TCP byte counts, and now and then
a response code. Service addresses, clusters, node identities and flags stay as recorded, so
the recording's resolver table (``ground_truth.json``) names every pod. Analyse a corpus with
``meshals.analyze(meshals.read(path), resolver=..., reidentify=True)``: its streams share one
file, so each identifier must re-identify the stream from there on.

The same seed, entry count and options give the same bytes on every run and platform: only
``random.Random(seed).random()``, ``randrange`` and ``getrandbits`` (stable across Python
versions) decide anything, and messages are serialized deterministically. Memory stays
constant: messages are generated and written one at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from google.protobuf import json_format

from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage

__all__ = [
    "DEFAULT_OUTPUT",
    "FIXTURES",
    "Template",
    "corpus_paths",
    "delimited",
    "frames",
    "generate",
    "load_templates",
    "main",
    "write_corpus",
]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "envoy"
DEFAULT_OUTPUT = ROOT / "benchmarks" / ".corpus"
FORMATS = ("bin", "jsonl")

# The generated classes are untyped for mypy (one override for meshals._pb.*).
PbMessage = Any

_NS_PER_S = 1_000_000_000
# Mean gap between entry start times: ~2,000 requests/s across the dump.
_MEAN_GAP_NS = 500_000
# Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
_EPHEMERAL_PORTS = (32768, 60999)
# How many messages one replayed stream has: Envoy keeps a stream for its lifetime, so a
# stream's identifier is rare among the messages of a real dump.
_STREAM_MESSAGES = (50, 500)
# The share of 200 responses turned into an error, and the errors they become.
_ERROR_SHARE = 0.02
_ERROR_CODES = (404, 500, 503)
# Bookinfo's productpage takes ?u=normal / ?u=test after a login.
_QUERY_SHARE = 0.25
_QUERIES = ("?u=normal", "?u=test")
# The largest id in a numeric path segment (/details/<id>, /api/v1/products/<id>/reviews).
_MAX_PATH_ID = 9
_NUMERIC_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")
# Durations of AccessLogCommon: scaled together so that their order holds.
_DURATIONS = (
    "time_to_last_rx_byte",
    "time_to_first_upstream_tx_byte",
    "time_to_last_upstream_tx_byte",
    "time_to_first_upstream_rx_byte",
    "time_to_last_upstream_rx_byte",
    "time_to_first_downstream_tx_byte",
    "time_to_last_downstream_tx_byte",
    "duration",
)
# proto3 JSON paths (camelCase) of the map fields an entry can have. MessageToDict writes a
# map in the order protobuf iterates it, which need not be stable: these are sorted.
_ENTRY_MAPS = (
    ("commonProperties", "customTags"),
    ("commonProperties", "filterStateObjects"),
    ("request", "requestHeaders"),
    ("response", "responseHeaders"),
    ("response", "responseTrailers"),
)


@dataclass(frozen=True)
class Template:
    """One recorded stream: its identifier (binary and JSON) and its messages' entries.

    ``sizes`` are the recorded messages' entry counts, ``entries`` all entries in order.
    """

    name: str
    kind: str  # "http" or "tcp"
    identifier: PbMessage
    identifier_json: dict[str, object]
    sizes: tuple[int, ...]
    entries: tuple[PbMessage, ...]


def frames(data: bytes) -> Iterator[bytes]:
    """The payloads of a varint length-delimited stream."""
    position = 0
    while position < len(data):
        size = shift = 0
        while True:
            byte = data[position]
            position += 1
            size |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        yield data[position : position + size]
        position += size


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def delimited(payload: bytes) -> bytes:
    """*payload* framed as protobuf's ``writeDelimitedTo`` does: varint length, then bytes."""
    return _varint(len(payload)) + payload


def load_templates(fixtures: Path = FIXTURES) -> list[Template]:
    """The recorded streams of *fixtures* (each ``<name>.bin`` with its ``<name>.jsonl``)."""
    templates = []
    for path in sorted(fixtures.glob("*.bin")):
        messages = [
            PB2StreamAccessLogsMessage.FromString(frame) for frame in frames(path.read_bytes())
        ]
        first_line = path.with_suffix(".jsonl").read_text(encoding="utf-8").partition("\n")[0]
        if not messages or not messages[0].HasField("identifier"):
            raise ValueError(f"{path}: the first message has no identifier")
        kinds = {message.WhichOneof("log_entries") for message in messages}
        if len(kinds) != 1 or None in kinds:
            raise ValueError(f"{path}: expected HTTP or TCP entries only, found {kinds}")
        kind = "http" if kinds == {"http_logs"} else "tcp"
        lists = [_entry_list(message) for message in messages]
        templates.append(
            Template(
                name=path.stem,
                kind=kind,
                identifier=messages[0].identifier,
                # The recorded JSON of the identifier, so that its maps keep their order.
                identifier_json=json.loads(first_line)["identifier"],
                sizes=tuple(len(entries) for entries in lists),
                entries=tuple(entry for entries in lists for entry in entries),
            )
        )
    if not templates:
        raise ValueError(f"{fixtures}: no recorded streams (*.bin)")
    return templates


def _entry_list(message: PbMessage) -> Any:
    if message.WhichOneof("log_entries") == "http_logs":
        return message.http_logs.log_entry
    return message.tcp_logs.log_entry


class _Varier:
    """Varies recorded entries as real requests differ; all randomness comes from *rng*."""

    def __init__(self, rng: random.Random, start_ns: int) -> None:
        self._rng = rng
        self._clock_ns = start_ns

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _port(self) -> int:
        low, high = _EPHEMERAL_PORTS
        return self._rng.randrange(low, high + 1)

    def entry(self, entry: PbMessage, kind: str) -> None:
        rng = self._rng
        common = entry.common_properties
        # Exponential gaps (-mean * ln(1 - u)), at Envoy's microsecond precision.
        gap = -_MEAN_GAP_NS * math.log1p(-rng.random())
        self._clock_ns += int(gap) // 1000 * 1000 + 1000
        common.start_time.seconds, common.start_time.nanos = divmod(self._clock_ns, _NS_PER_S)
        # One factor for all times (log-uniform in [1/2, 2]) keeps e.g. first <= last byte.
        scale = 2.0 ** (2.0 * rng.random() - 1.0)
        for name in _DURATIONS:
            if common.HasField(name):
                duration = getattr(common, name)
                ns = int((duration.seconds * _NS_PER_S + duration.nanos) * scale)
                duration.seconds, duration.nanos = divmod(ns, _NS_PER_S)
        # The caller's port and the Envoy's upstream source port are ephemeral; the direct
        # remote address is the same socket as the remote one when Envoy logged both alike.
        remote = common.downstream_remote_address.socket_address
        direct = common.downstream_direct_remote_address.socket_address
        has_direct = common.HasField("downstream_direct_remote_address")
        same_socket = has_direct and direct == remote
        if remote.port_value:
            remote.port_value = self._port()
        if same_socket:
            direct.port_value = remote.port_value
        elif has_direct and direct.port_value:
            direct.port_value = self._port()
        upstream_local = common.upstream_local_address.socket_address
        if upstream_local.port_value:
            upstream_local.port_value = self._port()
        if kind == "tcp":
            self._tcp(entry, common)
        else:
            self._http(entry, common)

    def _tcp(self, entry: PbMessage, common: PbMessage) -> None:
        if common.stream_id:
            common.stream_id = self._uuid()
        if entry.HasField("connection_properties"):
            connection = entry.connection_properties
            factor = 1 + self._rng.randrange(8)  # a connection carrying 1x..8x the bytes
            connection.received_bytes *= factor
            connection.sent_bytes *= factor

    def _http(self, entry: PbMessage, common: PbMessage) -> None:
        rng = self._rng
        request = entry.request
        # Envoy's HTTP stream id is the x-request-id.
        same_id = common.stream_id == request.request_id
        if request.request_id:
            request.request_id = self._uuid()
        if same_id:
            common.stream_id = request.request_id
        elif common.stream_id:
            common.stream_id = self._uuid()
        path = request.path
        if path:
            path = _NUMERIC_SEGMENT.sub(lambda _: str(rng.randrange(_MAX_PATH_ID + 1)), path)
            if path == "/productpage" and rng.random() < _QUERY_SHARE:
                path += _QUERIES[rng.randrange(len(_QUERIES))]
            request.path = path
        response = entry.response
        if (
            response.HasField("response_code")
            and response.response_code.value == 200
            and rng.random() < _ERROR_SHARE
        ):
            response.response_code.value = _ERROR_CODES[rng.randrange(len(_ERROR_CODES))]


def generate(
    entries: int,
    *,
    seed: int = 0,
    templates: Sequence[Template] | None = None,
    entries_per_message: int | None = None,
) -> Iterator[tuple[PbMessage, dict[str, object] | None]]:
    """The corpus's messages in order, lazily, with exactly *entries* entries in all.

    Yields ``(message, identifier_json)``: the protobuf message and, on a stream's first
    message, the recorded JSON of its identifier (None on the others).

    Args:
        entries: how many entries in all (the last message may be cut short).
        seed: the seed of everything that varies.
        templates: the recorded streams (default: :func:`load_templates`).
        entries_per_message: entries in each message; None keeps the recorded counts.
    """
    if entries < 0:
        raise ValueError(f"entries must be >= 0, not {entries}")
    if entries_per_message is not None and entries_per_message < 1:
        raise ValueError(f"entries_per_message must be >= 1, not {entries_per_message}")
    streams = list(load_templates() if templates is None else templates)
    rng = random.Random(seed)
    first = streams[0].entries[0].common_properties.start_time
    varier = _Varier(rng, first.seconds * _NS_PER_S + first.nanos)
    weights = [len(template.entries) for template in streams]
    total_weight = sum(weights)
    remaining = entries
    while remaining > 0:
        template = _pick(rng, streams, weights, total_weight)
        low, high = _STREAM_MESSAGES
        messages = rng.randrange(low, high + 1)
        position = 0  # in the template's entries, cyclically
        for index in range(messages):
            size = (
                template.sizes[index % len(template.sizes)]
                if entries_per_message is None
                else entries_per_message
            )
            size = min(size, remaining)
            message = PB2StreamAccessLogsMessage()
            if index == 0:
                message.identifier.CopyFrom(template.identifier)
            target = _entry_list_for(message, template.kind)
            for _ in range(size):
                entry = target.add()
                entry.CopyFrom(template.entries[position])
                position = (position + 1) % len(template.entries)
                varier.entry(entry, template.kind)
            remaining -= size
            yield message, (template.identifier_json if index == 0 else None)
            if remaining == 0:
                return


def _pick(
    rng: random.Random, streams: Sequence[Template], weights: Sequence[int], total: int
) -> Template:
    # Not rng.choices(): its algorithm is not promised to stay the same across versions.
    point = rng.randrange(total)
    for template, weight in zip(streams, weights, strict=True):
        if point < weight:
            return template
        point -= weight
    raise AssertionError("unreachable: point < total")


def _entry_list_for(message: PbMessage, kind: str) -> Any:
    return message.http_logs.log_entry if kind == "http" else message.tcp_logs.log_entry


def to_json_line(message: PbMessage, identifier_json: dict[str, object] | None) -> str:
    """The message as one line of proto3 JSON (camelCase names, as the recordings)."""
    has_identifier = message.HasField("identifier")
    if has_identifier:
        # Convert the entries only; the identifier's JSON is the recorded one.
        entries_only = PB2StreamAccessLogsMessage()
        entries_only.CopyFrom(message)
        entries_only.ClearField("identifier")
        message = entries_only
    document = json_format.MessageToDict(message)
    for entries in document.values():
        for entry in entries["logEntry"]:
            for outer, name in _ENTRY_MAPS:
                part = entry.get(outer)
                if part is not None and name in part:
                    part[name] = dict(sorted(part[name].items()))
    if has_identifier:
        if identifier_json is None:
            raise ValueError("a message with an identifier needs its identifier JSON")
        document = {"identifier": identifier_json, **document}
    return json.dumps(document)


def corpus_paths(output: Path, entries: int, seed: int) -> dict[str, Path]:
    """Where :func:`write_corpus` writes each format."""
    stem = f"als-{entries}-seed{seed}"
    return {fmt: output / f"{stem}.{fmt}" for fmt in FORMATS}


def write_corpus(
    output: Path,
    entries: int,
    *,
    seed: int = 0,
    formats: Sequence[str] = ("bin",),
    entries_per_message: int | None = None,
) -> dict[str, Path]:
    """Write the corpus in each of *formats* (``bin``, ``jsonl``) under *output*.

    Returns:
        The path written for each format.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown formats {sorted(unknown)}; choose from {FORMATS}")
    output.mkdir(parents=True, exist_ok=True)
    paths = {
        fmt: path for fmt, path in corpus_paths(output, entries, seed).items() if fmt in formats
    }
    binary: BinaryIO | None = None
    text: TextIO | None = None
    try:
        # Written under a temporary name: an interrupted run leaves no corpus that looks whole.
        if "bin" in paths:
            binary = open(paths["bin"].with_suffix(".bin.tmp"), "wb")  # noqa: SIM115
        if "jsonl" in paths:
            text = open(  # noqa: SIM115
                paths["jsonl"].with_suffix(".jsonl.tmp"), "w", encoding="utf-8", newline="\n"
            )
        for message, identifier_json in generate(
            entries, seed=seed, entries_per_message=entries_per_message
        ):
            if binary is not None:
                binary.write(delimited(message.SerializeToString(deterministic=True)))
            if text is not None:
                text.write(to_json_line(message, identifier_json) + "\n")
    finally:
        for handle in (binary, text):
            if handle is not None:
                handle.close()
    for fmt, path in paths.items():
        path.with_suffix(f".{fmt}.tmp").replace(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make_corpus.py",
        description="Generate a deterministic ALS corpus from the real Envoy recordings.",
    )
    parser.add_argument("--entries", type=int, default=10_000, help="entries in all")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"directory (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        help="bin (varint-delimited, the default) or jsonl; repeat for both",
    )
    parser.add_argument(
        "--entries-per-message",
        type=int,
        default=None,
        help="entries per message (default: as recorded, 1-3)",
    )
    args = parser.parse_args(argv)
    try:
        paths = write_corpus(
            args.output,
            args.entries,
            seed=args.seed,
            formats=args.formats or ("bin",),
            entries_per_message=args.entries_per_message,
        )
    except ValueError as exc:
        parser.error(str(exc))
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
