"""Accounting for every entry of an analysis' input: analysed, skipped for a stated reason, or
dropped while reading (and reported as a diagnostic)."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from meshals._display import html
from meshals._errors import Diagnostic, DiagnosticKind
from meshals._values import FrozenMap

__all__ = ["Accounting", "SkipReason"]

# The diagnostic kinds that Accounting.dropped counts, in DiagnosticKind order: those that say
# something was left out while reading, and NOT_LISTED (problems past max_diagnostics).
_DROPPING_KINDS: tuple[DiagnosticKind, ...] = (
    DiagnosticKind.ENTRY_SKIPPED,
    DiagnosticKind.MESSAGE_SKIPPED,
    DiagnosticKind.LINE_SKIPPED,
    DiagnosticKind.PART_SKIPPED,
    DiagnosticKind.NOT_LISTED,
)
_DROPPING = frozenset(_DROPPING_KINDS)
# What is one entry each: an entry left out of its message, a line (connection) of an L4 log.
_ONE_ENTRY_KINDS = (DiagnosticKind.ENTRY_SKIPPED, DiagnosticKind.LINE_SKIPPED)
# What makes the number of entries the input held unknown.
_UNCOUNTED_KINDS = (
    DiagnosticKind.MESSAGE_SKIPPED,
    DiagnosticKind.PART_SKIPPED,
    DiagnosticKind.NOT_LISTED,
)


class SkipReason(enum.Enum):
    """Why an entry produced no metric. The values are stable strings, safe to store."""

    NO_IDENTIFIER = "no-identifier"
    """The stream never said which Envoy sent it (no identifier on its first message)."""
    ROLE_NONE = "role-none"
    """The role rule gave the sending Envoy :attr:`~meshals.Role.NONE`."""
    NO_COMMON_PROPERTIES = "no-common-properties"
    """The entry has no ``common_properties``: no addresses, no times."""
    INTERMEDIATE_ENTRY = "intermediate-entry"
    """A periodic or start-of-stream entry; the final entry of the same request or connection
    reports it in full (Envoy's byte counters are cumulative)."""
    NO_SOURCE_ADDRESS = "no-source-address"
    """Neither downstream remote address names an IP: the caller cannot be named."""
    NO_LOCAL_ADDRESS = "no-local-address"
    """The downstream local address names no IP, so the Envoy's own workload cannot be named."""
    UNKNOWN_DIRECTION = "unknown-direction"
    """A sidecar entry with an empty or unrecognised cluster, from a node whose own IPs are
    unknown or with both its caller and its local address the node's own, or an L4 line
    without a direction: inbound and outbound cannot be told apart."""
    NO_LOCAL_IDENTITY = "no-local-identity"
    """mx-mesh: the node metadata names no workload (no placeholder of the service and
    instance rules finds a value), so the Envoy's own side cannot be named."""
    NO_PEER = "no-peer"
    """mx-mesh: a sidecar entry whose filter state holds no peer object (``upstream_peer``,
    ``downstream_peer`` or their ``wasm.`` forms)."""
    MALFORMED_PEER = "malformed-peer"
    """mx-mesh: the entry's peer objects could not be decoded (a diagnostic says why)."""
    REPORTED_BY_ENVOY = "reported-by-envoy"
    """An L4 (ztunnel/Kmesh) line about a connection side that an Envoy in the same analysis
    reports through ALS: counted once, from the Envoy."""
    OUTSIDE_TIME_RANGE = "outside-time-range"
    """The entry (or L4 connection) started before the analysis' ``since`` or at or after its
    ``until`` (``--since``/``--until``)."""
    NO_START_TIME = "no-start-time"
    """A time range was given, and the entry has no ``start_time`` to place in it."""
    SKYWALKING_GATEWAY_WITHOUT_UPSTREAM = "skywalking-no-metric: gateway-without-upstream"
    """``semantics="skywalking"``: a gateway or waypoint entry without an upstream host
    (``UH``, ``NR``, ``NC``); SkyWalking makes no metric of it, not even the server side."""
    SKYWALKING_GATEWAY_WITHOUT_LOCAL_IP = "skywalking-no-metric: gateway-without-local-ip"
    """``semantics="skywalking"``: a gateway whose downstream local address names no IP."""
    SKYWALKING_SPECIAL_CLUSTER = "skywalking-no-metric: special-cluster"
    """``semantics="skywalking"``: a sidecar entry of ``PassthroughCluster``,
    ``BlackHoleCluster`` or ``InboundPassthroughCluster*``."""
    SKYWALKING_NO_ISTIO_CLUSTER = "skywalking-no-metric: no-istio-cluster"
    """``semantics="skywalking"``: a sidecar entry whose cluster is empty or not Istio's
    ``inbound|``/``outbound|`` form."""
    SKYWALKING_NO_PEER = "skywalking-no-metric: no-peer"
    """``semantics="skywalking"``, mx-mesh: no peer SkyWalking reads (a ``Struct`` or FlatNode
    under ``upstream_peer``, ``downstream_peer`` or their ``wasm.`` forms), and no gateway
    stand-in."""
    SKYWALKING_OUTBOUND_WITHOUT_UPSTREAM = "skywalking-no-metric: outbound-without-upstream"
    """``semantics="skywalking"``: a sidecar's outbound entry without an upstream host."""
    SKYWALKING_L4_CONNECTION = "skywalking-no-metric: l4-connection"
    """``semantics="skywalking"``: an L4 (ztunnel/Kmesh) connection line; SkyWalking's ALS
    receiver reads Envoy's access logs only."""


@attrs.frozen(kw_only=True)
class Accounting:
    """Counts of what an analysis read, made and found dropped so far (a snapshot).

    ``streams``, ``messages`` and ``entries_in`` count what reached the analysis; each entry
    in is ``analyzed`` or ``skipped`` for a :class:`SkipReason`, and ``metrics_out`` counts the
    metrics made. ``dropped`` counts what lenient decoding left out before the analysis saw
    it, by :class:`~meshals.DiagnosticKind` in that enum's order (kinds never seen are left
    out): the diagnostics of each message analysed (``AlsMessage.diagnostics``) and, when the
    input is a :class:`~meshals.Reader` from :func:`~meshals.read` (or several, one per
    stream, given as they are), the reader's diagnostics since the analysis began reading it.
    One diagnostic counts one unit (``VALUE_IGNORED`` and ``NOTE`` drop nothing):

    - ``ENTRY_SKIPPED``: one entry left out of its message; ``LINE_SKIPPED``: one line (one
      connection, an entry) of an L4 log. Together: :attr:`entries_dropped`.
    - ``MESSAGE_SKIPPED``: one whole message of a stream; ``PART_SKIPPED``: a part of a
      message or stream whose entries are not counted (the rest of a broken stream, the rest
      of a cut binary message, an entry list replaced by the other ``log_entries`` member).
    - ``NOT_LISTED``: one message whose problems past ``Limits.max_diagnostics`` were only
      counted, their kinds unknown: the other counts are then lower bounds.

    The invariants, at every point (an entry is counted when the analysis has decided about
    it, before its metrics are yielded; a drop when the reader reports it):

    - ``entries_in == analyzed + skipped_total``;
    - the input held ``entries_in + entries_dropped`` entries, plus those of the messages and
      parts counted under ``MESSAGE_SKIPPED`` and ``PART_SKIPPED``. Where there are none (and
      no ``NOT_LISTED``), :attr:`input_entries` is that exact total; else it is None.

    A reader wrapped in another iterator (a generator, ``itertools.chain``) hides its
    diagnostics from the analysis: only the drops inside the messages are counted then.
    """

    streams: int = 0
    messages: int = 0
    entries_in: int = 0
    analyzed: int = 0
    skipped: FrozenMap[SkipReason, int] = attrs.field(factory=FrozenMap)
    metrics_out: int = 0
    dropped: FrozenMap[DiagnosticKind, int] = attrs.field(factory=FrozenMap)

    @property
    def skipped_total(self) -> int:
        """All skipped entries, whatever the reason."""
        return sum(self.skipped.values())

    @property
    def entries_dropped(self) -> int:
        """Entries left out while reading, one by one: ``ENTRY_SKIPPED`` + ``LINE_SKIPPED``."""
        return sum(self.dropped.get(kind, 0) for kind in _ONE_ENTRY_KINDS)

    @property
    def input_entries(self) -> int | None:
        """The entries the input held (``entries_in + entries_dropped``), or None when a whole
        message, a part of uncounted size, or unlisted problems make that number unknown."""
        if any(kind in self.dropped for kind in _UNCOUNTED_KINDS):
            return None
        return self.entries_in + self.entries_dropped

    def merge(self, other: Accounting) -> Accounting:
        """The counts of both analyses together (of separate inputs, e.g. one per file)."""
        return _merged(self, other)

    def __add__(self, other: Accounting) -> Accounting:
        if not isinstance(other, Accounting):
            return NotImplemented
        return self.merge(other)

    def _repr_html_(self) -> str | None:
        """A table of the counts, for notebooks."""
        return html(self)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; ``skipped`` maps reason values to counts, in :class:`SkipReason`
        order, and ``dropped`` diagnostic kind values to counts, in
        :class:`~meshals.DiagnosticKind` order; kinds and reasons that never occurred are
        left out."""
        return {
            "streams": self.streams,
            "messages": self.messages,
            "entries_in": self.entries_in,
            "analyzed": self.analyzed,
            "skipped": {reason.value: count for reason, count in self.skipped.items()},
            "skipped_total": self.skipped_total,
            "metrics_out": self.metrics_out,
            "dropped": {kind.value: count for kind, count in self.dropped.items()},
            "entries_dropped": self.entries_dropped,
            "input_entries": self.input_entries,
        }


def _merged(first: Accounting, second: Accounting) -> Accounting:
    # Field by field, so that a count added to Accounting later merges without a change here.
    changes: dict[str, Any] = {}
    for field in attrs.fields(Accounting):
        mine, theirs = getattr(first, field.name), getattr(second, field.name)
        if isinstance(mine, FrozenMap):
            changes[field.name] = _added_counts(mine, theirs)
        else:
            changes[field.name] = mine + theirs
    return attrs.evolve(first, **changes)


def _added_counts(
    mine: FrozenMap[enum.Enum, int], theirs: FrozenMap[enum.Enum, int]
) -> FrozenMap[enum.Enum, int]:
    """Counts keyed by enum members, added key by key and kept in the enum's order."""
    counts: Counter[enum.Enum] = Counter(mine)
    counts.update(theirs)
    members = [member for member in counts if counts[member]]
    if not members:
        return FrozenMap()
    order = list(type(members[0]))
    return FrozenMap({member: counts[member] for member in sorted(members, key=order.index)})


def dropped_by(diagnostics: Iterable[Diagnostic]) -> Accounting:
    """The accounting of a reader's own drops: add it to that of an analysis that did not see
    the reader itself (one given the reader's records through a wrapper)."""
    tally = Tally()
    tally.count_dropped(diagnostics)
    return tally.snapshot()


class Tally:
    """The mutable counters behind :class:`Accounting` (private to the analysis)."""

    def __init__(self) -> None:
        self.streams = 0
        self.messages = 0
        self.entries_in = 0
        self.analyzed = 0
        self.metrics_out = 0
        self.skipped: Counter[SkipReason] = Counter()
        self.dropped: Counter[DiagnosticKind] = Counter()

    def count_dropped(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Count the diagnostics that say something was dropped (the kinds ``dropped`` counts)."""
        dropped = self.dropped
        for diagnostic in diagnostics:
            if diagnostic.kind in _DROPPING:
                dropped[diagnostic.kind] += 1

    def snapshot(self) -> Accounting:
        return Accounting(
            streams=self.streams,
            messages=self.messages,
            entries_in=self.entries_in,
            analyzed=self.analyzed,
            skipped=FrozenMap(
                {reason: self.skipped[reason] for reason in SkipReason if self.skipped[reason]}
            ),
            metrics_out=self.metrics_out,
            dropped=FrozenMap(
                {kind: self.dropped[kind] for kind in _DROPPING_KINDS if self.dropped[kind]}
            ),
        )
