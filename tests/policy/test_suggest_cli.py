"""``meshals policy suggest``: the YAML of suggest() on stdout or in -o's file, and what it
does not admit as warnings on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ENVOY_FIXTURES, FIXTURES

import meshals
from meshals._values import FrozenMap
from meshals.cli import main
from meshals.cli._policy_suggest import _report
from meshals.model import IstioWorkload
from meshals.policy import (
    AuthorizationPolicy,
    LeftOut,
    Suggestion,
    UnnamedCaller,
    render_policies,
    suggest,
)
from meshals.resolve import KubernetesWorkloads

FILES = [str(path) for path in sorted((ENVOY_FIXTURES / "mtls").glob("*.bin"))]
SNAPSHOT = str(FIXTURES / "k8s" / "bookinfo-mtls.json")

LEGACY_WARNING = (
    "meshals: warning: not admitted, no principal: default/details-v1: 1 request from"
    " 127.0.0.10 (default/legacy-client) on port 9080: GET /details/2; would be admitted by"
    ' from.source.ipBlocks ["127.0.0.10"] (addresses change), or, once it calls with mutual'
    ' TLS, by principals ["cluster.local/ns/default/sa/legacy-client"]\n'
)
SKIPPED = "meshals: entries no policy sees: 6 gateway, 19 sidecar-outbound\n"


def _expected(paths: str = "exact") -> str:
    streams = []
    for path in FILES:
        with meshals.read(path) as reader:
            streams.append(list(reader))
    workloads = KubernetesWorkloads.from_files([SNAPSHOT])
    return render_policies(suggest(streams, workloads=workloads, paths=paths))  # type: ignore[arg-type]


@pytest.mark.parametrize("paths", ["exact", "template"])
def test_stdout(paths: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "suggest", *FILES, "--snapshot", SNAPSHOT, "--paths", paths]) == 0
    out, err = capsys.readouterr()
    assert out == _expected(paths)
    assert err == LEGACY_WARNING + SKIPPED
    assert [document["metadata"]["name"] for document in yaml.safe_load_all(out)] == [
        "allow-details-v1",
        "allow-mongodb-v1",
        "allow-productpage-v1",
        "allow-ratings-v1",
        "allow-reviews-v1",
    ]


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "policies.yaml"
    assert main(["policy", "suggest", *FILES, "--snapshot", SNAPSHOT, "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert target.read_text(encoding="utf-8") == _expected()
    assert err == LEGACY_WARNING + SKIPPED + f"meshals: wrote the policies to {target}\n"


def test_plaintext_policies_admit_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(path) for path in sorted(ENVOY_FIXTURES.glob("*-http.bin"))]
    assert main(["policy", "suggest", *files]) == 0
    out, err = capsys.readouterr()
    assert "  action: ALLOW\n---\n" in out  # no rules
    assert err.splitlines()[:2] == [
        "meshals: warning: default/allow-details-v1 admits no request (no caller presented a"
        " principal): applied, it denies every request to the workloads it selects",
        "meshals: warning: default/allow-productpage-v1 admits no request (no caller presented"
        " a principal): applied, it denies every request to the workloads it selects",
    ]


def test_a_file_that_is_no_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    target = tmp_path / "policies.yaml"
    assert main(["policy", "suggest", str(bad), "--strict", "-o", str(target)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"meshals: error: {bad}")
    assert not target.exists()


def test_a_snapshot_that_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    assert main(["policy", "suggest", *FILES, "--snapshot", str(missing)]) == 1
    assert capsys.readouterr().err == (f"meshals: error: {missing}: No such file or directory\n")


def test_warnings_stay_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    _report(
        Suggestion(
            policies=(AuthorizationPolicy(name="allow-a", namespace="default"),),
            unnamed_callers=(
                UnnamedCaller(
                    policy="default/allow-a",
                    destination="default/a",
                    source_ip="10.0.0.7",
                    remote_ip=None,
                    source=IstioWorkload(workload="x\nmeshals: all clear", namespace="default"),
                    requests=1,
                    connections=0,
                    ports=(80,),
                    operations=("GET /\x1b[2J",),
                    ip_blocks=("10.0.0.7",),
                    remote_ip_blocks=(),
                    principals=(),
                    namespaces=("default",),
                ),
            ),
            left_out=(
                LeftOut(
                    policy="default/allow-a",
                    destination="default/a",
                    principal="p\r",
                    operation="GET /b*\n",
                    port=80,
                    count=2,
                    reason="Istio would read the path as a prefix, suffix or template",
                ),
            ),
            skipped=FrozenMap({"gateway": 1}),
        )
    )
    assert capsys.readouterr().err == (
        "meshals: warning: default/allow-a admits no request (no caller presented a principal):"
        " applied, it denies every request to the workloads it selects\n"
        "meshals: warning: not admitted, no principal: default/a: 1 request from 10.0.0.7"
        " (default/x\\nmeshals: all clear) on port 80: GET /\\x1b[2J; would be admitted by"
        ' from.source.ipBlocks ["10.0.0.7"] (addresses change), or, once it calls with mutual'
        ' TLS, by namespaces ["default"]\n'
        "meshals: warning: not admitted: default/a: 2 request(s) GET /b*\\n from p\\r: Istio"
        " would read the path as a prefix, suffix or template\n"
        "meshals: entries no policy sees: 1 gateway\n"
    )


def test_waypoint_requests_get_no_policy(capsys: pytest.CaptureFixture[str]) -> None:
    # Istio never attaches a selector policy to a waypoint: allow-waypoint would be no policy.
    waypoint = str(FIXTURES / "mx" / "waypoint.bin")
    assert main(["policy", "suggest", waypoint]) == 0
    note = (
        "no policy suggested for the 1 request waypoint bookinfo/waypoint received: a waypoint"
        " takes only policies whose targetRefs name its Gateway or a Service, never a selector"
    )
    assert capsys.readouterr() == (f"# {note}\n", f"meshals: warning: {note}\n")
