"""Generated converters of the JSON walk for clean input, and the fallback to the exact walk.

The table-driven walk of :mod:`meshals.codec._json_walk` pays, for every member of every
object, a table look-up, a dispatch on the field's kind, a keyword-argument dict and attrs'
``__init__``. Most input is clean: Envoy's own lowerCamelCase names, every value valid. For it,
:func:`fast_converter` writes (once, at import, from the same field tables) one Python function
per message type that looks each field up by its JSON name, converts it with the table's own
parser and builds the model object positionally with its slot constructor
(:mod:`meshals.model._construct`).

Such a converter does not report problems: it gives up (raises :class:`SlowPathError`, or lets the
parser's error out) at anything it does not handle exactly as the walk would: a member that is
not one of its lowerCamelCase names (an unknown field, a snake_case name, ``null``), a value
its parser refuses, a required field that is missing. :func:`fast_or_walk` wraps one converter
around a unit (a log entry): it notes the context's counts, tries the generated converter,
and if it gave up, or if anything below it (a nested converter of the walk, used where there is
no generated one) recorded a problem, it puts the counts back and converts the unit again with
the walk, which then reports exactly what it always has. So the result, the diagnostics and
the errors are the walk's by construction; the generated converter only decides how fast.
:func:`clean_message` does the same for the message around the entries: the usual shape is
read directly, anything else by the walk. :func:`walk_only` turns both off within a ``with``
block, so that tests can compare the two paths on the same input.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from meshals._errors import DecodeError

from ._compiled import slot_constructor
from ._json_scalars import InvalidValueError, parse_string
from ._json_walk import MESSAGE_TABLES, _Context, _Convert, _json_name, _message, _Table
from ._limits import LimitExceeded

__all__: list[str] = []

# A generated converter: (JSON value, context) -> model object; raises to give up.
FastConvert = Callable[[object, _Context], Any]


class SlowPathError(Exception):
    """A generated converter met input it does not handle: the walk converts it instead."""


_SLOW = SlowPathError()
# What a generated converter (or the walk's converters it calls) raises on input it leaves
# to the walk; the walk raises or reports the same problem itself, where it belongs.
_GIVE_UP = (SlowPathError, InvalidValueError, LimitExceeded, DecodeError)

_WALK_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("json_walk_only", default=False)


@contextlib.contextmanager
def walk_only() -> Iterator[None]:
    """Convert with the table-driven walk alone, within the ``with`` block (this context)."""
    token = _WALK_ONLY.set(True)
    try:
        yield
    finally:
        _WALK_ONLY.reset(token)


# One generated converter per converter of the walk that it replaces (see fast_converter).
_GENERATED: dict[_Convert, FastConvert] = {}


def fast_converter(
    model: type,
    table: _Table,
    *,
    spread: Mapping[str, tuple[str, str]] | None = None,
    replaces: _Convert | None = None,
) -> FastConvert:
    """Generate the converter of *model* from its field *table* (lowerCamelCase names only).

    Args:
        model: the attrs class the walk builds from *table* (by keyword).
        table: the walk's field table of the message.
        spread: fields whose converter returns a pair of values for two attributes
            (``response_flags`` -> the flags and the unauthorized reason).
        replaces: the walk's converter this one stands for, so that tables that nest the
            message use this converter for it (the walk's converters made by ``_message``
            are found without it).

    Returns:
        ``convert(raw, context)``: the model object, as the walk's converter would build it
        from clean input; raises (see :data:`_GIVE_UP`) on anything else.
    """
    spread = spread or {}
    by_attr = {field.attr: field for field in table.values()}
    for name, attrs_of in spread.items():
        for attr in attrs_of:
            by_attr[attr] = table[name]
    namespace: dict[str, Any] = {
        "_new": slot_constructor(model),
        "_SLOW": _SLOW,
        "_parse_string": parse_string,
    }
    fields = attrs.fields(model)
    positions = {field.name: position for position, field in enumerate(fields)}
    body: list[str] = []
    done: set[str] = set()
    for position, field in enumerate(fields):
        table_field = by_attr.get(field.name)
        if table_field is None:  # not in JSON (AlsMessage's source): the model's default
            namespace[f"_d{position}"] = field.default
            body.append(f"    a{position} = _d{position}")
            continue
        if table_field.name in done:  # the second attribute of a spread field: set already
            continue
        done.add(table_field.name)
        targets = [field.name] if table_field.name not in spread else list(spread[table_field.name])
        names = [f"a{positions[attr]}" for attr in targets]
        key = _json_name(table_field.name)
        body.append(f"    v = get({key!r})")
        body.append("    if v is None:")
        for name, attr in zip(names, targets, strict=True):
            default = fields[positions[attr]].default
            if default is attrs.NOTHING:  # required: the walk's keyword call fails
                body.append("        raise _SLOW")
                break
            namespace[f"_d_{attr}"] = default
            body.append(f"        {name} = _d_{attr}")
        body.append("    else:")
        body.append("        n -= 1")
        value = _conversion(table_field.convert, table_field.nested, position, namespace)
        body.append(f"        {', '.join(names)} = {value}")
    source = [
        f"def convert_{model.__name__}(raw, context):",
        "    if type(raw) is not dict:",
        "        raise _SLOW",
        "    n = len(raw)",
        "    context.pairs += n",
        "    get = raw.get",
        *body,
        "    if n:",  # a member not looked up: unknown, snake_case or null
        "        raise _SLOW",
        f"    return _new({', '.join(f'a{position}' for position in range(len(fields)))})",
    ]
    exec("\n".join(source), namespace)  # built from field names and table positions only
    convert: FastConvert = namespace[f"convert_{model.__name__}"]
    if replaces is not None:
        _GENERATED[replaces] = convert
    return convert


def _conversion(
    convert: _Convert | None, nested: bool, position: int, namespace: dict[str, Any]
) -> str:
    """The expression that converts ``v`` for the field at *position*."""
    if convert is None:  # a plain string, checked inline as the walk does
        return "v if type(v) is str and v.isascii() else _parse_string(v)"
    namespace[f"_c{position}"] = convert
    if not nested:
        return f"_c{position}(v)"
    generated = _GENERATED.get(convert)
    if generated is None and convert in MESSAGE_TABLES:
        model, table = MESSAGE_TABLES[convert]
        generated = fast_converter(model, table, replaces=convert)
    if generated is not None:
        namespace[f"_c{position}"] = generated
        return f"_c{position}(v, context)"
    # The walk's own converter: its path only names problems, and a problem sends the whole
    # unit back to the walk (fast_or_walk), which then converts it with the true path.
    return f"_c{position}(v, context, '')"


def fast_or_walk(fast: FastConvert, walk: _Convert) -> _Convert:
    """A converter of the walk's shape that tries *fast* first and falls back to *walk*.

    The context's diagnostics and member count are put back as they were before *walk* runs,
    so what it reports and counts is all there is; a result of *fast* is kept only if nothing
    was reported while it ran.
    """

    walk_only = _WALK_ONLY.get

    def convert(raw: object, context: _Context, path: str) -> object:
        if walk_only():
            return walk(raw, context, path)
        diagnostics = context.diagnostics
        kept, left_out, pairs = len(diagnostics), context.left_out, context.pairs
        try:
            value = fast(raw, context)
        except _GIVE_UP:
            pass
        else:
            if len(diagnostics) == kept and context.left_out == left_out:
                return value
        del diagnostics[kept:]
        context.left_out, context.pairs = left_out, pairs
        return walk(raw, context, path)

    return convert


def fast_or_walk_message(model: type, table: _Table) -> _Convert:
    """The converter of a message (a log entry): generated for clean input, else the walk."""
    return fast_or_walk(fast_converter(model, table), _message(model, table))


def clean_message(
    document: dict[str, object],
    context: _Context,
    identifier: _Convert,
    entry_lists: Mapping[str, tuple[str, _Convert]],
) -> dict[str, Any] | None:
    """The walk's field values of a usual ``StreamAccessLogsMessage``, or None: walk it.

    Usual: lowerCamelCase names, no ``null``, an ``identifier`` object and at most one entry
    list, an object of its ``logEntry`` array alone, within ``max_entries``. The walk's own
    converters convert the parts, with the walk's paths, in the document's order; only the
    generic reading of these two small objects (and the oneof check) is skipped.

    Args:
        document: the JSON object of the message.
        context: the decoding context.
        identifier: the walk's converter of the identifier.
        entry_lists: ``httpLogs``/``tcpLogs`` -> the field's protobuf name and the walk's
            converter of its ``log_entry`` array.
    """
    if _WALK_ONLY.get():
        return None
    lists = 0
    for key, item in document.items():
        if key == "identifier":
            if type(item) is not dict:
                return None
        elif key in entry_lists:
            lists += 1
            if type(item) is not dict or len(item) != 1:
                return None
            entries = item.get("logEntry")
            if type(entries) is not list or len(entries) > context.limits.max_entries:
                return None
        else:
            return None
    if lists > 1:
        return None
    context.pairs += len(document)
    values: dict[str, Any] = {}
    for key, item in document.items():
        if key == "identifier":
            # What it raises needs no locating: its walk locates it (identifier.<field>).
            values["identifier"] = identifier(item, context, "identifier")
        else:
            name, convert_entries = entry_lists[key]
            context.pairs += 1
            entries = item["logEntry"]  # type: ignore[index]
            values[name] = convert_entries(entries, context, f"{name}.log_entry")
    return values
