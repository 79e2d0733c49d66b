"""Building one entry's metrics: what they share (times, TLS, HTTP parts) computed once.

Both analyzers (:mod:`meshals.mesh._k8s_mesh` and :mod:`meshals.mesh._mx_mesh`) decide who
called whom; a :class:`MetricBuilder` turns each such decision into a
:class:`~meshals.ServiceMeshMetric` of the entry. The rules of the fields are documented where
they live: :mod:`meshals.mesh._status` (protocol, gRPC status, status), :mod:`meshals.mesh._tls`
and :mod:`meshals.mesh._semantics` (SkyWalking's variants).
"""

from __future__ import annotations

from meshals.codec._compiled import slot_constructor
from meshals.model._als import (
    AccessLogCommon,
    HttpEntry,
    LogEntry,
    RequestMethod,
    ResponseFlag,
    TcpEntry,
)
from meshals.model._metrics import (
    K8S_MESH,
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo

from ._semantics import SKYWALKING, SKYWALKING_DEFAULT_RESPONSE_CODE, Semantics, skywalking_protocol
from ._status import _NO_HEADERS, _header, call_status, grpc_status_of, protocol_of
from ._tls import tls_facts

__all__: list[str] = []


def method_name(method: RequestMethod | int) -> str:
    """The method's name (``GET``), or the number of a method this schema does not know."""
    # _name_, not .name (a property) nor a dict keyed by member (an enum's hash is Python code).
    return method._name_ if type(method) is RequestMethod else str(method)


class MetricBuilder:
    """Builds the metrics of one entry: what they share is computed once.

    *analyzer* names who made them (``k8s-mesh``, ``mx-mesh``).
    """

    __slots__ = (
        "_analyzer",
        "_endpoint",
        "_flags",
        "_grpc_status",
        "_local_identity",
        "_origin",
        "_peer_identity",
        "_protocol",
        "_received",
        "_request_bytes",
        "_request_id",
        "_response_bytes",
        "_response_code",
        "_role",
        "_sent",
        "_timings",
        "_tls_mode",
        "_traceparent",
    )

    _analyzer: str
    _endpoint: str | None
    _flags: frozenset[ResponseFlag]
    _grpc_status: int | None
    _local_identity: str | None
    _origin: MetricOrigin
    _peer_identity: str | None
    _protocol: MeshProtocol
    _received: int | None
    _request_bytes: int | None
    _request_id: str | None
    _response_bytes: int | None
    _response_code: int | None
    _role: Role
    _sent: int | None
    _timings: EntryTimings
    _tls_mode: TlsMode
    _traceparent: str | None

    def __init__(
        self,
        entry: LogEntry,
        common: AccessLogCommon,
        role: Role,
        origin: MetricOrigin,
        strip_query: bool,
        *,
        analyzer: str = K8S_MESH,
        semantics: Semantics = "meshals",
    ) -> None:
        self._analyzer = analyzer
        self._role = role
        self._origin = origin
        # Every analysed entry makes one: positional, in the field order (model._construct).
        self._timings = _new_timings(
            common.start_time_ns,
            common.time_to_first_upstream_tx_byte_ns,
            common.time_to_first_upstream_rx_byte_ns,
            common.time_to_last_upstream_rx_byte_ns,
            common.time_to_first_downstream_tx_byte_ns,
            common.time_to_last_downstream_tx_byte_ns,
            common.duration_ns,
        )
        self._flags = common.response_flags
        tls = common.tls_properties
        if tls is None:  # plaintext entries: nothing to look at
            self._tls_mode = _NO_TLS
            self._peer_identity = self._local_identity = None
        else:
            self._tls_mode, self._peer_identity, self._local_identity = tls_facts(tls)
        if isinstance(entry, TcpEntry):
            self._protocol = _TCP
            self._endpoint = self._request_bytes = self._request_id = self._traceparent = None
            self._response_code = self._response_bytes = self._grpc_status = None
            connection = entry.connection_properties
            if connection is None:
                self._received = self._sent = None
            else:
                self._received = connection.received_bytes
                self._sent = connection.sent_bytes
        else:
            self._received = self._sent = None
            self._http_parts(entry, strip_query, semantics == SKYWALKING)

    def _http_parts(self, entry: HttpEntry, strip_query: bool, skywalking: bool) -> None:
        protocol = skywalking_protocol(entry) if skywalking else protocol_of(entry)
        self._protocol = protocol
        request = entry.request
        if request is None:
            self._endpoint = self._request_bytes = self._request_id = self._traceparent = None
        else:
            path = request.path
            if strip_query:
                path = path.partition("?")[0]
            method = request.request_method
            # method_name(), inline: _name_, not .name (a property).
            name = method._name_ if type(method) is RequestMethod else str(method)
            self._endpoint = f"{name}:{path}"
            self._request_bytes = request.request_body_bytes
            self._request_id = request.request_id or None
            headers = request.request_headers
            self._traceparent = None if headers is _NO_HEADERS else _header(headers, "traceparent")
        response = entry.response
        if response is None:
            self._response_code = self._response_bytes = None
        else:
            self._response_code = response.response_code
            self._response_bytes = response.response_body_bytes
        self._grpc_status = None
        if skywalking:
            # SkyWalking reads no grpc-status for the status; an absent code is 200 there.
            if self._response_code is None:
                self._response_code = SKYWALKING_DEFAULT_RESPONSE_CODE
        elif protocol is _GRPC:
            self._grpc_status = grpc_status_of(entry)

    def __call__(
        self,
        detect_point: DetectPoint,
        source: ServiceMetaInfo,
        destination: ServiceMetaInfo,
        *,
        tls: bool,
    ) -> ServiceMeshMetric:
        protocol = self._protocol
        response_code = self._response_code
        grpc_status = self._grpc_status
        flags = self._flags
        # Positional, in ServiceMeshMetric's field order (see meshals.model._construct).
        return _new_metric(
            self._analyzer,
            self._role,
            detect_point,
            protocol,
            source,
            destination,
            self._endpoint,
            response_code,
            grpc_status,
            call_status(protocol, detect_point, response_code, grpc_status, flags),
            self._tls_mode if tls else _NO_TLS,
            self._peer_identity if tls else None,
            self._local_identity if tls else None,
            flags,  # response_flags
            self._timings,
            self._received,  # received_bytes
            self._sent,  # sent_bytes
            self._request_bytes,
            self._response_bytes,
            self._origin,
            self._request_id,
            self._traceparent,
        )


_new_metric = slot_constructor(ServiceMeshMetric)
_new_timings = slot_constructor(EntryTimings)
# Enum members as module globals: an enum class attribute is a metaclass lookup (Python 3.11:
# ten times a global's cost), and these are read for every entry.
_NO_TLS = TlsMode.NONE
_TCP, _GRPC = MeshProtocol.TCP, MeshProtocol.GRPC
