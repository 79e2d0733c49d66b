"""Fast constructors of frozen attrs values: every field written straight into its slot.

attrs' generated ``__init__`` of a frozen class sets each field through
``object.__setattr__`` (about 85 ns a field, 3.5 µs for the 34 of ``AccessLogCommon``), and
keyword arguments cost as much again. The decoders and the analysis build several such
objects per entry, so on their hot paths they use the constructors made here instead:
``object.__new__`` and one slot write per field through the slot's own descriptor, with the
fields as positional parameters in attrs' field order (``attrs.fields(cls)``), all required.

A constructor is generated from the class's fields, so a field added to the class is a
parameter the callers must pass (a missing one is a TypeError, never a silent default), and
it is made only for a class whose ``__init__`` does nothing but store its arguments: slotted,
no converters, validators, ``on_setattr`` hooks or ``__attrs_post_init__``. The objects are the
class's own instances, indistinguishable from those of its ``__init__`` (tested field by field
for every constructor, in ``tests/model/test_construct.py``).

The decoders and the analysis take their constructors from
:func:`meshals.codec._compiled.slot_constructor`: these, or where the optional extension is
built, their compiled form, which makes the same objects by the same writes in C.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs

__all__: list[str] = []

_T = TypeVar("_T")

# Every constructor made, by class: the test checks each against the class's own __init__.
CONSTRUCTORS: dict[type, Callable[..., Any]] = {}


def slot_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A function ``(field_1, field_2, ...) -> cls`` that writes each field into its slot.

    Args:
        cls: a slotted attrs class whose ``__init__`` only stores its arguments.

    Returns:
        The constructor: positional parameters named and ordered as ``attrs.fields(cls)``.

    Raises:
        TypeError: *cls* is no such class (its ``__init__`` would do more than store).
    """
    made: Callable[..., _T] | None = CONSTRUCTORS.get(cls)
    if made is not None:
        return made
    names, descriptors = slot_fields(cls)
    # The slot descriptors' own setters: frozen classes refuse setattr, their slots do not.
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def new_{cls.__name__}({', '.join(names)}):", "    self = _new(_cls)"]
    for name, descriptor in zip(names, descriptors, strict=True):
        namespace[f"_set_{name}"] = descriptor.__set__
        lines.append(f"    _set_{name}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # the source is built from field names only
    constructor: Callable[..., _T] = namespace[f"new_{cls.__name__}"]
    constructor.__qualname__ = f"slot_constructor({cls.__qualname__})"
    CONSTRUCTORS[cls] = constructor
    return constructor


def slot_fields(cls: type) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The names of *cls*'s fields in attrs' order, and the slot descriptor of each.

    The compiled accelerator (``meshals.codec._accelerated``) writes slots through these.

    Raises:
        TypeError: *cls* is no slotted attrs class whose ``__init__`` only stores its fields.
    """
    fields = attrs.fields(cast("type[attrs.AttrsInstance]", cls))
    slots = getattr(cls, "__slots__", None)
    plain = (
        slots is not None
        and "__dict__" not in slots
        and not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "__attrs_pre_init__")
        and all(
            field.converter is None
            and field.validator is None
            and field.on_setattr in (None, attrs.setters.NO_OP)
            and field.init
            and field.alias == field.name
            for field in fields
        )
    )
    if not plain:
        raise TypeError(f"{cls.__qualname__}'s __init__ does more than store its fields")
    names = tuple(field.name for field in fields)
    return names, tuple(_slot(cls, name) for name in names)


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot *name*, from the class in *cls*'s MRO that defines it."""
    for klass in cls.__mro__:
        descriptor = vars(klass).get(name)
        if isinstance(descriptor, types.MemberDescriptorType):
            return descriptor
    raise TypeError(f"{cls.__qualname__} has no slot {name!r}")  # pragma: no cover
