"""Which call's span is whose parent: the hops of one request, from the request ids and times
the entries logged (no protobuf here; :mod:`._otlp_traces` writes the spans).

Envoy forwards ``x-request-id`` (and the application ``traceparent``) unchanged along a
request's path, so every entry with the same request id belongs to one request. Within it:

* a client-side call made by workload W is a child of the server-side call W was serving: the
  server-side metric of the same entry (a gateway's entry is both), else a server-side call
  into W;
* a server-side call into W from caller C is a child of C's client-side call to W: the same
  hop, seen from the other end.

Where several calls fit (a request calls reviews twice), time decides: the candidate whose
interval contains the child's, the latest-starting one; else the latest that started before
it; else the nearest start (clocks of two machines may disagree). A call with no parent is a
root. Trace ids are derived from the request id (or taken from a logged ``traceparent``),
span ids from the call, so the same captures always give the same ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import attrs

from meshals.model._metrics import DetectPoint, ServiceMeshMetric

from ._otlp import peer, reporter

__all__: list[str] = []

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@attrs.frozen
class SpanPlan:
    """One call's span ids: its trace, itself, its parent (``b""`` for a root)."""

    metric: ServiceMeshMetric
    start_ns: int
    end_ns: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes = b""


def traceparent_ids(header: str | None) -> tuple[bytes, bytes] | None:
    """``(trace id, parent id)`` of a valid ``traceparent`` header, else None.

    >>> traceparent_ids("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")[1].hex()
    '00f067aa0ba902b7'
    >>> traceparent_ids("00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
    True
    """
    match = _TRACEPARENT.fullmatch((header or "").strip().lower())
    if match is None or match[1] == _ZERO_TRACE or match[2] == _ZERO_SPAN:
        return None
    return bytes.fromhex(match[1]), bytes.fromhex(match[2])


def plan_spans(metrics: Iterable[ServiceMeshMetric]) -> tuple[SpanPlan, ...]:
    """The spans of the calls that have a start and an end, linked as the module says.

    Returns:
        One plan per timed call, sorted by trace id, start time and span id.
    """
    timed = [
        (metric, metric.start_time_ns, metric.end_time_ns)
        for metric in metrics
        if metric.start_time_ns is not None and metric.end_time_ns is not None
    ]
    groups: dict[str, list[SpanPlan]] = {}
    alone: list[SpanPlan] = []
    used: set[bytes] = set()
    for metric, start, end in sorted(timed, key=lambda item: _call_key(item[0], item[1])):
        span_id = _unique(_digest("span", _call_key(metric, start), 8), used)
        plan = SpanPlan(metric, start, end, b"", span_id)
        key = metric.request_id or _traceparent_trace(metric)
        if key is None:
            alone.append(attrs.evolve(plan, trace_id=_digest("call", span_id.hex(), 16)))
        else:
            groups.setdefault(key, []).append(plan)
    plans = alone
    for key, group in groups.items():
        plans.extend(_link(key, group))
    return tuple(sorted(plans, key=lambda plan: (plan.trace_id, plan.start_ns, plan.span_id)))


def _link(request: str, group: Sequence[SpanPlan]) -> list[SpanPlan]:
    """The group's spans with their trace id and parents set."""
    ordered = sorted(group, key=lambda plan: (plan.start_ns, plan.span_id))
    logged = [ids for ids in map(traceparent_ids, (p.metric.traceparent for p in ordered)) if ids]
    trace_id = logged[0][0] if logged else _digest("request", request, 16)
    parents = {plan.span_id: _parent(plan, ordered) for plan in ordered}
    _break_cycles(parents)
    out = []
    for plan in ordered:
        parent = parents[plan.span_id]
        if parent is None:
            # A root: the application's calling span, when its traceparent was logged.
            ids = traceparent_ids(plan.metric.traceparent)
            parent = ids[1] if ids is not None and ids[0] == trace_id else b""
        out.append(attrs.evolve(plan, trace_id=trace_id, parent_span_id=parent))
    return out


def _parent(plan: SpanPlan, group: Sequence[SpanPlan]) -> bytes | None:
    metric = plan.metric
    if metric.detect_point is DetectPoint.CLIENT:
        for other in group:  # a gateway's entry: the same entry's server-side call
            if other.metric.detect_point is DetectPoint.SERVER and _same_entry(other, plan):
                return other.span_id
        own = reporter(metric).service
        candidates = [
            other
            for other in group
            if other.metric.detect_point is DetectPoint.SERVER
            and reporter(other.metric).service == own
        ]
    else:
        caller, called = peer(metric).service, reporter(metric).service
        candidates = [
            other
            for other in group
            if other.metric.detect_point is DetectPoint.CLIENT
            and reporter(other.metric).service == caller
            and peer(other.metric).service == called
            and not _same_entry(other, plan)
        ]
    chosen = _by_time(plan, [other for other in candidates if other is not plan])
    return None if chosen is None else chosen.span_id


def _by_time(plan: SpanPlan, candidates: Sequence[SpanPlan]) -> SpanPlan | None:
    if not candidates:
        return None
    start, end = plan.start_ns, plan.end_ns
    containing = [c for c in candidates if c.start_ns <= start and c.end_ns >= end]
    if containing:
        return max(containing, key=lambda c: (c.start_ns, c.span_id))
    before = [c for c in candidates if c.start_ns <= start]
    if before:
        return max(before, key=lambda c: (c.start_ns, c.span_id))
    return min(candidates, key=lambda c: (abs(c.start_ns - start), c.span_id))


def _break_cycles(parents: dict[bytes, bytes | None]) -> None:
    # Skewed clocks or a workload calling itself could make two calls each other's parent: a
    # trace must be a tree, so the link that closes a cycle is dropped (in span-id order).
    for span in sorted(parents):
        seen = {span}
        current = parents[span]
        while current is not None:
            if current in seen:
                parents[span] = None
                break
            seen.add(current)
            current = parents.get(current)


def _same_entry(a: SpanPlan, b: SpanPlan) -> bool:
    return a.metric.origin == b.metric.origin and a.metric.timings == b.metric.timings


def _traceparent_trace(metric: ServiceMeshMetric) -> str | None:
    ids = traceparent_ids(metric.traceparent)
    return None if ids is None else "traceparent:" + ids[0].hex()


def _call_key(metric: ServiceMeshMetric, start: int) -> str:
    """What tells one call from another, whatever the input's order or file names."""
    origin = metric.origin
    return "\0".join(
        str(part)
        for part in (
            metric.request_id or "",
            start,
            metric.detect_point.value,
            metric.source.service,
            metric.source.instance,
            metric.destination.service,
            metric.destination.instance,
            metric.endpoint or "",
            origin.message_index,
            origin.entry_index,
        )
    )


def _digest(kind: str, text: str, size: int) -> bytes:
    digest = hashlib.sha256(f"meshals {kind}\0{text}".encode()).digest()[:size]
    return digest if any(digest) else b"\1" * size  # an all-zero id is invalid in OTLP


def _unique(span_id: bytes, used: set[bytes]) -> bytes:
    while span_id in used:  # two identical calls: the next hash, in input-independent order
        span_id = hashlib.sha256(span_id).digest()[:8]
    used.add(span_id)
    return span_id
