"""Naming from the command line: --mapping (SkyWalking's metadata-service-mapping.yaml) for
mx-mesh, and the warnings of a Kubernetes snapshot that cannot name what it should; in this
process and as the installed console script."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

import pytest

from meshals import cli

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
CAPTURES = [
    ENVOY / name
    for name in (
        "details-http.bin",
        "istio-ingressgateway-http.bin",
        "mongodb-tcp.bin",
        "productpage-http.bin",
        "productpage-tcp.bin",
        "reviews-http.bin",
    )
]
PODS_ONLY = FIXTURES / "k8s" / "bookinfo-pods-only.json"
# SkyWalking's own mapping files, in the shared material beside the checkout.
SKYWALKING = Path(__file__).resolve().parents[3] / "shared" / "reference" / "skywalking-fixtures"
DEFAULT_YAML = SKYWALKING / "metadata-service-mapping.default.yaml"
TEST_YAML = SKYWALKING / "metadata-service-mapping.test.yaml"
MESHALS = Path(sysconfig.get_path("scripts")) / "meshals"

MX_SUMMARY = "meshals: 6 files: 40 entries, 32 analyzed, 8 skipped (no-peer: 8), 37 metrics\n"
# SkyWalking's test mapping: the canonical revision, then the default service name.
REVISION_EDGES = """\
SOURCE                                DESTINATION                           PROTO  CALLS  ERRORS   ERR%   4XX%   5XX%  RATE/S      P50       P90       P99  MTLS%  PLAIN-IN  HEALTH
UNKNOWN                               v1.istio-ingressgateway.istio-system  HTTP       6       1  16.7%  33.3%  16.7%    2.36  22.99ms   91.21ms   91.21ms   0.0%         0  failing
v1.istio-ingressgateway.istio-system  v1.productpage.default                HTTP       5       1  20.0%  20.0%  20.0%    1.97  44.48ms   90.47ms   90.47ms   0.0%         5  failing
v1.productpage.default                v1.details.default                    HTTP       4       0   0.0%  25.0%   0.0%    1.57   1.06ms   41.90ms   41.90ms   0.0%         4  failing
v1.productpage.default                v1.mongodb.default                    TCP        2       0   0.0%      -      -    0.79   1.00ms    1.86ms    1.86ms   0.0%         2  unknown
v1.productpage.default                v1.reviews.default                    HTTP       5       2  40.0%   0.0%  40.0%    1.97   2.09ms  250.96ms  250.96ms   0.0%         5  failing
"""  # noqa: E501 -- the table as printed
PODS_ONLY_WARNING = (
    "meshals: warning: {path}: the snapshot has 8 Pods but no Services, Endpoints or"
    " EndpointSlices: a pod is named only when an Endpoints or EndpointSlice object puts it"
    " behind a Service (as in SkyWalking), so every pod IP resolves to UNKNOWN (take them with"
    " the pods: kubectl get pods,services,endpoints,endpointslices,nodes -A -o json)\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- --mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "--format", "jsonl"),
        ("graph", "--format", "dot"),
        ("stats", "--by", "instance"),
        ("metrics",),
    ],
    ids=lambda command: command[0],
)
def test_skywalkings_default_file_names_as_the_default_rules(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    argv = [*command, "--example", "bookinfo", "--analyzer", "mx-mesh"]
    default = run(capsys, *argv)
    assert default[0] == 0
    assert run(capsys, *argv, "--mapping", DEFAULT_YAML) == default


def test_skywalkings_test_file_puts_the_revision_first(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["stats", "--example", "bookinfo", "--analyzer", "mx-mesh", "--by", "edge"]
    assert run(capsys, *argv, "--mapping", TEST_YAML) == (0, REVISION_EDGES, MX_SUMMARY)
    # In worker processes, each loads the file itself: the same.
    assert run(capsys, *argv, "--mapping", TEST_YAML, "--jobs", "2") == (
        0,
        REVISION_EDGES,
        MX_SUMMARY,
    )


def test_the_mapping_names_every_analysing_commands_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv: list[str | Path] = [
        "--example",
        "bookinfo",
        "--analyzer",
        "mx-mesh",
        "--mapping",
        TEST_YAML,
    ]
    _, analyzed, _ = run(capsys, "analyze", "--format", "csv", *argv)
    assert "v1.reviews.default" in analyzed
    _, graph, _ = run(capsys, "graph", "--format", "mermaid", *argv)
    assert "v1.reviews.default" in graph
    # Istio's metrics name workloads by Istio's rules: the SkyWalking mapping plays no part.
    _, metrics, _ = run(capsys, "metrics", *argv)
    assert "v1.reviews.default" not in metrics
    assert 'destination_service="reviews.default.svc.cluster.local"' in metrics


def test_yaml_document_markers_and_folded_scalars(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mapping = tmp_path / "metadata-service-mapping.yaml"
    mapping.write_text(
        "# a comment\n---\nserviceName: >-\n  mesh-${LABELS.app}\nserviceInstanceName: '${NAME}'\n",
        encoding="utf-8",
    )
    status, out, err = run(
        capsys, "stats", "--example", "bookinfo", "--analyzer", "mx-mesh", "--mapping", mapping
    )
    assert (status, err) == (0, MX_SUMMARY)
    assert [line.split()[0] for line in out.splitlines()] == [
        "SERVICE",
        "mesh-details",
        "mesh-istio-ingressgateway",
        "mesh-mongodb",
        "mesh-productpage",
        "mesh-reviews",
    ]


def test_a_bad_mapping_file_fails_before_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("serviceName: ${NAME}\nserviceName: ${NAME}\n", encoding="utf-8")
    argv: list[str | Path] = ["stats", "--example", "bookinfo", "--analyzer", "mx-mesh"]
    argv += ["--mapping", mapping]
    assert run(capsys, *argv) == (
        1,
        "",
        f"meshals: error: {mapping}: not YAML: line 2, column 1: 'serviceName' given twice\n",
    )
    missing = tmp_path / "missing.yaml"
    argv[-1] = missing
    assert run(capsys, *argv) == (
        1,
        "",
        f"meshals: error: {missing}: No such file or directory\n",
    )


@pytest.mark.parametrize("analyzers", [[], ["--analyzer", "k8s-mesh"]], ids=["default", "k8s-mesh"])
def test_mapping_without_mx_mesh_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], analyzers: list[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["stats", "--example", "bookinfo", *analyzers, "--mapping", "m.yaml"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "meshals stats: error: --mapping names workloads for the mx-mesh analyzer:"
        " add --analyzer mx-mesh"
    )


def test_mapping_and_the_snapshot_rules_name_a_chain_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # --mapping is mx-mesh's, --service-rule the snapshot's (k8s-mesh): one chain uses both.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("serviceName: mx-${LABELS.app}\n", encoding="utf-8")
    status, out, _ = run(
        capsys,
        "stats",
        *CAPTURES,
        "--analyzer",
        "mx-mesh,k8s-mesh",
        "--mapping",
        mapping,
        "--k8s-snapshot",
        FIXTURES / "k8s" / "bookinfo-loopback.json",
        "--service-rule",
        "k8s-${pod.metadata.labels.app}",
    )
    assert status == 0
    services = {line.split()[0] for line in out.splitlines()[1:]}
    # ratings has no sidecar: only its caller's address names it, through the snapshot.
    assert {"mx-reviews", "mx-productpage", "k8s-ratings"} <= services


# --- what a snapshot cannot name ----------------------------------------------------------------


def test_a_snapshot_of_pods_alone_says_why_everything_is_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "stats", *CAPTURES, "--k8s-snapshot", PODS_ONLY)
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["SERVICE", "UNKNOWN"]
    assert err == PODS_ONLY_WARNING.format(path=PODS_ONLY) + (
        "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"
    )
    # Once, whatever the number of processes; and still with --quiet (it is a warning).
    assert run(capsys, "stats", *CAPTURES, "--k8s-snapshot", PODS_ONLY, "--jobs", "2") == (
        0,
        out,
        err,
    )
    quiet = run(capsys, "stats", *CAPTURES, "--k8s-snapshot", PODS_ONLY, "-q")
    assert quiet == (0, out, PODS_ONLY_WARNING.format(path=PODS_ONLY))


def test_a_complete_snapshot_warns_of_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = FIXTURES / "k8s" / "bookinfo-loopback.json"
    _, _, err = run(capsys, "stats", *CAPTURES, "--k8s-snapshot", snapshot)
    assert err == "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"


# --- the installed console script ---------------------------------------------------------------


def test_the_console_script_reads_a_mapping() -> None:
    result = subprocess.run(
        [
            *(str(MESHALS), "stats", "--example", "bookinfo", "--analyzer", "mx-mesh"),
            *("--by", "edge", "--mapping", str(TEST_YAML)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, REVISION_EDGES, MX_SUMMARY)


def test_the_console_script_warns_of_a_snapshot_of_pods_alone() -> None:
    result = subprocess.run(
        [
            *(str(MESHALS), "graph", "--format", "dot", *map(str, CAPTURES)),
            *("--k8s-snapshot", str(PODS_ONLY), "--quiet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, PODS_ONLY_WARNING.format(path=PODS_ONLY))
    assert result.stdout.startswith("digraph")
