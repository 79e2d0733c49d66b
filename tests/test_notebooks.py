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


# Jupyter's own packages warn about their configuration paths and event loops.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bookinfo_notebook_runs_and_shows_the_graph(tmp_path: Path) -> None:
    notebook = execute("bookinfo.ipynb", tmp_path)
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output["output_type"] == "error"
    ]
    assert errors == []
    text = stream_text(notebook)
    assert "entries_in=40" in text
    assert "productpage -> reviews          5 calls, 2 errors" in text
    assert re.search(r"^reviews                  5 calls  2 errors  p99 25\d\.\d\d ms$", text, re.M)
    tables = outputs(notebook, "text/html")
    assert len(tables) == 1  # the metrics, as a table
    assert tables[0].count("<tr>") == 9  # the header and 8 metrics
    pictures = [ET.fromstring(svg) for svg in outputs(notebook, "image/svg+xml")]
    assert len(pictures) == 2  # the graph and the latency chart
    graph, chart = pictures
    titles = {title.text for title in graph.iter(f"{SVG}title")}
    assert {"productpage", "reviews", "ratings", "istio-ingressgateway"} <= titles
    bars = [group for group in chart.iter(f"{SVG}g") if group.get("class") == "bar"]
    assert len(bars) == 9
    assert list(tmp_path.iterdir()) == []  # writes nothing
