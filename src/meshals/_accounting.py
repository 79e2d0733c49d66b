"""Accounting for every entry an analysis reads: analysed, or skipped for a stated reason."""

from __future__ import annotations

import enum
from collections import Counter
from typing import Any

import attrs

from ._values import FrozenMap

__all__ = ["Accounting", "SkipReason"]


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
    unknown, or an L4 line without a direction: inbound and outbound cannot be told apart."""
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


@attrs.frozen(kw_only=True)
class Accounting:
    """Counts of what an analysis read and made so far (a snapshot).

    ``entries_in == analyzed + skipped_total`` holds at every point: an entry is counted when
    the analysis has decided about it, before its metrics are yielded.
    """

    streams: int = 0
    messages: int = 0
    entries_in: int = 0
    analyzed: int = 0
    skipped: FrozenMap[SkipReason, int] = attrs.field(factory=FrozenMap)
    metrics_out: int = 0

    @property
    def skipped_total(self) -> int:
        """All skipped entries, whatever the reason."""
        return sum(self.skipped.values())

    def merge(self, other: Accounting) -> Accounting:
        """The counts of both analyses together (of separate inputs, e.g. one per file)."""
        return _merged(self, other)

    def __add__(self, other: Accounting) -> Accounting:
        if not isinstance(other, Accounting):
            return NotImplemented
        return self.merge(other)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; ``skipped`` maps reason values to counts, in :class:`SkipReason`
        order, reasons that never occurred left out."""
        return {
            "streams": self.streams,
            "messages": self.messages,
            "entries_in": self.entries_in,
            "analyzed": self.analyzed,
            "skipped": {reason.value: count for reason, count in self.skipped.items()},
            "skipped_total": self.skipped_total,
            "metrics_out": self.metrics_out,
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


class Tally:
    """The mutable counters behind :class:`Accounting` (private to the analysis)."""

    def __init__(self) -> None:
        self.streams = 0
        self.messages = 0
        self.entries_in = 0
        self.analyzed = 0
        self.metrics_out = 0
        self.skipped: Counter[SkipReason] = Counter()

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
        )
