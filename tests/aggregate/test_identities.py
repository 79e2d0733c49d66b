"""The SPIFFE ids each workload presented (``identities``): exact on TLS captures built from
the recordings and on the ztunnel log, conflicts, and the same however the input is split."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import FIXTURES, MtlsCapture, spiffe_id, write_mtls_capture

import meshals
from meshals._values import FrozenMap
from meshals.aggregate import (
    ConflictKind,
    Identities,
    IdentityConflict,
    Sighting,
    WorkloadIdentity,
    identities,
)
from meshals.model import DetectPoint
from meshals.model._metrics import EntryTimings, MeshProtocol, MetricOrigin, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo


def rows(table: Identities) -> list[tuple[str, str, str, int, int]]:
    return [
        (row.service, row.instance, row.identity, row.as_server, row.as_client)
        for row in table.rows.values()
    ]


def test_the_synthetic_capture(synthetic_mtls: MtlsCapture) -> None:
    table = identities(synthetic_mtls.metrics())
    assert rows(table) == [
        ("details", "details-v1-dtl", spiffe_id("details"), 4, 0),
        # It served the outside client (one-way TLS), and called productpage with it.
        (
            "istio-ingressgateway",
            "istio-ingressgateway-abc",
            spiffe_id("istio-ingressgateway"),
            6,
            5,
        ),
        ("mongodb", "mongodb-v1-mdb", spiffe_id("mongodb"), 1, 0),
        # Served the gateway's 5 calls; called details (4), mongodb (1, mTLS) and reviews (5).
        ("productpage", "productpage-v1-xyz", spiffe_id("productpage"), 5, 10),
        ("reviews", "reviews-v1-rvw", spiffe_id("reviews"), 5, 0),
    ]
    assert table.conflicts == ()
    details = table.rows["details", "details-v1-dtl", spiffe_id("details")]
    assert details.first_seen.to_dict() == {
        "start_time_ns": details.first_seen.start_time_ns,
        "source": str(synthetic_mtls.directory / "details-http.bin"),
        "message_index": 0,
        "entry_index": 0,
    }


def test_the_mtls_recording(recorded_mtls: MtlsCapture) -> None:
    table = identities(recorded_mtls.metrics())
    assert [
        (row.service, row.identity, row.as_server, row.as_client) for row in table.rows.values()
    ] == [
        ("details", spiffe_id("details"), 4, 0),
        # Its HTTPS certificate names a host, not a SPIFFE id: a client only.
        ("istio-ingressgateway", spiffe_id("istio-ingressgateway"), 0, 5),
        ("mongodb", spiffe_id("mongodb"), 2, 0),
        # Served the gateway (5); called details (4), mongodb (2) and reviews (5).
        ("productpage", spiffe_id("productpage"), 5, 11),
        ("ratings", spiffe_id("ratings"), 4, 0),
        ("reviews", spiffe_id("reviews"), 5, 4),
    ]
    assert table.conflicts == ()


def test_conflicts(tmp_path: Path) -> None:
    capture = write_mtls_capture(tmp_path, conflicts=True)
    table = identities(capture.metrics())
    canary = "spiffe://cluster.local/ns/default/sa/reviews-canary"
    assert table.conflicts == (
        IdentityConflict(
            kind=ConflictKind.WORKLOAD,
            subject="reviews",
            seen=(spiffe_id("reviews"), canary),
        ),
        IdentityConflict(
            kind=ConflictKind.IDENTITY,
            subject=spiffe_id("productpage"),
            seen=("details", "productpage"),
        ),
    )
    assert table.conflicts[0].reason == (
        f"workload reviews presented 2 SPIFFE ids: {spiffe_id('reviews')}, {canary}"
    )
    assert table.conflicts[1].reason == (
        f"SPIFFE id {spiffe_id('productpage')} was presented by 2 workloads: details, productpage"
    )
    assert table.conflicts[0].to_dict() == {
        "kind": "workload",
        "subject": "reviews",
        "seen": [spiffe_id("reviews"), canary],
        "reason": table.conflicts[0].reason,
    }
    by_identity = {record["identity"]: record["conflicts"] for record in table.records()}
    assert by_identity[canary] == ["workload"]
    assert by_identity[spiffe_id("productpage")] == ["identity"]
    assert by_identity[spiffe_id("mongodb")] == []
    # The canary certificate served the first call into reviews, the usual one the other 4.
    reviews = {row.identity: row for row in table.rows.values() if row.service == "reviews"}
    assert (reviews[canary].as_server, reviews[spiffe_id("reviews")].as_server) == (1, 4)
    assert reviews[canary].first_seen < reviews[spiffe_id("reviews")].first_seen
    assert reviews[canary].to_dict() == {
        "service": "reviews",
        "instance": reviews[canary].instance,
        "identity": canary,
        "as_server": 1,
        "as_client": 0,
        "first_seen": reviews[canary].first_seen.to_dict(),
    }


def test_ztunnel_log() -> None:
    # ztunnel logs both ends' identities of the HBONE connections it took in.
    log = FIXTURES / "ztunnel" / "ambient-bookinfo.log"
    table = identities(meshals.analyze(meshals.read(log), resolver=meshals.StaticResolver({})))
    ns = "spiffe://cluster.local/ns/bookinfo/sa"
    assert rows(table) == [
        ("UNKNOWN", "UNKNOWN", f"{ns}/waypoint", 0, 1),
        (
            "details.bookinfo",
            "details-v1-6cd6d9df6b-mddv2.bookinfo",
            f"{ns}/bookinfo-details",
            1,
            0,
        ),
        (
            "productpage-v1.bookinfo",
            "productpage-v1-57ffb6658c-vmb6z.bookinfo",
            f"{ns}/bookinfo-productpage",
            0,
            2,
        ),
        (
            "reviews.bookinfo",
            "reviews-v2-86d5db4bd6-dbw4f.bookinfo",
            f"{ns}/bookinfo-reviews",
            2,
            0,
        ),
    ]
    assert table.conflicts == ()


def test_plaintext_recordings_have_none() -> None:
    bookinfo = meshals.examples.example("bookinfo")
    table = identities(meshals.analyze(bookinfo.streams(), resolver=bookinfo.resolver()))
    assert table == Identities()
    assert table.to_dict() == {"workloads": [], "conflicts": []}


def test_client_side_and_unnamed_workloads() -> None:
    first = Sighting(
        unknown_time=True, start_time_ns=-1, source="x", message_index=-1, entry_index=3
    )
    assert first.to_dict() == {
        "start_time_ns": None,
        "source": "x",
        "message_index": None,
        "entry_index": 3,
    }
    assert str(first) == "x, entry 3"
    # Unnamed workloads take part in no conflict, even with many ids.
    unnamed = Identities.merge_all(
        Identities(
            rows=FrozenMap(
                {
                    ("UNKNOWN", "UNKNOWN", uri): WorkloadIdentity(
                        service="UNKNOWN",
                        instance="UNKNOWN",
                        identity=uri,
                        as_client=1,
                        first_seen=first,
                    )
                }
            )
        )
        for uri in ("spiffe://a", "spiffe://b")
    )
    assert len(unnamed.rows) == 2
    assert unnamed.conflicts == ()
    assert Identities().__add__(1) is NotImplemented  # type: ignore[operator]


@pytest.mark.parametrize("count", [2, 3])
def test_split_in_parts_merged_in_every_order_is_the_whole(
    mtls_capture: MtlsCapture, count: int
) -> None:
    metrics = mtls_capture.metrics()
    whole = identities(metrics)
    size = -(-len(metrics) // count)
    pieces = [metrics[start : start + size] for start in range(0, len(metrics), size)]
    for order in itertools.permutations(pieces):
        assert Identities.merge_all(identities(piece) for piece in order) == whole
        merged = identities(order[0])
        for piece in order[1:]:
            merged = merged + identities(piece)
        assert merged == whole
    # Each server-side certificate counted once, on its side.
    server_side = [m for m in metrics if m.detect_point is DetectPoint.SERVER]
    assert sum(row.as_server for row in whole.rows.values()) == sum(
        m.local_identity is not None for m in server_side
    )
    assert sum(row.as_client for row in whole.rows.values()) == sum(
        m.peer_identity is not None for m in server_side
    )


def _sighting(unknown_time: bool, start: int, message_index: int) -> Sighting:
    return Sighting(
        unknown_time=unknown_time,
        start_time_ns=start,
        source="f",
        message_index=message_index,
        entry_index=1,
    )


@pytest.mark.parametrize(
    ("start", "message_index", "expected", "as_dict"),
    [
        (
            7,
            2,
            Sighting(
                unknown_time=False, start_time_ns=7, source="f", message_index=2, entry_index=1
            ),
            {"start_time_ns": 7, "source": "f", "message_index": 2, "entry_index": 1},
        ),
        (
            None,
            None,
            Sighting(
                unknown_time=True, start_time_ns=-1, source="f", message_index=-1, entry_index=1
            ),
            {"start_time_ns": None, "source": "f", "message_index": None, "entry_index": 1},
        ),
        (
            0,
            0,
            Sighting(
                unknown_time=False, start_time_ns=0, source="f", message_index=0, entry_index=1
            ),
            {"start_time_ns": 0, "source": "f", "message_index": 0, "entry_index": 1},
        ),
    ],
)
def test_sighting_of_a_metric(
    start: int | None, message_index: int | None, expected: Sighting, as_dict: dict[str, object]
) -> None:
    timings = EntryTimings() if start is None else EntryTimings(start_time_ns=start)
    metric = ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.HTTP,
        source=UNKNOWN,
        destination=UNKNOWN,
        status=True,
        timings=timings,
        origin=MetricOrigin(source="f", message_index=message_index, entry_index=1),
    )
    sighting = Sighting.of(metric)
    assert (sighting, sighting.unknown_time) == (expected, expected.unknown_time)
    assert sighting.to_dict() == as_dict


def test_a_peer_identity_counts_without_a_local_one() -> None:
    caller = ServiceMetaInfo(service="caller", instance="caller-1")
    metric = ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.HTTP,
        source=caller,
        destination=UNKNOWN,
        status=True,
        peer_identity="spiffe://cluster.local/ns/default/sa/caller",
    )
    rows = list(identities([metric]).rows.values())
    assert [(row.service, row.identity, row.as_server, row.as_client) for row in rows] == [
        ("caller", "spiffe://cluster.local/ns/default/sa/caller", 0, 1)
    ]
