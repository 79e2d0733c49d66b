"""The differences page, checked: every row of docs/explanation/skywalking-differences.md runs
both semantics on an entry that shows it and asserts both answers, so the page cannot drift
from the code. A row without a case here fails, as does a case whose row is gone."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pytest

import meshals
from meshals import AlsMessage, Identifier, KubernetesResolver, Node
from meshals._values import AnyValue, FrozenMap
from meshals.mesh._accounting import Accounting
from meshals.model import (
    AccessLogCommon,
    AccessLogType,
    Address,
    EnvoyInternalAddress,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    HttpVersion,
    PipeAddress,
    RequestMethod,
    SocketAddress,
)
from meshals.model._metrics import Semantics, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo
from meshals.output import skywalking_json, skywalking_metric
from meshals.resolve import KubernetesNaming, MetadataServiceMapping, Resolver

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "explanation" / "skywalking-differences.md"
FIXTURES = ROOT / "tests" / "fixtures"
LOOPBACK = FIXTURES / "k8s" / "bookinfo-loopback.json"
SIDECAR = Node(id="sidecar~10.0.0.2~pp-1.default~default.svc.cluster.local")
GATEWAY = Node(id="router~10.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local")
TABLE = {"10.0.0.1": "gateway", "10.0.0.2": "productpage", "10.0.0.3": "reviews"}


class Table:
    """A resolver for hand-made entries: ``ip:port`` first, then ``ip``."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        name = self.table.get(f"{ip}:{port}", self.table.get(ip))
        return None if name is None else ServiceMetaInfo(service=name, instance=f"{name}-1")


@attrs.frozen
class Outcome:
    """One semantics' answer: the metrics and the accounting of one analysis."""

    metrics: list[ServiceMeshMetric]
    accounting: Accounting
    diagnostics: int

    @property
    def edges(self) -> list[tuple[str, str, str]]:
        return [
            (m.detect_point.value, m.source.service, m.destination.service) for m in self.metrics
        ]

    @property
    def skipped(self) -> dict[str, int]:
        return {reason.value: count for reason, count in self.accounting.skipped.items()}

    def exported(self, field: str) -> list[object]:
        return [skywalking_json(skywalking_metric(m))[field] for m in self.metrics]


def _analyze(
    messages: Sequence[object],
    semantics: Semantics,
    *,
    analyzers: Sequence[str] = ("k8s-mesh",),
    resolver: Resolver | None = None,
    mapping: MetadataServiceMapping | None = None,
) -> Outcome:
    if resolver is None and "k8s-mesh" in analyzers:
        resolver = KubernetesResolver.from_file(LOOPBACK, semantics=semantics)
    analysis = meshals.analyze(
        messages, resolver=resolver, analyzers=analyzers, mapping=mapping, semantics=semantics
    )
    metrics = analysis.metrics()
    return Outcome(metrics, analysis.accounting, len(analysis.diagnostics))


def _recorded(name: str, message: int, entry: int | None = None) -> list[AlsMessage]:
    """One message of a recording (or one entry of it), with the stream's identifier."""
    with meshals.read(FIXTURES / name) as reader:
        messages = [item for item in reader if isinstance(item, AlsMessage)]
    chosen = messages[message]
    if entry is not None:  # the entries of one message are all HTTP or all TCP
        chosen = attrs.evolve(chosen, entries=chosen.entries[entry : entry + 1])
    return [attrs.evolve(chosen, identifier=messages[0].identifier)]


def _addr(ip: str, port: int = 9080) -> SocketAddress:
    return SocketAddress(address=ip, port=port)


def _entry(
    *,
    cluster: str = "",
    local: Address | None = None,
    upstream: Address | None = None,
    remote: Address | None = None,
    code: int | None = 200,
    **changes: object,
) -> HttpEntry:
    common = AccessLogCommon(
        downstream_remote_address=remote or _addr("10.0.0.2", 40000),
        downstream_local_address=local,
        upstream_remote_address=upstream,
        upstream_cluster=cluster,
        start_time_ns=1_000_000_000_000,
        time_to_last_downstream_tx_byte_ns=7_000_000,
    )
    return HttpEntry(
        common_properties=attrs.evolve(common, **changes),  # type: ignore[arg-type]
        protocol_version=HttpVersion.HTTP11,
        request=HttpRequest(request_method=RequestMethod.GET, scheme="http", path="/"),
        response=HttpResponse(response_code=code),
    )


def _stream(node: Node | None, *entries: HttpEntry) -> list[AlsMessage]:
    identifier = None if node is None else Identifier(node=node)
    return [AlsMessage(identifier=identifier, kind="http", entries=entries, index=0)]


def _table(
    semantics: Semantics,
    *entries: HttpEntry,
    node: Node | None = SIDECAR,
    table: dict[str, str] | None = None,
) -> Outcome:
    return _analyze(_stream(node, *entries), semantics, resolver=Table({**TABLE, **(table or {})}))


def _struct(fields: dict[str, object]) -> AnyValue:
    return AnyValue(
        type_url="type.googleapis.com/google.protobuf.Struct", value=FrozenMap(fields), known=True
    )


# --- one case per row: (the answer for a semantics, meshals' answer, SkyWalking's answer) ------

Case = tuple[Callable[[Semantics], object], object, object]


def _gateway_without_upstream(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/istio-ingressgateway-http.bin", 5), semantics)
    return outcome.edges, outcome.skipped


def _special_cluster(semantics: Semantics) -> object:
    outcome = _table(
        semantics,
        _entry(cluster="PassthroughCluster", local=_addr("203.0.113.9"), upstream=None),
    )
    return outcome.edges, outcome.skipped


def _inbound_passthrough(semantics: Semantics) -> object:
    entry = _entry(
        cluster="InboundPassthroughClusterIpv4",
        remote=_addr("10.0.0.1", 40000),
        local=_addr("10.0.0.2", 8000),
        upstream=_addr("10.0.0.2", 8000),
    )
    outcome = _table(semantics, entry)
    return outcome.edges, outcome.skipped


def _empty_cluster(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/productpage-http.bin", 13, 0), semantics)
    return outcome.edges, outcome.skipped


def _outbound_without_upstream(semantics: Semantics) -> object:
    entry = _entry(
        cluster="outbound|9080||reviews.default.svc.cluster.local", local=_addr("10.0.0.3")
    )
    outcome = _table(semantics, entry)
    return outcome.edges, outcome.skipped


def _gateway_local_no_ip(semantics: Semantics) -> object:
    entry = _entry(local=PipeAddress(path="/sock"), upstream=_addr("10.0.0.3"))
    outcome = _table(semantics, entry, node=GATEWAY)
    return outcome.edges, outcome.skipped


def _internal_address(semantics: Semantics) -> object:
    internal = EnvoyInternalAddress(
        server_listener_name="connect_originate", endpoint_id="10.0.0.3:9080"
    )
    entry = _entry(local=_addr("10.0.0.1", 8080), upstream=internal)
    outcome = _table(semantics, entry, node=GATEWAY)
    return outcome.edges, outcome.skipped


def _periodic_entry(semantics: Semantics) -> object:
    entry = _entry(
        cluster="inbound|9080||",
        local=_addr("10.0.0.2"),
        access_log_type=AccessLogType.DownstreamPeriodic,
    )
    outcome = _table(semantics, entry)
    return outcome.edges, outcome.skipped


def _no_identifier(semantics: Semantics) -> object:
    outcome = _table(semantics, _entry(cluster="inbound|9080||"), node=None)
    return outcome.edges, outcome.skipped, outcome.diagnostics


def _l4_log(semantics: Semantics) -> object:
    with meshals.read(FIXTURES / "ztunnel" / "ambient-bookinfo.log") as log:
        outcome = _analyze([list(log)], semantics)
    return len(outcome.metrics), outcome.skipped


def _resolving(semantics: Semantics) -> object:
    entry = _entry(
        cluster="outbound|9080||reviews", local=_addr("10.96.0.3"), upstream=_addr("10.0.0.3")
    )
    return _table(semantics, entry, table={"10.0.0.3:9080": "reviews-on-9080"}).edges


def _unnamed_inbound_caller(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("mx/reviews-sidecar-http.bin", 0, 0), semantics)
    return outcome.edges, outcome.exported("sourceServiceName")


def _no_response_code(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/reviews-http.bin", 4, 0), semantics)
    return [m.response_code for m in outcome.metrics], outcome.exported("responseCode")


def _grpc_status(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/reviews-http.bin", 3, 0), semantics)
    return [(m.grpc_status, m.status) for m in outcome.metrics]


def _grpc_protocol(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/reviews-http.bin", 0, 0), semantics)
    return [m.protocol.value for m in outcome.metrics]


def _internal_latency(semantics: Semantics) -> object:
    entry = _entry(
        cluster="inbound|9080||",
        local=_addr("10.0.0.2"),
        time_to_last_rx_byte_ns=1_000_000,
        time_to_first_upstream_tx_byte_ns=1_201_000_000,
    )
    (metric,) = _table(semantics, entry).metrics
    exported = skywalking_json(skywalking_metric(metric))["internalRequestLatencyNanos"]
    return metric.internal_request_latency_ns, exported


def _response_flags(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/productpage-http.bin", 13, 1), semantics)
    return [
        (sorted(flag.name for flag in m.response_flags), m.internal_error_code)
        for m in outcome.metrics
    ]


def _times(semantics: Semantics) -> object:
    outcome = _analyze(_recorded("envoy/details-http.bin", 0), semantics)
    return [(m.latency_ns, m.latency_ms) for m in outcome.metrics]


def _mx(name: str, message: int, entry: int | None, semantics: Semantics) -> Outcome:
    return _analyze(_recorded(name, message, entry), semantics, analyzers=("mx-mesh",))


def _mx_gateway_nothing(semantics: Semantics) -> object:
    outcome = _mx("mx/gateway.bin", 0, 1, semantics)
    return outcome.edges, outcome.skipped


def _mx_gateway_tcp(semantics: Semantics) -> object:
    outcome = _mx("mx/gateway.bin", 1, None, semantics)
    return outcome.edges, outcome.skipped


def _mx_gateway_order(semantics: Semantics) -> object:
    return [m.detect_point.value for m in _mx("mx/gateway.bin", 0, 0, semantics).metrics]


def _mx_both_generations(semantics: Semantics) -> object:
    return _mx("mx/reviews-sidecar-http.bin", 1, 0, semantics).edges


def _mx_string_peer(semantics: Semantics) -> object:
    outcome = _mx("envoy/details-http.bin", 0, None, semantics)
    return outcome.edges, outcome.skipped


def _mx_malformed_peer(semantics: Semantics) -> object:
    bad = AnyValue(
        type_url="type.googleapis.com/google.protobuf.BytesValue", value=b"\x01", known=True
    )
    entry = _entry(cluster="inbound|9080||", filter_state_objects={"wasm.downstream_peer": bad})
    node = Node(id=SIDECAR.id, metadata=FrozenMap({"NAME": "pp-1", "NAMESPACE": "default"}))
    outcome = _analyze(_stream(node, entry), semantics, analyzers=("mx-mesh",))
    return outcome.edges, outcome.skipped, outcome.diagnostics


def _mx_node_names_nothing(semantics: Semantics) -> object:
    peer = _struct({"NAME": "gw-1", "NAMESPACE": "istio-system"})
    entry = _entry(cluster="inbound|9080||", filter_state_objects={"downstream_peer": peer})
    node = Node(id=SIDECAR.id, metadata=FrozenMap({"ISTIO_VERSION": "1.22.0"}))
    outcome = _analyze(_stream(node, entry), semantics, analyzers=("mx-mesh",))
    return outcome.edges, outcome.skipped


def _mx_flat_node(semantics: Semantics) -> object:
    return _mx("mx/old-istio-sidecar.bin", 0, 0, semantics).edges


def _template_tail(semantics: Semantics) -> object:
    naming = KubernetesNaming(instance_rule="${pod.metadata.name}-canary")
    resolver = KubernetesResolver.from_file(LOOPBACK, naming=naming, semantics=semantics)
    found = resolver.resolve("127.0.0.3", None)
    assert found is not None
    return found.instance


def _list_index(semantics: Semantics) -> object:
    mapping = MetadataServiceMapping(service_instance_name="${INSTANCE_IPS.0}")
    peer = _struct({"NAME": "gw-1", "NAMESPACE": "istio-system", "INSTANCE_IPS": ("10.0.0.1",)})
    entry = _entry(cluster="inbound|9080||", filter_state_objects={"downstream_peer": peer})
    node = Node(
        id=SIDECAR.id,
        metadata=FrozenMap({"NAME": "pp-1", "NAMESPACE": "default", "INSTANCE_IPS": ("10.0.0.2",)}),
    )
    outcome = _analyze(_stream(node, entry), semantics, analyzers=("mx-mesh",), mapping=mapping)
    return [(m.source.instance, m.destination.instance) for m in outcome.metrics]


def _not_ready_pod(semantics: Semantics) -> object:
    return _analyze(_recorded("envoy/productpage-tcp.bin", 2), semantics).edges


MYSQL = ("client", "productpage.default", "-.default")
PEER_GW = ("server", "-.istio-system", "-.-")
CASES: dict[str, Case] = {
    "gateway entry without upstream (`UH`, `NR`, `NC`)": (
        _gateway_without_upstream,
        ([("server", "UNKNOWN", "istio-ingressgateway.istio-system")], {}),
        ([], {"skywalking-no-metric: gateway-without-upstream": 1}),
    ),
    "sidecar `PassthroughCluster`, `BlackHoleCluster`": (
        _special_cluster,
        ([("client", "productpage", "PassthroughCluster")], {}),
        ([], {"skywalking-no-metric: special-cluster": 1}),
    ),
    "sidecar `InboundPassthroughCluster*`": (
        _inbound_passthrough,
        ([("server", "gateway", "productpage")], {}),
        ([], {"skywalking-no-metric: special-cluster": 1}),
    ),
    "sidecar entry with an empty cluster": (
        _empty_cluster,
        ([("client", "productpage.default", "UNKNOWN")], {}),
        ([], {"skywalking-no-metric: no-istio-cluster": 1}),
    ),
    "sidecar outbound call without upstream host": (
        _outbound_without_upstream,
        ([("client", "productpage", "reviews")], {}),
        ([], {"skywalking-no-metric: outbound-without-upstream": 1}),
    ),
    "gateway whose local address is no IP": (
        _gateway_local_no_ip,
        ([("server", "productpage", "gateway"), ("client", "gateway", "reviews")], {}),
        ([], {"skywalking-no-metric: gateway-without-local-ip": 1}),
    ),
    "internal address whose `endpoint_id` is `ip:port`": (
        _internal_address,
        ([("server", "productpage", "gateway"), ("client", "gateway", "reviews")], {}),
        ([], {"skywalking-no-metric: gateway-without-upstream": 1}),
    ),
    "periodic and start-of-request entries": (
        _periodic_entry,
        ([], {"intermediate-entry": 1}),
        ([("server", "productpage", "productpage")], {}),
    ),
    "a stream's first message has no identifier": (
        _no_identifier,
        ([], {"no-identifier": 1}, 1),
        ([], {"no-identifier": 1}, 1),
    ),
    "ztunnel and Kmesh L4 connection logs (ambient mode)": (
        _l4_log,
        (11, {"intermediate-entry": 2}),
        (0, {"skywalking-no-metric: l4-connection": 13}),
    ),
    "resolving an address": (
        _resolving,
        [("client", "productpage", "reviews-on-9080")],
        [("client", "productpage", "reviews")],
    ),
    "sidecar inbound call from an IP no one can name": (
        _unnamed_inbound_caller,
        ([("server", "UNKNOWN", "UNKNOWN")], [""]),
        ([("server", "", "UNKNOWN")], [""]),
    ),
    "response code when none was sent (reset stream)": (
        _no_response_code,
        ([None], [200]),
        ([200], [200]),
    ),
    "status": (_grpc_status, [(5, False)], [(None, True)]),
    "protocol of plaintext gRPC": (_grpc_protocol, ["gRPC"], ["HTTP"]),
    "internal request/response latency": (
        _internal_latency,
        (1_201_000_000, "201000000"),  # 1.201 s; SkyWalking sends 0.201 s in both
        (1_201_000_000, "201000000"),
    ),
    "response flags": (
        _response_flags,
        [
            (
                ["UPSTREAM_CONNECTION_FAILURE", "UPSTREAM_RETRY_LIMIT_EXCEEDED"],
                "upstream_connection_failure",
            )
        ],
        [
            (
                ["UPSTREAM_CONNECTION_FAILURE", "UPSTREAM_RETRY_LIMIT_EXCEEDED"],
                "upstream_connection_failure",
            )
        ],
    ),
    "times": (_times, [(3_435_156, 3)], [(3_435_156, 3)]),
    "gateway entry without downstream peer nor upstream host (`NR`)": (
        _mx_gateway_nothing,
        ([("server", "UNKNOWN", "istio-ingressgateway.istio-system")], {}),
        ([], {"skywalking-no-metric: no-peer": 1}),
    ),
    "gateway TCP entry without downstream peer": (
        _mx_gateway_tcp,
        ([("server", "UNKNOWN", "istio-ingressgateway.istio-system")], {}),
        ([], {"skywalking-no-metric: no-peer": 1}),
    ),
    "the order of a gateway entry's two metrics": (
        _mx_gateway_order,
        ["server", "client"],
        ["client", "server"],
    ),
    "an entry with both key generations (`upstream_peer` and `wasm.upstream_peer`)": (
        _mx_both_generations,
        [("server", "productpage.bookinfo", "reviews.bookinfo")],
        [
            ("server", "productpage.bookinfo", "reviews.bookinfo"),
            ("server", "-.bookinfo", "reviews.bookinfo"),
        ],
    ),
    "a peer in a `StringValue` (the `x-envoy-peer-metadata` header copied by `set_filter_state`)": (
        _mx_string_peer,
        ([("server", "productpage.default", "details.default")], {}),
        ([], {"skywalking-no-metric: no-peer": 1}),
    ),
    "a peer value that cannot be decoded": (
        _mx_malformed_peer,
        ([], {"malformed-peer": 1}, 1),
        ([], {"skywalking-no-metric: no-peer": 1}, 0),
    ),
    "node metadata that names nothing": (
        _mx_node_names_nothing,
        ([], {"no-local-identity": 1}),
        ([PEER_GW], {}),
    ),
    "Istio 1.1's flat node metadata (`POD_NAME`, labels at the top level)": (
        _mx_flat_node,
        [("server", "productpage.default", "reviews.default")],
        [("server", "productpage.default", "-.-")],
    ),
    "literal text after the last placeholder (`${pod.metadata.name}-canary`, `${NAME}-canary`)": (
        _template_tail,
        "reviews-v1-rvw-canary",
        "reviews-v1-rvw",
    ),
    "list indexes in templates (`${serviceEntry.spec.hosts.0}`, `${INSTANCE_IPS.0}`)": (
        _list_index,
        [("10.0.0.1", "10.0.0.2")],
        [("10.0.0.1", "10.0.0.2")],
    ),
    "a pod listed only as not ready, or only by an EndpointSlice (Kubernetes snapshot)": (
        _not_ready_pod,
        [MYSQL],
        [("client", "productpage.default", "UNKNOWN")],
    ),
}


def _rows() -> list[str]:
    """The first cell of every table row of the page (headers and separators left out)."""
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (.+?) \|", line)
        if match and not line.startswith("|---") and match[1] not in ("case", "field"):
            rows.append(match[1])
    return rows


ROWS = _rows()


def test_every_case_has_its_row() -> None:
    assert sorted(set(CASES) - set(ROWS)) == []
    assert len(ROWS) == len(set(ROWS)) == 29


@pytest.mark.parametrize("row", ROWS)
def test_row(row: str) -> None:
    assert row in CASES, f"the differences page has a row without a case here: {row!r}"
    answer, meshals_answer, skywalking_answer = CASES[row]
    assert answer("meshals") == meshals_answer
    assert answer("skywalking") == skywalking_answer
