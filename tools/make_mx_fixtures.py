"""Write ``tests/fixtures/mx``: ALS streams whose entries carry Istio peer objects.

Each stream is built with Envoy's own generated classes (xds-protos) and written as
``<name>.jsonl`` (proto3 JSON, one message per line) and ``<name>.bin`` (varint-delimited).
Peer objects are encoded the way Istio writes them: a ``google.protobuf.Struct`` for the
modern keys, a FlatBuffers ``FlatNode`` (built with the ``flatbuffers`` package, with the
builder calls flatc generates for Istio's ``node_info.fbs``) in a ``BytesValue`` for the
``wasm.`` keys, and the base64 ``x-envoy-peer-metadata`` header in a ``StringValue``.
Deterministic: running it twice writes the same bytes. Usage:
``python tools/make_mx_fixtures.py [--output DIR]``. Needs xds-protos and flatbuffers.
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import flatbuffers  # type: ignore[import-untyped]
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2
from google.protobuf import any_pb2, json_format, struct_pb2, wrappers_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fixtures" / "mx"
START_SECONDS = 1_700_000_000  # 2023-11-14T22:13:20Z

PbMessage = Any  # xds-protos ships no type stubs

# --- peer encodings ---------------------------------------------------------------------------


def flat_node(fields: Mapping[str, object]) -> bytes:
    """A FlatNode as Istio's ``node_info.fbs`` lays it out (the calls flatc generates).

    *fields* uses the schema's names; ``labels``/``platform_metadata`` are maps (written as
    KeyVal vectors sorted by key, as ``CreateVectorOfSortedTables`` does), ``app_containers``
    and ``instance_ips`` lists of strings.
    """
    builder = flatbuffers.Builder(256)
    offsets: dict[int, int] = {}
    slots = {
        "name": 0,
        "namespace": 1,
        "labels": 2,
        "owner": 3,
        "workload_name": 4,
        "platform_metadata": 5,
        "istio_version": 6,
        "mesh_id": 7,
        "app_containers": 8,
        "cluster_id": 9,
        "instance_ips": 10,
    }
    for name, value in fields.items():
        slot = slots[name]
        if isinstance(value, str):
            offsets[slot] = builder.CreateString(value)
        elif isinstance(value, Mapping):
            pairs = []
            for key in sorted(value):
                key_offset = builder.CreateString(key)
                value_offset = builder.CreateString(str(value[key]))
                builder.StartObject(2)
                builder.PrependUOffsetTRelativeSlot(0, key_offset, 0)
                builder.PrependUOffsetTRelativeSlot(1, value_offset, 0)
                pairs.append(builder.EndObject())
            offsets[slot] = _vector(builder, pairs)
        else:
            assert isinstance(value, Sequence)
            offsets[slot] = _vector(builder, [builder.CreateString(text) for text in value])
    builder.StartObject(len(slots))
    for slot, offset in sorted(offsets.items()):
        builder.PrependUOffsetTRelativeSlot(slot, offset, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def _vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def struct_of(fields: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(fields)
    return message


def struct_peer(fields: Mapping[str, Any]) -> any_pb2.Any:
    value = any_pb2.Any()
    value.Pack(struct_of(fields))
    return value


def flat_node_peer(data: bytes) -> any_pb2.Any:
    value = any_pb2.Any()
    value.Pack(wrappers_pb2.BytesValue(value=data))
    return value


def mx_header_peer(fields: Mapping[str, Any]) -> any_pb2.Any:
    header = base64.b64encode(struct_of(fields).SerializeToString()).decode("ascii")
    value = any_pb2.Any()
    value.Pack(wrappers_pb2.StringValue(value=header))
    return value


# --- workloads --------------------------------------------------------------------------------


def node_metadata(pod: str, app: str, namespace: str = "bookinfo", **labels: str) -> dict[str, Any]:
    """Modern Istio node metadata (the upper-case layout, also carried by the mx header)."""
    return {
        "NAME": pod,
        "NAMESPACE": namespace,
        "LABELS": {"app": app, "service.istio.io/canonical-name": app, **labels},
        "WORKLOAD_NAME": pod.rsplit("-", 2)[0],
        "CLUSTER_ID": "Kubernetes",
        "MESH_ID": "cluster.local",
    }


PRODUCTPAGE = node_metadata("productpage-v1-7d8f9", "productpage", version="v1")
REVIEWS = node_metadata("reviews-v2-5b6c7", "reviews", version="v2")
# Istio >= 1.24 WorkloadMetadataObject as the access log serializes it: lower-case keys.
RATINGS_1_24 = {
    "type": "deployment",
    "workload": "ratings-v1",
    "name": "ratings-v1-9a8b7",
    "namespace": "bookinfo",
    "cluster": "Kubernetes",
    "service": "ratings",
    "revision": "v1",
    "app": "ratings",
    "version": "v1",
    "identity": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings",
}
DETAILS_FLAT = {
    "name": "details-v1-4c3d2",
    "namespace": "bookinfo",
    "labels": {"app": "details", "version": "v1"},
    "owner": "kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/details-v1",
    "workload_name": "details-v1",
    "platform_metadata": {"gcp_project": "meshals-test"},
    "istio_version": "1.22.3",
    "mesh_id": "cluster.local",
    "app_containers": ["details"],
    "cluster_id": "Kubernetes",
    "instance_ips": ["10.244.1.14"],
}
# A VM workload without labels and with non-ASCII names.
NO_LABELS_FLAT = {"name": "händler-vm-1", "namespace": "läden", "cluster_id": "vms"}
UNICODE_STRUCT = {
    "NAME": "認証-v1-0",
    "NAMESPACE": "ünïcode",
    "LABELS": {"app": "認証", "version": "β"},
}

# --- entries ----------------------------------------------------------------------------------


def _address(message: PbMessage, ip: str, port: int) -> None:
    message.socket_address.address = ip
    message.socket_address.port_value = port


def http_entry(
    *,
    number: int,
    caller: tuple[str, int],
    local: tuple[str, int],
    upstream: tuple[str, int] | None,
    cluster: str,
    path: str,
    code: int,
    peers: Mapping[str, any_pb2.Any],
) -> PbMessage:
    entry = accesslog_pb2.HTTPAccessLogEntry()
    common = entry.common_properties
    _address(common.downstream_remote_address, *caller)
    _address(common.downstream_local_address, *local)
    if upstream is not None:
        _address(common.upstream_remote_address, *upstream)
    common.upstream_cluster = cluster
    common.start_time.seconds = START_SECONDS + number
    common.start_time.nanos = 250_000_000
    common.time_to_first_upstream_tx_byte.nanos = 1_000_000
    common.time_to_first_upstream_rx_byte.nanos = 9_000_000
    common.time_to_last_upstream_rx_byte.nanos = 10_000_000
    common.time_to_first_downstream_tx_byte.nanos = 11_000_000
    common.time_to_last_downstream_tx_byte.nanos = 12_000_000
    for key, value in peers.items():
        common.filter_state_objects[key].CopyFrom(value)
    entry.protocol_version = accesslog_pb2.HTTPAccessLogEntry.HTTP11
    entry.request.request_method = 1  # GET
    entry.request.scheme = "http"
    entry.request.path = path
    entry.response.response_code.value = code
    return entry


def tcp_entry(
    *,
    number: int,
    caller: tuple[str, int],
    local: tuple[str, int],
    upstream: tuple[str, int],
    cluster: str,
    peers: Mapping[str, any_pb2.Any],
) -> PbMessage:
    entry = accesslog_pb2.TCPAccessLogEntry()
    common = entry.common_properties
    _address(common.downstream_remote_address, *caller)
    _address(common.downstream_local_address, *local)
    _address(common.upstream_remote_address, *upstream)
    common.upstream_cluster = cluster
    common.start_time.seconds = START_SECONDS + number
    common.duration.nanos = 40_000_000
    common.access_log_type = 3  # TcpConnectionEnd
    for key, value in peers.items():
        common.filter_state_objects[key].CopyFrom(value)
    entry.connection_properties.received_bytes = 64 * number
    entry.connection_properties.sent_bytes = 32 * number
    return entry


def message(
    entries: list[PbMessage],
    *,
    node_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PbMessage:
    result = als_pb2.StreamAccessLogsMessage()
    if node_id is not None:
        result.identifier.node.id = node_id
        result.identifier.node.metadata.update(metadata or {})
        result.identifier.log_name = "mx_fixture"
    logs = (
        result.tcp_logs
        if isinstance(entries[0], accesslog_pb2.TCPAccessLogEntry)
        else result.http_logs
    )
    logs.log_entry.extend(entries)
    return result


# --- the streams ------------------------------------------------------------------------------

REVIEWS_NODE = "sidecar~10.244.1.12~reviews-v2-5b6c7.bookinfo~bookinfo.svc.cluster.local"
GATEWAY_NODE = (
    "router~10.244.0.5~istio-ingressgateway-6f5d4.istio-system~istio-system.svc.cluster.local"
)
WAYPOINT_NODE = "waypoint~10.244.0.9~waypoint-7c6b5.bookinfo~bookinfo.svc.cluster.local"
OLD_NODE = "sidecar~10.44.2.55~reviews-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local"
INBOUND = "inbound|9080||"
TRUNCATED = flat_node(DETAILS_FLAT)[:40]


def reviews_sidecar() -> list[PbMessage]:
    """Istio 1.24 sidecar of reviews: every peer encoding, in and out."""
    ip = "10.244.1.12"
    first = [
        # 0: inbound from productpage, modern Struct peer (upper-case layout)
        http_entry(
            number=0,
            caller=("10.244.1.10", 40000),
            local=(ip, 9080),
            upstream=(ip, 19080),
            cluster=INBOUND,
            path="/reviews/0",
            code=200,
            peers={"downstream_peer": struct_peer(PRODUCTPAGE)},
        ),
        # 1: outbound to ratings, modern Struct peer (Istio 1.24 lower-case layout)
        http_entry(
            number=1,
            caller=(ip, 40001),
            local=("10.96.0.30", 9080),
            upstream=("10.244.1.15", 9080),
            cluster="outbound|9080||ratings.bookinfo.svc.cluster.local",
            path="/ratings/0",
            code=200,
            peers={"upstream_peer": struct_peer(RATINGS_1_24)},
        ),
        # 2: outbound to details, legacy FlatNode peer
        http_entry(
            number=2,
            caller=(ip, 40002),
            local=("10.96.0.40", 9080),
            upstream=("10.244.1.14", 9080),
            cluster="outbound|9080||details.bookinfo.svc.cluster.local",
            path="/details/0",
            code=200,
            peers={"wasm.upstream_peer": flat_node_peer(flat_node(DETAILS_FLAT))},
        ),
    ]
    second = [
        # 3: inbound, both generations for the same peer: one metric
        http_entry(
            number=3,
            caller=("10.244.1.10", 40003),
            local=(ip, 9080),
            upstream=(ip, 19080),
            cluster=INBOUND,
            path="/reviews/1",
            code=200,
            peers={
                "downstream_peer": struct_peer(PRODUCTPAGE),
                "wasm.downstream_peer": flat_node_peer(
                    flat_node({"name": "productpage-v1-7d8f9", "namespace": "bookinfo"})
                ),
            },
        ),
        # 4: inbound from a caller outside the mesh: no peer
        http_entry(
            number=4,
            caller=("192.0.2.7", 40004),
            local=(ip, 9080),
            upstream=(ip, 19080),
            cluster=INBOUND,
            path="/reviews/2",
            code=200,
            peers={},
        ),
        # 5: outbound, truncated FlatBuffer: malformed
        http_entry(
            number=5,
            caller=(ip, 40005),
            local=("10.96.0.40", 9080),
            upstream=("10.244.1.14", 9080),
            cluster="outbound|9080||details.bookinfo.svc.cluster.local",
            path="/details/1",
            code=503,
            peers={"wasm.upstream_peer": flat_node_peer(TRUNCATED)},
        ),
        # 6: outbound, modern value truncated-as-string (bad base64), legacy fine: legacy used
        http_entry(
            number=6,
            caller=(ip, 40006),
            local=("10.96.0.50", 9080),
            upstream=("10.244.2.20", 9080),
            cluster="outbound|9080||vm.legacy.svc.cluster.local",
            path="/vm/ß",
            code=200,
            peers={
                "upstream_peer": _string_any("not base64!"),
                "wasm.upstream_peer": flat_node_peer(flat_node(NO_LABELS_FLAT)),
            },
        ),
        # 7: inbound, peer from the mx header copied by set_filter_state, non-ASCII names
        http_entry(
            number=7,
            caller=("10.244.3.3", 40007),
            local=(ip, 9080),
            upstream=(ip, 19080),
            cluster=INBOUND,
            path="/reviews/3",
            code=404,
            peers={"downstream_peer": mx_header_peer(UNICODE_STRUCT)},
        ),
    ]
    return [
        message(first, node_id=REVIEWS_NODE, metadata=REVIEWS),
        message(second),
    ]


def _string_any(text: str) -> any_pb2.Any:
    value = any_pb2.Any()
    value.Pack(wrappers_pb2.StringValue(value=text))
    return value


def reviews_tcp() -> list[PbMessage]:
    """The same sidecar's TCP entries: peers in (upstream) filter state."""
    ip = "10.244.1.12"
    entries = [
        tcp_entry(
            number=1,
            caller=(ip, 41000),
            local=("10.96.0.60", 27017),
            upstream=("10.244.1.16", 27017),
            cluster="outbound|27017||mongodb.bookinfo.svc.cluster.local",
            peers={
                "upstream_peer": struct_peer(
                    {**RATINGS_1_24, "name": "mongodb-v1-0", "service": "mongodb", "app": "mongodb"}
                )
            },
        ),
        tcp_entry(
            number=2,
            caller=("10.244.1.10", 41001),
            local=(ip, 9091),
            upstream=(ip, 19091),
            cluster="inbound|9091||",
            peers={"wasm.downstream_peer": flat_node_peer(flat_node(DETAILS_FLAT))},
        ),
        tcp_entry(
            number=3,
            caller=("10.244.1.10", 41002),
            local=(ip, 9091),
            upstream=(ip, 19091),
            cluster="inbound|9091||",
            peers={},
        ),
    ]
    return [message(entries, node_id=REVIEWS_NODE, metadata=REVIEWS)]


def gateway() -> list[PbMessage]:
    """An ingress gateway: callers from outside send no metadata."""
    ip = "10.244.0.5"
    gateway_metadata = node_metadata(
        "istio-ingressgateway-6f5d4", "istio-ingressgateway", namespace="istio-system"
    )
    http = [
        http_entry(
            number=0,
            caller=("203.0.113.5", 50000),
            local=(ip, 8080),
            upstream=("10.244.1.10", 9080),
            cluster="outbound|9080||productpage.bookinfo.svc.cluster.local",
            path="/productpage",
            code=200,
            peers={"upstream_peer": struct_peer(PRODUCTPAGE)},
        ),
        http_entry(
            number=1,
            caller=("203.0.113.5", 50001),
            local=(ip, 8080),
            upstream=None,
            cluster="",
            path="/admin",
            code=404,
            peers={},
        ),
    ]
    tcp = [
        tcp_entry(
            number=2,
            caller=("203.0.113.6", 50002),
            local=(ip, 31400),
            upstream=("10.244.1.16", 27017),
            cluster="outbound|27017||mongodb.bookinfo.svc.cluster.local",
            peers={},
        )
    ]
    return [
        message(http, node_id=GATEWAY_NODE, metadata=gateway_metadata),
        message(tcp),
    ]


def waypoint() -> list[PbMessage]:
    """An ambient waypoint: both peers known."""
    metadata = node_metadata(
        "waypoint-7c6b5", "waypoint", **{"gateway.networking.k8s.io/gateway-name": "waypoint"}
    )
    entries = [
        http_entry(
            number=0,
            caller=("10.244.1.10", 52000),
            local=("10.244.0.9", 15008),
            upstream=("10.244.1.12", 9080),
            cluster="inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local",
            path="/reviews/0",
            code=200,
            peers={
                "downstream_peer": struct_peer(PRODUCTPAGE),
                "upstream_peer": struct_peer(REVIEWS),
            },
        )
    ]
    return [message(entries, node_id=WAYPOINT_NODE, metadata=metadata)]


def old_istio() -> list[PbMessage]:
    """An Istio 1.1 node (flat metadata layout) with a FlatNode peer."""
    metadata = {
        "CONFIG_NAMESPACE": "default",
        "ISTIO_META_INSTANCE_IPS": "10.44.2.55",
        "POD_NAME": "reviews-v1-d66dcfdc5-kh6v7",
        "app": "reviews",
        "version": "v1",
        "istio": "sidecar",
    }
    entries = [
        http_entry(
            number=0,
            caller=("10.44.2.54", 58356),
            local=("10.44.2.55", 9080),
            upstream=("127.0.0.1", 9080),
            cluster="inbound|9080|http|reviews.default.svc.cluster.local",
            path="/reviews/0",
            code=200,
            peers={
                "wasm.downstream_peer": flat_node_peer(
                    flat_node(
                        {
                            "name": "productpage-v1-d66dcfdc5-kh6v7",
                            "namespace": "default",
                            "labels": {"app": "productpage", "version": "v1"},
                        }
                    )
                )
            },
        )
    ]
    return [message(entries, node_id=OLD_NODE, metadata=metadata)]


STREAMS = {
    "reviews-sidecar-http": reviews_sidecar,
    "reviews-sidecar-tcp": reviews_tcp,
    "gateway": gateway,
    "waypoint": waypoint,
    "old-istio-sidecar": old_istio,
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def write(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for name, build in STREAMS.items():
        messages = build()
        binary = b"".join(
            _varint(len(data)) + data
            for data in (item.SerializeToString(deterministic=True) for item in messages)
        )
        (output / f"{name}.bin").write_bytes(binary)
        lines = [json_format.MessageToJson(item, indent=None) + "\n" for item in messages]
        (output / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
        print(f"{name}: {len(messages)} messages")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    write(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
