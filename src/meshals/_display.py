"""Renderings that values offer but do not own: notebook HTML and pandas frames.

An ``Analysis``, a ``Topology`` or RED statistics show themselves in Jupyter through
``_repr_html_``, yet their renderers live in :mod:`meshals.output`, above them, and a value
never imports its renderer. These single-dispatch hooks sit on the bottom floor instead: the
values call them, and :mod:`meshals.output` registers a renderer per type when it is imported
(``import meshals`` imports it, so the renderers are always there).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

__all__ = ["html", "pandas_frame"]


@functools.singledispatch
def html(value: object) -> str | None:
    """The HTML a notebook shows for *value*; None (Jupyter then shows the repr) if none is
    known."""
    return None


@functools.singledispatch
def pandas_frame(value: object) -> pandas.DataFrame:
    """A ``pandas.DataFrame`` of *value*, by the renderer :mod:`meshals.output` registers.

    Raises:
        TypeError: no renderer is registered for *value*'s type.
    """
    raise TypeError(f"no pandas rendering for {type(value).__name__}")
