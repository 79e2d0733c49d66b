"""The resource limits decoding enforces, and the checks that both decoders share.

A :class:`Limits` object travels with ``limits=`` into :func:`~meshals.decode_json`,
:func:`~meshals.decode_binary` and :func:`~meshals.decode_message`. Each limit guards a
resource against hostile or broken input:

- ``max_message_size`` bounds memory: a decoded message takes at most about 70 times its
  serialized size (measured for the worst case, a binary message of empty entries);
- ``max_entries`` bounds that worst case further, by the entries one message may hold;
- ``max_nesting_depth`` keeps ``Struct``/``Value`` trees (metadata, ``Any`` payloads) away from
  Python's recursion limit;
- ``max_string_length`` keeps absurd strings (a 50 MB path) out of the analysis and its output;
- ``max_diagnostics`` bounds what lenient decoding records about one message (a message of a
  million unknown fields would otherwise cost a million diagnostics).

What happens when a limit is exceeded is the decoders' business (documented in
``docs/errors.md``): message-wide limits raise :class:`~meshals.DecodeError`; an entry that
breaks a per-value limit is skipped in lenient mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Final

import attrs

from meshals._errors import DecodeError, Diagnostic, DiagnosticKind, Location, map_entry_path
from meshals._values import AnyValue, FrozenMap, OpaqueJson
from meshals.model._als import EnvoyInternalAddress, PipeAddress, SocketAddress

__all__ = ["Limits"]

_MIB: Final = 1024 * 1024


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    # bool is an int, but Limits(max_entries=True) is surely a mistake.
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be a positive int, not {value!r}")


# The compiled decoder looks its callbacks' context up by the Limits of every message: the
# hash of five ints, computed once (cache_hash) rather than by Python code per message.
@attrs.frozen(kw_only=True, cache_hash=True)
class Limits:
    """Resource limits for decoding; every field has a safe default.

    Attributes:
        max_message_size: the largest serialized message accepted, in bytes (for ``str``
            input to :func:`~meshals.decode_json`, in characters). Default 64 MiB.
        max_entries: the most log entries one message may hold. Default 100,000 (Envoy
            flushes a few dozen at a time).
        max_nesting_depth: how deep ``Struct``/``ListValue`` values (JSON objects and arrays
            in metadata and ``Any`` payloads) may nest; a ``Struct`` of scalars has depth 1.
            Default 24. Binary input is also bound by protobuf's own limit of 100 nested
            messages, which allows about 30 levels of ``Struct``.
        max_string_length: the longest string (in characters) or bytes value (in bytes),
            map keys included. Default 1 MiB.
        max_diagnostics: the most diagnostics one message keeps in lenient mode; past it,
            one more says how many were left out. Default 1,000.

    Raises:
        ValueError: a limit is not a positive int.

    >>> Limits(max_entries=10).max_entries, Limits().max_nesting_depth
    (10, 24)
    >>> Limits(max_entries=0)
    Traceback (most recent call last):
    ...
    ValueError: max_entries must be a positive int, not 0
    """

    max_message_size: int = attrs.field(default=64 * _MIB, validator=_positive)
    max_entries: int = attrs.field(default=100_000, validator=_positive)
    max_nesting_depth: int = attrs.field(default=24, validator=_positive)
    max_string_length: int = attrs.field(default=_MIB, validator=_positive)
    max_diagnostics: int = attrs.field(default=1000, validator=_positive)


#: The limits the decoders use when given none.
DEFAULT_LIMITS: Final = Limits()


def too_deep(max_depth: int) -> str:
    """The reason given for a value nested deeper than *max_depth* levels."""
    return f"nested too deeply: more than {max_depth} levels of objects and arrays"


class LimitExceeded(Exception):  # noqa: N818 -- internal, never escapes the decoders
    """A value breaks a limit. Internal: the decoders turn it into a DecodeError or skip.

    ``field`` is filled in by the innermost caller that knows the field path.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def locate(self, field: str) -> None:
        """Set the field path, unless a caller nearer the value has set it already."""
        if self.field is None:
            self.field = field


class DiagnosticRecorder:
    """Where a decoder is in its input, and what it does about a problem there: raise it in
    strict mode; otherwise keep it, up to ``limits.max_diagnostics``, and count the rest.

    The binary and the JSON decoders' contexts build on this, so both bound and report alike.
    """

    __slots__ = ("diagnostics", "left_out", "limits", "message_index", "source", "strict")

    def __init__(
        self, *, source: str, message_index: int | None, strict: bool, limits: Limits
    ) -> None:
        self.source = source
        self.message_index = message_index
        self.strict = strict
        self.limits = limits
        self.diagnostics: list[Diagnostic] = []
        self.left_out = 0  # diagnostics past limits.max_diagnostics

    def record(
        self, field: str | None, entry_index: int | None, reason: str, *, kind: DiagnosticKind
    ) -> None:
        """Raise (strict) or keep a problem at an absolute *field* path of the message.

        Raises:
            DecodeError: in strict mode.
        """
        if self.strict:
            raise DecodeError(
                reason,
                source=self.source,
                message_index=self.message_index,
                entry_index=entry_index,
                field=field,
            )
        if len(self.diagnostics) < self.limits.max_diagnostics:
            location = Location(
                source=self.source,
                message_index=self.message_index,
                entry_index=entry_index,
                field=field,
            )
            self.diagnostics.append(Diagnostic(kind=kind, location=location, reason=reason))
        else:
            self.left_out += 1

    def message_diagnostics(self) -> tuple[Diagnostic, ...]:
        """The kept diagnostics, then one that counts those left out past the limit."""
        if not self.left_out:
            return tuple(self.diagnostics)
        summary = Diagnostic(
            kind=DiagnosticKind.NOT_LISTED,
            location=Location(source=self.source, message_index=self.message_index),
            reason=(
                f"{self.left_out} more problems not listed"
                f" (max_diagnostics is {self.limits.max_diagnostics})"
            ),
        )
        return (*self.diagnostics, summary)


@attrs.frozen
class TooLong:
    """A string or bytes value longer than ``max_string_length``: where, and how long."""

    field: str  # relative to the object searched, in protobuf field names
    length: int
    unit: str  # "characters" or "bytes"

    def reason(self, limit: int) -> str:
        return f"a value of {self.length} {self.unit} is longer than the maximum of {limit}"


_ADDRESS_MEMBERS: Final[dict[type, str]] = {
    SocketAddress: "socket_address",
    PipeAddress: "pipe",
    EnvoyInternalAddress: "envoy_internal_address",
}


def find_too_long(value: object, limit: int) -> TooLong | None:
    """The first string, bytes value or map key in *value* longer than *limit*, or None.

    *value* is a model object (an entry, an identifier): attrs instances, tuples,
    :class:`FrozenMap` and ``Any`` values are searched in field order, iteratively (depth
    costs no recursion). The path uses protobuf field names, address oneof members included.
    """
    if not _holds_longer(value, limit):  # the quick answer, almost always
        return None
    for path, item in _leaves(value):
        if len(item) > limit:
            return TooLong(path, len(item), "characters" if isinstance(item, str) else "bytes")
    return None  # pragma: no cover -- _holds_longer found one


# Class -> a getter of all its attrs field values as a tuple (operator.attrgetter, in C), or
# None for a class that is not an attrs class.
_GETTERS: dict[type, Callable[[object], tuple[object, ...]] | None] = {}


def _values_of(value: object) -> tuple[object, ...] | None:
    """The field values of an attrs instance, or None if *value* is not one."""
    kind = type(value)
    try:
        getter = _GETTERS[kind]
    except KeyError:
        getter = _GETTERS[kind] = _getter(kind)
    return None if getter is None else getter(value)


def _getter(kind: type) -> Callable[[object], tuple[object, ...]] | None:
    if not attrs.has(kind):
        return None
    names = [field.name for field in attrs.fields(kind)]
    # attrgetter gives a bare value, not a 1-tuple, for one name: ask for it twice.
    return attrgetter(*names, names[0]) if len(names) == 1 else attrgetter(*names)


def _holds_longer(root: object, limit: int) -> bool:
    """Whether a str/bytes value or map key under *root* is longer than *limit* (no paths)."""
    stack = [root]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is FrozenMap:
            for key, item in value.items():  # type: ignore[attr-defined]
                if len(key) > limit:  # the model's map keys are all strings
                    return True
                stack.append(item)
        elif kind is tuple:
            stack.extend(value)  # type: ignore[arg-type]
        elif isinstance(value, (str, bytes)):
            if len(value) > limit:
                return True
        elif kind is not int and kind is not bool and kind is not float and value is not None:
            fields = _values_of(value)
            if fields is not None:
                stack.extend(fields)
    return False


def _leaves(root: object) -> Iterator[tuple[str, str | bytes]]:
    """``(path, value)`` for every str/bytes value and map key under *root*, in field order."""
    stack: list[tuple[str, object]] = [("", root)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, (str, bytes)):
            yield path, value
        elif isinstance(value, FrozenMap):
            children = []
            for key, item in value.items():
                where = map_entry_path(path, _shortened(key))
                yield where, key
                children.append((where, item))
            stack.extend(reversed(children))
        elif isinstance(value, tuple):
            stack.extend(
                (f"{path}[{index}]", value[index]) for index in range(len(value) - 1, -1, -1)
            )
        elif isinstance(value, AnyValue):
            yield _join(path, "type_url"), value.type_url
            stack.append((_join(path, "value"), value.value))
        elif isinstance(value, OpaqueJson):
            stack.append((path, value.fields))
        elif attrs.has(type(value)):
            member = _ADDRESS_MEMBERS.get(type(value))
            if member is not None:
                path = _join(path, member)
            stack.extend(
                (_join(path, field.name), getattr(value, field.name))
                for field in reversed(attrs.fields(type(value)))  # type: ignore[arg-type]
            )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shortened(key: str) -> str:
    # The key may be the over-long value itself: the path shows its start only.
    return key if len(key) <= 40 else key[:37] + "..."
