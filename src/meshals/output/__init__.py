"""Other forms of the results: SkyWalking, Istio/Prometheus, graphs, records and notebooks.

SkyWalking's ``ServiceMeshMetrics``, Istio's standard metrics, OpenTelemetry (OTLP) metrics
and spans, DOT, Mermaid, SVG and networkx graphs, flat records and pandas frames, and the HTML
that values show in Jupyter (registered here into :mod:`meshals._display`).
"""

from ._diff import (
    comparison_records,
    diff_dot,
)
from ._diff_svg import (
    diff_svg,
)
from ._dot import (
    to_dot,
)
from ._frames import (
    to_pandas,
    to_records,
)
from ._graph_json import (
    graph_json,
)
from ._istio_metrics import (
    HTTP_LABELS,
    ISTIO_BUCKETS,
    TCP_LABELS,
    IstioHistogram,
    IstioMetrics,
    istio_metrics,
    istio_metrics_of,
)
from ._mermaid import (
    to_mermaid,
)
from ._networkx import (
    to_networkx,
)
from ._notebook import (
    latency_chart_svg,
)
from ._otlp import (
    otlp_json,
)
from ._otlp_metrics import (
    otlp_metrics,
)
from ._otlp_traces import (
    otlp_traces,
)
from ._skywalking import (
    COLLECT_METHOD,
    DEFAULT_BATCH_SIZE,
    MeshProbeDownstream,
    ServiceMeshMetrics,
    skywalking,
    skywalking_json,
    skywalking_metric,
)
from ._svg import (
    GraphRenderError,
    builtin_svg,
    graphviz_svg,
    to_svg,
)

__all__ = [
    "COLLECT_METHOD",
    "DEFAULT_BATCH_SIZE",
    "HTTP_LABELS",
    "ISTIO_BUCKETS",
    "TCP_LABELS",
    "GraphRenderError",
    "IstioHistogram",
    "IstioMetrics",
    "MeshProbeDownstream",
    "ServiceMeshMetrics",
    "builtin_svg",
    "comparison_records",
    "diff_dot",
    "diff_svg",
    "graph_json",
    "graphviz_svg",
    "istio_metrics",
    "istio_metrics_of",
    "latency_chart_svg",
    "otlp_json",
    "otlp_metrics",
    "otlp_traces",
    "skywalking",
    "skywalking_json",
    "skywalking_metric",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "to_pandas",
    "to_records",
    "to_svg",
]
