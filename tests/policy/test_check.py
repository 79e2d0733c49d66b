"""check() on the real mutual-TLS recording: hand-made policies, the verdict of every request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import ENVOY_FIXTURES, FIXTURES

import meshals
from meshals._values import FrozenMap
from meshals.policy import (
    Action,
    AuthorizationPolicy,
    Operation,
    Rule,
    Source,
    Verdict,
    check,
    decide,
    load_policies,
)
from meshals.resolve import KubernetesWorkloads

MTLS = ENVOY_FIXTURES / "mtls"

# The 21 requests in input order (tests/policy/test_requests.py has their values).
ORDER = [
    *(("details", i) for i in range(5)),
    ("mongodb", 0),
    ("mongodb", 1),
    *(("productpage", i) for i in (2, 5, 8, 9, 11)),
    *(("ratings", i) for i in range(4)),
    *(("reviews", i) for i in (1, 3, 5, 7, 8)),
]

POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/0", "/reviews/1"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-plaintext, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from: [{source: {notPrincipals: ["*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mongodb, namespace: default}
spec:
  selector: {matchLabels: {app: mongodb}}
  rules:
  - to: [{operation: {methods: ["GET"]}}]
  - from: [{source: {namespaces: ["default"]}}]
    to: [{operation: {ports: ["27017"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-missing-static, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/static/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-jwt, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  rules:
  - when: [{key: "request.auth.claims[iss]", values: ["https://issuer"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-details, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  action: AUDIT
  rules:
  - to: [{operation: {paths: ["/details/*"]}}]
"""

ALLOWED, DENIED, NOT = Verdict.ALLOWED, Verdict.DENIED, Verdict.NOT_EVALUABLE
EXPECTED = [
    # details: no ALLOW policy selects it; audited; the legacy caller is plaintext.
    *[(ALLOWED, None, None, "no ALLOW policy selects the workload")] * 4,
    (DENIED, "istio-system/deny-plaintext", 0, "denied by DENY istio-system/deny-plaintext rule 0"),
    # mongodb (TCP): rule 0 has an HTTP-only field (left out), rule 1 allows.
    *[(ALLOWED, "default/mongodb", 1, "allowed by ALLOW default/mongodb rule 1")] * 2,
    *[(ALLOWED, None, None, "no ALLOW policy selects the workload")] * 3,
    (DENIED, "default/no-missing-static", 0, "denied by DENY default/no-missing-static rule 0"),
    (ALLOWED, None, None, "no ALLOW policy selects the workload"),
    *[
        (
            NOT,
            "default/ratings-jwt",
            0,
            "ALLOW default/ratings-jwt rule 0: when key request.auth.claims[iss] not evaluable"
            " offline",
        )
    ]
    * 4,
    *[(ALLOWED, "default/reviews-viewer", 0, "allowed by ALLOW default/reviews-viewer rule 0")] * 4,
    (DENIED, None, None, "no ALLOW policy matched"),  # /reviews/slow
]


def _streams() -> list[list[object]]:
    return [list(meshals.read(path)) for path in sorted(MTLS.glob("*.bin"))]


def _workloads() -> KubernetesWorkloads:
    return KubernetesWorkloads.from_files([FIXTURES / "k8s" / "bookinfo-mtls.json"])


def test_every_request_of_the_recording() -> None:
    report = check(load_policies(POLICIES, source="p.yaml"), _streams(), workloads=_workloads())
    found = [
        (Path(d.request.file or "").name.partition("-")[0], d.request.message_index)
        for d in report.decisions
    ]
    assert found == ORDER
    assert [(d.verdict, d.policy, d.rule, d.reason) for d in report.decisions] == EXPECTED
    assert [d.audited for d in report.decisions[:5]] == [("default/audit-details",)] * 5
    assert {d.audited for d in report.decisions[5:]} == {()}
    assert (report.allowed, report.denied, report.not_evaluable) == (14, 3, 4)
    assert dict(report.skipped) == {"gateway": 6, "sidecar-outbound": 19}


def test_edges() -> None:
    report = check(load_policies(POLICIES, source="p.yaml"), _streams(), workloads=_workloads())
    edges = {(e.source, e.destination): e for e in report.edges()}
    reviews = edges["default/productpage-v1", "default/reviews-v1"]
    assert (reviews.allowed, reviews.denied, reviews.not_evaluable) == (4, 1, 0)
    assert reviews.deciders == (
        (ALLOWED, "default/reviews-viewer", 0, "allowed by ALLOW default/reviews-viewer rule 0", 4),
        (DENIED, None, None, "no ALLOW policy matched", 1),
    )
    assert list(edges) == [
        ("default/legacy-client", "default/details-v1"),
        ("default/productpage-v1", "default/details-v1"),
        ("default/productpage-v1", "default/mongodb-v1"),
        ("istio-system/istio-ingressgateway", "default/productpage-v1"),
        ("default/reviews-v1", "default/ratings-v1"),
        ("default/productpage-v1", "default/reviews-v1"),
    ]


def _policy(
    action: Action, *rules: Rule, namespace: str = "default", **fields: Any
) -> AuthorizationPolicy:
    return AuthorizationPolicy(
        name=action.value.lower(), namespace=namespace, action=action, rules=rules, **fields
    )


@pytest.fixture(scope="module")
def reviews_request() -> meshals.policy.ObservedRequest:
    streams = _streams()
    return next(r for r in meshals.policy.observed_requests(streams) if r.path == "/reviews/slow")


def test_selection_and_order(reviews_request: meshals.policy.ObservedRequest) -> None:
    request = reviews_request
    allow_all = _policy(Action.ALLOW, Rule())
    allow_nothing = _policy(Action.ALLOW)
    deny_all = _policy(Action.DENY, Rule())
    custom = _policy(Action.CUSTOM, Rule(), provider="opa")

    def verdict(*policies: AuthorizationPolicy, root: str = "istio-system") -> tuple[object, str]:
        found = decide(policies, request, root_namespace=root)
        return found.verdict, found.reason

    assert verdict() == (ALLOWED, "no ALLOW policy selects the workload")
    assert verdict(allow_nothing) == (DENIED, "no ALLOW policy matched")
    assert verdict(allow_all) == (ALLOWED, "allowed by ALLOW default/allow rule 0")
    assert verdict(allow_all, deny_all) == (DENIED, "denied by DENY default/deny rule 0")
    assert verdict(allow_all, custom) == (
        NOT,
        "CUSTOM default/custom rule 0 matches: its provider opa decides, not evaluable offline",
    )
    assert verdict(deny_all, custom)[0] is DENIED  # DENY decides whatever the provider says
    # Another namespace's policy does not apply; the root namespace's applies mesh-wide.
    elsewhere = _policy(Action.DENY, Rule(), namespace="shop")
    assert verdict(elsewhere) == (ALLOWED, "no ALLOW policy selects the workload")
    assert verdict(elsewhere, root="shop") == (DENIED, "denied by DENY shop/deny rule 0")
    # A selector must match the workload's labels; targetRef policies apply to no sidecar.
    other_app = _policy(Action.DENY, Rule(), selector=FrozenMap({"app": "ratings"}))
    assert verdict(other_app)[0] is ALLOWED
    this_app = _policy(Action.DENY, Rule(), selector=FrozenMap({"app": "reviews"}))
    assert verdict(this_app)[0] is DENIED
    waypoint = _policy(
        Action.DENY, Rule(), target_refs=(FrozenMap({"kind": "Service", "name": "reviews"}),)
    )
    assert verdict(waypoint)[0] is ALLOWED
    unknown_deny = _policy(Action.DENY, Rule(sources=(Source(request_principals=("*",)),)))
    assert verdict(unknown_deny) == (
        NOT,
        "DENY default/deny rule 0: requestPrincipals (JWT) not evaluable offline",
    )
    assert verdict(unknown_deny, allow_nothing) == (DENIED, "no ALLOW policy matched")


@pytest.fixture(scope="module")
def waypoint_request() -> meshals.policy.ObservedRequest:
    (request,) = meshals.policy.observed_requests(meshals.read(FIXTURES / "mx" / "waypoint.bin"))
    return request


def _ref(kind: str, name: str, **more: str) -> FrozenMap[str, str]:
    return FrozenMap({"kind": kind, "name": name, **more})


GATEWAY_API = "gateway.networking.k8s.io"
# A waypoint gets only policies whose targetRefs name it or the Service it served
# (policyattachment.go, ShouldAttachPolicy): (policy, verdict, reason).
AT_THE_WAYPOINT = [
    (
        _policy(Action.ALLOW, namespace="bookinfo"),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
    (
        _policy(Action.DENY, Rule(), namespace="bookinfo", selector=FrozenMap({"app": "waypoint"})),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
    (
        _policy(
            Action.DENY,
            Rule(),
            namespace="bookinfo",
            target_refs=(_ref("Gateway", "waypoint", group=GATEWAY_API),),
        ),
        DENIED,
        "denied by DENY bookinfo/deny rule 0",
    ),
    (
        _policy(
            Action.DENY,
            Rule(),
            namespace="bookinfo",
            target_refs=(_ref("Gateway", "other", group=GATEWAY_API),),
        ),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
    (  # a Gateway reference attaches only from the waypoint's own namespace
        _policy(
            Action.DENY,
            Rule(),
            namespace="default",
            target_refs=(_ref("Gateway", "waypoint", group=GATEWAY_API),),
        ),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
    (
        _policy(Action.ALLOW, namespace="bookinfo", target_refs=(_ref("Service", "reviews"),)),
        DENIED,
        "no ALLOW policy matched",
    ),
    (
        _policy(
            Action.ALLOW, namespace="bookinfo", target_refs=(_ref("Service", "ratings", group=""),)
        ),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
    (
        _policy(
            Action.DENY,
            Rule(),
            namespace="istio-system",
            target_refs=(_ref("GatewayClass", "istio-waypoint", group=GATEWAY_API),),
        ),
        DENIED,
        "denied by DENY istio-system/deny rule 0",
    ),
    (
        _policy(
            Action.ALLOW,
            namespace="bookinfo",
            target_refs=(_ref("ServiceEntry", "reviews", group="networking.istio.io"),),
        ),
        ALLOWED,
        "no ALLOW policy is attached to the waypoint",
    ),
]


@pytest.mark.parametrize(("policy", "verdict", "reason"), AT_THE_WAYPOINT)
def test_waypoints_get_only_target_ref_policies(
    waypoint_request: meshals.policy.ObservedRequest,
    policy: AuthorizationPolicy,
    verdict: Verdict,
    reason: str,
) -> None:
    assert waypoint_request.destination_service == "reviews.bookinfo.svc.cluster.local"
    found = decide([policy], waypoint_request)
    assert (found.verdict, found.reason) == (verdict, reason)


def test_what_a_waypoint_log_cannot_tell_is_not_evaluable(
    waypoint_request: meshals.policy.ObservedRequest,
) -> None:
    external = attrs.evolve(waypoint_request, destination_service="api.example.com")
    entry = _policy(
        Action.ALLOW,
        namespace="bookinfo",
        target_refs=(_ref("ServiceEntry", "api", group="networking.istio.io"),),
    )
    found = decide([entry], external)
    assert (found.verdict, found.reason) == (
        NOT,
        "may apply at this waypoint: targetRef ServiceEntry/api of bookinfo/allow: the log has"
        " the host, not the ServiceEntry's name",
    )
    unnamed = attrs.evolve(waypoint_request, destination_labels=FrozenMap())
    gateway = _policy(
        Action.ALLOW,
        namespace="bookinfo",
        target_refs=(_ref("Gateway", "waypoint", group=GATEWAY_API),),
    )
    found = decide([gateway], unnamed)
    assert (found.verdict, found.reason) == (
        NOT,
        "may apply at this waypoint: targetRef Gateway/waypoint of bookinfo/allow: the"
        " waypoint's gateway.networking.k8s.io/gateway-name label is unknown",
    )
    # A DENY that surely applies and matches decides anyway.
    deny = _policy(
        Action.DENY, Rule(), namespace="bookinfo", target_refs=(_ref("Service", "reviews"),)
    )
    assert decide([gateway, deny], unnamed).verdict is DENIED
    no_service = attrs.evolve(waypoint_request, destination_service=None)
    service = _policy(
        Action.DENY, Rule(), namespace="bookinfo", target_refs=(_ref("Service", "reviews"),)
    )
    assert decide([service], no_service).reason == (
        "may apply at this waypoint: targetRef Service/reviews of bookinfo/deny: the entry names"
        " no Service"
    )


def test_root_namespace_audit_and_custom(reviews_request: meshals.policy.ObservedRequest) -> None:
    request = reviews_request  # default/reviews-v1, app: reviews, from productpage, GET
    reviews = FrozenMap({"app": "reviews"})
    get = Rule(operations=(Operation(methods=("GET",)),))
    post = Rule(operations=(Operation(methods=("POST",)),))

    def found(*policies: AuthorizationPolicy) -> tuple[object, str, tuple[str, ...]]:
        decision = decide(policies, request)
        return decision.verdict, decision.reason, decision.audited

    # The root namespace's policies apply in every namespace, with or without a selector;
    # its DENY policies decide before the workload namespace's, whatever their names.
    root = "istio-system"
    assert found(_policy(Action.ALLOW, namespace=root)) == (DENIED, "no ALLOW policy matched", ())
    root_reviews = _policy(Action.ALLOW, get, namespace=root, selector=reviews)
    assert found(root_reviews)[:2] == (ALLOWED, "allowed by ALLOW istio-system/allow rule 0")
    root_ratings = _policy(Action.ALLOW, namespace=root, selector=FrozenMap({"app": "ratings"}))
    assert found(root_ratings)[:2] == (ALLOWED, "no ALLOW policy selects the workload")
    first_by_name = attrs.evolve(_policy(Action.DENY, Rule()), name="a")
    last_by_name = attrs.evolve(_policy(Action.DENY, Rule(), namespace=root), name="z")
    assert found(first_by_name, last_by_name)[:2] == (
        DENIED,
        "denied by DENY istio-system/z rule 0",
    )
    # AUDIT decides nothing: the decision is the others', the matching AUDIT policies listed.
    audit = _policy(Action.AUDIT, post, get)
    audit_root = _policy(Action.AUDIT, Rule(), namespace=root)
    audit_post = attrs.evolve(_policy(Action.AUDIT, post), name="post")
    assert found(audit, audit_root, audit_post) == (
        ALLOWED,
        "no ALLOW policy selects the workload",
        ("default/audit", "istio-system/audit"),
    )
    assert found(audit, _policy(Action.ALLOW)) == (
        DENIED,
        "no ALLOW policy matched",
        ("default/audit",),
    )
    # CUSTOM: not evaluable when a rule matches or may match; one that cannot match does not
    # count; DENY, and ALLOW's deny by default, decide before the provider is asked.
    custom = _policy(Action.CUSTOM, get, provider="opa")
    maybe = _policy(
        Action.CUSTOM, Rule(sources=(Source(request_principals=("*",)),)), provider="opa"
    )
    other = _policy(Action.CUSTOM, post, namespace=root, provider="opa")
    assert found(custom)[:2] == (
        NOT,
        "CUSTOM default/custom rule 0 matches: its provider opa decides, not evaluable offline",
    )
    assert found(maybe)[:2] == (
        NOT,
        "CUSTOM default/custom rule 0 may match (requestPrincipals (JWT) not evaluable"
        " offline): its provider opa decides, not evaluable offline",
    )
    assert found(other)[:2] == (ALLOWED, "no ALLOW policy selects the workload")
    assert found(custom, _policy(Action.ALLOW))[:2] == (DENIED, "no ALLOW policy matched")
    assert found(custom, root_reviews)[0] is NOT


def test_audit_and_custom_rules_lose_their_http_fields_on_tcp() -> None:
    # A mongodb connection (TCP): a DENY, AUDIT or CUSTOM rule matches without its HTTP-only
    # fields, an ALLOW rule with one is left out (matches nothing).
    connection = next(r for r in meshals.policy.observed_requests(_streams()) if r.tcp)
    post = Rule(operations=(Operation(methods=("POST",)),))
    decision = decide([_policy(Action.AUDIT, post)], connection)
    assert (decision.verdict, decision.audited) == (ALLOWED, ("default/audit",))
    assert decide([_policy(Action.CUSTOM, post, provider="opa")], connection).verdict is NOT
    assert decide([_policy(Action.ALLOW, post)], connection).verdict is DENIED
