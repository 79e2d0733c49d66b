"""Build the fuzzers' seed corpus, ``tests/fuzz_corpus/<target>/``, from the committed fixtures.

Seeds are small valid inputs of each target's kind (a message, a container file, a template,
a resolver table, a log line): the fuzzer mutates them, so it starts from the structure real
input has instead of discovering it byte by byte. Run from the repository root::

    python tools/fuzz_corpus.py

The output is deterministic (names are content hashes), so re-running it changes nothing
unless the fixtures changed. Fixture files larger than ``MAX_SEED_SIZE`` are cut into their
first messages.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT / "tests" / "fuzz_corpus"
MAX_SEED_SIZE = 8 * 1024

sys.path.insert(0, str(ROOT / "src"))

import meshals  # noqa: E402 -- after the path set-up
from meshals.capture import Container  # noqa: E402
from meshals.capture._detect import detect_container  # noqa: E402
from meshals.codec import encode_binary  # noqa: E402
from meshals.codec._wire import _varint, encode_varint  # noqa: E402


def main() -> int:
    """Rebuild every target's seeds; the exit status."""
    seeds = {
        "json": list(_json_messages()),
        "binary": [encode_binary(message) for message in _messages()],
        # The binary seeds too (tools/fuzz.py), and these: the bytes Envoy wrote, as it wrote them.
        "accel": list(_recorded_frames()),
        # The JSON seeds too, and messages of each recording real Envoys and Istio proxies wrote.
        "accel_json": list(_recorded_json()),
        "read": list(_containers()),
        "framers": list(_framer_inputs()),
        "analyze": list(_containers()),
        "template": list(_templates()),
        "static": [(FIXTURES / "resolvers" / "skywalking-mock.json").read_bytes()],
        "kubernetes": [(FIXTURES / "k8s" / "serviceentries.json").read_bytes(), b'{"items": []}'],
        "l4": list(_l4_lines()),
    }
    for target, inputs in seeds.items():
        directory = CORPUS / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for data in inputs:
            if len(data) <= MAX_SEED_SIZE:
                name = hashlib.sha1(data, usedforsecurity=False).hexdigest()
                (directory / name).write_bytes(data)
        print(f"{target}: {len(list(directory.iterdir()))} seeds")
    return 0


def _first_lines(path: Path, count: int) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()][:count]


def _json_messages() -> Iterator[bytes]:
    for path in sorted((FIXTURES / "envoy").glob("*.jsonl")):
        yield from _first_lines(path, 2)
    for path in sorted((FIXTURES / "skywalking").glob("*.msg")):
        yield path.read_bytes()  # comments, trailing text: SkyWalking's quirks
    yield b'{"identifier": {"node": {"id": "sidecar~10.0.0.1~a~ns.svc.cluster.local"}}}'


def _recorded_json() -> Iterator[bytes]:
    for folder in ("envoy", "mx"):
        for path in sorted((FIXTURES / folder).glob("**/*.jsonl")):
            yield from _first_lines(path, 2)


def _messages() -> Iterator[meshals.AlsMessage]:
    for path in sorted((FIXTURES / "envoy").glob("*.jsonl")):
        for line in _first_lines(path, 2):
            yield meshals.decode_json(line)
    for path in sorted((FIXTURES / "skywalking").glob("envoy-*.msg")):
        if path.name != "envoy-metric.msg":  # a metrics-service message, not ALS
            yield meshals.decode_json(path.read_bytes())


def _recorded_frames() -> Iterator[bytes]:
    for path in sorted((FIXTURES / "envoy").glob("*.bin")):
        data = path.read_bytes()
        position = 0
        while position < len(data):
            size, position = _varint(data, position, len(data), "frame size")
            yield data[position : position + size]
            position += size


def _delimited(frames: Iterable[bytes]) -> bytes:
    return b"".join(encode_varint(len(frame)) + frame for frame in frames)


def _grpc(frames: Iterable[bytes]) -> bytes:
    return b"".join(b"\x00" + len(frame).to_bytes(4, "big") + frame for frame in frames)


def _containers() -> Iterator[bytes]:
    frames = [encode_binary(message) for message in list(_messages())[:3]]
    yield frames[0]  # BINARY
    yield _delimited(frames)
    yield _grpc(frames)
    yield b"\n".join(_first_lines(FIXTURES / "envoy" / "mongodb-tcp.jsonl", 3)) + b"\n"
    yield (FIXTURES / "skywalking" / "envoy-ingress.msg").read_bytes()
    yield (FIXTURES / "mx" / "waypoint.bin").read_bytes()
    yield (FIXTURES / "ztunnel" / "bad-lines.log").read_bytes()[:MAX_SEED_SIZE]
    yield b""


def _framer_inputs() -> Iterator[bytes]:
    # The first byte picks the container (see tools/fuzz_targets.py): each seed with its own.
    index = {container: position for position, container in enumerate(Container)}
    for data in _containers():
        if data:
            detected = detect_container(data, final=True)
            if isinstance(detected, Container):
                yield bytes([index[detected]]) + data


def _templates() -> Iterator[bytes]:
    yield meshals.resolve.SKYWALKING_SERVICE_RULE.encode()
    yield meshals.resolve.SKYWALKING_FALLBACK_RULE.encode()
    yield b"${pod.metadata.labels.app}-${pod.metadata.name}.mesh"
    yield b"${service.spec.ports.0.port, pod.metadata.(app.kubernetes.io/name)}"


def _l4_lines() -> Iterator[bytes]:
    for path in sorted((FIXTURES / "ztunnel").glob("*")):
        if path.suffix in (".log", ".jsonl"):
            yield from _first_lines(path, 4)


if __name__ == "__main__":
    sys.exit(main())
