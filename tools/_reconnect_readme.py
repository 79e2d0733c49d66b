"""The README of the reconnect recording (``tests/fixtures/envoy/reconnect``), and its tables.

Dev tooling for ``record_fixtures.py``; not part of meshals. What the basic recording's README
says about the mesh, the traffic, logging, peers and file formats holds here too; this one
says when the collector ended streams, what Envoy did then, and what each stream holds.
"""

from __future__ import annotations

from _als_collector import RecordedStream
from _recording import Plan, reconnects, split_stream_name

__all__ = ["RECONNECT_README_TEMPLATE", "phase_list", "reconnect_rows", "stream_rows"]


def phase_list(phases: list[int]) -> str:
    """``[1, 2, 4]`` -> ``"1, 2 and 4"``."""
    words = [str(phase) for phase in phases]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "-"


def stream_rows(plan: Plan, recorded: dict[str, RecordedStream]) -> str:
    """One row per stream: node id, the phases it carries, how it ended, its size."""
    rows = []
    for name, entries in plan.streams.items():
        envoy, _ = split_stream_name(name)
        ended = plan.ended_after[name]
        rows.append(
            f"| `{name}` | `{plan.mesh.pods[envoy].node_id}` | "
            f"{phase_list(sorted({planned.phase + 1 for planned in entries}))} | "
            f"{'Envoy (shutdown)' if ended is None else f'the collector, after phase {ended + 1}'}"
            f" | {len(recorded[name].raw_messages)} | {len(entries)} |"
        )
    return "\n".join(rows)


def reconnect_rows(plan: Plan) -> str:
    """One row per time the collector ended the streams: which, and which Envoy opened next."""
    return "\n".join(
        f"| {after + 1} | {_names(ended)} | {_names(opened)} |"
        for after, ended, opened in reconnects(plan)
    )


RECONNECT_README_TEMPLATE = """\
# Real Envoy ALS recordings: the collector ends the streams, Envoy opens new ones

Written by `tools/record_fixtures.py --scenario reconnect` (or
`nox -s record_fixtures -- --scenario reconnect`). Do not edit by hand: re-record instead.
Timestamps, ports, stream and request ids change on every run; everything `ground_truth.json`
states does not. Envoy {version} (build `{build}`). The mesh, its pods (the same names and IPs,
so `tests/fixtures/k8s/bookinfo-loopback.json` names them), the traffic, logging, peers, the
file formats and the one edit (the first message's `node.extensions` cut to {extensions}) are
the basic recording's, see `../README.md`, with `buffer_size_bytes: {buffer}` and
`buffer_flush_interval: {interval}ms`. The recording took {elapsed} s.

## What the collector did, and what Envoy did then

After phases {ends} of the traffic, the ALS collector ended every gRPC stream it had open by
returning the status `{status}` from its `StreamAccessLogs` handler, as a collector that shuts
down to restart does (the HTTP/2 connection to it stays up; only the streams end):

| after phase | streams ended | streams Envoy opened next |
|---|---|---|
{reconnects}

It ended them only once every entry of the phases so far had reached it, and 600 ms later, so
Envoy had no entry buffered at that moment. Envoy 1.40 took the status as the end of the stream
and did not reconnect at once (no `grpc_stream_retry_policy` is set): it opened a new stream
the next time it flushed entries, and sent the `identifier` (node and log name) again on that
stream's first message, and on no later one. A logger with nothing more to send opened no new
stream (see the table's last row).

**No entry was lost or sent twice.** Each entry is in exactly one stream: those of the phases
before an end on the stream that ended, those after it on the new one. The recorder checks
this two ways and writes nothing unless both hold: every planned entry is in the stream planned
for it, once and in order (what the collector received), and each Envoy's own counters (its
admin `/stats`) say it flushed exactly the planned number of entries and dropped none
(`access_logs.grpc_access_log.grpc_entries_flushed`, `logs_dropped`,
`grpc_entries_flush_failed`), and opened exactly the planned streams, all on one connection
(`cluster.envoy_accesslog_service.upstream_rq_total`, `upstream_cx_total`). What Envoy does
with entries still in its buffer when a stream ends, or with a message it writes to a stream
the collector has just ended, is not shown by this recording: which entries that would touch
depends on timing, and a fixture has to be reproducible.

## Files

One file pair per gRPC stream, named `<envoy>-<http|tcp>.<n>`: the n-th stream that Envoy
opened for that log type, from 1, in the order they reached the collector; `.bin` and `.jsonl`
as in `../README.md`. Analyse all of them at once (`meshals analyze reconnect/*.bin`): each
file is one stream, and each stream names its Envoy on its own first message.

| stream | node id | phases | ended by | messages | entries |
|---|---|---|---|---|---|
{streams}

`ground_truth.json` has the basic recording's keys (`calls`, `streams`, `envoys`, `resolver`,
...); each stream also says `stream` (its n), `phases` (those its entries belong to, numbered
from 1 as in `../README.md`), `ended_by` (`collector {status}` or `envoy shutdown`) and
`ended_after_phase`; `reconnects` lists each time the collector ended streams: after which
phase and call (calls are numbered in traffic order, as in `calls`), the streams it ended and
the streams Envoy opened next.

## Traffic

The basic recording's six phases (`../README.md`, "Traffic"; {gap} ms pause between phases),
with the streams ended after phases {ends}.
"""
