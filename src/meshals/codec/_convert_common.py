"""An entry's ``common_properties`` from protobuf: AccessLogCommon, its response flags, TLS.

Part of the binary decoder's conversion (:mod:`meshals.codec._convert`) and on its hot path,
as every entry has common properties: message-typed fields are converted only after a
``HasField`` check, enums go through dicts, and addresses through the cache of
:mod:`meshals.codec._convert_values`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshals.model._als import (
    AccessLogCommon,
    AccessLogType,
    CertificateProperties,
    ResponseFlag,
    SubjectAltName,
    TlsProperties,
    TlsVersion,
    UnauthorizedReason,
)

from ._compiled import slot_constructor
from ._convert_values import (
    _EMPTY_ANY_MAP,
    Context,
    _any_map_from_pb,
    _by_number,
    _cached_address,
    _duration_ns,
    _metadata_from_pb,
    _str_map,
    _timestamp_ns,
)

if TYPE_CHECKING:
    from meshals._pb.accesslog_pb2 import AccessLogCommon as PB2AccessLogCommon
    from meshals._pb.accesslog_pb2 import ResponseFlags as PB2ResponseFlags
    from meshals._pb.accesslog_pb2 import TLSProperties as PB2TLSProperties

    PB2CertificateProperties = PB2TLSProperties.CertificateProperties
    PB2SubjectAltName = PB2CertificateProperties.SubjectAltName

__all__: list[str] = []

_NO_FLAGS: frozenset[ResponseFlag] = frozenset()

# Numbers missing from these dicts are kept as plain ints: proto3 enums are open.
_ACCESS_LOG_TYPES = _by_number(AccessLogType)
_TLS_VERSIONS = _by_number(TlsVersion)
_UNAUTHORIZED_REASONS = _by_number(UnauthorizedReason)
_FLAGS_BY_FIELD = {flag.field_name: flag for flag in ResponseFlag}


# Positional, in AccessLogCommon's field order: every entry builds one (see model._construct).
_new_common = slot_constructor(AccessLogCommon)


def _common_from_pb(pb: PB2AccessLogCommon, context: Context) -> AccessLogCommon:
    has = pb.HasField
    flags: frozenset[ResponseFlag] = _NO_FLAGS
    reason: UnauthorizedReason | int | None = None
    if has("response_flags"):
        flags, reason = _response_flags_from_pb(pb.response_flags)
    access_log_type = pb.access_log_type
    return _new_common(
        pb.sample_rate,
        _cached_address(pb.downstream_remote_address) if has("downstream_remote_address") else None,
        _cached_address(pb.downstream_local_address) if has("downstream_local_address") else None,
        _tls_from_pb(pb.tls_properties) if has("tls_properties") else None,
        (
            _timestamp_ns(pb.start_time, context, "common_properties.start_time")
            if has("start_time")
            else None
        ),
        (
            _duration_ns(pb.time_to_last_rx_byte, context, "common_properties.time_to_last_rx_byte")
            if has("time_to_last_rx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_first_upstream_tx_byte,
                context,
                "common_properties.time_to_first_upstream_tx_byte",
            )
            if has("time_to_first_upstream_tx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_last_upstream_tx_byte,
                context,
                "common_properties.time_to_last_upstream_tx_byte",
            )
            if has("time_to_last_upstream_tx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_first_upstream_rx_byte,
                context,
                "common_properties.time_to_first_upstream_rx_byte",
            )
            if has("time_to_first_upstream_rx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_last_upstream_rx_byte,
                context,
                "common_properties.time_to_last_upstream_rx_byte",
            )
            if has("time_to_last_upstream_rx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_first_downstream_tx_byte,
                context,
                "common_properties.time_to_first_downstream_tx_byte",
            )
            if has("time_to_first_downstream_tx_byte")
            else None
        ),
        (
            _duration_ns(
                pb.time_to_last_downstream_tx_byte,
                context,
                "common_properties.time_to_last_downstream_tx_byte",
            )
            if has("time_to_last_downstream_tx_byte")
            else None
        ),
        _cached_address(pb.upstream_remote_address) if has("upstream_remote_address") else None,
        _cached_address(pb.upstream_local_address) if has("upstream_local_address") else None,
        pb.upstream_cluster,
        flags,  # response_flags
        reason,  # unauthorized_reason
        (
            _metadata_from_pb(pb.metadata, context, "common_properties.metadata")
            if has("metadata")
            else None
        ),
        pb.upstream_transport_failure_reason,
        pb.route_name,
        (
            _cached_address(pb.downstream_direct_remote_address)
            if has("downstream_direct_remote_address")
            else None
        ),
        (
            _any_map_from_pb(
                pb.filter_state_objects, context, "common_properties.filter_state_objects"
            )
            if pb.filter_state_objects
            else _EMPTY_ANY_MAP
        ),
        _str_map(pb.custom_tags),
        (
            _duration_ns(pb.duration, context, "common_properties.duration")
            if has("duration")
            else None
        ),
        pb.upstream_request_attempt_count,
        pb.connection_termination_details,
        pb.stream_id,
        pb.intermediate_log_entry,
        pb.downstream_transport_failure_reason,
        pb.downstream_wire_bytes_sent,
        pb.downstream_wire_bytes_received,
        pb.upstream_wire_bytes_sent,
        pb.upstream_wire_bytes_received,
        _ACCESS_LOG_TYPES.get(access_log_type, access_log_type),
    )


def _response_flags_from_pb(
    pb: PB2ResponseFlags,
) -> tuple[frozenset[ResponseFlag], UnauthorizedReason | int | None]:
    # ListFields() yields only the flags that are set: usually none or one of the 28.
    present = pb.ListFields()
    if not present:
        return _NO_FLAGS, None
    reason: UnauthorizedReason | int | None = None
    flags = []
    for field, value in present:
        # The schema's ResponseFlags fields and the model's flags match one to one (tested).
        flag = _FLAGS_BY_FIELD[field.name]
        if flag is ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE:
            number = value.reason
            reason = _UNAUTHORIZED_REASONS.get(number, number)
        flags.append(flag)
    return frozenset(flags), reason


def _tls_from_pb(pb: PB2TLSProperties) -> TlsProperties:
    has = pb.HasField
    version = pb.tls_version
    return TlsProperties(
        tls_version=_TLS_VERSIONS.get(version, version),
        tls_cipher_suite=pb.tls_cipher_suite.value if has("tls_cipher_suite") else None,
        tls_sni_hostname=pb.tls_sni_hostname,
        local_certificate_properties=(
            _certificate_from_pb(pb.local_certificate_properties)
            if has("local_certificate_properties")
            else None
        ),
        peer_certificate_properties=(
            _certificate_from_pb(pb.peer_certificate_properties)
            if has("peer_certificate_properties")
            else None
        ),
        tls_session_id=pb.tls_session_id,
        ja3_fingerprint=pb.ja3_fingerprint,
    )


def _certificate_from_pb(pb: PB2CertificateProperties) -> CertificateProperties:
    return CertificateProperties(
        subject_alt_name=tuple(_san_from_pb(san) for san in pb.subject_alt_name),
        subject=pb.subject,
        issuer=pb.issuer,
    )


def _san_from_pb(pb: PB2SubjectAltName) -> SubjectAltName:
    which = pb.WhichOneof("san")
    if which == "uri":
        return SubjectAltName(uri=pb.uri)
    if which == "dns":
        return SubjectAltName(dns=pb.dns)
    return SubjectAltName()
