"""meshals: offline analysis of Envoy Access Log Service (ALS) messages.

Decode ALS messages from JSON, binary protobuf or protobuf objects into immutable typed
entries. No network code, no server: bytes and text in, values out.
"""

from __future__ import annotations

from . import export as export
from ._accounting import Accounting, SkipReason
from ._analysis import Analysis, analyze
from ._binary import decode_binary, decode_message
from ._clusters import (
    ClusterDirection,
    IstioCluster,
    SpecialCluster,
    parse_istio_cluster,
    special_cluster_of,
)
from ._containers import Container, Reader, read
from ._encode import encode_binary, encode_message
from ._errors import (
    DecodeError,
    Diagnostic,
    EncodeError,
    Location,
    MeshalsError,
    ResolverError,
    StreamError,
)
from ._json import decode_json
from ._kubernetes import KubernetesNaming, KubernetesResolver
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
from ._resolvers import CachingResolver, ChainResolver, StaticResolver
from ._roles import Role, RoleRule, default_role_rule, fixed_role, role_of
from ._service import UNKNOWN, Resolver, ServiceMetaInfo
from ._status import protocol_of, status_of
from ._streams import Stream, StreamMessage
from ._templates import SKYWALKING_FALLBACK_RULE, SKYWALKING_SERVICE_RULE, NameTemplate
from ._values import AnyValue, FrozenMap, JsonValue, OpaqueJson

__version__ = "0.1.0.dev0"

__all__ = [
    "K8S_MESH",
    "SKYWALKING_FALLBACK_RULE",
    "SKYWALKING_SERVICE_RULE",
    "UNKNOWN",
    "AccessLogCommon",
    "AccessLogType",
    "Accounting",
    "Address",
    "AlsMessage",
    "Analysis",
    "AnyValue",
    "BuildVersion",
    "CachingResolver",
    "CertificateProperties",
    "ChainResolver",
    "ClusterDirection",
    "ConnectionProperties",
    "Container",
    "DecodeError",
    "DetectPoint",
    "Diagnostic",
    "EncodeError",
    "EntryTimings",
    "EnvoyInternalAddress",
    "Extension",
    "FrozenMap",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "HttpVersion",
    "Identifier",
    "IstioCluster",
    "JsonValue",
    "KubernetesNaming",
    "KubernetesResolver",
    "Locality",
    "Location",
    "LogEntry",
    "MeshProtocol",
    "MeshalsError",
    "Metadata",
    "MetricOrigin",
    "NameTemplate",
    "Node",
    "OpaqueJson",
    "PipeAddress",
    "Reader",
    "RequestMethod",
    "Resolver",
    "ResolverError",
    "ResponseFlag",
    "Role",
    "RoleRule",
    "SemanticVersion",
    "ServiceMeshMetric",
    "ServiceMetaInfo",
    "SkipReason",
    "SocketAddress",
    "SocketProtocol",
    "SpecialCluster",
    "StaticResolver",
    "Stream",
    "StreamError",
    "StreamMessage",
    "SubjectAltName",
    "TcpEntry",
    "TlsMode",
    "TlsProperties",
    "TlsVersion",
    "UnauthorizedReason",
    "__version__",
    "analyze",
    "decode_binary",
    "decode_json",
    "decode_message",
    "default_role_rule",
    "encode_binary",
    "encode_message",
    "fixed_role",
    "parse_istio_cluster",
    "protocol_of",
    "read",
    "role_of",
    "special_cluster_of",
    "status_of",
]


def __dir__() -> list[str]:
    return __all__
