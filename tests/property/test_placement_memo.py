"""The k8s-mesh analyzer's memo of placements: remembered answers are the answers.

``EntryAnalyzer`` remembers, per analysis, which metrics an entry's reporter, cluster,
addresses and caller IP make (``meshals.mesh._k8s_mesh``). If its key missed an input the rules
read, two entries with the same key and different answers would share one: so every entry is
analysed both by one analyzer that saw all the entries before it and by a fresh analyzer that
decides from nothing (and resolves the caller per entry, by IP and port), and the metrics must
agree field by field: on the real recordings; on the recorded entries again with each field of
their common properties changed, one at a time, to the other values the recordings hold, and
under every recorded reporter (a key that left out any input the placement depends on would
answer one of these from the memo wrongly: leaving out the upstream address fails here); and
on generated streams whose addresses, clusters and node identities come from small pools.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

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
from meshals.model._als import AccessLogCommon, LogEntry
from meshals.model._metrics import MetricOrigin
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo
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


class _Opaque:
    """*resolver* behind a type reads_ports() does not know: the caller is resolved per entry,
    by IP and port, as the rules say, even where the shared analyzer asks by IP alone."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        return self._resolver.resolve(ip, port)


# An entry as an analyzer is asked about it: (role, the node's own IPs, entry, origin).
Case = tuple[Role, tuple[str, ...], LogEntry, MetricOrigin]


def cases_of(streams: Iterable[Sequence[AlsMessage]]) -> list[Case]:
    """Every entry of *streams* an analysis hands its analyzers, in order."""
    cases: list[Case] = []
    for stream in streams:
        for item in Stream(stream, reidentify=True):
            if item.identifier is None or item.role is Role.NONE:
                continue
            own_ips = node_ips(item.identifier.node)
            entries: tuple[LogEntry, ...] = item.message.entries
            for index, entry in enumerate(entries):
                origin = MetricOrigin(message_index=item.message.index, entry_index=index)
                cases.append((item.role, own_ips, entry, origin))
    return cases


def memo_against_fresh(
    cases: Iterable[Case],
    resolver: Resolver,
    *,
    semantics: Semantics = "meshals",
    strip: bool = False,
) -> list[Outcome]:
    """Each case's outcome from one shared analyzer, checked against a fresh one's that asks
    the resolver everything afresh."""
    query: EndpointQuery = "strip" if strip else "keep"
    shared = EntryAnalyzer(RunMemo(resolver), endpoint_query=query, semantics=semantics)
    outcomes = []
    for role, own_ips, entry, origin in cases:
        fresh = EntryAnalyzer(_Opaque(resolver), endpoint_query=query, semantics=semantics)
        remembered = _fields(shared.analyze(entry, role=role, own_ips=own_ips, origin=origin))
        assert remembered == _fields(
            fresh.analyze(entry, role=role, own_ips=own_ips, origin=origin)
        ), (role, own_ips, entry)
        outcomes.append(remembered)
    return outcomes


def _recorded_cases() -> list[Case]:
    return cases_of(list(meshals.read(path).messages()) for path in RECORDINGS)


@pytest.mark.parametrize("semantics", ["meshals", "skywalking"])
@pytest.mark.parametrize("strip", [False, True])
def test_remembered_placements_equal_fresh_ones_on_the_recordings(
    semantics: Semantics, strip: bool
) -> None:
    # Twice over: the second pass is answered from the memo throughout.
    outcomes = memo_against_fresh(_recorded_cases() * 2, RESOLVER, semantics=semantics, strip=strip)
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
    memo_against_fresh(cases_of(streams) * 2, PoolResolver(), semantics=semantics, strip=strip)


def _values(cases: Sequence[Case], field: str) -> list[object]:
    """The distinct values *field* of the common properties takes in *cases*, a few."""
    seen: dict[object, None] = {}
    for _, _, entry, _ in cases:
        if entry.common_properties is not None:
            seen.setdefault(getattr(entry.common_properties, field), None)
    return list(seen)[:6]


@pytest.mark.parametrize("semantics", ["meshals", "skywalking"])
def test_no_input_of_an_entry_escapes_the_memo(semantics: Semantics) -> None:
    """Each recorded entry again with one field of its common properties changed to another
    value the recordings hold, and under every reporter's role and IPs: whatever the key
    leaves out must not change the placement, since the memo answers these from the
    recorded entries' placements."""
    recorded = _recorded_cases()
    variants: list[Case] = []
    for role, own_ips, entry, origin in recorded:
        common = entry.common_properties
        if common is None:
            continue
        for field in attrs.fields(AccessLogCommon):
            for value in _values(recorded, field.name):
                changed = attrs.evolve(common, **cast("dict[str, Any]", {field.name: value}))
                variants.append(
                    (role, own_ips, attrs.evolve(entry, common_properties=changed), origin)
                )
    reporters = {(role, own_ips) for role, own_ips, _, _ in recorded}
    for role, own_ips in sorted(reporters, key=repr):
        variants.extend((role, own_ips, entry, origin) for _, _, entry, origin in recorded)
    outcomes = memo_against_fresh(recorded + variants, RESOLVER, semantics=semantics)
    assert len(outcomes) == 9072
