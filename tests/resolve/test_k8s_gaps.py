"""What a Kubernetes snapshot cannot name: KubernetesResolver.diagnostics, one note per kind
of object missing, from real snapshots with kinds taken out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshals import Diagnostic, DiagnosticKind, Location
from meshals.resolve import KubernetesNaming, KubernetesResolver

K8S = Path(__file__).parents[1] / "fixtures" / "k8s"
LOOPBACK = K8S / "bookinfo-loopback.json"
PODS_ONLY = K8S / "bookinfo-pods-only.json"
FULL = "kubectl get pods,services,endpoints,endpointslices,nodes -A -o json"


def _without(*kinds: str) -> dict[str, object]:
    """The loopback snapshot without the objects of *kinds*."""
    document = json.loads(LOOPBACK.read_text(encoding="utf-8"))
    document["items"] = [item for item in document["items"] if item["kind"] not in kinds]
    return dict(document)


def _note(source: str, reason: str) -> Diagnostic:
    return Diagnostic(kind=DiagnosticKind.NOTE, location=Location(source=source), reason=reason)


@pytest.mark.parametrize(
    "path", ["bookinfo-loopback.json", "cluster.json", "cluster.json+serviceentries.json"]
)
def test_complete_snapshots_have_nothing_to_say(path: str) -> None:
    resolver = KubernetesResolver.from_files([K8S / name for name in path.split("+")])
    assert resolver.diagnostics == ()


def test_pods_without_services_or_endpoints_name_nothing_and_say_so() -> None:
    resolver = KubernetesResolver.from_file(PODS_ONLY)
    assert resolver.diagnostics == (
        _note(
            str(PODS_ONLY),
            "the snapshot has 8 Pods but no Services, Endpoints or EndpointSlices: a pod is"
            " named only when an Endpoints or EndpointSlice object puts it behind a Service (as"
            " in SkyWalking), so every pod IP resolves to UNKNOWN (take them with the pods:"
            f" {FULL})",
        ),
    )
    # What the note says: the pods are there, and not one IP is named.
    assert [resolver.resolve(f"127.0.0.{host}", 9080) for host in range(1, 9)] == [None] * 8


def test_services_without_endpoints() -> None:
    resolver = KubernetesResolver(_without("Endpoints", "EndpointSlice"))
    (note,) = resolver.diagnostics
    assert str(note).startswith(
        "<document 1>: the snapshot has 8 Pods but no Endpoints or EndpointSlices: "
    )


def test_endpoints_without_services_matter_only_to_rules_that_read_the_service() -> None:
    document = _without("Service")
    assert KubernetesResolver(document).diagnostics == ()  # the default rules read pods only
    naming = KubernetesNaming(
        service_rule="${service.metadata.labels.app}", instance_rule="${pod.metadata.name}"
    )
    resolver = KubernetesResolver(document, naming=naming)
    assert resolver.diagnostics == (
        _note(
            "<document 1>",
            "the snapshot lists the endpoints of 8 services but no Services: the service rule"
            " reads ${service...}, of which only the name and namespace are known (from the"
            f" endpoints); other fields render '-' (take them with the rest: {FULL})",
        ),
    )
    assert resolver.resolve("127.0.0.3", 9080).service == "-"  # type: ignore[union-attr]
    both = KubernetesNaming(
        service_rule="${service.metadata.name}", instance_rule="${service.metadata.uid}"
    )
    (note,) = KubernetesResolver(document, naming=both).diagnostics
    assert "the service and instance rules read ${service...}" in note.reason


def test_a_snapshot_without_pods() -> None:
    (note,) = KubernetesResolver(_without("Pod")).diagnostics
    assert note.reason == (
        "the snapshot has no Pods: no pod IP can be named, so every address resolves to"
        f" UNKNOWN (take them with the rest: {FULL})"
    )
    entries = KubernetesResolver.from_file(K8S / "serviceentries.json")
    assert entries.diagnostics == (
        _note(
            str(K8S / "serviceentries.json"),
            "the snapshot has no Pods: no pod IP can be named, only the addresses of its 5"
            f" ServiceEntries (take them with the rest: {FULL})",
        ),
    )


def test_an_empty_snapshot_and_no_snapshot() -> None:
    expected = (
        "the snapshot holds no Pods, Services, Endpoints, EndpointSlices, Nodes or"
        f" ServiceEntries: every address resolves to UNKNOWN (take it with {FULL})"
    )
    assert KubernetesResolver({"kind": "List", "items": []}).diagnostics == (
        _note("<document 1>", expected),
    )
    assert KubernetesResolver().diagnostics == (_note("<no documents>", expected),)


def test_merged_files_are_named_together() -> None:
    resolver = KubernetesResolver.from_files([PODS_ONLY, K8S / "serviceentries.json"])
    (note,) = resolver.diagnostics
    assert note.location == Location(source=f"{PODS_ONLY} + {K8S / 'serviceentries.json'}")
    # Merged with the rest, the pods are named: no note.
    assert KubernetesResolver.from_files([PODS_ONLY, LOOPBACK]).diagnostics == ()
