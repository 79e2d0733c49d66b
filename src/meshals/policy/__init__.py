"""Istio AuthorizationPolicies held against observed traffic.

The policy values (Istio's ``security.istio.io/v1`` AuthorizationPolicy), reading them from
YAML with Istio's schema checks, the requests a workload's policies see in access logs
(server-side entries, with their principals, addresses, hosts, methods, paths and ports), and
``check()``: the policies' decision on each of them, with Istio's semantics; ``suggest()``:
the ALLOW policies that admit exactly the observed traffic, and their YAML.
"""

from ._check import (
    check,
    decide,
)
from ._errors import (
    PolicyError,
)
from ._load import (
    load_policies,
    policy_from_document,
)
from ._model import (
    Action,
    AuthorizationPolicy,
    Condition,
    Operation,
    Rule,
    Source,
)
from ._render import policy_to_document, render_policies
from ._report import (
    Decision,
    EdgeVerdicts,
    PolicyReport,
    Verdict,
)
from ._requests import (
    ObservedRequest,
    ObservedRequests,
    observed_requests,
)
from ._suggest import LeftOut, Suggestion, UnnamedCaller, suggest

__all__ = [
    "Action",
    "AuthorizationPolicy",
    "Condition",
    "Decision",
    "EdgeVerdicts",
    "LeftOut",
    "ObservedRequest",
    "ObservedRequests",
    "Operation",
    "PolicyError",
    "PolicyReport",
    "Rule",
    "Source",
    "Suggestion",
    "UnnamedCaller",
    "Verdict",
    "check",
    "decide",
    "load_policies",
    "observed_requests",
    "policy_from_document",
    "policy_to_document",
    "render_policies",
    "suggest",
]
