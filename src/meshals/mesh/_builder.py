"""Building one entry's metrics: what they share (times, TLS, HTTP parts) computed once.

Both analyzers (:mod:`meshals.mesh._k8s_mesh` and :mod:`meshals.mesh._mx_mesh`) decide who
called whom; :func:`metric_parts` computes what an entry's metrics share, and
:func:`build_metric` turns each decision into a :class:`~meshals.ServiceMeshMetric` of the
entry. (Functions and a plain tuple rather than a builder object: Python 3.11 runs a call of a
function inline, where making an object and calling it go through the C API.) The rules of
the fields are documented where they live: :mod:`meshals.mesh._status` (protocol, gRPC status,
status), :mod:`meshals.mesh._tls` and :mod:`meshals.mesh._semantics` (SkyWalking's variants).
"""

from __future__ import annotations

from meshals.codec._compiled import slot_constructor
from meshals.model._als import (
    AccessLogCommon,
    LogEntry,
    RequestMethod,
    ResponseFlag,
    TcpEntry,
)
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo

from ._semantics import SKYWALKING_DEFAULT_RESPONSE_CODE, skywalking_protocol
from ._status import _NO_HEADERS, _header, call_status, grpc_status_of, protocol_of
from ._tls import tls_facts

__all__: list[str] = []


def method_name(method: RequestMethod | int) -> str:
    """The method's name (``GET``), or the number of a method this schema does not know."""
    # _name_, not .name (a property) nor a dict keyed by member (an enum's hash is Python code).
    return method._name_ if type(method) is RequestMethod else str(method)


# What the metrics of one entry share, in ServiceMeshMetric's field order less the fields of
# each decision (detect point, source, destination, status, and TLS on the side that has it):
# analyzer, role, protocol, endpoint, response code, gRPC status, TLS mode, peer identity,
# local identity, response flags, timings, received bytes, sent bytes, request body bytes,
# response body bytes, origin, request id, traceparent.
MetricParts = tuple[
    str,
    Role,
    MeshProtocol,
    str | None,
    int | None,
    int | None,
    TlsMode,
    str | None,
    str | None,
    frozenset[ResponseFlag],
    EntryTimings,
    int | None,
    int | None,
    int | None,
    int | None,
    MetricOrigin,
    str | None,
    str | None,
]


def metric_parts(
    entry: LogEntry,
    common: AccessLogCommon,
    role: Role,
    origin: MetricOrigin,
    strip_query: bool,
    *,
    analyzer: str,
    skywalking: bool,
) -> MetricParts:
    """What the metrics of *entry* share, computed once for all of them.

    Args:
        entry: an HTTP or TCP entry; *common* its common properties.
        role: the role of the Envoy that logged it.
        origin: where it came from.
        strip_query: drop the query string of the HTTP path in ``endpoint``.
        analyzer: who makes the metrics (``k8s-mesh``, ``mx-mesh``).
        skywalking: SkyWalking's rules of protocol and status (:mod:`meshals.mesh._semantics`).
    """
    # Every analysed entry makes one: positional, in the field order (model._construct).
    timings = _new_timings(
        common.start_time_ns,
        common.time_to_first_upstream_tx_byte_ns,
        common.time_to_first_upstream_rx_byte_ns,
        common.time_to_last_upstream_rx_byte_ns,
        common.time_to_first_downstream_tx_byte_ns,
        common.time_to_last_downstream_tx_byte_ns,
        common.duration_ns,
    )
    tls = common.tls_properties
    if tls is None:  # plaintext entries: nothing to look at
        tls_mode, peer_identity, local_identity = _NO_TLS, None, None
    else:
        tls_mode, peer_identity, local_identity = tls_facts(tls)
    endpoint = request_id = traceparent = None
    request_bytes = response_code = response_bytes = grpc_status = received = sent = None
    if isinstance(entry, TcpEntry):
        protocol = _TCP
        connection = entry.connection_properties
        if connection is not None:
            received, sent = connection.received_bytes, connection.sent_bytes
    else:
        protocol = skywalking_protocol(entry) if skywalking else protocol_of(entry)
        request = entry.request
        if request is not None:
            path = request.path
            if strip_query:
                path = path.partition("?")[0]
            endpoint = f"{method_name(request.request_method)}:{path}"
            request_bytes = request.request_body_bytes
            request_id = request.request_id or None
            headers = request.request_headers
            traceparent = None if headers is _NO_HEADERS else _header(headers, "traceparent")
        response = entry.response
        if response is not None:
            response_code = response.response_code
            response_bytes = response.response_body_bytes
        if skywalking:
            # SkyWalking reads no grpc-status for the status; an absent code is 200 there.
            if response_code is None:
                response_code = SKYWALKING_DEFAULT_RESPONSE_CODE
        elif protocol is _GRPC:
            grpc_status = grpc_status_of(entry)
    return (
        analyzer,
        role,
        protocol,
        endpoint,
        response_code,
        grpc_status,
        tls_mode,
        peer_identity,
        local_identity,
        common.response_flags,
        timings,
        received,
        sent,
        request_bytes,
        response_bytes,
        origin,
        request_id,
        traceparent,
    )


def build_metric(
    parts: MetricParts,
    detect_point: DetectPoint,
    source: ServiceMetaInfo,
    destination: ServiceMetaInfo,
    tls: bool,
) -> ServiceMeshMetric:
    """The metric of one decision about an entry whose :func:`metric_parts` are *parts*.

    *tls*: whether the call is the one on the TLS connection Envoy logged (ALS logs the
    downstream connection's TLS only); if not, the metric carries no TLS.
    """
    (
        analyzer,
        role,
        protocol,
        endpoint,
        response_code,
        grpc_status,
        tls_mode,
        peer_identity,
        local_identity,
        flags,
        timings,
        received,
        sent,
        request_bytes,
        response_bytes,
        origin,
        request_id,
        traceparent,
    ) = parts
    # Positional, in ServiceMeshMetric's field order (see meshals.model._construct).
    return _new_metric(
        analyzer,
        role,
        detect_point,
        protocol,
        source,
        destination,
        endpoint,
        response_code,
        grpc_status,
        call_status(protocol, detect_point, response_code, grpc_status, flags),
        tls_mode if tls else _NO_TLS,
        peer_identity if tls else None,
        local_identity if tls else None,
        flags,  # response_flags
        timings,
        received,  # received_bytes
        sent,  # sent_bytes
        request_bytes,
        response_bytes,
        origin,
        request_id,
        traceparent,
    )


_new_metric = slot_constructor(ServiceMeshMetric)
_new_timings = slot_constructor(EntryTimings)
# Enum members as module globals: an enum class attribute is a metaclass lookup (Python 3.11:
# ten times a global's cost), and these are read for every entry.
_NO_TLS = TlsMode.NONE
_TCP, _GRPC = MeshProtocol.TCP, MeshProtocol.GRPC
