"""The names the real recordings give themselves (``resolver="auto"``): every meshed workload
exactly as the hand-written tables of ground_truth.json name it, whatever the file order; the
unmeshed peers stay UNKNOWN."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import attrs
import pytest

import meshals
from meshals import UNKNOWN, AlsMessage, Identifier, Node, ServiceMetaInfo
from meshals._errors import Location
from meshals.capture import Reader
from meshals.mesh import name_claims, observed_resolver
from meshals.mesh._observed_names import two_passes, with_observed_names
from meshals.model import (
    AccessLogCommon,
    AnyValue,
    FrozenMap,
    HttpEntry,
    JsonValue,
    SocketAddress,
)
from meshals.resolve import NameClaim, ObservedResolver, StaticResolver

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
MX = FIXTURES / "mx"

# The workloads of each recording that run no Envoy (the recorder's meshes: ratings, without
# sidecar in the basic one; recommendations, mysqldb and, in mtls, the legacy client) and so
# send no peer metadata either: nothing in the capture names them.
UNMESHED = {
    "": {"127.0.0.5", "127.0.0.6", "127.0.0.8"},
    "reconnect": {"127.0.0.5", "127.0.0.6", "127.0.0.8"},
    "mtls": {"127.0.0.6", "127.0.0.8", "127.0.0.10"},
}


def _files(scenario: str) -> list[Path]:
    return sorted((ENVOY / scenario).glob("*.bin"))


def _hand_written(scenario: str) -> dict[str, tuple[str, str]]:
    truth = json.loads((ENVOY / scenario / "ground_truth.json").read_text())
    return {ip: (row["service"], row["instance"]) for ip, row in truth["resolver"].items()}


@pytest.mark.parametrize("scenario", sorted(UNMESHED))
def test_every_meshed_workload_is_named_as_the_hand_written_table_names_it(
    scenario: str,
) -> None:
    resolver = observed_resolver([meshals.read(path) for path in _files(scenario)])
    hand = _hand_written(scenario)
    named = {ip: (info.service, info.instance) for ip, info in resolver.table.items()}
    meshed = {ip: names for ip, names in hand.items() if ip not in UNMESHED[scenario]}
    assert named == meshed
    assert resolver.diagnostics == ()
    # The Envoys' metadata adds what the hand-written tables leave out.
    assert resolver.table["127.0.0.3"].namespace == "default"
    assert dict(resolver.table["127.0.0.3"].tags) == {"app": "reviews", "version": "v1"}
    assert dict(resolver.table["127.0.0.1"].tags) == {"app": "istio-ingressgateway"}


def test_the_same_table_whatever_the_file_order() -> None:
    # Each file's claims once; every order of the six files gives the same table and notes.
    per_file = [name_claims(meshals.read(path)) for path in _files("")]
    expected = ObservedResolver.from_claims(itertools.chain(*per_file))
    for order in itertools.permutations(per_file):
        resolver = ObservedResolver.from_claims(itertools.chain(*order))
        assert (resolver.to_json(), resolver.diagnostics) == (
            expected.to_json(),
            expected.diagnostics,
        )
    # And from the files themselves, reversed.
    reversed_files = observed_resolver([meshals.read(p) for p in reversed(_files(""))])
    assert reversed_files.to_json() == expected.to_json()


def test_the_mx_recordings_and_their_conflicts() -> None:
    files = sorted(MX.glob("*.bin"))
    orders = [files, files[::-1], files[2:] + files[:2]]
    results = {
        (resolver.to_json(), tuple(map(str, resolver.diagnostics)))
        for resolver in (observed_resolver([meshals.read(p) for p in order]) for order in orders)
    }
    assert len(results) == 1
    resolver = observed_resolver([meshals.read(path) for path in files])
    assert {ip: (info.service, info.instance) for ip, info in resolver.table.items()} == {
        "10.44.2.54": ("productpage", "productpage-v1-d66dcfdc5-kh6v7"),
        # Istio 1.1's flat node metadata (POD_NAME, CONFIG_NAMESPACE, app as a top-level key).
        "10.44.2.55": ("reviews", "reviews-v1-d66dcfdc5-kh6v7"),
        "10.244.0.5": ("istio-ingressgateway", "istio-ingressgateway-6f5d4"),
        "10.244.0.9": ("waypoint", "waypoint-7c6b5"),
        "10.244.1.12": ("reviews", "reviews-v2-5b6c7"),
        "10.244.1.14": ("details", "details-v1-4c3d2"),
        "10.244.1.15": ("ratings", "ratings-v1-9a8b7"),
        "10.244.1.16": ("mongodb", "mongodb-v1-0"),
        "10.244.3.3": ("認証", "認証-v1-0"),
    }
    gateway = MX / "gateway.bin"
    assert [str(note) for note in resolver.diagnostics] == [
        f"{gateway}, message 0: 10.244.1.10 is named as 2 workloads by peers' metadata:"
        " details (details-v1-4c3d2), productpage (productpage-v1-7d8f9); left unnamed",
        f"{MX / 'reviews-sidecar-http.bin'}, message 0: workload bookinfo/ratings-v1 is named"
        " as 2 services: mongodb, ratings (its pods' canonical-name labels differ)",
    ]


def _edges(summary: meshals.Summary) -> set[tuple[str, str]]:
    return set(summary.topology.edges)


def test_summarize_auto_names_as_the_hand_written_table_for_meshed_workloads() -> None:
    files = _files("")
    auto = meshals.summarize([meshals.read(path) for path in files], resolver="auto")
    hand_table = {
        ip: {"service": service, "instance": instance}
        for ip, (service, instance) in _hand_written("").items()
        if ip not in UNMESHED[""]
    }
    hand = meshals.summarize(
        [meshals.read(path) for path in files],
        resolver=StaticResolver.from_mapping(hand_table),
    )
    assert _edges(auto) == _edges(hand)
    assert (UNKNOWN.service, "istio-ingressgateway") in _edges(auto)  # the outside client
    assert ("reviews", UNKNOWN.service) in _edges(auto)  # ratings, without Envoy
    assert auto.accounting == hand.accounting
    assert auto.diagnostics == hand.diagnostics == ()


def test_analyze_auto_reads_files_twice_and_holds_other_iterators() -> None:
    path = ENVOY / "reviews-http.bin"
    expected = meshals.analyze(
        meshals.read(path), resolver=observed_resolver(meshals.read(path))
    ).metrics()
    # reviews' own sidecar names it; productpage is named by its peer metadata; ratings
    # (no Envoy) by nothing.
    assert {(m.source.service, m.destination.service) for m in expected} == {
        ("productpage", "reviews"),
        ("reviews", UNKNOWN.service),
    }
    assert expected[0].source == ServiceMetaInfo(
        service="reviews",
        instance="reviews-v1-rvw",
        namespace="default",
        tags={"app": "reviews", "version": "v1"},
    )
    # One reader of a file: reopened for the first pass, then read itself.
    reader = meshals.read(path)
    assert meshals.analyze(reader, resolver="auto").metrics() == expected
    # A generator can be read once: it is held in memory for the two passes.
    messages = (message for message in meshals.read(path))
    assert meshals.analyze(messages, resolver="auto").metrics() == expected
    # A list of streams of which one is a one-shot iterator, and a reader of an open file.
    with path.open("rb") as file:
        streams = [iter(list(meshals.read(path))), meshals.read(file)]
        metrics = meshals.analyze(streams, resolver="auto").metrics()
    assert metrics == expected + expected


def test_analyze_auto_reports_the_conflicts_first() -> None:
    files = sorted(MX.glob("*.bin"))
    analysis = meshals.analyze([meshals.read(p) for p in files], resolver="auto")
    notes = observed_resolver([meshals.read(p) for p in files]).diagnostics
    assert len(notes) == 2
    assert analysis.diagnostics[:2] == notes  # before anything is read
    analysis.metrics()
    assert analysis.diagnostics[:2] == notes


def test_a_reader_of_a_stream_cannot_be_reopened() -> None:
    path = ENVOY / "details-http.bin"
    with path.open("rb") as file:
        assert meshals.read(file).reopen() is None
    with meshals.read(path, name="details") as first:
        next(first)
        again = first.reopen()
        assert again is not None
        with again:
            messages = list(again)
    assert [message.index for message in messages][:2] == [0, 1]
    assert {message.source for message in messages} == {"details"}
    assert all(isinstance(message, AlsMessage) for message in messages)


def test_a_resolver_that_is_no_resolver_is_refused() -> None:
    with pytest.raises(ValueError, match="resolver must be a Resolver, None or 'auto'"):
        meshals.analyze([], resolver="automatic")  # type: ignore[arg-type]


# --- the claims, rule by rule, on hand-made messages -------------------------------------------

STRUCT = "type.googleapis.com/google.protobuf.Struct"
HERE = Location(source="t", message_index=0)
RATINGS_METADATA: FrozenMap[str, JsonValue] = FrozenMap(
    {"LABELS": FrozenMap({"app": "ratings", "version": "v1"}), "WORKLOAD_NAME": "ratings-v1"}
)
RATINGS_TAGS = {"app": "ratings", "version": "v1"}
RATINGS = ServiceMetaInfo(
    service="ratings", instance="ratings-v1-abc", namespace="shop", tags=RATINGS_TAGS
)
PRODUCTPAGE_PEER = AnyValue(
    type_url=STRUCT,
    value=FrozenMap(
        {
            "NAME": "productpage-v1-xyz",
            "NAMESPACE": "shop",
            "LABELS": FrozenMap({"app": "productpage"}),
            "WORKLOAD_NAME": "productpage-v1",
        }
    ),
    known=True,
)
PRODUCTPAGE_CLAIM = NameClaim(
    ip="10.0.0.2",
    info=ServiceMetaInfo(
        service="productpage",
        instance="productpage-v1-xyz",
        namespace="shop",
        tags={"app": "productpage"},
    ),
    workload="shop/productpage-v1",
    location=HERE,
)


def _message(node: Node | None, *entries: HttpEntry, index: int = 0) -> AlsMessage:
    identifier = None if node is None else Identifier(node=node)
    return AlsMessage(identifier=identifier, kind="http", entries=entries, source="t", index=index)


def _with_peer() -> HttpEntry:
    return HttpEntry(
        common_properties=AccessLogCommon(
            downstream_remote_address=SocketAddress(address="10.0.0.2", port=40000),
            filter_state_objects=FrozenMap({"downstream_peer": PRODUCTPAGE_PEER}),
        )
    )


def _by_node(ip: str, info: ServiceMetaInfo, workload: str | None) -> NameClaim:
    return NameClaim(ip=ip, info=info, workload=workload, by_node=True, location=HERE)


# (id, node, the claims its message makes)
NODE_CASES: list[tuple[str, Node, list[NameClaim]]] = [
    (
        "the node id names the pod and namespace the metadata lacks",
        Node(id="sidecar~10.0.0.7~ratings-v1-abc.shop~shop.svc.cluster.local",
             metadata=RATINGS_METADATA),
        [_by_node("10.0.0.7", RATINGS, "shop/ratings-v1")],
    ),
    (
        "a node id of three parts",
        Node(id="sidecar~10.0.0.7~ratings-v1-abc.shop", metadata=RATINGS_METADATA),
        [_by_node("10.0.0.7", RATINGS, "shop/ratings-v1")],
    ),
    (
        "a pod name with a dot: the namespace (a DNS label) follows the last dot",
        Node(id="sidecar~10.0.0.7~ratings.v1-abc.shop~shop.svc.cluster.local",
             metadata=RATINGS_METADATA),
        [_by_node("10.0.0.7", attrs.evolve(RATINGS, instance="ratings.v1-abc"),
                  "shop/ratings-v1")],
    ),
    (
        "the metadata's NAME and NAMESPACE come before the node id's",
        Node(id="sidecar~10.0.0.7~other-pod.elsewhere~elsewhere.svc.cluster.local",
             metadata=FrozenMap({**RATINGS_METADATA, "NAME": "ratings-v1-abc",
                                 "NAMESPACE": "shop"})),
        [_by_node("10.0.0.7", RATINGS, "shop/ratings-v1")],
    ),
    (
        "a NAME that is not text names nothing: the node id's pod",
        Node(id="sidecar~10.0.0.7~ratings-v1-abc.shop~shop.svc.cluster.local",
             metadata=FrozenMap({**RATINGS_METADATA, "NAME": 7})),
        [_by_node("10.0.0.7", RATINGS, "shop/ratings-v1")],
    ),
    (
        "a short node id and NAME without NAMESPACE: no namespace",
        Node(id="sidecar~10.0.0.7",
             metadata=FrozenMap({**RATINGS_METADATA, "NAME": "ratings-v1-abc"})),
        [_by_node("10.0.0.7", attrs.evolve(RATINGS, namespace=None), "/ratings-v1")],
    ),
    (
        "a node id without pod and metadata without NAME: no instance, no claim",
        Node(id="10.0.0.7", metadata=FrozenMap({**RATINGS_METADATA,
                                                "INSTANCE_IPS": "10.0.0.7"})),
        [],
    ),
    (
        "a node without IPs names no address",
        Node(id="sidecar~~ratings-v1-abc.shop~shop.svc.cluster.local", metadata=RATINGS_METADATA),
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("node", "expected"), [case[1:] for case in NODE_CASES], ids=[case[0] for case in NODE_CASES]
)
def test_a_node_names_its_own_ips(node: Node, expected: list[NameClaim]) -> None:
    assert name_claims([_message(node)]) == expected


def test_entries_without_common_properties_or_identifier_name_only_their_peers() -> None:
    node = Node(id="sidecar~10.0.0.7~ratings-v1-abc.shop~shop.svc.cluster.local",
                metadata=RATINGS_METADATA)  # fmt: skip
    ratings = _by_node("10.0.0.7", RATINGS, "shop/ratings-v1")
    assert name_claims([_message(node, HttpEntry(), _with_peer())]) == [ratings, PRODUCTPAGE_CLAIM]
    # A stream whose first message has no identifier: its node is unknown, its peers are not.
    assert name_claims([_message(None, _with_peer())]) == [PRODUCTPAGE_CLAIM]


def test_a_later_identifier_names_its_node_only_when_reidentifying() -> None:
    ratings_node = Node(id="sidecar~10.0.0.7~ratings-v1-abc.shop~shop.svc.cluster.local",
                        metadata=RATINGS_METADATA)  # fmt: skip
    details_node = Node(
        id="sidecar~10.0.0.9~details-v1-def.shop~shop.svc.cluster.local",
        metadata=FrozenMap[str, JsonValue]({"LABELS": FrozenMap({"app": "details"})}),
    )
    stream = [_message(ratings_node), _message(details_node, index=1)]
    ratings = _by_node("10.0.0.7", RATINGS, "shop/ratings-v1")
    details = NameClaim(
        ip="10.0.0.9",
        info=ServiceMetaInfo(
            service="details", instance="details-v1-def", namespace="shop", tags={"app": "details"}
        ),
        by_node=True,
        location=Location(source="t", message_index=1),
    )
    assert name_claims(stream) == [ratings]
    assert name_claims(stream, reidentify=True) == [ratings, details]
    assert set(observed_resolver(stream).table) == {"10.0.0.7"}
    assert set(observed_resolver(stream, reidentify=True).table) == {"10.0.0.7", "10.0.0.9"}
    for reidentify, named in ((False, {"10.0.0.7"}), (True, {"10.0.0.7", "10.0.0.9"})):
        second, resolver = with_observed_names([stream], reidentify=reidentify)
        assert (second, set(resolver.table)) == ([stream], named)


def test_two_passes_reopen_a_file_and_take_a_list_as_it_is() -> None:
    path = ENVOY / "details-http.bin"
    with meshals.read(path) as reader:
        first, second = two_passes(reader)
        assert second == [reader]
        (again,) = first
        assert isinstance(again, Reader)
        assert again is not reader
        with again:
            assert list(again) == list(meshals.read(path))
    messages = list(meshals.read(path))
    first, second = two_passes([messages])
    assert first[0] is messages
    assert second[0] is messages
