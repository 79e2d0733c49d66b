"""Summary: its diagnostics in one total order, its dict form, and merging with its settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

import meshals
from meshals import AggregateError, Diagnostic, DiagnosticKind, Location
from meshals.aggregate._red import red
from meshals.aggregate._summary import Summary, summarize
from meshals.aggregate._topology import topology
from meshals.examples import example
from meshals.mesh._analysis import analyze
from meshals.mesh._roles import fixed_role
from meshals.model._metrics import DetectPoint, EntryTimings, MeshProtocol, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo
from meshals.resolve import MetadataServiceMapping, Resolver

BOOKINFO = example("bookinfo")
FIXTURES = Path(__file__).parents[1] / "fixtures"
SKIPPED, IGNORED = DiagnosticKind.ENTRY_SKIPPED, DiagnosticKind.VALUE_IGNORED


def _diagnostic(  # noqa: PLR0917 -- a table row's columns
    source: str = "a.bin",
    message: int | None = None,
    entry: int | None = None,
    field: str | None = None,
    kind: DiagnosticKind = IGNORED,
    reason: str = "r",
) -> Diagnostic:
    return Diagnostic(
        kind=kind,
        location=Location(source=source, message_index=message, entry_index=entry, field=field),
        reason=reason,
    )


# Each diagnostic sorts before the next, by one part of the order at a time.
IN_ORDER = [
    _diagnostic(source="a.bin"),
    _diagnostic(message=0),
    _diagnostic(message=0, entry=0),
    _diagnostic(message=0, entry=1),
    _diagnostic(message=0, entry=1, field="a"),
    _diagnostic(message=0, entry=1, field="b", kind=SKIPPED),
    _diagnostic(message=0, entry=1, field="b", kind=IGNORED, reason="a"),
    _diagnostic(message=0, entry=1, field="b", kind=IGNORED, reason="b"),
    _diagnostic(message=2),
    _diagnostic(source="b.bin"),
]


def test_diagnostics_are_kept_in_order() -> None:
    assert Summary(diagnostics=tuple(reversed(IN_ORDER))).diagnostics == tuple(IN_ORDER)
    shuffled = IN_ORDER[3::2] + IN_ORDER[::2] + IN_ORDER[1::4]
    assert Summary(diagnostics=tuple(shuffled)).diagnostics == tuple(
        sorted(shuffled, key=IN_ORDER.index)
    )


def test_to_dict() -> None:
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
    summary = Summary(
        topology=summary.topology,
        red=summary.red,
        accounting=summary.accounting,
        diagnostics=(IN_ORDER[5], IN_ORDER[0]),
    )
    assert summary.to_dict() == {
        "relative_accuracy": 0.01,
        "topology": summary.topology.to_dict(),
        "red": summary.red.to_dict(),
        "accounting": summary.accounting.to_dict(),
        "diagnostics": [
            {
                "kind": "value-ignored",
                "source": "a.bin",
                "message_index": None,
                "entry_index": None,
                "field": None,
                "reason": "r",
            },
            {
                "kind": "entry-skipped",
                "source": "a.bin",
                "message_index": 0,
                "entry_index": 1,
                "field": "b",
                "reason": "r",
            },
        ],
    }


def test_merge_and_add() -> None:
    streams = list(BOOKINFO.streams())
    resolver = BOOKINFO.resolver()
    first = summarize(streams[:2], resolver=resolver)
    rest = summarize(streams[2:], resolver=resolver)
    assert first.merge(rest) == first + rest == summarize(streams, resolver=resolver)
    assert first + Summary() == first
    with pytest.raises(TypeError):
        first + 1  # type: ignore[operator]


def test_merge_needs_equal_settings() -> None:
    with pytest.raises(
        AggregateError,
        match=r"^cannot merge a summary by service/None ns/accuracy 0\.01 "
        r"with one by endpoint/60000000000 ns/accuracy 0\.02$",
    ):
        Summary().merge(
            Summary.merge_all([], scope="endpoint", window="1m", relative_accuracy=0.02)
        )


def test_summarize_passes_every_setting_on() -> None:
    # The same as analysing with the same settings and aggregating the metrics by hand.
    resolver = BOOKINFO.resolver()
    settings: dict[str, Any] = {"role_rule": fixed_role(Role.PROXY)}
    summary = summarize(
        BOOKINFO.streams(),
        resolver=resolver,
        scope="endpoint",
        window="1m",
        relative_accuracy=0.02,
        **settings,
    )
    analysis = analyze(BOOKINFO.streams(), resolver=resolver, **settings)
    metrics = analysis.metrics()
    assert summary.red == red(metrics, scope="endpoint", window="1m", relative_accuracy=0.02)
    assert summary.topology == topology(metrics, relative_accuracy=0.02)
    assert summary.accounting == analysis.accounting
    assert summary.relative_accuracy == 0.02
    assert {metric.role for metric in metrics} == {Role.PROXY}


@pytest.mark.parametrize("field", ["A", "Z", "a", "common_properties.start_time"])
def test_a_diagnostic_without_a_field_sorts_first(field: str) -> None:
    without, with_field = (
        _diagnostic(message=0, entry=1),
        _diagnostic(message=0, entry=1, field=field),
    )
    assert Summary(diagnostics=(with_field, without)).diagnostics == (without, with_field)


def test_merge_needs_equal_settings_either_way() -> None:
    with pytest.raises(
        AggregateError,
        match=r"^cannot merge a summary by endpoint/60000000000 ns/accuracy 0\.02 "
        r"with one by service/None ns/accuracy 0\.01$",
    ):
        Summary.merge_all([], scope="endpoint", window="1m", relative_accuracy=0.02).merge(
            Summary()
        )


def test_merge_all_keeps_the_settings_and_the_diagnostics() -> None:
    streams = list(BOOKINFO.streams())
    settings: dict[str, Any] = {
        "resolver": BOOKINFO.resolver(),
        "scope": "endpoint",
        "window": "1m",
        "relative_accuracy": 0.02,
    }
    first = attrs.evolve(summarize(streams[:2], **settings), diagnostics=(IN_ORDER[8],))
    rest = attrs.evolve(summarize(streams[2:], **settings), diagnostics=(IN_ORDER[0],))
    merged = Summary.merge_all([rest, first])
    assert merged == attrs.evolve(
        summarize(streams, **settings), diagnostics=(IN_ORDER[0], IN_ORDER[8])
    )
    assert (merged.red.scope.value, merged.red.window_ns, merged.relative_accuracy) == (
        "endpoint",
        60_000_000_000,
        0.02,
    )


def test_merge_all_keeps_the_accuracy_of_untimed_traffic() -> None:
    # A call without timestamps: its group's sketch is empty, of the summary's accuracy.
    untimed = ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.HTTP,
        source=ServiceMetaInfo(service="a", instance="a-1"),
        destination=ServiceMetaInfo(service="b", instance="b-1"),
        status=True,
        timings=EntryTimings(),
    )
    summary = Summary(
        topology=topology([untimed], relative_accuracy=0.02),
        red=red([untimed], relative_accuracy=0.02),
        relative_accuracy=0.02,
    )
    merged = Summary.merge_all([summary, Summary.merge_all([], relative_accuracy=0.02)])
    assert merged == summary
    (group,) = merged.red.groups.values()
    assert (group.server.requests, group.server.latency.relative_accuracy) == (1, 0.02)


def _multiplexed() -> Iterator[object]:
    # Every Envoy's messages in one stream, as a collector that multiplexes them writes them.
    return iter([[message for stream in BOOKINFO.streams() for message in stream]])


def _mx_multiplexed() -> Iterator[object]:
    # The mx recordings' messages in one stream: the names a stream's later identifiers
    # claim are read only with reidentify.
    messages: list[object] = []
    for path in sorted((FIXTURES / "mx").glob("*.bin")):
        with meshals.read(path) as reader:
            messages.extend(reader)
    return iter([messages])


def _rbac() -> Iterator[object]:
    with contextlib.ExitStack() as stack:
        yield from [
            stack.enter_context(meshals.read(path))
            for path in sorted((FIXTURES / "envoy" / "rbac").glob("*.bin"))
        ]


def _waypoint() -> Iterator[object]:
    with meshals.read(FIXTURES / "mx" / "waypoint.bin") as reader:
        yield reader


def _bookinfo() -> Iterator[object]:
    return BOOKINFO.streams()


RBAC_RESOLVER = meshals.KubernetesResolver.from_file(FIXTURES / "k8s" / "bookinfo-rbac.json")
MAPPING = MetadataServiceMapping(service_name="${LABELS.app}", service_instance_name="${NAME}")


@pytest.mark.parametrize(
    ("streams", "resolver", "settings"),
    [
        (_multiplexed, BOOKINFO.resolver(), {"reidentify": True}),
        (_mx_multiplexed, "auto", {"reidentify": True}),
        (_rbac, RBAC_RESOLVER, {"endpoint_query": "strip"}),
        (_waypoint, None, {"analyzers": ("mx-mesh",), "mapping": MAPPING}),
        (_bookinfo, BOOKINFO.resolver(), {"semantics": "skywalking"}),
    ],
    ids=["reidentify", "auto-reidentify", "endpoint-query", "mapping", "semantics"],
)
def test_summarize_passes_each_analysis_setting_on(
    streams: Callable[[], Iterator[object]],
    resolver: Resolver | Literal["auto"] | None,
    settings: dict[str, Any],
) -> None:
    # Summarised with the setting and without: each as analysing with the same settings and
    # aggregating the metrics by hand, and the setting changes the result.
    analyzers = settings.get("analyzers", ("k8s-mesh",))
    results = []
    for given in (settings, {"analyzers": analyzers}):
        summary = summarize(streams(), resolver=resolver, scope="endpoint", **given)
        analysis = analyze(streams(), resolver=resolver, **given)
        metrics = analysis.metrics()
        assert summary.red == red(metrics, scope="endpoint")
        assert summary.topology == topology(metrics)
        assert summary.accounting == analysis.accounting
        assert summary.diagnostics == Summary(diagnostics=analysis.diagnostics).diagnostics
        results.append(summary)
    assert results[0] != results[1]
