"""decode_binary on broken messages: what lenient decoding keeps, each diagnostic, the counts.

Every message here is built by hand on the wire, so each diagnostic is checked exactly: its
field path, entry index, reason with the byte offset, and kind.
"""

from __future__ import annotations

import pytest

from meshals import AlsMessage, DecodeError, Diagnostic, DiagnosticKind, Location, decode_binary
from meshals.codec._accelerated import pure_path
from meshals.codec._limits import Limits
from meshals.codec._wire import encode_varint

SOURCE = "capture.bin"
ENTRY_SKIPPED = DiagnosticKind.ENTRY_SKIPPED
PART_SKIPPED = DiagnosticKind.PART_SKIPPED
VALUE_IGNORED = DiagnosticKind.VALUE_IGNORED
IDENTIFIER = b"\x0a\x03\x12\x01x"  # identifier { log_name: "x" }
ENTRY = b"\x0a\x02\x10\x01"  # log_entry { protocol_version: 1 }
TCP_ENTRY = b"\x0a\x00"  # an empty log_entry
CUT_ENTRY = b"\x0a\x05\x10\x01"  # the same, declaring 5 bytes where 2 follow


def delimited(number: int, body: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


def http_logs(*parts: bytes) -> bytes:
    return delimited(2, b"".join(parts))


def tcp_logs(*parts: bytes) -> bytes:
    return delimited(3, b"".join(parts))


def lenient(data: bytes) -> AlsMessage:
    return decode_binary(data, source=SOURCE, index=7)


def diagnostic(
    field: str | None, entry: int | None, reason: str, kind: DiagnosticKind
) -> Diagnostic:
    location = Location(source=SOURCE, message_index=7, entry_index=entry, field=field)
    return Diagnostic(location=location, reason=reason, kind=kind)


def test_an_entry_cut_between_its_fields() -> None:
    message = lenient(IDENTIFIER + http_logs(ENTRY) + b"\x12\x04" + CUT_ENTRY)
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs.log_entry[1]",
            1,
            "entry skipped: cut off: 5 bytes declared, 2 remain at byte offset 13",
            ENTRY_SKIPPED,
        ),
    )


def test_entries_after_a_cut_list_keep_counting() -> None:
    # The first list ends inside its second entry; the next list's first entry is the third.
    data = http_logs(ENTRY, CUT_ENTRY[:2]) + http_logs(b"\x0a\x01\xff", ENTRY)
    message = lenient(data)
    assert message.http_entries[0].protocol_version == message.http_entries[1].protocol_version
    assert message.diagnostics == (
        diagnostic(
            "http_logs.log_entry[1]",
            1,
            "entry skipped: cut off: 5 bytes declared, 0 remain at byte offset 6",
            ENTRY_SKIPPED,
        ),
        diagnostic(
            "http_logs.log_entry[2]",
            2,
            "entry skipped: the data ends inside a field tag at byte offset 12",
            ENTRY_SKIPPED,
        ),
    )


def test_entries_are_counted_again_in_the_other_member() -> None:
    # protobuf keeps tcp_logs, set last: its entries count from 0.
    message = lenient(http_logs(ENTRY) + tcp_logs(TCP_ENTRY, b"\x0a\x01\xff"))
    assert len(message.entries) == 1
    assert message.diagnostics[0] == diagnostic(
        "tcp_logs.log_entry[1]",
        1,
        "entry skipped: the data ends inside a field tag at byte offset 12",
        ENTRY_SKIPPED,
    )


def test_a_field_that_is_not_an_entry_stays_unknown() -> None:
    # In the list: log_entry as a varint, and an unknown length-delimited field 2.
    data = IDENTIFIER + http_logs(b"\x08\x01", b"\x12\x00", ENTRY, b"\x0a\x01\xff")
    message = lenient(data)
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs.log_entry[1]",
            1,
            "entry skipped: the data ends inside a field tag at byte offset 17",
            ENTRY_SKIPPED,
        ),
        diagnostic(
            "http_logs",
            None,
            "field number 1 (log_entry) with wrong wire type (varint) ignored",
            VALUE_IGNORED,
        ),
        diagnostic(
            "http_logs", None, "unknown field number 2 (length-delimited) ignored", VALUE_IGNORED
        ),
    )


def test_the_rest_of_a_broken_list_is_left_out() -> None:
    message = lenient(IDENTIFIER + http_logs(ENTRY, b"\xff"))
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs",
            None,
            "rest of http_logs left out: the data ends inside a field tag at byte offset 11",
            PART_SKIPPED,
        ),
    )


def test_a_list_that_declares_more_than_the_message_holds() -> None:
    message = lenient(IDENTIFIER + b"\x12\x09" + ENTRY)
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs", None, "http_logs declares more bytes than the message holds", PART_SKIPPED
        ),
    )


def test_an_identifier_cut_at_the_end() -> None:
    message = lenient(http_logs(ENTRY) + b"\x0a\x0a\x12\x01x")
    assert (message.identifier, len(message.entries)) == (None, 1)
    assert message.diagnostics == (
        diagnostic(
            "identifier",
            None,
            "identifier left out: cut off: 10 bytes declared, 3 remain at byte offset 6",
            VALUE_IGNORED,
        ),
    )


def test_a_broken_identifier_is_left_out() -> None:
    message = lenient(b"\x0a\x04\x12\x02\xc3\x28" + http_logs(ENTRY))
    assert (message.identifier, len(message.entries)) == (None, 1)
    assert message.diagnostics == (
        diagnostic(
            "identifier.log_name",
            None,
            "identifier left out: a string is not UTF-8 at byte offset 4",
            VALUE_IGNORED,
        ),
    )


def test_the_rest_of_the_message_after_a_cut_field() -> None:
    message = lenient(http_logs(ENTRY) + b"\x4a\x05x")
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            None,
            None,
            "rest of the message left out: field 9 is cut off: 5 bytes declared, 1 remain"
            " at byte offset 6",
            PART_SKIPPED,
        ),
    )


def test_the_identifier_and_one_entry_are_enough_to_keep() -> None:
    message = lenient(IDENTIFIER + http_logs(ENTRY, b"\x0a\x01\xff"))
    assert message.identifier is not None
    assert message.identifier.log_name == "x"
    assert len(message.entries) == 1


# --- the oneof set twice --------------------------------------------------------------------


def test_entries_lost_to_the_other_member_are_counted() -> None:
    # An identifier between the lists: it is not an entry of either.
    data = http_logs(ENTRY, ENTRY) + IDENTIFIER + http_logs(ENTRY) + tcp_logs(TCP_ENTRY)
    message = lenient(data)
    assert len(message.tcp_entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs",
            None,
            "oneof 'log_entries' is set more than once: protobuf keeps the last member set"
            " (tcp_logs), so 3 entries of this http_logs are lost",
            PART_SKIPPED,
        ),
    )


# --- the entry limit --------------------------------------------------------------------------

THREE = Limits(max_entries=3)


@pytest.mark.parametrize("entries", [3, 2])
def test_as_many_entries_as_the_limit_allows(entries: int) -> None:
    # Longer than 2 bytes per allowed entry, so the wire is counted before parsing; the
    # identifier after the list holds a field 1, as an entry does.
    data = http_logs(*[b"\x0a\x00"] * entries) + b"\x0a\x02\x0a\x00"
    with pure_path():
        message = decode_binary(data, limits=THREE)
    assert len(message.entries) == entries


def test_one_entry_more_than_the_limit_says_where() -> None:
    data = http_logs(*[b"\x0a\x00"] * 4) + b"\x0a\x02\x0a\x00"
    with pure_path(), pytest.raises(DecodeError) as caught:
        decode_binary(data, source=SOURCE, index=7, limits=THREE)
    assert (caught.value.reason, caught.value.location) == (
        "more than the maximum of 3 log entries (counting stopped there)",
        Location(source=SOURCE, message_index=7),
    )


def test_entries_found_by_the_salvage_over_the_limit_say_where() -> None:
    data = b"\x1a\x20" + b"\x0a\x00" * 4  # declares 32 bytes, 8 follow
    with pytest.raises(DecodeError) as caught:
        decode_binary(data, source=SOURCE, index=7, limits=THREE)
    assert (caught.value.reason, caught.value.location) == (
        "4 log entries, more than the maximum of 3",
        Location(source=SOURCE, message_index=7),
    )


# --- nesting: protobuf counts a part's depth in the whole message ------------------------------

GROUPS_99 = b"\x4b" * 99 + b"\x4c" * 99  # field 9: 99 groups, one in the other


def test_an_entry_too_deep_in_the_message_is_skipped() -> None:
    # On its own the entry holds groups 99 deep; in the message, 2 deeper: past the limit.
    message = lenient(IDENTIFIER + http_logs(delimited(1, GROUPS_99), ENTRY))
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs.log_entry[0]",
            0,
            "entry skipped: groups nest too deeply at byte offset 110",
            ENTRY_SKIPPED,
        ),
    )


def test_groups_too_deep_in_an_entry_list_leave_out_the_rest_of_it() -> None:
    # An entry list is 1 deep: groups 100 deep in it make 101, though 100 on their own.
    groups_100 = b"\x4b" * 100 + b"\x4c" * 100
    message = lenient(IDENTIFIER + http_logs(ENTRY, groups_100, ENTRY))
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs",
            None,
            "rest of http_logs left out: groups nest too deeply at byte offset 112",
            PART_SKIPPED,
        ),
    )


def test_a_cut_entry_too_deep_in_the_message_says_so_rather_than_cut() -> None:
    # The entry declares 3 bytes more than its list holds; what it does hold nests too deeply
    # at its depth of 2, which protobuf finds before it reaches the cut.
    cut = b"\x0a" + encode_varint(len(GROUPS_99) + 3) + GROUPS_99
    message = lenient(IDENTIFIER + http_logs(ENTRY) + http_logs(cut))
    assert len(message.entries) == 1
    assert message.diagnostics == (
        diagnostic(
            "http_logs.log_entry[1]",
            1,
            "entry skipped: groups nest too deeply at byte offset 116",
            ENTRY_SKIPPED,
        ),
    )


def test_an_entry_whose_messages_nest_too_deep_in_the_message_is_skipped() -> None:
    # An entry's metadata Struct is 6 deep, 31 levels of fields["k"].struct_value make it 99,
    # its map entry is 100 and that entry's value 101: on its own the entry is 2 less deep.
    innermost = delimited(1, delimited(2, b""))
    body = innermost
    for _ in range(31):
        body = delimited(1, delimited(1, b"k") + delimited(2, delimited(5, body)))
    metadata = delimited(1, delimited(1, b"f") + delimited(2, body))
    deep = delimited(1, delimited(17, metadata))
    data = IDENTIFIER + http_logs(delimited(1, deep), ENTRY)
    message = lenient(data)
    assert len(message.entries) == 1
    path = "common_properties.metadata.filter_metadata" + ".fields.struct_value" * 31 + ".fields"
    assert message.diagnostics == (
        diagnostic(
            f"http_logs.log_entry[0].{path}",
            0,
            "entry skipped: messages nest more than 100 deep (protobuf's limit) at byte offset"
            f" {data.index(innermost) + len(innermost)}",
            ENTRY_SKIPPED,
        ),
    )


def test_an_identifier_too_deep_in_the_message_is_left_out() -> None:
    message = lenient(delimited(1, delimited(1, GROUPS_99)) + http_logs(ENTRY))
    assert (message.identifier, len(message.entries)) == (None, 1)
    assert message.diagnostics == (
        diagnostic(
            "identifier.node",
            None,
            "identifier left out: groups nest too deeply at byte offset 105",
            VALUE_IGNORED,
        ),
    )


def test_strict_says_where_groups_nest_too_deeply() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_binary(delimited(1, delimited(1, GROUPS_99)), source=SOURCE, index=7, strict=True)
    assert (caught.value.reason, caught.value.location) == (
        "not a StreamAccessLogsMessage: groups nest too deeply at byte offset 105",
        Location(source=SOURCE, message_index=7, field="identifier.node"),
    )
