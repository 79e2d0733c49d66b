"""Every docstring example in the library runs, against the installed package."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import meshals


def _library_modules() -> list[ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages(meshals.__path__, prefix="meshals.")
        if "._pb" not in info.name and not info.name.endswith("__main__")
    ]
    return [meshals, *(importlib.import_module(name) for name in sorted(names))]


@pytest.mark.parametrize("module", _library_modules(), ids=lambda module: module.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
