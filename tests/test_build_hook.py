"""The build backend with its hook (hatch_build.py): the C accelerator in, or a pure wheel.

Each test builds with hatchling in this process (no isolated environment, so a build costs
about a compile), into a temporary directory, never into the checkout.
"""

from __future__ import annotations

import re
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest
from packaging.tags import sys_tags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
pytest.importorskip("hatchling")  # the test group installs both; a bare environment may not
pytest.importorskip("setuptools")
from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder

from hatch_build import SOURCE, AccelBuildHook

ROOT = Path(__file__).resolve().parent.parent

EXTENSION = f"_accel{sysconfig.get_config_var('EXT_SUFFIX')}"
# The parts the C source includes (#include "..."), relative to the root.
C_PARTS = sorted(
    f"{SOURCE.parent.as_posix()}/{name}"
    for name in re.findall(r'^#include "([^"]+)"', (ROOT / SOURCE).read_text(), re.MULTILINE)
)
# The tag hatchling gives a wheel built for this interpreter (its most specific one, skipping
# manylinux/musllinux as hatchling does).
PLATFORM_TAG = next(
    str(tag) for tag in sys_tags() if "manylinux" not in tag.platform and "musl" not in tag.platform
)
PURE_WARNING = (
    "meshals: the optional C accelerator was not built, so this is a pure-Python wheel: same "
    "results, slower binary decoding. To build it, install a C compiler and Python's headers. "
    "Reason: "
)


def build_wheel(root: Path, directory: Path) -> Path:
    (wheel,) = WheelBuilder(str(root)).build(directory=str(directory))
    return Path(wheel)


def wheel_facts(wheel: Path) -> tuple[str, str, list[str]]:
    """The wheel's tag, its Root-Is-Purelib, and the compiled or C files in meshals/codec."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (wheel_file,) = (name for name in names if name.endswith(".dist-info/WHEEL"))
        header = dict(
            line.split(": ", 1) for line in archive.read(wheel_file).decode().splitlines() if line
        )
    native = [
        name
        for name in names
        if name.startswith("meshals/codec/_accel") and not name.endswith((".py", ".pyi"))
    ]
    return header["Tag"], header["Root-Is-Purelib"], sorted(native)


def test_the_sdist_holds_the_sources_and_its_wheel_the_extension(tmp_path: Path) -> None:
    (sdist,) = SdistBuilder(str(ROOT)).build(directory=str(tmp_path))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        archive.extractall(tmp_path / "unpacked", filter="data")
    assert {"hatch_build.py", SOURCE.as_posix(), *C_PARTS} <= names
    assert [name for name in names if name.endswith((".so", ".pyd"))] == []
    # The wheel is built from the unpacked sdist, as pip builds one from the package index.
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    wheel = build_wheel(unpacked, tmp_path)
    assert wheel.name.endswith(f"-{PLATFORM_TAG}.whl")
    assert wheel_facts(wheel) == (PLATFORM_TAG, "false", [f"meshals/codec/{EXTENSION}"])


def test_a_failing_compiler_gives_a_pure_wheel_and_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CC", "/bin/false")
    monkeypatch.delenv("MESHALS_PURE_BUILD", raising=False)
    wheel = build_wheel(ROOT, tmp_path)
    assert wheel_facts(wheel) == ("py3-none-any", "true", [])
    warnings = [line for line in capfd.readouterr().err.splitlines() if "accelerator" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(PURE_WARNING + "CompileError: Command '['/bin/false'")
    assert warnings[0].endswith("returned non-zero exit status 1.")


def test_meshals_pure_build_skips_the_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MESHALS_PURE_BUILD", "1")
    monkeypatch.setenv("CC", "/bin/false")  # would fail the compile, were there one
    wheel = build_wheel(ROOT, tmp_path)
    assert wheel_facts(wheel) == ("py3-none-any", "true", [])
    assert capfd.readouterr().err == "meshals: MESHALS_PURE_BUILD is set: a pure-Python wheel\n"


def test_an_editable_install_builds_the_extension_in_place(tmp_path: Path) -> None:
    # A copy of the sources the hook reads: the checkout's own src/ stays as it is.
    codec = tmp_path / SOURCE.parent
    codec.mkdir(parents=True)
    for name in (SOURCE.as_posix(), *C_PARTS):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    # The hook reads neither the build configuration nor the metadata.
    unused = cast(Any, None)
    hook = AccelBuildHook(str(tmp_path), {}, unused, unused, str(tmp_path / "dist"), "wheel")
    build_data: dict[str, object] = {"force_include": {}, "pure_python": True, "infer_tag": False}
    hook.initialize("editable", build_data)
    hook.finalize("editable", build_data, str(tmp_path / "dist" / "unused.whl"))
    # In place beside the source, and nothing for the (editable) wheel to carry.
    assert sorted(path.relative_to(tmp_path).as_posix() for path in codec.iterdir()) == sorted(
        [SOURCE.as_posix(), *C_PARTS, f"{SOURCE.parent.as_posix()}/{EXTENSION}"]
    )
    assert build_data == {"force_include": {}, "pure_python": True, "infer_tag": False}
