"""The installed distribution: its licence files and metadata, and the entry point it installs."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sysconfig
from pathlib import Path

DISTRIBUTION = importlib.metadata.distribution("meshals")


def test_the_licence_is_apache_2_with_its_notice() -> None:
    assert DISTRIBUTION.metadata["License-Expression"] == "Apache-2.0"
    assert sorted(DISTRIBUTION.metadata.get_all("License-File") or []) == ["LICENSE", "NOTICE"]
    files = {file.name: file for file in DISTRIBUTION.files or () if "licenses" in file.parts}
    assert sorted(files) == ["LICENSE", "NOTICE"]
    assert "Apache License\n" in files["LICENSE"].read_text()
    notice = files["NOTICE"].read_text()
    for upstream in ("data-plane-api", "cncf/xds", "skywalking-data-collect-protocol"):
        assert upstream in notice


def test_the_console_script_is_the_cli_entrypoint() -> None:
    (script,) = (point for point in DISTRIBUTION.entry_points if point.group == "console_scripts")
    assert (script.name, script.value) == ("meshals", "meshals.cli:entrypoint")


def test_the_installed_entry_point_runs() -> None:
    executable = Path(sysconfig.get_path("scripts")) / "meshals"
    result = subprocess.run(
        [str(executable), "inspect", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: meshals inspect")


def test_the_docs_install_meshals_from_a_checkout_or_a_wheel() -> None:
    # meshals is not on the package index: "pip install meshals" fails (or finds another).
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    told = [
        f"{page.relative_to(root)}: {line.strip()}"
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if re.search(r"pip install [\"']?meshals\b(?!\.)", line) and "fails" not in line
    ]
    assert told == []
