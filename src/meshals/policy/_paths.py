"""Observed request paths as values of an AuthorizationPolicy's ``paths``: exact, or a path
template with the variable segments folded, never matching more than that.

Istio reads a ``paths`` value by its shape (Istio's API reference, ``Operation``, and
``pilot/pkg/security/authz/model``): ``*`` is presence, ``abc*`` a prefix, ``*abc`` a suffix,
a value holding ``{*}`` or ``{**}`` an Envoy URI template (Istio 1.22 and later, the release
that also serves ``security.istio.io/v1``), anything else an exact match. Every form matches
the path without its query string or fragment (Envoy's ``url_path`` and URI template
matchers strip them). There is no escape: a path that starts or ends with ``*`` cannot be
matched exactly, so :func:`exact_path` refuses it rather than write a value Istio would read
as a wider match; nor one with ``{`` or ``}``, which Istio's validation refuses outside a
template (``pkg/config/security``, ``CheckValidPathTemplate``).

Folding (``--paths template``) uses the template operator ``{*}``, which matches exactly one
non-empty path segment, never a prefix: ``/reviews/*`` would also admit ``/reviews/0/edit``
and ``/reviews/``, ``/reviews/{*}`` admits ``/reviews/0`` and ``/reviews/7`` only. A segment
is folded when it looks like an identifier, however few were seen: all digits, a UUID, or at
least 16 hex digits (``/reviews/0`` alone becomes ``/reviews/{*}``); names (``v1``,
``reviews``, dates) stay literal. A path is folded only when Envoy's template syntax can hold
every literal segment of it (envoyproxy/envoy ``source/extensions/path/uri_template_lib``:
literals are RFC 3986 unreserved characters, ``%``, ``!$&'()+,;:@=``; no empty segment);
otherwise it stays exact.
"""

from __future__ import annotations

import re

from ._templates import LITERAL_SEGMENT, template_match

__all__: list[str] = []

#: The template operator that matches one path segment.
ONE_SEGMENT = "{*}"

_IDENTIFIER_SEGMENT = re.compile(
    r"[0-9]+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}"
)


def request_path(logged: str) -> str:
    """The path Istio matches: the logged ``:path`` without its query string and fragment.

    >>> request_path("/reviews/0?user=jason#top")
    '/reviews/0'
    """
    return logged.partition("?")[0].partition("#")[0]


def exact_path(logged: str) -> str | None:
    """The ``paths`` value that matches exactly this request's path, or None when Istio's
    syntax cannot say it (it would read the value as a prefix, suffix, presence or template).

    >>> exact_path("/reviews/0?user=jason")
    '/reviews/0'
    >>> exact_path("/search*") is None
    True
    """
    path = request_path(logged)
    if not path or path.startswith("*") or path.endswith("*"):
        return None
    # Istio's webhook refuses '{' and '}' outside a template (CheckValidPathTemplate).
    if "{" in path or "}" in path:
        return None
    return path


def template_path(logged: str) -> str | None:
    """The ``paths`` value with this request's identifier segments folded into ``{*}`` (the
    module docstring says when), the exact value when nothing folds, or None when Istio's
    syntax cannot say even that.

    >>> template_path("/reviews/0")
    '/reviews/{*}'
    >>> template_path("/api/v1/orders/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b/items?page=2")
    '/api/v1/orders/{*}/items'
    >>> template_path("/productpage")
    '/productpage'
    """
    path = exact_path(logged)
    if path is None:
        return None
    segments = path.split("/")[1:] if path.startswith("/") else None
    if not segments or not all(LITERAL_SEGMENT.fullmatch(segment) for segment in segments):
        return path
    folded = [
        ONE_SEGMENT if _IDENTIFIER_SEGMENT.fullmatch(segment) else segment for segment in segments
    ]
    return "/" + "/".join(folded)


def covered(path: str, template: str) -> bool:
    """Whether the ``{*}`` template (as :func:`template_path` writes them) matches *path*, an
    exact ``paths`` value, so a rule that lists the template need not list the path.

    >>> covered("/details/missing", "/details/{*}"), covered("/details/0/x", "/details/{*}")
    (True, False)
    """
    return ONE_SEGMENT in template and template_match(template, path)
