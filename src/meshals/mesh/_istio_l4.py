"""Istio's TCP metrics of one ztunnel (or Kmesh) L4 connection line, by ztunnel's rules.

Written from istio/ztunnel ``src/proxy/metrics.rs`` (``CommonTrafficLabels``: ``with_source``,
``with_derived_source``, ``with_destination``, ``with_destination_service``;
``ConnectionResult::new`` and ``record``; ``ResponseFlags``, ``SecurityPolicy``). ztunnel
prints its access-log fields from the label set it counts with, so a field the line prints is
the label's value; what it does not print comes from ztunnel's workload store:

- reporter: ``source`` for an ``outbound`` line, ``destination`` for ``inbound``. A
  ``connection opened`` line opens the connection (``ConnectionResult::new`` counts it), its
  ``connection complete`` line closes it with its bytes (a connection first seen complete is
  opened then); a ``connection failed`` line (``log_early_deny``) counts nothing;
- each side's workload: the snapshot's pod at the side's address
  (:class:`~meshals.resolve.KubernetesWorkloads`), with ``*_app``/``*_version`` the canonical
  service and revision, as ``with_source`` sets them; without a snapshot only the line's
  ``namespace`` is known (its ``workload`` is the pod's name, not the workload's): the rest
  is ``unknown``, and so is every cluster;
- principals: the line's ``src.identity`` and ``dst.identity`` (printed under mutual TLS);
- ``destination_service``: ``dst.service``; its name and namespace from a Kubernetes host
  ``<name>.<namespace>.svc...``, else ``unknown``;
- ``connection_security_policy``: ``mutual_tls`` for HBONE (the line has
  ``dst.hbone_addr``), else ``unknown`` (ztunnel has no ``none``);
- ``response_flags``: ``DENY`` for an inbound policy rejection
  (``AuthorizationPolicyDenied``), else ``-`` (the outbound proxy records its errors without
  a flag);
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

__all__ = ["ztunnel_sample_of"]

_KUBERNETES_HOST: Final = re.compile(r"([^.]+)\.([^.]+)\.svc(?:\..+)?")
_POLICY: Final = re.compile(r"policy rejection")


Connection = tuple[object, object, object]  # (src.addr, dst.addr, direction)


def ztunnel_sample_of(
    connection: L4Connection,
    *,
    workloads: KubernetesWorkloads | None,
    opened: set[Connection],
) -> IstioSample | None:
    """The TCP sample ztunnel counts for *connection*, or None (module docstring).

    *opened* holds the connections whose ``connection opened`` line was counted; it is
    updated.
    """
    if connection.event is ConnectionEvent.FAILED or connection.direction is None:
        return None
    inbound = connection.direction is Direction.INBOUND
    src, dst = connection.src, connection.dst
    key = (src.address, dst.address, connection.direction)
    first = key not in opened
    opened.add(key)
    complete = connection.event is ConnectionEvent.COMPLETE
    if not complete and not first:
        return None
    hbone = connection.dst_hbone_address
    destination_address = hbone if hbone is not None and hbone.ip is not None else dst.address
    values = {"reporter": "destination" if inbound else "source"}
    _side(values, "source", src, _workload(src.address, workloads))
    _side(values, "destination", dst, _workload(destination_address, workloads))
    service = connection.dst_service
    kubernetes = None if service is None else _KUBERNETES_HOST.fullmatch(service)
    values["destination_service"] = service or UNKNOWN
    values["destination_service_name"] = kubernetes.group(1) if kubernetes else UNKNOWN
    values["destination_service_namespace"] = kubernetes.group(2) if kubernetes else UNKNOWN
    values["request_protocol"] = "tcp"
    denied = inbound and connection.error is not None and _POLICY.search(connection.error)
    values["response_flags"] = "DENY" if denied else "-"
    values["connection_security_policy"] = "mutual_tls" if hbone is not None else UNKNOWN
    if inbound:
        request, response = connection.bytes_recv, connection.bytes_sent
    else:
        request, response = connection.bytes_sent, connection.bytes_recv
    return IstioSample(
        labels=FrozenMap({name: values[name] for name in TCP_LABELS}),
        tcp=True,
        request_bytes=request or 0,
        response_bytes=response or 0,
        opened=first,
        closed=complete,
    )


def _workload(
    address: L4Address | None, workloads: KubernetesWorkloads | None
) -> IstioWorkload | None:
    if workloads is None or address is None or address.ip is None:
        return None
    return workloads.workload(address.ip)


def _side(values: dict[str, str], side: str, peer: L4Peer, workload: IstioWorkload | None) -> None:
    found = workload if workload is not None else IstioWorkload()
    values[f"{side}_workload"] = found.workload or UNKNOWN
    values[f"{side}_workload_namespace"] = peer.namespace or found.namespace or UNKNOWN
    values[f"{side}_principal"] = peer.identity or UNKNOWN
    # metrics.rs with_source / with_destination: app and version are the canonical ones.
    values[f"{side}_app"] = found.canonical_service or UNKNOWN
    values[f"{side}_version"] = found.canonical_revision or UNKNOWN
    values[f"{side}_canonical_service"] = found.canonical_service or UNKNOWN
    values[f"{side}_canonical_revision"] = found.canonical_revision or UNKNOWN
    values[f"{side}_cluster"] = found.cluster or UNKNOWN
