"""The service-mesh metric model: what the analysis makes of one access-log entry.

A :class:`ServiceMeshMetric` is one observed call (HTTP/gRPC request or TCP connection) between
two named workloads, seen from one side (:class:`DetectPoint`). It is a frozen value: the
analysis computes every field once; the time and latency views are derived from the raw entry
timings it keeps (:class:`EntryTimings`), so both meshals' exact nanosecond values and
SkyWalking's millisecond (and nanos-only) values are available from the same metric.

Time rules (SkyWalking's ``LogEntry2MetricsAdapter``; ``ms()`` truncates to whole milliseconds
and a missing time counts as 0 there; ``ttf``/``ttl`` = time to first/last byte):

==========  ====================================  ========================================
view        server side (the Envoy was called)    client side (the Envoy made the call)
==========  ====================================  ========================================
start       ``start_time``                        ``start_time + ttf_upstream_tx``
end         ``start + ttl_downstream_tx``         ``start_time + ttl_upstream_rx``
latency     ``ttl_downstream_tx``                 ``end - start``
start ms    ``ms(start_time)``                    ``ms(start_time) + ms(ttf_upstream_tx)``
end ms      ``start_ms + ms(ttl_downstream_tx)``  ``ms(start_time) + ms(ttl_upstream_rx)``
latency ms  ``max(1, ms(ttl_downstream_tx))``     ``max(1, end_ms - start_ms)``
==========  ====================================  ========================================

The nanosecond views are exact and stay None when ``start_time`` is missing. Where the
side-specific byte time is missing they fall back to what Envoy did log: a client-side start
without ``time_to_first_upstream_tx_byte`` (no upstream byte was sent) is ``start_time``, and an
end without its last-byte time is ``start_time + duration`` (TCP entries log only ``duration``;
a reset stream has no last byte). The millisecond views never fall back: they are SkyWalking's.
"""

from __future__ import annotations

import enum
from typing import Literal

import attrs

from ._als import ResponseFlag
from ._role import Role
from ._service import ServiceMetaInfo

__all__ = [
    "K8S_MESH",
    "DetectPoint",
    "EntryTimings",
    "MeshProtocol",
    "MetricOrigin",
    "Semantics",
    "ServiceMeshMetric",
    "TlsMode",
]

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000

#: The analyzer that reproduces SkyWalking's ``k8s-mesh`` (address-based) analysis.
K8S_MESH = "k8s-mesh"

#: Whose rules an analysis follows: meshals' own, or Apache SkyWalking's exactly
#: (:mod:`meshals.mesh._semantics`).
Semantics = Literal["meshals", "skywalking"]


class DetectPoint(enum.Enum):
    """Which side of the call the reporting Envoy stood on."""

    CLIENT = "client"  # the Envoy made the call (an upstream request)
    SERVER = "server"  # the Envoy received the call (a downstream request)


class MeshProtocol(enum.Enum):
    """The application protocol of a metric; values are SkyWalking's spelling."""

    HTTP = "HTTP"
    GRPC = "gRPC"
    TCP = "TCP"


class TlsMode(enum.Enum):
    """How the connection the entry describes was secured; values are SkyWalking's strings."""

    NONE = "NONE"  # plaintext, or TLS without a local certificate
    TLS = "TLS"  # a local certificate but no peer certificate
    MTLS = "mTLS"  # certificates on both sides


# SkyWalking reports the FIRST set flag in this order as its single internalErrorCode; flags
# missing here (UR, UMSDR and everything after DPE) are never reported by it.
_SKYWALKING_ERROR_ORDER: tuple[ResponseFlag, ...] = (
    ResponseFlag.FAILED_LOCAL_HEALTHCHECK,
    ResponseFlag.NO_HEALTHY_UPSTREAM,
    ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,
    ResponseFlag.LOCAL_RESET,
    ResponseFlag.UPSTREAM_CONNECTION_FAILURE,
    ResponseFlag.UPSTREAM_CONNECTION_TERMINATION,
    ResponseFlag.UPSTREAM_OVERFLOW,
    ResponseFlag.NO_ROUTE_FOUND,
    ResponseFlag.DELAY_INJECTED,
    ResponseFlag.FAULT_INJECTED,
    ResponseFlag.RATE_LIMITED,
    ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
    ResponseFlag.RATE_LIMIT_SERVICE_ERROR,
    ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION,
    ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED,
    ResponseFlag.STREAM_IDLE_TIMEOUT,
    ResponseFlag.INVALID_ENVOY_REQUEST_HEADERS,
    ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR,
)


def skywalking_internal_error_code(flags: frozenset[ResponseFlag]) -> str:
    """SkyWalking's ``internalErrorCode``: the field name of the first set flag in its order.

    Args:
        flags: the entry's response flags.

    Returns:
        The snake_case flag name (``"no_healthy_upstream"``), or ``""`` when none of the flags
        SkyWalking looks at is set.

    >>> skywalking_internal_error_code(frozenset({ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED,
    ...                                           ResponseFlag.UPSTREAM_CONNECTION_FAILURE}))
    'upstream_connection_failure'
    >>> skywalking_internal_error_code(frozenset({ResponseFlag.UPSTREAM_REMOTE_RESET}))
    ''
    """
    for flag in _SKYWALKING_ERROR_ORDER:
        if flag in flags:
            return flag.field_name
    return ""


def _ms_of_duration(ns: int | None) -> int:
    # Java's Durations.toMillis truncates toward zero; a missing duration is 0 there.
    if ns is None:
        return 0
    return ns // _NS_PER_MS if ns >= 0 else -(-ns // _NS_PER_MS)


def _ms_of_timestamp(ns: int | None) -> int:
    # Timestamps.toMillis: seconds * 1000 + nanos / 10^6 with nanos >= 0, i.e. a floor.
    return 0 if ns is None else ns // _NS_PER_MS


def _nanos_part(ns: int | None) -> int:
    # The ``nanos`` field of a google.protobuf.Duration: same sign as the whole, |nanos| < 10^9.
    if ns is None:
        return 0
    return ns % _NS_PER_S if ns >= 0 else -(-ns % _NS_PER_S)


def _difference(later: int | None, earlier: int | None) -> int | None:
    return None if later is None or earlier is None else later - earlier


@attrs.frozen(kw_only=True)
class EntryTimings:
    """The raw times of the entry a metric came from, in ns (None where Envoy sent none)."""

    start_time_ns: int | None = None
    time_to_first_upstream_tx_byte_ns: int | None = None
    time_to_first_upstream_rx_byte_ns: int | None = None
    time_to_last_upstream_rx_byte_ns: int | None = None
    time_to_first_downstream_tx_byte_ns: int | None = None
    time_to_last_downstream_tx_byte_ns: int | None = None
    duration_ns: int | None = None


# The time views test the side per call: a module global, as an enum class attribute is a
# metaclass lookup (Python 3.11: 15x as slow).
_SERVER = DetectPoint.SERVER


@attrs.frozen(kw_only=True)
class MetricOrigin:
    """Where a metric came from: the message's source, its index there, the entry's index."""

    source: str = "<input>"
    message_index: int | None = None
    entry_index: int = 0


_NO_FLAGS: frozenset[ResponseFlag] = frozenset()


@attrs.frozen(kw_only=True)
class ServiceMeshMetric:
    """One call between two workloads, as one Envoy saw it.

    HTTP, gRPC and TCP metrics share this class; ``protocol`` tells them apart. ``endpoint``,
    ``response_code`` and ``grpc_status`` are None for TCP, ``received_bytes`` and
    ``sent_bytes`` None for HTTP and gRPC. ``response_code`` is None when Envoy logged none
    (a reset stream); SkyWalking would report 200.

    Attributes:
        analyzer: which analysis produced the metric (``"k8s-mesh"``).
        role: the role of the Envoy that logged the entry.
        detect_point: client or server side.
        protocol: HTTP, gRPC or TCP.
        source: the calling workload (:data:`~meshals.UNKNOWN` when nobody could name it).
        destination: the called workload.
        endpoint: ``METHOD:path`` for HTTP and gRPC.
        response_code: the HTTP status code, or None.
        grpc_status: the gRPC status from the ``grpc-status`` header or trailer, or None.
        status: whether the call succeeded (see ``meshals.mesh._status``).
        tls_mode: NONE, TLS or mTLS.
        peer_identity: the peer certificate's first URI SAN (a SPIFFE id), or None.
        local_identity: the local certificate's first URI SAN (the identity this side
            presented; a SPIFFE id), or None.
        response_flags: every Envoy response flag of the entry.
        timings: the entry's raw times, from which the time views are computed.
        received_bytes: TCP bytes received from the downstream, or None.
        sent_bytes: TCP bytes sent to the downstream, or None.
        request_bytes: the HTTP request body size, or None (TCP, or no request logged); the
            size Istio's ``istio_request_bytes`` measures.
        response_bytes: the HTTP response body size, or None (``istio_response_bytes``).
        origin: where the entry came from.
        request_id: the request's ``x-request-id`` as Envoy logged it (``request_id``), or
            None (TCP, or none logged); Envoys forward it, so it ties the hops of one request.
        traceparent: the W3C ``traceparent`` request header when Envoy was configured to log
            it (``additional_request_headers_to_log``), or None.

    ``origin``, ``request_id`` and ``traceparent`` do not take part in equality: they say
    which call it was, not what was measured.
    """

    analyzer: str = K8S_MESH
    role: Role
    detect_point: DetectPoint
    protocol: MeshProtocol
    source: ServiceMetaInfo
    destination: ServiceMetaInfo
    endpoint: str | None = None
    response_code: int | None = None
    grpc_status: int | None = None
    status: bool
    tls_mode: TlsMode = TlsMode.NONE
    peer_identity: str | None = None
    local_identity: str | None = None
    response_flags: frozenset[ResponseFlag] = _NO_FLAGS
    timings: EntryTimings = EntryTimings()
    received_bytes: int | None = None
    sent_bytes: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    origin: MetricOrigin = attrs.field(default=MetricOrigin(), eq=False)
    request_id: str | None = attrs.field(default=None, eq=False)
    traceparent: str | None = attrs.field(default=None, eq=False)

    # --- exact (nanosecond) views ------------------------------------------------------

    @property
    def start_time_ns(self) -> int | None:
        """When the call started on this side, ns since the epoch (None without start_time)."""
        start = self.timings.start_time_ns
        if start is None or self.detect_point is _SERVER:
            return start
        return start + (self.timings.time_to_first_upstream_tx_byte_ns or 0)

    @property
    def end_time_ns(self) -> int | None:
        """When the call ended on this side, ns since the epoch, or None if not logged."""
        timings = self.timings
        if timings.start_time_ns is None:
            return None
        if self.detect_point is _SERVER:
            last = timings.time_to_last_downstream_tx_byte_ns
        else:
            last = timings.time_to_last_upstream_rx_byte_ns
        if last is None:
            last = timings.duration_ns
        return None if last is None else timings.start_time_ns + last

    @property
    def latency_ns(self) -> int | None:
        """The call's latency on this side in ns (``end - start``), or None if unknown."""
        return _difference(self.end_time_ns, self.start_time_ns)

    @property
    def internal_request_latency_ns(self) -> int | None:
        """Time the Envoy spent before sending the first upstream byte (full duration, ns)."""
        return self.timings.time_to_first_upstream_tx_byte_ns

    @property
    def internal_response_latency_ns(self) -> int | None:
        """Time the Envoy spent between the first upstream byte in and the response out (ns).

        HTTP and gRPC measure to the first downstream byte sent, TCP to the last (as SkyWalking).
        """
        timings = self.timings
        if self.protocol is MeshProtocol.TCP:
            sent = timings.time_to_last_downstream_tx_byte_ns
        else:
            sent = timings.time_to_first_downstream_tx_byte_ns
        return _difference(sent, timings.time_to_first_upstream_rx_byte_ns)

    # --- SkyWalking's views ----------------------------------------------------------------

    @property
    def start_time_ms(self) -> int:
        """SkyWalking's ``startTime`` (epoch ms; see the module docstring)."""
        start = _ms_of_timestamp(self.timings.start_time_ns)
        if self.detect_point is _SERVER:
            return start
        return start + _ms_of_duration(self.timings.time_to_first_upstream_tx_byte_ns)

    @property
    def end_time_ms(self) -> int:
        """SkyWalking's ``endTime`` (epoch ms)."""
        timings = self.timings
        if self.detect_point is _SERVER:
            return self.start_time_ms + _ms_of_duration(timings.time_to_last_downstream_tx_byte_ns)
        start = _ms_of_timestamp(timings.start_time_ns)
        return start + _ms_of_duration(timings.time_to_last_upstream_rx_byte_ns)

    @property
    def latency_ms(self) -> int:
        """SkyWalking's ``latency`` (ms, at least 1)."""
        if self.detect_point is _SERVER:
            return max(1, _ms_of_duration(self.timings.time_to_last_downstream_tx_byte_ns))
        return max(1, self.end_time_ms - self.start_time_ms)

    @property
    def internal_error_code(self) -> str:
        """SkyWalking's ``internalErrorCode``: see :func:`skywalking_internal_error_code`."""
        return skywalking_internal_error_code(self.response_flags)

    @property
    def skywalking_internal_request_latency_nanos(self) -> int:
        """SkyWalking's ``internalRequestLatencyNanos``: only the nanos field of the duration.

        SkyWalking ignores the seconds part (a bug kept here for the export); use
        :attr:`internal_request_latency_ns` for the real value.
        """
        return _nanos_part(self.timings.time_to_first_upstream_tx_byte_ns)

    @property
    def skywalking_internal_response_latency_nanos(self) -> int:
        """SkyWalking's ``internalResponseLatencyNanos``: a difference of nanos fields only."""
        timings = self.timings
        if self.protocol is MeshProtocol.TCP:
            sent = timings.time_to_last_downstream_tx_byte_ns
        else:
            sent = timings.time_to_first_downstream_tx_byte_ns
        return _nanos_part(sent) - _nanos_part(timings.time_to_first_upstream_rx_byte_ns)

    def to_dict(self) -> dict[str, object]:
        """The metric as a plain, JSON-ready dict (response flags as short codes, in Envoy's order).

        Returns:
            A new dict; service names, times (ms and ns), flags, TLS and byte counts.
        """
        return {
            "analyzer": self.analyzer,
            "role": self.role.value,
            "detect_point": self.detect_point.value,
            "protocol": self.protocol.value,
            "source_service": self.source.service,
            "source_instance": self.source.instance,
            "source_namespace": self.source.namespace,
            "source_tags": dict(self.source.tags),
            "dest_service": self.destination.service,
            "dest_instance": self.destination.instance,
            "dest_namespace": self.destination.namespace,
            "dest_tags": dict(self.destination.tags),
            "endpoint": self.endpoint,
            "response_code": self.response_code,
            "grpc_status": self.grpc_status,
            "status": self.status,
            "start_time_ms": self.start_time_ms,
            "end_time_ms": self.end_time_ms,
            "latency_ms": self.latency_ms,
            "start_time_ns": self.start_time_ns,
            "end_time_ns": self.end_time_ns,
            "latency_ns": self.latency_ns,
            "tls_mode": self.tls_mode.value,
            "peer_identity": self.peer_identity,
            "local_identity": self.local_identity,
            "response_flags": [
                flag.short_code
                for flag in sorted(self.response_flags, key=lambda flag: flag.field_number)
            ],
            "internal_error_code": self.internal_error_code,
            "internal_request_latency_ns": self.internal_request_latency_ns,
            "internal_response_latency_ns": self.internal_response_latency_ns,
            "received_bytes": self.received_bytes,
            "sent_bytes": self.sent_bytes,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "origin": {
                "source": self.origin.source,
                "message_index": self.origin.message_index,
                "entry_index": self.origin.entry_index,
            },
        }
