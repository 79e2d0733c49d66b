"""Check what the built sdist and wheel hold (nox -s release): the package, its data, licences.

Usage: python tools/check_dist.py [--require-accel] DIST_FILE...   (from python -m build)

A wheel either holds the compiled accelerator (``meshals/codec/_accel<EXT_SUFFIX>``) and is
tagged for one interpreter and platform, or holds none and is ``py3-none-any``; with
``--require-accel`` it must hold it.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser

# Paths every wheel must hold (relative to its root) and none it may hold.
WHEEL_REQUIRED = (
    "meshals/__init__.py",
    "meshals/py.typed",
    "meshals/_pb/als_pb2.py",
    "meshals/_pb/als_pb2.pyi",
    "meshals/examples/bookinfo/resolver.json",
    *(
        f"meshals/{package}/__init__.py"
        for package in (
            "model",
            "codec",
            "capture",
            "resolve",
            "mesh",
            "aggregate",
            "output",
            "cli",
        )
    ),
)
WHEEL_FORBIDDEN_PREFIXES = ("tests/", "tools/", "benchmarks/", "docs/", "protos/")
# Paths every sdist must hold, relative to its top folder.
SDIST_REQUIRED = (
    "LICENSE",
    "NOTICE",
    "README.md",
    "CHANGELOG.md",
    "pyproject.toml",
    "noxfile.py",
    "constraints/dev.txt",
    "src/meshals/__init__.py",
    "protos/README.md",
    "tests/fixtures/skywalking/envoy-ingress.msg",
    # The accelerator builds from the sdist: its C source (and what it includes), the build hook.
    "hatch_build.py",
    "src/meshals/codec/_accel.c",
)
_ACCEL_SOURCE = "src/meshals/codec/_accel.c"
# Built files: no sdist holds them, and a wheel only its own accelerator.
_COMPILED = (".so", ".pyd", ".dylib", ".o", ".obj")
_ACCEL = "meshals/codec/_accel."


def check_wheel(path: str, *, require_accel: bool = False) -> list[str]:
    """The problems of one wheel; empty when it is complete."""
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
        metadata = HeaderParser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
        wheel_file = HeaderParser().parsestr(wheel.read(f"{dist_info}/WHEEL").decode())
    problems = [f"missing {name}" for name in WHEEL_REQUIRED if name not in names]
    problems += _accel_problems(names, wheel_file, require_accel=require_accel)
    problems += [f"holds {name}" for name in names if name.startswith(WHEEL_FORBIDDEN_PREFIXES)]
    problems += [
        f"missing {dist_info}/licenses/{name}"
        for name in ("LICENSE", "NOTICE")
        if f"{dist_info}/licenses/{name}" not in names
    ]
    if not any(
        name.startswith("meshals/examples/bookinfo/") and name.endswith(".bin") for name in names
    ):
        problems.append("no bundled example capture (meshals/examples/bookinfo/*.bin)")
    if metadata.get("License-Expression") != "Apache-2.0":
        problems.append(f"License-Expression is {metadata.get('License-Expression')!r}")
    if not metadata.get_all("License-File"):
        problems.append("METADATA names no License-File")
    return problems


def _accel_problems(names: set[str], wheel_file: Message, *, require_accel: bool) -> list[str]:
    """A compiled accelerator and a platform tag go together; C sources stay in the sdist."""
    compiled = sorted(name for name in names if name.endswith(_COMPILED))
    problems = [f"holds {name}" for name in compiled if not name.startswith(_ACCEL)]
    problems += [f"holds the C source {name}" for name in names if name.endswith((".c", ".h"))]
    tags = wheel_file.get_all("Tag") or []
    pure = wheel_file.get("Root-Is-Purelib") == "true"
    if any(name.startswith(_ACCEL) for name in compiled):
        if pure or any(tag.endswith("-none-any") for tag in tags):
            problems.append(f"holds the compiled accelerator but is tagged {tags} (pure: {pure})")
    elif require_accel:
        problems.append("no compiled accelerator (meshals/codec/_accel.*): was it built?")
    elif tags != ["py3-none-any"] or not pure:
        problems.append(f"pure Python but tagged {tags} (pure: {pure})")
    return problems


def check_sdist(path: str) -> list[str]:
    """The problems of one sdist; empty when it is complete."""
    with tarfile.open(path) as sdist:
        members = {member.name.split("/", 1)[1]: member for member in sdist if "/" in member.name}
        source = sdist.extractfile(members[_ACCEL_SOURCE]) if _ACCEL_SOURCE in members else None
        included = re.findall(rb'^#include "([^"]+)"', source.read() if source else b"", re.M)
    names = set(members)
    required = [*SDIST_REQUIRED, *(f"src/meshals/codec/{name.decode()}" for name in included)]
    problems = [f"missing {name}" for name in required if name not in names]
    return problems + [f"holds {name}" for name in sorted(names) if name.endswith(_COMPILED)]


def main(arguments: list[str]) -> int:
    require_accel = "--require-accel" in arguments
    paths = [argument for argument in arguments if argument != "--require-accel"]
    failed = False
    for path in paths:
        if path.endswith(".whl"):
            problems = check_wheel(path, require_accel=require_accel)
        else:
            problems = check_sdist(path)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        print(f"{path}: {'FAILED' if problems else 'ok'}")
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
