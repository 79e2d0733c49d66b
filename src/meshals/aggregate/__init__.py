"""Exact, mergeable aggregates of metrics.

Traffic statistics, RED rates, latency sketches, the service topology and its health,
time windows and summaries. Every aggregate merges exactly, so files analysed apart give
the same result as one analysis.
"""

from ._compare import (
    DEFAULT_ALPHA,
    Comparison,
    EdgeChange,
    ProportionTest,
    compare,
    two_proportion_test,
)
from ._health import (
    DEFAULT_THRESHOLDS,
    Health,
    HealthStatus,
    HealthThresholds,
    NodeHealth,
    RuleResult,
    Threshold,
    TopologyHealth,
    edge_health,
    health_of,
    node_health,
    topology_health,
)
from ._identities import (
    ConflictKind,
    Identities,
    IdentitiesAccumulator,
    IdentityConflict,
    Sighting,
    WorkloadIdentity,
    identities,
)
from ._period import (
    Period,
)
from ._red import (
    RedAccumulator,
    RedKey,
    RedRow,
    RedStats,
    Scope,
    red,
)
from ._security import (
    SecurityAccumulator,
    SecurityStats,
)
from ._sketch import (
    LatencySketch,
    SketchAccumulator,
)
from ._stats import (
    ReportedAccumulator,
    ReportedTraffic,
    merge,
)
from ._summary import (
    Summary,
    summarize,
)
from ._topology import (
    Edge,
    NodeKind,
    ServiceNode,
    Topology,
    TopologyAccumulator,
    topology,
)
from ._traffic import (
    TrafficAccumulator,
    TrafficStats,
    code_class,
)
from ._windows import (
    parse_window,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLDS",
    "Comparison",
    "ConflictKind",
    "Edge",
    "EdgeChange",
    "Health",
    "HealthStatus",
    "HealthThresholds",
    "Identities",
    "IdentitiesAccumulator",
    "IdentityConflict",
    "LatencySketch",
    "NodeHealth",
    "NodeKind",
    "Period",
    "ProportionTest",
    "RedAccumulator",
    "RedKey",
    "RedRow",
    "RedStats",
    "ReportedAccumulator",
    "ReportedTraffic",
    "RuleResult",
    "Scope",
    "SecurityAccumulator",
    "SecurityStats",
    "ServiceNode",
    "Sighting",
    "SketchAccumulator",
    "Summary",
    "Threshold",
    "Topology",
    "TopologyAccumulator",
    "TopologyHealth",
    "TrafficAccumulator",
    "TrafficStats",
    "WorkloadIdentity",
    "code_class",
    "compare",
    "edge_health",
    "health_of",
    "identities",
    "merge",
    "node_health",
    "parse_window",
    "red",
    "summarize",
    "topology",
    "topology_health",
    "two_proportion_test",
]
