"""Istio's workload identity of the two sides of an entry: who Istio's telemetry says they are.

This is Istio's rule set, kept apart from the SkyWalking service-name rules of ``k8s-mesh``
and ``mx-mesh`` (neither reads the other). A side is named, in this order:

1. **The reporting proxy itself**: its node metadata, as Istio's stats filter reads it once
   per process (istio/proxy ``source/extensions/filters/http/istio_stats/istio_stats.cc``,
   ``Context``): ``WORKLOAD_NAME``, ``NAMESPACE``, ``CLUSTER_ID``, ``SERVICE_ACCOUNT`` and the
   ``LABELS`` ``service.istio.io/canonical-name``, ``service.istio.io/canonical-revision``,
   ``app``, ``version``. A node without ``WORKLOAD_NAME`` (an Envoy that is not Istio's) is
   described by the snapshot's pod at its own IP, the node's keys filling what the pod lacks.
2. **A peer**: Istio's peer metadata in the entry's filter state (``downstream_peer``,
   ``upstream_peer``, :mod:`meshals.mesh._peers`), read as Istio reads it
   (istio/proxy ``extensions/common/metadata_object.cc``, ``convertStructToWorkloadMetadata``):
   lower-case keys ``workload``, ``namespace``, ``service`` (canonical name), ``revision``,
   ``app``, ``version``, ``cluster``, ``identity``, used as they are (a key it lacks stays
   unknown, as in Istio); or the node-metadata layout above.
3. Else the Kubernetes snapshot's pod at the peer's IP
   (:class:`~meshals.resolve.KubernetesWorkloads`: owner -> workload, canonical labels with
   their fallbacks) as Istio's workload discovery describes it (``discovered``: app and
   version are the canonical ones; the cluster is the reporting proxy's). This stands in for
   what Istio's client side reads from the upstream host's endpoint metadata
   (``extractEndpointMetadata``), which ALS does not log.
4. Else unknown.

In the node-metadata layout the canonical labels fall back as the sidecar injector sets them
(``service.istio.io/canonical-name``, ``app.kubernetes.io/name``, ``app``, the workload;
revision ``service.istio.io/canonical-revision``, ``app.kubernetes.io/version``, ``version``,
``latest``), and ``app``/``version`` prefer ``app.kubernetes.io/name``/``-version``. The
reporting proxy's own labels that nothing gives are empty, as Istio writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from meshals.model._als import Node
from meshals.model._istio import IstioWorkload
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._peers import node_metadata

__all__: list[str] = []

_CANONICAL_NAMES = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_CANONICAL_REVISIONS = (
    "service.istio.io/canonical-revision",
    "app.kubernetes.io/version",
    "version",
)
_TRUST_DOMAIN = "cluster.local"


def _text(metadata: Mapping[str, object], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def metadata_workload(metadata: Mapping[str, object]) -> IstioWorkload:
    """The workload a peer's or node's metadata describes (both layouts, module docstring)."""
    labels = metadata.get("LABELS")
    if not isinstance(labels, Mapping) and any(key.islower() for key in metadata):
        # The WorkloadMetadataObject layout: every token as it is.
        return IstioWorkload(
            workload=_text(metadata, "workload"),
            namespace=_text(metadata, "namespace"),
            canonical_service=_text(metadata, "service"),
            canonical_revision=_text(metadata, "revision"),
            app=_text(metadata, "app"),
            version=_text(metadata, "version"),
            cluster=_text(metadata, "cluster"),
            identity=_text(metadata, "identity"),
        )
    label_map: Mapping[str, object] = labels if isinstance(labels, Mapping) else {}
    workload = _text(metadata, "WORKLOAD_NAME")
    # The injector writes the canonical labels into every injected pod (istio/istio
    # pkg/kube/labels CanonicalService), so a proxy's LABELS have them; the same fallbacks
    # stand in where they are missing. metadata_object.cc: the qualified app labels first.
    return IstioWorkload(
        workload=workload,
        namespace=_text(metadata, "NAMESPACE"),
        canonical_service=_first(label_map, _CANONICAL_NAMES) or workload,
        canonical_revision=_first(label_map, _CANONICAL_REVISIONS) or "latest",
        app=_first(label_map, ("app.kubernetes.io/name", "app")),
        version=_first(label_map, ("app.kubernetes.io/version", "version")),
        cluster=_text(metadata, "CLUSTER_ID"),
        service_account=_text(metadata, "SERVICE_ACCOUNT"),
        identity=_text(metadata, "IDENTITY"),
    )


def _first(labels: Mapping[str, object], keys: tuple[str, ...]) -> str | None:
    return next((found for key in keys if (found := _text(labels, key))), None)


def discovered(workload: IstioWorkload, cluster: str | None, trust_domain: str) -> IstioWorkload:
    """A snapshot's pod as Istio's workload discovery describes it (istio/proxy
    ``extensions/common/workload_discovery/api.cc``, ``convert``): app and version are the
    canonical service and revision, the identity ``spiffe://<trust domain>/ns/<ns>/sa/<sa>``;
    the cluster, which a snapshot does not say, is the reporting proxy's ``CLUSTER_ID``.
    """
    identity = None
    if workload.namespace:
        account = workload.service_account or "default"
        identity = f"spiffe://{trust_domain}/ns/{workload.namespace}/sa/{account}"
    return attrs.evolve(
        workload,
        app=workload.canonical_service,
        version=workload.canonical_revision,
        cluster=cluster,
        identity=identity,
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
        if own.workload is None and self._workloads is not None:
            # Not Istio's node metadata: the pod at the node's own IP, if the snapshot has it,
            # with what the node does say (e.g. CLUSTER_ID) where the pod says nothing.
            for ip in own_ips:
                pod = self._workloads.workload(ip)
                if pod is not None:
                    own = _filled(pod, own)
                    break
        self._last = (node, own_ips, own)
        return own


def peer_workload(
    metadata: Mapping[str, object] | None,
    ip: str | None,
    workloads: KubernetesWorkloads | None,
    *,
    cluster: str | None,
) -> IstioWorkload | None:
    """A peer's workload by rules 2-4 of the module; None when unknown.

    *cluster* is the reporting proxy's ``CLUSTER_ID``, which a snapshot's pod is taken to
    share (a snapshot is of one cluster).
    """
    if metadata is not None:
        return metadata_workload(metadata)
    if ip is None or workloads is None:
        return None
    found = workloads.workload(ip)
    return None if found is None else discovered(found, cluster, _TRUST_DOMAIN)
