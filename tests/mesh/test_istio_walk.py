"""The Istio walk: streams identified, roles, time ranges, own workloads and L4 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshals
from meshals import AlsMessage, Identifier, Node
from meshals._values import FrozenMap
from meshals.mesh import IstioWalk, fixed_role, istio_samples
from meshals.model import (
    AccessLogCommon,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    IstioSample,
    Role,
    SocketAddress,
)
from meshals.resolve import KubernetesWorkloads

FIXTURES = Path(__file__).parents[1] / "fixtures"
SECOND = 1_000_000_000


def node(workload: str, ip: str, domain: str = "cluster.local") -> Node:
    return Node(
        id=f"sidecar~{ip}~{workload}-x.shop~shop.svc.{domain}",
        metadata=FrozenMap({"WORKLOAD_NAME": workload, "NAMESPACE": "shop"}),
    )


def entry(*, code: int = 200, start_s: int | None = None) -> HttpEntry:
    """An outbound call of the pod at 10.0.0.2 to reviews (its cluster says outbound)."""
    return HttpEntry(
        common_properties=AccessLogCommon(
            downstream_local_address=SocketAddress(address="10.96.0.9", port=9080),
            downstream_remote_address=SocketAddress(address="10.0.0.2", port=41234),
            upstream_cluster="outbound|9080||reviews.shop.svc.cluster.local",
            start_time_ns=None if start_s is None else start_s * SECOND,
        ),
        request=HttpRequest(path="/", authority="reviews:9080"),
        response=HttpResponse(response_code=code),
    )


def message(identifier: Identifier | None, *entries: HttpEntry) -> AlsMessage:
    return AlsMessage(identifier=identifier, entries=entries or (entry(),))


PRODUCTPAGE = Identifier(node=node("productpage-v1", "10.0.0.2"))
DETAILS = Identifier(node=node("details-v1", "10.0.0.2"))
# One stream that carries two Envoys' identifiers (a multiplexing collector).
MULTIPLEXED = (message(PRODUCTPAGE), message(DETAILS))


def sources(samples: list[IstioSample]) -> list[str]:
    return [found.labels["source_workload"] for found in samples]


def walked(walk: IstioWalk, *records: object) -> list[IstioSample]:
    return [found for record in records for found in walk.add(record)]


def test_the_first_identifier_holds_unless_reidentified() -> None:
    assert sources(list(istio_samples(MULTIPLEXED))) == ["productpage-v1"] * 2
    assert sources(list(istio_samples(MULTIPLEXED, reidentify=True))) == [
        "productpage-v1",
        "details-v1",
    ]
    # the walk fed one record at a time, without new_stream() first
    assert sources(walked(IstioWalk(), *MULTIPLEXED)) == ["productpage-v1"] * 2
    assert sources(walked(IstioWalk(reidentify=True), *MULTIPLEXED)) == [
        "productpage-v1",
        "details-v1",
    ]


def test_the_role_rule_decides_the_reporter() -> None:
    stream = [message(PRODUCTPAGE)]
    assert [s.labels["reporter"] for s in istio_samples(stream)] == ["source"]
    waypoint = fixed_role(Role.WAYPOINT)
    assert [s.labels["reporter"] for s in istio_samples(stream, role_rule=waypoint)] == ["waypoint"]
    assert [s.labels["reporter"] for s in walked(IstioWalk(role_rule=waypoint), *stream)] == [
        "waypoint"
    ]
    # an identified Envoy without a role counts nothing (not even as a gateway)
    assert list(istio_samples(stream, role_rule=fixed_role(Role.NONE))) == []
    plain = [message(Identifier(node=Node(id="envoy-1")))]
    assert list(istio_samples(plain)) == []


def test_an_identifier_without_a_node() -> None:
    # a gateway by the role rule: no own IPs, no domain, its own labels empty
    stream = [message(Identifier(log_name="access"))]
    [found] = istio_samples(stream, role_rule=fixed_role(Role.PROXY))
    assert (found.labels["reporter"], found.labels["source_workload"]) == ("source", "")
    assert found.labels["destination_service"] == "reviews.shop.svc.cluster.local"


def test_the_time_range_skips_entries_not_messages() -> None:
    late, early, undated = entry(code=503, start_s=200), entry(start_s=100), entry(code=404)
    stream = [message(PRODUCTPAGE, late, early, undated)]

    def codes(since: int | None = None, until: int | None = None) -> list[str]:
        found = istio_samples(stream, since=since, until=until)
        return [s.labels["response_code"] for s in found]

    assert codes() == ["503", "200", "404"]
    assert codes(until=150 * SECOND) == ["200"]
    assert codes(since=150 * SECOND) == ["503"]
    assert codes(since=100 * SECOND, until=201 * SECOND) == ["503", "200"]


ZTUNNEL = FIXTURES / "ztunnel" / "ambient-bookinfo.log"
# The log's lines start from 2024-06-03T09:12:05.112640Z to 09:12:08.519044Z.
ZTUNNEL_START_NS = 1_717_405_925_112_640_000


def test_the_time_range_of_l4_lines() -> None:
    lines = list(meshals.read(ZTUNNEL))
    assert len(list(istio_samples(lines))) == 12
    assert len(list(istio_samples(lines, since=ZTUNNEL_START_NS))) == 12
    # the lines that started in the first second of the log
    assert len(list(istio_samples(lines, until=ZTUNNEL_START_NS + SECOND))) == 8
    assert len(list(istio_samples(lines, since=ZTUNNEL_START_NS + SECOND))) == 4


def test_l4_lines_about_an_envoys_side_are_not_counted_twice() -> None:
    lines = list(meshals.read(ZTUNNEL))
    details = AlsMessage(identifier=Identifier(node=node("details-v1", "10.244.1.13")))
    alone = list(istio_samples(lines))
    with_envoy = list(istio_samples([[details], lines]))
    # the details Envoy reports the inbound sides at 10.244.1.13 (three lines, one sample
    # each: opened, complete, and an HBONE connection without a target)
    assert len(alone) - len(with_envoy) == 3


ENDPOINTS = {
    "kind": "Endpoints",
    "metadata": {"name": "web", "namespace": "shop"},
    "subsets": [{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 9080}]}],
}
ADMIN = {
    "kind": "Endpoints",
    "metadata": {"name": "admin", "namespace": "shop"},
    "subsets": [{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 15020}]}],
}
WEB_POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
    "status": {"podIP": "10.0.0.2"},
}
SNAPSHOT = KubernetesWorkloads({"kind": "List", "items": [WEB_POD, ENDPOINTS, ADMIN]})


def test_a_plain_envoy_is_its_pod_and_its_node_id_names_the_domain() -> None:
    plain = Node(
        id="sidecar~10.0.0.2~web-1.shop~shop.svc.example.org",
        metadata=FrozenMap({"CLUSTER_ID": "east"}),  # no WORKLOAD_NAME: not Istio's metadata
    )
    inbound = HttpEntry(
        common_properties=AccessLogCommon(
            downstream_local_address=SocketAddress(address="10.0.0.2", port=9080),
            downstream_remote_address=SocketAddress(address="10.0.0.7", port=5555),
            upstream_cluster="inbound|9080||",
        ),
        request=HttpRequest(path="/", authority="web:9080"),
        response=HttpResponse(response_code=200),
    )
    [found] = istio_samples([message(Identifier(node=plain), inbound)], workloads=SNAPSHOT)
    labels = found.labels
    assert labels["reporter"] == "destination"
    assert (labels["destination_workload"], labels["destination_cluster"]) == ("web-1", "east")
    # the Service of the local pod on the cluster's port, in the node id's DNS domain
    assert labels["destination_service"] == "web.shop.svc.example.org"
    assert labels["destination_service_name"] == "web"


@pytest.mark.parametrize("record", ["not a message", 7])
def test_a_record_that_is_no_message_is_refused(record: object) -> None:
    with pytest.raises(meshals.StreamError, match="a stream must hold AlsMessage values"):
        IstioWalk().add(record)
