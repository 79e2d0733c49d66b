"""The mx-mesh analyzer on ALS streams with Istio peer objects (``tests/fixtures/mx``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshals
from meshals import AccessLogCommon, AlsMessage, HttpEntry, Identifier, KubernetesResolver, Node
from meshals.mesh._accounting import SkipReason
from meshals.mesh._analysis import analyze
from meshals.mesh._mx_mesh import MX_MESH, MxMeshAnalyzer
from meshals.model import (
    AccessLogType,
    AnyValue,
    CertificateProperties,
    FrozenMap,
    SocketAddress,
    SubjectAltName,
    TlsProperties,
)
from meshals.model._metrics import MetricOrigin, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import UNKNOWN
from meshals.resolve import KubernetesNaming
from meshals.resolve._naming import MetadataServiceMapping

MX_FIXTURES = Path(__file__).parents[1] / "fixtures" / "mx"

Row = tuple[Any, ...]
REVIEWS = ("reviews.bookinfo", "reviews-v2-5b6c7")
PRODUCTPAGE = ("productpage.bookinfo", "productpage-v1-7d8f9")
GATEWAY = ("istio-ingressgateway.istio-system", "istio-ingressgateway-6f5d4")
NOBODY = ("UNKNOWN", "UNKNOWN")

# (message, entry, detect point, protocol, source, destination, endpoint, code)
EXPECTED: dict[str, list[Row]] = {
    "reviews-sidecar-http": [
        (0, 0, "server", "HTTP", PRODUCTPAGE, REVIEWS, "GET:/reviews/0", 200),
        (0, 1, "client", "HTTP", REVIEWS, ("ratings.bookinfo", "ratings-v1-9a8b7"),
         "GET:/ratings/0", 200),
        (0, 2, "client", "HTTP", REVIEWS, ("details.bookinfo", "details-v1-4c3d2"),
         "GET:/details/0", 200),
        (1, 0, "server", "HTTP", PRODUCTPAGE, REVIEWS, "GET:/reviews/1", 200),
        (1, 3, "client", "HTTP", REVIEWS, ("-.läden", "händler-vm-1"), "GET:/vm/ß", 200),
        (1, 4, "server", "HTTP", ("認証.ünïcode", "認証-v1-0"), REVIEWS, "GET:/reviews/3", 404),
    ],
    "reviews-sidecar-tcp": [
        (0, 0, "client", "TCP", REVIEWS, ("mongodb.bookinfo", "mongodb-v1-0"), None, None),
        (0, 1, "server", "TCP", ("details.bookinfo", "details-v1-4c3d2"), REVIEWS, None, None),
    ],
    "gateway": [
        (0, 0, "server", "HTTP", NOBODY, GATEWAY, "GET:/productpage", 200),
        (0, 0, "client", "HTTP", GATEWAY, PRODUCTPAGE, "GET:/productpage", 200),
        (0, 1, "server", "HTTP", NOBODY, GATEWAY, "GET:/admin", 404),
        (1, 0, "server", "TCP", NOBODY, GATEWAY, None, None),
    ],
    "waypoint": [
        (0, 0, "server", "HTTP", PRODUCTPAGE, ("waypoint.bookinfo", "waypoint-7c6b5"),
         "GET:/reviews/0", 200),
        (0, 0, "client", "HTTP", ("waypoint.bookinfo", "waypoint-7c6b5"), REVIEWS,
         "GET:/reviews/0", 200),
    ],
    "old-istio-sidecar": [
        (0, 0, "server", "HTTP", ("productpage.default", "productpage-v1-d66dcfdc5-kh6v7"),
         ("reviews.default", "reviews-v1-d66dcfdc5-kh6v7"), "GET:/reviews/0", 200),
    ],
}  # fmt: skip

# (entries, analyzed, skipped by reason, diagnostics as (message, entry, key))
ACCOUNTS: dict[str, tuple[int, int, dict[SkipReason, int], list[tuple[int, int, str]]]] = {
    "reviews-sidecar-http": (
        8,
        6,
        {SkipReason.NO_PEER: 1, SkipReason.MALFORMED_PEER: 1},
        [(1, 2, "wasm.upstream_peer"), (1, 3, "upstream_peer")],
    ),
    "reviews-sidecar-tcp": (3, 2, {SkipReason.NO_PEER: 1}, []),
    "gateway": (3, 3, {}, []),
    "waypoint": (1, 1, {}, []),
    "old-istio-sidecar": (1, 1, {}, []),
}


def _read(name: str, suffix: str) -> list[AlsMessage]:
    with meshals.read(MX_FIXTURES / f"{name}.{suffix}") as reader:
        return [message for message in reader if isinstance(message, AlsMessage)]


def _row(metric: ServiceMeshMetric) -> Row:
    return (
        metric.origin.message_index,
        metric.origin.entry_index,
        metric.detect_point.value,
        metric.protocol.value,
        (metric.source.service, metric.source.instance),
        (metric.destination.service, metric.destination.instance),
        metric.endpoint,
        metric.response_code,
    )


@pytest.mark.parametrize("suffix", ["bin", "jsonl"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_metrics(name: str, suffix: str) -> None:
    analysis = analyze(_read(name, suffix), analyzers=["mx-mesh"])
    metrics = analysis.metrics()
    assert [_row(metric) for metric in metrics] == EXPECTED[name]
    assert {metric.analyzer for metric in metrics} == {MX_MESH}
    entries, analyzed, skipped, diagnostics = ACCOUNTS[name]
    accounting = analysis.accounting
    assert (accounting.entries_in, accounting.analyzed, dict(accounting.skipped)) == (
        entries,
        analyzed,
        skipped,
    )
    assert accounting.metrics_out == len(EXPECTED[name])
    assert [
        (d.location.message_index, d.location.entry_index, d.location.field)
        for d in analysis.diagnostics
    ] == [
        (message, entry, f'common_properties.filter_state_objects["{key}"]')
        for message, entry, key in diagnostics
    ]


def test_diagnostic_reasons() -> None:
    analysis = analyze(_read("reviews-sidecar-http", "bin"), analyzers=["mx-mesh"])
    analysis.metrics()
    assert [d.reason for d in analysis.diagnostics] == [
        "table of 48 bytes at offset 32 overruns; the peer object is ignored",
        "a string peer that is not base64 (x-envoy-peer-metadata); the peer object is ignored",
    ]


def test_tags_and_namespaces_come_from_the_metadata() -> None:
    metrics = analyze(_read("reviews-sidecar-http", "bin"), analyzers=["mx-mesh"]).metrics()
    first = metrics[0]
    assert (first.source.namespace, dict(first.source.tags)) == (
        "bookinfo",
        {
            "pod": "productpage-v1-7d8f9",
            "namespace": "bookinfo",
            "app": "productpage",
            "version": "v1",
        },
    )
    assert (first.destination.namespace, dict(first.destination.tags)) == (
        "bookinfo",
        {"pod": "reviews-v2-5b6c7", "namespace": "bookinfo", "app": "reviews", "version": "v2"},
    )


def test_a_custom_mapping() -> None:
    mapping = MetadataServiceMapping(service_name="${LABELS.app}", service_instance_name="${NAME}")
    metrics = analyze(_read("waypoint", "bin"), analyzers=["mx-mesh"], mapping=mapping).metrics()
    assert [(m.source.service, m.destination.service) for m in metrics] == [
        ("productpage", "waypoint"),
        ("waypoint", "reviews"),
    ]


def test_seed_fixtures_have_no_peers() -> None:
    # SkyWalking's EXPECTED.md: none of its fixtures has filterStateObjects, so mx-mesh emits
    # nothing there; the Istio 1.1 nodes are named all the same.
    seed = Path(__file__).parents[1] / "fixtures" / "skywalking"
    names = ["envoy-mesh-server-sidecar.msg", "envoy-mesh-client-sidecar.msg"]
    for name in names:
        with meshals.read(seed / name) as reader:
            analysis = analyze(list(reader), analyzers=["mx-mesh"])
            assert analysis.metrics() == []
            assert dict(analysis.accounting.skipped) == {SkipReason.NO_PEER: 1}


# --- the rules, entry by entry ----------------------------------------------------------------

STRUCT = "type.googleapis.com/google.protobuf.Struct"
PEER = AnyValue(type_url=STRUCT, value=FrozenMap({"NAME": "peer-1", "NAMESPACE": "ns"}), known=True)
LOCAL_NODE = Node(id="sidecar~10.0.0.1~me.ns~ns", metadata=FrozenMap({"NAME": "me-1"}))
ORIGIN = MetricOrigin(source="t", message_index=0, entry_index=0)


def _entry(**common: Any) -> HttpEntry:
    defaults: dict[str, Any] = {
        "downstream_remote_address": SocketAddress(address="10.0.0.2", port=1),
        "downstream_local_address": SocketAddress(address="10.0.0.1", port=9080),
        "start_time_ns": 1_000_000_000,
    }
    return HttpEntry(common_properties=AccessLogCommon(**{**defaults, **common}))


SKIP_CASES: list[tuple[str, HttpEntry, Node | None, SkipReason]] = [
    ("no common properties", HttpEntry(), LOCAL_NODE, SkipReason.NO_COMMON_PROPERTIES),
    (
        "intermediate",
        _entry(access_log_type=AccessLogType.DownstreamPeriodic),
        LOCAL_NODE,
        SkipReason.INTERMEDIATE_ENTRY,
    ),
    ("no node", _entry(), None, SkipReason.NO_LOCAL_IDENTITY),
    ("metadata naming nothing", _entry(), Node(metadata=FrozenMap()), SkipReason.NO_LOCAL_IDENTITY),
    ("no peer", _entry(), LOCAL_NODE, SkipReason.NO_PEER),
]


@pytest.mark.parametrize(
    ("entry", "node", "reason"),
    [case[1:] for case in SKIP_CASES],
    ids=[case[0] for case in SKIP_CASES],
)
def test_skips(entry: HttpEntry, node: Node | None, reason: SkipReason) -> None:
    outcome = MxMeshAnalyzer().analyze(entry, role=Role.SIDECAR, node=node, origin=ORIGIN)
    assert (outcome.metrics, outcome.stand_ins, outcome.skipped) == ((), (), reason)


def test_local_identity_is_named_once_per_node() -> None:
    analyzer = MxMeshAnalyzer()
    first = analyzer.local_identity(LOCAL_NODE)
    assert first is not None
    assert analyzer.local_identity(LOCAL_NODE) is first
    assert analyzer.local_identity(None) is None


def test_metric_fields_match_k8s_mesh_but_the_names_and_analyzer() -> None:
    """mx-mesh builds its metrics with k8s-mesh's builder: only who and by whom differ."""
    entry = _entry(
        upstream_cluster="inbound|9080||", filter_state_objects={"downstream_peer": PEER}
    )
    message = AlsMessage(identifier=Identifier(node=LOCAL_NODE), kind="http", entries=(entry,))

    class Everyone:
        def resolve(self, ip: str, port: int | None, /) -> meshals.ServiceMetaInfo:
            return meshals.ServiceMetaInfo(service=ip, instance=ip)

    (mx,) = analyze([message], analyzers=["mx-mesh"]).metrics()
    (k8s,) = analyze([message], resolver=Everyone()).metrics()
    assert mx == attrs.evolve(
        k8s,
        analyzer="mx-mesh",
        source=meshals.ServiceMetaInfo(
            service="-.ns",
            instance="peer-1",
            namespace="ns",
            tags={"pod": "peer-1", "namespace": "ns"},
        ),
        destination=meshals.ServiceMetaInfo(service="-.-", instance="me-1", tags={"pod": "me-1"}),
    )


def test_endpoint_query_is_stripped_on_request() -> None:
    entry = attrs.evolve(
        _entry(filter_state_objects={"downstream_peer": PEER}),
        request=meshals.HttpRequest(path="/a?b=1"),
    )
    outcome = MxMeshAnalyzer(endpoint_query="strip").analyze(
        entry, role=Role.SIDECAR, node=LOCAL_NODE, origin=ORIGIN
    )
    assert [metric.endpoint for metric in outcome.metrics] == ["METHOD_UNSPECIFIED:/a"]


def test_gateway_stand_in_is_from_unknown() -> None:
    outcome = MxMeshAnalyzer().analyze(_entry(), role=Role.PROXY, node=LOCAL_NODE, origin=ORIGIN)
    assert outcome.metrics == ()
    assert [(m.detect_point.value, m.source) for m in outcome.stand_ins] == [("server", UNKNOWN)]
    assert outcome.skipped is None


# --- the real Envoy recordings (tests/fixtures/envoy): peers set by Envoy itself ---------------

ENVOY_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads(
    (ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8")
)
RECORDED = sorted(GROUND_TRUTH["streams"])
LOOPBACK_SNAPSHOT = Path(__file__).parents[1] / "fixtures" / "k8s" / "bookinfo-loopback.json"
# The k8s-mesh naming that matches mx-mesh's default mapping on these pods.
MATCHING_NAMING = KubernetesNaming(
    service_rule="${pod.metadata.labels.app}.${pod.metadata.namespace}",
    instance_rule="${pod.metadata.name}",
)


def _recorded(stream: str) -> list[AlsMessage]:
    with meshals.read(ENVOY_FIXTURES / f"{stream}.bin") as reader:
        return [message for message in reader if isinstance(message, AlsMessage)]


def _mx_names(peer: dict[str, str] | None) -> tuple[str, str]:
    if peer is None:
        return NOBODY
    return (f"{peer['service']}.{peer['namespace']}", peer["instance"])


def _expected_recorded_rows(stream: str) -> tuple[list[Row], int]:
    """(entry index, detect point, source, destination) per metric, from the ground truth."""
    truth = GROUND_TRUTH["streams"][stream]
    envoy = GROUND_TRUTH["envoys"][truth["envoy"]]
    namespace = envoy["node_id"].split("~")[2].rpartition(".")[2]
    itself = (f"{envoy['service']}.{namespace}", envoy["instance"])
    rows: list[Row] = []
    skipped = 0
    for index, entry in enumerate(truth["entries"]):
        before = len(rows)
        if entry["downstream_peer"] is not None or envoy["role"] == "router":
            rows.append((index, "server", _mx_names(entry["downstream_peer"]), itself))
        if entry["upstream_peer"] is not None:
            rows.append((index, "client", itself, _mx_names(entry["upstream_peer"])))
        skipped += len(rows) == before
    return rows, skipped


def _flat_index(messages: list[AlsMessage]) -> dict[tuple[int | None, int], int]:
    positions = [(m.index, entry) for m in messages for entry in range(len(m.entries))]
    return {position: flat for flat, position in enumerate(positions)}


@pytest.mark.parametrize("stream", RECORDED)
def test_recorded_peers_match_the_ground_truth(stream: str) -> None:
    messages = _recorded(stream)
    flat = _flat_index(messages)
    analysis = analyze(messages, analyzers=["mx-mesh"])
    rows = [
        (
            flat[metric.origin.message_index, metric.origin.entry_index],
            metric.detect_point.value,
            (metric.source.service, metric.source.instance),
            (metric.destination.service, metric.destination.instance),
        )
        for metric in analysis.metrics()
    ]
    expected, skipped = _expected_recorded_rows(stream)
    assert rows == expected
    assert dict(analysis.accounting.skipped) == ({SkipReason.NO_PEER: skipped} if skipped else {})
    assert analysis.diagnostics == ()


def test_recordings_hold_every_kind_of_peer() -> None:
    entries = [entry for stream in RECORDED for entry in GROUND_TRUTH["streams"][stream]["entries"]]
    kinds = {
        (entry["protocol"], entry["downstream_peer"] is None, entry["upstream_peer"] is None)
        for entry in entries
    }
    assert kinds >= {("HTTP", False, True), ("HTTP", True, False), ("HTTP", True, True)}
    assert kinds >= {("TCP", False, True), ("TCP", True, False), ("TCP", True, True)}


@pytest.mark.parametrize("stream", RECORDED)
def test_mx_mesh_and_k8s_mesh_agree_on_the_recordings(stream: str) -> None:
    """Same traffic, two ways of naming: every metric mx-mesh makes, k8s-mesh makes alike."""
    resolver = KubernetesResolver.from_file(LOOPBACK_SNAPSHOT, naming=MATCHING_NAMING)
    messages = _recorded(stream)

    def by_side(metrics: list[ServiceMeshMetric]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        return {
            (m.origin.message_index, m.origin.entry_index, m.detect_point): (
                (m.source.service, m.source.instance),
                (m.destination.service, m.destination.instance),
            )
            for m in metrics
        }

    mx = by_side(analyze(messages, analyzers=["mx-mesh"]).metrics())
    k8s = by_side(analyze(messages, resolver=resolver).metrics())
    assert mx
    assert {side: k8s.get(side) for side in mx} == mx
    chained = analyze(messages, resolver=resolver, analyzers=["mx-mesh", "k8s-mesh"]).metrics()
    assert by_side(chained) == k8s
    assert {m.analyzer for m in chained} <= {"mx-mesh", "k8s-mesh"}


def test_mutual_tls_recording_server_sides_keep_their_tls() -> None:
    # The downstream connection's TLS is the server side's: mTLS into the sidecars, one-way TLS
    # into the gateway; the client sides' connections are not logged (NONE).
    streams = [meshals.read(path) for path in sorted((ENVOY_FIXTURES / "mtls").glob("*.bin"))]
    metrics = analyze(streams, analyzers=(MX_MESH,)).metrics()
    counts: dict[tuple[str, str, str, bool], int] = {}
    for metric in metrics:
        key = (
            metric.role.value,
            metric.detect_point.value,
            metric.tls_mode.value,
            metric.peer_identity is not None,
        )
        counts[key] = counts.get(key, 0) + 1
    assert counts == {
        ("proxy", "client", "NONE", False): 5,
        ("proxy", "server", "TLS", False): 6,
        ("sidecar", "client", "NONE", False): 14,
        ("sidecar", "server", "mTLS", True): 20,
    }


# --- every field the rules set, in both semantics ---------------------------------------------

MTLS = TlsProperties(
    local_certificate_properties=CertificateProperties(
        subject_alt_name=(SubjectAltName(uri="spiffe://cluster.local/ns/ns/sa/me"),)
    ),
    peer_certificate_properties=CertificateProperties(
        subject_alt_name=(SubjectAltName(uri="spiffe://cluster.local/ns/ns/sa/peer"),)
    ),
)
CALLEE = AnyValue(
    type_url=STRUCT,
    value=FrozenMap({"NAME": "callee-1", "LABELS": FrozenMap({"app": "callee"})}),
    known=True,
)
GATEWAY_NODE = Node(
    id="router~10.0.0.1~gw-1.ns~ns.svc.cluster.local",
    metadata=FrozenMap({"NAME": "gw-1", "NAMESPACE": "ns", "LABELS": FrozenMap({"app": "gw"})}),
)
UPSTREAM_HOST = SocketAddress(address="10.0.0.3", port=9080)
MTLS_IDS = ("spiffe://cluster.local/ns/ns/sa/peer", "spiffe://cluster.local/ns/ns/sa/me")
SW_PEER = ("-.ns", "peer-1", "ns", {"pod": "peer-1", "namespace": "ns"})
SW_CALLEE = ("callee.-", "callee-1", None, {"pod": "callee-1"})
SW_GATEWAY = ("gw.ns", "gw-1", "ns", {"pod": "gw-1", "namespace": "ns"})
SW_NOBODY: Row = ("UNKNOWN", "UNKNOWN", None, {})


def _fields(metric: ServiceMeshMetric) -> Row:
    """Every field the analyzer decides: who, by whom, where from, TLS and response code."""
    return (
        metric.detect_point.value,
        metric.role,
        metric.origin,
        *(
            (side.service, side.instance, side.namespace, dict(side.tags))
            for side in (metric.source, metric.destination)
        ),
        metric.tls_mode.value,
        (metric.peer_identity, metric.local_identity),
        metric.response_code,
    )


# (id, role, node, filter state, expected rows): SkyWalking's own mx-mesh rules, on an
# entry with mTLS, an upstream host and no response.
SKYWALKING_CASES: list[tuple[str, Role, Node | None, dict[str, AnyValue], list[Row]]] = [
    (
        "sidecar: both peers, mTLS on both sides, no response code (200)",
        Role.SIDECAR,
        LOCAL_NODE,
        {"downstream_peer": PEER, "upstream_peer": CALLEE},
        [
            ("server", Role.SIDECAR, ORIGIN, SW_PEER, ("-.-", "me-1", None, {"pod": "me-1"}),
             "mTLS", MTLS_IDS, 200),
            ("client", Role.SIDECAR, ORIGIN, ("-.-", "me-1", None, {"pod": "me-1"}), SW_CALLEE,
             "mTLS", MTLS_IDS, 200),
        ],
    ),
    (
        "gateway: an upstream peer and host, no downstream peer: the server side from UNKNOWN",
        Role.PROXY,
        GATEWAY_NODE,
        {"upstream_peer": CALLEE},
        [
            ("client", Role.PROXY, ORIGIN, SW_GATEWAY, SW_CALLEE, "NONE", (None, None), 200),
            ("server", Role.PROXY, ORIGIN, SW_NOBODY, SW_GATEWAY, "mTLS", MTLS_IDS, 200),
        ],
    ),
    (
        "gateway: a downstream peer and an upstream host: no server side from UNKNOWN",
        Role.PROXY,
        GATEWAY_NODE,
        {"downstream_peer": PEER},
        [("server", Role.PROXY, ORIGIN, SW_PEER, SW_GATEWAY, "mTLS", MTLS_IDS, 200)],
    ),
    (
        "no node: the Envoy's own names are all '-'",
        Role.SIDECAR,
        None,
        {"downstream_peer": PEER},
        [("server", Role.SIDECAR, ORIGIN, SW_PEER, ("-.-", "-", None, {}), "mTLS", MTLS_IDS,
          200)],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "node", "filter_state", "expected"),
    [case[1:] for case in SKYWALKING_CASES],
    ids=[case[0] for case in SKYWALKING_CASES],
)
def test_skywalking_semantics_sets_every_field(
    role: Role, node: Node | None, filter_state: dict[str, AnyValue], expected: list[Row]
) -> None:
    entry = _entry(
        filter_state_objects=filter_state,
        tls_properties=MTLS,
        upstream_remote_address=UPSTREAM_HOST,
    )
    outcome = MxMeshAnalyzer(semantics="skywalking").analyze(
        entry, role=role, node=node, origin=ORIGIN
    )
    assert [_fields(metric) for metric in outcome.metrics] == expected
    assert (outcome.stand_ins, outcome.skipped) == ((), None)


def test_meshals_semantics_client_side_keeps_a_sidecars_tls() -> None:
    # The sidecar's client side has the entry's TLS; a peer whose metadata names nothing is
    # UNKNOWN.
    nameless = AnyValue(type_url=STRUCT, value=FrozenMap({"ISTIO_VERSION": "1.22.0"}), known=True)
    entry = _entry(
        filter_state_objects={"downstream_peer": nameless, "upstream_peer": CALLEE},
        tls_properties=MTLS,
        upstream_remote_address=UPSTREAM_HOST,
    )
    outcome = MxMeshAnalyzer().analyze(entry, role=Role.SIDECAR, node=LOCAL_NODE, origin=ORIGIN)
    me = ("-.-", "me-1", None, {"pod": "me-1"})
    callee = ("callee.-", "callee-1", None, {"pod": "callee-1", "app": "callee"})
    assert [_fields(metric) for metric in outcome.metrics] == [
        ("server", Role.SIDECAR, ORIGIN, SW_NOBODY, me, "mTLS", MTLS_IDS, None),
        ("client", Role.SIDECAR, ORIGIN, me, callee, "mTLS", MTLS_IDS, None),
    ]
