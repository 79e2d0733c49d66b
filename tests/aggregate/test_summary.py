"""Summary: its diagnostics in one total order, its dict form, and merging with its settings."""

from __future__ import annotations

from typing import Any

import pytest

from meshals import AggregateError, Diagnostic, DiagnosticKind, Location
from meshals.aggregate._red import red
from meshals.aggregate._summary import Summary, summarize
from meshals.aggregate._topology import topology
from meshals.examples import example
from meshals.mesh._analysis import analyze
from meshals.mesh._roles import fixed_role
from meshals.model._role import Role

BOOKINFO = example("bookinfo")
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
