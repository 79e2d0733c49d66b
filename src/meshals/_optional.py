"""Optional dependencies: importing them lazily, and the error that names the extra to install.

meshals' core needs only protobuf, attrs and python-dateutil. The Prometheus output, the
networkx graph and pandas frames need more; each lives behind an extra
(``pip install '.[prometheus]'`` in a checkout) and is imported inside the function that needs
it. The error names the module to install, not ``meshals[extra]``: meshals is installed from a
checkout or a wheel, not from the package index, so that name would not resolve.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MeshalsError

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(MeshalsError, ImportError):
    """An optional dependency a feature needs is not installed; the message says how to fix it.

    It is an :class:`ImportError` (what code guarding an optional import expects) and a
    :class:`~meshals.MeshalsError` (the command line reports it as one line).

    Attributes:
        module: the module that could not be imported (``"prometheus_client"``).
        extra: the meshals extra that installs it (``"prometheus"``).
        feature: what needed it (``"Prometheus output"``).
    """

    def __init__(self, module: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs {module}, which is not installed:"
            f" pip install {module} (meshals' extra {extra!r})",
            name=module,
        )
        self.module = module
        self.extra = extra
        self.feature = feature

    def __reduce__(self) -> tuple[object, ...]:
        return (MissingDependencyError, (self.module, self.extra, self.feature))


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency.

    Args:
        module: the module to import (``"networkx"``).
        extra: the meshals extra that installs it (``"graph"``).
        feature: what needs it, for the message (``"to_networkx()"``).

    Returns:
        The module.

    Raises:
        MissingDependencyError: the module is not installed.

    >>> require("json", extra="none", feature="a doctest").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.partition(".")[0] != exc.name.partition(".")[0]:
            raise  # the dependency is there but broken: not an install problem
        raise MissingDependencyError(module, extra, feature) from exc
