"""The RBAC mesh: the mutual-TLS mesh with AuthorizationPolicies in shadow mode, and its traffic.

Dev tooling for ``record_fixtures.py``; not part of meshals. The pods of ``_mtls_mesh`` (mutual
TLS between Envoys, the HTTPS gateway, legacy outside the mesh) with one more service,
``details-admin`` on details' pod (port 9081), so that a policy's ports have something to tell
apart. Each sidecar's inbound listeners run the RBAC filters istiod would make of
``tests/fixtures/policies/rbac-shadow.yaml`` (``_istio_rbac``), with shadow rules only: every
call goes through, and Envoy logs what it would have decided. The traffic is chosen so that
each policy allows and denies something: callers whose principal matches and callers whose
does not, a plaintext caller, exact, prefix and suffix paths, a query string, the ``not``
forms, GET, POST and DELETE, both of details' ports, gRPC, and TCP. Each service has one
meshed caller at most: the client sidecars listen on the services' ClusterIPs, and two Envoys
on one address would share its connections.

:data:`DECISIONS` says, per call, what each of the called sidecar's two filters decides: the
recorder checks every logged decision against it before writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _bookinfo import EXTERNAL, Call, Mesh, Protocol, Service
from _mesh_apps import AppResponse
from _mtls_mesh import LEGACY, MTLS

__all__ = ["DECISIONS", "POLICIES", "RBAC", "Decision", "EngineResult"]

POLICIES = Path(__file__).resolve().parent.parent / "tests/fixtures/policies/rbac-shadow.yaml"
RATINGS = "/bookinfo.ratings.v1.Ratings/GetRating"


@dataclass(frozen=True)
class EngineResult:
    """One RBAC filter's shadow decision: ``allowed`` or ``denied``, and the matching policy."""

    result: str
    policy: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the called sidecar's DENY and ALLOW filters decide (None: it has no such filter)."""

    deny: EngineResult | None
    allow: EngineResult | None


def _rule(name: str, index: int = 0) -> str:
    return f"ns[default]-policy[{name}]-rule[{index}]"


ALLOWED = EngineResult("allowed")  # a DENY filter that matched nothing
DENIED = EngineResult("denied")  # an ALLOW filter that matched nothing
PRODUCTPAGE = EngineResult("allowed", _rule("productpage-viewer"))
DETAILS_PRODUCTPAGE = EngineResult("allowed", _rule("details-reader", 0))
DETAILS_HEALTH = EngineResult("allowed", _rule("details-reader", 1))
DETAILS_ADMIN = EngineResult("allowed", _rule("details-admin-port"))
REVIEWS = EngineResult("allowed", _rule("reviews-reader"))
RATINGS_REVIEWS = EngineResult("allowed", _rule("ratings-grpc"))
MONGODB = EngineResult("allowed", _rule("mongodb-clients"))
DENY_WRITES = EngineResult("denied", _rule("details-deny-writes"))
DENY_DEBUG = EngineResult("denied", _rule("deny-debug"))
REVIEWS_TEMPLATES = EngineResult("allowed", _rule("reviews-templates"))
DETAILS_TENANT = EngineResult("allowed", _rule("details-xff", 0))
DETAILS_FORWARDED = EngineResult("allowed", _rule("details-xff", 1))
DENY_REMOTE = EngineResult("denied", _rule("details-deny-remote"))
Forwarded = tuple[str, str | None, str, str, EngineResult, EngineResult]
# What legacy sends details in phase 11: (path, X-Forwarded-For, x-tenant, port's service,
# the DENY filter's decision, the ALLOW filter's). details trusts one X-Forwarded-For hop:
# remote.ip is its right-most address, source.ip legacy's own.
_FORWARDED: tuple[Forwarded, ...] = (
    ("/details/10/stock", "198.51.100.7", "acme", "details", ALLOWED, DETAILS_TENANT),
    ("/details/11/stock", "198.51.100.7", "beta-2", "details", ALLOWED, DETAILS_TENANT),
    ("/details/12/stock", "198.51.100.7", "gamma", "details", ALLOWED, DENIED),
    ("/details/13/stock", None, "acme", "details", ALLOWED, DENIED),
    ("/details/14/stock", "192.0.2.9", "zeta", "details", ALLOWED, DETAILS_FORWARDED),
    ("/details/15/stock", "192.0.2.9", "blocked", "details", ALLOWED, DENIED),
    ("/details/16/stock", "203.0.113.5, 198.51.100.7", "acme", "details", ALLOWED, DETAILS_TENANT),
    ("/details/17/stock", "203.0.113.5", "acme", "details", DENY_REMOTE, DENIED),
    ("/details/a*b/stock", "198.51.100.7", "acme", "details", ALLOWED, DETAILS_TENANT),
    ("/details/a%2Fb/stock", "198.51.100.7", "acme", "details", ALLOWED, DETAILS_TENANT),
    ("/details/18/stock?src=feed", "198.51.100.7", "acme", "details", ALLOWED, DETAILS_TENANT),
    ("/details/19/stock", "192.0.2.9", "zeta", "details-admin", ALLOWED, DENIED),
)
# What productpage asks reviews in phase 10, and whether reviews-templates allows it.
_TEMPLATED = (
    ("/v2/reviews/7/ratings", True),
    ("/v2/reviews/a%20b/ratings", True),
    ("/v2/reviews/a*b/ratings", True),
    ("/v2/reviews/a=b/ratings", True),
    ("/v2/reviews/7/8/ratings", False),
    ("/v2/reviews/a[1]/ratings", False),
    ("/v2/reviews/7/ratings?sort=new", True),
    ("/v2/archive/2026/12/x.json", True),
    ("/v2/archive/", True),
    ("/v2/archive", False),
    ("/v2/archive/a*b", True),
)

DECISIONS: dict[Call, Decision] = {}


def _call(call: Call, deny: EngineResult, allow: EngineResult) -> Call:
    """*call*, with what the called sidecar should decide (every sidecar has both filters:
    the namespace-wide DENY policy selects all, and each workload has an ALLOW policy)."""
    decision = Decision(deny=deny, allow=allow)
    if DECISIONS.setdefault(call, decision) != decision:
        raise ValueError(f"two decisions for one call: {call}")
    return call


def _http(
    client: str,
    service: str,
    path: str,
    deny: EngineResult,
    allow: EngineResult,
    *,
    method: str = "GET",
    calls: tuple[Call, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> Call:
    call = Call(client, service, method=method, path=path, calls=calls, headers=headers)
    return _call(call, deny, allow)


def _forwarded(row: Forwarded) -> Call:
    path, forwarded, tenant, service, deny, allow = row
    headers = (("x-forwarded-for", forwarded),) if forwarded else ()
    return _http(LEGACY, service, path, deny, allow, headers=(*headers, ("x-tenant", tenant)))


def _rating(client: str, path: str, product: int, allow: EngineResult) -> Call:
    call = Call(
        client,
        "ratings",
        Protocol.GRPC,
        method="POST",
        path=path,
        body=bytes([0x08, product]),  # field 1 (product_id), varint
        answer=AppResponse(0, b"\x08\x05"),
    )
    return _call(call, ALLOWED, allow)


def _tcp(size: int) -> Call:
    payload = (b"meshals-tcp-" * (size // 12 + 1))[:size]
    call = Call("productpage", "mongodb", Protocol.TCP, method="", body=payload)
    return _call(call, DENY_DEBUG, MONGODB)


def _phases() -> tuple[tuple[Call, ...], ...]:
    rating = _rating("reviews", RATINGS, 0, RATINGS_REVIEWS)
    reviews = _http("productpage", "reviews", "/reviews/0", ALLOWED, REVIEWS, calls=(rating,))
    details = _http("productpage", "details", "/details/0", ALLOWED, DETAILS_PRODUCTPAGE)
    page = Call(EXTERNAL, "productpage", path="/productpage", calls=(details, reviews))
    page = _call(page, ALLOWED, PRODUCTPAGE)  # fmt: skip
    return (
        # 1. The product page: every hop allowed, by principal, namespace, prefix path, host.
        (page,),
        # 2. Through the gateway: prefixes allowed; a POST and an unlisted path are not.
        (
            _http(EXTERNAL, "productpage", "/static/app.css", ALLOWED, PRODUCTPAGE),
            _http(EXTERNAL, "productpage", "/api/v1/products/1", ALLOWED, PRODUCTPAGE),
            _http(
                EXTERNAL,
                "productpage",
                "/api/v1/products/1/reviews",
                ALLOWED,
                DENIED,
                method="POST",
            ),
            _http(EXTERNAL, "productpage", "/logout", ALLOWED, DENIED),
        ),
        # 3. productpage -> details: the path matcher ignores the query; DELETE is not
        # allowed (productpage is exempt from the DENY); /health matches rules 0 and 1 (Envoy
        # names the first); */debug is denied namespace-wide although details-reader allows it.
        (
            _http("productpage", "details", "/details/1?format=json", ALLOWED, DETAILS_PRODUCTPAGE),
            _http("productpage", "details", "/details/1", ALLOWED, DENIED, method="DELETE"),
            _http("productpage", "details", "/details/health", ALLOWED, DETAILS_PRODUCTPAGE),
            _http("productpage", "details", "/details/debug", DENY_DEBUG, DETAILS_PRODUCTPAGE),
        ),
        # 4. legacy -> details in plaintext (no principal): only the suffix rule without a
        # source admits it; notPrincipals matches a caller without a principal, so its POST is
        # denied; a POST to */debug matches both DENY policies (Envoy names deny-debug).
        (
            _http(LEGACY, "details", "/details/2/health", ALLOWED, DETAILS_HEALTH),
            _http(LEGACY, "details", "/details/2", ALLOWED, DENIED),
            _http(LEGACY, "details", "/details/2", DENY_WRITES, DENIED, method="POST"),
            _http(LEGACY, "details", "/details/2/debug", DENY_DEBUG, DENIED, method="POST"),
        ),
        # 5. productpage -> reviews: notPaths and the method.
        (
            _http("productpage", "reviews", "/reviews/2", ALLOWED, REVIEWS),
            _http("productpage", "reviews", "/reviews/internal/cache", ALLOWED, DENIED),
            _http("productpage", "reviews", "/reviews/2", ALLOWED, DENIED, method="DELETE"),
        ),
        # 6. gRPC to ratings: another service's prefix.
        (_rating("reviews", "/bookinfo.ratings.v1.Admin/Reset", 0, DENIED),),
        # 7. details' second port, from reviews (another principal: the DENY policy's
        # notPrincipals matches it) and legacy: ports tell details-reader's rules (9080) from
        # details-admin-port (9081).
        (
            _http("reviews", "details-admin", "/admin/stats", ALLOWED, DETAILS_ADMIN),
            _http(
                "reviews",
                "details-admin",
                "/admin/reload",
                DENY_WRITES,
                DETAILS_ADMIN,
                method="POST",
            ),
            _http("reviews", "details-admin", "/admin/cache", DENY_WRITES, DENIED, method="DELETE"),
            _http("reviews", "details-admin", "/details/5", ALLOWED, DENIED),
            _http(LEGACY, "details-admin", "/admin/info", ALLOWED, DENIED),
            _http(LEGACY, "details-admin", "/admin/health", ALLOWED, DENIED),
        ),
        # 8. and 9. TCP to mongodb: mongodb-clients allows productpage on 27017, but the
        # namespace-wide DENY, its paths dropped on TCP, matches every connection.
        (_tcp(64),),
        (_tcp(1500),),
        # 10. productpage -> reviews: path templates; {*} is one segment of the template
        # class ('*' and '=' are outside it, '%' inside), {**} any number; the query is not
        # part of the path.
        tuple(
            _http("productpage", "reviews", path, ALLOWED, REVIEWS_TEMPLATES if ok else DENIED)
            for path, ok in _TEMPLATED
        ),
        # 11. legacy -> details with X-Forwarded-For and x-tenant: ipBlocks and remoteIpBlocks,
        # when conditions on request.headers, remote.ip, source.ip and destination.port.
        tuple(_forwarded(row) for row in _FORWARDED),
    )


def _services() -> dict[str, Service]:
    services = dict(MTLS.services)
    services["details-admin"] = Service("details-admin", 9081, "127.0.1.11", "details")
    return services


RBAC = Mesh(
    name="rbac",
    pods=MTLS.pods,
    services=_services(),
    phases=_phases(),
    mtls=True,
    permissive=frozenset({"details", "details-admin"}),
    authorization=POLICIES,
    trusted_xff=frozenset({"details"}),
    logged_headers=("x-tenant",),
)
