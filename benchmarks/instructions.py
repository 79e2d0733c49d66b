"""Instructions per entry of decode, analyze and summarize, counted by callgrind: load-proof.

Wall-clock ratios move with whatever else the machine runs; instruction counts do not, so
two source trees (say, before and after a refactoring) compare exactly even on a busy
machine. Each tree runs the same workload twice under callgrind, with 0 and N passes over
the real recordings in tests/fixtures/envoy, and the difference divided by the entries
analysed is the cost per entry without interpreter start-up and imports.

    python benchmarks/instructions.py src                     # this checkout
    python benchmarks/instructions.py /path/to/old/src src    # two trees, the first the base
    python benchmarks/instructions.py --stages decode analyze src   # decoding alone too
    python benchmarks/instructions.py --stages analyze-once summarize src  # the aggregation

``summarize`` is measured over one long input (one call over all N passes, as ``meshals
summarize`` reads a large file), so a summary's one-off freezing is spread over N passes of
entries; ``analyze-once`` is the same input through ``analyze``, its baseline.

Needs valgrind on the PATH and meshals' dependencies importable by this Python.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "envoy"
RESOLVER = ROOT / "src" / "meshals" / "examples" / "bookinfo" / "resolver.json"
# decode: decode_* alone; analyze: decode_* + analyze, both drained, one call per pass;
# analyze-once: decode_* + one analyze over all passes; summarize: decode_* + one summarize over
# all passes (the analysis folded into the graph and RED statistics).
STAGES = ("decode", "analyze", "analyze-once", "summarize")

# Runs inside the measured process: the public API as both old and new trees spell it.
WORKLOAD = """
import glob, sys
import meshals
from meshals import analyze, decode_binary, decode_json
try:
    from meshals.codec import encode_binary
    from meshals.resolve import StaticResolver
except ImportError:  # a tree from before the stage packages
    from meshals import StaticResolver, encode_binary
fixtures, resolver_path, kind, passes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stage = sys.argv[5]
resolver = StaticResolver.from_file(resolver_path)
messages = [m for f in sorted(glob.glob(fixtures + "/*.bin")) for m in meshals.read(f).messages()]
if kind == "binary":
    inputs, decode = [encode_binary(m) for m in messages], decode_binary
else:
    inputs = [
        line for f in sorted(glob.glob(fixtures + "/*.jsonl"))
        for line in open(f, encoding="utf-8").read().splitlines() if line.strip()
    ]
    decode = decode_json
if stage == "summarize":
    meshals.summarize(map(decode, inputs * passes), resolver=resolver)
elif stage == "analyze-once":
    for _ in analyze(map(decode, inputs * passes), resolver=resolver):
        pass
for _ in range(passes if stage in ("decode", "analyze") else 0):
    decoded = map(decode, inputs)
    for _ in decoded if stage == "decode" else analyze(decoded, resolver=resolver):
        pass
print(sum(len(m.entries) for m in messages))
"""


def instructions(src: Path, kind: str, stage: str, passes: int) -> tuple[int, int]:
    """(instructions executed, entries per pass) of one callgrind run."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        result = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, "-c", WORKLOAD,
                str(FIXTURES), str(RESOLVER), kind, str(passes), stage,
            ],
            capture_output=True, text=True, check=True,
            # A fixed hash seed: set and dict layouts, and so the count, repeat exactly.
            env={**os.environ, "PYTHONPATH": str(src.resolve()), "PYTHONHASHSEED": "0"},
        )  # fmt: skip
    collected = re.search(r"Collected : (\d+)", result.stderr)
    if collected is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{result.stderr}")
    return int(collected.group(1)), int(result.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path, help="src folders (the first is the base)")
    parser.add_argument("--passes", type=int, default=20, help="passes over the recordings")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=["analyze"],
        help="decode: decode_* alone; analyze: decode_* + analyze, per pass (the default); "
        "analyze-once, summarize: decode_* + one analyze or summarize over all passes",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=("binary", "json"),
        default=["binary", "json"],
        help="the input formats (both by default)",
    )
    args = parser.parse_args()
    base: dict[tuple[str, str], float] = {}
    for tree in args.trees:
        for stage in args.stages:
            for kind in args.formats:
                start, _ = instructions(tree, kind, stage, 0)
                total, entries = instructions(tree, kind, stage, args.passes)
                per_entry = (total - start) / (entries * args.passes)
                key = (stage, kind)
                ratio = f"  {per_entry / base[key]:.4f}x the base" if key in base else ""
                base.setdefault(key, per_entry)
                print(f"{tree}  {stage:12}  {kind:6}  {per_entry:12,.0f} instructions/entry{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
