"""The public namespace is exactly what __all__ says, and every name in it is importable."""

from __future__ import annotations

import types

import meshals


def test_all_names_exist_and_are_public() -> None:
    for name in meshals.__all__:
        assert hasattr(meshals, name), name
    public = {
        name
        for name, value in vars(meshals).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} - set(meshals.__all__) == set()


def test_dir_is_all() -> None:
    assert dir(meshals) == sorted(meshals.__all__)


def test_version_is_a_string() -> None:
    assert meshals.__version__ == "0.1.0.dev0"
