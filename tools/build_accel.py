"""Compile the optional C accelerator, ``meshals.codec._accel``, next to its source.

``python tools/build_accel.py`` writes ``src/meshals/codec/_accel<EXT_SUFFIX>`` (git-ignored)
so that ``PYTHONPATH=src`` uses it after a change to the C source, as ``pip install -e .``
does. It compiles through the wheel's build hook (``hatch_build.build_extension``: this
Python's own compiler and flags), so both build the same way. ``--werror`` holds the source
to C99 with ``-Wall -Wextra`` and no warning, as the tests do; ``--sanitize address`` builds
it with AddressSanitizer and UndefinedBehaviorSanitizer, not linked with their runtimes:
load it with them preloaded, e.g. ``LD_PRELOAD="$(gcc -print-file-name=libasan.so)
$(gcc -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc``
(``nox -s fuzz_accel`` does this for fuzzing). Without a working C compiler it says why and
fails; the package then stays pure Python.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # hatch_build.py, the build hook, lies at the project's top

import hatch_build  # noqa: E402

SOURCE_DIR = ROOT / "src" / "meshals" / "codec"
# What each --sanitize choice compiles with.
SANITIZERS = {"address": "address,undefined"}


def output_name() -> str:
    """The extension's file name for this Python (``_accel.cpython-311-x86_64-linux-gnu.so``)."""
    return "_accel" + str(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def compiler() -> list[str] | None:
    """The C compiler command this Python was built with, if it is installed (POSIX)."""
    if os.name != "posix":
        return None
    command = shlex.split(str(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"))
    if not command or shutil.which(command[0]) is None:
        return None
    return command


def build(
    out_dir: Path = SOURCE_DIR, sanitize: str | None = None, *, werror: bool = False
) -> Path | None:
    """Compile the accelerator into *out_dir*; the extension's path, or None, saying why.

    Raises:
        ValueError: an unknown *sanitize* value.
    """
    if sanitize is not None and sanitize not in SANITIZERS:
        raise ValueError(f"unknown sanitizer {sanitize!r}; known: {', '.join(SANITIZERS)}")
    try:
        return hatch_build.build_extension(
            ROOT,
            out_dir,
            sanitize=SANITIZERS[sanitize] if sanitize is not None else None,
            strict=werror,
        )
    except hatch_build.AccelBuildError as exc:
        print(f"meshals: the accelerator is not built: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sanitize", choices=sorted(SANITIZERS), help="build with sanitizers")
    parser.add_argument("--werror", action="store_true", help="C99, -Wall -Wextra, no warning")
    parser.add_argument("--out-dir", type=Path, default=SOURCE_DIR, help="default: in place")
    args = parser.parse_args(argv)
    built = build(args.out_dir, args.sanitize, werror=args.werror)
    if built is None:
        return 1
    print(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
