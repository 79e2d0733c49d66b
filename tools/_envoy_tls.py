"""Istio-style TLS for the recorder's Envoys: transport sockets, filter chains, the inspector.

Dev tooling for ``record_fixtures.py``; not part of meshals. Shapes follow what istiod sends
(pilot ``networking/core/cluster_tls.go``, ``listener`` filter chains): a client sidecar's
cluster has an ``UpstreamTlsContext`` with its workload certificate, the mesh root, Istio's SNI
and the server's SPIFFE id to verify; a server sidecar's inbound listener has a
``tls_inspector`` and a filter chain for ``transport_protocol: tls`` whose
``DownstreamTlsContext`` requires and validates a client certificate, plus, in PERMISSIVE mode,
a second chain for ``raw_buffer`` (plaintext) callers.
"""

from __future__ import annotations

import copy

from _bookinfo import TRUST_DOMAIN
from _envoy_configs import JsonDict, JsonValue
from _pki import KeyPair

__all__ = ["client_tls", "gateway_https", "inbound_chains", "with_upstream_tls"]

_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
_TLS_INSPECTOR: JsonDict = {
    "name": "envoy.filters.listener.tls_inspector",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3."
        "TlsInspector"
    },
}
# Istio's defaults: at least TLS 1.2, at most TLS 1.3 (Envoy's own client default stops at 1.2).
_TLS_PARAMS: JsonDict = {
    "tls_minimum_protocol_version": "TLSv1_2",
    "tls_maximum_protocol_version": "TLSv1_3",
}


def _file(path: object) -> JsonDict:
    return {"filename": str(path)}


def _common(pair: KeyPair, trusted_ca: object | None, san_matcher: JsonDict | None) -> JsonDict:
    common: JsonDict = {
        "tls_params": dict(_TLS_PARAMS),
        "tls_certificates": [
            {"certificate_chain": _file(pair.certificate), "private_key": _file(pair.key)}
        ],
    }
    if trusted_ca is not None:
        validation: JsonDict = {"trusted_ca": _file(trusted_ca)}
        if san_matcher is not None:
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "URI", "matcher": san_matcher}
            ]
        common["validation_context"] = validation
    return common


def _socket(kind: str, context: JsonDict) -> JsonDict:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {"@type": _TLS + kind, **context},
    }


def client_tls(pair: KeyPair, root: object, *, sni: str, server_id: str) -> JsonDict:
    """The transport socket of a client sidecar's cluster: mutual TLS to *server_id*."""
    context: JsonDict = {
        "sni": sni,
        "common_tls_context": _common(pair, root, {"exact": server_id}),
    }
    return _socket("UpstreamTlsContext", context)


def with_upstream_tls(cluster: JsonDict, transport_socket: JsonDict) -> JsonDict:
    return {**cluster, "transport_socket": transport_socket}


def _server_tls(pair: KeyPair, root: object | None) -> JsonDict:
    context: JsonDict = {
        # Any workload of the trust domain may call; authorization policies would narrow it.
        "common_tls_context": _common(pair, root, {"prefix": f"spiffe://{TRUST_DOMAIN}/"})
        if root is not None
        else _common(pair, None, None),
    }
    if root is not None:
        context["require_client_certificate"] = True
    return _socket("DownstreamTlsContext", context)


def _with_chains(listener: JsonDict, chains: list[JsonValue]) -> JsonDict:
    inspector = copy.deepcopy(_TLS_INSPECTOR)
    return {**listener, "listener_filters": [inspector], "filter_chains": chains}


def _only_chain(listener: JsonDict) -> JsonDict:
    chains = listener["filter_chains"]
    assert isinstance(chains, list)
    assert len(chains) == 1
    assert isinstance(chains[0], dict)
    return chains[0]


def inbound_chains(
    listener: JsonDict, pair: KeyPair, root: object, *, permissive: bool
) -> JsonDict:
    """*listener* (one plaintext chain) as an Istio inbound listener: mutual TLS, and in
    PERMISSIVE mode plaintext too, told apart by the tls_inspector."""
    chain = _only_chain(listener)
    chains: list[JsonValue] = [
        {
            **copy.deepcopy(chain),
            "name": "inbound-mtls",
            "filter_chain_match": {"transport_protocol": "tls"},
            "transport_socket": _server_tls(pair, root),
        }
    ]
    if permissive:
        chains.append(
            {
                **copy.deepcopy(chain),
                "name": "inbound-plaintext",
                "filter_chain_match": {"transport_protocol": "raw_buffer"},
            }
        )
    return _with_chains(listener, chains)


def gateway_https(listener: JsonDict, pair: KeyPair, host: str) -> JsonDict:
    """*listener* as the gateway's HTTPS listener for *host*: server-side TLS only (SIMPLE)."""
    chain = _only_chain(listener)
    https: JsonDict = {
        **copy.deepcopy(chain),
        "name": host,
        "filter_chain_match": {"server_names": [host]},
        "transport_socket": _server_tls(pair, None),
    }
    return _with_chains(listener, [https])
