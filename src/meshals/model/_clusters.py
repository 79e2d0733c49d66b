"""Istio's Envoy cluster names: what an entry's ``upstream_cluster`` says about its direction.

Istio names the clusters it generates (pilot's ``BuildSubsetKey`` / ``BuildDNSSrvSubsetKey``):

=======================================================  ==========================================
name                                                     meaning
=======================================================  ==========================================
``outbound|9080|v1|reviews.default.svc.cluster.local``   a sidecar calling a service (subset v1)
``inbound|9080|http|reviews.default.svc.cluster.local``  a sidecar called (Istio < 1.10: port name)
``inbound|9080||``                                       a sidecar called (modern Istio)
``inbound-vip|9080|http|reviews.default.svc...``         an ambient waypoint serving a service VIP
``outbound_.9080_.v1_.reviews.default.svc...``           the SNI (DNS SRV) spelling of outbound
``PassthroughCluster``                                   outbound to a host Istio does not know
``BlackHoleCluster``                                     outbound blocked (``REGISTRY_ONLY``)
``InboundPassthroughCluster[Ipv4|Ipv6]``                 inbound to a port no Service declares
=======================================================  ==========================================
"""

from __future__ import annotations

import enum
import functools

import attrs

from ._service import ServiceMetaInfo

__all__ = [
    "ClusterDirection",
    "IstioCluster",
    "SpecialCluster",
    "parse_istio_cluster",
    "special_cluster_of",
]


class ClusterDirection(enum.Enum):
    """The traffic direction an Istio cluster name encodes."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INBOUND_VIP = "inbound-vip"

    @property
    def is_inbound(self) -> bool:
        """True for the directions whose traffic is served here (inbound and inbound-vip)."""
        return self is not ClusterDirection.OUTBOUND


@attrs.frozen(kw_only=True)
class IstioCluster:
    """A parsed ``direction|port|subset|host`` cluster name.

    ``subset`` and ``host`` are ``""`` where the name leaves them empty (``inbound|9080||``).
    """

    direction: ClusterDirection
    port: int
    subset: str
    host: str


_PIPE_DIRECTIONS = {direction.value: direction for direction in ClusterDirection}
_SNI_DIRECTIONS = {
    "outbound_.": ClusterDirection.OUTBOUND,
    "inbound_.": ClusterDirection.INBOUND,
}


def _port(text: str) -> int | None:
    # Cluster ports are decimal service ports; anything else is not an Istio name.
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if port <= 65535 else None


def _split(name: str) -> tuple[ClusterDirection, str, str, str] | None:
    for prefix, direction in _SNI_DIRECTIONS.items():
        if name.startswith(prefix):
            sni_parts = name[len(prefix) :].split("_.", 2)
            if len(sni_parts) != 3:
                return None
            return direction, sni_parts[0], sni_parts[1], sni_parts[2]
    pipe_parts = name.split("|")
    if len(pipe_parts) != 4 or pipe_parts[0] not in _PIPE_DIRECTIONS:
        return None
    return _PIPE_DIRECTIONS[pipe_parts[0]], pipe_parts[1], pipe_parts[2], pipe_parts[3]


def parse_istio_cluster(name: str) -> IstioCluster | None:
    """Parse an Istio cluster name; None for a name that is not ``direction|port|subset|host``.

    Both spellings are accepted: the pipe form and the SNI form
    ``outbound_.<port>_.<subset>_.<host>``. The special clusters (``PassthroughCluster``, ...)
    are not in this form: see :func:`special_cluster_of`.

    Args:
        name: an ``upstream_cluster`` value.

    Returns:
        The parts, or None.

    >>> parse_istio_cluster("outbound|9080|v1|reviews.default.svc.cluster.local")
    IstioCluster(direction=<ClusterDirection.OUTBOUND: 'outbound'>, port=9080, subset='v1', host='reviews.default.svc.cluster.local')
    >>> parse_istio_cluster("inbound|9080||").host
    ''
    >>> parse_istio_cluster("outbound_.9080_._.reviews.default.svc.cluster.local").subset
    ''
    >>> parse_istio_cluster("PassthroughCluster") is None
    True
    """  # noqa: E501
    return _parse(name)


# Every sidecar entry asks, and an Envoy has a few dozen clusters: each name is parsed once.
# The answer depends on the name alone and is immutable, so sharing it is safe; the cache is
# bounded for inputs with ever new names.
@functools.lru_cache(maxsize=4096)
def _parse(name: str) -> IstioCluster | None:
    parts = _split(name)
    if parts is None:
        return None
    direction, port_text, subset, host = parts
    port = _port(port_text)
    if port is None:
        return None
    return IstioCluster(direction=direction, port=port, subset=subset, host=host)


class SpecialCluster(enum.Enum):
    """Istio's fixed-name clusters, each with the pseudo-service that stands for its peer."""

    PASSTHROUGH = "PassthroughCluster"
    BLACKHOLE = "BlackHoleCluster"
    INBOUND_PASSTHROUGH = "InboundPassthroughCluster"

    @property
    def direction(self) -> ClusterDirection:
        """Inbound for the inbound passthrough, outbound for the other two."""
        if self is SpecialCluster.INBOUND_PASSTHROUGH:
            return ClusterDirection.INBOUND
        return ClusterDirection.OUTBOUND

    @property
    def pseudo_service(self) -> ServiceMetaInfo:
        """The peer metrics name for this cluster: service and instance are the cluster name."""
        return ServiceMetaInfo(service=self.value, instance=self.value)


def special_cluster_of(name: str) -> SpecialCluster | None:
    """Which of Istio's special clusters *name* is, or None.

    ``InboundPassthroughClusterIpv4`` and ``...Ipv6`` (Istio < 1.14 split them by family) are
    :attr:`SpecialCluster.INBOUND_PASSTHROUGH`.

    >>> special_cluster_of("InboundPassthroughClusterIpv4")
    <SpecialCluster.INBOUND_PASSTHROUGH: 'InboundPassthroughCluster'>
    >>> special_cluster_of("outbound|9080||reviews") is None
    True
    """
    return _SPECIAL_CLUSTERS.get(name)


_SPECIAL_CLUSTERS = {
    "PassthroughCluster": SpecialCluster.PASSTHROUGH,
    "BlackHoleCluster": SpecialCluster.BLACKHOLE,
    "InboundPassthroughCluster": SpecialCluster.INBOUND_PASSTHROUGH,
    "InboundPassthroughClusterIpv4": SpecialCluster.INBOUND_PASSTHROUGH,
    "InboundPassthroughClusterIpv6": SpecialCluster.INBOUND_PASSTHROUGH,
}
