"""The README of the mutual-TLS recording (``tests/fixtures/envoy/mtls``), and its TLS table.

Dev tooling for ``record_fixtures.py``; not part of meshals. What the basic recording's README
says about logging, peers and file formats holds here too; this one says what differs.
"""

from __future__ import annotations

from _bookinfo import EXTERNAL, GATEWAY
from _recording import Plan

__all__ = ["MTLS_README_TEMPLATE", "tls_rows"]


def _sans(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{value}`" for value in values) or "-"


def tls_rows(plan: Plan) -> str:
    """One row per stream, caller and TLS facts: what each hop's downstream connection is."""
    rows: dict[tuple[str, ...], int] = {}
    for name, entries in plan.streams.items():
        for planned in entries:
            log, tls = planned.log, planned.log.tls
            caller = planned.call.client
            if caller == EXTERNAL and log.direction == "inbound":
                caller = GATEWAY  # the outside client's call reaches sidecars from the gateway
            key = (
                f"`{name}`",
                log.direction,
                caller,
                "mutual TLS" if tls and tls.peer_uri_sans else "TLS" if tls else "plaintext",
                f"`{tls.sni}`" if tls else "-",
                (_sans(tls.local_uri_sans) if tls.local_uri_sans else f"`{tls.local_subject}`")
                if tls
                else "-",
                _sans(tls.peer_uri_sans) if tls else "-",
            )
            rows[key] = rows.get(key, 0) + 1
    return "\n".join(f"| {' | '.join(key)} | {count} |" for key, count in rows.items())


MTLS_README_TEMPLATE = """\
# Real Envoy ALS recordings with Istio-style mutual TLS

Written by `tools/record_fixtures.py --scenario mtls` (or
`nox -s record_fixtures -- --scenario mtls`). Do not edit by hand: re-record instead.
Timestamps, ports, ids, TLS session ids and the certificates change on every run; everything
`ground_truth.json` states does not. Envoy {version} (build `{build}`); logging, peers
(`downstream_peer` / `upstream_peer`), the file formats and the one edit (the first message's
`node.extensions` cut to {extensions}) are as in `../README.md`, with
`buffer_size_bytes: {buffer}` and `buffer_flush_interval: {interval}ms`. The recording took
{elapsed} s; the recorder checks every entry against its plan, TLS facts included, and writes
nothing unless all match.

## Certificates

Made at record time by `openssl` in a temporary directory, deleted afterwards (no key is
committed): a mesh root CA (`O=cluster.local`, self-signed, RSA 2048), and for each Envoy a
workload certificate as istiod issues them: empty subject, exactly one critical URI SAN
`spiffe://cluster.local/ns/<namespace>/sa/<service account>` (the service account is the
Envoy's node metadata `SERVICE_ACCOUNT`), key usage digitalSignature and keyEncipherment,
extended key usage serverAuth and clientAuth. The gateway's HTTPS listener serves a separate
certificate, `CN={host}` with DNS SAN `{host}`, from another CA (as an ingress serves its
`credentialName` secret); the outside client trusts that CA and sends SNI `{host}`.

## TLS on each hop

- Sidecar -> sidecar and gateway -> sidecar: mutual TLS. The client Envoy's cluster has an
  `UpstreamTlsContext` with its workload certificate, the root CA, Istio's SNI
  `outbound_.<port>_.<subset>_.<host>` (subset empty unless the cluster has one, e.g.
  `outbound_.9080_.v3_.reviews.default.svc.cluster.local` for the endpoint-less v3 subset) and
  the server's SPIFFE id as the only accepted URI SAN. The server sidecar's inbound listener has
  a `tls_inspector` and a filter chain for `transport_protocol: tls` whose
  `DownstreamTlsContext` requires a client certificate from the root CA with a
  `spiffe://cluster.local/` URI SAN. TLS 1.2 to 1.3 on both ends (Istio's defaults), so 1.3.
- details' inbound listener is PERMISSIVE: a second filter chain for
  `transport_protocol: raw_buffer` takes plaintext callers. The other inbound listeners are
  STRICT (the TLS chain only).
- The gateway's listener (127.0.0.1:{gateway_port}) is HTTPS: server-side TLS only, the
  outside client ({client}) is not authenticated.
- Plaintext, as in Istio: each application to its own sidecar (the outbound listeners on the
  ClusterIPs), sidecar to a destination without sidecar (recommendations, mysqldb, legacy), and
  legacy (no sidecar) to details.

ALS describes the downstream connection only (`common_properties.tls_properties`): the upstream
TLS of a client sidecar is not in its entries, only in the server sidecar's entries of the same
call. Envoy logs a certificate's subject and URI SANs, not its DNS SANs: the gateway's host
certificate shows as its subject. Each entry's facts (`tls` in `ground_truth.json`:
`downstream_tls`, `tls_version`, `sni`, `local_subject`, `local_uri_sans`, `peer_subject`,
`peer_uri_sans`):

| stream | direction | caller | downstream | SNI | local certificate | peer certificate | entries |
|---|---|---|---|---|---|---|---|
{tls}

## Files

| stream | node id | messages | entries |
|---|---|---|---|
{streams}

`ground_truth.json` has the keys of `../ground_truth.json`, plus `tls` on every entry and
`service_account` / `spiffe_id` on every Envoy. The Kubernetes snapshot of these pods (owners,
service accounts, labels, Services, Endpoints) is `tests/fixtures/k8s/bookinfo-mtls.json`.

## Topology (all on loopback)

As in `../README.md` (applications on service port + {app_offset}, Envoys connect upstream from
their pod IP), with Kubernetes-style pod names, ratings meshed, and a pod outside the mesh,
legacy (a StatefulSet's pod, no sidecar) behind the service `legacy`.

{tables}

## Traffic (in this order; {gap} ms pause between phases)

Phases 1-4 as in `../README.md` (`GET /productpage` through the gateway over HTTPS, with
details, reviews and gRPC to ratings behind it; 404, 500 and `NR` through the gateway; 404,
`UH`, `UF,URX` and `UT` from productpage; TCP to mongodb and to the dead mysqldb), now with
mutual TLS on every hop between Envoys, then:

5. legacy's application calls `GET /details/2` on details' pod IP in plaintext (no sidecar, so
   no mTLS and no peer metadata; details' PERMISSIVE listener accepts it); productpage calls
   `GET /legacy/inventory` on legacy, plaintext out of the mesh.
"""
