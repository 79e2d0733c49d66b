"""``meshals names`` and ``--auto-names``: the names the captures give themselves, from the
command line; the table written is the one ``--resolver`` reads, and gives the same output."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest

from meshals import cli

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
MX = FIXTURES / "mx"
CAPTURES = sorted(ENVOY.glob("*.bin"))
GROUND_TRUTH = json.loads((ENVOY / "ground_truth.json").read_text())
SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics"
AUTO_NOTE = "meshals: --auto-names: 5 IPs named by the captures' own Envoys and peer metadata"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_names_writes_the_meshed_workloads_of_the_hand_written_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "names.json"
    status, out, err = run(capsys, "names", *CAPTURES, "-o", target)
    assert (status, out) == (0, "")
    assert err == f"meshals: 6 files: 5 IPs named\nmeshals: wrote the names to {target}\n"
    table = json.loads(target.read_text())
    # ratings, recommendations and mysqldb run no Envoy and send no peer metadata.
    hand = GROUND_TRUTH["resolver"]
    assert sorted(set(hand) - set(table)) == ["127.0.0.5", "127.0.0.6", "127.0.0.8"]
    assert {ip: (row["service"], row["instance"]) for ip, row in table.items()} == {
        ip: (row["service"], row["instance"]) for ip, row in hand.items() if ip in table
    }
    assert table["127.0.0.2"] == {
        "service": "productpage",
        "instance": "productpage-v1-xyz",
        "namespace": "default",
        "tags": {"app": "productpage", "version": "v1"},
    }


def test_names_is_the_same_in_any_file_order_and_any_number_of_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [*sorted(MX.glob("*.bin")), *CAPTURES[:3]]
    outputs = set()
    for order in itertools.islice(itertools.permutations(files), 0, None, 2003):
        for jobs in ("1", "2"):
            outputs.add(run(capsys, "names", "--jobs", jobs, *order))
    assert len(outputs) == 1
    [(status, out, err)] = outputs
    assert status == 0
    assert len(json.loads(out)) == 13
    assert err.splitlines() == [
        f"meshals: warning: {MX / 'gateway.bin'}, message 0: 10.244.1.10 is named as 2"
        " workloads by peers' metadata: details (details-v1-4c3d2), productpage"
        " (productpage-v1-7d8f9); left unnamed",
        f"meshals: warning: {MX / 'reviews-sidecar-http.bin'}, message 0: workload"
        " bookinfo/ratings-v1 is named as 2 services: mongodb, ratings (its pods'"
        " canonical-name labels differ)",
        "meshals: 8 files: 13 IPs named",
    ]


def test_the_table_names_as_auto_names_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "names.json"
    assert run(capsys, "names", "--quiet", *CAPTURES, "-o", target) == (0, "", "")
    auto = run(capsys, "graph", *CAPTURES)
    table = run(capsys, "graph", "--resolver", target, *CAPTURES)
    assert auto[:2] == table[:2]
    assert auto[2] == f"{AUTO_NOTE}\n{SUMMARY}\n"
    assert table[2] == f"{SUMMARY}\n"
    assert run(capsys, "graph", "--no-auto-names", *CAPTURES)[1] != auto[1]


def test_auto_names_fill_in_after_a_hand_written_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The table names ratings (no Envoy) and renames reviews; the captures name the rest.
    partial = tmp_path / "partial.json"
    partial.write_text(
        json.dumps(
            {
                "127.0.0.3": {"service": "reviews-by-hand", "instance": "r-0"},
                "127.0.0.5": {"service": "ratings", "instance": "ratings-v1-rtg"},
            }
        )
    )
    status, out, err = run(
        capsys, "graph", "--format", "json", "--resolver", partial, "--auto-names", *CAPTURES
    )
    assert status == 0
    nodes = sorted(node["id"] for node in json.loads(out)["nodes"])
    assert nodes == [
        "UNKNOWN",
        "details",
        "istio-ingressgateway",
        "mongodb",
        "productpage",
        "ratings",
        "reviews-by-hand",
    ]
    assert err == f"{AUTO_NOTE}\n{SUMMARY}\n"
    # Without --auto-names, a table means no first pass: what it does not name is UNKNOWN.
    _, out, err = run(capsys, "graph", "--format", "json", "--resolver", partial, *CAPTURES)
    assert sorted(node["id"] for node in json.loads(out)["nodes"]) == [
        "UNKNOWN",
        "ratings",
        "reviews-by-hand",
    ]
    assert err == f"{SUMMARY}\n"


def test_auto_names_read_standard_input_twice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (ENVOY / "reviews-http.bin").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, out, err = run(capsys, "stats", "--by", "edge", "--format", "jsonl", "-")
    assert status == 0
    edges = {(row["source"], row["destination"]) for row in map(json.loads, out.splitlines())}
    assert edges == {("productpage", "reviews"), ("reviews", "UNKNOWN")}
    assert err.splitlines()[0] == (
        "meshals: --auto-names: 2 IPs named by the captures' own Envoys and peer metadata"
    )


def test_names_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "names", tmp_path / "nothing.bin")
    assert (status, out) == (1, "")
    assert err.startswith("meshals: error: ")


def test_skywalking_semantics_name_as_skywalking_unless_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "graph", "--semantics", "skywalking", *CAPTURES)
    assert status == 0
    assert "productpage" not in out  # nothing is named
    assert "every workload is UNKNOWN" in err
    _, out, err = run(capsys, "graph", "--semantics", "skywalking", "--auto-names", *CAPTURES)
    assert "productpage" in out
    assert AUTO_NOTE in err
