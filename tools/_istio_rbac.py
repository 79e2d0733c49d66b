"""Istio AuthorizationPolicies -> Envoy RBAC filters, translated the way istiod translates them.

Dev tooling for ``record_fixtures.py``; not part of meshals, and independent of
``meshals.policy`` on purpose: the RBAC recording holds meshals' policy check to Envoy's own
engine, so the policies reach Envoy by a separate path. Written from Istio's translation
(``pilot/pkg/security/authz/builder/builder.go``, ``model/model.go``, ``model/generator.go``,
``matcher/string.go`` and ``matcher/header.go`` in istio/istio):

- one rule of a policy becomes one Envoy policy named ``ns[<namespace>]-policy[<name>]-rule[<i>]``;
  each ``from`` is one principal and each ``to`` one permission (OR), the fields within them AND,
  the values of a field OR, a ``not`` field a ``not_id`` / ``not_rule`` over the OR of its values;
  no ``from`` (or no ``to``) is ``any``; a policy without rules is one that never matches;
- ``principals`` -> ``authenticated.principal_name`` with ``spiffe://`` before the value
  (``*`` -> regex ``.+``; ``x*`` -> prefix; ``*x`` -> regex ``spiffe://.*x``, unescaped as
  Istio writes it); ``namespaces`` -> principal regex ``.*/ns/<ns>/.*`` (``*`` -> ``.*``);
  ``ipBlocks`` -> ``direct_remote_ip``, ``remoteIpBlocks`` -> ``remote_ip``;
- ``paths`` -> ``url_path`` (path without the query); a path with ``{*}`` or ``{**}`` (Istio
  1.22+, ``matcher/template.go``) -> ``uri_template``, Envoy's URI template matcher with
  ``{*}`` -> ``*`` and ``{**}`` -> ``**``; ``methods`` -> the ``:method`` header,
  ``hosts`` -> the ``:authority`` header, case-insensitive (Istio adds no port variant: a host
  ``reviews`` does not match ``reviews:9080``), ``*`` -> present; ``ports`` ->
  ``destination_port``;
- DENY policies go into one filter, ALLOW policies into another, the DENY filter first; a
  workload that no policy of an action selects gets no filter of that action. With shadow
  rules (Istio's ``istio.io/dry-run``) their stat prefixes are ``istio_dry_run_deny_`` and
  ``istio_dry_run_allow_``.
- On a TCP listener the HTTP-only fields (hosts, methods, paths) cannot be checked: in an ALLOW
  policy the whole rule is dropped (allowing less), in a DENY policy just those values are
  (denying more; a rule left with nothing matches every connection).

- ``when`` (``model.go`` ``New``): ``source.ip`` -> ``direct_remote_ip``, ``remote.ip`` ->
  ``remote_ip`` and ``request.headers[<name>]`` -> a header matcher go into every principal
  after the source's fields; ``destination.port`` -> ``destination_port`` into every
  permission after the operation's; ``notValues`` -> ``not_id`` / ``not_rule``, as above.

Other ``when`` keys, request principals, CUSTOM and AUDIT policies and the root namespace are
not needed by the recording and are refused rather than translated half-way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from _envoy_configs import JsonDict, JsonValue

__all__ = [
    "ALLOW_PREFIX",
    "DENY_PREFIX",
    "TranslationError",
    "load_policies",
    "policy_id",
    "rbac_config",
    "rbac_filters",
    "selects",
]

SPIFFE = "spiffe://"
DENY_PREFIX = "istio_dry_run_deny_"
ALLOW_PREFIX = "istio_dry_run_allow_"
_TYPES = "type.googleapis.com/envoy.extensions.filters."
_HTTP_ONLY = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
_SOURCE_KEYS = frozenset(
    {"principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks"}
    | {"remoteIpBlocks", "notRemoteIpBlocks"}
)
_OPERATION_KEYS = frozenset({*_HTTP_ONLY, "ports", "notPorts"})
_HEADER_KEY = "request.headers["
# The when keys translated: those of the source (principals) and of the operation.
_WHEN_PRINCIPAL = ("source.ip", "remote.ip")
_WHEN_PERMISSION = ("destination.port",)

Policy = Mapping[str, Any]  # one parsed AuthorizationPolicy document


class TranslationError(Exception):
    """A policy uses something this translator does not translate."""


def load_policies(path: Path) -> list[Policy]:
    """The AuthorizationPolicy documents of a multi-document YAML file."""
    import yaml  # the record group's; only this scenario needs it

    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    for doc in documents:
        if doc.get("kind") != "AuthorizationPolicy":
            raise TranslationError(f"{path}: not an AuthorizationPolicy: {doc.get('kind')}")
    return documents


def policy_id(policy: Policy, rule: int) -> str:
    """Istio's name for the Envoy policy of a rule (builder.go ``policyName``)."""
    meta = policy["metadata"]
    return f"ns[{meta['namespace']}]-policy[{meta['name']}]-rule[{rule}]"


def selects(policy: Policy, namespace: str, labels: Mapping[str, str]) -> bool:
    """Whether *policy* applies to a workload in *namespace* with *labels*."""
    spec = policy.get("spec") or {}
    if policy["metadata"]["namespace"] != namespace:
        return False
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(key) == value for key, value in match.items())


# --- matchers ---------------------------------------------------------------------------------


def _regex(regex: str) -> JsonDict:
    return {"safe_regex": {"regex": regex}}


def _string(value: str, prefix: str = "") -> JsonDict:
    """Istio's ``StringMatcherWithPrefix``: ``*`` any non-empty, ``x*`` prefix, ``*x`` suffix."""
    if value == "*":
        return _regex(".+")
    if value.startswith("*"):
        return {"suffix": value[1:]} if not prefix else _regex(prefix + ".*" + value[1:])
    if value.endswith("*"):
        return {"prefix": prefix + value[:-1]}
    return {"exact": prefix + value}


def _header(name: str, value: str, *, ignore_case: bool = False) -> JsonDict:
    if value == "*":
        return {"header": {"name": name, "present_match": True}}
    match = _string(value)
    if ignore_case:
        match["ignore_case"] = True
    return {"header": {"name": name, "string_match": match}}


def _cidr(value: str) -> JsonDict:
    address, _, length = value.partition("/")
    bits = int(length) if length else (128 if ":" in address else 32)
    return {"address_prefix": address, "prefix_len": bits}


def _path(value: str) -> JsonDict:
    """Istio's path matcher: a URI template when the value holds ``{*}`` or ``{**}``."""
    if "{*}" in value or "{**}" in value:
        template = value.replace("{*}", "*").replace("{**}", "**")
        return {
            "uri_template": {
                "name": "uri-template",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3."
                    "UriTemplateMatchConfig",
                    "path_template": template,
                },
            }
        }
    return {"url_path": {"path": _string(value)}}


def _principal(key: str, value: str) -> JsonDict:
    if key == "principals":
        return {"authenticated": {"principal_name": _string(value, SPIFFE)}}
    if key == "namespaces":
        regex = ".*/ns/" + value.replace("*", ".*") + "/.*"
        return {"authenticated": {"principal_name": _regex(regex)}}
    if key in ("ipBlocks", "source.ip"):
        return {"direct_remote_ip": _cidr(value)}
    if key.startswith(_HEADER_KEY):
        return _header(key[len(_HEADER_KEY) : -1], value)
    return {"remote_ip": _cidr(value)}  # remoteIpBlocks, remote.ip


def _permission(key: str, value: str) -> JsonDict:
    if key == "hosts":
        return _header(":authority", value, ignore_case=True)
    if key == "methods":
        return _header(":method", value)
    if key == "paths":
        return _path(value)
    return {"destination_port": int(value)}  # ports, destination.port


# --- rules ------------------------------------------------------------------------------------


def _check_keys(found: Iterable[str], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise TranslationError(f"{where}: not translated: {', '.join(unknown)}")


Fields = list[tuple[str, Sequence[str], Sequence[str]]]  # (key, values, notValues)


def _fields(section: Mapping[str, Sequence[str]], keys: Sequence[str]) -> Fields:
    return [
        (key, section.get(key) or [], section.get("not" + key[0].upper() + key[1:]) or [])
        for key in keys
    ]


def _when(rule: Mapping[str, Any], where: str, *, tcp: bool) -> tuple[Fields, Fields]:
    """A rule's ``when`` conditions: those of the principals and those of the permissions."""
    principals: Fields = []
    permissions: Fields = []
    for condition in rule.get("when") or []:
        key = str(condition["key"])
        values, not_values = condition.get("values") or [], condition.get("notValues") or []
        if key.startswith(_HEADER_KEY) and key.endswith("]"):
            if tcp:  # Istio drops it (HTTP only), as it drops an operation's paths
                raise TranslationError(f"{where}: when key {key} on TCP not translated")
            principals.append((key, values, not_values))
        elif key in _WHEN_PRINCIPAL:
            principals.append((key, values, not_values))
        elif key in _WHEN_PERMISSION:
            permissions.append((key, values, not_values))
        else:
            raise TranslationError(f"{where}: when key {key} not translated")
    return principals, permissions


def _principal_set(source: Mapping[str, Sequence[str]], when: Fields) -> JsonDict:
    # Istio's order within a source: principals, namespaces, remote IPs, IPs, then the
    # when conditions (model.go).
    ids: list[JsonValue] = []
    keys = ("principals", "namespaces", "remoteIpBlocks", "ipBlocks")
    for key, values, not_values in _fields(source, keys) + when:
        for chosen, negate in ((values, False), (not_values, True)):
            if chosen:
                matched: JsonDict = {"or_ids": {"ids": [_principal(key, v) for v in chosen]}}
                ids.append({"not_id": matched} if negate else matched)
    return {"and_ids": {"ids": ids or [{"any": True}]}}


def _permission_set(
    operation: Mapping[str, Sequence[str]], when: Fields, *, tcp: bool, deny: bool
) -> JsonDict | None:
    """One ``to``'s permission; None when an ALLOW rule cannot be expressed on TCP."""
    rules: list[JsonValue] = []
    # Istio's order within an operation: hosts, methods, paths, ports, then the when
    # conditions (model.go).
    keys = ("hosts", "methods", "paths", "ports")
    for key, values, not_values in _fields(operation, keys) + when:
        for chosen, negate in ((values, False), (not_values, True)):
            if not chosen:
                continue
            if tcp and key in _HTTP_ONLY:
                if not deny:
                    return None
                continue  # DENY: the value is ignored, the rule widens
            matched: JsonDict = {"or_rules": {"rules": [_permission(key, v) for v in chosen]}}
            rules.append({"not_rule": matched} if negate else matched)
    return {"and_rules": {"rules": rules or [{"any": True}]}}


def _envoy_policy(rule: Mapping[str, Any], where: str, *, tcp: bool, deny: bool) -> JsonDict | None:
    _check_keys(rule, frozenset({"from", "to", "when"}), where)
    when_principals, when_permissions = _when(rule, where, tcp=tcp)
    principals: list[JsonValue] = []
    for entry in rule.get("from") or [{}]:
        source = entry.get("source") or {}
        _check_keys(source, _SOURCE_KEYS, where)
        principals.append(_principal_set(source, when_principals))
    permissions: list[JsonValue] = []
    for entry in rule.get("to") or [{}]:
        operation = entry.get("operation") or {}
        _check_keys(operation, _OPERATION_KEYS, where)
        permission = _permission_set(operation, when_permissions, tcp=tcp, deny=deny)
        if permission is None:
            return None  # Istio skips the whole rule (model.go Generate returns the error)
        permissions.append(permission)
    return {"permissions": permissions, "principals": principals}


# A policy without rules: Istio's rbacPolicyMatchNever.
_MATCH_NEVER: JsonDict = {
    "permissions": [{"not_rule": {"any": True}}],
    "principals": [{"not_id": {"any": True}}],
}


def rbac_config(policies: Iterable[Policy], action: str, *, tcp: bool) -> JsonDict:
    """The ``config.rbac.v3.RBAC`` of one action (``ALLOW`` or ``DENY``) over *policies*."""
    envoy_policies: JsonDict = {}
    for policy in policies:
        spec = policy.get("spec") or {}
        name = policy["metadata"]["name"]
        _check_keys(spec, frozenset({"selector", "action", "rules"}), name)
        rules = spec.get("rules") or []
        if not rules:
            envoy_policies[policy_id(policy, 0)] = _MATCH_NEVER
        for index, rule in enumerate(rules):
            where = policy_id(policy, index)
            translated = _envoy_policy(rule, where, tcp=tcp, deny=action == "DENY")
            if translated is not None:
                envoy_policies[where] = translated
    return {"action": action, "policies": envoy_policies}


def _action(policy: Policy) -> str:
    action = str((policy.get("spec") or {}).get("action", "ALLOW"))
    if action not in ("ALLOW", "DENY"):
        raise TranslationError(f"{policy['metadata']['name']}: action {action} not translated")
    return action


def rbac_filters(
    policies: Sequence[Policy], *, namespace: str, labels: Mapping[str, str], tcp: bool
) -> list[JsonDict]:
    """The shadow-mode RBAC filters of one workload's inbound listener: DENY, then ALLOW.

    *tcp*: network filters for a TCP listener (``envoy.filters.network.rbac``, whose stat
    prefix Istio sets to ``tcp.``), else HTTP filters for the HTTP connection manager.
    """
    selected = [policy for policy in policies if selects(policy, namespace, labels)]
    filters: list[JsonDict] = []
    for action, prefix in (("DENY", DENY_PREFIX), ("ALLOW", ALLOW_PREFIX)):
        chosen = [policy for policy in selected if _action(policy) == action]
        if not chosen:
            continue
        config: JsonDict = {
            "shadow_rules": rbac_config(chosen, action, tcp=tcp),
            "shadow_rules_stat_prefix": prefix,
        }
        if tcp:
            filters.append(
                {
                    "name": "envoy.filters.network.rbac",
                    "typed_config": {
                        "@type": _TYPES + "network.rbac.v3.RBAC",
                        "stat_prefix": "tcp.",
                        **config,
                    },
                }
            )
        else:
            filters.append(
                {
                    "name": "envoy.filters.http.rbac",
                    "typed_config": {"@type": _TYPES + "http.rbac.v3.RBAC", **config},
                }
            )
    return filters
