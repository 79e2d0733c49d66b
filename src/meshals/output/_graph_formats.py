"""The service graph's formats, named in one place: DOT, Mermaid, SVG and networkx.

Each format lives in its own module: :mod:`~meshals.output._dot`,
:mod:`~meshals.output._mermaid`, :mod:`~meshals.output._svg` (Graphviz or the builtin layout)
and :mod:`~meshals.output._networkx`, with what they all show alike (health colours, captions,
edge labels) in :mod:`~meshals.output._graph_labels`. This module defines nothing: it names
them for the code that imports them from here (the command line).
"""

from ._dot import to_dot
from ._mermaid import to_mermaid
from ._networkx import to_networkx
from ._svg import GraphRenderError, SvgRenderer, builtin_svg, graphviz_svg, to_svg

__all__ = [
    "GraphRenderError",
    "SvgRenderer",
    "builtin_svg",
    "graphviz_svg",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "to_svg",
]
