"""Tables of the results for analysis: flat records (:func:`to_records`) and typed pandas frames
(:func:`to_pandas`).

A record is one metric, one edge of a service graph or one group of RED statistics, as plain
JSON-ready values (the ``analyze`` and ``stats`` JSON Lines). A frame holds the same facts in
the types pandas computes with, column by column:

- times are ``datetime64[ns, UTC]`` and durations ``timedelta64[ns]``, exact to the
  nanosecond (never through a float), named without the ``_ns`` of the record key
  (``start_time_ns`` -> ``start_time``, ``latency_p99_ns`` -> ``latency_p99``); a window's
  start is ``window_start``, ``NaT`` without windows;
- codes, indexes and byte counts that may be missing are nullable ``Int64`` (``<NA>``);
- repeated strings (services, instances, endpoints, protocols, sides, roles...) are
  ``category``, health an ordered one (unknown < healthy < degraded < failing);
- ratios and rates are ``float64`` (``NaN`` where unknown); lists, such as response flags,
  protocols and reporters, stay lists, and tags and an edge's principals (``{id: calls}``)
  dicts (``object``);
- a metric's ``origin`` is spread over ``origin_source``, ``origin_message_index`` and
  ``origin_entry_index``, as in CSV.

No column holds ``None``. An empty input gives the same columns, with no rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from meshals import _display
from meshals._optional import require
from meshals.aggregate._health import HealthStatus
from meshals.aggregate._red import RedStats
from meshals.aggregate._topology import Topology
from meshals.model._metric_list import MetricList
from meshals.model._metrics import ServiceMeshMetric

from ._records import KEY_COLUMNS, SECURITY_COLUMNS, edge_records, red_records

if TYPE_CHECKING:
    import pandas

__all__ = ["to_pandas", "to_records"]

Tabular = Topology | RedStats | Iterable[ServiceMeshMetric]

_MISSING_NS: Final = -(2**63)  # numpy's NaT: the smallest int64


def to_records(data: Tabular) -> list[dict[str, object]]:
    """Flat, JSON-ready records: one per metric, per edge of a graph, or per RED group.

    Metrics give ``ServiceMeshMetric.to_dict()`` (see ``meshals analyze --format jsonl``); a
    :class:`~meshals.Topology` one record per edge (its calls counted once: calls, errors,
    the 4xx, 5xx and gRPC error rates, its rate over the graph's period, latency percentiles
    in ns, health); :class:`~meshals.RedStats` one per group (see ``meshals stats --format
    jsonl``).

    Raises:
        TypeError: ``data`` is none of these.

    >>> to_records([])
    []
    """
    if isinstance(data, Topology):
        return edge_records(data)
    if isinstance(data, RedStats):
        return red_records(data)
    records = []
    for metric in data:
        if not isinstance(metric, ServiceMeshMetric):
            raise TypeError(
                f"to_records() takes metrics, a Topology or RedStats, not {type(metric).__name__}"
            )
        records.append(metric.to_dict())
    return records


def to_pandas(data: Tabular) -> pandas.DataFrame:
    """A ``pandas.DataFrame`` of :func:`to_records`, one typed column per fact (the ``pandas``
    extra); the module docstring lists the types.

    Raises:
        MissingDependencyError: pandas is not installed.
        TypeError: ``data`` is not metrics, a Topology or RedStats.
    """
    require("pandas", extra="pandas", feature="to_pandas()")
    import pandas

    if isinstance(data, Topology):
        columns = _stats_columns("edge")
    elif isinstance(data, RedStats):
        columns = _stats_columns(data.scope.value)
    else:
        columns = _METRIC_COLUMNS
    records = [_flat(record) for record in to_records(data)]
    frame: pandas.DataFrame = pandas.DataFrame(
        {name: convert([record[key] for record in records]) for key, name, convert in columns}
    )
    return frame


def _flat(record: Mapping[str, object]) -> dict[str, object]:
    """A record with its nested ``origin`` spread over ``origin_*`` keys."""
    flat = dict(record)
    origin = flat.pop("origin", None)
    if isinstance(origin, Mapping):
        for part, value in origin.items():
            flat[f"origin_{part}"] = value
    return flat


# --- column types --------------------------------------------------------------------------------

_Convert = Callable[[list[Any]], Any]


def _ns_array(values: list[Any], unit: str) -> Any:
    import numpy

    # int64 ns viewed as numpy times: exact, where a float would round 19-digit timestamps.
    raw = numpy.array([_MISSING_NS if value is None else value for value in values], "int64")
    return raw.view(f"{unit}8[ns]")


def _times(values: list[Any]) -> Any:
    import pandas

    return pandas.Series(_ns_array(values, "M"), dtype="datetime64[ns]").dt.tz_localize("UTC")


def _durations(values: list[Any]) -> Any:
    import pandas

    return pandas.Series(_ns_array(values, "m"), dtype="timedelta64[ns]")


def _category(values: list[Any]) -> Any:
    import pandas

    return pandas.Categorical(values)


def _health(values: list[Any]) -> Any:
    import pandas

    ordered = sorted(HealthStatus, key=lambda status: status.severity)
    return pandas.Categorical(values, categories=[s.value for s in ordered], ordered=True)


def _nullable_int(values: list[Any]) -> Any:
    import pandas

    return pandas.array(values, dtype="Int64")


def _int(values: list[Any]) -> Any:
    import pandas

    return pandas.array(values, dtype="int64")


def _float(values: list[Any]) -> Any:
    import pandas

    return pandas.Series(values, dtype="float64")


def _bool(values: list[Any]) -> Any:
    import pandas

    return pandas.array(values, dtype="bool")


def _objects(values: list[Any]) -> Any:
    import pandas

    return pandas.Series(values, dtype="object")


# (record key, column name, conversion), in the records' order.
_METRIC_COLUMNS: Final[tuple[tuple[str, str, _Convert], ...]] = (
    ("analyzer", "analyzer", _category),
    ("role", "role", _category),
    ("detect_point", "detect_point", _category),
    ("protocol", "protocol", _category),
    ("source_service", "source_service", _category),
    ("source_instance", "source_instance", _category),
    ("source_namespace", "source_namespace", _category),
    ("source_tags", "source_tags", _objects),
    ("dest_service", "dest_service", _category),
    ("dest_instance", "dest_instance", _category),
    ("dest_namespace", "dest_namespace", _category),
    ("dest_tags", "dest_tags", _objects),
    ("endpoint", "endpoint", _category),
    ("response_code", "response_code", _nullable_int),
    ("grpc_status", "grpc_status", _nullable_int),
    ("status", "status", _bool),
    # SkyWalking's whole milliseconds, kept beside the exact times for comparison.
    ("start_time_ms", "start_time_ms", _int),
    ("end_time_ms", "end_time_ms", _int),
    ("latency_ms", "latency_ms", _int),
    ("start_time_ns", "start_time", _times),
    ("end_time_ns", "end_time", _times),
    ("latency_ns", "latency", _durations),
    ("tls_mode", "tls_mode", _category),
    ("peer_identity", "peer_identity", _category),
    ("local_identity", "local_identity", _category),
    ("response_flags", "response_flags", _objects),
    ("internal_error_code", "internal_error_code", _category),
    ("internal_request_latency_ns", "internal_request_latency", _durations),
    ("internal_response_latency_ns", "internal_response_latency", _durations),
    ("received_bytes", "received_bytes", _nullable_int),
    ("sent_bytes", "sent_bytes", _nullable_int),
    ("request_bytes", "request_bytes", _nullable_int),
    ("response_bytes", "response_bytes", _nullable_int),
    ("origin_source", "origin_source", _category),
    ("origin_message_index", "origin_message_index", _nullable_int),
    ("origin_entry_index", "origin_entry_index", _nullable_int),
)

_STATS_VALUE_COLUMNS: Final[tuple[tuple[str, str, _Convert], ...]] = (
    ("window_start_ns", "window_start", _times),
    ("protocols", "protocols", _objects),
    ("requests", "requests", _int),
    ("errors", "errors", _int),
    ("error_rate", "error_rate", _float),
    ("errors_4xx", "errors_4xx", _int),
    ("error_rate_4xx", "error_rate_4xx", _float),
    ("errors_5xx", "errors_5xx", _int),
    ("error_rate_5xx", "error_rate_5xx", _float),
    ("grpc_errors", "grpc_errors", _int),
    ("grpc_error_rate", "grpc_error_rate", _float),
    ("rate_per_s", "rate_per_s", _float),
    ("latency_p50_ns", "latency_p50", _durations),
    ("latency_p90_ns", "latency_p90", _durations),
    ("latency_p99_ns", "latency_p99", _durations),
    ("latency_mean_ns", "latency_mean", _durations),
    ("latency_max_ns", "latency_max", _durations),
    ("received_bytes", "received_bytes", _int),
    ("sent_bytes", "sent_bytes", _int),
    ("reporters", "reporters", _objects),
    ("health", "health", _health),
)


def _security_convert(column: str) -> _Convert:
    if column == "mtls_share":
        return _float
    return _objects if column.endswith("_principals") else _int


# An edge's TLS and identities, in the records' order; principals stay {id: calls} dicts.
_SECURITY_VALUE_COLUMNS: Final = tuple(
    (column, column, _security_convert(column)) for column in SECURITY_COLUMNS
)


def _stats_columns(scope: str) -> Sequence[tuple[str, str, _Convert]]:
    keys = tuple((key, key, _category) for key in KEY_COLUMNS[scope])
    security = _SECURITY_VALUE_COLUMNS if scope == "edge" else ()
    return keys + _STATS_VALUE_COLUMNS + security


_display.pandas_frame.register(MetricList, to_pandas)
