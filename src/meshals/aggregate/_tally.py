"""Summarize's fold, compiled: the tally that counts a batch of metrics into their cells.

``_accel.tally`` (``codec/_accel_tally.h``, in the optional extension) does for a batch what
:func:`meshals.aggregate._fold._count` does: it reads the same fields, keys the same cells and
counts the same numbers, in about two fifths of the time. It stops, answering the index, at
every metric it cannot count the same way, and ``fold`` counts that one with ``_count``:

- one whose cell is not made yet (only ``_count`` makes cells, notes their nodes and keeps
  them bounded);
- a value of another type than the analysis makes (a subclass, an unknown enum member);
- a number beyond 64 bits, or a sum that would be;
- a negative latency, or one the sketch table does not reach yet (``_count`` grows it).

``tests/aggregate/test_fold_compiled.py`` holds the two to each other, metric by metric;
``MESHALS_PURE=1`` switches the tally off with the rest of the extension.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from meshals.codec._compiled import EXTENSION
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo

from ._kinds import KindCalls
from ._red import Scope
from ._sketch import _Boundaries

__all__: list[str] = []

# What a cell holds beside its service pair, by the RED scope: nothing, the destination's
# instance, or the endpoint (numbered as the compiled fold numbers them).
NO_DETAIL, DESTINATION_INSTANCE, ENDPOINT = 0, 1, 2
DETAILS = {Scope.INSTANCE: DESTINATION_INSTANCE, Scope.ENDPOINT: ENDPOINT}

# The fields the tally reads, in its order (it checks the names).
METRIC_FIELDS = (
    "detect_point",
    "protocol",
    "status",
    "response_code",
    "grpc_status",
    "response_flags",
    "tls_mode",
    "role",
    "peer_identity",
    "local_identity",
    "source",
    "destination",
    "endpoint",
    "timings",
    "received_bytes",
    "sent_bytes",
)
TIMING_FIELDS = (
    "start_time_ns",
    "time_to_first_upstream_tx_byte_ns",
    "time_to_last_upstream_rx_byte_ns",
    "time_to_last_downstream_tx_byte_ns",
    "duration_ns",
)
CALLS_FIELDS = (
    "count",
    "timed",
    "latencies",
    "total",
    "minimum",
    "maximum",
    "received",
    "sent",
    "first",
    "last",
)
_INT64 = 1 << 63  # the tally's windows are of 64 bits


def slots(cls: type, names: tuple[str, ...]) -> tuple[type, tuple[str, ...], tuple[Any, ...]]:
    return cls, names, tuple(cls.__dict__[name] for name in names)


def members(enum: type[Enum]) -> tuple[tuple[Enum, object], ...]:
    return tuple((member, member._value_) for member in enum)


def compiled_tally(
    table: _Boundaries, detail: int, window: int | None
) -> Callable[[list[ServiceMeshMetric], int, dict[Any, KindCalls]], int] | None:
    """The tally for cells keyed with *detail* and *window*, counting in *table*'s buckets.

    None where the extension is not built or is switched off, or for a window that is not an
    int of 64 bits (an int subclass may take its modulo its own way).
    """
    if EXTENSION is None or (window is not None and (type(window) is not int or window >= _INT64)):
        return None
    tally: Callable[[list[ServiceMeshMetric], int, dict[Any, KindCalls]], int]
    tally = EXTENSION.tally(
        (
            slots(ServiceMeshMetric, METRIC_FIELDS),
            slots(EntryTimings, TIMING_FIELDS),
            slots(ServiceMetaInfo, ("service", "instance", "namespace")),
            slots(KindCalls, CALLS_FIELDS),
            DetectPoint.SERVER,
            members(MeshProtocol),
            members(TlsMode),
            members(Role),
            table.upper,
            detail,
            window,
        )
    )
    return tally
