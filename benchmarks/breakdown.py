"""Where the time of one entry goes: stage timings and profiles of meshals' hot paths.

Usage: ``python benchmarks/breakdown.py [--entries N] [--profile] [--py-spy]`` with meshals
importable. Unlike ``bench.py`` this reaches into meshals' private modules (``_binary``,
``_convert``) to time each stage alone, so it follows their changes; it is a profiling aid,
not a benchmark of record.

Stages (per entry, min over interleaved rounds, each against upb's parse in the same run):
upb parse; the unknown-field check (``DiscardUnknownFields`` + ``ByteSize``); conversion of a
parsed message to the model; the model's construction alone (the same objects rebuilt from
their field values); ``decode_binary``; analysis alone (of decoded messages), and with a
resolver whose answers are precomputed; end to end. The same for JSON. ``--profile`` adds
cProfile's top functions of each end-to-end path; ``--py-spy`` samples one with py-spy.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

import meshals
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals.codec._convert import message_from_pb
from meshals.codec._convert_values import Context


def _rebuilders(value: object) -> Callable[[], object]:
    """A function that builds *value* again, bottom up, from its fields (attrs classes only)."""
    kind = type(value)
    if attrs.has(kind):
        parts = {
            field.name: _rebuilders(getattr(value, field.name)) for field in attrs.fields(kind)
        }
        plain = {name: part() for name, part in parts.items()}
        nested = {
            name: part
            for name, part in parts.items()
            if attrs.has(type(plain[name])) or isinstance(plain[name], tuple)
        }
        flat = {name: plain[name] for name in parts if name not in nested}

        def build() -> object:
            return kind(**flat, **{name: part() for name, part in nested.items()})

        return build
    if isinstance(value, tuple) and any(attrs.has(type(item)) for item in value):
        items = [_rebuilders(item) for item in value]
        return lambda: tuple(item() for item in items)
    return lambda: value


class _AnswerTable:
    """A resolver that answers from a dict of precomputed answers: resolution costs a lookup."""

    def __init__(self, resolver: meshals.StaticResolver) -> None:
        self._resolver = resolver
        self._answers: dict[tuple[str, int | None], meshals.ServiceMetaInfo | None] = {}

    def resolve(self, ip: str, port: int | None, /) -> meshals.ServiceMetaInfo | None:
        key = (ip, port)
        try:
            return self._answers[key]
        except KeyError:
            answer = self._answers[key] = self._resolver.resolve(ip, port)
            return answer


class _CountingResolver:
    def __init__(self, resolver: meshals.StaticResolver) -> None:
        self._resolver = resolver
        self.calls = 0

    def resolve(self, ip: str, port: int | None, /) -> meshals.ServiceMetaInfo | None:
        self.calls += 1
        return self._resolver.resolve(ip, port)


def stages(payloads: Sequence[bytes], lines: Sequence[str], entries: int) -> dict[str, Any]:
    table = bench.resolver()
    parsed = [PB2StreamAccessLogsMessage.FromString(payload) for payload in payloads]
    decoded = [meshals.decode_binary(payload) for payload in payloads]
    rebuild = [_rebuilders(message) for message in decoded]
    answers = _AnswerTable(table)
    from_string = PB2StreamAccessLogsMessage.FromString
    decode_binary, decode_json, analyze = (
        meshals.decode_binary,
        meshals.decode_json,
        meshals.analyze,
    )
    loads = json.loads

    def upb() -> None:
        for payload in payloads:
            from_string(payload)

    def unknown_check() -> None:
        for payload in payloads:
            message = from_string(payload)
            message.DiscardUnknownFields()
            message.ByteSize()

    def convert() -> None:
        for message in parsed:
            message_from_pb(message, Context(source="<bytes>", message_index=None, strict=False))

    def construct() -> None:
        for build in rebuild:
            build()

    def binary_decode() -> None:
        for payload in payloads:
            decode_binary(payload)

    def analysis() -> None:
        bench.drain(analyze(decoded, resolver=table, reidentify=True))

    def analysis_answers() -> None:
        bench.drain(analyze(decoded, resolver=answers, reidentify=True))

    def binary_e2e() -> None:
        bench.drain(analyze(map(decode_binary, payloads), resolver=table, reidentify=True))

    def json_loads() -> None:
        for line in lines:
            loads(line)

    def json_decode() -> None:
        for line in lines:
            decode_json(line)

    cases = [
        bench.Case("upb_parse", upb),
        bench.Case("upb_parse+unknown_field_check", unknown_check),
        bench.Case("convert_parsed_message", convert),
        bench.Case("model_construction_only", construct),
        bench.Case("decode_binary", binary_decode),
        bench.Case("analysis_only", analysis),
        bench.Case("analysis_only_precomputed_answers", analysis_answers),
        bench.Case("binary_e2e", binary_e2e),
        bench.Case("json_loads", json_loads),
        bench.Case("decode_json", json_decode),
    ]
    bench.measure(cases, rounds=5, min_sample_s=0.2)
    counting = _CountingResolver(table)
    bench.drain(analyze(decoded, resolver=counting, reidentify=True))
    return {
        "per_entry_us": {case.name: bench.per_entry_us(case, entries) for case in cases},
        "resolve_calls_per_entry": counting.calls / entries,
        "model_objects_per_entry": _objects(decoded) / entries,
        "model_fields_per_entry": _fields(decoded) / entries,
    }


def _walk(values: Iterable[object]) -> Iterator[object]:
    for value in values:
        kind = type(value)
        if attrs.has(kind):
            yield value
            yield from _walk(getattr(value, field.name) for field in attrs.fields(kind))
        elif isinstance(value, tuple):
            yield from _walk(value)


def _objects(messages: Sequence[meshals.AlsMessage]) -> int:
    return sum(1 for _ in _walk(messages))


def _fields(messages: Sequence[meshals.AlsMessage]) -> int:
    total = 0
    for value in _walk(messages):
        kind = type(value)
        if attrs.has(kind):
            total += len(attrs.fields(kind))
    return total


def profiles(payloads: Sequence[bytes], lines: Sequence[str], top: int) -> dict[str, str]:
    """cProfile's top functions (by own time) of both end-to-end paths."""
    table = bench.resolver()
    paths: dict[str, Callable[[], None]] = {
        "binary_e2e": lambda: bench.drain(
            meshals.analyze(map(meshals.decode_binary, payloads), resolver=table, reidentify=True)
        ),
        "json_e2e": lambda: bench.drain(
            meshals.analyze(map(meshals.decode_json, lines), resolver=table, reidentify=True)
        ),
    }
    reports = {}
    for name, run in paths.items():
        profiler = cProfile.Profile()
        profiler.runcall(run)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        reports[name] = out.getvalue()
    return reports


def py_spy(corpus: Path, seconds: int) -> str | None:
    """py-spy's samples of ``read`` + ``analyze`` of *corpus*, as own time per function."""
    executable = shutil.which("py-spy")
    if executable is None:
        return None
    with tempfile.TemporaryDirectory() as directory:
        raw = Path(directory) / "samples.txt"
        # A script file, not -c: with -c the working directory would come first on sys.path.
        loop = Path(directory) / "loop.py"
        script = (
            "import sys\nimport bench\nimport meshals\n"
            "table = bench.resolver()\n"
            "while True:\n"
            "    messages = bench.als_messages(meshals.read(sys.argv[1]))\n"
            "    bench.drain(meshals.analyze(messages, resolver=table, reidentify=True))\n"
        )
        loop.write_text(script, encoding="utf-8")
        command = [
            executable,
            "record",
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(raw),
            "--",
            sys.executable,
            str(loop),
            str(corpus),
        ]
        environment = {**os.environ, "PYTHONPATH": _pythonpath()}
        result = subprocess.run(
            command, check=False, capture_output=True, text=True, env=environment
        )
        if not raw.exists():
            return f"py-spy failed: {result.stderr.strip()[-500:]}"
        return _own_time(raw.read_text(encoding="utf-8"))


def _pythonpath() -> str:
    here = str(Path(__file__).resolve().parent)
    package_root = str(Path(meshals.__file__).resolve().parent.parent)
    return os.pathsep.join([here, package_root])


# (category, test on a stack's frames from the root): the first that holds names the sample.
_CATEGORIES: tuple[tuple[str, Callable[[list[str], str], bool]], ...] = (
    ("decode: upb parse", lambda frames, leaf: leaf.startswith("_parse") and "_binary" in leaf),
    (
        "decode: unknown-field check",
        lambda frames, leaf: any(f.startswith("_report_unknown_fields") for f in frames),
    ),
    (
        "decode: model construction (attrs __init__)",
        lambda frames, leaf: "<attrs generated" in leaf and _decoding(frames),
    ),
    ("decode: conversion (upb reads, logic)", lambda frames, leaf: _decoding(frames)),
    ("read: framing and file", lambda frames, leaf: any("_containers.py" in f for f in frames)),
    (
        "analysis: resolver",
        lambda frames, leaf: any(f.startswith("StaticResolver.resolve") for f in frames),
    ),
    ("analysis: node_ips", lambda frames, leaf: any(f.startswith("node_ips") for f in frames)),
    (
        "analysis: metric objects (attrs __init__)",
        lambda frames, leaf: "<attrs generated" in leaf,
    ),
    ("analysis: other", lambda frames, leaf: any("_analysis.py" in f for f in frames)),
)


def _decoding(frames: list[str]) -> bool:
    return any(f.startswith(("decode_binary (", "decode_json (")) for f in frames)


def _category(frames: list[str]) -> str:
    leaf = frames[-1]
    for name, test in _CATEGORIES:
        if test(frames, leaf):
            return name
    return "other"


def _own_time(collapsed: str, top: int = 25) -> str:
    """Own (leaf) samples per function, and per category, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        categories[_category(stack.split(";"))] += count
        # A frame is "function (path/file.py:line)": counted per function and file.
        name, _, location = stack.rpartition(";")[2].partition(" (")
        own[f"{name} ({location.rpartition('/')[2].partition(':')[0]})"] += count
    lines = [f"{count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    shares = [f"{count / total:6.1%}  {name}" for name, count in categories.most_common()]
    return f"{total} samples\nby category:\n" + "\n".join([*shares, "by function:", *lines])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="breakdown.py", description=__doc__.partition("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--corpus", type=Path, default=bench.CORPUS)
    parser.add_argument("--profile", action="store_true", help="cProfile both paths")
    parser.add_argument("--py-spy", action="store_true", help="sample read + analyze with py-spy")
    args = parser.parse_args(argv)
    paths = bench.corpus(args.corpus, args.entries, ("bin", "jsonl"))
    with paths["bin"].open("rb") as stream:
        payloads = list(bench.stream_frames(stream))
    lines = paths["jsonl"].read_text(encoding="utf-8").splitlines()
    result = stages(payloads, lines, args.entries)
    upb = result["per_entry_us"]["upb_parse"]["min"]
    print(f"{args.entries:,} entries in {len(payloads):,} messages; per entry, min (median):")
    for name, figures in result["per_entry_us"].items():
        print(
            f"  {name:<36} {figures['min']:8.2f} us ({figures['median']:7.2f})"
            f"  {figures['min'] / upb:6.1f}x upb"
        )
    print(
        f"  resolver calls per entry {result['resolve_calls_per_entry']:.2f}; model objects "
        f"per entry {result['model_objects_per_entry']:.1f}, fields "
        f"{result['model_fields_per_entry']:.1f}"
    )
    if args.profile:
        for name, report in profiles(payloads, lines, 30).items():
            print(f"\n--- cProfile, {name} ---\n{report}")
    if args.py_spy:
        print(f"\n--- py-spy, read + analyze, own time ---\n{py_spy(paths['bin'], 20)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
