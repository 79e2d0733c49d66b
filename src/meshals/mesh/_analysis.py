"""``analyze()``: ALS streams in, service-mesh metrics out, every entry accounted for.

**Analyzers.** ``analyzers=`` names the analyses to run, in order: ``"k8s-mesh"``
(:mod:`meshals.mesh._k8s_mesh`, peers named by address through a resolver; the default) and
``"mx-mesh"`` (:mod:`meshals.mesh._mx_mesh`, peers named from Istio's metadata exchange; no
resolver). How their answers for an entry combine, the analyzer chain:
:mod:`meshals.mesh._chain`.

meshals reproduces SkyWalking's ``k8s-mesh`` analyzer (its ALS HTTP/TCP analysis by address)
and corrects what SkyWalking gets wrong; ``semantics="skywalking"`` gives SkyWalking's own
answers instead (:mod:`meshals.mesh._semantics`). The rules are documented where they live:
:mod:`meshals.mesh._streams` (identifiers), :mod:`meshals.mesh._k8s_mesh` (entry -> metrics),
:mod:`meshals.mesh._status` (protocol and status), :mod:`meshals.mesh._tls`,
:mod:`meshals.model._metrics` (times). Every deliberate difference from SkyWalking's ``k8s-mesh``
(for ``mx-mesh``, see
:mod:`meshals.mesh._mx_mesh`):

=======================================  ======================  ===================================
case                                     SkyWalking              meshals
=======================================  ======================  ===================================
gateway entry, no upstream (UH, NR, NC)  no metric at all        the server-side metric
sidecar inbound call from an unknown IP  source named ""         UNKNOWN (the SkyWalking export
                                                                 writes "")
no response code (reset stream)          response code 200       None, and the call failed
status                                   code in 200..399        4xx fail on the client side only;
                                                                 gRPC status; TCP failure flags
plaintext gRPC                           HTTP (scheme http)      gRPC: content-type, grpc-status, or
                                                                 HTTP/2 POST /pkg.Svc/M
internal request/response latency        nanos field of each     full durations (SkyWalking's:
                                         duration only           skywalking_* properties)
response flags                           the first of 18 flags,  all flags, and that name
                                         as a name
times                                    milliseconds            nanoseconds, and the ms views
sidecar PassthroughCluster, BlackHole    no metric               client metric to the pseudo-service
                                                                 named like the cluster
sidecar InboundPassthroughCluster*       no metric               server metric, as inbound
sidecar entry with an empty cluster      no metric               direction from the node's own IPs
sidecar outbound without upstream        no metric               client metric to the dialled
                                                                 address (downstream local)
gateway whose local address is no IP     no metric               named by the node's own IP
internal address, endpoint_id ip:port    not an address          resolved (ambient waypoints)
periodic and start entries               analysed (counted       skipped: intermediate-entry
                                         twice)
first message without identifier         silently role NONE      skipped: no-identifier, and a
                                                                 diagnostic
resolution                               IP only                 IP and port (a resolver may ignore
                                                                 the port)
=======================================  ======================  ===================================
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

from meshals._display import html
from meshals._errors import Diagnostic, DiagnosticKind, Location, StreamError
from meshals.capture._containers import Reader
from meshals.codec._compiled import slot_constructor
from meshals.model._als import HttpEntry, Identifier, LogEntry, TcpEntry
from meshals.model._l4 import L4Connection
from meshals.model._metrics import K8S_MESH, MetricOrigin, ServiceMeshMetric
from meshals.model._role import Role
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import CachingResolver, RunMemo

from ._accounting import Accounting, SkipReason, Tally
from ._addresses import node_ips
from ._chain import AnalyzerChain, _checked_analyzers, _EntryContext
from ._k8s_mesh import EndpointQuery
from ._l4 import EnvoyReporters, l4_metrics
from ._observed_names import AUTO, with_observed_names
from ._roles import RoleRule
from ._semantics import SKYWALKING, Semantics, checked_semantics
from ._streams import Stream, StreamMessage, split_streams
from ._time_range import TimeRange

if TYPE_CHECKING:
    from meshals.model._metric_list import MetricList

__all__ = ["Analysis", "analyze"]

# One per analysed entry: positional (source, message_index, entry_index); model._construct.
_new_origin = slot_constructor(MetricOrigin)
# Read per message: a module global, as an enum class attribute is a metaclass lookup.
_ROLE_NONE = Role.NONE
# No identifier yet: what a stream's own-IP memo starts from (None is an identifier's absence).
_UNSEEN = object()


class _WatchedReader:
    """A reader whose diagnostics the analysis counts: those it adds after the analysis began
    reading it (it appends them as it goes, so they are counted when the accounting is asked)."""

    __slots__ = ("counted", "reader")

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.counted = len(reader.diagnostics)

    def count_new(self, tally: Tally) -> None:
        diagnostics = self.reader.diagnostics
        if len(diagnostics) > self.counted:
            tally.count_dropped(diagnostics[self.counted :])
            self.counted = len(diagnostics)


class Analysis(Iterator[ServiceMeshMetric]):
    """A lazy analysis: an iterator of metrics that accounts for every entry it reads.

    Iterate it (once) for the metrics, or call :meth:`metrics`. :attr:`accounting` and
    :attr:`diagnostics` describe what has been read so far; after the iteration, all of it.
    Build it with :func:`analyze`.
    """

    def __init__(
        self,
        messages: Iterable[object],
        *,
        resolver: Resolver | None,
        role_rule: RoleRule | None,
        reidentify: bool,
        endpoint_query: EndpointQuery,
        analyzers: Sequence[str] = (K8S_MESH,),
        mapping: MetadataServiceMapping | None = None,
        since: datetime.datetime | int | None = None,
        until: datetime.datetime | int | None = None,
        semantics: Semantics = "meshals",
        notes: Sequence[Diagnostic] = (),
    ) -> None:
        self._tally = Tally()
        self._skywalking = semantics == SKYWALKING
        self._time_range = TimeRange.of(since, until)
        self._streams: list[Stream] = []
        self._notes: list[Diagnostic] = list(notes)
        # The readers of read() in the input: their diagnostics are drops to count.
        self._readers: list[_WatchedReader] = []
        # Resolvers are deterministic (the protocol says so): ask each address once per run.
        if resolver is not None and not isinstance(resolver, CachingResolver):
            resolver = RunMemo(resolver)
        self._resolver = resolver
        # The identifier last seen and its node's own IPs: streams repeat it on every message.
        self._identity: tuple[Identifier | None, tuple[str, ...]] = (None, ())
        # The Envoys whose ALS this analysis reads: an L4 line about one of their sides is
        # theirs to report (see meshals.mesh._l4).
        self._envoys = EnvoyReporters()
        self._chain = AnalyzerChain(
            analyzers,
            resolver=resolver,
            mapping=mapping,
            endpoint_query=endpoint_query,
            notes=self._notes,
            semantics=semantics,
        )
        self._generator = self._run(messages, role_rule, reidentify)

    def __iter__(self) -> Analysis:
        return self

    def __next__(self) -> ServiceMeshMetric:
        return next(self._generator)

    def metrics(self) -> MetricList:
        """Run the analysis to the end; the metrics not yet taken from the iterator.

        Returns:
            The remaining metrics in input order (all of them on a fresh analysis), as a
            :class:`~meshals.MetricList` (a list that also renders in notebooks).

        Raises:
            StreamError: the input is not one stream or an iterable of streams.
            DecodeError: reading the input failed (e.g. from :func:`~meshals.read`).
        """
        from meshals.model._metric_list import MetricList

        return MetricList(self._generator)

    @property
    def accounting(self) -> Accounting:
        """Counts of streams, messages and entries read so far, analysed or skipped by reason,
        and of what was dropped while reading them (see :class:`~meshals.Accounting`)."""
        self._count_reader_drops()
        return self._tally.snapshot()

    def _watch(self, records: object) -> None:
        """Count the drops *records* reports from now on, if it is a reader of :func:`read`."""
        if isinstance(records, Reader):
            self._readers.append(_WatchedReader(records))

    def _count_reader_drops(self) -> None:
        for watched in self._readers:
            watched.count_new(self._tally)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """What was noticed so far: stream problems first (by stream), then analysis notes."""
        noticed = [diagnostic for stream in self._streams for diagnostic in stream.diagnostics]
        return (*noticed, *self._notes)

    def _run(
        self, messages: Iterable[object], role_rule: RoleRule | None, reidentify: bool
    ) -> Generator[ServiceMeshMetric, None, None]:
        self._watch(messages)  # one stream; a stream of streams is no Reader
        for index, records in enumerate(split_streams(messages)):
            self._watch(records)
            self._tally.streams += 1
            items = iter(records)
            first = next(items, None)
            if first is None:
                continue
            if isinstance(first, L4Connection):
                yield from self._run_l4(itertools.chain((first,), items))
                continue
            # The loop hands the stream its messages (Stream.take): a call the interpreter runs
            # inline, where iterating a Stream goes through the C API once a message.
            stream = Stream((), role_rule=role_rule, reidentify=reidentify, index=index)
            self._streams.append(stream)
            yield from self._run_stream(stream, itertools.chain((first,), items))

    def _run_l4(self, records: Iterable[object]) -> Generator[ServiceMeshMetric, None, None]:
        tally = self._tally
        for record in records:
            if not isinstance(record, L4Connection):
                raise StreamError(
                    f"a stream mixes L4 connection lines with {type(record).__name__} values"
                )
            tally.entries_in += 1
            if self._time_range is not None:
                skip = self._time_range.place(record.start_time_ns)
                if skip is not None:
                    tally.skipped[skip] += 1
                    continue
            if self._skywalking:
                tally.skipped[SkipReason.SKYWALKING_L4_CONNECTION] += 1
                continue
            if self._envoys.reports(record):
                tally.skipped[SkipReason.REPORTED_BY_ENVOY] += 1
                continue
            outcome = l4_metrics(record, resolver=self._resolver)
            if isinstance(outcome, SkipReason):
                tally.skipped[outcome] += 1
                continue
            tally.analyzed += 1
            for metric in outcome:
                tally.metrics_out += 1
                yield metric

    def _run_stream(
        self, stream: Stream, messages: Iterable[object]
    ) -> Generator[ServiceMeshMetric, None, None]:
        # One loop over the stream's entries: a generator per message, an entry context and a
        # chain step per entry would cost more than the usual entry's analysis itself.
        tally = self._tally
        time_range = self._time_range
        # The usual chain, k8s-mesh alone: its analyzer's answer is the chain's.
        direct = self._chain.only_k8s_mesh()
        noted_role_none = False
        take = stream.take
        # The identifier whose own IPs are own_ips: a stream's messages share one.
        known: object = _UNSEEN
        own_ips: tuple[str, ...] = ()
        for record in messages:
            item = take(record)
            tally.messages += 1
            identifier = item.identifier
            role = item.role
            if identifier is not None and role is _ROLE_NONE and not noted_role_none:
                noted_role_none = True
                self._note_role_none(item)
            message = item.message
            if identifier is not known:
                own_ips = self._own_ips(identifier)
                known = identifier
            if message.diagnostics:
                tally.count_dropped(message.diagnostics)
            # Whether the message's entries can be analysed at all is the message's to decide.
            unanalysable: SkipReason | None = None
            if identifier is None:
                unanalysable = SkipReason.NO_IDENTIFIER
            elif role is _ROLE_NONE:
                unanalysable = SkipReason.ROLE_NONE
            source, message_index = message.source, message.index
            entries: tuple[LogEntry, ...] = message.entries
            for entry_index, entry in enumerate(entries):
                tally.entries_in += 1
                # The range first: the other reasons then describe only the entries inside it.
                if time_range is not None:
                    skip = time_range.place_entry(entry)
                    if skip is not None:
                        tally.skipped[skip] += 1
                        continue
                if unanalysable is not None:
                    tally.skipped[unanalysable] += 1
                    continue
                origin = _new_origin(source, message_index, entry_index)
                if direct is not None:
                    outcome = direct.analyze(entry, role=role, own_ips=own_ips, origin=origin)
                else:
                    outcome = self._analyze_entry(entry, _EntryContext(item, origin, own_ips))
                if isinstance(outcome, SkipReason):
                    tally.skipped[outcome] += 1
                    continue
                tally.analyzed += 1
                for metric in outcome:
                    tally.metrics_out += 1
                    yield metric

    def _own_ips(self, identifier: Identifier | None) -> tuple[str, ...]:
        if identifier is None:
            return ()
        known, ips = self._identity
        if identifier is not known:
            ips = node_ips(identifier.node)
            self._identity = (identifier, ips)
            self._envoys.add(identifier.node)
        return ips

    def _analyze_entry(
        self, entry: LogEntry, context: _EntryContext
    ) -> tuple[ServiceMeshMetric, ...] | SkipReason:
        """Dispatch by entry type: HTTP and TCP entries go through the analyzer chain.

        Entries of other kinds (e.g. ztunnel/Kmesh L4 connections) get their own analysis
        function here, beside the chain.
        """
        if isinstance(entry, (HttpEntry, TcpEntry)):
            return self._chain.run(entry, context)
        raise AssertionError(f"no analysis for {type(entry).__name__}")  # pragma: no cover

    def _note_role_none(self, item: StreamMessage) -> None:
        node = item.identifier.node if item.identifier is not None else None
        node_id = "" if node is None else node.id
        self._notes.append(
            Diagnostic(
                kind=DiagnosticKind.NOTE,
                location=Location(source=item.message.source, message_index=item.message.index),
                reason=f"the role rule gives node {node_id!r} no role: its entries are skipped "
                "(pass role_rule= for Envoys that do not use Istio's node ids)",
            )
        )

    def _repr_html_(self) -> str | None:
        """The accounting so far as an HTML table, for notebooks (the metrics stay unread)."""
        return html(self)


def analyze(
    messages: Iterable[object],
    *,
    resolver: Resolver | Literal["auto"] | None = None,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    endpoint_query: EndpointQuery = "keep",
    analyzers: Sequence[str] = (K8S_MESH,),
    mapping: MetadataServiceMapping | None = None,
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
    semantics: Semantics = "meshals",
) -> Analysis:
    """Analyse ALS streams into service-mesh metrics, lazily.

    Nothing is read until the result is iterated. Each entry yields zero, one or two
    :class:`~meshals.ServiceMeshMetric` by the rules of the *analyzers* (see
    :mod:`meshals.mesh._k8s_mesh`, :mod:`meshals.mesh._mx_mesh`, and :mod:`meshals.mesh._chain`
    for chains); entries that yield none are counted by :class:`~meshals.mesh.SkipReason` in
    :attr:`Analysis.accounting`, beside what lenient decoding dropped before the analysis (the
    messages' diagnostics, and a :class:`~meshals.Reader`'s when it is given as it is).

    Args:
        messages: one stream (an iterable of :class:`~meshals.AlsMessage`, such as
            ``meshals.read(path)``) or an iterable of streams.
        resolver: names the workload behind an IP and port for ``k8s-mesh``; None from it
            means :data:`~meshals.UNKNOWN`. Not needed by ``mx-mesh`` alone. ``"auto"``:
            the workloads the streams name themselves (their Envoys' identifiers, Istio's
            peer metadata; :func:`~meshals.mesh.observed_resolver`), read in a first pass
            when :func:`analyze` is called; its conflicts lead the diagnostics. Readers of
            :func:`~meshals.read` opened from a path are read again from their file; other
            one-shot iterators are held in memory for the two passes.
        role_rule: decides an Envoy's role from its stream identifier;
            :func:`~meshals.mesh.default_role_rule` (Istio node id prefixes) when None.
        reidentify: take every identifier a stream carries, not only the first (for
            collectors that multiplex many Envoys on one stream).
        endpoint_query: ``"keep"`` or ``"strip"`` the query string of the path in ``endpoint``.
        analyzers: the analyzers to run, in order: ``"k8s-mesh"``, ``"mx-mesh"``.
        mapping: how ``mx-mesh`` names workloads from metadata; SkyWalking's default
            ``metadata-service-mapping.yaml`` rules when None.
        since: analyse only the entries that started at or after this time: an aware
            :class:`~datetime.datetime`, or ns since the Unix epoch. An entry's time is its
            ``common_properties.start_time`` (an L4 connection's start); the others are
            skipped as ``outside-time-range`` (and, with a range, those without a start time
            as ``no-start-time``), counted in the accounting.
        until: analyse only the entries that started before this time (the range is
            half-open: ``since <= start < until``).
        semantics: ``"meshals"`` (the default) for meshals' rules, which correct SkyWalking's
            where it errs; ``"skywalking"`` for exactly the metrics Apache SkyWalking's ALS
            receiver computes (:mod:`meshals.mesh._semantics`): its entries without a metric
            are skipped as ``skywalking-no-metric: ...``.

    Returns:
        The :class:`Analysis`: an iterator of metrics with accounting and diagnostics.

    Raises:
        ValueError: *endpoint_query* is neither ``"keep"`` nor ``"strip"``; *semantics* is
            neither ``"meshals"`` nor ``"skywalking"``; *analyzers* is
            empty, a string, names an unknown analyzer or one twice; ``k8s-mesh`` is asked
            for without a *resolver*; *since* or *until* is a naive datetime, or *until* is
            not after *since*.
        TypeError: *since* or *until* is neither a datetime nor an int.

    Iterating the result raises :class:`~meshals.StreamError` when *messages* is not one
    stream or an iterable of streams, and passes on errors of the input (e.g. a
    :class:`~meshals.DecodeError` from :func:`~meshals.read`) and of the resolver.

    >>> from meshals import AlsMessage, Identifier, Node
    >>> class NoOne:
    ...     def resolve(self, ip, port, /):
    ...         return None
    >>> analysis = analyze([AlsMessage(identifier=Identifier(node=Node(id="envoy-1")))],
    ...                    resolver=NoOne())
    >>> analysis.metrics(), analysis.accounting.messages
    ([], 1)
    >>> analyze([], analyzers=["mx-mesh", "k8s-mesh"])
    Traceback (most recent call last):
    ...
    ValueError: the k8s-mesh analyzer names peers by address and needs a resolver: ...
    """
    if endpoint_query not in ("keep", "strip"):
        raise ValueError(f"endpoint_query must be 'keep' or 'strip', not {endpoint_query!r}")
    notes: tuple[Diagnostic, ...] = ()
    if isinstance(resolver, str):
        if resolver != AUTO:
            raise ValueError(f"resolver must be a Resolver, None or 'auto', not {resolver!r}")
        messages, resolver = with_observed_names(messages, reidentify=reidentify)
        notes = resolver.diagnostics
    return Analysis(
        messages,
        notes=notes,
        resolver=resolver,
        role_rule=role_rule,
        reidentify=reidentify,
        endpoint_query=endpoint_query,
        analyzers=_checked_analyzers(analyzers),
        mapping=mapping,
        since=since,
        until=until,
        semantics=checked_semantics(semantics),
    )
