"""What the recording should hold, and every way a recording differs from it.

Dev tooling for ``record_fixtures.py``; not part of meshals. The plan numbers the calls of a
``_bookinfo.Mesh``'s phases and lists, per ALS stream (one per Envoy per log type), the
entries that stream should carry, in order; the check compares recorded streams with it field
by field, the downstream TLS facts included. When the collector ends the streams between
phases (``Mesh.reconnect_after``), each Envoy's log type has one stream per stretch of traffic
it logged, named ``<envoy>-<kind>.<n>`` in the order Envoy opened them (from 1).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from _als_collector import RecordedStream
from _bookinfo import Call, Mesh
from _envoy_configs import ALS_CLUSTER, HTTP_LOG_NAME, PEER_KEYS, TCP_LOG_NAME
from _expected import ExpectedLog, ExpectedTls, expected_logs
from google.protobuf import struct_pb2, wrappers_pb2

__all__ = [
    "ENVOY_COUNTERS",
    "Plan",
    "PlannedEntry",
    "RecordingError",
    "check_envoy_counters",
    "check_recording",
    "entries_of",
    "find_stream",
    "generation_of",
    "is_complete",
    "log_name_of",
    "make_plan",
    "reconnects",
    "split_stream_name",
]

# ResponseFlags field name -> Envoy's short code (%RESPONSE_FLAGS%).
FLAG_CODES = {
    "failed_local_healthcheck": "LH",
    "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT",
    "local_reset": "LR",
    "upstream_remote_reset": "UR",
    "upstream_connection_failure": "UF",
    "upstream_connection_termination": "UC",
    "upstream_overflow": "UO",
    "no_route_found": "NR",
    "delay_injected": "DI",
    "fault_injected": "FI",
    "rate_limited": "RL",
    "unauthorized_details": "UAEX",
    "rate_limit_service_error": "RLSE",
    "downstream_connection_termination": "DC",
    "upstream_retry_limit_exceeded": "URX",
    "stream_idle_timeout": "SI",
    "invalid_envoy_request_headers": "IH",
    "downstream_protocol_error": "DPE",
    "upstream_max_stream_duration_reached": "UMSDR",
    "response_from_cache_filter": "RFCF",
    "no_filter_config_found": "NFCF",
    "duration_timeout": "DT",
    "upstream_protocol_error": "UPE",
    "no_cluster_found": "NC",
    "overload_manager": "OM",
    "dns_resolution_failure": "DF",
    "downstream_remote_reset": "DRR",
}
# The counters of Envoy's gRPC access loggers (all of one Envoy's loggers together): entries
# flushed to the collector, entries dropped, failed flushes; and of its collector cluster:
# connections made, requests (gRPC streams) opened.
_ACCESS_LOG_STATS = "access_logs.grpc_access_log."
_COLLECTOR_STATS = f"cluster.{ALS_CLUSTER}."
ENVOY_COUNTERS = (_ACCESS_LOG_STATS, _COLLECTOR_STATS)


class RecordingError(Exception):
    """The recording could not be made, or does not match what was sent."""


# --- the plan: calls, their numbers, and the entries each stream should hold -----------------


@dataclass(frozen=True)
class PlannedEntry:
    call_number: int
    call: Call
    log: ExpectedLog
    phase: int = 0  # the index of the phase the call belongs to


@dataclass(frozen=True)
class Plan:
    mesh: Mesh
    calls: list[tuple[int, int | None, Call]]  # (number, parent number, call), parents first
    streams: dict[str, list[PlannedEntry]]  # stream name -> entries in logging order
    # Stream name -> the phase after which the collector ends it; None: Envoy's shutdown does.
    ended_after: dict[str, int | None]


def stream_name(envoy: str, kind: str) -> str:
    return f"{envoy}-{kind}"


def make_plan(mesh: Mesh) -> Plan:
    """Number the calls (parents first) and list each stream's entries (children first)."""
    calls: list[tuple[int, int | None, Call]] = []
    # (Envoy's stream name, segment: how often the collector ended streams before) -> entries
    segments: dict[tuple[str, int], list[PlannedEntry]] = {}
    counter = itertools.count(1)

    def visit(call: Call, parent: int | None, phase: int) -> None:
        number = next(counter)
        calls.append((number, parent, call))
        # An application answers only after the calls it makes have completed, so their
        # entries come first in any Envoy that sees both.
        for child in call.calls:
            visit(child, number, phase)
        for log in expected_logs(mesh, call):
            key = (stream_name(log.envoy, log.kind), mesh.segment_of(phase))
            segments.setdefault(key, []).append(PlannedEntry(number, call, log, phase))

    for index, phase in enumerate(mesh.phases):
        for call in phase:
            visit(call, None, index)
    streams: dict[str, list[PlannedEntry]] = {}
    ended_after: dict[str, int | None] = {}
    generations: dict[str, int] = {}
    for (base, segment), entries in sorted(segments.items()):
        # Envoy opens a stream when it has something to send: one per segment it logged in.
        name = base
        if mesh.reconnect_after:
            generations[base] = generations.get(base, 0) + 1
            name = f"{base}.{generations[base]}"
        streams[name] = entries
        ends = mesh.reconnect_after[segment] if segment < len(mesh.reconnect_after) else None
        ended_after[name] = ends
    return Plan(mesh=mesh, calls=calls, streams=streams, ended_after=ended_after)


def reconnects(plan: Plan) -> list[tuple[int, list[str], list[str]]]:
    """Each time the collector ends the streams: after which phase (its index), the streams it
    ends, and the streams Envoy opens next (for the traffic up to the next end)."""
    mesh = plan.mesh
    return [
        (
            after,
            [name for name, ended in plan.ended_after.items() if ended == after],
            [
                name
                for name, entries in plan.streams.items()
                if generation_of(name) > 1 and mesh.segment_of(entries[0].phase) == segment + 1
            ],
        )
        for segment, after in enumerate(mesh.reconnect_after)
    ]


def split_stream_name(name: str) -> tuple[str, str]:
    """``"productpage-http"`` (or ``"productpage-http.2"``) -> ``("productpage", "http")``."""
    envoy, kind = name.partition(".")[0].rsplit("-", 1)
    return envoy, kind


def generation_of(name: str) -> int:
    """Which of its Envoy's streams of that log type *name* is: ``"...-http.2"`` -> 2."""
    _, _, number = name.partition(".")
    return int(number) if number else 1


def log_name_of(kind: str) -> str:
    return HTTP_LOG_NAME if kind == "http" else TCP_LOG_NAME


# --- checking the recording -------------------------------------------------------------------


# xds-protos ships no type stubs: its messages are Any to mypy.
PbMessage = Any


def entries_of(message: PbMessage) -> list[PbMessage]:
    if message.HasField("http_logs"):
        return list(message.http_logs.log_entry)
    if message.HasField("tcp_logs"):
        return list(message.tcp_logs.log_entry)
    return []


def _address(address: PbMessage) -> str | None:
    socket_address = address.socket_address
    if not socket_address.address:
        return None
    return f"{socket_address.address}:{socket_address.port_value}"


def flag_codes(common: PbMessage) -> tuple[str, ...]:
    flags = common.response_flags
    return tuple(sorted(FLAG_CODES[field.name] for field, _ in flags.ListFields()))


def peer_pod(mesh: Mesh, common: PbMessage, key: str) -> str | None:
    """The pod (service name) of the peer logged under *key*: a StringValue mx header."""
    if key not in common.filter_state_objects:
        return None
    value = wrappers_pb2.StringValue()
    if not common.filter_state_objects[key].Unpack(value):
        return f"<not a StringValue: {common.filter_state_objects[key].type_url}>"
    metadata = struct_pb2.Struct.FromString(base64.b64decode(value.value))
    name = metadata.fields["NAME"].string_value
    return next((pod.service for pod in mesh.pods.values() if pod.instance == name), f"<{name}>")


def _sans(certificate: PbMessage, kind: str) -> tuple[str, ...]:
    return tuple(getattr(san, kind) for san in certificate.subject_alt_name if san.HasField(kind))


def observed_tls(common: PbMessage) -> dict[str, object] | None:
    """The downstream TLS facts of a recorded entry (None: plaintext)."""
    if not common.HasField("tls_properties"):
        return None
    tls = common.tls_properties
    local, peer = tls.local_certificate_properties, tls.peer_certificate_properties
    return {
        "version": tls.TLSVersion.Name(tls.tls_version),
        "sni": tls.tls_sni_hostname,
        "local_uri_sans": _sans(local, "uri"),
        "local_other_sans": _sans(local, "dns"),
        "local_subject": local.subject,
        "peer_uri_sans": _sans(peer, "uri"),
        "peer_other_sans": _sans(peer, "dns"),
        "peer_subject": peer.subject,
    }


def predicted_tls(tls: ExpectedTls | None) -> dict[str, object] | None:
    if tls is None:
        return None
    return {
        "version": tls.version,
        "sni": tls.sni,
        "local_uri_sans": tls.local_uri_sans,
        "local_other_sans": (),
        "local_subject": tls.local_subject,
        "peer_uri_sans": tls.peer_uri_sans,
        "peer_other_sans": (),
        # Only workload certificates are presented by clients, and their subject is empty.
        "peer_subject": "",
    }


def observed(mesh: Mesh, entry: PbMessage, kind: str) -> dict[str, object]:
    """The fields of a recorded entry that the ground truth predicts."""
    common = entry.common_properties
    fields: dict[str, object] = {
        "upstream_cluster": common.upstream_cluster,
        "response_flags": flag_codes(common),
        "downstream_remote_ip": common.downstream_remote_address.socket_address.address,
        "downstream_local_address": _address(common.downstream_local_address),
        "upstream_remote_address": _address(common.upstream_remote_address),
    }
    for key in PEER_KEYS:
        fields[key] = peer_pod(mesh, common, key)
    fields["tls"] = observed_tls(common)
    unexpected = sorted(set(common.filter_state_objects) - set(PEER_KEYS))
    fields["other_filter_state"] = unexpected
    if kind == "http":
        fields["path"] = entry.request.path
        response = entry.response
        fields["response_code"] = (
            response.response_code.value if response.HasField("response_code") else None
        )
    else:
        connection = entry.connection_properties
        fields["bytes_received"] = connection.received_bytes
        fields["bytes_sent"] = connection.sent_bytes
    return fields


def predicted(planned: PlannedEntry) -> dict[str, object]:
    log = planned.log
    fields: dict[str, object] = {
        "upstream_cluster": log.upstream_cluster,
        "response_flags": tuple(sorted(log.response_flags)),
        "downstream_remote_ip": log.downstream_remote_ip,
        "downstream_local_address": log.downstream_local_address,
        "upstream_remote_address": log.upstream_remote_address,
        "downstream_peer": log.downstream_peer,
        "upstream_peer": log.upstream_peer,
        "other_filter_state": [],
        "tls": predicted_tls(log.tls),
    }
    if log.kind == "http":
        fields["path"] = planned.call.path
        fields["response_code"] = log.response_code
    else:
        fields["bytes_received"] = log.bytes_received
        fields["bytes_sent"] = log.bytes_sent
    return fields


def find_stream(plan: Plan, streams: Sequence[RecordedStream], name: str) -> RecordedStream:
    """The recorded stream planned as *name*: its Envoy's n-th of that log type, in arrival
    order, when the Envoy opened exactly as many as planned."""
    envoy, kind = split_stream_name(name)
    planned = sum(1 for other in plan.streams if split_stream_name(other) == (envoy, kind))
    matches = sorted(
        (
            stream
            for stream in streams
            if stream.node_id == plan.mesh.pods[envoy].node_id
            and stream.log_name == log_name_of(kind)
        ),
        key=lambda stream: stream.number,
    )
    if len(matches) != planned:
        raise RecordingError(f"{name}: {len(matches)} gRPC streams instead of {planned}")
    return matches[generation_of(name) - 1]


def is_complete(
    plan: Plan, *, through_phase: int | None = None
) -> Callable[[list[RecordedStream]], bool]:
    """Whether every entry planned (up to and including *through_phase*) has arrived."""
    expected: dict[tuple[str, str], int] = {}
    for name, entries in plan.streams.items():
        envoy, kind = split_stream_name(name)
        key = (plan.mesh.pods[envoy].node_id, log_name_of(kind))
        count = sum(1 for p in entries if through_phase is None or p.phase <= through_phase)
        expected[key] = expected.get(key, 0) + count

    def check(streams: list[RecordedStream]) -> bool:
        counts: dict[tuple[str, str], int] = {}
        for stream in streams:
            key = (stream.node_id, stream.log_name)
            counts[key] = counts.get(key, 0) + stream.entry_count()
        return all(counts.get(key, 0) >= count for key, count in expected.items())

    return check


def check_recording(plan: Plan, streams: Sequence[RecordedStream]) -> list[str]:
    """Every difference between the recorded streams and the plan."""
    problems: list[str] = []
    if len(streams) != len(plan.streams):
        problems.append(f"{len(streams)} gRPC streams recorded, {len(plan.streams)} planned")
    for name, planned_entries in plan.streams.items():
        try:
            stream = find_stream(plan, streams, name)
        except RecordingError as exc:
            problems.append(str(exc))
            continue
        if stream.ended_by_collector != (plan.ended_after[name] is not None):
            problems.append(
                f"{name}: {'ended' if stream.ended_by_collector else 'not ended'} by the "
                f"collector, planned: ended after phase {plan.ended_after[name]}"
            )
        messages = stream.messages()
        if not messages[0].HasField("identifier") or any(
            message.HasField("identifier") for message in messages[1:]
        ):
            problems.append(f"{name}: the identifier is not on the first message only")
        _, kind = split_stream_name(name)
        entries = [entry for message in messages for entry in entries_of(message)]
        if len(entries) != len(planned_entries):
            problems.append(f"{name}: {len(entries)} entries, {len(planned_entries)} planned")
        for index, (entry, planned) in enumerate(zip(entries, planned_entries, strict=False)):
            got, want = observed(plan.mesh, entry, kind), predicted(planned)
            for key in want:
                if got[key] != want[key]:
                    problems.append(f"{name}[{index}] {key}: got {got[key]!r}, want {want[key]!r}")
    return problems


def check_envoy_counters(plan: Plan, counters: dict[str, dict[str, int]]) -> list[str]:
    """Every difference between what each Envoy says it sent and the plan.

    *counters*: per Envoy, its ``ENVOY_COUNTERS``. Envoy counts an entry as flushed when it
    writes it to a stream; with the collector's own count (the recording check) this shows
    that nothing was dropped between the two. And every stream it opened, ended ones too, was
    a new request on its one connection to the collector.
    """
    planned: dict[str, tuple[int, int]] = {}  # Envoy -> (entries, streams)
    for name, entries in plan.streams.items():
        envoy, _ = split_stream_name(name)
        count, streams = planned.get(envoy, (0, 0))
        planned[envoy] = (count + len(entries), streams + 1)
    problems = []
    for envoy, (count, streams) in planned.items():
        got = counters.get(envoy, {})
        want = {
            _ACCESS_LOG_STATS + "grpc_entries_flushed": count,
            _ACCESS_LOG_STATS + "logs_dropped": 0,
            _ACCESS_LOG_STATS + "grpc_entries_flush_failed": 0,
            _COLLECTOR_STATS + "upstream_cx_total": 1,
            _COLLECTOR_STATS + "upstream_rq_total": streams,
        }
        for key, value in want.items():
            if got.get(key) != value:
                problems.append(f"Envoy {envoy} counted {key} {got.get(key)}, planned {value}")
    return problems
