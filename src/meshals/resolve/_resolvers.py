"""The address-table resolvers (static, chain, cache) and what every resolver shares.

Shared parts: :class:`ResolverError`, IP normalisation (:func:`canonical_ip`), JSON loading and
JSON-path naming for error messages. The Kubernetes snapshot resolver lives in ``_kubernetes``,
name templates in ``_templates``.

Address matching rules, used by every resolver here and in ``_kubernetes``:

- IPs are compared as addresses, not strings: ``::1`` and ``0:0::1`` are the same key.
- An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``, what a dual-stack socket reports for an
  IPv4 peer) is the IPv4 address ``10.0.0.1``, in keys and in lookups.
- A lookup's IPv6 zone id (``fe80::1%eth0``) is ignored: it names the local interface, not the
  peer, and tables carry no zones. Keys must not have one.
- Anything that is not an IP resolves to None; lookups never raise.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import cast

from meshals._errors import ResolverError
from meshals.model._service import ServiceMetaInfo

from ._protocol import Resolver

__all__ = ["CachingResolver", "ChainResolver", "StaticResolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- addresses --------------------------------------------------------------------------


def _normalised(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_ip(text: str) -> IPAddress | None:
    """The address ``text`` names, normalised for lookups; None if it is not an IP.

    >>> canonical_ip("::ffff:10.0.0.1"), canonical_ip("fe80::1%eth0"), canonical_ip("pod-a")
    (IPv4Address('10.0.0.1'), IPv6Address('fe80::1'), None)
    """
    if not isinstance(text, str):  # the protocol says str; a lookup still must not raise
        return None
    return _canonical_ip(text)


# Every entry names a few addresses, the same few again and again; ipaddress parses slowly.
@functools.lru_cache(maxsize=16384)
def _canonical_ip(text: str) -> IPAddress | None:
    address_text, percent, zone = text.partition("%")
    if percent and (not zone or ":" not in address_text):  # zones exist on IPv6 only
        return None
    try:
        return _normalised(ipaddress.ip_address(address_text))
    except ValueError:
        return None


# The canonical address as text: equal for equal addresses (the compressed form), and cheap
# to hash, unlike ipaddress objects, whose __hash__ and __eq__ are Python code.
@functools.lru_cache(maxsize=16384)
def _canonical_text(text: str) -> str | None:
    address = _canonical_ip(text)
    return None if address is None else str(address)


def parse_ip(text: str) -> IPAddress:
    """The normalised address in an input table or snapshot; ValueError if it is none.

    Unlike :func:`canonical_ip` this refuses zone ids: input tables name peers, not interfaces.
    """
    if "%" in text:
        raise ValueError(f"{text!r} has a zone id: tables cannot use one (lookups ignore zones)")
    try:
        return _normalised(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


# --- JSON input -------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_path(path: str, key: str | int) -> str:
    """``path`` extended by an object key or list index, as the error messages print it.

    >>> json_path("$", "items"), json_path("$.items", 3), json_path("$", "10.0.0.1")
    ('$.items', '$.items[3]', '$["10.0.0.1"]')
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json(data: str | bytes, *, source: str) -> object:
    """Parse one JSON document (bytes: UTF-8, BOM allowed); malformed JSON is a ResolverError.

    A key repeated inside one object is an error too: JSON parsers disagree on which copy
    wins, so a table with one is ambiguous.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ResolverError(
                f"not UTF-8: {exc.reason} at byte {exc.start}", source=source
            ) from exc
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise ResolverError(reason, source=source) from exc
    except _DuplicateKeyError as exc:
        raise ResolverError(f"duplicate key {exc.key!r} in one object", source=source) from None
    except RecursionError:
        raise ResolverError("not valid JSON: nested too deeply", source=source) from None


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path`` (the only file access of the resolvers)."""
    with open(path, "rb") as file:
        return file.read()


# --- the static resolver ----------------------------------------------------------------

_PortKey = tuple[IPAddress, int | None]
_ENTRY_FIELDS = ("service", "instance", "namespace", "tags")


def _parse_key(key: str) -> _PortKey:
    """``IP``, ``IPv4:port`` or ``[IPv6]:port`` as an (address, port or None) pair."""
    if key.startswith("["):
        address_text, bracket, rest = key[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError("expected '[IPv6]:port'")
        port_text: str | None = rest[1:]
        if ":" not in address_text:
            raise ValueError(f"{address_text!r} in brackets is not an IPv6 address")
    elif key.count(":") == 1:  # IPv4:port; a bare IPv6 address has at least two colons
        address_text, _, port_text = key.partition(":")
    else:
        address_text, port_text = key, None
    address = parse_ip(address_text)
    if port_text is None:
        return address, None
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    if not digits or not 0 < int(port_text) <= 65535:
        raise ValueError(f"bad port {port_text!r}: expected 1 to 65535")
    return address, int(port_text)


def _entry_from_json(value: object, *, source: str, path: str) -> ServiceMetaInfo:
    if not isinstance(value, Mapping):
        raise ResolverError(
            "expected an object with 'service' and 'instance'", source=source, path=path
        )
    unknown = sorted(set(value) - set(_ENTRY_FIELDS))
    if unknown:
        expected = ", ".join(_ENTRY_FIELDS)
        raise ResolverError(
            f"unknown field {unknown[0]!r} (expected {expected})", source=source, path=path
        )

    def text(field: str, *, required: bool) -> str | None:
        field_value = value.get(field)
        if field_value is None and not required:
            return None
        if not isinstance(field_value, str) or not field_value:
            raise ResolverError(
                "expected a non-empty string", source=source, path=json_path(path, field)
            )
        return field_value

    service = text("service", required=True)
    instance = text("instance", required=True)
    assert service is not None  # required=True never returns None
    assert instance is not None
    tags = value.get("tags")
    if tags is None:
        tags = {}
    if not isinstance(tags, Mapping):
        raise ResolverError(
            "expected an object of strings", source=source, path=json_path(path, "tags")
        )
    for tag, tag_value in tags.items():
        if not isinstance(tag_value, str):
            raise ResolverError(
                "expected a string", source=source, path=json_path(json_path(path, "tags"), tag)
            )
    return ServiceMetaInfo(
        service=service, instance=instance, namespace=text("namespace", required=False), tags=tags
    )


class StaticResolver:
    """Names addresses from a fixed table whose keys are ``IP``, ``IPv4:port`` or ``[IPv6]:port``.

    The most specific key wins: ``IP:port`` over ``IP``. A lookup without a port (None)
    matches only ``IP`` keys. See the module docstring for how addresses are compared. The
    table is fixed at construction, so a resolver is safe to share between threads.

    Args:
        table: key → the service and instance behind it.
        source: names the table in error messages.

    Raises:
        ResolverError: a key is not an address (naming the key), two keys name the same
            address, or a value is not a :class:`ServiceMetaInfo`.

    >>> resolver = StaticResolver.from_mapping({
    ...     "10.44.2.56": {"service": "ingress", "instance": "ingress-Inst"},
    ...     "10.44.2.56:15090": {"service": "ingress-metrics", "instance": "ingress-Inst"},
    ... })
    >>> resolver.resolve("10.44.2.56", 8080).service, resolver.resolve("10.44.2.56", 15090).service
    ('ingress', 'ingress-metrics')
    >>> resolver.resolve("10.0.0.1", None) is None
    True
    """

    __slots__ = ("_by_text", "_table")

    def __init__(self, table: Mapping[str, ServiceMetaInfo], *, source: str = "<mapping>") -> None:
        parsed: dict[_PortKey, ServiceMetaInfo] = {}
        first_key: dict[_PortKey, str] = {}
        for key, info in table.items():
            if not isinstance(key, str):
                raise ResolverError("key is not a string", source=source, path=f"$[{key!r}]")
            path = json_path("$", key)
            if not isinstance(info, ServiceMetaInfo):
                raise ResolverError("value is not a ServiceMetaInfo", source=source, path=path)
            try:
                port_key = _parse_key(key)
            except ValueError as exc:
                raise ResolverError(f"bad key {key!r}: {exc}", source=source, path=path) from None
            if port_key in first_key:
                reason = f"key {key!r} names the same address as {first_key[port_key]!r}"
                raise ResolverError(reason, source=source, path=path)
            first_key[port_key] = key
            parsed[port_key] = info
        self._table = parsed
        # What resolve() asks: the same table, keyed by the addresses' canonical text.
        self._by_text = {(str(address), port): info for (address, port), info in parsed.items()}

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, object], *, source: str = "<mapping>"
    ) -> StaticResolver:
        """A resolver from the JSON-shaped table, already parsed.

        Each value is an object with ``service`` and ``instance`` (non-empty strings, both
        required), optional ``namespace`` (string or null) and optional ``tags`` (an object of
        strings). Other fields are refused, so a misspelt one does not go unnoticed.

        Raises:
            ResolverError: the table is malformed; the message names the key (and field).
        """
        if not isinstance(data, Mapping):
            raise ResolverError(
                "expected a JSON object of address → service", source=source, path="$"
            )
        table: dict[str, ServiceMetaInfo] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise ResolverError("key is not a string", source=source, path=f"$[{key!r}]")
            table[key] = _entry_from_json(value, source=source, path=json_path("$", key))
        return cls(table, source=source)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<json>") -> StaticResolver:
        """A resolver from the JSON text of a table (see :meth:`from_mapping` for its shape).

        Raises:
            ResolverError: the text is not JSON or the table is malformed.

        >>> resolver = StaticResolver.from_json('{"::1": {"service": "s", "instance": "i"}}')
        >>> resolver.resolve("0:0::1", 80)
        ServiceMetaInfo(service='s', instance='i', namespace=None, tags=FrozenMap({}))
        """
        data = load_json(text, source=source)
        if not isinstance(data, Mapping):
            raise ResolverError(
                "expected a JSON object of address → service", source=source, path="$"
            )
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> StaticResolver:
        """A resolver from a JSON file (see :meth:`from_mapping` for its shape).

        Raises:
            ResolverError: the file is not JSON or the table is malformed; names the file.
            OSError: the file cannot be read.
        """
        return cls.from_json(read_file(path), source=os.fspath(path))

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The entry for ``ip:port``, else for ``ip``; None if neither is in the table."""
        if not isinstance(ip, str):  # the protocol says str; a lookup still must not raise
            return None
        address = _canonical_text(ip)
        if address is None:
            return None
        table = self._by_text
        if port is not None:
            found = table.get((address, port))
            if found is not None:
                return found
        return table.get((address, None))

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"<StaticResolver: {len(self._table)} entries>"


# --- composition ------------------------------------------------------------------------


class ChainResolver:
    """Asks several resolvers in order; the first answer that is not None wins.

    >>> static = StaticResolver.from_mapping({"10.0.0.1": {"service": "a", "instance": "a-0"}})
    >>> ChainResolver(StaticResolver({}), static).resolve("10.0.0.1", None).service
    'a'
    """

    __slots__ = ("resolvers",)

    def __init__(self, *resolvers: Resolver) -> None:
        self.resolvers: tuple[Resolver, ...] = resolvers

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The first non-None answer of the resolvers, in order; None if none knows ``ip``."""
        for resolver in self.resolvers:
            answer = resolver.resolve(ip, port)
            if answer is not None:
                return answer
        return None

    def __repr__(self) -> str:
        return f"ChainResolver({', '.join(map(repr, self.resolvers))})"


_NOT_CACHED = object()


class CachingResolver:
    """Remembers another resolver's answers (None too) for the most recent ``maxsize`` questions.

    A bounded LRU keyed by the exact ``(ip, port)`` asked. It is safe to share between threads:
    a lock guards the cache, but not the wrapped resolver, which two threads may ask the same
    question at once (resolvers are deterministic, so both get the same answer). An exception
    from the wrapped resolver propagates and is not cached.

    Args:
        resolver: the resolver to ask on a miss.
        maxsize: how many answers to keep (at least 1).

    Raises:
        ResolverError: ``maxsize`` is not a positive integer.

    >>> static = StaticResolver.from_mapping({"10.0.0.1": {"service": "a", "instance": "a-0"}})
    >>> cached = CachingResolver(static, maxsize=128)
    >>> cached.resolve("10.0.0.1", 80) is cached.resolve("10.0.0.1", 80)
    True
    >>> cached.hits, cached.misses
    (1, 1)
    """

    __slots__ = ("_answers", "_hits", "_lock", "_misses", "maxsize", "resolver")

    def __init__(self, resolver: Resolver, *, maxsize: int = 4096) -> None:
        if type(maxsize) is not int or maxsize < 1:  # bool is an int, but not a size
            raise ResolverError(
                f"maxsize must be a positive integer, not {maxsize!r}", source="CachingResolver"
            )
        self.resolver = resolver
        self.maxsize = maxsize
        self._answers: collections.OrderedDict[tuple[str, int | None], ServiceMetaInfo | None] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The wrapped resolver's answer for ``(ip, port)``, from the cache when it is there."""
        key = (ip, port)
        with self._lock:
            cached = self._answers.get(key, _NOT_CACHED)
            if cached is not _NOT_CACHED:
                self._answers.move_to_end(key)
                self._hits += 1
                return cast("ServiceMetaInfo | None", cached)
            self._misses += 1
        answer = self.resolver.resolve(ip, port)  # outside the lock: it may be slow
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.maxsize:
                self._answers.popitem(last=False)
        return answer

    @property
    def hits(self) -> int:
        """How many lookups the cache answered."""
        return self._hits

    @property
    def misses(self) -> int:
        """How many lookups went to the wrapped resolver."""
        return self._misses

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        """Forget every answer and reset the hit and miss counts."""
        with self._lock:
            self._answers.clear()
            self._hits = self._misses = 0

    def __repr__(self) -> str:
        return f"CachingResolver({self.resolver!r}, maxsize={self.maxsize})"


class RunMemo:
    """One analysis's memory of its resolver's answers (None too): lock-free and bounded.

    ``analyze()`` wraps the caller's resolver in one for the run, so each ``(ip, port)`` is
    asked once while it is remembered: resolvers are deterministic (the protocol says so),
    and the memo lives and dies with its analysis, so a later analysis asks afresh. It holds
    at most ``maxsize`` answers and forgets them all when full (callers' ephemeral ports fill
    it; the few addresses that repeat are asked again once). Not for sharing between threads
    (an analysis runs in one): :class:`CachingResolver` is.
    """

    __slots__ = ("_answers", "_maxsize", "resolver")

    def __init__(self, resolver: Resolver, *, maxsize: int = 4096) -> None:
        self.resolver = resolver
        self._maxsize = maxsize
        self._answers: dict[tuple[str, int | None], ServiceMetaInfo | None] = {}

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The wrapped resolver's answer for ``(ip, port)``, remembered."""
        key = (ip, port)
        answers = self._answers
        try:
            return answers[key]
        except KeyError:
            pass
        answer = self.resolver.resolve(ip, port)
        if len(answers) >= self._maxsize:
            answers.clear()
        answers[key] = answer
        return answer

    def __len__(self) -> int:
        return len(self._answers)
