"""Repeated keys in one JSON object: a cheap count that rules them out, and their report.

:func:`json.loads` keeps the last value of a repeated key without a word; noticing the
repetition while parsing needs an ``object_pairs_hook``, a Python call per object that made
``decode_json`` 10-15% slower. Instead, the text's member count (:func:`member_count`, a few
``str.count`` calls in C) is compared with the members the walk read (``_Context.pairs``):
they are equal when no key repeats and the walk read every object, which is the common case.
Only when they differ is the text parsed again, with a hook that records each repeated key,
and :func:`report_duplicates` says which key repeats at which path and what was dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from meshals._errors import DiagnosticKind

from ._compiled import EXTENSION
from ._json_walk import _Context, _join, _printable

__all__: list[str] = []

# A member's key ends with a quote, then optional whitespace and the colon. A quote and colon
# inside a string are escaped (\":), so they can only make the count too high, never too low.
# Whitespace before a colon is rare (no printer writes it), so it is not counted: found, it
# sends the text to the slow path. (Searching from the colon is the fast way round.)
_SPACED_COLON = re.compile(r":(?<=[ \t\n\r]:)")
_LOG_KEYS = frozenset(("httpLogs", "http_logs", "tcpLogs", "tcp_logs"))
_ENTRY_KEYS = frozenset(("logEntry", "log_entry"))


def member_count(text: str, start: int, end: int) -> int:
    """The object members of the JSON value ``text[start:end]`` or more; -1: not counted."""
    if _SPACED_COLON.search(text, start, end) is not None:
        return -1
    return text.count('":', start, end)


# The same count in one pass of C, where the extension is loaded (a fifth of decode_json's
# own work on Envoy's messages otherwise).
counted_members: Callable[[str, int, int], int] = getattr(EXTENSION, "member_count", member_count)


class _Recorder:
    """An ``object_pairs_hook`` that keeps the last value and notes what each object lost."""

    def __init__(self) -> None:
        # id() of each object built with a repeated key -> (key, times, dropped values).
        # The document keeps every object alive, so no id is reused while this is read.
        self.found: dict[int, list[tuple[str, int, list[object]]]] = {}

    def __call__(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        built = dict(pairs)
        if len(built) != len(pairs):
            values: dict[str, list[object]] = {}
            for key, value in pairs:
                values.setdefault(key, []).append(value)
            self.found[id(built)] = [
                (key, len(seen), seen[:-1]) for key, seen in values.items() if len(seen) > 1
            ]
        return built


def report_duplicates(text: str, start: int, context: _Context) -> bool:
    """Report each repeated key of the JSON value at ``text[start:]``; whether there was one.

    In strict mode the first one raises. The value is parsed again, so call this only when
    :func:`member_count` says a key may repeat.

    Raises:
        DecodeError: in strict mode, if a key repeats.
    """
    recorder = _Recorder()
    document, _ = json.JSONDecoder(object_pairs_hook=recorder).raw_decode(text, start)
    if not recorder.found:
        return False  # the count differed for another reason (an unknown field's value)
    # Objects in document order, each with its path as written in the JSON.
    stack: list[tuple[object, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, steps = stack.pop()
        if type(value) is dict:
            for key, times, dropped in recorder.found.get(id(value), ()):
                _report(key, times, dropped, (*steps, key), context)
            stack.extend((item, (*steps, key)) for key, item in reversed(value.items()))
        elif type(value) is list:
            stack.extend((item, (*steps, i)) for i, item in reversed(list(enumerate(value))))
    return True


def _report(
    key: str, times: int, dropped: list[object], steps: tuple[str | int, ...], context: _Context
) -> None:
    path = ""
    for step in steps:
        path = f"{path}[{step}]" if isinstance(step, int) else _join(path, _printable(step))
    # Inside log_entry[i] (JSON path: httpLogs.logEntry[i]...), the problem is entry i's.
    in_entry = len(steps) > 3 and steps[0] in _LOG_KEYS and steps[1] in _ENTRY_KEYS
    entry_index = steps[2] if in_entry and type(steps[2]) is int else None
    reason = f"key {_printable(key)!r} appears {times} times in one object"
    lost = [(occurrence, _entries_of(value, steps)) for occurrence, value in enumerate(dropped, 1)]
    if not any(entries for _, entries in lost):
        context.entry_index = entry_index
        context.problem(reason, path, "kept the last")
        context.entry_index = None
        return
    # An earlier list of log entries was replaced: each of its entries counts as skipped.
    for occurrence, entries in lost:
        for position in range(len(entries)):
            outcome = f"kept the last, so entry {position} of occurrence {occurrence} is dropped"
            context.problem(reason, path, outcome, DiagnosticKind.ENTRY_SKIPPED)


def _entries_of(value: object, steps: tuple[str | int, ...]) -> list[object]:
    """The log entries a dropped *value* at *steps* held: an entry list, or its message."""
    if len(steps) == 1 and steps[0] in _LOG_KEYS and type(value) is dict:
        value = next((value[key] for key in _ENTRY_KEYS if key in value), None)
    elif not (len(steps) == 2 and steps[0] in _LOG_KEYS and steps[1] in _ENTRY_KEYS):
        return []
    return value if type(value) is list else []
