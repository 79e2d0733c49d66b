"""check(suggest(capture), capture) over generated captures: the suggested policies allow every
observed request that has a principal, deny (and list) those without one, and deny a request
that differs from every observed one in principal, method, path or port.

The captures are the real recording's details-v1 inbound entry with the caller's principal
(or none: plaintext), the method, the path (with or without a query) and the port drawn by
Hypothesis (:mod:`.policy_requests`); the decisions are core's ``check()``, an evaluator
written apart from ``suggest()``.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from meshals.policy import Verdict, check, load_policies, render_policies, suggest
from meshals.policy._paths import covered, request_path, template_path

from .policy_requests import Request, capture

pytestmark = pytest.mark.property

PRINCIPALS = [
    "cluster.local/ns/default/sa/bookinfo-productpage",
    "cluster.local/ns/shop/sa/cart",
    "cluster.local/ns/shop/sa/cart-v2",  # shares a prefix with the one before it
    "example.org/ns/shop/sa/cart",  # another trust domain, the same namespace and account
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]
PORTS = [9080, 9090, 15021]
SEGMENTS = ["details", "reviews", "0", "1", "17", "v1", "d", "de", "3f2a9c1e5b7d4e8f"]
# Segments at the edges of Envoy's URI template segment class: inside it ("*", matched since
# envoyproxy/envoy#39169, "%2F", "@", "~", "'"), outside it ("[", " ", non-ASCII, "|"), where a
# template must admit exactly what Envoy's matcher admits.
WILD_SEGMENTS = ["a*b", "a[1]", "a b", "ü", "x|y", "%2F", "a@b~c", "'q'"]
# Two workloads of one namespace, told apart by app.
WORKLOADS = [("details-v1", {"app": "details"}), ("reviews-v1", {"app": "reviews"})]


@st.composite
def paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.sampled_from(SEGMENTS + WILD_SEGMENTS), min_size=1, max_size=3))
    path = "/" + "/".join(segments)
    if draw(st.booleans()):
        path += draw(st.sampled_from(["/", "?user=jason", "?x=1&y=2"]))
    return path


def requests(*, plaintext: bool = True) -> st.SearchStrategy[Request]:
    principals = st.sampled_from(PRINCIPALS)
    return st.tuples(
        st.one_of(st.none(), principals) if plaintext else principals,
        st.sampled_from(METHODS),
        paths(),
        st.sampled_from(PORTS),
    )


def _key(request: Request) -> tuple[str | None, str, str, int]:
    principal, method, path, port = request
    return principal, method, request_path(path), port


@given(
    observed=st.lists(requests(), min_size=1, max_size=12),
    paths=st.sampled_from(["exact", "template"]),
    split=st.integers(min_value=0, max_value=12),
)
def test_every_observed_request_with_a_principal_is_allowed(
    observed: list[Request], paths: str, split: int
) -> None:
    # The first *split* requests to one workload, the rest to the other.
    streams = [
        capture(part, workload=workload, labels=labels)
        for part, (workload, labels) in zip(
            (observed[:split], observed[split:]), WORKLOADS, strict=True
        )
        if part
    ]
    found = suggest(streams, paths=paths)  # type: ignore[arg-type]
    # Through the YAML, as a user applies it: Istio's schema checks and all.
    policies = load_policies(render_policies(found))
    assert policies == found.policies
    report = check(policies, streams)
    assert [decision.verdict for decision in report.decisions] == [
        Verdict.DENIED if principal is None else Verdict.ALLOWED for principal, *_ in observed
    ]
    unnamed = sum(caller.requests for caller in found.unnamed_callers)
    assert unnamed == sum(principal is None for principal, *_ in observed)
    assert found.left_out == ()


@given(
    observed=st.lists(requests(plaintext=False), min_size=1, max_size=12),
    data=st.data(),
    paths=st.sampled_from(["exact", "template"]),
)
def test_a_request_unlike_every_observed_one_is_denied(
    observed: list[Request], data: st.DataObject, paths: str
) -> None:
    # Mostly a recombination of observed fields (one request's principal, another's method,
    # path and port): where a rule too wide would admit it. Else any request.
    recombined = st.tuples(
        st.sampled_from([principal for principal, *_ in observed]),
        st.sampled_from([method for _, method, _, _ in observed]),
        st.sampled_from([path for _, _, path, _ in observed]),
        st.sampled_from([port for *_, port in observed]),
    )
    # Or an observed request with one segment of its path made wild: what a template whose
    # {*} matched more than Envoy's segment class would admit.
    rewilded = st.tuples(st.sampled_from(observed), st.sampled_from(WILD_SEGMENTS)).map(_rewild)
    probe = data.draw(st.one_of(recombined, recombined, rewilded, requests()), label="probe")
    assume(_key(probe) not in {_key(request) for request in observed})
    # A folded path admits other identifiers, as many as Envoy's segment class holds.
    assume(paths == "exact" or not any(_folded_admits(other, probe) for other in observed))
    policies = suggest([capture(observed)], paths=paths).policies  # type: ignore[arg-type]
    report = check(policies, [capture([*observed, probe])])
    assert report.decisions[-1].verdict is Verdict.DENIED
    assert all(d.verdict is Verdict.ALLOWED for d in report.decisions[:-1])


@given(
    observed=st.lists(requests(plaintext=False), min_size=1, max_size=12),
    probe=requests(plaintext=False),
    change=st.sampled_from(["principal", "method", "port"]),
)
def test_templates_widen_paths_only(observed: list[Request], probe: Request, change: str) -> None:
    # An observed request with another principal, method or port: a folded path admits
    # other identifiers, never another principal, method or port.
    principal, method, path, port = observed[0]
    if change == "principal":
        principal = probe[0]
    elif change == "method":
        method = probe[1]
    else:
        port = probe[3]
    request = (principal, method, path, port)
    assume(not any(_folded_admits(other, request) for other in observed))
    policies = suggest([capture(observed)], paths="template").policies
    report = check(policies, [capture([request])])
    assert report.decisions[0].verdict is Verdict.DENIED


def _rewild(drawn: tuple[Request, str]) -> Request:
    """*drawn*'s request with the last segment of its path replaced by *drawn*'s segment."""
    (principal, method, path, port), segment = drawn
    head = request_path(path).rstrip("/").rpartition("/")[0]
    return principal, method, f"{head}/{segment}", port


def _folded_admits(observed: Request, request: Request) -> bool:
    """Whether *observed*'s folded path, with its principal, method and port, admits *request*."""
    principal, method, path, port = observed
    folded, wanted = template_path(path), request_path(request[2])
    same = (principal, method, port) == (request[0], request[1], request[3])
    return same and (folded == wanted or (folded is not None and covered(wanted, folded)))
