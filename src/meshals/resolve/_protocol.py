"""The resolver plug point: what the analysis asks to name the workload behind an address."""

from __future__ import annotations

from typing import Protocol

from meshals.model._service import ServiceMetaInfo

__all__ = ["Resolver"]


class Resolver(Protocol):
    """Names the workload behind a socket address.

    Implementations return None for an address they do not know (never raise for that); the
    analysis then uses :data:`UNKNOWN`. ``port`` is None when the address has no port (a named
    port). Resolvers must be deterministic: the same question, the same answer.
    """

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The service and instance behind ``ip:port``, or None if unknown."""
        ...
