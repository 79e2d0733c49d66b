"""Istio's matchers: one rule of an AuthorizationPolicy against one observed request.

Written from Istio's translation to Envoy RBAC (istio/istio ``pilot/pkg/security/authz/model``:
``model.go``, ``generator.go``; ``matcher/string.go``, ``matcher/header.go``) and Envoy's
RBAC matchers, in three values: True (matches), False (does not), None (not evaluable
offline: what the access log does not carry).

- **Strings** (principals, methods, SNI, header values): ``abc`` exact, ``abc*`` prefix,
  ``*abc`` suffix, ``*`` present (a non-empty value; for a header, any value). Two exceptions
  follow Istio's translation exactly: a ``*abc`` principal is the unescaped regex
  ``spiffe://.*abc`` (:func:`principal_match`), and ``request.experimental.inline.headers``
  match one item of a comma-separated value (:func:`header_match`). Hosts match the
  ``:authority`` as logged, case-insensitively (``example.com`` does not match
  ``example.com:8080``: write ``example.com:*``, as Istio's docs say). Paths match the path
  without its query (Envoy's ``url_path``); ``{*}`` is one segment, ``{**}`` any rest, of
  Envoy's template characters only (:mod:`meshals.policy._templates`).
- **Principals** are the peer certificate's URI SAN without ``spiffe://``; no certificate
  (plaintext) matches no principal, namespace or service account, so their ``not`` forms
  match it. **Namespaces** match ``.*/ns/<namespace>/.*`` on the SAN (``*`` any), service
  accounts ``spiffe://.+/ns/<ns>/(.+/|)sa/<account>(/.+)?`` (the policy's namespace when
  the value names none). **ipBlocks** match ``source.ip``, **remoteIpBlocks** ``remote.ip``.
- Within a field one value is enough; a ``not`` field matches when no value does; all set
  fields of a source or operation must match; one source, one operation and every ``when``
  condition must match for the rule to.
- **TCP connections.** Istio builds a TCP filter chain's rules without the HTTP-only fields
  (``requestPrincipals``, ``hosts``, ``methods``, ``paths``, their ``not`` forms and the
  ``request.*`` conditions): for ALLOW such a rule is left out (it matches nothing); for
  DENY, AUDIT and CUSTOM only those fields are left out, so the rule matches more broadly
  (``generator.go``: "is HTTP only"; ``model.go``, ``checkError``).
- **Not evaluable**: ``requestPrincipals`` and ``request.auth.*`` (JWT claims are not
  logged), ``experimental.envoy.filters.*`` (dynamic metadata), a ``request.headers[...]``
  the entry did not log, and a value the entry lacks (no source IP, no port).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from ._model import Action, Condition, Operation, Rule, Source
from ._requests import SPIFFE_SCHEME, ObservedRequest
from ._templates import is_template, template_match

__all__: list[str] = []

Tri = bool | None
_HTTP_ONLY_WHEN: Final = ("request.",)


@attrs.frozen
class RuleMatch:
    """A rule's outcome: *matched* (three-valued) and, when None, why it is not evaluable."""

    matched: Tri
    unknown: str | None = None


def string_match(pattern: str, value: str | None, *, ignore_case: bool = False) -> bool:
    """Istio's exact / ``prefix*`` / ``*suffix`` / ``*`` (present) match of *value*."""
    if value is None:
        return False
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    if pattern == "*":
        return value != ""
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def principal_match(pattern: str, principal: str | None) -> bool:
    """Istio's ``principals`` / ``source.principal`` match on the peer's SAN *principal*.

    Istio prefixes the value with ``spiffe://`` (``StringMatcherWithPrefix``): exact and
    ``prefix*`` stay string matches, ``*`` is the regex ``.+``, but ``*suffix`` becomes the
    regex ``spiffe://.*<suffix>`` with the suffix **not escaped**, matched against the whole
    SAN: ``*/sa/my.sa`` also matches ``.../sa/myXsa``. A suffix that is not a valid regex
    matches nothing here (Envoy would refuse the configuration).
    """
    if principal is None:
        return False
    if pattern.startswith("*") and pattern != "*":
        try:
            regex = re.compile(SPIFFE_SCHEME + ".*" + pattern[1:])
        except re.error:
            return False
        return regex.fullmatch(SPIFFE_SCHEME + principal) is not None
    if pattern == "*":
        return True  # ".+" on the SAN, which has at least its spiffe://
    return string_match(pattern, principal)


def header_match(pattern: str, value: str | None, *, inline: bool = False) -> bool:
    """Istio's ``request.headers[...]`` (*inline*: ``request.experimental.inline.headers``).

    ``*`` is Envoy's present match (an empty value is present); otherwise the string forms,
    or for the inline form the regex ``^V$|^V,.*|.*,V,.*|.*,V$`` on the comma-joined values
    (``HeaderMatcherWithRegex``; ``V`` the escaped value, a leading or trailing ``*`` as ``.*``;
    no space is allowed after a comma).
    """
    if value is None:
        return False
    if pattern == "*":
        return True
    if not inline:
        return string_match(pattern, value)
    if pattern.startswith("*"):
        one = ".*" + re.escape(pattern[1:])
    elif pattern.endswith("*"):
        one = re.escape(pattern[:-1]) + ".*"
    else:
        one = re.escape(pattern)
    regex = f"^{one}$|^{one},.*|.*,{one},.*|.*,{one}$"
    return re.fullmatch(regex, value, re.DOTALL) is not None


def path_match(pattern: str, path: str | None) -> bool:
    """A path pattern (string forms or ``{*}``/``{**}`` templates) against a logged path."""
    if path is None:
        return False
    path = path.partition("?")[0].partition("#")[0]  # Envoy's url_path: no query, no fragment
    if is_template(pattern):
        return template_match(pattern, path)
    return string_match(pattern, path)


def ip_match(block: str, ip: str | None) -> bool:
    """*ip* in the CIDR range or equal to the address *block*."""
    if ip is None:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def namespace_match(pattern: str, principal: str | None) -> bool:
    """Istio's ``source.namespace``: ``.*/ns/<pattern, * as .*>/.*`` on the SAN."""
    if not principal:
        return False
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(f".*/ns/{regex}/.*", SPIFFE_SCHEME + principal) is not None


def service_account_match(value: str, principal: str | None, namespace: str) -> bool:
    """Istio's ``serviceAccounts``: ``<account>`` in *namespace* or ``<ns>/<account>``."""
    if not principal:
        return False
    ns, slash, account = value.partition("/")
    if not slash:
        ns, account = namespace, value
    regex = f"spiffe://.+/ns/{re.escape(ns)}/(.+/|)sa/{re.escape(account)}(/.+)?"
    return re.fullmatch(regex, SPIFFE_SCHEME + principal) is not None


def _any(values: Iterable[Tri]) -> Tri:
    found: Tri = False
    for value in values:
        if value is True:
            return True
        if value is None:
            found = None
    return found


def _all(values: Iterable[Tri]) -> Tri:
    found: Tri = True
    for value in values:
        if value is False:
            return False
        if value is None:
            found = None
    return found


def _not(value: Tri) -> Tri:
    return None if value is None else not value


_Matcher = Callable[[str], Tri]


class _Field:
    """One field (and its ``not`` form) of a source, operation or condition."""

    def __init__(
        self,
        name: str,
        values: tuple[str, ...],
        not_values: tuple[str, ...],
        match: _Matcher,
        *,
        http_only: bool = False,
        unknown: str | None = None,
    ) -> None:
        self.name = name
        self.values = values
        self.not_values = not_values
        self.match = match
        self.http_only = http_only
        self.unknown = unknown


class RuleMatcher:
    """Evaluates the rules of one policy (of namespace *namespace*, action *action*)."""

    def __init__(self, namespace: str, action: Action) -> None:
        self.namespace = namespace
        self.action = action

    def rule(self, rule: Rule, request: ObservedRequest) -> RuleMatch:
        """Whether *rule* matches *request* (module docstring)."""
        groups = [
            [self._source(source, request) for source in rule.sources] or [[]],
            [self._operation(operation, request) for operation in rule.operations] or [[]],
        ]
        conditions = [self._condition(condition, request) for condition in rule.when]
        every = [f for group in groups for fields in group for f in fields] + conditions
        if (
            request.tcp
            and self.action is Action.ALLOW
            and any(f.http_only and (f.values or f.not_values) for f in every)
        ):
            return RuleMatch(False)  # Istio leaves the rule out of a TCP chain
        unknown: list[str] = []

        def evaluate(fields: list[_Field]) -> Tri:
            results: list[Tri] = []
            for field in fields:
                if not (field.values or field.not_values):
                    continue
                if field.http_only and request.tcp:
                    continue  # DENY, AUDIT, CUSTOM: the field is left out on TCP
                if field.unknown is not None:
                    unknown.append(field.unknown)
                    results.append(None)
                    continue
                if field.values:
                    results.append(_any(field.match(value) for value in field.values))
                if field.not_values:
                    results.append(_not(_any(field.match(value) for value in field.not_values)))
            return _all(results)

        matched = _all(
            [
                _any(evaluate(fields) for fields in groups[0]),
                _any(evaluate(fields) for fields in groups[1]),
                evaluate(conditions),
            ]
        )
        return RuleMatch(matched, unknown[0] if matched is None and unknown else None)

    def _source(self, source: Source, request: ObservedRequest) -> list[_Field]:
        principal = request.source_principal
        return [
            _Field(
                "principals",
                source.principals,
                source.not_principals,
                lambda v: principal_match(v, principal),
            ),
            _Field(
                "requestPrincipals",
                source.request_principals,
                source.not_request_principals,
                lambda v: None,
                http_only=True,
                unknown="requestPrincipals (JWT) not evaluable offline",
            ),
            _Field(
                "namespaces",
                source.namespaces,
                source.not_namespaces,
                lambda v: namespace_match(v, principal),
            ),
            _Field(
                "serviceAccounts",
                source.service_accounts,
                source.not_service_accounts,
                lambda v: service_account_match(v, principal, self.namespace),
            ),
            self._ip("ipBlocks", source.ip_blocks, source.not_ip_blocks, request.source_ip),
            self._ip(
                "remoteIpBlocks",
                source.remote_ip_blocks,
                source.not_remote_ip_blocks,
                request.remote_ip,
            ),
        ]

    def _ip(
        self, name: str, values: tuple[str, ...], not_values: tuple[str, ...], ip: str | None
    ) -> _Field:
        unknown = (
            None if ip is not None or not (values or not_values) else f"{name}: no address logged"
        )
        return _Field(name, values, not_values, lambda v: ip_match(v, ip), unknown=unknown)

    def _operation(self, operation: Operation, request: ObservedRequest) -> list[_Field]:
        port = request.destination_port
        ports_unknown = port is None and bool(operation.ports or operation.not_ports)
        return [
            _Field(
                "hosts",
                operation.hosts,
                operation.not_hosts,
                lambda v: string_match(v, request.host, ignore_case=True),
                http_only=True,
            ),
            _Field(
                "methods",
                operation.methods,
                operation.not_methods,
                lambda v: string_match(v, request.method),
                http_only=True,
            ),
            _Field(
                "paths",
                operation.paths,
                operation.not_paths,
                lambda v: path_match(v, request.path),
                http_only=True,
            ),
            _Field(
                "ports",
                operation.ports,
                operation.not_ports,
                lambda v: port is not None and int(v) == port,
                unknown="ports: no destination port logged" if ports_unknown else None,
            ),
        ]

    def _condition(self, condition: Condition, request: ObservedRequest) -> _Field:
        key = condition.key
        values, not_values = condition.values, condition.not_values
        match: _Matcher
        unknown = None
        principal = request.source_principal
        if key == "source.ip":
            return self._ip(key, values, not_values, request.source_ip)
        if key == "remote.ip":
            return self._ip(key, values, not_values, request.remote_ip)
        if key == "destination.ip":
            return self._ip(key, values, not_values, request.destination_ip)
        if key == "source.namespace":
            match = lambda v: namespace_match(v, principal)  # noqa: E731
        elif key == "source.principal":
            match = lambda v: principal_match(v, principal)  # noqa: E731
        elif key == "source.serviceAccount":
            match = lambda v: service_account_match(v, principal, self.namespace)  # noqa: E731
        elif key == "destination.port":
            port = request.destination_port
            match = lambda v: port is not None and int(v) == port  # noqa: E731
            unknown = None if port is not None else f"{key}: no destination port logged"
        elif key == "connection.sni":
            match = lambda v: string_match(v, request.sni)  # noqa: E731
        elif key.startswith("request.headers[") or key.startswith(
            "request.experimental.inline.headers["
        ):
            name = key[key.index("[") + 1 : -1].lower()
            value = _header(request, name)
            inline = key.startswith("request.experimental.")
            match = lambda v: header_match(v, value, inline=inline)  # noqa: E731
            if value is None and name not in (":authority", "host", ":method", ":path"):
                unknown = f"when key {key}: header not logged"
            return _Field(key, values, not_values, match, http_only=True, unknown=unknown)
        else:  # request.auth.*, experimental.envoy.filters.*
            match = lambda v: None  # noqa: E731
            unknown = f"when key {key} not evaluable offline"
            http_only = key.startswith(_HTTP_ONLY_WHEN)
            return _Field(key, values, not_values, match, http_only=http_only, unknown=unknown)
        return _Field(key, values, not_values, match, unknown=unknown)


def _header(request: ObservedRequest, name: str) -> str | None:
    if name in (":authority", "host"):
        return request.host
    if name == ":method":
        return request.method
    if name == ":path":
        return request.path
    return request.request_headers.get(name)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a ``matchLabels`` *selector* picks a workload with *labels*: all its pairs."""
    return all(labels.get(key) == value for key, value in selector.items())
