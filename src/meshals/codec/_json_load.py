"""Text to a JSON document for ``decode_json``: size, UTF-8, duplicate keys, recorded files.

Well-formed input is read by :func:`json.loads` in one go; strict mode adds an
``object_pairs_hook`` that refuses a repeated key. Text it refuses gets a second look: the
``.msg`` files Apache SkyWalking records have whole-line ``#`` and ``//`` comments, and text
may follow the first JSON value.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from meshals._errors import DecodeError

from ._json_walk import _Context, _printable

__all__: list[str] = []

_JSON_WHITESPACE = " \t\n\r"
_COMMENT_PREFIXES = ("#", "//")
_DECODER = json.JSONDecoder()


class _Loaded(NamedTuple):
    document: object
    trailing: str | None  # where text after the JSON value starts ("line 3 column 1"), if any


class _NotTextError(DecodeError, TypeError):
    """decode_json() was given neither str nor bytes: a DecodeError, and a TypeError."""


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object_pairs_hook for strict mode: the object, unless a key repeats."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch -- a repeated key is there to be found
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


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
        try:
            document = _STRICT_DECODER.decode(text) if context.strict else json.loads(text)
            return _Loaded(document, None)
        except RecursionError:
            raise context.error("invalid JSON: nested too deeply") from None
        except ValueError:
            pass  # comments, trailing text, or not JSON at all: look closer
        return _load_recorded(text, context)
    except _DuplicateKeyError as duplicate:
        key = _printable(duplicate.key)
        raise context.error(f"invalid JSON: key {key!r} appears twice in one object") from None


def _load_recorded(text: str, context: _Context) -> _Loaded:
    # Comment lines are blanked, not removed, so that positions in errors stay true. JSON
    # strings cannot span lines, so a line that starts with # or // is never inside one.
    cleaned = "\n".join(
        "" if line.lstrip().startswith(_COMMENT_PREFIXES) else line for line in text.split("\n")
    )
    start = len(cleaned) - len(cleaned.lstrip(_JSON_WHITESPACE))
    try:
        decoder = _STRICT_DECODER if context.strict else _DECODER
        document, end = decoder.raw_decode(cleaned, start)
    except json.JSONDecodeError as invalid:
        raise context.error(
            f"invalid JSON: {invalid.msg} at line {invalid.lineno} column {invalid.colno}"
        ) from None
    except RecursionError:
        raise context.error("invalid JSON: nested too deeply") from None
    except ValueError:  # the only other ValueError: a number longer than int() converts
        raise context.error("invalid JSON: a number with too many digits") from None
    rest = cleaned[end:]
    if not rest.strip(_JSON_WHITESPACE):
        return _Loaded(document, None)
    trailing = end + len(rest) - len(rest.lstrip(_JSON_WHITESPACE))
    line = cleaned.count("\n", 0, trailing) + 1
    column = trailing - cleaned.rfind("\n", 0, trailing)
    return _Loaded(document, f"line {line} column {column}")
