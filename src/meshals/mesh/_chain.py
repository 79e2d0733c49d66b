"""The analyzer chain: the analyzers ``analyze(analyzers=...)`` names, asked in turn per entry.

``"k8s-mesh"`` (:mod:`meshals.mesh._k8s_mesh`, peers named by address through a resolver; the
default) and ``"mx-mesh"`` (:mod:`meshals.mesh._mx_mesh`, peers named from Istio's metadata
exchange; no resolver), in the order given. Each entry has two directions, its server side and
its client side. The first analyzer that fills a direction owns it; a later analyzer fills only
the directions still empty (and is not asked at all once both are filled). A gateway's
``mx-mesh`` server-side metric from UNKNOWN (no downstream peer) is a stand-in: it is used only
when no later analyzer fills that side. Every metric names its analyzer
(``ServiceMeshMetric.analyzer``). An entry none of them gave a metric is skipped for the reason
the last analyzer gave; undecodable peer objects are reported as diagnostics whatever the
outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from meshals._errors import Diagnostic, DiagnosticKind, Location, map_entry_path
from meshals.codec._compiled import slot_constructor
from meshals.model._als import LogEntry
from meshals.model._metrics import K8S_MESH, DetectPoint, MetricOrigin, ServiceMeshMetric
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._protocol import Resolver

from ._accounting import SkipReason
from ._k8s_mesh import EndpointQuery, EntryAnalyzer
from ._mx_mesh import MX_MESH, MxMeshAnalyzer
from ._peers import PeerProblem
from ._semantics import SKYWALKING, Semantics
from ._streams import StreamMessage

__all__ = ["ANALYZERS"]

#: The analyzer names ``analyze(analyzers=...)`` accepts.
ANALYZERS = (K8S_MESH, MX_MESH)

_FILTER_STATE = "common_properties.filter_state_objects"
# The order in which an entry's metrics come out: as k8s-mesh gives a gateway's.
_DIRECTIONS = (DetectPoint.SERVER, DetectPoint.CLIENT)


@attrs.frozen(kw_only=True)
class _StepOutcome:
    """One analyzer's answer for one entry (see the module docstring for stand-ins)."""

    metrics: tuple[ServiceMeshMetric, ...] = ()
    stand_ins: tuple[ServiceMeshMetric, ...] = ()
    problems: tuple[PeerProblem, ...] = ()
    skipped: SkipReason | None = None


# One per entry and analyzer: positional (metrics, stand_ins, problems, skipped).
_new_outcome = slot_constructor(_StepOutcome)


class _EntryContext:
    """What the analyzers need to know about an entry besides the entry itself."""

    __slots__ = ("item", "origin", "own_ips")

    def __init__(self, item: StreamMessage, origin: MetricOrigin, own_ips: tuple[str, ...]):
        self.item = item
        self.origin = origin
        self.own_ips = own_ips


class _K8sMeshStep:
    def __init__(
        self, resolver: Resolver, endpoint_query: EndpointQuery, semantics: Semantics
    ) -> None:
        self.analyzer = EntryAnalyzer(resolver, endpoint_query=endpoint_query, semantics=semantics)

    def __call__(self, entry: LogEntry, context: _EntryContext) -> _StepOutcome:
        outcome = self.analyzer.analyze(
            entry, role=context.item.role, own_ips=context.own_ips, origin=context.origin
        )
        if isinstance(outcome, SkipReason):
            return _new_outcome((), (), (), outcome)
        return _new_outcome(outcome, (), (), None)


class _MxMeshStep:
    def __init__(
        self,
        mapping: MetadataServiceMapping | None,
        endpoint_query: EndpointQuery,
        semantics: Semantics,
    ) -> None:
        self._analyzer = MxMeshAnalyzer(mapping, endpoint_query=endpoint_query, semantics=semantics)

    def __call__(self, entry: LogEntry, context: _EntryContext) -> _StepOutcome:
        identifier = context.item.identifier
        outcome = self._analyzer.analyze(
            entry,
            role=context.item.role,
            node=None if identifier is None else identifier.node,
            origin=context.origin,
        )
        return _StepOutcome(
            metrics=outcome.metrics,
            stand_ins=outcome.stand_ins,
            problems=outcome.problems,
            skipped=outcome.skipped,
        )


class AnalyzerChain:
    """The analyzers of one analysis, in order (see the module docstring).

    *notes* is the analysis's list of diagnostics: the chain appends one for each undecodable
    peer object an analyzer reports.
    """

    __slots__ = ("_notes", "_skywalking", "_steps")

    def __init__(
        self,
        analyzers: Sequence[str],
        *,
        resolver: Resolver | None,
        mapping: MetadataServiceMapping | None,
        endpoint_query: EndpointQuery,
        notes: list[Diagnostic],
        semantics: Semantics = "meshals",
    ) -> None:
        self._notes = notes
        self._skywalking = semantics == SKYWALKING
        self._steps = [
            _MxMeshStep(mapping, endpoint_query, semantics)
            if name == MX_MESH
            else _K8sMeshStep(_required(resolver), endpoint_query, semantics)
            for name in analyzers
        ]

    def only_k8s_mesh(self) -> EntryAnalyzer | None:
        """The ``k8s-mesh`` analyzer when it is the chain's only one, else None.

        Its answer for an entry is then the chain's, as :meth:`run` would give it: it reports
        no peer problems and no stand-ins, and makes at most a server-side then a client-side
        metric (in SkyWalking's order too), so there is nothing to merge or reorder.
        """
        if len(self._steps) == 1:
            step = self._steps[0]
            if isinstance(step, _K8sMeshStep):
                return step.analyzer
        return None

    def run(
        self, entry: LogEntry, context: _EntryContext
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        """The metrics of *entry* in direction order, or why it is skipped."""
        if len(self._steps) == 1:
            # One analyzer (the usual case): its answer is the chain's when it needs no
            # merging, i.e. no stand-ins and metrics already in direction order.
            outcome = self._steps[0](entry, context)
            self._note_problems(outcome.problems, context.origin)
            if not outcome.stand_ins:
                if self._skywalking and outcome.metrics:  # in SkyWalking's own order
                    return outcome.metrics
                if _in_direction_order(outcome.metrics):
                    return outcome.metrics
                if not outcome.metrics and outcome.skipped is not None:
                    return outcome.skipped
            return self._merged_chain(entry, context, first=outcome)
        return self._merged_chain(entry, context, first=None)

    def _merged_chain(
        self, entry: LogEntry, context: _EntryContext, *, first: _StepOutcome | None
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        """The general chain (see the module docstring); *first*: the first step's outcome,
        if it has been asked (and its problems noted) already."""
        filled: dict[DetectPoint, list[ServiceMeshMetric]] = {}
        stand_ins: dict[DetectPoint, ServiceMeshMetric] = {}
        reason: SkipReason | None = None
        for position, step in enumerate(self._steps):
            if all(direction in filled for direction in _DIRECTIONS):
                break
            if position == 0 and first is not None:
                outcome = first
            else:
                outcome = step(entry, context)
                self._note_problems(outcome.problems, context.origin)
            if outcome.skipped is not None:
                reason = outcome.skipped
            already = set(filled)
            for metric in outcome.metrics:
                if metric.detect_point not in already:
                    filled.setdefault(metric.detect_point, []).append(metric)
            for metric in outcome.stand_ins:
                stand_ins.setdefault(metric.detect_point, metric)
        for direction, metric in stand_ins.items():
            filled.setdefault(direction, [metric])
        if not filled:
            if reason is None:  # pragma: no cover - every analyzer gives a metric or a reason
                raise AssertionError("an entry without metrics and without a skip reason")
            return reason
        if self._skywalking:  # in the order the analyzers made them
            return tuple(metric for metrics in filled.values() for metric in metrics)
        return tuple(metric for direction in _DIRECTIONS for metric in filled.get(direction, ()))

    def _note_problems(self, problems: tuple[PeerProblem, ...], origin: MetricOrigin) -> None:
        for problem in problems:
            self._notes.append(
                Diagnostic(
                    kind=DiagnosticKind.NOTE,
                    location=Location(
                        source=origin.source,
                        message_index=origin.message_index,
                        entry_index=origin.entry_index,
                        field=map_entry_path(_FILTER_STATE, problem.key),
                    ),
                    reason=f"{problem.reason}; the peer object is ignored",
                )
            )


def _in_direction_order(metrics: tuple[ServiceMeshMetric, ...]) -> bool:
    """Non-empty, at most one metric per direction, server side first (as the chain orders)."""
    if len(metrics) == 1:
        return True
    return (
        len(metrics) == 2
        and metrics[0].detect_point is DetectPoint.SERVER
        and metrics[1].detect_point is DetectPoint.CLIENT
    )


def _required(resolver: Resolver | None) -> Resolver:
    if resolver is None:
        raise ValueError(
            "the k8s-mesh analyzer names peers by address and needs a resolver: pass "
            "resolver=, or analyzers=('mx-mesh',) to name them from Istio's metadata exchange"
        )
    return resolver


def _checked_analyzers(analyzers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(analyzers, str):
        raise ValueError(
            f"analyzers must be a sequence of names such as ('mx-mesh', 'k8s-mesh'), "
            f"not the string {analyzers!r}"
        )
    names = tuple(analyzers)
    if not names:
        raise ValueError("analyzers is empty: name at least one of " + ", ".join(ANALYZERS))
    for name in names:
        if name not in ANALYZERS:
            raise ValueError(f"unknown analyzer {name!r} (expected {', '.join(ANALYZERS)})")
    if len(set(names)) != len(names):
        raise ValueError(f"an analyzer is named twice in {list(names)}")
    return names
