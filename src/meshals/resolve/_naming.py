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

A mapping file is JSON (an object: text that starts with ``{``) or YAML, read with PyYAML's safe
loader as SkyWalking reads it with SnakeYAML: comments, quoting, block scalars (``>-``) and a
``---`` document start are all YAML's. It holds one document, a mapping whose keys are
``serviceName`` and ``serviceInstanceName``; a key left out keeps its default, and a key given twice
is an error (YAML loaders keep the last silently).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import yaml

from meshals._errors import ResolverError
from meshals.model._service import ServiceMetaInfo

from ._resolvers import read_file
from ._template_syntax import (
    METADATA_MAPPING_SYNTAX,
    parse_template,
    render_parts,
    without_tail,
)

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

    def without_tail(self) -> MetadataTemplate:
        """This template as SkyWalking renders it: without the literal text after the last
        placeholder (``semantics="skywalking"``)."""
        copy = MetadataTemplate.__new__(MetadataTemplate)
        copy.text = self.text
        copy._parts = without_tail(self._parts)
        return copy

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
            the same name, as in an Istio 1.24 peer), after ``pod`` and ``namespace`` (from
            ``NAME`` and ``NAMESPACE``, SkyWalking's properties); default
            ``("app", "version")``.

    Raises:
        ResolverError: a rule is malformed.

    >>> mapping = MetadataServiceMapping()
    >>> info = mapping.name({"NAME": "reviews-v1-abc", "NAMESPACE": "bookinfo",
    ...                      "LABELS": {"app": "reviews", "version": "v1"}})
    >>> info.service, info.instance, info.namespace
    ('reviews.bookinfo', 'reviews-v1-abc', 'bookinfo')
    >>> dict(info.tags)
    {'pod': 'reviews-v1-abc', 'namespace': 'bookinfo', 'app': 'reviews', 'version': 'v1'}
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
        # SkyWalking's instance properties first: the pod and its namespace.
        for tag, key in (("pod", "NAME"), ("namespace", "NAMESPACE")):
            text = _scalar_text(_get(metadata, key))
            if text is not None:
                tags[tag] = text
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
        """A mapping from the text of a ``metadata-service-mapping`` file (JSON or YAML).

        Raises:
            ResolverError: the text is neither, holds more than one YAML document, repeats a
                key, or holds an unknown key or a malformed rule.

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
        return cls.from_mapping(_yaml_document(text, source), source=source)

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


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_document(text: str, source: str) -> Mapping[str, object]:
    """The one YAML document of a mapping file, as a mapping (an empty file: no rules)."""
    try:
        # _UniqueKeyLoader is a SafeLoader: no Python objects are built from tags.
        documents = list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except yaml.YAMLError as exc:
        raise ResolverError(f"not YAML: {_yaml_problem(exc)}", source=source) from None
    if len(documents) > 1:
        raise ResolverError(f"{len(documents)} YAML documents; expected one", source=source)
    document = documents[0] if documents else None
    return {} if document is None else document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: where, then what (``line 2, column 1: 'serviceName' ...``)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc)
    mark = exc.problem_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
