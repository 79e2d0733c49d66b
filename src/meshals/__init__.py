"""meshals: offline analysis of Envoy Access Log Service (ALS) messages.

Decode ALS messages from JSON, binary protobuf or protobuf objects into immutable typed
entries, analyse them into service-mesh metrics, and aggregate those into topology and RED
statistics. No network code, no server: bytes and text in, values out.

This namespace holds the everyday API. The stages live in their own packages, in the order
data flows through them: :mod:`meshals.model` (values), :mod:`meshals.codec` (bytes <->
model), :mod:`meshals.capture` (files), :mod:`meshals.resolve` (naming),
:mod:`meshals.mesh` (analysis), :mod:`meshals.aggregate` and :mod:`meshals.output`.
"""

from __future__ import annotations

import importlib
import typing
import warnings

from . import output as output  # registers the notebook renderings (meshals._display)
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
from ._optional import MissingDependencyError
from .aggregate import (
    RedStats,
    Summary,
    Topology,
    compare,
    red,
    summarize,
    topology,
)
from .capture import (
    Reader,
    read,
)
from .codec import (
    decode_binary,
    decode_json,
    decode_message,
)
from .mesh import (
    Accounting,
    Analysis,
    analyze,
    role_of,
)
from .model import (
    UNKNOWN,
    AccessLogCommon,
    AlsMessage,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    L4Connection,
    LogEntry,
    MetricList,
    Node,
    Role,
    ServiceMeshMetric,
    ServiceMetaInfo,
    TcpEntry,
)
from .resolve import (
    CachingResolver,
    ChainResolver,
    KubernetesResolver,
    Resolver,
    StaticResolver,
)

if typing.TYPE_CHECKING:  # at run time loaded on first use, by __getattr__ below
    from . import examples as examples

__version__ = "0.1.0.dev0"

__all__ = [
    "UNKNOWN",
    "AccessLogCommon",
    "Accounting",
    "AggregateError",
    "AlsMessage",
    "Analysis",
    "CachingResolver",
    "ChainResolver",
    "DecodeError",
    "Diagnostic",
    "DiagnosticKind",
    "EncodeError",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "Identifier",
    "KubernetesResolver",
    "L4Connection",
    "Location",
    "LogEntry",
    "MeshalsError",
    "MetricList",
    "MissingDependencyError",
    "Node",
    "Reader",
    "RedStats",
    "Resolver",
    "ResolverError",
    "Role",
    "ServiceMeshMetric",
    "ServiceMetaInfo",
    "StaticResolver",
    "StreamError",
    "Summary",
    "TcpEntry",
    "Topology",
    "__version__",
    "analyze",
    "compare",
    "decode_binary",
    "decode_json",
    "decode_message",
    "examples",
    "read",
    "red",
    "role_of",
    "summarize",
    "topology",
]

# Names that lived here before the stage packages: they still work for one release, with a
# DeprecationWarning that names their new place.
_MOVED: dict[str, str] = {
    "ANALYZERS": "meshals.mesh",
    "AccessLogType": "meshals.model",
    "Address": "meshals.model",
    "AnyValue": "meshals.model",
    "BuildVersion": "meshals.model",
    "CertificateProperties": "meshals.model",
    "ClusterDirection": "meshals.model",
    "ConnectionEvent": "meshals.model",
    "ConnectionProperties": "meshals.model",
    "Container": "meshals.capture",
    "DEFAULT_THRESHOLDS": "meshals.aggregate",
    "DetectPoint": "meshals.model",
    "Direction": "meshals.model",
    "Edge": "meshals.aggregate",
    "EntryTimings": "meshals.model",
    "EnvoyInternalAddress": "meshals.model",
    "EnvoyReporters": "meshals.mesh",
    "Extension": "meshals.model",
    "FrozenMap": "meshals.model",
    "GraphRenderError": "meshals.output",
    "Health": "meshals.aggregate",
    "HealthStatus": "meshals.aggregate",
    "HealthThresholds": "meshals.aggregate",
    "HttpVersion": "meshals.model",
    "ISTIO_BUCKETS": "meshals.output",
    "IstioCluster": "meshals.model",
    "IstioHistogram": "meshals.output",
    "IstioMetrics": "meshals.output",
    "JsonValue": "meshals.model",
    "K8S_MESH": "meshals.model",
    "KubernetesNaming": "meshals.resolve",
    "L4Address": "meshals.model",
    "L4Peer": "meshals.model",
    "L4Producer": "meshals.model",
    "LatencySketch": "meshals.aggregate",
    "Limits": "meshals.codec",
    "Locality": "meshals.model",
    "MX_MESH": "meshals.mesh",
    "MeshProtocol": "meshals.model",
    "Metadata": "meshals.model",
    "MetadataServiceMapping": "meshals.resolve",
    "MetadataTemplate": "meshals.resolve",
    "MetricOrigin": "meshals.model",
    "MxMeshAnalyzer": "meshals.mesh",
    "NameTemplate": "meshals.resolve",
    "NodeHealth": "meshals.aggregate",
    "NodeKind": "meshals.aggregate",
    "OpaqueJson": "meshals.model",
    "PipeAddress": "meshals.model",
    "Record": "meshals.capture",
    "RedAccumulator": "meshals.aggregate",
    "RedKey": "meshals.aggregate",
    "RedRow": "meshals.aggregate",
    "ReportedAccumulator": "meshals.aggregate",
    "ReportedTraffic": "meshals.aggregate",
    "RequestMethod": "meshals.model",
    "ResponseFlag": "meshals.model",
    "RoleRule": "meshals.mesh",
    "RuleResult": "meshals.aggregate",
    "SKYWALKING_FALLBACK_RULE": "meshals.resolve",
    "SKYWALKING_SERVICE_RULE": "meshals.resolve",
    "Scope": "meshals.aggregate",
    "SemanticVersion": "meshals.model",
    "ServiceNode": "meshals.aggregate",
    "SketchAccumulator": "meshals.aggregate",
    "SkipReason": "meshals.mesh",
    "SocketAddress": "meshals.model",
    "SocketProtocol": "meshals.model",
    "SpecialCluster": "meshals.model",
    "Stream": "meshals.mesh",
    "StreamMessage": "meshals.mesh",
    "SubjectAltName": "meshals.model",
    "Threshold": "meshals.aggregate",
    "TlsMode": "meshals.model",
    "TlsProperties": "meshals.model",
    "TlsVersion": "meshals.model",
    "TopologyAccumulator": "meshals.aggregate",
    "TopologyHealth": "meshals.aggregate",
    "TrafficAccumulator": "meshals.aggregate",
    "TrafficStats": "meshals.aggregate",
    "UnauthorizedReason": "meshals.model",
    "ZTUNNEL": "meshals.mesh",
    "builtin_svg": "meshals.output",
    "code_class": "meshals.aggregate",
    "default_role_rule": "meshals.mesh",
    "edge_health": "meshals.aggregate",
    "encode_binary": "meshals.codec",
    "encode_message": "meshals.codec",
    "export": "meshals.output",
    "fixed_role": "meshals.mesh",
    "graphviz_svg": "meshals.output",
    "health_of": "meshals.aggregate",
    "istio_metrics": "meshals.output",
    "l4_metrics": "meshals.mesh",
    "latency_chart_svg": "meshals.output",
    "merge": "meshals.aggregate",
    "node_health": "meshals.aggregate",
    "parse_go_duration": "meshals.codec",
    "parse_istio_cluster": "meshals.model",
    "parse_l4_line": "meshals.codec",
    "parse_window": "meshals.aggregate",
    "protocol_of": "meshals.mesh",
    "special_cluster_of": "meshals.model",
    "status_of": "meshals.mesh",
    "to_dot": "meshals.output",
    "to_mermaid": "meshals.output",
    "to_networkx": "meshals.output",
    "to_pandas": "meshals.output",
    "to_records": "meshals.output",
    "to_svg": "meshals.output",
    "topology_health": "meshals.aggregate",
}


def __getattr__(name: str) -> object:
    if name == "examples":
        # Loaded on first use: importing the bundled recordings' package (and
        # importlib.resources) is most of what ``import meshals`` would otherwise cost the
        # command line and every script that never looks at an example. Importing the
        # submodule also sets it as this attribute, so this runs once.
        return importlib.import_module("meshals.examples")
    try:
        package = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module 'meshals' has no attribute {name!r}") from None
    if name == "export":
        new_place = "meshals.output (meshals.export is deprecated)"
        value: object = importlib.import_module("meshals.export")
    else:
        new_place = f"{package}.{name}"
        value = getattr(importlib.import_module(package), name)
    warnings.warn(
        f"meshals.{name} is deprecated and will be removed in the next release; use {new_place}",
        DeprecationWarning,
        stacklevel=2,
    )
    return value


def __dir__() -> list[str]:
    return __all__
