"""Istio AuthorizationPolicies held against observed traffic.

The policy values (Istio's ``security.istio.io/v1`` AuthorizationPolicy), reading them from
YAML with Istio's schema checks, the requests a workload's policies see in access logs
(server-side entries, with their principals, addresses, hosts, methods, paths and ports), and
``check()``: the policies' decision on each of them, with Istio's semantics.
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

__all__ = [
    "Action",
    "AuthorizationPolicy",
    "Condition",
    "Decision",
    "EdgeVerdicts",
    "ObservedRequest",
    "ObservedRequests",
    "Operation",
    "PolicyError",
    "PolicyReport",
    "Rule",
    "Source",
    "Verdict",
    "check",
    "decide",
    "load_policies",
    "observed_requests",
    "policy_from_document",
]
