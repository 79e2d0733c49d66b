"""check() held to Envoy's own RBAC engine, entry for entry, on a real recording.

``tools/record_fixtures.py --scenario rbac`` ran the mutual-TLS mesh with the policies of
``tests/fixtures/policies/rbac-shadow.yaml`` translated into Envoy RBAC filters the way istiod
translates them (``tools/_istio_rbac.py``, not meshals), in shadow mode on every sidecar's
inbound listeners: a DENY filter, then an ALLOW filter. Envoy logged each filter's decision in
the entry's dynamic metadata (``tests/fixtures/envoy/rbac/README.md``). Here meshals reads the
same YAML and the same files, and its verdict and deciding policy and rule must be Envoy's on
every entry a policy sees. Envoy's side is read with Envoy's generated classes, not meshals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ENVOY_FIXTURES, FIXTURES
from google.protobuf import json_format
from test_envoy_recordings import pb_entries, pb_messages_from_bin

import meshals
from meshals.policy import Decision, Verdict, check, load_policies
from meshals.resolve import KubernetesWorkloads

RBAC = ENVOY_FIXTURES / "rbac"
POLICIES = FIXTURES / "policies" / "rbac-shadow.yaml"
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-rbac.json"
# The RBAC filters' metadata namespaces and Istio's dry-run stat prefixes (builder.go).
NAMESPACES = ("envoy.filters.http.rbac", "envoy.filters.network.rbac")
DENY, ALLOW = "istio_dry_run_deny_", "istio_dry_run_allow_"

# xds-protos ships no type stubs: its messages are Any to mypy.
PbMessage = Any
EntryKey = tuple[str, int, int]  # (stream, message index, entry index)


def envoy_decisions() -> dict[EntryKey, tuple[Verdict, str | None]]:
    """Every entry with RBAC decisions: Istio's verdict and the deciding Envoy policy id.

    Denied when the DENY filter says so (by its matching policy); else the ALLOW filter's
    result (by its matching policy; none when it denied by default).
    """
    found: dict[EntryKey, tuple[Verdict, str | None]] = {}
    for path in sorted(RBAC.glob("*.bin")):
        for message_index, message in enumerate(pb_messages_from_bin(f"rbac/{path.stem}")):
            for entry_index, entry in enumerate(pb_entries([message])):
                metadata = entry.common_properties.metadata.filter_metadata
                spaces = [name for name in NAMESPACES if name in metadata]
                if not spaces:
                    continue
                fields = {
                    key: value.string_value for key, value in metadata[spaces[0]].fields.items()
                }
                key = (path.stem, message_index, entry_index)
                if fields[DENY + "shadow_engine_result"] == "denied":
                    found[key] = (Verdict.DENIED, fields[DENY + "shadow_effective_policy_id"])
                else:
                    allowed = fields.get(ALLOW + "shadow_engine_result", "allowed") == "allowed"
                    verdict = Verdict.ALLOWED if allowed else Verdict.DENIED
                    found[key] = (verdict, fields.get(ALLOW + "shadow_effective_policy_id"))
    return found


def envoy_id(decision: Decision) -> str | None:
    """The Envoy policy id of check()'s deciding policy and rule (Istio's naming)."""
    if decision.policy is None:
        assert decision.rule is None
        return None
    namespace, _, name = decision.policy.partition("/")
    return f"ns[{namespace}]-policy[{name}]-rule[{decision.rule}]"


def meshals_decisions() -> dict[EntryKey, tuple[Verdict, str | None]]:
    policies = load_policies(POLICIES.read_text(encoding="utf-8"), source=str(POLICIES))
    streams = [meshals.read(path) for path in sorted(RBAC.glob("*.bin"))]
    report = check(policies, streams, workloads=KubernetesWorkloads.from_files([SNAPSHOT]))
    decisions: dict[EntryKey, tuple[Verdict, str | None]] = {}
    for decision in report.decisions:
        request = decision.request
        key = (Path(request.file or "").stem, request.message_index, request.entry_index)
        assert key not in decisions
        decisions[key] = (decision.verdict, envoy_id(decision))
    return decisions


ENVOY = envoy_decisions()
MESHALS = meshals_decisions()


def test_the_recording_holds_a_decision_for_every_inbound_entry() -> None:
    # 49 HTTP requests and 2 TCP connections reached a sidecar's inbound listener.
    assert len(ENVOY) == 51
    assert sum(1 for stream, _, _ in ENVOY if stream.endswith("-tcp")) == 2
    verdicts = [verdict for verdict, _ in ENVOY.values()]
    assert (verdicts.count(Verdict.ALLOWED), verdicts.count(Verdict.DENIED)) == (26, 25)


def test_the_recording_decides_on_templates_client_addresses_and_when() -> None:
    # Each new policy's rules decide at least one entry, and remote_ip differs from the peer.
    deciding = {policy for _, policy in ENVOY.values() if policy}
    assert {
        "ns[default]-policy[reviews-templates]-rule[0]",
        "ns[default]-policy[details-xff]-rule[0]",
        "ns[default]-policy[details-xff]-rule[1]",
        "ns[default]-policy[details-deny-remote]-rule[0]",
    } <= deciding
    forwarded = {
        (
            entry.common_properties.downstream_direct_remote_address.socket_address.address,
            entry.common_properties.downstream_remote_address.socket_address.address,
        )
        for entry in pb_entries(pb_messages_from_bin("rbac/details-http"))
        if entry.request.request_headers.get("x-tenant")
    }
    assert forwarded == {
        ("127.0.0.10", "127.0.0.10"),
        ("127.0.0.10", "198.51.100.7"),
        ("127.0.0.10", "192.0.2.9"),
        ("127.0.0.10", "203.0.113.5"),
    }


def test_every_entry_carries_the_decisions_its_ground_truth_states() -> None:
    # Inbound entries carry both filters' decisions; the gateway's and outbound ones none.
    truth = json.loads((RBAC / "ground_truth.json").read_text(encoding="utf-8"))
    for name, stream in truth["streams"].items():
        entries = pb_entries(pb_messages_from_bin(f"rbac/{name}"))
        logged = [
            json_format.MessageToDict(entry.common_properties.metadata).get("filterMetadata", {})
            for entry in entries
        ]
        assert logged == [entry["rbac"] for entry in stream["entries"]], name
        inbound = [bool(entry["rbac"]) for entry in stream["entries"]]
        assert inbound == [entry["direction"] == "inbound" for entry in stream["entries"]], name


def test_check_sees_exactly_the_entries_envoy_decided_on() -> None:
    assert sorted(meshals_decisions()) == sorted(ENVOY)


@pytest.mark.parametrize("key", sorted(ENVOY), ids=lambda key: "{}[{}.{}]".format(*key))
def test_check_agrees_with_envoy(key: EntryKey) -> None:
    assert MESHALS.get(key) == ENVOY[key]
