"""Run the notebooks in ``docs/notebooks`` and store their outputs in them.

The notebooks are kept with their outputs, so that they show something where they are read
without being run; ``tests/test_notebooks.py`` checks that the stored outputs are those a run
gives now. After a change to what meshals shows (or re-recorded fixtures), run
``python tools/execute_notebooks.py`` in an environment with the ``notebooks`` dependency group
and commit the notebooks. Usage: ``python tools/execute_notebooks.py [NOTEBOOK ...]``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Any

import nbclient
import nbformat as _nbformat

# nbformat has no type hints; what it returns is used as Jupyter's JSON structure.
nbformat: Any = _nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the bundled example's captures were read from (the checkout, a virtualenv): metric
# origins name these files, and the stored outputs must not depend on the machine.
EXAMPLES_DIR = re.compile(r"[^'\"\s]*/meshals/examples/")
EXAMPLES_PLACEHOLDER = "<meshals.examples>/"


def without_local_paths(notebook: Any) -> Any:
    """*notebook* with the example captures' folder in its outputs written as a placeholder."""
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str):
                    output["data"][mime] = EXAMPLES_DIR.sub(EXAMPLES_PLACEHOLDER, value)
    return notebook


NOTEBOOKS = REPO_ROOT / "docs" / "notebooks"


def execute(path: Path) -> Any:
    """The notebook at ``path``, run from top to bottom in a scratch directory."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
        client = nbclient.NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            record_timing=False,  # timestamps would change the file on every run
            resources={"metadata": {"path": scratch}},
        )
        client.execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: docs/notebooks/*.ipynb")
    args = parser.parse_args(argv)
    for path in args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        nbformat.write(without_local_paths(execute(path)), path)
        print(f"executed {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
