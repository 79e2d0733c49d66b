"""Summarize's fold (each metric counted once, in its cell) against topology() and red().

``summarize`` counts a metric once, in its cell, and adds the cells to the edges and RED
groups; the graph and the statistics must be what :func:`topology` and :func:`red` give when
each counts every metric itself: on every recording, for every scope, window and accuracy,
across batch boundaries and cells forgotten when full, with the metrics left out of the RED
groups counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import meshals
from meshals.aggregate import _fold
from meshals.aggregate._red import RedAccumulator, red
from meshals.aggregate._summary import summarize
from meshals.aggregate._topology import TopologyAccumulator, topology
from meshals.mesh._analysis import analyze
from meshals.model._metrics import ServiceMeshMetric

FIXTURES = Path(__file__).parents[1] / "fixtures"

# Each recording with the settings that name its workloads.
RECORDINGS: dict[str, tuple[list[Path], dict[str, Any]]] = {
    "envoy": (sorted((FIXTURES / "envoy").glob("*.bin")), {"resolver": "auto"}),
    "mtls": (sorted((FIXTURES / "envoy" / "mtls").glob("*.bin")), {"resolver": "auto"}),
    "reconnect": (sorted((FIXTURES / "envoy" / "reconnect").glob("*.bin*")), {"resolver": "auto"}),
    "mx": (
        sorted((FIXTURES / "mx").glob("*.bin")),
        {"resolver": "auto", "analyzers": ("mx-mesh", "k8s-mesh")},
    ),
    "ztunnel": ([FIXTURES / "ztunnel" / "ambient-bookinfo.log"], {"resolver": "auto"}),
}
SCOPES = ("service", "instance", "endpoint", "edge")
WINDOWS = (None, "1s", "1m")


def _streams(paths: list[Path]) -> list[Any]:
    return [meshals.read(path) for path in paths]


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("window", WINDOWS)
def test_summarize_equals_topology_and_red(recording: str, scope: str, window: str | None) -> None:
    paths, settings = RECORDINGS[recording]
    assert paths
    metrics = analyze(_streams(paths), **settings).metrics()
    assert metrics
    for accuracy in (0.01, 0.05):
        summary = summarize(
            _streams(paths), scope=scope, window=window, relative_accuracy=accuracy, **settings
        )
        assert summary.topology == topology(metrics, relative_accuracy=accuracy)
        assert summary.red == red(metrics, scope=scope, window=window, relative_accuracy=accuracy)
        assert summary.to_dict()["red"] == summary.red.to_dict()


def _fold_both(
    metrics: list[ServiceMeshMetric], scope: str, window: str | None
) -> tuple[TopologyAccumulator, RedAccumulator]:
    graph, stats = TopologyAccumulator(), RedAccumulator(scope, window=window)
    _fold.fold(metrics, graph, stats)
    return graph, stats


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("batch", "cells"), [(7, 4096), (256, 2), (7, 5)])
def test_batches_and_forgetting_cells_change_nothing(
    monkeypatch: pytest.MonkeyPatch, scope: str, batch: int, cells: int
) -> None:
    metrics = analyze(_streams(RECORDINGS["envoy"][0]), resolver="auto").metrics()
    whole = _fold_both(metrics, scope, "1s")
    monkeypatch.setattr(_fold, "_BATCH", batch)
    monkeypatch.setattr(_fold, "_COMPILED_BATCH", batch)
    monkeypatch.setattr(_fold, "_CELL_LIMIT", cells)
    assert len(metrics) > 7 * 3
    graph, stats = _fold_both(metrics, scope, "1s")
    assert graph.result() == whole[0].result() == topology(metrics)
    assert stats.result() == whole[1].result() == red(metrics, scope=scope, window="1s")


def test_left_out_metrics_still_count_in_the_graph_and_period() -> None:
    # TCP calls have no endpoint: out of every endpoint group, in their edges and the period.
    metrics = analyze(_streams(RECORDINGS["envoy"][0]), resolver="auto").metrics()
    tcp = [metric for metric in metrics if metric.endpoint is None]
    assert len(tcp) == 5
    graph, stats = _fold_both(metrics, "endpoint", None)
    result = stats.result()
    assert result.left_out == 5
    assert result.period == graph.result().period == topology(metrics).period
    assert result == red(metrics, scope="endpoint")
    assert sum(edge.traffic.client.requests for edge in graph.result().edges.values()) + sum(
        edge.traffic.server.requests for edge in graph.result().edges.values()
    ) == len(metrics)


def test_folding_on_after_a_merge() -> None:
    # The accumulators may hold counts already (a merge): the fold adds to them.
    metrics = analyze(_streams(RECORDINGS["envoy"][0]), resolver="auto").metrics()
    half = len(metrics) // 2
    graph, stats = TopologyAccumulator(), RedAccumulator("edge", window="1m")
    graph.add_topology(topology(metrics[:half]))
    stats.add_stats(red(metrics[:half], scope="edge", window="1m"))
    _fold.fold(metrics[half:], graph, stats)
    assert graph.result() == topology(metrics)
    assert stats.result() == red(metrics, scope="edge", window="1m")
