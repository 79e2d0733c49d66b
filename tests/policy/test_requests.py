"""observed_requests() on the real mutual-TLS recording: every server-side entry, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ENVOY_FIXTURES, FIXTURES

import meshals
from meshals._values import FrozenMap
from meshals.model import IstioWorkload
from meshals.policy import ObservedRequest, observed_requests
from meshals.resolve import KubernetesWorkloads

MTLS = ENVOY_FIXTURES / "mtls"
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-mtls.json"
SPIFFE = "cluster.local/ns/default/sa/bookinfo-"


def _mtls() -> list[list[meshals.AlsMessage]]:
    return [_messages(path) for path in sorted(MTLS.glob("*.bin"))]


def _messages(path: Path) -> list[meshals.AlsMessage]:
    return [message for message in meshals.read(path) if isinstance(message, meshals.AlsMessage)]


def _workloads() -> KubernetesWorkloads:
    return KubernetesWorkloads.from_files([SNAPSHOT])


# Each workload's own address on loopback (the recording's node ids).
_IPS = {
    "details": "127.0.0.4",
    "mongodb": "127.0.0.7",
    "productpage": "127.0.0.2",
    "ratings": "127.0.0.5",
    "reviews": "127.0.0.3",
}
# reviews-v1's pod says its canonical revision is its image's version.
_REVISIONS = {"reviews": "1.20.2"}


def _labels(app: str) -> FrozenMap[str, str]:
    return FrozenMap(
        {
            "service.istio.io/canonical-revision": _REVISIONS.get(app, "v1"),
            "version": "v1",
            "app": app,
            "service.istio.io/canonical-name": app,
        }
    )


def _own(app: str) -> IstioWorkload:
    # Both sides are named by node metadata: the server's own, the caller's in its
    # downstream_peer filter state (the node-metadata layout, without identity).
    return IstioWorkload(
        workload=f"{app}-v1",
        namespace="default",
        canonical_service=app,
        canonical_revision=_REVISIONS.get(app, "v1"),
        app=app,
        version="v1",
        cluster="Kubernetes",
        service_account=f"bookinfo-{app}",
    )


_peer = _own


GATEWAY = IstioWorkload(
    workload="istio-ingressgateway",
    namespace="istio-system",
    canonical_service="istio-ingressgateway",
    canonical_revision="latest",
    app="istio-ingressgateway",
    cluster="Kubernetes",
    service_account="istio-ingressgateway-service-account",
)
# The legacy client has no sidecar, so no peer metadata: the snapshot's pod names it.
LEGACY = IstioWorkload(
    workload="legacy-client",
    namespace="default",
    canonical_service="legacy",
    canonical_revision="latest",
    app="legacy",
    version="latest",
    cluster="Kubernetes",
    service_account="legacy-client",
    identity="spiffe://cluster.local/ns/default/sa/legacy-client",
)


def _sni(service: str, port: int = 9080) -> str:
    return f"outbound_.{port}_._.{service}.default.svc.cluster.local"


def _http(
    name: str,
    index: int,
    caller: str,
    path: str | None,
    *,
    method: str | None = "GET",
    **fields: object,
) -> ObservedRequest:
    app = name.partition("-")[0]
    values: dict[str, object] = {
        "file": str(MTLS / f"{name}.bin"),
        "message_index": index,
        "entry_index": 0,
        "tcp": False,
        "destination": _own(app),
        "destination_labels": _labels(app),
        "destination_namespace": "default",
        "destination_port": 9080,
        "destination_ip": _IPS[app],
        "source": _peer(caller),
        "source_principal": SPIFFE + caller,
        "source_ip": "127.0.0.2",
        "remote_ip": "127.0.0.2",
        "host": f"{app}:9080",
        "method": method,
        "path": path,
        "sni": _sni(app),
    }
    values.update(fields)
    return ObservedRequest(**values)  # type: ignore[arg-type]


_GATEWAY_CALL: dict[str, Any] = {
    "source": GATEWAY,
    "source_principal": "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
    "source_ip": "127.0.0.1",
    "remote_ip": "127.0.0.1",
    "host": "bookinfo.example.com",
}
_RATINGS_CALL: dict[str, Any] = {
    "source_ip": "127.0.0.3",
    "remote_ip": "127.0.0.3",
    "request_headers": FrozenMap({"content-type": "application/grpc"}),
}
MTLS_REQUESTS = [
    *(_http("details-http", index, "productpage", "/details/0") for index in range(3)),
    _http("details-http", 3, "productpage", "/details/missing"),
    _http(
        "details-http",
        4,
        "legacy",
        "/details/2",
        source=LEGACY,
        source_principal=None,
        source_ip="127.0.0.10",
        remote_ip="127.0.0.10",
        sni=None,
    ),
    *(
        _http(
            "mongodb-tcp",
            index,
            "productpage",
            None,
            method=None,
            tcp=True,
            destination_port=27017,
            host=None,
            sni=_sni("mongodb", 27017),
        )
        for index in range(2)
    ),
    *(
        _http("productpage-http", index, "productpage", "/productpage", **_GATEWAY_CALL)
        for index in (2, 5, 8)
    ),
    _http("productpage-http", 9, "productpage", "/static/missing.css", **_GATEWAY_CALL),
    _http("productpage-http", 11, "productpage", "/api/v1/products/1/reviews", **_GATEWAY_CALL),
    *(
        _http(
            "ratings-http",
            index,
            "reviews",
            "/bookinfo.ratings.v1.Ratings/GetRating",
            method="POST",
            **_RATINGS_CALL,
        )
        for index in range(4)
    ),
    *(_http("reviews-http", index, "productpage", "/reviews/0") for index in (1, 3, 5)),
    _http("reviews-http", 7, "productpage", "/reviews/1"),
    _http("reviews-http", 8, "productpage", "/reviews/slow"),
]


def test_every_server_side_entry_of_the_mtls_recording() -> None:
    found = observed_requests(_mtls(), workloads=_workloads())
    requests = list(found)
    assert requests == MTLS_REQUESTS
    # 46 entries: 21 requests, the gateway's 6 and the sidecars' 19 outbound ones counted.
    assert dict(found.skipped) == {"gateway": 6, "sidecar-outbound": 19}


def test_without_a_snapshot_the_labels_come_from_node_metadata() -> None:
    requests = list(observed_requests(_mtls()))
    assert [request.destination_labels for request in requests] == [
        request.destination_labels for request in MTLS_REQUESTS
    ]
    # Without a snapshot the caller without a sidecar (no peer metadata) is unknown.
    assert [request.source for request in requests] == [
        None if request.source is LEGACY else request.source for request in MTLS_REQUESTS
    ]


def test_labels_come_from_the_snapshot_when_the_node_has_none(tmp_path: Path) -> None:
    stream = _messages(MTLS / "details-http.bin")
    first = stream[0]
    assert first.identifier is not None
    assert first.identifier.node is not None
    node = first.identifier.node
    assert node.metadata is not None
    metadata = FrozenMap({k: v for k, v in node.metadata.items() if k != "LABELS"})
    bare = meshals.AlsMessage(
        identifier=meshals.Identifier(node=meshals.Node(id=node.id, metadata=metadata)),
        kind=first.kind,
        entries=first.entries,
    )
    without = next(observed_requests([bare]))
    assert without.destination_labels == FrozenMap()
    assert without.file is None  # a message built in memory names no file
    snapshot = next(observed_requests([bare], workloads=_workloads()))
    assert dict(snapshot.destination_labels) == {
        "app": "details",
        "pod-template-hash": "65599dcf88",
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": "details",
        "service.istio.io/canonical-revision": "v1",
        "version": "v1",
    }


def test_a_time_range_counts_what_it_leaves_out() -> None:
    requests = list(observed_requests(_mtls()))
    assert len(requests) == 21
    found = observed_requests(_mtls(), until=0)
    assert list(found) == []
    # The gateway's entries are left out by role, before their times are looked at.
    assert dict(found.skipped) == {"gateway": 6, "outside-time-range": 40}


def test_streams_without_identifier_and_l4_lines_are_counted() -> None:
    anonymous = [meshals.AlsMessage(kind="http", entries=_mtls()[0][0].entries)]
    found = observed_requests([anonymous])
    assert list(found) == []
    assert dict(found.skipped) == {"no-identifier": 1}
    lines = list(meshals.read(FIXTURES / "ztunnel" / "ambient-bookinfo.log"))
    found = observed_requests(lines)
    assert list(found) == []
    assert dict(found.skipped) == {"l4-connection": len(lines)}


@pytest.mark.parametrize("name", ["details-http"])
def test_json_and_binary_recordings_give_the_same_requests(name: str) -> None:
    binary = list(observed_requests(_messages(MTLS / f"{name}.bin")))
    text = list(observed_requests(_messages(MTLS / f"{name}.jsonl")))
    assert [(r.message_index, r.path, r.source_principal) for r in binary] == [
        (r.message_index, r.path, r.source_principal) for r in text
    ]
