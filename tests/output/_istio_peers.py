"""Workload identities as Istio's proxy knows them: node metadata, peer objects, a snapshot.

Written from Istio's sources, not from meshals (the independent check in
``test_istio_oracle.py``): istio/proxy ``extensions/common/metadata_object.{h,cc}``,
``source/extensions/filters/http/istio_stats/istio_stats.cc``,
``extensions/common/workload_discovery/api.cc``, and istio/istio ``pkg/kube/util.go`` and
``pkg/kube/labels/labels.go``. Input is Envoy's own generated classes (xds-protos) and the
``kubectl get -o json`` snapshot as plain JSON.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import struct
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2, wrappers_pb2
from google.protobuf.message import DecodeError

JSON = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Peer:
    """Istio's ``WorkloadMetadataObject``: the fields the stats filter reads ("" when unset)."""

    workload: str = ""
    namespace: str = ""
    canonical_name: str = ""
    canonical_revision: str = ""
    app: str = ""
    version: str = ""
    cluster: str = ""
    identity: str = ""


def canonical_service(labels: Mapping[str, str], workload: str) -> tuple[str, str]:
    """istio/istio ``pkg/kube/labels/labels.go`` ``CanonicalService``.

    Name: ``service.istio.io/canonical-name``, ``app.kubernetes.io/name``, ``app``, else the
    workload name; revision: ``service.istio.io/canonical-revision``,
    ``app.kubernetes.io/version``, ``version``, else ``latest``. The sidecar injector writes
    the result into the pod's labels, so every injected proxy's ``LABELS`` has both.
    """
    name = next(
        (
            labels[key]
            for key in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
            if key in labels
        ),
        workload,
    )
    revision = next(
        (
            labels[key]
            for key in (
                "service.istio.io/canonical-revision",
                "app.kubernetes.io/version",
                "version",
            )
            if key in labels
        ),
        "latest",
    )
    return name, revision


def _app_version(labels: Mapping[str, str]) -> tuple[str, str]:
    # metadata_object.cc convertStructToWorkloadMetadata: the qualified label wins over the
    # short one (AppNameQualifiedLabel / AppVersionQualifiedLabel).
    app = labels.get("app.kubernetes.io/name", labels.get("app", ""))
    version = labels.get("app.kubernetes.io/version", labels.get("version", ""))
    return app, version


def from_node_metadata(metadata: Mapping[str, Any]) -> Peer:
    """A node-metadata Struct (upper-case keys): the proxy's own, or an ``x-envoy-peer-metadata``.

    metadata_object.cc ``convertStructToWorkloadMetadata`` (``WORKLOAD_NAME``, ``NAMESPACE``,
    ``CLUSTER_ID``, ``LABELS``, ``IDENTITY``); the canonical labels with the injector's
    fallbacks (``canonical_service``). istio_stats.cc ``Context`` reads the same keys of the
    reporting proxy's node.
    """
    raw_labels = metadata.get("LABELS") or {}
    labels = {str(k): str(v) for k, v in raw_labels.items()}
    workload = str(metadata.get("WORKLOAD_NAME", ""))
    name, revision = canonical_service(labels, workload)
    app, version = _app_version(labels)
    return Peer(
        workload=workload,
        namespace=str(metadata.get("NAMESPACE", "")),
        canonical_name=name,
        canonical_revision=revision,
        app=app,
        version=version,
        cluster=str(metadata.get("CLUSTER_ID", "")),
        identity=str(metadata.get("IDENTITY", "")),
    )


def _from_object_fields(fields: Mapping[str, Any]) -> Peer:
    # istio_stats.cc peerInfo(): the lower-case WorkloadMetadataObject tokens
    # (metadata_object.h: workload, namespace, service, revision, app, version, cluster,
    # identity), taken as they are.
    def get(key: str) -> str:
        return str(fields.get(key, ""))

    return Peer(
        workload=get("workload"),
        namespace=get("namespace"),
        canonical_name=get("service"),
        canonical_revision=get("revision"),
        app=get("app"),
        version=get("version"),
        cluster=get("cluster"),
        identity=get("identity"),
    )


def _from_struct(value: Mapping[str, Any]) -> Peer:
    # Istio >= 1.24 logs the object in its lower-case layout; an mx header (and the layout
    # SkyWalking's tests use) is a node-metadata Struct with upper-case keys.
    if any(key.isupper() for key in value):
        return from_node_metadata(value)
    return _from_object_fields(value)


def _flatnode_strings(buf: bytes) -> tuple[dict[int, str], dict[str, str]]:
    """The string fields and labels of a FlatNode.

    istio/proxy ``extensions/common/node_info.fbs``: name=0, namespace=1, labels=2 (KeyVal
    key=0, value=1), owner=3, workload_name=4, istio_version=6, mesh_id=7, cluster_id=9,
    identity=11.
    """

    def u32(pos: int) -> int:
        return int(struct.unpack_from("<I", buf, pos)[0])

    def table_field(table: int, field_id: int) -> int:
        vtable = table - int(struct.unpack_from("<i", buf, table)[0])
        vtable_size = int(struct.unpack_from("<H", buf, vtable)[0])
        entry = 4 + 2 * field_id
        if entry >= vtable_size:
            return 0
        offset = int(struct.unpack_from("<H", buf, vtable + entry)[0])
        return table + offset if offset else 0

    def string_at(pos: int) -> str:
        start = pos + u32(pos)
        return buf[start + 4 : start + 4 + u32(start)].decode()

    root = u32(0)
    strings = {}
    for field_id in (0, 1, 3, 4, 6, 7, 9, 11):
        pos = table_field(root, field_id)
        if pos:
            strings[field_id] = string_at(pos)
    labels = {}
    vector = table_field(root, 2)
    if vector:
        start = vector + u32(vector)
        for index in range(u32(start)):
            element = start + 4 + 4 * index
            keyval = element + u32(element)
            key, value = table_field(keyval, 0), table_field(keyval, 1)
            if key and value:
                labels[string_at(key)] = string_at(value)
    return strings, labels


def _from_flatnode(buf: bytes) -> Peer | None:
    # Istio 1.8-1.23: istio_stats.cc read the FlatNode under "wasm.<direction>_peer" and
    # converted it with convertFlatNodeToWorkloadMetadata (workload_name, namespace,
    # cluster_id, labels).
    try:
        strings, labels = _flatnode_strings(buf)
    except (struct.error, UnicodeDecodeError):
        return None
    workload = strings.get(4, "")
    name, revision = canonical_service(labels, workload)
    app, version = _app_version(labels)
    return Peer(
        workload=workload,
        namespace=strings.get(1, ""),
        canonical_name=name,
        canonical_revision=revision,
        app=app,
        version=version,
        cluster=strings.get(9, ""),
        identity=strings.get(11, ""),
    )


def _decode_modern(any_value: Any) -> Peer | None:
    type_name = any_value.type_url.rsplit("/", 1)[-1]
    if type_name == "google.protobuf.Struct":
        message = struct_pb2.Struct()
        any_value.Unpack(message)
        return _from_struct(json_format.MessageToDict(message))
    if type_name == "google.protobuf.StringValue":
        # Envoy's set_filter_state logs the copied x-envoy-peer-metadata header: base64 of a
        # serialized node-metadata Struct.
        text = wrappers_pb2.StringValue()
        any_value.Unpack(text)
        try:
            raw = base64.b64decode(text.value, validate=True)
            message = struct_pb2.Struct()
            message.ParseFromString(raw)
        except (binascii.Error, ValueError, DecodeError):
            return None
        if not message.fields:
            return None
        return from_node_metadata(json_format.MessageToDict(message))
    return None


def peer_from_filter_state(objects: Mapping[str, Any], direction: str) -> Peer | None:
    """The peer an entry's filter state names; *direction* is ``downstream`` or ``upstream``.

    istio_stats.cc ``peerInfo``: the filter state key ``downstream_peer`` (server side) or
    ``upstream_peer`` (client side); the filter before Istio 1.24 read ``wasm.<key>``
    (a FlatNode). The current key is asked first.
    """
    modern = objects.get(f"{direction}_peer")
    if modern is not None:
        peer = _decode_modern(modern)
        if peer is not None:
            return peer
    legacy = objects.get(f"wasm.{direction}_peer")
    if legacy is not None and legacy.type_url.endswith("google.protobuf.BytesValue"):
        data = wrappers_pb2.BytesValue()
        legacy.Unpack(data)
        return _from_flatnode(data.value)
    return None


@dataclasses.dataclass(frozen=True)
class ServiceRef:
    """One entry of an Istio cluster's ``istio.services`` metadata: host, name, namespace."""

    host: str
    name: str
    namespace: str


class Snapshot:
    """A ``kubectl get -o json`` List: pods by IP, and the Services whose endpoints hold an IP."""

    def __init__(self, document: JSON, *, trust_domain: str = "cluster.local") -> None:
        self._pods: dict[str, JSON] = {}
        self._services: dict[str, list[tuple[ServiceRef, set[int]]]] = {}
        self._trust_domain = trust_domain
        items = document.get("items", [])
        for item in items:
            if item.get("kind") == "Pod" and not item.get("spec", {}).get("hostNetwork"):
                self._add_pod(item)
        for item in items:
            if item.get("kind") == "Endpoints":
                self._add_endpoints(item)

    def _add_pod(self, pod: JSON) -> None:
        status = pod.get("status", {})
        ips = [entry["ip"] for entry in status.get("podIPs", [])] or (
            [status["podIP"]] if status.get("podIP") else []
        )
        for ip in ips:
            # A finished pod's IP may be reused: a running pod wins (Kubernetes frees the IP
            # of a pod that has Succeeded or Failed).
            known = self._pods.get(ip)
            if known is None or known.get("status", {}).get("phase") != "Running":
                self._pods[ip] = pod

    def _add_endpoints(self, endpoints: JSON) -> None:
        meta = endpoints["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        ref = ServiceRef(f"{name}.{namespace}.svc.cluster.local", name, namespace)
        for subset in endpoints.get("subsets") or []:
            ports = {int(port["port"]) for port in subset.get("ports", [])}
            for address in subset.get("addresses", []) + subset.get("notReadyAddresses", []):
                self._services.setdefault(address["ip"], []).append((ref, ports))

    def workload_name(self, pod: JSON) -> str:
        """istio/istio ``pkg/kube/util.go`` GetWorkloadMetaFromPod, GetDeployMetaFromPod."""
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        if "service.istio.io/workload-name" in labels:
            return str(labels["service.istio.io/workload-name"])
        name = str(meta["name"])
        if meta.get("generateName"):
            controller = next(
                (ref for ref in meta.get("ownerReferences", []) if ref.get("controller")), None
            )
            if controller is not None:
                name = str(controller["name"])
                template_hash = labels.get("pod-template-hash", "")
                if (
                    controller["kind"] == "ReplicaSet"
                    and template_hash
                    and name.endswith(template_hash)
                ):
                    name = name.removesuffix("-" + template_hash)
        return name or str(meta["name"])

    def peer(self, ip: str, *, cluster: str) -> Peer | None:
        """The pod at *ip* as Istio's workload discovery describes it, or None.

        istio/proxy ``extensions/common/workload_discovery/api.cc`` ``convert``: workload name,
        namespace, canonical name and revision, app = canonical name, version = canonical
        revision, identity ``spiffe://<trust domain>/ns/<ns>/sa/<sa>``. The snapshot does not
        say which cluster it is: *cluster* is the reporting proxy's ``CLUSTER_ID``.
        """
        pod = self._pods.get(ip)
        if pod is None:
            return None
        meta = pod["metadata"]
        workload = self.workload_name(pod)
        name, revision = canonical_service(meta.get("labels") or {}, workload)
        namespace = str(meta.get("namespace", "default"))
        account = pod.get("spec", {}).get("serviceAccountName") or "default"
        return Peer(
            workload=workload,
            namespace=namespace,
            canonical_name=name,
            canonical_revision=revision,
            app=name,
            version=revision,
            cluster=cluster,
            identity=f"spiffe://{self._trust_domain}/ns/{namespace}/sa/{account}",
        )

    def inbound_service(self, ip: str, port: int) -> ServiceRef | None:
        """The first Service (by host) whose endpoints hold *ip* on *port*.

        istio/istio ``pilot/pkg/networking/core/cluster_builder.go`` ``addTelemetryMetadata``:
        an inbound cluster's ``istio.services`` lists the services of the local instance on
        the cluster's port; istio_stats.cc uses the first.
        """
        matches = sorted(
            (ref for ref, ports in self._services.get(ip, []) if port in ports),
            key=lambda ref: ref.host,
        )
        return matches[0] if matches else None
