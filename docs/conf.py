"""Sphinx configuration for the meshals documentation (``nox -s docs``).

The build is offline: no intersphinx, nothing fetched. ``nox -s docs`` runs it with ``-W -n``
(warnings are errors and every cross-reference must resolve).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # the checkout's meshals, also when it is not installed

import meshals  # noqa: E402

project = "meshals"
author = "The meshals developers"
copyright = "The meshals developers"
release = meshals.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "notebooks", "_generated"]
nitpicky = True

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Types from outside meshals: the standard library and optional third-party packages. With
# intersphinx off (the build fetches nothing) Sphinx cannot link them, so they are only named.
nitpick_ignore_regex = [
    (
        "py:(class|obj|func|exc)",
        r"(collections\.abc|typing|os|datetime|fractions|json|io|ipaddress)\..*",
    ),
    ("py:class", r"(Fraction|Traversable|importlib\..*)"),
    ("py:class", r"(google\.protobuf|pandas|networkx|prometheus_client|dask|distributed)\..*"),
    # prometheus_client's Collector protocol, as IstioMetrics.collector() annotates it.
    ("py:class", r"Collector"),
    # Generated protobuf message classes (Envoy's and SkyWalking's schemas, protos/).
    ("py:class", r"meshals\._pb\..*"),
    # Type variables of generic classes and functions (FrozenMap[K, V], merge(_M, ...)).
    ("py:class", r"((meshals\._values\.)?[KVT]|(meshals\.)?(_\w+\.)?_M)"),
]

html_theme = "furo"
html_title = f"meshals {release}"


def _public_home() -> None:
    """Document every public object where users import it from: ``meshals.X``.

    meshals defines its API in private modules (``meshals.model._metrics``) and re-exports it from
    the package; autodoc and type hints would otherwise name ``meshals.model._metrics.TlsMode``, a
    target that is not (and should not be) documented. This changes the objects of this build
    process only.
    """
    for name in meshals.__all__:
        obj = getattr(meshals, name)
        if getattr(obj, "__module__", "").startswith("meshals._") and hasattr(obj, "__qualname__"):
            obj.__module__ = "meshals"


_public_home()


def _reexported_data_docs() -> dict[str, list[str]]:
    """The ``#:`` doc comments of the public constants and type aliases, by public name.

    They are written where each is defined (``meshals.mesh._analysis.ANALYZERS``); autodoc looks
    for them in ``meshals/__init__.py``, finds none and would show the docstring of the
    value's type (``str``'s) instead.
    """
    from sphinx.pycode import ModuleAnalyzer

    public = set(meshals.__all__)
    docs: dict[str, list[str]] = {}
    for module in sorted(sys.modules):
        if not module.startswith("meshals._") or module.startswith("meshals._pb"):
            continue
        for (scope, name), lines in ModuleAnalyzer.for_module(module).find_attr_docs().items():
            if not scope and name in public:
                docs.setdefault(f"meshals.{name}", list(lines))
    return docs


_DATA_DOCS = _reexported_data_docs()


def _data_doc(*event: Any) -> None:
    _app, what, name, _obj, _options, lines = event
    if what == "data" and name.startswith("meshals.") and name.count(".") == 1:
        lines[:] = _DATA_DOCS.get(name, [])


# meshals' attribute and property docstrings are sentences ("When the connection started:
# ..."); napoleon would read the words before the colon as the attribute's type. Keep them as
# written: save the lines before napoleon runs (priority 500) and put them back after it.
_ATTRIBUTE_KINDS = {"attribute", "property", "data"}
_prose: dict[str, list[str]] = {}


def _keep_prose(*event: Any) -> None:
    _app, what, name, _obj, _options, lines = event  # autodoc-process-docstring's arguments
    if what in _ATTRIBUTE_KINDS:
        _prose[name] = list(lines)


def _restore_prose(*event: Any) -> None:
    _app, what, name, _obj, _options, lines = event
    if what in _ATTRIBUTE_KINDS and name in _prose:
        lines[:] = _prose.pop(name)


def _resolve_unqualified(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference relative to wherever it was written.

    Docstrings name things relative to the module that defines them (``:data:`UNREACHED_FLAGS```
    in ``meshals.aggregate._stats``, ``:attr:`NodeKind.UNKNOWN```); once the object is documented as
    ``meshals.X`` that context is gone. A target resolves to the one documented meshals object
    of the reference's kind whose full name ends with it (else whose last name is the target's
    last name). Zero or several candidates: unresolved, and the build fails.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].split("[", 1)[0].lstrip(".~")
    domain = env.get_domain("py")
    kinds = set(domain.objtypes_for_role(node["reftype"]) or ())
    objects = {
        full: entry
        for full, entry in domain.objects.items()
        if full.startswith("meshals")
        and not entry.aliased
        and (not kinds or entry.objtype in kinds)
    }
    last = "." + target.rsplit(".", 1)[-1]
    for suffix in ("." + target, last):
        found = [full for full in objects if full.endswith(suffix)]
        if len(found) == 1:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], found[0], node, contnode
            )
        if found:
            return None
    return None


def _draw_example(app: Any) -> None:
    """Draw the bookinfo example's service graph for the tutorial: ``_generated/bookinfo.svg``.

    Drawn by meshals' own layout, so the picture does not depend on Graphviz being installed;
    written only when it changed, so that Sphinx does not rebuild the page for nothing.
    """
    bookinfo = meshals.examples.example("bookinfo")
    metrics = meshals.analyze(bookinfo.streams(), resolver=bookinfo.resolver()).metrics()
    graph = meshals.topology(metrics)
    svg = meshals.output.to_svg(
        graph, health=meshals.aggregate.topology_health(graph), renderer="builtin"
    )
    target = Path(app.srcdir) / "_generated" / "bookinfo.svg"
    target.parent.mkdir(exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != svg:
        target.write_text(svg, encoding="utf-8")


def setup(app: Any) -> None:
    app.connect("builder-inited", _draw_example)
    app.connect("missing-reference", _resolve_unqualified)
    app.connect("autodoc-process-docstring", _data_doc, priority=50)
    app.connect("autodoc-process-docstring", _keep_prose, priority=100)
    app.connect("autodoc-process-docstring", _restore_prose, priority=900)
