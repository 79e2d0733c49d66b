"""The README of the RBAC recording (``tests/fixtures/envoy/rbac``), and its decision table.

Dev tooling for ``record_fixtures.py``; not part of meshals. What the mutual-TLS recording's
README says about certificates, TLS, logging, peers and file formats holds here too; this one
says how the policies reach Envoy and what Envoy decided for each inbound entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from _bookinfo import EXTERNAL, GATEWAY, Call
from _rbac_mesh import Decision, EngineResult
from _recording import Plan

__all__ = ["RBAC_README_TEMPLATE", "decision_rows"]


def _engine(engine: EngineResult | None) -> str:
    if engine is None:
        return "-"
    return f"{engine.result} (`{engine.policy}`)" if engine.policy else engine.result


def decision_rows(plan: Plan, decisions: Mapping[Call, Decision]) -> str:
    """One row per inbound entry: who called what, and each filter's decision."""
    rows = []
    for name, entries in plan.streams.items():
        for index, planned in enumerate(entries):
            if planned.log.direction != "inbound":
                continue
            call, decision = planned.call, decisions[planned.call]
            caller = GATEWAY if call.client == EXTERNAL else call.client
            port = planned.log.downstream_local_address.rsplit(":", 1)[1]
            denied = (decision.deny and decision.deny.result == "denied") or (
                decision.allow and decision.allow.result == "denied"
            )
            request = f"`{call.method} {call.path}`" if call.path else "TCP"
            request += "".join(f" `{name}: {value}`" for name, value in call.headers)
            rows.append(
                f"| `{name}`[{index}] | {caller} | {request} | {port} | "
                f"{_engine(decision.deny)} | {_engine(decision.allow)} | "
                f"{'**denied**' if denied else 'allowed'} |"
            )
    return "\n".join(rows)


RBAC_README_TEMPLATE = """\
# Real Envoy ALS recordings with Istio authorization in shadow mode

Written by `tools/record_fixtures.py --scenario rbac` (or
`nox -s record_fixtures -- --scenario rbac`). Do not edit by hand: re-record instead.
Timestamps, ports, ids, TLS session ids and the certificates change on every run; everything
`ground_truth.json` states does not. Envoy {version} (build `{build}`). The mesh is the
mutual-TLS recording's (`../mtls/README.md`: certificates, mutual TLS between Envoys, the
HTTPS gateway, legacy outside the mesh; logging, peers, the file formats and the one edit, with
`node.extensions` cut to {extensions}), with `buffer_size_bytes: {buffer}` and
`buffer_flush_interval: {interval}ms`, plus a second service on details' pod, `details-admin`
on port 9081 (PERMISSIVE like details). The recording took {elapsed} s; the recorder checks
every entry against its plan, TLS facts and RBAC decisions included, and writes nothing unless
all match.

## The policies and the RBAC filters

`tests/fixtures/policies/rbac-shadow.yaml` holds the Istio `AuthorizationPolicy` objects
(`security.istio.io/v1`). The recorder translates them into Envoy RBAC filters as istiod does
(`tools/_istio_rbac.py`, written from istio/istio `pilot/pkg/security/authz`): each rule is
one Envoy policy named `ns[<namespace>]-policy[<name>]-rule[<index>]`; principals are
`authenticated.principal_name` on `spiffe://` plus the value, namespaces a principal regex
`.*/ns/<namespace>/.*`, paths `url_path` (the path without its query), methods the `:method`
header, hosts the `:authority` header (case-insensitive), ports `destination_port`; the `not`
forms are `not_id` / `not_rule`. A path holding `{{*}}` or `{{**}}` is Envoy's URI template
matcher (`uri_template`, `{{*}}` written `*` and `{{**}}` `**`, as Istio 1.22+ does); `ipBlocks`
is `direct_remote_ip` (the connection's peer), `remoteIpBlocks` `remote_ip` (the client
address); the `when` keys `source.ip`, `remote.ip` and `request.headers[...]` join the
principals, `destination.port` the permissions. details' inbound listeners trust one
`X-Forwarded-For` hop (`xff_num_trusted_hops: 1`): a caller without Envoy that sends one has
its right-most address as the client address, which the entry logs as
`downstream_remote_address` (the peer stays in `downstream_direct_remote_address`); and the
sidecars' inbound access loggers log the request header `x-tenant`. Each sidecar's inbound
listener runs, between the peer filter and the router (before `tcp_proxy` on mongodb's TCP
listener), the DENY policies that select its workload in one `envoy.filters.http.rbac`
(`envoy.filters.network.rbac`) filter and then the ALLOW policies in another, both with
`shadow_rules` only, as Istio's `istio.io/dry-run` annotation makes them: nothing is blocked,
every call gets its planned answer. The gateway and the outbound listeners have no RBAC
filter.

Envoy writes each filter's decision into the dynamic metadata of the request (HTTP) or
connection (TCP), under `envoy.filters.http.rbac` (`envoy.filters.network.rbac`), each key
prefixed with the filter's `shadow_rules_stat_prefix` (Istio's): `istio_dry_run_deny_` and
`istio_dry_run_allow_`. `shadow_engine_result` is `allowed` or `denied`;
`shadow_effective_policy_id` names the policy that matched, and is absent when none did (a DENY
filter then says `allowed`, an ALLOW filter `denied`). When several policies match, Envoy names
the first in the order of their ids (its policies are a map sorted by name). The gRPC access
loggers log the metadata in `common_properties.metadata.filter_metadata`; `ground_truth.json`
states it for every entry (`rbac`: the expected `filter_metadata`, `{{}}` on entries without
decisions).

Istio's decision for a request: denied if the DENY filter says `denied`, else the ALLOW
filter's result (allowed when the workload has no ALLOW filter). TCP (mongodb): the HTTP-only
fields of a DENY rule are dropped, widening it, so the namespace-wide `deny-debug` policy
(paths only) denies every connection; an ALLOW rule with HTTP-only fields would be dropped
whole.

| entry | caller | request | port | DENY filter | ALLOW filter | Istio's decision |
|---|---|---|---|---|---|---|
{decisions}

## Files

| stream | node id | messages | entries |
|---|---|---|---|
{streams}

`ground_truth.json` has the keys of `../mtls/ground_truth.json` (`tls` on every entry), plus
`rbac` on every entry. The Kubernetes snapshot of these pods (owners, service accounts, labels,
Services, Endpoints) is `tests/fixtures/k8s/bookinfo-rbac.json`.

## Topology (all on loopback)

{tables}

## Traffic (in this order; {gap} ms pause between phases)

Each service has at most one meshed caller: client sidecars listen on the ClusterIPs, and two
Envoys listening on one address would share its connections.

1. `GET /productpage` from outside through the gateway; productpage calls `GET /details/0` and
   `GET /reviews/0`; reviews calls ratings over gRPC (`GetRating`).
2. Through the gateway: `GET /static/app.css`, `GET /api/v1/products/1`,
   `POST /api/v1/products/1/reviews`, `GET /logout`.
3. productpage -> details: `GET /details/1?format=json`, `DELETE /details/1`,
   `GET /details/health`, `GET /details/debug`.
4. legacy -> details, plaintext: `GET /details/2/health`, `GET /details/2`, `POST /details/2`,
   `POST /details/2/debug`.
5. productpage -> reviews: `GET /reviews/2`, `GET /reviews/internal/cache`,
   `DELETE /reviews/2`.
6. reviews -> ratings over gRPC: `/bookinfo.ratings.v1.Admin/Reset`.
7. reviews -> details-admin (port 9081): `GET /admin/stats`, `POST /admin/reload`,
   `DELETE /admin/cache`, `GET /details/5`; legacy -> details-admin, plaintext:
   `GET /admin/info`, `GET /admin/health`.
8. productpage -> mongodb: a TCP connection, 64 bytes echoed; then (9.) another, 1500 bytes.
10. productpage -> reviews, path templates (`/v2/reviews/{{*}}/ratings`, `/v2/archive/{{**}}`):
    paths with `%20`, `*`, `=`, `[1]`, two segments, a query, `/v2/archive/` and `/v2/archive`.
    Envoy {version} puts `*` and `=` in what a template segment matches, `[` and `]` not.
11. legacy -> details (and details-admin), plaintext, with `X-Forwarded-For` (one address,
    two, none) and `x-tenant`: `ipBlocks`, `remoteIpBlocks`, `when` on `request.headers`,
    `remote.ip`, `source.ip` and `destination.port`; a `*`, a `%2F` and a query in the path.
"""
