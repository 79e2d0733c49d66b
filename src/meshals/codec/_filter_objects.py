"""Filter-state objects whose payload meshals reads although ``Any`` keeps it opaque.

Envoy logs ``filter_state_objects`` as ``google.protobuf.Any``; the decoders keep a type they do
not know as bytes (binary input) or :class:`~meshals.model.OpaqueJson` (JSON input). The gRPC
statistics filter's object is read here, from either form: Envoy's
``envoy.extensions.filters.http.grpc_stats.v3.FilterObject`` (``v2alpha`` before), with
``request_message_count`` (field 1) and ``response_message_count`` (field 2), both ``uint64``.
"""

from __future__ import annotations

from meshals._values import AnyValue, OpaqueJson

from ._wire import WireError, _varint, fields

__all__ = ["GRPC_STATS_KEY", "grpc_message_counts"]

#: The filter-state key Envoy's gRPC statistics filter writes (``emit_filter_state``).
GRPC_STATS_KEY = "envoy.filters.http.grpc_stats"

_FILTER_OBJECT = "FilterObject"
_VARINT = 0


def grpc_message_counts(value: AnyValue) -> tuple[int, int] | None:
    """(request messages, response messages) of a gRPC statistics object, or None.

    None when the object is not a grpc_stats ``FilterObject`` or its payload is malformed
    (a count that is absent on the wire is 0, as proto3 writes it).

    >>> from meshals.codec._wire import encode_varint
    >>> grpc_message_counts(AnyValue(
    ...     type_url="type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterObject",
    ...     value=bytes([0x08]) + encode_varint(3) + bytes([0x10, 0x01]), known=False))
    (3, 1)
    """
    type_name = value.type_name
    if not type_name.endswith(_FILTER_OBJECT) or ".grpc_stats." not in type_name:
        return None
    payload = value.value
    if isinstance(payload, OpaqueJson):
        return _json_count(payload, "requestMessageCount", "request_message_count"), _json_count(
            payload, "responseMessageCount", "response_message_count"
        )
    if not isinstance(payload, bytes):
        return None
    counts = [0, 0]
    try:
        for field in fields(payload):
            if field.number in (1, 2) and field.wire_type == _VARINT:
                counts[field.number - 1] = _varint(payload, field.value_start, field.end, "count")[
                    0
                ]
    except WireError:
        return None
    return counts[0], counts[1]


def _json_count(payload: OpaqueJson, camel: str, snake: str) -> int:
    # proto3 JSON writes uint64 as a string; parsers accept a number too.
    raw = payload.fields.get(camel, payload.fields.get(snake, 0))
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else 0
