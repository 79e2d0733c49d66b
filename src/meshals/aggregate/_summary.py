"""A :class:`Summary`: what one analysis yields, as aggregates that merge exactly.

:func:`summarize` runs one :func:`~meshals.analyze` and folds its metrics, in one pass, into
the service graph (:func:`~meshals.topology`) and RED statistics (:func:`~meshals.red`), with
the analysis's :class:`~meshals.Accounting` and diagnostics beside them. Summaries of separate
inputs (one per file, per hour, per machine) merge into the summary of all of them together:

- the graph, the statistics and the accounting hold integer counts, sums, minima, maxima and
  sketch buckets, so their merges are exact, associative and commutative;
- the diagnostics are kept in one fixed order (by location, then kind and reason), so their
  merge does not depend on the order either.

Hence ``summarize([s1, s2]) == summarize([s1]) + summarize([s2])`` for streams ``s1`` and
``s2``, whatever the grouping and order, as long as the inputs are independent: an L4
(ztunnel) log and the ALS of the Envoys it overlaps must be summarised together (see
:mod:`meshals.mesh._l4`). This is what :mod:`meshals.dask` distributes.
"""

from __future__ import annotations

import datetime
from collections.abc import Generator, Iterable, Sequence
from typing import Literal

import attrs

from meshals._errors import AggregateError, Diagnostic
from meshals.capture._containers import Reader
from meshals.mesh._accounting import Accounting
from meshals.mesh._analysis import analyze
from meshals.mesh._k8s_mesh import EndpointQuery
from meshals.mesh._observed_names import AUTO, with_observed_names
from meshals.mesh._roles import RoleRule
from meshals.mesh._streams import split_streams
from meshals.model._metrics import K8S_MESH, Semantics
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._protocol import Resolver

from ._fold import fold
from ._red import RedAccumulator, RedStats, Scope
from ._sketch import DEFAULT_RELATIVE_ACCURACY, check_relative_accuracy
from ._topology import Topology, TopologyAccumulator

__all__ = ["Summary", "summarize"]


def _diagnostic_order(diagnostic: Diagnostic) -> tuple[str, int, int, str, str, str]:
    # A total order on what a diagnostic says (equal keys: equal diagnostics), None first.
    location = diagnostic.location
    return (
        location.source,
        -1 if location.message_index is None else location.message_index,
        -1 if location.entry_index is None else location.entry_index,
        location.field or "",
        diagnostic.kind.value,
        diagnostic.reason,
    )


def _in_order(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diagnostics, key=_diagnostic_order))


_NO_GRAPH = Topology()
_NO_STATS = RedStats()
_NOTHING_READ = Accounting()


@attrs.frozen(kw_only=True)
class Summary:
    """The mergeable result of an analysis; merge with ``+``, :meth:`merge` or :meth:`merge_all`.

    Build it with :func:`summarize`. ``Summary()`` is the summary of no input (with the default
    settings): merging it changes nothing.

    Attributes:
        topology: the service graph of the metrics.
        red: their inbound RED statistics (its ``scope`` and ``window_ns`` are settings).
        accounting: the counts of streams, messages and entries read, analysed or skipped.
        diagnostics: what the analysis noticed and what the readers (:func:`~meshals.read`)
            among its input skipped, sorted by location (source, message, entry, field),
            then kind and reason.
        relative_accuracy: the latency sketches' alpha (a setting).
    """

    topology: Topology = _NO_GRAPH
    red: RedStats = _NO_STATS
    accounting: Accounting = _NOTHING_READ
    diagnostics: tuple[Diagnostic, ...] = attrs.field(default=(), converter=_in_order)
    relative_accuracy: float = attrs.field(
        default=DEFAULT_RELATIVE_ACCURACY, converter=check_relative_accuracy
    )

    def _check_compatible(self, other: Summary) -> None:
        mine = (self.red.scope, self.red.window_ns, self.relative_accuracy)
        theirs = (other.red.scope, other.red.window_ns, other.relative_accuracy)
        if mine != theirs:
            raise AggregateError(
                "cannot merge a summary by {}/{} ns/accuracy {} with one by {}/{} ns/accuracy "
                "{}".format(mine[0].value, mine[1], mine[2], theirs[0].value, *theirs[1:])
            )

    def merge(self, other: Summary) -> Summary:
        """The summary of both inputs.

        Raises:
            AggregateError: if the summaries were built with different settings (scope,
                window or relative accuracy).
        """
        return Summary.merge_all((self, other))

    def __add__(self, other: Summary) -> Summary:
        if not isinstance(other, Summary):
            return NotImplemented
        return self.merge(other)

    @classmethod
    def merge_all(
        cls,
        summaries: Iterable[Summary],
        *,
        scope: Scope | str = Scope.SERVICE,
        window: str | datetime.timedelta | int | None = None,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> Summary:
        """Merge any number of summaries built with the same settings, in one pass.

        Args:
            summaries: the summaries; the first one's settings hold for all.
            scope: the RED scope of the result when ``summaries`` is empty.
            window: the RED window of the result when ``summaries`` is empty.
            relative_accuracy: the accuracy of the result when ``summaries`` is empty.

        Returns:
            Their merge, equal whatever the order and grouping.

        Raises:
            AggregateError: if the settings differ, or the empty result's are invalid.
        """
        items = iter(summaries)
        first = next(items, None)
        if first is None:
            empty = RedAccumulator(scope, window=window, relative_accuracy=relative_accuracy)
            return cls(red=empty.result(), relative_accuracy=relative_accuracy)
        graph = TopologyAccumulator(relative_accuracy=first.relative_accuracy)
        stats = RedAccumulator(
            first.red.scope,
            window=first.red.window_ns,
            relative_accuracy=first.relative_accuracy,
        )
        accounting = Accounting()
        diagnostics: list[Diagnostic] = []
        for item in (first, *items):
            first._check_compatible(item)
            graph.add_topology(item.topology)
            stats.add_stats(item.red)
            accounting += item.accounting
            diagnostics.extend(item.diagnostics)
        return cls(
            topology=graph.result(),
            red=stats.result(),
            accounting=accounting,
            diagnostics=tuple(diagnostics),
            relative_accuracy=first.relative_accuracy,
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict of every part."""
        return {
            "relative_accuracy": self.relative_accuracy,
            "topology": self.topology.to_dict(),
            "red": self.red.to_dict(),
            "accounting": self.accounting.to_dict(),
            "diagnostics": [
                {
                    "kind": diagnostic.kind.value,
                    "source": diagnostic.location.source,
                    "message_index": diagnostic.location.message_index,
                    "entry_index": diagnostic.location.entry_index,
                    "field": diagnostic.location.field,
                    "reason": diagnostic.reason,
                }
                for diagnostic in self.diagnostics
            ],
        }


def _noting_readers(
    records_or_streams: Iterable[object], readers: list[Reader]
) -> Iterable[object]:
    """The input for :func:`~meshals.analyze`, noting the readers of :func:`~meshals.read` in it.

    Readers are handed on as they are, so that the analysis counts their drops too.
    """
    if isinstance(records_or_streams, Reader):
        readers.append(records_or_streams)
        return records_or_streams
    return _streams_noting_readers(records_or_streams, readers)


def _streams_noting_readers(
    records_or_streams: Iterable[object], readers: list[Reader]
) -> Generator[Iterable[object], None, None]:
    for stream in split_streams(records_or_streams):
        if isinstance(stream, Reader):
            readers.append(stream)
        yield stream


def summarize(
    records_or_streams: Iterable[object],
    *,
    resolver: Resolver | Literal["auto"] | None = None,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    endpoint_query: EndpointQuery = "keep",
    analyzers: Sequence[str] = (K8S_MESH,),
    mapping: MetadataServiceMapping | None = None,
    semantics: Semantics = "meshals",
    scope: Scope | str = Scope.SERVICE,
    window: str | datetime.timedelta | int | None = None,
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
) -> Summary:
    """Analyse ALS streams and summarise the result in mergeable aggregates, in one pass.

    The analysis is :func:`~meshals.analyze`'s, with the same arguments; the metrics are
    folded into :func:`~meshals.topology` and :func:`~meshals.red` (with *scope*, *window*
    and *relative_accuracy*) as they come, a few hundred at a time, and not kept.

    Args:
        records_or_streams: one stream (such as ``meshals.read(path)``) or an iterable of
            streams, as for :func:`~meshals.analyze`.
        resolver: names the workload behind an address (``k8s-mesh``); ``"auto"``: the
            workloads the streams name themselves, read in a first pass (as for
            :func:`~meshals.analyze`; its conflicts are among the diagnostics).
        role_rule: decides an Envoy's role from its stream identifier.
        reidentify: take every identifier a stream carries, not only the first.
        endpoint_query: ``"keep"`` or ``"strip"`` the query string of endpoints.
        analyzers: the analyzers to run, in order.
        mapping: how ``mx-mesh`` names workloads from metadata.
        semantics: ``"meshals"`` or ``"skywalking"``, as for :func:`~meshals.analyze`.
        scope: the RED statistics' groups: ``"service"``, ``"instance"``, ``"endpoint"``
            or ``"edge"``.
        window: None for the whole input, or the RED statistics' time window (``"1m"``...).
        relative_accuracy: the latency sketches' alpha.

    Returns:
        The :class:`Summary`.

    Raises:
        AggregateError: for an unknown scope, a bad window or accuracy (before reading).
        ValueError: for bad analysis arguments, as :func:`~meshals.analyze` raises them.
        StreamError: the input is not one stream or an iterable of streams.
        DecodeError: reading the input failed (e.g. in :func:`~meshals.read`).

    >>> import meshals
    >>> bookinfo = meshals.examples.example("bookinfo")
    >>> summary = summarize(bookinfo.streams(), resolver=bookinfo.resolver(), window="1m")
    >>> summary.accounting.metrics_out, len(summary.topology.edges), summary.red.window_ns
    (45, 9, 60000000000)
    """
    graph = TopologyAccumulator(relative_accuracy=relative_accuracy)
    stats = RedAccumulator(scope, window=window, relative_accuracy=relative_accuracy)
    readers: list[Reader] = []
    notes: tuple[Diagnostic, ...] = ()
    if resolver == AUTO:
        records_or_streams, observed = with_observed_names(
            records_or_streams, reidentify=reidentify
        )
        resolver, notes = observed, observed.diagnostics
    analysis = analyze(
        _noting_readers(records_or_streams, readers),
        resolver=resolver,
        role_rule=role_rule,
        reidentify=reidentify,
        endpoint_query=endpoint_query,
        analyzers=analyzers,
        mapping=mapping,
        semantics=semantics,
    )
    fold(analysis, graph, stats)
    return Summary(
        topology=graph.result(),
        red=stats.result(),
        accounting=analysis.accounting,
        diagnostics=(
            *notes,
            *analysis.diagnostics,
            *(diagnostic for reader in readers for diagnostic in reader.diagnostics),
        ),
        relative_accuracy=relative_accuracy,
    )
