"""Istio's workload of a pod IP, from an offline Kubernetes snapshot (Istio's rules, not
SkyWalking's service names).

:class:`KubernetesWorkloads` answers "which workload is behind this IP" the way Istio's
control plane names the pod in its telemetry metadata:

- **workload**: label ``service.istio.io/workload-name`` when set; else, for a pod with a
  ``generateName`` and a controlling owner reference, the owner's name, a ReplicaSet's without
  its ``-<pod-template-hash>`` (the Deployment) and a Job's without a ``-<8 to 10 digits>``
  suffix (the CronJob); else the pod's name. (istio/istio ``pkg/kube/util.go``,
  ``GetWorkloadMetaFromPod`` and ``GetDeployMetaFromPod``.)
- **canonical service**: label ``service.istio.io/canonical-name``, else
  ``app.kubernetes.io/name``, else ``app``, else the workload; **canonical revision**:
  ``service.istio.io/canonical-revision``, else ``app.kubernetes.io/version``, else
  ``version``, else ``latest`` (istio/istio ``pkg/config/labels``, ``CanonicalService``).
- **app**, **version**: the labels as they are (None when absent); **namespace**: the pod's;
  **service account**: ``spec.serviceAccountName``; **cluster**: None, a snapshot does not say.

Which pod an IP names follows :class:`~meshals.resolve.KubernetesResolver`: node IPs,
ClusterIPs and ``hostNetwork`` pods name no workload; of several pods on one IP, running ones
first, then by (namespace, name). :meth:`KubernetesWorkloads.service_of` gives the Service
whose Endpoints or EndpointSlices list the pod, on a given target port (the first by
(namespace, name)).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from meshals._values import FrozenMap
from meshals.model._istio import IstioWorkload

from ._k8s_snapshot import _Pod, _ServiceIndex, _Snapshot, pods_by_ip
from ._resolvers import IPAddress, canonical_ip, load_json
from ._resolvers import read_file as _read_file

__all__ = ["KubernetesWorkloads"]

_WORKLOAD_NAME_LABEL = "service.istio.io/workload-name"
_POD_TEMPLATE_HASH = "pod-template-hash"
# istio/istio pkg/kube/util.go, cronJobNameRegexp: a Job a CronJob made is named
# <cronjob>-<scheduled time in minutes>.
_CRON_JOB_NAME = re.compile(r"(.+)-\d{8,10}")
_CANONICAL_NAME_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_CANONICAL_REVISION_LABELS = (
    "service.istio.io/canonical-revision",
    "app.kubernetes.io/version",
    "version",
)


def workload_name(pod: _Pod) -> str:
    """The workload name Istio gives *pod* (module docstring)."""
    override = pod.labels.get(_WORKLOAD_NAME_LABEL)
    if override is not None:
        return override
    name = pod.key[1]
    if not pod.generate_name or pod.controller is None:
        return name
    kind, owner = pod.controller
    template_hash = pod.labels.get(_POD_TEMPLATE_HASH, "")
    if kind == "ReplicaSet" and template_hash and owner.endswith(template_hash):
        return owner[: -len(template_hash) - 1]
    if kind == "Job":
        cron = _CRON_JOB_NAME.fullmatch(owner)
        if cron is not None:
            return cron.group(1)
    return owner


def _first_label(labels: Mapping[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return None


def pod_workload(pod: _Pod) -> IstioWorkload:
    """Istio's :class:`~meshals.model.IstioWorkload` for *pod* (module docstring)."""
    name = workload_name(pod)
    return IstioWorkload(
        workload=name,
        namespace=pod.key[0],
        canonical_service=_first_label(pod.labels, _CANONICAL_NAME_LABELS) or name,
        canonical_revision=_first_label(pod.labels, _CANONICAL_REVISION_LABELS) or "latest",
        app=pod.labels.get("app") or None,
        version=pod.labels.get("version") or None,
        service_account=pod.service_account,
    )


class KubernetesWorkloads:
    """Istio's workload (and Service) behind a pod IP, from an offline Kubernetes snapshot.

    The snapshot is read as :class:`~meshals.resolve.KubernetesResolver` reads it (the same
    documents, kinds and errors); the rules are in the module docstring. Immutable; lookups
    never raise.

    Args:
        documents: parsed JSON documents (``kubectl get ... -o json``), merged in order.

    Raises:
        ResolverError: a document is malformed; the message names the document and JSON path.

    >>> pod = {"kind": "Pod", "metadata": {"name": "reviews-v1-7d8f-x2k", "namespace": "shop",
    ...        "generateName": "reviews-v1-7d8f-", "labels": {"app": "reviews",
    ...        "version": "v1", "pod-template-hash": "7d8f"}, "ownerReferences": [{"kind":
    ...        "ReplicaSet", "name": "reviews-v1-7d8f", "controller": True}]},
    ...        "spec": {"serviceAccountName": "reviews"}, "status": {"podIP": "10.1.2.3"}}
    >>> found = KubernetesWorkloads({"kind": "List", "items": [pod]}).workload("10.1.2.3")
    >>> found.workload, found.canonical_service, found.canonical_revision
    ('reviews-v1', 'reviews', 'v1')
    """

    __slots__ = ("_labels", "_pods", "_services", "_workloads")

    def __init__(self, *documents: Mapping[str, object]) -> None:
        snapshot = _Snapshot()
        for index, document in enumerate(documents, 1):
            snapshot.add_document(document, f"<document {index}>")
        self._load(snapshot)

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]]) -> KubernetesWorkloads:
        """The workloads of snapshot files (``kubectl ... -o json > file``), merged in order.

        Raises:
            ResolverError: a file is not JSON or is malformed; the message names the file.
            OSError: a file cannot be read.
        """
        snapshot = _Snapshot()
        for path in paths:
            source = os.fspath(path)
            snapshot.add_document(load_json(_read_file(path), source=source), source)
        return cls._of(snapshot)

    @classmethod
    def _of(cls, snapshot: _Snapshot) -> KubernetesWorkloads:
        workloads = cls.__new__(cls)
        workloads._load(snapshot)
        return workloads

    def _load(self, snapshot: _Snapshot) -> None:
        not_pods = {ip for ips in snapshot.node_ips.values() for ip in ips}
        not_pods.update(ip for ips in snapshot.cluster_ips.values() for ip in ips)
        index = _ServiceIndex(snapshot)
        self._workloads: dict[IPAddress, IstioWorkload] = {}
        self._labels: dict[IPAddress, FrozenMap[str, str]] = {}
        # Per pod IP: its Services by (namespace, name), with the target ports they list.
        self._services: dict[IPAddress, list[tuple[str, str, frozenset[int]]]] = {}
        self._pods = tuple(
            (pod_workload(pod), FrozenMap(pod.labels))
            for _, pod in sorted(snapshot.pods.items())
            if not pod.finished
        )
        for ip, pod in pods_by_ip(snapshot).items():
            if ip in not_pods:
                continue
            self._workloads[ip] = pod_workload(pod)
            self._labels[ip] = FrozenMap(pod.labels)
            self._services[ip] = [
                (name, namespace, index.ports((namespace, name)))
                for namespace, name in sorted(index.of(pod))
            ]

    def workload(self, ip: str) -> IstioWorkload | None:
        """Istio's workload of the pod at *ip*, or None when no pod of the snapshot has it."""
        address = canonical_ip(ip)
        return None if address is None else self._workloads.get(address)

    def labels(self, ip: str) -> FrozenMap[str, str] | None:
        """The labels of the pod at *ip* (what a workload selector matches), or None when no
        pod of the snapshot has it."""
        address = canonical_ip(ip)
        return None if address is None else self._labels.get(address)

    def pods(self) -> tuple[tuple[IstioWorkload, FrozenMap[str, str]], ...]:
        """Every pod of the snapshot that has not finished, with or without an IP, by
        (namespace, name): its workload (namespace and name among them) and its labels. What a
        workload selector of the namespace could pick.
        """
        return self._pods

    def service_of(self, ip: str, port: int | None = None) -> tuple[str, str] | None:
        """(name, namespace) of the Service whose endpoints list the pod at *ip* (on *port*,
        when given and the endpoints list ports), the first by (namespace, name); or None.

        This is what an Istio inbound cluster's ``istio.services`` metadata names: the
        Services of the local pod on the cluster's port (istio/istio
        ``pilot/pkg/networking/core/cluster_builder.go``, ``addTelemetryMetadata``).
        """
        address = canonical_ip(ip)
        for name, namespace, ports in () if address is None else self._services.get(address, ()):
            if port is None or not ports or port in ports:
                return name, namespace
        return None

    def __repr__(self) -> str:
        return f"<KubernetesWorkloads: {len(self._workloads)} pod addresses>"
