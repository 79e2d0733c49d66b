"""Exporters: meshals' metrics in other systems' wire formats.

:func:`skywalking` turns :class:`~meshals.ServiceMeshMetric` values into the messages an Apache
SkyWalking OAP receives from a service-mesh probe (``skywalking.v3.ServiceMeshMetrics``; the
schema and its upstream revision are in ``protos/README.md``), with SkyWalking's field
conventions, so that a service can forward meshals' results to a real OAP:

- ``startTime``/``endTime``/``latency`` are SkyWalking's millisecond views of the metric
  (``start_time_ms``, ``end_time_ms``, ``latency_ms``: truncated, latency at least 1).
- ``responseCode`` is 200 when the metric has none.
- ``protocol`` is ``HTTP`` or ``gRPC``; TCP metrics go into ``TCPServiceMeshMetric`` instead,
  with ``receivedBytes``/``sentBytes`` (0 when unknown) and no endpoint, code or status.
- Which calls become metrics, ``status`` and ``protocol`` are the metric's: meshals' analysis,
  which corrects SkyWalking's where it errs (e.g. plaintext gRPC is ``gRPC`` here, ``HTTP``
  in SkyWalking; see :func:`meshals.analyze`). The OAP accepts every value written.
- ``detectPoint`` is ``client`` or ``server``; ``tlsMode`` is ``"NONE"``, ``"TLS"`` or
  ``"mTLS"``; ``internalErrorCode`` is SkyWalking's single flag name (or ``""``).
- ``internalRequestLatencyNanos``/``internalResponseLatencyNanos`` are computed as SkyWalking
  does, from the nanos fields of Envoy's durations only (their seconds are ignored).
- Instance tags become ``source``/``destInstanceProperties``, in their order (a Kubernetes
  snapshot's: ``pod``, ``namespace``, then the pod's labels by name). For ``mx-mesh`` metrics
  only the ``pod`` and ``namespace`` tags are written (from the metadata's ``NAME`` and
  ``NAMESPACE``): SkyWalking's ``mx-mesh`` sends no others.
- SkyWalking's ``k8s-mesh`` analysis passes no source for a sidecar's inbound (server-side)
  call from a peer it cannot name, so the OAP sees empty source names there: for such
  metrics (analyzer ``k8s-mesh``, role SIDECAR, server side, source UNKNOWN) the export
  writes ``""`` for the source service and instance, and no source properties. Everywhere
  else UNKNOWN stays ``"UNKNOWN"``. meshals' own metrics keep UNKNOWN.
- ``int32``/``int64`` fields get values as Java's narrowing casts would (two's complement
  wrap-around), where a value is out of range.

Forward the messages with any gRPC client as the client stream of :data:`COLLECT_METHOD`;
the reply is one empty :data:`MeshProbeDownstream`. With grpcio (not a meshals dependency)::

    collect = grpc.insecure_channel("oap:11800").stream_unary(
        meshals.output.COLLECT_METHOD,
        request_serializer=meshals.output.ServiceMeshMetrics.SerializeToString,
        response_deserializer=meshals.output.MeshProbeDownstream.FromString,
    )
    with meshals.read("capture.bin") as reader:
        collect(meshals.output.skywalking(meshals.analyze(reader, resolver=resolver)))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message

from meshals._errors import EncodeError, Location
from meshals._pb.common_pb2 import DetectPoint as PB2DetectPoint
from meshals._pb.common_pb2 import KeyStringValuePair as PB2KeyStringValuePair
from meshals._pb.service_mesh_pb2 import HTTPServiceMeshMetric as PB2HTTPServiceMeshMetric
from meshals._pb.service_mesh_pb2 import MeshProbeDownstream as PB2MeshProbeDownstream
from meshals._pb.service_mesh_pb2 import Protocol as PB2Protocol
from meshals._pb.service_mesh_pb2 import ServiceMeshMetrics as PB2ServiceMeshMetrics
from meshals._pb.service_mesh_pb2 import TCPServiceMeshMetric as PB2TCPServiceMeshMetric
from meshals.mesh._mx_mesh import MX_MESH
from meshals.model._metrics import K8S_MESH, DetectPoint, MeshProtocol, ServiceMeshMetric
from meshals.model._role import Role
from meshals.model._service import ServiceMetaInfo

__all__ = [
    "COLLECT_METHOD",
    "DEFAULT_BATCH_SIZE",
    "MeshProbeDownstream",
    "ServiceMeshMetrics",
    "skywalking",
    "skywalking_json",
    "skywalking_metric",
]

#: The generated ``skywalking.v3.ServiceMeshMetrics`` class (meshals' renamed copy).
ServiceMeshMetrics = PB2ServiceMeshMetrics
#: The generated ``skywalking.v3.MeshProbeDownstream`` class: the OAP's reply.
MeshProbeDownstream = PB2MeshProbeDownstream

#: The gRPC method of SkyWalking's OAP that receives a client stream of ServiceMeshMetrics.
COLLECT_METHOD: Final = "/skywalking.v3.ServiceMeshMetricService/collect"

#: Metrics per ServiceMeshMetrics message: about 200 KB of HTTP metrics, far below the
#: 4 MiB message limit gRPC servers start with.
DEFAULT_BATCH_SIZE: Final = 1000

# SkyWalking's responseCode when Envoy logged none.
_DEFAULT_RESPONSE_CODE: Final = 200

_DETECT_POINTS: Final = {
    DetectPoint.CLIENT: PB2DetectPoint.client,
    DetectPoint.SERVER: PB2DetectPoint.server,
}
_PROTOCOLS: Final = {MeshProtocol.HTTP: PB2Protocol.HTTP, MeshProtocol.GRPC: PB2Protocol.gRPC}


def skywalking(
    metrics: Iterable[ServiceMeshMetric], *, batch_size: int | None = DEFAULT_BATCH_SIZE
) -> Iterator[PB2ServiceMeshMetrics]:
    """SkyWalking's ``ServiceMeshMetrics`` messages for *metrics*, lazily.

    HTTP and gRPC metrics are batched into ``httpMetrics`` messages, TCP metrics into
    ``tcpMetrics`` messages, each kind in input order. A batch is yielded as soon as it holds
    *batch_size* metrics; at the end the partial HTTP batch comes first, then the partial TCP
    batch. With ``batch_size=None`` there is one message per kind (none for a kind without
    metrics). The conventions are in the module docstring.

    Args:
        metrics: the metrics, e.g. from :func:`meshals.analyze`; consumed lazily.
        batch_size: the most metrics per message, or None for no limit.

    Returns:
        An iterator of ``ServiceMeshMetrics`` (meshals' generated class, wire-identical to
        SkyWalking's ``skywalking.v3.ServiceMeshMetrics``).

    Raises:
        ValueError: *batch_size* is not None and less than 1 (at the call).
        EncodeError: a metric holds a string that UTF-8 cannot encode (a lone surrogate,
            possible from JSON input only); raised when the iterator reaches it.

    >>> list(skywalking([]))
    []
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    return _batches(metrics, batch_size)


def _batches(
    metrics: Iterable[ServiceMeshMetric], batch_size: int | None
) -> Iterator[PB2ServiceMeshMetrics]:
    http = PB2ServiceMeshMetrics()
    tcp = PB2ServiceMeshMetrics()
    for metric in metrics:
        converted = skywalking_metric(metric)
        if isinstance(converted, PB2TCPServiceMeshMetric):
            tcp.tcpMetrics.metrics.append(converted)
            if len(tcp.tcpMetrics.metrics) == batch_size:
                yield tcp
                tcp = PB2ServiceMeshMetrics()
        else:
            http.httpMetrics.metrics.append(converted)
            if len(http.httpMetrics.metrics) == batch_size:
                yield http
                http = PB2ServiceMeshMetrics()
    for batch in (http, tcp):
        if batch.WhichOneof("metrics") is not None:
            yield batch


def skywalking_metric(
    metric: ServiceMeshMetric,
) -> PB2HTTPServiceMeshMetric | PB2TCPServiceMeshMetric:
    """One metric as SkyWalking's ``HTTPServiceMeshMetric`` or ``TCPServiceMeshMetric``.

    Args:
        metric: an HTTP, gRPC or TCP metric.

    Returns:
        A new ``TCPServiceMeshMetric`` for a TCP metric, else a new ``HTTPServiceMeshMetric``.

    Raises:
        EncodeError: a string field holds a lone surrogate, which UTF-8 cannot encode.
    """
    try:
        if metric.protocol is MeshProtocol.TCP:
            return _tcp_metric(metric)
        return _http_metric(metric)
    except UnicodeEncodeError as exc:
        origin = metric.origin
        where = Location(
            source=origin.source,
            message_index=origin.message_index,
            entry_index=origin.entry_index,
        )
        raise EncodeError(
            f"{where}: a name or endpoint of the metric is not valid Unicode"
            f" ({exc.reason}), so SkyWalking's UTF-8 string fields cannot carry it"
        ) from exc


def _http_metric(metric: ServiceMeshMetric) -> PB2HTTPServiceMeshMetric:
    out = PB2HTTPServiceMeshMetric(
        endpoint=metric.endpoint or "",
        latency=_int32(metric.latency_ms),
        responseCode=_int32(
            _DEFAULT_RESPONSE_CODE if metric.response_code is None else metric.response_code
        ),
        status=metric.status,
        protocol=_PROTOCOLS[metric.protocol],
    )
    _common(metric, out)
    return out


def _tcp_metric(metric: ServiceMeshMetric) -> PB2TCPServiceMeshMetric:
    out = PB2TCPServiceMeshMetric(
        receivedBytes=_int64(metric.received_bytes or 0),
        sentBytes=_int64(metric.sent_bytes or 0),
    )
    _common(metric, out)
    return out


def _common(
    metric: ServiceMeshMetric, out: PB2HTTPServiceMeshMetric | PB2TCPServiceMeshMetric
) -> None:
    """The fields HTTPServiceMeshMetric and TCPServiceMeshMetric share (same names)."""
    out.startTime = _int64(metric.start_time_ms)
    out.endTime = _int64(metric.end_time_ms)
    if not _source_dropped(metric):
        out.sourceServiceName = metric.source.service
        out.sourceServiceInstance = metric.source.instance
        _properties(metric.source, out.sourceInstanceProperties, metric.analyzer)
    out.destServiceName = metric.destination.service
    out.destServiceInstance = metric.destination.instance
    _properties(metric.destination, out.destInstanceProperties, metric.analyzer)
    out.detectPoint = _DETECT_POINTS[metric.detect_point]
    out.tlsMode = metric.tls_mode.value
    out.internalErrorCode = metric.internal_error_code
    out.internalRequestLatencyNanos = _int64(metric.skywalking_internal_request_latency_nanos)
    out.internalResponseLatencyNanos = _int64(metric.skywalking_internal_response_latency_nanos)


def _source_dropped(metric: ServiceMeshMetric) -> bool:
    # K8sALSServiceMeshHTTPAnalysis (and its TCP twin) hands the adapter a null source for
    # an inbound call from an unknown peer; the builder's string fields then stay "".
    return (
        metric.analyzer == K8S_MESH
        and metric.role is Role.SIDECAR
        and metric.detect_point is DetectPoint.SERVER
        and metric.source.is_unknown
    )


# The tags SkyWalking's mx-mesh sends as instance properties.
_MX_MESH_PROPERTIES: Final = ("pod", "namespace")


def _properties(
    info: ServiceMetaInfo,
    out: RepeatedCompositeFieldContainer[PB2KeyStringValuePair],
    analyzer: str,
) -> None:
    keys = info.tags if analyzer != MX_MESH else [k for k in _MX_MESH_PROPERTIES if k in info.tags]
    for key in keys:
        out.append(PB2KeyStringValuePair(key=key, value=info.tags[key]))


def _int32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def _int64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def skywalking_json(message: Message) -> dict[str, object]:
    """The proto3 JSON form of a SkyWalking message, as a dict in field-number order.

    Field names are SkyWalking's camelCase ones (``startTime``, ``httpMetrics``). Every field
    is written, defaults included (``"detectPoint": "client"``, ``"responseCode": 0``), so
    each object reads on its own; int64 values are strings, as proto3 JSON writes them.
    ``google.protobuf.json_format.Parse`` reads the result back into the same message, and
    so does SkyWalking's ``JsonFormat`` parser into its own classes.

    Args:
        message: a message from :func:`skywalking` or :func:`skywalking_metric`.

    Returns:
        A new dict, ready for :func:`json.dumps`.
    """
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    # The C (upb) runtime types DESCRIPTOR as its own class; it has the same interface.
    return _in_field_order(data, cast(Descriptor, message.DESCRIPTOR))


def _in_field_order(data: Mapping[str, Any], descriptor: Descriptor) -> dict[str, object]:
    # json_format writes the fields that are set first and defaults after them.
    out: dict[str, object] = {}
    for field in descriptor.fields:
        if field.json_name not in data:
            continue  # an unset oneof member
        value = data[field.json_name]
        if field.message_type is not None:
            # A repeated field is a list in the JSON form (FieldDescriptor.label is gone in
            # protobuf 7, and is_repeated is missing from older runtimes).
            if isinstance(value, list):
                value = [_in_field_order(item, field.message_type) for item in value]
            else:
                value = _in_field_order(value, field.message_type)
        out[field.json_name] = value
    return out
