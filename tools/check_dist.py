"""Check what the built sdist and wheel hold (nox -s release): the package, its data, licences.

Usage: python tools/check_dist.py DIST_FILE...   (a .whl and a .tar.gz from python -m build)
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
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
)


def check_wheel(path: str) -> list[str]:
    """The problems of one wheel; empty when it is complete."""
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
        metadata = HeaderParser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    problems = [f"missing {name}" for name in WHEEL_REQUIRED if name not in names]
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


def check_sdist(path: str) -> list[str]:
    """The problems of one sdist; empty when it is complete."""
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    return [f"missing {name}" for name in SDIST_REQUIRED if name not in names]


def main(paths: list[str]) -> int:
    failed = False
    for path in paths:
        problems = check_wheel(path) if path.endswith(".whl") else check_sdist(path)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        print(f"{path}: {'FAILED' if problems else 'ok'}")
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
