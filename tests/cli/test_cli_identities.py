"""``meshals identities``, and the edges' TLS in ``stats --by edge`` and ``graph``, on TLS
captures built from the Envoy recordings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import MtlsCapture, spiffe_id, write_mtls_capture

from meshals import cli

SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"
CANARY = "spiffe://cluster.local/ns/default/sa/reviews-canary"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def inputs(capture: MtlsCapture) -> list[str | Path]:
    return ["--resolver", capture.resolver, *capture.files()]


@pytest.fixture(scope="module")
def conflicts(tmp_path_factory: pytest.TempPathFactory) -> MtlsCapture:
    return write_mtls_capture(tmp_path_factory.mktemp("conflicts"), conflicts=True)


# --- identities ---------------------------------------------------------------------------------


def test_table(capsys: pytest.CaptureFixture[str], synthetic_mtls: MtlsCapture) -> None:
    status, out, err = run(capsys, "identities", *inputs(synthetic_mtls))
    assert (status, err) == (0, SUMMARY)
    lines = out.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "INSTANCE",
        "SPIFFE",
        "ID",
        "AS",
        "SERVER",
        "AS",
        "CLIENT",
        "FIRST",
        "SEEN",
        "CONFLICT",
    ]
    cells = [line.split()[:5] + line.split()[-1:] for line in lines[1:]]
    assert cells == [
        ["details", "details-v1-dtl", spiffe_id("details"), "4", "0", "-"],
        [
            "istio-ingressgateway",
            "istio-ingressgateway-abc",
            spiffe_id("istio-ingressgateway"),
            "6",
            "5",
            "-",
        ],
        ["mongodb", "mongodb-v1-mdb", spiffe_id("mongodb"), "1", "0", "-"],
        ["productpage", "productpage-v1-xyz", spiffe_id("productpage"), "5", "10", "-"],
        ["reviews", "reviews-v1-rvw", spiffe_id("reviews"), "5", "0", "-"],
    ]
    details = str(synthetic_mtls.directory / "details-http.bin")
    assert f"Z {details}, message 0, entry 0  " in lines[1]


def test_conflicts_on_stderr_and_in_json(
    capsys: pytest.CaptureFixture[str], conflicts: MtlsCapture
) -> None:
    status, out, err = run(capsys, "identities", "--format", "json", *inputs(conflicts))
    assert status == 0
    reviews, productpage = spiffe_id("reviews"), spiffe_id("productpage")
    assert err.splitlines() == [
        f"meshals: warning: identity conflict: workload reviews presented 2 SPIFFE ids:"
        f" {reviews}, {CANARY}",
        f"meshals: warning: identity conflict: SPIFFE id {productpage} was presented by 2"
        " workloads: details, productpage",
        SUMMARY.strip(),
    ]
    document = json.loads(out)
    assert [(c["kind"], c["subject"], c["seen"]) for c in document["conflicts"]] == [
        ("workload", "reviews", [reviews, CANARY]),
        ("identity", productpage, ["details", "productpage"]),
    ]
    flagged = {(w["service"], w["identity"]): w["conflicts"] for w in document["workloads"]}
    assert flagged == {
        ("details", productpage): ["identity"],
        ("istio-ingressgateway", spiffe_id("istio-ingressgateway")): [],
        ("mongodb", spiffe_id("mongodb")): [],
        ("productpage", productpage): ["identity"],
        ("reviews", reviews): ["workload"],
        ("reviews", CANARY): ["workload"],
    }
    # --quiet keeps the warnings: nothing is dropped silently.
    status, _, err = run(capsys, "identities", "-q", *inputs(conflicts))
    assert (status, len(err.splitlines())) == (0, 2)


def test_plaintext_input_and_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "identities", "--example", "bookinfo")
    assert (status, out) == (
        0,
        "(no certificates: no server side logged a local or peer certificate)\n",
    )
    target = tmp_path / "ids.json"
    status, out, err = run(capsys, "identities", "--example", "bookinfo", "-o", target)
    assert (status, out) == (0, "")
    assert json.loads(target.read_text()) == {"workloads": [], "conflicts": []}
    assert err.splitlines()[-1] == f"meshals: wrote the identities to {target}"
    with pytest.raises(SystemExit) as exit_status:
        run(capsys, "identities", "--example", "bookinfo", "-o", tmp_path / "x.csv")
    assert exit_status.value.code == 2
    err = capsys.readouterr().err
    assert ".csv names no format meshals identities writes" in err


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl"])
def test_jobs_print_what_one_job_prints(
    capsys: pytest.CaptureFixture[str], mtls_capture: MtlsCapture, fmt: str
) -> None:
    argv = ["identities", "--format", fmt, *inputs(mtls_capture)]
    assert run(capsys, *argv, "--jobs", "2") == run(capsys, *argv, "--jobs", "1")


# --- the edges' TLS in stats and graph ----------------------------------------------------------


def test_stats_by_edge_in_every_format(
    capsys: pytest.CaptureFixture[str], synthetic_mtls: MtlsCapture
) -> None:
    status, out, _ = run(capsys, "stats", "--by", "edge", *inputs(synthetic_mtls))
    assert status == 0
    table = {tuple(line.split()[:2]): line.split()[-3:] for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split()[-3:] == ["MTLS%", "PLAIN-IN", "HEALTH"]
    assert table[("productpage", "mongodb")] == ["50.0%", "1", "unknown"]
    assert table[("productpage", "reviews")] == ["100.0%", "0", "failing"]
    assert table[("reviews", "ratings")] == ["-", "0", "failing"]  # TLS unknown
    assert table[("UNKNOWN", "istio-ingressgateway")] == ["0.0%", "0", "failing"]  # one-way
    status, out, _ = run(
        capsys, "stats", "--by", "edge", "--format", "jsonl", *inputs(synthetic_mtls)
    )
    records = {(r["source"], r["destination"]): r for r in map(json.loads, out.splitlines())}
    mongodb = records["productpage", "mongodb"]
    assert {key: mongodb[key] for key in list(mongodb)[-12:]} == {
        "mtls_requests": 0,
        "tls_requests": 0,
        "plaintext_requests": 0,
        "unknown_tls_requests": 0,
        "mtls_connections": 1,
        "tls_connections": 0,
        "plaintext_connections": 1,
        "unknown_tls_connections": 0,
        "mtls_share": 0.5,
        "client_principals": {spiffe_id("productpage"): 1},
        "server_principals": {spiffe_id("mongodb"): 1},
        "plaintext_into_meshed": 1,
    }
    status, out, _ = run(
        capsys, "stats", "--by", "edge", "--format", "csv", *inputs(synthetic_mtls)
    )
    rows = {(r["source"], r["destination"]): r for r in csv.DictReader(io.StringIO(out))}
    reviews = rows["productpage", "reviews"]
    assert (reviews["mtls_requests"], reviews["mtls_share"]) == ("5", "1.0")
    assert reviews["client_principals"] == f"{spiffe_id('productpage')}=5"
    assert rows["reviews", "ratings"]["mtls_share"] == ""  # unknown: an empty cell


def test_graph_formats_show_mtls(
    capsys: pytest.CaptureFixture[str], synthetic_mtls: MtlsCapture
) -> None:
    argv = ["graph", *inputs(synthetic_mtls), "--format"]
    _, dot, _ = run(capsys, *argv, "dot")
    mongodb = next(line for line in dot.splitlines() if '"productpage" -> "mongodb"' in line)
    assert "\\nmTLS 50%" in mongodb
    assert mongodb.endswith("style=dashed];")
    reviews = next(line for line in dot.splitlines() if '"productpage" -> "reviews"' in line)
    assert "\\nmTLS 100%" in reviews
    assert "dashed" not in reviews
    _, mermaid, _ = run(capsys, *argv, "mermaid")
    assert mermaid.count(" -.->|") == 1
    assert mermaid.count("mTLS 100%") == 3
    _, svg, _ = run(capsys, *argv, "svg", "--renderer", "builtin")
    assert svg.count('<g class="lock">') == 3  # gateway -> productpage, details, reviews
    assert svg.count('data-plaintext-into-meshed="true"') == 1
    _, graph, _ = run(capsys, *argv, "json")
    edges = {edge["id"]: edge for edge in json.loads(graph)["edges"]}
    assert edges["productpage -> details"]["server_principals"] == {spiffe_id("details"): 4}
