"""Istio's view of a workload and of one reported request or connection: the values its
standard metrics are made of.

These follow Istio's own naming (istio/proxy ``extensions/common/metadata_object.h``,
``WorkloadMetadataObject``), kept apart from the SkyWalking service and instance names of
:class:`~meshals.ServiceMetaInfo`: neither is derived from the other.
"""

from __future__ import annotations

import attrs

from meshals._values import FrozenMap

__all__ = ["IstioSample", "IstioWorkload"]


@attrs.frozen(kw_only=True)
class IstioWorkload:
    """A workload as Istio's telemetry names it; None where nothing said.

    Attributes:
        workload: the workload (Deployment, StatefulSet, ...) name, ``WORKLOAD_NAME``.
        namespace: its namespace, ``NAMESPACE``.
        canonical_service: label ``service.istio.io/canonical-name``.
        canonical_revision: label ``service.istio.io/canonical-revision``.
        app: label ``app``.
        version: label ``version``.
        cluster: the cluster id, ``CLUSTER_ID``.
        service_account: the pod's service account, ``SERVICE_ACCOUNT``.
        identity: its SPIFFE id where metadata states it (peer metadata's ``identity``).
    """

    workload: str | None = None
    namespace: str | None = None
    canonical_service: str | None = None
    canonical_revision: str | None = None
    app: str | None = None
    version: str | None = None
    cluster: str | None = None
    service_account: str | None = None
    identity: str | None = None


@attrs.frozen(kw_only=True)
class IstioSample:
    """One request or connection as one Istio proxy would count it.

    Attributes:
        labels: every label of the series it counts in, by name (Istio's values, ``unknown``
            where Istio writes it). TCP samples have no ``response_code`` nor
            ``grpc_response_status``.
        tcp: a connection (the ``istio_tcp_*`` families), else a request.
        duration_ms: the request's duration in whole milliseconds, None when not logged.
        request_bytes: downstream wire bytes received (TCP: ``istio_tcp_received_bytes``).
        response_bytes: downstream wire bytes sent (TCP: ``istio_tcp_sent_bytes``).
        request_messages: gRPC request messages, None when not logged.
        response_messages: gRPC response messages, None when not logged.
        opened: a TCP sample counts in ``istio_tcp_connections_opened_total``.
        closed: a TCP sample counts in ``istio_tcp_connections_closed_total`` (an L4 log's
            ``connection opened`` line opens a connection its ``connection complete`` line
            closes).
    """

    labels: FrozenMap[str, str]
    tcp: bool
    duration_ms: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    request_messages: int | None = None
    response_messages: int | None = None
    opened: bool = True
    closed: bool = True
