"""Istio's workload identity of the two sides of an entry: who Istio's telemetry says they are.

This is Istio's rule set, kept apart from the SkyWalking service-name rules of ``k8s-mesh``
and ``mx-mesh`` (neither reads the other). A side is named, in this order:

1. **The reporting proxy itself**: its node metadata, as Istio's stats filter reads it once
   per process (istio/proxy ``source/extensions/filters/http/istio_stats/istio_stats.cc``,
   ``Context``): ``WORKLOAD_NAME``, ``NAMESPACE``, ``CLUSTER_ID``, ``SERVICE_ACCOUNT`` and the
   ``LABELS`` ``service.istio.io/canonical-name``, ``service.istio.io/canonical-revision``,
   ``app``, ``version``. A key the node does not have is taken from the snapshot's pod at the
   node's own IP (an Envoy that is not Istio's has no such metadata).
2. **A peer**: Istio's peer metadata in the entry's filter state (``downstream_peer``,
   ``upstream_peer``, :mod:`meshals.mesh._peers`), read as Istio reads it
   (istio/proxy ``extensions/common/metadata_object.cc``, ``convertStructToWorkloadMetadata``):
   lower-case keys ``workload``, ``namespace``, ``service`` (canonical name), ``revision``,
   ``app``, ``version``, ``cluster``, or the node-metadata layout above. Used as it is: a key
   it lacks stays unknown, as in Istio.
3. Else the Kubernetes snapshot's pod at the peer's IP
   (:class:`~meshals.resolve.KubernetesWorkloads`: owner -> workload, canonical labels with
   their fallbacks; the cluster is unknown). This stands in for what Istio's client side reads
   from the upstream host's endpoint metadata (``extractEndpointMetadata``), which ALS does
   not log.
4. Else unknown.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from meshals.model._als import Node
from meshals.model._istio import IstioWorkload
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._peers import node_metadata

__all__: list[str] = []

_CANONICAL_NAME = "service.istio.io/canonical-name"
_CANONICAL_REVISION = "service.istio.io/canonical-revision"


def _text(metadata: Mapping[str, object], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def metadata_workload(metadata: Mapping[str, object]) -> IstioWorkload:
    """The workload a peer's or node's metadata describes (both layouts, module docstring)."""
    labels = metadata.get("LABELS")
    label_map: Mapping[str, object] = labels if isinstance(labels, Mapping) else {}
    return IstioWorkload(
        workload=_text(metadata, "WORKLOAD_NAME") or _text(metadata, "workload"),
        namespace=_text(metadata, "NAMESPACE") or _text(metadata, "namespace"),
        canonical_service=_text(label_map, _CANONICAL_NAME) or _text(metadata, "service"),
        canonical_revision=_text(label_map, _CANONICAL_REVISION) or _text(metadata, "revision"),
        app=_text(label_map, "app") or _text(metadata, "app"),
        version=_text(label_map, "version") or _text(metadata, "version"),
        cluster=_text(metadata, "CLUSTER_ID") or _text(metadata, "cluster"),
        service_account=_text(metadata, "SERVICE_ACCOUNT"),
        identity=_text(metadata, "identity"),
    )


def _filled(primary: IstioWorkload, fallback: IstioWorkload | None) -> IstioWorkload:
    """*primary*, each None field taken from *fallback*."""
    if fallback is None:
        return primary
    return IstioWorkload(
        **{
            field.name: getattr(primary, field.name) or getattr(fallback, field.name)
            for field in attrs.fields(IstioWorkload)
        }
    )


class OwnWorkloads:
    """The reporting proxy's own workload per node, computed once per identifier."""

    __slots__ = ("_last", "_workloads")

    def __init__(self, workloads: KubernetesWorkloads | None) -> None:
        self._workloads = workloads
        self._last: tuple[Node | None, tuple[str, ...], IstioWorkload] | None = None

    def of(self, node: Node | None, own_ips: tuple[str, ...]) -> IstioWorkload:
        """The workload of the Envoy *node* (own IPs *own_ips*), rule 1 of the module."""
        last = self._last
        if last is not None and last[0] is node and last[1] == own_ips:
            return last[2]
        own = metadata_workload(node_metadata(node))
        if self._workloads is not None:
            for ip in own_ips:
                own = _filled(own, self._workloads.workload(ip))
        self._last = (node, own_ips, own)
        return own


def peer_workload(
    metadata: Mapping[str, object] | None, ip: str | None, workloads: KubernetesWorkloads | None
) -> IstioWorkload | None:
    """A peer's workload by rules 2-4 of the module; None when unknown."""
    if metadata is not None:
        return metadata_workload(metadata)
    if ip is None or workloads is None:
        return None
    return workloads.workload(ip)
