"""The protobuf wire format read by hand: the fields of a message, and where it is broken.

protobuf's parser says only that a message is corrupt. This module is what meshals uses to say
where and why (a varint cut at byte 812 in ``http_logs.log_entry[3].common_properties``), and
to find the parts of a broken message that are still whole, so that lenient decoding can keep
them. It is never on the path of a valid message, where protobuf's own parser does the work.

The rules are those of protobuf's binary decoder (upb): a tag is a varint of at most 32 bits
whose field number is not 0 and whose wire type is 0-5; varints are at most 10 bytes; groups
nest and must end with the matching end-group tag; a proto3 ``string`` must be valid UTF-8;
messages nest at most :data:`MAX_MESSAGE_DEPTH` deep. A field whose wire type does not match
its declared type is kept as an unknown field, so its content is not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NamedTuple

from google.protobuf.descriptor import FieldDescriptor

__all__: list[str] = []

VARINT: Final = 0
FIXED64: Final = 1
LENGTH_DELIMITED: Final = 2
START_GROUP: Final = 3
END_GROUP: Final = 4
FIXED32: Final = 5

#: protobuf's (upb's) default limit on nested messages and groups, the root not counted.
MAX_MESSAGE_DEPTH: Final = 100

_MAX_VARINT_BYTES: Final = 10
_MAX_FIELD_NUMBER: Final = 2**29 - 1
_FIXED_SIZES: Final = {FIXED64: 8, FIXED32: 4}
_WIRE_TYPE_NAMES: Final = {
    VARINT: "varint",
    FIXED64: "64-bit",
    LENGTH_DELIMITED: "length-delimited",
    START_GROUP: "group",
    FIXED32: "32-bit",
}
# The wire type each declared field type is written with.
_LENGTH_DELIMITED_TYPES: Final = frozenset(
    {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_MESSAGE}
)


class WireError(Exception):
    """The bytes at ``offset`` break the wire format; ``reason`` says how.

    ``partial`` is the length-delimited field being read when its value turned out to run past
    the end of the data (its declared end is past ``end``): the caller may look inside what
    there is of it.
    """

    def __init__(self, reason: str, offset: int, partial: Field | None = None) -> None:
        super().__init__(f"{reason} at byte offset {offset}")
        self.reason = reason
        self.offset = offset
        self.partial = partial


class Field(NamedTuple):
    """One field on the wire: its number and wire type, and where its tag and value lie."""

    number: int
    wire_type: int
    start: int  # the tag's first byte
    value_start: int  # a length-delimited field's payload (after the length); else the value
    end: int  # one past the field's last byte


class Problem(NamedTuple):
    """The first place a message breaks the wire format."""

    field: str | None  # protobuf field path, None at the top level
    entry_index: int | None  # the index in ``log_entry`` of the entry it is in, if any
    offset: int  # byte offset in the data
    reason: str


def encode_varint(value: int) -> bytes:
    """*value* (non-negative) as a protobuf varint.

    >>> encode_varint(300).hex()
    'ac02'
    """
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(number: int, body: bytes) -> bytes:
    """*body* as the length-delimited field *number* (its tag, its length, then itself).

    >>> length_delimited(1, b"ab").hex()
    '0a026162'
    """
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(body)) + body


def _varint(data: bytes, position: int, end: int, what: str) -> tuple[int, int]:
    """The varint at *position* and the position after it."""
    value = 0
    for shift, index in enumerate(range(position, min(end, position + _MAX_VARINT_BYTES))):
        byte = data[index]
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value, index + 1
    if end - position >= _MAX_VARINT_BYTES:
        raise WireError(f"{what} is longer than 10 bytes", position)
    raise WireError(f"the data ends inside {what}", position)


def fields(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[Field]:
    """The fields of the message in ``data[start:end]``, in wire order.

    *depth* is that message's own depth in the whole message (the root is 0): protobuf's limit
    counts the groups in it on top of the messages around it.

    Raises:
        WireError: at the first field that breaks the wire format, after yielding those
            before it.
    """
    end = len(data) if end is None else end
    position = start
    while position < end:
        field = _field(data, position, end, depth=depth + 1)
        yield field
        position = field.end


def _field(data: bytes, position: int, end: int, depth: int) -> Field:
    tag, value_start = _varint(data, position, end, "a field tag")
    number, wire_type = tag >> 3, tag & 7
    if tag >= 2**32 or not 0 < number <= _MAX_FIELD_NUMBER:
        raise WireError(f"invalid field number {number}", position)
    if wire_type == VARINT:
        _, field_end = _varint(data, value_start, end, f"the varint of field {number}")
    elif wire_type in _FIXED_SIZES:
        field_end = value_start + _FIXED_SIZES[wire_type]
        if field_end > end:
            raise WireError(
                f"the data ends inside the fixed-size value of field {number}", position
            )
    elif wire_type == LENGTH_DELIMITED:
        size, value_start = _varint(data, value_start, end, f"the length of field {number}")
        field_end = value_start + size
        if field_end > end:
            partial = Field(number, wire_type, position, value_start, field_end)
            reason = f"field {number} is {cut_off(size, end - value_start)}"
            raise WireError(reason, position, partial)
    elif wire_type == START_GROUP:
        field_end = _group_end(data, value_start, end, number, depth)
    elif wire_type == END_GROUP:
        raise WireError(f"an end-group tag (field {number}) without a group", position)
    else:
        raise WireError(f"invalid wire type {wire_type} (field {number})", position)
    return Field(number, wire_type, position, value_start, field_end)


def _group_end(data: bytes, position: int, end: int, number: int, depth: int) -> int:
    """Where the group of field *number* whose content starts at *position* ends.

    *depth* is the group's own, counted as a message's is.
    """
    if depth > MAX_MESSAGE_DEPTH:
        raise WireError("groups nest too deeply", position)
    while position < end:
        tag, after = _varint(data, position, end, "a field tag")
        if tag & 7 == END_GROUP:
            if tag >> 3 != number:
                raise WireError(
                    f"group {number} ends with the end-group tag of field {tag >> 3}", position
                )
            return after
        position = _field(data, position, end, depth + 1).end
    raise WireError(f"the data ends inside group {number}", position)


def find_problem(
    data: bytes, descriptor: Any, *, entry_lists: frozenset[str] = frozenset(), depth: int = 0
) -> Problem | None:
    """The first place where *data*, a message of type *descriptor*, breaks the wire format.

    Walks known message fields recursively and checks ``string`` fields for UTF-8, as
    protobuf's parser does; None if it finds nothing wrong (the parser's complaint was then
    something this walk does not check). Inside a top-level field named in *entry_lists*,
    ``log_entry[i]`` sets the problem's entry index. *depth* is the depth of *data* in the
    message it was cut from (an entry's is 2), where protobuf's limit on nesting counts it.
    """
    return _Walk(data, entry_lists).find(0, len(data), descriptor, _Place("", None, depth))


class _Place(NamedTuple):
    path: str
    entry_index: int | None
    depth: int  # of the message being walked: the root is 0, as protobuf counts


class _Scope(NamedTuple):
    place: _Place
    is_map_entry: bool
    counts: dict[int, int]  # of the repeated fields seen so far, by number


def cut_off(declared: int, remaining: int) -> str:
    """The reason for a length-delimited value that runs past the end of its message."""
    unit = "byte" if declared == 1 else "bytes"
    return f"cut off: {declared} {unit} declared, {remaining} remain"


class _Walk:
    __slots__ = ("data", "entries_seen", "entry_list", "entry_lists")

    def __init__(self, data: bytes, entry_lists: frozenset[str]) -> None:
        self.data = data
        self.entry_lists = entry_lists
        # protobuf merges repeated occurrences of an entry list, and clears it when the other
        # oneof member is set: entries are counted the same way.
        self.entry_list = ""
        self.entries_seen = 0

    def find(self, start: int, end: int, descriptor: Any, place: _Place) -> Problem | None:
        path, entry_index, depth = place
        if depth > MAX_MESSAGE_DEPTH:
            reason = f"messages nest more than {MAX_MESSAGE_DEPTH} deep (protobuf's limit)"
            return Problem(path or None, entry_index, start, reason)
        is_map_entry = bool(descriptor.GetOptions().map_entry)
        counts: dict[int, int] = {}
        try:
            for field in fields(self.data, start, end, depth):
                declared = descriptor.fields_by_number.get(field.number)
                if declared is None or field.wire_type != LENGTH_DELIMITED:
                    continue  # unknown, or kept as unknown: not parsed further
                if declared.type not in _LENGTH_DELIMITED_TYPES:
                    continue  # a packed scalar: the schema of ALS has none
                child = self._child(declared, place, is_map_entry, counts)
                found = self._check(field, declared, child)
                if found is not None:
                    return found
        except WireError as broken:
            return self._cut(broken, end, descriptor, _Scope(place, is_map_entry, counts))
        return None

    def _cut(self, broken: WireError, end: int, descriptor: Any, scope: _Scope) -> Problem:
        """The problem *broken* stands for: inside a cut-off known message, the deepest cut."""
        partial = broken.partial
        declared = None if partial is None else descriptor.fields_by_number.get(partial.number)
        if partial is None or declared is None or declared.type not in _LENGTH_DELIMITED_TYPES:
            place = scope.place
            return Problem(place.path or None, place.entry_index, broken.offset, broken.reason)
        child = self._child(declared, scope.place, scope.is_map_entry, scope.counts)
        if declared.type == FieldDescriptor.TYPE_MESSAGE:
            deeper = self.find(partial.value_start, end, declared.message_type, child)
            if deeper is not None:
                return deeper
        reason = cut_off(partial.end - partial.value_start, end - partial.value_start)
        return Problem(child.path or None, child.entry_index, partial.start, reason)

    def _child(
        self, declared: Any, place: _Place, is_map_entry: bool, counts: dict[int, int]
    ) -> _Place:
        path, entry_index, depth = place
        if is_map_entry:  # a map's key or value: the map's path says enough
            return _Place(path, entry_index, depth + 1)
        name = f"{path}.{declared.name}" if path else declared.name
        if not _is_repeated(declared) or _is_map(declared):
            return _Place(name, entry_index, depth + 1)
        if declared.name == "log_entry" and path in self.entry_lists:
            if path != self.entry_list:
                self.entry_list, self.entries_seen = path, 0
            position = entry_index = self.entries_seen
            self.entries_seen += 1
        else:
            position = counts.get(declared.number, 0)
            counts[declared.number] = position + 1
        return _Place(f"{name}[{position}]", entry_index, depth + 1)

    def _check(self, field: Field, declared: Any, child: _Place) -> Problem | None:
        if declared.type == FieldDescriptor.TYPE_STRING:
            try:
                self.data[field.value_start : field.end].decode("utf-8")
            except UnicodeDecodeError as invalid:
                offset = field.value_start + invalid.start
                return Problem(child.path, child.entry_index, offset, "a string is not UTF-8")
            return None
        if declared.type == FieldDescriptor.TYPE_MESSAGE:
            return self.find(field.value_start, field.end, declared.message_type, child)
        return None


def _is_repeated(declared: Any) -> bool:
    flag = getattr(declared, "is_repeated", None)  # protobuf 7 drops ``label``
    if flag is None:  # pragma: no cover -- protobuf 6
        return bool(declared.label == FieldDescriptor.LABEL_REPEATED)
    return bool(flag)


def _is_map(declared: Any) -> bool:
    message_type = declared.message_type
    return message_type is not None and bool(message_type.GetOptions().map_entry)


def wire_type_name(wire_type: int) -> str:
    """``varint``, ``64-bit``, ... for a wire type number."""
    return _WIRE_TYPE_NAMES.get(wire_type, str(wire_type))
