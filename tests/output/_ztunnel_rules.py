"""ztunnel's L4 metrics computed from its JSON access log by ztunnel's rules.

The independent side of ``test_istio_oracle.py`` for ambient: written from istio/ztunnel
``src/proxy/metrics.rs`` (``CommonTrafficLabels``, ``ConnectionResult::new``,
``record_internal``, the ``access_log!`` fields) and the inbound/outbound proxies that fill
``ConnectionOpen``, never from meshals. ztunnel prints its log fields from the same label set
it counts with (``tl``), so a field the log prints is the label's value; what the log does not
print (workload names, canonical services, clusters) comes from ztunnel's workload store,
which a log reader without a snapshot does not have: ``unknown``.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

from _prom_samples import LabelKey, Samples

UNKNOWN = "unknown"


def _service_parts(hostname: str) -> tuple[str, str]:
    # ServiceDescription (name, namespace) of a Kubernetes Service's hostname
    # <name>.<namespace>.svc.<domain>; other hosts: the store's entry is not in the log.
    parts = hostname.split(".")
    if len(parts) >= 4 and parts[2] == "svc":
        return parts[0], parts[1]
    return UNKNOWN, UNKNOWN


def labels(line: dict[str, object]) -> dict[str, str]:
    """The ``CommonTrafficLabels`` of one access-log line (metrics.rs)."""

    def field(name: str) -> str:
        value = line.get(name)
        return str(value) if value not in (None, "") else UNKNOWN

    outbound = line["direction"] == "outbound"
    hbone = "dst.hbone_addr" in line
    service = field("dst.service")
    service_name, service_namespace = (
        _service_parts(service) if service != UNKNOWN else (UNKNOWN, UNKNOWN)
    )
    error = str(line.get("error", ""))
    # ResponseFlags: the inbound proxy records a policy rejection with
    # AuthorizationPolicyDenied ("DENY"); ztunnel 1.22's outbound proxy records its errors
    # with ``record(res)``, without a flag ("-").
    flag = "DENY" if not outbound and "policy rejection" in error else "-"
    return {
        "reporter": "source" if outbound else "destination",
        # with_source / with_destination: the workload store's fields, not in the log.
        "source_workload": UNKNOWN,
        "source_canonical_service": UNKNOWN,
        "source_canonical_revision": UNKNOWN,
        "source_workload_namespace": field("src.namespace"),
        # The log prints src.identity / dst.identity only under mutual TLS, from the labels.
        "source_principal": field("src.identity"),
        "source_app": UNKNOWN,
        "source_version": UNKNOWN,
        "source_cluster": UNKNOWN,
        "destination_service": service,
        "destination_service_namespace": service_namespace,
        "destination_service_name": service_name,
        "destination_workload": UNKNOWN,
        "destination_canonical_service": UNKNOWN,
        "destination_canonical_revision": UNKNOWN,
        "destination_workload_namespace": field("dst.namespace"),
        "destination_principal": field("dst.identity"),
        "destination_app": UNKNOWN,
        "destination_version": UNKNOWN,
        "destination_cluster": UNKNOWN,
        "request_protocol": "tcp",
        "response_flags": flag,
        # SecurityPolicy: mutual_tls for HBONE, else the default "unknown" (there is no "none").
        "connection_security_policy": "mutual_tls" if hbone else UNKNOWN,
    }


def expected_samples(path: Path) -> Samples:
    """The ``istio_tcp_*`` samples ztunnel counts for the connections in one JSON log."""
    samples: collections.Counter[tuple[str, LabelKey]] = collections.Counter()
    opened: set[tuple[object, ...]] = set()
    for text in path.read_text().splitlines():
        line = json.loads(text)
        if line.get("scope") != "access" or line.get("message") not in (
            "connection opened",
            "connection complete",
        ):
            # "connection failed" is log_early_deny: logged before ConnectionResult exists,
            # no metric.
            continue
        key = tuple(sorted(labels(line).items()))
        connection = (line["src.addr"], line["dst.addr"], line["direction"])
        if connection not in opened:
            # ConnectionResult::new counts the open once; the debug "connection opened" line
            # and the "connection complete" line name the same connection.
            opened.add(connection)
            samples["istio_tcp_connections_opened_total", key] += 1
        if line["message"] != "connection complete":
            continue
        samples["istio_tcp_connections_closed_total", key] += 1
        sent, received = int(str(line["bytes_sent"])), int(str(line["bytes_recv"]))
        if line["direction"] == "outbound":
            # "Istio flips the metric for source": the log unflips it, so flip back.
            sent, received = received, sent
        samples["istio_tcp_sent_bytes_total", key] += sent
        samples["istio_tcp_received_bytes_total", key] += received
    return {key: float(value) for key, value in samples.items()}
