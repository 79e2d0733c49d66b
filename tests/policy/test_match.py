"""Istio's match forms, one table row per form and its not-form, and a property of them."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals._values import FrozenMap
from meshals.model import IstioWorkload
from meshals.policy import Action, Condition, ObservedRequest, Operation, Rule, Source
from meshals.policy._match import (
    RuleMatcher,
    header_match,
    path_match,
    principal_match,
    string_match,
)

HTTP = ObservedRequest(
    file=None,
    message_index=0,
    entry_index=0,
    tcp=False,
    destination=IstioWorkload(workload="reviews-v1", namespace="default"),
    destination_labels=FrozenMap({"app": "reviews"}),
    destination_namespace="default",
    destination_port=9080,
    destination_ip="10.0.0.2",
    source=None,
    source_principal="cluster.local/ns/default/sa/bookinfo-productpage",
    source_ip="10.0.0.1",
    remote_ip="192.168.1.9",
    host="Reviews.default:9080",
    method="GET",
    path="/reviews/0?x=1",
    request_headers=FrozenMap({"x-user": "alice"}),
    sni="outbound_.9080_._.reviews.default.svc.cluster.local",
)
PLAIN = attrs.evolve(HTTP, source_principal=None, sni=None)
TCP = attrs.evolve(
    HTTP,
    tcp=True,
    host=None,
    method=None,
    path=None,
    request_headers=FrozenMap(),
    destination_port=27017,
)


def _match(rule: Rule, request: ObservedRequest = HTTP, action: Action = Action.ALLOW) -> object:
    return RuleMatcher("default", action).rule(rule, request).matched


def _src(**fields: tuple[str, ...]) -> Rule:
    return Rule(sources=(Source(**fields),))


def _op(**fields: tuple[str, ...]) -> Rule:
    return Rule(operations=(Operation(**fields),))


def _when(key: str, values: tuple[str, ...] = (), not_values: tuple[str, ...] = ()) -> Rule:
    return Rule(when=(Condition(key=key, values=values, not_values=not_values),))


# (rule, on HTTP, on plaintext HTTP)
FORMS = [
    (Rule(), True, True),
    (_src(principals=("cluster.local/ns/default/sa/bookinfo-productpage",)), True, False),
    (_src(principals=("cluster.local/ns/default/*",)), True, False),  # prefix
    (_src(principals=("*/sa/bookinfo-productpage",)), True, False),  # suffix
    (_src(principals=("*",)), True, False),  # presence: any authenticated caller
    (_src(principals=("cluster.local/ns/default/sa/other",)), False, False),
    (_src(not_principals=("*",)), False, True),
    (_src(not_principals=("cluster.local/ns/default/sa/other",)), True, True),
    (_src(namespaces=("default",)), True, False),
    (_src(namespaces=("def*",)), True, False),
    (_src(namespaces=("*",)), True, False),
    (_src(not_namespaces=("default",)), False, True),
    (_src(service_accounts=("bookinfo-productpage",)), True, False),
    (_src(service_accounts=("default/bookinfo-productpage",)), True, False),
    (_src(service_accounts=("other/bookinfo-productpage",)), False, False),
    (_src(not_service_accounts=("bookinfo-productpage",)), False, True),
    (_src(ip_blocks=("10.0.0.0/24",)), True, True),
    (_src(ip_blocks=("10.0.0.1",)), True, True),
    (_src(not_ip_blocks=("10.0.0.0/24",)), False, False),
    (_src(remote_ip_blocks=("192.168.0.0/16",)), True, True),
    (_src(not_remote_ip_blocks=("192.168.1.9",)), False, False),
    (_src(request_principals=("*",)), None, None),  # JWT: not logged
    (_op(hosts=("reviews.default:9080",)), True, True),  # case-insensitive
    (_op(hosts=("reviews.default",)), False, False),  # the port is part of the host
    (_op(hosts=("reviews.default:*",)), True, True),
    (_op(hosts=("*:9080",)), True, True),
    (_op(not_hosts=("*",)), False, False),
    (_op(methods=("GET",)), True, True),
    (_op(methods=("get",)), False, False),  # methods are case-sensitive
    (_op(not_methods=("POST",)), True, True),
    (_op(paths=("/reviews/0",)), True, True),  # without the query
    (_op(paths=("/reviews/*",)), True, True),
    (_op(paths=("*/0",)), True, True),
    (_op(paths=("/reviews/{*}",)), True, True),
    (_op(paths=("/{**}",)), True, True),
    (_op(paths=("/{*}",)), False, False),
    (_op(not_paths=("/reviews*",)), False, False),
    (_op(ports=("9080",)), True, True),
    (_op(not_ports=("9080",)), False, False),
    (_when("source.ip", ("10.0.0.0/8",)), True, True),
    (_when("remote.ip", not_values=("192.168.1.9",)), False, False),
    (_when("destination.ip", ("10.0.0.2",)), True, True),
    (_when("destination.port", ("9080",)), True, True),
    (_when("source.namespace", ("default",)), True, False),
    (_when("source.principal", ("*",)), True, False),
    (_when("source.serviceAccount", ("bookinfo-productpage",)), True, False),
    (_when("connection.sni", ("outbound_.9080_*",)), True, False),
    (_when("request.headers[X-User]", ("alice",)), True, True),
    (_when("request.headers[:method]", not_values=("GET",)), False, False),
    (_when("request.headers[x-other]", ("a",)), None, None),  # not logged
    (_when("request.auth.claims[iss]", ("a",)), None, None),
    (_when("experimental.envoy.filters.a.b[c]", ("a",)), None, None),
]


@pytest.mark.parametrize(("rule", "on_http", "on_plain"), FORMS)
def test_each_form(rule: Rule, on_http: bool | None, on_plain: bool | None) -> None:
    assert _match(rule) is on_http
    assert _match(rule, PLAIN) is on_plain


def test_all_fields_of_a_source_and_one_of_its_values() -> None:
    rule = _src(principals=("x", "*"), ip_blocks=("10.0.0.1",))
    assert _match(rule) is True
    assert _match(_src(principals=("*",), ip_blocks=("10.9.0.0/16",))) is False
    two = Rule(sources=(Source(principals=("x",)), Source(ip_blocks=("10.0.0.1",))))
    assert _match(two) is True  # one source is enough
    both = Rule(
        operations=(Operation(methods=("GET",)),), when=_when("source.ip", ("1.1.1.1",)).when
    )
    assert _match(both) is False  # every condition must hold


# On a TCP connection: (rule, ALLOW, DENY). Istio leaves ALLOW rules with HTTP-only fields
# out (they match nothing) and drops only those fields from DENY rules (wider).
TCP_FORMS = [
    (_op(methods=("GET",)), False, True),
    (_op(not_paths=("/a",), ports=("27017",)), False, True),
    (_op(not_paths=("/a",), ports=("9080",)), False, False),
    (
        Rule(sources=(Source(namespaces=("default",)),), operations=(Operation(methods=("GET",)),)),
        False,
        True,
    ),
    (_src(request_principals=("*",), ip_blocks=("10.0.0.1",)), False, True),
    (_when("request.headers[x-user]", ("alice",)), False, True),
    (_when("request.auth.claims[iss]", ("a",)), False, True),
    (_op(ports=("27017",)), True, True),
    (_when("experimental.envoy.filters.a.b[c]", ("a",)), None, None),
]


@pytest.mark.parametrize(("rule", "allow", "deny"), TCP_FORMS)
def test_tcp_connections(rule: Rule, allow: bool | None, deny: bool | None) -> None:
    assert _match(rule, TCP, Action.ALLOW) is allow
    assert _match(rule, TCP, Action.DENY) is deny
    assert _match(rule, TCP, Action.AUDIT) is deny


_TEXT = st.text(alphabet="ab/.:-", max_size=8)


@given(value=_TEXT, cut=st.integers(0, 8))
def test_prefix_suffix_and_presence(value: str, cut: int) -> None:
    head, tail = value[:cut], value[cut:]
    assert string_match(value, value)
    # "abc*" and "*abc" with an empty abc are "*": presence, which an empty value fails.
    assert string_match(head + "*", value) is (head != "" or value != "")
    assert string_match("*" + tail, value) is (tail != "" or value != "")
    assert not string_match(value + "x", value)
    assert string_match("*", value) is (value != "")
    assert string_match("*", None) is False
    # A case-insensitive match is the match of the lower-cased strings.
    assert string_match(value.upper(), value, ignore_case=True)


# Envoy's URI template matcher (uri_template_internal.cc): {*} is one or more of
# [a-zA-Z0-9-._~%!$&'()*+,;:@=], {**} zero or more of those or "/".
TEMPLATES = [
    ("/reviews/{*}", "/reviews/0", True),
    ("/reviews/{*}", "/reviews/a=b;c@d:e", True),
    ("/reviews/{*}", "/reviews/%2F", True),
    ("/reviews/{*}", "/reviews/a*b", True),  # as Envoy 1.40 (envoyproxy/envoy#39169)
    ("/reviews/{*}", "/reviews/a[1]", False),
    ("/reviews/{*}", "/reviews/a b", False),
    ("/reviews/{*}", "/reviews/", False),
    ("/reviews/{*}", "/reviews/0/1", False),
    ("/reviews/{**}", "/reviews/", True),
    ("/reviews/{**}", "/reviews/a/b/", True),
    ("/reviews/{**}", "/reviews", False),
    ("/reviews/{**}", "/reviews/a*b/c", True),
    ("/reviews/{**}", "/reviews/a[1]/c", False),
    ("/reviews/{**}", "/reviews/a/b c", False),
    ("/{*}/ratings/{**}", "/v1/ratings/7", True),
    ("/{*}/ratings/{**}", "/v1/ratings", False),
    ("/a.b/{*}", "/aXb/0", False),  # literals are literal
]


@pytest.mark.parametrize(("pattern", "path", "matched"), TEMPLATES)
def test_path_templates_match_as_envoy(pattern: str, path: str, matched: bool) -> None:
    assert path_match(pattern, path) is matched
    assert path_match(pattern, path + "?q=a*b") is matched  # the query is not matched


# Istio's StringMatcherWithPrefix(value, "spiffe://"): *suffix is the unescaped regex
# spiffe://.*<suffix> on the whole SAN; prefix* and exact are string matches.
PRINCIPALS = [
    ("*/sa/my.sa", "cluster.local/ns/a/sa/my.sa", True),
    ("*/sa/my.sa", "cluster.local/ns/a/sa/myXsa", True),  # "." is any character
    ("*/sa/my.sa", "cluster.local/ns/a/sa/my.sa/x", False),
    ("*ns/(a|b)/sa/x", "cluster.local/ns/b/sa/x", True),  # a regex, as Envoy gets it
    ("*/sa/[", "cluster.local/ns/a/sa/[", False),  # not a regex: Envoy refuses it
    ("cluster.local/ns/a/sa/my.*", "cluster.local/ns/a/sa/my.sa", True),
    ("cluster.local/ns/a/sa/my.*", "cluster.local/ns/a/sa/myXsa", False),  # a plain prefix
    ("cluster.local/ns/a/sa/my.sa", "cluster.local/ns/a/sa/myXsa", False),
    ("*", "", True),  # ".+" on "spiffe://"
    ("*", None, False),
    ("*/sa/x", None, False),
]


@pytest.mark.parametrize(("pattern", "principal", "matched"), PRINCIPALS)
def test_principals_as_istio_translates_them(
    pattern: str, principal: str | None, matched: bool
) -> None:
    assert principal_match(pattern, principal) is matched
    rule = _src(principals=(pattern,))
    assert _match(rule, attrs.evolve(HTTP, source_principal=principal)) is matched
    assert (
        _match(
            _when("source.principal", (pattern,)), attrs.evolve(HTTP, source_principal=principal)
        )
        is matched
    )


# request.headers: Envoy's HeaderMatcher; request.experimental.inline.headers: Istio's
# HeaderMatcherWithRegex, ^V$|^V,.*|.*,V,.*|.*,V$ on the comma-joined values.
HEADERS = [
    ("a", "a", True, True),
    ("a", "a,b", False, True),
    ("a", "x,a,y", False, True),
    ("a", "x,a", False, True),
    ("a", "x, a", False, False),  # no space after the comma
    ("a", "ab,c", False, False),
    ("a.b", "aXb", False, False),  # the value is escaped
    ("a*", "x,ab", False, True),
    ("a*", "ab,x", True, True),
    ("*b", "ab,x", False, True),  # .*b then ",.*"
    ("*b", "x,ab", True, True),
    ("*", "", True, True),  # present, even empty
    ("*", None, False, False),
]


@pytest.mark.parametrize(("pattern", "value", "plain", "inline"), HEADERS)
def test_headers_as_istio_translates_them(
    pattern: str, value: str | None, plain: bool, inline: bool
) -> None:
    assert header_match(pattern, value) is plain
    assert header_match(pattern, value, inline=True) is inline
    headers = FrozenMap({} if value is None else {"x-list": value})
    request = attrs.evolve(HTTP, request_headers=headers)
    expected = None if value is None else inline
    assert (
        _match(_when("request.experimental.inline.headers[X-List]", (pattern,)), request)
        is expected
    )


@given(path=st.lists(st.text(alphabet="ab", min_size=1, max_size=3), min_size=1, max_size=4))
def test_path_templates(path: list[str]) -> None:
    text = "/" + "/".join(path)
    assert path_match("/" + "/".join("{*}" for _ in path), text)
    assert path_match("/{**}", text)
    assert not path_match("/" + "/".join("{*}" for _ in path) + "/{*}", text)
    assert path_match(text, text + "?q=1#f")
