"""A Kubernetes snapshot, read into the objects the Kubernetes resolver answers from.

Pods, Services, Endpoints, EndpointSlices, Nodes and Istio ServiceEntries from the JSON that
``kubectl get ... -o json`` prints, indexed by kind and (namespace, name); a later object
replaces an earlier one, other kinds are ignored. Every read is typed and fails with a
:class:`~meshals.ResolverError` that names the document and JSON path. What a snapshot may
hold and how :class:`~meshals.resolve.KubernetesResolver` answers from it:
:mod:`meshals.resolve._kubernetes`.
"""

from __future__ import annotations

import collections
import ipaddress
from collections.abc import Mapping

import attrs

from meshals._errors import ResolverError

from ._resolvers import IPAddress, json_path, parse_ip

__all__: list[str] = []

_SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_NODE_IP_TYPES = frozenset({"InternalIP", "ExternalIP"})
_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
_ADDRESS_RESOLUTIONS = frozenset({"STATIC", "NONE"})
_ISTIO_NETWORKING = "networking.istio.io/"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Key = tuple[str, str]  # (namespace, name)


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

    def integer(self) -> int | None:
        if self.value is None or (isinstance(self.value, int) and not isinstance(self.value, bool)):
            return self.value
        raise self.error("expected a whole number")

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
    # What Istio's workload rules read (istio/istio pkg/kube/util.go, GetDeployMetaFromPod):
    generate_name: str = ""
    controller: tuple[str, str] | None = None  # (kind, name) of the controlling owner
    service_account: str | None = None


@attrs.frozen(eq=False)
class _Members:
    """The addresses one Endpoints object or EndpointSlice lists for its service."""

    service: _Key
    ips: frozenset[IPAddress]
    pods: frozenset[_Key]
    ports: frozenset[int] = frozenset()  # the target ports listed; empty: none listed


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
        # Endpoints' ready addresses only: what SkyWalking's registry reads.
        self.ready_members: dict[_Key, _Members] = {}
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
            generate_name=obj.field("metadata").field("generateName").text() or "",
            controller=_controller(obj.field("metadata")),
            service_account=obj.field("spec").field("serviceAccountName").text() or None,
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
        ports = [
            port
            for subset in obj.field("subsets").elements()
            for port in subset.field("ports").elements()
        ]
        self.members["Endpoints", key] = _members(key, ips, addresses, ports, namespace=key[0])
        ready = [
            address
            for subset in obj.field("subsets").elements()
            for address in subset.field("addresses").elements()
        ]
        self.ready_members[key] = _members(
            key, [address.field("ip").ip() for address in ready], ready, ports, namespace=key[0]
        )

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
            (namespace, service), ips, endpoints, obj.field("ports").elements(), namespace=namespace
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


def _controller(metadata: _Json) -> tuple[str, str] | None:
    """The owner reference with ``controller: true``: (kind, name), or None."""
    for owner in metadata.field("ownerReferences").elements():
        if owner.field("controller").flag():
            return owner.field("kind").required_text(), owner.field("name").required_text()
    return None


class _ServiceIndex:
    """Which Services' Endpoints or EndpointSlices list a pod, by reference or by IP; with
    *ready_only*, the Endpoints' ready addresses only (SkyWalking's registry)."""

    def __init__(self, snapshot: _Snapshot, *, ready_only: bool = False) -> None:
        self._by_ip: dict[IPAddress, set[_Key]] = collections.defaultdict(set)
        self._by_pod: dict[_Key, set[_Key]] = collections.defaultdict(set)
        self._ports: dict[_Key, set[int]] = collections.defaultdict(set)
        listed = snapshot.ready_members if ready_only else snapshot.members
        for members in listed.values():
            self._ports[members.service].update(members.ports)
            for ip in members.ips:
                self._by_ip[ip].add(members.service)
            for pod_key in members.pods:
                self._by_pod[pod_key].add(members.service)

    def of(self, pod: _Pod) -> set[_Key]:
        services = set(self._by_pod.get(pod.key, ()))
        for ip in pod.ips:
            services.update(self._by_ip.get(ip, ()))
        return services

    def ports(self, service: _Key) -> frozenset[int]:
        """The target ports the service's endpoints list (empty when they list none)."""
        return frozenset(self._ports.get(service, ()))


def pods_by_ip(snapshot: _Snapshot) -> dict[IPAddress, _Pod]:
    """The pod each pod IP names: none for ``hostNetwork`` pods (their IP is the node's,
    shared with every such pod); of several pods on one IP (a finished Job's IP reused),
    running ones first, then by (namespace, name)."""
    candidates: dict[IPAddress, list[_Pod]] = collections.defaultdict(list)
    for pod in snapshot.pods.values():
        if not pod.host_network:
            for ip in pod.ips:
                candidates[ip].append(pod)
    return {
        ip: min(pods, key=lambda candidate: (candidate.finished, candidate.key))
        for ip, pods in candidates.items()
    }


def _cluster_ips(spec: _Json) -> tuple[IPAddress, ...]:
    texts = [spec.field("clusterIP"), *spec.field("clusterIPs").elements()]
    ips: list[IPAddress] = []
    for text in texts:
        if text.text() in (None, "", "None"):  # "None": a headless service
            continue
        ips.append(text.ip())
    return tuple(ips)


def _members(
    service: _Key,
    ips: list[IPAddress],
    addresses: list[_Json],
    ports: list[_Json],
    *,
    namespace: str,
) -> _Members:
    pods: set[_Key] = set()
    for address in addresses:
        target = address.field("targetRef")
        if target.value is None or target.field("kind").text() != "Pod":
            continue
        pods.add(
            (target.field("namespace").text() or namespace, target.field("name").required_text())
        )
    numbers = {port.field("port").integer() for port in ports}
    return _Members(
        service=service,
        ips=frozenset(ips),
        pods=frozenset(pods),
        ports=frozenset(number for number in numbers if number is not None),
    )


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
