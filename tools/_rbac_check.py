"""The RBAC decisions a recording should carry, and every way the recorded ones differ.

Dev tooling for ``record_fixtures.py``; not part of meshals. Envoy's RBAC filters write their
shadow decision into the request's (HTTP) or connection's (TCP) dynamic metadata, under the
filter's namespace, each key prefixed with the filter's ``shadow_rules_stat_prefix``
(``istio_dry_run_deny_shadow_engine_result``, ``..._shadow_effective_policy_id``; the policy
id only when a policy matched); the gRPC access loggers log that metadata in
``common_properties.metadata``. Only a sidecar's inbound entries may carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from _als_collector import RecordedStream
from _bookinfo import Call
from _istio_rbac import ALLOW_PREFIX, DENY_PREFIX
from _rbac_mesh import Decision, EngineResult
from _recording import Plan, PlannedEntry, entries_of, find_stream
from google.protobuf import json_format

__all__ = ["METADATA_NAMESPACES", "check_rbac", "predicted_metadata"]

# The dynamic metadata namespace of each RBAC filter: the HTTP filter's and the network one's.
METADATA_NAMESPACES = {"http": "envoy.filters.http.rbac", "tcp": "envoy.filters.network.rbac"}
RESULT = "shadow_engine_result"
POLICY = "shadow_effective_policy_id"


def _engine(prefix: str, engine: EngineResult | None) -> dict[str, str]:
    if engine is None:
        return {}
    fields = {prefix + RESULT: engine.result}
    if engine.policy is not None:
        fields[prefix + POLICY] = engine.policy
    return fields


def predicted_metadata(
    planned: PlannedEntry, decisions: Mapping[Call, Decision]
) -> dict[str, dict[str, str]]:
    """The ``filter_metadata`` an entry should carry: RBAC decisions on inbound entries only."""
    if planned.log.direction != "inbound":
        return {}
    decision = decisions[planned.call]
    fields = _engine(DENY_PREFIX, decision.deny) | _engine(ALLOW_PREFIX, decision.allow)
    return {METADATA_NAMESPACES[planned.log.kind]: fields} if fields else {}


def check_rbac(
    plan: Plan, streams: Sequence[RecordedStream], decisions: Mapping[Call, Decision]
) -> list[str]:
    """Every difference between the decisions Envoy logged and the plan's *decisions*."""
    problems = []
    for name, planned_entries in plan.streams.items():
        stream = find_stream(plan, streams, name)
        entries = [entry for message in stream.messages() for entry in entries_of(message)]
        for index, (entry, planned) in enumerate(zip(entries, planned_entries, strict=False)):
            metadata = entry.common_properties.metadata
            got = json_format.MessageToDict(metadata).get("filterMetadata", {})
            want = predicted_metadata(planned, decisions)
            if got != want:
                problems.append(f"{name}[{index}] RBAC decisions: got {got!r}, want {want!r}")
    return problems
