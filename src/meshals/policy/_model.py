"""The AuthorizationPolicy values: Istio's ``security.istio.io/v1`` API as frozen attrs values.

The fields mirror Istio's API reference
(https://istio.io/latest/docs/reference/config/security/authorization-policy/, istio/api
``security/v1beta1/authorization.proto``) with snake_case names. Istio treats an absent list
and an empty one alike ("unset"); both are stored as ``()``. Values are not checked here:
:func:`~meshals.policy.policy_from_document` checks a document against Istio's schema before it
builds them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from meshals._values import FrozenMap

__all__ = ["Action", "AuthorizationPolicy", "Condition", "Operation", "Rule", "Source"]

_Strings = tuple[str, ...]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    # A bare string would become its characters: one value is a one-item list in Istio's API.
    if isinstance(value, str):
        raise TypeError(f"expected a sequence of strings, not the string {value!r}")
    return tuple(value)


class Action(enum.Enum):
    """What a policy does to the requests its rules match (``spec.action``)."""

    ALLOW = "ALLOW"
    DENY = "DENY"
    AUDIT = "AUDIT"
    CUSTOM = "CUSTOM"


@attrs.frozen(kw_only=True)
class Source:
    """``rule.from[].source``: who sends the request. Every set field must match (AND); within
    a field one value matching is enough (OR); a ``not_`` field matches when none does."""

    principals: _Strings = attrs.field(default=(), converter=_strings)
    not_principals: _Strings = attrs.field(default=(), converter=_strings)
    request_principals: _Strings = attrs.field(default=(), converter=_strings)
    not_request_principals: _Strings = attrs.field(default=(), converter=_strings)
    namespaces: _Strings = attrs.field(default=(), converter=_strings)
    not_namespaces: _Strings = attrs.field(default=(), converter=_strings)
    ip_blocks: _Strings = attrs.field(default=(), converter=_strings)
    not_ip_blocks: _Strings = attrs.field(default=(), converter=_strings)
    remote_ip_blocks: _Strings = attrs.field(default=(), converter=_strings)
    not_remote_ip_blocks: _Strings = attrs.field(default=(), converter=_strings)
    # ``serviceAccounts``: ``<account>`` (the policy's namespace) or ``<namespace>/<account>``.
    service_accounts: _Strings = attrs.field(default=(), converter=_strings)
    not_service_accounts: _Strings = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class Operation:
    """``rule.to[].operation``: what the request does. Ports stay strings, as Istio's API
    types them; the matching rules are :class:`Source`'s."""

    hosts: _Strings = attrs.field(default=(), converter=_strings)
    not_hosts: _Strings = attrs.field(default=(), converter=_strings)
    ports: _Strings = attrs.field(default=(), converter=_strings)
    not_ports: _Strings = attrs.field(default=(), converter=_strings)
    methods: _Strings = attrs.field(default=(), converter=_strings)
    not_methods: _Strings = attrs.field(default=(), converter=_strings)
    paths: _Strings = attrs.field(default=(), converter=_strings)
    not_paths: _Strings = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class Condition:
    """``rule.when[]``: one attribute (``key``) and the values it must (not) have."""

    key: str
    values: _Strings = attrs.field(default=(), converter=_strings)
    not_values: _Strings = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class Rule:
    """``spec.rules[]``: matches when one of its sources, one of its operations and all of its
    conditions match; an unset part matches anything (so ``Rule()`` matches every request)."""

    sources: tuple[Source, ...] = ()
    operations: tuple[Operation, ...] = ()
    when: tuple[Condition, ...] = ()


@attrs.frozen(kw_only=True)
class AuthorizationPolicy:
    """One ``AuthorizationPolicy`` resource.

    Attributes:
        name: ``metadata.name``.
        namespace: ``metadata.namespace``: the policy applies to workloads of this namespace,
            or to the whole mesh in the root namespace.
        selector: ``spec.selector.matchLabels``; None selects every workload of the namespace.
        target_refs: ``spec.targetRef`` / ``spec.targetRefs`` as given (each a map with
            ``group``, ``kind``, ``name``, maybe ``namespace``).
        action: ``spec.action``, ALLOW when absent.
        provider: CUSTOM's ``spec.provider.name``, else None.
        rules: ``spec.rules``.
        source: where the policy was read (``policies.yaml#3``); not compared.
    """

    name: str
    namespace: str
    selector: FrozenMap[str, str] | None = None
    target_refs: tuple[FrozenMap[str, str], ...] = ()
    action: Action = Action.ALLOW
    provider: str | None = None
    rules: tuple[Rule, ...] = ()
    source: str | None = attrs.field(default=None, eq=False)

    @property
    def key(self) -> str:
        """``namespace/name``, as reports name the policy."""
        return f"{self.namespace}/{self.name}"
