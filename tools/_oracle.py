"""protobuf's own parsers as the oracle of meshals' decoders, and JSON mutated token by token.

The oracle is Envoy's generated ``StreamAccessLogsMessage`` (``xds-protos``) read by protobuf:
``json_format.Parse(..., ignore_unknown_fields=True)`` for JSON, upb's ``ParseFromString`` for
bytes. Its content is taken through meshals' :func:`~meshals.decode_message` of the parsed
object, so only the parsing is compared. The property (:func:`check_json`, :func:`check_binary`):

- what protobuf accepts, meshals decodes (lenient mode) to the same identifier and entries;
- what protobuf rejects, meshals raises ``DecodeError`` for in strict mode and, in lenient
  mode, raises or reports at least one diagnostic: never a silent difference;
- except where a deliberate leniency of meshals applies. Each has a name and a predicate here
  (:data:`JSON_LENIENCIES`) and is listed in ``docs/formats.md``.

The mutator (:func:`mutate`) works on the JSON's tokens, not its bytes: it repeats keys,
swaps values for ones of the wrong type, out-of-range or exponent-form numbers, bad
durations and timestamps, escapes and surrogates, and ``null``. A *choose* function
(``choose(n)`` gives 0..n-1) drives it, so Hypothesis and atheris share it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError

from meshals import AlsMessage, DecodeError, decode_binary, decode_json, decode_message

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

# --- the oracle ---------------------------------------------------------------------------------

Content = tuple[object, object, object]  # identifier, kind, entries


def content(message: AlsMessage) -> Content:
    """What a decoding says about the message: not where it came from, nor its diagnostics."""
    return (message.identifier, message.kind, message.entries)


# json_format's parser, corrected in one place: it iterates the value of a message field as
# the field names of an object, so a string ("httpLogs": "ab") reads as an object of unknown
# fields "a" and "b", which ignore_unknown_fields drops, and the message "parses". protobuf's
# C++ and Go parsers refuse a value that is not an object there, and so does this oracle.
_JsonFormatParser: Any = getattr(json_format, "_Parser")  # noqa: B009 -- private, untyped


class _ObjectsOnlyParser(_JsonFormatParser):  # type: ignore[misc]
    def _ConvertFieldValuePair(self, js: object, message: object, path: object) -> None:  # noqa: N802
        if not isinstance(js, dict):
            raise json_format.ParseError(f"a message needs a JSON object at {path}")
        super()._ConvertFieldValuePair(js, message, path)


def _not_json(token: str) -> object:
    # json.loads reads the tokens NaN, Infinity and -Infinity, which are not JSON (RFC 8259);
    # protobuf's C++, Go and upb parsers refuse them.
    raise ValueError(f"{token} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: json.loads makes it inf, protobuf's other parsers refuse it
        raise ValueError(f"{text} is out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    built = dict(pairs)
    if len(built) != len(pairs):
        raise json_format.ParseError("Failed to load JSON: duplicate key")
    return built


def protobuf_json(text: str | bytes) -> AlsMessage | None:
    """``json_format``'s reading of *text* (unknown fields ignored), or None if it refuses it.

    As ``json_format.Parse(text, message, ignore_unknown_fields=True)`` does it, with the
    correction above.
    """
    message = als_pb2.StreamAccessLogsMessage()
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        document = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_not_json, parse_float=_finite
        )
        _ObjectsOnlyParser(True, None, 100).ConvertMessage(document, message, None)
    except Exception:  # what json_format.Parse turns into its ParseError
        return None
    return decode_message(message)


def protobuf_binary(data: bytes) -> AlsMessage | None:
    """upb's reading of *data*, or None if it refuses it."""
    message = als_pb2.StreamAccessLogsMessage()
    try:
        message.ParseFromString(data)
    except ProtobufDecodeError:
        return None
    return decode_message(message)


def _decode(
    decode: Callable[..., AlsMessage], data: str | bytes, strict: bool
) -> AlsMessage | None:
    try:
        return decode(data, strict=strict)
    except DecodeError:
        return None


# --- deliberate leniencies (docs/formats.md, "Where meshals differs from protobuf") ------------


def _first_value(text: str) -> object:
    """The JSON value *text* holds, comment lines blanked as decode_json does, or None."""
    lines = (
        "" if line.lstrip().startswith(("#", "//")) else line
        for line in text.removeprefix("\ufeff").split("\n")
    )
    try:
        return json.JSONDecoder().raw_decode("\n".join(lines).lstrip(" \t\n\r"))[0]
    except (ValueError, RecursionError):
        return None


def comment_lines(text: str, meshals: AlsMessage | None) -> bool:
    """SkyWalking's recorded ``.msg`` files: whole-line ``#``/``//`` comments are skipped."""
    return any(line.lstrip().startswith(("#", "//")) for line in text.split("\n"))


def byte_order_mark(text: str, meshals: AlsMessage | None) -> bool:
    """A leading U+FEFF is skipped (``json.loads``, and so ``json_format``, refuses it)."""
    return text.startswith("\ufeff")


def v2_names(text: str, meshals: AlsMessage | None) -> bool:
    """v2's ``node.build_version`` (a string, reserved in v3) is kept; v3 ignores it."""
    node = None if meshals is None or meshals.identifier is None else meshals.identifier.node
    return node is not None and node.build_version is not None


def opaque_any(text: str, meshals: AlsMessage | None) -> bool:
    """An ``Any`` of a type meshals has no schema for keeps its JSON; protobuf may refuse it."""
    for entry in () if meshals is None else meshals.entries:
        common = entry.common_properties
        if common is None:
            continue
        typed = () if common.metadata is None else common.metadata.typed_filter_metadata.values()
        if any(not value.known for value in (*common.filter_state_objects.values(), *typed)):
            return True
    return False


def not_an_als_message(text: str, meshals: AlsMessage | None) -> bool:
    """An object none of whose members is an ALS field is refused (docs/formats.md)."""
    document = _first_value(text)
    return (
        isinstance(document, dict)
        and bool(document)
        and not any(key in _ALS_KEYS for key in document)
    )


_ALS_KEYS = frozenset(("identifier", "httpLogs", "http_logs", "tcpLogs", "tcp_logs"))
# What json_format reads with Python's int() and float(), and the proto3 JSON grammar does not
# have: a sign "+", surrounding whitespace, "_" between digits, a fraction without digits
# ("1.s") or with more than nine digits (rounded); true/false and fractions as enum numbers.
_PYTHON_NUMBER = re.compile(
    r"(?:got string|value) '(?:[+ \t\n\r].*|.*[ \t\n\r]s?|[^']*_[^']*|-?[0-9]+\.s"
    r")'|got string '-?[0-9]+\.[0-9]{10,}|got (?:true|false)"
    r"|\(int32\), got number -?[0-9]*\.[0-9]+"
)


def python_number_syntax(text: str, meshals: AlsMessage | None) -> bool:
    """json_format accepts Python's number syntax ("+1", " 1", "1_0", "1.s", 1.5 as an enum)."""
    return _reported(meshals, _PYTHON_NUMBER)


# json_format reads timestamps with time.strptime, which takes one-digit fields
# ("09:08:1.5Z") and UTC offsets of 24 hours or more ("+25:00"); RFC 3339 has neither.
_STRPTIME_TIMESTAMP = re.compile(
    r"has an invalid UTC offset|timestamp string, got string "
    r"'[0-9]{4}-(?:[0-9]{1,2}-){1,2}[0-9]{1,2}[Tt](?:[0-9]{1,2}:){1,2}[0-9]{1,2}[.Zz+-]"
)


def python_timestamp_syntax(text: str, meshals: AlsMessage | None) -> bool:
    """json_format takes what strptime takes: one-digit fields, offsets of 24 hours or more."""
    return _reported(meshals, _STRPTIME_TIMESTAMP)


def _reported(meshals: AlsMessage | None, reason: re.Pattern[str]) -> bool:
    return meshals is not None and any(
        reason.search(diagnostic.reason) for diagnostic in meshals.diagnostics
    )


JSON_LENIENCIES: dict[str, Callable[[str, AlsMessage | None], bool]] = {
    "comment-lines": comment_lines,
    "byte-order-mark": byte_order_mark,
    "v2-names": v2_names,
    "opaque-any": opaque_any,
    "not-an-als-message": not_an_als_message,
    "python-number-syntax": python_number_syntax,
    "python-timestamp-syntax": python_timestamp_syntax,
}


def leniencies(text: str, meshals: AlsMessage | None) -> list[str]:
    """The names of the deliberate leniencies that apply to *text* (meshals' reading given)."""
    return [name for name, applies in JSON_LENIENCIES.items() if applies(text, meshals)]


# --- the properties ------------------------------------------------------------------------------


def check_json(text: str) -> str:
    """Assert the JSON property for *text*; what happened ("accepted", "rejected", a leniency)."""
    lenient = _decode(decode_json, text, strict=False)
    strict = _decode(decode_json, text, strict=True)
    expected = protobuf_json(text)
    excused = leniencies(text, lenient)
    if expected is not None:
        if excused:
            return excused[0]
        assert lenient is not None, "protobuf accepts, lenient decode_json raises"
        assert content(lenient) == content(expected), "protobuf and decode_json disagree"
        return "accepted"
    if excused:
        return excused[0]
    assert strict is None, "protobuf refuses, strict decode_json accepts"
    assert lenient is None or lenient.diagnostics, "protobuf refuses, lenient decode_json is silent"
    return "rejected"


def check_binary(data: bytes) -> str:
    """Assert the binary property for *data*; what happened ("accepted" or "rejected")."""
    lenient = _decode(decode_binary, data, strict=False)
    strict = _decode(decode_binary, data, strict=True)
    expected = protobuf_binary(data)
    if expected is not None:
        assert lenient is not None, "upb accepts, lenient decode_binary raises"
        assert content(lenient) == content(expected), "upb and decode_binary disagree"
        return "accepted"
    assert strict is None, "upb refuses, strict decode_binary accepts"
    assert lenient is None or lenient.diagnostics, "upb refuses, lenient decode_binary is silent"
    return "rejected"


# --- JSON as tokens ------------------------------------------------------------------------------

# A node of the token tree: an object is a list of (key literal, node) pairs, so keys may
# repeat; an array a tuple of nodes; a scalar its literal JSON text.
Node = Union[list[tuple[str, "Node"]], tuple["Node", ...], str]  # noqa: UP007 -- recursive


def tokens(value: object) -> Node:
    """The token tree of a JSON value read with ``object_pairs_hook=list``."""
    if isinstance(value, list) and all(isinstance(item, tuple) for item in value):
        return [(json.dumps(key), tokens(item)) for key, item in value]
    if isinstance(value, list):
        return tuple(tokens(item) for item in value)
    return json.dumps(value)


def text_of(node: Node) -> str:
    """The JSON text of a token tree."""
    if isinstance(node, list):
        return "{" + ", ".join(f"{key}: {text_of(item)}" for key, item in node) + "}"
    if isinstance(node, tuple):
        return "[" + ", ".join(text_of(item) for item in node) + "]"
    return node


def parse(text: str) -> tuple[str, Node]:
    """A seed's comment prefix (SkyWalking's files) and the token tree of its JSON value."""
    lines = ("" if line.lstrip().startswith(("#", "//")) else line for line in text.split("\n"))
    blanked = "\n".join(lines)
    start = blanked.index("{")
    value = json.JSONDecoder(object_pairs_hook=list).raw_decode(blanked, start)[0]
    return text[:start], tokens(value)


# Literal tokens the mutator writes in place of a value, by what they break.
REPLACEMENTS: tuple[str, ...] = (
    # wrong types and null
    "null",
    "true",
    "false",
    "{}",
    "[]",
    '""',
    '"x"',
    "[null]",
    '{"a": null}',
    # out of range and exponent forms of integers
    "-1",
    "4294967296",
    '"4294967296"',
    "18446744073709551616",
    '"18446744073709551615"',
    "2147483648",
    '"-9223372036854775809"',
    "1e3",
    '"1e3"',
    "1.0",
    '"1.0"',
    "1.5",
    "10E-1",
    '"1e400"',
    "1e400",
    "-0",
    '"-0"',
    '" 1"',
    '"0x10"',
    '"+1"',
    "0.0000001e7",
    '"1."',
    '".5"',
    "NaN",
    '"NaN"',
    "Infinity",
    '"-Infinity"',
    "1E+2",
    '"12345678901234567890123"',
    # durations
    '"1s"',
    '"1.5s"',
    '"-0.5s"',
    '"1.0000000001s"',
    '"315576000001s"',
    '"1"',
    '"1.s"',
    '"-315576000000.999999999s"',
    '"1S"',
    '"+1s"',
    '"1e3s"',
    '"0.5 s"',
    '"0000000000001s"',
    '".123456789s"',
    # timestamps
    '"2019-04-13T03:59:53Z"',
    '"2019-04-13T03:59:53.123456789Z"',
    '"2019-04-13t03:59:53z"',
    '"2019-04-13T03:59:60Z"',
    '"2019-13-13T03:59:53Z"',
    '"2019-02-29T00:00:00Z"',
    '"0000-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59.999999999Z"',
    '"2019-04-13T03:59:53+25:00"',
    '"2019-04-13T03:59:53.1234567891Z"',
    '"2019-04-13 03:59:53Z"',
    '"2019-04-13T03:59:53-00:30"',
    '"10000-01-01T00:00:00Z"',
    '"2019-04-13T03:59:53"',
    # strings: escapes and surrogates
    r'"\u00e9"',
    r'"\ud83d\ude00"',
    r'"\ud800"',
    r'"\udc00x"',
    r'"\u0000"',
    r'"a\/b"',
    r'"\""',
    '"\u00e9"',
    '"\x7f"',
    r'"\t"',
    # base64 and enums
    '"AAEC"',
    '"AAE="',
    '"-_8"',
    '"A"',
    '"A==="',
    '"HTTP2"',
    '"BOGUS"',
    "3",
    "99",
    '"7"',
)
KEYS: tuple[str, ...] = ('"bogus"', '"@type"', r'"\u0070ath"', '"path"', '""')


def _nodes(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Every node's path (child positions), the root's first."""
    yield path
    children = [item for _, item in node] if isinstance(node, list) else node
    if not isinstance(node, str):
        for position, child in enumerate(children):
            yield from _nodes(child, (*path, position))


def _replace(node: Node, path: tuple[int, ...], change: Callable[[Node], Node]) -> Node:
    if not path:
        return change(node)
    first, rest = path[0], path[1:]
    if isinstance(node, list):
        key, child = node[first]
        return [*node[:first], (key, _replace(child, rest, change)), *node[first + 1 :]]
    assert isinstance(node, tuple)
    return (*node[:first], _replace(node[first], rest, change), *node[first + 1 :])


def _mutate_node(node: Node, choose: Callable[[int], int]) -> Node:
    kind = choose(5)
    if kind == 0 or (not isinstance(node, list) and kind in (1, 2)):
        return REPLACEMENTS[choose(len(REPLACEMENTS))]  # a value swapped
    if isinstance(node, list) and node:
        position = choose(len(node))
        key, item = node[position]
        if kind == 1:  # a key repeated, with this value or another one
            other = item if choose(2) else REPLACEMENTS[choose(len(REPLACEMENTS))]
            return [*node, (key, other)] if choose(2) else [(key, other), *node]
        if kind == 2:  # a key dropped or renamed
            renamed = [(KEYS[choose(len(KEYS))], item)] if choose(2) else []
            return [*node[:position], *renamed, *node[position + 1 :]]
    if isinstance(node, tuple) and node and kind == 3:  # an element repeated or nulled
        position = choose(len(node))
        return (*node, node[position]) if choose(2) else (*node[:position], "null")
    if isinstance(node, str) and node.startswith('"') and kind == 4:  # a string escaped
        return '"' + "".join(f"\\u{ord(c):04x}" for c in json.loads(node)) + '"'
    return node


def mutate(node: Node, choose: Callable[[int], int], times: int) -> Node:
    """*node* with *times* token-level mutations, each at a node *choose* picks."""
    for _ in range(times):
        paths = list(_nodes(node))
        path = paths[choose(len(paths))]
        node = _replace(node, path, lambda target: _mutate_node(target, choose))
    return node


def seed_texts() -> list[str]:
    """The seeds: each message of the Envoy recordings (JSON Lines) and SkyWalking's files."""
    texts = [
        line
        for path in sorted((FIXTURES / "envoy").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    # envoy-metric.msg is SkyWalking's metrics service, not ALS.
    recorded = sorted((FIXTURES / "skywalking").glob("*.msg"))
    recorded = [path for path in recorded if path.name != "envoy-metric.msg"]
    return texts + [path.read_text(encoding="utf-8") for path in recorded]
