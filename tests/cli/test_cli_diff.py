"""``meshals diff BEFORE... -- AFTER...``: the bookinfo recordings against the same capture with
changes injected (tests/fixtures/diff)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import GRAPHVIZ_FALLBACK_NOTE

from meshals import cli

FIXTURES = Path(__file__).parents[1] / "fixtures"
BEFORE = [str(path) for path in sorted((FIXTURES / "envoy").glob("*.bin"))]
AFTER = str(FIXTURES / "diff" / "after")
RESOLVER = str(FIXTURES / "diff" / "resolver.json")
SUMMARY = "meshals: 12 files: 80 entries, 80 analyzed, 0 skipped, 90 metrics\n"
needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz' dot")

# What meshals prints, as the how-to shows it (review any change to it).
TABLE = (FIXTURES / "diff" / "table.txt").read_text(encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def diff(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str, str]:
    return run(capsys, "diff", "--resolver", RESOLVER, *BEFORE, "--", AFTER, *options)


def test_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert diff(capsys) == (0, TABLE, SUMMARY)


def test_options_may_stand_on_either_side(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", *BEFORE, "--", AFTER, "--resolver", RESOLVER, "-q")
    assert (status, out) == (0, TABLE)
    status, out, _ = run(capsys, "diff", *BEFORE, "--after", AFTER, "--resolver", RESOLVER)
    assert (status, out) == (0, TABLE)


def test_jobs_give_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert diff(capsys, "--jobs", "2") == (0, TABLE, SUMMARY)


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = diff(capsys, "--format", "jsonl")
    assert status == 0
    records: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]
    assert [(record["kind"], record["change"]) for record in records] == [
        ("service", "added"),
        ("service", "removed"),
        ("edge", "added"),
        ("edge", "removed"),
        *[("edge", "kept")] * 6,
        ("edge", "regressed"),
        ("edge", "kept"),
    ]
    assert records[0]["service"] == "reviews-v2"
    assert records[1]["service"] == "recommendations"
    regressed = records[10]
    assert (regressed["source"], regressed["destination"]) == ("productpage", "reviews")
    assert regressed["regressed"] == ["5xx"]
    assert regressed["errors_5xx"]["before"] == 2
    assert regressed["errors_5xx"]["after"] == 5
    assert regressed["errors_5xx"]["p_value"] == pytest.approx(0.03843393, abs=1e-8)


def test_json_is_the_comparison(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "changes.json"
    status, out, err = diff(capsys, "-o", str(output))
    assert (status, out) == (0, "")
    assert err.endswith(f"meshals: wrote the comparison to {output}\n")
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["alpha"] == 0.05
    assert document["services_added"] == ["reviews-v2"]
    assert document["services_removed"] == ["recommendations"]
    assert document["period_before"] == document["period_after"]


def test_alpha(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = diff(capsys, "--alpha", "0.01", "-q")
    assert status == 0
    assert "regressed" not in out.replace("regressed:", "")
    assert out.endswith("with p < 0.01 (pooled two-proportion z-test); 0 of 8 edges in both\n")


def test_dot_marks_what_changed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = diff(capsys, "--format", "dot")
    assert status == 0
    lines = out.splitlines()
    assert (
        '  "productpage" -> "reviews-v2" [label="new: 0.33/s", color="#3f9c35",'
        ' fontcolor="#3f9c35", style=solid, penwidth=2.5];'
    ) in lines
    assert (
        '  "productpage" -> "recommendations" [label="gone: was 0.33/s", color="#8a8d90",'
        ' fontcolor="#8a8d90", style=dashed, penwidth=1.5];'
    ) in lines
    assert (
        '  "productpage" -> "reviews" [label="1.64/s -> 1.64/s\\n5xx 40% -> 100% (p=0.0384)'
        '\\np99 250.96 -> 250.96 ms", color="#c9190b", fontcolor="#c9190b", style=solid,'
        " penwidth=3.5];"
    ) in lines
    assert (
        '  "reviews-v2" [label="reviews-v2\\n(new)", shape=box, color="#3f9c35",'
        ' style="rounded,filled,solid", penwidth=2.5];'
    ) in lines
    legend = [line for line in lines if line.startswith('    "legend ') and "->" in line]
    assert [line.split('label="')[1].split('"')[0] for line in legend] == [
        "added",
        "removed",
        "regressed",
        "kept",
    ]


@needs_graphviz
def test_svg(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "changes.svg"
    status, _, _ = diff(capsys, "-o", str(output), "-q")
    assert status == 0
    picture = output.read_text(encoding="utf-8")
    assert picture.count("<svg") == 1
    # Graphviz writes "-" as "&#45;".
    assert "<title>productpage&#45;&gt;reviews&#45;v2</title>" in picture
    assert "5xx 40% &#45;&gt; 100% (p=0.0384)" in picture


def test_svg_by_meshals_own_layout(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = diff(capsys, "--format", "svg", "--renderer", "builtin")
    assert status == 0
    changes = {
        (match.group(1), match.group(2)): match.group(3)
        for match in re.finditer(
            r'<g class="edge" data-source="([^"]*)" data-destination="([^"]*)"'
            r' data-change="([^"]*)">',
            out,
        )
    }
    assert changes == {
        ("UNKNOWN", "istio-ingressgateway"): "kept",
        ("istio-ingressgateway", "productpage"): "kept",
        ("productpage", "UNKNOWN"): "kept",
        ("productpage", "details"): "kept",
        ("productpage", "mongodb"): "kept",
        ("productpage", "mysqldb"): "kept",
        ("productpage", "recommendations"): "removed",
        ("productpage", "reviews"): "regressed",
        ("productpage", "reviews-v2"): "added",
        ("reviews", "ratings"): "kept",
    }
    nodes = dict(re.findall(r'<g class="node" data-name="([^"]*)" data-change="([^"]*)">', out))
    assert {name: change for name, change in nodes.items() if change != "kept"} == {
        "recommendations": "removed",
        "reviews-v2": "added",
    }
    assert ">5xx 40% -&gt; 100% (p=0.0384)</text>" in out
    legend = out.split('<g class="legend"')[1]
    for line in ("added", "removed", "regressed", "kept", "4xx or 5xx rate rose, p &lt; alpha"):
        assert f">{line}</text>" in legend


def test_without_graphviz_auto_draws_with_meshals_own_layout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, builtin, _ = diff(capsys, "--format", "svg", "--renderer", "builtin")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    status, out, err = diff(capsys, "--format", "svg")
    assert (status, out) == (0, builtin)
    assert err == f"{SUMMARY}{GRAPHVIZ_FALLBACK_NOTE}\n"


def test_an_unchanged_capture(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", "--resolver", RESOLVER, *BEFORE, "--", *BEFORE)
    assert status == 0
    assert out.startswith("CHANGE  SOURCE -> DEST")
    assert "regressed (" not in out
    assert out.endswith("(pooled two-proportion z-test); 0 of 9 edges in both\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", *BEFORE], "give the BEFORE files, then -- and the AFTER files"),
        (["diff", "--", AFTER], "give the BEFORE files, then -- and the AFTER files"),
        (["diff", "--example", "bookinfo", "--", AFTER], "--example: diff compares capture"),
        (["diff", "-", "--", "-"], "- (standard input) can be given once"),
        (["diff", *BEFORE, "--", AFTER, "--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["diff", *BEFORE, "--", AFTER, "-o", "x.png"], ".png names no format meshals diff"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_each_side_has_its_own_relative_time_range(capsys: pytest.CaptureFixture[str]) -> None:
    reviews = str(FIXTURES / "envoy" / "reviews-http.bin")
    status, _, err = run(capsys, "diff", "--since", "-2s", reviews, "--", AFTER)
    assert status == 0
    before, after, names, summary = err.splitlines()
    assert before.startswith("meshals: BEFORE: time range: entries that started at or after ")
    assert after.startswith("meshals: AFTER: time range: entries that started at or after ")
    # One table of both sides' names, said once.
    assert names == (
        "meshals: --auto-names: 6 IPs named by the captures' own Envoys and peer metadata"
    )
    assert summary.startswith("meshals: 7 files: ")
    status, _, err = run(capsys, "diff", "--no-auto-names", "--since", "-2s", reviews, "--", AFTER)
    warning, *_ = err.splitlines()
    assert warning.endswith("every workload is UNKNOWN")  # once, for both sides


def test_a_missing_file_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "diff", *BEFORE, "--", str(tmp_path / "missing.bin"))
    assert (status, out) == (1, "")
    assert err.startswith("meshals: error: ")
    assert sys.platform == "win32" or "missing.bin" in err
