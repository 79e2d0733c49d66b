"""Every machine-readable CLI output, on the real recordings, against its published JSON Schema.

The schemas in ``docs/reference/schemas/`` are written by ``tools/gen_schemas.py`` (the
inspect entry's from the typed model); these tests check that the committed files are what it
writes, that each is a valid draft 2020-12 schema, and that what ``inspect --json``,
``analyze --format jsonl``, ``stats --format jsonl`` (every scope), ``graph --format json`` and
``identities`` print over the Envoy, mx, ztunnel and SkyWalking recordings (and TLS captures
built from the Envoy ones) validates, line by line.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MtlsCapture, write_mtls_capture

from meshals import cli

jsonschema = pytest.importorskip("jsonschema", reason="the test group installs jsonschema")

ROOT = Path(__file__).parent.parent
SCHEMAS = ROOT / "docs" / "reference" / "schemas"
FIXTURES = ROOT / "tests" / "fixtures"
ENVOY = sorted((FIXTURES / "envoy").glob("*.bin"))
ENVOY_JSON = sorted((FIXTURES / "envoy").glob("*.jsonl"))
MX = sorted((FIXTURES / "mx").glob("*.bin"))
ZTUNNEL = [
    FIXTURES / "ztunnel" / "ambient-bookinfo.log",
    FIXTURES / "ztunnel" / "ambient-bookinfo.jsonl",
]
SKYWALKING = [
    FIXTURES / "skywalking" / f"envoy-{name}.msg"
    for name in ("ingress", "ingress2sidecar", "mesh-client-sidecar", "mesh-server-sidecar")
]
VARIED = [
    FIXTURES / "golden" / "inputs" / "varied.jsonl",
    FIXTURES / "golden" / "inputs" / "varied.bin",
]

sys.path.insert(0, str(ROOT / "tools"))

import gen_schemas  # noqa: E402 -- a script in tools/, importable once on the path


def schema(name: str) -> Any:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def validator(name: str) -> Any:
    return jsonschema.Draft202012Validator(
        schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    status = cli.main([str(arg) for arg in argv])
    out = capsys.readouterr().out
    assert status == 0
    return out


def lines(out: str) -> list[Any]:
    found = [json.loads(line) for line in out.splitlines()]
    assert found, "no output to validate"
    return found


def check(name: str, documents: list[Any]) -> None:
    check_against = validator(name)
    for index, document in enumerate(documents):
        errors = sorted(check_against.iter_errors(document), key=str)
        assert not errors, f"{name} line {index}: {errors[0].message} at {list(errors[0].path)}"


# --- the schema files -----------------------------------------------------------------------------


def test_the_schema_files_are_generated() -> None:
    files = gen_schemas.rendered()
    assert sorted(path.name for path in files) == sorted(
        path.name for path in SCHEMAS.glob("*.schema.json")
    )
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run tools/gen_schemas.py"
    assert gen_schemas.main(["--check"]) == 0


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_schema_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_the_schemas_page_lists_every_schema() -> None:
    page = (ROOT / "docs" / "reference" / "schemas.md").read_text(encoding="utf-8")
    for path in SCHEMAS.glob("*.schema.json"):
        assert f"schemas/{path.name}" in page


# --- inspect --json -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [ENVOY, ENVOY_JSON, MX, ZTUNNEL, SKYWALKING, VARIED],
    ids=["envoy", "envoy-json", "mx", "ztunnel", "skywalking", "varied"],
)
def test_inspect_json(capsys: pytest.CaptureFixture[str], files: list[Path]) -> None:
    check("inspect-entry", lines(run(capsys, "inspect", "--json", *files)))


# --- analyze --format jsonl -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--example", "bookinfo"],
        ["--example", "bookinfo", "--analyzer", "mx-mesh,k8s-mesh"],
        ["--analyzer", "mx-mesh", *MX],
        [ZTUNNEL[0]],
        SKYWALKING,
    ],
    ids=["envoy", "envoy-mx-mesh", "mx", "ztunnel", "skywalking"],
)
def test_analyze_jsonl(capsys: pytest.CaptureFixture[str], argv: list[str | Path]) -> None:
    check("analyze-metric", lines(run(capsys, "analyze", "--format", "jsonl", *argv)))


# --- stats --format jsonl -------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["service", "instance", "endpoint", "edge"])
@pytest.mark.parametrize("window", [None, "1s"])
def test_stats_jsonl(capsys: pytest.CaptureFixture[str], scope: str, window: str | None) -> None:
    windows = [] if window is None else ["--window", window]
    records = []
    for inputs in (["--example", "bookinfo"], [ZTUNNEL[0]], ["--analyzer", "mx-mesh", *MX]):
        argv = ["stats", "--by", scope, "--format", "jsonl", *windows, *inputs]
        records += [json.loads(line) for line in run(capsys, *argv).splitlines()]
    check(f"stats-{scope}", records)  # (ztunnel's TCP connections have no endpoint)


# --- graph --format json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inputs",
    [["--example", "bookinfo"], [ZTUNNEL[0]], ["--analyzer", "mx-mesh", *MX], SKYWALKING],
    ids=["envoy", "ztunnel", "mx", "skywalking"],
)
def test_graph_json(capsys: pytest.CaptureFixture[str], inputs: list[str | Path]) -> None:
    check("graph", [json.loads(run(capsys, "graph", "--format", "json", *inputs))])


def test_graph_and_edge_stats_of_a_tls_capture(
    capsys: pytest.CaptureFixture[str], mtls_capture: MtlsCapture
) -> None:
    inputs: list[str | Path] = ["--resolver", mtls_capture.resolver, *mtls_capture.files()]
    graph = json.loads(run(capsys, "graph", "--format", "json", *inputs))
    check("graph", [graph])
    assert any(edge["client_principals"] for edge in graph["edges"])
    check("stats-edge", lines(run(capsys, "stats", "--by", "edge", "--format", "jsonl", *inputs)))


def test_identities_json_and_jsonl(
    capsys: pytest.CaptureFixture[str], mtls_capture: MtlsCapture, tmp_path: Path
) -> None:
    conflicts = write_mtls_capture(tmp_path, conflicts=True)
    for capture in (mtls_capture, conflicts):
        inputs: list[str | Path] = ["--resolver", capture.resolver, *capture.files()]
        document = json.loads(run(capsys, "identities", "--format", "json", *inputs))
        check("identities", [document])
        assert document["workloads"]
        rows = lines(run(capsys, "identities", "--format", "jsonl", *inputs))
        assert rows == document["workloads"]
        check("identities", [{"workloads": rows, "conflicts": []}])
    assert [conflict["kind"] for conflict in document["conflicts"]] == ["workload", "identity"]
    for other in (["--example", "bookinfo"], [ZTUNNEL[0]]):
        check("identities", [json.loads(run(capsys, "identities", "--format", "json", *other))])


def test_graph_json_of_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    document = json.loads(run(capsys, "graph", "--format", "json", empty))
    assert (document["nodes"], document["edges"]) == ([], [])
    check("graph", [document])


# --- the schemas are strict -----------------------------------------------------------------------


def test_a_key_too_many_or_too_few_fails(capsys: pytest.CaptureFixture[str]) -> None:
    record = lines(
        run(capsys, "stats", "--by", "edge", "--format", "jsonl", "--example", "bookinfo")
    )[0]
    check("stats-edge", [record])
    for broken in (
        {**record, "surprise": 1},
        {key: value for key, value in record.items() if key != "errors_4xx"},
        {**record, "reporters": "client,server"},  # a list, not a joined string
        {**record, "health": "FAILING"},  # one spelling
    ):
        assert not validator("stats-edge").is_valid(broken)
    metric = lines(run(capsys, "analyze", "--format", "jsonl", "--example", "bookinfo"))[0]
    wrong = copy.deepcopy(metric)
    wrong["role"] = "SIDECAR"
    assert not validator("analyze-metric").is_valid(wrong)
    entry = lines(run(capsys, "inspect", "--json", ENVOY[0]))[0]
    check("inspect-entry", [entry])
    entry["entry"]["common_properties"]["response_flags"] = ["NO_ROUTE_FOUND"]
    assert not validator("inspect-entry").is_valid(entry)
