"""Shared test set-up: Hypothesis profiles, fixture paths and the recordings' period."""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# --- the analysed period of the Envoy recordings, worked out from their JSON form ---------------

ENVOY_FIXTURES = FIXTURES / "envoy"


def _timestamp_ns(text: str) -> int:
    """A proto3 JSON Timestamp (``2026-11-21T09:08:31.129330Z``) in ns since the epoch."""
    whole, _, fraction = text.removesuffix("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def _duration_ns(text: str) -> int:
    """A proto3 JSON Duration (``0.003435156s``) in ns."""
    whole, _, fraction = text.removesuffix("s").partition(".")
    return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def _recorded_extents() -> list[tuple[int, int]]:
    """When each call of the Envoy recordings started and ended on each side that logged it.

    From the ``.jsonl`` twins of the ``.bin`` files and ``ground_truth.json``'s directions, not
    from meshals: a server side (inbound, a gateway's downstream) runs from ``startTime`` to
    the last byte sent downstream; a client side (outbound, a gateway's upstream unless no
    route was found) from the first byte sent upstream to the last byte received from it;
    ``duration`` where a last byte is not logged.
    """
    truth = json.loads((ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8"))
    extents = []
    for name, stream in truth["streams"].items():
        entries = []
        for line in (ENVOY_FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            message = json.loads(line)
            entries += (message.get("httpLogs") or message["tcpLogs"])["logEntry"]
        assert len(entries) == len(stream["entries"]), name
        for expected, entry in zip(stream["entries"], entries, strict=True):
            common = entry["commonProperties"]
            start = _timestamp_ns(common["startTime"])
            offsets = {key: _duration_ns(value) for key, value in common.items()
                       if key.startswith("timeTo") or key == "duration"}  # fmt: skip
            direction = expected["direction"]
            if direction in ("inbound", "gateway"):
                last = offsets.get("timeToLastDownstreamTxByte", offsets["duration"])
                extents.append((start, start + last))
            if direction in ("outbound", "gateway") and "NR" not in expected["response_flags"]:
                first = offsets.get("timeToFirstUpstreamTxByte", 0)
                last = offsets.get("timeToLastUpstreamRxByte", offsets["duration"])
                extents.append((start + first, start + last))
    return extents


@pytest.fixture(scope="session")
def recorded_extents_ns() -> list[tuple[int, int]]:
    """Each call side's start and end in the Envoy recordings (the bookinfo example), in ns."""
    extents = _recorded_extents()
    assert len(extents) == 45  # one per metric meshals makes of them
    return extents


@pytest.fixture(scope="session")
def recorded_period_ns(recorded_extents_ns: list[tuple[int, int]]) -> tuple[int, int]:
    """The Envoy recordings' (and the bookinfo example's) first start and last end, in ns."""
    extents = recorded_extents_ns
    return min(start for start, _ in extents), max(end for _, end in extents)
