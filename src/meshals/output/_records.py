"""Flat records and serialisations of the results: metrics as JSON Lines, CSV or SkyWalking
JSON, and RED statistics (flat records, also per edge) as JSON Lines or CSV.

The serialisations of metrics are line-oriented (:class:`Serialisation`): a header, then one
line per metric, made lazily as the metrics come, so the command can write them as the
analysis makes them and hold none. Statistics are whole-run aggregates: their serialisation
takes every record and returns the whole output as one string. The aligned text tables for
the terminal are the command line's (``meshals.cli._tables``).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple

from meshals.aggregate._health import health_of
from meshals.aggregate._red import RedStats, Scope
from meshals.aggregate._security import SecurityStats
from meshals.aggregate._stats import ReportedTraffic
from meshals.aggregate._topology import Topology
from meshals.aggregate._traffic import TrafficStats
from meshals.model._metrics import ServiceMeshMetric, TlsMode

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
    "local_identity",
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


# --- JSON Lines and SkyWalking JSON -----------------------------------------------------------


def _jsonl_lines(metrics: Iterable[ServiceMeshMetric]) -> Iterator[str]:
    for metric in metrics:
        yield json.dumps(metric.to_dict()) + "\n"


def _skywalking_lines(metrics: Iterable[ServiceMeshMetric]) -> Iterator[str]:
    # One ServiceMeshMetrics message per metric: a line per metric, each valid on the wire.
    for message in skywalking(metrics, batch_size=1):
        yield json.dumps(skywalking_json(message)) + "\n"


# --- CSV --------------------------------------------------------------------------------------


def _csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_COLUMNS)
    return buffer.getvalue()


def _csv_lines(metrics: Iterable[ServiceMeshMetric]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for metric in metrics:
        row = _csv_row(metric.to_dict())
        writer.writerow(row[column] for column in CSV_COLUMNS)
        yield buffer.getvalue()  # a quoted cell may hold newlines: one record, not one line
        buffer.seek(0)
        buffer.truncate()


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


class Serialisation(NamedTuple):
    """A line-oriented serialisation of metrics: written as ``header``, then ``lines(metrics)``.

    Attributes:
        header: what comes first, once, even without metrics (CSV's header line), or "".
        lines: the text of each metric in turn (one line each, ending in a newline; a CSV
            record may hold quoted newlines), made lazily as *metrics* are iterated.
    """

    header: str
    lines: Callable[[Iterable[ServiceMeshMetric]], Iterator[str]]

    def whole(self, metrics: Iterable[ServiceMeshMetric]) -> str:
        """The whole serialisation of *metrics* as one string."""
        return self.header + "".join(self.lines(metrics))


#: The serialisations of metrics by format (``meshals analyze --format`` adds ``table``).
SERIALISATIONS: Final[dict[str, Serialisation]] = {
    "jsonl": Serialisation("", _jsonl_lines),
    "csv": Serialisation(_csv_header(), _csv_lines),
    "skywalking-json": Serialisation("", _skywalking_lines),
}


# --- statistics --------------------------------------------------------------------------------

#: The groupings of ``meshals stats --by``: every :class:`~meshals.aggregate.Scope`.
STATS_SCOPES: Final = tuple(scope.value for scope in Scope)

_STATS_VALUES: Final = (
    "protocols",
    "requests",
    "errors",
    "error_rate",
    "errors_4xx",
    "error_rate_4xx",
    "errors_5xx",
    "error_rate_5xx",
    "grpc_errors",
    "grpc_error_rate",
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
#: The columns of the edges' TLS and identities (``stats --by edge`` and the graph's edges):
#: calls the server side logged by TLS mode, those seen only client-side (``unknown_tls``),
#: requests (HTTP, gRPC) and connections (TCP) apart; see :class:`~meshals.aggregate.SecurityStats`.
SECURITY_COLUMNS: Final = (
    "mtls_requests",
    "tls_requests",
    "plaintext_requests",
    "unknown_tls_requests",
    "mtls_connections",
    "tls_connections",
    "plaintext_connections",
    "unknown_tls_connections",
    "mtls_share",
    "client_principals",
    "server_principals",
    "plaintext_into_meshed",
)
#: The columns that name a group of statistics, by grouping.
KEY_COLUMNS: Final = {
    "service": ("service",),
    "instance": ("service", "instance"),
    "endpoint": ("service", "endpoint"),
    "edge": ("source", "destination"),
}


def stats_columns(scope: str) -> tuple[str, ...]:
    """The record keys (and CSV header) of statistics grouped by ``scope``.

    >>> stats_columns("edge")[:4]
    ('source', 'destination', 'window_start', 'window_start_ns')
    >>> stats_columns("edge")[-1], stats_columns("service")[-1]
    ('plaintext_into_meshed', 'health')
    """
    security = SECURITY_COLUMNS if scope == "edge" else ()
    return (*KEY_COLUMNS[scope], "window_start", "window_start_ns", *_STATS_VALUES, *security)


def _window_start(ns: int | None) -> str | None:
    if ns is None:
        return None
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}Z".replace(".000000000Z", "Z")


def reporters(traffic: ReportedTraffic) -> list[str]:
    """The sides that reported *traffic*, sorted: ``["client", "server"]``, or ``[]``."""
    return sorted(side.value for side in traffic.reporters)


def _traffic_values(
    traffic: ReportedTraffic, rate: float | None, *, edge: bool
) -> dict[str, object]:
    stats = traffic.combined()
    values = {
        **stats_values(stats, rate),
        "reporters": reporters(traffic),
        "health": health_of(stats).status.value,
    }
    if edge:
        values.update(security_values(traffic.security))
    return values


def security_values(security: SecurityStats) -> dict[str, object]:
    """The TLS and identity numbers of an edge (keys: :data:`SECURITY_COLUMNS`); principals as
    ``{id: calls}`` in id order, ``mtls_share`` None without calls."""
    values: dict[str, object] = {}
    for kind, counts in (
        ("requests", security.server_requests),
        ("connections", security.server_connections),
    ):
        values[f"mtls_{kind}"] = counts.get(TlsMode.MTLS, 0)
        values[f"tls_{kind}"] = counts.get(TlsMode.TLS, 0)
        values[f"plaintext_{kind}"] = counts.get(TlsMode.NONE, 0)
    values["unknown_tls_requests"] = security.unknown_requests
    values["unknown_tls_connections"] = security.unknown_connections
    values["mtls_share"] = security.mtls_share
    values["client_principals"] = dict(security.client_principals)
    values["server_principals"] = dict(security.server_principals)
    values["plaintext_into_meshed"] = security.plaintext_into_meshed
    return {column: values[column] for column in SECURITY_COLUMNS}


def stats_values(stats: TrafficStats, rate: float | None) -> dict[str, object]:
    """The numbers of some calls, each counted once, as the records of ``stats`` show them:
    protocols, counts, the error rates health judges, the rate, latencies (ns) and bytes."""
    sketch = stats.latency
    mean = sketch.mean
    return {
        "protocols": [protocol.value for protocol in stats.protocols],
        "requests": stats.requests,
        "errors": stats.errors,
        "error_rate": stats.error_rate,
        # What Kiali's health rules look at, each apart: the health beside them follows.
        "errors_4xx": stats.errors_4xx,
        "error_rate_4xx": stats.error_rate_4xx,
        "errors_5xx": stats.errors_5xx,
        "error_rate_5xx": stats.error_rate_5xx,
        "grpc_errors": stats.grpc_errors,
        "grpc_error_rate": stats.grpc_error_rate,
        "rate_per_s": rate,
        "latency_p50_ns": stats.p50,
        "latency_p90_ns": stats.p90,
        "latency_p99_ns": stats.p99,
        "latency_mean_ns": None if mean is None else round(mean),
        "latency_max_ns": sketch.maximum,
        "received_bytes": stats.received_bytes,
        "sent_bytes": stats.sent_bytes,
    }


def red_records(stats: RedStats) -> list[dict[str, object]]:
    """One flat, JSON-ready record per group of RED statistics (keys: :func:`stats_columns`).

    Latencies are integer ns (``None`` without timed calls); ``rate_per_s`` is
    :meth:`RedStats.rate <meshals.aggregate.RedStats.rate>`: per window when the statistics
    have windows, else over the whole input's analysed period.
    """
    scope = stats.scope.value
    records = []
    for row in stats.rows():
        key = row.key
        names = {
            "service": key.service,
            "instance": key.instance,
            "endpoint": key.endpoint,
            "source": key.source,
            "destination": key.service,
        }
        record: dict[str, object] = {column: names[column] for column in KEY_COLUMNS[scope]}
        record["window_start"] = _window_start(key.window_start_ns)
        record["window_start_ns"] = key.window_start_ns
        record.update(_traffic_values(stats.groups[key], row.rate, edge=scope == "edge"))
        records.append(record)
    return records


def edge_records(graph: Topology) -> list[dict[str, object]]:
    """One flat record per edge of a service graph (keys: :func:`stats_columns` ``"edge"``).

    The same records as :func:`red_records` of ``red(metrics, scope="edge")``: each edge's
    calls counted once, its rate over the graph's analysed period
    (:meth:`Topology.rate <meshals.aggregate.Topology.rate>`).
    """
    records = []
    for key, edge in graph.edges.items():
        record: dict[str, object] = {
            "source": edge.source,
            "destination": edge.destination,
            "window_start": None,
            "window_start_ns": None,
        }
        record.update(_traffic_values(edge.traffic, graph.rate(*key), edge=True))
        records.append(record)
    return records


def serialise_stats(records: Sequence[Mapping[str, object]], scope: str, fmt: str) -> str:
    """Statistics records as JSON Lines (``fmt`` ``"jsonl"``) or CSV (``"csv"``)."""
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
    raise ValueError(f"not a serialisation of statistics: {fmt!r}")
