"""Compile the optional C accelerator, ``meshals.codec._accel``, next to its source.

``python tools/build_accel.py`` writes ``src/meshals/codec/_accel<EXT_SUFFIX>`` (git-ignored)
so that an editable install or ``PYTHONPATH=src`` uses it; ``--sanitize address`` builds it
with AddressSanitizer (load it with the ASan runtime preloaded). The compile routine is
:func:`build`, which a packaging build hook can call as well; it returns None, saying why,
where there is no C compiler, and the package then stays pure Python.

The compiler and flags are this Python's own (``sysconfig``: ``CC``, the include directory,
the extension suffix), plus ``-std=c99 -Wall -Wextra``: the source must compile without a
warning (``--werror`` makes warnings errors, as the tests do).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "src" / "meshals" / "codec"
SOURCE = "_accel.c"
SANITIZERS = ("address",)


def output_name() -> str:
    """The extension's file name for this Python (``_accel.cpython-311-x86_64-linux-gnu.so``)."""
    return "_accel" + str(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def compiler() -> list[str] | None:
    """The C compiler command this Python was built with, if it is installed."""
    if os.name != "posix":
        return None  # the direct call below speaks gcc/clang only
    command = shlex.split(str(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"))
    if not command or shutil.which(command[0]) is None:
        return None
    return command


def build(
    source_dir: Path, out_dir: Path, sanitize: str | None = None, *, werror: bool = False
) -> Path | None:
    """Compile ``source_dir/_accel.c`` into *out_dir*; the extension's path, or None.

    Args:
        source_dir: the directory holding ``_accel.c`` and its ``_accel_*.h`` parts.
        out_dir: where the extension is written (created if missing).
        sanitize: None, or ``"address"`` for an AddressSanitizer build.
        werror: make compiler warnings errors.

    Returns:
        The extension's path; None (after printing why to stderr) when there is no C
        compiler or it failed, so that the caller can go on without the accelerator.

    Raises:
        ValueError: an unknown *sanitize* value.
    """
    if sanitize is not None and sanitize not in SANITIZERS:
        raise ValueError(f"unknown sanitizer {sanitize!r}; known: {', '.join(SANITIZERS)}")
    command = compiler()
    if command is None:
        print("meshals: no C compiler found; the accelerator is not built", file=sys.stderr)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / output_name()
    flags = ["-std=c99", "-Wall", "-Wextra", "-fPIC", "-shared", "-fvisibility=hidden"]
    if werror:
        flags.append("-Werror")
    if sanitize == "address":
        # UndefinedBehaviorSanitizer too: overflowing shifts and signed arithmetic in the
        # varint and time code are what it catches; its runtime rides along with ASan's.
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
    else:
        flags += ["-O2"]
    include = sysconfig.get_paths()["include"]
    platform_include = sysconfig.get_paths()["platinclude"]
    arguments = [
        *command,
        *flags,
        f"-I{include}",
        f"-I{platform_include}",
        f"-I{source_dir}",
        str(source_dir / SOURCE),
        "-o",
        str(target),
    ]
    if sys.platform == "darwin":
        arguments += ["-undefined", "dynamic_lookup"]
    try:
        subprocess.run(arguments, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"meshals: compiling the accelerator failed ({exc})", file=sys.stderr)
        return None
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sanitize", choices=SANITIZERS, help="build with a sanitizer")
    parser.add_argument("--werror", action="store_true", help="make warnings errors")
    parser.add_argument("--out-dir", type=Path, default=SOURCE_DIR, help="default: in place")
    args = parser.parse_args(argv)
    built = build(SOURCE_DIR, args.out_dir, args.sanitize, werror=args.werror)
    if built is None:
        return 1
    print(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
