"""A metric's facts (``_kinds.facts_of``) against the metric's own time properties.

``facts_of`` computes a call's start, end and latency inline, once per metric, for every
aggregate; they must be what ``ServiceMeshMetric.start_time_ns``, ``end_time_ns`` and
``latency_ns`` say, for either side and any times Envoy logs or leaves out.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshals.aggregate._kinds import facts_of
from meshals.aggregate._sketch import _boundaries, _key
from meshals.model import UNKNOWN
from meshals.model._metrics import DetectPoint, EntryTimings, MeshProtocol, ServiceMeshMetric
from meshals.model._role import Role

TABLE = _boundaries(0.01)
# Ns since the epoch, offsets of either sign (a clock step makes them negative), or nothing.
TIMES = st.none() | st.integers(min_value=0, max_value=2**62)
OFFSETS = st.none() | st.integers(min_value=-(10**12), max_value=10**12)


def metric(detect_point: DetectPoint, timings: EntryTimings) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=Role.SIDECAR,
        detect_point=detect_point,
        protocol=MeshProtocol.HTTP,
        source=UNKNOWN,
        destination=UNKNOWN,
        status=True,
        timings=timings,
    )


@given(
    detect_point=st.sampled_from(DetectPoint),
    timings=st.builds(
        EntryTimings,
        start_time_ns=TIMES,
        time_to_first_upstream_tx_byte_ns=OFFSETS,
        time_to_last_upstream_rx_byte_ns=OFFSETS,
        time_to_last_downstream_tx_byte_ns=OFFSETS,
        duration_ns=OFFSETS,
    ),
)
def test_the_facts_times_are_the_metrics_own(
    detect_point: DetectPoint, timings: EntryTimings
) -> None:
    call = metric(detect_point, timings)
    _, latency, key, table, first, last, _, _ = facts_of(call, TABLE)
    start, end = call.start_time_ns, call.end_time_ns
    assert latency == call.latency_ns
    assert key == (0 if latency is None else _key(latency, TABLE))
    assert table is TABLE
    assert first == start
    if start is None:
        assert last is None
    elif end is None:
        assert last == start
    else:
        assert last == max(start, end)


def test_a_client_starts_at_its_first_upstream_byte() -> None:
    timings = EntryTimings(
        start_time_ns=1_000,
        time_to_first_upstream_tx_byte_ns=30,
        time_to_last_upstream_rx_byte_ns=500,
        time_to_last_downstream_tx_byte_ns=700,
        duration_ns=900,
    )
    client = facts_of(metric(DetectPoint.CLIENT, timings), TABLE)
    server = facts_of(metric(DetectPoint.SERVER, timings), TABLE)
    assert (client[1], client[4], client[5]) == (470, 1_030, 1_500)
    assert (server[1], server[4], server[5]) == (700, 1_000, 1_700)
    without_ends = facts_of(metric(DetectPoint.CLIENT, EntryTimings(start_time_ns=5)), TABLE)
    assert (without_ends[1], without_ends[4], without_ends[5]) == (None, 5, 5)
