"""policy_to_document() and render_policies(): Istio's resource shape, field for field, and
YAML that reads back to the same documents, byte for byte the same on every run."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from meshals._values import FrozenMap
from meshals.model import IstioWorkload
from meshals.policy import (
    Action,
    AuthorizationPolicy,
    Condition,
    LeftOut,
    Operation,
    Rule,
    Source,
    Suggestion,
    UnnamedCaller,
    load_policies,
    policy_from_document,
    policy_to_document,
    render_policies,
)

EVERY_FIELD = AuthorizationPolicy(
    name="httpbin",
    namespace="foo",
    selector=FrozenMap({"app": "httpbin", "version": "v1"}),
    action=Action.DENY,
    rules=(
        Rule(
            sources=(
                Source(principals=("cluster.local/ns/default/sa/sleep",)),
                Source(
                    not_principals=("a",),
                    request_principals=("iss/sub",),
                    not_request_principals=("b",),
                    namespaces=("test",),
                    not_namespaces=("prod",),
                    ip_blocks=("10.0.0.0/8",),
                    not_ip_blocks=("10.1.0.0/16",),
                    remote_ip_blocks=("192.0.2.1",),
                    not_remote_ip_blocks=("192.0.2.2",),
                ),
            ),
            operations=(
                Operation(
                    hosts=("httpbin.foo",),
                    not_hosts=("x",),
                    ports=("8000",),
                    not_ports=("8001",),
                    methods=("GET",),
                    not_methods=("POST",),
                    paths=("/info*",),
                    not_paths=("/info/admin",),
                ),
            ),
            when=(
                Condition(key="request.auth.claims[iss]", values=("https://accounts.google.com",)),
                Condition(key="source.ip", not_values=("10.0.0.1",)),
            ),
        ),
        Rule(),
    ),
)

EVERY_FIELD_DOCUMENT: dict[str, Any] = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "httpbin", "namespace": "foo"},
    "spec": {
        "selector": {"matchLabels": {"app": "httpbin", "version": "v1"}},
        "action": "DENY",
        "rules": [
            {
                "from": [
                    {"source": {"principals": ["cluster.local/ns/default/sa/sleep"]}},
                    {
                        "source": {
                            "notPrincipals": ["a"],
                            "requestPrincipals": ["iss/sub"],
                            "notRequestPrincipals": ["b"],
                            "namespaces": ["test"],
                            "notNamespaces": ["prod"],
                            "ipBlocks": ["10.0.0.0/8"],
                            "notIpBlocks": ["10.1.0.0/16"],
                            "remoteIpBlocks": ["192.0.2.1"],
                            "notRemoteIpBlocks": ["192.0.2.2"],
                        }
                    },
                ],
                "to": [
                    {
                        "operation": {
                            "hosts": ["httpbin.foo"],
                            "notHosts": ["x"],
                            "ports": ["8000"],
                            "notPorts": ["8001"],
                            "methods": ["GET"],
                            "notMethods": ["POST"],
                            "paths": ["/info*"],
                            "notPaths": ["/info/admin"],
                        }
                    }
                ],
                "when": [
                    {
                        "key": "request.auth.claims[iss]",
                        "values": ["https://accounts.google.com"],
                    },
                    {"key": "source.ip", "notValues": ["10.0.0.1"]},
                ],
            },
            {},
        ],
    },
}


def test_every_field() -> None:
    document = policy_to_document(EVERY_FIELD)
    assert document == EVERY_FIELD_DOCUMENT
    # Keys in the API reference's order, not sorted: what a reader of Istio's docs expects.
    assert list(document) == ["apiVersion", "kind", "metadata", "spec"]
    assert list(document["spec"]) == ["selector", "action", "rules"]
    operation = document["spec"]["rules"][0]["to"][0]["operation"]
    assert list(operation) == [
        "hosts",
        "notHosts",
        "ports",
        "notPorts",
        "methods",
        "notMethods",
        "paths",
        "notPaths",
    ]


TARGET_REFS = AuthorizationPolicy(
    name="ext-authz",
    namespace="istio-system",
    target_refs=(
        FrozenMap({"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}),
    ),
    action=Action.CUSTOM,
    provider="oauth2-proxy",
    rules=(Rule(operations=(Operation(not_paths=("/oauth2*",)),)),),
)


def test_target_refs_and_custom_provider() -> None:
    assert policy_to_document(TARGET_REFS)["spec"] == {
        "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}],
        "action": "CUSTOM",
        "provider": {"name": "oauth2-proxy"},
        "rules": [{"to": [{"operation": {"notPaths": ["/oauth2*"]}}]}],
    }


@pytest.mark.parametrize(
    "policy", [EVERY_FIELD, TARGET_REFS, AuthorizationPolicy(name="n", namespace="s")]
)
def test_round_trip(policy: AuthorizationPolicy) -> None:
    # policy_from_document() checks the document against Istio's schema, then reads it back.
    assert policy_from_document(policy_to_document(policy)) == policy


def test_no_rules_no_selector() -> None:
    # Istio's allow-nothing: an ALLOW policy without rules, for the whole namespace.
    document = policy_to_document(AuthorizationPolicy(name="allow-nothing", namespace="shop"))
    assert document["spec"] == {"action": "ALLOW"}


def test_render_reads_back_as_the_documents() -> None:
    other = AuthorizationPolicy(name="allow-nothing", namespace="shop")
    text = render_policies([EVERY_FIELD, other])
    assert list(yaml.safe_load_all(text)) == [EVERY_FIELD_DOCUMENT, policy_to_document(other)]
    assert text.count("---\n") == 1
    assert render_policies([EVERY_FIELD, other]) == text
    assert render_policies([]) == ""


def test_render_quotes_ports_and_keeps_long_lines() -> None:
    principal = "cluster.local/ns/a-namespace-with-a-long-name/sa/" + "x" * 120
    policy = AuthorizationPolicy(
        name="p",
        namespace="n",
        rules=(
            Rule(
                sources=(Source(principals=(principal,)),), operations=(Operation(ports=("9080",)),)
            ),
        ),
    )
    text = render_policies([policy])
    assert f"        - {principal}\n" in text  # one line, however long
    assert "        - '9080'\n" in text  # a string, as Istio's API types ports


def _caller(policy: str | None, **changes: Any) -> UnnamedCaller:
    values: dict[str, Any] = {
        "policy": policy,
        "destination": "default/details-v1",
        "source_ip": "10.0.0.7",
        "remote_ip": None,
        "source": IstioWorkload(workload="legacy", namespace="default"),
        "requests": 2,
        "connections": 0,
        "ports": (9080,),
        "operations": ("GET /details/0", "GET /details/1"),
        "ip_blocks": ("10.0.0.7",),
        "remote_ip_blocks": (),
        "principals": (),
        "namespaces": ("default",),
    }
    values.update(changes)
    return UnnamedCaller(**values)


def test_comments_above_each_document() -> None:
    details = AuthorizationPolicy(
        name="allow-details-v1",
        namespace="default",
        selector=FrozenMap({"app": "details"}),
    )
    suggestion = Suggestion(
        policies=(details,),
        unnamed_callers=(
            _caller("default/allow-details-v1"),
            _caller(
                None,
                destination="other/db",
                source_ip="10.0.0.8",
                remote_ip="203.0.113.9",
                source=None,
                requests=0,
                connections=1,
                ports=(5432, 5433),
                operations=("TCP",),
                ip_blocks=("10.0.0.8",),
                remote_ip_blocks=("203.0.113.9",),
                principals=("cluster.local/ns/other/sa/app",),
                namespaces=(),
            ),
        ),
        left_out=(
            LeftOut(
                policy="default/allow-details-v1",
                destination="default/details-v1",
                principal="cluster.local/ns/default/sa/productpage",
                operation="GET /search*",
                port=9080,
                count=3,
                reason="Istio would read the path as a prefix, suffix or template",
            ),
            LeftOut(
                policy=None,
                destination="?/?",
                principal=None,
                operation="TCP",
                port=None,
                count=1,
                reason="no namespace or workload name is known",
            ),
        ),
    )
    text = render_policies(suggestion)
    header, document = text.split("---\n")
    assert header == (
        "# Not admitted: callers without a principal (no mutual TLS):\n"
        "# - other/db: 1 connection from 10.0.0.8 for 203.0.113.9 on ports 5432, 5433: TCP\n"
        '#   would be admitted by from.source.remoteIpBlocks ["203.0.113.9"] or ipBlocks'
        ' ["10.0.0.8"] (addresses change),\n'
        '#   or, once it calls with mutual TLS, by principals ["cluster.local/ns/other/sa/app"]\n'
        "# Not admitted: requests no rule can match exactly:\n"
        "# - no principal: 1 connection TCP: no namespace or workload name is known\n"
    )
    assert document.startswith(
        "# This policy admits no request: no caller it was made from presented a\n"
        "# principal. Applied, it denies every request to the workloads it selects.\n"
        "# Not admitted: callers without a principal (no mutual TLS):\n"
        "# - default/details-v1: 2 requests from 10.0.0.7 (default/legacy) on port 9080:"
        " GET /details/0, GET /details/1\n"
        '#   would be admitted by from.source.ipBlocks ["10.0.0.7"] (addresses change),\n'
        '#   or, once it calls with mutual TLS, by namespaces ["default"]\n'
        "# Not admitted: requests no rule can match exactly:\n"
        "# - cluster.local/ns/default/sa/productpage: 3 requests GET /search* on port 9080:"
        " Istio would read the path as a prefix, suffix or template\n"
        "apiVersion: security.istio.io/v1\n"
    )
    # Comments before the first '---' are no document: the stream holds the policies only.
    assert list(yaml.safe_load_all(text)) == [policy_to_document(details)]


# What a plaintext caller's own peer metadata can name as its workload: a comment's end, then
# an allow-everything policy.
INJECTION = (
    "legacy\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: x, namespace: default}\nspec:\n  rules: [{}]\n#"
)


def test_comments_escape_what_the_capture_put_in_them() -> None:
    details = AuthorizationPolicy(
        name="allow-details-v1",
        namespace="default",
        selector=FrozenMap({"app": "details"}),
        rules=(Rule(sources=(Source(principals=("cluster.local/ns/default/sa/pp",)),)),),
    )
    suggestion = Suggestion(
        policies=(details,),
        unnamed_callers=(
            _caller(
                "default/allow-details-v1",
                source=IstioWorkload(workload=INJECTION, namespace="default\u2028x"),
                operations=("GET /a\rb", "GET /c\x85d"),
            ),
        ),
        left_out=(
            LeftOut(
                policy="default/allow-details-v1",
                destination="default/details-v1",
                principal="cluster.local/ns/default/sa/pp\x1b[2J",
                operation="GET /search*\n---\n",
                port=9080,
                count=1,
                reason="Istio would read the path as a prefix, suffix or template",
            ),
        ),
    )
    text = render_policies(suggestion)
    assert list(yaml.safe_load_all(text)) == [policy_to_document(details)]
    assert load_policies(text) == (details,)
    assert text[: text.index("apiVersion: security.istio.io/v1\nkind")] == (
        "# Not admitted: callers without a principal (no mutual TLS):\n"
        "# - default/details-v1: 2 requests from 10.0.0.7 (default\\u2028x/legacy\\n---\\n"
        "apiVersion: security.istio.io/v1\\nkind: AuthorizationPolicy\\nmetadata: {name: x,"
        " namespace: default}\\nspec:\\n  rules: [{}]\\n#) on port 9080: GET /a\\rb,"
        " GET /c\\x85d\n"
        '#   would be admitted by from.source.ipBlocks ["10.0.0.7"] (addresses change),\n'
        '#   or, once it calls with mutual TLS, by namespaces ["default"]\n'
        "# Not admitted: requests no rule can match exactly:\n"
        "# - cluster.local/ns/default/sa/pp\\x1b[2J: 1 request GET /search*\\n---\\n on port"
        " 9080: Istio would read the path as a prefix, suffix or template\n"
    )
