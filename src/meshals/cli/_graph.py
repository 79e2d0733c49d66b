"""``meshals graph``: the service graph as a table (and the picture, SVG, with ``--example``),
DOT, Mermaid, SVG or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.aggregate._health import TopologyHealth, topology_health
from meshals.aggregate._topology import Topology, TopologyAccumulator, topology
from meshals.capture._detect import Container
from meshals.output._dot import to_dot
from meshals.output._graph_json import graph_json
from meshals.output._mermaid import to_mermaid
from meshals.output._svg import SvgRenderer, chosen_renderer, to_svg

from ._output import AtomicFile
from ._run import _analyze_all, _failed, _finish
from ._stderr import _PROG
from ._tables import topology_table

__all__: list[str] = []


def _graph(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``graph``: the service graph as a table, DOT, Mermaid, SVG or JSON (and the example's
    picture)."""
    # The example's picture beside its table, as the tutorial shows; never with -o.
    picture_path = None
    if args.format == "table" and args.output is None and args.example:
        picture_path = f"{args.example}.svg"
    accumulator = TopologyAccumulator()
    try:
        run = _analyze_all(
            args, container=container, summarise=topology, merge=accumulator.add_topology
        )
        graph = accumulator.result()
        health = topology_health(graph)
        text = _GRAPH_TEXT[args.format](graph, health, args.renderer)
        if picture_path is not None:
            picture = AtomicFile(picture_path)
            picture.file.write(to_svg(graph, health=health, renderer=args.renderer))
            picture.commit()
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    _finish(run)
    if args.format == "svg" or picture_path is not None:
        note_renderer(args)
    if picture_path is not None and not args.quiet:
        print(f"{_PROG}: wrote the service graph to {picture_path}", file=sys.stderr)
    return 0


def note_renderer(args: argparse.Namespace) -> None:
    """After a picture was drawn: a note on stderr when ``--renderer auto`` found no Graphviz.

    "auto" without Graphviz falls back quietly in the library; a user of the command should
    know why the picture does not look like Graphviz' (and how to get that).
    """
    if args.renderer == "auto" and not args.quiet and chosen_renderer("auto") == "builtin":
        print(
            f"{_PROG}: note: Graphviz' dot is not installed, so meshals' own layout drew the"
            " picture (for Graphviz': apt-get install graphviz, brew install graphviz)",
            file=sys.stderr,
        )


_GRAPH_TEXT: dict[str, Callable[[Topology, TopologyHealth, SvgRenderer], str]] = {
    "table": lambda graph, health, renderer: topology_table(graph, health),
    "dot": lambda graph, health, renderer: to_dot(graph, health=health),
    "mermaid": lambda graph, health, renderer: to_mermaid(graph, health=health),
    "svg": lambda graph, health, renderer: to_svg(graph, health=health, renderer=renderer),
    "json": lambda graph, health, renderer: json.dumps(graph_json(graph), indent=2) + "\n",
}
