"""Public value objects cannot be changed: every public attrs class, FrozenMap, and real data.

Each public attrs class (found in ``meshals.__all__``, so a new one is covered as it is added)
gets an instance built from its field types; setting, deleting and adding attributes must
fail. FrozenMap refuses item assignment and has no mutating methods. Then the objects that
decoding and analysis produce from real fixtures are walked: everything reachable from them
is of an immutable type, so nothing can be changed through a field either.
"""

from __future__ import annotations

import enum
import numbers
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshals
from meshals import KubernetesResolver, analyze, read
from meshals.model import FrozenMap

FIXTURES = Path(__file__).parents[1] / "fixtures"

PUBLIC_ATTRS_CLASSES = sorted(
    (
        value
        for name in meshals.__all__
        if isinstance(value := getattr(meshals, name), type) and attrs.has(value)
    ),
    key=lambda cls: cls.__name__,
)


def sample(annotation: Any, depth: int = 0) -> Any:
    """A value of the type *annotation* (resolved), as simple as the type allows."""
    origin = typing.get_origin(annotation)
    if annotation is type(None) or annotation is None:
        return None
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        # Prefer a non-None member, to build as much of the object as possible.
        chosen = next((member for member in members if member is not type(None)), None)
        return sample(chosen, depth)
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin is tuple:
        return ()
    if origin in (frozenset, set):
        return frozenset()
    if origin is FrozenMap or annotation is FrozenMap:
        return FrozenMap()
    if origin in (Mapping, dict) or annotation in (Mapping, dict):
        return FrozenMap()
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation))
        if annotation is bool:
            return True
        if annotation is str:
            return "x"
        if annotation is bytes:
            return b"x"
        if issubclass(annotation, numbers.Number):  # int, float, Fraction, ...
            return annotation(1)  # type: ignore[call-arg]
        if attrs.has(annotation) and depth < 4:
            return build(annotation, depth + 1)
    if annotation is object or annotation is Any:
        return "x"
    raise NotImplementedError(f"no sample for {annotation!r}")  # pragma: no cover


def build(cls: type, depth: int = 0) -> Any:
    """An instance of the attrs class *cls*, its required fields filled in from their types."""
    hints = typing.get_type_hints(cls)
    arguments = {}
    for field in attrs.fields(cls):
        if field.default is attrs.NOTHING and field.init:
            name = field.alias or field.name
            arguments[name] = sample(hints[field.name], depth)
    return cls(**arguments)


@pytest.mark.parametrize("cls", PUBLIC_ATTRS_CLASSES, ids=lambda cls: cls.__name__)
def test_attrs_classes_are_frozen(cls: type) -> None:
    instance = build(cls)
    hash(instance)
    for field in attrs.fields(cls):
        value = getattr(instance, field.name)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(instance, field.name, value)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(instance, field.name)
        assert getattr(instance, field.name) is value
    with pytest.raises((attrs.exceptions.FrozenInstanceError, AttributeError)):
        instance.not_a_field = 1
    assert not hasattr(instance, "__dict__"), "slotted: no per-instance dict to write into"


def test_the_public_attrs_classes_are_found() -> None:
    names = {cls.__name__ for cls in PUBLIC_ATTRS_CLASSES}
    assert {"AlsMessage", "HttpEntry", "ServiceMeshMetric", "Accounting", "Diagnostic"} <= names


FROZEN_MAP = FrozenMap({"a": 1, "b": FrozenMap({"c": (2, 3)})})


def test_frozen_map_refuses_item_assignment() -> None:
    with pytest.raises(TypeError):
        FROZEN_MAP["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del FROZEN_MAP["a"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        FROZEN_MAP.extra = 1
    # Its own slots too: the hash is cached, so a changed dict would break every set using it.
    with pytest.raises(AttributeError):
        FROZEN_MAP._data = {}
    with pytest.raises(AttributeError):
        del FROZEN_MAP._hash
    for method in ("update", "pop", "popitem", "clear", "setdefault", "__setitem__", "__ior__"):
        assert not hasattr(FROZEN_MAP, method), method
    assert FROZEN_MAP == {"a": 1, "b": {"c": (2, 3)}}


def test_frozen_map_does_not_share_its_source() -> None:
    source = {"a": 1}
    frozen = FrozenMap(source)
    source["a"] = 2
    source["b"] = 3
    assert dict(frozen) == {"a": 1}


def test_frozen_map_views_do_not_mutate() -> None:
    keys = FROZEN_MAP.keys()
    with pytest.raises(AttributeError):
        keys.add("z")  # type: ignore[attr-defined]
    assert list(FROZEN_MAP) == ["a", "b"]


# --- real data: immutable all the way down ------------------------------------------------------

IMMUTABLE_LEAVES = (str, bytes, int, float, bool, type(None), enum.Enum, range)


def reachable(root: object) -> Iterator[object]:
    """Every value reachable from *root* through attrs fields, tuples, frozensets and maps."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        if isinstance(value, IMMUTABLE_LEAVES):
            continue
        if isinstance(value, FrozenMap):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (tuple, frozenset)):
            stack.extend(value)
        elif attrs.has(type(value)):
            names = [field.name for field in attrs.fields(type(value))]  # type: ignore[arg-type]
            stack.extend(getattr(value, name) for name in names)


def assert_deeply_immutable(root: object) -> None:
    for value in reachable(root):
        kind = type(value)
        assert isinstance(value, (*IMMUTABLE_LEAVES, tuple, frozenset, FrozenMap)) or (
            attrs.has(kind) and kind.__setattr__ is not object.__setattr__
        ), f"{kind.__name__} reachable from {type(root).__name__} is mutable"


CAPTURES = sorted((FIXTURES / "envoy").glob("*.bin")) + [
    FIXTURES / "skywalking" / name
    for name in ("envoy-ingress.msg", "envoy-mesh-client-sidecar.msg")
]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name)
def test_decoded_and_analysed_data_is_immutable_all_the_way_down(path: Path) -> None:
    resolver = KubernetesResolver.from_files([FIXTURES / "k8s" / "bookinfo-loopback.json"])
    messages = list(read(path))
    analysis = analyze(messages, resolver=resolver)
    metrics = analysis.metrics()
    for value in (*messages, *metrics, analysis.accounting, *analysis.diagnostics):
        assert_deeply_immutable(value)
        hash(value)


def test_frozen_map_views_are_the_data_read_only() -> None:
    assert list(FROZEN_MAP.items()) == [("a", 1), ("b", FROZEN_MAP["b"])]
    assert list(FROZEN_MAP.values()) == [1, FROZEN_MAP["b"]]
    assert FROZEN_MAP.items() == {("a", 1), ("b", FROZEN_MAP["b"])}
    with pytest.raises(TypeError):
        FROZEN_MAP.items().mapping["z"] = 0  # type: ignore[attr-defined]
    assert list(FROZEN_MAP) == ["a", "b"]
