"""Envoy v3 bootstrap builders for the recorder: static listeners, clusters and ALS loggers.

Dev tooling for ``record_fixtures.py``; not part of meshals. Builds plain dicts that are
written out as JSON (which Envoy reads as YAML). Names follow Istio's conventions so that the
recordings look like a mesh's: clusters ``outbound|9080||reviews.default.svc.cluster.local``
and ``inbound|9080||``, loggers ``http_envoy_accesslog`` / ``tcp_envoy_accesslog``, the
collector cluster ``envoy_accesslog_service``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

__all__ = [
    "ALS_CLUSTER",
    "HTTP_LOG_NAME",
    "MX_HEADER",
    "PEER_KEYS",
    "TCP_LOG_NAME",
    "AlsBuffering",
    "JsonDict",
    "Route",
    "bootstrap",
    "http_listener",
    "static_cluster",
    "tcp_listener",
]

JsonValue = Union[str, int, float, bool, None, "JsonDict", list["JsonValue"]]
JsonDict = dict[str, JsonValue]

ALS_CLUSTER = "envoy_accesslog_service"
HTTP_LOG_NAME = "http_envoy_accesslog"
TCP_LOG_NAME = "tcp_envoy_accesslog"

_TYPES = "type.googleapis.com/envoy."
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_HTTP_PROTOCOL_OPTIONS_TYPE = "type.googleapis.com/" + _HTTP_PROTOCOL_OPTIONS
# Istio's default retry policy for HTTP routes: connection-level failures only, two retries.
_ISTIO_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled"
# Logged in addition to the fixed fields so that gRPC calls are recognisable in the fixtures:
# the request's content-type, and grpc-status in the trailers (or, for a "trailers-only"
# response, in the headers).
_EXTRA_REQUEST_HEADERS = ["content-type"]
_EXTRA_RESPONSE_HEADERS = ["grpc-status", "grpc-message"]

# Istio's metadata-exchange header (base64 of a serialized node-metadata Struct) and the filter
# state keys Istio 1.24+ keeps the peers under; the access loggers log both keys.
MX_HEADER = "x-envoy-peer-metadata"
PEER_KEYS = ["downstream_peer", "upstream_peer"]
# Route metadata (filter namespace, key) holding the upstream peer of the route's calls.
_ROUTE_PEER = ("istio", "upstream_peer")


@dataclass(frozen=True)
class AlsBuffering:
    """How much Envoy buffers before it sends a ``StreamAccessLogsMessage``.

    Small values make one gRPC stream carry several messages, which is the point: Envoy sends
    the identifier on a stream's first message only.
    """

    size_bytes: int
    flush_interval_ms: int


@dataclass(frozen=True)
class Route:
    """One route of an HTTP listener: a path prefix (or exact path) to a cluster."""

    cluster: str
    prefix: str = "/"
    exact_path: str | None = None
    timeout_ms: int = 0  # 0 disables the route timeout, as Istio does by default.
    retries: bool = False
    name: str = "default"
    # The mx header of the calling workload, added to every request (as Istio's sidecars do).
    own_peer_header: str | None = None
    # The mx header of the workload that answers this route's calls, when one does.
    upstream_peer_header: str | None = None


def _socket_address(ip: str, port: int) -> JsonDict:
    return {"socket_address": {"address": ip, "port_value": port}}


def _duration(milliseconds: int) -> str:
    return f"{milliseconds / 1000:.3f}s"


def _grpc_common_config(log_name: str, buffering: AlsBuffering) -> JsonDict:
    return {
        "log_name": log_name,
        "transport_api_version": "V3",
        "grpc_service": {"envoy_grpc": {"cluster_name": ALS_CLUSTER}},
        "buffer_size_bytes": buffering.size_bytes,
        "buffer_flush_interval": _duration(buffering.flush_interval_ms),
        "filter_state_objects_to_log": list(PEER_KEYS),
    }


def _http_access_log(buffering: AlsBuffering, logged_headers: Sequence[str]) -> JsonDict:
    return {
        "name": "envoy.access_loggers.http_grpc",
        "typed_config": {
            "@type": _TYPES + "extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
            "common_config": _grpc_common_config(HTTP_LOG_NAME, buffering),
            "additional_request_headers_to_log": [*_EXTRA_REQUEST_HEADERS, *logged_headers],
            "additional_response_headers_to_log": list(_EXTRA_RESPONSE_HEADERS),
            "additional_response_trailers_to_log": list(_EXTRA_RESPONSE_HEADERS),
        },
    }


def _tcp_access_log(buffering: AlsBuffering) -> JsonDict:
    return {
        "name": "envoy.access_loggers.tcp_grpc",
        "typed_config": {
            "@type": _TYPES + "extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig",
            "common_config": _grpc_common_config(TCP_LOG_NAME, buffering),
        },
    }


def _route(route: Route) -> JsonDict:
    match: JsonDict = (
        {"path": route.exact_path} if route.exact_path is not None else {"prefix": route.prefix}
    )
    action: JsonDict = {"cluster": route.cluster, "timeout": _duration(route.timeout_ms)}
    if route.retries:
        action["retry_policy"] = {"retry_on": _ISTIO_RETRY_ON, "num_retries": 2}
    config: JsonDict = {"name": route.name, "match": match, "route": action}
    if route.own_peer_header is not None:
        config["request_headers_to_add"] = [
            {
                "header": {"key": MX_HEADER, "value": route.own_peer_header},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ]
    if route.upstream_peer_header is not None:
        namespace, key = _ROUTE_PEER
        config["metadata"] = {"filter_metadata": {namespace: {key: route.upstream_peer_header}}}
    return config


def _filter_state_value(key: str, format_string: str) -> JsonDict:
    return {
        "object_key": key,
        "factory_key": "envoy.string",
        # Without omit_empty_values a missing header or metadata formats as "-", not "".
        "format_string": {
            "text_format_source": {"inline_string": format_string},
            "omit_empty_values": True,
        },
        "skip_if_empty": True,
    }


def _http_peer_filter() -> JsonDict:
    """Istio-style peers in the filter state, from what Envoy sees of each request.

    ``downstream_peer``: the caller's mx header. ``upstream_peer``: the route's metadata, set
    only on routes whose calls a meshed workload answers. (Envoy's set_filter_state acts on
    request headers only, so the upstream's response header cannot be used.)
    """
    namespace, key = _ROUTE_PEER
    return {
        "name": "envoy.filters.http.set_filter_state",
        "typed_config": {
            "@type": _TYPES + "extensions.filters.http.set_filter_state.v3.Config",
            "on_request_headers": [
                _filter_state_value("downstream_peer", f"%REQ({MX_HEADER})%"),
                _filter_state_value("upstream_peer", f"%METADATA(ROUTE:{namespace}:{key})%"),
            ],
        },
    }


def _tcp_peer_filter(peers: Mapping[str, str]) -> JsonDict:
    """Fixed peers for a TCP listener: plain TCP carries no header to learn them from."""
    return {
        "name": "envoy.filters.network.set_filter_state",
        "typed_config": {
            "@type": _TYPES + "extensions.filters.network.set_filter_state.v3.Config",
            "on_new_connection": [
                _filter_state_value(key, header) for key, header in sorted(peers.items())
            ],
        },
    }


def http_listener(
    name: str,
    ip: str,
    port: int,
    routes: Sequence[Route],
    *,
    buffering: AlsBuffering,
    preserve_request_id: bool,
    filters: Sequence[JsonDict] = (),
    xff_trusted_hops: int = 0,
    logged_headers: Sequence[str] = (),
) -> JsonDict:
    """An HTTP listener (HTTP/1.1 or h2c, detected) that logs every request over ALS.

    *preserve_request_id*: sidecars keep the caller's ``x-request-id`` (so that one user
    request carries one id through the mesh); the gateway makes a fresh one for outside callers.
    *filters*: more HTTP filters, after the peer filter and before the router (RBAC).
    *xff_trusted_hops*: the client address is taken from ``X-Forwarded-For`` (that many hops
    from its right end) when it has as many, else it is the connection's peer.
    *logged_headers*: request headers the access logger logs besides ``content-type``.
    """
    manager: JsonDict = {
        "@type": _TYPES
        + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "use_remote_address": True,
        "preserve_external_request_id": preserve_request_id,
        "route_config": {
            "name": name,
            "virtual_hosts": [
                {"name": name, "domains": ["*"], "routes": [_route(route) for route in routes]}
            ],
        },
        "http_filters": [
            _http_peer_filter(),
            *filters,
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": _TYPES + "extensions.filters.http.router.v3.Router"},
            },
        ],
        "access_log": [_http_access_log(buffering, logged_headers)],
    }
    if xff_trusted_hops:
        manager["xff_num_trusted_hops"] = xff_trusted_hops
    return {
        "name": name,
        "address": _socket_address(ip, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def tcp_listener(
    name: str,
    ip: str,
    port: int,
    cluster: str,
    *,
    buffering: AlsBuffering,
    peers: Mapping[str, str] | None = None,
    filters: Sequence[JsonDict] = (),
) -> JsonDict:
    """A ``tcp_proxy`` listener to *cluster* that logs every connection over ALS.

    *peers*: filter-state key -> mx header, set on every connection. *filters*: more network
    filters, after the peer filter and before the proxy (RBAC).
    """
    proxy: JsonDict = {
        "@type": _TYPES + "extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": cluster,
        "cluster": cluster,
        "access_log": [_tcp_access_log(buffering)],
    }
    chain: list[JsonValue] = [_tcp_peer_filter(peers)] if peers else []
    chain += filters
    chain.append({"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy})
    return {
        "name": name,
        "address": _socket_address(ip, port),
        "filter_chains": [{"filters": chain}],
    }


def static_cluster(
    name: str,
    endpoints: Sequence[tuple[str, int]],
    *,
    source_ip: str,
    http2: bool = False,
) -> JsonDict:
    """A STATIC cluster whose connections leave from *source_ip* (the pod's own IP).

    Binding the source makes the next Envoy see the calling pod's IP as its downstream
    remote address, which is what an ALS analyzer attributes the call by.
    """
    cluster: JsonDict = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "upstream_bind_config": {"source_address": {"address": source_ip, "port_value": 0}},
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _socket_address(ip, port)}}
                        for ip, port in endpoints
                    ]
                }
            ],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            _HTTP_PROTOCOL_OPTIONS: {
                "@type": _HTTP_PROTOCOL_OPTIONS_TYPE,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def bootstrap(
    *,
    node_id: str,
    node_cluster: str,
    node_metadata: Mapping[str, JsonValue],
    listeners: Sequence[JsonDict],
    clusters: Sequence[JsonDict],
    collector_port: int,
) -> JsonDict:
    """A complete static bootstrap; the admin interface takes a free port on 127.0.0.1."""
    collector = static_cluster(
        ALS_CLUSTER, [("127.0.0.1", collector_port)], source_ip="127.0.0.1", http2=True
    )
    return {
        "node": {"id": node_id, "cluster": node_cluster, "metadata": dict(node_metadata)},
        "admin": {"address": _socket_address("127.0.0.1", 0)},
        "static_resources": {
            "listeners": list(listeners),
            "clusters": [*clusters, collector],
        },
    }
