"""What a Kubernetes snapshot cannot name: a note for each kind of object it lacks.

A snapshot taken with too narrow a ``kubectl get`` (pods only, say) is read without error, and
the resolver then answers UNKNOWN for every pod IP, silently. These notes say so up front,
with the figures and the command that takes a full snapshot; the resolver keeps them in
:attr:`~meshals.resolve.KubernetesResolver.diagnostics` and the command line prints them as
warnings.
"""

from __future__ import annotations

from meshals._errors import Diagnostic, DiagnosticKind, Location

from ._k8s_naming import KubernetesNaming
from ._k8s_snapshot import _Snapshot

__all__: list[str] = []

_FULL_SNAPSHOT = "kubectl get pods,services,endpoints,endpointslices,nodes -A -o json"


def snapshot_gaps(
    snapshot: _Snapshot, naming: KubernetesNaming, source: str
) -> tuple[Diagnostic, ...]:
    """Notes on what *snapshot* cannot name, one per kind of object it lacks; () if none.

    Args:
        snapshot: the merged snapshot.
        naming: the rules it is read with (a rule that reads ``service`` needs Services).
        source: names the snapshot (its files) in the notes.
    """
    pods = len(snapshot.pods)
    services = len(snapshot.services)
    members = {members.service for members in snapshot.members.values()}
    entries = len(snapshot.service_entries)
    reasons: list[str] = []
    if not pods and not (services or members or snapshot.node_ips or entries):
        reasons.append(
            "the snapshot holds no Pods, Services, Endpoints, EndpointSlices, Nodes or"
            f" ServiceEntries: every address resolves to UNKNOWN (take it with {_FULL_SNAPSHOT})"
        )
    elif not pods:
        named = (
            f"only the addresses of its {_plural(entries, 'ServiceEntry', 'ServiceEntries')}"
            if entries
            else "so every address resolves to UNKNOWN"
        )
        reasons.append(
            f"the snapshot has no Pods: no pod IP can be named, {named}"
            f" (take them with the rest: {_FULL_SNAPSHOT})"
        )
    elif not members:
        lacking = (
            "Endpoints or EndpointSlices" if services else "Services, Endpoints or EndpointSlices"
        )
        reasons.append(
            f"the snapshot has {_plural(pods, 'Pod', 'Pods')} but no {lacking}: a pod is named"
            " only when an Endpoints or EndpointSlice object puts it behind a Service (as in"
            " SkyWalking), so every pod IP resolves to UNKNOWN (take them with the pods:"
            f" {_FULL_SNAPSHOT})"
        )
    elif not services:
        rules = [
            name
            for name, rule in (
                ("service", naming.service_rule),
                ("instance", naming.instance_rule),
            )
            if "service" in rule.variables
        ]
        if rules:
            listed = _plural(len(members), "service", "services")
            read = f"{' and '.join(rules)} rule{'s read' if len(rules) > 1 else ' reads'}"
            reasons.append(
                f"the snapshot lists the endpoints of {listed} but no Services: the {read}"
                " ${service...}, of which only the name and namespace are known (from the"
                f" endpoints); other fields render '-' (take them with the rest: {_FULL_SNAPSHOT})"
            )
    return tuple(
        Diagnostic(kind=DiagnosticKind.NOTE, location=Location(source=source), reason=reason)
        for reason in reasons
    )


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"
