"""``--since``/``--until`` values (``meshals.cli._times``) and their edge cases, in this process;
the installed command's ranges are in ``test_cli_time_range.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshals import cli
from meshals.cli._times import (
    TimeArgument,
    attach_negative_times,
    parse_time,
    range_note,
    rfc3339,
)

ENVOY = Path(__file__).parents[1] / "fixtures" / "envoy"
S = 1_000_000_000
AT_09_08_32 = 1_795_252_112 * S  # 2026-11-21T09:08:32Z


@pytest.mark.parametrize(
    ("text", "before_end_ns"),
    [
        ("15m", 15 * 60 * S),
        ("-5m", 5 * 60 * S),
        ("1h30m", 90 * 60 * S),
        ("90s", 90 * S),
        ("500ms", S // 2),
        ("2d", 2 * 86_400 * S),
        ("1m500ms", 60 * S + S // 2),
        ("0s", 0),
        (" 15m ", 15 * 60 * S),
    ],
)
def test_durations_count_back_from_the_end(text: str, before_end_ns: int) -> None:
    argument = parse_time(text)
    assert argument == TimeArgument(text, before_end_ns=before_end_ns)
    assert argument.relative
    assert argument.at(AT_09_08_32) == AT_09_08_32 - before_end_ns


@pytest.mark.parametrize(
    ("text", "time_ns"),
    [
        ("2026-11-21T09:08:32Z", AT_09_08_32),
        ("2026-11-21T10:08:32+01:00", AT_09_08_32),
        ("2026-11-21T09:08:32.25Z", AT_09_08_32 + S // 4),
        ("2026-11-21T09:08:32.123456789Z", AT_09_08_32 + 123_456_000),  # to the microsecond
        ("2026-11-21 09:08:32", AT_09_08_32),  # no zone: UTC
        ("2026-11-21", AT_09_08_32 - (9 * 3600 + 8 * 60 + 32) * S),  # midnight
        ("21 Nov 2026 09:08:32", AT_09_08_32),
        ("21 Nov 2026 09:08:32 UTC", AT_09_08_32),
        ("Sat, 21 Nov 2026 09:08:32 GMT", AT_09_08_32),
        ("Nov 21 2026 10:08:32 +0100", AT_09_08_32),
        ("11/21/2026 9:08:32am", AT_09_08_32),
    ],
)
def test_times_are_rfc_3339_or_human_and_utc_without_a_zone(text: str, time_ns: int) -> None:
    argument = parse_time(text)
    assert argument == TimeArgument(text, time_ns=time_ns)
    assert not argument.relative
    assert argument.at(None) == time_ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("09:08", "'09:08' has no full date (year, month and day): give one"),
        ("2026", "'2026' has no full date (year, month and day): give one"),
        ("2026-11", "'2026-11' has no full date (year, month and day): give one"),
        ("2026-11T09:08", "'2026-11T09:08' has no full date (year, month and day): give one"),
        ("Nov 2026", "'Nov 2026' has no full date (year, month and day): give one"),
        (
            "2026-11-21 09:08 CET",
            "unknown time zone 'CET' in '2026-11-21 09:08 CET': give an offset (+01:00) or UTC",
        ),
        (
            "yesterday",
            "not a time: 'yesterday' (e.g. 2026-11-21T09:08:32Z, '2026-11-21 09:08', or 15m"
            " before the capture's end)",
        ),
        ("15x", "not a time: '15x'"),
        ("+5m", "not a time: '+5m'"),
    ],
)
def test_what_is_no_time_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_time(text)


@pytest.mark.parametrize(
    ("argv", "joined"),
    [
        (["--until", "-5m"], ["--until=-5m"]),
        (["--since", "-1h30m", "-"], ["--since=-1h30m", "-"]),
        (["--since", "-", "--until", "5m"], ["--since", "-", "--until", "5m"]),
        (["--since"], ["--since"]),
        (["--", "--until", "-5m"], ["--", "--until", "-5m"]),
    ],
)
def test_a_negative_duration_is_attached_to_its_option(argv: list[str], joined: list[str]) -> None:
    assert attach_negative_times(argv) == joined


def test_rfc3339_shows_the_digits_a_time_needs() -> None:
    assert rfc3339(AT_09_08_32) == "2026-11-21T09:08:32Z"
    assert rfc3339(AT_09_08_32 + 120_000_000) == "2026-11-21T09:08:32.12Z"
    assert rfc3339(AT_09_08_32 + 7) == "2026-11-21T09:08:32.000000007Z"


def test_the_note_says_the_range_a_relative_form_made() -> None:
    end = AT_09_08_32 + 2 * S
    absolute = parse_time("2026-11-21T09:08:32Z")
    assert range_note(absolute, None, end) is None
    assert range_note(absolute, parse_time("-1s"), end) == (
        "time range: entries that started at or after 2026-11-21T09:08:32Z and before"
        " 2026-11-21T09:08:33Z (--until -1s; the capture ends at 2026-11-21T09:08:34Z)"
    )
    assert range_note(None, parse_time("0s"), end) == (
        "time range: entries that started before 2026-11-21T09:08:34Z (--until 0s; the capture"
        " ends at 2026-11-21T09:08:34Z)"
    )
    assert range_note(parse_time("2s"), parse_time("1s"), None) == (
        "time range: none (--since 2s, --until 1s: no entry has a time to count back from)"
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    try:
        status = cli.main([str(arg) for arg in argv])
    except SystemExit as exited:  # usage errors
        status = exited.code if isinstance(exited.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_relative_range_over_inputs_without_times_is_no_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert run(capsys, "analyze", "--analyzer", "mx-mesh", "--since", "1m", empty) == (
        0,
        "SIDE  PROTO  SOURCE -> DEST  ENDPOINT  CODE  STATUS  LATENCY  FLAGS\n",
        f"meshals: warning: {empty}: empty input: nothing was read\n"
        "meshals: time range: none (--since 1m: no entry has a time to count back from)\n"
        "meshals: 1 file: 0 entries, 0 analyzed, 0 skipped, 0 metrics\n",
    )


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-11-21T09:08:33Z", "2026-11-21 09:08:33", "the range is empty"),
        ("5m", "10m", "the range is empty"),
        ("1s", "-1s", "the range is empty"),
        # Known only once the capture's end is: after the first pass.
        ("2026-11-22", "1s", "the range is empty for this capture"),
    ],
)
def test_an_empty_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], since: str, until: str, message: str
) -> None:
    status, out, err = run(
        capsys, "stats", "--since", since, "--until", until, ENVOY / "mongodb-tcp.bin"
    )
    assert (status, out) == (2, "")
    assert err.endswith(
        f"meshals stats: error: --until {until} is not after --since {since}: {message}\n"
    )
