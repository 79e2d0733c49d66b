"""Deprecated: SkyWalking's ServiceMeshMetrics now live in :mod:`meshals.output`.

``meshals.export.skywalking`` and the other names here still work for one release, with a
``DeprecationWarning`` that names their new place.
"""

from __future__ import annotations

import warnings

from meshals import output
from meshals.output import _skywalking

# Exactly what the old module exported: the SkyWalking output's names.
_NAMES = frozenset(_skywalking.__all__)


def __getattr__(name: str) -> object:
    if name not in _NAMES:
        raise AttributeError(f"module 'meshals.export' has no attribute {name!r}")
    warnings.warn(
        f"meshals.export.{name} is deprecated and will be removed in the next release; "
        f"use meshals.output.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(output, name)
