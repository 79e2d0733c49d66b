"""The compiled slot constructors (``_accel.constructor``) make what the pure ones make.

The decoders and the analysis build their per-entry objects with
:func:`meshals.codec._compiled.slot_constructor`: compiled where the extension is built (CI
requires it), else :func:`meshals.model._construct.slot_constructor`, which
``tests/model/test_construct.py`` checks against the classes' own ``__init__``. Here every
compiled constructor is checked against the pure one, and the extension's refusals.
"""

from __future__ import annotations

import pickle
import re
import weakref

import attrs
import pytest

import meshals.codec
import meshals.mesh
from meshals.codec import _compiled
from meshals.mesh._addresses import Endpoint
from meshals.model import HttpEntry, HttpRequest
from meshals.model._construct import CONSTRUCTORS, slot_fields
from meshals.model._metrics import ServiceMeshMetric

pytestmark = pytest.mark.skipif(
    _compiled.EXTENSION is None, reason="the extension is not built (python tools/build_accel.py)"
)

# Importing the decoders and the analysis makes their constructors (at module level).
PACKAGES = (meshals.codec, meshals.mesh)

CLASSES = sorted(_compiled.COMPILED, key=lambda cls: cls.__qualname__)


def test_every_constructor_made_is_compiled() -> None:
    # The decoders and the analysis make theirs through _compiled (tests/model/test_construct.py
    # lists the hot classes among them): none is left pure where the extension is built.
    assert set(_compiled.COMPILED) == set(CONSTRUCTORS)


def test_the_constructor_of_a_class_is_made_once() -> None:
    made = _compiled.COMPILED[HttpEntry]
    assert _compiled.slot_constructor(HttpEntry) is made
    assert _compiled.COMPILED[HttpEntry] is made


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_a_compiled_constructor_makes_what_the_pure_one_makes(cls: type) -> None:
    # A distinct value per field: a field written into the wrong slot, or not at all, shows.
    values = [f"value of {field.name}" for field in attrs.fields(cls)]
    fast = _compiled.COMPILED[cls](*values)
    pure = CONSTRUCTORS[cls](*values)
    assert type(fast) is cls
    for field, value in zip(attrs.fields(cls), values, strict=True):
        assert getattr(fast, field.name) is value, field.name
    assert fast == pure
    assert hash(fast) == hash(pure)
    assert repr(fast) == repr(pure)
    assert pickle.loads(pickle.dumps(fast)) == pure
    assert weakref.ref(fast)() is fast
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.__setattr__(attrs.fields(cls)[0].name, "changed")


@pytest.mark.parametrize("count", [0, 1, 21, 23])
def test_a_wrong_number_of_fields_is_an_error(count: int) -> None:
    new_metric = _compiled.COMPILED[ServiceMeshMetric]
    message = f"ServiceMeshMetric() takes 22 positional arguments but {count} were given"
    with pytest.raises(TypeError, match=re.escape(message)):
        new_metric(*range(count))


def test_fields_by_keyword_are_refused() -> None:
    with pytest.raises(TypeError, match="keyword arguments"):
        _compiled.COMPILED[Endpoint](ip="10.0.0.1", port=80)


def test_the_extension_refuses_what_is_no_slot_of_the_class() -> None:
    assert _compiled.EXTENSION is not None
    constructor = _compiled.EXTENSION.constructor
    request_slots = slot_fields(HttpRequest)[1]
    with pytest.raises(TypeError, match="is no slot descriptor of"):
        constructor(HttpEntry, request_slots[:4])  # another class's slots
    with pytest.raises(TypeError, match="is no slot descriptor of"):
        constructor(HttpEntry, (property(lambda self: 0),))
    with pytest.raises(TypeError, match="has a __new__ of its own"):
        constructor(int, ())
    with pytest.raises(TypeError):
        constructor(HttpEntry, list(slot_fields(HttpEntry)[1]))  # not a tuple


@attrs.frozen
class _PostInit:
    value: int

    def __attrs_post_init__(self) -> None:
        pass


def test_a_class_whose_init_does_more_is_refused() -> None:
    with pytest.raises(TypeError, match="does more than store its fields"):
        _compiled.slot_constructor(_PostInit)
    assert _PostInit not in _compiled.COMPILED
