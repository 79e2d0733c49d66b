"""The role an Envoy plays in the mesh: gateway, sidecar, waypoint, ztunnel or none."""

from __future__ import annotations

import enum

__all__ = ["Role"]


class Role(enum.Enum):
    """What kind of proxy sent the logs; it decides how entries become metrics."""

    PROXY = "proxy"  # a gateway: Istio's router~ (and ingress~) nodes
    SIDECAR = "sidecar"
    WAYPOINT = "waypoint"  # Istio ambient's L7 proxy
    ZTUNNEL = "ztunnel"  # Istio ambient's L4 node proxy: reports each side for its local workloads
    NONE = "none"
