"""The k8s-mesh analyzer's memo of placements: bounded, and its address keys complete.

That remembered placements equal fresh ones, entry by entry, on the recordings and generated
streams: ``tests/property/test_placement_memo.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import meshals
from meshals.mesh import _k8s_mesh
from meshals.mesh._accounting import SkipReason
from meshals.mesh._addresses import (
    address_key,
    endpoint_of,
    endpoint_of_key,
    node_ips,
    socket_endpoint_of,
)
from meshals.mesh._k8s_mesh import EntryAnalyzer
from meshals.mesh._streams import Stream
from meshals.model import EnvoyInternalAddress, PipeAddress, SocketAddress
from meshals.model._metrics import MetricOrigin, ServiceMeshMetric
from meshals.resolve._resolvers import StaticResolver

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECORDINGS = sorted((FIXTURES / "envoy").glob("*.bin")) + sorted((FIXTURES / "mx").glob("*.bin"))
GROUND_TRUTH = json.loads((FIXTURES / "envoy" / "ground_truth.json").read_text(encoding="utf-8"))
RESOLVER = StaticResolver.from_mapping(GROUND_TRUTH["resolver"])


def analyze_recordings(
    analyzer: EntryAnalyzer,
) -> Iterator[tuple[ServiceMeshMetric, ...] | SkipReason]:
    """*analyzer*'s outcome for each entry of the recordings, one after the other."""
    for path in RECORDINGS:
        for item in Stream(meshals.read(path).messages(), reidentify=True):
            if item.identifier is None:
                continue
            own_ips = node_ips(item.identifier.node)
            for entry in item.message.entries:
                yield analyzer.analyze(
                    entry, role=item.role, own_ips=own_ips, origin=MetricOrigin()
                )


def test_the_memo_forgets_everything_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_k8s_mesh, "_PLACEMENTS_MAX", 3)
    analyzer = EntryAnalyzer(RESOLVER)
    seen = [len(analyzer._placements) for _ in analyze_recordings(analyzer)]
    assert max(seen) == 3
    assert 1 in seen[1:]  # it was cleared and filled again


def test_an_ip_only_resolver_is_asked_once_per_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    # The ground truth's resolver names IPs only: the caller is resolved by IP, with the rest
    # of the placement, and each placement is decided once, however many entries share it.
    questions: list[tuple[str, int | None]] = []
    resolve = StaticResolver.resolve

    def asked(self: StaticResolver, ip: str, port: int | None, /) -> object:
        questions.append((ip, port))
        return resolve(self, ip, port)

    monkeypatch.setattr(StaticResolver, "resolve", asked)
    analyzer = EntryAnalyzer(RESOLVER)
    outcomes = list(analyze_recordings(analyzer))
    entries = len(outcomes)
    metrics = sum(0 if isinstance(outcome, SkipReason) else len(outcome) for outcome in outcomes)
    assert (entries, metrics, len(analyzer._placements)) == (56, 64, 26)
    assert (len(questions), len(set(questions))) == (56, 31)
    # Callers by IP (None); the local and upstream hosts by their service ports.
    assert {port for _, port in questions} == {None, 3306, 8080, 9080, 9091, 15008, 27017, 31400}


ADDRESSES = [
    None,
    SocketAddress(address="10.44.2.54", port=9080),
    SocketAddress(address="10.44.2.54"),
    SocketAddress(address="", port=9080),
    SocketAddress(address="fd00::2", port=15006, named_port="http"),
    EnvoyInternalAddress(server_listener_name="connect_originate", endpoint_id="10.44.2.55:9080"),
    EnvoyInternalAddress(endpoint_id="[fd00::2]:9080"),
    EnvoyInternalAddress(endpoint_id="reviews:9080"),
    EnvoyInternalAddress(endpoint_id=""),
    PipeAddress(path="/run/envoy.sock"),
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_key_holds_all_the_rules_read_of_the_address(
    address: SocketAddress | EnvoyInternalAddress | PipeAddress | None,
) -> None:
    key = address_key(address)
    assert endpoint_of_key(key) == endpoint_of(address)
    assert endpoint_of_key(key, sockets_only=True) == socket_endpoint_of(address)
    hash(key)
