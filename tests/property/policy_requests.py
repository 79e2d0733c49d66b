"""Captures of chosen inbound requests and connections, for the suggest tests and the policy
round trip: the real recording's first details-v1 inbound entry (mutual TLS, productpage
calling) with the caller's principal, the method, the path and the port changed; and its first
mongodb-v1 inbound TCP entry (mutual TLS, productpage calling) with the principal and port
changed, received at details-v1's address."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
from conftest import ENVOY_FIXTURES

import meshals
from meshals._values import FrozenMap
from meshals.model import (
    AccessLogCommon,
    AlsMessage,
    CertificateProperties,
    HttpEntry,
    RequestMethod,
    SocketAddress,
    SubjectAltName,
    TcpEntry,
)

#: (principal without spiffe://, or None for plaintext; method; path as logged; port)
Request = tuple[str | None, str, str, int]
#: A TCP connection: (principal without spiffe://, or None for plaintext; port)
Connection = tuple[str | None, int]


def _base(name: str) -> AlsMessage:
    with meshals.read(ENVOY_FIXTURES / "mtls" / name) as reader:
        message = next(iter(reader))
    assert isinstance(message, AlsMessage)
    return message


BASE = _base("details-http.bin")
TCP_BASE = _base("mongodb-tcp.bin")


def entry(request: Request) -> HttpEntry:
    """The base entry as a call from *request*'s principal with its method, path and port."""
    principal, method, path, port = request
    base = BASE.entries[0]
    assert isinstance(base, HttpEntry)
    assert base.request is not None
    return attrs.evolve(
        base,
        common_properties=_common(base.common_properties, principal, port),
        request=attrs.evolve(base.request, request_method=RequestMethod[method], path=path),
    )


def connection_entry(connection: Connection) -> TcpEntry:
    """The TCP base entry as a connection from *connection*'s principal to its port, received
    at the HTTP base entry's address (the same sidecar)."""
    principal, port = connection
    base = TCP_BASE.entries[0]
    assert isinstance(base, TcpEntry)
    http = BASE.entries[0].common_properties
    assert http is not None
    assert base.common_properties is not None
    common = attrs.evolve(
        base.common_properties, downstream_local_address=http.downstream_local_address
    )
    return attrs.evolve(base, common_properties=_common(common, principal, port))


def _common(common: AccessLogCommon | None, principal: str | None, port: int) -> AccessLogCommon:
    """*common* as from *principal* (None: plaintext) to *port*."""
    assert common is not None
    assert common.tls_properties is not None
    assert isinstance(common.downstream_local_address, SocketAddress)
    peer = (
        None
        if principal is None
        else CertificateProperties(subject_alt_name=(SubjectAltName(uri=f"spiffe://{principal}"),))
    )
    return attrs.evolve(
        common,
        downstream_local_address=attrs.evolve(common.downstream_local_address, port=port),
        upstream_cluster=f"inbound|{port}||",
        # Plaintext: no TLS at all on the downstream connection, as Envoy logs it.
        tls_properties=None
        if principal is None
        else attrs.evolve(common.tls_properties, peer_certificate_properties=peer),
    )


def capture(
    requests: Iterable[Request | Connection],
    *,
    workload: str = "details-v1",
    labels: Mapping[str, str] | None = None,
) -> list[AlsMessage]:
    """One stream: *workload*'s sidecar (details-v1's, with that name and *labels* in its node
    metadata; ``{}``: none) reporting *requests* (HTTP) and connections (TCP), one message each."""
    base = BASE
    if workload != "details-v1" or labels is not None:
        identifier = base.identifier
        assert identifier is not None
        assert identifier.node is not None
        assert identifier.node.metadata is not None
        metadata = dict(identifier.node.metadata, WORKLOAD_NAME=workload)
        if labels is not None:
            metadata["LABELS"] = FrozenMap(labels)
        node = attrs.evolve(identifier.node, metadata=FrozenMap(metadata))
        base = attrs.evolve(base, identifier=attrs.evolve(identifier, node=node))
    return [
        attrs.evolve(base, entries=(entry(request),), index=index)
        if len(request) == 4
        else attrs.evolve(base, kind="tcp", entries=(connection_entry(request),), index=index)
        for index, request in enumerate(requests)
    ]
