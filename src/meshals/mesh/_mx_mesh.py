"""The ``mx-mesh`` rules: metrics from Istio's metadata exchange, no resolver needed.

Istio's sidecars and gateways tell each other who they are (the metadata exchange) and keep
what they learnt in the filter state (:mod:`meshals.mesh._peers`). ``mx-mesh`` names the Envoy's own
workload from its node metadata and the other side from those peer objects, both with the
:class:`~meshals.resolve.MetadataServiceMapping` rules. Per entry:

- an upstream peer gives a client-side metric, the Envoy's workload -> the peer;
- a downstream peer gives a server-side metric, the peer -> the Envoy's workload;
- a gateway or waypoint (:attr:`~meshals.Role.PROXY`, :attr:`~meshals.Role.WAYPOINT`) without
  downstream peer still gives the server-side metric, from :data:`~meshals.UNKNOWN`: callers
  from outside the mesh exchange no metadata. In a chain of analyzers this metric is a
  stand-in: a later analyzer that can fill the server side replaces it.

HTTP and TCP entries follow the same rules; every other field of a metric is built as
``k8s-mesh`` builds it (client-side metrics of gateways and waypoints have TLS mode NONE).
Entries are skipped when they have no common properties, are intermediate entries, when the
node metadata names no workload (``no-local-identity``), or when they yield nothing:
``malformed-peer`` if a peer object could not be decoded, else ``no-peer``.

With ``semantics="skywalking"`` the entry follows SkyWalking's own ``mx-mesh`` instead: a
metric per peer key in the filter state's order (both key generations; ``Struct`` and FlatNode
values only, no ``StringValue``), names rendered from the metadata as it is with ``-`` for a
missing part, ``pod`` and ``namespace`` properties, and a gateway or waypoint HTTP entry with an
upstream host and no downstream peer gets the server side from UNKNOWN after the others.
Entries without any are skipped as ``skywalking-no-metric: no-peer``.

Deliberate differences from SkyWalking's ``mx-mesh`` (meshals' semantics):

=====================================  =======================  =========================
case                                   SkyWalking               meshals
=====================================  =======================  =========================
gateway entry, no peer nor upstream    no metric                the stand-in server side
gateway TCP entry, no downstream peer  no metric                the stand-in server side
a gateway entry's two metrics          client side first        server side first
both key generations in one entry      a metric per key         one: the modern key wins
a ``StringValue`` peer                 not read                 read
peer value that cannot be decoded      logged, dropped          a diagnostic per entry
node metadata naming nothing           names ``-.-`` and ``-``  no-local-identity
Istio 1.1 flat node metadata           names ``-.-`` and ``-``  named
text after the last placeholder        dropped                  kept
=====================================  =======================  =========================
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import attrs

from meshals._values import FrozenMap
from meshals.model._als import AccessLogCommon, HttpEntry, LogEntry, Node
from meshals.model._metrics import DetectPoint, MetricOrigin, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.resolve._naming import MetadataServiceMapping, MetadataTemplate
from meshals.resolve._templates import MISSING_VALUE

from ._accounting import SkipReason
from ._addresses import endpoint_of
from ._builder import build_metric, metric_parts
from ._k8s_mesh import EndpointQuery, is_intermediate
from ._peers import Peer, PeerProblem, PeerSide, node_metadata, peers_of, skywalking_peers
from ._semantics import SKYWALKING, Semantics

__all__ = ["MX_MESH", "MxMeshAnalyzer"]

#: The analyzer that names workloads from Istio's metadata exchange.
MX_MESH = "mx-mesh"

_GATEWAY_ROLES = frozenset({Role.PROXY, Role.WAYPOINT})
# The instance properties SkyWalking's mx-mesh sends.
_SKYWALKING_PROPERTIES = (
    ("pod", MetadataTemplate("${NAME}")),
    ("namespace", MetadataTemplate("${NAMESPACE}")),
)


@attrs.frozen(kw_only=True)
class MxOutcome:
    """What ``mx-mesh`` made of one entry.

    Attributes:
        metrics: the metrics backed by a peer object (server side first).
        stand_ins: a gateway's server-side metric from UNKNOWN, used unless a later analyzer
            fills the server side.
        problems: peer objects that could not be decoded.
        skipped: why the entry gave nothing, or None.
    """

    metrics: tuple[ServiceMeshMetric, ...] = ()
    stand_ins: tuple[ServiceMeshMetric, ...] = ()
    problems: tuple[PeerProblem, ...] = ()
    skipped: SkipReason | None = None


class MxMeshAnalyzer:
    """Applies the ``mx-mesh`` rules (module docstring) to one entry at a time.

    Args:
        mapping: how workloads are named; SkyWalking's default rules when None.
        endpoint_query: keep or strip the query string of HTTP paths in ``endpoint``.
        semantics: meshals' rules, or SkyWalking's (:mod:`meshals.mesh._semantics`).
    """

    def __init__(
        self,
        mapping: MetadataServiceMapping | None = None,
        *,
        endpoint_query: EndpointQuery = "keep",
        semantics: Semantics = "meshals",
    ) -> None:
        self._mapping = MetadataServiceMapping() if mapping is None else mapping
        self._strip_query = endpoint_query == "strip"
        self._semantics: Semantics = semantics
        # SkyWalking's formatter drops the text after the last placeholder.
        self._skywalking_rules = (
            self._mapping.service_name.without_tail(),
            self._mapping.service_instance_name.without_tail(),
        )
        # The node of a stream is one object for all its entries: name it once.
        self._last_node: Node | None = None
        self._last_local: ServiceMetaInfo | None = None

    def local_identity(self, node: Node | None) -> ServiceMetaInfo | None:
        """The Envoy's own workload, named from *node*'s metadata; None if it names nothing."""
        if node is None or node is not self._last_node:
            self._last_node = node
            self._last_local = self._mapping.name(node_metadata(node))
        return self._last_local

    def analyze(
        self, entry: LogEntry, *, role: Role, node: Node | None, origin: MetricOrigin
    ) -> MxOutcome:
        """The metrics of *entry*, logged by the Envoy *node* in *role* (not NONE).

        Args:
            entry: an HTTP or TCP entry.
            role: the Envoy's role.
            node: the stream identifier's node (its metadata names the Envoy's workload).
            origin: where the entry came from.

        Returns:
            The outcome: metrics, a stand-in, undecodable peers, or why there is nothing.
        """
        common = entry.common_properties
        if common is None:
            return MxOutcome(skipped=SkipReason.NO_COMMON_PROPERTIES)
        if self._semantics == SKYWALKING:
            return self._skywalking(entry, common, role, node, origin)
        if is_intermediate(common):
            return MxOutcome(skipped=SkipReason.INTERMEDIATE_ENTRY)
        local = self.local_identity(node)
        if local is None:
            return MxOutcome(skipped=SkipReason.NO_LOCAL_IDENTITY)
        peers = peers_of(common.filter_state_objects)
        build = self._builder(entry, common, role, origin)
        gateway = role in _GATEWAY_ROLES
        metrics: list[ServiceMeshMetric] = []
        stand_ins: tuple[ServiceMeshMetric, ...] = ()
        if peers.downstream is not None:
            source = self._peer_identity(peers.downstream)
            metrics.append(build(DetectPoint.SERVER, source, local, tls=True))
        elif gateway:
            stand_ins = (build(DetectPoint.SERVER, UNKNOWN, local, tls=True),)
        if peers.upstream is not None:
            destination = self._peer_identity(peers.upstream)
            # As k8s-mesh: ALS logs the TLS of the downstream connection only.
            metrics.append(build(DetectPoint.CLIENT, local, destination, tls=not gateway))
        skipped = None
        if not metrics and not stand_ins:
            skipped = SkipReason.MALFORMED_PEER if peers.problems else SkipReason.NO_PEER
        return MxOutcome(
            metrics=tuple(metrics), stand_ins=stand_ins, problems=peers.problems, skipped=skipped
        )

    def _builder(
        self, entry: LogEntry, common: AccessLogCommon, role: Role, origin: MetricOrigin
    ) -> functools.partial[ServiceMeshMetric]:
        """build_metric with what the metrics of *entry* share: one per decision."""
        skywalking = self._semantics == SKYWALKING
        parts = metric_parts(
            entry, common, role, origin, self._strip_query, analyzer=MX_MESH, skywalking=skywalking
        )
        return functools.partial(build_metric, parts)

    def _skywalking(
        self,
        entry: LogEntry,
        common: AccessLogCommon,
        role: Role,
        node: Node | None,
        origin: MetricOrigin,
    ) -> MxOutcome:
        """SkyWalking's own mx-mesh rules (``semantics="skywalking"``): a metric per peer key
        in the filter state's order (no ``StringValue`` peers), names with ``-`` for what the
        metadata lacks (its node metadata as it is), and a gateway's HTTP entry with an
        upstream host and no downstream peer a server-side metric from UNKNOWN after them."""
        build = self._builder(entry, common, role, origin)
        own = node.metadata if node is not None else None
        local = self._skywalking_name(FrozenMap() if own is None else own)
        metrics = []
        downstream = False
        for side, metadata in skywalking_peers(common.filter_state_objects):
            peer = self._skywalking_name(metadata)
            if side is PeerSide.DOWNSTREAM:
                downstream = True
                metrics.append(build(DetectPoint.SERVER, peer, local, tls=True))
            else:
                metrics.append(build(DetectPoint.CLIENT, local, peer, tls=role is Role.SIDECAR))
        if (
            role in _GATEWAY_ROLES
            and isinstance(entry, HttpEntry)
            and not downstream
            and endpoint_of(common.upstream_remote_address) is not None
        ):
            metrics.append(build(DetectPoint.SERVER, UNKNOWN, local, tls=True))
        if not metrics:
            return MxOutcome(skipped=SkipReason.SKYWALKING_NO_PEER)
        return MxOutcome(metrics=tuple(metrics))

    def _skywalking_name(self, metadata: Mapping[str, object]) -> ServiceMetaInfo:
        """SkyWalking's names: the rules with ``-`` for a missing part; ``pod`` and
        ``namespace`` properties from ``NAME`` and ``NAMESPACE``."""
        tags = {
            tag: value
            for tag, template in _SKYWALKING_PROPERTIES
            if (value := template.render(metadata)) != MISSING_VALUE
        }
        service_rule, instance_rule = self._skywalking_rules
        return ServiceMetaInfo(
            service=service_rule.render(metadata),
            instance=instance_rule.render(metadata),
            namespace=tags.get("namespace"),
            tags=tags,
        )

    def _peer_identity(self, peer: Peer) -> ServiceMetaInfo:
        found = self._mapping.name(peer.metadata)
        return UNKNOWN if found is None else found
