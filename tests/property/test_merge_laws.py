"""Merge laws of the aggregates, and the sketch's percentile error bound, over generated input.

For every aggregate (traffic statistics, service graph, RED groups, latency sketch): the result
of a concatenation equals the merge of the parts' results, and merging is commutative and
associative; equal means ``==`` on the immutable results.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import Role
from meshals.aggregate._fold import fold
from meshals.aggregate._red import RedAccumulator, RedStats, red
from meshals.aggregate._sketch import LatencySketch
from meshals.aggregate._topology import Topology, TopologyAccumulator, topology
from meshals.aggregate._traffic import TrafficStats
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._service import UNKNOWN, ServiceMetaInfo

pytestmark = pytest.mark.property

T0 = 1_704_207_840_000_000_000
SERVICES = [
    UNKNOWN,
    ServiceMetaInfo(service="gateway", instance="gateway-1", namespace="istio-system"),
    ServiceMetaInfo(service="productpage", instance="productpage-1", namespace="default"),
    ServiceMetaInfo(service="productpage", instance="productpage-2", namespace="default"),
    ServiceMetaInfo(service="reviews", instance="reviews-1"),
    ServiceMetaInfo(service="PassthroughCluster", instance="PassthroughCluster"),
]

optional_ns = st.none() | st.integers(min_value=-1_000, max_value=10**11)
timings = st.builds(
    EntryTimings,
    start_time_ns=st.none() | st.integers(min_value=T0 - 10**12, max_value=T0 + 10**12),
    time_to_first_upstream_tx_byte_ns=optional_ns,
    time_to_last_upstream_rx_byte_ns=optional_ns,
    time_to_last_downstream_tx_byte_ns=optional_ns,
    duration_ns=optional_ns,
)
metrics = st.builds(
    ServiceMeshMetric,
    role=st.sampled_from(Role),
    detect_point=st.sampled_from(DetectPoint),
    protocol=st.sampled_from(MeshProtocol),
    source=st.sampled_from(SERVICES),
    destination=st.sampled_from(SERVICES),
    endpoint=st.sampled_from([None, "GET:/", "POST:/a.B/C"]),
    response_code=st.sampled_from([None, 0, 101, 200, 302, 404, 503, 504]),
    grpc_status=st.none() | st.integers(min_value=0, max_value=16),
    status=st.booleans(),
    tls_mode=st.sampled_from(TlsMode),
    response_flags=st.frozensets(st.sampled_from(ResponseFlag), max_size=3),
    timings=timings,
    received_bytes=st.none() | st.integers(min_value=0, max_value=10**9),
    sent_bytes=st.none() | st.integers(min_value=0, max_value=10**9),
)
metric_lists = st.lists(metrics, max_size=25)


@given(metric_lists, metric_lists, metric_lists)
def test_traffic_stats_merge_laws(
    a: list[ServiceMeshMetric], b: list[ServiceMeshMetric], c: list[ServiceMeshMetric]
) -> None:
    sa, sb, sc = TrafficStats.of(a), TrafficStats.of(b), TrafficStats.of(c)
    assert sa + sb == TrafficStats.of(a + b)
    assert sa + sb == sb + sa
    assert (sa + sb) + sc == sa + (sb + sc) == TrafficStats.of(a + b + c)
    assert TrafficStats.merge_all([sc, sa, sb]) == TrafficStats.of(c + a + b)


@given(metric_lists, metric_lists, metric_lists)
def test_topology_merge_laws(
    a: list[ServiceMeshMetric], b: list[ServiceMeshMetric], c: list[ServiceMeshMetric]
) -> None:
    ta, tb, tc = topology(a), topology(b), topology(c)
    assert ta + tb == topology(a + b)
    assert ta + tb == tb + ta
    assert (ta + tb) + tc == ta + (tb + tc) == topology(a + b + c)
    assert Topology.merge_all([tc, tb, ta]) == topology(a + b + c)


@given(
    metric_lists,
    metric_lists,
    metric_lists,
    st.sampled_from(["service", "instance", "endpoint"]),
    st.sampled_from([None, "1s", "1m", "1h"]),
)
def test_red_merge_laws(
    a: list[ServiceMeshMetric],
    b: list[ServiceMeshMetric],
    c: list[ServiceMeshMetric],
    scope: str,
    window: str | None,
) -> None:
    ra, rb, rc = (red(part, scope=scope, window=window) for part in (a, b, c))
    whole = red(a + b + c, scope=scope, window=window)
    assert ra + rb == red(a + b, scope=scope, window=window)
    assert ra + rb == rb + ra
    assert (ra + rb) + rc == ra + (rb + rc) == whole
    assert RedStats.merge_all([rb, rc, ra]) == whole


@given(st.lists(metrics, max_size=40), st.randoms(use_true_random=False))
def test_aggregates_do_not_depend_on_order(
    items: list[ServiceMeshMetric], rng: random.Random
) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert TrafficStats.of(shuffled) == TrafficStats.of(items)
    assert topology(shuffled) == topology(items)
    assert topology(shuffled).to_dict() == topology(items).to_dict()
    assert red(shuffled, window="1m") == red(items, window="1m")


@given(
    st.lists(metrics, max_size=40),
    st.sampled_from(["service", "instance", "endpoint", "edge"]),
    st.sampled_from([None, "1s", "1m"]),
    st.sampled_from([0.01, 0.1]),
)
def test_summarize_fold_counts_as_topology_and_red(
    items: list[ServiceMeshMetric], scope: str, window: str | None, accuracy: float
) -> None:
    # summarize counts each metric once, in its cell, and spreads the cells at the end.
    graph = TopologyAccumulator(relative_accuracy=accuracy)
    stats = RedAccumulator(scope, window=window, relative_accuracy=accuracy)
    fold(items, graph, stats)
    assert graph.result() == topology(items, relative_accuracy=accuracy)
    assert stats.result() == red(items, scope=scope, window=window, relative_accuracy=accuracy)


latency_values = st.integers(min_value=-(10**12), max_value=10**13)
accuracies = st.sampled_from([0.0001, 0.001, 0.01, 0.02, 0.05, 0.1, 0.5])


@given(
    st.lists(latency_values, max_size=30),
    st.lists(latency_values, max_size=30),
    st.lists(latency_values, max_size=30),
    accuracies,
)
def test_sketch_merge_laws(a: list[int], b: list[int], c: list[int], accuracy: float) -> None:
    def sketch(values: list[int]) -> LatencySketch:
        return LatencySketch.of(values, relative_accuracy=accuracy)

    assert sketch(a) + sketch(b) == sketch(a + b) == sketch(b) + sketch(a)
    assert (sketch(a) + sketch(b)) + sketch(c) == sketch(a) + (sketch(b) + sketch(c))
    assert sketch(a + b + c) == sketch(sorted(c + a + b))


@given(
    st.lists(latency_values, min_size=1, max_size=200),
    st.floats(min_value=0, max_value=1),
    accuracies,
)
def test_quantile_within_documented_bound(values: list[int], q: float, accuracy: float) -> None:
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(repr(q)) * len(ordered)))
    exact = ordered[rank - 1]
    estimate = LatencySketch.of(values, relative_accuracy=accuracy).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) < accuracy * abs(exact) + 0.5
