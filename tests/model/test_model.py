"""The typed model: immutability, hashing, value views and the error types."""

from __future__ import annotations

import datetime
import pickle

import attrs
import pytest

from meshals import (
    AccessLogCommon,
    AlsMessage,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    HttpEntry,
    HttpResponse,
    Location,
    MeshalsError,
)
from meshals.model import AnyValue, FrozenMap, ResponseFlag, SocketAddress

# Envoy's documented short codes (%RESPONSE_FLAGS%), by ResponseFlags field.
ENVOY_SHORT_CODES = {
    "failed_local_healthcheck": "LH",
    "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT",
    "local_reset": "LR",
    "upstream_remote_reset": "UR",
    "upstream_connection_failure": "UF",
    "upstream_connection_termination": "UC",
    "upstream_overflow": "UO",
    "no_route_found": "NR",
    "delay_injected": "DI",
    "fault_injected": "FI",
    "rate_limited": "RL",
    "unauthorized_details": "UAEX",
    "rate_limit_service_error": "RLSE",
    "downstream_connection_termination": "DC",
    "upstream_retry_limit_exceeded": "URX",
    "stream_idle_timeout": "SI",
    "invalid_envoy_request_headers": "IH",
    "downstream_protocol_error": "DPE",
    "upstream_max_stream_duration_reached": "UMSDR",
    "response_from_cache_filter": "RFCF",
    "no_filter_config_found": "NFCF",
    "duration_timeout": "DT",
    "upstream_protocol_error": "UPE",
    "no_cluster_found": "NC",
    "overload_manager": "OM",
    "dns_resolution_failure": "DF",
    "downstream_remote_reset": "DRR",
}


def test_response_flags_cover_all_28_with_envoy_short_codes() -> None:
    assert {flag.field_name: flag.short_code for flag in ResponseFlag} == ENVOY_SHORT_CODES
    assert sorted(flag.field_number for flag in ResponseFlag) == list(range(1, 29))


@pytest.mark.parametrize(
    ("code", "flag"),
    [
        ("UH", ResponseFlag.NO_HEALTHY_UPSTREAM),
        ("DC", ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION),
        ("URX", ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED),
    ],
)
def test_flag_lookup_by_short_code(code: str, flag: ResponseFlag) -> None:
    assert ResponseFlag.from_short_code(code) is flag
    assert ResponseFlag.from_field_name(flag.field_name) is flag


def test_entries_are_frozen_and_hashable() -> None:
    common = AccessLogCommon(
        start_time_ns=1,
        downstream_remote_address=SocketAddress(address="10.0.0.1", port=80),
        custom_tags=FrozenMap({"a": "b"}),
        response_flags=frozenset({ResponseFlag.NO_HEALTHY_UPSTREAM}),
    )
    entry = HttpEntry(common_properties=common, response=HttpResponse(response_code=503))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.response = None  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        common.upstream_cluster = "x"  # type: ignore[misc]
    twin = attrs.evolve(entry)
    assert twin == entry
    assert hash(twin) == hash(entry)
    assert len({entry, twin}) == 1


def test_frozen_map_is_immutable_hashable_and_order_insensitive() -> None:
    first = FrozenMap({"a": 1.0, "b": (1.0, None)})
    second = FrozenMap({"b": (1.0, None), "a": 1.0})
    assert first == second
    assert hash(first) == hash(second)
    assert first == {"a": 1.0, "b": (1.0, None)}
    assert list(first) == ["a", "b"]
    with pytest.raises(TypeError):
        first["c"] = 2.0  # type: ignore[index]
    assert pickle.loads(pickle.dumps(first)) == first
    assert repr(FrozenMap({"k": "v"})) == "FrozenMap({'k': 'v'})"


def test_time_views_keep_nanoseconds_and_truncate_milliseconds() -> None:
    common = AccessLogCommon(start_time_ns=1555127993687224601)
    assert common.start_time_ms == 1555127993687
    assert common.start_time == datetime.datetime(
        2019, 4, 13, 3, 59, 53, 687224, tzinfo=datetime.timezone.utc
    )
    assert AccessLogCommon().start_time is None
    assert AccessLogCommon().start_time_ms is None
    # Before the epoch: floor division keeps the view monotonic.
    assert AccessLogCommon(start_time_ns=-1).start_time_ms == -1


def test_message_equality_ignores_where_it_came_from() -> None:
    diagnostic = Diagnostic(
        kind=DiagnosticKind.VALUE_IGNORED,
        location=Location(source="a.msg"),
        reason="trailing text ignored",
    )
    one = AlsMessage(kind="http", source="a.msg", index=0, diagnostics=(diagnostic,))
    other = AlsMessage(kind="http", source="b.bin", index=7)
    assert one == other
    assert AlsMessage(kind="tcp") != other
    assert one.http_entries == ()
    assert one.tcp_entries == ()


def test_any_value_type_name() -> None:
    value = AnyValue(
        type_url="type.googleapis.com/google.protobuf.Struct", value=FrozenMap(), known=True
    )
    assert value.type_name == "google.protobuf.Struct"


def test_decode_error_says_where_and_pickles() -> None:
    error = DecodeError(
        "not a duration",
        source="capture.jsonl",
        message_index=3,
        entry_index=17,
        field="common_properties.time_to_last_rx_byte",
    )
    assert str(error) == (
        "capture.jsonl, message 3, entry 17, field common_properties.time_to_last_rx_byte: "
        "not a duration"
    )
    assert isinstance(error, MeshalsError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.location == error.location
    assert (copy.source, copy.message_index, copy.entry_index, copy.field) == (
        "capture.jsonl",
        3,
        17,
        "common_properties.time_to_last_rx_byte",
    )
    moved = DecodeError("bad", source="x").relocated(message_index=2)
    assert str(moved) == "x, message 2: bad"
