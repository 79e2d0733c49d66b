"""``semantics="skywalking"`` against what Apache SkyWalking's own analyzers computed on the
same fixtures (``../shared/reference/skywalking-outputs``): every metric, every field, in
order, for each analyzer chain and both fixture sets, through the API and the command line."""

from __future__ import annotations

import json

import pytest
from _skywalking_reference import (
    CHAINS,
    FIXTURE_SETS,
    FIXTURES,
    REFERENCE,
    SNAPSHOT,
    Record,
    differences,
    meshals_records,
    reference,
    stale_inputs,
)

import meshals
from meshals.cli import main

CASES = [(fixture_set, chain) for fixture_set in FIXTURE_SETS for chain in CHAINS]


def _require_reference() -> None:
    # Fail, never skip: a missing reference or re-recorded fixtures must be seen.
    assert REFERENCE.is_dir(), f"the SkyWalking reference is missing: {REFERENCE}"
    stale = stale_inputs()
    assert not stale, (
        f"fixtures changed since SkyWalking's reference was computed ({REFERENCE}/inputs.sha256);"
        f" recompute it with SkyWalking or restore them: {', '.join(stale)}"
    )


def _assert_same(expected: list[Record], actual: list[Record]) -> None:
    lines = differences(expected, actual)
    if lines:
        pytest.fail(
            f"{len(lines)} differences from SkyWalking ({len(actual)} metrics,"
            f" SkyWalking {len(expected)}):\n" + "\n".join(lines),
            pytrace=False,
        )


def test_the_fixtures_are_the_reference_inputs() -> None:
    _require_reference()


@pytest.mark.parametrize(("fixture_set", "chain"), CASES)
def test_analyze_equals_skywalking(fixture_set: str, chain: str) -> None:
    _require_reference()
    expected = reference(fixture_set, chain)
    assert expected, "the reference has metrics for every case"
    _assert_same(expected, meshals_records(fixture_set, chain))


@pytest.mark.parametrize(("fixture_set", "chain"), CASES)
def test_cli_equals_skywalking(
    fixture_set: str, chain: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _require_reference()
    paths = sorted(str(path) for path in (FIXTURES / fixture_set).glob("*.bin"))
    status = main(
        [
            *("analyze", "--quiet", "--semantics", "skywalking"),
            *("--format", "skywalking-json", "--k8s-snapshot", str(SNAPSHOT)),
            *("--analyzer", chain, *paths),
        ]
    )
    assert status == 0
    actual: list[Record] = []
    for line in capsys.readouterr().out.splitlines():
        ((key, message),) = json.loads(line).items()
        (metric,) = message["metrics"]
        actual.append(("", 0, "http" if key == "httpMetrics" else "tcp", metric))
    expected: list[Record] = [
        ("", 0, kind, metric) for _, _, kind, metric in reference(fixture_set, chain)
    ]
    _assert_same(expected, actual)


def test_a_difference_reads_field_by_field() -> None:
    metric = {"endpoint": "GET:/a", "status": True}
    expected: list[Record] = [("a.bin", 0, "http", metric), ("a.bin", 1, "tcp", {})]
    actual: list[Record] = [("a.bin", 0, "http", {**metric, "status": False})]
    assert differences(expected, actual) == [
        "#0 a.bin message 0 status: meshals False != SkyWalking True",
        "#1 a.bin message 1: SkyWalking's tcp metric missing",
    ]
    assert differences(expected, expected) == []


def test_the_accounting_names_the_semantics() -> None:
    resolver = meshals.KubernetesResolver.from_file(SNAPSHOT, semantics="skywalking")
    streams = [meshals.read(path) for path in sorted((FIXTURES / "envoy").glob("*.bin"))]
    analysis = meshals.analyze(streams, resolver=resolver, semantics="skywalking")
    assert len(analysis.metrics()) == 43
    accounting = analysis.accounting
    assert (accounting.entries_in, accounting.analyzed, dict(accounting.skipped)) == (
        40,
        38,
        {
            meshals.mesh.SkipReason.SKYWALKING_GATEWAY_WITHOUT_UPSTREAM: 1,
            meshals.mesh.SkipReason.SKYWALKING_NO_ISTIO_CLUSTER: 1,
        },
    )


def test_summarize_takes_the_semantics() -> None:
    resolver = meshals.KubernetesResolver.from_file(SNAPSHOT, semantics="skywalking")
    paths = sorted((FIXTURES / "envoy").glob("*.bin"))
    ours = meshals.summarize([meshals.read(path) for path in paths], resolver=resolver)
    theirs = meshals.summarize(
        [meshals.read(path) for path in paths], resolver=resolver, semantics="skywalking"
    )
    assert (ours.accounting.metrics_out, theirs.accounting.metrics_out) == (45, 43)


def test_an_unknown_semantics_is_refused() -> None:
    with pytest.raises(ValueError, match="semantics must be 'meshals' or 'skywalking'"):
        meshals.analyze([], analyzers=["mx-mesh"], semantics="SkyWalking")  # type: ignore[arg-type]


def _properties_by_instance(records: list[Record]) -> dict[object, object]:
    found: dict[object, object] = {}
    for _, _, _, metric in records:
        for side in ("source", "dest"):
            instance = metric[f"{side}ServiceInstance"]
            if instance not in ("", "-", "UNKNOWN"):
                found[instance] = metric[f"{side}InstanceProperties"]
    return found


@pytest.mark.parametrize("fixture_set", FIXTURE_SETS)
@pytest.mark.parametrize("chain", ["k8s-mesh", "mx-mesh"])
def test_meshals_semantics_sends_skywalkings_instance_properties(
    fixture_set: str, chain: str
) -> None:
    """Instance properties are SkyWalking's in the export of meshals' own metrics too."""
    _require_reference()
    expected = _properties_by_instance(reference(fixture_set, chain))
    actual = _properties_by_instance(meshals_records(fixture_set, chain, semantics="meshals"))
    # Every instance SkyWalking names, meshals names too (and may name more).
    assert {key: actual.get(key) for key in expected} == expected
