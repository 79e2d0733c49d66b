"""meshals: offline analysis of Envoy Access Log Service (ALS) messages.

Decode ALS messages from JSON, binary protobuf or protobuf objects into immutable typed
entries. No network code, no server: bytes and text in, values out.
"""

from __future__ import annotations

from ._binary import decode_binary, decode_message
from ._containers import Container, Reader, read
from ._encode import encode_binary, encode_message
from ._errors import DecodeError, Diagnostic, EncodeError, Location, MeshalsError
from ._json import decode_json
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
from ._roles import Role, role_of
from ._values import AnyValue, FrozenMap, JsonValue, OpaqueJson

__version__ = "0.1.0.dev0"

__all__ = [
    "AccessLogCommon",
    "AccessLogType",
    "Address",
    "AlsMessage",
    "AnyValue",
    "BuildVersion",
    "CertificateProperties",
    "ConnectionProperties",
    "Container",
    "DecodeError",
    "Diagnostic",
    "EncodeError",
    "EnvoyInternalAddress",
    "Extension",
    "FrozenMap",
    "HttpEntry",
    "HttpRequest",
    "HttpResponse",
    "HttpVersion",
    "Identifier",
    "JsonValue",
    "Locality",
    "Location",
    "LogEntry",
    "MeshalsError",
    "Metadata",
    "Node",
    "OpaqueJson",
    "PipeAddress",
    "Reader",
    "RequestMethod",
    "ResponseFlag",
    "Role",
    "SemanticVersion",
    "SocketAddress",
    "SocketProtocol",
    "SubjectAltName",
    "TcpEntry",
    "TlsProperties",
    "TlsVersion",
    "UnauthorizedReason",
    "__version__",
    "decode_binary",
    "decode_json",
    "decode_message",
    "encode_binary",
    "encode_message",
    "read",
    "role_of",
]


def __dir__() -> list[str]:
    return __all__
