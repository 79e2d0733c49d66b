"""AuthorizationPolicies as Istio's YAML: :func:`policy_to_document` and
:func:`render_policies`.

A document is the resource as ``kubectl apply`` takes it (``apiVersion``, ``kind``,
``metadata``, ``spec``), its fields named and ordered as in Istio's API reference
(https://istio.io/latest/docs/reference/config/security/authorization-policy/), unset fields
left out. :func:`render_policies` writes one YAML document per policy with PyYAML (the
``yaml`` extra, imported when called), the same bytes for the same policies: keys in the
API's order, values in the policies' order, no anchors. A :class:`~meshals.policy.Suggestion`
adds ``#`` comments above each document: the callers it does not admit (no principal) and
what would admit them, and the requests left out with why; PyYAML cannot write comments, so
they are prepended to each document's text. Everything in them comes from the capture (a
plaintext caller's peer metadata names its own workload), so each comment line goes through
:func:`one_line` first: a line break in a workload's name would otherwise end the comment and
write YAML of the caller's choosing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

import attrs

from ._model import AuthorizationPolicy, Condition, Operation, Rule, Source
from ._suggest import LeftOut, Suggestion, UnnamedCaller

__all__ = ["policy_to_document", "render_policies"]

# Control characters and the line and paragraph separators: YAML ends a comment at \x85,
# \u2028 and \u2029 as at \n and \r; a terminal obeys the others.
_UNPRINTABLE = frozenset({"Cc", "Zl", "Zp"})

API_VERSION = "security.istio.io/v1"
KIND = "AuthorizationPolicy"


def policy_to_document(policy: AuthorizationPolicy) -> dict[str, Any]:
    """The Kubernetes resource of *policy*, as plain dicts, lists and strings.

    :func:`~meshals.policy.policy_from_document` reads it back into an equal policy.

    >>> from meshals.policy import AuthorizationPolicy
    >>> policy_to_document(AuthorizationPolicy(name="deny-all", namespace="shop"))
    {'apiVersion': 'security.istio.io/v1', 'kind': 'AuthorizationPolicy', \
'metadata': {'name': 'deny-all', 'namespace': 'shop'}, 'spec': {'action': 'ALLOW'}}
    """
    spec: dict[str, Any] = {}
    if policy.selector is not None:
        spec["selector"] = {"matchLabels": dict(policy.selector)}
    if policy.target_refs:
        spec["targetRefs"] = [dict(ref) for ref in policy.target_refs]
    spec["action"] = policy.action.value
    if policy.provider is not None:
        spec["provider"] = {"name": policy.provider}
    if policy.rules:
        spec["rules"] = [_rule(rule) for rule in policy.rules]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": policy.name, "namespace": policy.namespace},
        "spec": spec,
    }


def _rule(rule: Rule) -> dict[str, Any]:
    # An empty rule ({}) is a rule that matches every request: keep it as one.
    document: dict[str, Any] = {}
    if rule.sources:
        document["from"] = [{"source": _fields(source)} for source in rule.sources]
    if rule.operations:
        document["to"] = [{"operation": _fields(operation)} for operation in rule.operations]
    if rule.when:
        document["when"] = [_fields(condition) for condition in rule.when]
    return document


def _fields(value: Source | Operation | Condition) -> dict[str, Any]:
    """The set fields of *value*, camelCase, in the API's order (the attrs fields mirror it)."""
    document: dict[str, Any] = {}
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        if item or isinstance(item, str):
            document[_camel(field.name)] = list(item) if isinstance(item, tuple) else item
    return document


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def render_policies(policies: Suggestion | Iterable[AuthorizationPolicy]) -> str:
    """Deterministic multi-document YAML of *policies* (module docstring).

    Args:
        policies: the policies, or a :class:`~meshals.policy.Suggestion`, whose unnamed
            callers and left-out requests become comments.

    Returns:
        The YAML text, documents separated by ``---``; empty when there is no policy and
        nothing to say.
    """
    import yaml  # imported here: `import meshals.policy` stays light

    if isinstance(policies, Suggestion):
        suggestion: Suggestion | None = policies
        chosen = policies.policies
    else:
        suggestion, chosen = None, tuple(policies)
    documents = []
    if suggestion is not None:
        header = _comments(suggestion, None)
        if header:
            documents.append("".join(header))
    for policy in chosen:
        comments = _comments(suggestion, policy) if suggestion is not None else []
        text = yaml.safe_dump(
            policy_to_document(policy),
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
        documents.append("".join(comments) + text)
    return "---\n".join(documents)


def _comments(suggestion: Suggestion, policy: AuthorizationPolicy | None) -> list[str]:
    key = None if policy is None else policy.key
    callers = [caller for caller in suggestion.unnamed_callers if caller.policy == key]
    left = [item for item in suggestion.left_out if item.policy == key]
    lines: list[str] = []
    if policy is None:
        lines += [f"# {line}" for line in waypoint_lines(suggestion)]
    if policy is not None and not policy.rules:
        lines += [
            "# This policy admits no request: no caller it was made from presented a",
            "# principal. Applied, it denies every request to the workloads it selects.",
        ]
    if callers:
        lines.append("# Not admitted: callers without a principal (no mutual TLS):")
        for caller in callers:
            lines.append(f"# - {caller_summary(caller)}")
            lines.extend(f"#   {line}" for line in _admission_lines(caller))
    if left:
        lines.append("# Not admitted: requests no rule can match exactly:")
        lines.extend(f"# - {_left_out_line(item)}" for item in left)
    return [one_line(line) + "\n" for line in lines]


def one_line(text: str) -> str:
    """*text* with its control characters and line breaks written as Python escapes, so it
    stays one line of a ``#`` comment or of stderr whatever a capture put in it.

    >>> one_line("reviews\\n---\\nkind: x\\x1b[2J")
    'reviews\\\\n---\\\\nkind: x\\\\x1b[2J'
    """
    if all(unicodedata.category(char) not in _UNPRINTABLE for char in text):
        return text
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char) in _UNPRINTABLE else char for char in text
    )


def waypoint_lines(suggestion: Suggestion) -> list[str]:
    """Why the requests a waypoint received got no policy, one line each."""
    return [
        f"no policy suggested for the {_count(count, 'request')} waypoint {waypoint} received:"
        " a waypoint takes only policies whose targetRefs name its Gateway or a Service, never"
        " a selector"
        for waypoint, count in suggestion.waypoints.items()
    ]


def caller_summary(caller: UnnamedCaller) -> str:
    """``default/details-v1: 1 request from 127.0.0.10 (default/legacy-client) on port 9080:
    GET /details/2``: one line saying who called what."""
    who = caller.source_ip or "an unknown address"
    if caller.remote_ip is not None:
        who += f" for {caller.remote_ip}"
    if caller.source is not None and caller.source.workload is not None:
        who += f" ({caller.source.namespace or '?'}/{caller.source.workload})"
    counts = [_count(caller.requests, "request"), _count(caller.connections, "connection")]
    what = " and ".join(count for count in counts if count)
    ports = ", ".join(str(port) for port in caller.ports)
    on = f" on port {ports}" if len(caller.ports) == 1 else f" on ports {ports}" if ports else ""
    return f"{caller.destination}: {what} from {who}{on}: {', '.join(caller.operations)}"


def admission(caller: UnnamedCaller) -> str:
    """What would admit *caller*, in one line."""
    return " ".join(_admission_lines(caller))


def _admission_lines(caller: UnnamedCaller) -> list[str]:
    ways = []
    if caller.remote_ip_blocks:
        ways.append(f"remoteIpBlocks {_list(caller.remote_ip_blocks)}")
    if caller.ip_blocks:
        ways.append(f"ipBlocks {_list(caller.ip_blocks)}")
    lines = []
    if ways:
        lines.append(f"would be admitted by from.source.{' or '.join(ways)} (addresses change),")
    later = (
        f"principals {_list(caller.principals)}"
        if caller.principals
        else f"namespaces {_list(caller.namespaces)}"
        if caller.namespaces
        else "its principal"
    )
    lines.append(
        f"{'or' if ways else 'would be admitted'}, once it calls with mutual TLS, by {later}"
    )
    return lines


def _left_out_line(item: LeftOut) -> str:
    port = "" if item.port is None else f" on port {item.port}"
    who = item.principal or "no principal"
    noun = "connection" if item.operation == "TCP" else "request"
    return f"{who}: {_count(item.count, noun)} {item.operation}{port}: {item.reason}"


def _count(count: int, noun: str) -> str:
    if not count:
        return ""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"
