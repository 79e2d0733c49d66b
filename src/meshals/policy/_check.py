"""check(): AuthorizationPolicies evaluated on observed requests with Istio's semantics.

Which policies apply to a request (istio/istio ``pilot/pkg/model/authorization.go``,
``ListAuthorizationPolicies``, and ``policyattachment.go``, ``ShouldAttachPolicy``):

- at a **sidecar**: those of the root namespace (``istio-system`` unless told) and of the
  workload's namespace whose ``selector.matchLabels`` are all among the workload's labels (no
  selector: every workload of the namespace, the whole mesh in the root namespace); a policy
  with ``targetRef(s)`` applies to no sidecar;
- at a **waypoint**: only policies with ``targetRef(s)`` ("waypoints never use selector": a
  namespace-wide or selector policy does not apply), when one reference names the waypoint
  or the Service it served: ``kind: Gateway`` (group ``gateway.networking.k8s.io``) with the
  waypoint's name (its ``gateway.networking.k8s.io/gateway-name`` label), a policy of the
  waypoint's namespace; ``kind: Service`` (core group) with the name of the Service the
  entry's ``inbound-vip`` cluster names, a policy of that Service's namespace; ``kind:
  GatewayClass`` ``istio-waypoint``, a policy of the root namespace. What the log cannot tell
  (a ``ServiceEntry`` reference: the log has its host, not its name; a waypoint without its
  name label; an entry without a Service) makes the request **not evaluable**, with the
  reference, unless an applicable DENY rule matches.

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
from collections.abc import Iterable, Mapping, Sequence

import attrs

from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._match import RuleMatcher, selector_matches
from ._model import Action, AuthorizationPolicy
from ._report import Decision, PolicyReport, Verdict
from ._requests import ObservedRequest, observed_requests

__all__ = ["check", "decide"]

ROOT_NAMESPACE = "istio-system"
#: The label that names the Gateway API gateway (a waypoint) a pod belongs to.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
#: Istio's GatewayClass of waypoints (``constants.WaypointGatewayClassName``).
WAYPOINT_CLASS = "istio-waypoint"
# Group names as a targetRef spells them (an absent or empty group is the core group).
_CORE = "core"
_GATEWAY_API = "gateway.networking.k8s.io"
_ISTIO_NETWORKING = "networking.istio.io"


@attrs.frozen
class _Hit:
    policy: AuthorizationPolicy
    rule: int
    matched: bool | None
    unknown: str | None


def _rbac_name(policy: AuthorizationPolicy, rule: int) -> str:
    return f"ns[{policy.namespace}]-policy[{policy.name}]-rule[{rule}]"


def _selects(policy: AuthorizationPolicy, request: ObservedRequest, root: str) -> bool | str:
    """True or False, or why the log cannot tell (module docstring)."""
    if request.waypoint:
        return _attaches(policy, request, root)
    if policy.namespace not in (root, request.destination_namespace):
        return False
    if policy.target_refs:
        return False
    if policy.selector is None:
        return True
    return selector_matches(policy.selector, request.destination_labels)


def _attaches(policy: AuthorizationPolicy, request: ObservedRequest, root: str) -> bool | str:
    unknown: str | bool = False
    for ref in policy.target_refs:
        found = _attaches_by(ref, policy, request, root)
        if found is True:
            return True
        if found is not False and unknown is False:
            unknown = found
    return unknown


def _attaches_by(
    ref: Mapping[str, str], policy: AuthorizationPolicy, request: ObservedRequest, root: str
) -> bool | str:
    kind, name = (ref.get("group") or _CORE, ref.get("kind")), ref.get("name")
    where = f"targetRef {ref.get('kind')}/{name} of {policy.key}"
    service = _service(request.destination_service)
    if kind == (_CORE, "Service"):
        if request.destination_service is None:
            return f"{where}: the entry names no Service"
        return service == (name, policy.namespace)
    if kind == (_ISTIO_NETWORKING, "ServiceEntry"):
        if service is not None:
            return False  # a Kubernetes Service, not a ServiceEntry's host
        return f"{where}: the log has the host, not the ServiceEntry's name"
    if kind == (_GATEWAY_API, "GatewayClass"):
        return policy.namespace == root and name == WAYPOINT_CLASS
    if kind != (_GATEWAY_API, "Gateway"):
        return False
    if request.destination_namespace is None:
        return f"{where}: the waypoint's namespace is unknown"
    if policy.namespace != request.destination_namespace or ref.get("namespace") not in (
        None,
        policy.namespace,
    ):
        return False
    gateway = request.destination_labels.get(GATEWAY_NAME_LABEL)
    if gateway is None:
        return f"{where}: the waypoint's {GATEWAY_NAME_LABEL} label is unknown"
    return gateway == name


def _service(host: str | None) -> tuple[str, str] | None:
    """``(name, namespace)`` of a Kubernetes Service host ``<name>.<namespace>.svc.<domain>``."""
    parts = (host or "").split(".")
    if len(parts) < 4 or parts[2] != "svc":
        return None
    return parts[0], parts[1]


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
    policies = tuple(policies)
    selected = [(p, _selects(p, request, root_namespace)) for p in policies]
    applicable = [p for p, found in selected if found is True]
    maybe = next((found for _, found in selected if isinstance(found, str)), None)
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
    if maybe is not None:
        return decision(Verdict.NOT_EVALUABLE, f"may apply at this waypoint: {maybe}")
    allow = by_action[Action.ALLOW]
    allow_hits = _hits(allow, request)
    if allow and not allow_hits:
        return decision(Verdict.DENIED, "no ALLOW policy matched")
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
    if request.waypoint:
        return decision(Verdict.ALLOWED, "no ALLOW policy is attached to the waypoint")
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
