"""PolicyError: an AuthorizationPolicy document that Istio's schema would reject."""

from __future__ import annotations

from meshals._errors import MeshalsError

__all__ = ["PolicyError"]


class PolicyError(MeshalsError, ValueError):
    """A policy document is malformed: not YAML, not an AuthorizationPolicy, or a field that
    Istio's API reference or its validation (istio/istio ``pkg/config/validation``) rejects.

    Attributes: ``reason`` (the message without the place), ``source`` (the file or
    ``<document>``), ``document`` (the 0-based index of the YAML document in the file, or
    None) and ``field`` (the path in the document, ``spec.rules[0].to[0].operation.ports[1]``,
    or None).

    >>> print(PolicyError("bad port 'x'", source="p.yaml", document=2, field="spec.rules[0]"))
    p.yaml, document 2, spec.rules[0]: bad port 'x'
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<document>",
        document: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.document = document
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        place = [self.source]
        if self.document is not None:
            place.append(f"document {self.document}")
        if self.field:
            place.append(self.field)
        return f"{', '.join(place)}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.reason, self.source, self.document, self.field))


def _rebuild(reason: str, source: str, document: int | None, field: str | None) -> PolicyError:
    return PolicyError(reason, source=source, document=document, field=field)
