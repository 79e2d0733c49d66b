"""ObservedResolver.from_claims: which claim names an IP, the conflicts it reports, and that
neither depends on the order of the claims."""

from __future__ import annotations

import itertools

from meshals import DiagnosticKind, Location, ServiceMetaInfo
from meshals.resolve import ChainResolver, NameClaim, ObservedResolver, StaticResolver

REVIEWS = ServiceMetaInfo(
    service="reviews", instance="reviews-v1-rvw", namespace="default", tags={"app": "reviews"}
)
RATINGS = ServiceMetaInfo(service="ratings", instance="ratings-v1-rtg", namespace="default")
DETAILS = ServiceMetaInfo(service="details", instance="details-v1-dtl", namespace="default")


def _at(source: str, index: int = 0) -> Location:
    return Location(source=source, message_index=index)


def test_an_envoys_own_name_wins_over_what_peers_say() -> None:
    resolver = ObservedResolver.from_claims(
        [
            NameClaim(ip="10.0.0.3", info=RATINGS, location=_at("b.bin", 4)),
            NameClaim(ip="10.0.0.3", info=REVIEWS, by_node=True, location=_at("a.bin", 0)),
        ]
    )
    assert resolver.table == {"10.0.0.3": REVIEWS}
    assert resolver.resolve("::ffff:10.0.0.3", 9080) == REVIEWS
    [note] = resolver.diagnostics
    assert note.kind is DiagnosticKind.NOTE
    assert str(note) == (
        "a.bin, message 0: 10.0.0.3 is reviews (reviews-v1-rvw) by its own Envoy, but peers'"
        " metadata names it ratings (ratings-v1-rtg); the Envoy's name is kept"
    )


def test_two_envoys_on_one_ip_leave_it_unnamed() -> None:
    resolver = ObservedResolver.from_claims(
        [
            NameClaim(ip="10.0.0.3", info=REVIEWS, by_node=True, location=_at("b.bin", 2)),
            NameClaim(ip="10.0.0.3", info=RATINGS, by_node=True, location=_at("b.bin", 1)),
            NameClaim(ip="10.0.0.3", info=REVIEWS, location=_at("a.bin", 7)),
        ]
    )
    assert resolver.table == {}
    assert resolver.resolve("10.0.0.3", None) is None
    assert [str(note) for note in resolver.diagnostics] == [
        "b.bin, message 1: 10.0.0.3 is named as 2 workloads by its Envoys: ratings"
        " (ratings-v1-rtg), reviews (reviews-v1-rvw); left unnamed"
    ]


def test_peers_that_disagree_leave_the_ip_unnamed() -> None:
    resolver = ObservedResolver.from_claims(
        [
            NameClaim(ip="10.0.0.5", info=RATINGS, location=_at("x")),
            NameClaim(ip="10.0.0.5", info=DETAILS, location=_at("x", 3)),
            NameClaim(ip="10.0.0.6", info=DETAILS, location=_at("x", 3)),
        ]
    )
    assert resolver.table == {"10.0.0.6": DETAILS}
    assert [note.reason for note in resolver.diagnostics] == [
        "10.0.0.5 is named as 2 workloads by peers' metadata: details (details-v1-dtl),"
        " ratings (ratings-v1-rtg); left unnamed"
    ]


def test_one_workload_named_as_two_services_is_reported() -> None:
    other = ServiceMetaInfo(service="reviews-canary", instance="reviews-v1-abc")
    resolver = ObservedResolver.from_claims(
        [
            NameClaim(ip="10.0.0.3", info=REVIEWS, workload="default/reviews-v1", by_node=True),
            NameClaim(ip="10.0.0.4", info=other, workload="default/reviews-v1", by_node=True),
        ]
    )
    assert len(resolver) == 2  # both are still named, each as its Envoy says
    assert [note.reason for note in resolver.diagnostics] == [
        "workload default/reviews-v1 is named as 2 services: reviews, reviews-canary (its"
        " pods' canonical-name labels differ)"
    ]


def test_agreeing_claims_keep_the_richest_tags() -> None:
    bare = ServiceMetaInfo(service="reviews", instance="reviews-v1-rvw", namespace="default")
    resolver = ObservedResolver.from_claims(
        [NameClaim(ip="10.0.0.3", info=bare), NameClaim(ip="10.0.0.3", info=REVIEWS)]
    )
    assert resolver.table == {"10.0.0.3": REVIEWS}
    assert resolver.diagnostics == ()


def test_claims_that_name_no_ip_are_ignored() -> None:
    resolver = ObservedResolver.from_claims([NameClaim(ip="pod-a", info=REVIEWS)])
    assert (len(resolver), resolver.diagnostics) == (0, ())
    assert repr(resolver) == "<ObservedResolver: 0 addresses, 0 notes>"


def test_the_result_does_not_depend_on_the_order_of_the_claims() -> None:
    claims = [
        NameClaim(ip="10.0.0.3", info=REVIEWS, by_node=True, location=_at("b", 2)),
        NameClaim(ip="10.0.0.3", info=RATINGS, location=_at("a", 9)),
        NameClaim(ip="10.0.0.10", info=DETAILS, workload="default/x", location=_at("c", 1)),
        NameClaim(ip="10.0.0.10", info=RATINGS, workload="default/x", location=_at("a", 5)),
        NameClaim(ip="::1", info=DETAILS, location=_at("c", 0)),
        NameClaim(ip="10.0.0.9", info=DETAILS, by_node=True, location=_at("d", 0)),
    ]
    results = {
        (resolver.to_json(), resolver.diagnostics)
        for resolver in map(ObservedResolver.from_claims, itertools.permutations(claims))
    }
    assert len(results) == 1
    [(text, diagnostics)] = results
    # IPv4 in numeric order (10.0.0.9 before 10.0.0.10), then IPv6.
    assert StaticResolver.from_json(text).resolve("10.0.0.9", None) == DETAILS
    assert list(ObservedResolver.from_claims(claims).table) == [
        "10.0.0.3",
        "10.0.0.9",
        "::1",
    ]
    assert [str(note) for note in diagnostics] == [
        # At the earliest claim about the IP (by source, then message).
        "a, message 9: 10.0.0.3 is reviews (reviews-v1-rvw) by its own Envoy, but peers'"
        " metadata names it ratings (ratings-v1-rtg); the Envoy's name is kept",
        "a, message 5: 10.0.0.10 is named as 2 workloads by peers' metadata: details"
        " (details-v1-dtl), ratings (ratings-v1-rtg); left unnamed",
        "a, message 5: workload default/x is named as 2 services: details, ratings (its"
        " pods' canonical-name labels differ)",
    ]


def test_the_json_table_is_what_the_static_resolver_reads() -> None:
    resolver = ObservedResolver.from_claims(
        [NameClaim(ip="10.0.0.3", info=REVIEWS), NameClaim(ip="10.0.0.5", info=RATINGS)]
    )
    assert resolver.to_json() == (
        "{\n"
        '  "10.0.0.3": {\n'
        '    "service": "reviews",\n'
        '    "instance": "reviews-v1-rvw",\n'
        '    "namespace": "default",\n'
        '    "tags": {\n'
        '      "app": "reviews"\n'
        "    }\n"
        "  },\n"
        '  "10.0.0.5": {\n'
        '    "service": "ratings",\n'
        '    "instance": "ratings-v1-rtg",\n'
        '    "namespace": "default"\n'
        "  }\n"
        "}\n"
    )
    static = StaticResolver.from_json(resolver.to_json())
    assert static.resolve("10.0.0.3", 1) == REVIEWS
    assert static.resolve("10.0.0.5", None) == RATINGS


def test_it_chains_after_another_resolver() -> None:
    observed = ObservedResolver.from_claims([NameClaim(ip="10.0.0.3", info=REVIEWS)])
    by_hand = StaticResolver.from_mapping({"10.0.0.3:9080": {"service": "r", "instance": "r-0"}})
    chain = ChainResolver(by_hand, observed)
    assert chain.resolve("10.0.0.3", 9080).service == "r"  # type: ignore[union-attr]
    assert chain.resolve("10.0.0.3", 15090) == REVIEWS
