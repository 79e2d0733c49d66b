"""Envoy's URI path templates (``{*}``, ``{**}``) as regular expressions: the one definition of
the characters a template segment holds, for matching policies and for folding paths.

Istio hands a ``paths`` value holding ``{*}`` or ``{**}`` to Envoy's URI template matcher
(istio/istio ``pilot/pkg/security/authz/matcher/template.go``), which compiles it to a regular
expression (envoyproxy/envoy ``source/extensions/path/uri_template_lib/uri_template_internal.cc``,
``kLiteral`` and ``toRegexPattern``): ``{*}`` is one or more characters of RFC 3986's pchar
(``[a-zA-Z0-9-._~%!$&'()*+,;:@=]+``), ``{**}`` zero or more of those or ``/``, and a literal
segment matches itself. So ``/reviews/{*}`` matches ``/reviews/0`` and ``/reviews/a*b`` but not
``/reviews/a[1]``, ``/reviews/a b`` or ``/reviews/``; and ``/reviews/{**}`` matches
``/reviews/`` and ``/reviews/a/b`` but not ``/reviews``.

``*`` is matched since envoyproxy/envoy#39169 (runtime flag
``envoy.reloadable_features.uri_template_match_on_asterisk``, on by default; backported to
1.31-1.34): the real Envoy 1.40 of the RBAC recording allows ``/v2/reviews/a*b/ratings`` under
``/v2/reviews/{*}/ratings``. Older Envoys deny it. A literal segment meshals writes or accepts
stays within the older class, without ``*``, which every version reads the same.
"""

from __future__ import annotations

import re
from typing import Final

__all__: list[str] = []

#: ``kLiteral`` before envoyproxy/envoy#39169: the characters of a literal segment.
LITERAL_CHARACTERS: Final = r"a-zA-Z0-9\-._~%!$&'()+,;:@="
#: What a template's operators match: ``kLiteral`` with ``*`` (module docstring).
SEGMENT_CHARACTERS: Final = LITERAL_CHARACTERS + "*"
#: What ``{*}`` matches: one path segment, one or more segment characters.
ONE_SEGMENT_REGEX: Final = f"[{SEGMENT_CHARACTERS}]+"
#: What ``{**}`` matches: zero or more segment characters or ``/``.
ANY_REST_REGEX: Final = f"[{SEGMENT_CHARACTERS}/]*"
#: A literal segment every Envoy's template syntax holds (``isValidLiteral``).
LITERAL_SEGMENT: Final = re.compile(f"[{LITERAL_CHARACTERS}]+")

_OPERATORS: Final = {"{*}": ONE_SEGMENT_REGEX, "{**}": ANY_REST_REGEX}


def is_template(pattern: str) -> bool:
    """Whether a ``paths`` value is a URI template (it holds ``{*}`` or ``{**}``)."""
    return "{*}" in pattern or "{**}" in pattern


def template_regex(pattern: str) -> str:
    """The regular expression Envoy compiles a ``/``-separated template to.

    >>> template_regex("/reviews/{*}")
    "/reviews/[a-zA-Z0-9\\\\-._~%!$&'()+,;:@=*]+"
    """
    return "/".join(_OPERATORS.get(glob) or re.escape(glob) for glob in pattern.split("/"))


def template_match(pattern: str, path: str) -> bool:
    """Whether the template *pattern* matches *path* (without its query) as Envoy does.

    >>> [template_match("/reviews/{*}", path) for path in ("/reviews/a*b", "/reviews/a b")]
    [True, False]
    """
    return re.fullmatch(template_regex(pattern), path) is not None
