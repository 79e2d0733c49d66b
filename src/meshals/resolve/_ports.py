"""Which resolvers answer by IP alone, whatever the port: :func:`reads_ports`.

The analysis asks a resolver about every caller, whose port is ephemeral: a new question per
connection. Knowing that a resolver never reads the port lets it remember the caller's answer
with the rest of an entry's placement (``meshals.mesh._k8s_mesh``). Only resolvers whose
``resolve`` is known are vouched for, by exact type (a subclass may read the port); any other
is taken to read it.
"""

from __future__ import annotations

from ._kubernetes import KubernetesResolver
from ._observed import ObservedResolver
from ._protocol import Resolver
from ._resolvers import CachingResolver, ChainResolver, RunMemo, StaticResolver

__all__: list[str] = []


def reads_ports(resolver: Resolver) -> bool:
    """False when *resolver* gives every port of an IP the same answer, as far as is known.

    That holds for a :class:`~meshals.resolve.StaticResolver` without ``ip:port`` keys, a
    :class:`~meshals.resolve.KubernetesResolver` (it ignores ports), an
    :class:`~meshals.mesh.ObservedResolver` (its table names IPs), and for caches and chains
    of such resolvers only.

    >>> from meshals.resolve import StaticResolver
    >>> reads_ports(StaticResolver.from_mapping({"10.0.0.1": {"service": "a", "instance": "a"}}))
    False
    >>> reads_ports(StaticResolver.from_mapping({"10.0.0.1:80": {"service": "a", "instance": "a"}}))
    True
    """
    if type(resolver) is RunMemo or type(resolver) is CachingResolver:
        return reads_ports(resolver.resolver)
    if type(resolver) is ChainResolver:
        return any(reads_ports(inner) for inner in resolver.resolvers)
    if type(resolver) is StaticResolver:
        return any(port is not None for _, port in resolver._table)
    if type(resolver) is ObservedResolver:
        return reads_ports(resolver._static)
    return type(resolver) is not KubernetesResolver
