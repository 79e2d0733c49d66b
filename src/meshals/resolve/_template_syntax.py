"""The ``${path,path}`` placeholder syntax both of SkyWalking's naming rule languages share.

Kubernetes name rules (:mod:`meshals.resolve._templates`) and metadata mappings
(:mod:`meshals.resolve._naming`) differ only in how a key that holds dots is quoted: ``(a.b/c)`` in
the one, ``"a.b/c"`` in the other. A :class:`Syntax` says which; one hand-written, one-pass
scanner parses both. Templates are parsed, never evaluated as code, and the scan is linear in
the text (no regular expressions).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from meshals._errors import ResolverError

__all__: list[str] = []

_WHITESPACE = frozenset(" \t\r\n\f\v")


@attrs.frozen
class Syntax:
    """How a key with dots is quoted; a name runs up to the next stop character."""

    quote_open: str
    quote_close: str
    name_stop: frozenset[str] = attrs.field(init=False)

    @name_stop.default
    def _stops(self) -> frozenset[str]:
        return frozenset(".,{}$") | _WHITESPACE | {self.quote_open, self.quote_close}


#: SkyWalking's Kubernetes service and instance name rules: ``${pod.metadata.labels.(a/b)}``.
NAME_RULE_SYNTAX = Syntax("(", ")")
#: SkyWalking's ``metadata-service-mapping.yaml``: ``${LABELS."app.kubernetes.io/name"}``.
METADATA_MAPPING_SYNTAX = Syntax('"', '"')


@attrs.frozen
class TemplatePath:
    """One path of a placeholder, and the 1-based column where it starts (for errors)."""

    segments: tuple[str, ...]
    column: int


@attrs.frozen
class Placeholder:
    """``${...}``: its paths, tried in order."""

    alternatives: tuple[TemplatePath, ...]


#: A parsed template is literal text and placeholders, in order.
Part = str | Placeholder


def parse_template(text: str, *, syntax: Syntax, source: str) -> tuple[Part, ...]:
    """The parts of *text*.

    Raises:
        ResolverError: *text* is blank or malformed; ``column`` (1-based) says where, and
            ``source`` names the template.
    """
    return _Scanner(text, syntax, source).parse()


def without_tail(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """*parts* without the literal text after the last placeholder (all of it when there is
    no placeholder): what SkyWalking's formatter renders, for it never appends that tail
    (``Matcher.appendReplacement`` without ``appendTail``)."""
    end = len(parts)
    while end and isinstance(parts[end - 1], str):
        end -= 1
    return parts[:end]


def render_parts(
    parts: tuple[Part, ...], look_up: Callable[[tuple[str, ...]], str | None], missing: str
) -> tuple[str, int]:
    """The rendered text, and how many placeholders found a value.

    A placeholder renders the first of its paths that *look_up* gives a value for, else
    *missing*.
    """
    rendered: list[str] = []
    found = 0
    for part in parts:
        if isinstance(part, str):
            rendered.append(part)
            continue
        for path in part.alternatives:
            value = look_up(path.segments)
            if value is not None:
                rendered.append(value)
                found += 1
                break
        else:
            rendered.append(missing)
    return "".join(rendered), found


class _Scanner:
    """A one-pass scanner; positions are 0-based, errors report 1-based columns."""

    def __init__(self, text: str, syntax: Syntax, source: str) -> None:
        self.text = text
        self.syntax = syntax
        self.source = source
        self.position = 0

    def error(self, reason: str, position: int) -> ResolverError:
        return ResolverError(reason, source=self.source, column=position + 1)

    def parse(self) -> tuple[Part, ...]:
        text = self.text
        if not text.strip():
            raise ResolverError("empty template", source=self.source)
        parts: list[Part] = []
        while self.position < len(text):
            start = text.find("${", self.position)
            if start < 0:
                parts.append(text[self.position :])
                break
            if start > self.position:
                parts.append(text[self.position : start])
            self.position = start + 2
            parts.append(self.placeholder(start))
        return tuple(parts)

    def placeholder(self, start: int) -> Placeholder:
        alternatives: list[TemplatePath] = []
        while True:
            self.skip_whitespace()
            alternatives.append(self.path(start))
            self.skip_whitespace()
            if self.position >= len(self.text):
                raise self.error("unclosed '${'", start)
            found = self.text[self.position]
            self.position += 1
            if found == "}":
                return Placeholder(tuple(alternatives))
            if found != ",":
                raise self.error(
                    f"unexpected {found!r}: expected '.', ',' or '}}'", self.position - 1
                )

    def path(self, placeholder_start: int) -> TemplatePath:
        text = self.text
        opening, closing = self.syntax.quote_open, self.syntax.quote_close
        path_start = self.position
        segments: list[str] = []
        while True:
            if self.position >= len(text):
                raise self.error("unclosed '${'", placeholder_start)
            if text[self.position] == opening:
                close = text.find(closing, self.position + 1)
                if close < 0:
                    raise self.error(f"unclosed {opening!r}", self.position)
                if close == self.position + 1:
                    raise self.error(f"empty {opening + closing!r}", self.position)
                segments.append(text[self.position + 1 : close])
                self.position = close + 1
            else:
                segments.append(self.name())
            if self.position < len(text) and text[self.position] == ".":
                self.position += 1
                continue
            return TemplatePath(tuple(segments), column=path_start + 1)

    def name(self) -> str:
        text, stops = self.text, self.syntax.name_stop
        end = self.position
        while end < len(text) and text[end] not in stops:
            end += 1
        if end == self.position:
            found = text[self.position]
            what = "whitespace" if found in _WHITESPACE else repr(found)
            raise self.error(f"expected a name, found {what}", self.position)
        name = text[self.position : end]
        self.position = end
        return name

    def skip_whitespace(self) -> None:
        while self.position < len(self.text) and self.text[self.position] in _WHITESPACE:
            self.position += 1
