"""The mutual-TLS mesh: bookinfo with Istio's mTLS between Envoys, and plaintext into the mesh.

Dev tooling for ``record_fixtures.py``; not part of meshals. The basic recording's traffic
over Istio-style mutual TLS (``_bookinfo.Mesh.mtls``): sidecar -> sidecar and gateway ->
sidecar hops with SPIFFE workload certificates and Istio's SNI, the gateway's listener HTTPS.
Differences from ``BASIC``, each for a reason:

- ratings has a sidecar, so that gRPC, like HTTP and TCP, crosses a mutual-TLS hop;
- a workload outside the mesh, ``legacy`` (a StatefulSet's pod, no sidecar), calls details
  in plaintext, which details' inbound listener accepts (PERMISSIVE), and productpage calls it
  in plaintext (a destination without sidecar gets no mTLS);
- pod names are Kubernetes' (``<deployment>-<pod-template-hash>-<suffix>``), the gateway runs
  as Istio's ``istio-ingressgateway-service-account``, and reviews' canonical revision differs
  from its ``version`` label, so that Istio's naming rules have something to tell apart.
"""

from __future__ import annotations

from _bookinfo import (
    GATEWAY,
    Call,
    Mesh,
    Pod,
    Service,
    basic_phases,
    basic_services,
)

__all__ = ["LEGACY", "MTLS"]

LEGACY = "legacy"


def _pods() -> dict[str, Pod]:
    pods = (
        Pod(
            GATEWAY,
            "istio-ingressgateway-7c9f8d6b5-q4wzn",
            "127.0.0.1",
            namespace="istio-system",
            account="istio-ingressgateway-service-account",
            canonical_revision="latest",  # what Istio's gateway chart labels it with
            template_hash="7c9f8d6b5",
        ),
        Pod("productpage", "productpage-v1-6b746f74dc-x7k2p", "127.0.0.2",
            template_hash="6b746f74dc"),
        Pod("reviews", "reviews-v1-5b5d6494f4-m9vtd", "127.0.0.3", template_hash="5b5d6494f4",
            canonical_revision="1.20.2"),
        Pod("details", "details-v1-65599dcf88-7rjwz", "127.0.0.4", template_hash="65599dcf88"),
        Pod("ratings", "ratings-v1-7d8f6c9b5c-pl2qh", "127.0.0.5", template_hash="7d8f6c9b5c"),
        Pod("recommendations", "recommendations-v1-84c9d7f6b-zz8n4", "127.0.0.6",
            has_envoy=False, alive=False, template_hash="84c9d7f6b"),
        Pod("mongodb", "mongodb-v1-5f9d8c7b6-k3j9w", "127.0.0.7", template_hash="5f9d8c7b6"),
        Pod("mysqldb", "mysqldb-v1-6c8b9d7f5-w2x8r", "127.0.0.8", has_envoy=False,
            alive=False, template_hash="6c8b9d7f5"),
        # 127.0.0.9 is the outside client.
        Pod(LEGACY, "legacy-client-0", "127.0.0.10", has_envoy=False, account="legacy-client",
            owner_kind="StatefulSet"),
    )  # fmt: skip
    return {pod.service: pod for pod in pods}


def _services() -> dict[str, Service]:
    services = basic_services()
    services[LEGACY] = Service(LEGACY, 8080, "127.0.1.10", LEGACY)
    return services


MTLS = Mesh(
    name="mtls",
    pods=_pods(),
    services=_services(),
    phases=(
        *basic_phases(),
        (
            # Plaintext into the mesh: details' sidecar accepts it (PERMISSIVE), learns no peer.
            Call(LEGACY, "details", path="/details/2"),
            # Plaintext out of the mesh: legacy has no sidecar to terminate mutual TLS.
            Call("productpage", LEGACY, path="/legacy/inventory"),
        ),
    ),
    mtls=True,
    permissive=frozenset({"details"}),
)
