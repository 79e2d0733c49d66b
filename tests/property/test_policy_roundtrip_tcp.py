"""check(suggest(capture), capture) over captures that mix HTTP requests and TCP connections:
every observed connection with a principal is allowed (unless its port also carried HTTP:
then it is left out, as a ports-only rule would admit every HTTP request there); a connection
with another principal or port is denied; and an HTTP request is admitted by a TCP rule only
on a port where nothing but TCP was observed, which no Istio field can narrow.

HTTP requests are :mod:`.test_policy_roundtrip`'s; TCP connections are the real recording's
mongodb-v1 inbound entry with the caller's principal (or none) and the port drawn
(:mod:`.policy_requests`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from meshals.policy import (
    AuthorizationPolicy,
    Decision,
    Operation,
    Rule,
    Verdict,
    check,
    load_policies,
    render_policies,
    suggest,
)
from meshals.policy._paths import request_path

from .policy_requests import Connection, Request, capture
from .test_policy_roundtrip import PORTS, PRINCIPALS, WORKLOADS, requests

pytestmark = pytest.mark.property

Observed = Request | Connection
REASON = (
    "the port also received HTTP requests: a rule for TCP (ports only) would admit every HTTP"
    " request on it"
)


def connections(*, plaintext: bool = True) -> st.SearchStrategy[Connection]:
    principals = st.sampled_from(PRINCIPALS)
    return st.tuples(
        st.one_of(st.none(), principals) if plaintext else principals, st.sampled_from(PORTS)
    )


def mixed(*, plaintext: bool = True) -> st.SearchStrategy[list[Observed]]:
    either = st.one_of(requests(plaintext=plaintext), connections(plaintext=plaintext))
    return st.lists(either, min_size=1, max_size=12)


def _http_ports(observed: Sequence[Observed]) -> set[int]:
    return {item[3] for item in observed if len(item) == 4}


def _expected(observed: Sequence[Observed]) -> list[Verdict]:
    """Allowed: what has a principal, but a connection to a port that also carried HTTP."""
    http = _http_ports(observed)
    return [
        Verdict.DENIED
        if item[0] is None or (len(item) == 2 and item[1] in http)
        else Verdict.ALLOWED
        for item in observed
    ]


@given(
    observed=mixed(),
    paths=st.sampled_from(["exact", "template"]),
    split=st.integers(min_value=0, max_value=12),
)
def test_every_observed_connection_with_a_principal_is_allowed(
    observed: list[Observed], paths: str, split: int
) -> None:
    # The first *split* to one workload, the rest to the other.
    parts = (observed[:split], observed[split:])
    streams = [
        capture(part, workload=workload, labels=labels)
        for part, (workload, labels) in zip(parts, WORKLOADS, strict=True)
        if part
    ]
    found = suggest(streams, paths=paths)  # type: ignore[arg-type]
    policies = load_policies(render_policies(found))
    assert policies == found.policies
    report = check(policies, streams)
    assert [d.verdict for d in report.decisions] == [v for part in parts for v in _expected(part)]
    # What is denied with a principal is listed as left out, for its port's HTTP, by count.
    left: Counter[tuple[str, str | None, int]] = Counter()
    for part, (workload, _) in zip(parts, WORKLOADS, strict=True):
        http = _http_ports(part)
        for item in part:
            if len(item) == 2 and item[0] is not None and item[1] in http:
                left[f"default/{workload}", item[0], item[1]] += 1
    assert Counter({(x.destination, x.principal, x.port): x.count for x in found.left_out}) == left
    assert {(x.operation, x.reason) for x in found.left_out} <= {("TCP", REASON)}
    unnamed = sum(c.connections for c in found.unnamed_callers)
    assert unnamed == sum(len(item) == 2 and item[0] is None for item in observed)


@given(observed=mixed(plaintext=False), data=st.data())
def test_a_connection_with_another_principal_or_port_is_denied(
    observed: list[Observed], data: st.DataObject
) -> None:
    # Mostly one observed item's principal with another's port: where a rule too wide admits.
    recombined = st.tuples(
        st.sampled_from([item[0] for item in observed]),
        st.sampled_from([item[-1] for item in observed]),
    )
    probe = data.draw(st.one_of(recombined, recombined, connections()), label="probe")
    assume(probe not in observed)
    policies = suggest([capture(observed)]).policies
    report = check(policies, [capture([*observed, probe])])
    assert report.decisions[-1].verdict is Verdict.DENIED
    assert [d.verdict for d in report.decisions[:-1]] == _expected(observed)


@given(observed=mixed(plaintext=False), data=st.data())
def test_http_is_admitted_by_a_tcp_rule_only_on_a_port_that_carried_only_tcp(
    observed: list[Observed], data: st.DataObject
) -> None:
    # An HTTP request from a principal to a port of the observed connections, or any.
    recombined = st.tuples(
        st.sampled_from([item[0] for item in observed]),
        st.sampled_from(["GET", "POST"]),
        st.sampled_from(["/a", "/details/0"]),
        st.sampled_from([item[-1] for item in observed]),
    )
    probe = data.draw(st.one_of(recombined, requests(plaintext=False)), label="probe")
    assume(_key(probe) not in {_key(item) for item in observed if len(item) == 4})
    policies = suggest([capture(observed)]).policies
    report = check(policies, [capture([*observed, probe])])
    decision = report.decisions[-1]
    principal, port, http = probe[0], probe[3], _http_ports(observed)
    if (principal, port) in observed and port not in http:
        # No Istio field narrows a ports-only rule to TCP: where Istio parses HTTP on this
        # port, the TCP rule admits any request; the capture saw only TCP there.
        assert decision.verdict is Verdict.ALLOWED
        tcp_ports = {item[1] for item in observed if len(item) == 2 and item[0] == principal}
        assert _deciding_rule(policies, decision).operations == (
            Operation(ports=tuple(str(p) for p in sorted(tcp_ports - http))),
        )
    else:
        assert decision.verdict is Verdict.DENIED


def _key(request: Request) -> tuple[str | None, str, str, int]:
    principal, method, path, port = request
    return principal, method, request_path(path), port


def _deciding_rule(policies: Sequence[AuthorizationPolicy], decision: Decision) -> Rule:
    (policy,) = (p for p in policies if p.key == decision.policy)
    assert decision.rule is not None
    return policy.rules[decision.rule]
