"""Which SPIFFE ids each workload presented: :func:`identities`, and their conflicts.

A server-side metric names both ends of a TLS hop (Envoy logs the downstream connection's
certificates): the destination workload presented the local certificate (its id *as server*),
the source workload the peer certificate (*as client*). :class:`Identities` keeps one
:class:`WorkloadIdentity` per (service, instance, id) with the calls on each side and where it
was first seen. Client-side metrics carry no TLS facts and are not counted; nor is a metric
without a certificate.

A workload is a service of the graph (the resolver's name). Two kinds of
:class:`IdentityConflict` follow from the rows, so they merge as exactly as the rows do:

- ``workload``: one service presented more than one id (a second service account, a
  certificate of another workload);
- ``identity``: one id was presented by more than one service (a shared service account, or
  a resolver that names one workload two ways).

Workloads no resolver could name (``UNKNOWN``) are listed but take part in no conflict.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from meshals._display import html
from meshals._values import FrozenMap
from meshals.model._metrics import DetectPoint, ServiceMeshMetric
from meshals.model._service import UNKNOWN

__all__ = [
    "ConflictKind",
    "Identities",
    "IdentitiesAccumulator",
    "IdentityConflict",
    "Sighting",
    "WorkloadIdentity",
    "identities",
]

_UNNAMED = frozenset({UNKNOWN.service, ""})


@attrs.frozen(kw_only=True, order=True)
class Sighting:
    """Where an id was seen: the call's start (ns since the epoch) and the entry's location.

    Sightings order by time (unknown last), then source, message and entry: the first of
    several is their minimum, whatever order they were merged in.
    """

    unknown_time: bool = attrs.field(repr=False)
    start_time_ns: int
    source: str
    message_index: int
    entry_index: int

    @classmethod
    def of(cls, metric: ServiceMeshMetric) -> Sighting:
        """Where *metric* was seen (``-1`` stands for an unknown time or message index)."""
        start = metric.start_time_ns
        origin = metric.origin
        return cls(
            unknown_time=start is None,
            start_time_ns=-1 if start is None else start,
            source=origin.source,
            message_index=-1 if origin.message_index is None else origin.message_index,
            entry_index=origin.entry_index,
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict (None for an unknown time or message index)."""
        return {
            "start_time_ns": None if self.unknown_time else self.start_time_ns,
            "source": self.source,
            "message_index": None if self.message_index < 0 else self.message_index,
            "entry_index": self.entry_index,
        }

    def __str__(self) -> str:
        message = "" if self.message_index < 0 else f", message {self.message_index}"
        return f"{self.source}{message}, entry {self.entry_index}"


@attrs.frozen(kw_only=True)
class WorkloadIdentity:
    """One SPIFFE id one workload instance presented.

    Attributes:
        service: the workload's service name.
        instance: its instance name.
        identity: the SPIFFE id (a certificate's URI SAN).
        as_server: calls it served with this id (its local certificate).
        as_client: calls it made with this id (the peer certificate its servers saw).
        first_seen: the earliest call that showed it.
    """

    service: str
    instance: str
    identity: str
    as_server: int = 0
    as_client: int = 0
    first_seen: Sighting

    @property
    def calls(self) -> int:
        """Calls on both sides."""
        return self.as_server + self.as_client

    def merge(self, other: WorkloadIdentity) -> WorkloadIdentity:
        """Both counts of the same (service, instance, id); the first sighting of both."""
        return attrs.evolve(
            self,
            as_server=self.as_server + other.as_server,
            as_client=self.as_client + other.as_client,
            first_seen=min(self.first_seen, other.first_seen),
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {
            "service": self.service,
            "instance": self.instance,
            "identity": self.identity,
            "as_server": self.as_server,
            "as_client": self.as_client,
            "first_seen": self.first_seen.to_dict(),
        }


class ConflictKind(enum.Enum):
    """What an :class:`IdentityConflict` is about."""

    WORKLOAD = "workload"  # one workload, several ids
    IDENTITY = "identity"  # one id, several workloads


@attrs.frozen(kw_only=True)
class IdentityConflict:
    """A workload that presented several ids, or an id that several workloads presented.

    Attributes:
        kind: which of the two.
        subject: the service (``workload``) or the id (``identity``).
        seen: the ids, or the services, sorted.
    """

    kind: ConflictKind
    subject: str
    seen: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The conflict in words."""
        listed = ", ".join(self.seen)
        if self.kind is ConflictKind.WORKLOAD:
            return f"workload {self.subject} presented {len(self.seen)} SPIFFE ids: {listed}"
        return f"SPIFFE id {self.subject} was presented by {len(self.seen)} workloads: {listed}"

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict, with the ``reason``."""
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "seen": list(self.seen),
            "reason": self.reason,
        }


_NO_ROWS: FrozenMap[tuple[str, str, str], WorkloadIdentity] = FrozenMap()


@attrs.frozen(kw_only=True)
class Identities:
    """The SPIFFE ids of every workload seen; merge with ``+``, :meth:`merge` or
    :meth:`merge_all`.

    Attributes:
        rows: by (service, instance, id), sorted.
    """

    rows: FrozenMap[tuple[str, str, str], WorkloadIdentity] = _NO_ROWS

    @property
    def conflicts(self) -> tuple[IdentityConflict, ...]:
        """Every conflict: the workloads with several ids, then the ids of several workloads,
        each in name order."""
        ids_of: dict[str, set[str]] = {}
        services_of: dict[str, set[str]] = {}
        for row in self.rows.values():
            if row.service in _UNNAMED:
                continue
            ids_of.setdefault(row.service, set()).add(row.identity)
            services_of.setdefault(row.identity, set()).add(row.service)
        return (
            *_conflicts(ConflictKind.WORKLOAD, ids_of),
            *_conflicts(ConflictKind.IDENTITY, services_of),
        )

    def row_conflicts(self) -> dict[tuple[str, str, str], tuple[ConflictKind, ...]]:
        """For each row, the kinds of conflict it takes part in (in :class:`ConflictKind`'s
        order; none for most)."""
        conflicts = self.conflicts
        workloads = {c.subject for c in conflicts if c.kind is ConflictKind.WORKLOAD}
        shared = {c.subject for c in conflicts if c.kind is ConflictKind.IDENTITY}
        return {
            key: tuple(
                kind
                for kind, subject, among in (
                    (ConflictKind.WORKLOAD, row.service, workloads),
                    (ConflictKind.IDENTITY, row.identity, shared),
                )
                if subject in among
            )
            for key, row in self.rows.items()
        }

    def records(self) -> list[dict[str, object]]:
        """One plain, JSON-ready record per row, with the kinds of conflict it is in
        (``conflicts``: ``[]``, ``["workload"]``, ``["identity"]`` or both)."""
        conflicts = self.row_conflicts()
        return [
            {**row.to_dict(), "conflicts": [kind.value for kind in conflicts[key]]}
            for key, row in self.rows.items()
        ]

    def merge(self, other: Identities) -> Identities:
        """The identities of both inputs."""
        return Identities.merge_all((self, other))

    def __add__(self, other: Identities) -> Identities:
        if not isinstance(other, Identities):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(cls, tables: Iterable[Identities]) -> Identities:
        """Merge any number of tables (the empty table for none), equal whatever the order."""
        accumulator = IdentitiesAccumulator()
        for table in tables:
            accumulator.add_identities(table)
        return accumulator.result()

    def _repr_html_(self) -> str | None:
        """The table as HTML, for notebooks."""
        return html(self)

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: ``workloads`` (:meth:`records`) and ``conflicts``."""
        return {
            "workloads": self.records(),
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
        }


def _conflicts(kind: ConflictKind, seen: dict[str, set[str]]) -> Iterable[IdentityConflict]:
    for subject, values in sorted(seen.items()):
        if len(values) > 1:
            yield IdentityConflict(kind=kind, subject=subject, seen=tuple(sorted(values)))


class IdentitiesAccumulator:
    """Builds :class:`Identities` one metric at a time (mutable, O(1) per metric)."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        """Start empty."""
        self._rows: dict[tuple[str, str, str], WorkloadIdentity] = {}

    def _count(self, row: WorkloadIdentity) -> None:
        key = (row.service, row.instance, row.identity)
        known = self._rows.get(key)
        self._rows[key] = row if known is None else known.merge(row)

    def add(self, metric: ServiceMeshMetric) -> None:
        """Count the ids of one server-side metric (others carry none)."""
        if metric.detect_point is not DetectPoint.SERVER:
            return
        for info, identity, as_server in (
            (metric.destination, metric.local_identity, 1),
            (metric.source, metric.peer_identity, 0),
        ):
            if identity is None:
                continue
            self._count(
                WorkloadIdentity(
                    service=info.service,
                    instance=info.instance,
                    identity=identity,
                    as_server=as_server,
                    as_client=1 - as_server,
                    first_seen=Sighting.of(metric),
                )
            )

    def add_identities(self, table: Identities) -> None:
        """Count every row of a table (a merge)."""
        for row in table.rows.values():
            self._count(row)

    def result(self) -> Identities:
        """The immutable table counted so far."""
        return Identities(rows=FrozenMap({key: self._rows[key] for key in sorted(self._rows)}))


def identities(metrics: Iterable[ServiceMeshMetric]) -> Identities:
    """The SPIFFE ids each workload presented, as server and as client, with their conflicts.

    Args:
        metrics: the metrics (e.g. ``meshals.analyze(...)``); server-side ones count.

    Returns:
        The :class:`Identities` table; its :attr:`~Identities.conflicts` list the workloads
        with several ids and the ids of several workloads.

    >>> identities([]).to_dict()
    {'workloads': [], 'conflicts': []}
    """
    accumulator = IdentitiesAccumulator()
    for metric in metrics:
        accumulator.add(metric)
    return accumulator.result()
