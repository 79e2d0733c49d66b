"""The notebooks in docs/notebooks run from top to bottom and show what they promise.

Needs nbclient, nbformat and ipykernel (the ``notebooks`` dependency group, ``nox -s
notebooks``); skipped without them, unless ``MESHALS_NOTEBOOKS=required`` (as the nox session
sets it): then a missing package fails the run instead of skipping it silently.
"""

from __future__ import annotations

import importlib
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest


def _needed(name: str) -> Any:
    if os.environ.get("MESHALS_NOTEBOOKS") == "required":
        return importlib.import_module(name)
    return pytest.importorskip(name, reason="needs the notebooks dependency group")


nbformat = _needed("nbformat")
nbclient = _needed("nbclient")
_needed("ipykernel")

NOTEBOOKS = Path(__file__).parent.parent / "docs" / "notebooks"
SVG = "{http://www.w3.org/2000/svg}"


def execute(name: str, workdir: Path) -> Any:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def outputs(notebook: Any, mime: str) -> list[str]:
    return [
        output["data"][mime]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if mime in output.get("data", {})
    ]


def stream_text(notebook: Any) -> str:
    return "".join(
        output["text"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output["output_type"] == "stream"
    )


def _comparable(notebook: Any) -> list[list[tuple[str, dict[str, str]]]]:
    """Each code cell's outputs, pictures left out: Graphviz draws them where it is installed
    (and its version draws them a little differently), meshals' own layout elsewhere."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            data = {
                mime: EXAMPLES_DIR.sub("<meshals.examples>/", str(value))
                for mime, value in output.get("data", {}).items()
            }
            data = {mime: PICTURE.sub("<svg/>", value) for mime, value in data.items()}
            data.pop("image/svg+xml", None)
            outputs.append((output["output_type"], data or {"text": output.get("text", "")}))
        cells.append(outputs)
    return cells


PICTURE = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
# The folder the example's captures were read from: the checkout, or an installed copy.
EXAMPLES_DIR = re.compile(r"[^'\"\s]*/meshals/examples/")


def cell_html(notebook: Any, index: int) -> str:
    """The HTML the code cell at ``index`` (counted among code cells) shows."""
    cell = [cell for cell in notebook.cells if cell.cell_type == "code"][index]
    (output,) = cell.outputs
    return str(output["data"]["text/html"])


# Jupyter's own packages warn about their configuration paths and event loops.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bookinfo_notebook_runs_and_shows_the_values_as_html(tmp_path: Path) -> None:
    notebook = execute("bookinfo.ipynb", tmp_path)
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output["output_type"] == "error"
    ]
    assert errors == []
    assert stream_text(notebook) == ""  # every value shows itself: nothing is printed
    accounting = cell_html(notebook, 0)
    assert "<caption>accounting</caption>" in accounting
    assert '<tr><td>entries read</td><td style="text-align:right">40</td></tr>' in accounting
    assert '<tr><td>skipped</td><td style="text-align:right">none</td></tr>' in accounting
    assert "FrozenMap" not in accounting
    assert cell_html(notebook, 1).count("<tr>") == 9  # the header and 8 metrics
    graph = cell_html(notebook, 2)
    assert graph.startswith('<div><svg xmlns="http://www.w3.org/2000/svg" width="100%"')
    picture = ET.fromstring(graph[len("<div>") : graph.index("</svg></div>") + len("</svg>")])
    titles = {title.text for title in picture.iter(f"{SVG}title")}
    assert {"productpage", "reviews", "ratings", "istio-ingressgateway"} <= titles
    assert "<caption>9 services</caption>" in graph
    assert "<caption>9 edges</caption>" in graph
    assert "<td>productpage</td><td>reviews</td><td>HTTP</td><td>5</td><td>2</td>" in graph
    (chart,) = [ET.fromstring(svg) for svg in outputs(notebook, "image/svg+xml")]
    bars = [group for group in chart.iter(f"{SVG}g") if group.get("class") == "bar"]
    assert len(bars) == 9
    red = cell_html(notebook, 4)
    assert "<caption>RED by service</caption>" in red
    assert re.search(r"<td>reviews</td><td>5</td><td>2</td><td>40.0%</td>", red)
    slowest = cell_html(notebook, 5)
    assert re.search(r"<th>14</th>\s*<td>reviews</td>\s*<td>GET:/reviews/slow</td>", slowest)
    # The edges' TLS: plaintext recordings, so no mTLS and plaintext into every sidecar.
    security = cell_html(notebook, 6)
    assert re.search(
        r"<td>productpage</td>\s*<td>reviews</td>\s*<td>0.0</td>\s*<td>5</td>\s*<td>0</td>"
        r"\s*<td>5</td>",
        security,
    )
    assert cell_html(notebook, 7) == (
        "<p>no certificates: no server side logged a local or peer certificate</p>"
    )
    assert list(tmp_path.iterdir()) == []  # writes nothing


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_stored_outputs_are_those_a_run_gives(tmp_path: Path) -> None:
    # The notebook keeps its outputs (to be read without running it); refresh them with
    # python tools/execute_notebooks.py when meshals shows something else.
    stored = nbformat.read(NOTEBOOKS / "bookinfo.ipynb", as_version=4)
    assert _comparable(stored) == _comparable(execute("bookinfo.ipynb", tmp_path))
