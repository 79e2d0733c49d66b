"""``tools/_istio_rbac.py``: AuthorizationPolicies -> Envoy RBAC, as istiod translates them.

The expected configurations are Istio's own: the shapes of istio/istio's builder test data
(``pilot/pkg/security/authz/builder/testdata/http/allow-full-rule-out.yaml``,
``dry-run-allow-and-deny-out1.yaml``), written out by hand for the fields the recorder uses.
The recording (``tests/fixtures/envoy/rbac``) then shows Envoy deciding on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import _istio_rbac  # noqa: E402 -- a module in tools/, importable once on the path
from _istio_rbac import TranslationError, selects  # noqa: E402

POLICIES = ROOT / "tests" / "fixtures" / "policies" / "rbac-shadow.yaml"


def rbac_config(policies: list[dict[str, Any]], action: str, *, tcp: bool) -> Any:
    """The translator's JSON-shaped result, untyped for the comparisons."""
    return json.loads(json.dumps(_istio_rbac.rbac_config(policies, action, tcp=tcp)))


def rbac_filters(
    policies: list[dict[str, Any]], *, namespace: str, labels: dict[str, str], tcp: bool
) -> Any:
    translated = _istio_rbac.rbac_filters(policies, namespace=namespace, labels=labels, tcp=tcp)
    return json.loads(json.dumps(translated))


def policy(spec: dict[str, Any], name: str = "httpbin", namespace: str = "foo") -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def authenticated(matcher: dict[str, Any]) -> dict[str, Any]:
    return {"authenticated": {"principal_name": matcher}}


def test_principals_namespaces_and_their_not_forms() -> None:
    rule = {
        "from": [
            {
                "source": {
                    "principals": ["principal", "principal-prefix-*", "*-suffix-principal", "*"],
                    "notPrincipals": ["not-principal"],
                    "namespaces": ["ns", "ns-prefix-*", "*"],
                    "notNamespaces": ["not-ns"],
                    "ipBlocks": ["1.2.3.4", "5.6.0.0/16"],
                }
            }
        ]
    }
    config = rbac_config([policy({"rules": [rule]})], "ALLOW", tcp=False)
    assert config == {
        "action": "ALLOW",
        "policies": {
            "ns[foo]-policy[httpbin]-rule[0]": {
                "permissions": [{"and_rules": {"rules": [{"any": True}]}}],
                "principals": [
                    {
                        "and_ids": {
                            "ids": [
                                {
                                    "or_ids": {
                                        "ids": [
                                            authenticated({"exact": "spiffe://principal"}),
                                            authenticated({"prefix": "spiffe://principal-prefix-"}),
                                            authenticated(
                                                {
                                                    "safe_regex": {
                                                        "regex": "spiffe://.*-suffix-principal"
                                                    }
                                                }
                                            ),
                                            authenticated({"safe_regex": {"regex": ".+"}}),
                                        ]
                                    }
                                },
                                {
                                    "not_id": {
                                        "or_ids": {
                                            "ids": [
                                                authenticated({"exact": "spiffe://not-principal"})
                                            ]
                                        }
                                    }
                                },
                                {
                                    "or_ids": {
                                        "ids": [
                                            authenticated({"safe_regex": {"regex": ".*/ns/ns/.*"}}),
                                            authenticated(
                                                {"safe_regex": {"regex": ".*/ns/ns-prefix-.*/.*"}}
                                            ),
                                            authenticated({"safe_regex": {"regex": ".*/ns/.*/.*"}}),
                                        ]
                                    }
                                },
                                {
                                    "not_id": {
                                        "or_ids": {
                                            "ids": [
                                                authenticated(
                                                    {"safe_regex": {"regex": ".*/ns/not-ns/.*"}}
                                                )
                                            ]
                                        }
                                    }
                                },
                                {
                                    "or_ids": {
                                        "ids": [
                                            {
                                                "direct_remote_ip": {
                                                    "address_prefix": "1.2.3.4",
                                                    "prefix_len": 32,
                                                }
                                            },
                                            {
                                                "direct_remote_ip": {
                                                    "address_prefix": "5.6.0.0",
                                                    "prefix_len": 16,
                                                }
                                            },
                                        ]
                                    }
                                },
                            ]
                        }
                    }
                ],
            }
        },
    }


def test_hosts_methods_paths_ports_and_their_not_forms() -> None:
    rule = {
        "to": [
            {
                "operation": {
                    "hosts": ["exact.com", "*.suffix.com", "*"],
                    "methods": ["GET", "*"],
                    "notMethods": ["DELETE"],
                    "paths": ["/exact", "/prefix/*", "*/suffix"],
                    "notPaths": ["/not-exact"],
                    "ports": ["80"],
                    "notPorts": ["8000"],
                }
            }
        ]
    }
    config = rbac_config([policy({"rules": [rule]})], "ALLOW", tcp=False)
    permission = config["policies"]["ns[foo]-policy[httpbin]-rule[0]"]["permissions"]
    authority = ":authority"
    assert permission == [
        {
            "and_rules": {
                "rules": [
                    {
                        "or_rules": {
                            "rules": [
                                # Case-insensitive, and no port variant: "exact.com" does not
                                # match "exact.com:80".
                                {
                                    "header": {
                                        "name": authority,
                                        "string_match": {"exact": "exact.com", "ignore_case": True},
                                    }
                                },
                                {
                                    "header": {
                                        "name": authority,
                                        "string_match": {
                                            "suffix": ".suffix.com",
                                            "ignore_case": True,
                                        },
                                    }
                                },
                                {"header": {"name": authority, "present_match": True}},
                            ]
                        }
                    },
                    {
                        "or_rules": {
                            "rules": [
                                {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                                {"header": {"name": ":method", "present_match": True}},
                            ]
                        }
                    },
                    {
                        "not_rule": {
                            "or_rules": {
                                "rules": [
                                    {
                                        "header": {
                                            "name": ":method",
                                            "string_match": {"exact": "DELETE"},
                                        }
                                    }
                                ]
                            }
                        }
                    },
                    {
                        "or_rules": {
                            "rules": [
                                {"url_path": {"path": {"exact": "/exact"}}},
                                {"url_path": {"path": {"prefix": "/prefix/"}}},
                                {"url_path": {"path": {"suffix": "/suffix"}}},
                            ]
                        }
                    },
                    {
                        "not_rule": {
                            "or_rules": {"rules": [{"url_path": {"path": {"exact": "/not-exact"}}}]}
                        }
                    },
                    {"or_rules": {"rules": [{"destination_port": 80}]}},
                    {"not_rule": {"or_rules": {"rules": [{"destination_port": 8000}]}}},
                ]
            }
        }
    ]


HTTP_AND_PORT = {"rules": [{"to": [{"operation": {"paths": ["/admin"], "ports": ["9080"]}}]}]}


def test_on_tcp_a_deny_rule_drops_its_http_fields_and_an_allow_rule_is_dropped() -> None:
    deny = rbac_config([policy(HTTP_AND_PORT)], "DENY", tcp=True)
    allow = rbac_config([policy(HTTP_AND_PORT)], "ALLOW", tcp=True)
    only_paths = {"rules": [{"to": [{"operation": {"paths": ["*/debug"]}}]}]}
    widened = rbac_config([policy(only_paths)], "DENY", tcp=True)
    assert deny["policies"] == {
        "ns[foo]-policy[httpbin]-rule[0]": {
            "permissions": [
                {"and_rules": {"rules": [{"or_rules": {"rules": [{"destination_port": 9080}]}}]}}
            ],
            "principals": [{"and_ids": {"ids": [{"any": True}]}}],
        }
    }
    # An ALLOW filter without policies denies every connection.
    assert allow == {"action": "ALLOW", "policies": {}}
    # Nothing left: the DENY rule matches every connection.
    assert widened["policies"]["ns[foo]-policy[httpbin]-rule[0]"]["permissions"] == [
        {"and_rules": {"rules": [{"any": True}]}}
    ]


def test_a_policy_without_rules_matches_nothing() -> None:
    assert rbac_config([policy({})], "ALLOW", tcp=False)["policies"] == {
        "ns[foo]-policy[httpbin]-rule[0]": {
            "permissions": [{"not_rule": {"any": True}}],
            "principals": [{"not_id": {"any": True}}],
        }
    }


def test_filters_deny_first_then_allow_with_istios_dry_run_prefixes() -> None:
    policies = [
        policy({"action": "ALLOW", "selector": {"matchLabels": {"app": "httpbin"}}}, "a"),
        policy({"action": "DENY"}, "d"),
        policy({"action": "ALLOW", "selector": {"matchLabels": {"app": "other"}}}, "o"),
        policy({"action": "DENY"}, "elsewhere", namespace="bar"),
    ]
    filters = rbac_filters(policies, namespace="foo", labels={"app": "httpbin"}, tcp=False)
    assert [f["name"] for f in filters] == ["envoy.filters.http.rbac"] * 2
    configs = [f["typed_config"] for f in filters]
    assert [c["shadow_rules_stat_prefix"] for c in configs] == [
        "istio_dry_run_deny_",
        "istio_dry_run_allow_",
    ]
    assert [sorted(c["shadow_rules"]["policies"]) for c in configs] == [
        ["ns[foo]-policy[d]-rule[0]"],
        ["ns[foo]-policy[a]-rule[0]"],
    ]
    assert all("rules" not in c for c in configs)  # shadow only: nothing is enforced
    tcp = rbac_filters(policies, namespace="foo", labels={"app": "other"}, tcp=True)
    assert [(f["name"], f["typed_config"]["stat_prefix"]) for f in tcp] == [
        ("envoy.filters.network.rbac", "tcp."),
        ("envoy.filters.network.rbac", "tcp."),
    ]
    assert rbac_filters(policies, namespace="baz", labels={}, tcp=False) == []


def test_selection_by_namespace_and_labels() -> None:
    scoped = policy({"selector": {"matchLabels": {"app": "details", "version": "v1"}}})
    assert selects(scoped, "foo", {"app": "details", "version": "v1", "x": "y"})
    assert not selects(scoped, "foo", {"app": "details"})
    assert not selects(scoped, "bar", {"app": "details", "version": "v1"})
    assert selects(policy({}), "foo", {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"action": "AUDIT", "rules": [{}]}, "httpbin: action AUDIT not translated"),
        (
            {"rules": [{"when": [{"key": "request.auth.principal", "values": ["1"]}]}]},
            r"ns\[foo\]-policy\[httpbin\]-rule\[0\]: when key request.auth.principal",
        ),
        (
            {"rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]},
            "not translated: requestPrincipals",
        ),
    ],
)
def test_what_it_does_not_translate_is_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        rbac_filters([policy(spec)], namespace="foo", labels={}, tcp=False)


def test_the_recordings_policies_load_and_translate() -> None:
    policies: Any = _istio_rbac.load_policies(POLICIES)
    assert [p["metadata"]["name"] for p in policies] == [
        "productpage-viewer",
        "details-reader",
        "details-admin-port",
        "details-deny-writes",
        "reviews-reader",
        "ratings-grpc",
        "mongodb-clients",
        "deny-debug",
        "reviews-templates",
        "details-xff",
        "details-deny-remote",
    ]
    details = rbac_filters(policies, namespace="default", labels={"app": "details"}, tcp=False)
    assert [sorted(f["typed_config"]["shadow_rules"]["policies"]) for f in details] == [
        [
            "ns[default]-policy[deny-debug]-rule[0]",
            "ns[default]-policy[details-deny-remote]-rule[0]",
            "ns[default]-policy[details-deny-writes]-rule[0]",
        ],
        [
            "ns[default]-policy[details-admin-port]-rule[0]",
            "ns[default]-policy[details-reader]-rule[0]",
            "ns[default]-policy[details-reader]-rule[1]",
            "ns[default]-policy[details-xff]-rule[0]",
            "ns[default]-policy[details-xff]-rule[1]",
        ],
    ]


def test_path_templates_become_envoys_uri_template_matcher() -> None:
    # pathGenerator: a value with {*} or {**} is a uri_template permission whose template has
    # them as * and ** (matcher/template.go); other values stay url_path.
    rule = {"to": [{"operation": {"paths": ["/a/{*}/b", "/c/{**}", "/d/*"]}}]}
    config = rbac_config([policy({"rules": [rule]})], "ALLOW", tcp=False)
    permission = config["policies"]["ns[foo]-policy[httpbin]-rule[0]"]["permissions"][0]
    template = (
        "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"
    )
    assert permission == {
        "and_rules": {
            "rules": [
                {
                    "or_rules": {
                        "rules": [
                            {
                                "uri_template": {
                                    "name": "uri-template",
                                    "typed_config": {"@type": template, "path_template": path},
                                }
                            }
                            for path in ("/a/*/b", "/c/**")
                        ]
                        + [{"url_path": {"path": {"prefix": "/d/"}}}]
                    }
                }
            ]
        }
    }


def test_when_conditions_join_the_principals_or_the_permissions() -> None:
    # model.go New: source.ip, remote.ip and request.headers[...] after each source's fields,
    # destination.port after each operation's; notValues as a not over their OR.
    rule = {
        "from": [{"source": {"ipBlocks": ["10.0.0.1"]}}],
        "to": [{"operation": {"methods": ["GET"]}}],
        "when": [
            {"key": "request.headers[x-tenant]", "values": ["acme", "beta-*"]},
            {"key": "remote.ip", "values": ["192.0.2.0/24"]},
            {"key": "source.ip", "notValues": ["10.0.0.2"]},
            {"key": "destination.port", "values": ["9080"]},
        ],
    }
    config = rbac_config([policy({"rules": [rule]})], "ALLOW", tcp=False)
    translated = config["policies"]["ns[foo]-policy[httpbin]-rule[0]"]
    header = "x-tenant"
    assert translated["principals"] == [
        {
            "and_ids": {
                "ids": [
                    {"or_ids": {"ids": [{"direct_remote_ip": cidr("10.0.0.1", 32)}]}},
                    {
                        "or_ids": {
                            "ids": [
                                {"header": {"name": header, "string_match": {"exact": "acme"}}},
                                {"header": {"name": header, "string_match": {"prefix": "beta-"}}},
                            ]
                        }
                    },
                    {"or_ids": {"ids": [{"remote_ip": cidr("192.0.2.0", 24)}]}},
                    {"not_id": {"or_ids": {"ids": [{"direct_remote_ip": cidr("10.0.0.2", 32)}]}}},
                ]
            }
        }
    ]
    method = {"header": {"name": ":method", "string_match": {"exact": "GET"}}}
    assert translated["permissions"] == [
        {
            "and_rules": {
                "rules": [
                    {"or_rules": {"rules": [method]}},
                    {"or_rules": {"rules": [{"destination_port": 9080}]}},
                ]
            }
        }
    ]


def cidr(address: str, length: int) -> dict[str, Any]:
    return {"address_prefix": address, "prefix_len": length}


@pytest.mark.parametrize(
    "when",
    [
        {"key": "request.auth.claims[iss]", "values": ["x"]},
        {"key": "connection.sni", "values": ["x"]},
    ],
)
def test_other_when_keys_are_refused(when: dict[str, Any]) -> None:
    with pytest.raises(TranslationError, match="when key"):
        rbac_config([policy({"rules": [{"when": [when]}]})], "ALLOW", tcp=False)
