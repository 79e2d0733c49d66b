"""``--jobs N``: files analysed in worker processes give exactly what one process gives."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import operator
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, cast

import pytest
from conftest import GRAPHVIZ_FALLBACK_NOTE, write_mtls_capture

from meshals import ServiceMeshMetric, StaticResolver, analyze, cli, examples, read, topology
from meshals.aggregate import identities
from meshals.cli import _inputs, _jobs, _parser, _run, _stats
from meshals.cli._formats import FORMATS, IDENTITIES_FORMATS, STATS_FORMATS
from meshals.cli._jobs import in_order
from meshals.output._records import STATS_SCOPES

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = FIXTURES / "envoy"
BOOKINFO_RESOLVER = Path(examples.__file__).parent / "bookinfo" / "resolver.json"
EXAMPLE_SUMMARY = "meshals: 6 files: 40 entries, 40 analyzed, 0 skipped, 45 metrics\n"

# One path per extension for every run, so that stderr (which names it) is the same.
OUTPUT = Path(tempfile.gettempdir()) / f"meshals-test-cli-jobs-{os.getpid()}"
PICTURE, TABLE, CSV, PROTOBUF = (
    OUTPUT.with_suffix(extension) for extension in (".svg", ".txt", ".csv", ".pb")
)

INPUTS: dict[str, tuple[str, ...]] = {
    "example": ("--example", "bookinfo"),
    # The real-Envoy recordings, each stream twice (binary and JSON Lines): 12 files.
    "envoy": (
        "--resolver",
        str(BOOKINFO_RESOLVER),
        *sorted(str(path) for path in ENVOY.glob("*.bin")),
        *sorted(str(path) for path in ENVOY.glob("*.jsonl")),
    ),
}
# No naming option: --auto-names' first pass (in workers with --jobs) hands every worker the
# table; the mx recordings add its conflicts as warnings.
INPUTS["auto"] = (
    *sorted(str(path) for path in ENVOY.glob("*.bin")),
    *sorted(str(path) for path in ENVOY.glob("*.jsonl")),
    *sorted(str(path) for path in (FIXTURES / "mx").glob("*.bin")),
)
# The recordings with TLS added (built once, removed at exit): identities and edges' TLS.
_TLS_DIRECTORY = Path(tempfile.mkdtemp(prefix="meshals-test-cli-jobs-tls-"))
atexit.register(shutil.rmtree, _TLS_DIRECTORY, ignore_errors=True)
INPUTS["tls"] = (
    "--resolver",
    str(BOOKINFO_RESOLVER),
    *(str(path) for path in write_mtls_capture(_TLS_DIRECTORY, conflicts=True).files()),
)
# Both analyzers, a Kubernetes snapshot loaded in each worker, L4 logs and many warnings.
MIXED = (
    "--analyzer",
    "k8s-mesh,mx-mesh",
    "--k8s-snapshot",
    str(FIXTURES / "k8s" / "cluster.json"),
    *sorted(str(path) for path in (FIXTURES / "mx").iterdir() if path.suffix != ".md"),
    *sorted(str(path) for path in (FIXTURES / "ztunnel").iterdir() if path.suffix != ".md"),
)

# Never without -o: with --example, the picture would go to ./bookinfo.svg.
GRAPH_TABLE = ("graph", "-o", str(TABLE))  # the format from the extension
COMMANDS: list[tuple[str, ...]] = [
    # OTLP's binary goes to a file: a test's stdout takes text only.
    *(("analyze", "--format", output) for output in FORMATS if output != "otlp"),
    ("analyze", "-o", str(PROTOBUF)),
    ("stats", "-o", str(PROTOBUF)),
    GRAPH_TABLE,
    ("graph", "-o", str(PICTURE)),
    ("analyze", "-o", str(CSV)),  # written as made, into a temporary file
    *(("graph", "--format", output) for output in ("dot", "mermaid", "svg")),
    *(
        ("stats", "--by", by, "--format", output)
        for by in STATS_SCOPES
        for output in STATS_FORMATS
        if output != "otlp"
    ),
    *(("stats", "--by", by, "--window", "1m", "--format", "csv") for by in STATS_SCOPES),
    ("metrics", "--format", "prometheus"),
    # JSON Lines of no certificates is empty: the TLS input covers it.
    *(("identities", "--format", output) for output in IDENTITIES_FORMATS if output != "jsonl"),
]


def command_id(command: tuple[str, ...]) -> str:
    return " ".join(command).replace(str(OUTPUT), "OUTPUT")


class Outcome(NamedTuple):
    status: int
    out: str
    err: str
    written: bytes | None  # what ``-o PATH`` wrote


@functools.cache
def run(*argv: str) -> Outcome:
    """``meshals ARGV``: its exit status, stdout, stderr and -o's file (read, then removed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    written = None
    for path in (PICTURE, TABLE, CSV, PROTOBUF):
        if path.exists():
            written = path.read_bytes()
            path.unlink()
    return Outcome(status, out.getvalue(), err.getvalue(), written)


def one_process(*argv: str) -> Outcome:
    outcome = run(*argv, "--jobs", "1")
    assert (outcome.status, bool(outcome.out or outcome.written)) == (0, True), outcome.err
    return outcome


# --- the same output ----------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", sorted(INPUTS))
@pytest.mark.parametrize("command", COMMANDS, ids=command_id)
def test_two_jobs_print_what_one_prints(command: tuple[str, ...], inputs: str) -> None:
    argv = (*command, *INPUTS[inputs])
    assert run(*argv, "--jobs", "2") == one_process(*argv)


def test_identities_as_json_lines_with_tls() -> None:
    argv = ("identities", "--format", "jsonl", *INPUTS["tls"])
    assert run(*argv, "--jobs", "2") == one_process(*argv)


def test_identities_of_each_file_pickle() -> None:
    # What an identities worker sends back: its file's table, certificates and sightings.
    metrics = [
        metric
        for path in INPUTS["tls"][2:]
        for metric in analyze(
            read(path), resolver=StaticResolver.from_json(BOOKINFO_RESOLVER.read_bytes())
        )
    ]
    table = identities(metrics)
    assert table.rows
    assert pickle.loads(pickle.dumps(table)) == table


@pytest.mark.parametrize("inputs", sorted(INPUTS))
@pytest.mark.parametrize(
    "command",
    [("analyze", "--format", "jsonl"), GRAPH_TABLE, ("stats", "--by", "edge")],
    ids=command_id,
)
def test_one_job_per_cpu_prints_what_one_prints(command: tuple[str, ...], inputs: str) -> None:
    argv = (*command, *INPUTS[inputs])
    assert run(*argv, "--jobs", "0") == one_process(*argv)


@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "--format", "csv"),
        ("graph", "--format", "dot"),
        ("stats", "--by", "endpoint", "--window", "1m"),
        ("metrics",),
    ],
    ids=command_id,
)
@pytest.mark.parametrize("jobs", ["2", "3"])
def test_warnings_and_l4_logs_in_workers(command: tuple[str, ...], jobs: str) -> None:
    reference = one_process(*command, *MIXED)
    *warnings, summary = reference.err.splitlines()
    assert len(warnings) == 12  # mx peers and ztunnel lines, in file order
    assert summary == (
        "meshals: 15 files: 65 entries, 61 analyzed, 4 skipped (intermediate-entry: 4),"
        " 67 metrics; 8 log lines dropped while reading (see warnings)"
    )
    assert run(*command, *MIXED, "--jobs", jobs) == reference


def test_the_picture_written_with_jobs() -> None:
    outcome = run("graph", "-o", str(PICTURE), "--example", "bookinfo", "--jobs", "2")
    # Without Graphviz' dot the command first says that its own layout drew the picture.
    fallback = "" if shutil.which("dot") else f"{GRAPHVIZ_FALLBACK_NOTE}\n"
    wrote = f"meshals: wrote the service graph to {PICTURE}\n"
    assert outcome.err == f"{EXAMPLE_SUMMARY}{fallback}{wrote}"
    assert outcome.out == ""
    assert outcome.written is not None
    assert outcome.written.startswith(b"<?xml")


# --- the same errors ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A binary capture cut off inside its first message's frame."""
    path = tmp_path_factory.mktemp("corrupt") / "cut.bin"
    path.write_bytes((ENVOY / "details-http.bin").read_bytes()[:300])
    return str(path)


def cut_error(corrupt: str) -> str:
    return (
        f"meshals: error: {corrupt}, message 0: input ends inside the frame at byte offset 0:"
        " it declares 2688 bytes, 298 remain\n"
    )


def errors_alike(*argv: str) -> str:
    """The one error line every job count prints for *argv*; nothing on stdout, status 1."""
    outcomes = [run(*argv, "--jobs", jobs) for jobs in ("1", "2", "0")]
    assert outcomes[1:] == outcomes[:1] * 2
    status, out, err, written = outcomes[0]
    assert (status, out, written) == (1, "", None)
    return err


def test_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.bin")
    resolver, files = INPUTS["envoy"][:2], INPUTS["envoy"][2:]
    err = errors_alike("stats", *resolver, files[0], missing, *files[1:])
    assert err == f"meshals: error: {missing}: No such file or directory\n"


def test_a_corrupt_file_in_strict_mode(corrupt: str) -> None:
    err = errors_alike("analyze", "--strict", str(ENVOY / "reviews-http.bin"), corrupt)
    assert err == cut_error(corrupt)


def test_the_first_failing_file_in_order_is_reported(corrupt: str, tmp_path: Path) -> None:
    # Both fail; whichever worker finishes first, the error is the first file's.
    missing = str(tmp_path / "missing.bin")
    err = errors_alike("graph", "--strict", corrupt, missing, str(ENVOY / "reviews-http.bin"))
    assert err == cut_error(corrupt)


def test_a_corrupt_file_in_lenient_mode_is_a_warning(corrupt: str) -> None:
    argv = ("analyze", str(ENVOY / "reviews-http.bin"), corrupt, str(ENVOY / "details-http.bin"))
    reference = one_process(*argv)
    assert reference.err.splitlines()[-1] == (
        "meshals: 3 files: 13 entries, 13 analyzed, 0 skipped, 13 metrics;"
        " 1 part of unknown size dropped while reading (see warnings)"
    )
    assert run(*argv, "--jobs", "2") == reference


def test_a_resolver_that_cannot_be_loaded(tmp_path: Path) -> None:
    # Each worker loads the resolver; its error comes out as the first file's.
    table = tmp_path / "resolver.json"
    table.write_text('{"10.0.0.1": "reviews"}')
    err = errors_alike("graph", "--resolver", str(table), *INPUTS["envoy"][2:])
    assert err == (
        f"meshals: error: {table}, $[\"10.0.0.1\"]: expected an object with 'service' and"
        " 'instance'\n"
    )


@pytest.mark.parametrize("command", ["analyze", "graph", "stats", "metrics"])
@pytest.mark.parametrize(
    ("jobs", "reason"),
    [("-1", "must be 0 (one per CPU) or more, not -1"), ("two", "not a whole number: 'two'")],
)
def test_a_bad_job_count_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str, jobs: str, reason: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--jobs", jobs, "--example", "bookinfo"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"meshals {command}: error: argument --jobs: {reason}"
    )


# --- what travels between processes ------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS[::4], ids=command_id)
def test_each_files_result_pickles(command: tuple[str, ...]) -> None:
    # What a worker gets (the analysis, once) and sends back (per file) round-trips equal.
    args = cli.build_parser().parse_args([*command, "--example", "bookinfo"])
    _parser._check_analysis_args(args)
    summarise: Callable[[Iterable[ServiceMeshMetric]], object] = list
    if args.command == "graph":
        summarise = topology
    elif args.command == "stats":
        summarise = _stats._StatsOf(args.by, args.window_ns)
    analysis = _run._FileAnalysis.of(args, container=None, summarise=summarise)
    assert pickle.loads(pickle.dumps(analysis)) == analysis
    naming = analysis.naming.load()
    with contextlib.ExitStack() as stack:
        for capture in examples.example("bookinfo").captures():
            path = os.fspath(stack.enter_context(resources.as_file(capture)))
            source = _inputs.Input(path, path)
            assert pickle.loads(pickle.dumps(source)) == source
            result = analysis(naming, source)
            assert result.entries == result.accounting.entries_in > 0
            assert pickle.loads(pickle.dumps(result)) == result


# --- the pool itself ------------------------------------------------------------------------------


def test_results_come_in_input_order() -> None:
    setup = functools.partial(int, "60")
    results = in_order(operator.floordiv, [1, 2, 3, 4, 5, 6], setup=setup, jobs=2)
    assert list(results) == [60, 30, 20, 15, 12, 10]


def test_each_worker_sets_up_once_in_its_own_process() -> None:
    # min(state, huge) is the state: the process id, or the time, of the setup that made it.
    pids = list(in_order(min, [2**64] * 4, setup=os.getpid, jobs=2))
    assert os.getpid() not in pids
    setup_times = list(in_order(min, [2**64] * 6, setup=time.monotonic_ns, jobs=2))
    assert len(set(setup_times)) <= 2  # one per worker, not one per item


def test_one_item_or_one_job_runs_here() -> None:
    assert list(in_order(min, [10**9], setup=os.getpid, jobs=2)) == [os.getpid()]
    assert list(in_order(min, [10**9] * 2, setup=os.getpid, jobs=1)) == [os.getpid()] * 2


def test_the_first_failure_in_order_is_raised() -> None:
    results = in_order(operator.floordiv, [2, 0, 1], setup=functools.partial(int, "6"), jobs=2)
    assert next(results) == 3
    with pytest.raises(ZeroDivisionError):
        next(results)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_setup_fails_the_first_item(jobs: int) -> None:
    results = in_order(operator.floordiv, [1, 2], setup=functools.partial(int, "six"), jobs=jobs)
    with pytest.raises(ValueError, match="invalid literal for int"):
        next(results)


def test_at_most_two_items_per_worker_run_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    # Results done early wait for the one awaited: only this far ahead are they submitted.
    submitted: list[int] = []

    class Pool(ProcessPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitted.append(args[0])
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(_jobs, "ProcessPoolExecutor", Pool)
    setup = functools.partial(int, "60")
    results = in_order(operator.floordiv, list(range(1, 11)), setup=setup, jobs=2)
    assert submitted == []  # nothing before the first result is asked for
    assert next(results) == 60
    assert submitted == [1, 2, 3, 4, 5]  # 2 workers: 4 ahead, and one more per result
    assert next(results) == 30
    assert submitted == [1, 2, 3, 4, 5, 6]
    assert list(results) == [20, 15, 12, 10, 8, 7, 6, 6]
    assert submitted == list(range(1, 11))


# --- how a worker is interrupted (its parts, in this process) -----------------------------------


class FakeThread:
    """Notes the threads a worker would start, and starts none."""

    started: ClassVar[list[str]] = []

    def __init__(self, *, target: Callable[[], None], name: str, daemon: bool) -> None:
        self.name = name

    def start(self) -> None:
        FakeThread.started.append(self.name)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    """The signal handlers a worker installs, instead of installing them in this process."""
    installed: dict[int, Any] = {}

    def install(signum: int, handler: Any) -> None:
        installed[signum] = handler

    FakeThread.started = []
    monkeypatch.setattr(signal, "signal", install)
    monkeypatch.setattr(threading, "Thread", FakeThread)
    return installed


def test_a_worker_is_interrupted_only_while_it_runs_something(handlers: dict[int, Any]) -> None:
    seen: list[bool] = []

    def setup() -> int:
        seen.append(worker.busy)
        return 60

    def work(state: int, item: int) -> int:
        seen.append(worker.busy)
        handlers[signal.SIGINT](signal.SIGINT, None)  # Ctrl-C while it runs: abandoned
        return state // item

    worker = _jobs._Worker(work, setup, cast(Any, threading.Event()))
    worker.start()
    assert (worker.state, seen, FakeThread.started) == (60, [True], ["meshals-stop"])
    with pytest.raises(KeyboardInterrupt):
        worker.run(2)
    assert (seen, worker.busy) == ([True, True], False)
    handlers[signal.SIGINT](signal.SIGINT, None)  # between items (or sending a result): ignored


def test_an_interrupted_setup_fails_every_item(handlers: dict[int, Any]) -> None:
    def setup() -> int:
        raise KeyboardInterrupt

    worker = _jobs._Worker(min, setup, cast(Any, threading.Event()))
    worker.start()
    for item in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            worker.run(item)


def test_the_parent_stops_a_worker_through_its_event(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int | None, int]] = []

    def pthread_kill(ident: int, signum: int) -> None:
        killed.append((ident, signum))

    monkeypatch.setattr(signal, "pthread_kill", pthread_kill, raising=False)  # none on Windows
    stop = threading.Event()
    stop.set()
    _jobs._Worker(min, int, cast(Any, stop))._watch()
    assert killed == [(threading.main_thread().ident, signal.SIGINT)]
