"""A Kubernetes snapshot of a recorder mesh's pods, as ``kubectl get pods,services,endpoints
-A -o json`` prints it.

Dev tooling for ``record_fixtures.py``; not part of meshals. Written from the same
``_bookinfo.Mesh`` the Envoys run, so pod IPs, service accounts and labels agree with the
recording's node metadata. Shaped like what a Deployment, a ReplicaSet and Istio's injector
leave on a pod (``ownerReferences`` to ``<deployment>-<pod-template-hash>``, the
``pod-template-hash`` label, ``service.istio.io/canonical-name``/``-revision`` and
``security.istio.io/tlsMode`` on injected pods). Uids are derived from the object names,
timestamps and resource versions invented; only what the tests rely on is filled in.
"""

from __future__ import annotations

import itertools
import json
import uuid

from _bookinfo import GATEWAY, Mesh, Pod, Protocol, Service
from _envoy_configs import JsonDict, JsonValue
from _mesh_envoys import app_port

__all__ = ["snapshot_json"]

NODE_NAME = "envoy-recorder"
NODE_IP = "127.0.0.254"
CREATED = "2025-06-02T09:14:07Z"
GATEWAY_VIP = "127.0.1.1"
_PORT_NAMES = {Protocol.HTTP: "http", Protocol.GRPC: "grpc", Protocol.TCP: "tcp"}


def _uid(kind: str, namespace: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meshals-recorder/{kind}/{namespace}/{name}"))


def _owner(pod: Pod) -> tuple[str, str]:
    """The kind and name of the controller that owns *pod*."""
    if pod.owner_kind == "ReplicaSet":
        return "ReplicaSet", f"{pod.workload}-{pod.template_hash}"
    return pod.owner_kind, pod.workload


def _labels(pod: Pod) -> dict[str, JsonValue]:
    labels: dict[str, JsonValue] = {"app": pod.service}
    if pod.service == GATEWAY:
        labels["istio"] = "ingressgateway"
        labels["sidecar.istio.io/inject"] = "false"
    elif pod.owner_kind == "ReplicaSet":
        labels["version"] = pod.version
    if pod.owner_kind == "ReplicaSet":
        labels["pod-template-hash"] = pod.template_hash
    else:
        labels["apps.kubernetes.io/pod-index"] = pod.instance.rsplit("-", 1)[1]
        labels["statefulset.kubernetes.io/pod-name"] = pod.instance
    if pod.has_envoy:
        # Istio's injector (or the gateway chart) sets them; a sidecar also gets tlsMode.
        labels["service.istio.io/canonical-name"] = pod.service
        labels["service.istio.io/canonical-revision"] = pod.revision
        if pod.service != GATEWAY:
            labels["security.istio.io/tlsMode"] = "istio"
    return labels


def _pod(mesh: Mesh, pod: Pod, versions: itertools.count[int]) -> JsonDict:
    kind, owner = _owner(pod)
    ports: list[JsonValue] = [
        {"containerPort": app_port(mesh, service), "protocol": "TCP"}
        for service in mesh.services.values()
        if service.pod == pod.service
    ]
    containers: list[JsonValue] = [
        {
            "image": f"docker.io/istio/examples-bookinfo-{pod.service}-{pod.version}:1.20.2"
            if pod.service != GATEWAY
            else "docker.io/istio/proxyv2:1.22.3",
            "name": pod.service if pod.service != GATEWAY else "istio-proxy",
            "ports": ports if pod.service != GATEWAY else [{"containerPort": 8080}],
        }
    ]
    if pod.has_envoy and pod.service != GATEWAY:
        containers.append({"image": "docker.io/istio/proxyv2:1.22.3", "name": "istio-proxy"})
    ready = "True" if pod.alive else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": CREATED,
            # The controller names a pod it creates from this prefix (a StatefulSet's too);
            # Istio looks for the owner only when a pod has one (GetDeployMetaFromPod).
            "generateName": f"{owner}-",
            "labels": _labels(pod),
            "name": pod.instance,
            "namespace": pod.namespace,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": kind,
                    "name": owner,
                    "uid": _uid(kind, pod.namespace, owner),
                }
            ],
            "resourceVersion": str(next(versions)),
            "uid": _uid("Pod", pod.namespace, pod.instance),
        },
        "spec": {
            "containers": containers,
            "nodeName": NODE_NAME,
            "serviceAccount": pod.service_account,
            "serviceAccountName": pod.service_account,
        },
        "status": {
            "conditions": [
                {"status": ready, "type": "Ready"},
                {"status": ready, "type": "ContainersReady"},
            ],
            "hostIP": NODE_IP,
            "phase": "Running",
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
        },
    }


def _service_objects(
    name: str,
    namespace: str,
    *,
    vip: str,
    port: JsonDict,
    pod: Pod,
    versions: itertools.count[int],
) -> tuple[JsonDict, JsonDict]:
    labels: JsonDict = {"app": pod.service, "service": name}
    selector: JsonDict = {"app": pod.service}
    service: JsonDict = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "creationTimestamp": CREATED,
            "labels": labels,
            "name": name,
            "namespace": namespace,
            "resourceVersion": str(next(versions)),
            "uid": _uid("Service", namespace, name),
        },
        "spec": {
            "clusterIP": vip,
            "clusterIPs": [vip],
            "ports": [port],
            "selector": selector,
            "type": "ClusterIP",
        },
    }
    address: JsonDict = {
        "ip": pod.ip,
        "nodeName": NODE_NAME,
        "targetRef": {
            "kind": "Pod",
            "name": pod.instance,
            "namespace": pod.namespace,
            "uid": _uid("Pod", pod.namespace, pod.instance),
        },
    }
    endpoint_port = {key: value for key, value in port.items() if key != "targetPort"}
    endpoint_port["port"] = port["targetPort"]
    endpoints: JsonDict = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "creationTimestamp": CREATED,
            "labels": dict(labels),
            "name": name,
            "namespace": namespace,
            "resourceVersion": str(next(versions)),
            "uid": _uid("Endpoints", namespace, name),
        },
        "subsets": [
            {
                # A pod nothing listens on is not ready: Kubernetes lists it apart.
                "addresses" if pod.alive else "notReadyAddresses": [address],
                "ports": [endpoint_port],
            }
        ],
    }
    return service, endpoints


def _service_port(service: Service) -> JsonDict:
    # Istio picks the protocol from the port name's prefix.
    return {
        "name": _PORT_NAMES[service.protocol],
        "port": service.port,
        "protocol": "TCP",
        "targetPort": service.port,
    }


def snapshot_json(mesh: Mesh) -> str:
    """The snapshot, formatted as ``kubectl get -o json`` writes it (sorted keys, 4 spaces)."""
    versions = itertools.count(52001)
    pods = [_pod(mesh, pod, versions) for pod in mesh.pods.values()]
    pairs = [
        _service_objects(
            service.name,
            service.namespace,
            vip=service.vip,
            port=_service_port(service),
            pod=mesh.pods[service.pod],
            versions=versions,
        )
        for service in mesh.services.values()
    ]
    gateway_port: JsonDict = {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8080}
    pairs.append(
        _service_objects(
            GATEWAY,
            "istio-system",
            vip=GATEWAY_VIP,
            port=gateway_port,
            pod=mesh.pods[GATEWAY],
            versions=versions,
        )
    )

    def order(item: JsonDict) -> tuple[str, str]:
        metadata = item["metadata"]
        assert isinstance(metadata, dict)
        return str(metadata["namespace"]), str(metadata["name"])

    items: list[JsonValue] = [
        *sorted(pods, key=order),
        *sorted((service for service, _ in pairs), key=order),
        *sorted((endpoints for _, endpoints in pairs), key=order),
    ]
    listing: JsonDict = {
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }
    return json.dumps(listing, indent=4, sort_keys=True) + "\n"
