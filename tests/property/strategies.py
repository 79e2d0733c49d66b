"""Hypothesis strategies for random, valid Envoy ALS messages built with Envoy's own classes.

The messages are instances of xds-protos' generated classes (``envoy.service.accesslog.v3`` or
``.v2``), never of meshals' own ``_pb`` classes, so that the tests compare meshals against a
schema it did not write.

The builders walk the message descriptors: every scalar, enum, repeated scalar and
``map<string, string>`` field gets a strategy from its type, each field is independently present
or absent, and at most one member of each oneof is set. Message-typed fields need an explicit
strategy; a message field without one is an error, so a field added to the schema cannot be
silently left out. The same builders serve v2 and v3: a field the schema lacks is skipped.

What is deliberately not generated, and why:

- NaN anywhere: ``NaN != NaN``, so no two decodings of a message containing it compare equal.
- Infinities inside ``Struct``/``Value`` numbers: ``json_format`` refuses to print them (JSON
  has no infinity, and protobuf's JSON mapping would turn the string into a ``string_value``).
  ``sample_rate`` and the ``DoubleValue``/``FloatValue`` Any payloads do get ±inf and -0.0.
- A ``Value`` with no kind set: it has no JSON form.
- Unless :attr:`Family.unknown_any`, ``Any`` payloads of types meshals does not decode: their
  JSON form (fields of a schema meshals lacks) cannot become the bytes binary decoding keeps,
  and ``json_format`` cannot print a type it does not know at all.
- Unless not :attr:`Family.exact`, inputs the model cannot tell apart from another input: an
  ``Address`` with no member in a singular field (the model has None, as for an absent field)
  and a ``ResponseFlags`` with no flag set (an empty set either way).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.accesslog.v2 import als_pb2 as als_v2
from envoy.service.accesslog.v3 import als_pb2 as als_v3
from google.protobuf import (
    any_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

__all__ = [
    "DURATION_MAX_SECONDS",
    "TIMESTAMP_MAX_SECONDS",
    "TIMESTAMP_MIN_SECONDS",
    "Family",
    "als_messages",
    "any_known",
    "any_unknown",
    "build",
    "durations",
    "json_spellings",
    "json_values",
    "structs",
    "texts",
    "timestamps",
]

# google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_MIN_SECONDS = -62_135_596_800
TIMESTAMP_MAX_SECONDS = 253_402_300_799
# google/protobuf/duration.proto: "approximately +-10,000 years".
DURATION_MAX_SECONDS = 315_576_000_000
_NANOS_MAX = 999_999_999

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Family:
    """Which kind of messages :func:`als_messages` draws.

    ``version`` picks Envoy's v3 or v2 schema. ``unknown_any`` adds ``Any`` payloads whose type
    meshals does not decode (random bytes under invented type URLs, Envoy messages, empty Any):
    comparable between binary decodings only. ``exact`` leaves out the inputs the model cannot
    tell from another input (see the module docstring), so that re-encoding the decoded model
    gives back an equal protobuf message.
    """

    version: str = "v3"
    unknown_any: bool = False
    exact: bool = True

    @property
    def root(self) -> type[Message]:
        root: type[Message] = (
            als_v3.StreamAccessLogsMessage
            if self.version == "v3"
            else als_v2.StreamAccessLogsMessage
        )
        return root


# --- leaves -------------------------------------------------------------------------------------


def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Unicode strings that are valid UTF-8: any code point but the surrogates."""
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


def timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    """Any ``Timestamp`` in the range protobuf allows, with nanoseconds."""
    return st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.one_of(
            st.integers(TIMESTAMP_MIN_SECONDS, TIMESTAMP_MAX_SECONDS),
            # 2015 to 2040, where real captures live.
            st.integers(1_420_070_400, 2_208_988_800),
        ),
        nanos=st.integers(0, _NANOS_MAX),
    )


@st.composite
def durations(draw: st.DrawFn) -> duration_pb2.Duration:
    """Any valid ``Duration``: seconds and nanos of the same sign, negative ones included."""
    seconds = draw(st.integers(0, DURATION_MAX_SECONDS) | st.integers(0, 100))
    nanos = draw(st.integers(0, _NANOS_MAX))
    sign = draw(st.sampled_from((1, -1)))
    return duration_pb2.Duration(seconds=sign * seconds, nanos=sign * nanos)


_FINITE = st.floats(allow_nan=False, allow_infinity=False)

# types-protobuf types descriptors as unions of the upb and pure-Python classes, which do not
# narrow; these helpers only read them.
_Field = Any
_Descriptor = Any

JsonLike = Any  # None | bool | float | str | list[JsonLike] | dict[str, JsonLike]


def json_values(max_leaves: int = 6) -> st.SearchStrategy[JsonLike]:
    """Python values a ``google.protobuf.Value`` can hold (numbers finite, see module docstring)."""
    scalars = st.none() | st.booleans() | _FINITE | texts()
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(texts(8), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def _struct(fields: Mapping[str, JsonLike]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(fields)
    return struct


def structs(max_leaves: int = 6) -> st.SearchStrategy[struct_pb2.Struct]:
    """``Struct`` messages with nested structs and lists."""
    return st.dictionaries(texts(8), json_values(max_leaves), max_size=3).map(_struct)


def _value(python: JsonLike) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if python is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(python, bool):
        value.bool_value = python
    elif isinstance(python, float):
        value.number_value = python
    elif isinstance(python, str):
        value.string_value = python
    elif isinstance(python, list):
        # SetInParent: an empty list or struct is still the kind of the Value.
        value.list_value.SetInParent()
        value.list_value.extend(python)
    else:
        value.struct_value.SetInParent()
        value.struct_value.update(python)
    return value


def _list_value(items: list[JsonLike]) -> struct_pb2.ListValue:
    list_value = struct_pb2.ListValue()
    list_value.extend(items)
    return list_value


# Type URL prefixes: the usual one and another valid one (everything up to the last "/").
_PREFIXES = st.sampled_from(("type.googleapis.com/", "type.googleapis.com/", "example.com/t/"))

# Every well-known type meshals decodes inside an Any, with a strategy for its payload.
_KNOWN_PAYLOADS: tuple[st.SearchStrategy[Message], ...] = (
    structs(),
    json_values().map(_value),
    st.lists(json_values(3), max_size=3).map(_list_value),
    st.builds(wrappers_pb2.StringValue, value=texts()),
    st.builds(wrappers_pb2.BytesValue, value=st.binary(max_size=12)),
    st.builds(wrappers_pb2.BoolValue, value=st.booleans()),
    st.builds(wrappers_pb2.Int32Value, value=st.integers(INT32_MIN, INT32_MAX)),
    st.builds(wrappers_pb2.UInt32Value, value=st.integers(0, UINT32_MAX)),
    st.builds(wrappers_pb2.Int64Value, value=st.integers(INT64_MIN, INT64_MAX)),
    st.builds(wrappers_pb2.UInt64Value, value=st.integers(0, UINT64_MAX)),
    # float32 values only: anything else would be rounded by the assignment.
    st.builds(wrappers_pb2.FloatValue, value=st.floats(width=32, allow_nan=False)),
    st.builds(wrappers_pb2.DoubleValue, value=st.floats(allow_nan=False)),
    durations(),
    timestamps(),
    st.just(empty_pb2.Empty()),
)


def _pack(payload: Message, prefix: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    # Deterministic: a Struct's map entries in key order, as meshals' encoder writes them, so
    # that a re-encoded Any has the same bytes (Any.value is compared as bytes).
    packed.Pack(payload, type_url_prefix=prefix, deterministic=True)
    return packed


def any_known() -> st.SearchStrategy[any_pb2.Any]:
    """``Any`` holding a well-known type that meshals decodes."""
    return st.builds(_pack, st.one_of(_KNOWN_PAYLOADS), _PREFIXES)


def any_unknown() -> st.SearchStrategy[any_pb2.Any]:
    """``Any`` whose type meshals does not decode: kept as opaque bytes by binary decoding."""
    invented = st.builds(
        lambda prefix, name, value: any_pb2.Any(type_url=prefix + name, value=value),
        _PREFIXES,
        st.from_regex(r"meshals\.test\.unknown\.v[0-9]\.[A-Z][a-z]{0,6}", fullmatch=True),
        st.binary(max_size=20),
    )
    # An Envoy message: known to json_format, unknown to meshals.
    envoy_message = st.builds(
        lambda region, prefix: _pack(base_pb2.Locality(region=region), prefix), texts(), _PREFIXES
    )
    return st.one_of(invented, envoy_message, st.just(any_pb2.Any()))


# --- the descriptor-driven builder --------------------------------------------------------------


def _enum_numbers(field: _Field) -> st.SearchStrategy[int]:
    assert field.enum_type is not None
    known = [value.number for value in field.enum_type.values]
    # Proto3 enums are open: any int32 may arrive and must be kept.
    return st.sampled_from(known) | st.integers(INT32_MIN, INT32_MAX)


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: texts(),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_UINT32: st.integers(0, UINT32_MAX) | st.integers(0, 100),
    FieldDescriptor.TYPE_UINT64: st.integers(0, UINT64_MAX) | st.integers(0, 100),
    # sample_rate: ±inf and -0.0 included (JSON prints "Infinity" and "-0.0").
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=False),
}


def _is_map(field: _Field) -> bool:
    message_type = field.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _class_of(descriptor: _Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _field_strategy(
    field: _Field,
    messages: Mapping[str, st.SearchStrategy[Any]],
    max_items: int,
) -> st.SearchStrategy[Any]:
    """A strategy for the constructor argument of *field*: a value, a list or a dict."""
    if _is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        if value_field.message_type is not None:
            values = messages[field.name]
        else:
            values = _scalar(value_field)
        return st.dictionaries(texts(8), values, max_size=max_items)
    element = messages[field.name] if field.message_type is not None else _scalar(field)
    if field.is_repeated:
        return st.lists(element, max_size=max_items)
    return element


def _scalar(field: _Field) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_numbers(field)
    return _SCALARS[field.type]


def build(
    cls: type[Message],
    messages: Mapping[str, st.SearchStrategy[Any]] | None = None,
    *,
    max_items: int = 3,
) -> st.SearchStrategy[Message]:
    """Messages of *cls*: every field of its descriptor independently present or absent.

    *messages* maps each message-typed field name (singular, repeated or map value) to a
    strategy for one value; names the descriptor lacks (v2) are ignored, and a message field
    missing from *messages* raises KeyError at once.
    """
    messages = messages or {}
    descriptor = cls.DESCRIPTOR
    plain: dict[str, st.SearchStrategy[Any]] = {}
    oneofs: list[st.SearchStrategy[dict[str, Any]]] = []
    for oneof in descriptor.oneofs:
        members = {f.name: _field_strategy(f, messages, max_items) for f in oneof.fields}
        # None of the members, or exactly one (set even to its default: oneofs have presence).
        choices = [st.fixed_dictionaries({name: s}) for name, s in members.items()]
        oneofs.append(st.one_of(st.just({}), *choices))
    for field in descriptor.fields:
        if field.containing_oneof is None:
            plain[field.name] = _field_strategy(field, messages, max_items)

    def construct(parts: tuple[dict[str, Any], ...]) -> Message:
        kwargs: dict[str, Any] = {}
        for part in parts:
            kwargs.update(part)
        return cls(**kwargs)

    return st.tuples(st.fixed_dictionaries({}, optional=plain), *oneofs).map(construct)


def _sub(cls: type[Message], *path: str) -> type[Message]:
    """The class of the message field reached from *cls* through the field names *path*."""
    descriptor: _Descriptor = cls.DESCRIPTOR
    for name in path:
        descriptor = descriptor.fields_by_name[name].message_type
    return _class_of(descriptor)


def _has_field(cls: type[Message], name: str) -> bool:
    return name in cls.DESCRIPTOR.fields_by_name


# --- ALS messages -------------------------------------------------------------------------------


def _addresses(
    address_cls: type[Message], family: Family, *, singular: bool
) -> st.SearchStrategy[Message]:
    socket = build(_sub(address_cls, "socket_address"))
    members = [st.builds(lambda s: address_cls(socket_address=s), socket)]
    members.append(st.builds(lambda p: address_cls(pipe=p), build(_sub(address_cls, "pipe"))))
    if _has_field(address_cls, "envoy_internal_address"):
        internal = build(_sub(address_cls, "envoy_internal_address"))
        members.append(st.builds(lambda i: address_cls(envoy_internal_address=i), internal))
    # An Address with no member is valid protobuf; the model has None for it. In a repeated
    # field it keeps its position; in a singular field it looks absent (not exact).
    if not singular or not family.exact:
        members.append(st.builds(address_cls))
    return st.one_of(members)


def _response_flags(flags_cls: type[Message], family: Family) -> st.SearchStrategy[Message]:
    flags = build(
        flags_cls, {"unauthorized_details": build(_sub(flags_cls, "unauthorized_details"))}
    )
    if family.exact:
        # Present but empty decodes as no flags, the same as absent.
        flags = flags.filter(lambda message: bool(message.ListFields()))
    return flags


def _build_version(cls: type[Message]) -> st.SearchStrategy[Message]:
    return build(cls, {"version": build(_sub(cls, "version")), "metadata": structs()})


def _node(node_cls: type[Message], family: Family) -> st.SearchStrategy[Message]:
    build_version = _build_version(_sub(node_cls, "user_agent_build_version"))
    extension_cls = _sub(node_cls, "extensions")
    messages: dict[str, st.SearchStrategy[Any]] = {
        "metadata": structs(),
        "locality": build(_sub(node_cls, "locality")),
        "user_agent_build_version": build_version,
        "extensions": build(extension_cls, {"version": build_version}),
        "listening_addresses": _addresses(
            _sub(node_cls, "listening_addresses"), family, singular=False
        ),
    }
    if _has_field(node_cls, "dynamic_parameters"):
        messages["dynamic_parameters"] = build(_sub(node_cls, "dynamic_parameters", "value"))
    return build(node_cls, messages)


def _anys(family: Family) -> st.SearchStrategy[any_pb2.Any]:
    if family.unknown_any:
        return any_known() | any_unknown()
    return any_known()


def _common(common_cls: type[Message], family: Family) -> st.SearchStrategy[Message]:
    address = _addresses(_sub(common_cls, "downstream_remote_address"), family, singular=True)
    tls_cls = _sub(common_cls, "tls_properties")
    certificate_cls = _sub(tls_cls, "local_certificate_properties")
    certificate = build(
        certificate_cls, {"subject_alt_name": build(_sub(certificate_cls, "subject_alt_name"))}
    )
    tls = build(
        tls_cls,
        {
            "tls_cipher_suite": st.builds(
                wrappers_pb2.UInt32Value, value=_SCALARS[FieldDescriptor.TYPE_UINT32]
            ),
            "local_certificate_properties": certificate,
            "peer_certificate_properties": certificate,
        },
    )
    metadata_cls = _sub(common_cls, "metadata")
    metadata = build(
        metadata_cls, {"filter_metadata": structs(), "typed_filter_metadata": _anys(family)}
    )
    duration_fields = [
        f.name
        for f in common_cls.DESCRIPTOR.fields
        if f.message_type is not None and f.message_type.full_name == "google.protobuf.Duration"
    ]
    address_fields = [
        f.name
        for f in common_cls.DESCRIPTOR.fields
        if f.message_type is not None and f.message_type.name == "Address"
    ]
    messages: dict[str, st.SearchStrategy[Any]] = {
        "tls_properties": tls,
        "start_time": timestamps(),
        "response_flags": _response_flags(_sub(common_cls, "response_flags"), family),
        "metadata": metadata,
        "filter_state_objects": _anys(family),
        **{name: durations() for name in duration_fields},
        **dict.fromkeys(address_fields, address),
    }
    return build(common_cls, messages)


def _http_entry(entry_cls: type[Message], family: Family) -> st.SearchStrategy[Message]:
    ports = st.builds(wrappers_pb2.UInt32Value, value=_SCALARS[FieldDescriptor.TYPE_UINT32])
    codes = st.builds(
        wrappers_pb2.UInt32Value,
        value=st.sampled_from((0, 200, 404, 503)) | ports.map(lambda p: p.value),
    )
    return build(
        entry_cls,
        {
            "common_properties": _common(_sub(entry_cls, "common_properties"), family),
            "request": build(_sub(entry_cls, "request"), {"port": ports}),
            "response": build(_sub(entry_cls, "response"), {"response_code": codes}),
        },
    )


def _tcp_entry(entry_cls: type[Message], family: Family) -> st.SearchStrategy[Message]:
    return build(
        entry_cls,
        {
            "common_properties": _common(_sub(entry_cls, "common_properties"), family),
            "connection_properties": build(_sub(entry_cls, "connection_properties")),
        },
    )


def als_messages(family: Family = Family()) -> st.SearchStrategy[Message]:
    """Random valid ``StreamAccessLogsMessage`` objects (Envoy's classes) of *family*.

    An optional identifier; HTTP entries, TCP entries (0 to 5 of them) or neither.
    """
    root = family.root
    identifier_cls = _sub(root, "identifier")
    identifier = build(identifier_cls, {"node": _node(_sub(identifier_cls, "node"), family)})
    http_cls = _sub(root, "http_logs")
    tcp_cls = _sub(root, "tcp_logs")
    http = build(
        http_cls, {"log_entry": _http_entry(_sub(http_cls, "log_entry"), family)}, max_items=5
    )
    tcp = build(tcp_cls, {"log_entry": _tcp_entry(_sub(tcp_cls, "log_entry"), family)}, max_items=5)
    return build(root, {"identifier": identifier, "http_logs": http, "tcp_logs": tcp})


# --- other spellings of the same JSON ------------------------------------------------------------

_EPOCH = datetime.datetime(1970, 1, 1)
_INT64_TYPES = frozenset({FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64})
_INT32_TYPES = frozenset({FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32})
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
_UNCHANGED = frozenset(
    {
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Empty",
    }
)


def _fraction(draw: st.DrawFn, nanos: int) -> str:
    """The fractional seconds of *nanos* with 9 digits, or fewer where no digit is lost."""
    digits = f"{nanos:09d}"
    shortest = digits.rstrip("0")
    choices = [digits, shortest] + [digits[:n] for n in (3, 6) if len(shortest) <= n]
    chosen = draw(st.sampled_from(choices))
    return f".{chosen}" if chosen else draw(st.sampled_from(("", ".0")))


def _respell_timestamp(draw: st.DrawFn, text: str) -> str:
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromJsonString(text)
    # RFC 3339 allows any offset; the same instant then has another local time.
    offset = draw(st.sampled_from((0, 0, 60, -90, 14 * 60, -(23 * 60 + 59))))
    try:
        local = _EPOCH + datetime.timedelta(seconds=timestamp.seconds + offset * 60)
    except OverflowError:  # beyond year 1 or 9999 in local time
        local, offset = _EPOCH + datetime.timedelta(seconds=timestamp.seconds), 0
    zone = (
        "Z"
        if offset == 0
        else f"{'+' if offset > 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    )
    # Not strftime: "%Y" does not pad years before 1000 on every platform.
    clock = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local:%H:%M:%S}"
    return clock + _fraction(draw, timestamp.nanos) + zone


def _respell_duration(draw: st.DrawFn, text: str) -> str:
    duration = duration_pb2.Duration()
    duration.FromJsonString(text)
    sign = "-" if duration.seconds < 0 or duration.nanos < 0 else ""
    return f"{sign}{abs(duration.seconds)}{_fraction(draw, abs(duration.nanos))}s"


def _respell_scalar(draw: st.DrawFn, value: Any, field: _Field) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        # An enum by name or by number.
        return draw(st.sampled_from((value, field.enum_type.values_by_name[value].number)))
    if kind in _INT64_TYPES:
        # 64-bit integers are strings in proto3 JSON, but parsers take numbers too.
        return draw(st.sampled_from((value, int(value))))
    if kind in _INT32_TYPES:
        return draw(st.sampled_from((value, str(value))))
    if kind in _FLOAT_TYPES and not isinstance(value, str):
        # A number, or the same number as a string ("Infinity" is a string already).
        return draw(st.sampled_from((value, repr(float(value)))))
    if kind == FieldDescriptor.TYPE_BYTES:
        raw = base64.b64decode(value)
        spellings = (value, base64.urlsafe_b64encode(raw).decode(), value.rstrip("="))
        return draw(st.sampled_from(spellings))
    return value


def _respell_any(draw: st.DrawFn, value: dict[str, Any]) -> dict[str, Any]:
    type_name = value["@type"].rpartition("/")[2]
    if type_name in _UNCHANGED or "value" not in value:
        return value
    if type_name == "google.protobuf.Timestamp":
        return {**value, "value": _respell_timestamp(draw, value["value"])}
    if type_name == "google.protobuf.Duration":
        return {**value, "value": _respell_duration(draw, value["value"])}
    wrapper = message_factory.GetMessageClass(
        descriptor_pool.Default().FindMessageTypeByName(type_name)
    )
    return {
        **value,
        "value": _respell_scalar(draw, value["value"], wrapper.DESCRIPTOR.fields_by_name["value"]),
    }


def _respell_value(draw: st.DrawFn, value: Any, field: _Field) -> Any:
    if field.message_type is None:
        return _respell_scalar(draw, value, field)
    name = field.message_type.full_name
    if name == "google.protobuf.Timestamp":
        return _respell_timestamp(draw, value)
    if name == "google.protobuf.Duration":
        return _respell_duration(draw, value)
    if name == "google.protobuf.Any":
        return _respell_any(draw, value)
    if name.startswith("google.protobuf.") and name.endswith("Value") and name not in _UNCHANGED:
        return _respell_scalar(draw, value, field.message_type.fields_by_name["value"])
    if name in _UNCHANGED:
        return value
    return _respell_message(draw, value, field.message_type)


def _respell_message(
    draw: st.DrawFn, value: dict[str, Any], descriptor: _Descriptor
) -> dict[str, Any]:
    by_json_name = {field.json_name: field for field in descriptor.fields}
    out: dict[str, Any] = {}
    for json_name, item in value.items():
        field = by_json_name[json_name]
        # Parsers accept the protobuf field name as well as the lowerCamelCase JSON name.
        key = draw(st.sampled_from((json_name, field.name)))
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[key] = {k: _respell_value(draw, v, value_field) for k, v in item.items()}
        elif field.is_repeated:
            out[key] = [_respell_value(draw, v, field) for v in item]
        else:
            out[key] = _respell_value(draw, item, field)
    for field in descriptor.fields:
        # null stands for the default of any field but a Value (and is ambiguous in a oneof).
        absent = field.json_name not in value and field.containing_oneof is None
        if absent and draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from((field.json_name, field.name)))] = None
    return out


@st.composite
def json_spellings(draw: st.DrawFn, message: Message) -> str:
    """*message* in proto3 JSON, spelled in ways json_format does not print but parsers accept.

    Field names in either style, enums by name or number, 64-bit integers as numbers and
    32-bit ones as strings, floats as strings, timestamps with other UTC offsets, durations and
    timestamps with 0, 3, 6 or 9 fractional digits, bytes in URL-safe base64 or unpadded,
    ``null`` for absent fields.
    The caller should check that json_format parses the text back to *message*.
    """
    fields = json_format.MessageToDict(message)
    return json.dumps(
        _respell_message(draw, fields, message.DESCRIPTOR), ensure_ascii=draw(st.booleans())
    )
