"""The output formats of ``analyze`` and ``stats``: each ``--format`` to a table or a serialisation.

``table`` is the terminal's aligned text (:mod:`._tables`); the others are the output stage's
serialisations (JSON Lines, CSV, SkyWalking JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from meshals.model._metrics import ServiceMeshMetric
from meshals.output._records import SERIALISATIONS, serialise_stats

from ._tables import _stats_table, _table

__all__: list[str] = []

#: The output formats of ``meshals analyze --format``: the table, then the serialisations
#: (line-oriented: written as the metrics are made).
FORMATS: Final = ("table", *SERIALISATIONS)

#: The output formats of ``meshals stats --format``.
STATS_FORMATS: Final = ("table", "jsonl", "csv")


def render(metrics: Sequence[ServiceMeshMetric], fmt: str) -> str:
    """The whole output for *metrics* in format *fmt* (one of :data:`FORMATS`)."""
    if fmt == "table":
        return _table(metrics)
    return SERIALISATIONS[fmt].whole(metrics)


def render_stats(records: Sequence[Mapping[str, object]], scope: str, fmt: str) -> str:
    """Statistics records as a table, JSON Lines or CSV (``fmt`` in :data:`STATS_FORMATS`)."""
    if fmt == "table":
        return _stats_table(records, scope)
    return serialise_stats(records, scope, fmt)
