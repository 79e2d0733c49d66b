"""Text to a JSON document for ``decode_json``: size, UTF-8, recorded files.

Well-formed input is read by :func:`json.loads` in one go, its members counted for
:mod:`meshals.codec._json_duplicates`. Text it refuses gets a second look: the
``.msg`` files Apache SkyWalking records have whole-line ``#`` and ``//`` comments, and text
may follow the first JSON value.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from meshals._errors import DecodeError

from ._json_duplicates import member_count
from ._json_walk import _Context

__all__: list[str] = []

_JSON_WHITESPACE = " \t\n\r"
_COMMENT_PREFIXES = ("#", "//")
_DECODER = json.JSONDecoder()


class _Loaded(NamedTuple):
    document: object
    trailing: str | None  # where text after the JSON value starts ("line 3 column 1"), if any
    text: str  # the text parsed (comment lines blanked), to parse again if a key repeats
    start: int  # where the JSON value starts in it
    pairs: int  # at least the members of its objects (see _json_duplicates.member_count)


class _NotTextError(DecodeError, TypeError):
    """decode_json() was given neither str nor bytes: a DecodeError, and a TypeError."""


def _load(text: str | bytes | bytearray, context: _Context) -> _Loaded:
    """The first JSON value in *text*, tolerating SkyWalking's recorded ``.msg`` files."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise _NotTextError(
            f"decode_json() needs str or bytes, not {type(text).__name__}",
            source=context.source,
            message_index=context.message_index,
        )
    limits = context.limits
    if len(text) > limits.max_message_size:
        unit = "characters" if isinstance(text, str) else "bytes"
        raise context.error(
            f"the message is {len(text)} {unit} long, more than the maximum of"
            f" {limits.max_message_size}"
        )
    context.check_strings = len(text) > limits.max_string_length
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as invalid:
            raise context.error(f"not UTF-8: invalid byte at offset {invalid.start}") from None
    text = text.removeprefix("\ufeff")
    try:
        document = json.loads(text)
    except RecursionError:
        raise context.error("invalid JSON: nested too deeply") from None
    except ValueError:
        return _load_recorded(text, context)  # comments, trailing text, or not JSON at all
    start = 0 if text[:1] == "{" else len(text) - len(text.lstrip(_JSON_WHITESPACE))
    return _Loaded(document, None, text, start, member_count(text, start, len(text)))


def _load_recorded(text: str, context: _Context) -> _Loaded:
    # Comment lines are blanked, not removed, so that positions in errors stay true. JSON
    # strings cannot span lines, so a line that starts with # or // is never inside one.
    cleaned = "\n".join(
        "" if line.lstrip().startswith(_COMMENT_PREFIXES) else line for line in text.split("\n")
    )
    start = len(cleaned) - len(cleaned.lstrip(_JSON_WHITESPACE))
    try:
        document, end = _DECODER.raw_decode(cleaned, start)
    except json.JSONDecodeError as invalid:
        raise context.error(
            f"invalid JSON: {invalid.msg} at line {invalid.lineno} column {invalid.colno}"
        ) from None
    except RecursionError:
        raise context.error("invalid JSON: nested too deeply") from None
    except ValueError:  # the only other ValueError: a number longer than int() converts
        raise context.error("invalid JSON: a number with too many digits") from None
    pairs = member_count(cleaned, start, end)
    rest = cleaned[end:]
    if not rest.strip(_JSON_WHITESPACE):
        return _Loaded(document, None, cleaned, start, pairs)
    trailing = end + len(rest) - len(rest.lstrip(_JSON_WHITESPACE))
    line = cleaned.count("\n", 0, trailing) + 1
    column = trailing - cleaned.rfind("\n", 0, trailing)
    return _Loaded(document, f"line {line} column {column}", cleaned, start, pairs)
