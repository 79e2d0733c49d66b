"""One function over many inputs, in worker processes or in this one, results in input order.

The command line's ``--jobs`` runs on this: each capture file is one task, each worker process
sets up once (loads the resolver) and sends back a small picklable result per file. Results
are yielded in input order, so whoever merges them sees what a single process would have seen,
errors included: the first input (in order) that failed raises, whatever finished first.
"""

from __future__ import annotations

import _thread
import collections
import itertools
import multiprocessing
import signal
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any, ClassVar, Generic, TypeVar, cast

__all__: list[str] = []

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


def in_order(
    work: Callable[[S, T], R],
    items: Sequence[T],
    *,
    setup: Callable[[], S],
    jobs: int,
    preload: Sequence[str] = (),
) -> Generator[R, None, None]:
    """``work(state, item)`` for each item, yielded in item order; ``state = setup()`` per process.

    With ``jobs`` 1 or fewer than two items, everything runs in this process, lazily: setup
    when the first result is asked for, then one item per result. Otherwise up to ``jobs``
    worker processes run the items; ``work`` and ``setup`` are then pickled once per worker
    (module-level functions, or instances of module-level classes), each item and result once.
    At most ``2 * jobs`` items are submitted ahead of the result awaited, so results that are
    done early wait in memory only that far ahead. As with any process pool that does not
    fork, a script calling this must guard its entry point with ``if __name__ ==
    "__main__":`` (the console script and ``python -m`` do).

    Args:
        work: the task; its results must pickle when ``jobs`` > 1.
        items: the inputs.
        setup: what each process does once before its first task (e.g. load a resolver).
        jobs: the most processes to run at once.
        preload: modules the worker processes import up front, where a fork server starts
            them (so each worker need not import them again).

    When the iterator ends early — Ctrl-C, a failed item, or closed by its consumer — the
    workers abandon the items they are running rather than finish them, and the pool shuts
    down cleanly. Ctrl-C in a terminal reaches every process of the group: a worker running an
    item abandons it (its ``KeyboardInterrupt`` comes back as the item's result, never as a
    traceback of its own), an idle worker ignores it, and this process stops the pool.

    Raises:
        Exception: what ``setup`` or ``work`` raised, for the first item (in order) that
            failed; the items after it are cancelled. Close the iterator to cancel early.
    """
    if jobs <= 1 or len(items) < 2:
        yield from _here(work, items, setup)
        return
    workers = min(jobs, len(items))
    context = _context(preload)
    stop = context.Event()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_Worker(work, setup, stop).start
    )
    try:
        # A few items ahead of the one awaited, not all: results done early wait here, and
        # each may be big (a file's whole output), so at most 2 per worker are held at once.
        ahead = iter(items)
        pending = collections.deque(
            pool.submit(_run_task, item) for item in itertools.islice(ahead, 2 * workers)
        )
        while pending:
            result = cast(R, pending.popleft().result())
            for item in itertools.islice(ahead, 1):
                pending.append(pool.submit(_run_task, item))
            yield result
    except BaseException:
        # Ctrl-C, a failed item, or the iterator closed early (a reader gone): nothing that
        # still runs is wanted, so the workers abandon their items rather than finish them.
        # (Terminating them instead could cut a result off mid-pipe, and the pool's thread
        # reading it would wait for the rest forever.)
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _here(work: Callable[[S, T], R], items: Sequence[T], setup: Callable[[], S]) -> Iterator[R]:
    state = setup()
    for item in items:
        yield work(state, item)


def _context(preload: Sequence[str]) -> BaseContext:
    # A fork server where there is one: forking this process is unsafe once it has threads,
    # and workers forked from the server start with meshals already imported.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


class _Worker(Generic[S, T, R]):
    """A worker process' task and state: set up once, then run per item.

    Only a running item (or the setup) is ever interrupted, by SIGINT (Ctrl-C) or by *stop*
    (the parent's wish): between items, and while a result is being sent back, the signal is
    ignored, so the pool's pipes never carry half a message.
    """

    current: ClassVar[_Worker[Any, Any, Any] | None] = None  # this process'

    def __init__(self, work: Callable[[S, T], R], setup: Callable[[], S], stop: Event) -> None:
        self.work = work
        self.setup = setup
        self.stop = stop
        self.state: S | None = None
        self.setup_error: BaseException | None = None
        self.busy = False  # running setup or an item: what an interrupt may abandon

    def start(self) -> None:
        """Set up, in the worker process (the pool's initializer)."""
        _Worker.current = self
        signal.signal(signal.SIGINT, self._interrupted)
        threading.Thread(target=self._watch, name="meshals-stop", daemon=True).start()
        self.busy = True
        try:
            self.state = self.setup()
        # An initializer that raises breaks the pool and loses the exception (and logs a
        # traceback): keep it, for every item to raise.
        except (Exception, KeyboardInterrupt) as exc:
            self.setup_error = exc
        finally:
            self.busy = False

    def run(self, item: T) -> R:
        if self.setup_error is not None:
            raise self.setup_error  # every task fails as the first would have, in order
        self.busy = True
        try:
            return self.work(cast(S, self.state), item)  # set up without error
        finally:
            self.busy = False

    def _interrupted(self, signum: int, frame: FrameType | None) -> None:
        if self.busy:
            raise KeyboardInterrupt  # sent back as the item's result, like any exception

    def _watch(self) -> None:
        """Interrupt the running item once the parent sets *stop* (a thread of its own)."""
        self.stop.wait()
        if hasattr(signal, "pthread_kill"):  # a real signal: it also cuts a blocking call short
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        else:
            _thread.interrupt_main()


def _run_task(item: object) -> object:
    worker = _Worker.current
    assert worker is not None, "tasks run only in a worker process started by in_order"
    return worker.run(item)
