"""Naming workloads from metadata with SkyWalking's ``metadata-service-mapping.yaml`` rules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from meshals import ResolverError, ServiceMetaInfo
from meshals.model import FrozenMap
from meshals.resolve._naming import (
    DEFAULT_SERVICE_INSTANCE_NAME,
    DEFAULT_SERVICE_NAME,
    MetadataServiceMapping,
    MetadataTemplate,
)

# SkyWalking's own mapping files, in the shared material beside the checkout.
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "skywalking-fixtures"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "mx"

MODERN = {
    "NAME": "reviews-v2-5b6c7",
    "NAMESPACE": "bookinfo",
    "LABELS": {
        "app": "reviews",
        "version": "v2",
        "service.istio.io/canonical-name": "reviews-canonical",
        "service.istio.io/canonical-revision": "v2-rev",
    },
}
ISTIO_1_24_PEER = {
    "name": "ratings-v1-9a8b7",
    "namespace": "bookinfo",
    "service": "ratings",
    "revision": "v1",
    "app": "ratings",
    "version": "v1",
}

RENDER_CASES: list[tuple[str, str, Mapping[str, object], str]] = [
    ("default service: canonical name first", DEFAULT_SERVICE_NAME, MODERN,
     "reviews-canonical.bookinfo"),
    ("default service: app.kubernetes.io/name", DEFAULT_SERVICE_NAME,
     {"NAMESPACE": "ns", "LABELS": {"app.kubernetes.io/name": "kname", "app": "a"}}, "kname.ns"),
    ("default service: app", DEFAULT_SERVICE_NAME,
     {"NAMESPACE": "ns", "LABELS": {"app": "a", "k8s-app": "k"}}, "a.ns"),
    ("default service: k8s-app", DEFAULT_SERVICE_NAME,
     {"NAMESPACE": "ns", "LABELS": {"k8s-app": "k"}}, "k.ns"),
    ("default service: SERVICE", DEFAULT_SERVICE_NAME, {"NAMESPACE": "ns", "SERVICE": "s"}, "s.ns"),
    ("default service: nothing", DEFAULT_SERVICE_NAME, {}, "-.-"),
    ("default service: no labels", DEFAULT_SERVICE_NAME, {"NAME": "vm", "NAMESPACE": "ns"},
     "-.ns"),
    ("keys are case-insensitive", DEFAULT_SERVICE_NAME, ISTIO_1_24_PEER, "ratings.bookinfo"),
    ("exact key before a case-folded one", "${name}", {"NAME": "upper", "name": "lower"},
     "lower"),
    ("default instance", DEFAULT_SERVICE_INSTANCE_NAME, MODERN, "reviews-v2-5b6c7"),
    ("default instance, lower case", DEFAULT_SERVICE_INSTANCE_NAME, ISTIO_1_24_PEER,
     "ratings-v1-9a8b7"),
    ("literal text kept after the last placeholder", "${NAME}-canary", MODERN,
     "reviews-v2-5b6c7-canary"),
    ("literal text everywhere", "svc:${LABELS.app}/${NAMESPACE}!", MODERN,
     "svc:reviews/bookinfo!"),
    ("no placeholder at all", "fixed", MODERN, "fixed"),
    ("dollar without brace is literal", "$NAME-${NAME}", MODERN, "$NAME-reviews-v2-5b6c7"),
    ("closing brace outside is literal", "}${NAME}}", MODERN, "}reviews-v2-5b6c7}"),
    ("whitespace around paths", "${ LABELS.nope , LABELS.app }", MODERN, "reviews"),
    ("quoted key with slash and dots", '${LABELS."service.istio.io/canonical-revision"}', MODERN,
     "v2-rev"),
    ("quoted first segment", '${"NAME"}', MODERN, "reviews-v2-5b6c7"),
    ("empty string is missing", "${A,B}", {"A": "", "B": "b"}, "b"),
    ("integral number", "${N}", {"N": 3.0}, "3"),
    ("fraction", "${N}", {"N": 2.5}, "2.5"),
    ("int", "${N}", {"N": 7}, "7"),
    ("boolean", "${T}.${F}", {"T": True, "F": False}, "true.false"),
    ("list index", "${INSTANCE_IPS.1}", {"INSTANCE_IPS": ("10.0.0.1", "fd00::1")}, "fd00::1"),
    ("list index out of range", "${INSTANCE_IPS.2}", {"INSTANCE_IPS": ("a",)}, "-"),
    ("a list is no value", "${INSTANCE_IPS}", {"INSTANCE_IPS": ("a",)}, "-"),
    ("a map is no value", "${LABELS}", MODERN, "-"),
    ("null is no value", "${A}", {"A": None}, "-"),
    ("path through a string", "${NAME.x}", MODERN, "-"),
    ("FrozenMap input", "${LABELS.app}", {"LABELS": FrozenMap({"app": "fm"})}, "fm"),
    ("non-ASCII", "${LABELS.app}.${NAMESPACE}", {"LABELS": {"app": "認証"}, "NAMESPACE": "ü"},
     "認証.ü"),
    ("SkyWalking test rule", "${LABELS.\"service.istio.io/canonical-revision\",REVISION}."
     "${LABELS.\"service.istio.io/canonical-name\",LABELS.\"app.kubernetes.io/name\",LABELS.app,"
     "SERVICE}.${NAMESPACE}", ISTIO_1_24_PEER, "v1.ratings.bookinfo"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "metadata", "expected"),
    [case[1:] for case in RENDER_CASES],
    ids=[case[0] for case in RENDER_CASES],
)
def test_render(rule: str, metadata: Mapping[str, object], expected: str) -> None:
    assert MetadataTemplate(rule).render(metadata) == expected


def test_skywalking_drops_the_tail_meshals_keeps_it() -> None:
    # SkyWalking's formatter appends every placeholder's replacement but never the text after
    # the last one: "${NAME}-canary" would be "reviews-v2-5b6c7" there.
    assert MetadataTemplate("${NAME}-canary").render(MODERN) == "reviews-v2-5b6c7-canary"
    assert MetadataTemplate("${NAME}-canary").render(MODERN) != "reviews-v2-5b6c7"


MALFORMED_RULES: list[tuple[str, str]] = [
    ("", "template '': empty template"),
    ("   ", "template '   ': empty template"),
    ("${", "template '${', column 1: unclosed '${'"),
    ("${NAME", "template '${NAME', column 1: unclosed '${'"),
    ("${NAME,", "template '${NAME,', column 1: unclosed '${'"),
    ("${}", "template '${}', column 3: expected a name, found '}'"),
    ("${ }", "template '${ }', column 4: expected a name, found '}'"),
    ("${A,}", "template '${A,}', column 5: expected a name, found '}'"),
    ("${A.}", "template '${A.}', column 5: expected a name, found '}'"),
    ("${A..B}", "template '${A..B}', column 5: expected a name, found '.'"),
    ('${LABELS."app}', "template '${LABELS.\"app}', column 10: unclosed '\"'"),
    ('${LABELS.""}', "template '${LABELS.\"\"}', column 10: empty '\"\"'"),
    ("${A B}", "template '${A B}', column 5: unexpected 'B': expected '.', ',' or '}'"),
    ('${A"b"}', "template '${A\"b\"}', column 4: unexpected '\"': expected '.', ',' or '}'"),
    ("${A${B}}", "template '${A${B}}', column 4: unexpected '$': expected '.', ',' or '}'"),
]


@pytest.mark.parametrize(("rule", "message"), MALFORMED_RULES)
def test_malformed_rules(rule: str, message: str) -> None:
    with pytest.raises(ResolverError) as caught:
        MetadataTemplate(rule)
    assert str(caught.value) == message


def test_a_rule_must_be_a_string() -> None:
    with pytest.raises(ResolverError, match="expected a string, not int"):
        MetadataTemplate(3)  # type: ignore[arg-type]


def test_template_equality_and_repr() -> None:
    assert MetadataTemplate("${NAME}") == MetadataTemplate("${NAME}")
    assert MetadataTemplate("${NAME}") != MetadataTemplate("${NAMESPACE}")
    assert MetadataTemplate("${NAME}") != "${NAME}"
    assert hash(MetadataTemplate("${NAME}")) == hash(MetadataTemplate("${NAME}"))
    assert repr(MetadataTemplate("${NAME}")) == "MetadataTemplate('${NAME}')"


NAME_CASES: list[tuple[str, Mapping[str, object], ServiceMetaInfo | None]] = [
    (
        "modern node metadata",
        MODERN,
        ServiceMetaInfo(
            service="reviews-canonical.bookinfo",
            instance="reviews-v2-5b6c7",
            namespace="bookinfo",
            tags={
                "pod": "reviews-v2-5b6c7",
                "namespace": "bookinfo",
                "app": "reviews",
                "version": "v2",
            },
        ),
    ),
    (
        "Istio 1.24 peer: tags from top-level keys",
        ISTIO_1_24_PEER,
        ServiceMetaInfo(
            service="ratings.bookinfo",
            instance="ratings-v1-9a8b7",
            namespace="bookinfo",
            tags={
                "pod": "ratings-v1-9a8b7",
                "namespace": "bookinfo",
                "app": "ratings",
                "version": "v1",
            },
        ),
    ),
    (
        "labels win over top-level keys for tags",
        {"NAME": "n", "LABELS": {"app": "label-app"}, "app": "top-app", "version": "top-v"},
        ServiceMetaInfo(
            service="label-app.-",
            instance="n",
            tags={"pod": "n", "app": "label-app", "version": "top-v"},
        ),
    ),
    (
        "only a namespace",
        {"NAMESPACE": "ns"},
        ServiceMetaInfo(service="-.ns", instance="-", namespace="ns", tags={"namespace": "ns"}),
    ),
    ("nothing the rules read", {"ISTIO_VERSION": "1.22", "LABELS": {}}, None),
    ("empty", {}, None),
]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [case[1:] for case in NAME_CASES],
    ids=[case[0] for case in NAME_CASES],
)
def test_name(metadata: Mapping[str, object], expected: ServiceMetaInfo | None) -> None:
    assert MetadataServiceMapping().name(metadata) == expected


def test_custom_rules_and_tags() -> None:
    mapping = MetadataServiceMapping(
        service_name="${LABELS.app}",
        service_instance_name="${NAME}.${NAMESPACE}",
        tag_labels=("service.istio.io/canonical-revision",),
    )
    assert mapping.name(MODERN) == ServiceMetaInfo(
        service="reviews",
        instance="reviews-v2-5b6c7.bookinfo",
        namespace="bookinfo",
        tags={
            "pod": "reviews-v2-5b6c7",
            "namespace": "bookinfo",
            "service.istio.io/canonical-revision": "v2-rev",
        },
    )


def test_tag_labels_must_not_be_a_string() -> None:
    with pytest.raises(ResolverError, match="not a string"):
        MetadataServiceMapping(tag_labels="version")


def test_malformed_rule_names_its_key() -> None:
    with pytest.raises(ResolverError) as caught:
        MetadataServiceMapping(service_instance_name="${NAME")
    assert str(caught.value) == "serviceInstanceName '${NAME', column 1: unclosed '${'"


def test_the_shipped_default_file_is_the_default_mapping() -> None:
    mapping = MetadataServiceMapping.from_file(REFERENCE / "metadata-service-mapping.default.yaml")
    assert mapping == MetadataServiceMapping()
    assert mapping.service_name.text == DEFAULT_SERVICE_NAME


def test_skywalking_test_mapping_file() -> None:
    mapping = MetadataServiceMapping.from_file(REFERENCE / "metadata-service-mapping.test.yaml")
    assert mapping.name(MODERN) == ServiceMetaInfo(
        service="v2-rev.reviews-canonical.bookinfo",
        instance="reviews-v2-5b6c7",
        namespace="bookinfo",
        tags={
            "pod": "reviews-v2-5b6c7",
            "namespace": "bookinfo",
            "app": "reviews",
            "version": "v2",
        },
    )


TEXT_CASES: list[tuple[str, str, str, str]] = [
    ("yaml", "serviceName: ${LABELS.app}\nserviceInstanceName: ${NAME}\n", "${LABELS.app}",
     "${NAME}"),
    ("yaml comments and blank lines", "# head\n\nserviceName: ${LABELS.app} # why\n",
     "${LABELS.app}", DEFAULT_SERVICE_INSTANCE_NAME),
    ("yaml hash inside a word", "serviceName: a#b.${NAME}", "a#b.${NAME}",
     DEFAULT_SERVICE_INSTANCE_NAME),
    ("yaml single quotes", "serviceInstanceName: '${NAME} # not a comment' # comment",
     DEFAULT_SERVICE_NAME, "${NAME} # not a comment"),
    ("json", '{"serviceInstanceName": "${NAME}.x"}', DEFAULT_SERVICE_NAME, "${NAME}.x"),
    ("empty yaml", "# nothing\n", DEFAULT_SERVICE_NAME, DEFAULT_SERVICE_INSTANCE_NAME),
    # Full YAML, as SkyWalking's SnakeYAML reads it: a document start and a folded block scalar.
    ("yaml document start and >-", "---\nserviceName: >-\n  ${LABELS.app}.\n  ${NAMESPACE}\n",
     "${LABELS.app}. ${NAMESPACE}", DEFAULT_SERVICE_INSTANCE_NAME),
    ("yaml indented", "  serviceName: ${NAME}\n", "${NAME}", DEFAULT_SERVICE_INSTANCE_NAME),
    ("yaml explicit end", "serviceName: ${NAME}\n...\n", "${NAME}", DEFAULT_SERVICE_INSTANCE_NAME),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "service", "instance"),
    [case[1:] for case in TEXT_CASES],
    ids=[case[0] for case in TEXT_CASES],
)
def test_from_text(text: str, service: str, instance: str) -> None:
    mapping = MetadataServiceMapping.from_text(text)
    assert (mapping.service_name.text, mapping.service_instance_name.text) == (service, instance)


def test_yaml_double_quotes_have_no_escapes() -> None:
    mapping = MetadataServiceMapping.from_text('serviceName: "${LABELS.app}.x"')
    assert mapping.service_name.text == "${LABELS.app}.x"


BAD_TEXTS: list[tuple[str, str]] = [
    ("serviceName ${NAME}", "<text>: expected an object, not str"),
    ("serviceName: a\nserviceName: b",
     "<text>: not YAML: line 2, column 1: 'serviceName' given twice"),
    ("serviceName: 'unclosed",
     "<text>: not YAML: line 1, column 23: found unexpected end of stream"),
    ("serviceName: 'a' b",
     "<text>: not YAML: line 1, column 18: expected <block end>, but found '<scalar>'"),
    ("serviceName: a\n---\nserviceName: b\n", "<text>: 2 YAML documents; expected one"),
    ("service: ${NAME}",
     "<text>: unknown key 'service' (expected serviceName, serviceInstanceName)"),
    ("serviceName: ${NAME", "<text>: serviceName '${NAME', column 1: unclosed '${'"),
    ("{not json", "<text>: not JSON: Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1)"),
    ('{"serviceName": 3}', "<text>: serviceName must be a string, not int"),
    ("serviceName: 3", "<text>: serviceName must be a string, not int"),
    ("[1]", "<text>: expected an object, not list"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_TEXTS)
def test_bad_texts(text: str, message: str) -> None:
    with pytest.raises(ResolverError) as caught:
        MetadataServiceMapping.from_text(text)
    assert str(caught.value) == message


def test_from_mapping_rejects_a_non_mapping() -> None:
    with pytest.raises(ResolverError, match="expected an object, not list"):
        MetadataServiceMapping.from_mapping([])  # type: ignore[arg-type]


def test_from_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_bytes(b"serviceName: \xff")
    with pytest.raises(ResolverError) as caught:
        MetadataServiceMapping.from_file(path)
    assert str(caught.value) == f"{path}: not UTF-8: invalid start byte"


def test_from_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.yaml"):
        MetadataServiceMapping.from_file(tmp_path / "absent.yaml")
