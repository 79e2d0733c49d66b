"""The public namespaces are exactly what their __all__ says, and every name in them is importable.

``meshals`` holds the everyday names, each stage package (``meshals.model`` ...) its own; the
names that moved from ``meshals`` to a package, and ``meshals.export``'s to ``meshals.output``,
still work for one release with a DeprecationWarning that names their new place.
"""

from __future__ import annotations

import importlib
import re
import sys
import types

import pytest

import meshals
import meshals.export
import meshals.output


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


STAGES = ("model", "codec", "capture", "resolve", "mesh", "aggregate", "output", "cli")


@pytest.mark.parametrize("stage", STAGES)
def test_a_package_all_is_its_public_names(stage: str) -> None:
    package = importlib.import_module(f"meshals.{stage}")
    assert package.__doc__, "each package says what it holds"
    assert len(set(package.__all__)) == len(package.__all__), "a name is listed twice"
    for name in package.__all__:
        assert hasattr(package, name), name
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} - set(package.__all__) == set()


def test_the_everyday_names_are_the_packages_objects() -> None:
    """``meshals.read`` is ``meshals.capture.read``: one object, wherever it is imported from."""
    for name in meshals.__all__:
        homes = [
            stage for stage in STAGES if name in importlib.import_module(f"meshals.{stage}").__all__
        ]
        assert len(homes) <= 1, (name, homes)
        for stage in homes:
            assert getattr(meshals, name) is getattr(
                importlib.import_module(f"meshals.{stage}"), name
            )


def test_moved_names_are_no_longer_top_level_names() -> None:
    assert set(meshals._MOVED) & set(meshals.__all__) == set()
    assert set(meshals._MOVED) & set(dir(meshals)) == set()
    for name, package in meshals._MOVED.items():
        if name != "export":
            assert name in importlib.import_module(package).__all__, f"{package}.{name}"


@pytest.mark.parametrize("name", sorted(set(meshals._MOVED) - {"export"}))
def test_a_moved_name_still_works_with_a_warning_naming_its_new_place(name: str) -> None:
    package = meshals._MOVED[name]
    new_place = re.escape(f"{package}.{name}")
    with pytest.warns(
        DeprecationWarning, match=rf"^meshals\.{name} is deprecated .*; use {new_place}$"
    ):
        value = getattr(meshals, name)
    assert value is getattr(importlib.import_module(package), name)


def test_meshals_export_still_works_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing meshals.export made it an attribute of meshals; the deprecated access is the
    # one through meshals' __getattr__.
    monkeypatch.delattr(meshals, "export")
    with pytest.warns(
        DeprecationWarning, match=r"^meshals\.export is deprecated .*; use meshals\.output"
    ):
        module = meshals.export
    assert module is sys.modules["meshals.export"]


@pytest.mark.parametrize("name", sorted(meshals.export._NAMES))
def test_a_meshals_export_name_is_the_meshals_output_name(name: str) -> None:
    with pytest.warns(
        DeprecationWarning,
        match=rf"^meshals\.export\.{name} is deprecated .*; use meshals\.output\.{name}$",
    ):
        value = getattr(meshals.export, name)
    assert value is getattr(meshals.output, name)


def test_meshals_export_skywalking_is_meshals_output_skywalking() -> None:
    with pytest.warns(DeprecationWarning, match=r"use meshals\.output\.skywalking$"):
        skywalking = meshals.export.skywalking
    assert skywalking is meshals.output.skywalking


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        meshals.nothing  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'to_dot'"):
        meshals.export.to_dot  # noqa: B018
