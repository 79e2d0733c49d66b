"""RED groups in their exact order whatever the input order, and the messages users read."""

from __future__ import annotations

import random

import pytest

from meshals import AggregateError, Role
from meshals.aggregate._red import RedAccumulator, RedKey, RedStats, red
from meshals.model._metrics import DetectPoint, EntryTimings, MeshProtocol, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo
from meshals.output._notebook import red_html

S = 1_000_000_000
MINUTE = 60 * S
T0 = 1_704_207_840 * S  # 2024-01-02T15:04:00Z, a whole minute


def _call(source: str, destination: str, endpoint: str, second: int) -> ServiceMeshMetric:
    service, _, version = destination.partition("-")
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.HTTP,
        source=ServiceMetaInfo(service=source, instance=f"{source}-v1"),
        destination=ServiceMetaInfo(service=service, instance=f"{service}-{version}"),
        endpoint=endpoint,
        response_code=200,
        status=True,
        timings=EntryTimings(start_time_ns=T0 + second * S, time_to_last_downstream_tx_byte_ns=S),
    )


# Sources, services, instances, endpoints and windows each sort differently from the others.
CALLS = [
    _call("productpage", "reviews-v2", "GET:/a", 1),
    _call("productpage", "reviews-v1", "GET:/b", 61),
    _call("productpage", "reviews-v1", "GET:/b", 2),
    _call("productpage", "reviews-v1", "GET:/a", 62),
    _call("reviews", "ratings-v1", "GET:/r", 3),
    _call("gateway", "productpage-v1", "GET:/p", 63),
    _call("gateway", "productpage-v1", "GET:/p", 4),
]


def _shuffled(seed: int) -> list[ServiceMeshMetric]:
    calls = list(CALLS)
    random.Random(seed).shuffle(calls)
    return calls


def _key(
    service: str,
    minute: int,
    *,
    instance: str | None = None,
    endpoint: str | None = None,
    source: str | None = None,
) -> RedKey:
    return RedKey(
        source=source,
        service=service,
        instance=instance,
        endpoint=endpoint,
        window_start_ns=T0 + minute * MINUTE,
    )


ORDER_CASES = [
    (
        "service",
        [
            _key("productpage", 0),
            _key("productpage", 1),
            _key("ratings", 0),
            _key("reviews", 0),
            _key("reviews", 1),
        ],
    ),
    (
        "instance",
        [
            _key("productpage", 0, instance="productpage-v1"),
            _key("productpage", 1, instance="productpage-v1"),
            _key("ratings", 0, instance="ratings-v1"),
            _key("reviews", 0, instance="reviews-v1"),
            _key("reviews", 1, instance="reviews-v1"),
            _key("reviews", 0, instance="reviews-v2"),
        ],
    ),
    (
        "endpoint",
        [
            _key("productpage", 0, endpoint="GET:/p"),
            _key("productpage", 1, endpoint="GET:/p"),
            _key("ratings", 0, endpoint="GET:/r"),
            _key("reviews", 0, endpoint="GET:/a"),
            _key("reviews", 1, endpoint="GET:/a"),
            _key("reviews", 0, endpoint="GET:/b"),
            _key("reviews", 1, endpoint="GET:/b"),
        ],
    ),
    (
        "edge",
        [
            _key("productpage", 0, source="gateway"),
            _key("productpage", 1, source="gateway"),
            _key("reviews", 0, source="productpage"),
            _key("reviews", 1, source="productpage"),
            _key("ratings", 0, source="reviews"),
        ],
    ),
]


@pytest.mark.parametrize(("scope", "keys"), ORDER_CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_in_key_order_whatever_the_input_order(
    scope: str, keys: list[RedKey], seed: int
) -> None:
    stats = red(_shuffled(seed), scope=scope, window="1m")
    assert [row.key for row in stats.rows()] == keys
    assert list(stats.groups) == keys
    # Each group counts the calls keyed to it by hand.
    by_hand = [_key_by_hand(scope, call) for call in CALLS]
    assert [row.stats.requests for row in stats.rows()] == [by_hand.count(key) for key in keys]
    assert all(row.rate == row.stats.requests / 60 for row in stats.rows())


def _key_by_hand(scope: str, call: ServiceMeshMetric) -> RedKey:
    assert call.start_time_ns is not None
    return RedKey(
        service=call.destination.service,
        instance=call.destination.instance if scope == "instance" else None,
        endpoint=call.endpoint if scope == "endpoint" else None,
        source=call.source.service if scope == "edge" else None,
        window_start_ns=call.start_time_ns // MINUTE * MINUTE,
    )


def test_merged_parts_keep_the_order() -> None:
    parts = [red(_shuffled(seed)[:4], scope="instance", window="1m") for seed in range(3)]
    merged = RedStats.merge_all(parts)
    assert list(merged.groups) == sorted(merged.groups, key=RedKey.sort_key)
    assert len(merged.groups) >= 4


def test_notebook_html_is_the_red_table() -> None:
    stats = red(CALLS, scope="instance", window="1m")
    assert stats._repr_html_() == red_html(stats)
    assert "<caption>RED by instance" in (stats._repr_html_() or "")


MESSAGE_CASES: list[tuple[dict[str, object], str]] = [
    ({"scope": "pod"}, r"^not a scope: 'pod' \(service, instance, endpoint or edge\)$"),
    ({"window": 0}, r"^a time window must be a positive ns count: 0$"),
    ({"window": -5}, r"^a time window must be a positive ns count: -5$"),
    ({"window": True}, r"^a time window must be a positive ns count: True$"),
]


@pytest.mark.parametrize(("settings", "message"), MESSAGE_CASES)
def test_bad_settings_say_what(settings: dict[str, object], message: str) -> None:
    with pytest.raises(AggregateError, match=message):
        red([], **settings)  # type: ignore[arg-type]
    with pytest.raises(AggregateError, match=message):
        RedStats.merge_all([], **settings)  # type: ignore[arg-type]


def test_merge_messages_name_both_settings() -> None:
    by_service = red(CALLS)
    by_instance = red(CALLS, scope="instance", window="1m")
    with pytest.raises(
        AggregateError,
        match=r"^cannot merge RED statistics by service/None ns "
        r"with ones by instance/60000000000 ns$",
    ):
        by_service.merge(by_instance)
    accumulator = RedAccumulator("instance", window="1m")
    with pytest.raises(
        AggregateError,
        match=r"^cannot merge RED statistics by service/None ns "
        r"into ones by instance/60000000000 ns$",
    ):
        accumulator.add_stats(by_service)
    assert (by_service + by_service).groups[RedKey(service="reviews")].server.requests == 8


@pytest.mark.parametrize(
    ("key", "sort_key"),
    [
        (RedKey(service="reviews"), ("", "reviews", "", "", -1)),
        (
            RedKey(source="a", service="b", instance="c", endpoint="d", window_start_ns=0),
            ("a", "b", "c", "d", 0),
        ),
        (RedKey(service="", instance="", endpoint="", source=""), ("", "", "", "", -1)),
    ],
)
def test_sort_key(key: RedKey, sort_key: tuple[str, str, str, str, int]) -> None:
    assert key.sort_key() == sort_key


def test_empty_names_sort_first() -> None:
    # An empty name is a name like any other: before every other one, not after capitals.
    calls = [
        _call("Ab", "reviews-v1", "GET:/", 0),
        _call("", "reviews-", "", 0),
    ]
    assert [row.key.source for row in red(calls, scope="edge").rows()] == ["", "Ab"]
    assert [row.key.endpoint for row in red(calls, scope="endpoint").rows()] == ["", "GET:/"]


def test_the_shortest_window_is_one_ns() -> None:
    assert red(CALLS[:1], window=1).groups == {
        RedKey(service="reviews", window_start_ns=T0 + S): red(CALLS[:1]).groups[
            RedKey(service="reviews")
        ]
    }
