"""The combinatorial half of the builtin layout: layers, routing chains and the order in each
column (Sugiyama's method, left to right).

Every service gets a layer; its column is ``2 * layer``, and the odd columns between hold the
edges' labels. An edge is a *chain* of items, one per column it spans: its two services and,
in between, a *bend* (where the edge passes a column) or its *label* (a box the edge passes
under, in the odd column next to the service it points to). A long edge therefore gets its
own slot in every column it crosses: no service box lies on its way. The items of each column
are then ordered to cross few edges (barycentres, then swaps of neighbours). Geometry, and
so every number in pixels, is :mod:`meshals.output._layout`'s.
"""

from __future__ import annotations

import bisect
import enum
import itertools
from collections.abc import Mapping, Sequence

import attrs

__all__: list[str] = []

_SWEEPS = 8  # down-and-up barycentre sweeps; the best order seen wins
_TRANSPOSE_ROUNDS = 4
_SMALL = 400  # items (services, bends, labels) up to which every sweep also swaps neighbours


class ItemKind(enum.Enum):
    """What occupies a slot of a column."""

    NODE = "node"
    LABEL = "label"
    BEND = "bend"


@attrs.frozen
class Item:
    """One slot of a column: a service (``name``), or an edge's label or bend (``edge``)."""

    kind: ItemKind
    column: int
    name: str = ""
    edge: tuple[str, str] = ("", "")


@attrs.frozen
class Chain:
    """One edge as the columns hold it, from its leftmost item to its rightmost.

    Attributes:
        edge: the edge's (source, destination).
        backward: the edge points right to left (it closes a cycle): its source is the
            chain's last item.
        items: the item ids, one per column from the left end's to the right end's.
    """

    edge: tuple[str, str]
    backward: bool
    items: tuple[int, ...]


@attrs.frozen
class Ordered:
    """The layered graph: the items, each column's items from top to bottom, the chains."""

    items: tuple[Item, ...]
    columns: tuple[tuple[int, ...], ...]
    chains: tuple[Chain, ...]


def _acyclic(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges that close a cycle, found depth-first from the sources first: turned round,
    they leave a graph without cycles."""
    successors: dict[str, list[str]] = {name: [] for name in names}
    has_caller: set[str] = set()
    for source, destination in edges:
        successors[source].append(destination)
        has_caller.add(destination)
    roots = [name for name in names if name not in has_caller] + list(names)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    backward: set[tuple[str, str]] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                backward.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(successors[child])))
    return backward


def _layers(names: Sequence[str], arcs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers of an acyclic graph; then a service that nobody calls moves right,
    next to its nearest callee, so that its edges stay short."""
    successors: dict[str, list[str]] = {name: [] for name in names}
    indegree = dict.fromkeys(names, 0)
    for left, right in arcs:
        successors[left].append(right)
        indegree[right] += 1
    ready = [name for name in names if indegree[name] == 0]
    layer = dict.fromkeys(names, 0)
    while ready:
        node = ready.pop(0)
        for child in successors[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    callers = {right for _, right in arcs}
    for name in names:
        if name not in callers and successors[name]:
            layer[name] = min(layer[child] for child in successors[name]) - 1
    return layer


def order(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> Ordered:
    """Layer the services, make each edge a chain and order every column.

    Args:
        names: the services, in a stable order (ties are broken by it).
        edges: the edges between two different services.

    Returns:
        The layered graph; the same input gives the same result.
    """
    backward = _acyclic(names, edges)
    arcs = [(d, s) if (s, d) in backward else (s, d) for s, d in edges]
    layer = _layers(names, arcs)
    items: list[Item] = []
    node_item: dict[str, int] = {}
    for name in sorted(names, key=lambda name: layer[name]):
        node_item[name] = len(items)
        items.append(Item(ItemKind.NODE, 2 * layer[name], name=name))
    chains = []
    for (source, destination), (left, right) in zip(edges, arcs, strict=True):
        turned = (source, destination) in backward
        first, last = 2 * layer[left], 2 * layer[right]
        label_column = first + 1 if turned else last - 1
        ids = [node_item[left]]
        for column in range(first + 1, last):
            kind = ItemKind.LABEL if column == label_column else ItemKind.BEND
            ids.append(len(items))
            items.append(Item(kind, column, edge=(source, destination)))
        ids.append(node_item[right])
        chains.append(Chain(edge=(source, destination), backward=turned, items=tuple(ids)))
    count = 1 + max((item.column for item in items), default=-1)
    columns: list[list[int]] = [[] for _ in range(count)]
    for index, item in enumerate(items):
        columns[item.column].append(index)
    links = _links(chains, len(items))
    return Ordered(
        items=tuple(items),
        columns=tuple(tuple(column) for column in _reduce_crossings(columns, links)),
        chains=tuple(chains),
    )


@attrs.frozen
class _Links:
    """Each item's neighbours in the column to its left and to its right."""

    left: tuple[tuple[int, ...], ...]
    right: tuple[tuple[int, ...], ...]


def _links(chains: Sequence[Chain], count: int) -> _Links:
    left: list[list[int]] = [[] for _ in range(count)]
    right: list[list[int]] = [[] for _ in range(count)]
    for chain in chains:
        for a, b in itertools.pairwise(chain.items):
            right[a].append(b)
            left[b].append(a)
    return _Links(left=tuple(map(tuple, left)), right=tuple(map(tuple, right)))


def _reduce_crossings(columns: list[list[int]], links: _Links) -> list[list[int]]:
    """Barycentre sweeps down and up the columns, then swaps of neighbours; the best wins."""
    best = [list(column) for column in columns]
    best_crossings = _crossings(best, links)
    current = [list(column) for column in columns]
    for _ in range(_SWEEPS):
        if best_crossings == 0:
            break
        for index in range(1, len(current)):
            _sort_by_barycentre(current, index, links.left, index - 1)
        for index in range(len(current) - 2, -1, -1):
            _sort_by_barycentre(current, index, links.right, index + 1)
        if len(links.left) <= _SMALL:
            _transpose(current, links)
        crossings = _crossings(current, links)
        if crossings < best_crossings:
            best, best_crossings = [list(column) for column in current], crossings
    if len(links.left) > _SMALL:  # once, on the best order: each round is a pass over all pairs
        _transpose(best, links)
    return best


def _sort_by_barycentre(
    columns: list[list[int]], index: int, neighbours: Sequence[tuple[int, ...]], other: int
) -> None:
    position = {item: slot for slot, item in enumerate(columns[other])}
    own = {item: slot for slot, item in enumerate(columns[index])}

    def barycentre(item: int) -> tuple[float, int]:
        linked = neighbours[item]
        if not linked:  # nothing to follow: stay where it is
            return (float(own[item]), own[item])
        return (sum(position[n] for n in linked) / len(linked), own[item])

    columns[index].sort(key=barycentre)


def _transpose(columns: list[list[int]], links: _Links) -> None:
    """Swap two neighbours of a column wherever that crosses fewer edges, until none does (or
    for a few rounds: on a big graph each round costs a pass over every pair)."""
    improved = True
    rounds = 0
    while improved and rounds < _TRANSPOSE_ROUNDS:
        improved = False
        rounds += 1
        for index, column in enumerate(columns):
            before = columns[index - 1] if index > 0 else []
            after = columns[index + 1] if index + 1 < len(columns) else []
            at_left = {item: slot for slot, item in enumerate(before)}
            at_right = {item: slot for slot, item in enumerate(after)}
            for slot in range(len(column) - 1):
                upper, lower = column[slot], column[slot + 1]
                kept = _pair_crossings(upper, lower, links, at_left, at_right)
                swapped = _pair_crossings(lower, upper, links, at_left, at_right)
                if swapped < kept:
                    column[slot], column[slot + 1] = lower, upper
                    improved = True


def _pair_crossings(
    upper: int,
    lower: int,
    links: _Links,
    at_left: Mapping[int, int],
    at_right: Mapping[int, int],
) -> int:
    """The crossings between the edges of two items of a column, ``upper`` above ``lower``."""
    count = 0
    for neighbours, position in ((links.left, at_left), (links.right, at_right)):
        for a in neighbours[upper]:
            for b in neighbours[lower]:
                if position[a] > position[b]:
                    count += 1
    return count


def _crossings(columns: Sequence[Sequence[int]], links: _Links) -> int:
    """How many pairs of links cross, over every pair of neighbouring columns."""
    total = 0
    for index in range(len(columns) - 1):
        at_right = {item: slot for slot, item in enumerate(columns[index + 1])}
        ends = [end for a in columns[index] for end in sorted(at_right[b] for b in links.right[a])]
        # Links in order of their left end; a crossing is a pair whose right ends are inverted.
        seen: list[int] = []
        for end in ends:
            total += len(seen) - bisect.bisect_right(seen, end)
            bisect.insort(seen, end)
    return total
