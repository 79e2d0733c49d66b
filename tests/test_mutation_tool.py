"""``tools/mutation.py``: module patterns, survivors named stably, the equivalent list current."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROCESS_CACHES, empty_process_caches

import meshals

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import mutation  # noqa: E402 -- a script in tools/, importable once on the path


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("src/meshals/mesh/_status.py", "meshals.mesh._status.*"),
        ("src/meshals/aggregate", "meshals.aggregate.*"),
        ("src/meshals/codec/", "meshals.codec.*"),
        ("meshals/model/_clusters.py", "meshals.model._clusters.*"),
    ],
)
def test_module_glob(path: str, pattern: str) -> None:
    assert mutation.module_glob(path) == pattern


def test_module_glob_rejects_other_paths() -> None:
    with pytest.raises(SystemExit, match=r"^not a path under src/meshals: tools/fuzz\.py$"):
        mutation.module_glob("tools/fuzz.py")


DIFF = """\
# meshals.mesh._status.x__header__mutmut_2: survived
--- src/meshals/mesh/_status.py
+++ src/meshals/mesh/_status.py
@@ -1,6 +1,6 @@
 def _header(headers: Mapping[str, str], name: str) -> str | None:
-    value = headers.get(name)
+    value = headers.get(None)
     if value is not None:
"""


def test_a_survivor_is_named_by_its_function_and_change() -> None:
    assert mutation.change_of("meshals.mesh._status.x__header__mutmut_2", DIFF) == (
        "meshals.mesh._status.x__header: value = headers.get(name) -> value = headers.get(None)"
    )
    assert mutation.module_of("meshals.aggregate._red.xǁRedKeyǁsort_key__mutmut_7") == (
        "meshals.aggregate._red"
    )


def test_every_reason_belongs_to_an_entry(tmp_path: Path) -> None:
    listed = tmp_path / "equivalent.txt"
    listed.write_text("# a comment\nm.x_f: a -> b\n    why\n    and more\n", encoding="utf-8")
    assert mutation.read_equivalent(listed) == {"m.x_f: a -> b": "why and more"}
    listed.write_text("m.x_f: a -> b\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="entries without a reason"):
        mutation.read_equivalent(listed)
    listed.write_text("    why\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="a reason without an entry above it"):
        mutation.read_equivalent(listed)


def test_listed_equivalents_still_name_code_that_exists() -> None:
    # An entry whose line is gone from its module is stale: remove it.
    for entry in mutation.read_equivalent():
        function, _, change = entry.partition(": ")
        module = function.rpartition(".")[0]
        source = (ROOT / "src" / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        lines = {line.strip() for line in source.splitlines()}
        # The old line may hold " -> " itself (a return annotation): try every split.
        pieces = change.split(" -> ")
        olds = [" -> ".join(pieces[:cut]) for cut in range(1, len(pieces))]
        assert any(all(line in lines for line in old.split(" / ")) for old in olds), entry


def test_fresh_verdicts_are_kept_only_for_the_same_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "fresh-verdicts.json"
    kept.write_text(
        '{"m.x_f__mutmut_1": {"diff": "a", "verdict": "killed"},'
        ' "m.x_f__mutmut_2": {"diff": "b", "verdict": "survived"}}',
        encoding="utf-8",
    )
    monkeypatch.setattr(mutation, "FRESH_VERDICTS", kept)
    # The second mutant's change is another since its verdict was kept: it is run again.
    assert mutation.kept_fresh({"m.x_f__mutmut_1": "a", "m.x_f__mutmut_2": "c"}) == {
        "m.x_f__mutmut_1": "killed"
    }
    monkeypatch.setattr(mutation, "FRESH_VERDICTS", tmp_path / "none.json")
    assert mutation.kept_fresh({"m.x_f__mutmut_1": "a"}) == {}


def test_a_fresh_run_takes_the_package_tests_and_mutmuts_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = {"meshals.codec._j.x_t": ["tests/b.py::t", "tests/a.py::t"]}
    stats = json.dumps({"tests_by_mangled_function_name": chosen})
    (tmp_path / "mutmut-stats.json").write_text(stats, encoding="utf-8")
    monkeypatch.setattr(mutation, "MUTANTS", tmp_path)
    assert mutation.tests_of("meshals.codec._j.x_t__mutmut_4") == [
        "tests/codec",
        "tests/a.py::t",
        "tests/b.py::t",
    ]
    assert mutation.tests_of("meshals.mesh._j.x_other__mutmut_1") == ["tests/mesh"]


# Run in a fresh process: a module-level container still empty right after import, or an
# lru_cache, is a cache filled as meshals runs (the tables built at import are full by then).
_FIND_CACHES = """
import functools, importlib, json, pkgutil
found = []
names = ["meshals.model._clusters"] + [
    f"meshals.{package}.{module.name}"
    for package in ("codec", "mesh", "aggregate")
    for module in pkgutil.iter_modules(importlib.import_module(f"meshals.{package}").__path__)
]
for name in names:
    for attribute, value in vars(importlib.import_module(name)).items():
        empty = isinstance(value, (dict, list, set)) and not value and attribute != "__all__"
        if empty or isinstance(value, functools._lru_cache_wrapper):
            found.append((name, attribute))
print(json.dumps(found))
"""


def test_every_process_cache_is_listed() -> None:
    # A cache the mutants' sessions do not empty keeps answers made without the mutant. The
    # fresh process imports the meshals these tests import (installed, or first on the path).
    output = subprocess.run(
        [sys.executable, "-c", _FIND_CACHES],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert {tuple(pair) for pair in json.loads(output)} == set(PROCESS_CACHES)


def test_the_caches_are_emptied() -> None:
    for suffix in ("bin", "jsonl"):  # both decoders, each with its caches
        with meshals.read(ROOT / "tests" / "fixtures" / "envoy" / f"details-http.{suffix}") as file:
            assert [message.index for message in file] == [0, 1, 2, 3]
    meshals.model.parse_istio_cluster("outbound|9080||details.default.svc.cluster.local")
    empty_process_caches()
    for module, attribute in PROCESS_CACHES:
        cache = getattr(importlib.import_module(module), attribute)
        size = cache.cache_info().currsize if hasattr(cache, "cache_info") else len(cache)
        assert size == 0, (module, attribute)


def test_again_skips_listed_survivors_and_those_killed_in_a_fresh_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diffs = {f"m.x_f__mutmut_{number}": f"-a\n+{number}" for number in range(1, 6)}
    monkeypatch.setattr(mutation, "diff_of", diffs.__getitem__)
    fresh = tmp_path / "fresh-verdicts.json"
    kept = {
        "m.x_f__mutmut_2": {"diff": "-a\n+2", "verdict": "killed"},
        "m.x_f__mutmut_3": {"diff": "-a\n+3", "verdict": "survived"},
        "m.x_f__mutmut_4": {"diff": "-a\n+changed since", "verdict": "killed"},
    }
    fresh.write_text(json.dumps(kept), "utf-8")
    monkeypatch.setattr(mutation, "FRESH_VERDICTS", fresh)
    verdicts = {
        "m.x_f__mutmut_1": "survived",
        "m.x_f__mutmut_2": "survived",
        "m.x_f__mutmut_3": "survived",
        "m.x_f__mutmut_4": "no tests",
        "m.x_f__mutmut_5": "survived",
        "m.x_f__mutmut_6": "killed",
    }
    equivalent = {"m.x_f: a -> 5": "why"}
    assert mutation.to_run_again(verdicts, equivalent) == [
        "m.x_f__mutmut_1",
        "m.x_f__mutmut_3",
        "m.x_f__mutmut_4",
    ]


def test_forgotten_verdicts_are_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = tmp_path / "src" / "meshals" / "mesh" / "_status.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"meshals.mesh._status.x_f__mutmut_1": 0, "meshals.mesh._status.x_f__mutmut_2": 1}
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}), "utf-8")
    fresh = tmp_path / "fresh-verdicts.json"
    fresh.write_text('{"meshals.mesh._status.x_f__mutmut_1": {}, "m.x_g__mutmut_1": {}}', "utf-8")
    monkeypatch.setattr(mutation, "MUTANTS", tmp_path)
    monkeypatch.setattr(mutation, "FRESH_VERDICTS", fresh)
    mutation.forget_verdicts(["meshals.mesh._status.x_f__mutmut_1"])
    assert json.loads(meta.read_text("utf-8")) == {
        "exit_code_by_key": {
            "meshals.mesh._status.x_f__mutmut_1": None,
            "meshals.mesh._status.x_f__mutmut_2": 1,
        },
        "durations_by_key": {},
    }
    assert json.loads(fresh.read_text("utf-8")) == {"m.x_g__mutmut_1": {}}
