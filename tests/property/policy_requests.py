"""Captures of chosen inbound requests, for the suggest tests and the policy round trip: the
real recording's first details-v1 inbound entry (mutual TLS, productpage calling) with the
caller's principal, the method, the path and the port changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
from conftest import ENVOY_FIXTURES

import meshals
from meshals._values import FrozenMap
from meshals.model import (
    AlsMessage,
    CertificateProperties,
    HttpEntry,
    RequestMethod,
    SocketAddress,
    SubjectAltName,
)

#: (principal without spiffe://, or None for plaintext; method; path as logged; port)
Request = tuple[str | None, str, str, int]


def _base() -> AlsMessage:
    with meshals.read(ENVOY_FIXTURES / "mtls" / "details-http.bin") as reader:
        message = next(iter(reader))
    assert isinstance(message, AlsMessage)
    return message


BASE = _base()


def entry(request: Request) -> HttpEntry:
    """The base entry as a call from *request*'s principal with its method, path and port."""
    principal, method, path, port = request
    base = BASE.entries[0]
    assert isinstance(base, HttpEntry)
    common = base.common_properties
    assert common is not None
    assert common.tls_properties is not None
    assert isinstance(common.downstream_local_address, SocketAddress)
    assert base.request is not None
    peer = (
        None
        if principal is None
        else CertificateProperties(subject_alt_name=(SubjectAltName(uri=f"spiffe://{principal}"),))
    )
    common = attrs.evolve(
        common,
        downstream_local_address=attrs.evolve(common.downstream_local_address, port=port),
        upstream_cluster=f"inbound|{port}||",
        # Plaintext: no TLS at all on the downstream connection, as Envoy logs it.
        tls_properties=None
        if principal is None
        else attrs.evolve(common.tls_properties, peer_certificate_properties=peer),
    )
    return attrs.evolve(
        base,
        common_properties=common,
        request=attrs.evolve(base.request, request_method=RequestMethod[method], path=path),
    )


def capture(
    requests: Iterable[Request],
    *,
    workload: str = "details-v1",
    labels: Mapping[str, str] | None = None,
) -> list[AlsMessage]:
    """One stream: *workload*'s sidecar (details-v1's, with that name and *labels* in its node
    metadata; ``{}``: none) reporting *requests*, one message each."""
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
        for index, request in enumerate(requests)
    ]
