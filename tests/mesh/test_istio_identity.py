"""Who Istio's telemetry says the sides are: node and peer metadata, the snapshot's pods."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshals
from meshals import AlsMessage, Node
from meshals._values import FrozenMap
from meshals.mesh._istio_identity import (
    OwnWorkloads,
    discovered,
    metadata_workload,
    peer_workload,
)
from meshals.model import IstioWorkload
from meshals.resolve import KubernetesWorkloads

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_a_recorded_nodes_metadata() -> None:
    [first, *_] = meshals.read(FIXTURES / "envoy" / "reviews-http.bin")
    assert isinstance(first, AlsMessage)
    assert first.identifier is not None
    assert first.identifier.node is not None
    metadata = first.identifier.node.metadata
    assert metadata is not None
    assert metadata_workload(metadata) == IstioWorkload(
        workload="reviews-v1",
        namespace="default",
        canonical_service="reviews",
        canonical_revision="v1",
        app="reviews",
        version="v1",
        cluster="Kubernetes",
        service_account="bookinfo-reviews",
    )


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(
            {
                "WORKLOAD_NAME": "reviews-v2",
                "IDENTITY": "spiffe://cluster.local/ns/shop/sa/reviews",
                "LABELS": {
                    "app.kubernetes.io/name": "reviews-k8s",
                    "app": "reviews",
                    "app.kubernetes.io/version": "2.0",
                    "version": "v2",
                },
            },
            IstioWorkload(
                workload="reviews-v2",
                canonical_service="reviews-k8s",
                canonical_revision="2.0",
                app="reviews-k8s",  # the qualified labels first (metadata_object.cc)
                version="2.0",
                identity="spiffe://cluster.local/ns/shop/sa/reviews",
            ),
            id="qualified-app-labels-first",
        ),
        pytest.param(
            {"WORKLOAD_NAME": "ratings", "LABELS": {"app": "ratings"}},
            IstioWorkload(
                workload="ratings",
                canonical_service="ratings",
                canonical_revision="latest",
                app="ratings",
            ),
            id="no-revision-label-is-latest",
        ),
        pytest.param(
            {"WORKLOAD_NAME": "", "NAMESPACE": 7, "CLUSTER_ID": ["east"], "LABELS": {"app": 1}},
            IstioWorkload(canonical_revision="latest"),
            id="empty-and-non-text-values-say-nothing",
        ),
        pytest.param(
            {"workload": "", "namespace": 3, "service": ("reviews",), "cluster": "east"},
            IstioWorkload(cluster="east"),
            id="peer-layout-empty-and-non-text-values-say-nothing",
        ),
    ],
)
def test_metadata_workload(metadata: dict[str, object], expected: IstioWorkload) -> None:
    assert metadata_workload(FrozenMap(metadata)) == expected


POD = IstioWorkload(
    workload="reviews-v3",
    namespace="shop",
    canonical_service="reviews",
    canonical_revision="v3",
    service_account="bookinfo-reviews",
    identity="stale",
)


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        pytest.param(
            POD,
            IstioWorkload(
                workload="reviews-v3",
                namespace="shop",
                canonical_service="reviews",
                canonical_revision="v3",
                app="reviews",  # workload discovery: the canonical service and revision
                version="v3",
                cluster="east",
                service_account="bookinfo-reviews",
                identity="spiffe://td.example/ns/shop/sa/bookinfo-reviews",
            ),
            id="with-service-account",
        ),
        pytest.param(
            IstioWorkload(workload="ratings", namespace="shop", app="x", version="y"),
            IstioWorkload(
                workload="ratings",
                namespace="shop",
                cluster="east",
                identity="spiffe://td.example/ns/shop/sa/default",
            ),
            id="default-service-account",
        ),
        pytest.param(
            IstioWorkload(workload="ratings", service_account="sa", identity="stale"),
            IstioWorkload(workload="ratings", service_account="sa", cluster="east"),
            id="no-namespace-no-identity",
        ),
    ],
)
def test_discovered(workload: IstioWorkload, expected: IstioWorkload) -> None:
    assert discovered(workload, "east", "td.example") == expected


def pod(name: str, ip: str, **labels: str) -> dict[str, object]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"serviceAccountName": f"{name}-sa"},
        "status": {"podIP": ip},
    }


SNAPSHOT = KubernetesWorkloads(
    {
        "kind": "List",
        "items": [
            pod("web", "10.0.0.3", app="web", version="v3"),
            pod("api", "10.0.0.4"),
        ],
    }
)


def test_a_peer_without_metadata_is_the_snapshots_pod() -> None:
    assert peer_workload(None, "10.0.0.3", SNAPSHOT, cluster="east") == IstioWorkload(
        workload="web",
        namespace="shop",
        canonical_service="web",
        canonical_revision="v3",
        app="web",
        version="v3",
        cluster="east",
        service_account="web-sa",
        identity="spiffe://cluster.local/ns/shop/sa/web-sa",
    )
    assert peer_workload(None, "10.0.0.9", SNAPSHOT, cluster="east") is None  # no pod there
    assert peer_workload(None, None, SNAPSHOT, cluster="east") is None
    assert peer_workload(None, "10.0.0.3", None, cluster="east") is None


def test_a_node_without_istio_metadata_is_the_pod_at_its_own_ip() -> None:
    node = Node(id="envoy-1", metadata=FrozenMap({"CLUSTER_ID": "east", "NAMESPACE": "other"}))
    own = OwnWorkloads(SNAPSHOT)
    # the pod's values first, the node's where the pod says nothing (CLUSTER_ID)
    assert own.of(node, ("10.0.0.9", "10.0.0.3", "10.0.0.4")) == IstioWorkload(
        workload="web",
        namespace="shop",
        canonical_service="web",
        canonical_revision="v3",
        app="web",
        version="v3",
        cluster="east",
        service_account="web-sa",
    )
    # the same node with other own IPs: the pod at those
    assert own.of(node, ("10.0.0.4",)).workload == "api"
    assert own.of(node, ()) == IstioWorkload(
        namespace="other", canonical_revision="latest", cluster="east"
    )
    # Istio's node metadata names the workload: the snapshot is not asked
    istio = Node(id="envoy-1", metadata=FrozenMap({"WORKLOAD_NAME": "gateway"}))
    assert own.of(istio, ("10.0.0.3",)).workload == "gateway"
    assert OwnWorkloads(None).of(node, ("10.0.0.3",)).workload is None
