"""The optional compiled decoder: whether it is used, its switches, and its Python callbacks.

``meshals.codec._accel`` (``_accel.c``, built where a C compiler is available) decodes a
serialized ``StreamAccessLogsMessage`` in the canonical encoding Envoy writes straight into
the model objects, and answers None for anything else; :func:`decode_accelerated` returns
that answer and ``decode_binary`` then takes its pure path, which reports what it finds. So
both paths give the same objects, and only the pure path makes diagnostics or raises.

The extension builds the fields every entry carries itself, and hands the rarer
sub-messages (the identifier, TLS properties, metadata, filter state objects, custom tags,
pipe and internal addresses) as bytes to the callbacks here, which parse them with protobuf
and convert them with the pure path's own functions; whatever they would report makes them
answer None too.

The extension is loaded, or not, by :mod:`meshals.codec._compiled` (``MESHALS_PURE=1`` never
uses it). :func:`pure_path` forces the pure path within a ``with`` block, of ``decode_json``
too (its compiled converter, :mod:`meshals.codec._json_compiled`, and orjson); tests and the
fuzz targets run both paths with it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Final

import google.protobuf.message

from meshals._errors import DecodeError
from meshals._pb.address_pb2 import Address as PB2Address
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals._values import AnyValue, FrozenMap
from meshals.model._als import (
    AccessLogCommon,
    AccessLogType,
    Address,
    AlsMessage,
    ConnectionProperties,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    HttpVersion,
    Identifier,
    Metadata,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    SocketProtocol,
    TcpEntry,
    TlsProperties,
    UnauthorizedReason,
)
from meshals.model._construct import slot_fields

from ._compiled import EXTENSION
from ._convert import _identifier_from_pb
from ._convert_common import _common_from_pb
from ._convert_values import _EMPTY_ANY_MAP, _EMPTY_STR_MAP, Context, _address_from_pb
from ._limits import LimitExceeded, Limits
from ._unknown_fields import has_unknown_fields
from ._wire import length_delimited

__all__ = ["ACCELERATED", "decode_accelerated", "pure_path"]

# Within this nesting limit a Struct the converters accept lies less than 80 messages deep
# in the whole message (three per level, seven above the first), inside protobuf's limit of
# 100 on the whole message. With a larger limit, the pure path decides. (The callbacks parse
# their parts inside their enclosing messages, so protobuf counts the depth of branches it
# parses and then drops, such as a repeated map key's first value, as the pure path does.)
_SAFE_NESTING_DEPTH: Final = 24

_PURE: contextvars.ContextVar[bool] = contextvars.ContextVar("meshals_pure", default=False)


@contextlib.contextmanager
def pure_path() -> Iterator[None]:
    """Decode with the pure-Python path only, within the ``with`` block (this context only).

    Binary and JSON: no compiled decoder or JSON converter, and json.loads rather than orjson.
    """
    token = _PURE.set(True)
    try:
        yield
    finally:
        _PURE.reset(token)


_Bounds = tuple[int, int, Context]

# The last Limits decoded with and what the extension takes for it: one Limits usually
# serves a whole run, and checking that it is the same object costs less than hashing it.
_last_bounds: tuple[Limits | None, _Bounds | None] = (None, None)


def _bounds(limits: Limits) -> _Bounds | None:
    """The entry and string limits and the context for *limits*; None: the pure path."""
    global _last_bounds  # noqa: PLW0603 -- a one-entry cache, replaced whole
    bounds = (
        None
        if limits.max_nesting_depth > _SAFE_NESTING_DEPTH
        else (limits.max_entries, limits.max_string_length, _context(limits))
    )
    _last_bounds = (limits, bounds)
    return bounds


def decode_accelerated(
    data: bytes, source: str, index: int | None, limits: Limits
) -> AlsMessage | None:
    """The message the compiled decoder makes of *data*, or None: the pure path decides.

    An exception from the extension is a bug, never an answer about *data*: it propagates
    (a MemoryError included).
    """
    if _ACCEL is None or _PURE.get() or type(source) is not str:
        return None
    last = _last_bounds  # read once: another thread may replace it
    bounds = last[1] if limits is last[0] else _bounds(limits)
    if bounds is None:
        return None
    max_entries, max_string_length, context = bounds
    message: AlsMessage | None = _ACCEL.decode(
        data, source, index, max_entries, max_string_length, context
    )
    return message


# --- the callbacks: (context, bytes) -> (value, ...) or None ------------------------------

# One strict context per Limits: a strict context raises at a problem and keeps nothing, so
# it can serve every call (at most a few distinct Limits are ever used).
_CONTEXTS: dict[Limits, Context] = {}


def _context(limits: Limits) -> Context:
    try:
        return _CONTEXTS[limits]
    except KeyError:
        if len(_CONTEXTS) >= 16:
            _CONTEXTS.clear()
        context = Context(source="<accelerated>", message_index=None, strict=True, limits=limits)
        _CONTEXTS[limits] = context
        return context


def _parsed(message: Any, data: bytes) -> bool:
    """Parse *data* into *message*; whether it parsed with no unknown field in it."""
    try:
        message.ParseFromString(data)
    except google.protobuf.message.DecodeError:
        return False
    return not has_unknown_fields(message)


def _enclosed(numbers: tuple[int, ...], data: bytes) -> bytes:
    """*data* as the body of the length-delimited fields *numbers*, outermost first."""
    for number in reversed(numbers):
        data = length_delimited(number, data)
    return data


# StreamAccessLogsMessage.identifier = 1; http_logs = 2, its log_entry = 1, an entry's
# common_properties = 1 (a TCP entry's sits as deep).
_IDENTIFIER_PATH: Final = (1,)
_COMMON_PATH: Final = (2, 1, 1)


def _identifier(context: Context, data: bytes) -> tuple[Identifier] | None:
    outer = PB2StreamAccessLogsMessage()
    if not _parsed(outer, _enclosed(_IDENTIFIER_PATH, data)):
        return None
    try:
        return (_identifier_from_pb(outer.identifier, context),)
    except (DecodeError, LimitExceeded):  # what the pure path would report or raise
        return None


def _common_extra(
    context: Context, data: bytes
) -> (
    tuple[TlsProperties | None, Metadata | None, FrozenMap[str, AnyValue], FrozenMap[str, str]]
    | None
):
    """tls_properties, metadata, filter_state_objects and custom_tags of an AccessLogCommon.

    *data* holds those fields only, so the pure path's converter of the whole message reads
    them exactly as it does there, and leaves the rest at their defaults.
    """
    key = (data, context.limits.max_nesting_depth)
    try:
        return _EXTRA_CACHE[key]
    except KeyError:
        pass
    outer = PB2StreamAccessLogsMessage()
    if not _parsed(outer, _enclosed(_COMMON_PATH, data)):
        return None
    try:
        common = _common_from_pb(outer.http_logs.log_entry[0].common_properties, context)
    except (DecodeError, LimitExceeded):
        return None
    extra = (
        common.tls_properties,
        common.metadata,
        common.filter_state_objects,
        common.custom_tags,
    )
    if len(data) <= _MAX_CACHED_SIZE:
        if len(_EXTRA_CACHE) >= _CACHE_SIZE:
            _EXTRA_CACHE.clear()
        _EXTRA_CACHE[key] = extra
    return extra


# The same parts recur on every entry between two workloads (Istio's peer metadata, the
# TLS facts): decoded once, by bytes and nesting limit (the only limit that can change the
# answer; the string limit is checked before the call). Immutable values; at most
# _CACHE_SIZE, all forgotten when full, so memory stays flat. Only answers are kept, and
# only for parts up to _MAX_CACHED_SIZE bytes: a count alone would let large parts (a string
# limit is 1 MiB by default) hold gigabytes.
_CACHE_SIZE: Final = 4096
_MAX_CACHED_SIZE: Final = 4096
_EXTRA_CACHE: dict[
    tuple[bytes, int],
    tuple[TlsProperties | None, Metadata | None, FrozenMap[str, AnyValue], FrozenMap[str, str]],
] = {}


def _address(context: Context, data: bytes) -> tuple[Address | None] | None:
    pb = PB2Address()
    if not _parsed(pb, data):
        return None
    return (_address_from_pb(pb),)


def _members(enum_type: Any) -> tuple[Any, ...]:
    """An enum's members indexed by their numbers (None where a number has none)."""
    numbers = {member.value: member for member in enum_type}
    return tuple(numbers.get(number) for number in range(max(numbers) + 1))


def _model(cls: type) -> tuple[type, tuple[str, ...], tuple[Any, ...]]:
    names, descriptors = slot_fields(cls)
    return cls, names, descriptors


def _flags_by_field() -> tuple[ResponseFlag | None, ...]:
    by_number = {flag.field_number: flag for flag in ResponseFlag}
    return tuple(by_number.get(number) for number in range(max(by_number) + 1))


def _init(module: ModuleType) -> None:
    """Hand the extension what it builds with (it checks each class's fields)."""
    module.init(
        models=tuple(
            _model(cls)
            for cls in (
                AlsMessage,
                HttpEntry,
                TcpEntry,
                ConnectionProperties,
                SocketAddress,
                HttpRequest,
                HttpResponse,
                AccessLogCommon,
            )
        ),
        http_versions=_members(HttpVersion),
        request_methods=_members(RequestMethod),
        access_log_types=_members(AccessLogType),
        socket_protocols=_members(SocketProtocol),
        unauthorized_reasons=_members(UnauthorizedReason),
        response_flags=_flags_by_field(),
        empty_str_map=_EMPTY_STR_MAP,
        empty_any_map=_EMPTY_ANY_MAP,
        # Built as its __init__ does: its own dict (keys sorted, as _convert_values._str_map
        # orders them), its hash not computed yet.
        frozen_map=(FrozenMap, FrozenMap.__dict__["_data"], FrozenMap.__dict__["_hash"]),
        identifier=_identifier,
        common_extra=_common_extra,
        address=_address,
    )


def _load() -> ModuleType | None:
    if EXTENSION is None:
        return None
    _init(EXTENSION)  # a TypeError here is a bug: the model and _accel.c disagree
    return EXTENSION


_ACCEL: Final = _load()

#: Whether ``decode_binary`` tries the compiled decoder first.
ACCELERATED: Final = _ACCEL is not None
