"""``analyze()``: ALS streams in, service-mesh metrics out, every entry accounted for.

meshals reproduces SkyWalking's ``k8s-mesh`` analyzer (its ALS HTTP/TCP analysis by address)
and corrects what SkyWalking gets wrong. The rules are documented where they live:
:mod:`meshals._streams` (identifiers), :mod:`meshals._k8s_mesh` (entry -> metrics),
:mod:`meshals._status` (protocol and status), :mod:`meshals._tls`, :mod:`meshals._metrics`
(times). Every deliberate difference from SkyWalking:

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
waypoint streams                         no metric               as a gateway
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

from collections.abc import Generator, Iterable, Iterator

from ._accounting import Accounting, SkipReason, Tally
from ._addresses import node_ips
from ._errors import Diagnostic, Location
from ._k8s_mesh import EndpointQuery, EntryAnalyzer
from ._metrics import MetricOrigin, ServiceMeshMetric
from ._model import LogEntry
from ._roles import Role, RoleRule
from ._service import Resolver
from ._streams import Stream, StreamMessage, split_streams

__all__ = ["Analysis", "analyze"]


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
        resolver: Resolver,
        role_rule: RoleRule | None,
        reidentify: bool,
        endpoint_query: EndpointQuery,
    ) -> None:
        self._tally = Tally()
        self._streams: list[Stream] = []
        self._notes: list[Diagnostic] = []
        self._entries = EntryAnalyzer(resolver, endpoint_query=endpoint_query)
        self._generator = self._run(messages, role_rule, reidentify)

    def __iter__(self) -> Analysis:
        return self

    def __next__(self) -> ServiceMeshMetric:
        return next(self._generator)

    def metrics(self) -> list[ServiceMeshMetric]:
        """Run the analysis to the end; the metrics not yet taken from the iterator.

        Returns:
            The remaining metrics in input order (all of them on a fresh analysis).

        Raises:
            StreamError: the input is not one stream or an iterable of streams.
            DecodeError: reading the input failed (e.g. from :func:`~meshals.read`).
        """
        return list(self._generator)

    @property
    def accounting(self) -> Accounting:
        """Counts of streams, messages and entries read so far, analysed or skipped by reason."""
        return self._tally.snapshot()

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """What was noticed so far: stream problems first (by stream), then analysis notes."""
        noticed = [diagnostic for stream in self._streams for diagnostic in stream.diagnostics]
        return (*noticed, *self._notes)

    def _run(
        self, messages: Iterable[object], role_rule: RoleRule | None, reidentify: bool
    ) -> Generator[ServiceMeshMetric, None, None]:
        for index, stream_messages in enumerate(split_streams(messages)):
            stream = Stream(
                stream_messages, role_rule=role_rule, reidentify=reidentify, index=index
            )
            self._streams.append(stream)
            self._tally.streams += 1
            yield from self._run_stream(stream)

    def _run_stream(self, stream: Stream) -> Generator[ServiceMeshMetric, None, None]:
        noted_role_none = False
        for item in stream:
            self._tally.messages += 1
            if item.identifier is not None and item.role is Role.NONE and not noted_role_none:
                noted_role_none = True
                self._note_role_none(item)
            yield from self._run_message(item)

    def _run_message(self, item: StreamMessage) -> Generator[ServiceMeshMetric, None, None]:
        message = item.message
        tally = self._tally
        own_ips = node_ips(item.identifier.node) if item.identifier is not None else ()
        entries: tuple[LogEntry, ...] = message.entries
        for entry_index, entry in enumerate(entries):
            tally.entries_in += 1
            if item.identifier is None:
                tally.skipped[SkipReason.NO_IDENTIFIER] += 1
                continue
            if item.role is Role.NONE:
                tally.skipped[SkipReason.ROLE_NONE] += 1
                continue
            origin = MetricOrigin(
                source=message.source, message_index=message.index, entry_index=entry_index
            )
            outcome = self._entries.analyze(entry, role=item.role, own_ips=own_ips, origin=origin)
            if isinstance(outcome, SkipReason):
                tally.skipped[outcome] += 1
                continue
            tally.analyzed += 1
            for metric in outcome:
                tally.metrics_out += 1
                yield metric

    def _note_role_none(self, item: StreamMessage) -> None:
        node = item.identifier.node if item.identifier is not None else None
        node_id = "" if node is None else node.id
        self._notes.append(
            Diagnostic(
                location=Location(source=item.message.source, message_index=item.message.index),
                reason=f"the role rule gives node {node_id!r} no role: its entries are skipped "
                "(pass role_rule= for Envoys that do not use Istio's node ids)",
            )
        )


def analyze(
    messages: Iterable[object],
    *,
    resolver: Resolver,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    endpoint_query: EndpointQuery = "keep",
) -> Analysis:
    """Analyse ALS streams into service-mesh metrics, lazily.

    Nothing is read until the result is iterated. Each entry yields zero, one or two
    :class:`~meshals.ServiceMeshMetric` by the k8s-mesh rules (see :mod:`meshals._k8s_mesh`);
    entries that yield none are counted by :class:`~meshals.SkipReason` in
    :attr:`Analysis.accounting`.

    Args:
        messages: one stream (an iterable of :class:`~meshals.AlsMessage`, such as
            ``meshals.read(path)``) or an iterable of streams.
        resolver: names the workload behind an IP and port; None from it means
            :data:`~meshals.UNKNOWN`.
        role_rule: decides an Envoy's role from its stream identifier;
            :func:`~meshals.default_role_rule` (Istio node id prefixes) when None.
        reidentify: take every identifier a stream carries, not only the first (for
            collectors that multiplex many Envoys on one stream).
        endpoint_query: ``"keep"`` or ``"strip"`` the query string of the path in ``endpoint``.

    Returns:
        The :class:`Analysis`: an iterator of metrics with accounting and diagnostics.

    Raises:
        ValueError: *endpoint_query* is neither ``"keep"`` nor ``"strip"``.

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
    """
    if endpoint_query not in ("keep", "strip"):
        raise ValueError(f"endpoint_query must be 'keep' or 'strip', not {endpoint_query!r}")
    return Analysis(
        messages,
        resolver=resolver,
        role_rule=role_rule,
        reidentify=reidentify,
        endpoint_query=endpoint_query,
    )
