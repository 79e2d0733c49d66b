"""Who is behind an address or a peer's metadata: the ``Resolver`` protocol and resolvers.

Static tables, the names the captures give themselves (``ObservedResolver``), offline
Kubernetes snapshots (Pods, Services, Endpoints, ServiceEntries; and
Istio's workload of a pod), SkyWalking-syntax name templates, the metadata-to-service mapping,
chains and caches.
"""

from ._k8s_naming import (
    KubernetesNaming,
)
from ._k8s_workloads import (
    KubernetesWorkloads,
)
from ._kubernetes import (
    KubernetesResolver,
)
from ._naming import (
    DEFAULT_SERVICE_INSTANCE_NAME,
    DEFAULT_SERVICE_NAME,
    MetadataServiceMapping,
    MetadataTemplate,
)
from ._observed import (
    NameClaim,
    ObservedResolver,
)
from ._protocol import (
    Resolver,
)
from ._resolvers import (
    CachingResolver,
    ChainResolver,
    StaticResolver,
)
from ._templates import (
    MISSING_VALUE,
    SKYWALKING_FALLBACK_RULE,
    SKYWALKING_SERVICE_RULE,
    NameTemplate,
)

__all__ = [
    "DEFAULT_SERVICE_INSTANCE_NAME",
    "DEFAULT_SERVICE_NAME",
    "MISSING_VALUE",
    "SKYWALKING_FALLBACK_RULE",
    "SKYWALKING_SERVICE_RULE",
    "CachingResolver",
    "ChainResolver",
    "KubernetesNaming",
    "KubernetesResolver",
    "KubernetesWorkloads",
    "MetadataServiceMapping",
    "MetadataTemplate",
    "NameClaim",
    "NameTemplate",
    "ObservedResolver",
    "Resolver",
    "StaticResolver",
]
