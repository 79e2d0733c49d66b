"""The ``meshals`` command: ``inspect`` output, JSON Lines, errors and warnings."""

from __future__ import annotations

import json
import math
import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
from envoy.service.accesslog.v3 import als_pb2

from meshals import (
    AccessLogCommon,
    AlsMessage,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Node,
    Role,
    TcpEntry,
    cli,
)
from meshals.cli import _inspect_lines
from meshals.model import (
    AnyValue,
    Direction,
    EnvoyInternalAddress,
    FrozenMap,
    HttpVersion,
    MeshProtocol,
    OpaqueJson,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    TlsMode,
    TlsVersion,
)
from meshals.output._jsonout import JsonOut, to_json

FIXTURES = Path(__file__).parents[1] / "fixtures"
INGRESS = FIXTURES / "skywalking" / "envoy-ingress.msg"
ROUTER_ID = (
    "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system"
    "~istio-system.svc.cluster.local"
)
SIDECAR_ID = "sidecar~10.44.2.54~product-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
INGRESS_ENTRY = (
    "#0 2019-04-13T03:59:53.687224601Z GET /productpage 200 10.138.0.14:51489 -> 10.44.2.56:80"
    " => outbound|9080||productpage.default.svc.cluster.local 10.44.2.54:9080 1010.43ms flags=-"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def grpc_file(tmp_path: Path, name: str, messages: list[Any]) -> Path:
    path = tmp_path / name
    frames = [message.SerializeToString() for message in messages]
    path.write_bytes(b"".join(b"\x00" + len(f).to_bytes(4, "big") + f for f in frames))
    return path


def sidecar_stream() -> list[Any]:
    """A sidecar's stream: identified HTTP, then unidentified TCP and an empty message."""
    first = als_pb2.StreamAccessLogsMessage()
    first.identifier.node.id = SIDECAR_ID
    first.identifier.node.cluster = "product.default"
    first.identifier.log_name = "als"
    http = first.http_logs.log_entry.add()
    http.common_properties.start_time.FromNanoseconds(1_555_127_993_500_000_000)
    http.common_properties.duration.FromNanoseconds(2_500_000)
    http.common_properties.downstream_remote_address.socket_address.address = "::1"
    http.common_properties.downstream_remote_address.socket_address.port_value = 80
    http.common_properties.response_flags.upstream_connection_failure = True
    http.common_properties.response_flags.no_healthy_upstream = True
    http.request.request_method = 3  # POST
    http.request.path = "/reviews"
    second = als_pb2.StreamAccessLogsMessage()
    tcp = second.tcp_logs.log_entry.add()
    tcp.common_properties.start_time.FromNanoseconds(1_555_127_994_000_000_000)
    tcp.common_properties.downstream_remote_address.socket_address.address = "127.0.0.1"
    tcp.common_properties.downstream_remote_address.socket_address.port_value = 5555
    tcp.common_properties.downstream_local_address.pipe.path = "/run/app.sock"
    tcp.common_properties.upstream_cluster = "outbound|3306||mysql"
    tcp.common_properties.response_flags.upstream_connection_failure = True
    tcp.connection_properties.received_bytes = 12
    tcp.connection_properties.sent_bytes = 34
    second.tcp_logs.log_entry.add()  # an entry with nothing set
    third = als_pb2.StreamAccessLogsMessage()
    return [first, second, third]


# --- inspect, text --------------------------------------------------------------------------


def test_inspect_ingress_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "inspect", INGRESS)
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"{INGRESS}: container json",
        f"message 0: node={ROUTER_ID} cluster=istio-ingressgateway log=als role=proxy"
        " http entries=1",
        f"  {INGRESS_ENTRY}",
    ]


def test_inspect_carries_the_role_through_the_stream(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = grpc_file(tmp_path, "sidecar.grpc", sidecar_stream())
    status, out, err = run(capsys, "inspect", path)
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"{path}: container grpc",
        f"message 0: node={SIDECAR_ID} cluster=product.default log=als role=sidecar http entries=1",
        "  #0 2019-04-13T03:59:53.500Z POST /reviews - [::1]:80 -> - => - - 2.50ms flags=UH,UF",
        "message 1: (no identifier: continues the stream) role=sidecar (from message 0)"
        " tcp entries=2",
        "  #0 2019-04-13T03:59:54Z 127.0.0.1:5555 -> unix:/run/app.sock => outbound|3306||mysql -"
        " recv=12 sent=34 - flags=UF",
        "  #1 - - -> - => - - recv=- sent=- - flags=-",
        "message 2: (no identifier: continues the stream) role=sidecar (from message 0)"
        " no entries entries=0",
    ]


def test_inspect_without_any_identifier(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = grpc_file(tmp_path, "tail.grpc", sidecar_stream()[1:2])
    _, out, _ = run(capsys, "inspect", path)
    assert out.splitlines()[1] == (
        "message 0: (no identifier: continues the stream) role=unknown tcp entries=2"
    )


def test_inspect_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.msg"
    path.write_bytes(b"")
    assert run(capsys, "inspect", path) == (
        0,
        f"{path}: container -\n",
        f"meshals: warning: {path}: empty input: nothing was read\nmeshals: {path}: 1 warning\n",
    )


def test_container_option_overrides_detection(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # gRPC frames read as JSON Lines: not JSON, so the one line fails to decode.
    path = grpc_file(tmp_path, "x.grpc", sidecar_stream()[:1])
    status, out, err = run(capsys, "inspect", "--container", "jsonl", "--strict", path)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {path}, message 0: ")


# --- inspect --json -----------------------------------------------------------------------------


def test_inspect_json_ingress_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "inspect", "--json", INGRESS)
    assert (status, err) == (0, "")
    [line] = out.splitlines()
    record = json.loads(line)
    entry = record.pop("entry")
    assert record == {
        "file": str(INGRESS),
        "message_index": 0,
        "entry_index": 0,
        "node_id": ROUTER_ID,
        "role": "proxy",  # as analyze, stats and --role spell it
        "kind": "http",
    }
    common = entry["common_properties"]
    assert common["start_time_ns"] == 1_555_127_993_687_224_601
    assert common["time_to_last_downstream_tx_byte_ns"] == 1_010_432_910
    assert common["duration_ns"] is None
    assert common["downstream_remote_address"] == {
        "address": "10.138.0.14",
        "port": 51489,
        "named_port": None,
        "protocol": "TCP",
        "resolver_name": "",
        "ipv4_compat": False,
        "network_namespace_filepath": "",
    }
    assert common["upstream_cluster"] == "outbound|9080||productpage.default.svc.cluster.local"
    assert common["response_flags"] == []
    assert common["custom_tags"] == {}
    assert common["access_log_type"] == "NotSet"
    assert entry["protocol_version"] == "HTTP11"
    assert entry["request"]["request_method"] == "GET"
    assert entry["request"]["request_headers_bytes"] == 1038
    assert entry["request"]["port"] is None
    assert entry["response"] == {
        "response_code": 200,
        "response_headers_bytes": 147,
        "response_body_bytes": 4415,
        "response_headers": {},
        "response_trailers": {},
        "response_code_details": "",
        "upstream_header_bytes_received": 0,
        "downstream_header_bytes_sent": 0,
    }


def test_inspect_json_stream(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = grpc_file(tmp_path, "sidecar.grpc", sidecar_stream())
    status, out, _ = run(capsys, "inspect", "--json", path)
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [
        (r["message_index"], r["entry_index"], r["node_id"], r["role"], r["kind"]) for r in records
    ] == [
        (0, 0, SIDECAR_ID, "sidecar", "http"),
        (1, 0, SIDECAR_ID, "sidecar", "tcp"),
        (1, 1, SIDECAR_ID, "sidecar", "tcp"),
    ]
    assert records[0]["entry"]["common_properties"]["response_flags"] == ["UH", "UF"]
    assert records[0]["entry"]["common_properties"]["duration_ns"] == 2_500_000
    assert records[1]["entry"]["connection_properties"] == {"received_bytes": 12, "sent_bytes": 34}
    assert records[1]["entry"]["common_properties"]["downstream_local_address"] == {
        "path": "/run/app.sock",
        "mode": 0,
    }
    assert records[2]["entry"] == {"common_properties": None, "connection_properties": None}


# --- errors and warnings -----------------------------------------------------------------------


def test_error_is_one_line_and_nothing_partial(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = grpc_file(tmp_path, "good.grpc", sidecar_stream())
    bad = grpc_file(tmp_path, "bad.grpc", sidecar_stream())
    content = bad.read_bytes()
    bad.write_bytes(content + b"\x00\x00")
    # Strict: a stream cut off mid-frame is an error (lenient keeps what came before it).
    status, out, err = run(capsys, "inspect", "--strict", bad, good)
    assert status == 1
    offset = len(content)
    assert err == (
        f"meshals: error: {bad}, message 3: input ends inside a gRPC frame header"
        f" at byte offset {offset} (2 of 5 bytes)\n"
    )
    assert out.startswith(f"{good}: container grpc\n")  # the other file is still inspected
    assert str(bad) not in out


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.msg"
    assert run(capsys, "inspect", missing) == (
        1,
        "",
        f"meshals: error: {missing}: No such file or directory\n",
    )


def test_metrics_fixture_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "skywalking" / "envoy-metric.msg"
    status, out, err = run(capsys, "inspect", "--json", path)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {path}, message 0: ")
    assert err.count("\n") == 1


def test_warnings_go_to_stderr_with_a_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = INGRESS.read_text().split("\n", 16)[16].replace("\n", " ").strip().encode()
    path = tmp_path / "capture.jsonl"
    path.write_bytes(good + b"\n" + b'{"identifier": }\n' + good + b" trailing\n")
    status, out, err = run(capsys, "inspect", path)
    assert status == 0
    assert [line for line in out.splitlines() if line.startswith("message")] == [
        f"message 0: node={ROUTER_ID} cluster=istio-ingressgateway log=als role=proxy"
        " http entries=1",
        f"message 2: node={ROUTER_ID} cluster=istio-ingressgateway log=als role=proxy"
        " http entries=1",
    ]
    skip, trailing, count = err.splitlines()
    assert skip == (
        f"meshals: warning: {path}, message 1: line 2: message skipped:"
        " invalid JSON: Expecting value at line 1 column 16"
    )
    # The column is the JSON decoder's to choose; the order and the count are the CLI's.
    assert trailing.startswith(f"meshals: warning: {path}, message 2: trailing text after")
    assert count == f"meshals: {path}: 2 warnings"


def test_strict_turns_the_warning_into_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "capture.jsonl"
    path.write_bytes(b'{}\n{"identifier": 5}\n')
    status, out, err = run(capsys, "inspect", "--strict", path)
    assert (status, out) == (1, "")
    assert err.startswith(f"meshals: error: {path}, message 1")
    assert err.count("\n") == 1


USAGE_ERRORS = [
    [],
    ["inspect"],
    ["inspect", "--container", "zip", "x"],
    ["frobnicate"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("usage: meshals")


def test_entrypoint_and_dunder_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["meshals", "inspect", str(INGRESS)])
    with pytest.raises(SystemExit) as caught:
        cli.entrypoint()
    assert caught.value.code == 0
    first = capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("meshals", run_name="__main__")
    assert caught.value.code == 0
    assert capsys.readouterr().out == first


# --- rendering helpers -------------------------------------------------------------------------

TIMESTAMPS = [
    (None, "-"),
    (0, "1970-01-01T00:00:00Z"),
    (1_555_127_993_687_224_601, "2019-04-13T03:59:53.687224601Z"),
    (1_555_127_993_687_224_000, "2019-04-13T03:59:53.687224Z"),
    (1_555_127_993_687_000_000, "2019-04-13T03:59:53.687Z"),
    (-1, "1969-12-31T23:59:59.999999999Z"),
]


@pytest.mark.parametrize(("nanos", "text"), TIMESTAMPS)
def test_timestamp(nanos: int | None, text: str) -> None:
    assert _inspect_lines._timestamp(nanos) == text


ADDRESSES = [
    (None, "-"),
    (SocketAddress(address="10.0.0.1", port=80), "10.0.0.1:80"),
    (SocketAddress(address="fe80::1", port=443), "[fe80::1]:443"),
    (SocketAddress(address="db", named_port="mysql"), "db:mysql"),
    (SocketAddress(address="10.0.0.1"), "10.0.0.1"),
    (PipeAddress(path="/tmp/s"), "unix:/tmp/s"),
    (
        EnvoyInternalAddress(server_listener_name="waypoint", endpoint_id="e1"),
        "envoy://waypoint/e1",
    ),
    (EnvoyInternalAddress(), "envoy:///"),
]


@pytest.mark.parametrize(("address", "text"), ADDRESSES)
def test_address(address: Any, text: str) -> None:
    assert _inspect_lines._address(address) == text


DURATIONS = [
    (AccessLogCommon(), "-"),
    (AccessLogCommon(duration_ns=1_010_432_910), "1010.43ms"),
    (AccessLogCommon(time_to_last_downstream_tx_byte_ns=5_000), "0.01ms"),
    (AccessLogCommon(duration_ns=0, time_to_last_downstream_tx_byte_ns=9), "0.00ms"),
]


@pytest.mark.parametrize(("common", "text"), DURATIONS)
def test_duration(common: AccessLogCommon, text: str) -> None:
    assert _inspect_lines._duration(common) == text


METHODS = [(RequestMethod.GET, "GET"), (RequestMethod.METHOD_UNSPECIFIED, "-"), (42, "42")]


@pytest.mark.parametrize(("method", "text"), METHODS)
def test_method(method: RequestMethod | int, text: str) -> None:
    assert _inspect_lines._method(method) == text


IDENTITIES = [
    (
        AlsMessage(identifier=Identifier(log_name="als")),
        "node=- cluster=- log=als role=none",
    ),
    (
        AlsMessage(identifier=Identifier(node=Node(id="waypoint~10.0.0.9~wp.ns~ns.svc"))),
        "node=waypoint~10.0.0.9~wp.ns~ns.svc cluster=- log=- role=waypoint",
    ),
]


@pytest.mark.parametrize(("message", "text"), IDENTITIES)
def test_identity(message: AlsMessage, text: str) -> None:
    stream = _inspect_lines._Stream()
    stream.update(message, 0)
    assert _inspect_lines._identity(message, stream) == text


ENTRY_LINES = [
    (HttpEntry(), "#3 - - - - - -> - => - - - flags=-"),
    (
        HttpEntry(
            request=HttpRequest(request_method=RequestMethod.PUT),
            response=HttpResponse(response_code=204),
        ),
        "#3 - PUT - 204 - -> - => - - - flags=-",
    ),
    (TcpEntry(), "#3 - - -> - => - - recv=- sent=- - flags=-"),
]


@pytest.mark.parametrize(("entry", "text"), ENTRY_LINES)
def test_entry_line_with_parts_missing(entry: HttpEntry | TcpEntry, text: str) -> None:
    assert _inspect_lines._entry_line(3, entry) == text


def test_flags_in_envoy_order() -> None:
    flags = frozenset({ResponseFlag.DOWNSTREAM_REMOTE_RESET, ResponseFlag.FAILED_LOCAL_HEALTHCHECK})
    assert _inspect_lines._flags(flags) == "LH,DRR"
    assert _inspect_lines._flags(frozenset()) == "-"


# --- JSON conversion ---------------------------------------------------------------------------

TO_JSON: list[tuple[object, JsonOut]] = [
    (None, None),
    (True, True),
    (7, 7),
    (2**70, 2**70),
    (1.5, 1.5),
    (math.inf, "Infinity"),
    (-math.inf, "-Infinity"),
    (math.nan, "NaN"),
    ("text", "text"),
    (b"\x00\xff", "AP8="),
    (HttpVersion.HTTP2, "HTTP2"),
    (TlsVersion.TLSv1_3, "TLSv1_3"),
    # Spelled as in analyze's output: flags by short code, in Envoy's order (NR 9, DI 10,
    # UAEX 13); enums with a text value by that value.
    (ResponseFlag.NO_ROUTE_FOUND, "NR"),
    (
        frozenset(
            {
                ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
                ResponseFlag.DELAY_INJECTED,
                ResponseFlag.NO_ROUTE_FOUND,
            }
        ),
        ["NR", "DI", "UAEX"],
    ),
    (Role.SIDECAR, "sidecar"),
    (MeshProtocol.GRPC, "gRPC"),
    (TlsMode.MTLS, "mTLS"),
    (Direction.INBOUND, "inbound"),
    ((1, "a", (2,)), [1, "a", [2]]),
    (FrozenMap({"b": 1.0, "a": FrozenMap({"x": None})}), {"b": 1.0, "a": {"x": None}}),
    (OpaqueJson(FrozenMap({"k": "v"})), {"k": "v"}),
    (
        AnyValue(type_url="type.googleapis.com/x.Y", value=b"\x01", known=False),
        {"type_url": "type.googleapis.com/x.Y", "value": "AQ==", "known": False},
    ),
    (
        SocketAddress(address="a", port=1),
        {
            "address": "a",
            "port": 1,
            "named_port": None,
            "protocol": "TCP",
            "resolver_name": "",
            "ipv4_compat": False,
            "network_namespace_filepath": "",
        },
    ),
]


@pytest.mark.parametrize(("value", "expected"), TO_JSON)
def test_to_json(value: object, expected: JsonOut) -> None:
    converted = to_json(value)
    assert converted == expected
    assert type(converted) is type(expected)
    assert json.loads(json.dumps(converted)) == expected


def test_to_json_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match=r"^no JSON form for complex$"):
        to_json(1j)


# --- records that are not ALS messages ----------------------------------------------------------

ZTUNNEL = Path(__file__).parents[1] / "fixtures" / "ztunnel" / "ambient-bookinfo.jsonl"


def test_inspect_shows_l4_connections_as_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(ZTUNNEL)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{ZTUNNEL}: container ztunnel-json"
    assert all(re.match(r"record \d+: L4Connection \{", line) for line in lines[1:])
    first = json.loads(lines[1].split(" ", 3)[3])
    assert first["source"] == str(ZTUNNEL)
    assert cli.main(["inspect", "--json", str(ZTUNNEL)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(lines) - 1
    assert {record["kind"] for record in records} == {"L4Connection"}
    assert records[0]["record"] == first
    assert [record["record_index"] for record in records] == [
        record["record"]["index"] for record in records
    ]
