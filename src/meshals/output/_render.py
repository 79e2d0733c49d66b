"""Text forms for the command line: metrics (a table, JSON Lines, CSV, SkyWalking JSON), the
service graph as a table, and RED statistics (flat records as a table, JSON Lines or CSV).

Each renderer takes everything of the run and returns the whole output as one string, so
the command can print it at once (or not at all, after an error).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from meshals.aggregate._health import TopologyHealth, health_of, topology_health
from meshals.aggregate._red import RedStats
from meshals.aggregate._stats import ReportedTraffic
from meshals.aggregate._topology import Topology
from meshals.model._metrics import ServiceMeshMetric

from ._skywalking import skywalking, skywalking_json

__all__: list[str] = []

#: The CSV header: the keys of ``ServiceMeshMetric.to_dict()`` in its order, with the
#: ``origin`` object spread over three ``origin_*`` columns.
CSV_COLUMNS: Final = (
    "analyzer",
    "role",
    "detect_point",
    "protocol",
    "source_service",
    "source_instance",
    "source_namespace",
    "source_tags",
    "dest_service",
    "dest_instance",
    "dest_namespace",
    "dest_tags",
    "endpoint",
    "response_code",
    "grpc_status",
    "status",
    "start_time_ms",
    "end_time_ms",
    "latency_ms",
    "start_time_ns",
    "end_time_ns",
    "latency_ns",
    "tls_mode",
    "peer_identity",
    "response_flags",
    "internal_error_code",
    "internal_request_latency_ns",
    "internal_response_latency_ns",
    "received_bytes",
    "sent_bytes",
    "request_bytes",
    "response_bytes",
    "origin_source",
    "origin_message_index",
    "origin_entry_index",
)

_TABLE_HEADER: Final = ("SIDE", "PROTO", "SOURCE -> DEST", "ENDPOINT", "CODE", "STATUS")
_TABLE_TAIL: Final = ("LATENCY", "FLAGS")
_MISSING: Final = "-"
_NS_PER_MS: Final = 1_000_000


def render(metrics: Sequence[ServiceMeshMetric], fmt: str) -> str:
    """The whole output for *metrics* in format *fmt* (a key of :data:`FORMATS`)."""
    return FORMATS[fmt](metrics)


# --- JSON Lines and SkyWalking JSON -----------------------------------------------------------


def _jsonl(metrics: Sequence[ServiceMeshMetric]) -> str:
    return "".join(json.dumps(metric.to_dict()) + "\n" for metric in metrics)


def _skywalking_jsonl(metrics: Sequence[ServiceMeshMetric]) -> str:
    # One ServiceMeshMetrics message per metric: a line per metric, each valid on the wire.
    messages = skywalking(metrics, batch_size=1)
    return "".join(json.dumps(skywalking_json(message)) + "\n" for message in messages)


# --- CSV --------------------------------------------------------------------------------------


def _csv(metrics: Sequence[ServiceMeshMetric]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for metric in metrics:
        row = _csv_row(metric.to_dict())
        writer.writerow(row[column] for column in CSV_COLUMNS)
    return buffer.getvalue()


def _csv_row(record: Mapping[str, object]) -> dict[str, str]:
    """One ``to_dict()`` record as CSV cells: nested ``origin`` spread over ``origin_*`` columns.

    Cells: None is empty, booleans ``true``/``false``, lists joined with ``,``, tag maps
    ``key=value`` pairs sorted by key and joined with ``,``.
    """
    cells: dict[str, str] = {}
    for key, value in record.items():
        if key == "origin" and isinstance(value, Mapping):
            for part, item in value.items():
                cells[f"origin_{part}"] = _cell(item)
        else:
            cells[key] = _cell(value)
    return cells


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(item) for item in value)
    if isinstance(value, Mapping):
        return ",".join(f"{key}={_cell(value[key])}" for key in sorted(value))
    return str(value)


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


#: The output formats of ``meshals analyze --format``.
FORMATS: Final[dict[str, Callable[[Sequence[ServiceMeshMetric]], str]]] = {
    "table": _table,
    "jsonl": _jsonl,
    "csv": _csv,
    "skywalking-json": _skywalking_jsonl,
}


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


def _reporters(traffic: ReportedTraffic) -> str:
    sides = sorted(side.value for side in traffic.reporters)
    return ",".join(sides) or _MISSING


_EDGE_HEADER: Final = (
    "SOURCE -> DEST", "PROTO", "CALLS", "ERRORS", "ERR%", "P50", "P99", "REPORTED BY", "HEALTH"
)  # fmt: skip


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
                _ms(stats.p50),
                _ms(stats.p99),
                _reporters(edge.traffic),
                health.edges[key].status.value,
            )
        )
    return _aligned(nodes, frozenset({2})) + "\n" + _aligned(edges, frozenset(range(2, 7)))


# --- statistics --------------------------------------------------------------------------------

#: The groupings of ``meshals stats --by``.
STATS_SCOPES: Final = ("service", "instance", "endpoint", "edge")
#: The output formats of ``meshals stats --format``.
STATS_FORMATS: Final = ("table", "jsonl", "csv")

_STATS_VALUES: Final = (
    "requests",
    "errors",
    "error_rate",
    "rate_per_s",
    "latency_p50_ns",
    "latency_p90_ns",
    "latency_p99_ns",
    "latency_mean_ns",
    "latency_max_ns",
    "received_bytes",
    "sent_bytes",
    "reporters",
    "health",
)
_KEY_COLUMNS: Final = {
    "service": ("service",),
    "instance": ("service", "instance"),
    "endpoint": ("service", "endpoint"),
    "edge": ("source", "destination"),
}


def stats_columns(scope: str) -> tuple[str, ...]:
    """The record keys (and CSV header) of statistics grouped by ``scope``.

    >>> stats_columns("edge")[:4]
    ('source', 'destination', 'window_start', 'window_start_ns')
    """
    return (*_KEY_COLUMNS[scope], "window_start", "window_start_ns", *_STATS_VALUES)


def _window_start(ns: int | None) -> str | None:
    if ns is None:
        return None
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}Z".replace(".000000000Z", "Z")


def _traffic_values(traffic: ReportedTraffic, rate: float | None) -> dict[str, object]:
    stats = traffic.combined()
    sketch = stats.latency
    mean = sketch.mean
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "error_rate": stats.error_rate,
        "rate_per_s": rate,
        "latency_p50_ns": stats.p50,
        "latency_p90_ns": stats.p90,
        "latency_p99_ns": stats.p99,
        "latency_mean_ns": None if mean is None else round(mean),
        "latency_max_ns": sketch.maximum,
        "received_bytes": stats.received_bytes,
        "sent_bytes": stats.sent_bytes,
        "reporters": _reporters(traffic),
        "health": health_of(stats).status.value,
    }


def red_records(stats: RedStats, *, period_s: float | None = None) -> list[dict[str, object]]:
    """One flat, JSON-ready record per group of RED statistics (keys: :func:`stats_columns`).

    Args:
        stats: the statistics.
        period_s: without windows, the period the rates are over (e.g. the whole input's
            span); None: each group's own observed span.

    Latencies are integer ns (``None`` without timed calls); ``rate_per_s`` is per window when
    the statistics have windows.
    """
    scope = stats.scope.value
    records = []
    for row in stats.rows():
        key = row.key
        names = {"service": key.service, "instance": key.instance, "endpoint": key.endpoint}
        record: dict[str, object] = {column: names[column] for column in _KEY_COLUMNS[scope]}
        record["window_start"] = _window_start(key.window_start_ns)
        record["window_start_ns"] = key.window_start_ns
        rate = row.rate
        if stats.window_ns is None and period_s is not None:
            rate = stats.rate(key, seconds=period_s)
        record.update(_traffic_values(stats.groups[key], rate))
        records.append(record)
    return records


def edge_records(
    graphs: Mapping[int | None, Topology],
    *,
    window_ns: int | None = None,
    period_s: float | None = None,
) -> list[dict[str, object]]:
    """One flat record per edge of each window's graph (keys: :func:`stats_columns` ``"edge"``).

    Args:
        graphs: the service graph of each window by its start in ns (``None``: no windows).
        window_ns: the window length, for per-window rates.
        period_s: without windows, the period the rates are over; None: each edge's span.
    """
    seconds = period_s if window_ns is None else window_ns / 1_000_000_000
    records = []
    for start, graph in graphs.items():
        for edge in graph.edges.values():
            record: dict[str, object] = {
                "source": edge.source,
                "destination": edge.destination,
                "window_start": _window_start(start),
                "window_start_ns": start,
            }
            record.update(_traffic_values(edge.traffic, edge.combined().rate(seconds)))
            records.append(record)
    return records


def render_stats(records: Sequence[Mapping[str, object]], scope: str, fmt: str) -> str:
    """Statistics records as a table, JSON Lines or CSV (``fmt`` in :data:`STATS_FORMATS`)."""
    columns = stats_columns(scope)
    if fmt == "jsonl":
        return "".join(json.dumps(dict(record)) + "\n" for record in records)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow(_cell(record.get(column)) for column in columns)
        return buffer.getvalue()
    return _stats_table(records, scope)


def _stats_table(records: Sequence[Mapping[str, object]], scope: str) -> str:
    if not records:
        return "(no calls)\n"
    keys = _KEY_COLUMNS[scope]
    windowed = any(record["window_start"] is not None for record in records)
    header = (
        *(key.upper() for key in keys),
        *(("WINDOW",) if windowed else ()),
        "CALLS",
        "ERRORS",
        "ERR%",
        "RATE/S",
        "P50",
        "P90",
        "P99",
        "HEALTH",
    )
    rows: list[tuple[str, ...]] = [header]
    for record in records:
        rate = record["rate_per_s"]
        error_rate = record["error_rate"]
        rows.append(
            (
                *(str(record[key] or _MISSING) for key in keys),
                *((str(record["window_start"]),) if windowed else ()),
                str(record["requests"]),
                str(record["errors"]),
                _percent(error_rate if isinstance(error_rate, float) else None),
                _MISSING if not isinstance(rate, float) else f"{rate:.2f}",
                *(
                    _ms(value if isinstance(value, int) else None)
                    for value in (
                        record["latency_p50_ns"],
                        record["latency_p90_ns"],
                        record["latency_p99_ns"],
                    )
                ),
                str(record["health"]),
            )
        )
    first_number = len(keys) + (1 if windowed else 0)
    return _aligned(rows, frozenset(range(first_number, first_number + 7)))
