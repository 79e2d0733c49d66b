"""Names the captures give themselves: claims of "this IP is that workload", and the table.

Each Istio Envoy names its own pod (node id and metadata) and, through Istio's metadata
exchange, the peers it talks to (``meshals.mesh`` reads both into :class:`NameClaim` values).
:meth:`ObservedResolver.from_claims` turns every claim of a capture into one static table:

- An IP that its own Envoy names is named so (``by_node``); what peers say of it only counts
  where no Envoy names its own IP. Envoys that claim the same IP with different names, or
  (without an Envoy there) peers that do, are a conflict: the IP is left unnamed, with a
  diagnostic. A peer naming an Envoy's IP otherwise than the Envoy itself is a diagnostic
  too; the Envoy's name is kept.
- One workload (namespace and workload name) named as two services is a diagnostic.
- The result depends on the set of claims only, never on their order: the same captures in
  any order give the same table and the same diagnostics (each placed at the earliest claim,
  by source name and message index).

Claims with equal service, instance and namespace agree; their tags are taken from the
claim with the most tags (the Envoy's own first), then the smallest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping

import attrs

from meshals._errors import Diagnostic, DiagnosticKind, Location
from meshals.model._service import ServiceMetaInfo

from ._resolvers import IPAddress, StaticResolver, canonical_ip

__all__ = ["NameClaim", "ObservedResolver"]


@attrs.frozen(kw_only=True)
class NameClaim:
    """One statement of a capture: the workload at ``ip``.

    Attributes:
        ip: the address named (any spelling; compared as an address).
        info: the service and instance (namespace, tags) it names.
        workload: the workload's ``namespace/name`` when the metadata says it, for the check
            that one workload has one service name.
        by_node: True when an Envoy names its own IP, False for a peer's metadata.
        location: where the claim was first seen.
    """

    ip: str
    info: ServiceMetaInfo
    workload: str | None = None
    by_node: bool = False
    location: Location = attrs.field(factory=Location)


def place(location: Location) -> tuple[str, int]:
    """Orders claims' places: by source name, then message index (None first)."""
    return (location.source, -1 if location.message_index is None else location.message_index)


def _identity(info: ServiceMetaInfo) -> tuple[str, str, str]:
    return (info.service, info.instance, info.namespace or "")


def _richest(infos: Iterable[ServiceMetaInfo]) -> ServiceMetaInfo:
    return min(infos, key=lambda info: (-len(info.tags), sorted(info.tags.items())))


def _describe(info: ServiceMetaInfo) -> str:
    return f"{info.service} ({info.instance})"


class ObservedResolver:
    """A static table of the workloads the captures name themselves, and its conflicts.

    Build it with :meth:`from_claims` (or ``meshals.mesh.observed_resolver(streams)``, which
    reads the claims from ALS streams). It answers like a
    :class:`~meshals.resolve.StaticResolver` of IP keys, so it can be chained with the others
    (:class:`~meshals.resolve.ChainResolver`); :meth:`to_mapping` and :meth:`to_json` give the
    table in the format :meth:`StaticResolver.from_json
    <meshals.resolve.StaticResolver.from_json>` reads.

    Attributes:
        table: IP -> the workload there, in address order.
        diagnostics: the conflicts found (kind ``note``), in address order.

    >>> from meshals import ServiceMetaInfo
    >>> reviews = ServiceMetaInfo(service="reviews", instance="reviews-v1-rvw")
    >>> resolver = ObservedResolver.from_claims([
    ...     NameClaim(ip="10.0.0.3", info=reviews, by_node=True),
    ...     NameClaim(ip="10.0.0.3", info=reviews),
    ... ])
    >>> resolver.resolve("10.0.0.3", 9080).service, resolver.diagnostics
    ('reviews', ())
    """

    __slots__ = ("_static", "diagnostics", "table")

    def __init__(
        self, table: Mapping[str, ServiceMetaInfo], diagnostics: Iterable[Diagnostic] = ()
    ) -> None:
        self.table: Mapping[str, ServiceMetaInfo] = dict(table)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        self._static = StaticResolver(self.table, source="<captures>")

    @classmethod
    def from_claims(cls, claims: Iterable[NameClaim]) -> ObservedResolver:
        """The table the *claims* make (rules: the module docstring); claims that name no IP
        are ignored."""
        by_ip: dict[IPAddress, list[NameClaim]] = defaultdict(list)
        by_workload: dict[str, list[NameClaim]] = defaultdict(list)
        for claim in claims:
            address = canonical_ip(claim.ip)
            if address is None:
                continue
            by_ip[address].append(attrs.evolve(claim, ip=str(address)))
            if claim.workload is not None:
                by_workload[claim.workload].append(claim)
        table: dict[str, ServiceMetaInfo] = {}
        found: list[tuple[tuple[int, int], Diagnostic]] = []
        order = sorted(by_ip, key=lambda address: (address.version, int(address)))
        for position, address in enumerate(order):
            named, diagnostic = _named(by_ip[address])
            if named is not None:
                table[str(address)] = named
            if diagnostic is not None:
                found.append(((0, position), diagnostic))
        for position, workload in enumerate(sorted(by_workload)):
            services = sorted({claim.info.service for claim in by_workload[workload]})
            if len(services) > 1:
                reason = (
                    f"workload {workload} is named as {len(services)} services:"
                    f" {', '.join(services)} (its pods' canonical-name labels differ)"
                )
                found.append(((1, position), _note(by_workload[workload], reason)))
        return cls(table, (diagnostic for _, diagnostic in sorted(found, key=lambda f: f[0])))

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        """The workload at ``ip`` (any port); None if the captures do not name it."""
        return self._static.resolve(ip, port)

    def to_mapping(self) -> dict[str, dict[str, object]]:
        """The table as :meth:`StaticResolver.from_mapping
        <meshals.resolve.StaticResolver.from_mapping>` reads it (namespace and tags when
        known)."""
        result: dict[str, dict[str, object]] = {}
        for ip, info in self.table.items():
            entry: dict[str, object] = {"service": info.service, "instance": info.instance}
            if info.namespace is not None:
                entry["namespace"] = info.namespace
            if info.tags:
                entry["tags"] = dict(sorted(info.tags.items()))
            result[ip] = entry
        return result

    def to_json(self) -> str:
        """:meth:`to_mapping` as indented JSON text, ending in a newline."""
        return json.dumps(self.to_mapping(), indent=2, ensure_ascii=False) + "\n"

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"<ObservedResolver: {len(self.table)} addresses, {len(self.diagnostics)} notes>"


def _named(claims: list[NameClaim]) -> tuple[ServiceMetaInfo | None, Diagnostic | None]:
    """The name of one IP from its claims, and the conflict noticed, if any."""
    ip = claims[0].ip
    own = [claim for claim in claims if claim.by_node]
    deciding = own or claims
    identities = {_identity(claim.info) for claim in deciding}
    if len(identities) > 1:
        names = sorted({_describe(claim.info) for claim in deciding})
        whose = "its Envoys" if own else "peers' metadata"
        reason = (
            f"{ip} is named as {len(names)} workloads by {whose}: {', '.join(names)}; left unnamed"
        )
        return None, _note(deciding, reason)
    named = _richest(claim.info for claim in deciding)
    others = sorted(
        {_describe(claim.info) for claim in claims if _identity(claim.info) != _identity(named)}
    )
    if own and others:
        reason = (
            f"{ip} is {_describe(named)} by its own Envoy, but peers' metadata names it"
            f" {', '.join(others)}; the Envoy's name is kept"
        )
        return named, _note(claims, reason)
    return named, None


def _note(claims: Iterable[NameClaim], reason: str) -> Diagnostic:
    first = min((claim.location for claim in claims), key=place)
    return Diagnostic(kind=DiagnosticKind.NOTE, location=first, reason=reason)
