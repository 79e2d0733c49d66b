"""decode_json's compiled converter (``codec/_accel_json.h``) and orjson, against Python.

The compiled converter takes the log entries Envoy writes and answers None for anything else,
which Python then converts. So decoding with it, with the generated converters alone and with
the walk alone must give identical outcomes (``json_paths``: messages object for object,
diagnostics and errors included): on every recording, on generated messages in every spelling
protobuf parses, and on recorded entries with one value replaced by an odd one of its kind.
Each kind of value is also checked at its edges against exact expected values, and orjson's
documents against json.loads's. Skipped where the extension is not built; the orjson tests
run wherever orjson is installed.
"""

from __future__ import annotations

import calendar
import copy
import datetime
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property.accel_paths import assert_identical, json_paths
from property.strategies import Family, als_messages, json_spellings

from meshals import decode_json
from meshals._values import AnyValue, FrozenMap
from meshals.codec import _json_load
from meshals.codec._accelerated import pure_path
from meshals.codec._compiled import EXTENSION
from meshals.codec._json_compiled import STRUCT_DEPTH
from meshals.codec._json_duplicates import member_count
from meshals.codec._json_messages import (
    _ENTRY_LISTS,
    _SOCKET_ADDRESS_CACHE,
    _SOCKET_ADDRESS_CACHE_SIZE,
    COMPILED_ENTRIES,
)
from meshals.codec._json_walk import _Context
from meshals.codec._limits import DEFAULT_LIMITS, Limits
from meshals.model import (
    AccessLogType,
    HttpEntry,
    HttpVersion,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    SubjectAltName,
    TcpEntry,
)

pytestmark = pytest.mark.skipif(EXTENSION is None, reason="the compiled extension is not built")

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECORDINGS = sorted(FIXTURES.glob("**/*.jsonl"))
LINES = [
    (path, line)
    for path in RECORDINGS
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
TIGHT = Limits(max_entries=2, max_string_length=16, max_nesting_depth=3, max_diagnostics=2)
KEYS = {HttpEntry: "httpLogs", TcpEntry: "tcpLogs"}
Json = dict[str, Any]


def _entries() -> Iterator[tuple[str, type, Json]]:
    """Every recorded log entry: its recording's folder, its class, its JSON object."""
    for path, line in LINES:
        document = json.loads(line)
        if type(document) is not dict:
            continue
        for model, key in KEYS.items():
            logs = document.get(key)
            for entry in logs.get("logEntry", []) if type(logs) is dict else []:
                yield str(path.parent.relative_to(FIXTURES)), model, entry


ENTRIES = list(_entries())


def compiled(model: type[HttpEntry | TcpEntry], raw: object) -> tuple[Any, int] | None:
    convert = COMPILED_ENTRIES[model]
    assert convert is not None
    return convert(raw)


def python(model: type, raw: Json) -> tuple[Any, int]:
    """The entry Python makes of *raw* (generated converters, then the walk), its members."""
    context = _Context("t.json", None, False, DEFAULT_LIMITS)
    with pure_path():
        (entry,) = _ENTRY_LISTS[KEYS[model]][1]([raw], context, "log_entry")
    assert context.diagnostics == []
    return entry, context.pairs


def message_text(model: type, entry: Json) -> str:
    return json.dumps({KEYS[model]: {"logEntry": [entry]}})


def agree(model: type, entry: Json) -> Any:
    """Decode a message of *entry* three ways, strict and lenient: one outcome; that."""
    text = message_text(model, entry)
    json_paths(text, strict=True)
    json_paths(text, limits=TIGHT)
    return json_paths(text)


# --- the recordings ------------------------------------------------------------------------------


def test_the_recorded_entries_are_compiled_but_seven() -> None:
    taken: dict[tuple[str, bool], int] = {}
    for folder, model, entry in ENTRIES:
        made = compiled(model, entry)
        key = (folder, made is not None)
        taken[key] = taken.get(key, 0) + 1
        if made is not None:  # Python's entry, and its members counted alike
            entry_made, members = python(model, entry)
            assert_identical(made[0], entry_made)
            assert made[1] == members
    assert taken == {
        ("envoy", True): 40,
        ("envoy/mtls", True): 46,  # TLS properties with their subject alt names
        ("envoy/rbac", True): 84,  # and filter metadata
        ("envoy/reconnect", True): 40,
        ("mx", True): 15,  # peer metadata as StringValue, Struct and BytesValue Anys
        ("mx", False): 1,  # a path that is not ASCII
        ("golden/inputs", False): 6,  # made to hold every kind of value
    }


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_the_recordings_decode_alike_three_ways(strict: bool, limits: Limits) -> None:
    assert len(LINES) == 249
    for _, line in LINES:
        json_paths(line, strict=strict, limits=limits)


def test_a_whole_entry_list_is_converted_at_once() -> None:
    # The members of the message and its list, then the entries': the text's count.
    line = (FIXTURES / "envoy" / "reviews-http.jsonl").read_text("utf-8").splitlines()[1]
    raw = json.loads(line)["httpLogs"]["logEntry"]
    made = compiled(HttpEntry, raw)
    assert made is not None
    entries, members = made
    assert type(entries) is tuple
    assert len(entries) == len(raw) == 2
    assert members + 2 == line.count('":')
    assert_identical(entries, decode_json(line).entries)


def test_an_entry_list_with_one_odd_entry_is_left_whole() -> None:
    good = ENTRIES[0][2]
    assert compiled(HttpEntry, [good, {"bogus": 1}]) is None
    assert compiled(HttpEntry, [good, None]) is None
    assert compiled(HttpEntry, []) == ((), 0)


# --- kinds of value at their edges ---------------------------------------------------------------


def common(**fields: object) -> Json:
    return {"commonProperties": fields}


def compiled_common(**fields: object) -> Any:
    """The AccessLogCommon the compiled converter makes of *fields*, or None."""
    made = compiled(HttpEntry, common(**fields))
    return None if made is None else made[0].common_properties


def nanoseconds(text: str) -> int:
    """Epoch nanoseconds of ``YYYY-MM-DDTHH:MM:SS[.f]Z``, by the calendar module."""
    clock, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.strptime(clock, "%Y-%m-%dT%H:%M:%S")
    seconds = calendar.timegm(moment.timetuple())
    return seconds * 10**9 + int(fraction.ljust(9, "0") or 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", 0),
        ("1s", 10**9),
        ("0.000015846s", 15_846),
        ("0.5s", 500_000_000),
        ("00012.5s", 12_500_000_000),
        ("1.000000001s", 1_000_000_001),
        ("9000000000.999999999s", 9_000_000_000_999_999_999),
    ],
)
def test_durations(text: str, expected: int) -> None:
    assert compiled_common(duration=text).duration_ns == expected
    _, message = agree(HttpEntry, common(duration=text))
    assert message.entries[0].common_properties.duration_ns == expected


@pytest.mark.parametrize(
    "value",
    [
        "9000000001s",  # past what 64-bit nanoseconds hold: Python's
        "315576000001s",  # past 10,000 years: an error
        "-1s",
        "-0.5s",
        ".5s",
        "1.s",
        "1.0000000000s",
        "1",
        "1ss",
        " 1s",
        "1s ",
        "\u0661s",  # an Arabic-Indic digit
        "s",
        "",
        1,
        1.5,
        True,
        [],
        {},
    ],
)
def test_durations_left_to_python(value: object) -> None:
    assert compiled_common(duration=value) is None
    agree(HttpEntry, common(duration=value))


@pytest.mark.parametrize(
    "text",
    [
        "1970-01-01T00:00:00Z",
        "2026-11-21T09:08:31.130435Z",
        "2026-11-21T09:08:31.1Z",
        "2026-11-21T09:08:31.123456789Z",
        "2000-02-29T23:59:59.999999999Z",
        "1900-03-01T00:00:00Z",
        "1685-03-21T12:00:00Z",
        "2255-03-14T16:00:00Z",  # 9 * 10**9 seconds: the last the C reads
        "1684-10-19T08:00:00Z",  # -9 * 10**9 seconds: the first
    ],
)
def test_timestamps(text: str) -> None:
    assert compiled_common(startTime=text).start_time_ns == nanoseconds(text)
    agree(HttpEntry, common(startTime=text))


@pytest.mark.parametrize(
    "value",
    [
        "2255-03-14T16:00:01Z",  # past 9 * 10**9 seconds: Python's
        "1684-10-19T07:59:59Z",  # before -9 * 10**9 seconds
        "0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T23:60:00Z",
        "2026-11-21T23:59:60Z",
        "2026-11-21t09:08:31Z",
        "2026-11-21T09:08:31z",
        "2026-11-21T09:08:31+01:00",
        "2026-11-21T09:08:31.Z",
        "2026-11-21T09:08:31.1234567890Z",
        "2026-11-21 09:08:31Z",
        "2026-11-2109:08:31Z",
        "20261121T090831Z",
        "2026-11-21T09:08:31",
        "2026-1a-21T09:08:31Z",
        "",
        0,
        None,
    ],
)
def test_timestamps_left_to_python(value: object) -> None:
    assert compiled_common(startTime=value) is None
    agree(HttpEntry, common(startTime=value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("158", 158),
        ("00042", 42),
        ("18446744073709551615", 2**64 - 1),
        (0, 0),
        (2**64 - 1, 2**64 - 1),
    ],
)
def test_uint64s(value: object, expected: int) -> None:
    made = compiled_common(downstreamWireBytesSent=value)
    assert type(made.downstream_wire_bytes_sent) is int
    assert made.downstream_wire_bytes_sent == expected
    agree(HttpEntry, common(downstreamWireBytesSent=value))


@pytest.mark.parametrize(
    "value",
    [
        "18446744073709551616",
        "000000000000000000001",
        "-1",
        "",
        "1e3",
        "1.0",
        "\uff11",  # a fullwidth digit
        " 1",
        2**64,
        -1,
        True,
        1.0,
        None,
    ],
)
def test_uint64s_left_to_python(value: object) -> None:
    assert compiled_common(downstreamWireBytesSent=value) is None
    agree(HttpEntry, common(downstreamWireBytesSent=value))


def test_uint32s() -> None:
    assert compiled_common(
        upstreamRequestAttemptCount=2**32 - 1
    ).upstream_request_attempt_count == (2**32 - 1)
    for value in (2**32, -1, "1", True, 1.0):
        assert compiled_common(upstreamRequestAttemptCount=value) is None
        agree(HttpEntry, common(upstreamRequestAttemptCount=value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GET", RequestMethod.GET),
        (1, RequestMethod.GET),
        (0, RequestMethod.METHOD_UNSPECIFIED),
        (99, 99),
        (-7, -7),
        (2**31 - 1, 2**31 - 1),
        (-(2**31), -(2**31)),
    ],
)
def test_enums(value: object, expected: object) -> None:
    made = compiled(HttpEntry, {"request": {"requestMethod": value}})
    assert made is not None
    assert_identical(made[0].request.request_method, expected)
    agree(HttpEntry, {"request": {"requestMethod": value}})


@pytest.mark.parametrize("value", ["get", "NOPE", "1", "", 2**31, -(2**31) - 1, True, 1.0])
def test_enums_left_to_python(value: object) -> None:
    assert compiled(HttpEntry, {"request": {"requestMethod": value}}) is None
    agree(HttpEntry, {"request": {"requestMethod": value}})


def test_each_entry_level_enum() -> None:
    made = compiled(HttpEntry, {"protocolVersion": "HTTP2", **common(accessLogType=8)})
    assert made is not None
    assert made[0].protocol_version is HttpVersion.HTTP2
    assert made[0].common_properties.access_log_type is AccessLogType(8)


def test_strings_of_ascii_only() -> None:
    assert compiled_common(routeName="default").route_name == "default"
    for value in ("défaut", "\ud800", 1, None, ["a"]):
        assert compiled_common(routeName=value) is None
        agree(HttpEntry, common(routeName=value))


def test_bools() -> None:
    assert compiled_common(intermediateLogEntry=True).intermediate_log_entry is True
    for value in (1, "true", None):
        assert compiled_common(intermediateLogEntry=value) is None


ADDRESS = {"socketAddress": {"address": "10.0.0.1", "portValue": 8080}}


@pytest.mark.parametrize(
    "value",
    [
        {"socketAddress": {"address": "10.0.0.1"}},
        {"socketAddress": {"address": "10.0.0.1", "portValue": 1, "protocol": "TCP"}},
        {"socketAddress": {"address": "10.0.0.1", "namedPort": "http"}},
        {"socketAddress": {"address": "10.0.0.1", "portValue": 2**32}},
        {"socketAddress": {"address": "10.0.0.1", "portValue": "80"}},
        {"socketAddress": {"address": "10.0.0.é", "portValue": 80}},
        {"socketAddress": {"address": 1, "portValue": 80}},
        {"socketAddress": {"address": "10.0.0.1", "port_value": 80}},
        {"socketAddress": None},
        {"socketAddress": ADDRESS["socketAddress"], "pipe": {"path": "/p"}},
        {"pipe": {"path": "/p"}},
        {"socket_address": ADDRESS["socketAddress"]},
        {},
        [],
    ],
)
def test_addresses_left_to_python(value: object) -> None:
    assert compiled_common(upstreamRemoteAddress=value) is None
    agree(HttpEntry, common(upstreamRemoteAddress=value))


def test_an_address_is_made_once_and_cached() -> None:
    _SOCKET_ADDRESS_CACHE.clear()
    first = compiled_common(upstreamRemoteAddress=ADDRESS).upstream_remote_address
    assert first == SocketAddress(address="10.0.0.1", port=8080)
    assert {("10.0.0.1", 8080): first} == _SOCKET_ADDRESS_CACHE
    again = compiled_common(upstreamLocalAddress=copy.deepcopy(ADDRESS)).upstream_local_address
    assert again is first


def test_a_full_address_cache_is_emptied_first() -> None:
    _SOCKET_ADDRESS_CACHE.clear()
    for port in range(_SOCKET_ADDRESS_CACHE_SIZE):
        _SOCKET_ADDRESS_CACHE["filler", port] = SocketAddress(address="filler", port=port)
    try:
        made = compiled_common(upstreamRemoteAddress=ADDRESS).upstream_remote_address
        assert {("10.0.0.1", 8080): made} == _SOCKET_ADDRESS_CACHE
    finally:
        _SOCKET_ADDRESS_CACHE.clear()


def any_of(type_name: str, value: object) -> Json:
    return {"@type": f"type.googleapis.com/google.protobuf.{type_name}", "value": value}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (any_of("StringValue", "ChoKCk"), "ChoKCk"),
        (any_of("StringValue", ""), ""),
        (any_of("BytesValue", "AAEC/w=="), b"\x00\x01\x02\xff"),
        (any_of("BytesValue", "AAEC_w"), b"\x00\x01\x02\xff"),  # URL-safe, unpadded
        (any_of("BytesValue", "QR=="), b"A"),  # the last digit's spare bits dropped
        (any_of("BytesValue", ""), b""),
        (any_of("Struct", {}), FrozenMap()),
        (
            any_of("Struct", {"NAME": "p-1", "LABELS": {"app": "p"}}),
            FrozenMap({"NAME": "p-1", "LABELS": FrozenMap({"app": "p"})}),
        ),
    ],
)
def test_filter_state_anys(value: Json, expected: object) -> None:
    objects = compiled_common(filterStateObjects={"peer": value}).filter_state_objects
    any_value = AnyValue(type_url=value["@type"], value=expected, known=True)
    assert_identical(objects, FrozenMap({"peer": any_value}))
    agree(HttpEntry, common(filterStateObjects={"peer": value}))


@pytest.mark.parametrize(
    "value",
    [
        any_of("StringValue", "é"),
        any_of("StringValue", 1),
        any_of("BytesValue", "A"),  # one digit over a whole group
        any_of("BytesValue", "AA="),  # padding short
        any_of("BytesValue", "AA==="),
        any_of("BytesValue", "A=A="),
        any_of("BytesValue", "AA AA"),
        any_of("Struct", {"n": 1}),
        any_of("Struct", {"list": []}),
        any_of("Struct", {"a": {"b": {"c": "three levels"}}}),
        any_of("Struct", "x"),
        any_of("Int64Value", "1"),
        {"@type": "example.com/t/x", "value": "x"},
        {"@type": "type.googleapis.com/google.protobuf.StringValue"},
        {**any_of("StringValue", "x"), "other": 1},
        {"value": "x", "type": "x"},
        {},
        None,
    ],
)
def test_filter_state_anys_left_to_python(value: object) -> None:
    assert compiled_common(filterStateObjects={"peer": value}) is None
    agree(HttpEntry, common(filterStateObjects={"peer": value}))


def test_struct_maps_of_filter_metadata() -> None:
    metadata = {"filterMetadata": {"envoy.filters.http.rbac": {"result": "allowed"}, "e": {}}}
    made = compiled_common(metadata=metadata).metadata
    assert_identical(
        made.filter_metadata,
        FrozenMap({"envoy.filters.http.rbac": FrozenMap({"result": "allowed"}), "e": FrozenMap()}),
    )
    agree(HttpEntry, common(metadata=metadata))
    odd_maps: list[object] = [{"f": {"n": 1.5}}, {"f": "x"}, {"f": None}, {"é": {}}]
    for odd in odd_maps:
        assert compiled_common(metadata={"filterMetadata": odd}) is None
        agree(HttpEntry, common(metadata={"filterMetadata": odd}))


def test_subject_alt_names() -> None:
    peer = {"subjectAltName": [{"uri": "spiffe://a"}, {"dns": "b.example"}, {}], "issuer": "O=x"}
    made = compiled_common(tlsProperties={"peerCertificateProperties": peer}).tls_properties
    assert made.peer_certificate_properties.subject_alt_name == (
        SubjectAltName(uri="spiffe://a"),
        SubjectAltName(dns="b.example"),
        SubjectAltName(),
    )
    agree(HttpEntry, common(tlsProperties={"peerCertificateProperties": peer}))
    for odd in ([{"uri": "a", "dns": "b"}], [None], [{"uri": 1}], {"uri": "a"}, ["a"]):
        tls = {"peerCertificateProperties": {"subjectAltName": odd}}
        assert compiled_common(tlsProperties=tls) is None
        agree(HttpEntry, common(tlsProperties=tls))


def test_response_flags() -> None:
    made = compiled_common(responseFlags={"noRouteFound": True, "delayInjected": False})
    assert made.response_flags == frozenset({ResponseFlag.NO_ROUTE_FOUND})
    assert made.unauthorized_reason is None
    assert compiled_common(responseFlags={}).response_flags == frozenset()
    odd_flags: list[object] = [
        {"unauthorizedDetails": {"reason": "EXTERNAL_SERVICE"}},
        {"no_route_found": True},
        {"noRouteFound": 1},
        {"noRouteFound": None},
        {"unknownFlag": True},
        [],
    ]
    for odd in odd_flags:
        assert compiled_common(responseFlags=odd) is None
        agree(HttpEntry, common(responseFlags=odd))


def test_string_maps_copied() -> None:
    headers = {"x-a": "1", "x-b": ""}
    made = compiled(HttpEntry, {"request": {"requestHeaders": headers}})
    assert made is not None
    assert_identical(made[0].request.request_headers, FrozenMap(headers))
    headers["x-c"] = "later"  # the model holds its own copy
    assert len(made[0].request.request_headers) == 2
    for odd in ({"x-a": 1}, {"x-é": "1"}, {"x-a": "é"}, {"x-a": None}, ["x"]):
        assert compiled(HttpEntry, {"request": {"requestHeaders": odd}}) is None
        agree(HttpEntry, {"request": {"requestHeaders": odd}})


@pytest.mark.parametrize(
    "entry",
    [
        {"commonProperties": None},
        {"common_properties": {}},
        {"commonProperties": {"route_name": "x"}},
        {"commonProperties": {"bogus": "x"}},
        {"bogus": {}},
        {"request": []},
        {"connectionProperties": {}},  # a TCP entry's member
        "entry",
        None,
    ],
)
def test_odd_entries_left_to_python(entry: object) -> None:
    assert compiled(HttpEntry, entry) is None
    if isinstance(entry, dict):
        agree(HttpEntry, entry)


def test_tcp_entries() -> None:
    raw = {"connectionProperties": {"receivedBytes": "7", "sentBytes": 9}}
    made = compiled(TcpEntry, raw)
    assert made is not None
    assert (made[0].connection_properties.received_bytes, made[1]) == (7, 3)
    assert made[0].connection_properties.sent_bytes == 9
    assert compiled(TcpEntry, {"request": {}}) is None


def test_a_nesting_limit_below_the_structs_leaves_it_to_python() -> None:
    line = next(line for _, line in LINES if "google.protobuf.Struct" in line)
    for depth in (STRUCT_DEPTH - 1, STRUCT_DEPTH):
        json_paths(line, limits=Limits(max_nesting_depth=depth))


# --- the spec ------------------------------------------------------------------------------------

MAP_SPEC = (FrozenMap, FrozenMap.__dict__["_data"], FrozenMap.__dict__["_hash"])


def _model(fields: dict[str, tuple[object, ...]]) -> tuple[Any, ...]:
    slots = tuple(SubjectAltName.__dict__[name] for name in ("uri", "dns"))
    return (SubjectAltName, slots, ("", ""), fields)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ((), TypeError),
        ([attrs.NOTHING, MAP_SPEC, 2, ()], TypeError),
        ((attrs.NOTHING, MAP_SPEC, 2, ()), ValueError),  # no model
        ((attrs.NOTHING, MAP_SPEC, 0, (_model({}),)), ValueError),  # struct depth
        ((attrs.NOTHING, MAP_SPEC, 9, (_model({}),)), ValueError),
        ((attrs.NOTHING, (FrozenMap, 1, 2), 2, (_model({}),)), TypeError),
        ((attrs.NOTHING, (dict, *MAP_SPEC[1:]), 2, (_model({}),)), TypeError),
        ((attrs.NOTHING, MAP_SPEC, 2, ((SubjectAltName, (), ("", ""), {}),)), TypeError),
        ((attrs.NOTHING, MAP_SPEC, 2, ((SubjectAltName, (1, 2), ("", ""), {}),)), TypeError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 0)}),)), TypeError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (2, 0, None)}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 99, None)}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 9, 0)}),)), ValueError),  # self
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 9, 1)}),)), ValueError),  # absent
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 6, ({}, []))}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 7, ({}, 0, 1))}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 8, ("a", "b", "c"))}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 12, ({}, 0))}),)), ValueError),
        ((attrs.NOTHING, MAP_SPEC, 2, (_model({"uri": (0, 14, (0, 1))}),)), ValueError),
    ],
)
def test_a_bad_spec_is_refused(spec: object, error: type[Exception]) -> None:
    assert EXTENSION is not None
    with pytest.raises(error):
        EXTENSION.json_converter(spec)


# --- generated and damaged messages --------------------------------------------------------------

BOUNDED = settings(deadline=datetime.timedelta(seconds=5))


@BOUNDED
@given(als_messages(Family(exact=False)), st.data())
def test_generated_messages_decode_alike_three_ways(message: Message, data: st.DataObject) -> None:
    text = data.draw(
        st.sampled_from([json_format.MessageToJson(message), data.draw(json_spellings(message))])
    )
    json_paths(text, strict=data.draw(st.booleans()))


# Odd values of every kind, beside the usual ones: each tried in place of a recorded value.
_ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, -1]),
    st.floats(),
    st.text(max_size=24),
    st.from_regex(r"-?0*[0-9]{0,13}(\.[0-9]{0,10})?s?", fullmatch=True),
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,10})?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})?",
        fullmatch=True,
    ),
    st.from_regex(r"[0-9]{0,22}", fullmatch=True),
    st.sampled_from(["GET", "HTTP2", "DownstreamEnd", "TLSv1_3", "NOPE", "1"]),
)
_ODD_VALUES = st.recursive(
    _ODD_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "socketAddress",
                    "address",
                    "portValue",
                    "@type",
                    "value",
                    "uri",
                    "dns",
                    "noRouteFound",
                    "x-a",
                    "app",
                    "é",
                ]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _paths_of(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_of(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _paths_of(item, (*path, position))


def _replaced(value: Any, path: tuple[object, ...], new: object) -> Any:
    if not path:
        return new
    head, *rest = path
    copied = copy.copy(value)
    copied[head] = _replaced(value[head], tuple(rest), new)
    return copied


@settings(deadline=datetime.timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_recorded_entries_with_an_odd_value_decode_alike(data: st.DataObject) -> None:
    _, model, entry = data.draw(st.sampled_from(ENTRIES), label="entry")
    paths = list(_paths_of(entry))[1:]
    path = data.draw(st.sampled_from(paths), label="path")
    odd = data.draw(_ODD_VALUES, label="value")
    changed = _replaced(entry, path, odd)
    made = compiled(model, changed)
    if made is not None:
        entry_made, members = python(model, changed)
        assert_identical(made[0], entry_made)
        assert made[1] == members
    json_paths(message_text(model, changed), strict=data.draw(st.booleans()))


# --- member counts, long numbers and orjson ----------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from('":ab \t\n\r{}1é\U0001f600'), max_size=40)


@given(_TEXT, st.integers(0, 45), st.integers(0, 45))
def test_the_compiled_member_count_is_pythons(text: str, start: int, end: int) -> None:
    assert EXTENSION is not None
    assert EXTENSION.member_count(text, start, end) == member_count(text, start, end)


def test_the_member_count_refuses_negative_bounds() -> None:
    assert EXTENSION is not None
    with pytest.raises(ValueError, match="negative"):
        EXTENSION.member_count("x", -1, 1)
    with pytest.raises(TypeError):
        EXTENSION.member_count(b"x", 0, 1)


_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _depth(text: str) -> int:
    """How deep the arrays and objects of *text* nest, its strings skipped."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (character == "\\", character != '"')
        elif character == '"':
            in_string = True
        elif character in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "}]":
            depth = max(depth - 1, 0)
    return deepest


@given(st.text(alphabet=st.sampled_from("0123456789x-é\U0001f600"), max_size=80))
def test_long_digit_runs_are_found(text: str) -> None:
    assert EXTENSION is not None
    assert EXTENSION.orjson_reads_alike(text) is not _LONG_DIGITS.search(text)


@given(
    st.integers(0, 260),
    st.lists(st.sampled_from(['{"a":', "[", "]", "}", '"{["', '"\\"[', "é", "\U0001f600", "1"])),
)
def test_deep_nesting_is_found(depth: int, noise: list[str]) -> None:
    assert EXTENSION is not None
    text = "[" * depth + "".join(noise) + "]" * depth
    assert EXTENSION.orjson_reads_alike(text) is (_depth(text) <= 200)


def _orjson_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts orjson is asked to parse from here on, in order."""
    asked: list[str] = []
    real = _json_load._ORJSON_LOADS
    assert real is not None

    def counting(text: str) -> object:
        asked.append(text)
        return real(text)

    monkeypatch.setattr(_json_load, "_ORJSON_LOADS", counting)
    return asked


@pytest.mark.skipif(_json_load._ORJSON_LOADS is None, reason="orjson is not installed")
def test_nesting_json_loads_may_refuse_takes_json_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # orjson reads 1,024 levels; json.loads as many as the interpreter's recursion limit lets
    # it (on 3.10 and 3.11 fewer than 1,000): such a text is json.loads's alone.
    asked = _orjson_asked(monkeypatch)
    depth = 1000
    deep_list = "[" * depth + "]" * depth
    # (Compared by kind: comparing two such documents would itself recurse too deeply.)
    assert _loaded(_json_load.loads, deep_list)[0] == _loaded(json.loads, deep_list)[0]
    deep = '{"b":' * depth + "1" + "}" * depth
    text = (
        '{"httpLogs":{"logEntry":[{"commonProperties":{"metadata":{"filterMetadata":{"a":'
        + deep
        + "}}}}]}}"
    )
    json_paths(text)  # an error where json.loads refuses it, else the entry skipped
    assert asked == []
    assert _json_load.loads("[" * 200 + "]" * 200) == _loaded(json.loads, "[" * 200 + "]" * 200)[1]
    assert asked == ["[" * 200 + "]" * 200]


def _same_json(left: object, right: object) -> None:
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert isinstance(right, dict)
        assert list(left) == list(right)
        for key in left:
            _same_json(left[key], right[key])
    elif isinstance(left, list):
        assert isinstance(right, list)
        assert len(left) == len(right)
        for one, other in zip(left, right, strict=True):
            _same_json(one, other)
    elif isinstance(left, float) and math.isnan(left):
        assert isinstance(right, float)
        assert math.isnan(right)
    else:
        assert left == right
        if isinstance(left, float):
            assert math.copysign(1, left) == math.copysign(1, right)  # type: ignore[arg-type]


def _loaded(loads: Callable[[str], object], text: str) -> tuple[str, object]:
    try:
        return "document", loads(text)
    except RecursionError:
        return "error", "RecursionError"
    except ValueError:
        return "error", "ValueError"


_DOCUMENTS = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]),
        st.floats(),
        st.text(max_size=8),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@pytest.mark.skipif(_json_load._ORJSON_LOADS is None, reason="orjson is not installed")
@given(_DOCUMENTS, st.booleans(), st.data())
def test_orjson_reads_what_json_loads_reads(
    document: object, ascii_only: bool, data: st.DataObject
) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only)
    if data.draw(st.booleans()):  # and damaged: one character cut, or another put in
        cut = data.draw(st.integers(0, len(text)))
        inserted = data.draw(st.sampled_from(["", '"', "{", ",", "1", "e", ".", "\\ud800", "NaN"]))
        text = text[:cut] + inserted + text[cut + 1 :]
    fast, slow = _loaded(_json_load.loads, text), _loaded(json.loads, text)
    assert fast[0] == slow[0]
    if fast[0] == "document":
        _same_json(fast[1], slow[1])


@pytest.mark.skipif(_json_load._ORJSON_LOADS is None, reason="orjson is not installed")
def test_orjson_is_not_asked_about_long_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _orjson_asked(monkeypatch)
    assert _json_load.loads("[18446744073709551616]") == [2**64]
    assert _json_load.loads("[-1844674407370955161]") == [-(2**64 // 10)]
    assert _json_load.loads("[922337203685477580]") == [2**63 // 10]  # 18 digits
    with pure_path():
        assert _json_load.loads("[1]") == [1]
    assert asked == ["[922337203685477580]"]


def test_a_str_subclass_and_bytes_decode_as_str() -> None:
    class Text(str):
        __slots__ = ()

    _, line = LINES[1]
    expected = decode_json(line, source="case", index=3)
    for text in (Text(line), line.encode("utf-8")):
        assert_identical(json_paths(text), ("message", expected))
