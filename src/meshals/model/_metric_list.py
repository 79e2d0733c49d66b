"""A list of metrics that shows itself as a table in notebooks and converts to records."""

from __future__ import annotations

from typing import TYPE_CHECKING, SupportsIndex, overload

from meshals._display import html, pandas_frame

from ._metrics import ServiceMeshMetric

if TYPE_CHECKING:
    import pandas

__all__ = ["MetricList"]


class MetricList(list[ServiceMeshMetric]):
    """A list of metrics that shows itself as a table in Jupyter and converts to records.

    >>> MetricList()._repr_html_()
    '<p>0 metrics</p>'
    """

    @overload
    def __getitem__(self, index: SupportsIndex) -> ServiceMeshMetric: ...
    @overload
    def __getitem__(self, index: slice) -> MetricList: ...
    def __getitem__(self, index: SupportsIndex | slice) -> ServiceMeshMetric | MetricList:
        if isinstance(index, slice):  # a slice stays a MetricList, so it shows as a table
            return MetricList(super().__getitem__(index))
        return super().__getitem__(index)

    def _repr_html_(self) -> str | None:
        return html(self)

    def to_records(self) -> list[dict[str, object]]:
        """One ``to_dict()`` per metric."""
        return [metric.to_dict() for metric in self]

    def to_pandas(self) -> pandas.DataFrame:
        """A ``pandas.DataFrame`` of the records (the ``pandas`` extra).

        Raises:
            MissingDependencyError: pandas is not installed.
        """
        return pandas_frame(self)
