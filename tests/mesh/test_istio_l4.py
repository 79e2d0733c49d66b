"""Istio's TCP sample of one ztunnel connection line: which address names the destination
workload, and the bytes of a line that logged none."""

from __future__ import annotations

import pytest

from meshals.mesh._istio_l4 import ztunnel_sample_of
from meshals.model import ConnectionEvent, Direction, L4Address, L4Connection, L4Peer
from meshals.resolve import KubernetesWorkloads


def _pod(name: str, app: str, ip: str) -> dict[str, object]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-5c9f-x7k2p",
            "namespace": "shop",
            "generateName": f"{name}-5c9f-",
            "labels": {"app": app, "version": "v1", "pod-template-hash": "5c9f"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{name}-5c9f", "controller": True}],
        },
        "status": {"podIP": ip},
    }


# The tunnel's end (a node's ztunnel) and the pod inside the tunnel are different pods.
WORKLOADS = KubernetesWorkloads(
    {
        "kind": "List",
        "items": [
            _pod("ztunnel-node-a", "ztunnel", "10.0.0.9"),
            _pod("reviews-v1", "reviews", "10.0.0.3"),
            _pod("productpage-v1", "productpage", "10.0.0.2"),
        ],
    }
)
CALLER = L4Peer(address=L4Address("10.0.0.2", 40000))


def _outbound(
    dst: L4Address | None, hbone: L4Address | None, *, src: L4Peer = CALLER
) -> L4Connection:
    return L4Connection(
        event=ConnectionEvent.COMPLETE,
        timestamp_ns=1,
        src=src,
        dst=L4Peer(address=dst),
        dst_hbone_address=hbone,
        direction=Direction.OUTBOUND,
    )


HBONE_CASES: list[tuple[str, L4Connection, str]] = [
    (
        "the pod inside the tunnel",
        _outbound(L4Address("10.0.0.9", 15008), L4Address("10.0.0.3", 9080)),
        "reviews-v1",
    ),
    (
        "no tunnel: the destination's address",
        _outbound(L4Address("10.0.0.3", 9080), None),
        "reviews-v1",
    ),
    (
        "a tunnel to a host name: the destination's address",
        _outbound(L4Address("10.0.0.9", 15008), L4Address("reviews.shop.svc.cluster.local", 9080)),
        "ztunnel-node-a",
    ),
    ("no address anywhere", _outbound(None, None), "unknown"),
]


@pytest.mark.parametrize(
    ("connection", "workload"),
    [case[1:] for case in HBONE_CASES],
    ids=[case[0] for case in HBONE_CASES],
)
def test_the_destination_workload_is_the_one_inside_the_tunnel(
    connection: L4Connection, workload: str
) -> None:
    sample = ztunnel_sample_of(connection, workloads=WORKLOADS, opened=set())
    assert sample is not None
    assert (sample.labels["source_workload"], sample.labels["destination_workload"]) == (
        "productpage-v1",
        workload,
    )


def test_a_source_without_address_has_no_workload() -> None:
    connection = _outbound(L4Address("10.0.0.3", 9080), None, src=L4Peer(namespace="shop"))
    sample = ztunnel_sample_of(connection, workloads=WORKLOADS, opened=set())
    assert sample is not None
    assert (sample.labels["source_workload"], sample.labels["destination_workload"]) == (
        "unknown",
        "reviews-v1",
    )


@pytest.mark.parametrize(
    ("sent", "received", "request_bytes", "response_bytes"),
    [(None, None, 0, 0), (None, 7, 0, 7), (5, None, 5, 0), (0, 0, 0, 0)],
)
def test_bytes_the_line_did_not_log_are_zero(
    sent: int | None, received: int | None, request_bytes: int, response_bytes: int
) -> None:
    connection = L4Connection(
        event=ConnectionEvent.COMPLETE,
        timestamp_ns=1,
        direction=Direction.OUTBOUND,
        bytes_sent=sent,
        bytes_recv=received,
    )
    sample = ztunnel_sample_of(connection, workloads=None, opened=set())
    assert sample is not None
    assert (sample.request_bytes, sample.response_bytes) == (request_bytes, response_bytes)
