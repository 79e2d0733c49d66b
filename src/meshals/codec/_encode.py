"""Encoding: the model back into meshals' protobuf classes and binary protobuf.

The exact inverse of decoding: ``decode_binary(encode_binary(m)) == m`` for every message the
decoders produce from binary input or from JSON without opaque ``Any`` payloads, and
re-encoding a decoded message gives a protobuf message equal to the original wherever the model
keeps the difference (see :func:`encode_message`).
Bad values raise :class:`~meshals.EncodeError`. Messages are written here, field by field; their
values (checked setters, maps, time, Struct, Any) by :mod:`meshals.codec._encode_values`.
"""

from __future__ import annotations

from typing import Any

from meshals._errors import EncodeError
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals.model._als import (
    AccessLogCommon,
    Address,
    AlsMessage,
    BuildVersion,
    CertificateProperties,
    EnvoyInternalAddress,
    Extension,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Metadata,
    Node,
    PipeAddress,
    ResponseFlag,
    SocketAddress,
    TcpEntry,
    TlsProperties,
)

from ._encode_values import (
    _any_map,
    _copy,
    _duration,
    _put_map,
    _set,
    _slot,
    _struct,
    _timestamp,
)

__all__ = ["encode_binary", "encode_message"]


def encode_message(message: AlsMessage) -> PB2StreamAccessLogsMessage:
    """Turn *message* into meshals' generated ``StreamAccessLogsMessage``.

    Every model field is written back: nanoseconds become ``Timestamp``/``Duration`` seconds
    and nanos, FrozenMaps of JSON values become ``Struct``, known ``Any`` payloads are packed
    again (deterministically), opaque ones keep their bytes, unknown enum numbers stay numbers.
    Where the model does not keep a distinction the default form is written: an absent
    ``Address`` rather than one with no member, no ``ResponseFlags`` rather than one with no
    flag set. A v2 ``Node.build_version`` is written to field 5, as v2 had it.

    Args:
        message: a decoded (or hand-built) message.

    Returns:
        A new ``meshals.wire.envoy.service.accesslog.v3.StreamAccessLogsMessage``.

    Raises:
        EncodeError: a value the wire format cannot carry: an ``OpaqueJson`` payload, an
            ``AnyValue`` marked known whose type meshals does not know, a number out of its
            field's range, a ``kind`` other than ``"http"``, ``"tcp"`` or None, or an entry
            that does not match ``kind``.
    """
    out = PB2StreamAccessLogsMessage()
    if message.identifier is not None:
        _identifier(message.identifier, out.identifier, "identifier")
    if message.kind == "http":
        out.http_logs.SetInParent()
        for index, entry in enumerate(message.entries):
            path = f"http_logs.log_entry[{index}]"
            if not isinstance(entry, HttpEntry):
                raise EncodeError(f"a {type(entry).__name__} among HTTP entries", field=path)
            _http_entry(entry, out.http_logs.log_entry.add(), path)
    elif message.kind == "tcp":
        out.tcp_logs.SetInParent()
        for index, entry in enumerate(message.entries):
            path = f"tcp_logs.log_entry[{index}]"
            if not isinstance(entry, TcpEntry):
                raise EncodeError(f"a {type(entry).__name__} among TCP entries", field=path)
            _tcp_entry(entry, out.tcp_logs.log_entry.add(), path)
    elif message.kind is not None:
        raise EncodeError(f"kind must be 'http', 'tcp' or None, not {message.kind!r}", field="kind")
    elif message.entries:
        raise EncodeError("entries without a kind", field="log_entries")
    return out


def encode_binary(message: AlsMessage) -> bytes:
    """Serialize *message* as a binary ``StreamAccessLogsMessage``.

    The output is deterministic (map entries in key order), so equal messages give equal
    bytes. It parses with Envoy's own ``envoy.service.accesslog.v3`` classes.

    Args:
        message: a decoded (or hand-built) message.

    Returns:
        The serialized message.

    Raises:
        EncodeError: see :func:`encode_message`.
    """
    return encode_message(message).SerializeToString(deterministic=True)


# --- addresses, node, identifier ----------------------------------------------------------------


def _address(address: Address | None, target: Any, path: str) -> None:
    """Fill an ``Address``; None leaves it with no member (the caller decides on presence)."""
    target.SetInParent()
    if address is None:
        return
    if isinstance(address, SocketAddress):
        out = target.socket_address
        out.SetInParent()
        _set(out, "protocol", address.protocol, f"{path}.socket_address")
        _copy(
            address,
            out,
            ("address", "resolver_name", "ipv4_compat", "network_namespace_filepath"),
            f"{path}.socket_address",
        )
        if address.port is not None and address.named_port is not None:
            raise EncodeError("both port and named_port are set", field=f"{path}.socket_address")
        if address.port is not None:
            _set(out, "port_value", address.port, f"{path}.socket_address")
        elif address.named_port is not None:
            _set(out, "named_port", address.named_port, f"{path}.socket_address")
    elif isinstance(address, PipeAddress):
        target.pipe.SetInParent()
        _copy(address, target.pipe, ("path", "mode"), f"{path}.pipe")
    elif isinstance(address, EnvoyInternalAddress):
        out = target.envoy_internal_address
        out.SetInParent()
        _set(out, "endpoint_id", address.endpoint_id, f"{path}.envoy_internal_address")
        if address.server_listener_name is not None:
            _set(
                out,
                "server_listener_name",
                address.server_listener_name,
                f"{path}.envoy_internal_address",
            )
    else:
        raise EncodeError(f"not an address: {address!r}", field=path)


def _optional_address(address: Address | None, target: Any, name: str, path: str) -> None:
    if address is not None:
        _address(address, getattr(target, name), f"{path}.{name}")


def _build_version(version: BuildVersion, target: Any, path: str) -> None:
    target.SetInParent()
    if version.version is not None:
        target.version.SetInParent()
        _copy(
            version.version,
            target.version,
            ("major_number", "minor_number", "patch"),
            f"{path}.version",
        )
    if version.metadata is not None:
        _struct(version.metadata, target.metadata, f"{path}.metadata")


def _extension(extension: Extension, target: Any, path: str) -> None:
    _copy(extension, target, ("name", "category", "type_descriptor", "disabled"), path)
    if extension.version is not None:
        _build_version(extension.version, target.version, f"{path}.version")
    try:
        target.type_urls.extend(extension.type_urls)
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"cannot write type_urls: {exc}", field=f"{path}.type_urls") from exc


def _node(node: Node, target: Any, path: str) -> None:
    target.SetInParent()
    _copy(node, target, ("id", "cluster", "user_agent_name"), path)
    if node.metadata is not None:
        _struct(node.metadata, target.metadata, f"{path}.metadata")
    for key, params in node.dynamic_parameters.items():
        slot = _slot(target.dynamic_parameters, key, f"{path}.dynamic_parameters")
        _put_map(slot.params, params, f"{path}.dynamic_parameters[{key!r}].params")
    if node.locality is not None:
        target.locality.SetInParent()
        _copy(node.locality, target.locality, ("region", "zone", "sub_zone"), f"{path}.locality")
    if node.build_version is not None:
        _set(target, "build_version", node.build_version, path)
    if node.user_agent_version is not None and node.user_agent_build_version is not None:
        raise EncodeError(
            "both user_agent_version and user_agent_build_version are set (members of one oneof)",
            field=path,
        )
    if node.user_agent_version is not None:
        _set(target, "user_agent_version", node.user_agent_version, path)
    elif node.user_agent_build_version is not None:
        _build_version(
            node.user_agent_build_version,
            target.user_agent_build_version,
            f"{path}.user_agent_build_version",
        )
    for index, extension in enumerate(node.extensions):
        _extension(extension, target.extensions.add(), f"{path}.extensions[{index}]")
    try:
        target.client_features.extend(node.client_features)
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"cannot write: {exc}", field=f"{path}.client_features") from exc
    for index, address in enumerate(node.listening_addresses):
        # A None keeps its place as an Address with no member.
        _address(address, target.listening_addresses.add(), f"{path}.listening_addresses[{index}]")


def _identifier(identifier: Identifier, target: Any, path: str) -> None:
    target.SetInParent()
    _set(target, "log_name", identifier.log_name, path)
    if identifier.node is not None:
        _node(identifier.node, target.node, f"{path}.node")


# --- entries ------------------------------------------------------------------------------------

# The durations of AccessLogCommon: model name (with _ns) -> protobuf name.
_COMMON_DURATIONS = (
    "time_to_last_rx_byte",
    "time_to_first_upstream_tx_byte",
    "time_to_last_upstream_tx_byte",
    "time_to_first_upstream_rx_byte",
    "time_to_last_upstream_rx_byte",
    "time_to_first_downstream_tx_byte",
    "time_to_last_downstream_tx_byte",
    "duration",
)
_COMMON_ADDRESSES = (
    "downstream_remote_address",
    "downstream_local_address",
    "upstream_remote_address",
    "upstream_local_address",
    "downstream_direct_remote_address",
)
_COMMON_SCALARS = (
    "sample_rate",
    "upstream_cluster",
    "upstream_transport_failure_reason",
    "route_name",
    "upstream_request_attempt_count",
    "connection_termination_details",
    "stream_id",
    "intermediate_log_entry",
    "downstream_transport_failure_reason",
    "downstream_wire_bytes_sent",
    "downstream_wire_bytes_received",
    "upstream_wire_bytes_sent",
    "upstream_wire_bytes_received",
)


def _certificate(certificate: CertificateProperties, target: Any, path: str) -> None:
    target.SetInParent()
    _copy(certificate, target, ("subject", "issuer"), path)
    for index, san in enumerate(certificate.subject_alt_name):
        out = target.subject_alt_name.add()
        where = f"{path}.subject_alt_name[{index}]"
        if san.uri is not None and san.dns is not None:
            raise EncodeError("both uri and dns are set (members of one oneof)", field=where)
        if san.uri is not None:
            _set(out, "uri", san.uri, where)
        elif san.dns is not None:
            _set(out, "dns", san.dns, where)


def _tls(tls: TlsProperties, target: Any, path: str) -> None:
    target.SetInParent()
    _set(target, "tls_version", tls.tls_version, path)
    _copy(tls, target, ("tls_sni_hostname", "tls_session_id", "ja3_fingerprint"), path)
    if tls.tls_cipher_suite is not None:
        target.tls_cipher_suite.SetInParent()
        _set(target.tls_cipher_suite, "value", tls.tls_cipher_suite, f"{path}.tls_cipher_suite")
    if tls.local_certificate_properties is not None:
        _certificate(
            tls.local_certificate_properties,
            target.local_certificate_properties,
            f"{path}.local_certificate_properties",
        )
    if tls.peer_certificate_properties is not None:
        _certificate(
            tls.peer_certificate_properties,
            target.peer_certificate_properties,
            f"{path}.peer_certificate_properties",
        )


def _response_flags(common: AccessLogCommon, target: Any, path: str) -> None:
    # The model cannot tell "no ResponseFlags" from "ResponseFlags with none set": write the
    # message only when a flag (or an unauthorized reason) is there.
    if not common.response_flags and common.unauthorized_reason is None:
        return
    target.SetInParent()
    for flag in common.response_flags:
        if flag is ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE:
            target.unauthorized_details.SetInParent()
        elif isinstance(flag, ResponseFlag):
            setattr(target, flag.field_name, True)
        else:
            raise EncodeError(f"not a ResponseFlag: {flag!r}", field=path)
    if common.unauthorized_reason is not None:
        # A reason implies unauthorized_details even if the flag was left out.
        target.unauthorized_details.SetInParent()
        _set(
            target.unauthorized_details,
            "reason",
            common.unauthorized_reason,
            f"{path}.unauthorized_details",
        )


def _metadata(metadata: Metadata, target: Any, path: str) -> None:
    target.SetInParent()
    for key, struct in metadata.filter_metadata.items():
        slot = _slot(target.filter_metadata, key, f"{path}.filter_metadata")
        _struct(struct, slot, f"{path}.filter_metadata[{key!r}]")
    _any_map(
        metadata.typed_filter_metadata,
        target.typed_filter_metadata,
        f"{path}.typed_filter_metadata",
    )


def _common(common: AccessLogCommon, target: Any, path: str) -> None:
    target.SetInParent()
    _copy(common, target, _COMMON_SCALARS, path)
    _set(target, "access_log_type", common.access_log_type, path)
    for name in _COMMON_ADDRESSES:
        _optional_address(getattr(common, name), target, name, path)
    if common.tls_properties is not None:
        _tls(common.tls_properties, target.tls_properties, f"{path}.tls_properties")
    if common.start_time_ns is not None:
        _timestamp(common.start_time_ns, target.start_time, f"{path}.start_time")
    for name in _COMMON_DURATIONS:
        ns = getattr(common, f"{name}_ns")
        if ns is not None:
            _duration(ns, getattr(target, name), f"{path}.{name}")
    _response_flags(common, target.response_flags, f"{path}.response_flags")
    if common.metadata is not None:
        _metadata(common.metadata, target.metadata, f"{path}.metadata")
    _any_map(
        common.filter_state_objects, target.filter_state_objects, f"{path}.filter_state_objects"
    )
    _put_map(target.custom_tags, common.custom_tags, f"{path}.custom_tags")


def _request(request: HttpRequest, target: Any, path: str) -> None:
    target.SetInParent()
    _set(target, "request_method", request.request_method, path)
    _copy(
        request,
        target,
        (
            "scheme",
            "authority",
            "path",
            "user_agent",
            "referer",
            "forwarded_for",
            "request_id",
            "original_path",
            "request_headers_bytes",
            "request_body_bytes",
            "upstream_header_bytes_sent",
            "downstream_header_bytes_received",
        ),
        path,
    )
    if request.port is not None:
        target.port.SetInParent()
        _set(target.port, "value", request.port, f"{path}.port")
    _put_map(target.request_headers, request.request_headers, f"{path}.request_headers")


def _response(response: HttpResponse, target: Any, path: str) -> None:
    target.SetInParent()
    _copy(
        response,
        target,
        (
            "response_headers_bytes",
            "response_body_bytes",
            "response_code_details",
            "upstream_header_bytes_received",
            "downstream_header_bytes_sent",
        ),
        path,
    )
    if response.response_code is not None:
        target.response_code.SetInParent()
        _set(target.response_code, "value", response.response_code, f"{path}.response_code")
    _put_map(target.response_headers, response.response_headers, f"{path}.response_headers")
    _put_map(target.response_trailers, response.response_trailers, f"{path}.response_trailers")


def _http_entry(entry: HttpEntry, target: Any, path: str) -> None:
    if entry.common_properties is not None:
        _common(entry.common_properties, target.common_properties, f"{path}.common_properties")
    _set(target, "protocol_version", entry.protocol_version, path)
    if entry.request is not None:
        _request(entry.request, target.request, f"{path}.request")
    if entry.response is not None:
        _response(entry.response, target.response, f"{path}.response")


def _tcp_entry(entry: TcpEntry, target: Any, path: str) -> None:
    if entry.common_properties is not None:
        _common(entry.common_properties, target.common_properties, f"{path}.common_properties")
    if entry.connection_properties is not None:
        target.connection_properties.SetInParent()
        _copy(
            entry.connection_properties,
            target.connection_properties,
            ("received_bytes", "sent_bytes"),
            f"{path}.connection_properties",
        )
