"""The compiled fold (``_accel.tally``) counts a metric exactly as ``_fold._count`` does.

Where the extension is built (CI requires it), :func:`meshals.aggregate._fold.fold` counts
each batch with the compiled tally and leaves to ``_count`` every metric the tally stops at.
``tests/aggregate/test_fold.py`` and ``tests/property/test_merge_laws.py`` hold the whole fold
to :func:`~meshals.topology` and :func:`~meshals.red`; here the tally is held to ``_count``
metric by metric, from any state of a cell (Hypothesis), on the real recordings with and
without it, and its stops and refusals are checked one by one.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import meshals
from meshals import Role
from meshals.aggregate import _fold, _tally
from meshals.aggregate._kinds import KindCalls
from meshals.aggregate._red import RedAccumulator
from meshals.aggregate._sketch import _Boundaries, _boundaries, _key
from meshals.aggregate._topology import TopologyAccumulator
from meshals.codec import _compiled
from meshals.mesh._analysis import analyze
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._service import UNKNOWN, ServiceMetaInfo

pytestmark = pytest.mark.skipif(
    _compiled.EXTENSION is None, reason="the extension is not built (python tools/build_accel.py)"
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
INT64 = 2**63
SCOPES = ("service", "instance", "endpoint", "edge")
DETAILS = (_tally.NO_DETAIL, _tally.DESTINATION_INSTANCE, _tally.ENDPOINT)

SERVICES = [
    UNKNOWN,
    ServiceMetaInfo(service="productpage", instance="productpage-1", namespace="default"),
    ServiceMetaInfo(service="reviews", instance="reviews-1"),
]

# Around the tally's 64-bit limits as well as everyday values.
numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**13),
    st.sampled_from([0, 1, -1, INT64 - 2, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64]),
)
optional_numbers = st.none() | numbers
metrics = st.builds(
    ServiceMeshMetric,
    role=st.sampled_from(Role),
    detect_point=st.sampled_from(DetectPoint),
    protocol=st.sampled_from(MeshProtocol),
    source=st.sampled_from(SERVICES),
    destination=st.sampled_from(SERVICES),
    endpoint=st.sampled_from([None, "GET:/"]),
    response_code=st.sampled_from([None, 200, 503]),
    grpc_status=st.none() | st.integers(min_value=0, max_value=16),
    status=st.booleans(),
    tls_mode=st.sampled_from(TlsMode),
    response_flags=st.frozensets(st.sampled_from(ResponseFlag), max_size=2),
    timings=st.builds(
        EntryTimings,
        start_time_ns=optional_numbers,
        time_to_first_upstream_tx_byte_ns=optional_numbers,
        time_to_last_upstream_rx_byte_ns=optional_numbers,
        time_to_last_downstream_tx_byte_ns=optional_numbers,
        duration_ns=optional_numbers,
    ),
    received_bytes=optional_numbers,
    sent_bytes=optional_numbers,
)


@st.composite
def cell_states(draw: st.DrawFn) -> dict[str, Any]:
    """What a cell may hold already: counts up to and past 64 bits, extremes or None."""
    bucket_keys = st.integers(min_value=-3, max_value=40)
    counts = st.sampled_from([0, 1, 7, INT64 - 1, INT64])
    return {
        "count": draw(counts),
        "timed": draw(counts),
        "latencies": draw(st.dictionaries(bucket_keys, counts, max_size=4)),
        "total": draw(numbers),
        "minimum": draw(optional_numbers),
        "maximum": draw(optional_numbers),
        "received": draw(numbers),
        "sent": draw(numbers),
        "first": draw(optional_numbers),
        "last": draw(optional_numbers),
    }


def _state(calls: KindCalls) -> dict[str, Any]:
    return {name: getattr(calls, name) for name in _tally.CALLS_FIELDS}


def _calls(state: dict[str, Any]) -> KindCalls:
    calls = KindCalls()
    for name, value in state.items():
        setattr(calls, name, dict(value) if name == "latencies" else value)
    return calls


def _counter(
    cells: dict[Any, KindCalls], table: _Boundaries, detail: int, window: int | None
) -> Any:
    return partial(
        _fold._count,
        cells=cells,
        table=table,
        detail_of=detail,
        window=window,
        graph=TopologyAccumulator(),
        stats=RedAccumulator("service"),
    )


def _made_tally(table: _Boundaries, detail: int, window: int | None) -> Any:
    tally = _tally.compiled_tally(table, detail, window)
    assert tally is not None
    return tally


def _key_of(metric: ServiceMeshMetric, table: _Boundaries, detail: int, window: int | None) -> Any:
    # The cell the pure path puts the metric in.
    cells: dict[Any, KindCalls] = {}
    _counter(cells, table, detail, window)([metric], 0, 1)
    (key,) = cells
    return key


@given(
    metrics,
    cell_states(),
    st.tuples(st.sampled_from(DETAILS), st.none() | st.sampled_from([1, 7, 10**9, INT64 - 1])),
    st.sampled_from([0.01, 0.5]),
    st.booleans(),
)
def test_the_tally_counts_a_metric_as_count_does(
    metric: ServiceMeshMetric,
    state: dict[str, Any],
    cell: tuple[int, int | None],
    accuracy: float,
    grown: bool,
) -> None:
    # From any state of the metric's cell: the tally counts it as _count does, or stops
    # before it and leaves the cell as it was (fold then counts it with _count).
    detail, window = cell  # what the cell's key holds by the RED scope; its window
    table = _Boundaries(accuracy)  # a table of its own: it starts short, the pure path grows it
    if grown:
        table.index(10**14)
    _check_against_count(metric, state, table, detail, window)


def _check_against_count(
    metric: ServiceMeshMetric,
    state: dict[str, Any],
    table: _Boundaries,
    detail: int,
    window: int | None,
) -> bool:
    """Whether the tally stopped at the metric; either way, the cell is as _count leaves it."""
    key = _key_of(metric, _Boundaries(0.5), detail, window)
    fast = {key: _calls(state)}
    stops = _stops(metric, state, table, window)  # judged before _count grows the table
    stopped_at = _made_tally(table, detail, window)([metric], 0, fast)
    assert stopped_at == (0 if stops else 1)
    if stopped_at == 0:
        assert _state(fast[key]) == state
        _counter(fast, table, detail, window)([metric], 0, 1)
    pure = {key: _calls(state)}
    _counter(pure, table, detail, window)([metric], 0, 1)
    assert list(fast) == [key]
    assert _state(fast[key]) == _state(pure[key])
    return stops


def _int64(value: object) -> bool:
    return type(value) is int and -INT64 <= value < INT64


def _stops(
    metric: ServiceMeshMetric, state: dict[str, Any], table: _Boundaries, window: int | None
) -> bool:
    """Whether the tally leaves the metric to Python: its rules, written out apart."""
    timings = metric.timings
    start = timings.start_time_ns
    numbers = [state["count"], state["received"], state["sent"]]
    more = [state["count"] + 1]
    for name in ("received_bytes", "sent_bytes"):
        value = getattr(metric, name)
        if value is not None:
            numbers.append(value)
            more.append(state[name.split("_")[0]] + value)
    if start is not None:
        server = metric.detect_point is DetectPoint.SERVER
        first_tx = None if server else timings.time_to_first_upstream_tx_byte_ns
        last = (
            timings.time_to_last_downstream_tx_byte_ns
            if server
            else timings.time_to_last_upstream_rx_byte_ns
        )
        if last is None:
            last = timings.duration_ns
        numbers += [start, *(value for value in (first_tx, last) if value is not None)]
        begin = start + (first_tx or 0)
        extremes = [state["first"], state["last"]]
        more.append(begin)
        if window is not None:
            more.append(begin - begin % window)
        if last is not None:
            latency = start + last - begin
            more += [start + last, latency]
            if latency < 0 or (latency > 0 and latency > table.upper[-1]):
                return True
            bucket = state["latencies"].get(_key(latency, table), 0) if _int64(latency) else 0
            extremes += [state["minimum"], state["maximum"]]
            numbers += [state["timed"], state["total"], bucket]
            more += [state["timed"] + 1, state["total"] + latency, bucket + 1]
        numbers += [value for value in extremes if value is not None]
    return not all(map(_int64, numbers)) or not all(-INT64 <= value < INT64 for value in more)


def _recorded_metrics() -> list[ServiceMeshMetric]:
    envoy = [meshals.read(path) for path in sorted((FIXTURES / "envoy").rglob("*.bin"))]
    mx = [meshals.read(path) for path in sorted((FIXTURES / "mx").glob("*.bin"))]
    return [
        *analyze(envoy, resolver="auto").metrics(),
        *analyze(mx, resolver="auto", analyzers=("mx-mesh", "k8s-mesh")).metrics(),
    ]


def _folded(
    metrics: list[ServiceMeshMetric], scope: str, window: str | None
) -> tuple[object, object]:
    graph, stats = TopologyAccumulator(), RedAccumulator(scope, window=window)
    _fold.fold(metrics, graph, stats)
    return graph.result(), stats.result()


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("window", [None, "1ms", "1s", "1m"])
def test_the_recordings_fold_the_same_with_and_without_the_tally(
    monkeypatch: pytest.MonkeyPatch, scope: str, window: str | None
) -> None:
    metrics = _recorded_metrics()
    assert len(metrics) == 249
    monkeypatch.setattr(_fold, "_BATCH", 7)  # batches of both kinds, and a short last one
    monkeypatch.setattr(_fold, "_COMPILED_BATCH", 7)
    compiled = _folded(metrics, scope, window)
    monkeypatch.setattr(_fold, "compiled_tally", lambda *_: None)
    assert _folded(metrics, scope, window) == compiled


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("window", [None, "1s"])
def test_the_fold_leaves_to_count_only_the_first_metric_of_each_cell(
    monkeypatch: pytest.MonkeyPatch, scope: str, window: str | None
) -> None:
    # The tally is used, with the fold's scope and window: it leaves no other metric.
    metrics = _recorded_metrics()
    _boundaries(0.01).index(10**13)  # grown past every latency: no stop to grow it
    stats = RedAccumulator(scope, window=window)
    detail = _tally.DETAILS.get(stats.scope, _tally.NO_DETAIL)
    cells: dict[Any, KindCalls] = {}
    _counter(cells, _Boundaries(0.01), detail, stats.window_ns)(metrics, 0, len(metrics))
    counted = []
    count = _fold._count

    def counting(batch: list[ServiceMeshMetric], start: int, stop: int, **context: Any) -> None:
        counted.extend(batch[start:stop])
        count(batch, start, stop, **context)

    monkeypatch.setattr(_fold, "_count", counting)
    _fold.fold(metrics, TopologyAccumulator(), stats)
    assert len(counted) == len(cells) < len(metrics)


def test_the_tally_counts_the_recordings_itself_once_their_cells_are_made() -> None:
    # Not a tally that stops at everything: on real metrics it stops only at new cells.
    metrics = _recorded_metrics()
    table = _boundaries(0.01)
    table.index(10**12)
    cells: dict[Any, KindCalls] = {}
    count = _counter(cells, table, _tally.NO_DETAIL, None)
    tally = _made_tally(table, _tally.NO_DETAIL, None)
    stops = 0
    index = 0
    while (index := tally(metrics, index, cells)) < len(metrics):
        stops += 1
        count(metrics, index, index + 1)
        index += 1
    assert stops == len(cells) == 56
    assert sum(calls.count for calls in cells.values()) == len(metrics)
    # A second pass finds every cell made: counted at one go.
    assert tally(metrics, 0, cells) == len(metrics)
    assert sum(calls.count for calls in cells.values()) == 2 * len(metrics)


def _metric(**changes: Any) -> ServiceMeshMetric:
    timings = {"start_time_ns": 10**18, "duration_ns": 5_000}
    timings.update(changes.pop("timings", {}))
    fields: dict[str, Any] = {
        "role": Role.SIDECAR,
        "detect_point": DetectPoint.SERVER,
        "protocol": MeshProtocol.HTTP,
        "source": SERVICES[1],
        "destination": SERVICES[2],
        "status": True,
        "timings": EntryTimings(**timings),
    }
    return ServiceMeshMetric(**(fields | changes))


def _fields_of(metric: ServiceMeshMetric) -> dict[str, Any]:
    return {field.name: getattr(metric, field.name) for field in attrs.fields(ServiceMeshMetric)}


class _Int(int):
    pass


class _Metric(ServiceMeshMetric):
    pass


def _stop_at(metric: ServiceMeshMetric, known: ServiceMeshMetric | None = None) -> int:
    # Where a tally over [a metric of the same cell, metric] stops, the cell made beforehand.
    table = _Boundaries(0.01)
    table.index(10**12)
    known = known or _metric()
    cells = {_key_of(known, table, 0, None): KindCalls()}
    before = [_state(calls) for calls in cells.values()]
    stopped_at = _made_tally(table, 0, None)([known, metric], 0, cells)
    if stopped_at == 1:
        assert cells[_key_of(known, table, 0, None)].count == 1
    else:
        assert [_state(calls) for calls in cells.values()] != before
    return int(stopped_at)


@pytest.mark.parametrize(
    ("metric", "stops"),
    [
        (_metric(), False),
        (_metric(timings={"duration_ns": None}), False),  # no latency
        (_metric(timings={"start_time_ns": None}), False),  # no times
        (_metric(timings={"duration_ns": 0}), False),  # latency 0: bucket 0
        (_metric(status=False), True),  # a new cell
        (_metric(timings={"duration_ns": -1}), True),  # a negative latency
        (_metric(timings={"duration_ns": 10**13}), True),  # past the table
        (_metric(timings={"start_time_ns": INT64 - 1}), True),  # its end past 64 bits
        (_metric(timings={"start_time_ns": _Int(5)}), True),  # an int of another type
        (_metric(received_bytes=INT64), True),
        (_metric(sent_bytes=_Int(1)), True),
        (_Metric(**_fields_of(_metric())), True),  # a subclass
    ],
)
def test_where_the_tally_stops(metric: ServiceMeshMetric, stops: bool) -> None:
    assert _stop_at(metric) == (1 if stops else 2)


@pytest.mark.parametrize("start", [-10, -14, -1, 0, 6, 7, 13])
def test_the_tally_keys_windows_as_python_floors_them(start: int) -> None:
    # A window's start is the floor of the metric's start: -10 is in [-14, -7).
    table = _Boundaries(0.01)
    metric = _metric(timings={"start_time_ns": start, "duration_ns": 0})
    cells = {_key_of(metric, table, 0, 7): KindCalls()}
    (key,) = cells
    assert key[3] == start - start % 7
    assert _made_tally(table, 0, 7)([metric], 0, cells) == 1
    assert cells[key].count == 1


def test_the_tally_stops_one_past_the_table() -> None:
    table = _Boundaries(0.01)
    table.index(10**6)
    last = table.upper[-1]
    within = _metric(timings={"duration_ns": last})
    past = _metric(timings={"duration_ns": last + 1})
    cells = {_key_of(within, _Boundaries(0.01), 0, None): KindCalls()}
    tally = _made_tally(table, 0, None)
    assert tally([within, past], 0, cells) == 1
    (calls,) = cells.values()
    assert calls.latencies == {len(table.upper): 1}


_CLIENT_FROM_THE_LIMIT = {"start_time_ns": -INT64 + 5, "duration_ns": None}


@pytest.mark.parametrize(
    ("metric", "changes", "window", "stops"),
    [
        # A sum that lands on the largest 64-bit int is counted; one more stops.
        (_metric(received_bytes=7), {"received": INT64 - 8}, None, False),
        (_metric(received_bytes=7), {"received": INT64 - 7}, None, True),
        # A client's start on the smallest 64-bit int is counted; one less stops.
        (
            _metric(
                detect_point=DetectPoint.CLIENT,
                timings=_CLIENT_FROM_THE_LIMIT | {"time_to_first_upstream_tx_byte_ns": -5},
            ),
            {},
            None,
            False,
        ),
        (
            _metric(
                detect_point=DetectPoint.CLIENT,
                timings=_CLIENT_FROM_THE_LIMIT | {"time_to_first_upstream_tx_byte_ns": -6},
            ),
            {},
            None,
            True,
        ),
        # A window that starts on the smallest 64-bit int is counted; one before it stops.
        (_metric(timings=_CLIENT_FROM_THE_LIMIT), {}, 2**62, False),
        (_metric(timings={"start_time_ns": -INT64, "duration_ns": None}), {}, 7, True),
    ],
)
def test_the_tally_counts_up_to_the_64_bit_limits(
    metric: ServiceMeshMetric, changes: dict[str, Any], window: int | None, stops: bool
) -> None:
    state = _state(KindCalls()) | changes
    table = _Boundaries(0.01)
    table.index(10**14)  # no stop for the table
    assert _check_against_count(metric, state, table, 0, window) is stops


def test_a_stop_leaves_the_cell_as_it_was() -> None:
    table = _Boundaries(0.01)
    table.index(10**12)
    metric = _metric(received_bytes=7)
    key = _key_of(metric, table, 0, None)
    state = _state(KindCalls()) | {"received": INT64 - 5}  # + 7 is past 64 bits
    cells = {key: _calls(state)}
    assert _made_tally(table, 0, None)([metric], 0, cells) == 0
    assert _state(cells[key]) == state


def test_the_tally_reads_the_table_again_when_it_has_grown() -> None:
    table = _Boundaries(0.01)
    metric = _metric(timings={"duration_ns": 10**6})
    cells = {_key_of(metric, _Boundaries(0.01), 0, None): KindCalls()}  # grows another table
    tally = _made_tally(table, 0, None)
    assert tally([metric], 0, cells) == 0  # the table is short yet: Python grows it
    table.index(10**6)
    assert tally([metric], 0, cells) == 1
    (calls,) = cells.values()
    assert calls.latencies == {table.index(10**6) + 1: 1}


def test_the_tally_takes_its_arguments_checked() -> None:
    tally = _made_tally(_Boundaries(0.01), 0, None)
    with pytest.raises(TypeError, match=r"tally\(batch: list, start: int, cells: dict\)"):
        tally((), 0, {})
    with pytest.raises(TypeError):
        tally([], 0)
    with pytest.raises(ValueError, match="negative start"):
        tally([], -1, {})
    assert tally([], 5, {}) == 5


def _spec(**changes: Any) -> tuple[Any, ...]:
    parts: dict[str, Any] = {
        "metric": _tally.slots(ServiceMeshMetric, _tally.METRIC_FIELDS),
        "timings": _tally.slots(EntryTimings, _tally.TIMING_FIELDS),
        "info": _tally.slots(ServiceMetaInfo, ("service", "instance", "namespace")),
        "calls": _tally.slots(KindCalls, _tally.CALLS_FIELDS),
        "server": DetectPoint.SERVER,
        "protocols": _tally.members(MeshProtocol),
        "tls": _tally.members(TlsMode),
        "roles": _tally.members(Role),
        "upper": [1, 2],
        "detail": 0,
        "window": None,
    }
    return tuple((parts | changes).values())


def test_a_good_spec_is_taken() -> None:
    assert _compiled.EXTENSION is not None
    assert callable(_compiled.EXTENSION.tally(_spec()))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"metric": _tally.slots(ServiceMeshMetric, _tally.METRIC_FIELDS[::-1])},
            TypeError,
            "field 0 is 'sent_bytes', expected detect_point",
        ),
        (
            {"info": _tally.slots(ServiceMetaInfo, ("service", "instance"))},
            TypeError,
            "3 fields expected",
        ),
        (
            {"calls": (KindCalls, _tally.CALLS_FIELDS, (len,) * 10)},
            TypeError,
            "is no object slot of",
        ),
        (
            {"timings": (EntryTimings, _tally.TIMING_FIELDS, (KindCalls.__dict__["count"],) * 5)},
            TypeError,
            "is no object slot of",
        ),
        ({"roles": ((Role.SIDECAR,),)}, TypeError, r"\(member, value\) pairs expected"),
        ({"detail": 3}, ValueError, "detail 3"),
        ({"window": 0}, ValueError, "no positive 64-bit int"),
        ({"window": INT64}, ValueError, "no positive 64-bit int"),
        ({"window": 1.5}, ValueError, "no positive 64-bit int"),
        ({"upper": (1, 2)}, TypeError, "must be list"),
    ],
)
def test_a_bad_spec_is_refused(changes: dict[str, Any], error: type, message: str) -> None:
    assert _compiled.EXTENSION is not None
    with pytest.raises(error, match=message):
        _compiled.EXTENSION.tally(_spec(**changes))


def test_a_spec_must_be_a_tuple() -> None:
    assert _compiled.EXTENSION is not None
    with pytest.raises(TypeError, match="a spec tuple expected"):
        _compiled.EXTENSION.tally([])


def test_no_tally_for_a_window_past_64_bits_or_of_another_int_type() -> None:
    assert _tally.compiled_tally(_Boundaries(0.01), 0, INT64) is None
    assert _tally.compiled_tally(_Boundaries(0.01), 0, INT64 - 1) is not None
    assert _tally.compiled_tally(_Boundaries(0.01), 0, _Int(60)) is None


def test_a_window_of_an_int_subclass_folds_as_an_int() -> None:
    # RedAccumulator takes any int as a window: the fold counts with it, in Python.
    metrics = _recorded_metrics()
    graph, stats = TopologyAccumulator(), RedAccumulator("service", window=_Int(10**9))
    _fold.fold(metrics, graph, stats)
    assert (graph.result(), stats.result()) == _folded(metrics, "service", "1s")


@pytest.mark.parametrize("limit", [1, 3, 20])
@pytest.mark.parametrize("scope", SCOPES)
def test_the_recordings_fold_the_same_when_the_cells_are_forgotten_often(
    monkeypatch: pytest.MonkeyPatch, limit: int, scope: str
) -> None:
    # Python adds the cells to the accumulators and clears them when they reach the limit:
    # the tally's recent cells must never count into a cell cleared so.
    metrics = _recorded_metrics() * 2
    monkeypatch.setattr(_fold, "_CELL_LIMIT", limit)
    compiled = _folded(metrics, scope, "1s")
    monkeypatch.setattr(_fold, "compiled_tally", lambda *_: None)
    assert _folded(metrics, scope, "1s") == compiled


def test_the_tally_finds_a_cell_again_by_the_objects_of_its_key() -> None:
    # A metric made of the same objects as one counted before falls in the same cell; one
    # equal but made of other objects is found by its key. Both count there.
    table = _boundaries(0.01)
    cells: dict[Any, KindCalls] = {}
    first = _metric()
    _counter(cells, table, _tally.NO_DETAIL, None)([first], 0, 1)
    tally = _made_tally(table, _tally.NO_DETAIL, None)
    same_objects = attrs.evolve(first, timings=EntryTimings(start_time_ns=7, duration_ns=3))
    equal_values = attrs.evolve(
        same_objects, response_flags=frozenset(), source=attrs.evolve(first.source)
    )
    assert equal_values.source is not first.source
    batch = [first, same_objects, equal_values, same_objects]
    assert tally(batch, 0, cells) == len(batch)
    (calls,) = cells.values()
    assert (calls.count, calls.first, calls.last) == (5, 7, 10**18 + 5_000)


def test_the_tally_forgets_its_cells_when_python_changes_them() -> None:
    # Another dict, or the same dict with other cells (the tally itself never adds one):
    # the cell is looked up again, not taken from what the tally saw before.
    table = _boundaries(0.01)
    metric = _metric()
    tally = _made_tally(table, _tally.NO_DETAIL, None)
    cells: dict[Any, KindCalls] = {}
    _counter(cells, table, _tally.NO_DETAIL, None)([metric], 0, 1)
    assert tally([metric], 0, cells) == 1
    (old,) = cells.values()
    other: dict[Any, KindCalls] = {}
    _counter(other, table, _tally.NO_DETAIL, None)([metric], 0, 1)
    assert tally([metric], 0, other) == 1
    (new,) = other.values()
    assert (old.count, new.count) == (2, 2)
    # The same dict: counted in, then a stop, where Python clears it and makes the cell anew
    # (as many cells as before).
    assert tally([metric, _metric(status=False)], 0, cells) == 1
    cells.clear()
    _counter(cells, table, _tally.NO_DETAIL, None)([metric], 0, 1)
    (fresh,) = cells.values()
    assert tally([metric], 0, cells) == 1
    assert (old.count, fresh.count) == (3, 2)
