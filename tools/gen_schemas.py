"""Write the JSON Schemas (draft 2020-12) of meshals' machine-readable output.

One schema per record type, into ``docs/reference/schemas/``:

- ``inspect-entry``: a line of ``meshals inspect --json`` (an ALS entry, or an L4 connection);
  the entry's own shape is derived from the typed model (``meshals.model``), so it cannot
  drift from what :func:`meshals.output._jsonout.to_json` writes;
- ``analyze-metric``: a line of ``meshals analyze --format jsonl``;
- ``stats-<scope>``: a line of ``meshals stats --format jsonl --by <scope>``;
- ``graph``: the document of ``meshals graph --format json``.

Every object lists all its keys as required and allows no others, so a key added to or
dropped from an output fails ``tests/test_output_schemas.py``, which also checks that the
committed files are what this script writes. Run it after changing an output::

    python tools/gen_schemas.py            # rewrite the files
    python tools/gen_schemas.py --check    # exit 1 if a file differs
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from meshals._values import AnyValue, FrozenMap, OpaqueJson
from meshals.aggregate import ConflictKind, HealthStatus, NodeKind, Scope
from meshals.model import (
    DetectPoint,
    HttpEntry,
    L4Connection,
    MeshProtocol,
    ResponseFlag,
    Role,
    TcpEntry,
    TlsMode,
)
from meshals.output._records import KEY_COLUMNS, SECURITY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "reference" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ANY_JSON: dict[str, Any] = {"description": "any JSON value"}

Schema = dict[str, Any]


# --- building blocks ------------------------------------------------------------------------------


def nullable(schema: Schema) -> Schema:
    """*schema* or null."""
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def described(schema: Schema, description: str) -> Schema:
    return {"description": description, **schema}


def values_of(kind: type[enum.Enum]) -> list[str]:
    """An enum's spellings in the output: its text values."""
    return [member.value for member in kind]


def strict_object(properties: dict[str, Schema], description: str | None = None) -> Schema:
    """An object with exactly these keys, in this order."""
    schema: Schema = {} if description is None else {"description": description}
    schema.update(
        {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }
    )
    return schema


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
RATIO: Schema = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
NS: Schema = {"type": ["integer", "null"]}
STRING_LIST: Schema = {"type": "array", "items": STRING}
FLAGS: Schema = {
    "type": "array",
    "items": {"enum": [flag.short_code for flag in ResponseFlag]},
    "description": "Envoy's short response flag codes, in Envoy's order",
}


# --- inspect: derived from the model's types ------------------------------------------------------


class ModelSchemas:
    """JSON Schemas of model values as ``to_json()`` writes them, one ``$defs`` entry per class."""

    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {}

    def ref(self, cls: type) -> Schema:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # claimed first: classes may refer to themselves
            hints = typing.get_type_hints(cls)
            self.defs[name] = strict_object(
                {field.name: self.of(hints[field.name]) for field in attrs.fields(cls)},
                (cls.__doc__ or name).strip().splitlines()[0].replace("``", "`"),
            )
        return {"$ref": f"#/$defs/{name}"}

    def of(self, hint: Any) -> Schema:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if _is_json_value(args):
                return ANY_JSON
            return _union([self.of(arg) for arg in args])
        if hint is type(None):
            return {"type": "null"}
        if hint is bool:
            return BOOLEAN
        if hint is int:
            return INTEGER
        if hint is float:
            # Non-finite floats are written as proto3 JSON writes them.
            return {"anyOf": [NUMBER, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
        if hint is str:
            return STRING
        if hint is bytes:
            return {"type": "string", "contentEncoding": "base64"}
        if hint is object:
            return ANY_JSON
        if isinstance(hint, type) and issubclass(hint, ResponseFlag):
            return {"enum": [flag.short_code for flag in ResponseFlag]}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            if all(isinstance(member.value, str) for member in hint):
                return {"enum": values_of(hint)}
            return {"enum": [member.name for member in hint]}  # protobuf enums: by name
        if origin is frozenset and args and args[0] is ResponseFlag:
            return FLAGS
        if origin in (tuple, frozenset):
            return {"type": "array", "items": self.of(args[0])}
        if origin is FrozenMap:
            return {"type": "object", "additionalProperties": self.of(args[1])}
        if hint is OpaqueJson:
            return {"type": "object", "description": "the JSON body of an unknown Any type"}
        if hint is AnyValue or attrs.has(hint):
            return self.ref(hint)
        raise TypeError(f"no JSON Schema for {hint!r}")


def _is_json_value(args: tuple[Any, ...]) -> bool:
    """Whether a union is ``JsonValue``: null, bool, number, string, list or object (recursive)."""
    scalars = {type(None), bool, float, str}
    return scalars <= set(args) and any(typing.get_origin(arg) is tuple for arg in args)


def _union(options: list[Schema]) -> Schema:
    # An enum or a plain int (a protobuf enum's unknown number), null: one flat anyOf.
    flat: list[Schema] = []
    for option in options:
        flat.extend(option["anyOf"] if set(option) == {"anyOf"} else [option])
    simple = [option for option in flat if set(option) == {"type"}]
    if len(simple) == len(flat):
        return {"type": [option["type"] for option in flat]}
    return {"anyOf": flat}


def inspect_schema() -> Schema:
    model = ModelSchemas()
    entry = _union([model.of(HttpEntry), model.of(TcpEntry)])
    record = model.of(L4Connection)
    als_line = strict_object(
        {
            "file": described(STRING, "the capture file"),
            "message_index": described(INTEGER, "the message's index in the file"),
            "entry_index": described(INTEGER, "the entry's index in the message"),
            "node_id": described(
                nullable(STRING), "the Envoy's node id (the stream's identifier), or null"
            ),
            "role": described(
                nullable({"enum": values_of(Role)}), "the role the node id implies, or null"
            ),
            "kind": described({"enum": ["http", "tcp"]}, "an HTTP or a TCP entry"),
            "entry": described(entry, "the entry as Envoy logged it (HttpEntry or TcpEntry)"),
        },
        "One ALS entry of a capture file.",
    )
    l4_line = strict_object(
        {
            "file": described(STRING, "the log file"),
            "record_index": described(INTEGER, "the record's index in the file"),
            "kind": {"const": "L4Connection"},
            "record": described(record, "the connection as the node proxy logged it"),
        },
        "One connection of an L4 (ztunnel, Kmesh) log.",
    )
    return {
        "title": "meshals inspect --json: one line",
        "description": "One line of `meshals inspect --json`: an ALS entry, or an L4 connection."
        " Enums are spelled by their text value, response flags by Envoy's short codes, the"
        " ALS's protobuf enums by name (or their number when unknown).",
        "oneOf": [als_line, l4_line],
        "$defs": dict(sorted(model.defs.items())),
    }


# --- analyze: a metric ----------------------------------------------------------------------------

_SERVICE_FIELDS = {
    "service": "the {}'s service, UNKNOWN when no one could name it",
    "instance": "the {}'s instance (pod)",
    "namespace": "the {}'s namespace, or null",
    "tags": "the {}'s tags",
}


def _peer(prefix: str, who: str) -> dict[str, Schema]:
    schemas = {
        "service": STRING,
        "instance": STRING,
        "namespace": nullable(STRING),
        "tags": {"type": "object", "additionalProperties": STRING},
    }
    return {
        f"{prefix}_{key}": described(schema, _SERVICE_FIELDS[key].format(who))
        for key, schema in schemas.items()
    }


def metric_schema() -> Schema:
    properties: dict[str, Schema] = {
        "analyzer": described(STRING, "the analysis that made the metric (k8s-mesh, mx-mesh...)"),
        "role": described({"enum": values_of(Role)}, "the reporting proxy's role"),
        "detect_point": described(
            {"enum": values_of(DetectPoint)}, "which side of the call reported it"
        ),
        "protocol": described({"enum": values_of(MeshProtocol)}, "the call's protocol"),
        **_peer("source", "caller"),
        **_peer("dest", "called workload"),
        "endpoint": described(nullable(STRING), "METHOD:path (HTTP, gRPC); null for TCP"),
        "response_code": described(
            nullable(INTEGER), "the HTTP status; null for TCP or when none was sent"
        ),
        "grpc_status": described(nullable(INTEGER), "the grpc-status code, or null"),
        "status": described(BOOLEAN, "whether the call succeeded"),
        "start_time_ms": described(INTEGER, "SkyWalking's startTime: epoch ms, truncated"),
        "end_time_ms": described(INTEGER, "SkyWalking's endTime"),
        "latency_ms": described(INTEGER, "SkyWalking's latency: whole ms, at least 1"),
        "start_time_ns": described(NS, "the exact start on this side, epoch ns"),
        "end_time_ns": described(NS, "the exact end on this side, epoch ns"),
        "latency_ns": described(NS, "end_time_ns - start_time_ns"),
        "tls_mode": described({"enum": values_of(TlsMode)}, "the downstream connection's TLS"),
        "peer_identity": described(nullable(STRING), "the peer certificate's SPIFFE id"),
        "local_identity": described(
            nullable(STRING), "the local certificate's SPIFFE id (the one this side presented)"
        ),
        "response_flags": FLAGS,
        "internal_error_code": described(STRING, "SkyWalking's single flag name, or ''"),
        "internal_request_latency_ns": described(NS, "Envoy's time to the first upstream byte"),
        "internal_response_latency_ns": described(
            NS, "from the first upstream byte received to the response sent"
        ),
        "received_bytes": described(NS, "TCP: bytes received from the downstream; else null"),
        "sent_bytes": described(NS, "TCP: bytes sent to the downstream; else null"),
        "request_bytes": described(NS, "HTTP: the request body size; else null"),
        "response_bytes": described(NS, "HTTP: the response body size; else null"),
        "origin": strict_object(
            {
                "source": described(STRING, "the file (or input) the entry was read from"),
                "message_index": described(nullable(INTEGER), "the message's index there"),
                "entry_index": described(INTEGER, "the entry's index in the message"),
            },
            "where the entry was read",
        ),
    }
    return {
        "title": "meshals analyze --format jsonl: one metric",
        **strict_object(
            properties,
            "One call as one proxy saw it (ServiceMeshMetric.to_dict()), one per line.",
        ),
    }


# --- stats and graph: the numbers of some calls ---------------------------------------------------


def stats_values() -> dict[str, Schema]:
    """The numbers every statistics record carries (``_records.stats_values``)."""
    return {
        "protocols": described(
            {"type": "array", "items": {"enum": values_of(MeshProtocol)}}, "the calls' protocols"
        ),
        "requests": described(INTEGER, "calls (requests, TCP connections), each counted once"),
        "errors": described(INTEGER, "failed calls (status false)"),
        "error_rate": described(RATIO, "errors / requests; null without calls"),
        "errors_4xx": described(INTEGER, "HTTP and gRPC calls answered 4xx (the 4xx rule)"),
        "error_rate_4xx": described(RATIO, "errors_4xx / HTTP and gRPC calls; null without"),
        "errors_5xx": described(
            INTEGER, "HTTP and gRPC calls answered 5xx or not at all (the 5xx rule)"
        ),
        "error_rate_5xx": described(RATIO, "errors_5xx / HTTP and gRPC calls; null without"),
        "grpc_errors": described(INTEGER, "gRPC calls without grpc-status 0 (the grpc rule)"),
        "grpc_error_rate": described(RATIO, "grpc_errors / gRPC calls; null without"),
        "rate_per_s": described(
            {"type": ["number", "null"], "minimum": 0},
            "requests per second over the analysed period (or per window); null when unknown",
        ),
        "latency_p50_ns": described(NS, "median latency (ns, within 1 %); null when untimed"),
        "latency_p90_ns": described(NS, "90th percentile latency (ns)"),
        "latency_p99_ns": described(NS, "99th percentile latency (ns)"),
        "latency_mean_ns": described(NS, "mean latency (ns, rounded)"),
        "latency_max_ns": described(NS, "maximum latency (ns, exact)"),
        "received_bytes": described(INTEGER, "TCP bytes received from the downstream"),
        "sent_bytes": described(INTEGER, "TCP bytes sent to the downstream"),
    }


def security_values() -> dict[str, Schema]:
    """An edge's TLS and identities (``_records.security_values``)."""
    principals = {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 1},
        "propertyNames": {"minLength": 1},
    }
    values: dict[str, Schema] = {}
    for kind, noun in (("requests", "HTTP and gRPC calls"), ("connections", "TCP connections")):
        values[f"mtls_{kind}"] = described(INTEGER, f"{noun} the server side logged over mTLS")
        values[f"tls_{kind}"] = described(
            INTEGER, f"{noun} the server side logged over one-way TLS"
        )
        values[f"plaintext_{kind}"] = described(
            INTEGER, f"{noun} the server side logged in plaintext"
        )
    for kind, noun in (("requests", "HTTP and gRPC calls"), ("connections", "TCP connections")):
        values[f"unknown_tls_{kind}"] = described(
            INTEGER, f"{noun} seen only client-side: their TLS is not known"
        )
    return {
        **{column: values[column] for column in SECURITY_COLUMNS[:8]},
        "mtls_share": described(
            RATIO, "mTLS calls / calls the server side logged; null when it logged none"
        ),
        "client_principals": described(
            principals, "the clients' SPIFFE ids (peer certificates) -> calls, sorted"
        ),
        "server_principals": described(
            principals, "the servers' SPIFFE ids (local certificates) -> calls, sorted"
        ),
        "plaintext_into_meshed": described(
            INTEGER, "server-side plaintext calls logged by a sidecar, waypoint or ztunnel"
        ),
    }


REPORTERS: Schema = described(
    {"type": "array", "items": {"enum": values_of(DetectPoint)}, "uniqueItems": True},
    "the sides that reported the calls",
)
HEALTH: Schema = described(
    {"enum": values_of(HealthStatus)}, "Kiali's health of the calls, by the rules above"
)
_KEYS = {
    "service": described(STRING, "the called service"),
    "instance": described(STRING, "the called instance"),
    "endpoint": described(STRING, "the endpoint called, METHOD:path"),
    "source": described(STRING, "the calling service"),
    "destination": described(STRING, "the called service"),
}


def stats_schema(scope: str) -> Schema:
    properties: dict[str, Schema] = {key: _KEYS[key] for key in KEY_COLUMNS[scope]}
    properties.update(
        {
            "window_start": described(
                {"type": ["string", "null"], "format": "date-time"},
                "the window's start in UTC (RFC 3339); null without --window",
            ),
            "window_start_ns": described(NS, "the window's start, epoch ns; null without"),
            **stats_values(),
            "reporters": REPORTERS,
            "health": HEALTH,
            **(security_values() if scope == "edge" else {}),
        }
    )
    return {
        "title": f"meshals stats --by {scope} --format jsonl: one group",
        **strict_object(properties, f"The calls of one {scope} (and window), one per line."),
    }


def graph_schema() -> Schema:
    limits = strict_object(
        {"degraded": {"type": "number"}, "failing": {"type": "number"}}, "a rule's limits"
    )
    calls = strict_object({**stats_values(), "health": HEALTH}, "Calls, each counted once.")
    node = strict_object(
        {
            "id": described(STRING, "the node's id: its name"),
            "name": described(STRING, "the service name"),
            "kind": described({"enum": values_of(NodeKind)}, "what the node is"),
            "instances": described(STRING_LIST, "the instances seen, sorted"),
            "namespaces": described(STRING_LIST, "the namespaces seen, sorted"),
            "reporter_roles": described(
                {"type": "array", "items": {"enum": values_of(Role)}},
                "the roles of its own proxies that reported",
            ),
            "health": described(HEALTH, "the worse of its inbound and outbound health"),
            "inbound": described({"$ref": "#/$defs/calls"}, "the calls it received"),
            "outbound": described({"$ref": "#/$defs/calls"}, "the calls it made"),
        },
        "A service.",
    )
    edge = strict_object(
        {
            "id": described(STRING, "the edge's id: 'source -> destination'"),
            "source": described(STRING, "the calling node's id"),
            "destination": described(STRING, "the called node's id"),
            **stats_values(),
            "reporters": REPORTERS,
            "health": HEALTH,
            **security_values(),
        },
        "The calls from one service to another.",
    )
    return {
        "title": "meshals graph --format json",
        **strict_object(
            {
                "period": strict_object(
                    {
                        "first_start_ns": described(NS, "the first call's start, epoch ns"),
                        "last_end_ns": described(NS, "the last call's end, epoch ns"),
                        "seconds": described(
                            {"type": ["number", "null"]}, "the length rates are over"
                        ),
                    },
                    "the analysed period",
                ),
                "thresholds": strict_object(
                    {
                        name: nullable(limits)
                        for name in ("5xx", "4xx", "grpc", "tcp")  # HealthThresholds.to_dict()
                    },
                    "the health rules' limits (ratios); null: the rule is off",
                ),
                "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}},
            },
            "The service graph: its nodes (services) and edges, with statistics and health.",
        ),
        "$defs": {"node": node, "edge": edge, "calls": calls},
    }


# --- identities ---------------------------------------------------------------------------------


def identities_schema() -> Schema:
    """``identities --format json``; ``--format jsonl`` writes its ``workloads``, one a line."""
    count = {"type": "integer", "minimum": 0}
    conflict_kinds = {"enum": values_of(ConflictKind)}
    first_seen = strict_object(
        {
            "start_time_ns": described(NS, "the call's start, epoch ns; null when unknown"),
            "source": described(STRING, "the file (or <input>) of the entry"),
            "message_index": described(
                {"type": ["integer", "null"], "minimum": 0}, "the message's index in it"
            ),
            "entry_index": described({"type": "integer", "minimum": 0}, "the entry's index"),
        },
        "the earliest call that showed the id",
    )
    workload = strict_object(
        {
            "service": described(STRING, "the workload's service"),
            "instance": described(STRING, "its instance"),
            "identity": described(STRING, "the SPIFFE id (a certificate's URI SAN)"),
            "as_server": described(count, "calls it served with it (its local certificate)"),
            "as_client": described(count, "calls it made with it (the peer certificate)"),
            "first_seen": first_seen,
            "conflicts": described(
                {"type": "array", "items": conflict_kinds, "uniqueItems": True},
                "the conflicts the row is in: workload (several ids), identity (several workloads)",
            ),
        },
        "One SPIFFE id one workload instance presented.",
    )
    conflict = strict_object(
        {
            "kind": conflict_kinds,
            "subject": described(STRING, "the service (workload) or the id (identity)"),
            "seen": described(STRING_LIST, "its ids, or the services, sorted"),
            "reason": described(STRING, "the conflict in words, as the warning says it"),
        },
        "A workload with several ids, or an id of several workloads.",
    )
    return {
        "title": "meshals identities --format json",
        **strict_object(
            {
                "workloads": {"type": "array", "items": {"$ref": "#/$defs/workload"}},
                "conflicts": {"type": "array", "items": {"$ref": "#/$defs/conflict"}},
            },
            "The SPIFFE ids each workload presented, and their conflicts.",
        ),
        "$defs": {"workload": workload, "conflict": conflict},
    }


# --- the files ------------------------------------------------------------------------------------


def schemas() -> dict[str, Schema]:
    """Every schema by file name (without ``.schema.json``)."""
    found = {"inspect-entry": inspect_schema(), "analyze-metric": metric_schema()}
    for scope in Scope:
        found[f"stats-{scope.value}"] = stats_schema(scope.value)
    found["graph"] = graph_schema()
    found["identities"] = identities_schema()
    return {name: {"$schema": DRAFT, **schema} for name, schema in found.items()}


def rendered() -> dict[Path, str]:
    return {
        SCHEMAS / f"{name}.schema.json": json.dumps(schema, indent=2) + "\n"
        for name, schema in schemas().items()
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file differs")
    args = parser.parse_args(None if argv is None else list(argv))
    files = rendered()
    if args.check:
        stale = [path for path, text in files.items() if _read(path) != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run tools/gen_schemas.py", file=sys.stderr)
        return 1 if stale else 0
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
