"""Istio's workload of a pod IP from a snapshot: owners, the override label, canonical labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshals import ResolverError
from meshals.model import IstioWorkload
from meshals.resolve import KubernetesResolver, KubernetesWorkloads

FIXTURES = Path(__file__).parent.parent / "fixtures" / "k8s"


def pod(
    name: str,
    ip: str,
    *,
    labels: dict[str, str] | None = None,
    generate_name: str | None = None,
    owner: tuple[str, str] | None = None,
    controller: bool = True,
    host_network: bool = False,
) -> dict[str, object]:
    metadata: dict[str, object] = {"name": name, "namespace": "shop", "labels": labels or {}}
    if generate_name is not None:
        metadata["generateName"] = generate_name
    if owner is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": controller}
        ]
    return {
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"serviceAccountName": "shop-sa", "hostNetwork": host_network},
        "status": {"phase": "Running", "podIP": ip},
    }


def workload_of(*pods: dict[str, object], ip: str = "10.0.0.1") -> IstioWorkload | None:
    return KubernetesWorkloads({"kind": "List", "items": list(pods)}).workload(ip)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # a Deployment's pod: the ReplicaSet less its pod-template-hash
        (
            {
                "generate_name": "reviews-v1-7d8f9c-",
                "owner": ("ReplicaSet", "reviews-v1-7d8f9c"),
                "labels": {"pod-template-hash": "7d8f9c"},
            },
            "reviews-v1",
        ),
        # a ReplicaSet whose name does not end in the hash is the workload itself
        (
            {
                "generate_name": "rs-",
                "owner": ("ReplicaSet", "rs"),
                "labels": {"pod-template-hash": "x"},
            },
            "rs",
        ),
        # a CronJob's Job: <cronjob>-<8 to 10 digits>
        ({"generate_name": "backup-28950240-", "owner": ("Job", "backup-28950240")}, "backup"),
        ({"generate_name": "once-", "owner": ("Job", "once")}, "once"),
        ({"generate_name": "db-", "owner": ("StatefulSet", "db")}, "db"),
        # no generateName, or no controlling owner: the pod's own name
        ({"owner": ("ReplicaSet", "reviews-v1-7d8f9c")}, "reviews-v1-7d8f9c-abcde"),
        (
            {"generate_name": "x-", "owner": ("ReplicaSet", "x"), "controller": False},
            "reviews-v1-7d8f9c-abcde",
        ),
        # the override label wins over everything
        (
            {
                "generate_name": "db-",
                "owner": ("StatefulSet", "db"),
                "labels": {"service.istio.io/workload-name": "orders"},
            },
            "orders",
        ),
    ],
)
def test_the_workload_name(kwargs: dict[str, object], expected: str) -> None:
    found = workload_of(pod("reviews-v1-7d8f9c-abcde", "10.0.0.1", **kwargs))  # type: ignore[arg-type]
    assert found is not None
    assert found.workload == expected


@pytest.mark.parametrize(
    ("labels", "canonical"),
    [
        (
            {
                "service.istio.io/canonical-name": "reviews-c",
                "service.istio.io/canonical-revision": "r7",
                "app.kubernetes.io/name": "k8s-name",
                "app": "reviews",
                "version": "v1",
            },
            ("reviews-c", "r7"),
        ),
        (
            {"app.kubernetes.io/name": "k8s-name", "app.kubernetes.io/version": "2.0", "app": "a"},
            ("k8s-name", "2.0"),
        ),
        ({"app": "reviews", "version": "v1"}, ("reviews", "v1")),
        ({}, ("pod-1", "latest")),  # the workload, and Istio's default revision
    ],
)
def test_canonical_labels_and_their_fallbacks(
    labels: dict[str, str], canonical: tuple[str, str]
) -> None:
    found = workload_of(pod("pod-1", "10.0.0.1", labels=labels))
    assert found is not None
    assert (found.canonical_service, found.canonical_revision) == canonical
    assert (found.app, found.version) == (labels.get("app"), labels.get("version"))
    assert (found.namespace, found.service_account, found.cluster) == ("shop", "shop-sa", None)


def test_addresses_that_name_no_pod() -> None:
    shared = pod("on-the-node", "10.0.0.9", host_network=True)
    workloads = KubernetesWorkloads({"kind": "List", "items": [shared]})
    assert workloads.workload("10.0.0.9") is None  # hostNetwork: the node's IP
    assert workloads.workload("10.0.0.1") is None  # nobody
    assert workloads.workload("not an ip") is None
    assert workloads.service_of("10.0.0.9") is None


def test_a_running_pod_wins_over_a_finished_one_on_the_same_ip() -> None:
    done = pod("job-a", "10.0.0.1")
    done["status"] = {"phase": "Succeeded", "podIP": "10.0.0.1"}
    running = pod("web-z", "10.0.0.1")
    found = workload_of(done, running)
    assert found is not None
    assert found.workload == "web-z"


def test_the_bookinfo_snapshot_and_its_services() -> None:
    resolver = KubernetesResolver.from_file(FIXTURES / "bookinfo-loopback.json")
    workloads = resolver.workloads  # the resolver's snapshot, read once
    assert workloads.workload("127.0.0.5") == IstioWorkload(
        workload="ratings-v1-rtg",  # no owner references in this snapshot: the pod's name
        namespace="default",
        canonical_service="ratings",
        canonical_revision="v1",
        app="ratings",
        version="v1",
        service_account="bookinfo-ratings",
    )
    assert workloads.service_of("127.0.0.3") == ("reviews", "default")
    assert workloads.workload("127.0.1.3") is None  # a ClusterIP
    same = KubernetesWorkloads.from_files([FIXTURES / "bookinfo-loopback.json"])
    assert same.workload("127.0.0.5") == workloads.workload("127.0.0.5")
    assert repr(same) == "<KubernetesWorkloads: 8 pod addresses>"


def test_a_malformed_owner_reference_says_where() -> None:
    bad = pod("p", "10.0.0.1", generate_name="p-", owner=("ReplicaSet", "p"))
    bad["metadata"]["ownerReferences"][0]["name"] = 7  # type: ignore[index]
    with pytest.raises(ResolverError, match=r"ownerReferences\[0\]\.name"):
        KubernetesWorkloads({"kind": "List", "items": [bad]})


def endpoints(name: str, port: int) -> dict[str, object]:
    return {
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": port}]}],
    }


def test_the_service_on_a_port() -> None:
    slice_ = {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "metrics-x1",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "metrics"},
        },
        "endpoints": [{"addresses": ["10.0.0.1"]}],
        "ports": [{"port": 9090}],
    }
    items = [pod("web-1", "10.0.0.1"), endpoints("web", 8080), endpoints("admin", 8081), slice_]
    workloads = KubernetesWorkloads({"kind": "List", "items": items})
    assert workloads.service_of("10.0.0.1") == ("admin", "shop")  # the first by name
    assert workloads.service_of("10.0.0.1", 8080) == ("web", "shop")
    assert workloads.service_of("10.0.0.1", 9090) == ("metrics", "shop")
    assert workloads.service_of("10.0.0.1", 1) is None


def test_a_port_that_is_no_number_says_where() -> None:
    bad = endpoints("web", 8080)
    bad["subsets"][0]["ports"][0]["port"] = "http"  # type: ignore[index]
    with pytest.raises(ResolverError, match=r"subsets\[0\]\.ports\[0\]\.port"):
        KubernetesWorkloads({"kind": "List", "items": [pod("web-1", "10.0.0.1"), bad]})


def test_every_pod_with_its_labels() -> None:
    # With or without an IP (pending, hostNetwork), by (namespace, name); finished ones not:
    # the pods a selector could pick.
    done = pod("job-a", "10.0.0.1", labels={"app": "job"})
    done["status"] = {"phase": "Succeeded", "podIP": "10.0.0.1"}
    pending = pod("web-b", "", labels={"app": "web", "version": "v2"})
    pending["status"] = {"phase": "Pending"}
    node = pod("agent", "10.0.0.9", labels={"app": "agent"}, host_network=True)
    web = pod("web-a", "10.0.0.2", labels={"app": "web", "version": "v1"})
    pods = KubernetesWorkloads({"kind": "List", "items": [web, done, pending, node]}).pods()
    assert [(found.namespace, found.workload, dict(labels)) for found, labels in pods] == [
        ("shop", "agent", {"app": "agent"}),
        ("shop", "web-a", {"app": "web", "version": "v1"}),
        ("shop", "web-b", {"app": "web", "version": "v2"}),
    ]
