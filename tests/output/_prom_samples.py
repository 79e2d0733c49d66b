"""Prometheus samples for the Istio oracle: histogram expansion, the text parser, the diff.

A sample is keyed by its name (``istio_requests_total``, ``..._bucket``, ``..._sum``) and its
sorted label pairs; the value is a float. The meshals side is parsed with prometheus_client's
text parser, so the comparison is between what a Prometheus server would store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

LabelKey: TypeAlias = tuple[tuple[str, str], ...]
Samples: TypeAlias = dict[tuple[str, LabelKey], float]

# Envoy's default histogram buckets (source/common/stats/histogram_impl.h,
# HistogramSettingsImpl::defaultBuckets), which Istio's proxies use for its histograms.
BUCKETS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip


def bucket_label(bound: float) -> str:
    """``le`` as Envoy's Prometheus output prints it: ``0.5``, ``1``, ``1800000``."""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def histogram_samples(name: str, key: LabelKey, values: Iterable[int]) -> Samples:
    """The ``_bucket`` (cumulative, with ``+Inf``), ``_count`` and ``_sum`` samples of *values*."""
    observed = sorted(values)
    samples: Samples = {}
    for bound in BUCKETS:
        bucket_key = tuple(sorted((*key, ("le", bucket_label(bound)))))
        samples[f"{name}_bucket", bucket_key] = float(sum(1 for v in observed if v <= bound))
    samples[f"{name}_bucket", tuple(sorted((*key, ("le", "+Inf"))))] = float(len(observed))
    samples[f"{name}_count", key] = float(len(observed))
    samples[f"{name}_sum", key] = float(sum(observed))
    return samples


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, read by prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in samples:
                raise AssertionError(f"sample printed twice: {key}")
            samples[key] = float(sample.value)
    return samples


def _series(samples: Mapping[tuple[str, LabelKey], float]) -> dict[LabelKey, dict[str, float]]:
    # Group by label set (without "le"), so a label difference shows once per series.
    grouped: dict[LabelKey, dict[str, float]] = {}
    for (name, key), value in samples.items():
        le = dict(key).get("le")
        bare = tuple(pair for pair in key if pair[0] != "le")
        grouped.setdefault(bare, {})[name if le is None else f"{name}{{le={le}}}"] = value
    return grouped


def _closest(key: LabelKey, candidates: Iterable[LabelKey]) -> LabelKey | None:
    mine = set(key)
    return max(candidates, key=lambda other: len(mine & set(other)), default=None)


def diff(expected: Samples, actual: Samples) -> str:
    """A readable difference: missing and extra series (with the nearest label differences),
    then value differences. Empty when the two are equal."""
    want, got = _series(expected), _series(actual)
    lines: list[str] = []
    missing = [key for key in want if key not in got]
    extra = [key for key in got if key not in want]
    for key in missing:
        names = ", ".join(sorted(want[key]))[:120]
        lines.append(f"missing series {dict(key)}\n    samples: {names}")
        near = _closest(key, extra)
        if near is not None:
            mine, theirs = dict(key), dict(near)
            for label in sorted(set(mine) | set(theirs)):
                if mine.get(label) != theirs.get(label):
                    lines.append(
                        f"    nearest extra differs in {label}: "
                        f"expected {mine.get(label)!r}, meshals {theirs.get(label)!r}"
                    )
    lines.extend(f"extra series {dict(key)}" for key in extra)
    for key in want.keys() & got.keys():
        for name in sorted(want[key].keys() | got[key].keys()):
            a, b = want[key].get(name), got[key].get(name)
            if a != b:
                lines.append(f"value of {name} {dict(key)}: expected {a}, meshals {b}")
    return "\n".join(lines)
