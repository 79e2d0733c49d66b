"""``decode_json``: the proto3 JSON form of a StreamAccessLogsMessage, straight into the model.

The text becomes a JSON document in :mod:`meshals.codec._json_load` (by orjson where it is
installed and reads the text alike); the document is walked by the field tables of
:mod:`meshals.codec._json_messages`, one per message type, with the machinery of
:mod:`meshals.codec._json_walk`, whose :class:`_Context` turns a problem into a
:class:`DecodeError` in strict mode and into a :class:`Diagnostic` (the value skipped)
otherwise. Leaf values are parsed by :mod:`meshals.codec._json_scalars`. Clean log entries
take faster converters built from the same tables: compiled (:mod:`meshals.codec._json_compiled`)
where the extension is, generated Python (:mod:`meshals.codec._json_fast`) otherwise.
"""

from __future__ import annotations

import itertools
import json

import attrs

from meshals.model._als import AlsMessage

from ._json_duplicates import report_duplicates
from ._json_load import _load
from ._json_messages import _STREAM_MESSAGE, _als_message
from ._json_scalars import describe
from ._json_walk import _Context, _printable
from ._limits import DEFAULT_LIMITS, LimitExceeded, Limits

__all__ = ["decode_json"]

# How many of an object's member names "not an ALS message" lists.
_MEMBERS_SHOWN = 3


def decode_json(
    text: str | bytes | bytearray,
    *,
    source: str = "<json>",
    index: int | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> AlsMessage:
    """Decode one ``StreamAccessLogsMessage`` in proto3 JSON form.

    Both field spellings (``startTime``, ``start_time``) and every form the proto3 JSON
    mapping allows are accepted, as is the v2 ``node.buildVersion``. Recorded ``.msg`` files
    as Apache SkyWalking keeps them also decode: whole-line ``#`` and ``//`` comments are
    skipped, and text after the first JSON value is ignored with a diagnostic.

    Args:
        text: The JSON, as str or UTF-8 bytes (a leading byte-order mark is allowed).
        source: Where the text came from, for error locations (a file name).
        index: The message's position in its file or stream, if it has one.
        strict: Raise on anything off-spec (unknown fields, bad values, trailing text,
            a key repeated in one object) instead of skipping it and recording a
            :class:`Diagnostic`.
        limits: The resource limits (:class:`~meshals.codec.Limits`); an entry that breaks a
            per-value limit (nesting, string length) is skipped in lenient mode.

    Returns:
        The message, with its ``diagnostics`` listing what lenient decoding skipped. A key
        repeated in one object keeps its last value, as :func:`json.loads` does, and each
        repetition is reported (the entries of a dropped entry list as skipped entries).

    Raises:
        DecodeError: The text is not JSON, its top-level value is not an object or is not an
            ALS message (an object with members, none of them ``identifier``, ``httpLogs``,
            ``tcpLogs``, ``http_logs`` or ``tcp_logs``: other JSON, in both modes), it breaks
            a message-wide limit (size, entries) or a limit outside the entries (in the
            identifier), or (in strict mode) any value breaks the mapping. ``field`` names
            the protobuf field path (``http_logs.log_entry[0].common_properties.start_time``)
            and ``entry_index`` the entry. A *text* that is neither str nor bytes raises a
            DecodeError that is also a :class:`TypeError`. No other exception is raised
            for bad input.

    >>> message = decode_json('{"httpLogs": {"logEntry": [{"response": {"responseCode": 200}}]}}')
    >>> message.kind, message.entries[0].response.response_code
    ('http', 200)
    >>> decode_json('{"httpLogs": {}, "bogus": 1}').diagnostics[0].reason
    "unknown field 'bogus'; ignored"
    """
    context = _Context(source, index, strict, limits)
    loaded = _load(text, context)
    document, trailing = loaded.document, loaded.trailing
    if type(document) is not dict:
        raise context.error(
            f"expected a JSON object (StreamAccessLogsMessage), got {describe(document)}"
        )
    _check_is_als_message(document, context)
    if trailing is not None:  # SkyWalking's recordings: the first value is the message
        context.problem(f"trailing text after the JSON value at {trailing}", None)
    try:
        message = _als_message(document, context)
    except LimitExceeded as exceeded:  # outside any entry: the message as a whole
        raise context.error(exceeded.reason, exceeded.field) from None
    # Fewer members read than the text has: a key may repeat (json.loads kept its last value).
    if context.pairs != loaded.pairs and report_duplicates(loaded.text, loaded.start, context):
        message = attrs.evolve(message, diagnostics=context.message_diagnostics())
    return message


def _check_is_als_message(document: dict[str, object], context: _Context) -> None:
    """Raise if *document* has members but none of StreamAccessLogsMessage's.

    Such an object is other JSON (a test's ground truth, a Kubernetes list, a metric record),
    not a message with a few unknown fields: lenient decoding would make an empty message of
    it and bury the mistake under "unknown field" notes. ``{}`` stays the empty message that
    proto3 JSON says it is.
    """
    if not document:
        return
    for key in document:
        if key in _STREAM_MESSAGE:
            return
    names = [json.dumps(_printable(key)) for key in itertools.islice(document, _MEMBERS_SHOWN)]
    more = ", ..." if len(document) > _MEMBERS_SHOWN else ""
    raise context.error(
        f"not an ALS message: a JSON object whose members ({', '.join(names)}{more}) include"
        " none of identifier, httpLogs, tcpLogs (http_logs, tcp_logs)"
    )
