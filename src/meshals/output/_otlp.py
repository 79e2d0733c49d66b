"""What OTLP metrics and traces share: the message classes (the ``otlp`` extra), a call's
resource and semantic-convention attributes, and the OTLP/JSON encoding of any OTLP message.

Attribute names follow OpenTelemetry's semantic conventions for HTTP (``http.request.method``,
``http.response.status_code``, ``network.protocol.name``, ``server.address``, ``error.type``)
and for RPC as most instrumentations still emit them (``rpc.system``, ``rpc.service``,
``rpc.method``, ``rpc.grpc.status_code``: the conventions up to v1.37); the workload that logged
the entry is the resource (``service.name``, ``service.instance.id``, ``service.namespace``)
and the other side of the call is ``peer.service``.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from meshals._errors import MeshalsError
from meshals._optional import require
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric
from meshals.model._service import ServiceMetaInfo

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

__all__ = ["otlp_json"]

#: The instrumentation scope of every exported metric and span.
SCOPE_NAME = "meshals"

AttributeValue = str | int | tuple[str, ...]
Attributes = tuple[tuple[str, AttributeValue], ...]

# The fields OTLP/JSON writes as hex instead of protobuf JSON's base64 (OTLP specification,
# "JSON Protobuf Encoding": trace and span ids are hex strings).
_HEX_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def load(feature: str) -> None:
    """Import the OTLP classes, or raise MissingDependencyError naming the ``otlp`` extra.

    Raises:
        MissingDependencyError: opentelemetry-proto is not installed.
        MeshalsError: an older copy of the classes is installed in its place.
    """
    module = require("opentelemetry.proto.metrics.v1.metrics_pb2", extra="otlp", feature=feature)
    if not hasattr(module, "ScopeMetrics"):
        # xds-protos ships a copy of OTLP from before scopes (2022) at the same import path; the
        # package installed last wins.
        raise MeshalsError(
            f"{feature} needs opentelemetry-proto 1.45 or later, but the opentelemetry.proto"
            f" installed ({module.__file__}) predates OTLP's scopes; another package (such as"
            " xds-protos) installed an old copy over it: pip install --force-reinstall"
            " --no-deps opentelemetry-proto"
        )


def reporter(metric: ServiceMeshMetric) -> ServiceMetaInfo:
    """The workload whose Envoy logged the entry: the called one on the server side."""
    return metric.destination if metric.detect_point is DetectPoint.SERVER else metric.source


def peer(metric: ServiceMeshMetric) -> ServiceMetaInfo:
    """The other side of the call."""
    return metric.source if metric.detect_point is DetectPoint.SERVER else metric.destination


def workload_order(workload: ServiceMetaInfo) -> tuple[str, str, str]:
    """A sort key for workloads, so that the export's order does not depend on the input's."""
    return workload.service, workload.instance, workload.namespace or ""


def resource_attributes(workload: ServiceMetaInfo) -> Attributes:
    """The resource of a workload's telemetry."""
    attributes: list[tuple[str, AttributeValue]] = [
        ("service.name", workload.service),
        ("service.instance.id", workload.instance),
    ]
    if workload.namespace:
        attributes.append(("service.namespace", workload.namespace))
    return tuple(attributes)


def call_attributes(metric: ServiceMeshMetric) -> Attributes:
    """A call's low-cardinality attributes: what a duration metric's series is keyed by.

    The path is not among them: ``http.route`` is a route template, which Envoy does not log.
    """
    attributes: list[tuple[str, AttributeValue]] = []
    method, _, path = (metric.endpoint or "").partition(":")
    if metric.protocol is MeshProtocol.HTTP:
        attributes.append(("http.request.method", method or "_OTHER"))
        if metric.response_code is not None:
            attributes.append(("http.response.status_code", metric.response_code))
        attributes.append(("network.protocol.name", "http"))
    elif metric.protocol is MeshProtocol.GRPC:
        service, _, rpc_method = path.strip("/").partition("/")
        attributes.append(("rpc.system", "grpc"))
        if service and rpc_method:
            attributes += [("rpc.service", service), ("rpc.method", rpc_method)]
        if metric.grpc_status is not None:
            attributes.append(("rpc.grpc.status_code", metric.grpc_status))
    else:
        attributes.append(("network.transport", "tcp"))
    other = peer(metric)
    if metric.detect_point is DetectPoint.CLIENT and not other.is_unknown:
        # The name a mesh client dials is the service's; Envoy's logged address is an IP.
        attributes.append(("server.address", other.service))
    if not other.is_unknown:
        attributes.append(("peer.service", other.service))
    if not metric.status:
        attributes.append(("error.type", error_type(metric)))
    return tuple(attributes)


def error_type(metric: ServiceMeshMetric) -> str:
    """``error.type`` of a failed call: its status code, else its Envoy response flags.

    >>> from meshals.model import Role, ResponseFlag
    >>> from meshals.model._service import UNKNOWN
    >>> error_type(ServiceMeshMetric(role=Role.SIDECAR, detect_point=DetectPoint.CLIENT,
    ...     protocol=MeshProtocol.TCP, source=UNKNOWN, destination=UNKNOWN, status=False,
    ...     response_flags=frozenset({ResponseFlag.UPSTREAM_CONNECTION_FAILURE})))
    'UF'
    """
    # The conventions: the status code as a string when it says the call failed.
    if metric.grpc_status:
        return str(metric.grpc_status)
    if metric.response_code is not None and metric.response_code >= 400:
        return str(metric.response_code)
    flags = sorted(metric.response_flags, key=lambda flag: flag.field_number)
    return ",".join(flag.short_code for flag in flags) or "_OTHER"


def any_value(value: AttributeValue) -> AnyValue:
    """An attribute value as OTLP's ``AnyValue``."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

    if isinstance(value, tuple):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=value)


def key_values(attributes: Attributes) -> list[KeyValue]:
    """Attributes as OTLP ``KeyValue`` messages, in the order given."""
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes]


def resource(workload: ServiceMetaInfo) -> Resource:
    """A workload's OTLP ``Resource``."""
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    return Resource(attributes=key_values(resource_attributes(workload)))


def otlp_json(message: Message) -> str:
    """An OTLP message in OTLP/JSON, as OTLP/HTTP sends it with ``application/json``.

    Protobuf's JSON mapping with OTLP's differences: field names in lowerCamelCase, 64-bit
    integers as strings, enums as integers, and trace and span ids as hex, not base64.

    Args:
        message: an OTLP message (:func:`otlp_metrics`' or :func:`otlp_traces`' request).

    Returns:
        One line of JSON, without a newline.
    """
    from google.protobuf import json_format

    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_hex_ids(document), separators=(",", ":"), ensure_ascii=False)


def _hex_ids(value: object) -> object:
    if isinstance(value, dict):
        return {
            key: (
                base64.b64decode(item).hex()
                if key in _HEX_FIELDS and isinstance(item, str)
                else _hex_ids(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value
