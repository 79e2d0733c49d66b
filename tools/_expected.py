"""What each Envoy should log for each call of a :class:`~_bookinfo.Mesh`, TLS facts included.

Dev tooling for ``record_fixtures.py``; not part of meshals. ALS describes the downstream
connection only (``common_properties.tls_properties``), so the TLS facts are those of the
connection that reached the logging Envoy: a server sidecar's inbound connection from a meshed
caller (mutual TLS: both certificates, Istio's SNI), or the gateway's HTTPS listener (its own
certificate only); an application's plaintext connection to its own sidecar has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from _bookinfo import (
    APP_PORT_OFFSET,
    EXTERNAL,
    GATEWAY,
    GATEWAY_HOST,
    GATEWAY_PORT,
    Call,
    Mesh,
    Outcome,
    Pod,
    Protocol,
)

__all__ = ["ExpectedLog", "ExpectedTls", "expected_logs"]

# Both ends allow TLS 1.3 (Istio sets it as the maximum on its contexts), so it is negotiated.
TLS_VERSION = "TLSv1_3"


@dataclass(frozen=True)
class ExpectedTls:
    """The downstream TLS connection of one entry: SNI and what ALS logs of the certificates.

    Envoy's gRPC access loggers log a certificate's subject and URI SANs (no DNS SANs); Istio's
    workload certificates have an empty subject, so their URI SAN is all there is.
    """

    sni: str
    local_uri_sans: tuple[str, ...] = ()
    local_subject: str = ""
    peer_uri_sans: tuple[str, ...] = ()
    version: str = TLS_VERSION


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
    tls: ExpectedTls | None = None  # None: the downstream connection is plaintext


_CLIENT_SIDE_FLAGS = {
    Outcome.OK: (),
    Outcome.NO_ROUTE: ("NR",),
    Outcome.NO_HEALTHY_UPSTREAM: ("UH",),
    # Istio's retry policy retries connect failures twice, then gives up (URX).
    Outcome.CONNECT_FAILURE: ("UF", "URX"),
    Outcome.TIMEOUT: ("UT",),
}
# tcp_proxy makes one connection attempt by default, and flags running out of attempts too.
_TCP_FLAGS = {Outcome.OK: (), Outcome.CONNECT_FAILURE: ("UF", "URX")}


def expected_logs(mesh: Mesh, call: Call) -> list[ExpectedLog]:
    """The entries *call* itself produces, in the order one Envoy would log them.

    The server side logs before the client side: a caller's Envoy logs when the response
    has reached the caller, after the called Envoy has logged. They are different Envoys, so
    only the order of entries within each Envoy matters. A caller without Envoy logs nothing.
    """
    logs: list[ExpectedLog] = []
    server_log = _server_side_log(mesh, call)
    if server_log is not None:
        logs.append(server_log)
    if mesh.is_meshed(call.client):
        logs.append(_client_side_log(mesh, call))
    return logs


def _kind(call: Call) -> str:
    return "tcp" if call.protocol is Protocol.TCP else "http"


def _tcp_bytes(call: Call) -> tuple[int | None, int | None]:
    if call.protocol is not Protocol.TCP:
        return None, None
    echoed = len(call.body) if call.outcome is Outcome.OK else 0
    return echoed, echoed


def _client_side_log(mesh: Mesh, call: Call) -> ExpectedLog:
    service = mesh.services[call.service]
    target = mesh.target(call)
    tls = None
    if call.client == EXTERNAL:
        envoy, direction = GATEWAY, "gateway"
        local_address = f"{mesh.pods[GATEWAY].ip}:{GATEWAY_PORT}"
        if mesh.mtls:
            # The gateway's HTTPS listener: its certificate for the host, no client certificate.
            tls = ExpectedTls(sni=GATEWAY_HOST, local_subject=f"CN={GATEWAY_HOST}")
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
        downstream_remote_ip=mesh.client_ip(call),
        downstream_local_address=local_address,
        upstream_remote_address=f"{target.ip}:{service.port}" if reaches_upstream else None,
        bytes_received=received,
        bytes_sent=sent,
        # Only a meshed workload that answers tells the caller who it is.
        upstream_peer=target.service if call.outcome is Outcome.OK and target.has_envoy else None,
        tls=tls,
    )


def _client_address(mesh: Mesh, call: Call, target: Pod) -> str:
    """The client address the called Envoy logs: its peer's, unless it trusts one
    ``X-Forwarded-For`` hop and the caller (not meshed: a meshed caller's Envoy appends its
    own application's address) sent one: then its right-most address."""
    caller = GATEWAY if call.client == EXTERNAL else call.client
    forwarded = dict(call.headers).get("x-forwarded-for")
    if target.service in mesh.trusted_xff and forwarded and not mesh.is_meshed(call.client):
        return forwarded.rsplit(",", 1)[-1].strip()
    return mesh.pods[caller].ip


def _server_side_log(mesh: Mesh, call: Call) -> ExpectedLog | None:
    service = mesh.services[call.service]
    target = mesh.target(call)
    if not target.has_envoy or call.outcome not in (Outcome.OK, Outcome.TIMEOUT):
        return None
    received, sent = _tcp_bytes(call)
    timed_out = call.outcome is Outcome.TIMEOUT
    # The caller's Envoy (the gateway's for outside callers) connects from its own pod IP
    # (upstream_bind_config); a caller without Envoy connects from its own IP too.
    caller = GATEWAY if call.client == EXTERNAL else call.client
    meshed = mesh.is_meshed(call.client)
    tls = None
    if mesh.tls_between(call.client, target):
        tls = ExpectedTls(
            sni=service.sni(call.subset),
            local_uri_sans=(target.spiffe_id,),
            peer_uri_sans=(mesh.pods[caller].spiffe_id,),
        )
    return ExpectedLog(
        envoy=target.service,
        kind=_kind(call),
        direction="inbound",
        upstream_cluster=service.inbound_cluster,
        # The caller's Envoy gave up and closed the connection before the app answered:
        # there is no response, so no response code at all.
        response_code=None if timed_out else call.client_status,
        response_flags=("DC",) if timed_out else (),
        downstream_remote_ip=_client_address(mesh, call, target),
        downstream_local_address=f"{target.ip}:{service.port}",
        upstream_remote_address=f"{target.ip}:{service.port + APP_PORT_OFFSET}",
        bytes_received=received,
        bytes_sent=sent,
        # A caller's Envoy sends its metadata; a caller without Envoy sends none.
        downstream_peer=caller if meshed else None,
        tls=tls,
    )
