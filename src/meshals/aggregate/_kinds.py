"""One metric's facts, computed once for every aggregate it counts in: its kind and numbers.

A summary counts each metric in several groups (its edge and its RED group, each on the
client's or the server's side), and what those counts key on (protocol, status, response code,
gRPC status, flags, TLS mode, role, identities: the metric's *kind*) repeats across most
metrics. So a group counts kinds in one dict and spreads them into its per-field counts only
when it is frozen (:meth:`~meshals.aggregate.TrafficAccumulator.result`), while the numbers
(latency and its sketch bucket, TCP bytes, time extent) are added as they come. The result is
the same as counting field by field: every count is a sum, and the frozen maps are sorted.

Enum members enter a kind as their values: an enum's hash is Python code, a string's is cached.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshals.model._als import ResponseFlag
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._role import Role

from ._sketch import _Boundaries, _key

__all__: list[str] = []

#: (server side, protocol value, status, response code, gRPC status, flags, TLS mode value,
#: role value, peer identity, local identity).
Kind = tuple[
    bool,
    str,
    bool,
    int | None,
    int | None,
    frozenset[ResponseFlag],
    str,
    str,
    str | None,
    str | None,
]

#: (kind, latency, its sketch key, the table that key is of, first start, last end, received
#: bytes, sent bytes): the extent as :func:`~meshals.aggregate._period.extent_ns` gives it.
Facts = tuple[Kind, int | None, int, _Boundaries, int | None, int | None, int | None, int | None]

_SERVER = DetectPoint.SERVER

PROTOCOLS: Mapping[str, MeshProtocol] = {protocol.value: protocol for protocol in MeshProtocol}
TLS_MODES: Mapping[str, TlsMode] = {mode.value: mode for mode in TlsMode}
ROLES: Mapping[str, Role] = {role.value: role for role in Role}


def facts_of(metric: ServiceMeshMetric, table: _Boundaries) -> Facts:
    """A metric's facts, its latency's sketch key taken in ``table``."""
    server = metric.detect_point is _SERVER
    kind = (
        server,
        metric.protocol._value_,
        metric.status,
        metric.response_code,
        metric.grpc_status,
        metric.response_flags,
        metric.tls_mode._value_,
        metric.role._value_,
        metric.peer_identity,
        metric.local_identity,
    )
    # The metric's start_time_ns and end_time_ns, inline (once per metric; two property calls
    # cost a fifth of the rest): a client's call starts at its first upstream byte.
    timings = metric.timings
    logged = timings.start_time_ns
    if logged is None:
        return kind, None, 0, table, None, None, metric.received_bytes, metric.sent_bytes
    if server:
        start = logged
        last = timings.time_to_last_downstream_tx_byte_ns
    else:
        start = logged + (timings.time_to_first_upstream_tx_byte_ns or 0)
        last = timings.time_to_last_upstream_rx_byte_ns
    if last is None:
        last = timings.duration_ns
        if last is None:
            return kind, None, 0, table, start, start, metric.received_bytes, metric.sent_bytes
    end = logged + last
    latency = end - start
    return (
        kind,
        latency,
        _key(latency, table),
        table,
        start,
        end if end > start else start,
        metric.received_bytes,
        metric.sent_bytes,
    )


class KindCalls:
    """Calls of one kind (in one cell of :mod:`._fold`): how many, and their numbers.

    What ``TrafficAccumulator._add_facts`` counts of each call, kept apart per kind until
    ``TrafficAccumulator._add_calls`` takes them.
    """

    __slots__ = (
        "count",
        "first",
        "last",
        "latencies",
        "maximum",
        "minimum",
        "received",
        "sent",
        "timed",
        "total",
    )

    def __init__(self) -> None:
        self.count = 0
        self.timed = 0  # how many had a latency: latencies' counts, total, minimum, maximum
        self.latencies: dict[int, int] = {}
        self.total = 0
        self.minimum: int | None = None
        self.maximum: int | None = None
        self.received = 0
        self.sent = 0
        self.first: int | None = None
        self.last: int | None = None
