"""The compiled decoder's set-up: its generated field header, its build, its switches.

These run whether or not the extension is built here: the header must match the
descriptors, ``MESHALS_REQUIRE_ACCEL`` must fail loudly when the extension cannot load, and
``MESHALS_PURE`` must keep it unused.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import meshals
from meshals.codec import _compiled, _json_load

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))

import build_accel  # noqa: E402 -- a script in tools/, importable once on the path
import gen_accel_fields  # noqa: E402

PROBE = "from meshals.codec import _accelerated as a; print(a.ACCELERATED)"
# Makes `import meshals.codec._accel` fail, as where the extension was never built.
HIDDEN = "import sys; sys.modules['meshals.codec._accel'] = None; "


def test_the_field_header_matches_the_descriptors() -> None:
    assert gen_accel_fields.main(["--check"]) == 0, "run python tools/gen_accel_fields.py"


def test_the_field_header_names_the_fields_the_decoder_reads() -> None:
    text = gen_accel_fields.render()
    assert "#define PB_COMMON_START_TIME 5\n#define PB_COMMON_START_TIME_WT 2\n" in text
    assert "#define PB_COMMON_SAMPLE_RATE_WT 1\n" in text  # a double: 64-bit
    assert "#define PB_COMMON_MAX_FIELD 33\n" in text


def run(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    switches = ("MESHALS_PURE", "MESHALS_REQUIRE_ACCEL")
    env = {name: value for name, value in os.environ.items() if name not in switches}
    env.update({"PYTHONPATH": str(ROOT / "src"), **environment})
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_meshals_pure_keeps_the_extension_unused() -> None:
    result = run(PROBE, MESHALS_PURE="1", MESHALS_REQUIRE_ACCEL="1")
    assert (result.returncode, result.stdout) == (0, "False\n")


def test_require_accel_fails_loudly_without_the_extension() -> None:
    result = run(HIDDEN + PROBE, MESHALS_REQUIRE_ACCEL="1")
    assert result.returncode == 1
    assert "ImportError: MESHALS_REQUIRE_ACCEL is set, but the compiled decoder" in result.stderr


def test_without_the_extension_the_pure_path_serves() -> None:
    code = (
        HIDDEN
        + PROBE
        + "; import meshals; print(len(meshals.decode_binary(b'\\x1a\\x02\\x0a\\x00').entries))"
    )
    result = run(code)
    assert (result.returncode, result.stdout) == (0, "False\n1\n")


def test_an_unknown_sanitizer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sanitizer 'memory'"):
        build_accel.build(tmp_path, "memory")


def test_no_compiler_means_no_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CC", "no-such-compiler-meshals")
    assert build_accel.build(tmp_path) is None
    assert "meshals: the accelerator is not built: " in capsys.readouterr().err


@pytest.mark.skipif(build_accel.compiler() is None, reason="no C compiler")
def test_the_extension_builds_without_a_warning_and_loads(tmp_path: Path) -> None:
    built = build_accel.build(tmp_path, werror=True)
    assert built is not None
    assert built.name == build_accel.output_name()
    code = (
        "import importlib.util as u, sys;"
        f"s = u.spec_from_file_location('meshals.codec._accel', {str(built)!r});"
        "m = u.module_from_spec(s); s.loader.exec_module(m); sys.modules[s.name] = m;" + PROBE
    )
    result = run(code, MESHALS_REQUIRE_ACCEL="1")
    assert (result.returncode, result.stdout, result.stderr) == (0, "True\n", "")


@pytest.mark.parametrize(
    ("value", "on"), [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)]
)
def test_a_switch_is_on_unless_unset_empty_or_zero(
    value: str | None, on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MESHALS_PURE=0 and MESHALS_REQUIRE_ACCEL=0 must mean off, as an unset variable does.
    if value is None:
        monkeypatch.delenv("MESHALS_TEST_SWITCH", raising=False)
    else:
        monkeypatch.setenv("MESHALS_TEST_SWITCH", value)
    assert _compiled._switch("MESHALS_TEST_SWITCH") is on


def test_meshals_pure_keeps_the_constructors_pure() -> None:
    code = (
        "from meshals.codec import _compiled; from meshals.model import HttpEntry;"
        "from meshals.model._construct import CONSTRUCTORS;"
        "print(_compiled.EXTENSION, _compiled.COMPILED,"
        " _compiled.slot_constructor(HttpEntry) is CONSTRUCTORS[HttpEntry])"
    )
    result = run(code, MESHALS_PURE="1")
    assert (result.returncode, result.stdout) == (0, "None {} True\n")


# Reads every binary recording and analyses it, as meshals runs with the switches given.
ANALYSE_RECORDINGS = """
import pickle, sys
from pathlib import Path
import meshals
from meshals.codec import _compiled, _json_load
root = Path(sys.argv[1])
paths = sorted(root.rglob("*.bin")) + sorted(root.rglob("*.jsonl"))
streams = [list(meshals.read(path).messages()) for path in paths]
analysis = meshals.analyze(streams, resolver="auto")
metrics = analysis.metrics()
summary = meshals.summarize(streams, resolver="auto", window="1m")
diagnostics = [message.diagnostics for stream in streams for message in stream]
pure = (_compiled.EXTENSION is None, _json_load._ORJSON_LOADS is None)
result = (pure, [path.name for path in paths], list(metrics), analysis.accounting,
          summary.topology, summary.red, diagnostics)
Path(sys.argv[2]).write_bytes(pickle.dumps(result))
"""


def test_the_pure_path_analyses_the_recordings_as_the_extension_does(tmp_path: Path) -> None:
    # The whole pipeline with MESHALS_PURE=1 (pure decoders and constructors, json.loads)
    # against the default, on every binary and JSON recording: metrics, accounting, graph,
    # RED statistics and diagnostics.
    outcomes = []
    for name, switches in (("pure", {"MESHALS_PURE": "1"}), ("default", {})):
        out = tmp_path / f"{name}.pickle"
        arguments = [str(ROOT / "tests" / "fixtures" / "envoy"), str(out)]
        # The meshals this process imports (CI's is installed, with its extension; src/ has none).
        result = run(
            f"import sys; sys.argv[1:] = {arguments!r}\n{ANALYSE_RECORDINGS}",
            PYTHONPATH=str(Path(meshals.__file__).parents[1]),
            **switches,
        )
        assert result.returncode == 0, result.stderr
        outcomes.append(pickle.loads(out.read_bytes()))
    (pure_is_pure, *pure), (default_is_pure, *default) = outcomes
    assert pure_is_pure == (True, True)
    assert default_is_pure == (_compiled.EXTENSION is None, _json_load._ORJSON_LOADS is None)
    assert (len(pure[0]), len(pure[1])) == (64, 460)  # the recordings, and their metrics
    assert pure == default
