"""Who is behind an address: the service-and-instance value, and the unknown peer."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from meshals._values import FrozenMap

__all__ = ["UNKNOWN", "ServiceMetaInfo"]

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
