"""The pieces all protobuf conversion uses: its Context, addresses, maps, time, Struct, Any.

:mod:`meshals.codec._convert` and :mod:`meshals.codec._convert_common` convert messages with
these: the :class:`Context` a conversion reports to, addresses (each distinct one converted
once), maps in key order, timestamps and durations checked against their ranges, and metadata,
``Struct`` and ``Any`` values within the nesting limit.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import google.protobuf.message
from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

from meshals._errors import DiagnosticKind, map_entry_path
from meshals._values import AnyValue, FrozenMap, JsonValue
from meshals.model._als import (
    _EMPTY_MAP,
    Address,
    EnvoyInternalAddress,
    Metadata,
    PipeAddress,
    SocketAddress,
    SocketProtocol,
)

from ._limits import (
    DEFAULT_LIMITS,
    DiagnosticRecorder,
    LimitExceeded,
    Limits,
    too_deep,
)

if TYPE_CHECKING:
    from meshals._pb.address_pb2 import Address as PB2Address
    from meshals._pb.address_pb2 import SocketAddress as PB2SocketAddress
    from meshals._pb.base_pb2 import Metadata as PB2Metadata

__all__: list[str] = []

_E = TypeVar("_E", bound=enum.IntEnum)
_V = TypeVar("_V")

_NS_PER_S = 1_000_000_000
# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_MIN_TIMESTAMP_S = -62_135_596_800
_MAX_TIMESTAMP_S = 253_402_300_799
# google.protobuf.Duration: +-10,000 years, nanos with the sign of seconds.
_MAX_DURATION_S = 315_576_000_000

# The model's own empty map, the fields' default: the analysis tells an unlogged header map by it.
_EMPTY_STR_MAP: FrozenMap[str, str] = _EMPTY_MAP
_EMPTY_STRUCT: FrozenMap[str, JsonValue] = FrozenMap()
_EMPTY_ANY_MAP: FrozenMap[str, AnyValue] = FrozenMap()
_EMPTY_STRUCT_MAP: FrozenMap[str, FrozenMap[str, JsonValue]] = FrozenMap()


def _by_number(enum_type: type[_E]) -> dict[int, _E]:
    return {member.value: member for member in enum_type}


# Numbers missing from these dicts are kept as plain ints: proto3 enums are open.
_SOCKET_PROTOCOLS = _by_number(SocketProtocol)


class Context(DiagnosticRecorder):
    """The state of one message's conversion: where it came from and what went wrong.

    ``report`` raises in strict mode and collects a :class:`Diagnostic` otherwise. Field paths
    given to it are relative to the current entry while ``entry_index`` is set; ``record``
    takes absolute ones.

    ``entry_numbers``, when given, are the entries' indexes in the original message, for a
    message rebuilt without its broken entries (see ``_binary``); ``check_strings`` says that
    the input is long enough to hold a string longer than ``limits.max_string_length``.
    """

    __slots__ = ("check_strings", "entries_field", "entry_index", "entry_numbers")

    def __init__(
        self,
        *,
        source: str,
        message_index: int | None,
        strict: bool,
        limits: Limits = DEFAULT_LIMITS,
        entry_numbers: list[int] | None = None,
        check_strings: bool = False,
    ) -> None:
        super().__init__(source=source, message_index=message_index, strict=strict, limits=limits)
        self.entry_numbers = entry_numbers
        self.check_strings = check_strings
        self.entries_field = ""
        self.entry_index: int | None = None

    def report(self, field: str, reason: str, *, kind: DiagnosticKind) -> None:
        """Record (or, when strict, raise) a problem at *field*, relative to the entry."""
        if self.entry_index is not None:
            entry = f"{self.entries_field}.log_entry[{self.entry_index}]"
            field = f"{entry}.{field}" if field else entry
        self.record(field, self.entry_index, reason, kind=kind)


# --- addresses --------------------------------------------------------------------------------


# Values that repeat across the entries and messages of a stream and whose conversion
# depends on their bytes alone are converted once each, into immutable values that entries
# then share. Each cache holds at most _CACHE_SIZE values and is cleared when full (remote
# addresses carry ephemeral ports, so some keys never repeat): memory stays flat, and what
# a cache holds never changes a result, only how soon it is made.
_CACHE_SIZE = 4096
_K = TypeVar("_K")


def _remembered(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


# Addresses: the Envoy's own listeners, its upstream hosts.
_ADDRESS_CACHE: dict[bytes, Address | None] = {}


def _cached_address(pb: PB2Address) -> Address | None:
    key = pb.SerializeToString()
    try:
        return _ADDRESS_CACHE[key]
    except KeyError:
        address = _address_from_pb(pb)
        # Only short ones: a count bound alone would let long (hostile) addresses fill memory.
        return _remembered(_ADDRESS_CACHE, key, address) if len(key) <= 256 else address


def _address_from_pb(pb: PB2Address) -> Address | None:
    which = pb.WhichOneof("address")
    if which == "socket_address":
        return _socket_address_from_pb(pb.socket_address)
    if which == "pipe":
        return PipeAddress(path=pb.pipe.path, mode=pb.pipe.mode)
    if which == "envoy_internal_address":
        internal = pb.envoy_internal_address
        named = internal.WhichOneof("address_name_specifier") == "server_listener_name"
        return EnvoyInternalAddress(
            server_listener_name=internal.server_listener_name if named else None,
            endpoint_id=internal.endpoint_id,
        )
    return None  # no member set (or one newer than this schema)


def _socket_address_from_pb(pb: PB2SocketAddress) -> SocketAddress:
    which = pb.WhichOneof("port_specifier")
    protocol = pb.protocol
    return SocketAddress(
        address=pb.address,
        port=pb.port_value if which == "port_value" else None,
        named_port=pb.named_port if which == "named_port" else None,
        protocol=_SOCKET_PROTOCOLS.get(protocol, protocol),
        resolver_name=pb.resolver_name,
        ipv4_compat=pb.ipv4_compat,
        network_namespace_filepath=pb.network_namespace_filepath,
    )


# --- maps -------------------------------------------------------------------------------------


def _str_map(pb_map: Mapping[str, str]) -> FrozenMap[str, str]:
    return FrozenMap(dict(_in_order(pb_map))) if pb_map else _EMPTY_STR_MAP


def _in_order(pb_map: Mapping[str, _V]) -> list[tuple[str, _V]]:
    """A protobuf map's items sorted by key.

    protobuf's parser iterates a map in an order that changes from process to process (its
    hash tables are seeded), and the wire order is lost; sorted, the model's FrozenMaps (and
    every output that walks them) are the same in every run. Keys are unique, so values are
    never compared.
    """
    return sorted(pb_map.items())


# --- time -------------------------------------------------------------------------------------


def _timestamp_ns(pb: timestamp_pb2.Timestamp, context: Context, field: str) -> int:
    seconds = pb.seconds
    nanos = pb.nanos
    if not (_MIN_TIMESTAMP_S <= seconds <= _MAX_TIMESTAMP_S and 0 <= nanos < _NS_PER_S):
        context.report(
            field,
            f"timestamp out of range (seconds={seconds}, nanos={nanos}); "
            "valid is 0001-01-01..9999-12-31 with nanos in [0, 1e9)",
            kind=DiagnosticKind.VALUE_IGNORED,  # kept as read
        )
    return seconds * _NS_PER_S + nanos


def _duration_ns(pb: duration_pb2.Duration, context: Context, field: str) -> int:
    seconds = pb.seconds
    nanos = pb.nanos
    if not (
        -_MAX_DURATION_S <= seconds <= _MAX_DURATION_S
        and -_NS_PER_S < nanos < _NS_PER_S
        and (seconds >= 0 or nanos <= 0)
        and (seconds <= 0 or nanos >= 0)
    ):
        context.report(
            field,
            f"duration out of range (seconds={seconds}, nanos={nanos}); valid is "
            "+-315576000000 s with nanos in (-1e9, 1e9) of the same sign as seconds",
            kind=DiagnosticKind.VALUE_IGNORED,  # kept as read
        )
    return seconds * _NS_PER_S + nanos


# --- metadata, Struct and Any -----------------------------------------------------------------


def _metadata_from_pb(pb: PB2Metadata, context: Context, field: str) -> Metadata:
    return Metadata(
        filter_metadata=(
            FrozenMap(
                {
                    key: _checked_struct(
                        value, context, map_entry_path(field + ".filter_metadata", key)
                    )
                    for key, value in _in_order(pb.filter_metadata)
                }
            )
            if pb.filter_metadata
            else _EMPTY_STRUCT_MAP
        ),
        typed_filter_metadata=(
            _any_map_from_pb(pb.typed_filter_metadata, context, field + ".typed_filter_metadata")
            if pb.typed_filter_metadata
            else _EMPTY_ANY_MAP
        ),
    )


def _checked_struct(
    pb: struct_pb2.Struct, context: Context, field: str
) -> FrozenMap[str, JsonValue]:
    """A Struct within the nesting limit; LimitExceeded (at *field*) if deeper."""
    limit = context.limits.max_nesting_depth
    try:
        return _struct_from_pb(pb, limit)
    except LimitExceeded:
        raise LimitExceeded(too_deep(limit), field) from None


# The Struct family recurses, but protobuf's parser has already bounded the depth (100 nested
# messages, three per Struct level); *levels* is what the nesting limit leaves, counting this one.
# The reason is written where the limit is known.


def _too_deep() -> LimitExceeded:
    return LimitExceeded("too deep")


def _struct_from_pb(pb: struct_pb2.Struct, levels: int) -> FrozenMap[str, JsonValue]:
    if levels < 1:
        raise _too_deep()
    fields = pb.fields
    if not fields:
        return _EMPTY_STRUCT
    return FrozenMap({key: _value_from_pb(value, levels) for key, value in _in_order(fields)})


def _value_from_pb(pb: struct_pb2.Value, levels: int) -> JsonValue:
    """A Value inside a container with *levels* left: its own struct or list takes one more."""
    kind = pb.WhichOneof("kind")
    if kind == "string_value":
        return pb.string_value
    if kind == "number_value":
        return pb.number_value
    if kind == "bool_value":
        return pb.bool_value
    if kind == "struct_value":
        return _struct_from_pb(pb.struct_value, levels - 1)
    if kind == "list_value":
        return _list_from_pb(pb.list_value, levels - 1)
    # null_value, or a Value with no kind set, which JSON can only show as null.
    return None


def _list_from_pb(pb: struct_pb2.ListValue, levels: int) -> tuple[JsonValue, ...]:
    if levels < 1:
        raise _too_deep()
    return tuple(_value_from_pb(value, levels) for value in pb.values)


def _any_map_from_pb(
    pb_map: Mapping[str, any_pb2.Any], context: Context, field: str
) -> FrozenMap[str, AnyValue]:
    return FrozenMap(
        {
            key: _any_from_pb(value, context, map_entry_path(field, key))
            for key, value in _in_order(pb_map)
        }
    )


# Decoded Any values, by type URL, payload and nesting limit: Istio's peer metadata (a Struct
# in filter_state_objects) is the same for every entry between the same two workloads. Only
# payloads that decode without a problem are kept, so every report is still made.
_ANY_CACHE: dict[tuple[str, bytes, int], AnyValue] = {}


def _any_from_pb(pb: any_pb2.Any, context: Context, field: str) -> AnyValue:
    """Decode the payload of a well-known type; keep any other type's bytes opaque."""
    type_url: str = pb.type_url
    payload: bytes = pb.value
    key = (type_url, payload, context.limits.max_nesting_depth)
    try:
        return _ANY_CACHE[key]
    except KeyError:
        pass
    decoder = _WELL_KNOWN_DECODERS.get(type_url.rpartition("/")[2])
    if decoder is None:
        return AnyValue(type_url=type_url, value=payload, known=False)
    message_type, to_value = decoder
    message = message_type()
    try:
        message.ParseFromString(payload)
    except google.protobuf.message.DecodeError:
        context.report(
            field,
            f"payload is not a valid {message_type.DESCRIPTOR.full_name}; kept opaque",
            kind=DiagnosticKind.VALUE_IGNORED,
        )
        return AnyValue(type_url=type_url, value=payload, known=False)
    reports = len(context.diagnostics) + context.left_out
    try:
        value = to_value(message, context, field)
    except LimitExceeded:  # only the Struct family nests
        raise LimitExceeded(too_deep(context.limits.max_nesting_depth), field) from None
    decoded = AnyValue(type_url=type_url, value=value, known=True)
    if len(context.diagnostics) + context.left_out > reports:  # e.g. a timestamp out of range:
        return decoded  # not kept, so that the next entry with it gets its report too
    return _remembered(_ANY_CACHE, key, decoded)


def _wrapped(message: Any, context: Context, field: str) -> object:
    return message.value


_WELL_KNOWN_DECODERS: dict[
    str, tuple[type[google.protobuf.message.Message], Callable[[Any, Context, str], object]]
] = {
    "google.protobuf.Struct": (
        struct_pb2.Struct,
        lambda pb, c, _f: _struct_from_pb(pb, c.limits.max_nesting_depth),
    ),
    "google.protobuf.Value": (
        struct_pb2.Value,
        # A Value's struct or list is level 1, as in JSON: Value itself is no container.
        lambda pb, c, _f: _value_from_pb(pb, c.limits.max_nesting_depth + 1),
    ),
    "google.protobuf.ListValue": (
        struct_pb2.ListValue,
        lambda pb, c, _f: _list_from_pb(pb, c.limits.max_nesting_depth),
    ),
    "google.protobuf.Duration": (duration_pb2.Duration, _duration_ns),
    "google.protobuf.Timestamp": (timestamp_pb2.Timestamp, _timestamp_ns),
    "google.protobuf.Empty": (empty_pb2.Empty, lambda _pb, _c, _f: None),
    "google.protobuf.DoubleValue": (wrappers_pb2.DoubleValue, _wrapped),
    "google.protobuf.FloatValue": (wrappers_pb2.FloatValue, _wrapped),
    "google.protobuf.Int64Value": (wrappers_pb2.Int64Value, _wrapped),
    "google.protobuf.UInt64Value": (wrappers_pb2.UInt64Value, _wrapped),
    "google.protobuf.Int32Value": (wrappers_pb2.Int32Value, _wrapped),
    "google.protobuf.UInt32Value": (wrappers_pb2.UInt32Value, _wrapped),
    "google.protobuf.BoolValue": (wrappers_pb2.BoolValue, _wrapped),
    "google.protobuf.StringValue": (wrappers_pb2.StringValue, _wrapped),
    "google.protobuf.BytesValue": (wrappers_pb2.BytesValue, _wrapped),
}
