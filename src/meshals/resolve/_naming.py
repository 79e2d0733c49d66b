"""Naming a workload from its metadata, by SkyWalking's ``metadata-service-mapping.yaml`` rules.

The ``mx-mesh`` analysis names the Envoy's own workload (node metadata) and its peers (filter
state) with two templates, SkyWalking's defaults unless the user gives others::

    serviceName: ${LABELS."service.istio.io/canonical-name",LABELS."app.kubernetes.io/name",
                   LABELS.app,LABELS.k8s-app,SERVICE}.${NAMESPACE}      (one line in the file)
    serviceInstanceName: ${NAME}

Template grammar (parsed once, by hand; never evaluated)::

    template     := (literal | placeholder)*
    placeholder  := "${" path ("," path)* "}"      the first path with a value, else "-"
    path         := segment ("." segment)*
    segment      := name | '"' key '"'             a quoted key may hold dots and slashes
    name         := characters other than . , " { } $ and whitespace

Whitespace around a path is ignored; ``$`` not followed by ``{`` is literal text. A segment of
digits also indexes a list (``${INSTANCE_IPS.0}``). Keys match case-insensitively when there is
no exact match (``${NAME}`` reads the ``name`` of an Istio 1.24 peer ``Struct``). A value is a
non-empty string, a number (``3``, not ``3.0``) or a boolean (``true``); anything else is missing.

Divergence from SkyWalking: literal text after the last placeholder is kept
(``${NAME}-canary`` gives ``reviews-v1-canary``; SkyWalking's formatter never appends the tail,
giving ``reviews-v1``).

A mapping file is JSON (an object) or the tiny YAML subset SkyWalking's file uses: one
``key: value`` per line, ``#`` comments, values optionally in single or double quotes (no
escapes). Its keys are ``serviceName`` and ``serviceInstanceName``; a key left out keeps its
default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

import attrs

from meshals._errors import ResolverError
from meshals.model._service import ServiceMetaInfo

from ._resolvers import read_file
from ._template_syntax import METADATA_MAPPING_SYNTAX, parse_template, render_parts

__all__ = [
    "DEFAULT_SERVICE_INSTANCE_NAME",
    "DEFAULT_SERVICE_NAME",
    "MetadataServiceMapping",
    "MetadataTemplate",
]

#: SkyWalking's default ``serviceName`` rule (``metadata-service-mapping.yaml``).
DEFAULT_SERVICE_NAME = (
    '${LABELS."service.istio.io/canonical-name",LABELS."app.kubernetes.io/name",'
    "LABELS.app,LABELS.k8s-app,SERVICE}.${NAMESPACE}"
)
#: SkyWalking's default ``serviceInstanceName`` rule.
DEFAULT_SERVICE_INSTANCE_NAME = "${NAME}"
DEFAULT_TAG_LABELS = ("app", "version")

_MISSING = "-"
_WHITESPACE = frozenset(" \t\r\n\f\v")
_MAPPING_KEYS = {"serviceName": "service_name", "serviceInstanceName": "service_instance_name"}


class MetadataTemplate:
    """One parsed rule of ``metadata-service-mapping.yaml`` (grammar: module docstring).

    Args:
        text: the rule, e.g. ``${LABELS.app}.${NAMESPACE}``.
        name: names the rule in error messages (``serviceName``).

    Raises:
        ResolverError: the rule is malformed; ``column`` (1-based) says where.

    >>> template = MetadataTemplate('${LABELS."app.kubernetes.io/name",LABELS.app}.${namespace}')
    >>> template.render({"LABELS": {"app": "reviews"}, "NAMESPACE": "bookinfo"})
    'reviews.bookinfo'
    >>> template.render({})
    '-.-'
    >>> MetadataTemplate('${LABELS."app}')
    Traceback (most recent call last):
    ...
    meshals._errors.ResolverError: template '${LABELS."app}', column 10: unclosed '"'
    """

    __slots__ = ("_parts", "text")

    def __init__(self, text: str, *, name: str = "template") -> None:
        if not isinstance(text, str):
            raise ResolverError(f"expected a string, not {type(text).__name__}", source=name)
        self.text = text
        self._parts = parse_template(
            text, syntax=METADATA_MAPPING_SYNTAX, source=f"{name} {text!r}"
        )

    def render(self, metadata: Mapping[str, object]) -> str:
        """The name for *metadata*; a placeholder none of whose paths has a value gives ``-``."""
        return self.render_counting(metadata)[0]

    def render_counting(self, metadata: Mapping[str, object]) -> tuple[str, int]:
        """The name, and how many placeholders found a value (0: the metadata names nothing)."""
        return render_parts(self._parts, lambda path: _look_up(metadata, path), _MISSING)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetadataTemplate):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"MetadataTemplate({self.text!r})"


def _get(mapping: Mapping[str, object], key: str) -> object:
    if key in mapping:
        return mapping[key]
    folded = key.casefold()
    for candidate, value in mapping.items():
        if candidate.casefold() == folded:
            return value
    return None


def _look_up(metadata: Mapping[str, object], path: tuple[str, ...]) -> str | None:
    value: object = metadata
    for segment in path:
        if isinstance(value, Mapping):
            value = _get(value, segment)
        elif isinstance(value, (list, tuple)) and segment.isascii() and segment.isdigit():
            index = int(segment)
            value = value[index] if index < len(value) else None
        else:
            return None
    return _scalar_text(value)


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Struct numbers are doubles: 3.0 is the 3 someone wrote.
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _service_template(text: str | MetadataTemplate) -> MetadataTemplate:
    if isinstance(text, MetadataTemplate):
        return text
    return MetadataTemplate(text, name="serviceName")


def _instance_template(text: str | MetadataTemplate) -> MetadataTemplate:
    if isinstance(text, MetadataTemplate):
        return text
    return MetadataTemplate(text, name="serviceInstanceName")


def _label_names(labels: Iterable[str]) -> tuple[str, ...]:
    if isinstance(labels, str):  # tuple("version") would be seven one-letter labels
        raise ResolverError("expected a collection of label names, not a string", source="tags")
    return tuple(labels)


@attrs.frozen(kw_only=True)
class MetadataServiceMapping:
    """Names a workload from Istio metadata: SkyWalking's ``metadata-service-mapping.yaml``.

    Args:
        service_name: the ``serviceName`` rule; default :data:`DEFAULT_SERVICE_NAME`.
        service_instance_name: the ``serviceInstanceName`` rule; default ``${NAME}``.
        tag_labels: labels copied into the tags (from ``LABELS``, else a top-level key of
            the same name, as in an Istio 1.24 peer); default ``("app", "version")``, as
            :class:`~meshals.resolve.KubernetesNaming`.

    Raises:
        ResolverError: a rule is malformed.

    >>> mapping = MetadataServiceMapping()
    >>> info = mapping.name({"NAME": "reviews-v1-abc", "NAMESPACE": "bookinfo",
    ...                      "LABELS": {"app": "reviews", "version": "v1"}})
    >>> info.service, info.instance, info.namespace, dict(info.tags)
    ('reviews.bookinfo', 'reviews-v1-abc', 'bookinfo', {'app': 'reviews', 'version': 'v1'})
    >>> mapping.name({"ISTIO_VERSION": "1.22.0"}) is None
    True
    """

    service_name: MetadataTemplate = attrs.field(
        default=MetadataTemplate(DEFAULT_SERVICE_NAME, name="serviceName"),
        converter=_service_template,
    )
    service_instance_name: MetadataTemplate = attrs.field(
        default=MetadataTemplate(DEFAULT_SERVICE_INSTANCE_NAME, name="serviceInstanceName"),
        converter=_instance_template,
    )
    tag_labels: tuple[str, ...] = attrs.field(default=DEFAULT_TAG_LABELS, converter=_label_names)

    def name(self, metadata: Mapping[str, object]) -> ServiceMetaInfo | None:
        """The service and instance *metadata* describes, or None if it names nothing.

        Args:
            metadata: node metadata or a peer's (Istio's keys).

        Returns:
            The names (a missing part renders ``-``), the ``NAMESPACE`` and the tags; None
            when no placeholder of either rule found a value.
        """
        service, service_found = self.service_name.render_counting(metadata)
        instance, instance_found = self.service_instance_name.render_counting(metadata)
        if not service_found and not instance_found:
            return None
        namespace = _scalar_text(_get(metadata, "NAMESPACE"))
        return ServiceMetaInfo(
            service=service, instance=instance, namespace=namespace, tags=self._tags(metadata)
        )

    def _tags(self, metadata: Mapping[str, object]) -> dict[str, str]:
        labels = _get(metadata, "LABELS")
        tags: dict[str, str] = {}
        for label in self.tag_labels:
            value = _get(labels, label) if isinstance(labels, Mapping) else None
            text = _scalar_text(value if value is not None else _get(metadata, label))
            if text is not None:
                tags[label] = text
        return tags

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, object], *, source: str = "<mapping>"
    ) -> MetadataServiceMapping:
        """A mapping from ``{"serviceName": ..., "serviceInstanceName": ...}``.

        Raises:
            ResolverError: an unknown key, a rule that is not a string, or a malformed rule.
        """
        if not isinstance(mapping, Mapping):
            raise ResolverError(f"expected an object, not {type(mapping).__name__}", source=source)
        rules: dict[str, str] = {}
        for key, rule in mapping.items():
            if key not in _MAPPING_KEYS:
                expected = ", ".join(_MAPPING_KEYS)
                raise ResolverError(f"unknown key {key!r} (expected {expected})", source=source)
            if not isinstance(rule, str):
                raise ResolverError(
                    f"{key} must be a string, not {type(rule).__name__}", source=source
                )
            rules[_MAPPING_KEYS[key]] = rule
        try:
            return cls(**rules)
        except ResolverError as exc:
            raise ResolverError(
                exc.reason, source=f"{source}: {exc.source}", column=exc.column
            ) from None

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>") -> MetadataServiceMapping:
        """A mapping from the text of a ``metadata-service-mapping`` file (JSON or tiny YAML).

        Raises:
            ResolverError: the text is neither, or holds an unknown key or a malformed rule.

        >>> mapping = MetadataServiceMapping.from_text("serviceInstanceName: ${NAME}.${NAMESPACE}")
        >>> mapping.service_instance_name
        MetadataTemplate('${NAME}.${NAMESPACE}')
        """
        if text.lstrip().startswith("{"):
            try:
                document = json.loads(text)
            except ValueError as exc:
                raise ResolverError(f"not JSON: {exc}", source=source) from None
            return cls.from_mapping(document, source=source)
        return cls.from_mapping(_tiny_yaml(text, source), source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MetadataServiceMapping:
        """A mapping from a ``metadata-service-mapping.yaml`` (or ``.json``) file.

        Raises:
            ResolverError: the file is malformed; the message names it.
            OSError: the file cannot be read.
        """
        source = os.fspath(path)
        try:
            text = read_file(path).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ResolverError(f"not UTF-8: {exc.reason}", source=source) from None
        return cls.from_text(text, source=source)


def _tiny_yaml(text: str, source: str) -> dict[str, str]:
    document: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, separator, value = stripped.partition(":")
        key = key.strip()
        if not separator or not key or line[:1] in _WHITESPACE:
            raise ResolverError(
                f"line {number}: expected 'key: value' at the start of a line", source=source
            )
        if key in document:
            raise ResolverError(f"line {number}: {key!r} given twice", source=source)
        document[key] = _yaml_scalar(value.strip(), number, source)
    return document


def _yaml_scalar(value: str, number: int, source: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        close = value.find(quote, 1)
        rest = value[close + 1 :].strip() if close > 0 else ""
        if close < 0 or (rest and not rest.startswith("#")):
            raise ResolverError(
                f"line {number}: unclosed quote, or text after the closing quote", source=source
            )
        return value[1:close]
    # In a plain YAML scalar, " #" starts a comment; "#" inside a word does not.
    for index, character in enumerate(value):
        if character == "#" and index and value[index - 1] in _WHITESPACE:
            return value[:index].rstrip()
    return value
