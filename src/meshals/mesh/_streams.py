"""ALS streams: carrying the identifier, and the role it implies, from message to message.

Envoy opens one gRPC stream per access logger and sends the ``identifier`` (its node and the
log name) on the stream's first message only. A :class:`Stream` walks the messages of one
stream and pairs each with the identifier and role in force:

- The identifier of the first message holds for the whole stream. A later identifier is
  ignored, with a diagnostic when it differs, unless ``reidentify=True``: then every message
  that carries one re-identifies the stream from there on (for collectors that multiplex many
  Envoys on one stream).
- A stream whose first message has no identifier cannot be attributed: its messages come out
  with ``identifier=None`` (the analysis skips their entries as ``no-identifier``) and the
  stream records a diagnostic. The first identifier that arrives later is adopted.

:func:`split_streams` accepts either one stream or an iterable of streams.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import attrs

from meshals._errors import Diagnostic, DiagnosticKind, Location, StreamError
from meshals.codec._compiled import slot_constructor
from meshals.model._als import AlsMessage, Identifier
from meshals.model._l4 import L4Connection
from meshals.model._role import Role

from ._roles import RoleRule, default_role_rule

__all__ = ["Stream", "StreamMessage"]


@attrs.frozen(kw_only=True)
class StreamMessage:
    """One message of a stream and the identity that applies to it.

    ``identifier`` is None (and ``role`` :attr:`Role.NONE`) while the stream is unidentified.
    """

    message: AlsMessage
    identifier: Identifier | None
    role: Role
    stream_index: int


# One per message: positional (message, identifier, role, stream_index); model._construct.
_new_stream_message = slot_constructor(StreamMessage)


def _location(message: AlsMessage) -> Location:
    return Location(source=message.source, message_index=message.index)


class Stream(Iterator[StreamMessage]):
    """The messages of one ALS stream, each with the identifier and role in force.

    Iterate it once (it consumes *messages* lazily). :attr:`diagnostics` grows as problems are
    found: a first message without identifier, an ignored later identifier.

    Args:
        messages: the stream's messages in order.
        role_rule: decides the role from an identifier; :func:`~meshals.mesh.default_role_rule`
            (the Istio node id prefix) when None.
        reidentify: re-identify on every message that carries an identifier.
        index: the stream's position among the streams analysed together.

    Raises:
        StreamError: (while iterating) an item is not an :class:`~meshals.AlsMessage`, or the
            role rule returned something that is not a :class:`~meshals.Role`.

    >>> from meshals import Node
    >>> first = AlsMessage(identifier=Identifier(node=Node(id="router~10.0.0.1~gw.ns~ns")))
    >>> [item.role for item in Stream([first, AlsMessage()])]
    [<Role.PROXY: 'proxy'>, <Role.PROXY: 'proxy'>]
    """

    def __init__(
        self,
        messages: Iterable[AlsMessage],
        *,
        role_rule: RoleRule | None = None,
        reidentify: bool = False,
        index: int = 0,
    ) -> None:
        if isinstance(messages, (str, bytes, bytearray, AlsMessage)) or not isinstance(
            messages, Iterable
        ):
            raise StreamError(f"a stream must be an iterable of AlsMessage, not {messages!r:.60}")
        self._messages = iter(messages)
        self._role_rule = default_role_rule if role_rule is None else role_rule
        self._reidentify = reidentify
        self.index = index
        self._identifier: Identifier | None = None
        self._role = Role.NONE
        self._started = False
        self._diagnostics: list[Diagnostic] = []

    @property
    def identifier(self) -> Identifier | None:
        """The identifier in force after the messages read so far (None: unidentified)."""
        return self._identifier

    @property
    def role(self) -> Role:
        """The role in force after the messages read so far."""
        return self._role

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """What was noticed about the stream so far."""
        return tuple(self._diagnostics)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> StreamMessage:
        return self.take(next(self._messages))

    def take(self, message: object) -> StreamMessage:
        """The next *message* of the stream, given rather than read from ``messages``: for
        walks that are handed the messages one at a time.

        Raises:
            StreamError: *message* is not an :class:`~meshals.AlsMessage`, or the role rule
                returned something that is not a :class:`~meshals.Role`.
        """
        if not isinstance(message, AlsMessage):
            raise StreamError(f"a stream must hold AlsMessage values, not {message!r:.60}")
        if message.identifier is not None or not self._started:  # else nothing changes
            self._identify(message)
        return _new_stream_message(message, self._identifier, self._role, self.index)

    def _identify(self, message: AlsMessage) -> None:
        first = not self._started
        self._started = True
        identifier = message.identifier
        if identifier is None:
            if first:
                self._diagnostics.append(
                    Diagnostic(
                        kind=DiagnosticKind.NOTE,
                        location=_location(message),
                        reason="the stream's first message has no identifier: its entries are "
                        "skipped until a message brings one",
                    )
                )
            return
        if self._identifier is None or self._reidentify:
            self._adopt(identifier)
        elif identifier != self._identifier:
            self._diagnostics.append(
                Diagnostic(
                    kind=DiagnosticKind.NOTE,
                    location=_location(message),
                    reason="a later identifier differs from the stream's and is ignored "
                    "(use reidentify=True for multiplexed streams)",
                )
            )

    def _adopt(self, identifier: Identifier) -> None:
        role = self._role_rule(identifier)
        if not isinstance(role, Role):
            raise StreamError(f"the role rule returned {role!r:.60}, not a Role")
        self._identifier = identifier
        self._role = role


def split_streams(messages: Iterable[object]) -> Iterator[Iterable[AlsMessage]]:
    """The streams in *messages*: one stream of AlsMessage, or an iterable of such streams.

    Decided lazily by the first item: an :class:`~meshals.AlsMessage` (or an L4 connection
    line, :class:`~meshals.L4Connection`, of a ztunnel or Kmesh log) makes *messages* one
    stream; anything else makes it an iterable of streams. An empty input has no streams.

    Args:
        messages: one stream, or an iterable of streams.

    Returns:
        An iterator over the streams.

    Raises:
        StreamError: (while iterating) *messages* is not iterable, or a stream of streams holds
            an AlsMessage.

    >>> len(list(split_streams([AlsMessage(), AlsMessage()])))
    1
    >>> len(list(split_streams([[AlsMessage()], [AlsMessage()]])))
    2
    """
    if isinstance(messages, (str, bytes, bytearray)) or not isinstance(messages, Iterable):
        raise StreamError(f"expected AlsMessage values or streams of them, not {messages!r:.60}")
    items = iter(messages)
    for first in items:
        if isinstance(first, _RECORDS):
            yield itertools.chain((first,), items)  # type: ignore[arg-type]
            return
        yield _as_stream(first)
        for item in items:
            if isinstance(item, _RECORDS):
                raise StreamError(
                    f"a stream of streams holds an {type(item).__name__} among its streams"
                )
            yield _as_stream(item)
        return


# What one stream is made of: ALS messages, or the lines of an L4 connection log.
_RECORDS = (AlsMessage, L4Connection)


def _as_stream(item: object) -> Iterable[AlsMessage]:
    if isinstance(item, (str, bytes, bytearray)) or not isinstance(item, Iterable):
        raise StreamError(f"a stream must be an iterable of AlsMessage, not {item!r:.60}")
    return item
