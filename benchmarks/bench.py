"""meshals benchmarks: decode and analysis speed against protobuf's own, scaling and memory.

Usage: ``python benchmarks/bench.py [--quick] [--results DIR] [--corpus DIR]`` with meshals
importable (installed, or ``PYTHONPATH=src``). Prints a table and writes the figures, the
targets and the machine to ``benchmarks/results/<date>-<host kind>.json``
(``...-quick.json`` for ``--quick``, which shrinks every size and skips the 1M memory run).

Every figure that a target judges is a ratio to a baseline measured in the same process on the
same input, with the cases interleaved round by round and the minimum taken. Times are CPU
times of the measuring process (``time.process_time``): the machine is shared, and waiting for
a core is not meshals' cost. Inputs come from ``tools/make_corpus.py`` (real Envoy recordings,
varied), generated into ``benchmarks/.corpus/`` when missing or stale. Scaling and memory runs
each start a fresh Python (``--child``), before the in-memory cases make this process big. A
child's peak RSS is its VmHWM (``/proc/self/status``); ``ru_maxrss`` from ``os.wait4`` (what
``RUSAGE_CHILDREN`` gives for one child) is recorded too, but also counts the parent's pages
the child held between fork and exec. The command line's memory is measured the same way:
``meshals analyze --format jsonl`` (the console script's ``meshals.cli.entrypoint``) over 100k
and 1M entries in a fresh Python, its output read through a pipe, so that whether it streams
shows as a flat peak RSS (and in when its first line comes). Import times come from
``python -X importtime`` in fresh processes: what ``import meshals`` and ``import meshals.cli``
cost before any work.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gc
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import google.protobuf  # noqa: E402 -- after the tools path, for make_corpus
import make_corpus  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

import meshals  # noqa: E402
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage  # noqa: E402
from meshals.codec._accelerated import ACCELERATED, pure_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CORPUS = ROOT / "benchmarks" / ".corpus"
GROUND_TRUTH = ROOT / "tests" / "fixtures" / "envoy" / "ground_truth.json"
SEED = 0
_CHUNK = 64 * 1024

# The issue's targets. Ratios are of per-entry times measured in one process.
TARGET_BINARY_E2E_VS_UPB = 6.0  # at most
TARGET_JSON_E2E_SPEEDUP_VS_PARSE = 10.0  # at least
TARGET_ENTRIES_PER_S = 150_000  # ambition, one core
TARGET_PEAK_RSS_MB = 150.0  # 1,000,000 entries, read and analysed
TARGET_SCALING_DRIFT = 1.25  # per-entry time at 100x over 1x: "linear" allows 25% drift
TARGET_CLI_RSS_GROWTH = 1.25  # `meshals analyze --format jsonl`: peak RSS at 10x the entries
TARGET_SUMMARIZE_OVER_ANALYSIS = 0.30  # at most: summarize's extra time over the analysis's
MEMORY_ENTRIES = 1_000_000


@dataclass(frozen=True)
class Profile:
    """How big and how often: the full run or ``--quick``."""

    name: str
    entries: int  # the in-memory input, and the 1x of scaling
    rounds: int  # interleaved rounds per case
    min_sample_s: float  # a sample repeats its pass until it takes this long
    scaling_reps: tuple[int, int, int]  # runs at 1x, 10x, 100x (min taken)
    memory_entries: int | None  # the memory run's size; None: the 100x scaling run
    cli_entries: tuple[int, int]  # the command line's memory runs: 1x and 10x


FULL = Profile("full", 10_000, 5, 0.2, (5, 3, 1), MEMORY_ENTRIES, (100_000, MEMORY_ENTRIES))
QUICK = Profile("quick", 2_000, 3, 0.05, (3, 1, 1), None, (20_000, 200_000))


# --- inputs -------------------------------------------------------------------------------------


def corpus(directory: Path, entries: int, formats: Sequence[str]) -> dict[str, Path]:
    """The corpus files, generated unless present and newer than the generator and recordings."""
    paths = make_corpus.corpus_paths(directory, entries, SEED)
    sources = [Path(make_corpus.__file__), *make_corpus.FIXTURES.glob("*")]
    newest_source = max(path.stat().st_mtime for path in sources)
    stale = [
        fmt
        for fmt in formats
        if not paths[fmt].exists() or paths[fmt].stat().st_mtime < newest_source
    ]
    if stale:
        print(f"generating {entries:,} entries ({', '.join(stale)}) ...", file=sys.stderr)
        make_corpus.write_corpus(directory, entries, seed=SEED, formats=stale)
    return {fmt: paths[fmt] for fmt in formats}


def resolver() -> meshals.StaticResolver:
    """The recording's pod table: names every pod of the corpus, as a static resolver."""
    table = json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))["resolver"]
    return meshals.StaticResolver.from_mapping(table)


def stream_frames(stream: BinaryIO) -> Iterator[bytes]:
    """The payloads of a varint-delimited file, read in 64 KiB chunks (the baseline's framing)."""
    buffer = b""
    position = 0
    while True:
        chunk = stream.read(_CHUNK)
        buffer = buffer[position:] + chunk
        position = 0
        end = len(buffer)
        while position < end:
            size = shift = 0
            cursor = position
            while cursor < end:
                byte = buffer[cursor]
                cursor += 1
                size |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            else:
                break  # the varint continues in the next chunk
            if cursor + size > end:
                break
            yield buffer[cursor : cursor + size]
            position = cursor + size
        if not chunk:
            return


# --- timing -------------------------------------------------------------------------------------


def drain(items: Iterable[object]) -> None:
    collections.deque(items, maxlen=0)


@dataclass
class Case:
    name: str
    run: Callable[[], None]
    passes: int = 1  # passes over the input per sample, calibrated
    samples: list[float] | None = None  # seconds per pass


# CPU time of this process, not wall time: on a shared machine the wait for a core is not ours.
clock = time.process_time


def measure(cases: Sequence[Case], *, rounds: int, min_sample_s: float) -> None:
    """Time every case, interleaved round by round; each sample is CPU seconds per pass."""
    for case in cases:  # warm up and calibrate
        start = clock()
        case.run()
        once = clock() - start
        case.passes = max(1, math.ceil(min_sample_s / max(once, 1e-9)))
        case.samples = []
    for _ in range(rounds):
        for case in cases:
            gc.collect()
            start = clock()
            for _ in range(case.passes):
                case.run()
            elapsed = clock() - start
            assert case.samples is not None
            case.samples.append(elapsed / case.passes)


def per_entry_us(case: Case, entries: int) -> dict[str, float]:
    assert case.samples
    return {
        "min": min(case.samples) / entries * 1e6,
        "median": statistics.median(case.samples) / entries * 1e6,
    }


# --- in-memory cases ----------------------------------------------------------------------------


def in_memory(profile: Profile, corpus_dir: Path) -> dict[str, Any]:
    """Decode and end-to-end cases over the corpus held in memory (no file I/O)."""
    paths = corpus(corpus_dir, profile.entries, ("bin", "jsonl"))
    with paths["bin"].open("rb") as stream:
        payloads = list(stream_frames(stream))
    lines = paths["jsonl"].read_text(encoding="utf-8").splitlines()
    if len(lines) != len(payloads):
        raise RuntimeError("the binary and JSON Lines corpora differ in messages")
    table = resolver()
    entries = profile.entries
    decode_binary, decode_json, analyze = (
        meshals.decode_binary,
        meshals.decode_json,
        meshals.analyze,
    )
    from_string, parse = PB2StreamAccessLogsMessage.FromString, json_format.Parse
    loads = json.loads

    def upb() -> None:
        for payload in payloads:
            from_string(payload)

    def binary_decode() -> None:
        for payload in payloads:
            decode_binary(payload)

    def binary_e2e() -> None:
        drain(analyze(map(decode_binary, payloads), resolver=table, reidentify=True))

    # The same two with the compiled decoder switched off: what it gains, in this process.
    def binary_decode_pure() -> None:
        with pure_path():
            for payload in payloads:
                decode_binary(payload)

    def binary_e2e_pure() -> None:
        with pure_path():
            drain(analyze(map(decode_binary, payloads), resolver=table, reidentify=True))

    def json_format_parse() -> None:
        for line in lines:
            parse(line, PB2StreamAccessLogsMessage())

    def json_loads() -> None:
        for line in lines:
            loads(line)

    def json_decode() -> None:
        for line in lines:
            decode_json(line)

    def json_e2e() -> None:
        drain(analyze(map(decode_json, lines), resolver=table, reidentify=True))

    # The analysis and summarize of decoded messages: what aggregation adds to an analysis.
    decoded = [decode_binary(payload) for payload in payloads]

    def analysis() -> None:
        drain(analyze(decoded, resolver=table, reidentify=True))

    def summary() -> None:
        meshals.summarize(decoded, resolver=table, reidentify=True)

    cases = [
        Case("upb_decode", upb),
        Case("meshals_decode_binary", binary_decode),
        Case("meshals_binary_e2e", binary_e2e),
        *(
            [
                Case("meshals_decode_binary_pure", binary_decode_pure),
                Case("meshals_binary_e2e_pure", binary_e2e_pure),
            ]
            if ACCELERATED
            else []
        ),
        Case("json_format_parse", json_format_parse),
        Case("json_loads", json_loads),
        Case("meshals_decode_json", json_decode),
        Case("meshals_json_e2e", json_e2e),
        Case("meshals_analyze_decoded", analysis),
        Case("meshals_summarize_decoded", summary),
    ]
    measure(cases, rounds=profile.rounds, min_sample_s=profile.min_sample_s)
    times = {case.name: per_entry_us(case, entries) for case in cases}

    # The differential check: both formats give the same metrics and the same accounting.
    from_binary = analyze(map(decode_binary, payloads), resolver=table, reidentify=True)
    from_json = analyze(map(decode_json, lines), resolver=table, reidentify=True)
    binary_metrics, json_metrics = from_binary.metrics(), from_json.metrics()
    identical = binary_metrics == json_metrics and from_binary.accounting == from_json.accounting
    # And the compiled decoder gives what the pure path gives.
    with pure_path():
        pure = analyze(map(decode_binary, payloads), resolver=table, reidentify=True)
        pure_metrics = pure.metrics()
    accelerated_identical = (
        pure_metrics == binary_metrics and pure.accounting == from_binary.accounting
    )

    def ratio(numerator: str, denominator: str) -> float:
        return times[numerator]["min"] / times[denominator]["min"]

    return {
        "entries": entries,
        "messages": len(payloads),
        "metrics": len(binary_metrics),
        "binary_bytes": sum(len(payload) for payload in payloads),
        "json_chars": sum(len(line) for line in lines),
        "per_entry_us": times,
        "ratios": {
            "binary_decode_vs_upb": ratio("meshals_decode_binary", "upb_decode"),
            "binary_e2e_vs_upb": ratio("meshals_binary_e2e", "upb_decode"),
            **(
                {
                    "binary_decode_pure_vs_upb": ratio("meshals_decode_binary_pure", "upb_decode"),
                    "binary_e2e_pure_vs_upb": ratio("meshals_binary_e2e_pure", "upb_decode"),
                }
                if ACCELERATED
                else {}
            ),
            "json_format_parse_vs_json_e2e": ratio("json_format_parse", "meshals_json_e2e"),
            "json_format_parse_vs_json_decode": ratio("json_format_parse", "meshals_decode_json"),
            "json_decode_vs_json_loads": ratio("meshals_decode_json", "json_loads"),
            "json_e2e_vs_binary_e2e": ratio("meshals_json_e2e", "meshals_binary_e2e"),
            "summarize_over_analysis": ratio("meshals_summarize_decoded", "meshals_analyze_decoded")
            - 1,
        },
        "entries_per_s": {
            "binary_e2e": 1e6 / times["meshals_binary_e2e"]["min"],
            "json_e2e": 1e6 / times["meshals_json_e2e"]["min"],
            "binary_decode": 1e6 / times["meshals_decode_binary"]["min"],
        },
        "json_and_binary_identical": identical,
        "accelerated_and_pure_identical": accelerated_identical,
    }


# --- files in fresh processes: scaling and memory -------------------------------------------------


def als_messages(records: Iterable[object]) -> Iterator[meshals.AlsMessage]:
    """The ALS messages of what ``meshals.read`` yields (it may also yield L4 records)."""
    for record in records:
        if isinstance(record, meshals.AlsMessage):
            yield record


class _Clocked:
    """Passes messages through, noting the time every *every* entries (linearity within a run)."""

    def __init__(self, messages: Iterable[meshals.AlsMessage], every: int) -> None:
        self._messages = messages
        self.every = every
        self.marks: list[float] = []

    def __iter__(self) -> Iterator[meshals.AlsMessage]:
        every, marks, now = self.every, self.marks, clock
        entries, next_mark = 0, 0
        for message in self._messages:
            if entries >= next_mark:
                marks.append(now())
                next_mark += every
            entries += len(message.entries)
            yield message


def child(path: Path, reps: int, baseline: bool) -> dict[str, Any]:
    """Read and analyse *path* (``meshals.read`` + ``analyze``) *reps* times; report times.

    Besides each run's total, per-entry times of successive segments (1% of the entries each)
    show whether the time per entry stays flat as a run goes on.
    """
    table = resolver()
    upb_s: list[float] = []
    meshals_s: list[float] = []
    segment_us: list[float] = []
    counts: dict[str, int] = {}
    for _ in range(reps):
        if baseline:  # the same framing work, then protobuf's parse only
            start = clock()
            with path.open("rb") as stream:
                for payload in stream_frames(stream):
                    PB2StreamAccessLogsMessage.FromString(payload)
            upb_s.append(clock() - start)
        gc.collect()
        start = clock()
        with meshals.read(path) as reader:
            clocked = _Clocked(als_messages(reader), max(1, _entries_in_name(path) // 100))
            analysis = meshals.analyze(clocked, resolver=table, reidentify=True)
            metrics = sum(1 for _ in analysis)
        end = clock()
        meshals_s.append(end - start)
        marks = [*clocked.marks, end]
        every = clocked.every
        segment_us.extend((later - earlier) / every * 1e6 for earlier, later in pairwise(marks))
        accounting = analysis.accounting
        counts = {
            "entries": accounting.entries_in,
            "messages": accounting.messages,
            "metrics": metrics,
        }
    return {
        **counts,
        "meshals_s": meshals_s,
        "upb_s": upb_s,
        "segment_us": segment_us,
        "vmhwm_kb": vmhwm_kb(),
    }


def vmhwm_kb() -> int | None:
    """This process's peak RSS since it exec'd (Linux), in KiB.

    ``ru_maxrss`` (and so ``RUSAGE_CHILDREN`` or ``wait4`` in the parent) also counts the
    parent's pages the child held between fork and exec; VmHWM counts only its own.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _entries_in_name(path: Path) -> int:
    # make_corpus names files als-<entries>-seed<seed>.bin.
    return int(path.name.split("-")[1])


def run_child(arguments: Sequence[str]) -> dict[str, Any]:
    """Run this script with *arguments* in a fresh Python; its report and its peak RSS."""
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all children.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed with {process.returncode}")
    report: dict[str, Any] = json.loads(output)
    # Linux reports ru_maxrss in KiB.
    report["maxrss_mb"] = usage.ru_maxrss / 1024
    report["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # The child's own peak where Linux tells it, else the (upper bound) ru_maxrss.
    vmhwm = report.get("vmhwm_kb")
    report["peak_rss_mb"] = vmhwm / 1024 if vmhwm is not None else report["maxrss_mb"]
    return report


def scaling(profile: Profile, corpus_dir: Path) -> dict[str, Any]:
    """Read + analyse from disk at 1x, 10x and 100x the entries, each in a fresh process."""
    runs = {}
    for factor, reps in zip((1, 10, 100), profile.scaling_reps, strict=True):
        entries = profile.entries * factor
        path = corpus(corpus_dir, entries, ("bin",))["bin"]
        report = run_child(["--child", str(path), "--reps", str(reps), "--baseline"])
        best = min(report["meshals_s"])
        best_upb = min(report["upb_s"])
        segments = report["segment_us"]
        runs[f"{factor}x"] = {
            "entries": report["entries"],
            "runs": reps,
            "seconds": best,
            "per_entry_us": best / entries * 1e6,
            # Robust to other load on the machine: the median of 1%-of-the-entries segments.
            "segment_median_us": statistics.median(segments),
            "segment_first_tenth_median_us": statistics.median(segments[: len(segments) // 10]),
            "segment_last_tenth_median_us": statistics.median(segments[-len(segments) // 10 :]),
            "upb_per_entry_us": best_upb / entries * 1e6,
            "vs_upb": best / best_upb,
            "entries_per_s": entries / best,
            "peak_rss_mb": report["peak_rss_mb"],
        }
    drift = runs["100x"]["segment_median_us"] / runs["1x"]["segment_median_us"]
    within = (
        runs["100x"]["segment_last_tenth_median_us"] / runs["100x"]["segment_first_tenth_median_us"]
    )
    return {
        "runs": runs,
        "per_entry_100x_over_1x": drift,
        "per_entry_last_over_first_tenth_100x": within,
    }


def memory(profile: Profile, corpus_dir: Path) -> dict[str, Any] | None:
    """Peak RSS of reading and analysing the 1,000,000-entry corpus, against an idle import."""
    if profile.memory_entries is None:
        return None
    path = corpus(corpus_dir, profile.memory_entries, ("bin",))["bin"]
    floor = run_child(["--child-idle"])
    report = run_child(["--child", str(path), "--reps", "1"])
    return {
        "entries": report["entries"],
        "file_mb": path.stat().st_size / 2**20,
        "metrics": report["metrics"],
        "seconds": report["meshals_s"][0],
        "peak_rss_mb": report["peak_rss_mb"],
        "maxrss_mb": report["maxrss_mb"],
        "idle_import_rss_mb": floor["peak_rss_mb"],
        "idle_import_maxrss_mb": floor["maxrss_mb"],
    }


# The console script (``meshals.cli.entrypoint``) in a fresh Python that reports its VmHWM to
# the file named by its first argument when it exits.
_CLI_CHILD = """
import atexit, sys
report = sys.argv.pop(1)
sys.argv[0] = "meshals"

def vmhwm():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next((line.split()[1] for line in status if line.startswith("VmHWM:")), ""))

atexit.register(vmhwm)
from meshals.cli import entrypoint
entrypoint()
"""


def cli_run(path: Path, table: Path) -> dict[str, Any]:
    """``meshals analyze --format jsonl`` over *path* in a fresh process, its output piped here.

    Its peak RSS (VmHWM, and ``ru_maxrss``), the seconds to its first line and to its end
    (wall time: the child's progress as a reader of the pipe sees it), and the lines it wrote.
    """
    report = path.parent / f"vmhwm-{os.getpid()}.txt"
    command = [
        sys.executable,
        "-c",
        _CLI_CHILD,
        str(report),
        *("analyze", "--format", "jsonl", "--reidentify", "--resolver", str(table), str(path)),
    ]
    errors = path.parent / f"stderr-{os.getpid()}.txt"
    with errors.open("wb") as stderr:  # a file: warnings cannot fill a pipe nobody reads
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
    assert process.stdout is not None
    first_line_s = None
    lines = 0
    for _ in process.stdout:
        if first_line_s is None:
            first_line_s = time.perf_counter() - started
        lines += 1
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    summary = errors.read_text(encoding="utf-8").strip().splitlines()[-1:]
    errors.unlink()
    if process.returncode != 0:
        raise RuntimeError(f"meshals analyze failed with {process.returncode}: {summary}")
    try:
        vmhwm: int | None = int(report.read_text())
    except (OSError, ValueError):
        vmhwm = None  # not Linux
    report.unlink(missing_ok=True)
    maxrss_mb = usage.ru_maxrss / 1024
    return {
        "lines": lines,
        "summary": summary[0] if summary else None,
        "first_line_s": first_line_s,
        "seconds": seconds,
        "peak_rss_mb": vmhwm / 1024 if vmhwm is not None else maxrss_mb,
        "maxrss_mb": maxrss_mb,
    }


def cli_memory(profile: Profile, corpus_dir: Path) -> dict[str, Any]:
    """Peak RSS of ``meshals analyze --format jsonl`` at 1x and 10x the entries: flat or not."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    table = corpus_dir / "resolver.json"
    ground_truth = json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))
    table.write_text(json.dumps(ground_truth["resolver"]), encoding="utf-8")
    runs = {}
    for entries in profile.cli_entries:
        path = corpus(corpus_dir, entries, ("bin",))["bin"]
        runs[str(entries)] = {"entries": entries, **cli_run(path, table)}
    small, large = (runs[str(entries)]["peak_rss_mb"] for entries in profile.cli_entries)
    return {"command": "meshals analyze --format jsonl", "runs": runs, "growth": large / small}


# What `import meshals` costs a script, and `import meshals.cli` the command before it runs.
IMPORTED_MODULES = ("meshals", "meshals.cli")


def import_seconds(module: str) -> float:
    """The cumulative import time of *module* in a fresh Python, by ``python -X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    # Lines read "import time: <self us> | <cumulative us> | <indented name>"; the module's own
    # line is the last one naming it (its imports are listed before it).
    for line in reversed(result.stderr.splitlines()):
        _, _, figures = line.partition("import time:")
        fields = [field.strip() for field in figures.split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise RuntimeError(f"no import time for {module} in: {result.stderr[-500:]}")


def import_time(profile: Profile) -> dict[str, Any]:
    """``import meshals`` and ``import meshals.cli``, each in fresh processes, interleaved.

    Wall time as ``-X importtime`` measures it (it includes waiting for a core, so the median
    and the minimum of several runs are kept).
    """
    runs = 3 * profile.rounds
    samples: dict[str, list[float]] = {module: [] for module in IMPORTED_MODULES}
    for _ in range(runs):
        for module in IMPORTED_MODULES:
            samples[module].append(import_seconds(module))
    return {
        module: {
            "runs": runs,
            "min_ms": min(seconds) * 1e3,
            "median_ms": statistics.median(seconds) * 1e3,
        }
        for module, seconds in samples.items()
    }


# --- report -------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit(package: Path) -> str | None:
    """The commit of the checkout *package* was imported from (``+dirty`` if its src differs)."""
    try:
        top = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        dirty = subprocess.run(
            ["git", "-C", str(package), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # installed, or an archive: see --label
    return top[1] + ("+dirty" if dirty else "")


def fixtures_digest() -> str:
    """One digest of the recordings the corpus is made from (they are re-recorded at times)."""
    digest = hashlib.sha256()
    for path in sorted(make_corpus.FIXTURES.glob("*.bin")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def host_kind() -> str:
    return f"{sys.platform}-{platform.machine()}-{cores()}cpu"


def orjson_version() -> str | None:
    """orjson's version where decode_json uses it (meshals.codec._json_load), else None."""
    from meshals.codec import _json_load

    if _json_load._ORJSON_LOADS is None:
        return None
    return importlib.metadata.version("orjson")


def machine(label: str | None) -> dict[str, Any]:
    package = Path(meshals.__file__).resolve().parent
    return {
        "label": label,
        "meshals_path": str(package),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "protobuf": google.protobuf.__version__,
        "protobuf_implementation": api_implementation.Type(),
        # Whether decode_binary used the compiled decoder (meshals.codec._accel).
        "accelerated": ACCELERATED,
        # The orjson decode_json parses with (the json extra), or None: json.loads alone.
        "orjson": orjson_version(),
        "meshals": meshals.__version__,
        "git_commit": git_commit(package),
        # The checkout this script is in: what an installed meshals (nox) was built from.
        "checkout_commit": git_commit(ROOT / "src"),
        "cpu_model": cpu_model(),
        "cores": cores(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def targets(
    memory_run: dict[str, Any],
    scale: dict[str, Any],
    memory_result: dict[str, Any] | None,
    cli_result: dict[str, Any],
) -> dict[str, Any]:
    ratios = memory_run["ratios"]
    result: dict[str, Any] = {
        "binary_e2e_vs_upb": {
            "value": ratios["binary_e2e_vs_upb"],
            "target": f"<= {TARGET_BINARY_E2E_VS_UPB}",
            "met": ratios["binary_e2e_vs_upb"] <= TARGET_BINARY_E2E_VS_UPB,
        },
        "binary_e2e_entries_per_s": {
            "value": memory_run["entries_per_s"]["binary_e2e"],
            "target": f">= {TARGET_ENTRIES_PER_S} (ambition)",
            "met": memory_run["entries_per_s"]["binary_e2e"] >= TARGET_ENTRIES_PER_S,
        },
        "json_e2e_speedup_vs_json_format_parse": {
            "value": ratios["json_format_parse_vs_json_e2e"],
            "target": f">= {TARGET_JSON_E2E_SPEEDUP_VS_PARSE}",
            "met": ratios["json_format_parse_vs_json_e2e"] >= TARGET_JSON_E2E_SPEEDUP_VS_PARSE,
        },
        "summarize_over_analysis": {
            "value": ratios["summarize_over_analysis"],
            "target": f"<= {TARGET_SUMMARIZE_OVER_ANALYSIS}",
            "met": ratios["summarize_over_analysis"] <= TARGET_SUMMARIZE_OVER_ANALYSIS,
        },
        "json_and_binary_identical": {
            "value": memory_run["json_and_binary_identical"],
            "target": "True",
            "met": memory_run["json_and_binary_identical"],
        },
        "scaling_per_entry_100x_over_1x": {
            "value": scale["per_entry_100x_over_1x"],
            "target": f"<= {TARGET_SCALING_DRIFT}",
            "met": scale["per_entry_100x_over_1x"] <= TARGET_SCALING_DRIFT,
        },
    }
    result["cli_analyze_jsonl_peak_rss_10x_over_1x"] = {
        "value": cli_result["growth"],
        "target": f"<= {TARGET_CLI_RSS_GROWTH}",
        "met": cli_result["growth"] <= TARGET_CLI_RSS_GROWTH,
    }
    if memory_result is not None:
        result["peak_rss_mb_1m_entries"] = {
            "value": memory_result["peak_rss_mb"],
            "target": f"< {TARGET_PEAK_RSS_MB}",
            "met": memory_result["peak_rss_mb"] < TARGET_PEAK_RSS_MB,
        }
    return result


def print_report(results: dict[str, Any]) -> None:
    facts = results["machine"]
    version = facts["git_commit"] or facts["label"] or f"checkout {facts['checkout_commit']}"
    print(
        f"\nmeshals {facts['meshals']} ({version}), Python {facts['python']}, "
        f"protobuf {facts['protobuf']} ({facts['protobuf_implementation']}), "
        f"orjson {facts.get('orjson') or 'unused'}, {facts['cpu_model']}, {facts['cores']} cores"
    )
    run = results["in_memory"]
    print(
        f"\nin memory: {run['entries']:,} entries in {run['messages']:,} messages "
        f"-> {run['metrics']:,} metrics; per entry, min (median) of {results['rounds']} rounds"
    )
    upb = run["per_entry_us"]["upb_decode"]["min"]
    parse = run["per_entry_us"]["json_format_parse"]["min"]
    for name, figures in run["per_entry_us"].items():
        baseline = (
            parse if name.startswith(("json", "meshals_decode_json", "meshals_json")) else upb
        )
        relative = figures["min"] / baseline
        print(
            f"  {name:<24} {figures['min']:9.2f} us ({figures['median']:8.2f})"
            f"  {relative:7.3f}x {'json_format.Parse' if baseline == parse else 'upb'}"
        )
    print(f"  entries/s, binary end to end: {run['entries_per_s']['binary_e2e']:,.0f}")
    print(f"  JSON and binary metrics identical: {run['json_and_binary_identical']}")
    print(
        f"  compiled decoder used: {facts['accelerated']}; its metrics identical to the pure "
        f"path's: {run['accelerated_and_pure_identical']}"
    )
    print("\nfrom disk (read + analyze), each size in a fresh process:")
    for factor, figures in results["scaling"]["runs"].items():
        print(
            f"  {factor:>4} {figures['entries']:>10,} entries {figures['seconds']:8.2f} s "
            f"{figures['per_entry_us']:7.2f} us/entry (median {figures['segment_median_us']:6.2f}; "
            f"{figures['vs_upb']:5.1f}x upb) "
            f"{figures['entries_per_s']:9,.0f}/s  peak RSS {figures['peak_rss_mb']:6.1f} MB"
        )
    memory_result = results["memory"]
    if memory_result is not None:
        print(
            f"\nmemory: {memory_result['entries']:,} entries ({memory_result['file_mb']:.0f} MB) "
            f"peak RSS {memory_result['peak_rss_mb']:.1f} MB "
            f"(idle import {memory_result['idle_import_rss_mb']:.1f} MB; ru_maxrss "
            f"{memory_result['maxrss_mb']:.1f} MB, counting the parent's pages before exec)"
        )
    cli_result = results["cli_memory"]
    print(f"\n{cli_result['command']}, output piped, in a fresh process:")
    for figures in cli_result["runs"].values():
        print(
            f"  {figures['entries']:>10,} entries -> {figures['lines']:>10,} lines  "
            f"peak RSS {figures['peak_rss_mb']:6.1f} MB  first line after "
            f"{figures['first_line_s']:6.2f} s, all after {figures['seconds']:7.1f} s"
        )
    print("\nimport time, fresh process (python -X importtime), min (median):")
    for module, figures in results["import_time"].items():
        print(
            f"  import {module:<12} {figures['min_ms']:7.1f} ms ({figures['median_ms']:.1f})"
            f" of {figures['runs']} runs"
        )
    print("\ntargets:")
    for name, target in results["targets"].items():
        value = target["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(
            f"  {'met ' if target['met'] else 'MISS'} {name}: {shown} (target {target['target']})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no 1M memory run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="where corpora are kept")
    parser.add_argument(
        "--label", help="recorded with the results, e.g. the commit of an installed meshals"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cli-memory-only",
        action="store_true",
        help="only the command line's memory runs (printed, not written)",
    )
    args = parser.parse_args(argv)
    if args.child_idle:  # what importing alone costs: the floor under every child's RSS
        resolver()
        print(json.dumps({"vmhwm_kb": vmhwm_kb()}))
        return 0
    if args.child is not None:
        print(json.dumps(child(args.child, args.reps, args.baseline)))
        return 0

    profile = QUICK if args.quick else FULL
    if args.cli_memory_only:
        print(json.dumps(cli_memory(profile, args.corpus), indent=2))
        return 0
    started = datetime.datetime.now(datetime.timezone.utc)
    facts = machine(args.label)
    # Children first, while this process is small (see vmhwm_kb), then the in-memory cases.
    memory_result = memory(profile, args.corpus)
    cli_result = cli_memory(profile, args.corpus)
    import_result = import_time(profile)
    scaling_result = scaling(profile, args.corpus)
    in_memory_result = in_memory(profile, args.corpus)
    results: dict[str, Any] = {
        "profile": profile.name,
        "rounds": profile.rounds,
        "started": started.isoformat(timespec="seconds"),
        "seconds": (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(),
        "machine": {
            **facts,
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "corpus": {
            "generator": "tools/make_corpus.py",
            "seed": SEED,
            "fixtures_sha256": fixtures_digest(),
        },
        "in_memory": in_memory_result,
        "scaling": scaling_result,
        "memory": memory_result,
        "cli_memory": cli_result,
        "import_time": import_result,
        "targets": targets(in_memory_result, scaling_result, memory_result, cli_result),
    }
    print_report(results)
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    output = args.results / f"{started:%Y-%m-%d}-{host_kind()}{suffix}.json"
    temporary = output.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    temporary.replace(output)
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
