"""Name templates in SkyWalking's rule syntax: ``${pod.metadata.labels.app}-${pod.metadata.name}``.

Grammar (parsed once, by hand; never evaluated as code)::

    template     := (literal | placeholder)+
    placeholder  := "${" path ("," path)* "}"       first non-empty value wins, else "-"
    path         := segment ("." segment)*          first segment: a context variable
    segment      := name | "(" key ")"              a key may hold dots and slashes
    name         := one or more characters other than . , ( ) { } $ and whitespace

Whitespace around a path is ignored. A literal is any text without ``${``. A segment of digits
indexes a list (``${serviceEntry.spec.hosts.0}``), an extension of SkyWalking's syntax.

Rendering looks each path up in plain mappings (parsed JSON): strings are used as they are
(an empty one counts as missing), numbers in decimal, booleans as ``true``/``false``; objects,
lists, null and absent keys are missing.

Divergence from SkyWalking's ``ServiceNameFormatter``: literal text after the last placeholder
is kept. SkyWalking builds its pattern with ``Matcher.appendReplacement`` and never calls
``appendTail``, so ``${pod.metadata.name}-canary`` renders ``reviews-v1`` there and
``reviews-v1-canary`` here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from meshals._errors import ResolverError

from ._template_syntax import (
    NAME_RULE_SYNTAX,
    Placeholder,
    parse_template,
    render_parts,
    without_tail,
)

__all__ = ["MISSING_VALUE", "SKYWALKING_FALLBACK_RULE", "SKYWALKING_SERVICE_RULE", "NameTemplate"]

#: What a placeholder renders when none of its paths has a value (as in SkyWalking).
MISSING_VALUE = "-"

#: SkyWalking's shipped service-name rule (``K8S_SERVICE_NAME_RULE`` in ``application.yml``):
#: the Istio canonical name, a dot, the namespace.
SKYWALKING_SERVICE_RULE = (
    "${pod.metadata.labels.(service.istio.io/canonical-name)}.${pod.metadata.namespace}"
)

#: The rule SkyWalking's ``ServiceNameFormatter`` uses when the configured rule is blank: the
#: Istio canonical name, else the ``app.kubernetes.io/name`` label, else the ``app`` label.
SKYWALKING_FALLBACK_RULE = (
    "${pod.metadata.labels.(service.istio.io/canonical-name),"
    "pod.metadata.labels.(app.kubernetes.io/name),"
    "pod.metadata.labels.app}"
)


class NameTemplate:
    """A parsed name rule: literal text and ``${...}`` placeholders, rendered over a context.

    Args:
        text: the rule, e.g. ``${pod.metadata.labels.app}.${pod.metadata.namespace}``.
        variables: if given, the context variables a path may start with (checked here, so
            a typo fails at construction rather than rendering ``-`` forever).
        name: names the rule in error messages (``service_rule``).

    Raises:
        ResolverError: the rule is empty or malformed; ``column`` (1-based) says where.

    >>> rule = "${pod.metadata.labels.(app.kubernetes.io/name),pod.metadata.labels.app}.mesh"
    >>> NameTemplate(rule).render({"pod": {"metadata": {"labels": {"app": "reviews"}}}})
    'reviews.mesh'
    >>> NameTemplate("${pod.metadata.labels.version}").render({"pod": {}})
    '-'
    >>> try:
    ...     NameTemplate("${pod.metadata.(name}")
    ... except ResolverError as exc:
    ...     print(exc)
    template '${pod.metadata.(name}', column 16: unclosed '('
    """

    __slots__ = ("_parts", "text", "variables")

    def __init__(
        self, text: str, *, variables: Collection[str] | None = None, name: str = "template"
    ) -> None:
        if not isinstance(text, str):
            raise ResolverError(f"expected a string, not {type(text).__name__}", source=name)
        self.text = text
        self._parts = parse_template(text, syntax=NAME_RULE_SYNTAX, source=f"{name} {text!r}")
        roots = [
            path
            for part in self._parts
            if isinstance(part, Placeholder)
            for path in part.alternatives
        ]
        #: The context variables the template reads (first path segments), sorted.
        self.variables: tuple[str, ...] = tuple(sorted({path.segments[0] for path in roots}))
        if variables is not None:
            for path in roots:
                if path.segments[0] not in variables:
                    expected = ", ".join(sorted(variables))
                    raise ResolverError(
                        f"unknown variable {path.segments[0]!r} (expected {expected})",
                        source=f"{name} {text!r}",
                        column=path.column,
                    )

    def render(self, context: Mapping[str, object]) -> str:
        """The name for ``context`` (variable → parsed JSON object). Never raises.

        Each placeholder becomes the first of its paths with a value, else ``-``.
        """
        return render_parts(
            self._parts, lambda segments: _look_up(context, segments), MISSING_VALUE
        )[0]

    def without_tail(self) -> NameTemplate:
        """This template as SkyWalking renders it: without the literal text after the last
        placeholder (``semantics="skywalking"``)."""
        copy = NameTemplate.__new__(NameTemplate)
        copy.text = self.text
        copy._parts = without_tail(self._parts)
        copy.variables = self.variables
        return copy

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NameTemplate):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"NameTemplate({self.text!r})"

    def __str__(self) -> str:
        return self.text


def _look_up(context: Mapping[str, object], segments: tuple[str, ...]) -> str | None:
    value: object = context
    for segment in segments:
        if isinstance(value, Mapping):
            value = value.get(segment)
        elif isinstance(value, (list, tuple)) and _is_index(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return _scalar_text(value)


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit() and len(segment) <= 9


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None
