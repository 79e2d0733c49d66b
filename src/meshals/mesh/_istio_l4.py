"""Istio's TCP metrics of one ztunnel (or Kmesh) L4 connection line, by ztunnel's rules.

Written from istio/ztunnel ``src/proxy/metrics.rs`` (``CommonTrafficLabels``: ``with_source``,
``with_derived_source``, ``with_destination``, ``with_destination_service``; ``ResponseFlags``,
``SecurityPolicy``):

- reporter: ``source`` for an ``outbound`` line, ``destination`` for ``inbound``; a
  ``connection opened`` line counts when its ``connection complete`` line comes, and a
  ``connection failed`` line (``log_early_deny``) counts nothing, as in ztunnel;
- each side's workload: the snapshot's pod at the side's address
  (:class:`~meshals.resolve.KubernetesWorkloads`), else the line's ``workload`` (a pod name:
  the workload is its name without Kubernetes' generated suffixes) and ``namespace``;
  ``*_app`` and ``*_version`` are the canonical service and revision (ztunnel sets them so);
  the cluster is unknown without a snapshot that says it (it never does);
- ``source_principal``: the peer's identity of an ``inbound`` line (the mTLS identity,
  ``with_derived_source``), else ``unknown``; ``destination_principal``: ``dst.identity``;
- ``destination_service``: ``dst.service``, its name and namespace from a Kubernetes host
  ``<name>.<namespace>.svc...``, else the host itself and ``unknown``;
- ``connection_security_policy``: ``mutual_tls`` when both identities are logged (ztunnel
  logs them for HBONE only), else ``unknown`` (ztunnel has no ``none``);
- ``response_flags``: ``DENY`` when the error is a policy rejection, ``CONNECT`` for any other
  error, ``-`` otherwise;
- bytes: what the client sent is ``istio_tcp_received_bytes_total``, what it got back
  ``istio_tcp_sent_bytes_total`` (inbound ``bytes_recv``/``bytes_sent``; outbound swapped).
"""

from __future__ import annotations

import re
from typing import Final

from meshals._values import FrozenMap
from meshals.model._istio import IstioSample, IstioWorkload
from meshals.model._l4 import ConnectionEvent, Direction, L4Address, L4Connection, L4Peer
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._istio_rules import TCP_LABELS, UNKNOWN
from ._l4 import workload_name_of_pod

__all__ = ["ztunnel_sample_of"]

_KUBERNETES_HOST: Final = re.compile(r"([^.]+)\.([^.]+)\.svc(?:\..+)?")
_POLICY: Final = re.compile(r"polic|rbac|denied", re.IGNORECASE)


def ztunnel_sample_of(
    connection: L4Connection, *, workloads: KubernetesWorkloads | None
) -> IstioSample | None:
    """The TCP sample ztunnel counts for *connection*, or None (module docstring)."""
    if connection.event is not ConnectionEvent.COMPLETE or connection.direction is None:
        return None
    inbound = connection.direction is Direction.INBOUND
    src, dst = connection.src, connection.dst
    hbone = connection.dst_hbone_address
    destination_address = hbone if hbone is not None and hbone.ip is not None else dst.address
    source = _workload(src, src.address, workloads)
    destination = _workload(dst, destination_address, workloads)
    mutual = src.identity is not None and dst.identity is not None
    values = {"reporter": "destination" if inbound else "source"}
    _side(values, "source", source, src.identity if inbound else None)
    _side(values, "destination", destination, dst.identity)
    service = connection.dst_service
    kubernetes = None if service is None else _KUBERNETES_HOST.fullmatch(service)
    values["destination_service"] = service or UNKNOWN
    values["destination_service_name"] = kubernetes.group(1) if kubernetes else service or UNKNOWN
    values["destination_service_namespace"] = kubernetes.group(2) if kubernetes else UNKNOWN
    values["request_protocol"] = "tcp"
    error = connection.error
    values["response_flags"] = (
        "-" if error is None else "DENY" if _POLICY.search(error) else "CONNECT"
    )
    values["connection_security_policy"] = "mutual_tls" if mutual else UNKNOWN
    if inbound:
        request, response = connection.bytes_recv, connection.bytes_sent
    else:
        request, response = connection.bytes_sent, connection.bytes_recv
    return IstioSample(
        labels=FrozenMap({name: values[name] for name in TCP_LABELS}),
        tcp=True,
        request_bytes=request or 0,
        response_bytes=response or 0,
    )


def _workload(
    peer: L4Peer, address: L4Address | None, workloads: KubernetesWorkloads | None
) -> IstioWorkload | None:
    if workloads is not None and address is not None and address.ip is not None:
        found = workloads.workload(address.ip)
        if found is not None:
            return found
    if peer.workload is None:
        return None
    return IstioWorkload(workload=workload_name_of_pod(peer.workload), namespace=peer.namespace)


def _side(
    values: dict[str, str], side: str, workload: IstioWorkload | None, principal: str | None
) -> None:
    found = workload if workload is not None else IstioWorkload()
    values[f"{side}_workload"] = found.workload or UNKNOWN
    values[f"{side}_workload_namespace"] = found.namespace or UNKNOWN
    values[f"{side}_principal"] = principal or UNKNOWN
    # metrics.rs with_source / with_destination: app and version are the canonical ones.
    values[f"{side}_app"] = found.canonical_service or UNKNOWN
    values[f"{side}_version"] = found.canonical_revision or UNKNOWN
    values[f"{side}_canonical_service"] = found.canonical_service or UNKNOWN
    values[f"{side}_canonical_revision"] = found.canonical_revision or UNKNOWN
    values[f"{side}_cluster"] = found.cluster or UNKNOWN
