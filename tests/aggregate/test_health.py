"""Health: threshold rules at their boundaries, rule selection, edges, nodes, the recordings."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import meshals
from meshals import AggregateError
from meshals._values import FrozenMap
from meshals.aggregate._health import (
    DEFAULT_THRESHOLDS,
    Health,
    HealthStatus,
    HealthThresholds,
    NodeHealth,
    RuleResult,
    Threshold,
    TopologyHealth,
    edge_health,
    health_of,
    node_health,
    topology_health,
)
from meshals.aggregate._stats import ReportedTraffic
from meshals.aggregate._topology import Edge, ServiceNode, Topology, topology
from meshals.aggregate._traffic import TrafficStats
from meshals.model._metrics import MeshProtocol
from meshals.resolve._resolvers import StaticResolver

HEALTHY = HealthStatus.HEALTHY
DEGRADED = HealthStatus.DEGRADED
FAILING = HealthStatus.FAILING
UNKNOWN = HealthStatus.UNKNOWN
HTTP = MeshProtocol.HTTP
GRPC = MeshProtocol.GRPC
TCP = MeshProtocol.TCP


def http(codes: dict[int, int], *, none: int = 0) -> TrafficStats:
    """HTTP traffic with these response codes (and ``none`` calls without a code)."""
    total = sum(codes.values()) + none
    return TrafficStats(
        requests=total, protocols=FrozenMap({HTTP: total}), response_codes=FrozenMap(codes)
    )


def grpc(statuses: dict[int, int], *, none: int = 0) -> TrafficStats:
    """gRPC traffic, all answered 200, with these gRPC statuses (and ``none`` without one)."""
    total = sum(statuses.values()) + none
    return TrafficStats(
        requests=total,
        protocols=FrozenMap({GRPC: total}),
        response_codes=FrozenMap({200: total}),
        grpc_statuses=FrozenMap(statuses),
    )


def tcp(connections: int, failed: int) -> TrafficStats:
    return TrafficStats(
        requests=connections,
        errors=failed,
        protocols=FrozenMap({TCP: connections}),
        protocol_errors=FrozenMap({TCP: failed}) if failed else FrozenMap(),
    )


# (errors, requests, expected) under the default 5xx rule: degraded >= 0.1 %, failing > 10 %.
FIVE_XX_TABLE = [
    (0, 1000, HEALTHY),
    (1, 1001, HEALTHY),  # 0.0999 %
    (1, 1000, DEGRADED),  # exactly 0.1 %: degraded (>=)
    (10, 100, DEGRADED),  # exactly 10 %: not yet failing (>)
    (11, 100, FAILING),
    (1, 9, FAILING),
    (1, 1, FAILING),
]


@pytest.mark.parametrize(("errors", "requests", "expected"), FIVE_XX_TABLE)
def test_5xx_rule(errors: int, requests: int, expected: HealthStatus) -> None:
    health = health_of(http({200: requests - errors, 503: errors}))
    assert health.status is expected
    assert health.rules[0] == RuleResult(
        rule="5xx", errors=errors, requests=requests, status=expected
    )


# Default 4xx rule: degraded >= 10 %, failing > 20 %.
FOUR_XX_TABLE = [
    (9, 100, HEALTHY),
    (10, 100, DEGRADED),
    (20, 100, DEGRADED),
    (21, 100, FAILING),
]


@pytest.mark.parametrize(("errors", "requests", "expected"), FOUR_XX_TABLE)
def test_4xx_rule(errors: int, requests: int, expected: HealthStatus) -> None:
    assert health_of(http({200: requests - errors, 404: errors})).status is expected


# Default gRPC rule: degraded from the first error (0 %), failing > 10 %.
GRPC_TABLE = [
    ({0: 1000}, 0, HEALTHY),
    ({0: 999, 14: 1}, 0, DEGRADED),
    ({0: 90, 5: 10}, 0, DEGRADED),
    ({0: 90, 5: 11}, 0, FAILING),
    ({0: 9}, 1, DEGRADED),  # a call without grpc-status is an error
    ({}, 3, FAILING),
]


@pytest.mark.parametrize(("statuses", "none", "expected"), GRPC_TABLE)
def test_grpc_rule(statuses: dict[int, int], none: int, expected: HealthStatus) -> None:
    health = health_of(grpc(statuses, none=none))
    assert health.status is expected
    assert [rule.rule for rule in health.rules] == ["5xx", "4xx", "grpc"]


def test_no_calls_is_unknown() -> None:
    assert health_of(TrafficStats()) == Health(status=UNKNOWN, rules=())


def test_tcp_only_is_unknown_unless_the_tcp_rule_is_on() -> None:
    stats = tcp(10, 1)
    assert health_of(stats) == Health(status=UNKNOWN, rules=())
    thresholds = HealthThresholds(tcp=Threshold(degraded=0.05, failing=0.5))
    assert health_of(stats, thresholds) == Health(
        status=DEGRADED, rules=(RuleResult(rule="tcp", errors=1, requests=10, status=DEGRADED),)
    )


TCP_RULE = HealthThresholds(tcp=Threshold(degraded=0.05, failing=0.5))


@pytest.mark.parametrize(
    ("stats", "rules"),
    [
        # No failed connection: the tcp rule applies, with 0 errors.
        (tcp(10, 0), (RuleResult(rule="tcp", errors=0, requests=10, status=HEALTHY),)),
        # No TCP at all: the tcp rule does not apply.
        (
            http({200: 10}),
            (
                RuleResult(rule="5xx", errors=0, requests=10, status=HEALTHY),
                RuleResult(rule="4xx", errors=0, requests=10, status=HEALTHY),
            ),
        ),
    ],
    ids=["clean-tcp", "no-tcp"],
)
def test_the_tcp_rule_counts_what_is_there(
    stats: TrafficStats, rules: tuple[RuleResult, ...]
) -> None:
    assert health_of(stats, TCP_RULE) == Health(status=HEALTHY, rules=rules)


def test_worst_rule_wins() -> None:
    stats = http({200: 85, 404: 15, 500: 0})
    health = health_of(stats)
    assert [(rule.rule, rule.status) for rule in health.rules] == [
        ("5xx", HEALTHY),
        ("4xx", DEGRADED),
    ]
    assert health.status is DEGRADED
    both = health_of(http({200: 70, 404: 15, 503: 15}))
    assert both.status is FAILING


def test_calls_without_a_code_count_as_server_errors() -> None:
    # 1 of 1000 HTTP calls answered 5xx; 10 had no response at all (reset): 11 errors.
    health = health_of(http({200: 989, 503: 1}, none=10))
    assert health.rules[0] == RuleResult(rule="5xx", errors=11, requests=1000, status=DEGRADED)
    # A reset alone, without any 5xx, still fails the edge.
    reset_only = health_of(http({}, none=1))
    assert reset_only.rules[0] == RuleResult(rule="5xx", errors=1, requests=1, status=FAILING)


def test_rules_can_be_switched_off() -> None:
    thresholds = HealthThresholds(http_5xx=None, http_4xx=None, grpc=None)
    assert health_of(http({503: 10}), thresholds).status is UNKNOWN


def test_rule_rate() -> None:
    assert RuleResult(rule="5xx", errors=1, requests=4, status=FAILING).rate == 0.25


THRESHOLD_ERRORS: list[tuple[dict[str, Any], str]] = [
    (
        {"degraded": 0.5, "failing": 0.1},
        r"^the degraded limit 1/2 is above the failing limit 1/10$",
    ),
    ({"degraded": -0.1, "failing": 0.1}, r"^a threshold must be a ratio between 0 and 1: -0\.1$"),
    ({"degraded": 0.1, "failing": 1.5}, r"^a threshold must be a ratio between 0 and 1: 1\.5$"),
    ({"degraded": "a lot", "failing": 0.1}, "a lot"),
]


@pytest.mark.parametrize(("limits", "message"), THRESHOLD_ERRORS)
def test_bad_thresholds(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(AggregateError, match=message):
        Threshold(**limits)


def test_threshold_bounds_are_inclusive() -> None:
    # Both ends of [0, 1] are ratios, and the two limits may be equal.
    assert Threshold(degraded=1, failing=1).to_dict() == {"degraded": 1.0, "failing": 1.0}
    assert Threshold(degraded=0, failing=0).to_dict() == {"degraded": 0.0, "failing": 0.0}


def test_thresholds_to_dict_by_rule_name() -> None:
    assert HealthThresholds(tcp=Threshold(degraded=0, failing=1)).to_dict() == {
        "5xx": {"degraded": 0.001, "failing": 0.1},
        "4xx": {"degraded": 0.1, "failing": 0.2},
        "grpc": {"degraded": 0.0, "failing": 0.1},
        "tcp": {"degraded": 0.0, "failing": 1.0},
    }


def test_thresholds_are_exact() -> None:
    assert DEFAULT_THRESHOLDS.http_5xx == Threshold(degraded=Fraction(1, 1000), failing=0.1)
    assert Threshold(degraded=0.001, failing=0.1).status(0, 0) is UNKNOWN


def test_severity_order() -> None:
    assert [status.severity for status in (UNKNOWN, HEALTHY, DEGRADED, FAILING)] == [0, 1, 2, 3]


# --- edges and nodes -----------------------------------------------------------------------


def edge(
    source: str,
    destination: str,
    *,
    client: TrafficStats | None = None,
    server: TrafficStats | None = None,
) -> Edge:
    return Edge(
        source=source,
        destination=destination,
        traffic=ReportedTraffic(client=client or TrafficStats(), server=server or TrafficStats()),
    )


GRAPH = Topology(
    nodes=FrozenMap({name: ServiceNode(name=name) for name in ("a", "b", "c", "idle")}),
    edges=FrozenMap(
        {
            ("a", "b"): edge("a", "b", client=http({503: 5}), server=http({200: 100})),
            ("b", "c"): edge("b", "c", client=http({200: 95, 503: 5})),
            ("c", "a"): edge("c", "a", client=grpc({0: 10})),
        }
    ),
)


def test_edge_health_uses_the_combined_calls() -> None:
    # The client saw 5 x 503 the server never did (no unreached flag): the server's view wins.
    assert edge_health(GRAPH.edge("a", "b")).status is HEALTHY
    assert edge_health(GRAPH.edge("b", "c")).status is DEGRADED
    strict = HealthThresholds(http_5xx=Threshold(degraded=0, failing=0.01))
    assert edge_health(GRAPH.edge("b", "c"), strict).status is FAILING


NODE_TABLE = [
    ("a", HEALTHY, HEALTHY, HEALTHY),
    ("b", DEGRADED, HEALTHY, DEGRADED),  # its calls to c fail at 5 %
    ("c", DEGRADED, DEGRADED, HEALTHY),
    ("idle", UNKNOWN, UNKNOWN, UNKNOWN),
]


@pytest.mark.parametrize(("name", "status", "inbound", "outbound"), NODE_TABLE)
def test_node_health(
    name: str, status: HealthStatus, inbound: HealthStatus, outbound: HealthStatus
) -> None:
    health = node_health(GRAPH, name)
    assert (health.status, health.inbound.status, health.outbound.status) == (
        status,
        inbound,
        outbound,
    )
    assert topology_health(GRAPH).nodes[name] == health


def test_node_health_of_unknown_node() -> None:
    with pytest.raises(KeyError):
        node_health(GRAPH, "zzz")


def test_topology_health() -> None:
    health = topology_health(GRAPH)
    assert list(health.nodes) == ["a", "b", "c", "idle"]
    assert {key: value.status for key, value in health.edges.items()} == {
        ("a", "b"): HEALTHY,
        ("b", "c"): DEGRADED,
        ("c", "a"): HEALTHY,
    }
    assert topology_health(Topology()) == TopologyHealth()


def test_custom_thresholds_reach_nodes_and_edges() -> None:
    strict = HealthThresholds(http_5xx=Threshold(degraded=0, failing=0.01))
    assert topology_health(GRAPH, strict).edges["b", "c"].status is FAILING
    assert node_health(GRAPH, "b", strict).status is FAILING
    # The health says which thresholds decided it (a picture's legend shows them).
    assert topology_health(GRAPH, strict).thresholds is strict
    assert topology_health(GRAPH).thresholds is DEFAULT_THRESHOLDS


def test_custom_thresholds_reach_both_directions_of_a_node() -> None:
    # c's inbound calls (from b) fail at 5 %: degraded by default, failing when strict.
    strict = HealthThresholds(http_5xx=Threshold(degraded=0, failing=0.01))
    health = node_health(GRAPH, "c", strict)
    assert (health.status, health.inbound.status, health.outbound.status) == (
        FAILING,
        FAILING,
        HEALTHY,
    )
    assert topology_health(GRAPH, strict).nodes["c"] == health


def test_to_dict() -> None:
    health = node_health(GRAPH, "b")
    assert health.to_dict() == {
        "status": "degraded",
        "inbound": {
            "status": "healthy",
            "rules": [
                {"rule": "5xx", "errors": 0, "requests": 100, "rate": 0.0, "status": "healthy"},
                {"rule": "4xx", "errors": 0, "requests": 100, "rate": 0.0, "status": "healthy"},
            ],
        },
        "outbound": {
            "status": "degraded",
            "rules": [
                {"rule": "5xx", "errors": 5, "requests": 100, "rate": 0.05, "status": "degraded"},
                {"rule": "4xx", "errors": 0, "requests": 100, "rate": 0.0, "status": "healthy"},
            ],
        },
    }
    assert NodeHealth().to_dict()["status"] == "unknown"


# --- the real recordings ---------------------------------------------------------------------

ENVOY_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"

# Edge health with the default thresholds, worked out from ground_truth.json's calls.
RECORDED_EDGE_HEALTH = {
    ("UNKNOWN", "istio-ingressgateway"): FAILING,  # 1 x 500 and 2 x 404 in 6
    ("istio-ingressgateway", "productpage"): FAILING,  # 1 x 500 in 5
    ("productpage", "UNKNOWN"): FAILING,  # the UH call, named by an unknown VIP
    ("productpage", "details"): FAILING,  # 1 x 404 in 4: 25 % > 20 %
    ("productpage", "mongodb"): UNKNOWN,  # TCP only
    ("productpage", "mysqldb"): UNKNOWN,
    ("productpage", "recommendations"): FAILING,
    ("productpage", "reviews"): FAILING,
    ("reviews", "ratings"): FAILING,  # grpc-status 5 in 4 calls
}


def test_recorded_health() -> None:
    ground_truth = json.loads((ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8"))
    resolver = StaticResolver.from_mapping(ground_truth["resolver"])
    metrics = [
        metric
        for path in sorted(ENVOY_FIXTURES.glob("*.bin"))
        for metric in meshals.analyze(meshals.read(path), resolver=resolver)
    ]
    health = topology_health(topology(metrics))
    assert {key: value.status for key, value in health.edges.items()} == RECORDED_EDGE_HEALTH
    assert health.nodes["mongodb"].status is UNKNOWN
    assert health.nodes["productpage"].status is FAILING
