"""The bundled example: the real recordings and a resolver consistent with their ground truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from meshals import AlsMessage, MeshalsError, StaticResolver, analyze
from meshals.examples import example, names

ENVOY = Path(__file__).parent / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads((ENVOY / "ground_truth.json").read_text())
CAPTURES = [
    "details-http.bin",
    "istio-ingressgateway-http.bin",
    "mongodb-tcp.bin",
    "productpage-http.bin",
    "productpage-tcp.bin",
    "reviews-http.bin",
]


def test_names() -> None:
    assert names() == ("bookinfo",)


def test_the_captures_are_the_recorded_fixtures_byte_for_byte() -> None:
    captures = example("bookinfo").captures()
    assert [capture.name for capture in captures] == CAPTURES
    for capture in captures:
        assert capture.read_bytes() == (ENVOY / capture.name).read_bytes()


def test_the_resolver_names_every_pod_as_the_ground_truth_does() -> None:
    resolver = example("bookinfo").resolver()
    assert isinstance(resolver, StaticResolver)
    assert len(resolver) == len(GROUND_TRUTH["resolver"]) == 8
    for ip, expected in GROUND_TRUTH["resolver"].items():
        found = resolver.resolve(ip, 9080)
        assert found is not None
        assert (found.service, found.instance) == (expected["service"], expected["instance"])
    gateway = resolver.resolve("127.0.0.1", None)
    productpage = resolver.resolve("127.0.0.2", None)
    assert gateway is not None
    assert productpage is not None
    assert (gateway.namespace, dict(gateway.tags)) == (
        "istio-system",
        {"app": "istio-ingressgateway"},
    )
    assert (productpage.namespace, dict(productpage.tags)) == (
        "default",
        {"app": "productpage", "version": "v1"},
    )
    assert resolver.resolve(GROUND_TRUTH["external_client_ip"], None) is None
    for vip in GROUND_TRUTH["service_vips"]:
        assert resolver.resolve(vip, None) is None


def test_analysing_the_example() -> None:
    bookinfo = example("bookinfo")
    analysis = analyze(bookinfo.streams(), resolver=bookinfo.resolver())
    metrics = analysis.metrics()
    accounting = analysis.accounting
    assert (accounting.streams, accounting.entries_in, accounting.analyzed) == (6, 40, 40)
    assert len(metrics) == 45
    edges = Counter(
        (metric.source.service, metric.destination.service, metric.detect_point.value)
        for metric in metrics
    )
    assert edges == {
        ("UNKNOWN", "istio-ingressgateway", "server"): 6,
        ("istio-ingressgateway", "productpage", "client"): 5,
        ("istio-ingressgateway", "productpage", "server"): 5,
        ("productpage", "details", "client"): 4,
        ("productpage", "details", "server"): 4,
        ("productpage", "reviews", "client"): 5,
        ("productpage", "reviews", "server"): 5,
        ("productpage", "UNKNOWN", "client"): 1,
        ("productpage", "recommendations", "client"): 1,
        ("productpage", "mongodb", "client"): 2,
        ("productpage", "mongodb", "server"): 2,
        ("productpage", "mysqldb", "client"): 1,
        ("reviews", "ratings", "client"): 4,
    }


def test_each_stream_is_closed_when_the_next_one_opens() -> None:
    streams = example("bookinfo").streams()
    first = next(streams)
    assert isinstance(next(first), AlsMessage)
    second = next(streams)
    with pytest.raises(StopIteration):  # closed: reads nothing more
        next(first)
    assert isinstance(next(second), AlsMessage)
    streams.close()


def test_an_unknown_example() -> None:
    with pytest.raises(MeshalsError, match=r"no example named 'nope' \(examples: bookinfo\)"):
        example("nope")
