"""Summaries of many capture files on Dask: each file analysed on a worker, merged exactly.

Needs the ``dask`` extra (``pip install '.[dask]'`` in a checkout: ``dask[bag]`` and
``distributed``).

:func:`summarize_files` maps each unit of input to its :class:`~meshals.Summary` on the workers
(a unit is one capture file, one stream, or a few files that must be analysed together) and
merges the summaries into exactly the :class:`~meshals.Summary` that one
:func:`~meshals.summarize` of all the files' streams, in one process, gives: the graph, the
statistics and the accounting are integer aggregates and the diagnostics are kept sorted, so
the merge does not depend on the order or on how the work was split. :func:`summary_bag` is
the lazy step before the merge, a :class:`dask.bag.Bag` of one summary per unit.

Files are read on the workers (with :func:`~meshals.read`), so every worker must see them at
the paths given. The resolver reaches the workers in one of two ways: ``resolver=`` is
pickled once into the task graph (:class:`~meshals.StaticResolver` and
:class:`~meshals.KubernetesResolver` pickle), or ``resolver_factory=``, a picklable
zero-argument callable, builds it on each worker process at most once per call (say,
``functools.partial(meshals.KubernetesResolver.from_file, "snapshot.json")``, which reads the
snapshot where the worker runs).
"""

from __future__ import annotations

import datetime
import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from meshals.aggregate._red import Scope
from meshals.aggregate._sketch import DEFAULT_RELATIVE_ACCURACY
from meshals.aggregate._summary import Summary, summarize
from meshals.capture._containers import Reader, read
from meshals.capture._detect import Container
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.mesh._k8s_mesh import EndpointQuery
from meshals.mesh._roles import RoleRule
from meshals.model._metrics import K8S_MESH, Semantics
from meshals.model._service import ServiceMetaInfo
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import CachingResolver

from ._optional import MissingDependencyError

try:
    import dask.bag
    from dask.delayed import delayed
except ModuleNotFoundError as exc:  # pragma: no cover - the test environments have dask
    if exc.name is not None and exc.name.partition(".")[0] != "dask":
        raise  # dask is there but broken: not an install problem
    raise MissingDependencyError("dask", "dask", "meshals.dask") from exc

if TYPE_CHECKING:
    import distributed

__all__ = ["Unit", "summarize_files", "summary_bag"]

#: One unit of work: a capture file, or files analysed together in one analysis (in order).
Unit: TypeAlias = "str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"

# The resolvers that factories built in this (worker) process, by call; the oldest dropped.
_BUILT_RESOLVERS: dict[str, Resolver] = {}
_BUILT_RESOLVERS_LOCK = threading.Lock()
_KEEP_BUILT_RESOLVERS = 4


def _unwrapped(resolver: Resolver | None) -> Resolver | None:
    # A CachingResolver's lock does not pickle; every analysis caches anyway.
    return resolver.resolver if isinstance(resolver, CachingResolver) else resolver


def _names(analyzers: Iterable[str]) -> tuple[str, ...]:
    return tuple(analyzers)


# The settings that go to summarize() as they are.
_ANALYSIS_SETTINGS = (
    *("role_rule", "reidentify", "endpoint_query", "analyzers", "mapping", "semantics"),
    *("scope", "window", "relative_accuracy"),
)


@attrs.frozen(kw_only=True)
class _Job:
    """Everything a worker needs besides the unit, shipped once per call; the defaults are
    :func:`summarize_files`'s."""

    resolver: Resolver | None = attrs.field(default=None, converter=_unwrapped)
    resolver_factory: Callable[[], Resolver] | None = None
    # Names this call's factory-built resolvers on the workers.
    call_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    role_rule: RoleRule | None = None
    reidentify: bool = False
    endpoint_query: EndpointQuery = "keep"
    analyzers: tuple[str, ...] = attrs.field(default=(K8S_MESH,), converter=_names)
    mapping: MetadataServiceMapping | None = None
    semantics: Semantics = "meshals"
    scope: Scope | str = Scope.SERVICE
    window: str | datetime.timedelta | int | None = None
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY
    container: Container | None = None
    strict: bool = False
    limits: Limits = DEFAULT_LIMITS

    def __attrs_post_init__(self) -> None:
        if isinstance(self.resolver, str):
            # summarize() would name each unit by its own captures: units would disagree.
            raise ValueError(
                "resolver='auto' would name each unit by its own files only: build the names"
                " of all of them first, resolver=meshals.mesh.observed_resolver("
                "[meshals.read(path) for path in paths])"
            )
        if self.resolver is not None and self.resolver_factory is not None:
            raise ValueError("pass resolver= or resolver_factory=, not both")
        # Check every setting here, on the client, before any task runs (reads nothing).
        self.summarize((), _Placeholder() if self.resolver_factory is not None else self.resolver)

    def resolver_here(self) -> Resolver | None:
        """The resolver in this process: the one shipped, or the factory's (built once)."""
        if self.resolver_factory is None:
            return self.resolver
        with _BUILT_RESOLVERS_LOCK:  # held while building, so that threads build it once
            built = _BUILT_RESOLVERS.get(self.call_id)
            if built is None:
                built = _BUILT_RESOLVERS[self.call_id] = self.resolver_factory()
                while len(_BUILT_RESOLVERS) > _KEEP_BUILT_RESOLVERS:
                    del _BUILT_RESOLVERS[next(iter(_BUILT_RESOLVERS))]
            return built

    def summarize(self, readers: Iterable[Reader], resolver: Resolver | None) -> Summary:
        settings = {name: getattr(self, name) for name in _ANALYSIS_SETTINGS}
        return summarize(readers, resolver=resolver, **settings)

    def bag(self, paths: Iterable[Unit] | dask.bag.Bag) -> dask.bag.Bag:
        """The lazy summaries of the units of *paths*."""
        if isinstance(paths, dask.bag.Bag):
            units = paths
        else:
            listed = [_paths(unit) for unit in paths]
            units = dask.bag.from_sequence(  # type: ignore[no-untyped-call]
                listed, npartitions=max(len(listed), 1)
            )
        shipped = delayed(self, name=f"meshals-summary-job-{self.call_id}")
        summaries: dask.bag.Bag = units.map(_summarize_unit, job=shipped)  # type: ignore[no-untyped-call]
        return summaries


class _Placeholder:
    """Stands in for a factory's resolver when the settings are checked on the client."""

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        return None  # pragma: no cover - never asked: the check reads no input


def _paths(unit: object) -> tuple[str, ...]:
    if isinstance(unit, (str, os.PathLike)):
        return (os.fspath(unit),)
    if isinstance(unit, Sequence):
        paths = [os.fspath(path) for path in unit if isinstance(path, (str, os.PathLike))]
        if len(paths) == len(unit):
            return tuple(paths)
    raise TypeError(f"a unit must be a path or a sequence of paths, not {unit!r:.60}")


def _summarize_unit(unit: object, job: _Job) -> Summary:
    """One unit's summary (on a worker): its files read in order, as one analysis."""
    paths = _paths(unit)
    resolver = job.resolver_here()
    reading: list[str] = []

    def readers() -> Iterator[Reader]:
        for path in paths:
            reading.append(path)
            with read(path, container=job.container, strict=job.strict, limits=job.limits) as r:
                yield r

    try:
        return job.summarize(readers(), resolver)
    except OSError as exc:
        if exc.filename is not None:  # open() named the file
            raise
        # A read error names no file: name the one being read.
        raise OSError(exc.errno, exc.strerror or str(exc), reading[-1]) from exc


def summary_bag(paths: Iterable[Unit] | dask.bag.Bag, **settings: Any) -> dask.bag.Bag:
    """A lazy bag of summaries, one per unit, in the order of *paths*.

    Args:
        paths: the units, as for :func:`summarize_files` (which merges this bag).
        settings: the keyword arguments of :func:`summarize_files` (``resolver=``,
            ``window=``...), but ``scheduler`` and ``split_every``.

    Returns:
        A :class:`dask.bag.Bag` of :class:`~meshals.Summary` (one partition per unit when
        *paths* is not a bag).

    Raises:
        TypeError: an unknown keyword argument, or an item of *paths* (not a bag) that is
            neither a path nor a sequence of paths.

    And what :func:`summarize_files` raises for bad settings, before any task runs.
    """
    return _Job(**settings).bag(paths)


def summarize_files(
    paths: Iterable[Unit] | dask.bag.Bag,
    *,
    resolver: Resolver | None = None,
    resolver_factory: Callable[[], Resolver] | None = None,
    role_rule: RoleRule | None = None,
    reidentify: bool = False,
    endpoint_query: EndpointQuery = "keep",
    analyzers: Sequence[str] = (K8S_MESH,),
    mapping: MetadataServiceMapping | None = None,
    semantics: Semantics = "meshals",
    scope: Scope | str = Scope.SERVICE,
    window: str | datetime.timedelta | int | None = None,
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    container: Container | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    scheduler: str | distributed.Client | None = None,
    split_every: int | None = None,
) -> Summary:
    """Summarise capture files on Dask: equal to one :func:`~meshals.summarize` of them all.

    Each unit (a file, or a sequence of files analysed together, e.g. a waypoint's captures
    with the ztunnel logs of its node) is read and analysed on a worker; the summaries are
    merged on the workers, in a tree, and only the merged one reaches the caller. The result
    equals ``meshals.summarize([meshals.read(path) for path in all_paths], ...)`` (with the
    same *container*, *strict* and *limits* for :func:`~meshals.read`), whatever the number
    of workers.

    Args:
        paths: the units: paths, or sequences of paths; or a :class:`dask.bag.Bag` of them.
        resolver: names workloads by address (``k8s-mesh``); pickled to the workers. Not
            ``"auto"``: pass :func:`meshals.mesh.observed_resolver` of every file instead
            (it pickles), so that every unit is named by the same table.
        resolver_factory: instead of *resolver*: a picklable zero-argument callable that
            builds the resolver on each worker process, at most once per call.
        role_rule: decides an Envoy's role from its stream identifier (picklable).
        reidentify: take every identifier a stream carries, not only the first.
        endpoint_query: ``"keep"`` or ``"strip"`` the query string of endpoints.
        analyzers: the analyzers to run, in order.
        mapping: how ``mx-mesh`` names workloads from metadata.
        semantics: ``"meshals"`` or ``"skywalking"``, as for :func:`~meshals.analyze`.
        scope: the RED statistics' groups: ``"service"``, ``"instance"``, ``"endpoint"``
            or ``"edge"``.
        window: None for the whole input, or the RED statistics' time window (``"1m"``...).
        relative_accuracy: the latency sketches' alpha.
        container: the container of every file, instead of detecting it per file.
        strict: raise on anything lenient decoding would tolerate.
        limits: the decoders' limits.
        scheduler: a :class:`distributed.Client`, or a Dask scheduler name (``"sync"``,
            ``"threads"``, ``"processes"``); None: Dask's default (the active client, if any).
        split_every: how many summaries each merge task takes (Dask's default when None).

    Returns:
        The merged :class:`~meshals.Summary`; for no units, the empty one with these settings.

    Raises:
        OSError: a file cannot be opened or read; the error names it.
        DecodeError: a file is malformed (or, with *strict*, has a problem); it names the
            file as its ``source``.
        AggregateError: for an unknown scope, a bad window or accuracy.
        ValueError: for bad analysis arguments, as :func:`~meshals.analyze` raises them, or
            both or neither of *resolver* and *resolver_factory* where ``k8s-mesh`` needs one.
        TypeError: an item of *paths* is neither a path nor a sequence of paths.
    """
    job = _Job(
        resolver=resolver,
        resolver_factory=resolver_factory,
        role_rule=role_rule,
        reidentify=reidentify,
        endpoint_query=endpoint_query,
        analyzers=analyzers,
        mapping=mapping,
        semantics=semantics,
        scope=scope,
        window=window,
        relative_accuracy=relative_accuracy,
        container=container,
        strict=strict,
        limits=limits,
    )
    merge = functools.partial(
        Summary.merge_all, scope=scope, window=window, relative_accuracy=relative_accuracy
    )
    merged = job.bag(paths).reduction(merge, merge, split_every=split_every)  # type: ignore[no-untyped-call]
    result: Summary = merged.compute(scheduler=scheduler)
    return result
