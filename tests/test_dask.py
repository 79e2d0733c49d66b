"""Summary (meshals.aggregate._summary) and the Dask engine (meshals.dask): merged results are
exact.

Every Dask result is compared with one single-process ``summarize`` of all the files' streams
together (``==`` and ``to_dict()``). The distributed tests run a ``LocalCluster`` of two worker
processes on loopback, started once for the module; the others use Dask's synchronous and
threaded schedulers in this process.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshals
from meshals import (
    Accounting,
    AggregateError,
    AlsMessage,
    CachingResolver,
    DecodeError,
    DiagnosticKind,
    StaticResolver,
    Summary,
    Topology,
    summarize,
)

dask_bag = pytest.importorskip("dask.bag")
meshals_dask = pytest.importorskip("meshals.dask")

ENVOY_FIXTURES = Path(__file__).parent / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads(
    (ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8")
)
# Every recorded stream twice: as .bin and as .jsonl, one stream per file.
ENVOY_PATHS = sorted(
    str(path) for path in ENVOY_FIXTURES.iterdir() if path.suffix in (".bin", ".jsonl")
)
ENVOY_TABLE: dict[str, dict[str, str]] = GROUND_TRUTH["resolver"]
ENVOY_SETTINGS: dict[str, Any] = {
    "analyzers": ("mx-mesh", "k8s-mesh"),
    "scope": "endpoint",
    "window": "1m",
}
BOOKINFO = meshals.examples.example("bookinfo")
BOOKINFO_PATHS = [str(capture) for capture in BOOKINFO.captures()]


def single_process(paths: list[str], **settings: Any) -> Summary:
    """What the Dask engine must reproduce: one summary of every file's stream together."""
    return summarize([meshals.read(path) for path in paths], **settings)


def envoy_resolver() -> StaticResolver:
    return StaticResolver.from_mapping(ENVOY_TABLE)


def write_lines(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def first_line(stream: str) -> str:
    with (ENVOY_FIXTURES / f"{stream}.jsonl").open(encoding="utf-8") as lines:
        return lines.readline().strip()


@pytest.fixture
def noisy_paths(tmp_path: Path) -> list[str]:
    """Two JSON Lines files with diagnostics: a first message without identifier (an analysis
    note) and an undecodable line (skipped by the reader)."""
    return [
        write_lines(tmp_path / f"{name}.jsonl", "{}", first_line(name), '{"bad')
        for name in ("details-http", "reviews-http")
    ]


# --- Summary ------------------------------------------------------------------------------


def test_summarize_counts_the_bookinfo_example() -> None:
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver(), window="1m")
    assert summary.accounting.streams == 6
    assert summary.accounting.entries_in == 40
    assert summary.accounting.metrics_out == 45
    assert len(summary.topology.edges) == 9
    assert summary.topology.edge("reviews", "ratings").combined().requests == 4
    assert summary.red.window_ns == 60_000_000_000
    assert summary.relative_accuracy == 0.01
    assert summary.diagnostics == ()


def test_summarize_equals_topology_and_red_of_the_same_analysis() -> None:
    metrics = meshals.analyze(BOOKINFO.streams(), resolver=BOOKINFO.resolver()).metrics()
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver(), scope="instance")
    assert summary.topology == meshals.topology(metrics)
    assert summary.red == meshals.red(metrics, scope="instance")


def test_per_file_summaries_merge_into_the_joint_one_in_any_order_and_grouping() -> None:
    settings: dict[str, Any] = {"resolver": BOOKINFO.resolver(), "window": "1m"}
    joint = single_process(BOOKINFO_PATHS, **settings)
    parts = [summarize([meshals.read(path)], **settings) for path in BOOKINFO_PATHS]
    assert [part.accounting.streams for part in parts] == [1] * 6
    assert Summary.merge_all(parts) == joint
    assert Summary.merge_all(reversed(parts)) == joint
    assert meshals.aggregate.merge(*parts) == joint
    assert functools.reduce(Summary.__add__, parts[3:] + parts[:3]) == joint
    left = (parts[0] + parts[1]) + (parts[2] + (parts[3] + parts[4])) + parts[5]
    assert left == joint
    assert left.to_dict() == joint.to_dict()


def test_the_empty_summary_changes_nothing() -> None:
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
    assert Summary() + summary == summary
    assert summary + Summary() == summary
    assert summarize([], resolver=BOOKINFO.resolver()) == Summary()


def test_merge_all_of_nothing_has_the_settings_asked_for() -> None:
    empty = Summary.merge_all([], scope="endpoint", window="5m", relative_accuracy=0.02)
    assert (empty.red.scope, empty.red.window_ns) == (
        meshals.aggregate.Scope.ENDPOINT,
        300_000_000_000,
    )
    assert empty.relative_accuracy == 0.02
    assert empty.topology == Topology()
    assert empty.accounting == Accounting()


@pytest.mark.parametrize(
    "other",
    [{"scope": "instance"}, {"window": "1m"}, {"relative_accuracy": 0.02}],
    ids=["scope", "window", "accuracy"],
)
def test_summaries_of_different_settings_do_not_merge(other: dict[str, Any]) -> None:
    resolver = BOOKINFO.resolver()
    mine = summarize(BOOKINFO.streams(), resolver=resolver)
    theirs = summarize(BOOKINFO.streams(), resolver=resolver, **other)
    with pytest.raises(AggregateError, match="cannot merge a summary by service/None ns"):
        mine.merge(theirs)
    with pytest.raises(AggregateError):
        Summary.merge_all([mine, mine, theirs])
    # Even empty ones: the settings are part of the value.
    with pytest.raises(AggregateError):
        Summary() + Summary.merge_all([], **other)


def test_bad_settings_raise_before_anything_is_read() -> None:
    def never() -> Iterator[AlsMessage]:
        raise AssertionError("read")
        yield  # pragma: no cover

    with pytest.raises(AggregateError, match="window"):
        summarize(never(), resolver=BOOKINFO.resolver(), window="5x")
    with pytest.raises(AggregateError, match="relative accuracy"):
        summarize(never(), resolver=BOOKINFO.resolver(), relative_accuracy=0.9)
    with pytest.raises(AggregateError, match="relative accuracy"):
        Summary(relative_accuracy=0)


def test_a_summary_is_immutable_hashable_and_pickles() -> None:
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        summary.accounting = Accounting()  # type: ignore[misc]
    assert hash(summary) == hash(pickle.loads(pickle.dumps(summary)))
    assert pickle.loads(pickle.dumps(summary)) == summary


def test_diagnostics_are_sorted_so_that_merging_keeps_them_equal(noisy_paths: list[str]) -> None:
    settings: dict[str, Any] = {"resolver": envoy_resolver()}
    joint = single_process(noisy_paths, **settings)
    # The analysis lists stream notes first, then its own notes; the reader's come on top.
    assert [(str(d.location), d.kind) for d in joint.diagnostics] == [
        (f"{path}, message {index}", kind)
        for path in noisy_paths
        for index, kind in ((0, DiagnosticKind.NOTE), (2, DiagnosticKind.MESSAGE_SKIPPED))
    ]
    parts = [summarize([meshals.read(path)], **settings) for path in noisy_paths]
    assert parts[1] + parts[0] == joint
    assert joint.accounting.streams == 2
    assert joint.accounting.messages == 4  # the skipped lines are not messages
    assert joint.to_dict()["diagnostics"][:1] == [  # type: ignore[index]
        {
            "kind": "note",
            "source": noisy_paths[0],
            "message_index": 0,
            "entry_index": None,
            "field": None,
            "reason": "the stream's first message has no identifier: its entries are skipped "
            "until a message brings one",
        }
    ]


def test_to_dict_holds_every_part() -> None:
    summary = summarize(BOOKINFO.streams(), resolver=BOOKINFO.resolver())
    assert summary.to_dict() == {
        "relative_accuracy": 0.01,
        "topology": summary.topology.to_dict(),
        "red": summary.red.to_dict(),
        "accounting": summary.accounting.to_dict(),
        "diagnostics": [],
    }


# --- meshals.dask, in this process ------------------------------------------------------


def test_sync_scheduler_equals_one_process_for_bookinfo() -> None:
    settings: dict[str, Any] = {"resolver": BOOKINFO.resolver(), "window": "1m"}
    result = meshals_dask.summarize_files(BOOKINFO_PATHS, scheduler="sync", **settings)
    expected = single_process(BOOKINFO_PATHS, **settings)
    assert result == expected
    assert result.to_dict() == expected.to_dict()
    assert result.accounting.metrics_out == 45


def test_sync_scheduler_equals_one_process_for_the_envoy_recordings() -> None:
    settings: dict[str, Any] = {"resolver": envoy_resolver(), **ENVOY_SETTINGS}
    result = meshals_dask.summarize_files(ENVOY_PATHS, scheduler="sync", split_every=2, **settings)
    expected = single_process(ENVOY_PATHS, **settings)
    assert result == expected
    assert result.to_dict() == expected.to_dict()
    streams = GROUND_TRUTH["streams"].values()
    assert result.accounting.streams == 12
    assert result.accounting.messages == 2 * sum(stream["messages"] for stream in streams)
    assert result.accounting.entries_in == 2 * sum(len(stream["entries"]) for stream in streams)


def test_diagnostics_survive_the_engine(noisy_paths: list[str]) -> None:
    settings: dict[str, Any] = {"resolver": envoy_resolver()}
    result = meshals_dask.summarize_files(noisy_paths[::-1], scheduler="threads", **settings)
    assert result == single_process(noisy_paths, **settings)
    assert len(result.diagnostics) == 4


def test_a_bag_of_paths_and_units_of_several_files() -> None:
    settings: dict[str, Any] = {"resolver": BOOKINFO.resolver()}
    expected = single_process(BOOKINFO_PATHS, **settings)
    bag = dask_bag.from_sequence(BOOKINFO_PATHS, npartitions=2)
    assert meshals_dask.summarize_files(bag, scheduler="sync", **settings) == expected
    units = [BOOKINFO_PATHS[:4], (Path(BOOKINFO_PATHS[4]), BOOKINFO_PATHS[5])]
    assert meshals_dask.summarize_files(units, scheduler="sync", **settings) == expected


def test_summary_bag_has_one_summary_per_unit_in_order() -> None:
    settings: dict[str, Any] = {"resolver": BOOKINFO.resolver()}
    bag = meshals_dask.summary_bag(BOOKINFO_PATHS, **settings)
    summaries = bag.compute(scheduler="sync")
    assert summaries == [summarize([meshals.read(path)], **settings) for path in BOOKINFO_PATHS]


def test_no_units_give_the_empty_summary_with_the_settings() -> None:
    result = meshals_dask.summarize_files(
        [], resolver=BOOKINFO.resolver(), window="1m", scheduler="sync"
    )
    assert result == Summary.merge_all([], window="1m")


class CountingFactory:
    """A resolver factory that counts its calls (in this process: threads share it)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> StaticResolver:
        self.calls += 1
        return BOOKINFO.resolver()


def test_a_resolver_factory_is_called_once_per_process_and_call() -> None:
    factory = CountingFactory()
    expected = single_process(BOOKINFO_PATHS, resolver=BOOKINFO.resolver())
    for calls in (1, 2):
        result = meshals_dask.summarize_files(
            BOOKINFO_PATHS, resolver_factory=factory, scheduler="threads"
        )
        assert result == expected
        assert factory.calls == calls


def test_mx_mesh_alone_needs_no_resolver() -> None:
    settings: dict[str, Any] = {"analyzers": ("mx-mesh",)}
    result = meshals_dask.summarize_files(ENVOY_PATHS, scheduler="sync", **settings)
    assert result == single_process(ENVOY_PATHS, **settings)


def test_bad_arguments_raise_before_any_task() -> None:
    resolver = BOOKINFO.resolver()
    with pytest.raises(ValueError, match="not both"):
        meshals_dask.summary_bag(
            BOOKINFO_PATHS, resolver=resolver, resolver_factory=CountingFactory()
        )
    with pytest.raises(ValueError, match="needs a resolver"):
        meshals_dask.summary_bag(BOOKINFO_PATHS)
    with pytest.raises(AggregateError, match="window"):
        meshals_dask.summary_bag(BOOKINFO_PATHS, resolver=resolver, window="5x")
    with pytest.raises(ValueError, match="unknown analyzer"):
        meshals_dask.summary_bag(BOOKINFO_PATHS, analyzers=("nope",))
    with pytest.raises(TypeError, match="a unit must be a path or a sequence of paths, not 7"):
        meshals_dask.summary_bag([7], resolver=resolver)
    with pytest.raises(TypeError, match="a unit must be"):
        meshals_dask.summary_bag([["a.bin", b"b.bin"]], resolver=resolver)
    with pytest.raises(TypeError, match="scheduler"):
        meshals_dask.summary_bag(BOOKINFO_PATHS, resolver=resolver, scheduler="sync")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.bin")
    with pytest.raises(FileNotFoundError) as caught:
        meshals_dask.summarize_files(
            [*BOOKINFO_PATHS, missing], resolver=BOOKINFO.resolver(), scheduler="sync"
        )
    assert caught.value.filename == missing


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"\x0a\xff\xff\xff\xff\x0f and then some")
    with pytest.raises(DecodeError) as caught:
        meshals_dask.summarize_files(
            [BOOKINFO_PATHS[0], str(corrupt)], resolver=BOOKINFO.resolver(), scheduler="sync"
        )
    assert caught.value.source == str(corrupt)
    assert str(caught.value).startswith(f"{corrupt}, message 0")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
def test_a_read_error_names_the_file() -> None:
    # /proc/self/mem opens, but reading at offset 0 (unmapped memory) fails with EIO, an
    # OSError that names no file.
    with pytest.raises(OSError, match="/proc/self/mem") as caught:
        meshals_dask.summarize_files(
            ["/proc/self/mem"], resolver=BOOKINFO.resolver(), scheduler="sync"
        )
    assert caught.value.filename == "/proc/self/mem"
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.filename is None


# --- meshals.dask on a LocalCluster -------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            # The scheduler's HTTP server starts even without a dashboard, by default on
            # 8787, which another cluster on this machine may hold: any free port instead.
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


def test_cluster_equals_one_process_for_bookinfo(client: Any) -> None:
    settings: dict[str, Any] = {"resolver": BOOKINFO.resolver(), "window": "1m"}
    result = meshals_dask.summarize_files(BOOKINFO_PATHS, scheduler=client, **settings)
    expected = single_process(BOOKINFO_PATHS, **settings)
    assert result == expected
    assert result.to_dict() == expected.to_dict()


def test_cluster_equals_one_process_for_the_envoy_recordings(client: Any) -> None:
    settings: dict[str, Any] = {"resolver": envoy_resolver(), **ENVOY_SETTINGS}
    result = meshals_dask.summarize_files(ENVOY_PATHS, scheduler=client, **settings)
    expected = single_process(ENVOY_PATHS, **settings)
    assert result == expected
    assert result.to_dict() == expected.to_dict()
    assert result.accounting.streams == 12


def test_cluster_summarises_each_file_in_a_worker_process(client: Any) -> None:
    pids = client.run(os.getpid)
    assert len(set(pids.values()) - {os.getpid()}) == 2
    bag = meshals_dask.summary_bag(ENVOY_PATHS, resolver=envoy_resolver())
    assert bag.compute(scheduler=client) == [
        summarize([meshals.read(path)], resolver=envoy_resolver()) for path in ENVOY_PATHS
    ]


def test_cluster_builds_the_resolver_from_a_factory(client: Any, noisy_paths: list[str]) -> None:
    factory = functools.partial(StaticResolver.from_mapping, ENVOY_TABLE)
    paths = [*ENVOY_PATHS, *noisy_paths]
    result = meshals_dask.summarize_files(paths, resolver_factory=factory, scheduler=client)
    assert result == single_process(paths, resolver=envoy_resolver())
    assert len(result.diagnostics) == 4


def test_cluster_takes_a_caching_resolver(client: Any) -> None:
    cached = CachingResolver(BOOKINFO.resolver())
    result = meshals_dask.summarize_files(BOOKINFO_PATHS, resolver=cached, scheduler=client)
    assert result == single_process(BOOKINFO_PATHS, resolver=BOOKINFO.resolver())


def test_cluster_errors_name_the_file(client: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.bin")
    with pytest.raises(FileNotFoundError) as missing_error:
        meshals_dask.summarize_files(
            [*BOOKINFO_PATHS, missing], resolver=BOOKINFO.resolver(), scheduler=client
        )
    assert missing_error.value.filename == missing
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"\x0a\xff\xff\xff\xff\x0f and then some")
    with pytest.raises(DecodeError) as decode_error:
        meshals_dask.summarize_files(
            [str(corrupt), *BOOKINFO_PATHS], resolver=BOOKINFO.resolver(), scheduler=client
        )
    assert decode_error.value.source == str(corrupt)


def test_the_summary_of_every_permutation_of_units_is_equal() -> None:
    # Merging is order-independent, so the engine may merge in any tree (checked on 3 units
    # in every order here, and for real by the cluster tests above).
    settings: dict[str, Any] = {"resolver": envoy_resolver()}
    units = [ENVOY_PATHS[:4], ENVOY_PATHS[4:8], ENVOY_PATHS[8:]]
    parts = [summarize([meshals.read(path) for path in unit], **settings) for unit in units]
    expected = single_process(ENVOY_PATHS, **settings)
    for order in itertools.permutations(parts):
        assert Summary.merge_all(order) == expected


def test_summarize_keeps_the_accounting_of_analyze(noisy_paths: list[str]) -> None:
    resolver = envoy_resolver()
    with meshals.read(noisy_paths[0]) as reader:
        summary = summarize(reader, resolver=resolver)
    with meshals.read(noisy_paths[0]) as reader:
        analysis = meshals.analyze(reader, resolver=resolver)
        analysis.metrics()
    assert summary.accounting == analysis.accounting
    assert summary.accounting.streams == 1
    assert [d.kind for d in summary.diagnostics] == [
        DiagnosticKind.NOTE,
        DiagnosticKind.MESSAGE_SKIPPED,
    ]


def test_summarize_takes_streams_that_are_not_readers() -> None:
    with meshals.read(BOOKINFO_PATHS[0]) as reader:
        messages = list(reader)
    as_list = summarize([messages, messages], resolver=BOOKINFO.resolver())
    twice = single_process([BOOKINFO_PATHS[0]] * 2, resolver=BOOKINFO.resolver())
    assert as_list == twice
    assert as_list.accounting.streams == 2


def test_only_summaries_add_to_a_summary() -> None:
    with pytest.raises(TypeError):
        Summary() + Accounting()  # type: ignore[operator]


def test_workers_keep_only_the_latest_factory_built_resolvers() -> None:
    for _ in range(5):
        meshals_dask.summarize_files(
            BOOKINFO_PATHS[:1], resolver_factory=CountingFactory(), scheduler="sync"
        )
    assert len(meshals_dask._BUILT_RESOLVERS) == 4


def test_summarize_files_takes_the_semantics() -> None:
    snapshot = ENVOY_FIXTURES.parent / "k8s" / "bookinfo-loopback.json"
    resolver = meshals.KubernetesResolver.from_file(snapshot, semantics="skywalking")
    paths = sorted(str(path) for path in ENVOY_FIXTURES.glob("*.bin"))
    settings: dict[str, Any] = {"resolver": resolver, "semantics": "skywalking"}
    on_dask = meshals_dask.summarize_files(paths, scheduler="sync", **settings)
    here = meshals.summarize([meshals.read(path) for path in paths], **settings)
    assert on_dask.accounting == here.accounting
    assert on_dask.accounting.metrics_out == 43  # SkyWalking's count (meshals': 45)


def test_auto_names_are_built_once_for_every_unit() -> None:
    # "auto" on the workers would name each file by itself: refused, before any task runs.
    with pytest.raises(ValueError, match="resolver='auto' would name each unit"):
        meshals_dask.summarize_files(BOOKINFO_PATHS, resolver="auto")
    # The table of every file, pickled to the workers: what one process names with "auto".
    names = meshals.mesh.observed_resolver([meshals.read(path) for path in BOOKINFO_PATHS])
    on_dask = meshals_dask.summarize_files(BOOKINFO_PATHS, scheduler="sync", resolver=names)
    here = summarize([meshals.read(path) for path in BOOKINFO_PATHS], resolver="auto")
    assert on_dask == here
    assert ("productpage", "reviews") in on_dask.topology.edges
