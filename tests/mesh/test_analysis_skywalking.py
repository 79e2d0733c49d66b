"""SkyWalking's four ALS fixtures: every value its tests assert, the derived ones, the divergences.

The resolver maps exactly the table of ``EXPECTED.md`` (SkyWalking's Mockito mocks). Values
"derived" there were computed by hand from SkyWalking's adapter rules; meshals must match them
where SkyWalking is right, and each deliberate divergence has its own test below.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import attrs
import pytest

import meshals
from meshals import AlsMessage, HttpEntry, Role, role_of
from meshals._values import FrozenMap
from meshals.mesh._analysis import analyze
from meshals.mesh._roles import default_role_rule
from meshals.model import HttpVersion, RequestMethod
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._service import UNKNOWN, ServiceMetaInfo

SKYWALKING = Path(__file__).parents[1] / "fixtures" / "skywalking"


class MockedRegistry:
    """SkyWalking's mocked K8s registry: by IP only, UNKNOWN (None) for any other IP."""

    TABLE: ClassVar[dict[str, ServiceMetaInfo]] = {
        "10.44.2.56": ServiceMetaInfo(service="ingress", instance="ingress-Inst"),
        "10.44.2.54": ServiceMetaInfo(service="productpage", instance="productpage-Inst"),
        "10.44.6.66": ServiceMetaInfo(service="detail", instance="detail-Inst"),
        "10.44.2.55": ServiceMetaInfo(service="review", instance="review-Inst"),
    }

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        return self.TABLE.get(ip)


def _messages(name: str) -> list[AlsMessage]:
    with meshals.read(SKYWALKING / f"{name}.msg") as reader:
        return list(reader.messages())


def _metrics(messages: list[AlsMessage]) -> list[ServiceMeshMetric]:
    return analyze(messages, resolver=MockedRegistry()).metrics()


# One row per metric, in order:
# (fixture, index, source, dest, detect point,            <- asserted by SkyWalking
#  source instance, dest instance, start ms, end ms, latency ms, endpoint,
#  SkyWalking's internal request / response latency nanos)   <- derived in EXPECTED.md
EXPECTED = [
    (
        "envoy-ingress",
        0,
        "UNKNOWN",
        "ingress",
        DetectPoint.SERVER,
        "UNKNOWN",
        "ingress-Inst",
        (1555127993687, 1555127994697, 1010),
        "GET:/productpage",
        (869250, 42686),
    ),
    (
        "envoy-ingress",
        1,
        "ingress",
        "productpage",
        DetectPoint.CLIENT,
        "ingress-Inst",
        "productpage-Inst",
        (1555127993687, 1555127994697, 1010),
        "GET:/productpage",
        (869250, 42686),
    ),
    (
        "envoy-ingress2sidecar",
        0,
        # SkyWalking asserts "" here (a null source on sidecar inbound); meshals keeps
        # UNKNOWN and leaves the empty strings to the SkyWalking export.
        "UNKNOWN",
        "productpage",
        DetectPoint.SERVER,
        "UNKNOWN",
        "productpage-Inst",
        (1555127993688, 1555127994696, 1008),
        "GET:/productpage",
        (789220, 121957),
    ),
    (
        "envoy-mesh-server-sidecar",
        0,
        "productpage",
        "review",
        DetectPoint.SERVER,
        "productpage-Inst",
        "review-Inst",
        (1555127993712, 1555127994689, 977),
        "GET:/reviews/0",
        (841545, 147569),
    ),
    (
        "envoy-mesh-client-sidecar",
        0,
        "productpage",
        "detail",
        DetectPoint.CLIENT,
        "productpage-Inst",
        "detail-Inst",
        (1555127993697, 1555127993705, 8),
        "GET:/details/0",
        (2353100, 169503),
    ),
]

METRIC_COUNTS = [
    ("envoy-ingress", 2),
    ("envoy-ingress2sidecar", 1),
    ("envoy-mesh-server-sidecar", 1),
    ("envoy-mesh-client-sidecar", 1),
]


@pytest.mark.parametrize(("fixture", "count"), METRIC_COUNTS)
def test_metric_count(fixture: str, count: int) -> None:
    analysis = analyze(_messages(fixture), resolver=MockedRegistry())
    assert len(analysis.metrics()) == count
    accounting = analysis.accounting
    assert (accounting.entries_in, accounting.analyzed, accounting.skipped_total) == (1, 1, 0)
    assert analysis.diagnostics == ()


@pytest.mark.parametrize(
    (
        "fixture",
        "index",
        "source",
        "dest",
        "detect_point",
        "source_instance",
        "dest_instance",
        "times_ms",
        "endpoint",
        "skywalking_internal",
    ),
    EXPECTED,
)
def test_metric_values(  # noqa: PLR0917
    fixture: str,
    index: int,
    source: str,
    dest: str,
    detect_point: DetectPoint,
    source_instance: str,
    dest_instance: str,
    times_ms: tuple[int, int, int],
    endpoint: str,
    skywalking_internal: tuple[int, int],
) -> None:
    metric = _metrics(_messages(fixture))[index]
    # Asserted by SkyWalking's tests.
    assert (metric.source.service, metric.destination.service) == (source, dest)
    assert metric.detect_point is detect_point
    # Derived in EXPECTED.md.
    assert (metric.source.instance, metric.destination.instance) == (source_instance, dest_instance)
    assert (metric.start_time_ms, metric.end_time_ms, metric.latency_ms) == times_ms
    assert metric.endpoint == endpoint
    assert (
        metric.skywalking_internal_request_latency_nanos,
        metric.skywalking_internal_response_latency_nanos,
    ) == skywalking_internal
    # The common derived values.
    assert (metric.response_code, metric.status, metric.protocol) == (200, True, MeshProtocol.HTTP)
    assert (metric.tls_mode, metric.internal_error_code) == (TlsMode.NONE, "")
    assert (metric.source.tags, metric.destination.tags) == (FrozenMap(), FrozenMap())


@pytest.mark.parametrize(
    ("fixture", "role"),
    [
        ("envoy-ingress", Role.PROXY),  # testIngressRoleIdentify
        ("envoy-mesh-server-sidecar", Role.SIDECAR),  # testSidecarRoleIdentify
        ("envoy-ingress2sidecar", Role.SIDECAR),
        ("envoy-mesh-client-sidecar", Role.SIDECAR),
    ],
)
def test_role_identification(fixture: str, role: Role) -> None:
    identifier = _messages(fixture)[0].identifier
    assert identifier is not None
    assert identifier.node is not None
    assert default_role_rule(identifier) is role
    assert role_of(identifier.node.id) is role


# Exact values SkyWalking cannot give: nanosecond times of envoy-ingress.msg.
INGRESS_START_NS = 1_555_127_993_687_224_601


def test_nanosecond_views() -> None:
    server, client = _metrics(_messages("envoy-ingress"))
    assert (server.start_time_ns, server.end_time_ns, server.latency_ns) == (
        INGRESS_START_NS,
        INGRESS_START_NS + 1_010_432_910,
        1_010_432_910,
    )
    assert (client.start_time_ns, client.end_time_ns, client.latency_ns) == (
        INGRESS_START_NS + 869_250,
        INGRESS_START_NS + 1_010_423_815,
        1_010_423_815 - 869_250,
    )


# --- deliberate divergences, one test each ------------------------------------------------------


def _edit_entry(name: str, **common_changes: object) -> tuple[list[AlsMessage], HttpEntry]:
    """The fixture's messages with its one entry's common properties changed."""
    (message,) = _messages(name)
    (entry,) = message.http_entries
    assert entry.common_properties is not None
    common = attrs.evolve(entry.common_properties, **common_changes)  # type: ignore[arg-type]
    entry = attrs.evolve(entry, common_properties=common)
    return [attrs.evolve(message, entries=(entry,))], entry


def test_unknown_inbound_source_stays_unknown() -> None:
    (metric,) = _metrics(_messages("envoy-ingress2sidecar"))
    assert metric.source == UNKNOWN
    assert (metric.source.service, metric.source.instance) == ("UNKNOWN", "UNKNOWN")  # not ""


def test_absent_response_code_stays_none() -> None:
    (message,) = _messages("envoy-mesh-server-sidecar")
    (entry,) = message.http_entries
    edited = attrs.evolve(message, entries=(attrs.evolve(entry, response=None),))
    (metric,) = _metrics([edited])
    # SkyWalking reports 200 and success for a response it never saw.
    assert (metric.response_code, metric.status) == (None, False)


def test_internal_latencies_use_full_durations() -> None:
    # The fixture's durations are under a second, where SkyWalking happens to be right ...
    (metric,) = _metrics(_messages("envoy-mesh-server-sidecar"))
    assert (metric.internal_request_latency_ns, metric.internal_response_latency_ns) == (
        841_545,
        147_569,
    )
    assert (
        metric.skywalking_internal_request_latency_nanos,
        metric.skywalking_internal_response_latency_nanos,
    ) == (841_545, 147_569)
    # ... one second more and SkyWalking's nanos-only values are wrong.
    messages, _ = _edit_entry(
        "envoy-mesh-server-sidecar",
        time_to_first_upstream_tx_byte_ns=1_000_841_545,
        time_to_first_downstream_tx_byte_ns=2_977_764_621,
    )
    (metric,) = _metrics(messages)
    assert (metric.internal_request_latency_ns, metric.internal_response_latency_ns) == (
        1_000_841_545,
        2_977_764_621 - 977_617_052,
    )
    assert (
        metric.skywalking_internal_request_latency_nanos,
        metric.skywalking_internal_response_latency_nanos,
    ) == (841_545, 147_569)


def test_proxy_without_upstream_still_yields_server_metric() -> None:
    messages, _ = _edit_entry("envoy-ingress", upstream_remote_address=None)
    # SkyWalking produces nothing for this entry.
    metrics = _metrics(messages)
    assert [
        (metric.detect_point, metric.source.service, metric.destination.service)
        for metric in metrics
    ] == [(DetectPoint.SERVER, "UNKNOWN", "ingress")]


def test_plaintext_grpc_is_grpc() -> None:
    (message,) = _messages("envoy-mesh-client-sidecar")
    (entry,) = message.http_entries
    assert entry.request is not None
    grpc_entry = attrs.evolve(
        entry,
        protocol_version=HttpVersion.HTTP2,
        request=attrs.evolve(
            entry.request,
            request_method=RequestMethod.POST,
            path="/bookinfo.details.v1.Details/Get",
        ),
    )
    # The scheme stays "http": SkyWalking would call this HTTP.
    assert grpc_entry.request is not None
    assert grpc_entry.request.scheme == "http"
    (metric,) = _metrics([attrs.evolve(message, entries=(grpc_entry,))])
    assert metric.protocol is MeshProtocol.GRPC
    assert metric.endpoint == "POST:/bookinfo.details.v1.Details/Get"
