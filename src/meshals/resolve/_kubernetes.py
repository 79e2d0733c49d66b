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
   is the pod's; tags are the pod labels listed in ``tag_labels``.
4. An Istio ServiceEntry's ``spec.endpoints[*].address`` (IPs only; hostnames are skipped):
   rules over ``{"serviceEntry": ..., "endpoint": ...}``; tags from the endpoint's labels.
5. A ServiceEntry's ``spec.addresses`` (IPs and CIDRs) when its ``resolution`` is ``STATIC``
   or ``NONE`` (the default): the longest prefix wins, then (namespace, name); rules over
   ``{"serviceEntry": ...}``.

Malformed snapshot input (a field of the wrong type, an address that is not an IP, a pod
without a name) is a :class:`ResolverError` naming the document and JSON path.
"""

from __future__ import annotations

import collections
import ipaddress
import os
from collections.abc import Iterable, Mapping

import attrs

from meshals._errors import ResolverError
from meshals.model._service import ServiceMetaInfo

from ._resolvers import IPAddress, canonical_ip, json_path, load_json, parse_ip
from ._resolvers import read_file as _read_file
from ._templates import SKYWALKING_SERVICE_RULE, NameTemplate

__all__ = ["KubernetesNaming", "KubernetesResolver"]

DEFAULT_INSTANCE_RULE = "${pod.metadata.name}.${pod.metadata.namespace}"
DEFAULT_SERVICE_ENTRY_RULE = "${serviceEntry.spec.hosts.0}"
DEFAULT_SERVICE_ENTRY_INSTANCE_RULE = "${endpoint.address,serviceEntry.metadata.name}"
DEFAULT_TAG_LABELS = ("app", "version")

POD_VARIABLES = frozenset({"pod", "service"})
SERVICE_ENTRY_VARIABLES = frozenset({"serviceEntry", "endpoint"})

_SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_NODE_IP_TYPES = frozenset({"InternalIP", "ExternalIP"})
_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
_ADDRESS_RESOLUTIONS = frozenset({"STATIC", "NONE"})
_ISTIO_NETWORKING = "networking.istio.io/"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Key = tuple[str, str]  # (namespace, name)


def _template_text(rule: str | NameTemplate) -> str:
    return rule.text if isinstance(rule, NameTemplate) else rule


def _service_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(_template_text(rule), variables=POD_VARIABLES, name="service_rule")


def _instance_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(_template_text(rule), variables=POD_VARIABLES, name="instance_rule")


def _service_entry_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(
        _template_text(rule), variables=SERVICE_ENTRY_VARIABLES, name="service_entry_rule"
    )


def _service_entry_instance_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(
        _template_text(rule), variables=SERVICE_ENTRY_VARIABLES, name="service_entry_instance_rule"
    )


def _label_names(labels: Iterable[str]) -> tuple[str, ...]:
    if isinstance(labels, str):  # tuple("version") would be seven one-letter labels
        raise ResolverError(
            "expected a collection of label names, not a string", source="tag_labels"
        )
    return tuple(labels)


@attrs.frozen(kw_only=True)
class KubernetesNaming:
    """How :class:`KubernetesResolver` names what it finds: rules (:class:`NameTemplate` syntax)
    and the labels that become tags.

    Args:
        service_rule: the service name, over ``pod`` and ``service``; default SkyWalking's
            shipped rule, :data:`SKYWALKING_SERVICE_RULE`:
            ``${pod.metadata.labels.(service.istio.io/canonical-name)}.${pod.metadata.namespace}``
        instance_rule: the instance name, over ``pod`` and ``service``; default
            ``${pod.metadata.name}.${pod.metadata.namespace}``.
        service_entry_rule: a ServiceEntry's service name, over ``serviceEntry`` and
            ``endpoint``; default its first host, ``${serviceEntry.spec.hosts.0}``.
        service_entry_instance_rule: default the endpoint's address, or for a
            ``spec.addresses`` match the entry's name:
            ``${endpoint.address,serviceEntry.metadata.name}``.
        tag_labels: pod (or ServiceEntry endpoint) labels copied into the tags; default
            ``("app", "version")``.

    Raises:
        ResolverError: a rule is malformed or reads a variable its context lacks.

    >>> KubernetesNaming(service_rule="${pod.metadata.labels.app}").service_rule
    NameTemplate('${pod.metadata.labels.app}')
    """

    service_rule: NameTemplate = attrs.field(
        default=NameTemplate(SKYWALKING_SERVICE_RULE), converter=_service_rule
    )
    instance_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_INSTANCE_RULE), converter=_instance_rule
    )
    service_entry_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_SERVICE_ENTRY_RULE), converter=_service_entry_rule
    )
    service_entry_instance_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_SERVICE_ENTRY_INSTANCE_RULE),
        converter=_service_entry_instance_rule,
    )
    tag_labels: tuple[str, ...] = attrs.field(default=DEFAULT_TAG_LABELS, converter=_label_names)

    def tags(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels named in ``tag_labels`` that ``labels`` has."""
        return {name: labels[name] for name in self.tag_labels if name in labels}


# --- reading the snapshot ---------------------------------------------------------------


@attrs.frozen
class _Json:
    """A JSON value and where it is, for typed reads that fail with the right location."""

    value: object
    path: str
    source: str

    def error(self, reason: str) -> ResolverError:
        return ResolverError(reason, source=self.source, path=self.path)

    def mapping(self) -> Mapping[str, object] | None:
        if self.value is None or isinstance(self.value, Mapping):
            return self.value
        raise self.error("expected an object")

    def field(self, key: str) -> _Json:
        mapping = self.mapping()
        return _Json(
            None if mapping is None else mapping.get(key), json_path(self.path, key), self.source
        )

    def elements(self) -> list[_Json]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.error("expected a list")
        return [
            _Json(item, json_path(self.path, index), self.source)
            for index, item in enumerate(self.value)
        ]

    def text(self) -> str | None:
        if self.value is None or isinstance(self.value, str):
            return self.value
        raise self.error("expected a string")

    def required_text(self) -> str:
        value = self.text()
        if not value:
            raise self.error("missing: expected a non-empty string")
        return value

    def flag(self) -> bool:
        if self.value is None or isinstance(self.value, bool):
            return bool(self.value)
        raise self.error("expected true or false")

    def labels(self) -> dict[str, str]:
        mapping = self.mapping()
        if mapping is None:
            return {}
        labels: dict[str, str] = {}
        for key in mapping:
            value = self.field(key).value
            if not isinstance(value, str):
                raise self.field(key).error("expected a string")
            labels[key] = value
        return labels

    def ip(self) -> IPAddress:
        text = self.required_text()  # outside the try: a ResolverError is a ValueError too
        try:
            return parse_ip(text)
        except ValueError as exc:
            raise self.error(str(exc)) from None

    def namespaced_key(self) -> _Key:
        metadata = self.field("metadata")
        return metadata.field("namespace").required_text(), metadata.field("name").required_text()


def _as_mapping(obj: _Json) -> Mapping[str, object]:
    mapping = obj.mapping()
    return mapping if mapping is not None else {}


@attrs.frozen(eq=False)
class _Pod:
    key: _Key
    raw: Mapping[str, object]
    labels: Mapping[str, str]
    ips: tuple[IPAddress, ...]
    host_network: bool
    finished: bool


@attrs.frozen(eq=False)
class _Members:
    """The addresses one Endpoints object or EndpointSlice lists for its service."""

    service: _Key
    ips: frozenset[IPAddress]
    pods: frozenset[_Key]


@attrs.frozen(eq=False)
class _ServiceEntry:
    key: _Key
    raw: Mapping[str, object]
    networks: tuple[IPNetwork, ...]  # empty unless the resolution is STATIC or NONE
    endpoints: tuple[tuple[IPAddress, Mapping[str, object], Mapping[str, str]], ...]


class _Snapshot:
    """The objects the resolver reads, indexed by kind and (namespace, name); later wins."""

    def __init__(self) -> None:
        self.pods: dict[_Key, _Pod] = {}
        self.services: dict[_Key, Mapping[str, object]] = {}
        self.cluster_ips: dict[_Key, tuple[IPAddress, ...]] = {}
        self.members: dict[tuple[str, _Key], _Members] = {}  # ("Endpoints"|"EndpointSlice", key)
        self.node_ips: dict[str, tuple[IPAddress, ...]] = {}
        self.service_entries: dict[_Key, _ServiceEntry] = {}

    def add_document(self, document: object, source: str) -> None:
        root = _Json(document, "$", source)
        if not isinstance(document, Mapping):
            raise root.error("expected a JSON object: a v1 List or one Kubernetes object")
        if "items" not in document:
            self.add_object(root, implied_kind=None)
            return
        list_kind = root.field("kind").text() or ""
        # A typed list from the API (PodList) omits each item's kind; kubectl's List keeps it.
        implied = list_kind[: -len("List")] if list_kind.endswith("List") else None
        for item in root.field("items").elements():
            self.add_object(item, implied_kind=implied or None)

    def add_object(self, obj: _Json, implied_kind: str | None) -> None:
        kind = obj.field("kind").text() or implied_kind
        if kind is None:
            raise obj.error("missing 'kind'")
        if kind == "Pod":
            self.add_pod(obj)
        elif kind == "Service":
            key = obj.namespaced_key()
            self.services[key] = _as_mapping(obj)
            self.cluster_ips[key] = _cluster_ips(obj.field("spec"))
        elif kind == "Endpoints":
            self.add_endpoints(obj)
        elif kind == "EndpointSlice":
            self.add_endpoint_slice(obj)
        elif kind == "Node":
            self.add_node(obj)
        elif kind == "ServiceEntry" and (obj.field("apiVersion").text() or "").startswith(
            _ISTIO_NETWORKING
        ):
            self.add_service_entry(obj)

    def add_pod(self, obj: _Json) -> None:
        key = obj.namespaced_key()
        status = obj.field("status")
        ips: list[IPAddress] = []
        if status.field("podIP").value is not None:
            ips.append(status.field("podIP").ip())
        for entry in status.field("podIPs").elements():
            ip = entry.field("ip").ip()
            if ip not in ips:
                ips.append(ip)
        self.pods[key] = _Pod(
            key=key,
            raw=_as_mapping(obj),
            labels=obj.field("metadata").field("labels").labels(),
            ips=tuple(ips),
            host_network=obj.field("spec").field("hostNetwork").flag(),
            finished=status.field("phase").text() in _FINISHED_PHASES,
        )

    def add_endpoints(self, obj: _Json) -> None:
        key = obj.namespaced_key()
        addresses = [
            address
            for subset in obj.field("subsets").elements()
            for field in ("addresses", "notReadyAddresses")
            for address in subset.field(field).elements()
        ]
        ips = [address.field("ip").ip() for address in addresses]
        self.members["Endpoints", key] = _members(key, ips, addresses, namespace=key[0])

    def add_endpoint_slice(self, obj: _Json) -> None:
        namespace, slice_name = obj.namespaced_key()
        labels = obj.field("metadata").field("labels").labels()
        service = labels.get(_SERVICE_NAME_LABEL)
        if not service:  # not managed for a Service (e.g. a custom controller's slice)
            return
        endpoints = obj.field("endpoints").elements()
        ips: list[IPAddress] = []
        if obj.field("addressType").text() != "FQDN":
            ips = [
                ip.ip() for endpoint in endpoints for ip in endpoint.field("addresses").elements()
            ]
        self.members["EndpointSlice", (namespace, slice_name)] = _members(
            (namespace, service), ips, endpoints, namespace=namespace
        )

    def add_node(self, obj: _Json) -> None:
        name = obj.field("metadata").field("name").required_text()
        self.node_ips[name] = tuple(
            address.field("address").ip()
            for address in obj.field("status").field("addresses").elements()
            if address.field("type").text() in _NODE_IP_TYPES
        )

    def add_service_entry(self, obj: _Json) -> None:
        key = obj.namespaced_key()
        spec = obj.field("spec")
        networks: tuple[IPNetwork, ...] = ()
        if (spec.field("resolution").text() or "NONE") in _ADDRESS_RESOLUTIONS:
            networks = tuple(_network(address) for address in spec.field("addresses").elements())
        endpoints = []
        for endpoint in spec.field("endpoints").elements():
            text = endpoint.field("address").text() or ""
            try:
                address = parse_ip(text)
            except ValueError:  # a hostname (DNS resolution) or a unix:// socket
                continue
            labels = endpoint.field("labels").labels()
            endpoints.append((address, _as_mapping(endpoint), labels))
        self.service_entries[key] = _ServiceEntry(
            key=key, raw=_as_mapping(obj), networks=networks, endpoints=tuple(endpoints)
        )


def _cluster_ips(spec: _Json) -> tuple[IPAddress, ...]:
    texts = [spec.field("clusterIP"), *spec.field("clusterIPs").elements()]
    ips: list[IPAddress] = []
    for text in texts:
        if text.text() in (None, "", "None"):  # "None": a headless service
            continue
        ips.append(text.ip())
    return tuple(ips)


def _members(
    service: _Key, ips: list[IPAddress], addresses: list[_Json], *, namespace: str
) -> _Members:
    pods: set[_Key] = set()
    for address in addresses:
        target = address.field("targetRef")
        if target.value is None or target.field("kind").text() != "Pod":
            continue
        pods.add(
            (target.field("namespace").text() or namespace, target.field("name").required_text())
        )
    return _Members(service=service, ips=frozenset(ips), pods=frozenset(pods))


def _network(obj: _Json) -> IPNetwork:
    text = obj.required_text()
    try:
        if "%" in text:
            raise ValueError(f"{text!r} has a zone id")
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise obj.error(f"not an IP address or CIDR: {exc}") from None
    mapped = network.network_address
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        assert isinstance(mapped, ipaddress.IPv6Address)
        if mapped.ipv4_mapped is not None:
            return ipaddress.IPv4Network((mapped.ipv4_mapped, network.prefixlen - 96))
    return network


# --- answering ---------------------------------------------------------------------------

_NetworkTables = list[tuple[int, dict[IPNetwork, ServiceMetaInfo]]]


def _pod_answers(
    snapshot: _Snapshot, naming: KubernetesNaming, exact: dict[IPAddress, ServiceMetaInfo | None]
) -> None:
    services_by_ip: dict[IPAddress, set[_Key]] = collections.defaultdict(set)
    services_by_pod: dict[_Key, set[_Key]] = collections.defaultdict(set)
    for members in snapshot.members.values():
        for ip in members.ips:
            services_by_ip[ip].add(members.service)
        for pod_key in members.pods:
            services_by_pod[pod_key].add(members.service)

    pods_by_ip: dict[IPAddress, list[_Pod]] = collections.defaultdict(list)
    for pod in snapshot.pods.values():
        if not pod.host_network:  # its IP is the node's, shared with every such pod
            for ip in pod.ips:
                pods_by_ip[ip].append(pod)

    answers: dict[_Key, ServiceMetaInfo | None] = {}
    for ip, candidates in pods_by_ip.items():
        if ip in exact:  # a node or cluster IP: decided already
            continue
        pod = min(candidates, key=lambda candidate: (candidate.finished, candidate.key))
        if pod.key not in answers:
            services = set(services_by_pod.get(pod.key, ()))
            for pod_ip in pod.ips:
                services.update(services_by_ip.get(pod_ip, ()))
            answers[pod.key] = _pod_answer(snapshot, naming, pod, services)
        exact[ip] = answers[pod.key]


def _pod_answer(
    snapshot: _Snapshot, naming: KubernetesNaming, pod: _Pod, services: set[_Key]
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
        service=naming.service_rule.render(context),
        instance=naming.instance_rule.render(context),
        namespace=pod.key[0],
        tags=naming.tags(pod.labels),
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
    >>> info.service, info.instance, info.namespace, dict(info.tags)
    ('reviews.bookinfo', 'reviews-v1-abc.bookinfo', 'bookinfo', {'app': 'reviews', 'version': 'v1'})
    """

    __slots__ = ("_exact", "_networks", "naming")

    def __init__(
        self, *documents: Mapping[str, object], naming: KubernetesNaming | None = None
    ) -> None:
        self._load(
            [(document, f"<document {index}>") for index, document in enumerate(documents, 1)],
            naming,
        )

    @classmethod
    def from_json(
        cls, *texts: str | bytes, naming: KubernetesNaming | None = None
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
        )

    @classmethod
    def from_files(
        cls, paths: Iterable[str | os.PathLike[str]], *, naming: KubernetesNaming | None = None
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
        return cls._build(documents, naming)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, naming: KubernetesNaming | None = None
    ) -> KubernetesResolver:
        """A resolver from one snapshot file; see :meth:`from_files`."""
        return cls.from_files([path], naming=naming)

    @classmethod
    def _build(
        cls, documents: list[tuple[object, str]], naming: KubernetesNaming | None
    ) -> KubernetesResolver:
        resolver = cls.__new__(cls)
        resolver._load(documents, naming)
        return resolver

    def _load(self, documents: list[tuple[object, str]], naming: KubernetesNaming | None) -> None:
        self.naming = naming if naming is not None else KubernetesNaming()
        snapshot = _Snapshot()
        for document, source in documents:
            snapshot.add_document(document, source)
        exact: dict[IPAddress, ServiceMetaInfo | None] = {}
        for ips in (*snapshot.node_ips.values(), *snapshot.cluster_ips.values()):
            exact.update(dict.fromkeys(ips))
        _pod_answers(snapshot, self.naming, exact)
        self._networks = _service_entry_answers(snapshot, self.naming, exact)
        self._exact = exact

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
