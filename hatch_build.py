"""The wheel's build hook: compiles the optional C accelerator, ``meshals.codec._accel``.

hatchling runs :class:`AccelBuildHook` for every wheel (``[tool.hatch.build.targets.wheel.hooks.
custom]`` in ``pyproject.toml``). It compiles ``src/meshals/codec/_accel.c`` with the building
interpreter's own configuration (setuptools' ``build_ext``: sysconfig's compiler and flags, or MSVC
on Windows, and ``CC``/``CFLAGS`` from the environment) and

- for a wheel, puts the extension in it as ``meshals/codec/_accel<EXT_SUFFIX>`` and tags the wheel
  for this interpreter and platform;
- for an editable install (``pip install -e .``), writes it beside the source, in
  ``src/meshals/codec/`` (git-ignored), where the import finds it.

The accelerator is optional: meshals' pure-Python path gives the same results. So a build without a
C compiler, or whose compile fails, warns once and goes on as a pure wheel (``py3-none-any``);
``MESHALS_PURE_BUILD=1`` skips the compile on purpose. ``MESHALS_ACCEL_SANITIZE=address,undefined``
compiles with those sanitizers, for ``nox -s fuzz_accel`` only: such an extension loads only into an
interpreter started with the sanitizer runtime preloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "meshals.codec._accel"
# The C source, relative to the project root; it includes its parts, _accel_*.h, beside it.
SOURCE = Path("src", "meshals", "codec", "_accel.c")
HEADERS = "_accel*.h"
SKIP_VARIABLE = "MESHALS_PURE_BUILD"
SANITIZE_VARIABLE = "MESHALS_ACCEL_SANITIZE"


class AccelBuildError(Exception):
    """The extension could not be compiled; the message says why, in one line."""


def build_extension(
    root: Path, out_dir: Path, *, sanitize: str | None = None, strict: bool = False
) -> Path:
    """Compile the accelerator of the project at *root* into *out_dir*; the extension's path.

    *sanitize* is a ``-fsanitize=`` list (``"address,undefined"``; gcc and clang only): the
    extension is then built for finding bugs, unoptimised and aborting on the first report.
    *strict* (gcc and clang only) compiles as C99 with ``-Wall -Wextra`` and makes every
    warning an error: the tests hold the source to that.

    Raises:
        AccelBuildError: there is no usable C compiler, or compiling or linking failed.
    """
    # setuptools is a build requirement (pyproject's [build-system]); imported here so that the
    # hook's module loads, and says what is missing, even where it is not installed.
    try:
        from setuptools import Distribution, Extension
        from setuptools.errors import BaseError, CCompilerError
    except ImportError as exc:  # pragma: no cover -- build isolation installs it
        raise AccelBuildError(f"setuptools is not installed ({exc})") from exc
    compile_args: list[str] = ["-std=c99", "-Wall", "-Wextra", "-Werror"] if strict else []
    if sanitize:
        compile_args += [
            f"-fsanitize={sanitize}",
            # Abort on the first undefined-behaviour report, so that the fuzzer sees a crash.
            "-fno-sanitize-recover=all",
            # The comparisons' operands go to libFuzzer, which mutates towards them.
            "-fsanitize-coverage=trace-cmp",
            "-fno-omit-frame-pointer",
            "-g",
            "-O1",
        ]
        # Not linked with a sanitizer runtime: the one preloaded into the interpreter serves (gcc's
        # libasan, or atheris' asan_with_fuzzer.so, which also carries libFuzzer's coverage hooks).
    extension = Extension(
        MODULE,
        sources=[str(root / SOURCE)],
        depends=sorted(str(header) for header in (root / SOURCE.parent).glob(HEADERS)),
        extra_compile_args=compile_args,
    )
    with tempfile.TemporaryDirectory(prefix="meshals-accel-") as scratch:
        distribution = Distribution({"name": "meshals-accel", "ext_modules": [extension]})
        command: Any = distribution.get_command_obj("build_ext")
        command.build_lib = str(Path(scratch, "lib"))
        command.build_temp = str(Path(scratch, "temp"))
        try:
            command.ensure_finalized()
            command.run()
        except (BaseError, CCompilerError, OSError) as exc:
            raise AccelBuildError(f"{type(exc).__name__}: {exc}".strip()) from exc
        built = Path(command.get_ext_fullpath(MODULE))
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / built.name
        shutil.copyfile(built, target)
    return target


class AccelBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles the accelerator into the wheel, or beside the source for an editable install."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile before hatchling collects the wheel's files; see the module's docstring."""
        root = Path(self.root)
        self._scratch: str | None = None
        if os.environ.get(SKIP_VARIABLE, "") not in ("", "0"):
            self.app.display_info(f"meshals: {SKIP_VARIABLE} is set: a pure-Python wheel")
            return
        if not (root / SOURCE).is_file():
            # A checkout from before the accelerator existed, or a trimmed source tree.
            self.app.display_info(f"meshals: no {SOURCE.as_posix()}: a pure-Python wheel")
            return
        editable = version == "editable"
        if editable:
            out_dir = root / SOURCE.parent
        else:
            self._scratch = tempfile.mkdtemp(prefix="meshals-wheel-")
            out_dir = Path(self._scratch)
        try:
            built = build_extension(root, out_dir, sanitize=os.environ.get(SANITIZE_VARIABLE))
        except AccelBuildError as exc:
            self.app.display_warning(
                "meshals: the optional C accelerator was not built, so this is a pure-Python "
                "wheel: same results, slower binary decoding. To build it, install a C compiler "
                f"and Python's headers. Reason: {exc}"
            )
            return
        if editable:
            self.app.display_info(f"meshals: built {built} in place")
            return
        build_data["force_include"][str(built)] = f"meshals/codec/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the scratch directory the extension was compiled into."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
