"""The bookinfo-like mesh that the recorder runs on loopback, and the traffic it sends.

Dev tooling for ``record_fixtures.py``; not part of meshals. Everything here is data: which
"pods" exist (one loopback IP each), which services they back, which pods have an Envoy,
and the ordered list of calls, each with what every Envoy on its path should log. The Envoy
configurations, the applications' behaviour and the ground truth are all derived from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from _mesh_apps import AppResponse

__all__ = [
    "APP_PORT_OFFSET",
    "EXTERNAL",
    "EXTERNAL_CLIENT_IP",
    "GATEWAY",
    "GATEWAY_EXACT_PATHS",
    "GATEWAY_PORT",
    "GATEWAY_PREFIXES",
    "PHASES",
    "PHASE_GAP_S",
    "PODS",
    "SERVICES",
    "Call",
    "ExpectedLog",
    "Outcome",
    "Pod",
    "Protocol",
    "Service",
    "VirtualRoute",
    "all_calls",
    "expected_logs",
    "sidecar_outbound_services",
]

CLUSTER_DOMAIN = "svc.cluster.local"
# A caller outside the mesh; deliberately absent from the resolver map (like a real client).
EXTERNAL_CLIENT_IP = "127.0.0.9"
EXTERNAL = "external"
GATEWAY = "istio-ingressgateway"
GATEWAY_PORT = 8080
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
    """

    service: str
    instance: str
    ip: str
    namespace: str = "default"
    version: str = "v1"
    has_envoy: bool = True
    alive: bool = True

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
        return self.service if self.service == GATEWAY else f"{self.service}-{self.version}"


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

    @property
    def inbound_cluster(self) -> str:
        return f"inbound|{self.port}||"


PODS: dict[str, Pod] = {
    pod.service: pod
    for pod in (
        Pod(GATEWAY, "istio-ingressgateway-abc", "127.0.0.1", namespace="istio-system"),
        Pod("productpage", "productpage-v1-xyz", "127.0.0.2"),
        Pod("reviews", "reviews-v1-rvw", "127.0.0.3"),
        Pod("details", "details-v1-dtl", "127.0.0.4"),
        # A gRPC service without a sidecar: only its callers' Envoys see its traffic.
        Pod("ratings", "ratings-v1-rtg", "127.0.0.5", has_envoy=False),
        Pod("recommendations", "recommendations-v1-rcm", "127.0.0.6", has_envoy=False, alive=False),
        Pod("mongodb", "mongodb-v1-mdb", "127.0.0.7"),
        Pod("mysqldb", "mysqldb-v1-sql", "127.0.0.8", has_envoy=False, alive=False),
    )
}

SERVICES: dict[str, Service] = {
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
    application itself calls, in order, before it answers.
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

    @property
    def client_ip(self) -> str:
        return EXTERNAL_CLIENT_IP if self.client == EXTERNAL else PODS[self.client].ip

    @property
    def authority(self) -> str:
        if self.client == EXTERNAL:
            return "bookinfo.example.com"
        return f"{self.service}:{SERVICES[self.service].port}"

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
_CLIENT_SIDE_FLAGS = {
    Outcome.OK: (),
    Outcome.NO_ROUTE: ("NR",),
    Outcome.NO_HEALTHY_UPSTREAM: ("UH",),
    # Istio's retry policy retries connect failures twice, then gives up (URX).
    Outcome.CONNECT_FAILURE: ("UF", "URX"),
    Outcome.TIMEOUT: ("UT",),
}


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


# The traffic, in order. Calls within a phase go back to back; between phases the recorder
# waits PHASE_GAP_S, longer than the ALS flush interval, so that each phase starts a new message.
PHASE_GAP_S = 0.5
PHASES: tuple[tuple[Call, ...], ...] = (
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


def all_calls() -> Iterator[Call]:
    """Every call, parents before their children, in traffic order."""

    def walk(call: Call) -> Iterator[Call]:
        yield call
        for child in call.calls:
            yield from walk(child)

    for phase in PHASES:
        for call in phase:
            yield from walk(call)


def sidecar_outbound_services(pod: str) -> list[Service]:
    """The services whose ClusterIP *pod*'s sidecar listens on: those its application calls."""
    names = {call.service for call in all_calls() if call.client == pod}
    return [service for name, service in SERVICES.items() if name in names]


# --- what each Envoy should log -------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedLog:
    """One access-log entry that one Envoy should send for one call."""

    envoy: str
    kind: str  # "http" or "tcp": which ALS stream of that Envoy carries it
    direction: str  # "inbound", "outbound" (sidecars) or "gateway"
    upstream_cluster: str
    response_code: int | None  # HTTP only; None: no response (also for TCP)
    response_flags: tuple[str, ...]
    downstream_remote_ip: str
    downstream_local_address: str
    upstream_remote_address: str | None
    bytes_received: int | None = None  # TCP only
    bytes_sent: int | None = None
    # The pods (by service name) the Envoy learnt as peers, Istio style (see _mesh_envoys).
    downstream_peer: str | None = None
    upstream_peer: str | None = None


def expected_logs(call: Call) -> list[ExpectedLog]:
    """The entries *call* itself produces, in the order one Envoy would log them.

    The server side logs before the client side: a caller's Envoy logs when the response
    has reached the caller, after the called Envoy has logged. They are different Envoys, so
    only the order of entries within each Envoy matters.
    """
    logs: list[ExpectedLog] = []
    server_log = _server_side_log(call)
    if server_log is not None:
        logs.append(server_log)
    logs.append(_client_side_log(call))
    return logs


def _kind(call: Call) -> str:
    return "tcp" if call.protocol is Protocol.TCP else "http"


def _tcp_bytes(call: Call) -> tuple[int | None, int | None]:
    if call.protocol is not Protocol.TCP:
        return None, None
    echoed = len(call.body) if call.outcome is Outcome.OK else 0
    return echoed, echoed


def _client_side_log(call: Call) -> ExpectedLog:
    service = SERVICES[call.service]
    target = PODS[service.pod]
    if call.client == EXTERNAL:
        envoy, direction = GATEWAY, "gateway"
        local_address = f"{PODS[GATEWAY].ip}:{GATEWAY_PORT}"
    else:
        envoy, direction = call.client, "outbound"
        local_address = f"{service.vip}:{service.port}"
    reaches_upstream = call.outcome in (Outcome.OK, Outcome.TIMEOUT, Outcome.CONNECT_FAILURE)
    received, sent = _tcp_bytes(call)
    return ExpectedLog(
        envoy=envoy,
        kind=_kind(call),
        direction=direction,
        # Envoy 1.40 names no upstream cluster when it found no route, nor when the routed
        # cluster had no host to offer (UH).
        upstream_cluster=""
        if call.outcome in (Outcome.NO_ROUTE, Outcome.NO_HEALTHY_UPSTREAM)
        else service.outbound_cluster(call.subset),
        response_code=call.client_status,
        response_flags=_CLIENT_SIDE_FLAGS[call.outcome]
        if call.protocol is not Protocol.TCP
        else _TCP_FLAGS[call.outcome],
        downstream_remote_ip=call.client_ip,
        downstream_local_address=local_address,
        upstream_remote_address=f"{target.ip}:{service.port}" if reaches_upstream else None,
        bytes_received=received,
        bytes_sent=sent,
        # Only a meshed workload that answers tells the caller who it is.
        upstream_peer=target.service if call.outcome is Outcome.OK and target.has_envoy else None,
    )


# tcp_proxy makes one connection attempt by default, and flags running out of attempts too.
_TCP_FLAGS = {Outcome.OK: (), Outcome.CONNECT_FAILURE: ("UF", "URX")}


def _server_side_log(call: Call) -> ExpectedLog | None:
    service = SERVICES[call.service]
    target = PODS[service.pod]
    if not target.has_envoy or call.outcome not in (Outcome.OK, Outcome.TIMEOUT):
        return None
    received, sent = _tcp_bytes(call)
    timed_out = call.outcome is Outcome.TIMEOUT
    return ExpectedLog(
        envoy=target.service,
        kind=_kind(call),
        direction="inbound",
        upstream_cluster=service.inbound_cluster,
        # The caller's Envoy gave up and closed the connection before the app answered:
        # there is no response, so no response code at all.
        response_code=None if timed_out else call.client_status,
        response_flags=("DC",) if timed_out else (),
        # The caller's Envoy connects from its own pod IP (upstream_bind_config).
        downstream_remote_ip=PODS[GATEWAY if call.client == EXTERNAL else call.client].ip,
        downstream_local_address=f"{target.ip}:{service.port}",
        upstream_remote_address=f"{target.ip}:{service.port + APP_PORT_OFFSET}",
        bytes_received=received,
        bytes_sent=sent,
        # Every caller of an inbound listener is an Envoy, which sends its metadata.
        downstream_peer=GATEWAY if call.client == EXTERNAL else call.client,
    )
