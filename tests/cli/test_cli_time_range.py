"""The installed ``meshals`` command's ``--since``/``--until``, run as a user runs them.

Every count is checked against the recordings read with Envoy's own generated protos (the
``recorded_*`` and ``count_in_range`` fixtures of ``tests/conftest.py``), not with meshals.
"""

from __future__ import annotations

import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ENVOY = ROOT / "tests" / "fixtures" / "envoy"
RECORDINGS = sorted(ENVOY.glob("*.bin"))
RESOLVER = ROOT / "src" / "meshals" / "examples" / "bookinfo" / "resolver.json"
MESHALS = Path(sysconfig.get_path("scripts")) / "meshals"
S = 1_000_000_000
AT_09_08_32 = 1_795_252_112 * S  # 2026-11-21T09:08:32Z
END = "2026-11-21T09:08:34.167952172Z"  # where the recordings end

CountInRange = Callable[[int | None, int | None], tuple[int, int]]


def meshals(*args: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run the installed ``meshals`` with *args*: exit status, stdout and stderr."""
    result = subprocess.run(
        [str(MESHALS), *map(str, args)], input=stdin, capture_output=True, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def summary(files: int, entries: int, metrics: int, total: int = 40) -> str:
    skipped = total - entries
    reasons = f" (outside-time-range: {skipped})" if skipped else ""
    return (
        f"meshals: {files} files: {total} entries, {entries} analyzed, {skipped} skipped"
        f"{reasons}, {metrics} metrics\n"
    )


def test_the_recordings_span_three_seconds(
    recorded_starts: list[int], recorded_end: int, count_in_range: CountInRange
) -> None:
    assert count_in_range(None, None) == (40, 45)
    assert recorded_starts[0] < AT_09_08_32 < recorded_starts[-1] < recorded_end
    assert recorded_end == 1_795_252_114_167_952_172


@pytest.mark.parametrize("command", ["analyze", "stats", "graph", "metrics"])
def test_since_an_rfc_3339_time(command: str, count_in_range: CountInRange) -> None:
    entries, metrics = count_in_range(AT_09_08_32, None)
    assert (entries, metrics) == (11, 11)
    status, out, err = meshals(
        command, "--resolver", RESOLVER, "--since", "2026-11-21T09:08:32Z", *RECORDINGS
    )
    assert (status, err) == (0, summary(6, entries, metrics))
    assert out  # what the range left, in the command's format


@pytest.mark.parametrize(
    "forms",
    [
        ("2026-11-21T10:08:32+01:00", "2026-11-21T09:08:33.5Z"),
        ("2026-11-21 09:08:32", "2026-11-21 09:08:33.5"),  # no zone: UTC
        ("21 Nov 2026 09:08:32 UTC", "Nov 21 2026 10:08:33.5 +0100"),
    ],
    ids=["rfc-3339-offset", "no-zone", "human"],
)
def test_absolute_and_human_forms_agree(
    forms: tuple[str, str], count_in_range: CountInRange
) -> None:
    since, until = forms
    entries, metrics = count_in_range(AT_09_08_32, AT_09_08_32 + 3 * S // 2)
    assert (entries, metrics) == (8, 8)
    status, out, err = meshals(
        "analyze", "--resolver", RESOLVER, "--since", since, "--until", until, *RECORDINGS
    )
    assert (status, err) == (0, summary(6, entries, metrics))
    assert len(out.splitlines()) == 1 + metrics  # the header and one line per metric


@pytest.mark.parametrize(
    ("arguments", "since_ns", "until_ns", "note"),
    [
        (
            ("--since", "1s"),
            1_795_252_113_167_952_172,
            None,
            "entries that started at or after 2026-11-21T09:08:33.167952172Z (--since 1s;",
        ),
        (
            ("--until", "-2s"),
            None,
            1_795_252_112_167_952_172,
            "entries that started before 2026-11-21T09:08:32.167952172Z (--until -2s;",
        ),
        (
            ("--since", "2s", "--until", "-500ms"),
            1_795_252_112_167_952_172,
            1_795_252_113_667_952_172,
            "entries that started at or after 2026-11-21T09:08:32.167952172Z and before"
            " 2026-11-21T09:08:33.667952172Z (--since 2s, --until -500ms;",
        ),
        (
            ("--since", "15m"),
            1_795_251_214_167_952_172,
            None,
            "entries that started at or after 2026-11-21T08:53:34.167952172Z (--since 15m;",
        ),
    ],
    ids=["since-1s", "until-minus-2s", "both", "since-15m"],
)
def test_relative_forms_count_back_from_the_captures_end(
    arguments: tuple[str, ...],
    *,
    since_ns: int | None,
    until_ns: int | None,
    note: str,
    recorded_end: int,
    count_in_range: CountInRange,
) -> None:
    before = {"1s": S, "2s": 2 * S, "-2s": 2 * S, "-500ms": S // 2, "15m": 900 * S}
    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert since_ns == (
        None if "--since" not in options else recorded_end - before[options["--since"]]
    )
    assert until_ns == (
        None if "--until" not in options else recorded_end - before[options["--until"]]
    )
    entries, metrics = count_in_range(since_ns, until_ns)
    status, out, err = meshals("stats", "--resolver", RESOLVER, *arguments, *RECORDINGS)
    assert (status, err) == (
        0,
        f"meshals: time range: {note} the capture ends at {END})\n" + summary(6, entries, metrics),
    )
    assert out.startswith("SERVICE ")


def test_the_last_second_in_numbers() -> None:
    status, out, err = meshals("analyze", "--resolver", RESOLVER, "--since", "1s", *RECORDINGS)
    assert status == 0
    assert err.endswith(summary(6, 3, 3))
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["server", "TCP", "productpage"],
        ["client", "TCP", "productpage"],
        ["client", "TCP", "productpage"],
    ]


def test_a_relative_range_over_standard_input_reads_it_twice() -> None:
    # The first pass (the capture's end) and the analysis each read a spooled copy.
    recording = ENVOY / "productpage-tcp.bin"
    from_file = meshals("graph", "--resolver", RESOLVER, "--since", "1s", recording)
    from_stdin = meshals(
        "graph", "--resolver", RESOLVER, "--since", "1s", "-", stdin=recording.read_bytes()
    )
    assert from_stdin == from_file
    assert from_file[0] == 0
    # productpage-tcp alone ends at 09:08:34.167952172, like all six: of its entries, those
    # that started at 33.665901 and 34.167609 are in its last second, the one at 33.163134 not.
    assert from_file[2].endswith(
        "meshals: 1 file: 3 entries, 2 analyzed, 1 skipped (outside-time-range: 1), 2 metrics\n"
    )


def test_relative_ranges_with_worker_processes_are_the_same() -> None:
    arguments: tuple[str | Path, ...] = (
        "--resolver",
        RESOLVER,
        "--format",
        "jsonl",
        "--since",
        "2s",
        *RECORDINGS,
    )
    alone = meshals("analyze", *arguments)
    assert alone[0] == 0
    assert meshals("analyze", "--jobs", "2", *arguments) == alone


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--since", "09:08"), "argument --since: '09:08' has no full date (year, month and day)"),
        (("--until", "2026-11-21 09:08 CET"), "argument --until: unknown time zone 'CET'"),
        (("--since", "5m", "--until", "10m"), "--until 10m is not after --since 5m"),
    ],
)
def test_times_that_make_no_range_are_usage_errors(
    arguments: tuple[str, ...], message: str
) -> None:
    status, out, err = meshals("metrics", *arguments, *RECORDINGS)
    assert (status, out) == (2, "")
    assert f"meshals metrics: error: {message}" in err
