"""The walk that turns ALS streams (and L4 connection logs) into Istio metric samples.

:func:`istio_samples` reads what :func:`~meshals.analyze` reads (one stream or an iterable of
streams, ``read()``'s readers included) and yields one :class:`~meshals.model.IstioSample` per
request or connection as Istio's proxies count them: Envoy entries by
:mod:`meshals.mesh._istio_rules`, L4 lines by :mod:`meshals.mesh._istio_l4`. Streams are
identified as the analysis identifies them (:class:`~meshals.mesh.Stream`: the first
identifier holds, the role rule decides the role); entries of unidentified streams, of Envoys
without a role, outside the time range, or skipped by the rules yield nothing. L4 lines about
a side an Envoy of the same walk reports (:class:`~meshals.mesh.EnvoyReporters`) are not
counted twice.

:class:`IstioWalk` is the same walk fed one record at a time, for a caller that already
iterates the records (the command line taps the analysis' input with it).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator

from meshals.model._als import AlsMessage, Identifier
from meshals.model._istio import IstioSample
from meshals.model._l4 import L4Connection
from meshals.model._role import Role
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._accounting import SkipReason
from ._addresses import node_ips
from ._istio_identity import OwnWorkloads
from ._istio_l4 import ztunnel_sample_of
from ._istio_rules import domain_of_node_id, istio_sample_of
from ._l4 import EnvoyReporters
from ._roles import RoleRule
from ._streams import Stream, split_streams
from ._time_range import TimeRange

__all__ = ["IstioWalk", "istio_samples"]


class IstioWalk:
    """Istio samples of records handed in one at a time (module docstring).

    Args:
        workloads: the snapshot's workloads for peers without metadata, or None.
        role_rule: decides an Envoy's role; Istio's node id prefixes when None.
        reidentify: take every identifier a stream carries.
        since: count only entries that started at or after this time (aware datetime or ns).
        until: count only entries that started before this time.
    """

    def __init__(
        self,
        *,
        workloads: KubernetesWorkloads | None = None,
        role_rule: RoleRule | None = None,
        reidentify: bool = False,
        since: datetime.datetime | int | None = None,
        until: datetime.datetime | int | None = None,
    ) -> None:
        self._workloads = workloads
        self._role_rule = role_rule
        self._reidentify = reidentify
        self._time_range = TimeRange.of(since, until)
        self._own = OwnWorkloads(workloads)
        self._envoys = EnvoyReporters()
        self._opened: set[tuple[object, object, object]] = set()  # L4 connections seen opened
        self._stream: Stream | None = None
        # The identifier last seen, its node's own IPs and DNS domain.
        self._identity: tuple[Identifier | None, tuple[str, ...], str | None] = (None, (), None)

    def new_stream(self) -> None:
        """Start the next stream: the records handed in from now on are another Envoy's."""
        self._stream = None

    def add(self, record: object) -> list[IstioSample]:
        """The samples of one record (an :class:`~meshals.AlsMessage` or L4 connection line).

        Raises:
            StreamError: *record* is neither, or the role rule returned no Role.
        """
        if isinstance(record, L4Connection):
            return self._l4(record)
        if self._stream is None:
            self._stream = Stream((), role_rule=self._role_rule, reidentify=self._reidentify)
        item = self._stream.take(record)
        if item.identifier is None or item.role is Role.NONE:
            return []
        identifier, own_ips, domain = self._identity
        if item.identifier is not identifier:
            node = item.identifier.node
            own_ips = node_ips(node)
            domain = None if node is None else domain_of_node_id(node.id)
            self._identity = (item.identifier, own_ips, domain)
            self._envoys.add(node)
        assert isinstance(record, AlsMessage)  # take() checked it
        own = self._own.of(item.identifier.node, own_ips)
        samples = []
        for entry in record.entries:
            if self._time_range is not None and self._time_range.place_entry(entry) is not None:
                continue
            sample = istio_sample_of(
                entry,
                role=item.role,
                own=own,
                own_ips=own_ips,
                domain=domain,
                workloads=self._workloads,
            )
            if not isinstance(sample, SkipReason):
                samples.append(sample)
        return samples

    def _l4(self, record: L4Connection) -> list[IstioSample]:
        if (
            self._time_range is not None
            and self._time_range.place(record.start_time_ns) is not None
        ):
            return []
        if self._envoys.reports(record):
            return []
        sample = ztunnel_sample_of(record, workloads=self._workloads, opened=self._opened)
        return [] if sample is None else [sample]


def istio_samples(
    messages: Iterable[object],
    *,
    workloads: KubernetesWorkloads | None = None,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
) -> Iterator[IstioSample]:
    """The Istio samples of one stream or an iterable of streams, lazily (module docstring).

    Args:
        messages: one stream (an iterable of :class:`~meshals.AlsMessage` or of L4 connection
            lines, such as ``meshals.read(path)``) or an iterable of streams.
        workloads: the snapshot's workloads for peers without metadata, or None.
        role_rule: decides an Envoy's role; Istio's node id prefixes when None.
        reidentify: take every identifier a stream carries.
        since: count only entries that started at or after this time.
        until: count only entries that started before this time.

    Raises:
        StreamError: (while iterating) *messages* is not one stream or an iterable of streams.
    """
    walk = IstioWalk(
        workloads=workloads, role_rule=role_rule, reidentify=reidentify, since=since, until=until
    )
    for stream in split_streams(messages):
        walk.new_stream()
        for record in stream:
            yield from walk.add(record)
