"""Immutable Python values for protobuf's dynamic types: Struct/Value/ListValue and Any."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import TypeVar, Union, overload

import attrs

__all__ = ["AnyValue", "FrozenMap", "JsonValue", "OpaqueJson"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping that keeps insertion order.

    Equality is that of mappings (order does not matter), so a map decoded from JSON equals
    the same map decoded from binary protobuf even where the producers ordered keys differently.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        # object.__setattr__: this class's own __setattr__ refuses every change.
        object.__setattr__(self, "_data", dict(items) if items else {})
        object.__setattr__(self, "_hash", None)

    _data: dict[K, V]
    _hash: int | None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"FrozenMap is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"FrozenMap is immutable: cannot delete {name!r}")

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # Mapping's own get and __contains__ go through __getitem__ and an exception: these are
    # on the analysis hot path (headers, metadata), so ask the dict directly.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, /, default: V | T) -> V | T: ...
    def get(self, key: K, /, default: object = None) -> object:
        return self._data.get(key, default)

    # Mapping's views go through __iter__ and __getitem__; the dict's own views hold the same.
    def keys(self) -> KeysView[K]:
        """The keys, in insertion order (a read-only view)."""
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        """The values, in insertion order (a read-only view)."""
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        """The ``(key, value)`` pairs, in insertion order (a read-only view)."""
        return self._data.items()

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        return self._hash  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (FrozenMap, (self._data,))


# A google.protobuf.Value as a Python value: null, bool, number (always float, as in the
# protocol), string, list (a tuple) or struct (a FrozenMap). Immutable all the way down.
JsonValue = Union[None, bool, float, str, tuple["JsonValue", ...], "FrozenMap[str, JsonValue]"]


@attrs.frozen
class OpaqueJson:
    """The JSON body of an ``Any`` whose type meshals does not know (JSON input only)."""

    fields: FrozenMap[str, object]


@attrs.frozen(kw_only=True)
class AnyValue:
    """A ``google.protobuf.Any``.

    ``value`` is the decoded payload where the type is one meshals knows: the well-known types
    (``Struct`` → FrozenMap, ``Value``/``ListValue`` → JsonValue, wrappers → their scalar,
    ``Duration`` → int nanoseconds, ``Timestamp`` → int nanoseconds since the epoch,
    ``Empty`` → None). For any other type it is kept opaque: the serialized ``bytes`` from
    binary input, or an :class:`OpaqueJson` from JSON input (the JSON form cannot be turned
    back into bytes without the type's schema). An unknown type is never an error.
    """

    type_url: str
    value: object
    known: bool

    @property
    def type_name(self) -> str:
        """The full message name: the part of ``type_url`` after the last ``/``."""
        return self.type_url.rpartition("/")[2]
