"""How the Kubernetes resolver names what it finds: :class:`KubernetesNaming`, rules and tags.

The rules of :class:`~meshals.resolve.KubernetesResolver` are
:class:`~meshals.resolve.NameTemplate` texts over ``pod`` and ``service`` (a pod's names) or
``serviceEntry`` and ``endpoint`` (an Istio ServiceEntry's); the defaults are SkyWalking's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from meshals._errors import ResolverError

from ._templates import SKYWALKING_SERVICE_RULE, NameTemplate

__all__ = ["KubernetesNaming"]

DEFAULT_INSTANCE_RULE = "${pod.metadata.name}.${pod.metadata.namespace}"
DEFAULT_SERVICE_ENTRY_RULE = "${serviceEntry.spec.hosts.0}"
DEFAULT_SERVICE_ENTRY_INSTANCE_RULE = "${endpoint.address,serviceEntry.metadata.name}"
#: None: every label (SkyWalking sends them all as instance properties).
DEFAULT_TAG_LABELS = None

POD_VARIABLES = frozenset({"pod", "service"})
SERVICE_ENTRY_VARIABLES = frozenset({"serviceEntry", "endpoint"})


def _template_text(rule: str | NameTemplate) -> str:
    return rule.text if isinstance(rule, NameTemplate) else rule


def _service_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(_template_text(rule), variables=POD_VARIABLES, name="service_rule")


def _instance_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(_template_text(rule), variables=POD_VARIABLES, name="instance_rule")


def _service_entry_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(
        _template_text(rule), variables=SERVICE_ENTRY_VARIABLES, name="service_entry_rule"
    )


def _service_entry_instance_rule(rule: str | NameTemplate) -> NameTemplate:
    return NameTemplate(
        _template_text(rule), variables=SERVICE_ENTRY_VARIABLES, name="service_entry_instance_rule"
    )


def _label_names(labels: Iterable[str] | None) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, str):  # tuple("version") would be seven one-letter labels
        raise ResolverError(
            "expected a collection of label names, not a string", source="tag_labels"
        )
    return tuple(labels)


@attrs.frozen(kw_only=True)
class KubernetesNaming:
    """How :class:`KubernetesResolver` names what it finds: rules (:class:`NameTemplate` syntax)
    and the labels that become tags.

    Args:
        service_rule: the service name, over ``pod`` and ``service``; default SkyWalking's
            shipped rule, :data:`SKYWALKING_SERVICE_RULE`:
            ``${pod.metadata.labels.(service.istio.io/canonical-name)}.${pod.metadata.namespace}``
        instance_rule: the instance name, over ``pod`` and ``service``; default
            ``${pod.metadata.name}.${pod.metadata.namespace}``.
        service_entry_rule: a ServiceEntry's service name, over ``serviceEntry`` and
            ``endpoint``; default its first host, ``${serviceEntry.spec.hosts.0}``.
        service_entry_instance_rule: default the endpoint's address, or for a
            ``spec.addresses`` match the entry's name:
            ``${endpoint.address,serviceEntry.metadata.name}``.
        tag_labels: pod (or ServiceEntry endpoint) labels copied into the tags; default
            None, every label. A pod's tags start with ``pod`` (its name) and ``namespace``,
            then the labels sorted by name: SkyWalking's instance properties.

    Raises:
        ResolverError: a rule is malformed or reads a variable its context lacks.

    >>> KubernetesNaming(service_rule="${pod.metadata.labels.app}").service_rule
    NameTemplate('${pod.metadata.labels.app}')
    """

    service_rule: NameTemplate = attrs.field(
        default=NameTemplate(SKYWALKING_SERVICE_RULE), converter=_service_rule
    )
    instance_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_INSTANCE_RULE), converter=_instance_rule
    )
    service_entry_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_SERVICE_ENTRY_RULE), converter=_service_entry_rule
    )
    service_entry_instance_rule: NameTemplate = attrs.field(
        default=NameTemplate(DEFAULT_SERVICE_ENTRY_INSTANCE_RULE),
        converter=_service_entry_instance_rule,
    )
    tag_labels: tuple[str, ...] | None = attrs.field(
        default=DEFAULT_TAG_LABELS, converter=_label_names
    )

    def tags(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels named in ``tag_labels`` (every one when None) that ``labels`` has,
        sorted by name."""
        names = sorted(labels) if self.tag_labels is None else self.tag_labels
        return {name: labels[name] for name in names if name in labels}
