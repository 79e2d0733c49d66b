"""``tools/make_diff_fixtures.py``: tests/fixtures/diff is what it writes, and holds exactly the
changes it says it injects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import meshals
from meshals.model import AlsMessage, HttpEntry

TOOLS = Path(__file__).parent.parent / "tools"
sys.path.insert(0, str(TOOLS))

import make_diff_fixtures  # noqa: E402 -- a script in tools/, importable once on the path

FIXTURES = Path(__file__).parent / "fixtures"


def _messages(path: Path) -> list[AlsMessage]:
    with meshals.read(path) as reader:
        messages = [record for record in reader if isinstance(record, AlsMessage)]
    return messages


def _entries(path: Path) -> list[HttpEntry]:
    return [entry for message in _messages(path) for entry in message.http_entries]


@pytest.mark.parametrize("name", make_diff_fixtures.CAPTURES)
def test_the_after_captures_are_what_the_tool_writes(name: str) -> None:
    written = (FIXTURES / "diff" / "after" / f"{name}.bin").read_bytes()
    assert make_diff_fixtures.after_capture(name) == written


def test_the_resolver_is_what_the_tool_writes() -> None:
    written = (FIXTURES / "diff" / "resolver.json").read_text(encoding="utf-8")
    assert make_diff_fixtures.resolver_table() == written


@pytest.mark.parametrize(
    "name", ["details-http", "istio-ingressgateway-http", "mongodb-tcp", "productpage-tcp"]
)
def test_unchanged_captures_reencode_to_the_same_messages(name: str) -> None:
    before = _messages(FIXTURES / "envoy" / f"{name}.bin")
    assert _messages(FIXTURES / "diff" / "after" / f"{name}.bin") == before


def test_reviews_answers_503_and_nothing_else_changed() -> None:
    before = _entries(FIXTURES / "envoy" / "reviews-http.bin")
    after = _entries(FIXTURES / "diff" / "after" / "reviews-http.bin")
    inbound = [
        entry.common_properties is not None
        and entry.common_properties.upstream_cluster.startswith("inbound|")
        for entry in before
    ]
    assert sum(inbound) == 5
    for old, new, served in zip(before, after, inbound, strict=True):
        assert new.response is not None
        assert old.response is not None
        expected = 503 if served else old.response.response_code
        assert new.response.response_code == expected
        assert new.common_properties == old.common_properties


def test_productpage_calls_reviews_v2_and_no_longer_recommendations() -> None:
    before = _entries(FIXTURES / "envoy" / "productpage-http.bin")
    after = _entries(FIXTURES / "diff" / "after" / "productpage-http.bin")

    def clusters(entries: list[HttpEntry]) -> list[str]:
        return [
            entry.common_properties.upstream_cluster for entry in entries if entry.common_properties
        ]

    gone = "outbound|9080||recommendations.default.svc.cluster.local"
    new = "outbound|9080||reviews-v2.default.svc.cluster.local"
    assert clusters(before).count(gone) == 1
    assert gone not in clusters(after)
    assert new not in clusters(before)
    assert clusters(after).count(new) == 1
    assert len(after) == len(before)  # one call gone, one new
