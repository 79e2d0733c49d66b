"""The typed immutable values everything else passes around.

ALS messages and their HTTP and TCP entries, Istio ambient's L4 connections, the
``ServiceMeshMetric`` an analysis makes, the service and instance a peer is named by, Envoy's
role, Istio's cluster names, and Istio's workloads and metric samples. Values only: no parsing
of bytes, no analysis, no rendering.
"""

from meshals._values import AnyValue, FrozenMap, JsonValue, OpaqueJson

from ._als import (
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
from ._clusters import (
    ClusterDirection,
    IstioCluster,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from ._istio import (
    IstioSample,
    IstioWorkload,
)
from ._l4 import (
    ConnectionEvent,
    Direction,
    ExtraValue,
    L4Address,
    L4Connection,
    L4Peer,
    L4Producer,
    LineSkip,
)
from ._metric_list import (
    MetricList,
)
from ._metrics import (
    K8S_MESH,
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)
from ._role import (
    Role,
)
from ._service import (
    UNKNOWN,
    ServiceMetaInfo,
)

__all__ = [
    "K8S_MESH",
    "UNKNOWN",
    "AccessLogCommon",
    "AccessLogType",
    "Address",
    "AlsMessage",
    "AnyValue",
    "BuildVersion",
    "CertificateProperties",
    "ClusterDirection",
    "ConnectionEvent",
    "ConnectionProperties",
    "DetectPoint",
    "Direction",
    "EntryTimings",
    "EnvoyInternalAddress",
    "Extension",
    "ExtraValue",
    "FrozenMap",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "HttpVersion",
    "Identifier",
    "IstioCluster",
    "IstioSample",
    "IstioWorkload",
    "JsonValue",
    "L4Address",
    "L4Connection",
    "L4Peer",
    "L4Producer",
    "LineSkip",
    "Locality",
    "LogEntry",
    "MeshProtocol",
    "Metadata",
    "MetricList",
    "MetricOrigin",
    "Node",
    "OpaqueJson",
    "PipeAddress",
    "RequestMethod",
    "ResponseFlag",
    "Role",
    "SemanticVersion",
    "ServiceMeshMetric",
    "ServiceMetaInfo",
    "SocketAddress",
    "SocketProtocol",
    "SpecialCluster",
    "SubjectAltName",
    "TcpEntry",
    "TlsMode",
    "TlsProperties",
    "TlsVersion",
    "UnauthorizedReason",
    "parse_istio_cluster",
    "special_cluster_of",
]
