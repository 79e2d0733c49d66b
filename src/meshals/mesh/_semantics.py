"""Which semantics an analysis follows: meshals' own (the default), or Apache SkyWalking's
exactly, and the rules where SkyWalking's differ from meshals'.

``semantics="skywalking"`` gives the metrics SkyWalking's ALS receiver computes, one for one and
field for field, mistakes included (see :doc:`/explanation/skywalking-differences`); the
checked reference is what SkyWalking's own analyzers computed on meshals' recordings. Which
entries make metrics there is in :mod:`meshals.mesh._k8s_mesh` and :mod:`meshals.mesh._mx_mesh`
(and a Kubernetes snapshot's membership in :mod:`meshals.resolve._kubernetes`); the fields
that differ are computed here:

- protocol: HTTP when the request's scheme starts with ``http`` (plaintext gRPC included),
  else gRPC;
- response code: 200 when Envoy logged none;
- status: the HTTP rule on the response code alone (gRPC status and response flags do not
  count);
- internal request/response latency: the ``nanos`` field of each duration only;
- a sidecar's inbound call from a peer no one can name has the source ``""``, not UNKNOWN.
"""

from __future__ import annotations

from typing import Final, get_args

from meshals.model._als import HttpEntry
from meshals.model._metrics import MeshProtocol, Semantics
from meshals.model._service import ServiceMetaInfo

__all__ = ["Semantics"]

MESHALS: Final = "meshals"
SKYWALKING: Final = "skywalking"
SEMANTICS: tuple[str, ...] = get_args(Semantics)

#: The source of a SkyWalking sidecar's inbound call from a peer it cannot name: its k8s-mesh
#: analysis passes no source, so the names stay empty (not UNKNOWN).
SKYWALKING_NO_SOURCE = ServiceMetaInfo(service="", instance="")

# SkyWalking's responseCode when Envoy logged none.
SKYWALKING_DEFAULT_RESPONSE_CODE: Final = 200


def checked_semantics(semantics: str) -> Semantics:
    """*semantics* when it is one of :data:`SEMANTICS`; else a ValueError."""
    if semantics == MESHALS:
        return MESHALS
    if semantics == SKYWALKING:
        return SKYWALKING
    raise ValueError(f"semantics must be 'meshals' or 'skywalking', not {semantics!r}")


def skywalking_protocol(entry: HttpEntry) -> MeshProtocol:
    """SkyWalking's protocol of an HTTP entry: HTTP when the scheme starts with ``http``."""
    scheme = entry.request.scheme if entry.request is not None else ""
    return MeshProtocol.HTTP if scheme.startswith("http") else MeshProtocol.GRPC
