"""suggest(): on the real mutual-TLS recording, policy for policy; on chosen captures, rules
that admit exactly the observed (principal, method, path, port) combinations, selectors that
pick one workload, and every request not admitted listed with its reason."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable

import attrs
import pytest
from conftest import ENVOY_FIXTURES, FIXTURES
from property.policy_requests import Connection, Request, capture
from test_requests import LEGACY as LEGACY_WORKLOAD

import meshals
from meshals._values import FrozenMap
from meshals.policy import (
    Action,
    AuthorizationPolicy,
    LeftOut,
    Operation,
    Rule,
    Source,
    Suggestion,
    UnnamedCaller,
    Verdict,
    check,
    load_policies,
    render_policies,
    suggest,
)
from meshals.resolve import KubernetesWorkloads

MTLS = ENVOY_FIXTURES / "mtls"
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-mtls.json"
SA = "cluster.local/ns/default/sa/"


def _recording(directory: str = "mtls") -> list[list[meshals.AlsMessage | meshals.L4Connection]]:
    folder = ENVOY_FIXTURES / directory if directory else ENVOY_FIXTURES
    streams = []
    for path in sorted(folder.glob("*.bin")):
        with meshals.read(path) as reader:
            streams.append(list(reader))
    return streams


def _policy(app: str, *rules: Rule) -> AuthorizationPolicy:
    return AuthorizationPolicy(
        name=f"allow-{app}-v1",
        namespace="default",
        selector=FrozenMap({"app": app}),
        action=Action.ALLOW,
        rules=rules,
    )


def _http(principal: str, paths: Iterable[str], method: str = "GET") -> Rule:
    return Rule(
        sources=(Source(principals=(principal,)),),
        operations=(Operation(ports=("9080",), methods=(method,), paths=tuple(paths)),),
    )


RECORDED_EXACT = (
    _policy("details", _http(SA + "bookinfo-productpage", ["/details/0", "/details/missing"])),
    _policy(
        "mongodb",
        Rule(
            sources=(Source(principals=(SA + "bookinfo-productpage",)),),
            operations=(Operation(ports=("27017",)),),
        ),
    ),
    _policy(
        "productpage",
        _http(
            "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
            ["/api/v1/products/1/reviews", "/productpage", "/static/missing.css"],
        ),
    ),
    _policy(
        "ratings",
        _http(SA + "bookinfo-reviews", ["/bookinfo.ratings.v1.Ratings/GetRating"], "POST"),
    ),
    _policy(
        "reviews", _http(SA + "bookinfo-productpage", ["/reviews/0", "/reviews/1", "/reviews/slow"])
    ),
)

# legacy-client has no sidecar: plaintext into details' PERMISSIVE listener.
LEGACY = UnnamedCaller(
    policy="default/allow-details-v1",
    destination="default/details-v1",
    source_ip="127.0.0.10",
    remote_ip=None,
    source=LEGACY_WORKLOAD,
    requests=1,
    connections=0,
    ports=(9080,),
    operations=("GET /details/2",),
    ip_blocks=("127.0.0.10",),
    remote_ip_blocks=(),
    principals=(SA + "legacy-client",),
    namespaces=("default",),
)


def test_recorded_mtls() -> None:
    workloads = KubernetesWorkloads.from_files([SNAPSHOT])
    assert suggest(_recording(), workloads=workloads) == Suggestion(
        policies=RECORDED_EXACT,
        unnamed_callers=(LEGACY,),
        left_out=(),
        skipped=FrozenMap({"sidecar-outbound": 19, "gateway": 6}),
    )


def test_recorded_mtls_without_snapshot() -> None:
    # Node metadata names the destinations and labels them; the plaintext caller is then only
    # an address (legacy has no sidecar, so no peer metadata).
    found = suggest(_recording())
    assert found.policies == RECORDED_EXACT
    assert found.unnamed_callers == (
        attrs.evolve(LEGACY, source=None, principals=(), namespaces=()),
    )


def test_recorded_mtls_templates() -> None:
    found = suggest(_recording(), paths="template")
    paths = {
        policy.name: [path for rule in policy.rules for op in rule.operations for path in op.paths]
        for policy in found.policies
    }
    assert paths == {
        # {*} matches the one segment "missing" too, so /details/missing is not listed again.
        "allow-details-v1": ["/details/{*}"],
        "allow-mongodb-v1": [],
        "allow-productpage-v1": [
            "/api/v1/products/{*}/reviews",
            "/productpage",
            "/static/missing.css",
        ],
        "allow-ratings-v1": ["/bookinfo.ratings.v1.Ratings/GetRating"],
        "allow-reviews-v1": ["/reviews/{*}"],  # {*} matches "slow" as well
    }


def test_recorded_plaintext() -> None:
    # The basic recording has no TLS: no caller can be named, so every policy admits nothing
    # and every caller is listed (the rendering says what applying them would do).
    found = suggest(_recording(""))
    assert [(policy.name, policy.rules) for policy in found.policies] == [
        ("allow-details-v1", ()),
        ("allow-mongodb-v1", ()),
        ("allow-productpage-v1", ()),
        ("allow-reviews-v1", ()),
    ]
    assert [
        (c.destination, c.source_ip, c.requests, c.connections, c.ports, c.namespaces)
        for c in found.unnamed_callers
    ] == [
        ("default/details-v1", "127.0.0.2", 4, 0, (9080,), ("default",)),
        ("default/mongodb-v1", "127.0.0.2", 0, 2, (27017,), ("default",)),
        ("default/productpage-v1", "127.0.0.1", 5, 0, (9080,), ("istio-system",)),
        ("default/reviews-v1", "127.0.0.2", 5, 0, (9080,), ("default",)),
    ]


def admitted(policy: AuthorizationPolicy) -> set[tuple[str, str | None, str | None, str]]:
    """Every (principal, method, path, port) a suggested policy admits: its rules expanded
    (suggested rules name principals, methods, exact paths and ports only)."""
    found: set[tuple[str, str | None, str | None, str]] = set()
    for rule in policy.rules:
        principals = [p for source in rule.sources for p in source.principals]
        for op in rule.operations:
            methods: Iterable[str | None] = op.methods or [None]
            paths: Iterable[str | None] = op.paths or [None]
            found.update(itertools.product(principals, methods, paths, op.ports))
    return found


X, Y, Z = (f"cluster.local/ns/shop/sa/{name}" for name in "xyz")

# Each a capture and how many rules and operations per rule make it up.
GROUPINGS: list[tuple[list[Request], list[int]]] = [
    # Two principals with the same calls share one rule.
    ([(X, "GET", "/a", 9080), (Y, "GET", "/a", 9080)], [1]),
    # A product: one operation.
    ([(X, m, p, 9080) for m in ("GET", "HEAD") for p in ("/a", "/b")], [1]),
    # Not a product: GET /a, GET /b, POST /a: two operations, nothing admits POST /b.
    ([(X, "GET", "/a", 9080), (X, "GET", "/b", 9080), (X, "POST", "/a", 9080)], [2]),
    # Methods differ by port: operations split by port.
    ([(X, "GET", "/a", 9080), (X, "GET", "/a", 9090), (X, "POST", "/a", 9090)], [2]),
    # Different calls, different rules; the query string is no part of the path.
    ([(X, "GET", "/a?x=1", 9080), (Y, "GET", "/b", 9080), (Z, "GET", "/a", 9080)], [1, 1]),
    # A diagonal: x GET /a, y POST /b: never x POST /b.
    ([(X, "GET", "/a", 9080), (Y, "POST", "/b", 9080)], [1, 1]),
]


@pytest.mark.parametrize(("requests", "shape"), GROUPINGS)
def test_rules_admit_exactly_what_was_observed(requests: list[Request], shape: list[int]) -> None:
    (policy,) = suggest([capture(requests)]).policies
    observed = {(p, m, path.partition("?")[0], str(port)) for p, m, path, port in requests}
    assert admitted(policy) == observed
    assert [len(rule.operations) for rule in policy.rules] == shape


def test_rules_are_sorted_and_deterministic() -> None:
    requests: list[Request] = [
        (Y, "POST", "/b", 9080),
        (X, "GET", "/a", 9090),
        (X, "GET", "/a", 9080),
        (X, "DELETE", "/c", 9080),
    ]
    (policy,) = suggest([capture(requests)]).policies
    assert policy.rules == (
        Rule(
            sources=(Source(principals=(X,)),),
            operations=(
                Operation(ports=("9080", "9090"), methods=("GET",), paths=("/a",)),
                Operation(ports=("9080",), methods=("DELETE",), paths=("/c",)),
            ),
        ),
        Rule(
            sources=(Source(principals=(Y,)),),
            operations=(Operation(ports=("9080",), methods=("POST",), paths=("/b",)),),
        ),
    )
    assert suggest([capture(reversed(requests))]).policies == (policy,)


def test_paths_istio_cannot_match_exactly_are_left_out() -> None:
    found = suggest([capture([(X, "GET", "/a", 9080), (X, "GET", "/search*", 9080)] * 2)])
    (policy,) = found.policies
    assert admitted(policy) == {(X, "GET", "/a", "9080")}
    assert found.left_out == (
        LeftOut(
            policy="default/allow-details-v1",
            destination="default/details-v1",
            principal=X,
            operation="GET /search*",
            port=9080,
            count=2,
            reason="Istio would read the path as a prefix, suffix or template",
        ),
    )


def test_tcp_to_a_port_that_also_carried_http_is_left_out() -> None:
    # x: TCP on 9080 and 27017, GET /a on 9080; y: TCP on 9080; a plaintext caller: GET /b on
    # 9090. A ports-only rule for 9080 or 9090 would admit every HTTP request there.
    observed: list[Request | Connection] = [
        (X, 9080),
        (X, 27017),
        (X, "GET", "/a", 9080),
        (Y, 9080),
        (Y, 9080),
        (Z, 9090),
        (None, "GET", "/b", 9090),
    ]
    found = suggest([capture(observed)])
    (policy,) = found.policies
    assert policy.rules == (
        Rule(
            sources=(Source(principals=(X,)),),
            operations=(Operation(ports=("9080",), methods=("GET",), paths=("/a",)),),
        ),
        Rule(sources=(Source(principals=(X,)),), operations=(Operation(ports=("27017",)),)),
    )
    reason = (
        "the port also received HTTP requests: a rule for TCP (ports only) would admit every"
        " HTTP request on it"
    )
    assert [(left.principal, left.operation, left.port, left.count) for left in found.left_out] == [
        (X, "TCP", 9080, 1),
        (Y, "TCP", 9080, 2),
        (Z, "TCP", 9090, 1),
    ]
    assert {left.reason for left in found.left_out} == {reason}
    # Nothing but what was observed on 9080 gets in; the TCP connections there are denied.
    probes: list[Request | Connection] = [(X, "POST", "/a", 9080), (Y, "GET", "/a", 9080)]
    report = check(found.policies, [capture([*observed, *probes])])
    assert [d.verdict for d in report.decisions] == [
        Verdict.DENIED,
        Verdict.ALLOWED,
        Verdict.ALLOWED,
        *[Verdict.DENIED] * 6,
    ]


def test_selector_adds_version_only_to_tell_workloads_apart() -> None:
    v1 = capture([(X, "GET", "/a", 9080)], labels={"app": "details", "version": "v1"})
    v2 = capture(
        [(Y, "GET", "/b", 9080)],
        workload="details-v2",
        labels={"app": "details", "version": "v2", "pod-template-hash": "5d8f"},
    )
    found = suggest([v1, v2])
    assert [(p.name, p.selector) for p in found.policies] == [
        ("allow-details-v1", FrozenMap({"app": "details", "version": "v1"})),
        ("allow-details-v2", FrozenMap({"app": "details", "version": "v2"})),
    ]
    alone = suggest([v2]).policies[0]
    assert alone.selector == FrozenMap({"app": "details"})


def test_selector_falls_back_to_the_stable_labels() -> None:
    one = capture([(X, "GET", "/a", 9080)], labels={"app": "db", "tier": "primary"})
    two = capture(
        [(Y, "GET", "/a", 9080)], workload="db-replica", labels={"app": "db", "tier": "replica"}
    )
    found = suggest([one, two])
    assert [p.selector for p in found.policies] == [
        FrozenMap({"app": "db", "tier": "replica"}),
        FrozenMap({"app": "db", "tier": "primary"}),
    ]


def test_no_selector_no_policy_and_every_request_left_out() -> None:
    same = {"app": "db"}
    one = capture([(X, "GET", "/a", 9080)] * 3, labels=same)
    two = capture([(Y, "GET", "/b", 9080)], workload="db-copy", labels=same)
    bare = capture([(Z, "GET", "/c", 9080)], workload="bare", labels={})
    found = suggest([one, two, bare])
    assert found.policies == ()
    assert [
        (item.destination, item.principal, item.operation, item.count) for item in found.left_out
    ] == [
        ("default/bare", Z, "GET /c", 1),
        ("default/db-copy", Y, "GET /b", 1),
        ("default/details-v1", X, "GET /a", 3),
    ]
    assert found.left_out[0].reason == (
        "no labels are known for the workload (record node metadata LABELS, or pass a"
        " Kubernetes snapshot)"
    )
    assert found.left_out[1].reason == (
        "its labels do not tell it apart from another workload of its namespace"
    )


def test_paths_must_be_exact_or_template() -> None:
    with pytest.raises(ValueError, match="paths must be 'exact' or 'template', not 'prefix'"):
        suggest([], paths="prefix")  # type: ignore[arg-type]


@pytest.mark.parametrize("paths", ["exact", "template"])
def test_recorded_yaml_passes_istios_checks_and_check_agrees(paths: str) -> None:
    workloads = KubernetesWorkloads.from_files([SNAPSHOT])
    found = suggest(_recording(), workloads=workloads, paths=paths)  # type: ignore[arg-type]
    # load_policies() checks each document against Istio's schema and validation rules.
    policies = load_policies(render_policies(found), source="policies.yaml")
    assert policies == found.policies
    report = check(policies, _recording(), workloads=workloads)
    verdicts = Counter(
        (decision.request.source_principal is not None, decision.verdict)
        for decision in report.decisions
    )
    # Every request with a principal allowed, by its workload's policy; legacy's denied.
    assert verdicts == {(True, Verdict.ALLOWED): 20, (False, Verdict.DENIED): 1}
    assert {d.policy for d in report.decisions if d.verdict is Verdict.ALLOWED} == {
        policy.key for policy in policies
    }


def test_waypoint_requests_are_counted_not_suggested_for() -> None:
    streams = []
    for name in ("waypoint.bin", "reviews-sidecar-http.bin"):
        with meshals.read(FIXTURES / "mx" / name) as reader:
            streams.append(list(reader))
    found = suggest(streams)
    assert [policy.key for policy in found.policies] == ["bookinfo/allow-reviews"]
    assert found.waypoints == FrozenMap({"bookinfo/waypoint": 1})
    assert {caller.destination for caller in found.unnamed_callers} == {"bookinfo/reviews"}


def test_policy_names_are_kubernetes_names_unique_in_their_namespace() -> None:
    # A custom resource's metadata.name is a DNS-1123 subdomain; workload names from node
    # metadata need not be one. My_App, my-app and my.app all become allow-my-app: each gets
    # its own workload name's digest.
    found = suggest(
        [
            capture([(X, "GET", "/a", 9080)], workload=workload, labels={"app": app})
            for workload, app in [
                ("My_App", "a"),
                ("my-app", "b"),
                ("my.app", "c"),
                ("Ünï--code_", "d"),
                ("x" * 300, "e"),
            ]
        ]
    )
    assert [policy.name for policy in found.policies] == [
        "allow-my-app-0e86b84b",
        "allow-my-app-13d7e337",
        "allow-my-app-4c9a75cc",
        "allow-n-code",
        "allow-" + "x" * 247,
    ]
    subdomain = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
    assert all(
        subdomain.fullmatch(policy.name) and len(policy.name) <= 253 for policy in found.policies
    )
    assert load_policies(render_policies(found)) == found.policies


def _with_pod(name: str, version: str, ip: str) -> KubernetesWorkloads:
    """The recording's snapshot with one more reviews pod: *name*'s Deployment, *version*."""
    snapshot = json.loads(SNAPSHOT.read_text())
    (reviews,) = [
        item
        for item in snapshot["items"]
        if item["kind"] == "Pod" and item["metadata"]["name"].startswith("reviews-v1-")
    ]
    pod = copy.deepcopy(reviews)
    pod["metadata"].update(name=f"{name}-7c9d-x2k", generateName=f"{name}-7c9d-")
    pod["metadata"]["labels"].update({"pod-template-hash": "7c9d", "version": version})
    pod["metadata"]["ownerReferences"][0]["name"] = f"{name}-7c9d"
    pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])
    snapshot["items"].append(pod)
    return KubernetesWorkloads(snapshot)


def test_selector_tells_the_snapshots_other_pods_apart() -> None:
    # reviews-v2 never appears in the capture, but app: reviews would select it too.
    with meshals.read(ENVOY_FIXTURES / "mtls" / "reviews-http.bin") as reader:
        recording = list(reader)
    other = suggest([recording], workloads=_with_pod("reviews-v2", "v2", "127.0.0.99"))
    assert [(p.name, p.selector) for p in other.policies] == [
        ("allow-reviews-v1", FrozenMap({"app": "reviews", "version": "v1"}))
    ]
    # A second pod of reviews-v1 itself is meant to be selected: app alone still does.
    same = suggest([recording], workloads=_with_pod("reviews-v1", "v1", "127.0.0.99"))
    assert [(p.name, p.selector) for p in same.policies] == [
        ("allow-reviews-v1", FrozenMap({"app": "reviews"}))
    ]
