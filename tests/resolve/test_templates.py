"""Name templates: SkyWalking's FieldFormatterTest cases, rendering rules and parse errors."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import ResolverError
from meshals.resolve._templates import (
    MISSING_VALUE,
    SKYWALKING_FALLBACK_RULE,
    SKYWALKING_SERVICE_RULE,
    NameTemplate,
)

CANONICAL_NAME = "service.istio.io/canonical-name"
CANONICAL_REVISION = "service.istio.io/canonical-revision"


def _context(labels: Mapping[str, str], service: str | None = None) -> dict[str, object]:
    context: dict[str, object] = {"pod": {"metadata": {"labels": dict(labels)}}}
    if service is not None:
        context["service"] = {"metadata": {"name": service}}
    return context


# SkyWalking's FieldFormatterTest (ServiceNameFormatter), in its order. A None rule is
# SkyWalking's blank rule: the formatter then uses its built-in fallback chain.
FIELD_FORMATTER_CASES: list[tuple[str | None, dict[str, str], str | None, str]] = [
    (None, {CANONICAL_NAME: "Clash"}, None, "Clash"),
    (None, {CANONICAL_NAME: "ClashX", CANONICAL_REVISION: "v1"}, None, "ClashX"),
    (
        "${pod.metadata.labels.(service.istio.io/canonical-name)}"
        "-${pod.metadata.labels.(service.istio.io/canonical-revision)}",
        {CANONICAL_NAME: "Clash", CANONICAL_REVISION: "v1beta"},
        None,
        "Clash-v1beta",
    ),
    (
        "${pod.metadata.labels.(service.istio.io/canonical-name)}",
        {CANONICAL_NAME: "ClashX-alpha"},
        "Clash",
        "ClashX-alpha",
    ),
    ("${pod.metadata.labels.NOT_EXISTS}", {}, None, "-"),
    (
        "${pod.metadata.labels.NOT_EXISTS,pod.metadata.labels.(service.istio.io/canonical-name),"
        "pod.metadata.labels.app}",
        {"app": "ClashX-alpha"},
        None,
        "ClashX-alpha",
    ),
    (
        "${pod.metadata.labels.(service.istio.io/canonical-name),"
        "pod.metadata.labels.(app.kubernetes.io/name),pod.metadata.labels.app}",
        {"app": "ClashX-alpha"},
        None,
        "ClashX-alpha",
    ),
]


@pytest.mark.parametrize(
    ("rule", "labels", "service", "expected"),
    FIELD_FORMATTER_CASES,
    ids=[f"case{number}" for number in range(1, 8)],
)
def test_skywalking_field_formatter_cases(
    rule: str | None, labels: dict[str, str], service: str | None, expected: str
) -> None:
    template = NameTemplate(SKYWALKING_FALLBACK_RULE if rule is None else rule)
    assert template.render(_context(labels, service)) == expected


def test_the_fallback_chain_is_skywalkings_blank_rule() -> None:
    # Case 7 spells out the chain SkyWalking uses for a blank rule.
    assert FIELD_FORMATTER_CASES[6][0] == SKYWALKING_FALLBACK_RULE


FALLBACK_CHAIN_CASES: list[tuple[dict[str, str], str]] = [
    ({CANONICAL_NAME: "a", "app.kubernetes.io/name": "b", "app": "c"}, "a"),
    ({"app.kubernetes.io/name": "b", "app": "c"}, "b"),
    ({"app": "c"}, "c"),
    ({CANONICAL_NAME: "", "app": "c"}, "c"),  # an empty label counts as missing
    ({"version": "v1"}, "-"),
]


@pytest.mark.parametrize(("labels", "expected"), FALLBACK_CHAIN_CASES)
def test_fallback_chain_order(labels: dict[str, str], expected: str) -> None:
    assert NameTemplate(SKYWALKING_FALLBACK_RULE).render(_context(labels)) == expected


def test_skywalking_shipped_service_rule() -> None:
    assert SKYWALKING_SERVICE_RULE == (
        "${pod.metadata.labels.(service.istio.io/canonical-name)}.${pod.metadata.namespace}"
    )
    context = {
        "pod": {"metadata": {"namespace": "bookinfo", "labels": {CANONICAL_NAME: "ratings"}}}
    }
    assert NameTemplate(SKYWALKING_SERVICE_RULE).render(context) == "ratings.bookinfo"
    assert NameTemplate(SKYWALKING_SERVICE_RULE).render({"pod": {}}) == "-.-"


REVIEWS_CONTEXT: dict[str, object] = {
    "pod": {
        "metadata": {
            "name": "reviews-v2-5b667bcbf8-kx4vn",
            "namespace": "bookinfo",
            "labels": {"app": "reviews", "version": "v2", "empty": ""},
        },
        "spec": {"hostNetwork": False, "priority": 0, "containers": [{"name": "reviews"}]},
        "status": {"podIPs": [{"ip": "10.244.1.14"}, {"ip": "fd00:10:244:1::e"}], "ratio": 0.5},
    },
    "service": {"metadata": {"name": "reviews"}, "spec": {"clusterIP": None}},
}

RENDER_CASES: list[tuple[str, str]] = [
    ("${service.metadata.name}-${pod.metadata.labels.version}", "reviews-v2"),
    ("mesh/${pod.metadata.namespace}", "mesh/bookinfo"),  # literal before
    ("${pod.metadata.namespace}::${service.metadata.name}", "bookinfo::reviews"),  # between
    ("${pod.metadata.name}-canary", "reviews-v2-5b667bcbf8-kx4vn-canary"),  # after (kept)
    ("plain-name", "plain-name"),  # no placeholder at all
    ("$ {not} $x }{ $", "$ {not} $x }{ $"),  # no "${": all literal
    ("${pod.metadata.labels.empty,pod.metadata.labels.app}", "reviews"),
    ("${pod.metadata.labels.missing}.${pod.metadata.labels.missing2}", "-.-"),
    ("${ pod.metadata.labels.missing ,\tpod.metadata.labels.app }", "reviews"),  # spaces
    ("${pod.status.podIPs.1.ip}", "fd00:10:244:1::e"),  # a list index
    ("${pod.status.podIPs.2.ip}", "-"),  # out of range
    ("${pod.status.podIPs.ip}", "-"),  # a name on a list
    ("${pod.metadata.name.length}", "-"),  # a name on a string
    ("${pod.spec.hostNetwork}/${pod.spec.priority}/${pod.status.ratio}", "false/0/0.5"),
    ("${pod.metadata.labels}", "-"),  # an object is not a name
    ("${pod.status.podIPs}", "-"),  # nor a list
    ("${service.spec.clusterIP}", "-"),  # nor null
    ("${nobody.metadata.name}", "-"),  # an absent variable
    ("${pod.(metadata).(labels).(app)}", "reviews"),
    ("${pod.spec.containers.0.name}", "reviews"),
    ("${pod.spec.containers.00000000000000000000.name}", "-"),  # too long for an index
]


@pytest.mark.parametrize(("rule", "expected"), RENDER_CASES)
def test_render(rule: str, expected: str) -> None:
    assert NameTemplate(rule).render(REVIEWS_CONTEXT) == expected


def test_parenthesised_keys_keep_dots_and_slashes() -> None:
    context = {"pod": {"metadata": {"labels": {"app.kubernetes.io/name": "x", "a.b": "y"}}}}
    template = NameTemplate(
        "${pod.metadata.labels.(app.kubernetes.io/name)}_${pod.metadata.labels.(a.b)}"
    )
    assert template.render(context) == "x_y"


ODD_CONTEXTS: list[Mapping[str, object]] = [
    {},
    {"pod": None},
    {"pod": "a string"},
    {"pod": ["a", "list"]},
    {"pod": {"metadata": 7}},
    {"pod": {"metadata": {"labels": {"app": ["not", "a", "string"]}}}},
]


@pytest.mark.parametrize("context", ODD_CONTEXTS)
def test_render_never_raises(context: Mapping[str, object]) -> None:
    assert NameTemplate("<${pod.metadata.labels.app}>").render(context) == "<->"


def _skywalking_format(rule: str, values: list[str]) -> str:
    """SkyWalking's ServiceNameFormatter pattern: each ``${...}`` becomes a value, the text
    before each placeholder is kept, and the text after the last one is dropped (it uses
    ``appendReplacement`` without ``appendTail``)."""
    pieces: list[str] = []
    last = 0
    for match, value in zip(re.finditer(r"\$\{[^}]*\}", rule), values, strict=True):
        pieces.append(rule[last : match.start()])
        pieces.append(value)
        last = match.end()
    return "".join(pieces)


DIVERGENCE_CASES: list[tuple[str, list[str], str, str]] = [
    # rule, placeholder values, SkyWalking renders, meshals renders
    ("${pod.metadata.name}-canary", ["reviews-v2"], "reviews-v2", "reviews-v2-canary"),
    (
        "${pod.metadata.name}.${pod.metadata.namespace}",
        ["r", "bookinfo"],
        "r.bookinfo",
        "r.bookinfo",
    ),
    ("svc-${pod.metadata.name}", ["r"], "svc-r", "svc-r"),
    ("${pod.metadata.name}.svc.cluster.local", ["r"], "r", "r.svc.cluster.local"),
]


@pytest.mark.parametrize(("rule", "values", "skywalking", "ours"), DIVERGENCE_CASES)
def test_text_after_the_last_placeholder_is_kept_unlike_skywalking(
    rule: str, values: list[str], skywalking: str, ours: str
) -> None:
    name, namespace = [*values, "-"][:2]
    context = {"pod": {"metadata": {"name": name, "namespace": namespace}}}
    assert _skywalking_format(rule, values) == skywalking
    assert NameTemplate(rule).render(context) == ours


MALFORMED_CASES: list[tuple[str, str]] = [
    ("", "template '': empty template"),
    ("   ", "template '   ': empty template"),
    ("${", "template '${', column 1: unclosed '${'"),
    ("a-${pod.metadata.name", "template 'a-${pod.metadata.name', column 3: unclosed '${'"),
    ("${}", "template '${}', column 3: expected a name, found '}'"),
    ("${pod..name}", "template '${pod..name}', column 7: expected a name, found '.'"),
    ("${pod.}", "template '${pod.}', column 7: expected a name, found '}'"),
    ("${.pod}", "template '${.pod}', column 3: expected a name, found '.'"),
    ("${pod.(a}", "template '${pod.(a}', column 7: unclosed '('"),
    ("${pod.()}", "template '${pod.()}', column 7: empty '()'"),
    ("${pod.(a)b}", "template '${pod.(a)b}', column 10: unexpected 'b': expected '.', ',' or '}'"),
    ("${pod name}", "template '${pod name}', column 7: unexpected 'n': expected '.', ',' or '}'"),
    ("${pod,}", "template '${pod,}', column 7: expected a name, found '}'"),
    ("${pod.a${x}}", "template '${pod.a${x}}', column 8: unexpected '$': expected '.', ',' or '}'"),
    ("${pod.{a}}", "template '${pod.{a}}', column 7: expected a name, found '{'"),
    (
        "${pod.metadata. name}",
        "template '${pod.metadata. name}', column 16: expected a name, found whitespace",
    ),
]


@pytest.mark.parametrize(("rule", "message"), MALFORMED_CASES)
def test_malformed_templates_fail_at_construction_with_the_column(rule: str, message: str) -> None:
    with pytest.raises(ResolverError) as info:
        NameTemplate(rule)
    assert str(info.value) == message


def test_error_attributes() -> None:
    with pytest.raises(ResolverError) as info:
        NameTemplate("${pod.(x}", name="service_rule")
    error = info.value
    assert (error.source, error.path, error.column, error.reason) == (
        "service_rule '${pod.(x}'",
        None,
        7,
        "unclosed '('",
    )
    assert isinstance(error, ValueError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_variables_are_checked_when_given() -> None:
    allowed = {"pod", "service"}
    assert NameTemplate("${pod.a,service.b}", variables=allowed).variables == ("pod", "service")
    with pytest.raises(ResolverError) as info:
        NameTemplate("${pod.a}-${pods.metadata.name}", variables=allowed, name="instance_rule")
    assert str(info.value) == (
        "instance_rule '${pod.a}-${pods.metadata.name}', column 12: "
        "unknown variable 'pods' (expected pod, service)"
    )


def test_variables_lists_the_roots() -> None:
    assert NameTemplate("x").variables == ()
    assert NameTemplate("${service.a}${pod.b,serviceEntry.c}").variables == (
        "pod",
        "service",
        "serviceEntry",
    )


def test_not_a_string() -> None:
    with pytest.raises(ResolverError, match="expected a string, not int"):
        NameTemplate(42)  # type: ignore[arg-type]


def test_value_semantics() -> None:
    template = NameTemplate("${pod.metadata.name}")
    assert template == NameTemplate("${pod.metadata.name}")
    assert template != NameTemplate("${pod.metadata.namespace}")
    assert template != "${pod.metadata.name}"
    assert len({template, NameTemplate("${pod.metadata.name}")}) == 1
    assert repr(template) == "NameTemplate('${pod.metadata.name}')"
    assert str(template) == "${pod.metadata.name}"
    assert MISSING_VALUE == "-"


@given(st.text(alphabet="${}().,: ab/\t", max_size=30))
def test_parsing_any_text_succeeds_or_raises_resolver_error(text: str) -> None:
    try:
        rendered = NameTemplate(text).render({"a": {"b": "x"}})
    except ResolverError as exc:
        column = exc.column
        assert column is None or 1 <= column <= len(text)
    else:
        assert isinstance(rendered, str)
