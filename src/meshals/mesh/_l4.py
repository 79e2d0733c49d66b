"""L4 connection entries (ztunnel, Kmesh) -> TCP service-mesh metrics, counted once.

:func:`l4_metrics` turns one :class:`~meshals.L4Connection` into one TCP
:class:`~meshals.ServiceMeshMetric` of analyzer ``"ztunnel"`` (for Kmesh lines too):

- ``inbound`` is the server side (Istio's ``reporter="destination"``), ``outbound`` the
  client side (``reporter="source"``). A line without direction is skipped
  (``unknown-direction``), as is a ``connection opened`` line (``intermediate-entry``: its
  ``connection complete`` line reports the connection in full).
- Names need no resolver: they come from the line, consistent with the ``k8s-mesh`` default
  naming (``<name>.<namespace>`` services, ``<pod>.<namespace>`` instances). The destination
  service is ``dst.service`` (Istio's ``destination_service``): a Kubernetes host
  ``<name>.<namespace>.svc.<domain>`` becomes ``<name>.<namespace>``, any other host stays as
  it is. A peer without a service (every source, and a destination ztunnel found no service
  for) is named by its workload, as Istio's ``source_workload``: the pod name without the
  suffixes Kubernetes generates (``productpage-v1-57ffb6658c-vmb6z`` -> ``productpage-v1``),
  then ``.<namespace>``. The instance is ``<pod>.<namespace>``, or the peer's IP when the line
  names no workload. A peer with neither service nor workload is :data:`~meshals.UNKNOWN`.
  With a *resolver*, the peer's address is asked first (the source's ``src.addr``, the
  destination's ``dst.hbone_addr`` when it is an IP, else ``dst.addr``) and the line's names
  are the fallback: pass the resolver of the ALS analysis, and both name peers alike.
- ``peer_identity`` is the far side's SPIFFE id (inbound ``src.identity``, outbound
  ``dst.identity``), ``local_identity`` the near side's; TLS mode is mTLS when both
  identities are logged (ztunnel logs them only for mTLS connections), else NONE.
- Bytes: ``received_bytes`` is what the client sent (the request direction) and
  ``sent_bytes`` what it got back, on both sides, as for an Envoy's downstream connection
  (and Istio's ``istio_tcp_received_bytes_total``/``istio_tcp_sent_bytes_total``). ztunnel
  counts from its own point of view towards the far peer, so inbound ``bytes_recv`` and
  ``bytes_sent`` map straight, and outbound they swap.
- Status: failed when the line carries an ``error`` (or is ``connection failed``).
- Role: :data:`L4_ROLE`. ztunnel stands in for its pods' sidecars: like a sidecar's, its
  metrics are one per side, reported on the local workload's behalf.
- Times: ``start_time_ns`` is the log time less the duration, ``duration_ns`` the duration;
  nothing else (ztunnel logs no byte times), so SkyWalking's millisecond end time equals its
  start time and its latency is 1 ms, while the nanosecond views (``end_time_ns``,
  ``latency_ns``) use the duration.

**Counting each connection side once.** Istio reports a connection once per side: ztunnel
the sides of ambient pods (``istio_tcp_*``), each Envoy its own (sidecars, gateways,
waypoints; a waypoint's HTTP requests as ``istio_requests_total``). With ALS and L4 logs of
the same traffic, the rule is the same: each (connection, side) has one reporter. A request
through a waypoint has four TCP sides (client ztunnel outbound, waypoint inbound and
outbound, server ztunnel inbound), each logged once, and none of them is dropped; the
waypoint's per-request HTTP metrics are a different measure (protocol HTTP/gRPC, not TCP) and
are kept beside ztunnel's per-connection TCP metrics, as Istio keeps both. The one overlap is
an Envoy whose own pod ztunnel also captures (a waypoint or gateway in "sandwich" mode):
ztunnel then logs sides the Envoy already reports through ALS. :class:`EnvoyReporters`
records the Envoys an analysis reads ALS from (by their node's IPs) and tells which L4
lines describe their sides: inbound lines delivered to one of their IPs (``dst.addr``),
outbound lines from one (``src.addr``). Those lines are skipped; the Envoy's entries count.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final

from meshals.model._als import Node
from meshals.model._l4 import ConnectionEvent, Direction, L4Address, L4Connection, L4Peer
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.resolve._protocol import Resolver

from ._accounting import SkipReason
from ._addresses import node_ips

__all__ = ["ZTUNNEL", "EnvoyReporters", "l4_metrics"]

#: The analyzer name of metrics made from L4 connection logs (ztunnel's and Kmesh's).
ZTUNNEL = "ztunnel"

#: The role of L4 metrics. ztunnel reports each side of its local workloads' connections on
#: their behalf, as a sidecar does, so consumers that count per side (Istio's reporters) treat
#: it like one.
L4_ROLE: Final[Role] = Role.ZTUNNEL

# Kubernetes names generated pods from this alphabet (no vowels, no 0, 1, 3): a Deployment's
# pod is <deployment>-<pod-template-hash>-<5 characters>, a DaemonSet's or Job's
# <name>-<5 characters>.
_GENERATED = "bcdfghjklmnpqrstvwxz2456789"
_POD_SUFFIX: Final = re.compile(rf"(?<=.)-[{_GENERATED}]{{5}}$")
_TEMPLATE_HASH: Final = re.compile(rf"(?<=.)-[{_GENERATED}]{{6,10}}$")
_KUBERNETES_SERVICE_HOST: Final = re.compile(r"([^.]+)\.([^.]+)\.svc(?:\.|$)")


def l4_metrics(
    connection: L4Connection,
    *,
    origin: MetricOrigin | None = None,
    resolver: Resolver | None = None,
) -> tuple[ServiceMeshMetric, ...] | SkipReason:
    """The TCP metric of one L4 connection entry, or why it has none (see the module doc).

    Args:
        connection: a line of a ztunnel or Kmesh log.
        origin: where the entry came from; by default its ``source`` and ``index``.
        resolver: asked first to name each peer by its address; None from it, or no
            resolver, names the peer from the line.

    Returns:
        One metric, or :attr:`~meshals.mesh.SkipReason.INTERMEDIATE_ENTRY` for a ``connection
        opened`` line, :attr:`~meshals.mesh.SkipReason.UNKNOWN_DIRECTION` for a line without
        direction.

    >>> from meshals.codec._l4_lines import parse_l4_line
    >>> line = parse_l4_line('2024-05-30T12:18:10.172761Z info access connection complete '
    ...     'src.addr=10.244.0.10:47667 src.workload="sleep-7656cf8794-9v2gv" '
    ...     'src.namespace="demo" dst.addr=10.244.0.7:15008 '
    ...     'dst.service="httpbin.demo.svc.cluster.local" dst.workload="httpbin-86b8ffc5ff-bhvxx" '
    ...     'dst.namespace="demo" direction="inbound" bytes_sent=239 bytes_recv=76 duration="2ms"')
    >>> (metric,) = l4_metrics(line)
    >>> metric.detect_point, metric.source.service, metric.destination.service
    (<DetectPoint.SERVER: 'server'>, 'sleep.demo', 'httpbin.demo')
    >>> metric.destination.instance, metric.received_bytes, metric.sent_bytes
    ('httpbin-86b8ffc5ff-bhvxx.demo', 76, 239)
    """
    if connection.event is ConnectionEvent.OPENED:
        return SkipReason.INTERMEDIATE_ENTRY
    if connection.direction is None:
        return SkipReason.UNKNOWN_DIRECTION
    inbound = connection.direction is Direction.INBOUND
    src, dst = connection.src, connection.dst
    if inbound:
        request, response = connection.bytes_recv, connection.bytes_sent
    else:
        request, response = connection.bytes_sent, connection.bytes_recv
    mutual = src.identity is not None and dst.identity is not None
    if origin is None:
        origin = MetricOrigin(source=connection.source, message_index=connection.index)
    metric = ServiceMeshMetric(
        analyzer=ZTUNNEL,
        role=L4_ROLE,
        detect_point=DetectPoint.SERVER if inbound else DetectPoint.CLIENT,
        protocol=MeshProtocol.TCP,
        source=_named(src, src.address, service_host=None, resolver=resolver),
        destination=_named(
            dst,
            _destination_address(connection),
            service_host=connection.dst_service,
            resolver=resolver,
        ),
        status=connection.error is None and connection.event is ConnectionEvent.COMPLETE,
        tls_mode=TlsMode.MTLS if mutual else TlsMode.NONE,
        peer_identity=src.identity if inbound else dst.identity,
        local_identity=dst.identity if inbound else src.identity,
        timings=EntryTimings(
            start_time_ns=connection.start_time_ns, duration_ns=connection.duration_ns
        ),
        received_bytes=request,
        sent_bytes=response,
        origin=origin,
    )
    return (metric,)


def _destination_address(connection: L4Connection) -> L4Address | None:
    # The HBONE target is the workload itself; dst.addr may be the tunnel's end (port 15008).
    hbone = connection.dst_hbone_address
    return hbone if hbone is not None and hbone.ip is not None else connection.dst.address


def _named(
    peer: L4Peer,
    address: L4Address | None,
    *,
    service_host: str | None,
    resolver: Resolver | None,
) -> ServiceMetaInfo:
    ip = None if address is None else address.ip
    if resolver is not None and address is not None and address.ip is not None:
        resolved = resolver.resolve(address.ip, address.port)
        if resolved is not None:
            return resolved
    namespace = peer.namespace
    if service_host is not None:
        service = service_name_of_host(service_host)
        if namespace is None:
            kubernetes = _KUBERNETES_SERVICE_HOST.match(service_host)
            namespace = None if kubernetes is None else kubernetes.group(2)
    elif peer.workload is not None:
        service = _qualified(workload_name_of_pod(peer.workload), peer.namespace)
    else:
        return UNKNOWN
    if peer.workload is not None:
        instance = _qualified(peer.workload, peer.namespace)
    else:
        instance = UNKNOWN.instance if ip is None else ip
    return ServiceMetaInfo(service=service, instance=instance, namespace=namespace)


def _qualified(name: str, namespace: str | None) -> str:
    return name if namespace is None else f"{name}.{namespace}"


def service_name_of_host(host: str) -> str:
    """The service name of a destination host, as ``k8s-mesh`` names services.

    Args:
        host: ``dst.service``, a host name.

    Returns:
        ``<name>.<namespace>`` for a Kubernetes service host ``<name>.<namespace>.svc...``;
        any other host (a ServiceEntry's) as it is.

    >>> service_name_of_host("reviews.bookinfo.svc.cluster.local")
    'reviews.bookinfo'
    >>> service_name_of_host("api.example.com")
    'api.example.com'
    """
    kubernetes = _KUBERNETES_SERVICE_HOST.match(host)
    return host if kubernetes is None else f"{kubernetes.group(1)}.{kubernetes.group(2)}"


def workload_name_of_pod(pod: str) -> str:
    """The workload a pod belongs to, from the suffixes Kubernetes generates for its name.

    A Deployment's pod ``<deployment>-<hash>-<xxxxx>`` gives the Deployment; a DaemonSet's or
    Job's ``<name>-<xxxxx>`` the name; any other name (a StatefulSet's ``<name>-0``, a bare
    pod, a canonical service name ztunnel logged instead of a pod) is kept. A heuristic: a
    name whose last part happens to look generated loses it.

    >>> workload_name_of_pod("productpage-v1-57ffb6658c-vmb6z")
    'productpage-v1'
    >>> workload_name_of_pod("ztunnel-8xw2q"), workload_name_of_pod("mysql-0")
    ('ztunnel', 'mysql-0')
    """
    suffix = _POD_SUFFIX.search(pod)
    if suffix is None:
        return pod
    base = pod[: suffix.start()]
    template_hash = _TEMPLATE_HASH.search(base)
    return base if template_hash is None else base[: template_hash.start()]


class EnvoyReporters:
    """The Envoys an analysis reads ALS from, and the L4 lines that describe their sides.

    An Envoy reports every connection side it terminates (see the module docstring). When
    ztunnel also captures the Envoy's pod (a waypoint or gateway in "sandwich" mode), its
    lines about those sides would count them twice: :meth:`reports` finds them, by the
    Envoy's IPs (from its node id and ``INSTANCE_IPS``, as
    :func:`~meshals.mesh._addresses.node_ips` reads them). Add every stream's node before the
    L4 lines it covers (e.g. read the ALS inputs first), or give the IPs up front.

    >>> from meshals import Node
    >>> envoys = EnvoyReporters()
    >>> envoys.add(Node(id="waypoint~10.244.2.229~waypoint-5567b86c58-jtj8k.caffeine~"
    ...                    "caffeine.svc.cluster.local"))
    >>> envoys.ips
    frozenset({'10.244.2.229'})
    """

    def __init__(self, ips: Iterable[str] = ()) -> None:
        self._ips: set[str] = set()
        for ip in ips:
            self.add_ip(ip)

    @property
    def ips(self) -> frozenset[str]:
        """The IPs of the Envoys added so far (canonical text form)."""
        return frozenset(self._ips)

    def add(self, node: Node | None) -> None:
        """Add the Envoy of a stream identifier's node (nothing for None or a node without IPs).

        Args:
            node: the node of an ALS stream's identifier.
        """
        self._ips.update(node_ips(node))

    def add_ip(self, ip: str) -> None:
        """Add one Envoy IP.

        Args:
            ip: an IPv4 or IPv6 address.

        Raises:
            ValueError: *ip* is not an IP address.
        """
        self._ips.add(str(ipaddress.ip_address(ip)))

    def reports(self, connection: L4Connection) -> bool:
        """Whether an added Envoy reports the side of the connection *connection* describes.

        Args:
            connection: a line of a ztunnel or Kmesh log.

        Returns:
            True for an inbound line whose ``dst.addr`` (or HBONE target) is an Envoy's IP,
            and for an outbound line whose ``src.addr`` is; False otherwise (also for lines
            without direction).
        """
        if connection.direction is Direction.INBOUND:
            local = [connection.dst.address, connection.dst_hbone_address]
        elif connection.direction is Direction.OUTBOUND:
            local = [connection.src.address]
        else:
            return False
        return any(address is not None and address.ip in self._ips for address in local)
