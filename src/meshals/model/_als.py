"""The typed, immutable model of ALS messages: what Envoy sent, field by field.

Conventions, followed by both decoders (binary and JSON):
- Timestamps are integer nanoseconds since the Unix epoch; durations integer nanoseconds.
  Both are None where Envoy did not send the field (they are messages, so they have presence).
- Wrapper fields (``UInt32Value``) and oneof members have presence: None when absent.
- Plain proto3 scalars have no presence: absent means the default (``""``, ``0``, ``False``).
- Enums are members of the enums below; a number this schema does not know is kept as an int.
- Maps are :class:`FrozenMap`, repeated fields tuples; a ``Struct`` is a FrozenMap of JSON values.
"""

from __future__ import annotations

import datetime
import enum

import attrs

from meshals._errors import Diagnostic
from meshals._values import AnyValue, FrozenMap, JsonValue

__all__ = [
    "AccessLogCommon",
    "AccessLogType",
    "Address",
    "AlsMessage",
    "BuildVersion",
    "CertificateProperties",
    "ConnectionProperties",
    "EnvoyInternalAddress",
    "Extension",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "HttpVersion",
    "Identifier",
    "Locality",
    "LogEntry",
    "Metadata",
    "Node",
    "PipeAddress",
    "RequestMethod",
    "ResponseFlag",
    "SemanticVersion",
    "SocketAddress",
    "SocketProtocol",
    "SubjectAltName",
    "TcpEntry",
    "TlsProperties",
    "TlsVersion",
    "UnauthorizedReason",
]

_EMPTY_MAP: FrozenMap[str, str] = FrozenMap()
_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


class HttpVersion(enum.IntEnum):
    """``HTTPAccessLogEntry.HTTPVersion``."""

    PROTOCOL_UNSPECIFIED = 0
    HTTP10 = 1
    HTTP11 = 2
    HTTP2 = 3
    HTTP3 = 4


class AccessLogType(enum.IntEnum):
    """``envoy.data.accesslog.v3.AccessLogType``: why Envoy wrote the entry."""

    NotSet = 0
    TcpUpstreamConnected = 1
    TcpPeriodic = 2
    TcpConnectionEnd = 3
    DownstreamStart = 4
    DownstreamPeriodic = 5
    DownstreamEnd = 6
    UpstreamPoolReady = 7
    UpstreamPeriodic = 8
    UpstreamEnd = 9
    DownstreamTunnelSuccessfullyEstablished = 10
    UdpTunnelUpstreamConnected = 11
    UdpPeriodic = 12
    UdpSessionEnd = 13


class TlsVersion(enum.IntEnum):
    """``TLSProperties.TLSVersion``."""

    VERSION_UNSPECIFIED = 0
    TLSv1 = 1
    TLSv1_1 = 2
    TLSv1_2 = 3
    TLSv1_3 = 4


class RequestMethod(enum.IntEnum):
    """``envoy.config.core.v3.RequestMethod``."""

    METHOD_UNSPECIFIED = 0
    GET = 1
    HEAD = 2
    POST = 3
    PUT = 4
    DELETE = 5
    CONNECT = 6
    OPTIONS = 7
    TRACE = 8
    PATCH = 9


class SocketProtocol(enum.IntEnum):
    """``SocketAddress.Protocol``."""

    TCP = 0
    UDP = 1


class UnauthorizedReason(enum.IntEnum):
    """``ResponseFlags.Unauthorized.Reason``."""

    REASON_UNSPECIFIED = 0
    EXTERNAL_SERVICE = 1


class ResponseFlag(enum.Enum):
    """One of the 28 ``ResponseFlags``, with Envoy's short code as the value (``%RESPONSE_FLAGS%``).

    ``field_number`` and ``field_name`` are those of the flag in ``ResponseFlags``.
    ``UNAUTHORIZED_EXTERNAL_SERVICE`` stands for the ``unauthorized_details`` message being set.
    """

    FAILED_LOCAL_HEALTHCHECK = ("LH", 1, "failed_local_healthcheck")
    NO_HEALTHY_UPSTREAM = ("UH", 2, "no_healthy_upstream")
    UPSTREAM_REQUEST_TIMEOUT = ("UT", 3, "upstream_request_timeout")
    LOCAL_RESET = ("LR", 4, "local_reset")
    UPSTREAM_REMOTE_RESET = ("UR", 5, "upstream_remote_reset")
    UPSTREAM_CONNECTION_FAILURE = ("UF", 6, "upstream_connection_failure")
    UPSTREAM_CONNECTION_TERMINATION = ("UC", 7, "upstream_connection_termination")
    UPSTREAM_OVERFLOW = ("UO", 8, "upstream_overflow")
    NO_ROUTE_FOUND = ("NR", 9, "no_route_found")
    DELAY_INJECTED = ("DI", 10, "delay_injected")
    FAULT_INJECTED = ("FI", 11, "fault_injected")
    RATE_LIMITED = ("RL", 12, "rate_limited")
    UNAUTHORIZED_EXTERNAL_SERVICE = ("UAEX", 13, "unauthorized_details")
    RATE_LIMIT_SERVICE_ERROR = ("RLSE", 14, "rate_limit_service_error")
    DOWNSTREAM_CONNECTION_TERMINATION = ("DC", 15, "downstream_connection_termination")
    UPSTREAM_RETRY_LIMIT_EXCEEDED = ("URX", 16, "upstream_retry_limit_exceeded")
    STREAM_IDLE_TIMEOUT = ("SI", 17, "stream_idle_timeout")
    INVALID_ENVOY_REQUEST_HEADERS = ("IH", 18, "invalid_envoy_request_headers")
    DOWNSTREAM_PROTOCOL_ERROR = ("DPE", 19, "downstream_protocol_error")
    UPSTREAM_MAX_STREAM_DURATION_REACHED = ("UMSDR", 20, "upstream_max_stream_duration_reached")
    RESPONSE_FROM_CACHE_FILTER = ("RFCF", 21, "response_from_cache_filter")
    NO_FILTER_CONFIG_FOUND = ("NFCF", 22, "no_filter_config_found")
    DURATION_TIMEOUT = ("DT", 23, "duration_timeout")
    UPSTREAM_PROTOCOL_ERROR = ("UPE", 24, "upstream_protocol_error")
    NO_CLUSTER_FOUND = ("NC", 25, "no_cluster_found")
    OVERLOAD_MANAGER = ("OM", 26, "overload_manager")
    DNS_RESOLUTION_FAILURE = ("DF", 27, "dns_resolution_failure")
    DOWNSTREAM_REMOTE_RESET = ("DRR", 28, "downstream_remote_reset")

    def __init__(self, short_code: str, field_number: int, field_name: str) -> None:
        self.short_code = short_code
        self.field_number = field_number
        self.field_name = field_name

    @classmethod
    def from_short_code(cls, code: str) -> ResponseFlag:
        """The flag whose short code is *code* (``"UH"``); KeyError if there is none."""
        return _FLAGS_BY_CODE[code]

    @classmethod
    def from_field_name(cls, name: str) -> ResponseFlag:
        """The flag whose ``ResponseFlags`` field is *name*; KeyError if there is none."""
        return _FLAGS_BY_FIELD[name]


_FLAGS_BY_CODE = {flag.short_code: flag for flag in ResponseFlag}
_FLAGS_BY_FIELD = {flag.field_name: flag for flag in ResponseFlag}


# --- addresses (config.core.v3.Address and its oneof members) -------------------------------


@attrs.frozen(kw_only=True)
class SocketAddress:
    """``SocketAddress``: an IP (or name) and port. ``port`` is None when ``named_port`` is used."""

    address: str = ""
    port: int | None = None
    named_port: str | None = None
    protocol: SocketProtocol | int = SocketProtocol.TCP
    resolver_name: str = ""
    ipv4_compat: bool = False
    network_namespace_filepath: str = ""


@attrs.frozen(kw_only=True)
class PipeAddress:
    """``Pipe``: a Unix domain socket path and mode."""

    path: str = ""
    mode: int = 0


@attrs.frozen(kw_only=True)
class EnvoyInternalAddress:
    """``EnvoyInternalAddress``: an internal listener, e.g. between Istio waypoint chains."""

    server_listener_name: str | None = None
    endpoint_id: str = ""


# An ``Address`` message is one of these; an Address message with no member set is None.
Address = SocketAddress | PipeAddress | EnvoyInternalAddress


# --- node and identifier --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Locality:
    region: str = ""
    zone: str = ""
    sub_zone: str = ""


@attrs.frozen(kw_only=True)
class SemanticVersion:
    major_number: int = 0
    minor_number: int = 0
    patch: int = 0


@attrs.frozen(kw_only=True)
class BuildVersion:
    version: SemanticVersion | None = None
    metadata: FrozenMap[str, JsonValue] | None = None


@attrs.frozen(kw_only=True)
class Extension:
    name: str = ""
    category: str = ""
    type_descriptor: str = ""
    version: BuildVersion | None = None
    disabled: bool = False
    type_urls: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Node:
    """``config.core.v3.Node``: the Envoy that sent the logs.

    ``build_version`` is the v2 string field 5 (``buildVersion`` in JSON) that v3 reserves;
    it is kept so that v2 producers lose nothing. ``dynamic_parameters`` maps each key to the
    ``xds.core.v3.ContextParams`` params.
    """

    id: str = ""
    cluster: str = ""
    metadata: FrozenMap[str, JsonValue] | None = None
    dynamic_parameters: FrozenMap[str, FrozenMap[str, str]] = attrs.field(default=_EMPTY_MAP)
    locality: Locality | None = None
    build_version: str | None = None
    user_agent_name: str = ""
    user_agent_version: str | None = None
    user_agent_build_version: BuildVersion | None = None
    extensions: tuple[Extension, ...] = ()
    client_features: tuple[str, ...] = ()
    listening_addresses: tuple[Address | None, ...] = ()


@attrs.frozen(kw_only=True)
class Identifier:
    """``StreamAccessLogsMessage.Identifier``: sent on the first message of a stream only."""

    node: Node | None = None
    log_name: str = ""


# --- entry parts ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SubjectAltName:
    """One SAN: exactly one of ``uri`` and ``dns`` is set (both None if Envoy sent neither)."""

    uri: str | None = None
    dns: str | None = None


@attrs.frozen(kw_only=True)
class CertificateProperties:
    subject_alt_name: tuple[SubjectAltName, ...] = ()
    subject: str = ""
    issuer: str = ""


@attrs.frozen(kw_only=True)
class TlsProperties:
    tls_version: TlsVersion | int = TlsVersion.VERSION_UNSPECIFIED
    tls_cipher_suite: int | None = None
    tls_sni_hostname: str = ""
    local_certificate_properties: CertificateProperties | None = None
    peer_certificate_properties: CertificateProperties | None = None
    tls_session_id: str = ""
    ja3_fingerprint: str = ""


@attrs.frozen(kw_only=True)
class Metadata:
    """``config.core.v3.Metadata``: per-filter structs and typed (``Any``) metadata."""

    filter_metadata: FrozenMap[str, FrozenMap[str, JsonValue]] = attrs.field(default=_EMPTY_MAP)
    typed_filter_metadata: FrozenMap[str, AnyValue] = attrs.field(default=_EMPTY_MAP)


def _ns_to_datetime(ns: int) -> datetime.datetime:
    # Through timedelta, not fromtimestamp(): exact, and valid for the whole Timestamp range.
    return _EPOCH + datetime.timedelta(microseconds=ns // 1000)


@attrs.frozen(kw_only=True)
class AccessLogCommon:
    """``AccessLogCommon``: the 33 fields HTTP and TCP entries share.

    Field names are the protocol's, except that timestamps and durations end in ``_ns``
    (integer nanoseconds) and ``response_flags`` is a frozenset of :class:`ResponseFlag`
    (with ``unauthorized_reason`` holding the ``unauthorized_details`` reason).
    """

    sample_rate: float = 0.0
    downstream_remote_address: Address | None = None
    downstream_local_address: Address | None = None
    tls_properties: TlsProperties | None = None
    start_time_ns: int | None = None
    time_to_last_rx_byte_ns: int | None = None
    time_to_first_upstream_tx_byte_ns: int | None = None
    time_to_last_upstream_tx_byte_ns: int | None = None
    time_to_first_upstream_rx_byte_ns: int | None = None
    time_to_last_upstream_rx_byte_ns: int | None = None
    time_to_first_downstream_tx_byte_ns: int | None = None
    time_to_last_downstream_tx_byte_ns: int | None = None
    upstream_remote_address: Address | None = None
    upstream_local_address: Address | None = None
    upstream_cluster: str = ""
    response_flags: frozenset[ResponseFlag] = frozenset()
    unauthorized_reason: UnauthorizedReason | int | None = None
    metadata: Metadata | None = None
    upstream_transport_failure_reason: str = ""
    route_name: str = ""
    downstream_direct_remote_address: Address | None = None
    filter_state_objects: FrozenMap[str, AnyValue] = attrs.field(default=_EMPTY_MAP)
    custom_tags: FrozenMap[str, str] = attrs.field(default=_EMPTY_MAP)
    duration_ns: int | None = None
    upstream_request_attempt_count: int = 0
    connection_termination_details: str = ""
    stream_id: str = ""
    intermediate_log_entry: bool = False
    downstream_transport_failure_reason: str = ""
    downstream_wire_bytes_sent: int = 0
    downstream_wire_bytes_received: int = 0
    upstream_wire_bytes_sent: int = 0
    upstream_wire_bytes_received: int = 0
    access_log_type: AccessLogType | int = AccessLogType.NotSet

    @property
    def start_time(self) -> datetime.datetime | None:
        """``start_time`` as an aware UTC datetime (microsecond precision), or None."""
        return None if self.start_time_ns is None else _ns_to_datetime(self.start_time_ns)

    @property
    def start_time_ms(self) -> int | None:
        """``start_time`` in whole epoch milliseconds, sub-millisecond digits truncated."""
        return None if self.start_time_ns is None else self.start_time_ns // 1_000_000

    @property
    def end_time_ns(self) -> int | None:
        """When the request or connection ended, as far as Envoy logged it: ``start_time``
        plus the longest of ``duration`` and the ``time_to_*`` offsets it logged (``start_time``
        when it logged none, or only negative ones); None without ``start_time``. In ns since
        the epoch."""
        if self.start_time_ns is None:
            return None
        offsets = (
            self.duration_ns,
            self.time_to_last_rx_byte_ns,
            self.time_to_first_upstream_tx_byte_ns,
            self.time_to_last_upstream_tx_byte_ns,
            self.time_to_first_upstream_rx_byte_ns,
            self.time_to_last_upstream_rx_byte_ns,
            self.time_to_first_downstream_tx_byte_ns,
            self.time_to_last_downstream_tx_byte_ns,
        )
        longest = max((offset for offset in offsets if offset is not None), default=0)
        return self.start_time_ns + max(longest, 0)  # a negative offset is no end


@attrs.frozen(kw_only=True)
class HttpRequest:
    """``HTTPRequestProperties``. ``port`` (a wrapper) is None when absent."""

    request_method: RequestMethod | int = RequestMethod.METHOD_UNSPECIFIED
    scheme: str = ""
    authority: str = ""
    port: int | None = None
    path: str = ""
    user_agent: str = ""
    referer: str = ""
    forwarded_for: str = ""
    request_id: str = ""
    original_path: str = ""
    request_headers_bytes: int = 0
    request_body_bytes: int = 0
    request_headers: FrozenMap[str, str] = attrs.field(default=_EMPTY_MAP)
    upstream_header_bytes_sent: int = 0
    downstream_header_bytes_received: int = 0


@attrs.frozen(kw_only=True)
class HttpResponse:
    """``HTTPResponseProperties``. ``response_code`` is None when Envoy sent none (a reset)."""

    response_code: int | None = None
    response_headers_bytes: int = 0
    response_body_bytes: int = 0
    response_headers: FrozenMap[str, str] = attrs.field(default=_EMPTY_MAP)
    response_trailers: FrozenMap[str, str] = attrs.field(default=_EMPTY_MAP)
    response_code_details: str = ""
    upstream_header_bytes_received: int = 0
    downstream_header_bytes_sent: int = 0


@attrs.frozen(kw_only=True)
class ConnectionProperties:
    received_bytes: int = 0
    sent_bytes: int = 0


@attrs.frozen(kw_only=True)
class HttpEntry:
    """``HTTPAccessLogEntry``: one HTTP request as one Envoy saw it."""

    common_properties: AccessLogCommon | None = None
    protocol_version: HttpVersion | int = HttpVersion.PROTOCOL_UNSPECIFIED
    request: HttpRequest | None = None
    response: HttpResponse | None = None


@attrs.frozen(kw_only=True)
class TcpEntry:
    """``TCPAccessLogEntry``: one TCP connection (or a periodic report on it)."""

    common_properties: AccessLogCommon | None = None
    connection_properties: ConnectionProperties | None = None


LogEntry = HttpEntry | TcpEntry


@attrs.frozen(kw_only=True)
class AlsMessage:
    """One ``StreamAccessLogsMessage``.

    ``identifier`` is None on every message of a stream but the first (Envoy sends it once).
    ``kind`` is ``"http"`` or ``"tcp"`` (which member of the ``log_entries`` oneof was set), or
    None for a message with neither; ``entries`` holds that member's entries in order.
    ``source`` and ``index`` say where the message came from (file or ``<bytes>``, and its
    position in that file from 0); ``diagnostics`` lists what lenient decoding tolerated
    (unknown fields, trailing text, ...). None of the three takes part in equality.
    """

    identifier: Identifier | None = None
    kind: str | None = None
    entries: tuple[HttpEntry, ...] | tuple[TcpEntry, ...] = ()
    source: str = attrs.field(default="<input>", eq=False)
    index: int | None = attrs.field(default=None, eq=False)
    diagnostics: tuple[Diagnostic, ...] = attrs.field(default=(), eq=False)

    @property
    def http_entries(self) -> tuple[HttpEntry, ...]:
        return self.entries if self.kind == "http" else ()  # type: ignore[return-value]

    @property
    def tcp_entries(self) -> tuple[TcpEntry, ...]:
        return self.entries if self.kind == "tcp" else ()  # type: ignore[return-value]
