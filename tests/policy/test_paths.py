"""Observed paths as Istio ``paths`` values: exact where Istio's syntax can say it, folded into
one-segment templates only where Envoy's template syntax holds the rest."""

from __future__ import annotations

import pytest

from meshals.policy._paths import covered, exact_path, request_path, template_path

# (logged path, exact value, template value): None where Istio would read the value as a
# wider match than the one path.
PATHS = [
    ("/productpage", "/productpage", "/productpage"),
    ("/reviews/0", "/reviews/0", "/reviews/{*}"),
    ("/reviews/17?user=jason", "/reviews/17", "/reviews/{*}"),
    ("/reviews/0#ratings", "/reviews/0", "/reviews/{*}"),
    ("/api/v1/products/1/reviews", "/api/v1/products/1/reviews", "/api/v1/products/{*}/reviews"),
    (
        "/orders/3F2A9C1E-5B7D-4E8F-9A0B-1C2D3E4F5A6B",
        "/orders/3F2A9C1E-5B7D-4E8F-9A0B-1C2D3E4F5A6B",
        "/orders/{*}",
    ),
    ("/blobs/0123456789abcdef", "/blobs/0123456789abcdef", "/blobs/{*}"),
    # 15 hex digits, a name with digits, a date: not identifiers.
    ("/blobs/0123456789abcde", "/blobs/0123456789abcde", "/blobs/0123456789abcde"),
    ("/api/v2", "/api/v2", "/api/v2"),
    ("/days/2026-12-06", "/days/2026-12-06", "/days/2026-12-06"),
    (
        "/bookinfo.ratings.v1.Ratings/GetRating",
        "/bookinfo.ratings.v1.Ratings/GetRating",
        "/bookinfo.ratings.v1.Ratings/GetRating",
    ),
    # Envoy's template syntax has no empty segment and no '*' or space in a literal: exact.
    ("/reviews/0/", "/reviews/0/", "/reviews/0/"),
    ("//reviews/0", "//reviews/0", "//reviews/0"),
    ("/files/a b/0", "/files/a b/0", "/files/a b/0"),
    ("/", "/", "/"),
    # Istio would read these as a prefix, suffix, presence or template match.
    ("/search*", None, None),
    ("*/search", None, None),
    ("*", None, None),
    ("/files/{*}", None, None),
    ("/files/{**}", None, None),
    ("/files/{id}", None, None),
    ("/files/}", None, None),
    ("?only=query", None, None),
    # A path Istio's exact match compares as is ('*' inside is no operator).
    ("/a*b", "/a*b", "/a*b"),
]


@pytest.mark.parametrize(("logged", "exact", "template"), PATHS)
def test_exact_and_template(logged: str, exact: str | None, template: str | None) -> None:
    assert exact_path(logged) == exact
    expected = template if template is not None or exact is None else exact
    assert template_path(logged) == expected


def test_request_path_drops_query_and_fragment() -> None:
    assert request_path("/a?b=c#d") == "/a"
    assert request_path("/a#d?b") == "/a"
    assert request_path("/a") == "/a"


@pytest.mark.parametrize(
    ("path", "template", "expected"),
    [
        ("/reviews/0", "/reviews/{*}", True),
        ("/reviews/missing", "/reviews/{*}", True),
        ("/reviews/", "/reviews/{*}", False),
        ("/reviews/0/x", "/reviews/{*}", False),
        ("/reviews/a b", "/reviews/{*}", False),
        ("/api/v1/products/7/reviews", "/api/v1/products/{*}/reviews", True),
        ("/api/v1/products/7/ratings", "/api/v1/products/{*}/reviews", False),
        ("/api/v1.x/products/7/reviews", "/api/v1/products/{*}/reviews", False),
        ("/reviews/0", "/reviews/0", False),  # no template: nothing to cover
    ],
)
def test_covered(path: str, template: str, expected: bool) -> None:
    assert covered(path, template) is expected
