"""Istio cluster names: the four-part names, their SNI spelling, and the special clusters."""

from __future__ import annotations

import pytest

from meshals.model._clusters import (
    ClusterDirection,
    IstioCluster,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from meshals.model._service import ServiceMetaInfo

INBOUND = ClusterDirection.INBOUND
OUTBOUND = ClusterDirection.OUTBOUND
INBOUND_VIP = ClusterDirection.INBOUND_VIP

VALID_NAMES = [
    (
        "outbound|9080||productpage.default.svc.cluster.local",
        OUTBOUND,
        9080,
        "",
        "productpage.default.svc.cluster.local",
    ),
    (
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        OUTBOUND,
        9080,
        "v1",
        "reviews.default.svc.cluster.local",
    ),
    # Istio < 1.10 put the port name where the subset goes.
    (
        "inbound|9080|http|productpage.default.svc.cluster.local",
        INBOUND,
        9080,
        "http",
        "productpage.default.svc.cluster.local",
    ),
    ("inbound|9080||", INBOUND, 9080, "", ""),
    ("inbound|27017||", INBOUND, 27017, "", ""),
    (
        "inbound-vip|9080|http|reviews.default.svc.cluster.local",
        INBOUND_VIP,
        9080,
        "http",
        "reviews.default.svc.cluster.local",
    ),
    (
        "outbound_.9080_._.reviews.default.svc.cluster.local",
        OUTBOUND,
        9080,
        "",
        "reviews.default.svc.cluster.local",
    ),
    (
        "outbound_.9080_.v2_.reviews.default.svc.cluster.local",
        OUTBOUND,
        9080,
        "v2",
        "reviews.default.svc.cluster.local",
    ),
    (
        "inbound_.8080_._.httpbin.foo.svc.cluster.local",
        INBOUND,
        8080,
        "",
        "httpbin.foo.svc.cluster.local",
    ),
    # The host is the rest of the name, whatever it holds.
    ("outbound_.9080_.v1_.a_.b.svc", OUTBOUND, 9080, "v1", "a_.b.svc"),
    ("outbound|0||a", OUTBOUND, 0, "", "a"),
    ("outbound|65535||a", OUTBOUND, 65535, "", "a"),
]


@pytest.mark.parametrize(("name", "direction", "port", "subset", "host"), VALID_NAMES)
def test_parse_istio_cluster(
    name: str, direction: ClusterDirection, port: int, subset: str, host: str
) -> None:
    assert parse_istio_cluster(name) == IstioCluster(
        direction=direction, port=port, subset=subset, host=host
    )


NOT_ISTIO_NAMES = [
    "",
    "PassthroughCluster",
    "BlackHoleCluster",
    "InboundPassthroughClusterIpv4",
    "envoy_accesslog_service",
    "outbound|9080|reviews.default.svc.cluster.local",  # three parts
    "outbound|9080|v1|reviews|extra",  # five parts
    "Outbound|9080||reviews",  # case matters
    "sideways|9080||reviews",
    "outbound|http||reviews",  # port not a number
    "outbound|||reviews",
    "outbound|65536||reviews",
    "outbound|065535||reviews",  # longer than any service port, though its value fits
    "outbound|0000080||reviews",
    "outbound|-1||reviews",
    "outbound|٩٠٨٠||reviews",  # non-ASCII digits
    "outbound_.9080_.reviews.default.svc.cluster.local",  # SNI form without subset part
    "outbound_.x_._.reviews",
]


@pytest.mark.parametrize("name", NOT_ISTIO_NAMES)
def test_not_an_istio_cluster(name: str) -> None:
    assert parse_istio_cluster(name) is None


SPECIAL_NAMES = [
    ("PassthroughCluster", SpecialCluster.PASSTHROUGH, OUTBOUND),
    ("BlackHoleCluster", SpecialCluster.BLACKHOLE, OUTBOUND),
    ("InboundPassthroughCluster", SpecialCluster.INBOUND_PASSTHROUGH, INBOUND),
    ("InboundPassthroughClusterIpv4", SpecialCluster.INBOUND_PASSTHROUGH, INBOUND),
    ("InboundPassthroughClusterIpv6", SpecialCluster.INBOUND_PASSTHROUGH, INBOUND),
]


@pytest.mark.parametrize(("name", "special", "direction"), SPECIAL_NAMES)
def test_special_clusters(name: str, special: SpecialCluster, direction: ClusterDirection) -> None:
    assert special_cluster_of(name) is special
    assert special.direction is direction


@pytest.mark.parametrize("name", ["", "passthroughcluster", "BlackHole", "inbound|9080||"])
def test_not_a_special_cluster(name: str) -> None:
    assert special_cluster_of(name) is None


PSEUDO_SERVICES = [
    (SpecialCluster.PASSTHROUGH, "PassthroughCluster"),
    (SpecialCluster.BLACKHOLE, "BlackHoleCluster"),
    (SpecialCluster.INBOUND_PASSTHROUGH, "InboundPassthroughCluster"),
]


@pytest.mark.parametrize(("special", "name"), PSEUDO_SERVICES)
def test_pseudo_service(special: SpecialCluster, name: str) -> None:
    assert special.pseudo_service == ServiceMetaInfo(service=name, instance=name)


@pytest.mark.parametrize(
    ("direction", "inbound"), [(INBOUND, True), (INBOUND_VIP, True), (OUTBOUND, False)]
)
def test_direction_is_inbound(direction: ClusterDirection, inbound: bool) -> None:
    assert direction.is_inbound is inbound


def test_parsing_is_remembered_and_bounded() -> None:
    from meshals.model._clusters import _parse

    first = parse_istio_cluster("outbound|9080||reviews")
    assert parse_istio_cluster("outbound|9080||reviews") is first
    assert _parse.cache_info().maxsize == 4096
