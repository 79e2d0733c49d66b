"""Both binary decoding paths on one input, and an object-for-object comparison of results.

Used by the accelerator's differential tests (``tests/codec/test_accel.py`` and
``tests/property/test_accel.py``); :func:`json_paths` does the same for JSON's three paths
(``tests/codec/test_json_compiled.py``). ``==`` is not enough: an ``IntEnum`` member equals its
int, and ``AlsMessage`` leaves ``source``, ``index`` and ``diagnostics`` out of equality; so
:func:`assert_identical` walks both values and compares types as well as values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from meshals import AlsMessage, DecodeError, decode_binary, decode_json
from meshals.codec import _accelerated
from meshals.codec._accelerated import pure_path
from meshals.codec._json_fast import walk_only
from meshals.codec._limits import DEFAULT_LIMITS, Limits

__all__ = ["assert_identical", "both_paths", "counting_accelerator"]


def assert_identical(left: Any, right: Any, path: str = "") -> None:
    """Fail, saying where, unless *left* and *right* are the same values of the same types."""
    assert type(left) is type(right), f"{path}: {type(left).__name__} != {type(right).__name__}"
    if attrs.has(type(left)):
        for field in attrs.fields(type(left)):
            name = field.name
            assert_identical(getattr(left, name), getattr(right, name), f"{path}.{name}")
    elif isinstance(left, tuple):
        assert len(left) == len(right), f"{path}: {len(left)} != {len(right)} items"
        for position, (one, other) in enumerate(zip(left, right, strict=True)):
            assert_identical(one, other, f"{path}[{position}]")
    elif isinstance(left, frozenset):
        assert left == right, f"{path}: {left} != {right}"
        for item in left:
            other = next(candidate for candidate in right if candidate == item)
            assert_identical(item, other, f"{path}{{{item!r}}}")
    elif hasattr(left, "items") and hasattr(left, "keys"):  # FrozenMap
        assert list(left.keys()) == list(right.keys()), f"{path}: keys differ"
        for key, value in left.items():
            assert_identical(value, right[key], f"{path}[{key!r}]")
    elif isinstance(left, float) and math.isnan(left):
        assert math.isnan(right), f"{path}: nan != {right!r}"
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


Outcome = tuple[str, Any]  # ("message", AlsMessage) or ("error", the DecodeError's facts)


def _outcome(decode: Callable[[], AlsMessage]) -> Outcome:
    try:
        return "message", decode()
    except DecodeError as error:
        return "error", (str(error), error.field, error.entry_index, error.message_index)


def both_paths(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS, index: int = 3
) -> tuple[Outcome, AlsMessage | None]:
    """Decode *data* both ways, assert identical outcomes; (the outcome, the fast answer)."""

    def decode() -> AlsMessage:
        return decode_binary(data, source="case", index=index, strict=strict, limits=limits)

    with pure_path():
        pure = _outcome(decode)
    fast = _accelerated.decode_accelerated(data, "case", index, limits)
    accelerated = _outcome(decode)
    assert pure[0] == accelerated[0], (pure, accelerated)
    assert_identical(pure[1], accelerated[1])
    if fast is not None:
        assert pure[0] == "message"
        assert_identical(pure[1], fast)
    return pure, fast


def json_paths(
    text: str | bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS, index: int = 3
) -> Outcome:
    """Decode *text* three ways, assert identical outcomes; the outcome.

    The default (the compiled converter, orjson where installed), the generated converters
    alone (:func:`pure_path`: json.loads and Python), and the walk alone (also
    :func:`walk_only`).
    """

    def decode() -> AlsMessage:
        return decode_json(text, source="case", index=index, strict=strict, limits=limits)

    default = _outcome(decode)
    with pure_path():
        generated = _outcome(decode)
        with walk_only():
            walked = _outcome(decode)
    for other in (generated, walked):
        assert default[0] == other[0], (default, other)
        assert_identical(default[1], other[1])
    return default


class counting_accelerator:  # noqa: N801 -- used as a context manager, like a function
    """Within the ``with`` block, count the messages the compiled decoder took and left."""

    def __init__(self) -> None:
        self.taken = 0
        self.left = 0
        self._saved: Any = None

    def __enter__(self) -> counting_accelerator:
        module = _accelerated._ACCEL
        assert module is not None
        self._saved = module
        counter = self
        real_decode = module.decode

        class Counting:
            @staticmethod
            def decode(*args: Any) -> AlsMessage | None:
                result: AlsMessage | None = real_decode(*args)
                if result is None:
                    counter.left += 1
                else:
                    counter.taken += 1
                return result

        setattr(_accelerated, "_ACCEL", Counting)  # noqa: B010 -- a Final name, swapped here only
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(_accelerated, "_ACCEL", self._saved)  # noqa: B010
