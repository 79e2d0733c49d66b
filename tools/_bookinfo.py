"""The bookinfo-like meshes that the recorder runs on loopback, and the traffic they carry.

Dev tooling for ``record_fixtures.py``; not part of meshals. Everything here is data: a
:class:`Mesh` says which "pods" exist (one loopback IP each), which services they back, which
pods have an Envoy, whether the hops between Envoys use Istio's mutual TLS, and the ordered
list of calls. The Envoy configurations, the applications' behaviour and the ground truth are
all derived from it. ``BASIC`` is the plaintext mesh of ``tests/fixtures/envoy``; the mutual-TLS
one is in ``_mtls_mesh``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from _mesh_apps import AppResponse

__all__ = [
    "APP_PORT_OFFSET",
    "BASIC",
    "CLUSTER_DOMAIN",
    "EXTERNAL",
    "EXTERNAL_CLIENT_IP",
    "GATEWAY",
    "GATEWAY_EXACT_PATHS",
    "GATEWAY_HOST",
    "GATEWAY_PORT",
    "GATEWAY_PREFIXES",
    "PHASE_GAP_S",
    "TRUST_DOMAIN",
    "Call",
    "Mesh",
    "Outcome",
    "Pod",
    "Protocol",
    "Service",
    "VirtualRoute",
    "basic_phases",
]

CLUSTER_DOMAIN = "svc.cluster.local"
# Istio's default trust domain: the authority of every SPIFFE id in the mesh.
TRUST_DOMAIN = "cluster.local"
# A caller outside the mesh; deliberately absent from the resolver map (like a real client).
EXTERNAL_CLIENT_IP = "127.0.0.9"
EXTERNAL = "external"
GATEWAY = "istio-ingressgateway"
GATEWAY_PORT = 8080
# The host outside callers ask for; with mutual TLS, the name on the gateway's HTTPS certificate.
GATEWAY_HOST = "bookinfo.example.com"
# The port a sidecar'd application really listens on: its sidecar owns the service port.
APP_PORT_OFFSET = 10000


class Protocol(enum.Enum):
    HTTP = "HTTP"
    GRPC = "gRPC"
    TCP = "TCP"


@dataclass(frozen=True)
class Pod:
    """One workload instance on its own loopback IP (127.0.0.x).

    ``has_envoy``: an Envoy runs in the pod: a sidecar, or for the gateway pod (role
    ``router``) the pod itself.
    ``alive``: False for a pod whose process is gone, so that calls to it fail to connect.
    ``template_hash``: the ``pod-template-hash`` of the ReplicaSet that owns the pod (the
    Kubernetes snapshot's ``<deployment>-<hash>``); ``owner_kind`` another controller's kind.
    """

    service: str
    instance: str
    ip: str
    namespace: str = "default"
    version: str = "v1"
    has_envoy: bool = True
    alive: bool = True
    account: str = ""  # the service account; "" is bookinfo-<service>
    canonical_revision: str = ""  # service.istio.io/canonical-revision; "" is the version
    template_hash: str = ""
    owner_kind: str = "ReplicaSet"

    @property
    def role(self) -> str:
        return "router" if self.service == GATEWAY else "sidecar"

    @property
    def node_id(self) -> str:
        # Istio's node id: <type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local
        pod_and_namespace = f"{self.instance}.{self.namespace}"
        return f"{self.role}~{self.ip}~{pod_and_namespace}~{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def workload(self) -> str:
        """The Deployment (or other controller) that owns the pod: Istio's workload name."""
        if self.service == GATEWAY:
            return self.service
        if self.owner_kind == "StatefulSet":
            return self.instance.rsplit("-", 1)[0]  # <statefulset>-<ordinal>
        return f"{self.service}-{self.version}"

    @property
    def service_account(self) -> str:
        return self.account or f"bookinfo-{self.service}"

    @property
    def revision(self) -> str:
        return self.canonical_revision or self.version

    @property
    def spiffe_id(self) -> str:
        """The URI SAN of the pod's Istio workload certificate."""
        return f"spiffe://{TRUST_DOMAIN}/ns/{self.namespace}/sa/{self.service_account}"


@dataclass(frozen=True)
class VirtualRoute:
    """A route that an Istio VirtualService would add in front of a service's default route."""

    prefix: str
    subset: str = ""
    timeout_ms: int = 0

    @property
    def name(self) -> str:
        return self.prefix.strip("/").replace("/", "-")


@dataclass(frozen=True)
class Service:
    """A Kubernetes service: a ClusterIP (``vip``, on 127.0.1.x) and a port, backed by a pod."""

    name: str
    port: int
    vip: str
    pod: str
    protocol: Protocol = Protocol.HTTP
    routes: tuple[VirtualRoute, ...] = ()
    # Subsets (DestinationRule) that have no endpoints at all.
    empty_subsets: tuple[str, ...] = ()
    namespace: str = "default"

    @property
    def host(self) -> str:
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def outbound_cluster(self, subset: str = "") -> str:
        return f"outbound|{self.port}|{subset}|{self.host}"

    def sni(self, subset: str = "") -> str:
        """The SNI an Istio client sidecar sends to this service (pilot's BuildDNSSrvSubsetKey)."""
        return f"outbound_.{self.port}_.{subset}_.{self.host}"

    @property
    def inbound_cluster(self) -> str:
        return f"inbound|{self.port}||"


# The prefixes (and exact paths) of Istio's bookinfo-gateway VirtualService.
GATEWAY_PREFIXES = ("/static", "/api/v1/products")
GATEWAY_EXACT_PATHS = ("/productpage", "/login", "/logout")


class Outcome(enum.Enum):
    """How a call ends, which decides what each Envoy on its path logs."""

    OK = "ok"  # the server application answered
    NO_ROUTE = "no_route"  # NR: the client-side Envoy has no route for the path
    NO_HEALTHY_UPSTREAM = "no_healthy_upstream"  # UH: the routed cluster has no endpoints
    CONNECT_FAILURE = "connect_failure"  # UF (URX with retries): the pod is dead
    TIMEOUT = "timeout"  # UT on the client side, the server side sees the caller leave (DC)


@dataclass(frozen=True)
class Call:
    """One request or connection, what the called application does, and how it ends.

    ``client`` is a pod's service name or ``"external"``; ``answer`` is what the server
    application answers (None if the call never reaches it); ``calls`` are what the server
    application itself calls, in order, before it answers. ``headers``: more request headers
    the client sends (an ``x-forwarded-for`` of its own, a tenant header).
    """

    client: str
    service: str
    protocol: Protocol = Protocol.HTTP
    method: str = "GET"
    path: str = ""
    body: bytes = b""
    answer: AppResponse | None = field(default_factory=lambda: AppResponse(200, b"ok"))
    calls: tuple[Call, ...] = ()
    outcome: Outcome = Outcome.OK
    subset: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def grpc_status(self) -> int | None:
        if self.protocol is not Protocol.GRPC or self.answer is None:
            return None
        return self.answer.status

    @property
    def client_status(self) -> int | None:
        """The HTTP status the caller gets (None for TCP)."""
        if self.protocol is Protocol.TCP:
            return None
        if self.outcome is Outcome.OK:
            assert self.answer is not None
            return 200 if self.protocol is Protocol.GRPC else self.answer.status
        return _LOCAL_REPLY_STATUS[self.outcome]


_LOCAL_REPLY_STATUS = {
    Outcome.NO_ROUTE: 404,
    Outcome.NO_HEALTHY_UPSTREAM: 503,
    Outcome.CONNECT_FAILURE: 503,
    Outcome.TIMEOUT: 504,
}


@dataclass(frozen=True)
class Mesh:
    """One recording's mesh: pods, services, the traffic, and how the hops are secured.

    ``mtls``: sidecar -> sidecar and gateway -> sidecar hops use Istio's mutual TLS and the
    gateway's listener is HTTPS. ``permissive``: services whose inbound listener also accepts
    plaintext (Istio's PERMISSIVE mode); the others accept mutual TLS only (STRICT).
    ``reconnect_after``: the phases (indices into ``phases``) after which the ALS collector ends
    every open gRPC stream, as a restarting collector would; Envoy then opens new ones.
    ``authorization``: a YAML file of Istio AuthorizationPolicies that the sidecars' inbound
    listeners evaluate in shadow mode (Envoy RBAC filters), logging their decisions.
    ``trusted_xff``: pods whose inbound listeners trust one ``X-Forwarded-For`` hop, so that the
    client address (Envoy's remote address, Istio's ``remote.ip``) can differ from the
    connection's peer. ``logged_headers``: more request headers the access loggers log.
    """

    name: str
    pods: Mapping[str, Pod]
    services: Mapping[str, Service]
    phases: tuple[tuple[Call, ...], ...]
    mtls: bool = False
    permissive: frozenset[str] = frozenset()
    reconnect_after: tuple[int, ...] = ()
    authorization: Path | None = None
    trusted_xff: frozenset[str] = frozenset()
    logged_headers: tuple[str, ...] = ()

    def client_ip(self, call: Call) -> str:
        return EXTERNAL_CLIENT_IP if call.client == EXTERNAL else self.pods[call.client].ip

    def authority(self, call: Call) -> str:
        if call.client == EXTERNAL:
            return GATEWAY_HOST
        return f"{call.service}:{self.services[call.service].port}"

    def target(self, call: Call) -> Pod:
        """The pod behind the called service."""
        return self.pods[self.services[call.service].pod]

    def is_meshed(self, client: str) -> bool:
        """Whether *client*'s calls leave through an Envoy (the gateway's, for outside callers)."""
        return client == EXTERNAL or self.pods[client].has_envoy

    def tls_between(self, client: str, target: Pod) -> bool:
        """Whether a hop from *client*'s Envoy to *target* is mutual TLS (Istio's auto mTLS:
        only when the destination has a sidecar to terminate it)."""
        return self.mtls and self.is_meshed(client) and target.has_envoy

    def all_calls(self, *, through_phase: int | None = None) -> Iterator[Call]:
        """Every call (up to and including *through_phase*), parents before their children,
        in traffic order."""

        def walk(call: Call) -> Iterator[Call]:
            yield call
            for child in call.calls:
                yield from walk(child)

        last = len(self.phases) - 1 if through_phase is None else through_phase
        for phase in self.phases[: last + 1]:
            for call in phase:
                yield from walk(call)

    def segment_of(self, phase: int) -> int:
        """How many times the collector has ended the streams before *phase* starts."""
        return sum(1 for after in self.reconnect_after if after < phase)

    def sidecar_outbound_services(self, pod: str) -> list[Service]:
        """The services whose ClusterIP *pod*'s sidecar listens on: those its application calls."""
        names = {call.service for call in self.all_calls() if call.client == pod}
        return [service for name, service in self.services.items() if name in names]


def _product_page(product: int, *, status: int = 200) -> Call:
    rating_status = 0 if status == 200 else 5  # gRPC OK / NOT_FOUND
    rating = Call(
        "reviews",
        "ratings",
        Protocol.GRPC,
        method="POST",
        path="/bookinfo.ratings.v1.Ratings/GetRating",
        body=bytes([0x08, product]),  # field 1 (product_id), varint
        answer=AppResponse(rating_status, b"\x08\x05" if rating_status == 0 else b"no ratings"),
    )
    reviews = Call(
        "productpage",
        "reviews",
        path=f"/reviews/{product}",
        answer=AppResponse(status, b"reviews"),
        calls=(rating,),
    )
    if status != 200:
        return Call(
            EXTERNAL,
            "productpage",
            path=f"/api/v1/products/{product}/reviews",
            answer=AppResponse(status, b"reviews unavailable"),
            calls=(reviews,),
        )
    details = Call("productpage", "details", path=f"/details/{product}")
    return Call(EXTERNAL, "productpage", path="/productpage", calls=(details, reviews))


def _tcp(service: str, size: int, outcome: Outcome = Outcome.OK) -> Call:
    # A recognisable, deterministic payload of exactly *size* bytes.
    payload = (b"meshals-tcp-" * (size // 12 + 1))[:size]
    return Call("productpage", service, Protocol.TCP, method="", body=payload, outcome=outcome)


# Between phases the recorder waits PHASE_GAP_S, longer than the ALS flush interval, so that
# each phase starts a new message.
PHASE_GAP_S = 0.5


def basic_phases() -> tuple[tuple[Call, ...], ...]:
    """The basic recording's traffic, in order; calls within a phase go back to back."""
    return (
        (_product_page(0), _product_page(0), _product_page(0)),
        (
            Call(EXTERNAL, "productpage", path="/static/missing.css", answer=AppResponse(404)),
            _product_page(1, status=500),
            Call(EXTERNAL, "productpage", path="/admin", answer=None, outcome=Outcome.NO_ROUTE),
        ),
        (
            Call("productpage", "details", path="/details/missing", answer=AppResponse(404)),
            Call(
                "productpage",
                "reviews",
                path="/reviews/v3/0",
                answer=None,
                outcome=Outcome.NO_HEALTHY_UPSTREAM,
                subset="v3",
            ),
            Call(
                "productpage",
                "recommendations",
                path="/recommendations/0",
                answer=None,
                outcome=Outcome.CONNECT_FAILURE,
            ),
            Call(
                "productpage",
                "reviews",
                path="/reviews/slow",
                answer=AppResponse(200, b"too late", delay=1.0),
                outcome=Outcome.TIMEOUT,
            ),
        ),
        (_tcp("mongodb", 64),),
        (_tcp("mongodb", 1500),),
        (_tcp("mysqldb", 0, Outcome.CONNECT_FAILURE),),
    )


def basic_services() -> dict[str, Service]:
    """bookinfo's services (and a TCP database, a dead HTTP one and a dead TCP one)."""
    return {
        service.name: service
        for service in (
            Service("productpage", 9080, "127.0.1.2", "productpage"),
            Service(
                "reviews",
                9080,
                "127.0.1.3",
                "reviews",
                routes=(
                    VirtualRoute("/reviews/v3/", subset="v3"),
                    VirtualRoute("/reviews/slow", timeout_ms=250),
                ),
                empty_subsets=("v3",),
            ),
            Service("details", 9080, "127.0.1.4", "details"),
            Service("ratings", 9080, "127.0.1.5", "ratings", protocol=Protocol.GRPC),
            Service("recommendations", 9080, "127.0.1.6", "recommendations"),
            Service("mongodb", 27017, "127.0.1.7", "mongodb", protocol=Protocol.TCP),
            Service("mysqldb", 3306, "127.0.1.8", "mysqldb", protocol=Protocol.TCP),
        )
    }


BASIC = Mesh(
    name="basic",
    pods={
        pod.service: pod
        for pod in (
            Pod(GATEWAY, "istio-ingressgateway-abc", "127.0.0.1", namespace="istio-system"),
            Pod("productpage", "productpage-v1-xyz", "127.0.0.2"),
            Pod("reviews", "reviews-v1-rvw", "127.0.0.3"),
            Pod("details", "details-v1-dtl", "127.0.0.4"),
            # A gRPC service without a sidecar: only its callers' Envoys see its traffic.
            Pod("ratings", "ratings-v1-rtg", "127.0.0.5", has_envoy=False),
            Pod(
                "recommendations",
                "recommendations-v1-rcm",
                "127.0.0.6",
                has_envoy=False,
                alive=False,
            ),
            Pod("mongodb", "mongodb-v1-mdb", "127.0.0.7"),
            Pod("mysqldb", "mysqldb-v1-sql", "127.0.0.8", has_envoy=False, alive=False),
        )
    },
    services=basic_services(),
    phases=basic_phases(),
)
