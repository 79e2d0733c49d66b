"""Sphinx configuration for the meshals documentation (``nox -s docs``).

The build is offline: no intersphinx, nothing fetched. ``nox -s docs`` runs it with ``-W -n``
(warnings are errors and every cross-reference must resolve).
"""

from __future__ import annotations

import contextlib
import json
import re
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
    # MyST-NB: MyST Markdown (it loads myst_parser) and the notebooks in docs/notebooks, which it
    # executes during the build and shows with their outputs.
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "jupyter_execute", "**.ipynb_checkpoints"]
nitpicky = True

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Every build runs the notebooks afresh, so the pages show what this meshals makes; an error in
# a cell fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 120
nb_execution_in_temp = True  # a notebook that wrote a file would leave it in a scratch folder

autodoc_member_order = "bysource"
# The API index lists the everyday names in tables (``.. autosummary::``) that link to where
# each is documented; no stub pages are generated.
autosummary_generate = False
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
    # The OTLP message classes (opentelemetry-proto), as otlp_metrics() and otlp_traces() return.
    ("py:class", r"opentelemetry\..*|Export(Metrics|Trace)ServiceRequest|Message"),
    # prometheus_client's Collector protocol, as IstioMetrics.collector() annotates it.
    ("py:class", r"Collector"),
    # Generated protobuf message classes (Envoy's and SkyWalking's schemas, protos/).
    ("py:class", r"meshals\._pb\..*"),
    # Type variables of generic classes and functions (FrozenMap[K, V], merge(_M, ...)).
    ("py:class", r"((meshals\._values\.)?[KVT]|(meshals\.[\w.]+\.)?_M)"),
]

html_theme = "furo"
html_title = f"meshals {release}"


#: The stage packages, in the order data flows through them: each has a page in
#: docs/reference/api/ that documents exactly its ``__all__`` (tests/test_api_reference.py).
STAGES = ("model", "codec", "capture", "resolve", "mesh", "aggregate", "output")


def _owners() -> tuple[dict[str, str], dict[str, str]]:
    """The public home of every public name, and the everyday names documented in a package.

    ``OWNERS`` maps each documented full name to its module: ``meshals.<stage>.X`` for a stage's
    ``__all__``, ``meshals.X`` for the names only ``meshals`` exports (the exceptions).
    ``EVERYDAY`` maps ``meshals.X`` to the stage package it comes from (``meshals.read``:
    ``meshals.capture``).
    """
    import importlib

    owners: dict[str, str] = {}
    everyday: dict[str, str] = {}
    for stage in STAGES:
        package = importlib.import_module(f"meshals.{stage}")
        for name in package.__all__:
            owners[f"{package.__name__}.{name}"] = package.__name__
    for name in meshals.__all__:
        value = getattr(meshals, name)
        for stage in STAGES:
            if getattr(sys.modules[f"meshals.{stage}"], name, None) is value:
                everyday[f"meshals.{name}"] = f"meshals.{stage}"
                break
        else:
            owners[f"meshals.{name}"] = "meshals"
    return owners, everyday


OWNERS, EVERYDAY = _owners()


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def _public_home() -> None:
    """Document every public object where users import it from: its stage package, else ``meshals``.

    meshals defines its API in private modules (``meshals.model._metrics``) and re-exports it from
    a stage package (``meshals.model``), or from ``meshals`` itself (the exceptions); autodoc and
    type hints would otherwise name ``meshals.model._metrics.TlsMode``, a target that is not (and
    should not be) documented. This changes the objects of this build process only.
    """
    for full, home in OWNERS.items():
        obj = getattr(sys.modules[home], full.rsplit(".", 1)[1])
        module = getattr(obj, "__module__", None) or ""
        if module.startswith("meshals.") and _is_private(module) and hasattr(obj, "__qualname__"):
            obj.__module__ = home


_public_home()


def _reexported_data_docs() -> dict[str, list[str]]:
    """The ``#:`` doc comments of the public constants and type aliases, by public name.

    They are written where each is defined (``meshals.mesh._analysis.ANALYZERS``); autodoc looks
    for them in the package's ``__init__.py`` (``meshals.mesh``), finds none and would show the
    docstring of the value's type (``str``'s) instead.
    """
    from sphinx.pycode import ModuleAnalyzer

    docs: dict[str, list[str]] = {}
    homes = sorted(set(OWNERS.values()))
    for module in sorted(sys.modules):
        if not module.startswith("meshals.") or not _is_private(module) or "._pb" in module:
            continue
        if not str(getattr(sys.modules[module], "__file__", None) or "").endswith(".py"):
            continue  # the compiled decoder (meshals.codec._accel) has no source to read
        for (scope, name), lines in ModuleAnalyzer.for_module(module).find_attr_docs().items():
            value = getattr(sys.modules[module], name, None)
            for home in homes:
                full = f"{home}.{name}"
                if not scope and full in OWNERS and getattr(sys.modules[home], name) is value:
                    docs.setdefault(full, list(lines))
    return docs


_DATA_DOCS = _reexported_data_docs()


def _public_name(name: str) -> str:
    """Where ``name`` is documented: ``meshals.read`` is ``meshals.capture.read``."""
    parts = name.split(".")
    home = EVERYDAY.get(".".join(parts[:2]))
    return name if home is None else ".".join([home, *parts[1:]])


def _data_doc(*event: Any) -> None:
    _app, what, name, _obj, _options, lines = event
    name = _public_name(name)
    if what == "data" and name in OWNERS:
        lines[:] = _DATA_DOCS.get(name, [])


_OWN_MEMBER = re.compile(r":(meth|attr):`(\w+)`")


def _summary_own_members(*event: Any) -> None:
    """Qualify a class's references to its own members when the API index lists it.

    The index's ``autosummary`` tables show the first sentence of ``meshals.Topology`` outside
    the class: its ``:meth:`merge``` becomes ``meshals.aggregate.Topology.merge``. On the
    package pages (``meshals.aggregate.Topology``) the class gives that context itself.
    """
    _app, what, name, _obj, _options, lines = event
    if what == "class" and name in EVERYDAY:
        public = _public_name(name)
        lines[:] = [_OWN_MEMBER.sub(rf":\1:`~{public}.\2`", line) for line in lines]


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


def _resolve_public(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference that names a documented object another way.

    An everyday name (``meshals.read``, ``meshals.Topology.edge``) is documented once, where it
    lives (``meshals.capture.read``, ``meshals.aggregate.Topology.edge``); the name users write
    leads there.

    Docstrings name things relative to the module that defines them (``:data:`UNREACHED_FLAGS```
    in ``meshals.aggregate._stats``, ``:attr:`NodeKind.UNKNOWN```); once the object is documented
    as ``meshals.<package>.X`` that context is gone. Such a target resolves to the one documented
    meshals object of the reference's kind whose full name ends with it (else whose last name is
    the target's last name). Zero or several candidates: unresolved, and the build fails. A full
    name (``meshals....``) must be right as written: a deprecated name (``meshals.to_dot``), a
    private path of a public object (``meshals.aggregate._stats.ReportedTraffic``) or a name that
    does not exist fails the build.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].split("[", 1)[0].lstrip(".~")
    domain = env.get_domain("py")
    if target.split(".", 1)[0] == "meshals":
        public = _public_name(target)
        if public == target:
            return None
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
        )
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


def _write_if_changed(app: Any, name: str, svg: str) -> None:
    # Only when it changed, so that Sphinx does not rebuild the page for nothing.
    target = Path(app.srcdir) / "_generated" / name
    target.parent.mkdir(exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != svg:
        target.write_text(svg, encoding="utf-8")


def _picture(metrics: Any) -> str:
    graph = meshals.topology(metrics)
    return meshals.output.to_svg(
        graph, health=meshals.aggregate.topology_health(graph), renderer="builtin"
    )


def _draw_example(app: Any) -> None:
    """Draw the service graphs for the tutorial: the bookinfo example's,
    ``_generated/bookinfo.svg``, and the mutual-TLS recording's, ``_generated/bookinfo-mtls.svg``
    (named by the resolver table of its ``ground_truth.json``).

    Drawn by meshals' own layout, so the pictures do not depend on Graphviz being installed.
    """
    bookinfo = meshals.examples.example("bookinfo")
    metrics = meshals.analyze(bookinfo.streams(), resolver=bookinfo.resolver()).metrics()
    _write_if_changed(app, "bookinfo.svg", _picture(metrics))
    recording = Path(app.srcdir).parent / "tests" / "fixtures" / "envoy" / "mtls"
    truth = json.loads((recording / "ground_truth.json").read_text(encoding="utf-8"))
    resolver = meshals.StaticResolver.from_json(json.dumps(truth["resolver"]).encode())
    with contextlib.ExitStack() as stack:
        streams = [
            stack.enter_context(meshals.read(path)) for path in sorted(recording.glob("*.bin"))
        ]
        metrics = meshals.analyze(streams, resolver=resolver).metrics()
    _write_if_changed(app, "bookinfo-mtls.svg", _picture(metrics))


def setup(app: Any) -> None:
    app.connect("builder-inited", _draw_example)
    app.connect("missing-reference", _resolve_public)
    app.connect("autodoc-process-docstring", _data_doc, priority=50)
    app.connect("autodoc-process-docstring", _summary_own_members, priority=50)
    app.connect("autodoc-process-docstring", _keep_prose, priority=100)
    app.connect("autodoc-process-docstring", _restore_prose, priority=900)
