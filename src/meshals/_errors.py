"""The exceptions meshals raises for bad input, and the diagnostics it reports instead.

MeshalsError
 ├─ AggregateError (ValueError) an aggregate cannot be built or merged as asked
 ├─ DecodeError (ValueError)    input is not a valid ALS message, entry or container
 ├─ EncodeError (ValueError)    the model holds something the wire format cannot carry
 ├─ ResolverError (ValueError)  a static table, Kubernetes snapshot or name template is malformed
 └─ StreamError (TypeError)     something given as a stream is not an iterable of AlsMessage

Any other exception escaping a public function on bad input is a bug.
"""

from __future__ import annotations

import enum
import json

import attrs

__all__ = [
    "AggregateError",
    "DecodeError",
    "Diagnostic",
    "DiagnosticKind",
    "EncodeError",
    "Location",
    "MeshalsError",
    "ResolverError",
    "StreamError",
]


def map_entry_path(path: str, key: str) -> str:
    """The field path of one map entry, the key JSON-quoted: ``custom_tags["team"]``."""
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return f'{path}["{key}"]'  # what json.dumps gives, without its cost (hot: map keys)
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON input only): keep the path printable
        return f"{path}[{json.dumps(key)}]"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


@attrs.frozen(kw_only=True)
class Location:
    """Where in the input something was found.

    ``message_index`` counts messages in a file or stream from 0, ``entry_index`` counts log
    entries inside one message from 0, and ``field`` is a dotted path in protobuf field names
    (``common_properties.start_time``). Each part is None where it does not apply.
    """

    source: str = "<input>"
    message_index: int | None = None
    entry_index: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.message_index is not None:
            parts.append(f"message {self.message_index}")
        if self.entry_index is not None:
            parts.append(f"entry {self.entry_index}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


class DiagnosticKind(enum.Enum):
    """What lenient mode did about a problem: the outcome, one word for each unit it dropped.

    The values are stable strings, fit for JSON output and filters.
    """

    #: A value was off-spec or unknown (a bad or unknown field, both members of a oneof,
    #: trailing text, a binary identifier that does not parse): it was ignored, defaulted or
    #: kept as read, as the reason says. The entry and the message holding it are kept.
    VALUE_IGNORED = "value-ignored"
    #: One log entry was left out of its message (``location.entry_index`` says which).
    ENTRY_SKIPPED = "entry-skipped"
    #: One whole message was left out of a stream (JSON Lines, delimited, gRPC).
    MESSAGE_SKIPPED = "message-skipped"
    #: One line of an L4 access log (one connection) was left out.
    LINE_SKIPPED = "line-skipped"
    #: A part bigger than one entry was lost, of a size that is not counted: the rest of a
    #: stream whose framing broke, the rest of a binary message or entry list cut off, or an
    #: entry list that the other member of the ``log_entries`` oneof replaced.
    PART_SKIPPED = "part-skipped"
    #: More problems of one message than ``Limits.max_diagnostics``: this one counts the
    #: rest, whose kinds are not known.
    NOT_LISTED = "not-listed"
    #: A note from the analysis of a stream; nothing was dropped while reading (a stream
    #: without an identifier, an identifier that changes, a node without a role, a peer
    #: object ignored). What the analysis skipped is in its accounting. Also what a
    #: resolver's input cannot name (``KubernetesResolver.diagnostics``).
    NOTE = "note"


@attrs.frozen(kw_only=True)
class Diagnostic:
    """A problem that lenient decoding tolerated: what was done, where, and why.

    ``kind`` is the outcome as a :class:`DiagnosticKind`; ``reason`` says it in words (and
    ``str()`` gives the location and the reason, without the kind).
    """

    kind: DiagnosticKind
    location: Location
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class MeshalsError(Exception):
    """Base class of every exception meshals raises on purpose."""


class DecodeError(MeshalsError, ValueError):
    """The input is not a valid ALS message, entry or container.

    Attributes name the place: ``source`` (file name or ``<bytes>``), ``message_index``,
    ``entry_index``, ``field`` (dotted protobuf field path) and ``reason`` (the message
    without the location).
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<input>",
        message_index: int | None = None,
        entry_index: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.location = Location(
            source=source, message_index=message_index, entry_index=entry_index, field=field
        )
        super().__init__(str(self))

    @property
    def source(self) -> str:
        return self.location.source

    @property
    def message_index(self) -> int | None:
        return self.location.message_index

    @property
    def entry_index(self) -> int | None:
        return self.location.entry_index

    @property
    def field(self) -> str | None:
        return self.location.field

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions.
        return (_rebuild_decode_error, (self.reason, self.location))

    def relocated(self, **changes: object) -> DecodeError:
        """A copy with parts of the location filled in (e.g. the message index, once known)."""
        location = attrs.evolve(self.location, **changes)  # type: ignore[arg-type]
        return _rebuild_decode_error(self.reason, location)


def _rebuild_decode_error(reason: str, location: Location) -> DecodeError:
    return DecodeError(
        reason,
        source=location.source,
        message_index=location.message_index,
        entry_index=location.entry_index,
        field=location.field,
    )


class EncodeError(MeshalsError, ValueError):
    """The model holds a value the ALS wire format cannot carry.

    For example an :class:`~meshals.model.OpaqueJson` ``Any`` payload (decoded from JSON without its
    type's schema, so there are no bytes to write), a number outside its field's range, or an
    entry of the wrong kind. ``field`` is the dotted protobuf field path, ``reason`` the message
    without it.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions.
        return (_rebuild_encode_error, (self.reason, self.field))


def _rebuild_encode_error(reason: str, field: str | None) -> EncodeError:
    return EncodeError(reason, field=field)


class ResolverError(MeshalsError, ValueError):
    """Resolver input is malformed: a static table, a Kubernetes snapshot or a name template.

    Attributes: ``reason`` (the message without the place), ``source`` (a file name, or
    ``<json>`` / ``<mapping>``, or for a template its name and text), ``path`` (a JSON path
    such as ``$.items[3].status.podIP``, or None) and ``column`` (1-based, in a template, or
    None).

    >>> print(ResolverError("bad port 'x'", source="static.json", path='$["10.0.0.1:x"]'))
    static.json, $["10.0.0.1:x"]: bad port 'x'
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<input>",
        path: str | None = None,
        column: int | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.path = path
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        place = [self.source]
        if self.path is not None:
            place.append(self.path)
        if self.column is not None:
            place.append(f"column {self.column}")
        return f"{', '.join(place)}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions.
        return (_rebuild_resolver_error, (self.reason, self.source, self.path, self.column))


def _rebuild_resolver_error(
    reason: str, source: str, path: str | None, column: int | None
) -> ResolverError:
    return ResolverError(reason, source=source, path=path, column=column)


class StreamError(MeshalsError, TypeError):
    """Something given as a stream is not an iterable of :class:`~meshals.AlsMessage`."""


class AggregateError(MeshalsError, ValueError):
    """An aggregate cannot be built or merged as asked.

    Raised for a bad time window (``"5x"``), a relative accuracy out of range, a quantile
    outside [0, 1], or a merge of aggregates built with different settings (accuracy, window,
    scope).
    """
