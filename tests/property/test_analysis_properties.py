"""Properties of analyze(): never raises on valid input, accounts for every entry, deterministic.

The streams are Envoy's own protobuf messages (xds-protos), decoded with
``meshals.decode_message``. Two kinds are mixed: messages aimed at the analysis (Istio node ids,
addresses from a small pool of IPs the resolver partly knows, Istio cluster names, flags,
access-log types, gRPC headers) so that every rule is reached, and fully random messages from
the shared strategies so that nothing unexpected slips through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from envoy.config.core.v3 import address_pb2
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

import meshals
from meshals import AlsMessage, Role
from meshals.mesh._analysis import analyze
from meshals.model._metrics import MeshProtocol, ServiceMeshMetric
from meshals.model._service import UNKNOWN, ServiceMetaInfo

from .strategies import Family, als_messages

pytestmark = pytest.mark.property

IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.96.0.3", "203.0.113.9", "fd00::2", "", "not-an-ip"]
KNOWN = {
    "10.0.0.1": "gateway",
    "10.0.0.2": "productpage",
    "10.0.0.3": "reviews",
    "fd00::2": "productpage",
}
NODE_IDS = [
    "router~10.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local",
    "sidecar~10.0.0.2~pp-1.default~default.svc.cluster.local",
    "sidecar~~pp-1.default~default.svc.cluster.local",
    "waypoint~10.0.0.8~wp-1.default~default.svc.cluster.local",
    "ingress~not-an-ip~gw~ns",
    "front-envoy",
    "",
]
CLUSTERS = [
    "",
    "inbound|9080||",
    "inbound|9080|http|reviews.default.svc.cluster.local",
    "outbound|9080||reviews.default.svc.cluster.local",
    "outbound_.9080_.v1_.reviews.default.svc.cluster.local",
    "inbound-vip|9080|http|reviews.default.svc.cluster.local",
    "PassthroughCluster",
    "BlackHoleCluster",
    "InboundPassthroughClusterIpv4",
    "outbound|x||broken",
    "my-cluster",
]
FLAG_NAMES = [
    "no_healthy_upstream",
    "upstream_connection_failure",
    "upstream_retry_limit_exceeded",
    "no_route_found",
    "downstream_connection_termination",
    "upstream_remote_reset",
]


NAMED = {*KNOWN.values(), "reviews-vip", "PassthroughCluster", "BlackHoleCluster"}


class PoolResolver:
    """Knows some IPs of the pool; the port decides nothing except for one VIP port."""

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        if ip == "10.96.0.3" and port == 9080:
            return ServiceMetaInfo(service="reviews-vip", instance="reviews-vip")
        name = KNOWN.get(ip)
        return None if name is None else ServiceMetaInfo(service=name, instance=f"{name}-1")


def _address() -> st.SearchStrategy[address_pb2.Address | None]:
    socket = st.builds(
        lambda ip, port: address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=ip, port_value=port)
        ),
        st.sampled_from(IPS),
        st.sampled_from([0, 9080, 15006]),
    )
    internal = st.builds(
        lambda endpoint: address_pb2.Address(
            envoy_internal_address=address_pb2.EnvoyInternalAddress(
                server_listener_name="connect_originate", endpoint_id=endpoint
            )
        ),
        st.sampled_from(["10.0.0.3:9080", "[fd00::2]:9080", "reviews:9080", ""]),
    )
    pipe = st.just(address_pb2.Address(pipe=address_pb2.Pipe(path="/run/envoy.sock")))
    return st.one_of(st.none(), socket, socket, internal, pipe)


def _duration() -> st.SearchStrategy[duration_pb2.Duration | None]:
    return st.one_of(
        st.none(),
        st.builds(
            duration_pb2.Duration,
            seconds=st.integers(0, 3),
            nanos=st.integers(0, 999_999_999),
        ),
    )


@st.composite
def _common(draw: st.DrawFn) -> accesslog_pb2.AccessLogCommon:
    common = accesslog_pb2.AccessLogCommon(
        upstream_cluster=draw(st.sampled_from(CLUSTERS)),
        intermediate_log_entry=draw(st.booleans()),
        access_log_type=draw(st.sampled_from(list(accesslog_pb2.AccessLogType.values()))),
    )
    for field in (
        "downstream_remote_address",
        "downstream_direct_remote_address",
        "downstream_local_address",
        "upstream_remote_address",
    ):
        address = draw(_address())
        if address is not None:
            getattr(common, field).CopyFrom(address)
    if draw(st.booleans()):
        common.start_time.CopyFrom(
            timestamp_pb2.Timestamp(
                seconds=draw(st.integers(0, 2**33)), nanos=draw(st.integers(0, 999_999_999))
            )
        )
    for field in (
        "time_to_first_upstream_tx_byte",
        "time_to_first_upstream_rx_byte",
        "time_to_last_upstream_rx_byte",
        "time_to_first_downstream_tx_byte",
        "time_to_last_downstream_tx_byte",
        "duration",
    ):
        duration = draw(_duration())
        if duration is not None:
            getattr(common, field).CopyFrom(duration)
    for name in draw(st.lists(st.sampled_from(FLAG_NAMES), max_size=3)):
        setattr(common.response_flags, name, True)
    if draw(st.booleans()):
        tls = common.tls_properties
        tls.local_certificate_properties.subject = draw(st.sampled_from(["", "CN=a"]))
        san = tls.peer_certificate_properties.subject_alt_name.add()
        san.uri = draw(st.sampled_from(["spiffe://cluster.local/ns/default/sa/x", "urn:y"]))
    return common


@st.composite
def _http_entry(draw: st.DrawFn) -> accesslog_pb2.HTTPAccessLogEntry:
    entry = accesslog_pb2.HTTPAccessLogEntry(
        protocol_version=draw(st.sampled_from([0, 2, 3])),
    )
    if draw(st.integers(0, 9)):
        entry.common_properties.CopyFrom(draw(_common()))
    if draw(st.booleans()):
        request = entry.request
        request.request_method = draw(st.sampled_from([0, 1, 3, 77]))
        request.path = draw(
            st.sampled_from(["/", "/reviews/0?u=1", "/bookinfo.ratings.v1.Ratings/GetRating", ""])
        )
        content_type = draw(st.sampled_from([None, "application/grpc", "text/html"]))
        if content_type is not None:
            request.request_headers["content-type"] = content_type
    if draw(st.booleans()):
        response = entry.response
        code = draw(st.sampled_from([None, 0, 200, 302, 404, 503, 700]))
        if code is not None:
            response.response_code.CopyFrom(wrappers_pb2.UInt32Value(value=code))
        grpc_status = draw(st.sampled_from([None, "0", "5", "x"]))
        if grpc_status is not None:
            response.response_trailers["grpc-status"] = grpc_status
    return entry


@st.composite
def _tcp_entry(draw: st.DrawFn) -> accesslog_pb2.TCPAccessLogEntry:
    entry = accesslog_pb2.TCPAccessLogEntry()
    if draw(st.integers(0, 9)):
        entry.common_properties.CopyFrom(draw(_common()))
    if draw(st.booleans()):
        entry.connection_properties.received_bytes = draw(st.integers(0, 2**40))
        entry.connection_properties.sent_bytes = draw(st.integers(0, 2**40))
    return entry


@st.composite
def _aimed_message(draw: st.DrawFn) -> als_pb2.StreamAccessLogsMessage:
    message = als_pb2.StreamAccessLogsMessage()
    if draw(st.booleans()):
        node = message.identifier.node
        node.id = draw(st.sampled_from(NODE_IDS))
        if draw(st.booleans()):
            ips = draw(st.sampled_from(["10.0.0.2", "10.0.0.2,fd00::2", "bogus"]))
            node.metadata.CopyFrom(
                struct_pb2.Struct(fields={"INSTANCE_IPS": struct_pb2.Value(string_value=ips)})
            )
    kind = draw(st.sampled_from(["http", "tcp", "none"]))
    if kind == "http":
        for entry in draw(st.lists(_http_entry(), max_size=4)):
            message.http_logs.log_entry.add().CopyFrom(entry)
    elif kind == "tcp":
        for entry in draw(st.lists(_tcp_entry(), max_size=4)):
            message.tcp_logs.log_entry.add().CopyFrom(entry)
    return message


_ANY_MESSAGE = st.one_of(
    _aimed_message(), _aimed_message(), _aimed_message(), als_messages(Family(exact=False))
)


@st.composite
def _streams(draw: st.DrawFn) -> list[list[AlsMessage]]:
    streams = []
    for stream_index in range(draw(st.integers(0, 3))):
        pbs: list[Message] = draw(st.lists(_ANY_MESSAGE, max_size=4))
        source = f"stream-{stream_index}"
        streams.append(
            [meshals.decode_message(pb, source=source, index=index) for index, pb in enumerate(pbs)]
        )
    return streams


def _run(streams: Any, **options: Any) -> tuple[list[ServiceMeshMetric], Any]:
    analysis = analyze(streams, resolver=PoolResolver(), **options)
    return analysis.metrics(), analysis


def _check_accounting(
    streams: list[list[AlsMessage]], metrics: list[ServiceMeshMetric], analysis: Any
) -> None:
    accounting = analysis.accounting
    entries = sum(len(message.entries) for stream in streams for message in stream)
    assert accounting.streams == len(streams)
    assert accounting.messages == sum(len(stream) for stream in streams)
    assert accounting.entries_in == entries == accounting.analyzed + accounting.skipped_total
    assert accounting.metrics_out == len(metrics)
    # An analysed entry gives one metric (sidecar) or one or two (gateway, waypoint).
    assert accounting.analyzed <= len(metrics) <= 2 * accounting.analyzed
    assert all(count > 0 for count in accounting.skipped.values())


def _check_metric(metric: ServiceMeshMetric) -> None:
    as_dict = metric.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert metric.role is not Role.NONE
    assert metric.latency_ms >= 1
    for peer in (metric.source, metric.destination):
        assert peer.service in NAMED or peer == UNKNOWN
    if metric.protocol is MeshProtocol.TCP:
        assert (metric.endpoint, metric.response_code, metric.grpc_status) == (None, None, None)
    else:
        assert (metric.received_bytes, metric.sent_bytes) == (None, None)


# One generated input serves all three properties: generating them dominates the run time.
@given(streams=_streams(), reidentify=st.booleans(), strip=st.booleans())
def test_analysis_accounts_for_every_entry_and_is_deterministic(
    streams: list[list[AlsMessage]], reidentify: bool, strip: bool
) -> None:
    options = {"reidentify": reidentify, "endpoint_query": "strip" if strip else "keep"}
    metrics, analysis = _run(streams, **options)  # never raises
    _check_accounting(streams, metrics, analysis)
    for metric in metrics:
        _check_metric(metric)
    again, again_analysis = _run(streams, **options)
    assert again == metrics
    assert [metric.to_dict() for metric in again] == [metric.to_dict() for metric in metrics]
    assert again_analysis.accounting == analysis.accounting
    assert again_analysis.diagnostics == analysis.diagnostics


@given(stream=st.lists(_aimed_message(), max_size=3))
def test_one_stream_equals_a_list_holding_it(stream: list[Message]) -> None:
    messages = [meshals.decode_message(pb, index=index) for index, pb in enumerate(stream)]
    alone, alone_analysis = _run(messages)
    wrapped, wrapped_analysis = _run([messages])
    assert alone == wrapped
    assert alone_analysis.accounting.entries_in == wrapped_analysis.accounting.entries_in
