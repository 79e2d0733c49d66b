"""The slot constructors make the same objects as the classes' own __init__, field for field."""

from __future__ import annotations

import inspect
import pickle
import weakref

import attrs
import pytest

import meshals.codec
import meshals.mesh
from meshals.mesh._addresses import Endpoint
from meshals.model import HttpEntry
from meshals.model._construct import CONSTRUCTORS, slot_constructor

# Importing the decoders and the analysis makes their constructors (at module level).
PACKAGES = (meshals.codec, meshals.mesh)

# The hot paths' classes: each must have a constructor once the packages are imported.
EXPECTED = {
    "AccessLogCommon",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "AlsMessage",
    "ServiceMeshMetric",
    "EntryTimings",
    "MetricOrigin",
    "Endpoint",
    "_StepOutcome",
    "StreamMessage",
}


def _name(cls: type) -> str:
    return cls.__qualname__


CLASSES = sorted(CONSTRUCTORS, key=_name)


def test_the_hot_classes_have_constructors() -> None:
    assert {cls.__name__ for cls in CONSTRUCTORS} >= EXPECTED


@pytest.mark.parametrize("cls", CLASSES)
def test_a_constructor_takes_every_field_in_order(cls: type) -> None:
    parameters = inspect.signature(CONSTRUCTORS[cls]).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == [
        (field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)
        for field in attrs.fields(cls)
    ]


@pytest.mark.parametrize("cls", CLASSES)
def test_a_constructor_makes_what_init_makes(cls: type) -> None:
    # A distinct value per field: a field written into the wrong slot, or not at all, shows.
    values = {field.name: f"value of {field.name}" for field in attrs.fields(cls)}
    fast = CONSTRUCTORS[cls](*values.values())
    slow = cls(**values)
    assert type(fast) is cls
    for field in attrs.fields(cls):
        assert getattr(fast, field.name) is values[field.name], field.name
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    weakref.ref(fast)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.__setattr__(attrs.fields(cls)[0].name, "changed")


def test_a_missing_field_is_an_error() -> None:
    new_endpoint = CONSTRUCTORS[Endpoint]
    with pytest.raises(TypeError, match="port"):
        new_endpoint("10.0.0.1")


def test_the_constructor_of_a_class_is_made_once() -> None:
    assert slot_constructor(HttpEntry) is CONSTRUCTORS[HttpEntry]


@attrs.frozen
class _Converted:
    value: int = attrs.field(converter=int)


@attrs.frozen
class _Validated:
    value: int = attrs.field(validator=attrs.validators.instance_of(int))


@attrs.frozen
class _PostInit:
    value: int

    def __attrs_post_init__(self) -> None:
        pass


@attrs.frozen(slots=False)
class _NotSlotted:
    value: int


@attrs.frozen
class _Aliased:
    _value: int


@pytest.mark.parametrize("cls", [_Converted, _Validated, _PostInit, _NotSlotted, _Aliased])
def test_a_class_whose_init_does_more_is_refused(cls: type) -> None:
    with pytest.raises(TypeError, match="does more than store its fields"):
        slot_constructor(cls)
