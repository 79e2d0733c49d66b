"""The API reference documents exactly the public API, each name once, where it is imported from.

``docs/reference/api/`` has one page per stage package (``model.md`` ... ``output.md``) that
documents, under ``.. currentmodule:: meshals.<package>``, exactly that package's ``__all__``.
The names only ``meshals`` exports (the exceptions) are documented under
``.. currentmodule:: meshals``; ``index.md`` lists every name of ``meshals.__all__`` in
``autosummary`` tables that link to where each is documented. The directives are written by
hand, so these tests keep them and the ``__all__`` lists in step, in both directions.
"""

from __future__ import annotations

import importlib
import re
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

import meshals
import meshals.export

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "reference" / "api"
STAGES = ("model", "codec", "capture", "resolve", "mesh", "aggregate", "output", "policy")
# Modules beside the stages with a page of their own, documented with ``automodule :members:``.
OTHER_MODULES = ("meshals.dask", "meshals.examples")

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\{eval-rst\})?")
DIRECTIVE = re.compile(r"^\.\. (?P<kind>[\w:]+)::\s*(?P<argument>[^\s(]*)")
# Directives that set the module the names after them belong to.
MODULE_DIRECTIVES = {"currentmodule", "py:currentmodule", "automodule", "py:module"}
# Directives that describe one object (a documented name, linked to from elsewhere).
OBJECT_DIRECTIVES = {
    "autoclass",
    "autoexception",
    "autofunction",
    "autodata",
    "py:class",
    "py:exception",
    "py:function",
    "py:data",
}


@dataclass(frozen=True)
class Entry:
    """One name a page documents (or, for ``autosummary``, lists), in the module it says."""

    page: str
    line: int
    module: str
    name: str
    kind: str  # the directive

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Entry]:
    return parse_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def parse_text(text: str, page: str) -> list[Entry]:
    """The names a MyST page documents in its ``{eval-rst}`` blocks, in order.

    The module is tracked as Sphinx does: ``currentmodule``, ``py:module`` and ``automodule``
    set it, and it lasts until the next of them, across blocks. A dotted argument
    (``meshals.__version__``) names its own module.
    """
    lines = text.splitlines()
    found: list[Entry] = []
    module = ""
    in_rst = False
    fence = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        fenced = FENCE.match(line)
        if fenced and not in_rst and fenced[2]:
            in_rst, fence = True, fenced[1]
        elif in_rst and line.strip() == fence:
            in_rst = False
        elif in_rst and (directive := DIRECTIVE.match(line)):
            kind, argument = directive["kind"], directive["argument"]
            start = index + 1
            options, body, index = _directive_body(lines, index + 1)
            if kind in MODULE_DIRECTIVES:
                module = argument
                members = options.get("members", "")
                found += [
                    Entry(page, start, module, name.strip(), kind)
                    for name in members.split(",")
                    if name.strip()
                ]
            elif kind in OBJECT_DIRECTIVES:
                owner, _, name = argument.rpartition(".")
                found.append(Entry(page, start, owner or module, name, kind))
            elif kind == "autosummary":
                found += [Entry(page, start, module, name, kind) for name in body]
            continue
        index += 1
    return found


def _directive_body(lines: list[str], index: int) -> tuple[dict[str, str], list[str], int]:
    """A directive's ``:option: value`` lines and the other lines of its indented body."""
    options: dict[str, str] = {}
    body: list[str] = []
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
        text = lines[index].strip()
        if option := re.match(r"^:([\w-]+):\s*(.*)$", text):
            options[option[1]] = option[2]
        elif text:
            body.append(text)
        index += 1
    return options, body, index


def api_entries() -> list[Entry]:
    return [entry for path in sorted(API.glob("*.md")) for entry in parse(path)]


def described() -> list[Entry]:
    """The object descriptions of all API pages (what ``autosummary`` only lists is left out)."""
    return [entry for entry in api_entries() if entry.kind != "autosummary"]


def names_in(module: str) -> Counter[str]:
    return Counter(entry.name for entry in described() if entry.module == module)


def stage_of(name: str) -> str | None:
    """The stage package ``meshals.<name>`` comes from, or None (``meshals`` is its home)."""
    value = getattr(meshals, name)
    for stage in STAGES:
        package = importlib.import_module(f"meshals.{stage}")
        if name in package.__all__ and getattr(package, name) is value:
            return package.__name__
    return None


def test_the_pages_are_found_and_parsed() -> None:
    pages = {path.stem for path in API.glob("*.md")}
    assert {*STAGES, "index", "errors", "dask", "examples"} <= pages
    assert len(described()) > 150
    kinds = {entry.kind for entry in api_entries()}
    assert {"autoclass", "autofunction", "autodata", "autosummary", "automodule"} <= kinds


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_page_documents_exactly_its_package(stage: str) -> None:
    package = importlib.import_module(f"meshals.{stage}")
    entries = [entry for entry in described() if entry.module == package.__name__]
    documented = Counter(entry.name for entry in entries)
    assert set(package.__all__) - set(documented) == set(), f"add to docs/reference/api/{stage}.md"
    assert set(documented) - set(package.__all__) == set(), f"not in {package.__name__}.__all__"
    assert [name for name, count in documented.items() if count > 1] == [], "documented twice"
    assert {entry.page for entry in entries} == {f"docs/reference/api/{stage}.md"}
    page = parse(API / f"{stage}.md")
    assert {entry.module for entry in page} == {package.__name__}, "a page documents one package"


def test_the_index_lists_every_top_level_name() -> None:
    listed = Counter(entry.name for entry in parse(API / "index.md") if entry.module == "meshals")
    assert set(meshals.__all__) - set(listed) == set(), "add to docs/reference/api/index.md"
    assert set(listed) - set(meshals.__all__) == set(), "not in meshals.__all__"
    assert [name for name, count in listed.items() if count > 1] == []


def test_every_top_level_name_is_documented_once_where_it_lives() -> None:
    """At its stage package (``meshals.capture.read``), else under ``meshals`` or its own page."""
    top = names_in("meshals")
    assert set(top) <= set(meshals.__all__), "only meshals.__all__ is documented as meshals.X"
    for name in meshals.__all__:
        stage = stage_of(name)
        value = getattr(meshals, name)
        if stage is not None:
            assert name not in top, f"meshals.{name} is documented at {stage}.{name}"
            assert names_in(stage)[name] == 1, f"{stage}.{name}"
        elif isinstance(value, types.ModuleType):
            assert value.__name__ in OTHER_MODULES, name
        else:
            assert top[name] == 1, f"document meshals.{name} once (errors.md or index.md)"


@pytest.mark.parametrize("module", OTHER_MODULES)
def test_a_module_page_documents_exactly_its_all(module: str) -> None:
    imported = importlib.import_module(module)
    documented = names_in(module)
    assert set(documented) == set(imported.__all__)
    assert max(documented.values()) == 1


def test_every_documented_name_is_importable_from_its_module() -> None:
    """From the module the page says, without a DeprecationWarning (the tests make it an error)."""
    for entry in api_entries():
        module = importlib.import_module(entry.module)
        assert hasattr(module, entry.name), f"{entry.where}: {entry.module}.{entry.name}"
        assert entry.name in module.__all__, f"{entry.where}: {entry.name} is not public"


def test_the_module_notes_document_nothing_public() -> None:
    """docs/reference/rules.md shows private modules; a public object belongs to its API page."""
    public = {
        id(getattr(importlib.import_module(f"meshals.{stage}"), name))
        for stage in STAGES
        for name in importlib.import_module(f"meshals.{stage}").__all__
    } | {id(getattr(meshals, name)) for name in meshals.__all__}
    for entry in parse(ROOT / "docs" / "reference" / "rules.md"):
        value = getattr(importlib.import_module(entry.module), entry.name, None)
        if isinstance(value, (type, types.FunctionType)):
            assert id(value) not in public, f"{entry.where}: {entry.name} is public"


def test_the_parser_reads_modules_names_and_lists() -> None:
    text = """
```{eval-rst}
.. currentmodule:: meshals.aggregate

.. autoclass:: Topology
   :members:
```

```{eval-rst}
.. autofunction:: red

.. py:data:: meshals.__version__

   The version.

.. automodule:: meshals.dask
   :members: summarize_files, Unit

.. currentmodule:: meshals

.. autosummary::

   read
   Reader
```
"""
    entries = [(entry.module, entry.name, entry.kind) for entry in parse_text(text, "check.md")]
    assert entries == [
        ("meshals.aggregate", "Topology", "autoclass"),
        ("meshals.aggregate", "red", "autofunction"),
        ("meshals", "__version__", "py:data"),
        ("meshals.dask", "summarize_files", "automodule"),
        ("meshals.dask", "Unit", "automodule"),
        ("meshals", "read", "autosummary"),
        ("meshals", "Reader", "autosummary"),
    ]


def test_the_changelog_lists_every_moved_name_at_its_new_place() -> None:
    """CHANGELOG.md says where each name that left ``meshals`` (or ``meshals.export``) went."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0]
    items = re.findall(
        r"^  - (?:to|from `meshals\.export` to) `([\w.]+)`[^:]*:(.*?)(?=^  - |^\s*$)",
        unreleased,
        re.M | re.S,
    )
    listed = {(package, name) for package, names in items for name in re.findall(r"`(\w+)`", names)}
    moved = {(package, name) for name, package in meshals._MOVED.items() if name != "export"}
    exported = {("meshals.output", name) for name in sorted(meshals.export._NAMES)}
    assert listed == moved | exported
