"""The service graph of service-mesh metrics: nodes (services) and directed edges (calls).

:func:`topology` folds metrics into a :class:`Topology`: one :class:`ServiceNode` per service
name seen as a source or destination, one :class:`Edge` per (source, destination) pair with
its :class:`~meshals.aggregate.ReportedTraffic` (client- and server-side observations apart;
``edge.combined()`` counts each call once), and the analysed :class:`~meshals.aggregate.Period`
that edge rates are over (:meth:`Topology.rate`). Like every aggregate here it is exact and
mergeable: ``topology(A + B) == topology(A) + topology(B)``.

A node's kind follows from what was seen of it, so it too merges exactly:

- :attr:`NodeKind.UNKNOWN`: no resolver could name it (``UNKNOWN``, or SkyWalking's empty
  name) — an outside client or an external host;
- :attr:`NodeKind.PSEUDO`: an Istio catch-all cluster name (``PassthroughCluster``,
  ``BlackHoleCluster``, ``InboundPassthroughCluster...``);
- :attr:`NodeKind.GATEWAY`: an Envoy with :attr:`~meshals.Role.PROXY` reported for it;
- :attr:`NodeKind.SERVICE`: any other named service (with a sidecar or not).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from meshals._display import html
from meshals._values import FrozenMap
from meshals.model._clusters import special_cluster_of
from meshals.model._metrics import DetectPoint, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import UNKNOWN

from ._kinds import Facts, Kind, facts_of
from ._period import NO_PERIOD, Period, PeriodAccumulator
from ._security import SecurityStats
from ._sketch import DEFAULT_RELATIVE_ACCURACY, _boundaries, check_relative_accuracy
from ._stats import ReportedAccumulator, ReportedTraffic
from ._traffic import TrafficStats

__all__ = [
    "Edge",
    "NodeKind",
    "ServiceNode",
    "Topology",
    "TopologyAccumulator",
    "topology",
]


class NodeKind(enum.Enum):
    """What a node of the service graph is (see the module docstring for the rule)."""

    SERVICE = "service"
    GATEWAY = "gateway"
    UNKNOWN = "unknown"
    PSEUDO = "pseudo"


_NO_TRAFFIC = ReportedTraffic()

# SkyWalking leaves the source name empty where the k8s-mesh analysis has no source.
_UNKNOWN_NAMES = frozenset({UNKNOWN.service, ""})


@attrs.frozen(kw_only=True)
class ServiceNode:
    """A service of the graph and what was seen of it.

    Attributes:
        name: the service name.
        instances: the instance names seen, sorted.
        namespaces: the namespaces seen, sorted (empty when the resolver gives none).
        reporter_roles: the roles of the Envoys that reported calls on this service's side
            (empty when no Envoy of its own logged anything), sorted by value.
    """

    name: str
    instances: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    reporter_roles: tuple[Role, ...] = ()

    @property
    def kind(self) -> NodeKind:
        """The node's kind, from its name and reporter roles.

        >>> ServiceNode(name="istio-ingressgateway", reporter_roles=(Role.PROXY,)).kind
        <NodeKind.GATEWAY: 'gateway'>
        >>> ServiceNode(name="PassthroughCluster").kind
        <NodeKind.PSEUDO: 'pseudo'>
        """
        if self.name in _UNKNOWN_NAMES:
            return NodeKind.UNKNOWN
        if special_cluster_of(self.name) is not None:
            return NodeKind.PSEUDO
        if Role.PROXY in self.reporter_roles:
            return NodeKind.GATEWAY
        return NodeKind.SERVICE

    @property
    def has_proxy(self) -> bool:
        """Whether an Envoy of this service reported anything (a sidecar or gateway)."""
        return bool(self.reporter_roles)

    def merge(self, other: ServiceNode) -> ServiceNode:
        """Both observations of the node (the names must be equal)."""
        return ServiceNode(
            name=self.name,
            instances=tuple(sorted({*self.instances, *other.instances})),
            namespaces=tuple(sorted({*self.namespaces, *other.namespaces})),
            reporter_roles=_sorted_roles({*self.reporter_roles, *other.reporter_roles}),
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "instances": list(self.instances),
            "namespaces": list(self.namespaces),
            "reporter_roles": [role.value for role in self.reporter_roles],
        }


def _sorted_roles(roles: Iterable[Role]) -> tuple[Role, ...]:
    return tuple(sorted(roles, key=lambda role: role.value))


@attrs.frozen(kw_only=True)
class Edge:
    """Calls from one service to another, by reporting side.

    Attributes:
        source: the calling service's name.
        destination: the called service's name.
        traffic: the calls as client-side and server-side Envoys reported them.
    """

    source: str
    destination: str
    traffic: ReportedTraffic = _NO_TRAFFIC

    @property
    def client(self) -> TrafficStats:
        """What the client side reported (Istio's ``reporter="source"``)."""
        return self.traffic.client

    @property
    def server(self) -> TrafficStats:
        """What the server side reported (Istio's ``reporter="destination"``)."""
        return self.traffic.server

    def combined(self) -> TrafficStats:
        """Each call counted once: see :meth:`~meshals.aggregate.ReportedTraffic.combined`."""
        return self.traffic.combined()

    @property
    def security(self) -> SecurityStats:
        """How the calls were secured: requests and connections by TLS mode, the mTLS share,
        the client and server principals, plaintext into a meshed workload."""
        return self.traffic.security

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {"source": self.source, "destination": self.destination, **self.traffic.to_dict()}


_NO_NODES: FrozenMap[str, ServiceNode] = FrozenMap()
_NO_EDGES: FrozenMap[tuple[str, str], Edge] = FrozenMap()


@attrs.frozen(kw_only=True)
class Topology:
    """An immutable service graph; merge with ``+``, :meth:`merge` or :meth:`merge_all`.

    Attributes:
        nodes: the nodes by name, sorted by name.
        edges: the edges by ``(source, destination)``, sorted.
        period: the analysed period: the earliest start to the latest end of every call.
    """

    nodes: FrozenMap[str, ServiceNode] = _NO_NODES
    edges: FrozenMap[tuple[str, str], Edge] = _NO_EDGES
    period: Period = NO_PERIOD

    def node(self, name: str) -> ServiceNode:
        """The node called ``name``; KeyError if there is none."""
        return self.nodes[name]

    def edge(self, source: str, destination: str) -> Edge:
        """The edge from ``source`` to ``destination``; KeyError if there is none."""
        return self.edges[source, destination]

    def rate(self, source: str, destination: str) -> float | None:
        """An edge's calls (each counted once) per second over the graph's analysed period.

        Every edge divides by the same :attr:`period`, the whole input's, as Kiali's graph
        does over its time range.

        Returns:
            The rate, or None when the period is unknown or zero. KeyError for no such edge.
        """
        return self.period.rate(self.edges[source, destination].combined().requests)

    def inbound(self, name: str) -> tuple[Edge, ...]:
        """The edges into the node ``name``, in order (O(edges))."""
        return tuple(edge for edge in self.edges.values() if edge.destination == name)

    def outbound(self, name: str) -> tuple[Edge, ...]:
        """The edges out of the node ``name``, in order (O(edges))."""
        return tuple(edge for edge in self.edges.values() if edge.source == name)

    def merge(self, other: Topology) -> Topology:
        """The graph of both inputs.

        Raises:
            AggregateError: if latency sketches of different accuracies meet.
        """
        accumulator = TopologyAccumulator()
        accumulator.add_topology(self)
        accumulator.add_topology(other)
        return accumulator.result()

    def __add__(self, other: Topology) -> Topology:
        if not isinstance(other, Topology):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(cls, topologies: Iterable[Topology]) -> Topology:
        """Merge any number of graphs (the empty graph for none).

        Raises:
            AggregateError: if latency sketches of different accuracies meet.
        """
        accumulator = TopologyAccumulator()
        for item in topologies:
            accumulator.add_topology(item)
        return accumulator.result()

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: ``nodes`` and ``edges`` (with their ``rate``) as lists, in
        order, and the analysed ``period``."""
        return {
            "nodes": [node.to_dict() for node in self.nodes.values()],
            "edges": [
                {**edge.to_dict(), "rate": self.rate(*key)} for key, edge in self.edges.items()
            ],
            "period": self.period.to_dict(),
        }

    def _repr_html_(self) -> str | None:
        """The graph as HTML tables, for notebooks."""
        return html(self)


class _NodeFacts:
    __slots__ = ("instances", "namespaces", "roles")

    def __init__(self) -> None:
        self.instances: set[str] = set()
        self.namespaces: set[str] = set()
        self.roles: set[Role] = set()


# How many distinct node facts an accumulator remembers (see _add_facts).
_SEEN_LIMIT = 4096


class TopologyAccumulator:
    """Builds a :class:`Topology` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = ("_edges", "_nodes", "_period", "_relative_accuracy", "_seen")

    def __init__(self, *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        """Start empty.

        Args:
            relative_accuracy: the latency sketches' alpha.

        Raises:
            AggregateError: if the accuracy is out of range.
        """
        self._relative_accuracy = check_relative_accuracy(relative_accuracy)
        self._nodes: dict[str, _NodeFacts] = {}
        self._edges: dict[tuple[str, str], ReportedAccumulator] = {}
        self._period = PeriodAccumulator()
        # The node facts of the metrics counted (names, instances, namespaces, side, role).
        self._seen: set[tuple[str, str, str | None, str, str, str | None, bool, str]] = set()

    def _node(self, name: str) -> _NodeFacts:
        facts = self._nodes.get(name)
        if facts is None:
            facts = self._nodes[name] = _NodeFacts()
        return facts

    def add(self, metric: ServiceMeshMetric) -> None:
        """Count one metric: its two nodes, its edge and the analysed period."""
        self._add_facts(metric, facts_of(metric, _boundaries(self._relative_accuracy)))

    def _add_facts(self, metric: ServiceMeshMetric, facts: Facts) -> None:
        # add(), the metric's facts (:mod:`._kinds`) computed already.
        self._period._stretch(facts[4], facts[5])
        self._note_nodes(metric, facts[0])
        self._edge((metric.source.service, metric.destination.service))._add_facts(facts)

    def _note_nodes(self, metric: ServiceMeshMetric, kind: Kind) -> None:
        # What the metric says of its nodes (names, instances, namespaces, and the side and
        # role of its reporter) repeats from call to call: note each distinct set once.
        source_info, destination_info = metric.source, metric.destination
        seen = (
            source_info.service,
            source_info.instance,
            source_info.namespace,
            destination_info.service,
            destination_info.instance,
            destination_info.namespace,
            kind[0],
            kind[7],
        )
        if seen not in self._seen:
            if len(self._seen) >= _SEEN_LIMIT:  # bounded: forgotten all at once when full
                self._seen.clear()
            self._seen.add(seen)
            self._add_nodes(metric)

    def _edge(self, key: tuple[str, str]) -> ReportedAccumulator:
        edge = self._edges.get(key)
        if edge is None:
            edge = self._edges[key] = ReportedAccumulator(relative_accuracy=self._relative_accuracy)
        return edge

    def _add_nodes(self, metric: ServiceMeshMetric) -> None:
        source = self._node(metric.source.service)
        destination = self._node(metric.destination.service)
        for facts, info in ((source, metric.source), (destination, metric.destination)):
            if info.instance:
                facts.instances.add(info.instance)
            if info.namespace:
                facts.namespaces.add(info.namespace)
        # The reporting Envoy stands on the destination's side for a server-side metric.
        reporter = destination if metric.detect_point is DetectPoint.SERVER else source
        reporter.roles.add(metric.role)

    def add_topology(self, graph: Topology) -> None:
        """Count everything a :class:`Topology` summarises (a merge)."""
        self._period.add_period(graph.period)
        for name, node in graph.nodes.items():
            facts = self._node(name)
            facts.instances.update(node.instances)
            facts.namespaces.update(node.namespaces)
            facts.roles.update(node.reporter_roles)
        for key, edge in graph.edges.items():
            self._edge(key).add_traffic(edge.traffic)

    def result(self) -> Topology:
        """The immutable graph counted so far."""
        nodes = {
            name: ServiceNode(
                name=name,
                instances=tuple(sorted(facts.instances)),
                namespaces=tuple(sorted(facts.namespaces)),
                reporter_roles=_sorted_roles(facts.roles),
            )
            for name, facts in sorted(self._nodes.items())
        }
        edges = {
            key: Edge(source=key[0], destination=key[1], traffic=self._edges[key].result())
            for key in sorted(self._edges)
        }
        return Topology(
            nodes=FrozenMap(nodes), edges=FrozenMap(edges), period=self._period.result()
        )


def topology(
    metrics: Iterable[ServiceMeshMetric],
    *,
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
) -> Topology:
    """The service graph of some metrics.

    Args:
        metrics: the metrics (e.g. ``meshals.analyze(...)``).
        relative_accuracy: the latency sketches' alpha (percentile error bound).

    Returns:
        The graph: a node per service name, an edge per (source, destination) pair.

    Raises:
        AggregateError: if the accuracy is out of range.
    """
    accumulator = TopologyAccumulator(relative_accuracy=relative_accuracy)
    for metric in metrics:
        accumulator.add(metric)
    return accumulator.result()
