"""StaticResolver, ChainResolver and CachingResolver, and the errors resolver input raises."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshals import CachingResolver, ChainResolver, ResolverError, StaticResolver
from meshals._errors import MeshalsError
from meshals._values import FrozenMap
from meshals.model._service import ServiceMetaInfo
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import RunMemo, canonical_ip, json_path

FIXTURES = Path(__file__).parents[1] / "fixtures"

# The table of the issue, verbatim.
SPEC_TABLE = {
    "10.44.2.56": {"service": "ingress", "instance": "ingress-Inst"},
    "10.44.2.54:9080": {
        "service": "productpage",
        "instance": "productpage-Inst",
        "namespace": "default",
        "tags": {"version": "v1"},
    },
}

INGRESS = ServiceMetaInfo(service="ingress", instance="ingress-Inst")
PRODUCTPAGE = ServiceMetaInfo(
    service="productpage", instance="productpage-Inst", namespace="default", tags={"version": "v1"}
)
DB = ServiceMetaInfo(service="db", instance="db-0")
DB_ADMIN = ServiceMetaInfo(service="db-admin", instance="db-0")
LOOPBACK6 = ServiceMetaInfo(service="local6", instance="lo6")
LINK_LOCAL = ServiceMetaInfo(service="link", instance="fe80-1")

TABLE = StaticResolver(
    {
        "10.44.2.56": INGRESS,
        "10.44.2.54:9080": PRODUCTPAGE,
        "10.0.0.1": DB,
        "10.0.0.1:9090": DB_ADMIN,
        "::1": LOOPBACK6,
        "[fe80::1]:8080": LINK_LOCAL,
    }
)

LOOKUPS: list[tuple[str, int | None, ServiceMetaInfo | None]] = [
    ("10.44.2.56", 8080, INGRESS),
    ("10.44.2.56", None, INGRESS),
    ("10.44.2.54", 9080, PRODUCTPAGE),
    ("10.44.2.54", 9081, None),  # only the port entry exists
    ("10.44.2.54", None, None),
    ("10.0.0.1", 9090, DB_ADMIN),  # IP:port wins over IP
    ("10.0.0.1", 5432, DB),
    ("10.0.0.1", None, DB),
    ("::ffff:10.0.0.1", 9090, DB_ADMIN),  # IPv4-mapped IPv6 is the IPv4 address
    ("::ffff:a00:1", None, DB),
    ("::1", None, LOOPBACK6),
    ("0:0::1", 80, LOOPBACK6),  # the same address, written differently
    ("0000:0000:0000:0000:0000:0000:0000:0001", 80, LOOPBACK6),
    ("::1%lo", 80, LOOPBACK6),  # a zone id is ignored
    ("fe80::1%eth0", 8080, LINK_LOCAL),
    ("FE80::1", 8080, LINK_LOCAL),
    ("fe80::1", 80, None),
    ("10.0.0.2", None, None),
    ("127.0.0.1", 9090, None),
    # Not addresses at all: unknown, never an error.
    ("", None, None),
    ("   ", 80, None),
    ("10.0.0.1 ", 80, None),
    ("garbage", 80, None),
    ("10.0.0.1:9090", None, None),  # a key, not an IP
    ("[::1]", 80, None),
    ("010.000.000.001", 80, None),  # leading zeros are ambiguous: refused by ipaddress
    ("10.0.0.1%eth0", 80, None),  # zones exist on IPv6 only
    ("fe80::1%", 80, None),  # an empty zone
    ("%", None, None),
    ("999.0.0.1", 80, None),
    ("\x00", 80, None),
    ("::1" * 1000, 80, None),
]


@pytest.mark.parametrize(("ip", "port", "expected"), LOOKUPS)
def test_static_lookups(ip: str, port: int | None, expected: ServiceMetaInfo | None) -> None:
    assert TABLE.resolve(ip, port) == expected


def test_spec_table_from_mapping() -> None:
    resolver = StaticResolver.from_mapping(SPEC_TABLE)
    assert resolver.resolve("10.44.2.56", 15021) == INGRESS
    assert resolver.resolve("10.44.2.54", 9080) == PRODUCTPAGE
    info = resolver.resolve("10.44.2.54", 9080)
    assert info is not None
    assert info.tags == FrozenMap({"version": "v1"})
    assert len(resolver) == 2
    assert repr(resolver) == "<StaticResolver: 2 entries>"


def test_spec_table_from_json_and_from_file(tmp_path: Path) -> None:
    text = json.dumps(SPEC_TABLE)
    path = tmp_path / "workloads.json"
    path.write_text(text, encoding="utf-8")
    for resolver in (
        StaticResolver.from_json(text),
        StaticResolver.from_json(text.encode()),
        StaticResolver.from_json(b"\xef\xbb\xbf" + text.encode()),  # a UTF-8 BOM
        StaticResolver.from_file(path),
        StaticResolver.from_file(str(path)),
    ):
        assert resolver.resolve("10.44.2.54", 9080) == PRODUCTPAGE
        assert resolver.resolve("10.44.2.56", None) == INGRESS


SKYWALKING_MOCK: list[tuple[str, tuple[str, str] | None]] = [
    ("10.44.2.56", ("ingress", "ingress-Inst")),
    ("10.44.2.54", ("productpage", "productpage-Inst")),
    ("10.44.6.66", ("detail", "detail-Inst")),
    ("10.44.2.55", ("review", "review-Inst")),
    ("10.138.0.14", None),  # the outside client
    ("10.47.247.180", None),  # the details ClusterIP
    ("127.0.0.1", None),
]


@pytest.mark.parametrize(("ip", "expected"), SKYWALKING_MOCK)
def test_skywalking_mock_table(ip: str, expected: tuple[str, str] | None) -> None:
    resolver = StaticResolver.from_file(FIXTURES / "resolvers" / "skywalking-mock.json")
    info = resolver.resolve(ip, 9080)
    assert ((info.service, info.instance) if info else None) == expected


def test_envoy_ground_truth_map_is_a_static_table() -> None:
    ground_truth = json.loads((FIXTURES / "envoy" / "ground_truth.json").read_text())
    resolver = StaticResolver.from_mapping(ground_truth["resolver"])
    assert len(resolver) == 8
    assert resolver.resolve("127.0.0.3", 9080) == ServiceMetaInfo(
        service="reviews", instance="reviews-v1-rvw"
    )
    assert resolver.resolve(ground_truth["external_client_ip"], None) is None


BAD_KEYS: list[tuple[str, str]] = [
    ("pod-a", "bad key 'pod-a': 'pod-a' is not an IP address"),
    ("", "bad key '': '' is not an IP address"),
    ("10.0.0.1:", "bad key '10.0.0.1:': bad port '': expected 1 to 65535"),
    ("10.0.0.1:0", "bad key '10.0.0.1:0': bad port '0': expected 1 to 65535"),
    ("10.0.0.1:65536", "bad key '10.0.0.1:65536': bad port '65536': expected 1 to 65535"),
    ("10.0.0.1:http", "bad key '10.0.0.1:http': bad port 'http': expected 1 to 65535"),
    ("10.0.0.1:٣", "bad key '10.0.0.1:٣': bad port '٣': expected 1 to 65535"),
    ("10.0.0.1:+80", "bad key '10.0.0.1:+80': bad port '+80': expected 1 to 65535"),
    ("10.0.0.1:0000080", "bad key '10.0.0.1:0000080': bad port '0000080': expected 1 to 65535"),
    ("10.0.0.0/24", "bad key '10.0.0.0/24': '10.0.0.0/24' is not an IP address"),
    ("::1:80:x", "bad key '::1:80:x': '::1:80:x' is not an IP address"),
    ("[::1]", "bad key '[::1]': expected '[IPv6]:port'"),
    ("[::1", "bad key '[::1': expected '[IPv6]:port'"),
    ("[::1]80", "bad key '[::1]80': expected '[IPv6]:port'"),
    ("[10.0.0.1]:80", "bad key '[10.0.0.1]:80': '10.0.0.1' in brackets is not an IPv6 address"),
    ("[::1]:x", "bad key '[::1]:x': bad port 'x': expected 1 to 65535"),
    (
        "fe80::1%eth0",
        "bad key 'fe80::1%eth0': 'fe80::1%eth0' has a zone id: "
        "tables cannot use one (lookups ignore zones)",
    ),
    (" 10.0.0.1", "bad key ' 10.0.0.1': ' 10.0.0.1' is not an IP address"),
]


@pytest.mark.parametrize(("key", "reason"), BAD_KEYS)
def test_bad_keys_are_named(key: str, reason: str) -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping({key: {"service": "s", "instance": "i"}}, source="t.json")
    assert info.value.reason == reason
    assert info.value.source == "t.json"
    assert info.value.path == json_path("$", key)


def test_key_path_in_message() -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping(
            {"10.0.0.1:x": {"service": "s", "instance": "i"}}, source="t.json"
        )
    assert str(info.value) == (
        "t.json, $[\"10.0.0.1:x\"]: bad key '10.0.0.1:x': bad port 'x': expected 1 to 65535"
    )


GOOD_KEYS: list[tuple[str, str, int | None]] = [
    ("10.0.0.1", "10.0.0.1", None),
    ("10.0.0.1:1", "10.0.0.1", 1),
    ("10.0.0.1:65535", "10.0.0.1", 65535),
    ("[2001:db8::1]:443", "2001:db8::1", 443),
    ("2001:db8::1", "2001:db8::1", None),
    ("[::ffff:10.9.0.1]:80", "10.9.0.1", 80),  # mapped keys become IPv4
    ("::ffff:10.9.0.1", "10.9.0.1", None),
]


@pytest.mark.parametrize(("key", "ip", "port"), GOOD_KEYS)
def test_good_keys(key: str, ip: str, port: int | None) -> None:
    resolver = StaticResolver({key: DB})
    assert resolver.resolve(ip, port) == DB


def test_keys_naming_the_same_address_clash() -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping(
            {
                "::1": {"service": "a", "instance": "a"},
                "0:0::1": {"service": "b", "instance": "b"},
            }
        )
    assert (
        str(info.value) == "<mapping>, $[\"0:0::1\"]: key '0:0::1' names the same address as '::1'"
    )
    with pytest.raises(ResolverError, match=r"names the same address as '10\.0\.0\.1:80'"):
        StaticResolver({"10.0.0.1:80": DB, "[::ffff:10.0.0.1]:80": DB})


BAD_ENTRIES: list[tuple[object, str]] = [
    ("ingress", "$[\"10.0.0.1\"]: expected an object with 'service' and 'instance'"),
    (None, "$[\"10.0.0.1\"]: expected an object with 'service' and 'instance'"),
    ({"instance": "i"}, '$["10.0.0.1"].service: expected a non-empty string'),
    ({"service": "s"}, '$["10.0.0.1"].instance: expected a non-empty string'),
    ({"service": "", "instance": "i"}, '$["10.0.0.1"].service: expected a non-empty string'),
    ({"service": 7, "instance": "i"}, '$["10.0.0.1"].service: expected a non-empty string'),
    ({"service": "s", "instance": ["i"]}, '$["10.0.0.1"].instance: expected a non-empty string'),
    (
        {"service": "s", "instance": "i", "namespace": 3},
        '$["10.0.0.1"].namespace: expected a non-empty string',
    ),
    (
        {"service": "s", "instance": "i", "namespace": ""},
        '$["10.0.0.1"].namespace: expected a non-empty string',
    ),
    (
        {"service": "s", "instance": "i", "tags": ["v1"]},
        '$["10.0.0.1"].tags: expected an object of strings',
    ),
    (
        {"service": "s", "instance": "i", "tags": {"version": 1}},
        '$["10.0.0.1"].tags.version: expected a string',
    ),
    (
        {"service": "s", "instance": "i", "tags": {"app.kubernetes.io/name": None}},
        '$["10.0.0.1"].tags["app.kubernetes.io/name"]: expected a string',
    ),
    (
        {"service": "s", "instance": "i", "namesapce": "default"},
        "$[\"10.0.0.1\"]: unknown field 'namesapce' (expected service, instance, namespace, tags)",
    ),
]


@pytest.mark.parametrize(("entry", "message"), BAD_ENTRIES)
def test_malformed_entries_name_the_key(entry: object, message: str) -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping({"10.0.0.1": entry}, source="w.json")
    assert str(info.value) == f"w.json, {message}"


def test_optional_fields_may_be_null() -> None:
    resolver = StaticResolver.from_json(
        '{"10.0.0.1": {"service": "s", "instance": "i", "namespace": null, "tags": null}}'
    )
    assert resolver.resolve("10.0.0.1", None) == ServiceMetaInfo(service="s", instance="i")


BAD_DOCUMENTS: list[tuple[str | bytes, str]] = [
    ("", "<json>: not valid JSON: Expecting value (line 1, column 1)"),
    (
        "{",
        "<json>: not valid JSON: "
        "Expecting property name enclosed in double quotes (line 1, column 2)",
    ),
    ("[]", "<json>, $: expected a JSON object of address → service"),
    ('"10.0.0.1"', "<json>, $: expected a JSON object of address → service"),
    (
        '{"10.0.0.1": {"service": "a", "instance": "a"},'
        ' "10.0.0.1": {"service": "b", "instance": "b"}}',
        "<json>: duplicate key '10.0.0.1' in one object",
    ),
    (b"\xff{}", "<json>: not UTF-8: invalid start byte at byte 0"),
    ("[" * 100_000 + "]" * 100_000, "<json>: not valid JSON: nested too deeply"),
]


@pytest.mark.parametrize(("text", "message"), BAD_DOCUMENTS)
def test_malformed_json(text: str | bytes, message: str) -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_json(text)
    assert str(info.value) == message


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"10.0.0.1": {"service": "s"}}', encoding="utf-8")
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_file(path)
    assert str(info.value) == f'{path}, $["10.0.0.1"].instance: expected a non-empty string'
    with pytest.raises(FileNotFoundError):
        StaticResolver.from_file(tmp_path / "missing.json")


def test_constructor_checks_its_table() -> None:
    with pytest.raises(ResolverError) as info:
        StaticResolver({"10.0.0.1": {"service": "s", "instance": "i"}})  # type: ignore[dict-item]
    assert str(info.value) == '<mapping>, $["10.0.0.1"]: value is not a ServiceMetaInfo'
    with pytest.raises(ResolverError) as info:
        StaticResolver({7: DB})  # type: ignore[dict-item]
    assert str(info.value) == "<mapping>, $[7]: key is not a string"
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping({7: {}})  # type: ignore[dict-item]
    assert str(info.value) == "<mapping>, $[7]: key is not a string"
    with pytest.raises(ResolverError) as info:
        StaticResolver.from_mapping([])  # type: ignore[arg-type]
    assert str(info.value) == "<mapping>, $: expected a JSON object of address → service"


def test_resolver_error_is_a_meshals_value_error_that_pickles() -> None:
    error = ResolverError("bad port 'x'", source="t.json", path='$["a"]', column=None)
    assert isinstance(error, MeshalsError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.source, copy.path, copy.column) == (
        "bad port 'x'",
        "t.json",
        '$["a"]',
        None,
    )
    assert str(copy) == "t.json, $[\"a\"]: bad port 'x'"
    assert str(ResolverError("r")) == "<input>: r"
    assert str(ResolverError("r", source="rule", column=3)) == "rule, column 3: r"


@pytest.mark.parametrize("ip", [None, 167772161, b"10.0.0.1", ["10.0.0.1"]])
def test_static_lookup_of_a_non_string_is_unknown(ip: object) -> None:
    # The protocol says str; an int would otherwise be read as a packed IPv4 address.
    assert TABLE.resolve(ip, 80) is None  # type: ignore[arg-type]


@given(st.text(max_size=60), st.one_of(st.none(), st.integers(-(2**70), 2**70)))
def test_static_lookups_never_raise(ip: str, port: int | None) -> None:
    assert TABLE.resolve(ip, port) in (
        None,
        INGRESS,
        PRODUCTPAGE,
        DB,
        DB_ADMIN,
        LOOPBACK6,
        LINK_LOCAL,
    )


@given(st.ip_addresses())
def test_canonical_ip_round_trips_addresses(address: object) -> None:
    text = str(address)
    canonical = canonical_ip(text)
    assert canonical is not None
    assert canonical_ip(str(canonical)) == canonical


# --- ChainResolver ---------------------------------------------------------------------------


class _Recorder:
    """A resolver that answers from a dict and records what it was asked."""

    def __init__(self, answers: dict[str, ServiceMetaInfo]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int | None]] = []

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        self.asked.append((ip, port))
        return self.answers.get(ip)


class _Failing:
    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        raise RuntimeError(f"lookup of {ip} failed")


def test_chain_first_non_none_wins() -> None:
    first = _Recorder({"10.0.0.1": INGRESS})
    second = _Recorder({"10.0.0.1": DB, "10.0.0.2": DB_ADMIN})
    chain = ChainResolver(first, second)
    assert chain.resolve("10.0.0.1", 80) == INGRESS
    assert second.asked == []  # not asked once the first answered
    assert chain.resolve("10.0.0.2", 80) == DB_ADMIN
    assert chain.resolve("10.0.0.3", None) is None
    assert first.asked == [("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", None)]
    assert second.asked == [("10.0.0.2", 80), ("10.0.0.3", None)]
    assert chain.resolvers == (first, second)


def test_empty_chain_knows_nothing() -> None:
    assert ChainResolver().resolve("10.0.0.1", 80) is None
    assert repr(ChainResolver(StaticResolver({}))) == "ChainResolver(<StaticResolver: 0 entries>)"


def test_chain_lets_a_failing_resolver_raise() -> None:
    chain = ChainResolver(_Recorder({"10.0.0.1": DB}), _Failing())
    assert chain.resolve("10.0.0.1", 80) == DB
    with pytest.raises(RuntimeError, match=r"lookup of 10\.0\.0\.2 failed"):
        chain.resolve("10.0.0.2", 80)


# --- CachingResolver -------------------------------------------------------------------------


@pytest.mark.parametrize("memo", [CachingResolver, RunMemo])
def test_cache_remembers_answers_including_none(memo: type[CachingResolver | RunMemo]) -> None:
    inner = _Recorder({"10.0.0.1": DB})
    cached = memo(inner, maxsize=8)
    for _ in range(3):
        assert cached.resolve("10.0.0.1", 80) == DB
        assert cached.resolve("10.0.0.9", 80) is None
    assert inner.asked == [("10.0.0.1", 80), ("10.0.0.9", 80)]
    assert len(cached) == 2
    if isinstance(cached, CachingResolver):
        assert (cached.hits, cached.misses) == (4, 2)
    assert cached.resolve("10.0.0.1", 81) == DB  # another port is another question
    assert inner.asked[-1] == ("10.0.0.1", 81)


def test_cache_evicts_the_least_recently_used() -> None:
    inner = _Recorder({})
    cached = CachingResolver(inner, maxsize=2)
    cached.resolve("a", None)
    cached.resolve("b", None)
    cached.resolve("a", None)  # a is now the most recent
    cached.resolve("c", None)  # evicts b
    assert len(cached) == 2
    inner.asked.clear()
    cached.resolve("a", None)
    cached.resolve("c", None)
    assert inner.asked == []
    cached.resolve("b", None)
    assert inner.asked == [("b", None)]


def test_cache_clear() -> None:
    inner = _Recorder({"10.0.0.1": DB})
    cached = CachingResolver(inner)
    cached.resolve("10.0.0.1", 80)
    cached.resolve("10.0.0.1", 80)
    cached.clear()
    assert (cached.hits, cached.misses, len(cached)) == (0, 0, 0)
    cached.resolve("10.0.0.1", 80)
    assert len(inner.asked) == 2
    assert cached.maxsize == 4096
    assert repr(cached) == f"CachingResolver({inner!r}, maxsize=4096)"


@pytest.mark.parametrize("memo", [CachingResolver, RunMemo])
def test_cache_does_not_remember_failures(memo: type[CachingResolver | RunMemo]) -> None:
    cached = memo(_Failing(), maxsize=4)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            cached.resolve("10.0.0.1", 80)
    assert len(cached) == 0
    if isinstance(cached, CachingResolver):
        assert cached.misses == 2


def test_run_memo_forgets_everything_when_full() -> None:
    inner = _Recorder({})
    memo = RunMemo(inner, maxsize=2)
    for ip in ("a", "b", "c", "c", "a"):  # c finds it full: a and b are forgotten
        memo.resolve(ip, None)
    assert len(memo) == 2
    assert inner.asked == [("a", None), ("b", None), ("c", None), ("a", None)]


@pytest.mark.parametrize("maxsize", [0, -1, True, 1.5, "8", None])
def test_cache_maxsize_must_be_a_positive_integer(maxsize: object) -> None:
    with pytest.raises(ResolverError) as info:
        CachingResolver(StaticResolver({}), maxsize=maxsize)  # type: ignore[arg-type]
    assert (
        str(info.value) == f"CachingResolver: maxsize must be a positive integer, not {maxsize!r}"
    )


def test_cache_shared_between_threads() -> None:
    inner = _Recorder({f"10.0.0.{n}": DB for n in range(50)})
    cached = CachingResolver(inner, maxsize=16)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for round_ in range(200):
                ip = f"10.0.0.{round_ % 60}"
                assert cached.resolve(ip, None) == (DB if round_ % 60 < 50 else None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cached) <= 16
    assert cached.hits + cached.misses == 800


# --- the protocol -----------------------------------------------------------------------------


def test_all_satisfy_the_resolver_protocol() -> None:
    # Checked statically by mypy: each assignment type-checks only if the class matches.
    static: Resolver = StaticResolver({})
    chain: Resolver = ChainResolver(static, _Recorder({}))
    cached: Resolver = CachingResolver(chain)
    nested: Resolver = ChainResolver(cached, CachingResolver(static, maxsize=1))
    assert nested.resolve("10.0.0.1", None) is None
