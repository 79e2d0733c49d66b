"""Coverage-guided fuzzing of meshals' decoders and container readers with atheris (libFuzzer).

Each target feeds the fuzzer's bytes to one entry point and checks the error contract
(``docs/errors.md``): bad input raises only ``MeshalsError`` subclasses, in strict and lenient
mode, and what decodes satisfies the target's invariants (see ``tools/fuzz_targets.py``).
Anything else escaping is a finding: libFuzzer stops and writes the input to
``.fuzz/<target>/crash-*``; turn it into a regression fixture in ``tests/fixtures/regressions``.

Usage::

    python tools/fuzz.py --target json --seconds 180      # fuzz, seeded from tests/fuzz_corpus/json
    python tools/fuzz.py --target read --reproduce FILE   # run one input, print the outcome
    python tools/fuzz.py --list                           # the targets
    python tools/fuzz.py --installed --target accel       # the installed meshals, not src/

The working corpus grows in ``.fuzz/<target>/corpus`` (not committed); the committed seeds in
``tests/fuzz_corpus/<target>`` are only read (rebuild them with ``tools/fuzz_corpus.py``).
Extra arguments after ``--`` go to libFuzzer (e.g. ``-- -jobs=2``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "fuzz_corpus"
WORK = ROOT / ".fuzz"
PER_INPUT_TIMEOUT_S = 10  # an input that takes longer is a hang: libFuzzer reports it
RSS_LIMIT_MB = 2048


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz one target (or reproduce an input); the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in arguments:
        extra = arguments[arguments.index("--") + 1 :]
        arguments = arguments[: arguments.index("--")]
    args = _parser().parse_args(arguments)
    if not args.installed:
        sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tools"))
    if args.list:
        from fuzz_targets import TARGETS  # no instrumentation needed to list them

        print("\n".join(TARGETS))
        return 0
    if args.reproduce is not None:
        from fuzz_targets import TARGETS

        return _reproduce(TARGETS[args.target], args.reproduce)
    return _fuzz(args.target, args.seconds, extra)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="json", help="what to fuzz (--list shows them)")
    parser.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--reproduce", type=Path, metavar="FILE", help="run one input and stop")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument(
        "--installed",
        action="store_true",
        help="fuzz the meshals installed in this environment, not src/ (nox -s fuzz_accel "
        "installs one with its C accelerator built under AddressSanitizer)",
    )
    return parser


def _reproduce(target: Callable[[bytes], None], path: Path) -> int:
    target(path.read_bytes())
    print(f"{path}: no finding")
    return 0


def _fuzz(name: str, seconds: int, extra: list[str]) -> int:
    # A dev-only tool (the `fuzz` dependency group), untyped, and absent where mypy runs.
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    with atheris.instrument_imports(include=["meshals"]):
        import meshals  # noqa: F401 -- instrumented for coverage
    from fuzz_targets import TARGETS

    if name not in TARGETS:
        print(f"unknown target {name!r}; one of: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    work = WORK / name
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = [SEEDS / seed for seed in _SEEDS_OF.get(name, (name,))]
    dictionary = _write_dictionary(work) if name in _JSON_TARGETS else None
    libfuzzer = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        f"-timeout={PER_INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={work}/",
        "-print_final_stats=1",
        *([f"-dict={dictionary}"] if dictionary else []),
        *extra,
        str(corpus),  # new inputs go to the first directory only
        *(str(seed) for seed in seeds if seed.is_dir()),
    ]
    atheris.Setup(libfuzzer, TARGETS[name])
    atheris.Fuzz()  # exits the process when done
    return 0  # pragma: no cover


# Targets whose input is (mostly) ALS JSON: a dictionary of its field names helps them.
_JSON_TARGETS = frozenset({"json", "json_oracle", "accel_json", "read", "framers", "analyze"})
# The oracle targets start from the seeds of the decoder they check; the accelerator's from the
# binary (JSON) seeds and the messages real Envoys wrote (the shapes it converts itself).
_SEEDS_OF = {
    "json_oracle": ("json",),
    "binary_oracle": ("binary",),
    "accel": ("binary", "accel"),
    "accel_json": ("json", "accel_json"),
}
_EXTRA_TOKENS = (
    "@type",
    "type.googleapis.com/google.protobuf.Struct",
    "type.googleapis.com/google.protobuf.Value",
    "type.googleapis.com/google.protobuf.BytesValue",
    "NaN",
    "-Infinity",
    "1.000340012s",
    "2019-04-13T03:59:53.123456789Z",
    "sidecar~10.0.0.1~reviews-v1~default.svc.cluster.local",
    "outbound|9080||reviews.default.svc.cluster.local",
    "inbound|9080||",
    # Values that break the mapping (tools/_oracle.py has more): the oracle targets need them.
    "1e3",
    "4294967296",
    "18446744073709551616",
    "-1",
    "null",
    "\\ud800",
    "\\u0070",
    "1.5s",
    "+1s",
    "2019-02-29T00:00:00Z",
    "AAE=",
)


def _write_dictionary(work: Path) -> Path:
    """A libFuzzer dictionary: every field name of the schema, both spellings, and a few values."""
    from meshals._pb.als_pb2 import StreamAccessLogsMessage

    names: set[str] = set()
    pending = [StreamAccessLogsMessage.DESCRIPTOR]
    seen: set[str] = set()
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in seen:
            continue
        seen.add(descriptor.full_name)
        for field in descriptor.fields:
            names.update((field.name, field.json_name))
            if field.message_type is not None:
                pending.append(field.message_type)
        for enum_type in descriptor.enum_types:
            names.update(value.name for value in enum_type.values)
    tokens = sorted(f'"{name}"' for name in names) + [f'"{token}"' for token in _EXTRA_TOKENS]
    path = work / "json.dict"
    path.write_text("".join(f"{_escaped(token)}\n" for token in tokens))
    return path


def _escaped(token: str) -> str:
    # libFuzzer dictionary entries are C-like strings: quotes and backslashes escaped.
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    sys.exit(main())
