"""``analyze(since=, until=)``: entries kept by start time, the rest accounted for; and
``latest_end_ns``, where a capture ends.

The expected counts come from the recordings read with Envoy's own generated protos, not with
meshals' reader (the ``recorded_*`` and ``count_in_range`` fixtures of ``tests/conftest.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

import meshals
from meshals import AccessLogCommon, AlsMessage, HttpEntry, Identifier, Node, StaticResolver
from meshals.mesh import SkipReason, latest_end_ns
from meshals.mesh._time_range import _ns

ROOT = Path(__file__).parents[2]
ZTUNNEL = ROOT / "tests" / "fixtures" / "ztunnel" / "ambient-bookinfo.log"
UTC = datetime.timezone.utc
SIDECAR = "sidecar~10.0.0.1~a-1.default~default.svc.cluster.local"


CountInRange = Callable[[int | None, int | None], tuple[int, int]]


def analysed(**bounds: object) -> meshals.Accounting:
    bookinfo = meshals.examples.example("bookinfo")
    analysis = meshals.analyze(bookinfo.streams(), resolver=bookinfo.resolver(), **bounds)  # type: ignore[arg-type]
    analysis.metrics()
    return analysis.accounting


def test_the_recordings_as_envoys_protos_read_them(
    recorded_starts: list[int], count_in_range: CountInRange
) -> None:
    assert count_in_range(None, None) == (40, 45)
    assert (recorded_starts[0], recorded_starts[-1]) == (
        1_795_252_111_124_831_000,
        1_795_252_114_167_609_000,
    )


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (10, None),  # an entry's own start is inside: since <= start
        (None, 10),  # ... and outside as the end: start < until
        (5, 30),
        (0, 40),  # everything (40: the last start + 1 ns)
        (40, None),  # nothing
    ],
)
def test_entries_are_kept_by_start_time_half_open(
    recorded_starts: list[int],
    count_in_range: CountInRange,
    since: int | None,
    until: int | None,
) -> None:
    # since and until: the start of the entry with that index, in start order.
    starts = [*recorded_starts, recorded_starts[-1] + 1]
    since_ns = None if since is None else starts[since]
    until_ns = None if until is None else starts[until]
    entries, metrics = count_in_range(since_ns, until_ns)
    accounting = analysed(since=since_ns, until=until_ns)
    assert accounting.entries_in == 40
    assert (accounting.analyzed, accounting.metrics_out) == (entries, metrics)
    skipped = {SkipReason.OUTSIDE_TIME_RANGE: 40 - entries} if entries < 40 else {}
    assert dict(accounting.skipped) == skipped


def test_ten_entries_from_the_eleventh_start(recorded_starts: list[int]) -> None:
    # The same as above, with the numbers written out.
    accounting = analysed(since=recorded_starts[10], until=recorded_starts[20])
    assert (accounting.analyzed, accounting.skipped_total, accounting.metrics_out) == (10, 30, 11)


def test_datetimes_and_ns_are_the_same_bounds(count_in_range: CountInRange) -> None:
    since = datetime.datetime(2026, 11, 21, 9, 8, 32, tzinfo=UTC)
    until = datetime.datetime(
        2026, 11, 21, 10, 8, 33, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    since_ns, until_ns = 1_795_252_112_000_000_000, 1_795_252_113_000_000_000
    assert analysed(since=since, until=until) == analysed(since=since_ns, until=until_ns)
    assert (
        analysed(since=since_ns, until=until_ns).analyzed
        == count_in_range(since_ns, until_ns)[0]
        == 6
    )


@pytest.mark.parametrize(
    ("bounds", "error", "message"),
    [
        (
            {"since": datetime.datetime(2026, 11, 21)},
            ValueError,
            "since is a naive datetime: give it a time zone (e.g. tzinfo=datetime.timezone.utc)",
        ),
        ({"until": datetime.datetime(2026, 11, 21)}, ValueError, "until is a naive datetime"),
        ({"since": 5, "until": 5}, ValueError, "an empty time range: until (5) is not after"),
        ({"since": 6, "until": 5}, ValueError, "an empty time range"),
        ({"since": True}, TypeError, "since must be a datetime or ns since the epoch"),
        ({"until": "15m"}, TypeError, "until must be a datetime or ns since the epoch"),
    ],
)
def test_bad_bounds_are_refused_at_once(
    bounds: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        meshals.analyze([], resolver=StaticResolver({}), **bounds)  # type: ignore[arg-type]


def message_of(*entries: HttpEntry) -> AlsMessage:
    return AlsMessage(
        identifier=Identifier(node=Node(id=SIDECAR)), kind="http", entries=entries, source="m"
    )


def test_with_a_range_an_entry_without_a_start_time_cannot_be_placed() -> None:
    timeless = HttpEntry(common_properties=AccessLogCommon(upstream_cluster="inbound|80||"))
    bare = HttpEntry()
    message = message_of(timeless, bare)
    plain = meshals.analyze([message], resolver=StaticResolver({}))
    plain.metrics()
    # Without a range the analysis decides as ever: analysed, or no common properties.
    assert (plain.accounting.analyzed, dict(plain.accounting.skipped)) == (
        0,
        {SkipReason.NO_SOURCE_ADDRESS: 1, SkipReason.NO_COMMON_PROPERTIES: 1},
    )
    ranged = meshals.analyze([message], resolver=StaticResolver({}), until=2**62)
    ranged.metrics()
    assert dict(ranged.accounting.skipped) == {SkipReason.NO_START_TIME: 2}


def test_the_range_comes_before_the_other_reasons() -> None:
    # A stream without an identifier: outside the range its entries are outside-time-range.
    entry = HttpEntry(common_properties=AccessLogCommon(start_time_ns=1_000))
    anonymous = AlsMessage(kind="http", entries=(entry, entry))
    analysis = meshals.analyze([anonymous], resolver=StaticResolver({}), since=2_000)
    analysis.metrics()
    assert dict(analysis.accounting.skipped) == {SkipReason.OUTSIDE_TIME_RANGE: 2}


def test_l4_connections_are_placed_by_their_start() -> None:
    with meshals.read(ZTUNNEL) as reader:
        connections = list(reader)
    starts = sorted(connection.start_time_ns for connection in connections)  # type: ignore[union-attr]
    assert len(starts) == 13
    since = starts[7]
    analysis = meshals.analyze(
        [connections], resolver=StaticResolver({}), since=since, until=starts[11]
    )
    analysis.metrics()
    assert analysis.accounting.entries_in == 13
    assert analysis.accounting.skipped[SkipReason.OUTSIDE_TIME_RANGE] == 7 + 2
    assert (
        analysis.accounting.analyzed
        + sum(
            count
            for reason, count in analysis.accounting.skipped.items()
            if reason is not SkipReason.OUTSIDE_TIME_RANGE
        )
        == 4
    )


def test_the_capture_ends_at_the_latest_end_of_any_entry(recorded_end: int) -> None:
    latest = recorded_end
    assert latest == 1_795_252_114_167_952_172  # the last TCP entry: start + 343,172 ns
    bookinfo = meshals.examples.example("bookinfo")
    assert latest_end_ns(record for stream in bookinfo.streams() for record in stream) == latest
    assert latest_end_ns([]) is None
    assert latest_end_ns([message_of(HttpEntry())]) is None


def test_an_l4_log_ends_at_its_latest_timestamp() -> None:
    with meshals.read(ZTUNNEL) as reader:
        assert latest_end_ns(reader) == 1_717_405_929_008_817_000


def test_values_that_are_neither_messages_nor_connections_are_ignored() -> None:
    # What read() yields, with other values among it: they have no time to read.
    with meshals.read(ZTUNNEL) as reader:
        records: list[object] = [None, "a line", *reader, 7]
    assert latest_end_ns(records) == 1_717_405_929_008_817_000
    assert latest_end_ns([None, "a line", 7]) is None


@pytest.mark.parametrize(
    ("common", "end"),
    [
        (AccessLogCommon(), None),
        (AccessLogCommon(start_time_ns=100), 100),
        (AccessLogCommon(start_time_ns=100, duration_ns=-5), 100),
        (AccessLogCommon(start_time_ns=100, duration_ns=20, time_to_last_rx_byte_ns=7), 120),
        (AccessLogCommon(start_time_ns=100, time_to_last_downstream_tx_byte_ns=30), 130),
        (
            AccessLogCommon(start_time_ns=100, duration_ns=0, time_to_last_upstream_rx_byte_ns=9),
            109,
        ),
    ],
)
def test_an_entrys_end_is_its_start_plus_its_longest_offset(
    common: AccessLogCommon, end: int | None
) -> None:
    assert common.end_time_ns == end


class _NoOffset(datetime.tzinfo):
    """A time zone that does not know its offset: a datetime in it is as naive as none."""

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta | None:
        return None

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta | None:
        return None

    def tzname(self, dt: datetime.datetime | None) -> str | None:
        return None


def test_a_bound_in_ns_is_exact_to_the_microsecond() -> None:
    bound = datetime.datetime(1970, 1, 1, 0, 0, 1, 250_001, tzinfo=UTC)
    assert _ns(bound, "since") == 1_250_001_000
    with pytest.raises(ValueError, match=r"^until is a naive datetime"):
        _ns(datetime.datetime(2026, 11, 21, tzinfo=_NoOffset()), "until")
