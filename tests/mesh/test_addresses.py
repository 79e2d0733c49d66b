"""Addresses: the ``ip:port`` endpoint ids of internal addresses, and a node's own IPs."""

from __future__ import annotations

import pytest

from meshals._values import FrozenMap
from meshals.mesh._addresses import Endpoint, endpoint_of, is_own_ip, node_ips
from meshals.model import EnvoyInternalAddress, Node

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
