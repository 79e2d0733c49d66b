"""KubernetesResolver over offline snapshots: the fixtures, each naming rule, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import ResolverError, StaticResolver
from meshals.model._service import ServiceMetaInfo
from meshals.resolve._k8s_naming import KubernetesNaming
from meshals.resolve._kubernetes import KubernetesResolver
from meshals.resolve._protocol import Resolver
from meshals.resolve._templates import NameTemplate

FIXTURES = Path(__file__).parents[1] / "fixtures"
K8S = FIXTURES / "k8s"
CLUSTER = K8S / "cluster.json"
SERVICE_ENTRIES = K8S / "serviceentries.json"
LOOPBACK = K8S / "bookinfo-loopback.json"

# (service, instance, namespace, tags) or None for unknown.
Expected = tuple[str, str, str, dict[str, str]] | None


def _bookinfo(app: str, pod: str, version: str = "v1") -> Expected:
    return (f"{app}.bookinfo", f"{pod}.bookinfo", "bookinfo", {"app": app, "version": version})


PRODUCTPAGE = _bookinfo("productpage", "productpage-v1-d5789fdfb-x7kqp")
REVIEWS_V1 = _bookinfo("reviews", "reviews-v1-5b5d6494f4-9tq2l")
REVIEWS_V2 = _bookinfo("reviews", "reviews-v2-5b667bcbf8-kx4vn", "v2")
GATEWAY: Expected = (
    "istio-ingressgateway.istio-system",
    "istio-ingressgateway-7f8878b6b4-q4wzs.istio-system",
    "istio-system",
    {"app": "istio-ingressgateway"},
)
REDIS_0: Expected = ("redis.shop", "redis-0.shop", "shop", {"app": "redis"})
EXTERNAL_DB: Expected = ("db.example.com", "external-db", "bookinfo", {})
LEGACY_VMS: Expected = ("legacy.bookinfo.internal", "legacy-vms", "bookinfo", {})
FLEET: Expected = ("metrics.fleet.internal", "vm-fleet", "kube-system", {})

# With the default rules: SkyWalking's shipped service rule and <pod>.<namespace>.
CLUSTER_CASES: list[tuple[str, Expected]] = [
    ("10.244.1.10", _bookinfo("details", "details-v1-65cfcf56f9-h2mzn")),
    ("10.244.1.11", _bookinfo("ratings", "ratings-v1-7c9bd4b87f-p8w4r")),
    ("10.244.1.12", PRODUCTPAGE),
    ("fd00:10:244:1::c", PRODUCTPAGE),  # the pod's IPv6 address, from the IPv6 slice
    ("fd00:10:244:1:0:0:0:c", PRODUCTPAGE),
    ("10.244.1.13", REVIEWS_V1),  # not the finished Job pod that had this IP before
    ("fd00:10:244:1::d", REVIEWS_V1),
    ("10.244.1.14", REVIEWS_V2),
    ("10.244.1.15", _bookinfo("reviews", "reviews-v3-5b9bd44f4-zl2wq", "v3")),
    ("10.244.0.7", GATEWAY),
    ("fd00:10:244::7", GATEWAY),
    ("::ffff:10.244.0.7", GATEWAY),
    # No canonical-name label: SkyWalking's rule renders "-" for it.
    (
        "10.244.0.6",
        (
            "-.istio-system",
            "istiod-6bd4d9c7b5-2hxlt.istio-system",
            "istio-system",
            {"app": "istiod"},
        ),
    ),
    ("10.244.0.3", ("-.kube-system", "coredns-7db6d8ff4d-5kq7x.kube-system", "kube-system", {})),
    # In two services (catalog, catalog-admin): the first by namespace/name.
    (
        "10.244.1.20",
        (
            "catalog.shop",
            "catalog-6f7d9b8c5-m2xkq.shop",
            "shop",
            {"app": "catalog", "version": "v1"},
        ),
    ),
    # Behind the headless redis service; its IPv6 address is in no slice, found by targetRef.
    ("10.244.1.21", REDIS_0),
    ("fd00:10:244:1::15", REDIS_0),
    ("10.244.1.22", ("redis.shop", "redis-1.shop", "shop", {"app": "redis"})),
    ("10.244.1.30", None),  # debug-shell: behind no service
    ("10.244.1.99", None),  # nobody
    # Node IPs: hostNetwork pods (kube-proxy, node-exporter, the API server) share them.
    ("172.18.0.2", None),
    ("172.18.0.3", None),
    ("fc00:f853:ccd:e793::3", None),
    ("::ffff:172.18.0.3", None),
    # ClusterIPs are VIPs, not workloads.
    ("10.96.0.1", None),
    ("10.96.0.10", None),
    ("10.96.143.5", None),
    ("fd00:10:96::91d4", None),
    ("10.96.60.2", None),
    # ServiceEntries.
    (
        "192.168.10.21",
        (
            "legacy.bookinfo.internal",
            "192.168.10.21",
            "bookinfo",
            {"app": "legacy", "version": "v2"},
        ),
    ),
    (
        "192.168.10.22",
        (
            "legacy.bookinfo.internal",
            "192.168.10.22",
            "bookinfo",
            {"app": "legacy", "version": "v1"},
        ),
    ),
    ("192.168.10.50", LEGACY_VMS),  # the /24
    ("192.168.10.127", LEGACY_VMS),
    (
        "192.168.10.128",
        ("canary.legacy.bookinfo.internal", "legacy-canary", "bookinfo", {}),
    ),  # the /25
    ("192.168.11.1", None),
    ("203.0.113.10", EXTERNAL_DB),
    ("::ffff:203.0.113.10", EXTERNAL_DB),
    ("2001:db8:100::10", EXTERNAL_DB),
    ("203.0.113.11", None),
    ("240.240.0.5", None),  # resolution DNS: its addresses are not indexed
    (
        "2001:db8:42::7",
        ("metrics.fleet.internal", "2001:db8:42::7", "kube-system", {"version": "v3"}),
    ),
    ("2001:db8:42:ffff::1", FLEET),
    ("2001:db8:43::1", None),
    # Not addresses.
    ("", None),
    ("kind-worker", None),
    ("10.244.1.12:9080", None),
]


def _as_expected(info: ServiceMetaInfo | None) -> Expected:
    if info is None:
        return None
    assert info.namespace is not None
    tags = dict(info.tags)
    if "pod" in tags:  # a pod's tags start with its name and namespace (tested below)
        assert list(tags)[:2] == ["pod", "namespace"]
        assert tags.pop("namespace") == info.namespace
        assert info.instance == f"{tags.pop('pod')}.{info.namespace}"
    return (info.service, info.instance, info.namespace, tags)


@pytest.fixture(scope="module")
def cluster() -> KubernetesResolver:
    naming = KubernetesNaming(tag_labels=("app", "version"))
    return KubernetesResolver.from_files([CLUSTER, SERVICE_ENTRIES], naming=naming)


@pytest.mark.parametrize(("ip", "expected"), CLUSTER_CASES)
def test_cluster_snapshot(cluster: KubernetesResolver, ip: str, expected: Expected) -> None:
    assert _as_expected(cluster.resolve(ip, None)) == expected
    assert cluster.resolve(ip, 9080) == cluster.resolve(ip, None)  # ports are ignored


def test_answers_do_not_depend_on_document_order() -> None:
    documents = [json.loads(path.read_text()) for path in (CLUSTER, SERVICE_ENTRIES)]
    forward = KubernetesResolver(*documents)
    backward = KubernetesResolver(
        *({**document, "items": document["items"][::-1]} for document in documents[::-1])
    )
    for ip, _ in CLUSTER_CASES:
        assert forward.resolve(ip, None) == backward.resolve(ip, None), ip


BLOG_RULE = "${service.metadata.name}-${pod.metadata.labels.version}"


@pytest.mark.parametrize(
    ("ip", "service"),
    [
        ("10.244.1.13", "reviews-v1"),
        ("10.244.1.14", "reviews-v2"),
        ("10.244.1.15", "reviews-v3"),
        ("10.244.1.12", "productpage-v1"),
        ("10.244.1.20", "catalog-v1"),  # not catalog-admin
        ("10.244.1.21", "redis--"),  # redis pods have no version label
    ],
)
def test_service_rule_from_the_skywalking_blog(ip: str, service: str) -> None:
    naming = KubernetesNaming(service_rule=BLOG_RULE, instance_rule="${pod.metadata.name}")
    resolver = KubernetesResolver.from_file(CLUSTER, naming=naming)
    info = resolver.resolve(ip, None)
    assert info is not None
    assert info.service == service


# --- the snapshot of the real Envoy recordings -------------------------------------------------

GROUND_TRUTH = json.loads((FIXTURES / "envoy" / "ground_truth.json").read_text())
LOOPBACK_NAMING = KubernetesNaming(
    service_rule="${pod.metadata.labels.app}", instance_rule="${pod.metadata.name}"
)


def _recorded_ips() -> list[str]:
    """Every IP the recordings mention: pods, VIPs, the outside client, stream addresses."""
    ips = set(GROUND_TRUTH["resolver"]) | set(GROUND_TRUTH["service_vips"])
    ips.add(GROUND_TRUTH["external_client_ip"])
    for stream in GROUND_TRUTH["streams"].values():
        for entry in stream["entries"]:
            ips.add(entry["downstream_remote_ip"])
            for field in ("downstream_local_address", "upstream_remote_address"):
                if entry.get(field):
                    ips.add(entry[field].rpartition(":")[0])
    return sorted(ips)


LOOPBACK_RESOLVER = KubernetesResolver.from_file(LOOPBACK, naming=LOOPBACK_NAMING)
GROUND_TRUTH_RESOLVER = StaticResolver.from_mapping(GROUND_TRUTH["resolver"])


@pytest.mark.parametrize("ip", sorted(GROUND_TRUTH["resolver"]))
def test_loopback_snapshot_names_every_pod_as_the_ground_truth(ip: str) -> None:
    info = LOOPBACK_RESOLVER.resolve(ip, None)
    assert info is not None
    assert {"service": info.service, "instance": info.instance} == GROUND_TRUTH["resolver"][ip]
    assert info.namespace == ("istio-system" if ip == "127.0.0.1" else "default")


@pytest.mark.parametrize("ip", _recorded_ips())
def test_loopback_snapshot_equals_the_ground_truth_resolver(ip: str) -> None:
    found = LOOPBACK_RESOLVER.resolve(ip, None)
    expected = GROUND_TRUTH_RESOLVER.resolve(ip, None)
    assert ((found.service, found.instance) if found else None) == (
        (expected.service, expected.instance) if expected else None
    )


def test_recorded_ips_cover_pods_vips_and_the_client() -> None:
    ips = _recorded_ips()
    assert len(ips) == 16
    assert {"127.0.0.9", "127.0.1.2", "127.0.0.8"} <= set(ips)


def test_loopback_snapshot_with_the_default_rules() -> None:
    resolver = KubernetesResolver.from_file(LOOPBACK)
    assert _as_expected(resolver.resolve("127.0.0.3", None)) == (
        "reviews.default",
        "reviews-v1-rvw.default",
        "default",
        {
            "app": "reviews",
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": "reviews",
            "service.istio.io/canonical-revision": "v1",
            "version": "v1",
        },
    )
    # ratings has no sidecar, so no canonical-name label.
    assert _as_expected(resolver.resolve("127.0.0.5", None)) == (
        "-.default",
        "ratings-v1-rtg.default",
        "default",
        {"app": "ratings", "version": "v1"},
    )
    assert resolver.resolve("127.0.0.254", None) is None  # the node


# --- hand-made objects ---------------------------------------------------------------------


def _pod(
    name: str,
    ips: list[str],
    *,
    namespace: str = "ns",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    host_network: bool = False,
) -> dict[str, object]:
    status: dict[str, object] = {"phase": phase}
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"hostNetwork": host_network} if host_network else {},
        "status": status,
    }


def _endpoints(
    service: str,
    ips: list[str],
    *,
    namespace: str = "ns",
    pods: list[str | None] | None = None,
    not_ready: list[str] | None = None,
) -> dict[str, object]:
    def address(ip: str, pod: str | None) -> dict[str, object]:
        found: dict[str, object] = {"ip": ip}
        if pod is not None:
            found["targetRef"] = {"kind": "Pod", "name": pod, "namespace": namespace}
        return found

    subset: dict[str, object] = {
        "addresses": [
            address(ip, pod) for ip, pod in zip(ips, pods or [None] * len(ips), strict=True)
        ]
    }
    if not_ready:
        subset["notReadyAddresses"] = [address(ip, None) for ip in not_ready]
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": service, "namespace": namespace},
        "subsets": [subset],
    }


def _slice(
    service: str | None,
    endpoints: list[dict[str, object]],
    *,
    name: str = "slice-abcde",
    namespace: str = "ns",
    address_type: str = "IPv4",
) -> dict[str, object]:
    labels = {} if service is None else {"kubernetes.io/service-name": service}
    return {
        "addressType": address_type,
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "endpoints": endpoints,
    }


def _service(name: str, cluster_ip: str, *, namespace: str = "ns") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": cluster_ip, "type": "ClusterIP"},
    }


def _service_entry(
    name: str,
    spec: dict[str, object],
    *,
    namespace: str = "ns",
    api_version: str = "networking.istio.io/v1",
) -> dict[str, object]:
    return {
        "apiVersion": api_version,
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": [f"{name}.example.com"], **spec},
    }


def _list(*items: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


BY_SERVICE = KubernetesNaming(
    service_rule="${service.metadata.name}", instance_rule="${pod.metadata.name}"
)


def _names(resolver: KubernetesResolver, ip: str) -> tuple[str, str] | None:
    info = resolver.resolve(ip, None)
    return (info.service, info.instance) if info else None


def test_endpoints_by_ip_alone() -> None:
    resolver = KubernetesResolver(
        _list(_pod("a-0", ["10.0.0.1"]), _endpoints("a", ["10.0.0.1"])), naming=BY_SERVICE
    )
    assert _names(resolver, "10.0.0.1") == ("a", "a-0")


def test_not_ready_addresses_count() -> None:
    resolver = KubernetesResolver(
        _list(_pod("a-0", ["10.0.0.1"]), _endpoints("a", [], not_ready=["10.0.0.1"])),
        naming=BY_SERVICE,
    )
    assert _names(resolver, "10.0.0.1") == ("a", "a-0")


def test_endpoint_slices_by_ip_and_by_target_ref() -> None:
    slice_ = _slice(
        "b",
        [
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            {
                "addresses": ["10.0.0.3"],
                "targetRef": {"kind": "Pod", "name": "b-1", "namespace": "ns"},
            },
        ],
    )
    resolver = KubernetesResolver(
        _list(_pod("b-0", ["10.0.0.2"]), _pod("b-1", ["10.0.0.33", "fd00::33"]), slice_),
        naming=BY_SERVICE,
    )
    assert _names(resolver, "10.0.0.2") == ("b", "b-0")
    assert _names(resolver, "fd00::33") == ("b", "b-1")  # via targetRef
    assert _names(resolver, "10.0.0.3") is None  # a listed IP that no pod has


def test_slices_without_a_service_or_with_fqdn_addresses() -> None:
    resolver = KubernetesResolver(
        _list(
            _pod("c-0", ["10.0.0.4"]),
            _slice(None, [{"addresses": ["10.0.0.4"]}], name="custom"),
            _slice("c", [{"addresses": ["c-0.example.com"]}], address_type="FQDN"),
        ),
        naming=BY_SERVICE,
    )
    assert _names(resolver, "10.0.0.4") is None


def test_a_service_missing_from_the_snapshot_is_named_by_its_endpoints() -> None:
    naming = KubernetesNaming(service_rule="${service.metadata.name}/${service.spec.type}")
    resolver = KubernetesResolver(
        _list(_pod("d-0", ["10.0.0.5"]), _endpoints("d", ["10.0.0.5"])), naming=naming
    )
    assert _names(resolver, "10.0.0.5") == ("d/-", "d-0.ns")
    with_service = KubernetesResolver(
        _list(_pod("d-0", ["10.0.0.5"]), _endpoints("d", ["10.0.0.5"]), _service("d", "10.1.0.5")),
        naming=naming,
    )
    assert _names(with_service, "10.0.0.5") == ("d/ClusterIP", "d-0.ns")


def test_multi_service_pods_take_the_first_service_by_namespace_and_name() -> None:
    pod = _pod("e-0", ["10.0.0.6"])
    objects = [_endpoints(name, ["10.0.0.6"]) for name in ("zeta", "alpha", "mid")]
    for order in (objects, objects[::-1]):
        resolver = KubernetesResolver(_list(pod, *order), naming=BY_SERVICE)
        assert _names(resolver, "10.0.0.6") == ("alpha", "e-0")


def test_pods_sharing_an_ip_prefer_running_ones_then_namespace_and_name() -> None:
    objects = [
        _pod("old", ["10.0.0.7"], phase="Succeeded"),
        _pod("new-b", ["10.0.0.7"]),
        _pod("new-a", ["10.0.0.7"], phase="Pending"),
        _endpoints("svc", ["10.0.0.7"]),
    ]
    for order in (objects, objects[::-1]):
        assert _names(KubernetesResolver(_list(*order), naming=BY_SERVICE), "10.0.0.7") == (
            "svc",
            "new-a",
        )
    finished_only = [_pod("old", ["10.0.0.7"], phase="Failed"), _endpoints("svc", ["10.0.0.7"])]
    assert _names(KubernetesResolver(_list(*finished_only), naming=BY_SERVICE), "10.0.0.7") == (
        "svc",
        "old",
    )


def test_host_network_pods_are_never_named_even_without_node_objects() -> None:
    resolver = KubernetesResolver(
        _list(
            _pod("agent", ["192.168.1.5"], host_network=True), _endpoints("agent", ["192.168.1.5"])
        ),
        naming=BY_SERVICE,
    )
    assert resolver.resolve("192.168.1.5", None) is None


def test_node_and_cluster_ips_stay_unknown_even_when_a_pod_claims_them() -> None:
    node: dict[str, object] = {
        "kind": "Node",
        "metadata": {"name": "n1"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.6"},
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalDNS", "address": "n1.internal"},
            ]
        },
    }
    resolver = KubernetesResolver(
        _list(
            node,
            _pod("odd", ["192.168.1.6", "10.96.0.7"]),  # hostNetwork left out
            _endpoints("odd", ["192.168.1.6"]),
            _service("odd", "10.96.0.7"),
        )
    )
    assert resolver.resolve("192.168.1.6", None) is None
    assert resolver.resolve("10.96.0.7", None) is None


def test_pods_without_ips_and_pods_behind_no_service() -> None:
    resolver = KubernetesResolver(
        _list(_pod("pending", [], phase="Pending"), _pod("lonely", ["10.0.0.8"]))
    )
    assert resolver.resolve("10.0.0.8", None) is None


def test_later_documents_replace_earlier_objects() -> None:
    first = json.dumps(_list(_pod("f-0", ["10.0.0.9"]), _endpoints("f", ["10.0.0.9"])))
    second = json.dumps(_list(_pod("f-0", ["10.0.0.10"])))
    resolver = KubernetesResolver.from_json(first, second, naming=BY_SERVICE)
    assert resolver.resolve("10.0.0.9", None) is None
    assert _names(resolver, "10.0.0.10") is None  # no longer listed by the endpoints
    resolver = KubernetesResolver.from_json(
        first, json.dumps(_endpoints("f", [], not_ready=["10.0.0.9"])), naming=BY_SERVICE
    )
    assert _names(resolver, "10.0.0.9") == ("f", "f-0")


def test_typed_lists_and_single_objects() -> None:
    pod = _pod("g-0", ["10.0.0.11"])
    del pod["kind"]
    pod_list = {"apiVersion": "v1", "kind": "PodList", "items": [pod]}
    resolver = KubernetesResolver(pod_list, _endpoints("g", ["10.0.0.11"]), naming=BY_SERVICE)
    assert _names(resolver, "10.0.0.11") == ("g", "g-0")


def test_unknown_kinds_are_ignored() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": 7}
    not_istio = _service_entry("h", {"addresses": ["10.9.0.0/16"]}, api_version="example.com/v1")
    resolver = KubernetesResolver(_list(config_map, not_istio))
    assert resolver.resolve("10.9.0.1", None) is None
    assert repr(resolver) == "<KubernetesResolver: 0 addresses, 0 networks>"


SERVICE_ENTRY_CASES: list[tuple[str, tuple[str, str] | None]] = [
    ("10.20.0.1", ("none.example.com", "none")),  # no resolution given: NONE
    ("10.21.0.1", ("static.example.com", "static")),
    ("10.21.0.9", ("static.example.com", "10.21.0.9")),  # an endpoint
    ("172.22.0.1", None),  # DNS_ROUND_ROBIN: addresses not indexed
    ("10.23.0.1", ("a-first.example.com", "a-first")),  # same CIDR twice: first by name
    ("10.1.0.5", ("mapped.example.com", "mapped")),  # an IPv4-mapped IPv6 CIDR
    ("10.0.0.12", None),  # a pod IP: the pod rules decide (behind no service)
]


@pytest.mark.parametrize(("ip", "expected"), SERVICE_ENTRY_CASES)
def test_service_entries(ip: str, expected: tuple[str, str] | None) -> None:
    resolver = KubernetesResolver(
        _list(
            _pod("lonely", ["10.0.0.12"]),
            _service_entry("none", {"addresses": ["10.20.0.0/16"]}),
            _service_entry(
                "static",
                {
                    "addresses": ["10.21.0.0/16", "10.0.0.0/8"],
                    "resolution": "STATIC",
                    "endpoints": [
                        {"address": "10.21.0.9"},
                        {"address": "10.0.0.12"},
                        {"address": "unix:///var/run/app.sock"},
                        {"address": "fe80::1%eth0"},
                        {"address": "legacy.internal"},
                    ],
                },
            ),
            _service_entry(
                "dns", {"addresses": ["172.22.0.0/16"], "resolution": "DNS_ROUND_ROBIN"}
            ),
            _service_entry("b-second", {"addresses": ["10.23.0.0/16"]}),
            _service_entry("a-first", {"addresses": ["10.23.0.0/16"]}),
            _service_entry("mapped", {"addresses": ["::ffff:10.1.0.0/112"]}),
        )
    )
    assert _names(resolver, ip) == expected


def test_service_entry_rules_can_be_changed() -> None:
    naming = KubernetesNaming(
        service_entry_rule="${serviceEntry.metadata.namespace}/${serviceEntry.spec.hosts.1,serviceEntry.spec.hosts.0}",
        service_entry_instance_rule="${endpoint.labels.instance,serviceEntry.metadata.name}",
        tag_labels=["region"],
    )
    entry = _service_entry(
        "vm",
        {
            "hosts": ["vm.internal", "vm.example.com"],
            "resolution": "STATIC",
            "endpoints": [{"address": "10.30.0.1", "labels": {"instance": "vm-7", "region": "eu"}}],
        },
    )
    info = KubernetesResolver(entry, naming=naming).resolve("10.30.0.1", None)
    assert info == ServiceMetaInfo(
        service="ns/vm.example.com", instance="vm-7", namespace="ns", tags={"region": "eu"}
    )


def test_tag_labels() -> None:
    labels = {"app": "r", "version": "v9", "security.istio.io/tlsMode": "istio"}
    objects = _list(_pod("r-0", ["10.0.0.13"], labels=labels), _endpoints("r", ["10.0.0.13"]))
    default = KubernetesResolver(objects).resolve("10.0.0.13", None)
    assert default is not None
    # SkyWalking's instance properties: pod, namespace, then every label by name.
    assert list(default.tags.items()) == [
        ("pod", "r-0"),
        ("namespace", "ns"),
        ("app", "r"),
        ("security.istio.io/tlsMode", "istio"),
        ("version", "v9"),
    ]
    naming = KubernetesNaming(tag_labels=("security.istio.io/tlsMode", "missing"))
    chosen = KubernetesResolver(objects, naming=naming).resolve("10.0.0.13", None)
    assert chosen is not None
    assert dict(chosen.tags) == {
        "pod": "r-0",
        "namespace": "ns",
        "security.istio.io/tlsMode": "istio",
    }
    assert KubernetesNaming(tag_labels=[]).tag_labels == ()


NAMING_ERRORS: list[tuple[dict[str, object], str]] = [
    (
        {"service_rule": "${pods.metadata.name}"},
        "service_rule '${pods.metadata.name}', column 3: "
        "unknown variable 'pods' (expected pod, service)",
    ),
    (
        {"instance_rule": "${pod.metadata.name"},
        "instance_rule '${pod.metadata.name', column 1: unclosed '${'",
    ),
    (
        {"service_entry_rule": "${pod.metadata.name}"},
        "service_entry_rule '${pod.metadata.name}', column 3: "
        "unknown variable 'pod' (expected endpoint, serviceEntry)",
    ),
    ({"service_entry_instance_rule": ""}, "service_entry_instance_rule '': empty template"),
    ({"tag_labels": "version"}, "tag_labels: expected a collection of label names, not a string"),
]


@pytest.mark.parametrize(("options", "message"), NAMING_ERRORS)
def test_naming_errors_name_the_rule(options: dict[str, object], message: str) -> None:
    with pytest.raises(ResolverError) as info:
        KubernetesNaming(**options)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_naming_accepts_templates_and_compares_by_value() -> None:
    naming = KubernetesNaming(service_rule=NameTemplate("${pod.metadata.labels.app}"))
    assert naming == KubernetesNaming(service_rule="${pod.metadata.labels.app}")
    assert naming.service_rule == NameTemplate("${pod.metadata.labels.app}")
    assert KubernetesNaming().instance_rule == NameTemplate(
        "${pod.metadata.name}.${pod.metadata.namespace}"
    )
    assert KubernetesNaming().service_entry_rule == NameTemplate("${serviceEntry.spec.hosts.0}")
    with pytest.raises(ResolverError, match="unknown variable 'serviceEntry'"):
        KubernetesNaming(service_rule=NameTemplate("${serviceEntry.spec.hosts.0}"))


MALFORMED: list[tuple[object, str]] = [
    ([], "$: expected a JSON object: a v1 List or one Kubernetes object"),
    ({"kind": "List", "items": {}}, "$.items: expected a list"),
    ({"kind": "List", "items": ["pod"]}, "$.items[0]: expected an object"),
    ({"kind": "List", "items": [{"metadata": {}}]}, "$.items[0]: missing 'kind'"),
    ({"kind": 7, "items": []}, "$.kind: expected a string"),
    (
        {"kind": "Pod", "metadata": {"namespace": "a"}},
        "$.metadata.name: missing: expected a non-empty string",
    ),
    ({"kind": "Pod"}, "$.metadata.namespace: missing: expected a non-empty string"),
    ({"kind": "Pod", "metadata": []}, "$.metadata: expected an object"),
    (
        {**_pod("p", []), "status": {"podIP": "10.0.0.300"}},
        "$.status.podIP: '10.0.0.300' is not an IP address",
    ),
    ({**_pod("p", []), "status": {"podIPs": "10.0.0.1"}}, "$.status.podIPs: expected a list"),
    (
        {**_pod("p", []), "status": {"podIPs": [{}]}},
        "$.status.podIPs[0].ip: missing: expected a non-empty string",
    ),
    (
        {**_pod("p", []), "status": {"podIPs": [{"ip": 1}]}},
        "$.status.podIPs[0].ip: expected a string",
    ),
    (
        {**_pod("p", []), "spec": {"hostNetwork": "yes"}},
        "$.spec.hostNetwork: expected true or false",
    ),
    ({**_pod("p", []), "status": {"phase": 1}}, "$.status.phase: expected a string"),
    (
        {**_pod("p", []), "metadata": {"name": "p", "namespace": "n", "labels": {"app": 1}}},
        "$.metadata.labels.app: expected a string",
    ),
    (
        {**_pod("p", []), "metadata": {"name": "p", "namespace": "n", "labels": ["app"]}},
        "$.metadata.labels: expected an object",
    ),
    (_service("s", "10.96.0.300"), "$.spec.clusterIP: '10.96.0.300' is not an IP address"),
    (
        {**_service("s", "None"), "spec": {"clusterIPs": ["None", "x"]}},
        "$.spec.clusterIPs[1]: 'x' is not an IP address",
    ),
    (
        {**_endpoints("s", []), "subsets": [{"addresses": [{"hostname": "a"}]}]},
        "$.subsets[0].addresses[0].ip: missing: expected a non-empty string",
    ),
    (
        {
            **_endpoints("s", []),
            "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod"}}]}],
        },
        "$.subsets[0].notReadyAddresses[0].targetRef.name: missing: expected a non-empty string",
    ),
    (_slice("s", [{"addresses": "10.0.0.1"}]), "$.endpoints[0].addresses: expected a list"),
    (
        _slice("s", [{"addresses": ["10.0.0.1%eth0"]}]),
        "$.endpoints[0].addresses[0]: "
        "'10.0.0.1%eth0' has a zone id: tables cannot use one (lookups ignore zones)",
    ),
    (
        {
            "kind": "Node",
            "metadata": {"name": "n"},
            "status": {"addresses": [{"type": "InternalIP", "address": "n"}]},
        },
        "$.status.addresses[0].address: 'n' is not an IP address",
    ),
    ({"kind": "Node", "metadata": {}}, "$.metadata.name: missing: expected a non-empty string"),
    (
        _service_entry("se", {"addresses": ["10.0.0.0/33"]}),
        "$.spec.addresses[0]: not an IP address or CIDR: "
        "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
    ),
    (
        _service_entry("se", {"addresses": ["fe80::%eth0/64"]}),
        "$.spec.addresses[0]: not an IP address or CIDR: 'fe80::%eth0/64' has a zone id",
    ),
    (
        _service_entry("se", {"addresses": [None]}),
        "$.spec.addresses[0]: missing: expected a non-empty string",
    ),
    (
        _service_entry("se", {"endpoints": [{"address": 5}]}),
        "$.spec.endpoints[0].address: expected a string",
    ),
    (
        _service_entry("se", {"endpoints": [{"address": "10.0.0.1", "labels": {"v": None}}]}),
        "$.spec.endpoints[0].labels.v: expected a string",
    ),
]


@pytest.mark.parametrize(("document", "message"), MALFORMED)
def test_malformed_snapshots_say_where(document: object, message: str) -> None:
    with pytest.raises(ResolverError) as info:
        KubernetesResolver.from_json(json.dumps(_list()), json.dumps(document))
    assert str(info.value) == f"<json 2>, {message}"


def test_malformed_input_from_files_and_dicts_names_the_source(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(_list(_pod("p", ["10.0.0.x"]))), encoding="utf-8")
    with pytest.raises(ResolverError) as info:
        KubernetesResolver.from_files([CLUSTER, path])
    assert str(info.value) == f"{path}, $.items[0].status.podIP: '10.0.0.x' is not an IP address"
    with pytest.raises(ResolverError) as info:
        KubernetesResolver(_list(), _list({"kind": "Pod"}))
    assert str(info.value) == (
        "<document 2>, $.items[0].metadata.namespace: missing: expected a non-empty string"
    )
    with pytest.raises(ResolverError) as info:
        KubernetesResolver.from_json('{"kind": "List", "items": [}')
    assert str(info.value).startswith("<json 1>: not valid JSON: Expecting value (line 1")
    with pytest.raises(FileNotFoundError):
        KubernetesResolver.from_file(tmp_path / "missing.json")


def test_no_documents_know_nothing() -> None:
    assert KubernetesResolver().resolve("10.0.0.1", None) is None
    assert KubernetesResolver.from_json().resolve("10.0.0.1", None) is None


def test_repr_and_naming(cluster: KubernetesResolver) -> None:
    assert repr(cluster) == "<KubernetesResolver: 51 addresses, 5 networks>"
    assert cluster.naming == KubernetesNaming(tag_labels=("app", "version"))


def test_satisfies_the_resolver_protocol(cluster: KubernetesResolver) -> None:
    resolver: Resolver = cluster  # checked statically by mypy
    assert resolver.resolve("10.244.1.12", 9080) is not None


FUZZ_RESOLVER = KubernetesResolver.from_files([CLUSTER, SERVICE_ENTRIES])
KNOWN_ANSWERS = [None, *(FUZZ_RESOLVER.resolve(ip, None) for ip, _ in CLUSTER_CASES)]


@given(st.text(max_size=50), st.one_of(st.none(), st.integers()))
def test_lookups_never_raise(ip: str, port: int | None) -> None:
    answer = FUZZ_RESOLVER.resolve(ip, port)
    assert answer is None or isinstance(answer, ServiceMetaInfo)


@given(st.ip_addresses())
def test_lookups_of_any_address_give_a_known_answer(address: object) -> None:
    assert FUZZ_RESOLVER.resolve(str(address), None) in KNOWN_ANSWERS
