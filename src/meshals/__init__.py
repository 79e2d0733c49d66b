"""meshals: offline analysis of Envoy Access Log Service (ALS) messages.

Decode ALS messages from JSON, binary protobuf or protobuf objects into immutable typed
entries. No network code, no server: bytes and text in, values out.
"""

from __future__ import annotations

from . import examples as examples
from . import export as export
from ._accounting import Accounting, SkipReason
from ._analysis import ANALYZERS, Analysis, analyze
from ._binary import decode_binary, decode_message
from ._clusters import (
    ClusterDirection,
    IstioCluster,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from ._containers import Container, Reader, Record, read
from ._encode import encode_binary, encode_message
from ._errors import (
    AggregateError,
    DecodeError,
    Diagnostic,
    DiagnosticKind,
    EncodeError,
    Location,
    MeshalsError,
    ResolverError,
    StreamError,
)
from ._graph_formats import (
    GraphRenderError,
    builtin_svg,
    graphviz_svg,
    to_dot,
    to_mermaid,
    to_networkx,
    to_svg,
)
from ._health import (
    DEFAULT_THRESHOLDS,
    Health,
    HealthStatus,
    HealthThresholds,
    NodeHealth,
    RuleResult,
    Threshold,
    TopologyHealth,
    edge_health,
    health_of,
    node_health,
    topology_health,
)
from ._istio_metrics import ISTIO_BUCKETS, IstioHistogram, IstioMetrics, istio_metrics
from ._json import decode_json
from ._kubernetes import KubernetesNaming, KubernetesResolver
from ._l4 import ZTUNNEL, EnvoyReporters, l4_metrics
from ._limits import Limits
from ._metrics import (
    K8S_MESH,
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from ._model import (
    AccessLogCommon,
    AccessLogType,
    Address,
    AlsMessage,
    BuildVersion,
    CertificateProperties,
    ConnectionProperties,
    EnvoyInternalAddress,
    Extension,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    HttpVersion,
    Identifier,
    Locality,
    LogEntry,
    Metadata,
    Node,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SemanticVersion,
    SocketAddress,
    SocketProtocol,
    SubjectAltName,
    TcpEntry,
    TlsProperties,
    TlsVersion,
    UnauthorizedReason,
)
from ._mx_mesh import MX_MESH, MxMeshAnalyzer
from ._naming import MetadataServiceMapping, MetadataTemplate
from ._notebook import MetricList, latency_chart_svg, to_pandas, to_records
from ._optional import MissingDependencyError
from ._red import RedAccumulator, RedKey, RedRow, RedStats, Scope, red
from ._resolvers import CachingResolver, ChainResolver, StaticResolver
from ._roles import Role, RoleRule, default_role_rule, fixed_role, role_of
from ._service import UNKNOWN, Resolver, ServiceMetaInfo
from ._sketch import LatencySketch, SketchAccumulator
from ._stats import (
    ReportedAccumulator,
    ReportedTraffic,
    TrafficAccumulator,
    TrafficStats,
    code_class,
    merge,
)
from ._status import protocol_of, status_of
from ._streams import Stream, StreamMessage
from ._summary import Summary, summarize
from ._templates import SKYWALKING_FALLBACK_RULE, SKYWALKING_SERVICE_RULE, NameTemplate
from ._topology import Edge, NodeKind, ServiceNode, Topology, TopologyAccumulator, topology
from ._values import AnyValue, FrozenMap, JsonValue, OpaqueJson
from ._windows import parse_window
from ._ztunnel import (
    ConnectionEvent,
    Direction,
    L4Address,
    L4Connection,
    L4Peer,
    L4Producer,
    parse_go_duration,
    parse_l4_line,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ANALYZERS",
    "DEFAULT_THRESHOLDS",
    "ISTIO_BUCKETS",
    "K8S_MESH",
    "MX_MESH",
    "SKYWALKING_FALLBACK_RULE",
    "SKYWALKING_SERVICE_RULE",
    "UNKNOWN",
    "ZTUNNEL",
    "AccessLogCommon",
    "AccessLogType",
    "Accounting",
    "Address",
    "AggregateError",
    "AlsMessage",
    "Analysis",
    "AnyValue",
    "BuildVersion",
    "CachingResolver",
    "CertificateProperties",
    "ChainResolver",
    "ClusterDirection",
    "ConnectionEvent",
    "ConnectionProperties",
    "Container",
    "DecodeError",
    "DetectPoint",
    "Diagnostic",
    "DiagnosticKind",
    "Direction",
    "Edge",
    "EncodeError",
    "EntryTimings",
    "EnvoyInternalAddress",
    "EnvoyReporters",
    "Extension",
    "FrozenMap",
    "GraphRenderError",
    "Health",
    "HealthStatus",
    "HealthThresholds",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "HttpVersion",
    "Identifier",
    "IstioCluster",
    "IstioHistogram",
    "IstioMetrics",
    "JsonValue",
    "KubernetesNaming",
    "KubernetesResolver",
    "L4Address",
    "L4Connection",
    "L4Peer",
    "L4Producer",
    "LatencySketch",
    "Limits",
    "Locality",
    "Location",
    "LogEntry",
    "MeshProtocol",
    "MeshalsError",
    "Metadata",
    "MetadataServiceMapping",
    "MetadataTemplate",
    "MetricList",
    "MetricOrigin",
    "MissingDependencyError",
    "MxMeshAnalyzer",
    "NameTemplate",
    "Node",
    "NodeHealth",
    "NodeKind",
    "OpaqueJson",
    "PipeAddress",
    "Reader",
    "Record",
    "RedAccumulator",
    "RedKey",
    "RedRow",
    "RedStats",
    "ReportedAccumulator",
    "ReportedTraffic",
    "RequestMethod",
    "Resolver",
    "ResolverError",
    "ResponseFlag",
    "Role",
    "RoleRule",
    "RuleResult",
    "Scope",
    "SemanticVersion",
    "ServiceMeshMetric",
    "ServiceMetaInfo",
    "ServiceNode",
    "SketchAccumulator",
    "SkipReason",
    "SocketAddress",
    "SocketProtocol",
    "SpecialCluster",
    "StaticResolver",
    "Stream",
    "StreamError",
    "StreamMessage",
    "SubjectAltName",
    "Summary",
    "TcpEntry",
    "Threshold",
    "TlsMode",
    "TlsProperties",
    "TlsVersion",
    "Topology",
    "TopologyAccumulator",
    "TopologyHealth",
    "TrafficAccumulator",
    "TrafficStats",
    "UnauthorizedReason",
    "__version__",
    "analyze",
    "builtin_svg",
    "code_class",
    "decode_binary",
    "decode_json",
    "decode_message",
    "default_role_rule",
    "edge_health",
    "encode_binary",
    "encode_message",
    "examples",
    "export",
    "fixed_role",
    "graphviz_svg",
    "health_of",
    "istio_metrics",
    "l4_metrics",
    "latency_chart_svg",
    "merge",
    "node_health",
    "parse_go_duration",
    "parse_istio_cluster",
    "parse_l4_line",
    "parse_window",
    "protocol_of",
    "read",
    "red",
    "role_of",
    "special_cluster_of",
    "status_of",
    "summarize",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "to_pandas",
    "to_records",
    "to_svg",
    "topology",
    "topology_health",
]


def __dir__() -> list[str]:
    return __all__
