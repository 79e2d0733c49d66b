"""Addresses: the ``ip:port`` endpoint ids of internal addresses, and a node's own IPs."""

from __future__ import annotations

import pytest

from meshals._values import FrozenMap
from meshals.mesh._addresses import (
    Endpoint,
    caller_ip_port,
    caller_of,
    endpoint_of,
    is_own_ip,
    node_ips,
)
from meshals.model import AccessLogCommon, Address, EnvoyInternalAddress, Node, SocketAddress

# (endpoint_id, endpoint): the boundaries of the port and the malformed values around them.
ENDPOINT_ID_CASES: list[tuple[str, Endpoint | None]] = [
    ("10.0.0.1:0", Endpoint("10.0.0.1", 0)),
    ("10.0.0.1:65535", Endpoint("10.0.0.1", 65535)),
    ("10.0.0.1:65536", None),
    ("10.0.0.1:", None),
    ("10.0.0.1", None),
    ("10.0.0.1:http", None),  # a named port: not a number
    ("10.0.0.1:٣", None),  # an Arabic-Indic digit: isdigit() but not a port
    ("10.0.0.1:-1", None),
    ("10.0.0.1: 80", None),
    ("[fd00::3]:65535", Endpoint("fd00::3", 65535)),
    ("[10.0.0.12:80", None),  # a bracket left open: not 10.0.0.1
    ("10.0.0.12]:80", None),
    ("[10.0.0.1]:80", Endpoint("10.0.0.1", 80)),
    ("[]:80", None),
    ("reviews.default:80", None),
]


@pytest.mark.parametrize(("endpoint_id", "endpoint"), ENDPOINT_ID_CASES)
def test_internal_address_endpoint_ids(endpoint_id: str, endpoint: Endpoint | None) -> None:
    assert endpoint_of(EnvoyInternalAddress(endpoint_id=endpoint_id)) == endpoint


NODE_ID_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("sidecar~10.0.0.1", ("10.0.0.1",)),  # two parts are enough
    ("sidecar~10.0.0.1~pp.default~default.svc.cluster.local", ("10.0.0.1",)),
    ("10.0.0.1~sidecar", ()),  # the IP is the second part, never the first
    ("sidecar~ 10.0.0.1 ", ("10.0.0.1",)),
    ("sidecar~fd00:0::2~x~y", ("fd00::2",)),
    ("sidecar", ()),
]


@pytest.mark.parametrize(("node_id", "ips"), NODE_ID_CASES)
def test_node_ips_from_the_node_id(node_id: str, ips: tuple[str, ...]) -> None:
    assert node_ips(Node(id=node_id)) == ips


def test_node_ips_keep_the_first_mention_once() -> None:
    node = Node(
        id="sidecar~10.0.0.2~pp~d",
        metadata=FrozenMap(
            {"INSTANCE_IPS": "10.0.0.3,10.0.0.2", "ISTIO_META_INSTANCE_IPS": "10.0.0.4"}
        ),
    )
    assert node_ips(node) == ("10.0.0.2", "10.0.0.3", "10.0.0.4")


@pytest.mark.parametrize(
    ("ip", "own"),
    [("10.0.0.2", True), ("fd00:0::2", True), ("10.0.0.9", False), ("pod-a", False)],
)
def test_is_own_ip(ip: str, own: bool) -> None:
    assert is_own_ip(ip, ("10.0.0.2", "fd00::2")) is own


WAYPOINT_HOP = EnvoyInternalAddress(
    server_listener_name="connect_originate", endpoint_id="10.0.0.5:9080"
)

# (direct, remote, caller_of, caller_ip_port, caller_ip_port with sockets_only): the direct
# address wins when it names an IP; SkyWalking's reading (sockets_only) skips internal ones.
CALLER_CASES: list[
    tuple[
        Address | None,
        Address | None,
        Endpoint | None,
        tuple[str, int | None] | None,
        tuple[str, int | None] | None,
    ]
] = [
    (
        SocketAddress(address="10.0.0.1", port=40000),
        SocketAddress(address="10.0.0.9", port=80),
        Endpoint("10.0.0.1", 40000),
        ("10.0.0.1", 40000),
        ("10.0.0.1", 40000),
    ),
    (
        WAYPOINT_HOP,
        SocketAddress(address="10.0.0.9", port=80),
        Endpoint("10.0.0.5", 9080),
        ("10.0.0.5", 9080),
        ("10.0.0.9", 80),
    ),
    (
        SocketAddress(address="", port=40000),
        SocketAddress(address="10.0.0.9", port=80),
        Endpoint("10.0.0.9", 80),
        ("10.0.0.9", 80),
        ("10.0.0.9", 80),
    ),
    (None, WAYPOINT_HOP, Endpoint("10.0.0.5", 9080), ("10.0.0.5", 9080), None),
    (None, None, None, None, None),
]


@pytest.mark.parametrize(("direct", "remote", "caller", "ip_port", "socket_ip_port"), CALLER_CASES)
def test_the_caller_is_the_direct_address_when_it_names_an_ip(
    direct: Address | None,
    remote: Address | None,
    caller: Endpoint | None,
    ip_port: tuple[str, int | None] | None,
    socket_ip_port: tuple[str, int | None] | None,
) -> None:
    common = AccessLogCommon(
        downstream_direct_remote_address=direct, downstream_remote_address=remote
    )
    assert caller_of(common) == caller
    assert caller_ip_port(common, sockets_only=False) == ip_port
    assert caller_ip_port(common, sockets_only=True) == socket_ip_port
