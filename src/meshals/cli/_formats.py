"""The output formats: each ``--format`` of ``analyze`` and ``stats`` to a table or a
serialisation, and the file extensions that name each command's formats (``-o PATH``).

``table`` is the terminal's aligned text (:mod:`._tables`); the others are the output stage's
serialisations (JSON Lines, CSV, SkyWalking JSON).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Final

from meshals.output._records import SERIALISATIONS, serialise_stats

from ._otlp import OTLP_EXTENSIONS, OTLP_FORMATS
from ._tables import _stats_table

__all__: list[str] = []

#: The output formats of ``meshals analyze --format``: the table, then the serialisations
#: (line-oriented: written as the metrics are made).
FORMATS: Final = ("table", *SERIALISATIONS, *OTLP_FORMATS)

#: The output formats of ``meshals stats --format``.
STATS_FORMATS: Final = ("table", "jsonl", "csv", *OTLP_FORMATS)

#: The output formats of ``meshals graph --format``.
GRAPH_FORMATS: Final = ("table", "dot", "mermaid", "svg", "json")

#: The output formats of ``meshals identities --format``.
IDENTITIES_FORMATS: Final = ("table", "json", "jsonl")

#: The output formats of ``meshals diff --format``.
DIFF_FORMATS: Final = ("table", "jsonl", "json", "dot", "svg")

#: The output formats of ``meshals inspect --format`` (``--json`` is ``--format jsonl``).
INSPECT_FORMATS: Final = ("text", "jsonl")

_JSON_LINES: Final = {".jsonl": "jsonl", ".ndjson": "jsonl"}

#: By command, the format each file extension names: ``-o PATH`` without ``--format``
#: writes that one. SkyWalking JSON has no extension of its own (it is JSON Lines too).
EXTENSIONS: Final[dict[str, dict[str, str]]] = {
    "inspect": {".txt": "text", **_JSON_LINES},
    "analyze": {".txt": "table", **_JSON_LINES, ".csv": "csv", **OTLP_EXTENSIONS},
    "graph": {
        ".txt": "table",
        ".dot": "dot",
        ".gv": "dot",
        ".mmd": "mermaid",
        ".mermaid": "mermaid",
        ".svg": "svg",
        ".json": "json",
    },
    "stats": {".txt": "table", **_JSON_LINES, ".csv": "csv", **OTLP_EXTENSIONS},
    "metrics": {".prom": "prometheus", ".txt": "prometheus"},
    "identities": {".txt": "table", ".json": "json", **_JSON_LINES},
    "diff": {
        ".txt": "table",
        **_JSON_LINES,
        ".json": "json",
        ".dot": "dot",
        ".gv": "dot",
        ".svg": "svg",
    },
    "names": {".json": "json"},
    "policy check": {".txt": "table", **_JSON_LINES, ".json": "json"},
    "policy suggest": {".yaml": "yaml", ".yml": "yaml"},
}


def format_named_by(command: str, path: str) -> str | None:
    """The format *path*'s extension names for *command*; None for a path without one.

    Raises:
        ValueError: the extension names no format of *command* (the message lists those
            that do).

    >>> format_named_by("graph", "map.DOT"), format_named_by("graph", "map")
    ('dot', None)
    >>> format_named_by("graph", "map.png")
    Traceback (most recent call last):
    ...
    ValueError: .png names no format meshals graph writes (.txt: table, .dot or .gv: dot, \
.mmd or .mermaid: mermaid, .svg: svg, .json: json); give --format to write another name
    """
    extension = os.path.splitext(path)[1].lower()
    if not extension:
        return None
    if extension in EXTENSIONS[command]:
        return EXTENSIONS[command][extension]
    raise ValueError(
        f"{extension} names no format meshals {command} writes ({extensions_help(command)});"
        " give --format to write another name"
    )


def extensions_help(command: str) -> str:
    """The extensions of *command* and the format each names, for ``-o``'s help and errors.

    >>> extensions_help("metrics")
    '.prom or .txt: prometheus'
    """
    names = EXTENSIONS[command]
    return ", ".join(
        f"{' or '.join(ext for ext, named in names.items() if named == fmt)}: {fmt}"
        for fmt in dict.fromkeys(names.values())
    )


def render_stats(records: Sequence[Mapping[str, object]], scope: str, fmt: str) -> str:
    """Statistics records as a table, JSON Lines or CSV (``fmt`` in :data:`STATS_FORMATS`)."""
    if fmt == "table":
        return _stats_table(records, scope)
    return serialise_stats(records, scope, fmt)
