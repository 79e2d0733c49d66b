"""load_policies() and policy_from_document(): Istio's schema, and messages that say where."""

from __future__ import annotations

import pickle

import pytest

from meshals._values import FrozenMap
from meshals.policy import (
    Action,
    AuthorizationPolicy,
    Condition,
    Operation,
    PolicyError,
    Rule,
    Source,
    load_policies,
    policy_from_document,
)

FULL = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: default, labels: {team: a}}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"],
               notNamespaces: [legacy], ipBlocks: [10.0.0.0/8], notRemoteIpBlocks: [1.2.3.4]}
    to:
    - operation: {methods: [GET], notPaths: ["/admin*"], ports: ["9080"], hosts: ["*.local"]}
    when:
    - {key: "request.headers[x-user]", values: [alice], notValues: [bob]}
---
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: istio-system}
spec: {}
"""


def test_a_full_document_and_an_empty_one() -> None:
    first, second = load_policies(FULL, source="p.yaml")
    assert first == AuthorizationPolicy(
        name="reviews",
        namespace="default",
        selector=FrozenMap({"app": "reviews"}),
        action=Action.DENY,
        rules=(
            Rule(
                sources=(
                    Source(
                        principals=("cluster.local/ns/default/sa/bookinfo-productpage",),
                        not_namespaces=("legacy",),
                        ip_blocks=("10.0.0.0/8",),
                        not_remote_ip_blocks=("1.2.3.4",),
                    ),
                ),
                operations=(
                    Operation(
                        methods=("GET",),
                        not_paths=("/admin*",),
                        ports=("9080",),
                        hosts=("*.local",),
                    ),
                ),
                when=(
                    Condition(
                        key="request.headers[x-user]", values=("alice",), not_values=("bob",)
                    ),
                ),
            ),
        ),
    )
    assert first.source == "p.yaml#0"
    # An ALLOW policy without rules (it allows nothing); the empty document is skipped.
    assert second == AuthorizationPolicy(name="allow-nothing", namespace="istio-system")
    assert second.source == "p.yaml#2"


def test_a_list_document() -> None:
    text = (
        "kind: List\nitems:\n- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n"
        "  metadata: {name: a, namespace: n}\n  spec: {rules: [{}]}\n"
    )
    (policy,) = load_policies(text, source="l.yaml")
    assert policy == AuthorizationPolicy(name="a", namespace="n", rules=(Rule(),))
    assert policy.source == "l.yaml#0[items[0]]"


def _doc(spec: object, **metadata: object) -> dict[str, object]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "p", "namespace": "ns", **metadata},
        "spec": spec,
    }


def _rule(**parts: object) -> dict[str, object]:
    return {"rules": [parts]}


# (spec, the message's exact end after "<document>, ")
SCHEMA_ERRORS = [
    ({"action": "DENY"}, r"spec\.rules: DENY action without `rules` is meaningless"),
    ({"action": "DENY", "rules": []}, r"spec\.rules: DENY action without `rules`"),
    ({"action": "CUSTOM", "rules": [{}]}, r"spec\.provider: `provider\.name` must not be empty"),
    ({"action": "CUSTOM", "provider": {"name": "x"}}, r": CUSTOM action without `rules`"),
    (
        {"provider": {"name": "x"}, "rules": [{}]},
        r"spec\.provider: `provider` must not be with non CUSTOM action, found ALLOW",
    ),
    (
        {
            "action": "CUSTOM",
            "provider": {"name": "x"},
            "rules": [{"from": [{"source": {"principals": ["a"]}}]}],
        },
        r"spec\.rules\[0\]\.from\[0\]\.source\.principals: From\.Principals is currently not"
        r" supported with CUSTOM action",
    ),
    (
        {
            "action": "CUSTOM",
            "provider": {"name": "x"},
            "rules": [{"when": [{"key": "request.auth.claims[iss]", "values": ["a"]}]}],
        },
        r"spec\.rules\[0\]\.when\[0\]\.key: request\.auth\.claims\[iss\] is currently not",
    ),
    ({"action": "allow"}, r"spec\.action: must be one of ALLOW, DENY, AUDIT, CUSTOM, not 'allow'"),
    ({"rule": []}, r"spec: unknown field 'rule' \(allowed: selector, targetRef"),
    (
        {"selector": {"matchLabels": {"app": "a"}}, "targetRef": {"kind": "Gateway", "name": "g"}},
        r"spec: only one of selector, targetRef can be set",
    ),
    ({"selector": {"app": "a"}}, r"spec\.selector: unknown field 'app' \(allowed: matchLabels\)"),
    ({"targetRefs": []}, r"spec\.targetRefs: must be a non-empty list"),
    ({"targetRef": {"kind": "Gateway"}}, r"spec\.targetRef\.name: must be a non-empty string"),
    ({"rules": [None]}, r"spec\.rules\[0\]: `rule` must not be null"),
    (_rule(**{"from": []}), r"spec\.rules\[0\]\.from: `from` must be a non-empty list"),
    (
        _rule(to=[{"operation": {}}]),
        r"spec\.rules\[0\]\.to\[0\]\.operation: `to\.operation` must"
        r" not be empty",
    ),
    (_rule(to=[{}]), r"spec\.rules\[0\]\.to\[0\]: `to\.operation` must not be null"),
    (
        _rule(to=[{"operation": {"paths": [], "methods": []}}]),
        r"spec\.rules\[0\]\.to\[0\]\.operation: `to\.operation` must not be empty",
    ),
    (
        _rule(**{"from": [{"source": {"principals": []}}]}),
        r"spec\.rules\[0\]\.from\[0\]\.source: `from\.source` must not be empty",
    ),
    (
        _rule(to=[{"operation": {"ports": ["65536"]}}]),
        r"spec\.rules\[0\]\.to\[0\]\.operation\.ports\[0\]: bad port \(65536\): must be 0-65535",
    ),
    (_rule(to=[{"operation": {"notPorts": ["http"]}}]), r"notPorts\[0\]: bad port \(http\)"),
    (
        _rule(to=[{"operation": {"ports": [9080]}}]),
        r"ports\[0\]: must be a string, not int 9080 \(write \"9080\"\)",
    ),
    (_rule(to=[{"operation": {"methods": [""]}}]), r"methods\[0\]: empty value not allowed"),
    (
        _rule(to=[{"operation": {"methods": "GET"}}]),
        r"methods: must be a list of strings, not the string 'GET'",
    ),
    (
        _rule(to=[{"operation": {"paths": ["/a/{**}/{*}"]}}]),
        r"paths\[0\]: invalid or unsupported path /a/\{\*\*\}/\{\*\}: \{\*\*\} is not the last",
    ),
    (
        _rule(to=[{"operation": {"paths": ["/a/{x}"]}}]),
        r"paths\[0\]: invalid or unsupported path /a/\{x\}: contains '\{' or '\}' beyond",
    ),
    (_rule(to=[{"operation": {"verbs": ["GET"]}}]), r"operation: unknown field 'verbs'"),
    (
        _rule(**{"from": [{"source": {"ipBlocks": ["10.0.0.300"]}}]}),
        r"ipBlocks\[0\]: bad IP address \(10\.0\.0\.300\)",
    ),
    (
        _rule(**{"from": [{"source": {"remoteIpBlocks": ["10.0.0.0/33"]}}]}),
        r"remoteIpBlocks\[0\]: bad CIDR range \(10\.0\.0\.0/33\)",
    ),
    (
        _rule(**{"from": [{"source": {"serviceAccounts": ["a"], "namespaces": ["b"]}}]}),
        r"source: cannot set serviceAccounts with namespaces or principals",
    ),
    (
        _rule(**{"from": [{"source": {"serviceAccounts": ["a/b/c"]}}]}),
        r"serviceAccounts: expected format 'serviceAccount' or 'namespace/serviceAccount',"
        r" found 'a/b/c'",
    ),
    (
        _rule(when=[{"key": "source.ip"}]),
        r"when\[0\]: at least one of `values` or `notValues` must be set for key source\.ip",
    ),
    (_rule(when=[{"key": "source.ip", "values": ["x"]}]), r"values\[0\]: bad IP address \(x\)"),
    (
        _rule(when=[{"key": "destination.port", "notValues": ["-1"]}]),
        r"notValues\[0\]: bad port \(-1\)",
    ),
    (
        _rule(when=[{"key": "request.headers", "values": ["a"]}]),
        r"key: bad key \(request\.headers\): should have format a\[b\]",
    ),
    (
        _rule(when=[{"key": "destination.labels[app]", "values": ["a"]}]),
        r"key: attribute destination\.labels\[app\] is replaced by the workload selector",
    ),
    (
        _rule(when=[{"key": "destination.namespace", "values": ["a"]}]),
        r"key: attribute destination\.namespace is replaced by the metadata\.namespace",
    ),
    (
        _rule(when=[{"key": "source.user", "values": ["a"]}]),
        r"key: unknown attribute: source\.user",
    ),
]


@pytest.mark.parametrize(("spec", "message"), SCHEMA_ERRORS)
def test_schema_errors_say_where(spec: object, message: str) -> None:
    # The field path starts with "spec"; the table gives its end and the reason.
    with pytest.raises(PolicyError, match=f"^<document>, (spec\\S*?)?{message}"):
        policy_from_document(_doc(spec))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {**_doc({}), "kind": "PeerAuthentication"},
            r"kind: not an AuthorizationPolicy \(kind 'PeerAuthentication'\)",
        ),
        ({**_doc({}), "apiVersion": "v1"}, r"apiVersion: apiVersion must be one of"),
        (
            {**_doc({}), "metadata": {"name": "p"}},
            r"metadata\.namespace: must be a non-empty string, not null",
        ),
        ({**_doc({}), "extra": 1}, r"unknown field 'extra'"),  # the top: no field path
        (
            {**_doc({}), "metadata": {"name": "allow-My_App", "namespace": "default"}},
            r"metadata\.name: 'allow-My_App' is not a DNS-1123 subdomain: lower-case letters,"
            r" digits, '-' and '\.', starting and ending with a letter or digit, at most 253"
            r" characters$",
        ),
        ({**_doc({}), "metadata": {"name": "-a", "namespace": "d"}}, r"metadata\.name: '-a' is"),
        ({**_doc({}), "metadata": {"name": "a.", "namespace": "d"}}, r"metadata\.name: 'a\.' is"),
        ({**_doc({}), "metadata": {"name": "a" * 254, "namespace": "d"}}, r"metadata\.name: 'a"),
        (
            {**_doc({}), "metadata": {"name": "a", "namespace": "my.ns"}},
            r"metadata\.namespace: 'my\.ns' is not a DNS-1123 label: lower-case letters, digits"
            r" and '-', starting and ending with a letter or digit, at most 63 characters$",
        ),
        (
            {**_doc({}), "metadata": {"name": "a", "namespace": "n" * 64}},
            r"metadata\.namespace: 'n",
        ),
    ],
)
def test_resource_errors(document: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=f"^<document>(, |: ){message}"):
        policy_from_document(document)


def test_kubernetes_names() -> None:
    document = {**_doc({}), "metadata": {"name": "allow.reviews-v1", "namespace": "n" * 63}}
    assert policy_from_document(document).key == "n" * 63 + "/allow.reviews-v1"
    long_name = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters
    document = {**_doc({}), "metadata": {"name": long_name, "namespace": "default"}}
    assert policy_from_document(document).name == long_name


def test_bytes_are_utf8() -> None:
    assert load_policies(FULL.encode(), source="p.yaml") == load_policies(FULL)
    with pytest.raises(
        PolicyError, match=r"^p\.yaml: not UTF-8: byte 0xe9 at offset 22 \(line 2\)$"
    ):
        load_policies(b"kind: List\nitems: [caf\xe9]\n", source="p.yaml")


def test_yaml_errors_name_the_file_and_document() -> None:
    with pytest.raises(PolicyError, match=r"^p\.yaml: not YAML: "):
        load_policies("a: [", source="p.yaml")
    second = FULL.replace("methods: [GET]", "methods: [GET, 7]")
    with pytest.raises(
        PolicyError,
        match=r"^p\.yaml, document 0, spec\.rules\[0\]\.to\[0\]\.operation\.methods\[1\]: must"
        r" be a string, not int 7",
    ):
        load_policies(second, source="p.yaml")


def test_policy_error_pickles() -> None:
    error = PolicyError("bad", source="p.yaml", document=1, field="spec")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.document, copy.field) == ("p.yaml, document 1, spec: bad", 1, "spec")


def test_a_bare_string_is_not_a_list_of_values() -> None:
    with pytest.raises(TypeError, match="not the string 'GET'"):
        Operation(methods="GET")
