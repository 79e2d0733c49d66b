"""The installed ``meshals`` as a Unix tool: ``--version``, closed pipes and Ctrl-C.

These run the console script in a subprocess, as a shell would.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sysconfig
from pathlib import Path

import pytest

from meshals import cli

SCRIPT = str(Path(sysconfig.get_path("scripts")) / "meshals")
VERSION = importlib.metadata.version("meshals")


# --- --version ----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr() == (f"meshals {VERSION}\n", "")


def test_the_installed_script_prints_its_version() -> None:
    result = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"meshals {VERSION}\n", "")
