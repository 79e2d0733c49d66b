"""The compiled extension, loaded once by its switches, and the slot constructors it makes.

``meshals.codec._accel`` (``_accel.c``, built where a C compiler is available) holds the
compiled decoder (see :mod:`meshals.codec._accelerated`) and a compiled slot constructor.
Switches, read once at import: ``MESHALS_PURE=1`` never loads it; ``MESHALS_REQUIRE_ACCEL=1``
makes a missing or broken extension an ImportError (CI sets it, so that a failed build cannot
pass unnoticed).

:func:`slot_constructor` is :func:`meshals.model._construct.slot_constructor` compiled: the
same objects, built by the same writes (allocate, then each field into its slot: what the
slot descriptor's ``__set__`` stores, checked once when the constructor is made), in C rather
than in generated Python: 0.18 µs rather than 1.8 µs for the 22 fields of a
``ServiceMeshMetric``. The decoders and the analysis build several such objects for
every entry. (The model package cannot load the extension itself: it lies below the codec.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, TypeVar

from meshals.model import _construct

__all__: list[str] = []

PURE_VARIABLE: Final = "MESHALS_PURE"
REQUIRE_VARIABLE: Final = "MESHALS_REQUIRE_ACCEL"

_T = TypeVar("_T")


def _switch(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def pure_switch() -> bool:
    """Whether ``MESHALS_PURE`` is set: no compiled code, no optional speed-up (orjson)."""
    return _switch(PURE_VARIABLE)


def _load() -> ModuleType | None:
    if pure_switch():
        return None
    try:
        from meshals.codec import _accel  # optional: compiled where a C compiler was found
    except ImportError as exc:
        if _switch(REQUIRE_VARIABLE):
            raise ImportError(
                f"{REQUIRE_VARIABLE} is set, but the compiled decoder meshals.codec._accel"
                f" cannot be loaded: {exc}"
            ) from exc
        return None
    return _accel


#: The extension module, or None: not built here, or switched off.
EXTENSION: Final = _load()

# Every compiled constructor made, by class: the tests check each against the pure one.
COMPILED: dict[type, Callable[..., Any]] = {}


def slot_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A function ``(field_1, field_2, ...) -> cls`` that writes each field into its slot.

    Compiled when the extension is loaded (positional arguments only), else
    :func:`meshals.model._construct.slot_constructor`; both take the fields in attrs' order,
    all required, and accept only a slotted attrs class whose ``__init__`` only stores them.

    Raises:
        TypeError: *cls* is no such class.
    """
    # The pure constructor is made in any case: it checks the class, and the tests compare.
    pure = _construct.slot_constructor(cls)
    if EXTENSION is None:
        return pure
    made: Callable[..., _T] | None = COMPILED.get(cls)
    if made is None:
        made = EXTENSION.constructor(cls, _construct.slot_fields(cls)[1])
        COMPILED[cls] = made
    return made
