"""The outcome of a policy check: one Decision per observed request, and their sums per edge."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from ._requests import ObservedRequest

__all__ = ["Decision", "EdgeVerdicts", "PolicyReport", "Verdict"]


class Verdict(enum.Enum):
    """What the policies do to one request."""

    ALLOWED = "allowed"
    DENIED = "denied"
    NOT_EVALUABLE = "not-evaluable"


@attrs.frozen(kw_only=True)
class Decision:
    """The verdict on one observed request, and what decided it.

    Attributes:
        request: the request.
        verdict: allowed, denied, or not evaluable offline.
        policy: ``namespace/name`` of the deciding policy; None when no policy decided
            (no ALLOW policy selects the workload, or none matched: denied by default).
        rule: the 0-based index of the deciding rule within *policy*, or None.
        reason: one line a user reads.
        audited: ``namespace/name`` of the AUDIT policies whose rules matched.
    """

    request: ObservedRequest
    verdict: Verdict
    policy: str | None
    rule: int | None
    reason: str
    audited: tuple[str, ...] = ()


def source_name(request: ObservedRequest) -> str:
    """How a report names the caller: its workload, else its principal, else its IP."""
    source = request.source
    if source is not None and source.workload:
        return f"{source.namespace or 'unknown'}/{source.workload}"
    if request.source_principal:
        return request.source_principal
    return request.source_ip or "unknown"


def destination_name(request: ObservedRequest) -> str:
    """How a report names the destination: ``namespace/workload``."""
    return (
        f"{request.destination_namespace or 'unknown'}/{request.destination.workload or 'unknown'}"
    )


@attrs.frozen(kw_only=True)
class EdgeVerdicts:
    """The verdicts of one (source, destination) edge.

    Attributes:
        source: the caller: its workload (``namespace/workload``), else its principal, else its IP.
        destination: ``namespace/workload``.
        allowed: requests allowed.
        denied: requests denied.
        not_evaluable: requests not evaluable offline.
        deciders: per (verdict, policy, rule, reason), its requests, most first.
    """

    source: str
    destination: str
    allowed: int
    denied: int
    not_evaluable: int
    deciders: tuple[tuple[Verdict, str | None, int | None, str, int], ...]


@attrs.frozen(kw_only=True)
class PolicyReport:
    """The decisions of a policy check, in input order.

    Attributes:
        decisions: one per observed request.
        skipped: entries that are no request a workload's policy sees, by reason
            (:attr:`~meshals.policy.ObservedRequests.skipped`).
    """

    decisions: tuple[Decision, ...]
    skipped: Mapping[str, int] = attrs.field(factory=dict)

    def _count(self, verdict: Verdict) -> int:
        return sum(d.request.count for d in self.decisions if d.verdict is verdict)

    @property
    def allowed(self) -> int:
        """Requests allowed."""
        return self._count(Verdict.ALLOWED)

    @property
    def denied(self) -> int:
        """Requests denied."""
        return self._count(Verdict.DENIED)

    @property
    def not_evaluable(self) -> int:
        """Requests not evaluable offline."""
        return self._count(Verdict.NOT_EVALUABLE)

    def edges(self) -> tuple[EdgeVerdicts, ...]:
        """The verdicts per (source, destination) edge, sorted by destination then source."""
        counts: dict[tuple[str, str], dict[tuple[Verdict, str | None, int | None, str], int]] = {}
        for decision in self.decisions:
            request = decision.request
            edge = counts.setdefault((source_name(request), destination_name(request)), {})
            key = (decision.verdict, decision.policy, decision.rule, decision.reason)
            edge[key] = edge.get(key, 0) + request.count
        edges = []
        for (source, destination), deciders in counts.items():
            totals = dict.fromkeys(Verdict, 0)
            for (verdict, *_), count in deciders.items():
                totals[verdict] += count
            ordered = sorted(
                deciders.items(), key=lambda item: (-item[1], item[0][0].value, str(item[0][1:]))
            )
            edges.append(
                EdgeVerdicts(
                    source=source,
                    destination=destination,
                    allowed=totals[Verdict.ALLOWED],
                    denied=totals[Verdict.DENIED],
                    not_evaluable=totals[Verdict.NOT_EVALUABLE],
                    deciders=tuple((*key, count) for key, count in ordered),
                )
            )
        return tuple(sorted(edges, key=lambda e: (e.destination, e.source)))
