"""meshals' decoders held to protobuf's own parsers: json_format for JSON, upb for bytes.

The oracle, the deliberate leniencies it excuses by name and the token-level JSON mutator are
in ``tools/_oracle.py``, shared with the ``json_oracle`` and ``binary_oracle`` fuzz targets
(``nox -s fuzz``). The seeds are the Envoy recordings and SkyWalking's recorded files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import meshals
from meshals.codec import encode_binary

from .test_mutations import mutated_bytes

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))

import _oracle

pytestmark = pytest.mark.property

SEEDS = _oracle.seed_texts()
TREES = [_oracle.parse(text) for text in SEEDS]
FRAMES = [
    encode_binary(message)
    for path in sorted((_oracle.FIXTURES / "envoy").glob("*.bin"))
    for message in meshals.read(path).messages()
]


@st.composite
def mutated_json(draw: st.DrawFn) -> str:
    """A seed with one to three token-level mutations (see ``_oracle.mutate``)."""
    prefix, tree = draw(st.sampled_from(TREES))

    def choose(count: int) -> int:
        return draw(st.integers(0, count - 1))

    return prefix + _oracle.text_of(_oracle.mutate(tree, choose, draw(st.integers(1, 3))))


@pytest.mark.parametrize("text", SEEDS, ids=range(len(SEEDS)))
def test_the_seeds_are_read_as_protobuf_reads_them(text: str) -> None:
    # SkyWalking's files have comment lines, which protobuf refuses and meshals skips.
    expected = "comment-lines" if text.startswith("#") else "accepted"
    assert _oracle.check_json(text) == expected


@given(mutated_json())
def test_json_agrees_with_json_format(text: str) -> None:
    _oracle.check_json(text)


@pytest.mark.parametrize("frame", FRAMES[:8], ids=range(8))
def test_the_binary_seeds_are_read_as_upb_reads_them(frame: bytes) -> None:
    assert _oracle.check_binary(frame) == "accepted"


@given(st.sampled_from(FRAMES), st.sampled_from(FRAMES), st.data())
def test_binary_agrees_with_upb(frame: bytes, other: bytes, data: st.DataObject) -> None:
    _oracle.check_binary(data.draw(mutated_bytes(frame, other)))


def entry(members: str) -> str:
    return '{"httpLogs": {"logEntry": [{' + members + "}]}}"


def common(members: str) -> str:
    return entry('"commonProperties": {' + members + "}")


# What the oracle found (the property and the fuzz targets), kept as regressions: the outcome is
# "accepted", "rejected" or the leniency that excuses a difference.
JSON_FINDINGS: list[tuple[str, str]] = [
    # The example: a repeated key, refused by json_format, reported by meshals.
    (
        '{"httpLogs":{"logEntry":[{"request":{"path":"/a"}}]},"httpLogs":{"logEntry":[]}}',
        "rejected",
    ),
    # json_format reads a string as an object of unknown fields, the oracle does not.
    ('{"httpLogs": "x"}', "rejected"),
    ('"x"', "rejected"),
    # NaN and overflowing numbers are not JSON (json.loads takes them).
    ('{"identifier": {"node": {"metadata": {"a": NaN}}}}', "rejected"),
    ('{"identifier": {"node": {"metadata": {"a": 1e400}}}}', "rejected"),
    ('{"": 1}', "not-an-als-message"),
    (common('"timeToLastRxByte": "+1s"'), "python-number-syntax"),
    (common('"timeToLastRxByte": "1.s"'), "python-number-syntax"),
    (common('"timeToLastRxByte": "1.0000000001s"'), "python-number-syntax"),
    # The json_oracle fuzz target's second finding, reduced: a long fraction, shown shortened.
    (common('"timeToLastRxByte": "0.' + "0" * 4 + "38" + "2" * 60 + 's"'), "python-number-syntax"),
    (common('"accessLogType": 1.5'), "python-number-syntax"),
    (common('"accessLogType": " 1"'), "python-number-syntax"),
    (entry('"request": {"requestMethod": true}'), "python-number-syntax"),
    (entry('"response": {"responseBodyBytes": "+1"}'), "python-number-syntax"),
    (common('"startTime": "2019-04-13T03:59:53+25:00"'), "python-timestamp-syntax"),
    # The json_oracle fuzz target's finding (one-digit seconds), reduced.
    (common('"startTime": "2026-11-21T09:08:1.2179334Z"'), "python-timestamp-syntax"),
]


@pytest.mark.parametrize(("text", "outcome"), JSON_FINDINGS)
def test_json_findings(text: str, outcome: str) -> None:
    assert _oracle.check_json(text) == outcome
