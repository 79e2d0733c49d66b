"""How the analysing commands run: every file read, analysed and summarised, then the
warnings and a summary of the run on stderr.

The analysing commands share their input and analysis options (one parent parser): capture
FILEs (each file one stream; ``-`` standard input, a directory its files: ``_inputs``) or
``--example NAME`` (a bundled recording, with its resolver),
``--resolver``, ``--k8s-snapshot``, ``--analyzer``... Each analyses everything first, then
prints at once, except ``analyze``'s line-oriented formats, which are written as the metrics
are made; the first failure prints ``meshals: error: <where>: <reason>`` (and nothing more on
stdout), and the exit status is 1. After the output, warnings and a summary of the entries
read, analyzed and skipped (by reason), and of what lenient reading dropped, go to stderr
(``--quiet``: the warnings only); during a long run, a progress bar of the bytes read when
stderr is a terminal (``_progress``). ``--jobs N`` analyses files in N worker processes; each
file's summary (its metrics' text, graph or statistics) comes back and is merged in file order,
so the output is the same as with one process.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from typing import Final, Generic, Protocol, TypeVar

import attrs

from meshals import examples
from meshals._errors import Diagnostic, DiagnosticKind, MeshalsError
from meshals.capture._detect import Container
from meshals.mesh._accounting import Accounting, SkipReason, dropped_by
from meshals.mesh._analysis import analyze
from meshals.mesh._roles import fixed_role
from meshals.mesh._time_range import latest_end_ns
from meshals.model._als import AlsMessage
from meshals.model._metrics import Semantics, ServiceMeshMetric
from meshals.model._role import Role
from meshals.resolve._observed import ObservedResolver

from ._inputs import Input, Spool, inputs, nothing_read
from ._jobs import in_order
from ._naming import Naming, NamingOptions, observed_names
from ._progress import Progress, file_sizes
from ._stderr import _PROG, _error
from ._times import TimeArgument, range_note

__all__: list[str] = []


@attrs.define
class _Run:
    """What one run of an analysing command noticed, held until every file has been read."""

    files: int = 0
    naming_notes: tuple[Diagnostic, ...] = ()  # what the snapshot cannot name
    notes: list[str] = attrs.Factory(list)  # lines about the run itself, before the summary
    warnings: list[Diagnostic] = attrs.Factory(list)
    accounts: list[Accounting] = attrs.Factory(list)
    unnamed: bool = False  # k8s-mesh ran without any resolver
    quiet: bool = False  # --quiet: warnings only, no summary


FileSummary = TypeVar("FileSummary")
Summary_co = TypeVar("Summary_co", covariant=True)


class RecordTap(Protocol[Summary_co]):
    """Sees every record of a file as the analysis reads it, and summarises the file from
    the records themselves (for what the metrics alone cannot tell, e.g. Istio's labels)."""

    def add(self, record: object) -> None:
        """One record (an ALS message or an L4 connection line), in file order."""

    def result(self) -> Summary_co:
        """The file's summary, once every record was added."""


@attrs.frozen(kw_only=True)
class _FileResult(Generic[FileSummary]):
    """One file's analysis as a worker process sends it back: small and picklable.

    Attributes:
        summary: what the command keeps of the file's metrics (the metrics, a graph...).
        warnings: the file's diagnostics: reading's, decoding's, then the analysis'.
        accounting: the file's accounting.
        entries: the entries (and L4 connections) read, for the progress bar.
        naming_notes: what the naming inputs cannot name (the same for every file).
    """

    summary: FileSummary
    warnings: tuple[Diagnostic, ...]
    accounting: Accounting
    entries: int
    naming_notes: tuple[Diagnostic, ...] = ()


@attrs.frozen(kw_only=True)
class _FileAnalysis(Generic[FileSummary]):
    """How each file of a run is read, analysed and summarised, the same in every process.

    Built from the options once; picklable (no argparse inside), so worker processes get a
    copy and load the resolver and mapping themselves (``naming.load()``, once per process).
    """

    container: Container | None
    strict: bool
    role: Role | None
    reidentify: bool
    strip_query: bool
    analyzers: tuple[str, ...]
    naming: NamingOptions
    summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary]
    since_ns: int | None = None
    until_ns: int | None = None
    # When set, the file's summary is the tap's (the metrics are only drained).
    tap: Callable[[Naming, _FileAnalysis[FileSummary]], RecordTap[FileSummary]] | None = None
    semantics: Semantics = "meshals"

    @classmethod
    def of(
        cls,
        args: argparse.Namespace,
        *,
        container: Container | None,
        summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary],
        tap: Callable[[Naming, _FileAnalysis[FileSummary]], RecordTap[FileSummary]] | None = None,
    ) -> _FileAnalysis[FileSummary]:
        return cls(
            tap=tap,
            container=container,
            strict=args.strict,
            role=None if args.role is None else Role(args.role),
            reidentify=args.reidentify,
            strip_query=args.strip_query,
            analyzers=args.analyzers,
            naming=NamingOptions.of(args),
            summarise=summarise,
            semantics=args.semantics,
        )

    def __call__(
        self,
        naming: Naming,
        source: Input,
        *,
        on_entries: Callable[[int], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> _FileResult[FileSummary]:
        """Analyse the input as one stream; *on_entries* counts entries as they come,
        *on_bytes* the bytes read from its file.

        Raises:
            MeshalsError, OSError: reading or analysing failed.
        """
        entries = 0

        def count(more: int) -> None:
            nonlocal entries
            entries += more
            if on_entries is not None:
                on_entries(more)

        message_warnings: list[Diagnostic] = []
        tap = None if self.tap is None else self.tap(naming, self)
        with source.open(container=self.container, strict=self.strict, on_bytes=on_bytes) as reader:
            records = _noting(reader, message_warnings, count)
            analysis = analyze(
                records if tap is None else _tapped(records, tap),
                resolver=naming.resolver,
                mapping=naming.mapping,
                role_rule=None if self.role is None else fixed_role(self.role),
                reidentify=self.reidentify,
                endpoint_query="strip" if self.strip_query else "keep",
                analyzers=self.analyzers,
                since=self.since_ns,
                until=self.until_ns,
                semantics=self.semantics,
            )
            if tap is None:
                summary = self.summarise(analysis)
            else:
                collections.deque(analysis, maxlen=0)  # every record passes the tap
                summary = tap.result()
        empty = nothing_read(reader)
        return _FileResult(
            summary=summary,
            warnings=(
                *reader.diagnostics,
                *message_warnings,
                *analysis.diagnostics,
                *(() if empty is None else (empty,)),
            ),
            # The analysis saw the reader's records through _noting, not the reader itself.
            accounting=analysis.accounting + dropped_by(reader.diagnostics),
            entries=entries,
            naming_notes=naming.notes,
        )


def _analyze_all(
    args: argparse.Namespace,
    *,
    container: Container | None,
    summarise: Callable[[Iterable[ServiceMeshMetric]], FileSummary],
    merge: Callable[[FileSummary], None],
    summarise_here: Callable[[Iterable[ServiceMeshMetric]], FileSummary] | None = None,
    tap: Callable[[Naming, _FileAnalysis[FileSummary]], RecordTap[FileSummary]] | None = None,
    observed: ObservedResolver | None = None,
) -> _Run:
    """Analyse every input (FILEs or the example's captures), each file one stream.

    FILEs are expanded (``-`` standard input, a directory its files); with worker processes,
    standard input is first copied to a temporary file they can read. Each file's metrics are
    summarised by *summarise* (in a worker process with ``--jobs``), and the summaries go to
    *merge* in file order, so the result does not depend on the number of processes. A
    progress bar is drawn on a terminal stderr (not with ``--quiet``).

    Args:
        args: the parsed and checked options.
        container: every file's container, or None to detect it.
        summarise: what is kept of one file's metrics (picklable, for worker processes).
        merge: takes each file's summary, in file order.
        summarise_here: how files analysed in this process are summarised instead (default
            *summarise*): e.g. writing each metric out as it comes, to hold none of them.
        tap: when given, makes each file's summary from its records instead of its metrics
            (in the file's process; picklable).
        observed: ``--auto-names``' table when the caller made it (over more inputs than
            these: ``diff``'s two sides), instead of a first pass here; its notes are the
            caller's to print.

    Raises:
        MeshalsError, OSError: reading or analysing failed.
    """
    analysis = _FileAnalysis.of(args, container=container, summarise=summarise, tap=tap)
    run = _Run(unnamed=analysis.naming.unnamed, quiet=args.quiet)
    with contextlib.ExitStack() as stack:
        if args.example:
            sources = [
                Input(path, path)
                for path in (
                    os.fspath(stack.enter_context(resources.as_file(capture)))
                    for capture in examples.example(args.example).captures()
                )
            ]
        else:
            sources, notes = inputs(args.files)
            run.warnings.extend(notes)
        parallel = args.jobs > 1 and len(sources) > 1
        relative = any(time is not None and time.relative for time in (args.since, args.until))
        if parallel or relative or analysis.naming.auto:
            # Workers cannot read this process' standard input, and two passes cannot read it
            # twice: a copy can be read anywhere, any number of times.
            spool = stack.enter_context(Spool())
            sources = [spool.of(source) for source in sources]
        analysis = _with_time_range(analysis, args, sources, run)
        analysis = _with_observed_names(analysis, args, sources, run, observed)
        sizes = file_sizes([source.path for source in sources])
        total = None if None in sizes else sum(size or 0 for size in sizes)
        # Metrics written to a terminal as they are made show the progress themselves, and a
        # bar drawn on the same screen would be torn by them.
        streaming_to_terminal = summarise_here is not None and sys.stdout.isatty()
        progress = stack.enter_context(
            Progress(
                sys.stderr,
                total_bytes=total,
                files=len(sources),
                quiet=args.quiet or streaming_to_terminal,
            )
        )
        # Here, bytes and entries are counted as they are read; from workers, per file done.
        work: Callable[[Naming, Input], _FileResult[FileSummary]] = analysis
        if not parallel:
            here = analysis
            if summarise_here is not None:
                here = attrs.evolve(analysis, summarise=summarise_here)
            work = here
            if progress.enabled:
                work = functools.partial(here, on_entries=progress.entries, on_bytes=progress.read)
        # Workers start with the whole command imported: the summarisers are its modules'.
        results = in_order(
            work, sources, setup=analysis.naming.load, jobs=args.jobs, preload=("meshals.cli",)
        )
        for size, result in zip(
            sizes, stack.enter_context(contextlib.closing(results)), strict=True
        ):
            unread = 0
            if parallel:  # read in a worker: its entries and bytes count when it is done
                progress.entries(result.entries)
                unread = size or 0
            progress.file_done(unread=unread)
            run.naming_notes = result.naming_notes  # every process loaded the same files
            merge(result.summary)
            run.warnings.extend(result.warnings)
            run.accounts.append(result.accounting)
    run.files = len(sources)
    return run


def _with_time_range(
    analysis: _FileAnalysis[FileSummary],
    args: argparse.Namespace,
    sources: Sequence[Input],
    run: _Run,
) -> _FileAnalysis[FileSummary]:
    """*analysis* over ``--since``/``--until``'s range: for relative forms, first a pass over
    every input for the capture's end (in worker processes with ``--jobs``).

    Raises:
        MeshalsError, OSError: reading failed in the first pass.
    """
    since: TimeArgument | None = args.since
    until: TimeArgument | None = args.until
    if since is None and until is None:
        return analysis
    end_ns: int | None = None
    if any(time is not None and time.relative for time in (since, until)):
        ends = in_order(
            _LatestEnd(analysis.container, analysis.strict),
            sources,
            setup=_nothing,
            jobs=args.jobs,
            preload=("meshals.cli",),
        )
        with contextlib.closing(ends):
            found = [end for end in ends if end is not None]
        end_ns = max(found, default=None)
        note = range_note(since, until, end_ns)
        assert note is not None, "a relative form makes a note"
        run.notes.append(note)
        if end_ns is None:  # no entry has a time: nothing to count back from, no range
            return analysis
    since_ns = None if since is None else since.at(end_ns)
    until_ns = None if until is None else until.at(end_ns)
    if since_ns is not None and until_ns is not None and until_ns <= since_ns:
        args.command_parser.error(
            f"--until {until.text if until else ''} is not after --since"
            f" {since.text if since else ''}: the range is empty for this capture"
        )
    return attrs.evolve(analysis, since_ns=since_ns, until_ns=until_ns)


def _with_observed_names(
    analysis: _FileAnalysis[FileSummary],
    args: argparse.Namespace,
    sources: Sequence[Input],
    run: _Run,
    observed: ObservedResolver | None = None,
) -> _FileAnalysis[FileSummary]:
    """*analysis* with the names the captures give themselves (``--auto-names``): a first
    pass over every input, before the workers of the analysis start (they get the table);
    or *observed*, the caller's table.

    Raises:
        MeshalsError, OSError: reading failed in the first pass.
    """
    if not analysis.naming.auto:
        return analysis
    if observed is not None:
        naming = attrs.evolve(analysis.naming, observed=tuple(observed.table.items()))
        return attrs.evolve(analysis, naming=naming)
    observed = observed_names(
        sources,
        container=analysis.container,
        strict=analysis.strict,
        reidentify=analysis.reidentify,
        jobs=args.jobs,
    )
    note_observed(run, observed, asked=analysis.naming.auto_names is not None)
    naming = attrs.evolve(analysis.naming, observed=tuple(observed.table.items()))
    return attrs.evolve(analysis, naming=naming)


def note_observed(run: _Run, observed: ObservedResolver, *, asked: bool) -> None:
    """What ``--auto-names`` found, for stderr: its conflicts, and how many IPs it named (or,
    when it was not *asked* for and named none, the warning that every workload is UNKNOWN).
    """
    run.warnings.extend(observed.diagnostics)
    if not observed and not asked:
        run.unnamed = True  # the default found nothing to name: say so, as without it
    elif observed:
        run.notes.append(
            f"--auto-names: {_plural(len(observed), 'IP')} named by the captures' own Envoys"
            " and peer metadata"
        )


@attrs.frozen
class _LatestEnd:
    """The first pass of relative ranges: where one input ends (picklable, for workers)."""

    container: Container | None
    strict: bool

    def __call__(self, state: None, source: Input) -> int | None:
        with source.open(container=self.container, strict=self.strict) as reader:
            return latest_end_ns(reader)


def _nothing() -> None:
    """No state to set up in a worker process."""


def _noting(
    records: Iterable[object], sink: list[Diagnostic], count: Callable[[int], None]
) -> Iterator[object]:
    """*records*, their entries counted, collecting what lenient decoding tolerated into *sink*."""
    for record in records:
        if isinstance(record, AlsMessage):
            sink.extend(record.diagnostics)
            count(len(record.entries))
        else:  # one connection of an L4 log
            count(1)
        yield record


def _tapped(records: Iterable[object], tap: RecordTap[object]) -> Iterator[object]:
    """*records*, each shown to *tap* as it is read."""
    for record in records:
        tap.add(record)
        yield record


def _finish(run: _Run) -> None:
    """The warnings and (unless ``--quiet``) the summary of a successful run, on stderr."""
    if run.unnamed:
        print(
            f"{_PROG}: warning: no --resolver or --k8s-snapshot, and no names from the"
            " captures (--auto-names): every workload is UNKNOWN",
            file=sys.stderr,
        )
    for warning in (*run.naming_notes, *run.warnings):
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    if run.quiet:
        return
    for note in run.notes:
        print(f"{_PROG}: {note}", file=sys.stderr)
    dropped = _dropped(run.accounts)
    summary = _summary(run.accounts, run.files)
    print(f"{_PROG}: {summary}{f'; {dropped}' if dropped else ''}", file=sys.stderr)


def _failed(exc: Exception) -> int:
    """Print ``meshals: error: <where>: <reason>`` for *exc*; the exit status, 1.

    Raises:
        BrokenPipeError: *exc* itself: stdout was closed, no failure of the command (the
            entry point exits quietly).
    """
    if isinstance(exc, BrokenPipeError):
        raise exc
    if isinstance(exc, OSError) and not isinstance(exc, MeshalsError):
        _error(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc))
    else:
        _error(str(exc))
    return 1


def _summary(accounts: Sequence[Accounting], files: int) -> str:
    """``N files: E entries, A analyzed, S skipped (reason: n, ...), M metrics``."""
    skipped: dict[SkipReason, int] = dict.fromkeys(SkipReason, 0)
    for account in accounts:
        for reason, count in account.skipped.items():
            skipped[reason] += count
    reasons = ", ".join(f"{reason.value}: {count}" for reason, count in skipped.items() if count)
    total = sum(skipped.values())
    return (
        f"{_plural(files, 'file')}: {_plural(sum(a.entries_in for a in accounts), 'entry')},"
        f" {sum(a.analyzed for a in accounts)} analyzed,"
        f" {total} skipped{f' ({reasons})' if reasons else ''},"
        f" {_plural(sum(a.metrics_out for a in accounts), 'metric')}"
    )


# What each kind of diagnostic dropped while reading, one unit each (singular, plural).
_DROPPED: Final[dict[DiagnosticKind, tuple[str, str]]] = {
    DiagnosticKind.ENTRY_SKIPPED: ("entry", "entries"),
    DiagnosticKind.MESSAGE_SKIPPED: ("message", "messages"),
    DiagnosticKind.LINE_SKIPPED: ("log line", "log lines"),
    DiagnosticKind.PART_SKIPPED: ("part of unknown size", "parts of unknown size"),
}


def _dropped(accounts: Sequence[Accounting]) -> str:
    """``2 entries and 1 message dropped while reading (see warnings)``, or "" if none were.

    Entries the analysis skipped are in the summary; these never reached it. Past
    ``Limits.max_diagnostics`` problems are only counted, so the figures become "at least".
    """
    counts: Counter[DiagnosticKind] = Counter()
    for account in accounts:
        counts.update(account.dropped)
    parts = [
        f"{counts[kind]} {one if counts[kind] == 1 else many}"
        for kind, (one, many) in _DROPPED.items()
        if counts[kind]
    ]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    at_least = "at least " if counts[DiagnosticKind.NOT_LISTED] else ""
    return f"{at_least}{listed} dropped while reading (see warnings)"


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"
