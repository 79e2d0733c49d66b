"""Reading AuthorizationPolicies: YAML text and parsed documents, checked against Istio's schema.

The schema is Istio's ``security.istio.io/v1`` (and ``v1beta1``) AuthorizationPolicy as its API
reference defines it (istio/api ``security/v1beta1/authorization.proto``), with the checks of
its validation webhook (istio/istio ``pkg/config/validation/validation.go``,
``ValidateAuthorizationPolicy``, and ``pkg/config/security``):

- unknown fields are rejected at every level (the CRD's structural schema prunes nothing
  meshals could evaluate); ``metadata`` may hold anything besides ``name`` and ``namespace``,
  which are required (meshals does not guess the namespace ``kubectl -n`` would give) and
  checked as Kubernetes' API server does: the name a DNS-1123 subdomain, the namespace a
  DNS-1123 label;
- at most one of ``selector``, ``targetRef`` and ``targetRefs``; ``selector`` holds
  ``matchLabels`` only;
- DENY and CUSTOM without ``rules`` are rejected (they would never match); CUSTOM needs
  ``provider.name`` and cannot use principals, namespaces, service accounts or the
  ``source.namespace`` / ``source.serviceAccount`` / ``source.principal`` / ``request.auth.*``
  conditions; ``provider`` only with CUSTOM;
- a rule is a mapping; ``from`` and ``to``, when given, are non-empty lists of ``source`` /
  ``operation`` mappings that set at least one field to a non-empty list (an empty list is
  unset, so ``source: {principals: []}`` is an empty source); every value list holds
  non-empty strings; ``serviceAccounts`` not beside ``principals`` or ``namespaces``;
- IPs and CIDRs parse, ports are decimal strings 0-65535, paths with ``{*}`` / ``{**}``
  templates are well formed;
- ``when`` keys are Istio's attributes (``request.headers[...]``, ``source.ip``, ...), with at
  least one of ``values`` / ``notValues``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Final

from meshals._values import FrozenMap

from ._errors import PolicyError
from ._model import Action, AuthorizationPolicy, Condition, Operation, Rule, Source
from ._templates import LITERAL_SEGMENT

__all__ = ["load_policies", "policy_from_document"]

_API_VERSIONS: Final = ("security.istio.io/v1", "security.istio.io/v1beta1")
_TOP: Final = ("apiVersion", "kind", "metadata", "spec", "status")
_SPEC: Final = ("selector", "targetRef", "targetRefs", "action", "provider", "rules")
_TARGET_REF: Final = ("group", "kind", "name", "namespace")
_SOURCE: Final = {
    "principals": "principals",
    "notPrincipals": "not_principals",
    "requestPrincipals": "request_principals",
    "notRequestPrincipals": "not_request_principals",
    "namespaces": "namespaces",
    "notNamespaces": "not_namespaces",
    "ipBlocks": "ip_blocks",
    "notIpBlocks": "not_ip_blocks",
    "remoteIpBlocks": "remote_ip_blocks",
    "notRemoteIpBlocks": "not_remote_ip_blocks",
    "serviceAccounts": "service_accounts",
    "notServiceAccounts": "not_service_accounts",
}
_OPERATION: Final = {
    "hosts": "hosts",
    "notHosts": "not_hosts",
    "ports": "ports",
    "notPorts": "not_ports",
    "methods": "methods",
    "notMethods": "not_methods",
    "paths": "paths",
    "notPaths": "not_paths",
}
_IP_FIELDS: Final = ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")
_CUSTOM_FORBIDDEN_SOURCE: Final = (
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
)
_CUSTOM_FORBIDDEN_KEYS: Final = ("source.namespace", "source.serviceAccount", "source.principal")
_MAP_KEYS: Final = (
    "request.headers",
    "request.experimental.inline.headers",
    "request.auth.claims",
    "experimental.envoy.filters.",
)
_PLAIN_KEYS: Final = (
    "source.namespace",
    "source.principal",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "connection.sni",
)
_MAX_SERVICE_ACCOUNTS: Final = 16
# Kubernetes' API server: a custom resource's name is a DNS-1123 subdomain, a namespace a
# DNS-1123 label (k8s.io/apimachinery pkg/util/validation, IsDNS1123Subdomain / Label).
_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL: Final = re.compile(_LABEL)
_DNS_SUBDOMAIN: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def load_policies(
    text: str | bytes, *, source: str = "<policies>"
) -> tuple[AuthorizationPolicy, ...]:
    """The AuthorizationPolicies of a YAML stream (``---``-separated documents, ``kind: List``
    documents included), each checked against Istio's schema (module docstring).

    Reads with PyYAML's ``yaml.safe_load_all``. Empty documents are skipped.

    Args:
        text: the YAML text, or the file's bytes (UTF-8, as Kubernetes reads manifests).
        source: the file's name, for messages and :attr:`AuthorizationPolicy.source`.

    Returns:
        The policies in file order.

    Raises:
        PolicyError: the bytes are not UTF-8, the text is not YAML, or a document is not a
            valid AuthorizationPolicy; the message names the file, the document's index and
            the field.
    """
    import yaml  # here, not at the top: `meshals` commands that read no policy skip its import

    if isinstance(text, bytes):
        text = _decoded(text, source)
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise PolicyError(f"not YAML: {_one_line(exc)}", source=source) from exc
    policies: list[AuthorizationPolicy] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        policies.extend(_documents(document, source=source, index=index))
    return tuple(policies)


def _decoded(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PolicyError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line})",
            source=source,
        ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _documents(document: object, *, source: str, index: int) -> Iterator[AuthorizationPolicy]:
    if isinstance(document, Mapping) and document.get("kind") == "List":
        items = document.get("items")
        if not isinstance(items, list):
            raise PolicyError("a List needs a list of items", source=source, document=index)
        for position, item in enumerate(items):
            yield _Checker(source, index, f"items[{position}].").policy(item)
        return
    yield _Checker(source, index, "").policy(document)


def policy_from_document(
    document: Mapping[str, object], *, where: str = "<document>"
) -> AuthorizationPolicy:
    """One AuthorizationPolicy from its parsed document (what ``yaml.safe_load`` or
    ``json.loads`` give), checked against Istio's schema (module docstring).

    Args:
        document: the resource as a mapping (``apiVersion``, ``kind``, ``metadata``, ``spec``).
        where: where it came from, for messages and :attr:`AuthorizationPolicy.source`.

    Returns:
        The policy.

    Raises:
        PolicyError: the document is not a valid AuthorizationPolicy; the message names the
            field.
    """
    return _Checker(where, None, "").policy(document)


class _Checker:
    """The checks of one document, which know where they are for their messages."""

    def __init__(self, source: str, document: int | None, prefix: str) -> None:
        self.source = source
        self.document = document
        self.prefix = prefix

    def error(self, reason: str, field: str | None = None) -> PolicyError:
        path = self.prefix + field if field else (self.prefix.rstrip(".") or None)
        return PolicyError(reason, source=self.source, document=self.document, field=path)

    def mapping(
        self, value: object, field: str, allowed: tuple[str, ...] | None = None
    ) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            raise self.error(f"must be a mapping, not {_kind(value)}", field)
        for key in value:
            if not isinstance(key, str):
                raise self.error(f"keys must be strings, not {key!r}", field)
            if allowed is not None and key not in allowed:
                raise self.error(f"unknown field {key!r} (allowed: {', '.join(allowed)})", field)
        return value

    def text(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(f"must be a non-empty string, not {_kind(value)}", field)
        return value

    def strings(self, value: object, field: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(f"must be a list of strings, not {_kind(value)}", field)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                hint = f' (write "{item}")' if isinstance(item, int) else ""
                raise self.error(f"must be a string, not {_kind(item)}{hint}", f"{field}[{index}]")
            if not item:
                raise self.error("empty value not allowed", f"{field}[{index}]")
        return tuple(value)

    def policy(self, document: object) -> AuthorizationPolicy:
        top = self.mapping(document, "", _TOP)
        if top.get("kind") != "AuthorizationPolicy":
            raise self.error(f"not an AuthorizationPolicy (kind {top.get('kind')!r})", "kind")
        if top.get("apiVersion") not in _API_VERSIONS:
            raise self.error(
                f"apiVersion must be one of {', '.join(_API_VERSIONS)},"
                f" not {top.get('apiVersion')!r}",
                "apiVersion",
            )
        metadata = self.mapping(top.get("metadata"), "metadata")
        name = self.text(metadata.get("name"), "metadata.name")
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            raise self.error(
                f"{name!r} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.',"
                " starting and ending with a letter or digit, at most 253 characters",
                "metadata.name",
            )
        namespace = self.text(metadata.get("namespace"), "metadata.namespace")
        if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
            raise self.error(
                f"{namespace!r} is not a DNS-1123 label: lower-case letters, digits and '-',"
                " starting and ending with a letter or digit, at most 63 characters",
                "metadata.namespace",
            )
        spec = self.mapping(top.get("spec", {}), "spec", _SPEC)
        action = self.action(spec.get("action", "ALLOW"))
        selector, targets = self.selection(spec)
        provider = self.provider(spec, action)
        rules = self.rules(spec, action, namespace)
        where = self.source if self.document is None else f"{self.source}#{self.document}"
        return AuthorizationPolicy(
            name=name,
            namespace=namespace,
            selector=selector,
            target_refs=targets,
            action=action,
            provider=provider,
            rules=rules,
            source=where + (f"[{self.prefix.rstrip('.')}]" if self.prefix else ""),
        )

    def action(self, value: object) -> Action:
        try:
            return Action(value)
        except ValueError:
            allowed = ", ".join(action.value for action in Action)
            raise self.error(f"must be one of {allowed}, not {value!r}", "spec.action") from None

    def selection(
        self, spec: Mapping[str, object]
    ) -> tuple[FrozenMap[str, str] | None, tuple[FrozenMap[str, str], ...]]:
        given = [key for key in ("selector", "targetRef", "targetRefs") if key in spec]
        if len(given) > 1:
            raise self.error(f"only one of {', '.join(given)} can be set", "spec")
        selector = None
        if "selector" in spec:
            outer = self.mapping(spec["selector"], "spec.selector", ("matchLabels",))
            labels = self.mapping(outer.get("matchLabels", {}), "spec.selector.matchLabels")
            for key, value in labels.items():
                if not key or "*" in key:
                    raise self.error(f"bad label name {key!r}", "spec.selector.matchLabels")
                if not isinstance(value, str) or "*" in value:
                    raise self.error(
                        f"label value must be a string without wildcard, not {_kind(value)}",
                        f"spec.selector.matchLabels.{key}",
                    )
            selector = FrozenMap({str(k): str(v) for k, v in labels.items()})
        refs: list[object] = []
        if "targetRef" in spec:
            refs.append(spec["targetRef"])
        elif "targetRefs" in spec:
            listed = spec["targetRefs"]
            if not isinstance(listed, list) or not listed:
                raise self.error("must be a non-empty list", "spec.targetRefs")
            refs.extend(listed)
        field = "spec.targetRef" if "targetRef" in spec else "spec.targetRefs"
        targets = []
        for index, ref in enumerate(refs):
            where = field if field == "spec.targetRef" else f"{field}[{index}]"
            found = self.mapping(ref, where, _TARGET_REF)
            for key in ("kind", "name"):
                self.text(found.get(key), f"{where}.{key}")
            targets.append(FrozenMap({k: self.text(v, f"{where}.{k}") for k, v in found.items()}))
        return selector, tuple(targets)

    def provider(self, spec: Mapping[str, object], action: Action) -> str | None:
        if "provider" not in spec:
            if action is Action.CUSTOM and spec.get("rules"):
                raise self.error("`provider.name` must not be empty", "spec.provider")
            return None
        if action is not Action.CUSTOM:
            raise self.error(
                f"`provider` must not be with non CUSTOM action, found {action.value}",
                "spec.provider",
            )
        provider = self.mapping(spec["provider"], "spec.provider", ("name",))
        return self.text(provider.get("name"), "spec.provider.name")

    def rules(self, spec: Mapping[str, object], action: Action, namespace: str) -> tuple[Rule, ...]:
        listed = spec.get("rules")
        if listed is None:
            listed = []
        if not isinstance(listed, list):
            raise self.error(f"must be a list, not {_kind(listed)}", "spec.rules")
        if not listed and action in (Action.DENY, Action.CUSTOM):
            raise self.error(
                f"{action.value} action without `rules` is meaningless as it will never be"
                " triggered, add an empty rule `{}` if you want it be triggered for every request",
                "spec.rules",
            )
        return tuple(self.rule(rule, f"spec.rules[{i}]", action) for i, rule in enumerate(listed))

    def rule(self, value: object, field: str, action: Action) -> Rule:
        if value is None:
            raise self.error("`rule` must not be null", field)
        rule = self.mapping(value, field, ("from", "to", "when"))
        sources = self.parts(rule, "from", "source", field, action)
        operations = self.parts(rule, "to", "operation", field, action)
        when = rule.get("when", [])
        if not isinstance(when, list):
            raise self.error(f"must be a list, not {_kind(when)}", f"{field}.when")
        return Rule(
            sources=tuple(s for s in sources if isinstance(s, Source)),
            operations=tuple(o for o in operations if isinstance(o, Operation)),
            when=tuple(self.condition(c, f"{field}.when[{i}]", action) for i, c in enumerate(when)),
        )

    def parts(
        self, rule: Mapping[str, object], key: str, inner: str, field: str, action: Action
    ) -> list[Source | Operation]:
        if key not in rule:
            return []
        listed = rule[key]
        if not isinstance(listed, list) or not listed:
            raise self.error(f"`{key}` must be a non-empty list", f"{field}.{key}")
        found: list[Source | Operation] = []
        for index, item in enumerate(listed):
            where = f"{field}.{key}[{index}]"
            outer = self.mapping(item, where, (inner,))
            if outer.get(inner) is None:
                raise self.error(f"`{key}.{inner}` must not be null", where)
            where = f"{where}.{inner}"
            names = _SOURCE if inner == "source" else _OPERATION
            values = self.mapping(outer[inner], where, tuple(names))
            given = {k: self.strings(v, f"{where}.{k}") for k, v in values.items()}
            if not any(given.values()):  # an empty list is unset, as in Istio's protos
                raise self.error(f"`{key}.{inner}` must not be empty", where)
            fields = {names[k]: v for k, v in given.items()}
            if inner == "source":
                self.check_source(given, where, action)
                found.append(Source(**fields))
            else:
                self.check_operation(given, where)
                found.append(Operation(**fields))
        return found

    def check_source(
        self, values: Mapping[str, tuple[str, ...]], where: str, action: Action
    ) -> None:
        for key in _IP_FIELDS:
            for index, ip in enumerate(values.get(key, ())):
                self.ip(ip, f"{where}.{key}[{index}]")
        accounts = [k for k in ("serviceAccounts", "notServiceAccounts") if k in values]
        if accounts and any(
            k in values for k in ("principals", "notPrincipals", "namespaces", "notNamespaces")
        ):
            raise self.error("cannot set serviceAccounts with namespaces or principals", where)
        for key in accounts:
            self.service_accounts(values[key], f"{where}.{key}")
        if action is Action.CUSTOM:
            for key in _CUSTOM_FORBIDDEN_SOURCE:
                if key in values:
                    raise self.error(
                        f"From.{key[0].upper()}{key[1:]} is currently not supported"
                        " with CUSTOM action",
                        f"{where}.{key}",
                    )

    def check_operation(self, values: Mapping[str, tuple[str, ...]], where: str) -> None:
        for key in ("ports", "notPorts"):
            for index, port in enumerate(values.get(key, ())):
                self.port(port, f"{where}.{key}[{index}]")
        for key in ("paths", "notPaths"):
            for index, path in enumerate(values.get(key, ())):
                self.path(path, f"{where}.{key}[{index}]")

    def condition(self, value: object, field: str, action: Action) -> Condition:
        found = self.mapping(value, field, ("key", "values", "notValues"))
        key = self.text(found.get("key"), f"{field}.key")
        values = self.strings(found.get("values", []), f"{field}.values")
        not_values = self.strings(found.get("notValues", []), f"{field}.notValues")
        if not values and not not_values:
            raise self.error(
                f"at least one of `values` or `notValues` must be set for key {key}", field
            )
        if action is Action.CUSTOM and (
            key in _CUSTOM_FORBIDDEN_KEYS or key.startswith("request.auth.")
        ):
            raise self.error(f"{key} is currently not supported with CUSTOM action", f"{field}.key")
        for name, listed in (("values", values), ("notValues", not_values)):
            for index, item in enumerate(listed):
                self.attribute(key, item, f"{field}.{name}[{index}]")
        self.attribute_key(key, f"{field}.key")
        return Condition(key=key, values=values, not_values=not_values)

    def attribute_key(self, key: str, field: str) -> None:
        if any(key.startswith(prefix) for prefix in _MAP_KEYS):
            opening = key.find("[")
            if not (key.endswith("]") and 0 < opening < len(key) - 2):
                raise self.error(f"bad key ({key}): should have format a[b]", field)
            return
        if key in _PLAIN_KEYS or key in (
            "source.ip",
            "remote.ip",
            "destination.ip",
            "destination.port",
            "source.serviceAccount",
        ):
            return
        if key == "destination.namespace":
            raise self.error(f"attribute {key} is replaced by the metadata.namespace", field)
        if key.startswith("destination.labels"):
            raise self.error(f"attribute {key} is replaced by the workload selector", field)
        if key in ("destination.name", "destination.user"):
            raise self.error(f"deprecated attribute {key}: only supported in v1alpha1", field)
        raise self.error(f"unknown attribute: {key}", field)

    def attribute(self, key: str, value: str, field: str) -> None:
        if key in ("source.ip", "remote.ip", "destination.ip"):
            self.ip(value, field)
        elif key == "destination.port":
            self.port(value, field)
        elif key == "source.serviceAccount":
            self.service_accounts([value], field)

    def ip(self, value: str, field: str) -> None:
        try:
            if "/" in value:
                ipaddress.ip_network(value, strict=False)
            else:
                ipaddress.ip_address(value)
        except ValueError:
            kind = "CIDR range" if "/" in value else "IP address"
            raise self.error(f"bad {kind} ({value})", field) from None

    def port(self, value: str, field: str) -> None:
        if not (value.isascii() and value.isdigit()) or int(value) > 65535:
            raise self.error(f"bad port ({value}): must be 0-65535", field)

    def path(self, value: str, field: str) -> None:
        # pkg/config/security CheckValidPathTemplate.
        template = "{*}" in value or "{**}" in value
        seen_any = False
        for glob in value.strip("/").split("/"):
            if glob in ("{*}", "{**}"):
                if seen_any:
                    raise self.error(
                        f"invalid or unsupported path {value}: {{**}} is not the last operator",
                        field,
                    )
                seen_any = glob == "{**}"
                continue
            if "{" in glob or "}" in glob:
                raise self.error(
                    f"invalid or unsupported path {value}: contains '{{' or '}}'"
                    " beyond a supported path template",
                    field,
                )
            if template and not LITERAL_SEGMENT.fullmatch(glob):
                raise self.error(
                    f"invalid or unsupported path {value}: segment {glob!r} is not a valid literal",
                    field,
                )

    def service_accounts(self, values: list[str] | tuple[str, ...], field: str) -> None:
        if len(values) > _MAX_SERVICE_ACCOUNTS:
            raise self.error("may not have more than 16 values", field)
        for value in values:
            namespace, slash, account = value.partition("/")
            if "*" in value:
                raise self.error(f"wildcard not allowed ({value})", field)
            if value.count("/") > 1 or (slash and (not namespace or not account)):
                raise self.error(
                    f"expected format 'serviceAccount' or"
                    f" 'namespace/serviceAccount', found {value!r}",
                    field,
                )
            if len(value) > 320:
                raise self.error("value cannot exceed 320 characters", field)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}" if value else "an empty string"
    return f"{type(value).__name__} {value!r:.40}"
