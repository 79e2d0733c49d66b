"""SkyWalking's own ALS metrics on meshals' fixtures (the shared reference), and meshals'
``semantics="skywalking"`` metrics in the same record shape, for the differential test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import meshals
from meshals.model import MeshProtocol
from meshals.model._metrics import Semantics
from meshals.output import skywalking_json, skywalking_metric
from meshals.resolve import KubernetesNaming, KubernetesResolver

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "skywalking-outputs"
FIXTURES = ROOT / "tests" / "fixtures"
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-loopback.json"
FIXTURE_SETS = ("envoy", "mx")
CHAINS = ("k8s-mesh", "mx-mesh", "mx-mesh,k8s-mesh")

Record = tuple[str, int | None, str, dict[str, object]]  # stream, message, kind, metric


def stale_inputs() -> list[str]:
    """The inputs whose sha256 no longer matches the one the reference was computed from."""
    stale = []
    for line in (REFERENCE / "inputs.sha256").read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if hashlib.sha256((ROOT / name).read_bytes()).hexdigest() != digest:
            stale.append(name)
    return stale


def reference(fixture_set: str, chain: str) -> list[Record]:
    """SkyWalking's metrics, in its order (file order, then as it made them)."""
    path = REFERENCE / f"{fixture_set}.{chain}.jsonl"
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        records.append((data["stream"], data["message"], data["kind"], data["metric"]))
    return records


def meshals_records(
    fixture_set: str, chain: str, *, semantics: Semantics = "skywalking"
) -> list[Record]:
    """meshals' metrics (``semantics="skywalking"`` unless told), as the export writes them."""
    resolver = KubernetesResolver.from_file(
        SNAPSHOT, naming=KubernetesNaming(), semantics=semantics
    )
    records = []
    for path in sorted((FIXTURES / fixture_set).glob("*.bin")):
        with meshals.read(path) as reader:
            analysis = meshals.analyze(
                reader, resolver=resolver, analyzers=chain.split(","), semantics=semantics
            )
            for metric in analysis:
                message = skywalking_metric(metric)
                kind = "tcp" if metric.protocol is MeshProtocol.TCP else "http"
                data = skywalking_json(message)
                records.append((path.name, metric.origin.message_index, kind, data))
    return records


def differences(expected: list[Record], actual: list[Record]) -> list[str]:
    """A readable field-by-field account of where *actual* (meshals) departs from *expected*
    (SkyWalking), one line per differing field or missing/extra metric; empty when equal."""
    lines = []
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            stream, message, kind, _ = expected[index]
            lines.append(f"#{index} {stream} message {message}: SkyWalking's {kind} metric missing")
            continue
        if index >= len(expected):
            stream, message, kind, _ = actual[index]
            lines.append(f"#{index} {stream} message {message}: an extra {kind} metric")
            continue
        want, got = expected[index], actual[index]
        where = f"#{index} {want[0]} message {want[1]}"
        if want[:3] != got[:3]:
            lines.append(f"{where}: meshals' metric is from {got[0]} message {got[1]} ({got[2]})")
        for field in dict.fromkeys([*want[3], *got[3]]):
            if want[3].get(field) != got[3].get(field):
                lines.append(
                    f"{where} {field}: meshals {got[3].get(field)!r}"
                    f" != SkyWalking {want[3].get(field)!r}"
                )
    return lines
