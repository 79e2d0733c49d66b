"""The real Envoy recordings: analysed metrics match what ``ground_truth.json`` says was sent.

Every expectation is derived from ``ground_truth.json`` alone (the recorder's plan: which
Envoy logged which call, in which direction, with which addresses, codes, flags and bytes),
never from meshals' output. The rules applied to it are the documented ones: a gateway logs a
server side (caller -> gateway) and, when an upstream host was chosen, a client side
(gateway -> host); a sidecar logs inbound calls as server side and outbound calls as client
side, naming an outbound peer without upstream host by the address the application dialled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshals
from meshals import AlsMessage, HttpEntry
from meshals.mesh._analysis import analyze
from meshals.model import ResponseFlag
from meshals.model._metrics import ServiceMeshMetric
from meshals.resolve._resolvers import StaticResolver

ENVOY_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads(
    (ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8")
)
STREAMS = sorted(GROUND_TRUTH["streams"])
POD_RESOLVER_TABLE: dict[str, dict[str, str]] = GROUND_TRUTH["resolver"]
# Service VIPs too, as a Kubernetes resolver that knows Services would name them.
VIP_RESOLVER_TABLE: dict[str, dict[str, str]] = {
    **POD_RESOLVER_TABLE,
    **{
        ip: {"service": name, "instance": name} for ip, name in GROUND_TRUTH["service_vips"].items()
    },
}
UNKNOWN_NAMES = ("UNKNOWN", "UNKNOWN")
# Flags that mean the TCP connection was never established (the documented TCP rule).
TCP_CONNECT_FAILURES = {
    "LH",
    "UH",
    "UT",
    "UF",
    "UO",
    "NR",
    "RL",
    "UAEX",
    "URX",
    "UPE",
    "NC",
    "OM",
    "DF",
}

# What the tests compare per metric.
Row = tuple[Any, ...]


def _read(stream: str, suffix: str = "bin") -> list[AlsMessage]:
    with meshals.read(ENVOY_FIXTURES / f"{stream}.{suffix}") as reader:
        return list(reader.messages())


def _names(table: Mapping[str, Mapping[str, str]], ip: str) -> tuple[str, str]:
    found = table.get(ip)
    return UNKNOWN_NAMES if found is None else (found["service"], found["instance"])


def _ip(address: str) -> str:
    return address.rpartition(":")[0]


def _expected_status(entry: Mapping[str, Any], detect_point: str) -> bool:
    if entry["protocol"] == "TCP":
        return not TCP_CONNECT_FAILURES.intersection(entry["response_flags"])
    code: int | None = entry["response_code"]
    if code is None or entry.get("grpc_status") not in (None, 0):
        return False
    if 400 <= code < 500:
        return detect_point == "server"
    return 100 <= code < 400


def _expected_rows(stream: str, index: int, entry: Mapping[str, Any]) -> list[Row]:
    """The metrics one ground-truth entry must give, derived from the ground truth only."""
    role = GROUND_TRUTH["envoys"][GROUND_TRUTH["streams"][stream]["envoy"]]["role"]
    caller = _names(POD_RESOLVER_TABLE, entry["downstream_remote_ip"])
    local = _names(POD_RESOLVER_TABLE, _ip(entry["downstream_local_address"]))
    upstream_address = entry["upstream_remote_address"]
    upstream = (
        None if upstream_address is None else _names(POD_RESOLVER_TABLE, _ip(upstream_address))
    )
    if role == "router":
        sides = [("server", caller, local)]
        if upstream is not None:
            sides.append(("client", local, upstream))
    elif entry["direction"] == "inbound":
        sides = [("server", caller, local)]
    else:
        sides = [("client", caller, local if upstream is None else upstream)]
    tcp = entry["protocol"] == "TCP"
    return [
        (
            index,
            detect_point,
            entry["protocol"],
            source,
            destination,
            None if tcp else f"{entry['method']}:{entry['path']}",
            None if tcp else entry["response_code"],
            entry.get("grpc_status"),
            sorted(entry["response_flags"]),
            _expected_status(entry, detect_point),
            entry.get("bytes_received"),
            entry.get("bytes_sent"),
        )
        for detect_point, source, destination in sides
    ]


def _flat_indexes(messages: list[AlsMessage]) -> dict[tuple[int | None, int], int]:
    """(message index, entry index) -> the entry's position in the whole stream."""
    positions = [
        (message.index, entry_index)
        for message in messages
        for entry_index in range(len(message.entries))
    ]
    return {position: flat for flat, position in enumerate(positions)}


def _row(metric: ServiceMeshMetric, flat: dict[tuple[int | None, int], int]) -> Row:
    return (
        flat[metric.origin.message_index, metric.origin.entry_index],
        metric.detect_point.value,
        metric.protocol.value,
        (metric.source.service, metric.source.instance),
        (metric.destination.service, metric.destination.instance),
        metric.endpoint,
        metric.response_code,
        metric.grpc_status,
        sorted(flag.short_code for flag in metric.response_flags),
        metric.status,
        metric.received_bytes,
        metric.sent_bytes,
    )


@pytest.mark.parametrize("suffix", ["bin", "jsonl"])
@pytest.mark.parametrize("stream", STREAMS)
def test_stream_metrics_match_ground_truth(stream: str, suffix: str) -> None:
    truth = GROUND_TRUTH["streams"][stream]
    messages = _read(stream, suffix)
    analysis = analyze(messages, resolver=StaticResolver.from_mapping(POD_RESOLVER_TABLE))
    metrics = analysis.metrics()
    expected = [
        row
        for index, entry in enumerate(truth["entries"])
        for row in _expected_rows(stream, index, entry)
    ]
    flat = _flat_indexes(messages)
    assert [_row(metric, flat) for metric in metrics] == expected
    accounting = analysis.accounting
    assert (accounting.streams, accounting.messages) == (1, truth["messages"])
    assert (accounting.entries_in, accounting.analyzed) == (
        len(truth["entries"]),
        len(truth["entries"]),
    )
    assert (accounting.skipped_total, accounting.metrics_out) == (0, len(expected))
    assert analysis.diagnostics == ()


def test_all_streams_at_once() -> None:
    resolver = StaticResolver.from_mapping(POD_RESOLVER_TABLE)
    together = analyze([_read(stream) for stream in STREAMS], resolver=resolver).metrics()
    one_by_one = [
        metric for stream in STREAMS for metric in analyze(_read(stream), resolver=resolver)
    ]
    assert together == one_by_one
    expected_count = sum(
        len(_expected_rows(stream, index, entry))
        for stream in STREAMS
        for index, entry in enumerate(GROUND_TRUTH["streams"][stream]["entries"])
    )
    assert len(together) == expected_count


def _call_sides(call: Mapping[str, Any], stream: str) -> list[tuple[str, str | None, str]]:
    """(detect point, source service, destination service) the call must show in *stream*."""
    client = call["client"]["service"] or "UNKNOWN"
    server = call["server"]["service"]
    via = call["via"]
    role = GROUND_TRUTH["envoys"][GROUND_TRUTH["streams"][stream]["envoy"]]["role"]
    if role == "router":
        if call["outcome"] == "no_route":
            return [("server", client, via)]
        return [("server", client, via), ("client", via, server)]
    if GROUND_TRUTH["envoys"][GROUND_TRUTH["streams"][stream]["envoy"]]["service"] == server:
        return [("server", via or client, server)]
    return [("client", client, server)]


@pytest.mark.parametrize("call", GROUND_TRUTH["calls"], ids=lambda call: f"call-{call['id']}")
def test_every_call_is_seen_from_each_side(call: Mapping[str, Any]) -> None:
    # With Service VIPs resolvable, even the UH call (no upstream host) names its server.
    resolver = StaticResolver.from_mapping(VIP_RESOLVER_TABLE)
    for logged in call["logged_by"]:
        messages = _read(logged["stream"])
        flat = _flat_indexes(messages)
        metrics = [
            metric
            for metric in analyze(messages, resolver=resolver)
            if flat[metric.origin.message_index, metric.origin.entry_index] == logged["index"]
        ]
        seen = [
            (metric.detect_point.value, metric.source.service, metric.destination.service)
            for metric in metrics
        ]
        assert seen == _call_sides(call, logged["stream"])
        expected_protocol = call["protocol"]
        assert {metric.protocol.value for metric in metrics} == {expected_protocol}
        if call["grpc_status"] is not None:
            assert {metric.grpc_status for metric in metrics} == {call["grpc_status"]}
        if call["tcp_bytes"] is not None:
            assert {metric.received_bytes for metric in metrics} == {call["tcp_bytes"]}


def test_recordings_cover_the_interesting_cases() -> None:
    """The recordings hold what the rules must handle; guards the tests above against thin data."""
    resolver = StaticResolver.from_mapping(POD_RESOLVER_TABLE)
    metrics = [metric for stream in STREAMS for metric in analyze(_read(stream), resolver=resolver)]
    assert {metric.protocol.value for metric in metrics} == {"HTTP", "gRPC", "TCP"}
    assert {metric.grpc_status for metric in metrics} == {None, 0, 5}
    assert None in {metric.response_code for metric in metrics}
    all_flags = set().union(*(metric.response_flags for metric in metrics))
    assert {flag.short_code for flag in all_flags} == {"NR", "UH", "UF", "URX", "UT", "DC"}
    assert ResponseFlag.NO_HEALTHY_UPSTREAM in all_flags
    assert {metric.status for metric in metrics} == {True, False}


# The productpage sidecar's own IP, as its node id names it (sidecar~IP~pod.ns~...).
PRODUCTPAGE_SIDECAR_IP = "127.0.0.2"


def _captured_on_15001(message: AlsMessage) -> AlsMessage:
    """*message* with its failed calls (empty cluster) accepted on Istio's outbound capture port.

    That is how the productpage sidecar logs the application's call it could not route when
    the original destination is not restored: the local address is its own IP, port 15001.
    """
    return attrs.evolve(message, entries=tuple(map(_on_15001, message.http_entries)))


def _on_15001(entry: HttpEntry) -> HttpEntry:
    common = entry.common_properties
    if common is None or common.upstream_cluster:
        return entry
    local = attrs.evolve(  # type: ignore[misc]
        common.downstream_local_address, address=PRODUCTPAGE_SIDECAR_IP, port=15001
    )
    return attrs.evolve(
        entry, common_properties=attrs.evolve(common, downstream_local_address=local)
    )


def test_a_call_the_sidecar_could_not_route_is_no_call_to_itself() -> None:
    """The productpage sidecar's unroutable call (503 UH, no cluster), re-dialled on 15001."""
    resolver = StaticResolver.from_mapping(POD_RESOLVER_TABLE)
    messages = [_captured_on_15001(message) for message in _read("productpage-http")]
    (local,) = {
        entry.common_properties.downstream_local_address
        for message in messages
        for entry in message.http_entries
        if entry.common_properties is not None and not entry.common_properties.upstream_cluster
    }
    assert (local.address, local.port) == (PRODUCTPAGE_SIDECAR_IP, 15001)  # type: ignore[union-attr]
    failed = [
        metric for metric in analyze(messages, resolver=resolver) if metric.response_code == 503
    ]
    assert [(m.detect_point.value, m.source.service, m.destination.service) for m in failed] == [
        ("client", "productpage", "UNKNOWN"),  # the unroutable call, now dialled on 15001
        ("client", "productpage", "recommendations"),  # a 503 answer, not this test's call
    ]


def test_no_recording_shows_a_workload_calling_itself() -> None:
    resolver = StaticResolver.from_mapping(POD_RESOLVER_TABLE)
    graph = meshals.topology(analyze([_read(stream) for stream in STREAMS], resolver=resolver))
    assert [(source, dest) for source, dest in graph.edges if source == dest] == []
