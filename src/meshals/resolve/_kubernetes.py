"""Names addresses from an offline Kubernetes snapshot, as SkyWalking's ``k8s-mesh`` does live.

A snapshot is what ``kubectl get pods,services,endpoints,endpointslices,nodes -A -o json``
prints (a ``v1 List``), optionally with ``kubectl get serviceentries -A -o json``; several
documents are merged, a later object replacing an earlier one of the same kind, namespace and
name. Typed lists (``PodList`` from the API, whose items carry no ``kind``) and single objects
are read too. Other kinds are ignored.

An address is answered in this order (ports are ignored: a pod is the same workload on every
port, and a caller's ephemeral port says nothing):

1. A Node's ``InternalIP``/``ExternalIP``: None. ``hostNetwork`` pods share it, so it names
   no single workload.
2. A Service's ClusterIP: None. A VIP is not a workload; SkyWalking names pod IPs only and the
   rules are written against pods (and the Envoy recordings' resolver leaves VIPs unknown).
3. A pod IP (``status.podIP``, ``status.podIPs``) of a pod without ``hostNetwork``: the Service
   whose Endpoints (``subsets[*].addresses``/``notReadyAddresses``) or EndpointSlices (label
   ``kubernetes.io/service-name``) list the pod, by IP or by ``targetRef``; not-ready ones count.
   Membership comes from the endpoints, not from selectors: the control plane already
   computed it. Several pods on one IP (a finished Job's IP reused): running ones first, then
   by (namespace, name). Several services: the first by (namespace, name). A pod behind no
   service is None (SkyWalking's UNKNOWN), as is an endpoint IP with no pod in the snapshot.
   Names: :class:`KubernetesNaming` rules over ``{"pod": ..., "service": ...}``; the namespace
   is the pod's; tags are ``pod`` (the pod's name), ``namespace``, then the pod labels listed
   in ``tag_labels`` (default all), as SkyWalking sends them as instance properties. With
   ``semantics="skywalking"`` only the Endpoints' ready ``addresses`` count, as in
   SkyWalking's registry (EndpointSlices and ``notReadyAddresses`` are ignored).
4. An Istio ServiceEntry's ``spec.endpoints[*].address`` (IPs only; hostnames are skipped):
   rules over ``{"serviceEntry": ..., "endpoint": ...}``; tags from the endpoint's labels.
5. A ServiceEntry's ``spec.addresses`` (IPs and CIDRs) when its ``resolution`` is ``STATIC``
   or ``NONE`` (the default): the longest prefix wins, then (namespace, name); rules over
   ``{"serviceEntry": ...}``.

Malformed snapshot input (a field of the wrong type, an address that is not an IP, a pod
without a name) is a :class:`ResolverError` naming the document and JSON path.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping

from meshals._errors import Diagnostic
from meshals.model._metrics import Semantics
from meshals.model._service import ServiceMetaInfo

from ._k8s_gaps import snapshot_gaps
from ._k8s_naming import KubernetesNaming
from ._k8s_snapshot import (
    IPNetwork,
    _Key,
    _Pod,
    _ServiceEntry,
    _ServiceIndex,
    _Snapshot,
    pods_by_ip,
)
from ._k8s_workloads import KubernetesWorkloads
from ._resolvers import IPAddress, canonical_ip, load_json
from ._resolvers import read_file as _read_file
from ._templates import NameTemplate

__all__ = ["KubernetesResolver"]

_NetworkTables = list[tuple[int, dict[IPNetwork, ServiceMetaInfo]]]


def _pod_answers(
    snapshot: _Snapshot,
    naming: KubernetesNaming,
    exact: dict[IPAddress, ServiceMetaInfo | None],
    semantics: Semantics,
) -> None:
    services = _ServiceIndex(snapshot, ready_only=semantics == "skywalking")
    rules = (naming.service_rule, naming.instance_rule)
    if semantics == "skywalking":  # its formatter drops the text after the last placeholder
        rules = (naming.service_rule.without_tail(), naming.instance_rule.without_tail())
    answers: dict[_Key, ServiceMetaInfo | None] = {}
    for ip, pod in pods_by_ip(snapshot).items():
        if ip in exact:  # a node or cluster IP: decided already
            continue
        if pod.key not in answers:
            answers[pod.key] = _pod_answer(snapshot, naming, rules, pod, services.of(pod))
        exact[ip] = answers[pod.key]


def _pod_answer(
    snapshot: _Snapshot,
    naming: KubernetesNaming,
    rules: tuple[NameTemplate, NameTemplate],
    pod: _Pod,
    services: set[_Key],
) -> ServiceMetaInfo | None:
    if not services:
        return None
    service_key = min(services)
    namespace, name = service_key
    # Endpoints without their Service object (a partial snapshot): its name is all we know.
    service = snapshot.services.get(service_key) or {
        "metadata": {"name": name, "namespace": namespace}
    }
    context = {"pod": pod.raw, "service": service}
    return ServiceMetaInfo(
        service=rules[0].render(context),
        instance=rules[1].render(context),
        namespace=pod.key[0],
        tags={"pod": pod.key[1], "namespace": pod.key[0], **naming.tags(pod.labels)},
    )


def _service_entry_answers(
    snapshot: _Snapshot, naming: KubernetesNaming, exact: dict[IPAddress, ServiceMetaInfo | None]
) -> _NetworkTables:
    tables: dict[int, dict[IPNetwork, ServiceMetaInfo]] = {}
    for key in sorted(snapshot.service_entries):  # the first by (namespace, name) wins
        entry = snapshot.service_entries[key]
        for address, endpoint, labels in entry.endpoints:
            if address not in exact:
                exact[address] = _service_entry_answer(naming, entry, endpoint, labels)
        for network in entry.networks:
            # IPv4 and IPv6 prefixes share a table: an IPv4 address never equals an IPv6 one.
            table = tables.setdefault(network.prefixlen, {})
            if network not in table:
                table[network] = _service_entry_answer(naming, entry, None, {})
    return sorted(tables.items(), key=lambda item: -item[0])  # longest prefix first


def _service_entry_answer(
    naming: KubernetesNaming,
    entry: _ServiceEntry,
    endpoint: Mapping[str, object] | None,
    labels: Mapping[str, str],
) -> ServiceMetaInfo:
    context: dict[str, object] = {"serviceEntry": entry.raw}
    if endpoint is not None:
        context["endpoint"] = endpoint
    return ServiceMetaInfo(
        service=naming.service_entry_rule.render(context),
        instance=naming.service_entry_instance_rule.render(context),
        namespace=entry.key[0],
        tags=naming.tags(labels),
    )


class KubernetesResolver:
    """Names pod IPs (and Istio ServiceEntry addresses) from an offline Kubernetes snapshot.

    See the module docstring for the order of the rules and every choice made. All answers
    are computed at construction; lookups are dictionary reads and never raise. The resolver
    is immutable and safe to share between threads.

    Args:
        documents: parsed JSON documents: ``v1 List``\\ s (``kubectl get ... -o json``),
            typed lists or single objects, merged in order.
        naming: the rules and tag labels; default :class:`KubernetesNaming()`.
        semantics: ``"skywalking"`` reads service membership from the Endpoints' ready
            addresses only, as SkyWalking's registry does (a pod not ready is UNKNOWN there);
            ``"meshals"`` (the default) from Endpoints and EndpointSlices, ready or not.

    Attributes:
        naming: the rules in use.
        diagnostics: notes (:class:`~meshals.Diagnostic` of kind ``NOTE``, located at the
            snapshot's documents or files) on what the snapshot cannot name for lack of a kind
            of object: Pods without Endpoints or EndpointSlices leave every pod UNKNOWN, a
            snapshot without Pods names no pod IP, rules that read ``service`` need Services.
            Empty for a complete snapshot.
        workloads: the same snapshot by Istio's workload rules, for the Istio metrics
            (:class:`~meshals.resolve.KubernetesWorkloads`).

    Raises:
        ResolverError: a document is malformed; the message names the document and JSON path.

    >>> pod = {"kind": "Pod", "metadata": {"name": "reviews-v1-abc", "namespace": "bookinfo",
    ...        "labels": {"app": "reviews", "version": "v1",
    ...                   "service.istio.io/canonical-name": "reviews"}},
    ...        "status": {"phase": "Running", "podIP": "10.244.1.13"}}
    >>> endpoints = {"kind": "Endpoints", "metadata": {"name": "reviews", "namespace": "bookinfo"},
    ...              "subsets": [{"addresses": [{"ip": "10.244.1.13"}]}]}
    >>> resolver = KubernetesResolver({"kind": "List", "items": [pod, endpoints]})
    >>> info = resolver.resolve("10.244.1.13", 9080)
    >>> info.service, info.instance, info.namespace
    ('reviews.bookinfo', 'reviews-v1-abc.bookinfo', 'bookinfo')
    >>> dict(info.tags)  # doctest: +NORMALIZE_WHITESPACE
    {'pod': 'reviews-v1-abc', 'namespace': 'bookinfo', 'app': 'reviews',
     'service.istio.io/canonical-name': 'reviews', 'version': 'v1'}
    >>> resolver.diagnostics
    ()
    >>> print(*KubernetesResolver({"kind": "List", "items": [pod]}).diagnostics)
    <document 1>: the snapshot has 1 Pod but no Services, Endpoints or EndpointSlices: ...
    """

    __slots__ = ("_exact", "_networks", "diagnostics", "naming", "workloads")

    def __init__(
        self,
        *documents: Mapping[str, object],
        naming: KubernetesNaming | None = None,
        semantics: Semantics = "meshals",
    ) -> None:
        self._load(
            [(document, f"<document {index}>") for index, document in enumerate(documents, 1)],
            naming,
            semantics,
        )

    @classmethod
    def from_json(
        cls,
        *texts: str | bytes,
        naming: KubernetesNaming | None = None,
        semantics: Semantics = "meshals",
    ) -> KubernetesResolver:
        """A resolver from the JSON texts of one or more snapshots, merged in order.

        Raises:
            ResolverError: a text is not JSON or is malformed (named ``<json N>``, from 1).
        """
        sources = [f"<json {index}>" for index in range(1, len(texts) + 1)]
        return cls._build(
            [
                (load_json(text, source=source), source)
                for text, source in zip(texts, sources, strict=True)
            ],
            naming,
            semantics,
        )

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | os.PathLike[str]],
        *,
        naming: KubernetesNaming | None = None,
        semantics: Semantics = "meshals",
    ) -> KubernetesResolver:
        """A resolver from snapshot files (``kubectl ... -o json > file``), merged in order.

        Raises:
            ResolverError: a file is not JSON or is malformed; the message names the file.
            OSError: a file cannot be read.
        """
        documents = []
        for path in paths:
            source = os.fspath(path)
            documents.append((load_json(_read_file(path), source=source), source))
        return cls._build(documents, naming, semantics)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        naming: KubernetesNaming | None = None,
        semantics: Semantics = "meshals",
    ) -> KubernetesResolver:
        """A resolver from one snapshot file; see :meth:`from_files`."""
        return cls.from_files([path], naming=naming, semantics=semantics)

    @classmethod
    def _build(
        cls,
        documents: list[tuple[object, str]],
        naming: KubernetesNaming | None,
        semantics: Semantics,
    ) -> KubernetesResolver:
        resolver = cls.__new__(cls)
        resolver._load(documents, naming, semantics)
        return resolver

    def _load(
        self,
        documents: list[tuple[object, str]],
        naming: KubernetesNaming | None,
        semantics: Semantics,
    ) -> None:
        self.naming = naming if naming is not None else KubernetesNaming()
        snapshot = _Snapshot()
        for document, source in documents:
            snapshot.add_document(document, source)
        sources = " + ".join(source for _, source in documents) or "<no documents>"
        self.diagnostics: tuple[Diagnostic, ...] = snapshot_gaps(snapshot, self.naming, sources)
        exact: dict[IPAddress, ServiceMetaInfo | None] = {}
        for ips in (*snapshot.node_ips.values(), *snapshot.cluster_ips.values()):
            exact.update(dict.fromkeys(ips))
        _pod_answers(snapshot, self.naming, exact, semantics)
        self._networks = _service_entry_answers(snapshot, self.naming, exact)
        self._exact = exact
        self.workloads = KubernetesWorkloads._of(snapshot)

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The service and instance behind ``ip`` (``port`` is ignored), or None if unknown."""
        address = canonical_ip(ip)
        if address is None:
            return None
        if address in self._exact:
            return self._exact[address]
        for prefix_length, table in self._networks:
            if prefix_length > address.max_prefixlen:
                continue
            found = table.get(ipaddress.ip_network((address, prefix_length), strict=False))
            if found is not None:
                return found
        return None

    def __repr__(self) -> str:
        networks = sum(len(table) for _, table in self._networks)
        return f"<KubernetesResolver: {len(self._exact)} addresses, {networks} networks>"
