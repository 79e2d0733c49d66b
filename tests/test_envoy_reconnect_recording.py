"""The reconnect recording (``tests/fixtures/envoy/reconnect``): Envoy's streams ended and reopened.

``tools/record_fixtures.py --scenario reconnect`` ran the basic recording's mesh and traffic,
and its ALS collector ended every open gRPC stream (status ``UNAVAILABLE``) after phases 1 and
4; each Envoy opened a new stream when it next had entries to send. Each stream is its own
file pair, ``<envoy>-<kind>.<n>``. ``test_envoy_recordings.py`` checks every stream against
the ground truth as it does the other recordings. Here: what the ends did, read with Envoy's
generated classes and with meshals: the reopened stream names its Envoy again on its first
message, the streams split the basic recording's entries where the collector ended them, none
lost and none twice, and analysing all files gives one set of metrics per entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_envoy_recordings import ENVOY_FIXTURES, GROUND_TRUTH, pb_messages_from_bin

import meshals
from meshals.model import ServiceMeshMetric
from meshals.resolve import StaticResolver

RECONNECT = ENVOY_FIXTURES / "reconnect"
TRUTH: dict[str, Any] = json.loads((RECONNECT / "ground_truth.json").read_text(encoding="utf-8"))
STREAMS = sorted(TRUTH["streams"])
# The Envoy and log type of each stream -> its streams in the order Envoy opened them.
LOGGERS: dict[str, list[str]] = {}
for _name in STREAMS:
    LOGGERS.setdefault(_name.partition(".")[0], []).append(_name)
REOPENED = [streams for streams in LOGGERS.values() if len(streams) > 1]


def test_every_logger_has_its_streams_numbered_from_one() -> None:
    assert {
        logger: [name.partition(".")[2] for name in names] for logger, names in LOGGERS.items()
    } == {
        "details-http": ["1", "2"],
        "istio-ingressgateway-http": ["1", "2"],
        "mongodb-tcp": ["1", "2"],
        "productpage-http": ["1", "2"],
        "productpage-tcp": ["1", "2"],
        "reviews-http": ["1", "2"],
    }
    # The loggers are the basic recording's, one per Envoy and log type.
    assert sorted(LOGGERS) == sorted(GROUND_TRUTH["streams"])


def test_the_ground_truth_says_when_and_how_each_stream_ended() -> None:
    ended = {
        name: (TRUTH["streams"][name]["ended_by"], TRUTH["streams"][name]["ended_after_phase"])
        for name in STREAMS
    }
    by_collector = ("collector UNAVAILABLE", 1), ("collector UNAVAILABLE", 4)
    assert ended == {
        "details-http.1": by_collector[0],
        "details-http.2": by_collector[1],
        "istio-ingressgateway-http.1": by_collector[0],
        "istio-ingressgateway-http.2": by_collector[1],
        "mongodb-tcp.1": by_collector[1],
        "mongodb-tcp.2": ("envoy shutdown", None),
        "productpage-http.1": by_collector[0],
        "productpage-http.2": by_collector[1],
        "productpage-tcp.1": by_collector[1],
        "productpage-tcp.2": ("envoy shutdown", None),
        "reviews-http.1": by_collector[0],
        "reviews-http.2": by_collector[1],
    }
    assert [(point["after_phase"], point["after_call"]) for point in TRUTH["reconnects"]] == [
        (1, 12),
        (4, 22),
    ]
    assert TRUTH["reconnects"][1]["opened_next"] == ["mongodb-tcp.2", "productpage-tcp.2"]


@pytest.mark.parametrize(
    "streams", REOPENED, ids=[names[0].partition(".")[0] for names in REOPENED]
)
def test_a_reopened_stream_carries_the_identifier_again_on_its_first_message(
    streams: list[str],
) -> None:
    firsts = []
    for name in streams:
        messages = pb_messages_from_bin(f"reconnect/{name}")
        assert [message.HasField("identifier") for message in messages] == [True] + [False] * (
            len(messages) - 1
        )
        firsts.append(messages[0].identifier)
    # The same Envoy and logger: the same node (id, metadata, build) and log name each time.
    assert all(identifier == firsts[0] for identifier in firsts[1:])
    assert firsts[0].node.id == TRUTH["streams"][streams[0]]["node_id"]


def _read(path: Path) -> list[meshals.AlsMessage]:
    with meshals.read(path) as reader:
        return list(reader.messages())


@pytest.mark.parametrize("stream", STREAMS)
def test_meshals_reads_each_stream_file_with_its_identifier_first(stream: str) -> None:
    truth = TRUTH["streams"][stream]
    messages = _read(RECONNECT / f"{stream}.bin")
    assert messages == _read(RECONNECT / f"{stream}.jsonl")
    assert [message.index for message in messages] == list(range(truth["messages"]))
    identifier = messages[0].identifier
    assert identifier is not None
    assert identifier.node is not None
    assert identifier.node.id == truth["node_id"]
    assert identifier.log_name == truth["log_name"]
    assert all(message.identifier is None for message in messages[1:])
    assert all(not message.diagnostics for message in messages)
    assert sum(len(message.entries) for message in messages) == len(truth["entries"])


@pytest.mark.parametrize("logger", sorted(LOGGERS))
def test_the_streams_split_the_basic_recordings_entries_where_the_collector_ended_them(
    logger: str,
) -> None:
    # Same mesh and traffic as the basic recording: the entries of one logger's streams, in
    # order, are the basic recording's entries of that logger, none missing and none twice.
    together = [entry for name in LOGGERS[logger] for entry in TRUTH["streams"][name]["entries"]]
    assert together == GROUND_TRUTH["streams"][logger]["entries"]
    # Each stream holds exactly the entries of the calls made while it was open.
    calls_before = [0] + [point["after_call"] for point in TRUTH["reconnects"]]
    for name in LOGGERS[logger]:
        phases = TRUTH["streams"][name]["phases"]
        ended_after = TRUTH["streams"][name]["ended_after_phase"]
        calls = [entry["call"] for entry in TRUTH["streams"][name]["entries"]]
        segment = sum(1 for point in TRUTH["reconnects"] if point["after_phase"] < phases[0])
        assert min(calls) > calls_before[segment]
        if ended_after is not None:
            assert max(calls) <= calls_before[segment + 1]


# --- analysing the whole recording ---------------------------------------------------------------


def _analyse(files: Sequence[Path]) -> tuple[meshals.mesh.Accounting, list[ServiceMeshMetric]]:
    resolver = StaticResolver.from_mapping(TRUTH["resolver"])
    analysis = meshals.analyze([meshals.read(path) for path in files], resolver=resolver)
    metrics = analysis.metrics()
    return analysis.accounting, metrics


def _what(metric: ServiceMeshMetric) -> tuple[Any, ...]:
    """A metric without its times (which differ between two recordings of the same calls)."""
    return (
        metric.role,
        metric.detect_point,
        metric.protocol,
        metric.source,
        metric.destination,
        metric.endpoint,
        metric.response_code,
        metric.grpc_status,
        metric.status,
        metric.response_flags,
        metric.received_bytes,
        metric.sent_bytes,
    )


def _by_entry(
    metrics: Sequence[ServiceMeshMetric], name_of: dict[str, str]
) -> dict[str, list[list[tuple[Any, ...]]]]:
    """Per logger, the metrics of each entry in order: one list per entry."""
    entries: dict[tuple[str, int | None, int], list[tuple[Any, ...]]] = {}
    for metric in metrics:
        origin = metric.origin
        entries.setdefault((origin.source, origin.message_index, origin.entry_index), []).append(
            _what(metric)
        )
    loggers: dict[str, list[list[tuple[Any, ...]]]] = {}
    for (source, _, _), rows in entries.items():
        loggers.setdefault(name_of[source], []).append(rows)
    return loggers


def test_analysing_every_file_gives_one_set_of_metrics_per_entry_and_loses_none() -> None:
    files = sorted(RECONNECT.glob("*.bin"))
    accounting, metrics = _analyse(files)
    entries = sum(len(stream["entries"]) for stream in TRUTH["streams"].values())
    messages = sum(stream["messages"] for stream in TRUTH["streams"].values())
    assert (len(files), entries) == (12, 40)
    assert accounting == meshals.mesh.Accounting(
        streams=12, messages=messages, entries_in=40, analyzed=40, metrics_out=45
    )
    assert accounting.input_entries == 40
    assert len(metrics) == 45  # an entry of the gateway that chose an upstream host gives two
    origins = {(m.origin.source, m.origin.message_index, m.origin.entry_index) for m in metrics}
    assert len(origins) == 40
    # Entry for entry, the same metrics as the basic recording's, where no stream ended.
    basic_files = sorted(ENVOY_FIXTURES.glob("*.bin"))
    _, basic = _analyse(basic_files)
    name_of = {str(path): path.name.partition(".")[0] for path in files + basic_files}
    assert _by_entry(metrics, name_of) == _by_entry(basic, name_of)
    assert [len(rows) for rows in _by_entry(metrics, name_of)["istio-ingressgateway-http"]] == [
        2,
        2,
        2,
        2,
        2,
        1,  # GET /admin: no route, no upstream host, only the server side
    ]
