"""Role classification from Envoy node ids."""

from __future__ import annotations

import pytest

from meshals import Role, role_of

ROLE_CASES = [
    (
        "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system~istio-system.svc.cluster.local",
        Role.PROXY,
    ),
    ("ingress~10.0.0.1~gw.ns~ns.svc.cluster.local", Role.PROXY),
    (
        "sidecar~10.44.2.55~reviews-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local",
        Role.SIDECAR,
    ),
    ("waypoint~10.0.0.9~waypoint-abc.ns~ns.svc.cluster.local", Role.WAYPOINT),
    ("sidecar", Role.NONE),
    ("router", Role.NONE),
    ("", Role.NONE),
    ("Sidecar~10.0.0.1~x~y", Role.NONE),
    ("envoy-gateway~a~b~c", Role.NONE),
    ("sidecar~~~", Role.SIDECAR),
]


@pytest.mark.parametrize(("node_id", "role"), ROLE_CASES)
def test_role_from_node_id_prefix(node_id: str, role: Role) -> None:
    assert role_of(node_id) is role


def test_role_values_are_stable() -> None:
    # The serialised role strings that metrics and JSON outputs carry.
    assert {role.name: role.value for role in Role} == {
        "PROXY": "proxy",
        "SIDECAR": "sidecar",
        "WAYPOINT": "waypoint",
        "ZTUNNEL": "ztunnel",
        "NONE": "none",
    }
