"""``import meshals`` loads no network modules and no bundled example until they are used."""

from __future__ import annotations

import json
import subprocess
import sys

import meshals

# xml.sax.saxutils pulled in urllib.request and, through it, these; examples loaded eagerly.
_NOT_AT_IMPORT = ("ssl", "socket", "http.client", "urllib.request", "meshals.examples")


def _loaded_after(code: str) -> dict[str, bool]:
    """Which of the modules above a fresh interpreter has loaded after running *code*."""
    report = f"print(json.dumps({{m: m in sys.modules for m in {_NOT_AT_IMPORT!r}}}))"
    probe = f"{code}\nimport json, sys\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded: dict[str, bool] = json.loads(result.stdout)
    return loaded


def test_import_meshals_loads_neither_the_network_stack_nor_the_examples() -> None:
    assert _loaded_after("import meshals") == dict.fromkeys(_NOT_AT_IMPORT, False)


def test_the_svg_and_notebook_outputs_need_no_network_modules_either() -> None:
    code = (
        "import meshals\n"
        "graph = meshals.topology([])\n"
        "assert meshals.output.to_svg(graph, renderer='builtin').startswith('<?xml')\n"
        "assert graph._repr_html_()\n"
    )
    assert _loaded_after(code) == dict.fromkeys(_NOT_AT_IMPORT, False)


def test_examples_load_on_first_use() -> None:
    assert _loaded_after("import meshals\nmeshals.examples.example('bookinfo')") == {
        **dict.fromkeys(_NOT_AT_IMPORT, False),
        "meshals.examples": True,
    }
    assert _loaded_after("from meshals import examples") == {
        **dict.fromkeys(_NOT_AT_IMPORT, False),
        "meshals.examples": True,
    }


def test_examples_is_still_the_module_and_listed() -> None:
    from meshals import examples

    assert meshals.examples is examples
    assert examples.__name__ == "meshals.examples"
    assert "examples" in meshals.__all__
    assert "examples" in dir(meshals)
