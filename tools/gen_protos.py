"""Regenerate ``src/meshals/_pb`` from the ``.proto`` files under ``protos/``.

Run through ``nox -s protos``, which installs the pinned grpcio-tools: the generated code
depends on the generator version, and ``nox -s protos_check`` fails on any difference.

protoc writes one module per ``.proto`` into a tree mirroring the proto paths
(``meshals/wire/envoy/service/accesslog/v3/als_pb2.py``). That tree is flattened into
``src/meshals/_pb/als_pb2.py`` and its imports are rewritten into ``meshals._pb``, so the
decoder imports ``meshals._pb.als_pb2``. The registered ``.proto`` names keep their full
paths; only the Python module locations change.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "src" / "meshals" / "_pb"
PACKAGE = "meshals._pb"

INIT = '''"""Generated protobuf classes for the ALS wire schema in ``protos/``.

Do not edit: regenerate with ``nox -s protos`` (``tools/gen_protos.py``).
"""
'''

# `from meshals.wire.envoy.config.core.v3 import base_pb2 as ...` in .py and .pyi files.
_IMPORT = re.compile(r"^from meshals\.wire(?:\.\w+)* import (\w+_pb2)\b", re.MULTILINE)
# The module name that becomes the generated classes' __module__ (pickle looks it up).
_MODULE_NAME = re.compile(r"'meshals\.wire(?:\.\w+)*\.(\w+_pb2)'")


def _include_dir() -> Path:
    """grpc_tools' bundled well-known types (google/protobuf/*.proto)."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or spec.origin is None:
        raise SystemExit("grpc_tools is not installed: run `nox -s protos`")
    return Path(spec.origin).parent / "_proto"


def _proto_files() -> list[str]:
    files = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    stems = [Path(f).stem for f in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        # The output is flat, so two protos with one base name would overwrite each other.
        raise SystemExit(f"duplicate .proto base names: {', '.join(duplicates)}")
    return files


def _rewrite(text: str) -> str:
    text = _IMPORT.sub(rf"from {PACKAGE} import \1", text)
    return _MODULE_NAME.sub(rf"'{PACKAGE}.\1'", text)


def main() -> int:
    files = _proto_files()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTOS}",
                f"-I{_include_dir()}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                *files,
            ],
            check=True,
            cwd=PROTOS,
        )
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        written = [OUT / "__init__.py"]
        written[0].write_text(INIT, encoding="utf-8")
        for generated in sorted(Path(tmp).rglob("*_pb2.py*")):
            target = OUT / generated.name
            target.write_text(_rewrite(generated.read_text(encoding="utf-8")), encoding="utf-8")
            written.append(target)
    for path in sorted(written):
        print(f"wrote {path.relative_to(ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
