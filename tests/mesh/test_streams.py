"""Streams: the identifier (and role) carried across messages, reidentify, missing identifiers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from meshals import (
    AlsMessage,
    Diagnostic,
    DiagnosticKind,
    Identifier,
    Location,
    Node,
    Role,
    StreamError,
)
from meshals.mesh import Stream
from meshals.mesh._roles import fixed_role
from meshals.mesh._streams import split_streams

GATEWAY = Identifier(node=Node(id="router~10.0.0.1~gw.istio-system~istio-system.svc"), log_name="a")
SIDECAR = Identifier(node=Node(id="sidecar~10.0.0.2~pp.default~default.svc"), log_name="a")
PLAIN = Identifier(node=Node(id="edge-envoy-1"), log_name="a")


def _message(identifier: Identifier | None, index: int) -> AlsMessage:
    return AlsMessage(identifier=identifier, source="s.bin", index=index)


def _walk(
    identifiers: list[Identifier | None], *, reidentify: bool = False
) -> tuple[list[tuple[Identifier | None, Role]], Stream]:
    stream = Stream(
        [_message(identifier, index) for index, identifier in enumerate(identifiers)],
        reidentify=reidentify,
    )
    return [(item.identifier, item.role) for item in stream], stream


# (identifiers on the messages, reidentify, identifier and role in force per message)
STREAM_CASES = [
    ([GATEWAY, None, None], False, [(GATEWAY, Role.PROXY)] * 3),
    ([SIDECAR, None], True, [(SIDECAR, Role.SIDECAR)] * 2),
    # Without reidentify a later identifier is ignored ...
    ([GATEWAY, SIDECAR, None], False, [(GATEWAY, Role.PROXY)] * 3),
    # ... with it, the stream follows every identifier it carries.
    (
        [GATEWAY, None, SIDECAR, None, GATEWAY],
        True,
        [
            (GATEWAY, Role.PROXY),
            (GATEWAY, Role.PROXY),
            (SIDECAR, Role.SIDECAR),
            (SIDECAR, Role.SIDECAR),
            (GATEWAY, Role.PROXY),
        ],
    ),
    # An unidentified stream stays so until an identifier arrives, with or without reidentify.
    ([None, None, SIDECAR, None], False, [(None, Role.NONE)] * 2 + [(SIDECAR, Role.SIDECAR)] * 2),
    ([None, GATEWAY], True, [(None, Role.NONE), (GATEWAY, Role.PROXY)]),
    ([PLAIN], False, [(PLAIN, Role.NONE)]),
    ([Identifier()], False, [(Identifier(), Role.NONE)]),  # no node
    ([], False, []),
]


@pytest.mark.parametrize(("identifiers", "reidentify", "expected"), STREAM_CASES)
def test_identity_in_force(
    identifiers: list[Identifier | None],
    reidentify: bool,
    expected: list[tuple[Identifier | None, Role]],
) -> None:
    seen, _ = _walk(identifiers, reidentify=reidentify)
    assert seen == expected


NO_FIRST_IDENTIFIER = (
    "the stream's first message has no identifier: its entries are skipped until a message "
    "brings one"
)
IGNORED = (
    "a later identifier differs from the stream's and is ignored "
    "(use reidentify=True for multiplexed streams)"
)

# (identifiers, reidentify, diagnostics as (message index, reason))
DIAGNOSTIC_CASES = [
    ([GATEWAY, None, GATEWAY], False, []),  # the same identifier again is not news
    ([GATEWAY, SIDECAR], True, []),
    ([None, None], False, [(0, NO_FIRST_IDENTIFIER)]),
    ([None, SIDECAR], True, [(0, NO_FIRST_IDENTIFIER)]),
    ([GATEWAY, None, SIDECAR, PLAIN], False, [(2, IGNORED), (3, IGNORED)]),
]


@pytest.mark.parametrize(("identifiers", "reidentify", "expected"), DIAGNOSTIC_CASES)
def test_diagnostics(
    identifiers: list[Identifier | None], reidentify: bool, expected: list[tuple[int, str]]
) -> None:
    _, stream = _walk(identifiers, reidentify=reidentify)
    assert stream.diagnostics == tuple(
        Diagnostic(
            kind=DiagnosticKind.NOTE,
            location=Location(source="s.bin", message_index=index),
            reason=reason,
        )
        for index, reason in expected
    )


def test_stream_is_lazy_and_tracks_current_identity() -> None:
    consumed: list[int] = []

    def messages() -> Iterable[AlsMessage]:
        for index, identifier in enumerate([None, GATEWAY, SIDECAR]):
            consumed.append(index)
            yield _message(identifier, index)

    stream = Stream(messages(), reidentify=True, index=7)
    assert consumed == []
    assert (stream.identifier, stream.role) == (None, Role.NONE)
    first = next(stream)
    assert (consumed, first.stream_index, stream.identifier) == ([0], 7, None)
    next(stream)
    assert (stream.identifier, stream.role) == (GATEWAY, Role.PROXY)
    next(stream)
    assert (stream.identifier, stream.role) == (SIDECAR, Role.SIDECAR)
    with pytest.raises(StopIteration):
        next(stream)


def test_a_stream_by_default_keeps_its_first_identifier_and_is_stream_0() -> None:
    stream = Stream([_message(GATEWAY, 0), _message(SIDECAR, 1)])
    assert [(item.identifier, item.role, item.stream_index) for item in stream] == [
        (GATEWAY, Role.PROXY, 0),
        (GATEWAY, Role.PROXY, 0),
    ]
    assert [diagnostic.location.message_index for diagnostic in stream.diagnostics] == [1]


def test_role_rule_is_a_plain_callable() -> None:
    calls: list[Identifier] = []

    def rule(identifier: Identifier) -> Role:
        calls.append(identifier)
        return (
            Role.PROXY if identifier.node and identifier.node.id.startswith("edge-") else Role.NONE
        )

    stream = Stream([_message(PLAIN, 0), _message(None, 1)], role_rule=rule)
    assert [item.role for item in stream] == [Role.PROXY, Role.PROXY]
    assert calls == [PLAIN]  # once per identifier adopted, not per message


def test_fixed_role_rule() -> None:
    stream = Stream([_message(SIDECAR, 0)], role_rule=fixed_role(Role.WAYPOINT))
    assert [item.role for item in stream] == [Role.WAYPOINT]


def test_role_rule_must_return_a_role() -> None:
    stream = Stream([_message(SIDECAR, 0)], role_rule=lambda identifier: "sidecar")  # type: ignore[arg-type,return-value]
    with pytest.raises(StreamError, match="the role rule returned 'sidecar', not a Role"):
        next(stream)


BAD_STREAMS: list[object] = ["text", b"bytes", 5, None, AlsMessage()]


@pytest.mark.parametrize("bad", BAD_STREAMS)
def test_not_a_stream(bad: object) -> None:
    with pytest.raises(StreamError, match="a stream must be an iterable of AlsMessage"):
        Stream(bad)  # type: ignore[arg-type]


def test_stream_item_not_a_message() -> None:
    stream = Stream([_message(GATEWAY, 0), {"identifier": None}])  # type: ignore[list-item]
    next(stream)
    with pytest.raises(StreamError, match="a stream must hold AlsMessage values"):
        next(stream)
    assert issubclass(StreamError, TypeError)


M1, M2, M3 = (_message(None, index) for index in range(3))

# Each case builds its input when run: a one-shot iterator made once would be spent by the first
# run, and a second run in the same process (mutmut's) would see it empty.
SPLIT_CASES = [
    pytest.param(lambda: [], [], id="empty"),
    pytest.param(lambda: [M1, M2, M3], [[M1, M2, M3]], id="one-stream"),
    pytest.param(lambda: iter([M1, M2]), [[M1, M2]], id="iterator"),
    pytest.param(lambda: [[M1], [M2, M3]], [[M1], [M2, M3]], id="streams"),
    pytest.param(lambda: [[], [M1]], [[], [M1]], id="empty-stream-first"),
    pytest.param(lambda: (iter(s) for s in ([M1], [M2])), [[M1], [M2]], id="generator"),
]


@pytest.mark.parametrize(("given", "streams"), SPLIT_CASES)
def test_split_streams(given: Callable[[], object], streams: list[list[AlsMessage]]) -> None:
    assert [list(stream) for stream in split_streams(given())] == streams  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (5, "expected AlsMessage values or streams of them"),
        ("abc", "expected AlsMessage values or streams of them"),
        ([[M1], M2], "a stream of streams holds an AlsMessage among its streams"),
        ([[M1], 3], "a stream must be an iterable of AlsMessage"),
        (["ab"], "a stream must be an iterable of AlsMessage"),
    ],
)
def test_split_streams_rejects(given: object, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        for _ in split_streams(given):  # type: ignore[arg-type]
            pass
