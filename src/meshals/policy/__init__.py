"""Istio AuthorizationPolicies held against observed traffic.

The policy values (Istio's ``security.istio.io/v1`` AuthorizationPolicy), the requests a
workload's policies see in access logs (server-side entries, with their principals, addresses,
hosts, methods, paths and ports).
"""

from ._model import (
    Action,
    AuthorizationPolicy,
    Condition,
    Operation,
    Rule,
    Source,
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
    "ObservedRequest",
    "ObservedRequests",
    "Operation",
    "Rule",
    "Source",
    "observed_requests",
]
