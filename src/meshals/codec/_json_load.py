"""Text to a JSON document for ``decode_json``: size, UTF-8, recorded files.

Well-formed input is read by :func:`json.loads` in one go, its members counted for
:mod:`meshals.codec._json_duplicates`. Text it refuses gets a second look: the
``.msg`` files Apache SkyWalking records have whole-line ``#`` and ``//`` comments, and text
may follow the first JSON value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from meshals._errors import DecodeError

from ._accelerated import _PURE
from ._compiled import EXTENSION, pure_switch
from ._json_duplicates import counted_members
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
    pairs: int  # at least the members of its objects (see _json_duplicates.counted_members)


class _NotTextError(DecodeError, TypeError):
    """decode_json() was given neither str nor bytes: a DecodeError, and a TypeError."""


def _orjson_loads() -> Callable[[str], object] | None:
    """orjson's ``loads``, if it is installed (the ``json`` extra) and may be used.

    Not with ``MESHALS_PURE=1``, and not without the compiled extension, whose scan tells
    which texts orjson reads as json.loads does.
    """
    if pure_switch() or not hasattr(EXTENSION, "orjson_reads_alike"):
        return None
    try:
        import orjson  # optional: the json extra
    except ImportError:
        return None
    loads: Callable[[str], object] = orjson.loads
    return loads


_ORJSON_LOADS = _orjson_loads()
_reads_alike: Callable[[str], bool] = getattr(EXTENSION, "orjson_reads_alike", None) or (
    lambda text: False
)


def loads(text: str) -> object:
    """``json.loads(text)``, by orjson where it is installed and reads *text* alike.

    (Not under :func:`~meshals.codec._accelerated.pure_path`, nor with ``MESHALS_PURE=1``.)

    orjson is 2-3 times faster. It refuses what JSON does not allow and json.loads does
    (NaN, an unpaired surrogate), and json.loads then reads it, or raises. Two things it
    reads otherwise, so texts that may hold them take json.loads (the extension's scan): an
    integer past 64 bits (a float in orjson, an int in json.loads), and nesting json.loads
    refuses (orjson reads 1,024 levels). Otherwise the two make equal documents, repeated keys
    included (the last value, in the first one's place).
    """
    if _ORJSON_LOADS is not None and not _PURE.get() and _reads_alike(text):
        try:
            return _ORJSON_LOADS(text)
        except ValueError:  # orjson.JSONDecodeError: json.loads decides, and says why
            pass
    return json.loads(text)


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
        document = loads(text)
    except RecursionError:
        raise context.error("invalid JSON: nested too deeply") from None
    except ValueError:
        return _load_recorded(text, context)  # comments, trailing text, or not JSON at all
    start = 0 if text[:1] == "{" else len(text) - len(text.lstrip(_JSON_WHITESPACE))
    return _Loaded(document, None, text, start, counted_members(text, start, len(text)))


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
    pairs = counted_members(cleaned, start, end)
    rest = cleaned[end:]
    if not rest.strip(_JSON_WHITESPACE):
        return _Loaded(document, None, cleaned, start, pairs)
    trailing = end + len(rest) - len(rest.lstrip(_JSON_WHITESPACE))
    line = cleaned.count("\n", 0, trailing) + 1
    column = trailing - cleaned.rfind("\n", 0, trailing)
    return _Loaded(document, f"line {line} column {column}", cleaned, start, pairs)
