"""What changed between two summaries: :func:`compare` and the :class:`Comparison` it returns.

Services and edges that appeared or vanished, and for each edge seen in both: the request
rate, the 4xx and 5xx rates and the latency quantiles, before and after. Each side's rates are
over its own analysed :class:`~meshals.aggregate.Period`, so a ten-minute capture compares with
a one-minute one. An error rate that rose is a *regression* only when a two-proportion z-test
says it is unlikely to be noise: its two-sided p-value is below ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from meshals._errors import AggregateError

from ._summary import Summary
from ._topology import Edge, Topology
from ._traffic import TrafficStats

__all__ = [
    "DEFAULT_ALPHA",
    "Comparison",
    "EdgeChange",
    "ProportionTest",
    "compare",
    "two_proportion_test",
]

#: The significance level below which a rise in an error rate is a regression.
DEFAULT_ALPHA = 0.05

#: The latency quantiles compared, from each side's mergeable sketch.
QUANTILES = (0.5, 0.9, 0.99)


@attrs.frozen(kw_only=True)
class ProportionTest:
    """A pooled two-proportion z-test of ``errors / requests`` before and after.

    Attributes:
        before: the errors before.
        before_total: the requests before.
        after: the errors after.
        after_total: the requests after.
        z: the test statistic, or None when undefined (no requests on a side, or the pooled
            rate is 0 or 1: no variance to test against).
        p_value: its two-sided p-value, or None when ``z`` is.
    """

    before: int
    before_total: int
    after: int
    after_total: int
    z: float | None
    p_value: float | None

    @property
    def rate_before(self) -> float | None:
        """``before / before_total``, or None without requests."""
        return self.before / self.before_total if self.before_total else None

    @property
    def rate_after(self) -> float | None:
        """``after / after_total``, or None without requests."""
        return self.after / self.after_total if self.after_total else None

    def rose(self, alpha: float) -> bool:
        """Whether the rate rose with ``p_value < alpha`` (a regression, not noise)."""
        before, after = self.rate_before, self.rate_after
        return (
            self.p_value is not None
            and self.p_value < alpha
            and before is not None
            and after is not None
            and after > before
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict."""
        return {
            "before": self.before,
            "before_total": self.before_total,
            "after": self.after,
            "after_total": self.after_total,
            "rate_before": self.rate_before,
            "rate_after": self.rate_after,
            "z": self.z,
            "p_value": self.p_value,
        }


def two_proportion_test(
    before: int, before_total: int, after: int, after_total: int
) -> ProportionTest:
    """The pooled two-proportion z-test of ``before/before_total`` against ``after/after_total``.

    ``z = (p2 - p1) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with the pooled ``p = (x1 + x2) / (n1 +
    n2)``; the two-sided p-value is ``2 (1 - Phi(|z|)) = erfc(|z| / sqrt 2)``.

    >>> test = two_proportion_test(5, 100, 20, 100)
    >>> round(test.z, 4), round(test.p_value, 6)
    (3.2071, 0.001341)
    >>> two_proportion_test(0, 10, 0, 10).p_value is None  # no errors on either side
    True
    """
    z: float | None = None
    if before_total and after_total:
        pooled = (before + after) / (before_total + after_total)
        variance = pooled * (1 - pooled) * (1 / before_total + 1 / after_total)
        if variance > 0:
            z = (after / after_total - before / before_total) / math.sqrt(variance)
    return ProportionTest(
        before=before,
        before_total=before_total,
        after=after,
        after_total=after_total,
        z=z,
        p_value=None if z is None else math.erfc(abs(z) / math.sqrt(2)),
    )


def _change(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@attrs.frozen(kw_only=True)
class EdgeChange:
    """An edge seen in both summaries, before and after (each call counted once).

    Attributes:
        source: the calling service.
        destination: the called service.
        before: the edge's statistics before.
        after: the edge's statistics after.
        rate_before: its requests per second over the first summary's period (None: unknown).
        rate_after: its requests per second over the second summary's period.
        errors_4xx: the test of the 4xx share of its HTTP and gRPC calls.
        errors_5xx: the test of the 5xx share (no response at all counts as 5xx, as in
            :attr:`~meshals.aggregate.TrafficStats.errors_5xx`).
        alpha: the significance level of :attr:`regressed`.
    """

    source: str
    destination: str
    before: TrafficStats
    after: TrafficStats
    rate_before: float | None
    rate_after: float | None
    errors_4xx: ProportionTest
    errors_5xx: ProportionTest
    alpha: float

    @property
    def rate_change(self) -> float | None:
        """``rate_after - rate_before`` in requests per second, or None."""
        return _change(self.rate_before, self.rate_after)

    def latency(self, q: float) -> tuple[int | None, int | None]:
        """Latency quantile ``q`` in ns before and after (sketch estimates; None: no latency)."""
        return self.before.latency.quantile(q), self.after.latency.quantile(q)

    @property
    def regressed(self) -> tuple[str, ...]:
        """The error classes (``"4xx"``, ``"5xx"``) whose rate rose with p < alpha."""
        tests = (("4xx", self.errors_4xx), ("5xx", self.errors_5xx))
        return tuple(name for name, test in tests if test.rose(self.alpha))

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict: rates, tests, latency quantiles (ns) and regressions."""
        latency: dict[str, object] = {}
        for q in QUANTILES:
            before, after = self.latency(q)
            name = f"p{round(q * 100)}"
            latency[name] = {"before": before, "after": after, "change": _change(before, after)}
        return {
            "source": self.source,
            "destination": self.destination,
            "requests_before": self.before.requests,
            "requests_after": self.after.requests,
            "rate_before": self.rate_before,
            "rate_after": self.rate_after,
            "rate_change": self.rate_change,
            "errors_4xx": self.errors_4xx.to_dict(),
            "errors_5xx": self.errors_5xx.to_dict(),
            "latency_ns": latency,
            "regressed": list(self.regressed),
        }


@attrs.frozen(kw_only=True)
class Comparison:
    """What changed from one summary (before) to another (after).

    Attributes:
        before: the first summary's service graph.
        after: the second's.
        alpha: the significance level of the regressions.
        services_added: services only after, sorted.
        services_removed: services only before, sorted.
        edges_added: edges only after (their traffic after), sorted.
        edges_removed: edges only before (their traffic before), sorted.
        edges: the edges in both, sorted by ``(source, destination)``.
    """

    before: Topology
    after: Topology
    alpha: float
    services_added: tuple[str, ...]
    services_removed: tuple[str, ...]
    edges_added: tuple[Edge, ...]
    edges_removed: tuple[Edge, ...]
    edges: tuple[EdgeChange, ...]

    @property
    def regressions(self) -> tuple[EdgeChange, ...]:
        """The edges whose 4xx or 5xx rate rose with p < alpha."""
        return tuple(edge for edge in self.edges if edge.regressed)

    @property
    def changed(self) -> bool:
        """Whether anything appeared, vanished or regressed."""
        return bool(
            self.services_added
            or self.services_removed
            or self.edges_added
            or self.edges_removed
            or self.regressions
        )

    def to_dict(self) -> dict[str, object]:
        """A plain, JSON-ready dict of everything, with both periods."""

        def edge(item: Edge, rate: Callable[[str, str], float | None]) -> dict[str, object]:
            stats = item.combined()
            return {
                "source": item.source,
                "destination": item.destination,
                "requests": stats.requests,
                "rate": rate(item.source, item.destination),
            }

        return {
            "alpha": self.alpha,
            "period_before": self.before.period.to_dict(),
            "period_after": self.after.period.to_dict(),
            "services_added": list(self.services_added),
            "services_removed": list(self.services_removed),
            "edges_added": [edge(item, self.after.rate) for item in self.edges_added],
            "edges_removed": [edge(item, self.before.rate) for item in self.edges_removed],
            "edges": [item.to_dict() for item in self.edges],
        }


def _topology_of(summary: Summary | Topology) -> Topology:
    return summary.topology if isinstance(summary, Summary) else summary


def compare(
    before: Summary | Topology, after: Summary | Topology, *, alpha: float = DEFAULT_ALPHA
) -> Comparison:
    """What changed from *before* to *after*.

    Args:
        before: the earlier summary (or its service graph).
        after: the later one.
        alpha: the significance level: an error rate that rose is a regression only when the
            two-proportion test's p-value is below it.

    Returns:
        The services and edges that appeared or vanished, and every edge in both, compared.

    Raises:
        AggregateError: if ``alpha`` is not between 0 and 1.

    >>> comparison = compare(Topology(), Topology())
    >>> comparison.changed, comparison.edges
    (False, ())
    """
    if not 0 < alpha < 1:
        raise AggregateError(f"alpha must be between 0 and 1, not {alpha}")
    first, second = _topology_of(before), _topology_of(after)
    changes = []
    for key in sorted(first.edges.keys() & second.edges.keys()):
        old, new = first.edges[key].combined(), second.edges[key].combined()
        changes.append(
            EdgeChange(
                source=key[0],
                destination=key[1],
                before=old,
                after=new,
                rate_before=first.rate(*key),
                rate_after=second.rate(*key),
                errors_4xx=two_proportion_test(
                    old.errors_4xx, old.http_requests, new.errors_4xx, new.http_requests
                ),
                errors_5xx=two_proportion_test(
                    old.errors_5xx, old.http_requests, new.errors_5xx, new.http_requests
                ),
                alpha=alpha,
            )
        )
    return Comparison(
        before=first,
        after=second,
        alpha=alpha,
        services_added=tuple(sorted(second.nodes.keys() - first.nodes.keys())),
        services_removed=tuple(sorted(first.nodes.keys() - second.nodes.keys())),
        edges_added=tuple(
            second.edges[key] for key in sorted(second.edges.keys() - first.edges.keys())
        ),
        edges_removed=tuple(
            first.edges[key] for key in sorted(first.edges.keys() - second.edges.keys())
        ),
        edges=tuple(changes),
    )
