"""The reconnect mesh: the basic recording's pods and traffic, with the collector ending streams.

Dev tooling for ``record_fixtures.py``; not part of meshals. The same pods, services and
calls as ``_bookinfo.BASIC`` (so ``tests/fixtures/k8s/bookinfo-loopback.json`` names its pods),
but the ALS collector ends every open gRPC stream twice, as a collector that restarts would:
after phase 1 (the three product pages: the gateway's, productpage's, reviews' and details'
HTTP streams) and after phase 4 (the first TCP connection: their second HTTP streams, and
productpage's and mongodb's TCP streams). Envoy then opens a new stream when it next has
entries to send, with the identifier on its first message again.
"""

from __future__ import annotations

from _bookinfo import BASIC, Mesh

__all__ = ["RECONNECT", "RECONNECT_STATUS"]

# What the collector ends the streams with: the status a server that is going away returns
# (gRPC's status code guide: "The service is currently unavailable ... a transient
# condition"), which Envoy's access logger treats like any remote close.
RECONNECT_STATUS = "UNAVAILABLE"

RECONNECT = Mesh(
    name="reconnect",
    pods=BASIC.pods,
    services=BASIC.services,
    phases=BASIC.phases,
    reconnect_after=(0, 3),
)
