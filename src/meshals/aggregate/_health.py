"""Health of edges and nodes, like Kiali's: healthy, degraded or failing by error-rate thresholds.

Each rule looks at one error rate of a :class:`~meshals.aggregate.TrafficStats` (an edge's or node's
calls, each counted once):

=========  =============================================  ========================
rule       errors / requests                              default degraded, failing
=========  =============================================  ========================
``5xx``    HTTP and gRPC calls answered 5xx or not at  0.1 %, 10 %
           all (a reset: no response code) / all of them
``4xx``    HTTP and gRPC calls answered 4xx / all of them  10 %, 20 %
``grpc``   gRPC calls without ``grpc-status`` 0 / gRPC     0 %, 10 %
``tcp``    failed TCP connections / TCP connections        off by default
=========  =============================================  ========================

A rule applies only when its denominator is not zero. Its status is

- **failing** when ``rate > failing``;
- else **degraded** when ``rate >= degraded`` and ``rate > 0`` (no errors is always healthy,
  so a 0 % threshold means "any error degrades");
- else **healthy**.

Thresholds are exact ratios (``0.001`` is read as 1/1000, not as the nearest binary float), so
1 error in 1000 calls is degraded under the default ``5xx`` rule. The overall status is the worst
of the rules that apply, and **unknown** when none applies (no calls, or only TCP calls with the
``tcp`` rule off). A node's status is the worst of its inbound and outbound traffic's.
"""

from __future__ import annotations

import enum
from fractions import Fraction

import attrs

from meshals._errors import AggregateError
from meshals._values import FrozenMap
from meshals.model._metrics import MeshProtocol

from ._sketch import exact_fraction
from ._topology import Edge, Topology
from ._traffic import TrafficStats

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Health",
    "HealthStatus",
    "HealthThresholds",
    "NodeHealth",
    "RuleResult",
    "Threshold",
    "TopologyHealth",
    "edge_health",
    "health_of",
    "node_health",
    "topology_health",
]


class HealthStatus(enum.Enum):
    """A health verdict; :attr:`severity` orders them (unknown < healthy < degraded < failing)."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"

    @property
    def severity(self) -> int:
        """0 for unknown up to 3 for failing."""
        return _SEVERITY[self]


_SEVERITY = {
    HealthStatus.UNKNOWN: 0,
    HealthStatus.HEALTHY: 1,
    HealthStatus.DEGRADED: 2,
    HealthStatus.FAILING: 3,
}


def _worst(statuses: tuple[HealthStatus, ...]) -> HealthStatus:
    return max(statuses, key=_SEVERITY.__getitem__, default=HealthStatus.UNKNOWN)


def _ratio(value: float | int | str | Fraction) -> Fraction:
    ratio = exact_fraction(value)
    if not 0 <= ratio <= 1:
        raise AggregateError(f"a threshold must be a ratio between 0 and 1: {value!r}")
    return ratio


@attrs.frozen(kw_only=True)
class Threshold:
    """The two error-rate limits of one rule, as ratios (``0.1`` is 10 %).

    >>> rule = Threshold(degraded=0.001, failing=0.1)
    >>> rule.status(1, 1000), rule.status(0, 1000), rule.status(11, 100)
    (<HealthStatus.DEGRADED: 'degraded'>, <HealthStatus.HEALTHY: 'healthy'>, \
<HealthStatus.FAILING: 'failing'>)

    Raises:
        AggregateError: if a limit is not a number in [0, 1], or ``degraded > failing``.
    """

    degraded: Fraction = attrs.field(converter=_ratio)
    failing: Fraction = attrs.field(converter=_ratio)

    def __attrs_post_init__(self) -> None:
        if self.degraded > self.failing:
            raise AggregateError(
                f"the degraded limit {self.degraded} is above the failing limit {self.failing}"
            )

    def to_dict(self) -> dict[str, float]:
        """The two limits as floats: ``{"degraded": 0.001, "failing": 0.1}``."""
        return {"degraded": float(self.degraded), "failing": float(self.failing)}

    def status(self, errors: int, requests: int) -> HealthStatus:
        """The status of ``errors`` out of ``requests`` (unknown when ``requests`` is 0)."""
        if requests <= 0:
            return HealthStatus.UNKNOWN
        rate = Fraction(errors, requests)
        if rate > self.failing:
            return HealthStatus.FAILING
        if errors > 0 and rate >= self.degraded:
            return HealthStatus.DEGRADED
        return HealthStatus.HEALTHY


@attrs.frozen(kw_only=True)
class HealthThresholds:
    """The rules' thresholds; None switches a rule off. Defaults are Kiali's."""

    http_5xx: Threshold | None = Threshold(degraded="0.001", failing="0.1")
    http_4xx: Threshold | None = Threshold(degraded="0.1", failing="0.2")
    grpc: Threshold | None = Threshold(degraded=0, failing="0.1")
    tcp: Threshold | None = None

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict by rule name: each rule's limits as floats, or None (off).

        >>> DEFAULT_THRESHOLDS.to_dict()["5xx"]
        {'degraded': 0.001, 'failing': 0.1}
        """
        rules = (
            ("5xx", self.http_5xx),
            ("4xx", self.http_4xx),
            ("grpc", self.grpc),
            ("tcp", self.tcp),
        )
        return {name: None if limit is None else limit.to_dict() for name, limit in rules}


#: Kiali's default thresholds: 5xx 0.1 %/10 %, 4xx 10 %/20 %, gRPC 0 %/10 %; no TCP rule.
DEFAULT_THRESHOLDS = HealthThresholds()


@attrs.frozen(kw_only=True)
class RuleResult:
    """One rule's verdict.

    Attributes:
        rule: ``"5xx"``, ``"4xx"``, ``"grpc"`` or ``"tcp"``.
        errors: the calls the rule counts as errors.
        requests: the calls the rule looks at.
        status: healthy, degraded or failing.
    """

    rule: str
    errors: int
    requests: int
    status: HealthStatus

    @property
    def rate(self) -> float:
        """``errors / requests``."""
        return self.errors / self.requests


@attrs.frozen(kw_only=True)
class Health:
    """The health of some traffic: the worst status of the rules that applied.

    Attributes:
        status: the verdict (unknown when no rule applied).
        rules: the rules that applied, in the order 5xx, 4xx, grpc, tcp.
    """

    status: HealthStatus = HealthStatus.UNKNOWN
    rules: tuple[RuleResult, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {
            "status": self.status.value,
            "rules": [
                {
                    "rule": rule.rule,
                    "errors": rule.errors,
                    "requests": rule.requests,
                    "rate": rule.rate,
                    "status": rule.status.value,
                }
                for rule in self.rules
            ],
        }


def health_of(stats: TrafficStats, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> Health:
    """The health of some traffic under the thresholds (see the module docstring).

    Args:
        stats: the calls, each counted once (e.g. ``edge.combined()``).
        thresholds: the rules' limits.

    Returns:
        The verdict and each applicable rule's.

    >>> from meshals._values import FrozenMap
    >>> stats = TrafficStats(requests=100, protocols=FrozenMap({MeshProtocol.HTTP: 100}),
    ...                      response_codes=FrozenMap({200: 95, 503: 5}))
    >>> health_of(stats).status
    <HealthStatus.DEGRADED: 'degraded'>
    """
    candidates = (
        # A call with no response code was reset: it failed as surely as a 5xx did.
        ("5xx", thresholds.http_5xx, stats.errors_5xx, stats.http_requests),
        ("4xx", thresholds.http_4xx, stats.errors_4xx, stats.http_requests),
        ("grpc", thresholds.grpc, stats.grpc_errors, stats.grpc_requests),
        (
            "tcp",
            thresholds.tcp,
            stats.protocol_errors.get(MeshProtocol.TCP, 0),
            stats.protocols.get(MeshProtocol.TCP, 0),
        ),
    )
    rules = tuple(
        RuleResult(
            rule=name, errors=errors, requests=requests, status=limit.status(errors, requests)
        )
        for name, limit, errors, requests in candidates
        if limit is not None and requests > 0
    )
    return Health(status=_worst(tuple(rule.status for rule in rules)), rules=rules)


def edge_health(edge: Edge, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> Health:
    """The health of an edge's calls, each counted once (``edge.combined()``)."""
    return health_of(edge.combined(), thresholds)


@attrs.frozen(kw_only=True)
class NodeHealth:
    """The health of a node: of its inbound and outbound calls, and the worse of the two.

    Attributes:
        status: the worse of ``inbound.status`` and ``outbound.status``.
        inbound: the health of the calls made to the node.
        outbound: the health of the calls the node made.
    """

    status: HealthStatus = HealthStatus.UNKNOWN
    inbound: Health = Health()
    outbound: Health = Health()

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {
            "status": self.status.value,
            "inbound": self.inbound.to_dict(),
            "outbound": self.outbound.to_dict(),
        }


def _node_health(
    inbound: TrafficStats, outbound: TrafficStats, thresholds: HealthThresholds
) -> NodeHealth:
    inbound_health = health_of(inbound, thresholds)
    outbound_health = health_of(outbound, thresholds)
    return NodeHealth(
        status=_worst((inbound_health.status, outbound_health.status)),
        inbound=inbound_health,
        outbound=outbound_health,
    )


def node_health(
    graph: Topology, name: str, thresholds: HealthThresholds = DEFAULT_THRESHOLDS
) -> NodeHealth:
    """The health of one node of a graph (O(edges); use :func:`topology_health` for all).

    Raises:
        KeyError: if the graph has no such node.
    """
    graph.node(name)
    inbound = TrafficStats.merge_all(edge.combined() for edge in graph.inbound(name))
    outbound = TrafficStats.merge_all(edge.combined() for edge in graph.outbound(name))
    return _node_health(inbound, outbound, thresholds)


_NO_NODES: FrozenMap[str, NodeHealth] = FrozenMap()
_NO_EDGES: FrozenMap[tuple[str, str], Health] = FrozenMap()


@attrs.frozen(kw_only=True)
class TopologyHealth:
    """The health of every node and edge of a graph, in the graph's order.

    Attributes:
        nodes: each node's health, by name.
        edges: each edge's health, by ``(source, destination)``.
        thresholds: the thresholds that decided them (a picture's legend shows them).
    """

    nodes: FrozenMap[str, NodeHealth] = _NO_NODES
    edges: FrozenMap[tuple[str, str], Health] = _NO_EDGES
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS


def topology_health(
    graph: Topology, thresholds: HealthThresholds = DEFAULT_THRESHOLDS
) -> TopologyHealth:
    """The health of every node and edge of a graph (O(edges + nodes)).

    Args:
        graph: the service graph.
        thresholds: the rules' limits.

    Returns:
        Per edge the health of its combined calls; per node that of its inbound and outbound
        calls (each edge's combined calls, merged).
    """
    combined = {key: edge.combined() for key, edge in graph.edges.items()}
    inbound: dict[str, list[TrafficStats]] = {name: [] for name in graph.nodes}
    outbound: dict[str, list[TrafficStats]] = {name: [] for name in graph.nodes}
    for (source, destination), stats in combined.items():
        outbound[source].append(stats)
        inbound[destination].append(stats)
    return TopologyHealth(
        nodes=FrozenMap(
            {
                name: _node_health(
                    TrafficStats.merge_all(inbound[name]),
                    TrafficStats.merge_all(outbound[name]),
                    thresholds,
                )
                for name in graph.nodes
            }
        ),
        edges=FrozenMap({key: health_of(stats, thresholds) for key, stats in combined.items()}),
        thresholds=thresholds,
    )
