"""The role an Envoy plays in the mesh, as its node id tells it (Istio's ``type~ip~id~domain``)."""

from __future__ import annotations

import enum

__all__ = ["Role", "role_of"]


class Role(enum.Enum):
    """What kind of proxy sent the logs; it decides how entries become metrics."""

    PROXY = "proxy"  # a gateway: Istio's router~ (and ingress~) nodes
    SIDECAR = "sidecar"
    WAYPOINT = "waypoint"  # Istio ambient's L7 proxy
    NONE = "none"


# Istio writes the node type first: router~10.44.2.56~pod.ns~ns.svc.cluster.local.
_PREFIX_ROLES = {
    "router": Role.PROXY,
    "ingress": Role.PROXY,
    "sidecar": Role.SIDECAR,
    "waypoint": Role.WAYPOINT,
}


def role_of(node_id: str) -> Role:
    """The role implied by an Envoy node id's prefix; :attr:`Role.NONE` for anything else.

    >>> role_of("router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system~x")
    <Role.PROXY: 'proxy'>
    >>> role_of("envoy-gateway")
    <Role.NONE: 'none'>
    """
    prefix, separator, _ = node_id.partition("~")
    if not separator:
        return Role.NONE
    return _PREFIX_ROLES.get(prefix, Role.NONE)
