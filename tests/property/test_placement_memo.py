"""The k8s-mesh analyzer's memo of placements: remembered answers are the answers.

``EntryAnalyzer`` remembers, per analysis, which metrics an entry's reporter, cluster,
addresses and caller IP make (``meshals.mesh._k8s_mesh``). If its key missed an input the rules
read, two entries with the same key and different answers would share one: so every entry is
analysed both by one analyzer that saw all the entries before it and by a fresh analyzer that
decides from nothing, and the metrics must agree field by field: on the real recordings, and
on generated streams whose addresses, clusters and node identities come from small pools (so
that keys repeat with other inputs around them), under both semantics and endpoint options.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import meshals
from meshals import AlsMessage, ServiceMeshMetric
from meshals.mesh._accounting import SkipReason
from meshals.mesh._addresses import node_ips
from meshals.mesh._k8s_mesh import EndpointQuery, EntryAnalyzer
from meshals.mesh._semantics import Semantics
from meshals.mesh._streams import Stream
from meshals.model._als import LogEntry
from meshals.model._metrics import MetricOrigin
from meshals.model._role import Role
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import RunMemo, StaticResolver

from .test_analysis_properties import PoolResolver, _streams

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECORDINGS = sorted((FIXTURES / "envoy").glob("*.bin")) + sorted((FIXTURES / "mx").glob("*.bin"))
GROUND_TRUTH = json.loads((FIXTURES / "envoy" / "ground_truth.json").read_text(encoding="utf-8"))
RESOLVER = StaticResolver.from_mapping(GROUND_TRUTH["resolver"])

Outcome = tuple[dict[str, object], ...] | SkipReason


def _fields(outcome: tuple[ServiceMeshMetric, ...] | SkipReason) -> Outcome:
    """Every field, those outside equality (origin, request id, traceparent) too."""
    if isinstance(outcome, SkipReason):
        return outcome
    return tuple(attrs.asdict(metric, recurse=False) for metric in outcome)


def memo_against_fresh(
    streams: Iterable[Sequence[AlsMessage]],
    resolver: Resolver,
    *,
    semantics: Semantics = "meshals",
    strip: bool = False,
) -> list[Outcome]:
    """Each entry's outcome from one shared analyzer, checked against a fresh one's."""
    query: EndpointQuery = "strip" if strip else "keep"
    shared = EntryAnalyzer(RunMemo(resolver), endpoint_query=query, semantics=semantics)
    outcomes = []
    for stream in streams:
        for item in Stream(stream, reidentify=True):
            if item.identifier is None or item.role is Role.NONE:
                continue
            own_ips = node_ips(item.identifier.node)
            entries: tuple[LogEntry, ...] = item.message.entries
            for index, entry in enumerate(entries):
                origin = MetricOrigin(message_index=item.message.index, entry_index=index)
                fresh = EntryAnalyzer(resolver, endpoint_query=query, semantics=semantics)
                where = {"role": item.role, "own_ips": own_ips, "origin": origin}
                remembered = _fields(shared.analyze(entry, **where))  # type: ignore[arg-type]
                assert remembered == _fields(fresh.analyze(entry, **where))  # type: ignore[arg-type]
                outcomes.append(remembered)
    return outcomes


@pytest.mark.parametrize("semantics", ["meshals", "skywalking"])
@pytest.mark.parametrize("strip", [False, True])
def test_remembered_placements_equal_fresh_ones_on_the_recordings(
    semantics: Semantics, strip: bool
) -> None:
    streams = [list(meshals.read(path).messages()) for path in RECORDINGS]
    # Twice over: the second pass is answered from the memo throughout.
    outcomes = memo_against_fresh(streams * 2, RESOLVER, semantics=semantics, strip=strip)
    half = len(outcomes) // 2
    assert len(outcomes) == 2 * half
    made = [metrics for metrics in outcomes[:half] if not isinstance(metrics, SkipReason)]
    # as many as analyze() makes of the recordings (reidentified), counted before the memo
    assert sum(len(metrics) for metrics in made) == {"meshals": 64, "skywalking": 61}[semantics]


@pytest.mark.property
@given(
    streams=_streams(),
    semantics=st.sampled_from(["meshals", "skywalking"]),
    strip=st.booleans(),
)
def test_remembered_placements_equal_fresh_ones(
    streams: list[list[AlsMessage]], semantics: Semantics, strip: bool
) -> None:
    # Twice over, so that the second pass is answered from the memo.
    memo_against_fresh(streams * 2, PoolResolver(), semantics=semantics, strip=strip)
