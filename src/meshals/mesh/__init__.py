"""The analysis: from access-log entries to ``ServiceMeshMetric`` values.

Streams and the role of each Envoy, addresses, status and TLS, Istio peer metadata, the
k8s-mesh (gateway, sidecar, waypoint), mx-mesh and L4 analyses, ``analyze()`` (over a time
range, if asked) and the accounting of every entry it was given; and, apart from those, Istio's
own rules for its standard metrics (``istio_samples()``).
"""

from ._accounting import (
    Accounting,
    SkipReason,
)
from ._analysis import (
    Analysis,
    analyze,
)
from ._chain import (
    ANALYZERS,
)
from ._istio_walk import (
    IstioWalk,
    istio_samples,
)
from ._l4 import (
    ZTUNNEL,
    EnvoyReporters,
    l4_metrics,
)
from ._mx_mesh import (
    MX_MESH,
    MxMeshAnalyzer,
)
from ._observed_names import (
    name_claims,
    observed_resolver,
)
from ._roles import (
    RoleRule,
    default_role_rule,
    fixed_role,
    role_of,
)
from ._semantics import (
    Semantics,
)
from ._status import (
    protocol_of,
    status_of,
)
from ._streams import (
    Stream,
    StreamMessage,
)
from ._time_range import (
    latest_end_ns,
)

__all__ = [
    "ANALYZERS",
    "MX_MESH",
    "ZTUNNEL",
    "Accounting",
    "Analysis",
    "EnvoyReporters",
    "IstioWalk",
    "MxMeshAnalyzer",
    "RoleRule",
    "Semantics",
    "SkipReason",
    "Stream",
    "StreamMessage",
    "analyze",
    "default_role_rule",
    "fixed_role",
    "istio_samples",
    "l4_metrics",
    "latest_end_ns",
    "name_claims",
    "observed_resolver",
    "protocol_of",
    "role_of",
    "status_of",
]
