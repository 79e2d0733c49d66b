"""check(): AuthorizationPolicies evaluated on observed requests with Istio's semantics.

Which policies apply to a request's destination workload (istio/istio
``pilot/pkg/model/authorization.go``, ``ListAuthorizationPolicies``): those of the root
namespace (``istio-system`` unless told) and of the workload's namespace whose
``selector.matchLabels`` are all among the workload's labels (no selector: every workload of
the namespace, the whole mesh in the root namespace). Policies with ``targetRef(s)`` attach
to gateways, waypoints and Services, not to workloads: they apply to no sidecar, and a
waypoint's requests are not evaluable while such a policy is in its namespace or the root
namespace.

How the applicable policies decide (``pilot/pkg/security/authz/builder``: the CUSTOM, root
DENY, DENY and ALLOW filters in that order; rules as :mod:`meshals.policy._match` matches
them):

1. a DENY rule that matches: **denied**, by that policy and rule (root-namespace DENY
   policies first, then the others; within each, Envoy's order: by the RBAC policy name
   ``ns[<ns>]-policy[<name>]-rule[<index>]``);
2. else, when ALLOW policies apply and no ALLOW rule can match: **denied** by default (an
   ALLOW policy without rules allows nothing; ``rules: [{}]`` allows everything);
3. else **not evaluable** when a CUSTOM rule may match (its external provider decides), a DENY
   rule may match, or the ALLOW decision depends on something the log does not carry;
4. else **allowed**: by the first matching ALLOW rule, or because no ALLOW policy applies.

AUDIT policies decide nothing; those whose rules match are listed in
:attr:`~meshals.policy.Decision.audited`. Every policy is evaluated as enforced: the
``istio.io/dry-run`` annotation, which makes Istio only log a policy's decision, is not read
(meshals' check is itself a dry run).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

import attrs

from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._match import RuleMatcher
from ._model import Action, AuthorizationPolicy
from ._report import Decision, PolicyReport, Verdict
from ._requests import ObservedRequest, observed_requests

__all__ = ["check", "decide"]

ROOT_NAMESPACE = "istio-system"


@attrs.frozen
class _Hit:
    policy: AuthorizationPolicy
    rule: int
    matched: bool | None
    unknown: str | None


def _rbac_name(policy: AuthorizationPolicy, rule: int) -> str:
    return f"ns[{policy.namespace}]-policy[{policy.name}]-rule[{rule}]"


def _selects(policy: AuthorizationPolicy, request: ObservedRequest, root: str) -> bool:
    if policy.namespace not in (root, request.destination_namespace):
        return False
    if policy.target_refs:
        return False
    if policy.selector is None:
        return True
    labels = request.destination_labels
    return all(labels.get(key) == value for key, value in policy.selector.items())


def _hits(policies: Sequence[AuthorizationPolicy], request: ObservedRequest) -> list[_Hit]:
    hits = []
    for policy in policies:
        matcher = RuleMatcher(policy.namespace, policy.action)
        for index, rule in enumerate(policy.rules):
            found = matcher.rule(rule, request)
            if found.matched is not False:
                hits.append(_Hit(policy, index, found.matched, found.unknown))
    return sorted(hits, key=lambda hit: _rbac_name(hit.policy, hit.rule))


def decide(
    policies: Iterable[AuthorizationPolicy],
    request: ObservedRequest,
    *,
    root_namespace: str = ROOT_NAMESPACE,
) -> Decision:
    """The decision of *policies* on one observed request (module docstring).

    Args:
        policies: the policies in force (any namespaces; those that apply are chosen here).
        request: the request.
        root_namespace: Istio's root namespace (``meshConfig.rootNamespace``).

    Returns:
        The decision.
    """
    applicable = [p for p in policies if _selects(p, request, root_namespace)]
    by_action = {action: [p for p in applicable if p.action is action] for action in Action}
    audited = tuple(
        dict.fromkeys(
            hit.policy.key for hit in _hits(by_action[Action.AUDIT], request) if hit.matched
        )
    )

    def decision(verdict: Verdict, reason: str, hit: _Hit | None = None) -> Decision:
        return Decision(
            request=request,
            verdict=verdict,
            policy=None if hit is None else hit.policy.key,
            rule=None if hit is None else hit.rule,
            reason=reason,
            audited=audited,
        )

    deny = by_action[Action.DENY]
    root_deny = [p for p in deny if p.namespace == root_namespace]
    deny_hits = _hits(root_deny, request) + _hits(
        [p for p in deny if p.namespace != root_namespace], request
    )
    for hit in deny_hits:
        if hit.matched:
            return decision(Verdict.DENIED, f"denied by DENY {hit.policy.key} rule {hit.rule}", hit)
    allow = by_action[Action.ALLOW]
    allow_hits = _hits(allow, request)
    if allow and not allow_hits:
        return decision(Verdict.DENIED, "no ALLOW policy matched")
    waypoint_refs = request.waypoint and any(
        p.target_refs and p.namespace in (root_namespace, request.destination_namespace)
        for p in policies
    )
    if waypoint_refs:
        return decision(Verdict.NOT_EVALUABLE, "a policy with targetRef may apply at this waypoint")
    for hit in _hits(by_action[Action.CUSTOM], request):
        why = "matches" if hit.matched else f"may match ({hit.unknown})"
        return decision(
            Verdict.NOT_EVALUABLE,
            f"CUSTOM {hit.policy.key} rule {hit.rule} {why}: its provider"
            f" {hit.policy.provider} decides, not evaluable offline",
            hit,
        )
    for hit in deny_hits:
        return decision(
            Verdict.NOT_EVALUABLE, f"DENY {hit.policy.key} rule {hit.rule}: {hit.unknown}", hit
        )
    allowing = next((hit for hit in allow_hits if hit.matched), None)
    if allowing is not None:
        return decision(
            Verdict.ALLOWED,
            f"allowed by ALLOW {allowing.policy.key} rule {allowing.rule}",
            allowing,
        )
    if allow_hits:
        hit = allow_hits[0]
        return decision(
            Verdict.NOT_EVALUABLE, f"ALLOW {hit.policy.key} rule {hit.rule}: {hit.unknown}", hit
        )
    return decision(Verdict.ALLOWED, "no ALLOW policy selects the workload")


def check(
    policies: Iterable[AuthorizationPolicy],
    messages: Iterable[object],
    *,
    workloads: KubernetesWorkloads | None = None,
    root_namespace: str = ROOT_NAMESPACE,
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
) -> PolicyReport:
    """Evaluate *policies* on every request and connection observed in *messages*.

    Args:
        policies: the AuthorizationPolicies (:func:`~meshals.policy.load_policies`).
        messages: one stream (``meshals.read(path)``) or an iterable of streams.
        workloads: the snapshot's workloads and labels, for what node metadata does not say.
        root_namespace: Istio's root namespace: its selector-less policies apply mesh-wide.
        since: only entries that started at or after this time (aware datetime or ns).
        until: only entries that started before this time.

    Returns:
        One decision per observed request in input order, and the entries left out.

    Raises:
        StreamError: *messages* is not one stream or an iterable of streams.
        ValueError: an empty time range or a naive datetime.
    """
    policies = tuple(policies)
    found = observed_requests(messages, workloads=workloads, since=since, until=until)
    decisions = tuple(decide(policies, r, root_namespace=root_namespace) for r in found)
    return PolicyReport(decisions=decisions, skipped=dict(found.skipped))
