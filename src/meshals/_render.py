"""Text forms of metrics for ``meshals analyze``: a table, JSON Lines, CSV, SkyWalking JSON.

Each renderer takes every metric of the run and returns the whole output as one string, so
the command can print it at once (or not at all, after an error).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from ._metrics import ServiceMeshMetric
from .export import skywalking, skywalking_json

__all__ = ["CSV_COLUMNS", "FORMATS", "render"]

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
