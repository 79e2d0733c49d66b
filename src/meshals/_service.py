"""Who is behind an address: the service-and-instance value and the resolver protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs

from ._values import FrozenMap

__all__ = ["UNKNOWN", "Resolver", "ServiceMetaInfo"]

_NO_TAGS: FrozenMap[str, str] = FrozenMap()


def _frozen_tags(tags: Mapping[str, str] | None) -> FrozenMap[str, str]:
    if isinstance(tags, FrozenMap):
        return tags
    return FrozenMap(tags) if tags else _NO_TAGS


@attrs.frozen(kw_only=True)
class ServiceMetaInfo:
    """A service and one of its instances, as a resolver or the analysis names them.

    ``tags`` (e.g. ``{"version": "v1"}``) become SkyWalking's instance properties.
    """

    service: str
    instance: str
    namespace: str | None = None
    tags: FrozenMap[str, str] = attrs.field(default=_NO_TAGS, converter=_frozen_tags)

    @property
    def is_unknown(self) -> bool:
        """True for :data:`UNKNOWN`, the stand-in for a peer nobody could name."""
        return self == UNKNOWN


#: The peer no resolver could name: service and instance ``UNKNOWN``, as SkyWalking names it.
UNKNOWN = ServiceMetaInfo(service="UNKNOWN", instance="UNKNOWN")


class Resolver(Protocol):
    """Names the workload behind a socket address.

    Implementations return None for an address they do not know (never raise for that); the
    analysis then uses :data:`UNKNOWN`. ``port`` is None when the address has no port (a named
    port). Resolvers must be deterministic: the same question, the same answer.
    """

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The service and instance behind ``ip:port``, or None if unknown."""
        ...
