"""``meshals policy check``: the table, JSON Lines, JSON, -o and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ENVOY_FIXTURES, FIXTURES

from meshals.cli import main

MTLS = sorted(str(path) for path in (ENVOY_FIXTURES / "mtls").glob("*.bin"))
SNAPSHOT = str(FIXTURES / "k8s" / "bookinfo-mtls.json")
POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/*"]}}]
"""


@pytest.fixture
def policies(tmp_path: Path) -> str:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES, encoding="utf-8")
    return str(path)


def test_table_and_exit_status(policies: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", policies, *MTLS, "--snapshot", SNAPSHOT]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == [
        "DESTINATION",
        "SOURCE",
        "ALLOWED",
        "DENIED",
        "NOT",
        "EVALUABLE",
        "DECIDED",
        "BY",
    ]
    assert out.splitlines()[-1].split() == [
        "default/reviews-v1",
        "default/productpage-v1",
        "5",
        "0",
        "0",
        "5",
        "allowed",
        "by",
        "ALLOW",
        "default/reviews-viewer",
        "rule",
        "0",
    ]
    assert err == (
        "meshals: 1 policy, 21 requests: 21 allowed, 0 denied, 0 not evaluable; entries left"
        " out: gateway: 6, sidecar-outbound: 19\n"
    )


def test_a_denial_exits_1_and_still_writes(
    policies: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(policies).write_text(POLICIES.replace('"/reviews/*"', '"/reviews/0"'), encoding="utf-8")
    out_path = tmp_path / "decisions.jsonl"
    assert main(["policy", "check", policies, *MTLS, "-o", str(out_path)]) == 1
    records = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert len(records) == 21
    denied = [r for r in records if r["verdict"] == "denied"]
    assert [(Path(r["file"]).name, r["message"], r["path"]) for r in denied] == [
        ("reviews-http.bin", 7, "/reviews/1"),
        ("reviews-http.bin", 8, "/reviews/slow"),
    ]
    assert denied[0] == {
        "file": denied[0]["file"],
        "message": 7,
        "entry": 0,
        "source": "default/productpage-v1",
        "destination": "default/reviews-v1",
        "source_principal": "cluster.local/ns/default/sa/bookinfo-productpage",
        "source_ip": "127.0.0.2",
        "destination_port": 9080,
        "protocol": "http",
        "method": "GET",
        "host": "reviews:9080",
        "path": "/reviews/1",
        "verdict": "denied",
        "policy": None,
        "rule": None,
        "reason": "no ALLOW policy matched",
        "audited": [],
    }
    assert capsys.readouterr().err.endswith(f"meshals: wrote the policy report to {out_path}\n")


def test_json(policies: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", policies, *MTLS, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["allowed"], report["denied"], report["not_evaluable"]) == (21, 0, 0)
    assert report["skipped"] == {"gateway": 6, "sidecar-outbound": 19}
    assert [edge["destination"] for edge in report["edges"]] == [
        "default/details-v1",
        "default/details-v1",
        "default/mongodb-v1",
        "default/productpage-v1",
        "default/ratings-v1",
        "default/reviews-v1",
    ]


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICIES.replace('"GET"', "7"), encoding="utf-8")
    assert main(["policy", "check", str(bad), *MTLS]) == 1
    assert capsys.readouterr().err == (
        f"meshals: error: {bad}, document 0, spec.rules[0].to[0].operation.methods[0]: must be a"
        ' string, not int 7 (write "7")\n'
    )
    bad.write_bytes(b"# policies\n\xff\n")
    assert main(["policy", "check", str(bad), *MTLS]) == 1
    assert capsys.readouterr().err == (
        f"meshals: error: {bad}: not UTF-8: byte 0xff at offset 11 (line 2)\n"
    )
    assert main(["policy", "check", str(tmp_path / "none.yaml"), *MTLS]) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["policy"])
    assert exit_info.value.code == 2
    assert "SUBCOMMAND" in capsys.readouterr().err


def test_checking_nothing_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    assert main(["policy", "check", str(empty), *MTLS]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "meshals: 0 policies, 21 requests: 21 allowed, 0 denied, 0 not evaluable; entries left"
        " out: gateway: 6, sidecar-outbound: 19",
        f"meshals: warning: {empty} holds no policy",
    ]
    gateway = str(FIXTURES / "mx" / "gateway.bin")
    assert main(["policy", "check", str(empty), gateway]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "meshals: 0 policies, 0 requests: 0 allowed, 0 denied, 0 not evaluable; entries left"
        " out: gateway: 3",
        f"meshals: warning: {empty} holds no policy",
        "meshals: warning: no request checked: no sidecar or waypoint received any in the captures",
    ]


def test_fail_on_not_evaluable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = tmp_path / "custom.yaml"
    custom.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: ext, namespace: default}\n"
        "spec: {action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {ports:"
        ' ["27017"]}}]}]}\n',
        encoding="utf-8",
    )
    assert main(["policy", "check", str(custom), *MTLS]) == 0
    assert "2 not evaluable" in capsys.readouterr().err
    assert main(["policy", "check", str(custom), *MTLS, "--fail-on-not-evaluable"]) == 1
    assert capsys.readouterr().err == (
        "meshals: 1 policy, 21 requests: 19 allowed, 0 denied, 2 not evaluable; entries left"
        " out: gateway: 6, sidecar-outbound: 19\n"
    )
