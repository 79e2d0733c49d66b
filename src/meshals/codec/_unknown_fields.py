"""Finding the unknown fields protobuf's parser kept in a parsed message, with their paths.

The binary decoder reports each (``_binary``); the accelerator's callbacks only ask whether a
sub-message has any (``_accelerated``), and leave a message that has to the pure path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.protobuf.message
from google.protobuf.unknown_fields import UnknownFieldSet

from meshals._errors import map_entry_path

from ._wire import wire_type_name

__all__: list[str] = []

# The oneof members of StreamAccessLogsMessage that hold entry lists.
ENTRY_LISTS = frozenset({"http_logs", "tcp_logs"})


def has_unknown_fields(message: Any) -> bool:
    """Whether *message*, or a message in it, holds an unknown field (or a known one with a
    wrong wire type, which protobuf keeps as unknown)."""
    return next(_unknown_fields_in(message, "", None, None), None) is not None


def unknown_fields(
    message: Any, entry_numbers: list[int] | None
) -> Iterator[tuple[str | None, int | None, str]]:
    """Yield ``(field path, entry index, reason)`` for each unknown field, in field order.

    *entry_numbers* maps entry positions to the original message's (see ``_Salvage``).
    """
    yield from _unknown_fields_in(message, "", None, entry_numbers)


def _unknown_fields_in(
    message: Any, path: str, entry_index: int | None, entry_numbers: list[int] | None
) -> Iterator[tuple[str | None, int | None, str]]:
    unknowns = UnknownFieldSet(message)
    known_fields = message.DESCRIPTOR.fields_by_number
    for unknown in (unknowns[position] for position in range(len(unknowns))):
        number = unknown.field_number
        wire_type = wire_type_name(unknown.wire_type)
        if number in known_fields:  # protobuf keeps a known field with a mismatched wire type
            name = known_fields[number].name
            reason = f"field number {number} ({name}) with wrong wire type ({wire_type}) ignored"
        else:
            reason = f"unknown field number {number} ({wire_type}) ignored"
        yield path or None, entry_index, reason
    for field, value in message.ListFields():
        message_type = field.message_type
        if message_type is None:
            continue
        child = f"{path}.{field.name}" if path else field.name
        if message_type.GetOptions().map_entry:
            value_type = message_type.fields_by_name["value"].message_type
            if value_type is not None:
                for key, item in sorted(value.items()):  # as _convert_values orders maps
                    yield from _unknown_fields_in(
                        item, map_entry_path(child, key), entry_index, None
                    )
        elif isinstance(value, google.protobuf.message.Message):
            yield from _unknown_fields_in(value, child, entry_index, entry_numbers)
        elif field.name == "log_entry" and path in ENTRY_LISTS:
            for position, item in enumerate(value):
                number = position if entry_numbers is None else entry_numbers[position]
                yield from _unknown_fields_in(item, f"{child}[{number}]", number, None)
        else:  # another repeated field
            for position, item in enumerate(value):
                yield from _unknown_fields_in(item, f"{child}[{position}]", entry_index, None)
