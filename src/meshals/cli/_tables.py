"""The aligned text tables for the terminal: metrics, the service graph, RED statistics and the
workloads' SPIFFE ids.

Each table takes everything of the run and returns the whole text as one string, so the
command can print it at once (or not at all, after an error). Columns are two spaces apart,
numbers right-aligned so they line up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from meshals.aggregate._health import TopologyHealth, topology_health
from meshals.aggregate._identities import Identities
from meshals.aggregate._topology import Topology
from meshals.model._metrics import ServiceMeshMetric
from meshals.output._records import KEY_COLUMNS, reporters

from ._times import rfc3339

__all__: list[str] = []

_TABLE_HEADER: Final = ("SIDE", "PROTO", "SOURCE -> DEST", "ENDPOINT", "CODE", "STATUS")
_TABLE_TAIL: Final = ("LATENCY", "FLAGS")
_MISSING: Final = "-"
_NS_PER_MS: Final = 1_000_000


# --- table ------------------------------------------------------------------------------------


def _table(metrics: Sequence[ServiceMeshMetric]) -> str:
    rows: list[tuple[str, ...]] = [(*_TABLE_HEADER, *_TABLE_TAIL)]
    rows.extend(_table_row(metric) for metric in metrics)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    latency = len(_TABLE_HEADER)  # the latency column is right-aligned: the numbers line up
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column == latency else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def _table_row(metric: ServiceMeshMetric) -> tuple[str, ...]:
    code = _MISSING if metric.response_code is None else str(metric.response_code)
    if metric.grpc_status is not None:
        code = f"{code} grpc={metric.grpc_status}"
    latency = metric.latency_ns
    flags = sorted(metric.response_flags, key=lambda flag: flag.field_number)
    return (
        metric.detect_point.value,
        metric.protocol.value,
        f"{metric.source.service} -> {metric.destination.service}",
        metric.endpoint or _MISSING,
        code,
        "ok" if metric.status else "error",
        _MISSING if latency is None else f"{latency / _NS_PER_MS:.2f}ms",
        ",".join(flag.short_code for flag in flags) or _MISSING,
    )


# --- the service graph as a table ---------------------------------------------------------------


def _ms(ns: int | None) -> str:
    return _MISSING if ns is None else f"{ns / _NS_PER_MS:.2f}ms"


def _percent(rate: float | None) -> str:
    return _MISSING if rate is None else f"{rate:.1%}"


def _aligned(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> str:
    """Rows as text columns two spaces apart; columns in ``right`` right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def topology_table(graph: Topology, health: TopologyHealth | None = None) -> str:
    """The service graph as two text tables: its services, then its edges (calls counted once).

    Args:
        graph: the service graph.
        health: its health (default :func:`~meshals.aggregate.topology_health`, Kiali's thresholds).

    Returns:
        The text; ``(no calls)`` for an empty graph.
    """
    if not graph.nodes:
        return "(no calls)\n"
    health = topology_health(graph) if health is None else health
    nodes: list[tuple[str, ...]] = [("SERVICE", "KIND", "INSTANCES", "REPORTED BY", "HEALTH")]
    for name, node in graph.nodes.items():
        roles = ",".join(role.value for role in node.reporter_roles) or _MISSING
        nodes.append(
            (
                name,
                node.kind.value,
                str(len(node.instances)),
                roles,
                health.nodes[name].status.value,
            )
        )
    edges: list[tuple[str, ...]] = [
        (
            "SOURCE -> DEST",
            "PROTO",
            "CALLS",
            "ERRORS",
            "ERR%",
            "4XX%",
            "5XX%",
            "P50",
            "P99",
            "REPORTED BY",
            "HEALTH",
        )
    ]
    for key, edge in graph.edges.items():
        stats = edge.combined()
        edges.append(
            (
                f"{edge.source} -> {edge.destination}",
                ",".join(protocol.value for protocol in stats.protocols) or _MISSING,
                str(stats.requests),
                str(stats.errors),
                _percent(stats.error_rate),
                _percent(stats.error_rate_4xx),
                _percent(stats.error_rate_5xx),
                _ms(stats.p50),
                _ms(stats.p99),
                _joined(reporters(edge.traffic)),
                health.edges[key].status.value,
            )
        )
    return _aligned(nodes, frozenset({2})) + "\n" + _aligned(edges, frozenset(range(2, 9)))


# --- statistics --------------------------------------------------------------------------------


def _stats_table(records: Sequence[Mapping[str, object]], scope: str) -> str:
    if not records:
        return "(no calls)\n"
    keys = KEY_COLUMNS[scope]
    windowed = any(record["window_start"] is not None for record in records)
    protocols = scope == "edge"  # as the graph's edge table: an edge's calls share a protocol
    header = (
        *(key.upper() for key in keys),
        *(("WINDOW",) if windowed else ()),
        *(("PROTO",) if protocols else ()),
        "CALLS",
        "ERRORS",
        "ERR%",
        "4XX%",
        "5XX%",
        "RATE/S",
        "P50",
        "P90",
        "P99",
        # An edge's share of calls over mTLS, and its plaintext calls into a workload with a
        # proxy (the rest of its TLS facts are in the other formats).
        *(("MTLS%", "PLAIN-IN") if protocols else ()),
        "HEALTH",
    )
    rows: list[tuple[str, ...]] = [header]
    for record in records:
        rate = record["rate_per_s"]
        rows.append(
            (
                *(str(record[key] or _MISSING) for key in keys),
                *((str(record["window_start"]),) if windowed else ()),
                *((_joined(record["protocols"]),) if protocols else ()),
                str(record["requests"]),
                str(record["errors"]),
                *(
                    _percent(value if isinstance(value, float) else None)
                    for value in (
                        record["error_rate"],
                        record["error_rate_4xx"],
                        record["error_rate_5xx"],
                    )
                ),
                _MISSING if not isinstance(rate, float) else f"{rate:.2f}",
                *(
                    _ms(value if isinstance(value, int) else None)
                    for value in (
                        record["latency_p50_ns"],
                        record["latency_p90_ns"],
                        record["latency_p99_ns"],
                    )
                ),
                *(_security_cells(record) if protocols else ()),
                str(record["health"]),
            )
        )
    first_number = len(keys) + (1 if windowed else 0) + (1 if protocols else 0)
    numbers = 11 if protocols else 9
    return _aligned(rows, frozenset(range(first_number, first_number + numbers)))


def _security_cells(record: Mapping[str, object]) -> tuple[str, str]:
    share = record["mtls_share"]
    return _percent(share if isinstance(share, float) else None), str(
        record["plaintext_into_meshed"]
    )


def _joined(items: object) -> str:
    """A list cell of a table: its items joined with ``,`` (``-``: none)."""
    if not isinstance(items, (list, tuple)):
        return _MISSING
    return ",".join(str(item) for item in items) or _MISSING


# --- identities -----------------------------------------------------------------------------------


def identities_table(table: Identities) -> str:
    """The workloads' SPIFFE ids: one row per (service, instance, id), the calls it served and
    made with it, where it was first seen, and the conflicts it is in (``-``: none)."""
    if not table.rows:
        return "(no certificates: no server side logged a local or peer certificate)\n"
    rows: list[tuple[str, ...]] = [
        ("SERVICE", "INSTANCE", "SPIFFE ID", "AS SERVER", "AS CLIENT", "FIRST SEEN", "CONFLICT")
    ]
    conflicts = table.row_conflicts()
    for key, row in table.rows.items():
        seen = row.first_seen
        when = "" if seen.unknown_time else f"{rfc3339(seen.start_time_ns)} "
        rows.append(
            (
                row.service,
                row.instance,
                row.identity,
                str(row.as_server),
                str(row.as_client),
                f"{when}{seen}",
                ",".join(kind.value for kind in conflicts[key]) or _MISSING,
            )
        )
    return _aligned(rows, frozenset({3, 4}))
