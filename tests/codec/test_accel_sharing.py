"""What the compiled decoder shares between messages: recurring strings, small ints,
addresses and the callbacks' answers, each kept by the bytes it was made of.

Sharing must never change a value: a slot taken over by other bytes, a string that is not
ASCII, an int past the shared ones, the same bytes asked under other limits all give what
the pure path gives. Skipped where the extension is not built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from property.accel_paths import assert_identical, both_paths

from meshals import AlsMessage, HttpEntry, TcpEntry
from meshals._pb.als_pb2 import StreamAccessLogsMessage as PB2StreamAccessLogsMessage
from meshals.codec import _accelerated
from meshals.codec._accelerated import _ACCEL, ACCELERATED, _context, decode_accelerated
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.codec._wire import encode_varint

pytestmark = pytest.mark.skipif(
    not ACCELERATED, reason="the compiled decoder is not built (python tools/build_accel.py)"
)

# The extension's table sizes (_accel_values.h, _accel_common.h): the tests go past them.
STRING_SLOTS = 2048
MAX_SHARED_STRING = 64
SHARED_INTS = 4096
ADDRESS_SLOTS = 4096


def length_delimited(number: int, body: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


def varint_field(number: int, value: int) -> bytes:
    return encode_varint(number << 3) + encode_varint(value)


def common_message(fields: bytes) -> bytes:
    """A TCP message whose one entry has these common_properties."""
    return length_delimited(3, length_delimited(1, length_delimited(1, fields)))


def request_message(fields: bytes) -> bytes:
    """An HTTP message whose one entry has this request."""
    return length_delimited(2, length_delimited(1, length_delimited(3, fields)))


def decoded(data: bytes, limits: Limits = DEFAULT_LIMITS) -> AlsMessage:
    message = decode_accelerated(data, "case", None, limits)
    assert message is not None
    return message


def common_of(data: bytes) -> Any:
    entry = decoded(data).entries[0]
    assert isinstance(entry, TcpEntry)
    return entry.common_properties


def request_of(data: bytes) -> Any:
    entry = decoded(data).entries[0]
    assert isinstance(entry, HttpEntry)
    return entry.request


def cluster_message(name: str) -> bytes:
    return common_message(length_delimited(15, name.encode()))  # upstream_cluster


def test_a_recurring_string_is_one_object() -> None:
    first = common_of(cluster_message("outbound|9080||reviews.default.svc.cluster.local"))
    second = common_of(cluster_message("outbound|9080||reviews.default.svc.cluster.local"))
    assert first.upstream_cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert second.upstream_cluster is first.upstream_cluster


def test_strings_that_take_each_others_slots_keep_their_values() -> None:
    # Three times as many distinct strings of one length as there are slots, twice over:
    # every slot is taken over many times, and each answer must still be its own string.
    names = [f"cluster-{number:06d}" for number in range(3 * STRING_SLOTS)]
    for _ in range(2):
        assert [common_of(cluster_message(name)).upstream_cluster for name in names] == names


@pytest.mark.parametrize(
    "text",
    [
        "a" * MAX_SHARED_STRING,
        "a" * (MAX_SHARED_STRING + 1),
        "réviews",  # not ASCII: never kept
        "レビュー",
        "x",
    ],
    ids=["longest shared", "too long to share", "latin", "katakana", "one character"],
)
def test_every_string_decodes_as_on_the_pure_path(text: str) -> None:
    for _ in range(2):  # the second time through the table, where it is kept
        _, fast = both_paths(cluster_message(text))
        assert fast is not None
        assert common_of(cluster_message(text)).upstream_cluster == text


def test_a_non_ascii_string_cannot_be_mistaken_for_an_ascii_one() -> None:
    # The same number of characters, other bytes: a kept ASCII string must not answer.
    ascii_text, other = "caf" + "e", "caf" + "é"
    assert common_of(cluster_message(ascii_text)).upstream_cluster == ascii_text
    assert common_of(cluster_message(other)).upstream_cluster == other


def test_request_ids_are_decoded_each_time() -> None:
    data = request_message(length_delimited(9, b"7e5b1e7f-9ca5-499d-804a-e545a0116be5"))
    first, second = request_of(data), request_of(data)
    assert first.request_id == second.request_id == "7e5b1e7f-9ca5-499d-804a-e545a0116be5"
    assert first.request_id is not second.request_id  # unique per entry: not kept


@pytest.mark.parametrize("value", [0, 1, 255, 256, SHARED_INTS - 1, SHARED_INTS, 2**32, 2**64 - 1])
def test_counts_decode_exactly_shared_or_not(value: int) -> None:
    data = common_message(varint_field(29, value))  # downstream_wire_bytes_sent
    first, second = common_of(data), common_of(data)
    assert first.downstream_wire_bytes_sent == second.downstream_wire_bytes_sent == value
    assert (first.downstream_wire_bytes_sent is second.downstream_wire_bytes_sent) == (
        value < SHARED_INTS
    )
    both_paths(data)


def socket_address(address: str, port: int) -> bytes:
    return length_delimited(1, length_delimited(2, address.encode()) + varint_field(3, port))


def test_addresses_that_take_each_others_slots_keep_their_values() -> None:
    ports = range(1000, 1000 + 2 * ADDRESS_SLOTS)
    for _ in range(2):
        addresses = [
            common_of(
                common_message(length_delimited(2, socket_address("10.0.0.1", port)))
            ).downstream_remote_address
            for port in ports
        ]
        assert [(one.address, one.port) for one in addresses] == [
            ("10.0.0.1", port) for port in ports
        ]


def header(key: str, value: str) -> bytes:
    return length_delimited(
        13, length_delimited(1, key.encode()) + length_delimited(2, value.encode())
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ([("b", "2"), ("a", "1"), ("c", "3")], {"a": "1", "b": "2", "c": "3"}),
        ([("a", "1"), ("b", "2")], {"a": "1", "b": "2"}),
        ([("x-b", "1"), ("x-a", "2"), ("x-b", "3")], {"x-a": "2", "x-b": "3"}),
        ([("B", "1"), ("a", "2")], {"B": "1", "a": "2"}),  # code point order
    ],
    ids=["unsorted", "sorted", "repeated key", "upper case first"],
)
def test_header_maps_are_sorted_as_on_the_pure_path(
    wire: list[tuple[str, str]], expected: dict[str, str]
) -> None:
    data = request_message(b"".join(header(key, value) for key, value in wire))
    _, fast = both_paths(data)
    assert fast is not None
    headers = request_of(data).request_headers
    assert list(headers.items()) == sorted(expected.items())


def test_the_same_extra_parts_under_other_limits_are_asked_again() -> None:
    pb = PB2StreamAccessLogsMessage()
    common = pb.tcp_logs.log_entry.add().common_properties
    common.metadata.filter_metadata["f"].update({"a": {"b": {"c": 1}}})  # 3 levels
    data = pb.SerializeToString()
    tight = Limits(max_nesting_depth=2)
    for _ in range(2):  # in turn, so that each answer is kept before the other is asked
        assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is not None
        assert decode_accelerated(data, "case", None, tight) is None
        both_paths(data, limits=tight)


@contextlib.contextmanager
def asked(callback: str) -> Iterator[list[bytes]]:
    """The parts the Python *callback* of the extension is asked about within the block."""
    parts: list[bytes] = []
    real = getattr(_accelerated, callback)

    def counting(context: Any, data: bytes) -> Any:
        parts.append(data)
        return real(context, data)

    assert _ACCEL is not None
    setattr(_accelerated, callback, counting)
    _accelerated._init(_ACCEL)  # hands the extension the callbacks anew, its tables emptied
    try:
        yield parts
    finally:
        setattr(_accelerated, callback, real)
        _accelerated._init(_ACCEL)


@pytest.fixture
def extra_calls() -> Iterator[list[bytes]]:
    with asked("_common_extra") as parts:
        yield parts


# The part handed to the callback is custom_tags' field: 10 bytes more than the tag's value,
# so a value of 4086 bytes makes a part of 4096, the largest kept.
@pytest.mark.parametrize(("size", "asked"), [(100, 1), (4086, 1), (4087, 2), (5000, 2)])
def test_only_small_extra_parts_are_kept(extra_calls: list[bytes], size: int, asked: int) -> None:
    tag = length_delimited(1, b"k") + length_delimited(2, b"v" * size)
    data = common_message(length_delimited(22, tag))  # custom_tags
    first, second = decoded(data), decoded(data)
    assert len(extra_calls) == asked
    assert_identical(first, second)


def test_a_part_left_to_the_pure_path_is_asked_again(extra_calls: list[bytes]) -> None:
    data = common_message(length_delimited(17, b"\xf8\x07\x01"))  # metadata, unknown field
    assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is None
    assert decode_accelerated(data, "case", None, DEFAULT_LIMITS) is None
    assert len(extra_calls) == 2


def identified(node_id: str, metadata_value: str = "") -> bytes:
    pb = PB2StreamAccessLogsMessage()
    pb.identifier.node.id = node_id
    if metadata_value:
        pb.identifier.node.metadata.update({"NAME": metadata_value})
    pb.tcp_logs.log_entry.add()
    return pb.SerializeToString()


def test_an_identifier_is_converted_once_per_bytes_and_limits() -> None:
    data = identified("sidecar~10.0.0.1~a.default~default.svc.cluster.local", "a" * 100)
    other = identified("sidecar~10.0.0.2~b.default~default.svc.cluster.local", "b" * 100)
    with asked("_identifier") as parts:
        first, second, third = decoded(data), decoded(data), decoded(other)
        assert len(parts) == 2
        assert second.identifier is first.identifier
        nodes = [message.identifier and message.identifier.node for message in (first, third)]
        assert [node and node.id for node in nodes] == [
            "sidecar~10.0.0.1~a.default~default.svc.cluster.local",
            "sidecar~10.0.0.2~b.default~default.svc.cluster.local",
        ]
        decoded(data, Limits(max_string_length=10_000))  # another context: asked again
        assert len(parts) == 3
    both_paths(data)


@pytest.mark.parametrize(("size", "asked_times"), [(30_000, 1), (40_000, 2)])
def test_only_identifiers_up_to_32_kib_are_kept(size: int, asked_times: int) -> None:
    data = identified("router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local", "m" * size)
    with asked("_identifier") as parts:
        first, second = decoded(data), decoded(data)
        assert len(parts) == asked_times
    assert_identical(first, second)


def test_limits_asked_in_turn_each_get_their_own_answer() -> None:
    data = common_message(length_delimited(15, b"abc"))
    short = Limits(max_string_length=2)
    deep = Limits(max_nesting_depth=25)
    equal_to_default = Limits()
    assert equal_to_default is not DEFAULT_LIMITS
    for limits, taken in [
        (DEFAULT_LIMITS, True),
        (short, False),
        (DEFAULT_LIMITS, True),
        (deep, False),
        (equal_to_default, True),
        (short, False),
    ]:
        assert (decode_accelerated(data, "case", None, limits) is not None) is taken


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((b"", "case", None, 1, 1), TypeError),  # five, not six
        ((b"", b"case", None, 1, 1, None), TypeError),  # the source as bytes
        ((b"", "case", None, 1.0, 1, None), TypeError),  # a float limit
        ((b"", "case", None, 1, -1, None), OverflowError),
        ((12, "case", None, 1, 1, None), TypeError),  # no buffer
    ],
    ids=["count", "source", "float", "negative", "buffer"],
)
def test_the_decoder_checks_its_arguments(arguments: tuple[Any, ...], error: type) -> None:
    assert _ACCEL is not None
    with pytest.raises(error):
        _ACCEL.decode(*arguments)


def test_the_decoder_reads_any_buffer() -> None:
    assert _ACCEL is not None
    data = cluster_message("a")
    context = _context(DEFAULT_LIMITS)
    for buffer in (data, bytearray(data), memoryview(data)):
        message = _ACCEL.decode(buffer, "case", None, 10, 10, context)
        assert message is not None
        assert_identical(message, decoded(data))


UNAUTHORIZED_DETAILS = 13  # ResponseFlags' one message field: the others are bools


def flags_message(numbers: tuple[int, ...]) -> bytes:
    """A TCP message whose entry raises the response flags of these field numbers."""
    flags = b"".join(
        length_delimited(number, b"") if number == UNAUTHORIZED_DETAILS else varint_field(number, 1)
        for number in numbers
    )
    return common_message(length_delimited(16, flags))  # response_flags


# More sets of flags than the table's 64 slots, in and out of field order.
FLAG_NUMBERS = [(1,), (2,), (1, 2), (2, 1), (4, 8, 16), (28,), *((n, n + 1) for n in range(1, 28))]
FLAG_NUMBERS += [tuple(range(1, n + 1)) for n in range(3, 29)] + [(27, 3, 9), (9, 27, 3)]


def test_a_set_of_flags_is_shared_and_equal_to_the_pure_paths() -> None:
    for numbers in FLAG_NUMBERS * 2:
        _, fast = both_paths(flags_message(numbers))  # identical values, in any field order
        assert fast is not None
    first = common_of(flags_message((9, 27, 3))).response_flags
    again = common_of(flags_message((3, 9, 27))).response_flags
    assert again is first
    assert len(first) == 3
    with_details = common_of(flags_message((UNAUTHORIZED_DETAILS, 2))).response_flags
    assert len(with_details) == 2
    assert with_details is common_of(flags_message((2, UNAUTHORIZED_DETAILS))).response_flags
