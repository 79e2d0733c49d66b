"""``meshals graph``: the graph as a table and a picture, DOT, Mermaid, SVG; shared options."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from meshals import cli, examples

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
CAPTURES = sorted(ENVOY.glob("*.bin"))
RESOLVER = FIXTURES / "resolvers" / "skywalking-mock.json"
SVG = "{http://www.w3.org/2000/svg}"
SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics"
SERVICES = [
    "UNKNOWN",
    "details",
    "istio-ingressgateway",
    "mongodb",
    "mysqldb",
    "productpage",
    "ratings",
    "recommendations",
    "reviews",
]
EDGES = [
    "UNKNOWN -> istio-ingressgateway",
    "istio-ingressgateway -> productpage",
    "productpage -> UNKNOWN",
    "productpage -> details",
    "productpage -> mongodb",
    "productpage -> mysqldb",
    "productpage -> recommendations",
    "productpage -> reviews",
    "reviews -> ratings",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def svg_nodes(text: str) -> list[str]:
    svg = ET.fromstring(text)
    return sorted(
        g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g") if g.get("class") == "node"
    )


def test_the_example_prints_the_table_and_writes_the_picture(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "graph", "--example", "bookinfo")
    assert status == 0
    services, edges = out.split("\n\n")
    assert (
        services.splitlines()[0] == "SERVICE               KIND     INSTANCES  REPORTED BY  HEALTH"
    )
    assert [line.split()[0] for line in services.splitlines()[1:]] == SERVICES
    assert "istio-ingressgateway  gateway          1  proxy        failing" in services
    edge_lines = edges.splitlines()
    assert edge_lines[0].split()[:5] == ["SOURCE", "->", "DEST", "PROTO", "CALLS"]
    assert [" ".join(line.split()[:3]) for line in edge_lines[1:]] == EDGES
    reviews = edge_lines[8].split()
    assert reviews[3:7] == ["HTTP", "5", "2", "40.0%"]
    assert reviews[-2:] == ["client,server", "failing"]
    assert err.splitlines() == [SUMMARY, "meshals: wrote the service graph to bookinfo.svg"]
    assert svg_nodes((tmp_path / "bookinfo.svg").read_text()) == SERVICES


def test_output_to_an_svg_file_writes_the_picture_there_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    picture = tmp_path / "graph.svg"
    status, out, err = run(
        capsys, "graph", "--resolver", ENVOY / "ground_truth.json", "-o", picture, *CAPTURES
    )
    assert status == 1  # ground_truth.json is no resolver table
    assert out == ""
    assert not picture.exists()
    status, out, err = run(
        capsys, "graph", "--example", "bookinfo", "--renderer", "builtin", "-o", picture
    )
    assert status == 0
    assert out == ""  # -o is where the output goes: the picture, and no table on stdout
    assert err.splitlines() == [SUMMARY, f"meshals: wrote the service graph to {picture}"]
    assert svg_nodes(picture.read_text()) == SERVICES
    assert "graphviz" not in picture.read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["graph.svg"]


def test_files_with_the_examples_resolver_match_the_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    resolver = Path(examples.__file__).parent / "bookinfo" / "resolver.json"
    from_files = run(capsys, "graph", "--resolver", resolver, *CAPTURES)
    from_example = run(capsys, "graph", "--example", "bookinfo")
    assert from_files[1] == from_example[1]
    assert from_files[2] == SUMMARY + "\n"  # no picture without -o for FILEs
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bookinfo.svg"]


def test_an_explicit_resolver_wins_over_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "graph", "--example", "bookinfo", "--resolver", RESOLVER, "--format", "mermaid"
    )
    assert status == 0
    assert out.splitlines()[1:2] == ['  n0(["UNKNOWN<br/><i>unknown</i>"]):::failing']
    assert "productpage" not in out  # the mock table names none of the loopback pods


def test_dot(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "graph", "--example", "bookinfo", "--format", "dot")
    assert status == 0
    assert out.startswith("digraph meshals {\n")
    assert out.count(" -> ") == len(EDGES)
    # What decides each edge's health is on its label: the gRPC errors, the 4xx answers.
    assert '"reviews" -> "ratings" [label="gRPC 4 req\\ngRPC err 25.0%\\np99 ' in out
    details = next(line for line in out.splitlines() if '"productpage" -> "details"' in line)
    assert 'label="HTTP 4 req\\n4xx 25.0%\\np99 ' in details
    assert details.endswith('color="#c9190b", fontcolor="#c9190b"];')  # failing: 25 % > 20 %


def test_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "graph", "--example", "bookinfo", "--format", "mermaid")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(" -->|" in line for line in lines) == len(EDGES)


def test_svg_to_stdout_and_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(
        capsys, "graph", "--example", "bookinfo", "--format", "svg", "--renderer", "builtin"
    )
    assert status == 0
    assert svg_nodes(out) == SERVICES
    assert "wrote" not in err
    target = tmp_path / "out.svg"
    status, out, err = run(
        capsys, "graph", "--example", "bookinfo", "--format", "svg", "-o", target
    )
    assert (status, out) == (0, "")
    assert svg_nodes(target.read_text()) == SERVICES
    assert err.splitlines()[-1] == f"meshals: wrote the service graph to {target}"


def test_dot_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "graph.dot"
    status, out, _ = run(capsys, "graph", "--example", "bookinfo", "--format", "dot", "-o", target)
    assert (status, out) == (0, "")
    assert target.read_text().startswith("digraph meshals {")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz' dot is not installed")
def test_svg_by_graphviz(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "graph", "--example", "bookinfo", "--format", "svg", "--renderer", "graphviz"
    )
    assert status == 0
    assert "Generated by graphviz" in out
    assert svg_nodes(out) == SERVICES


def test_graphviz_asked_for_but_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    status, out, err = run(
        capsys, "graph", "--example", "bookinfo", "--format", "svg", "--renderer", "graphviz"
    )
    assert (status, out) == (1, "")
    assert err == (
        "meshals: error: Graphviz' dot is not installed (apt-get install graphviz, brew install"
        " graphviz)\n"
    )


def test_an_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "missing" / "graph.svg"
    status, out, err = run(capsys, "graph", "--example", "bookinfo", "-o", target)
    assert (status, out) == (1, "")
    assert err == f"meshals: error: {target}: No such file or directory\n"


def test_no_resolver_names_everything_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "graph", *CAPTURES)
    assert status == 0
    assert out.splitlines()[1].split()[:2] == ["UNKNOWN", "unknown"]
    assert len(out.split("\n\n")[0].splitlines()) == 2  # one node
    assert err.splitlines() == [
        "meshals: warning: no --resolver or --k8s-snapshot: every workload is UNKNOWN",
        SUMMARY,
    ]


def test_an_empty_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    status, out, err = run(capsys, "graph", "--resolver", RESOLVER, empty)
    assert (status, out) == (0, "(no calls)\n")
    assert err == "meshals: 1 file: 0 entries, 0 analyzed, 0 skipped, 0 metrics\n"


GRAPH_USAGE_ERRORS = [
    ["graph"],  # neither FILEs nor --example
    ["graph", "--example", "bookinfo", "x.bin"],  # both
    ["graph", "--example", "nope"],
    ["graph", "--format", "png", "x.bin"],
    ["graph", "--renderer", "inkscape", "x.bin"],
    ["graph", "--analyzer", "zipkin", "x.bin"],
    ["graph", "--analyzer", "k8s-mesh,k8s-mesh", "x.bin"],
    ["graph", "--service-rule", "${pod.metadata.name}", "x.bin"],
]


@pytest.mark.parametrize("argv", GRAPH_USAGE_ERRORS)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("usage: meshals graph")


def test_usage_error_messages(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["graph"], "give capture FILEs or --example NAME (not both)"),
        (["graph", "--analyzer", "zipkin", "x"], "unknown analyzer 'zipkin' (choose from"),
        (["graph", "--analyzer", "k8s-mesh", "--analyzer", "k8s-mesh", "x"], "named twice"),
    ]:
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert message in capsys.readouterr().err.splitlines()[-1]


# --- JSON -----------------------------------------------------------------------------------------


def test_json(capsys: pytest.CaptureFixture[str], recorded_period_ns: tuple[int, int]) -> None:
    status, out, err = run(capsys, "graph", "--example", "bookinfo", "--format", "json")
    assert (status, err) == (0, SUMMARY + "\n")
    document = json.loads(out)
    assert list(document) == ["period", "thresholds", "nodes", "edges"]
    first, last = recorded_period_ns
    seconds = (last - first) / 1e9
    assert document["period"] == {
        "first_start_ns": first,
        "last_end_ns": last,
        "seconds": seconds,
    }
    assert document["thresholds"] == {
        "5xx": {"degraded": 0.001, "failing": 0.1},
        "4xx": {"degraded": 0.1, "failing": 0.2},
        "grpc": {"degraded": 0.0, "failing": 0.1},
        "tcp": None,
    }
    nodes = {node["id"]: node for node in document["nodes"]}
    assert list(nodes) == SERVICES
    assert [edge["id"] for edge in document["edges"]] == EDGES
    assert all(
        edge["source"] in nodes and edge["destination"] in nodes for edge in document["edges"]
    )
    # The edge the issue was about: 3 x 200 and a 404 (GET /details/missing), both sides logged.
    details = next(e for e in document["edges"] if e["id"] == "productpage -> details")
    assert {key: details[key] for key in ("protocols", "requests", "errors", "errors_4xx")} == {
        "protocols": ["HTTP"],
        "requests": 4,
        "errors": 0,
        "errors_4xx": 1,
    }
    assert (details["error_rate_4xx"], details["health"]) == (0.25, "failing")
    assert details["reporters"] == ["client", "server"]
    assert details["rate_per_s"] == 4 / seconds
    assert set(details) >= {"latency_p50_ns", "latency_p90_ns", "latency_p99_ns"}
    # ratings has no sidecar: what reviews' sidecar saw, one grpc-status 5 in 4 calls.
    ratings = nodes["ratings"]
    assert (ratings["kind"], ratings["reporter_roles"], ratings["health"]) == (
        "service",
        [],
        "failing",
    )
    assert (ratings["inbound"]["requests"], ratings["inbound"]["grpc_errors"]) == (4, 1)
    assert ratings["inbound"]["grpc_error_rate"] == 0.25
    assert ratings["outbound"]["requests"] == 0
    gateway = nodes["istio-ingressgateway"]
    assert (gateway["kind"], gateway["reporter_roles"]) == ("gateway", ["proxy"])
    assert (gateway["inbound"]["requests"], gateway["outbound"]["requests"]) == (6, 5)
    assert nodes["mongodb"]["health"] == "unknown"  # TCP only: no rule by default


def test_json_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bookinfo.json"  # .json names the format
    status, out, err = run(capsys, "graph", "--example", "bookinfo", "-o", path)
    assert (status, out) == (0, "")
    assert err.endswith(f"meshals: wrote the service graph to {path}\n")
    assert len(json.loads(path.read_text(encoding="utf-8"))["edges"]) == len(EDGES)
