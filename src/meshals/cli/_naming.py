"""How the analysing commands name workloads: the resolver (``--resolver``, ``--k8s-snapshot``
with ``--service-rule``/``--instance-rule``, or the example's) for ``k8s-mesh``, the mapping
(``--mapping``, SkyWalking's ``metadata-service-mapping.yaml``) for ``mx-mesh``, and the notes
on what they cannot name.

The options are kept in a small picklable value (:class:`NamingOptions`) and loaded once per
process (:meth:`NamingOptions.load`): worker processes read the files themselves. The names the
captures give themselves (``--auto-names``, the default without other naming options) are read
in a first pass by this process (:func:`observed_names`, its files in worker processes with
``--jobs``) and handed to the workers as a table, so every process names alike.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

import attrs

from meshals import examples
from meshals._errors import Diagnostic
from meshals.capture._detect import Container
from meshals.mesh._observed_names import name_claims
from meshals.model._metrics import K8S_MESH, Semantics
from meshals.model._service import ServiceMetaInfo
from meshals.resolve._k8s_naming import KubernetesNaming
from meshals.resolve._k8s_workloads import KubernetesWorkloads
from meshals.resolve._kubernetes import KubernetesResolver
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._observed import NameClaim, ObservedResolver
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import ChainResolver, StaticResolver

from ._inputs import Input
from ._jobs import in_order

__all__: list[str] = []

_NO_ONE = StaticResolver({})  # knows no address


@attrs.frozen(kw_only=True)
class Naming:
    """What names the workloads of a run, loaded.

    Attributes:
        resolver: for ``k8s-mesh`` (None when it does not run).
        mapping: for ``mx-mesh``; None for SkyWalking's default rules.
        notes: what the inputs cannot name (a snapshot's missing kinds), to print as warnings.
        workloads: the snapshot's pods by Istio's workload rules (the Istio metrics), if any.
    """

    resolver: Resolver | None
    mapping: MetadataServiceMapping | None
    notes: tuple[Diagnostic, ...]
    workloads: KubernetesWorkloads | None = None


@attrs.frozen(kw_only=True)
class NamingOptions:
    """The naming options of a run, picklable (no argparse inside)."""

    analyzers: tuple[str, ...]
    resolver_table: str | None
    k8s_snapshots: tuple[str, ...]
    service_rule: str | None
    instance_rule: str | None
    mapping_file: str | None
    example: str | None
    semantics: Semantics = "meshals"
    # --auto-names / --no-auto-names; None: auto unless another option names workloads.
    auto_names: bool | None = None
    # The first pass's table (observed_names): what the captures name themselves.
    observed: tuple[tuple[str, ServiceMetaInfo], ...] = ()

    @classmethod
    def of(cls, args: argparse.Namespace) -> NamingOptions:
        # Istio's metrics name workloads by metadata themselves: no first pass for them.
        auto = False if args.command == "metrics" else args.auto_names
        return cls(
            auto_names=auto,
            analyzers=args.analyzers,
            resolver_table=args.resolver,
            k8s_snapshots=tuple(args.k8s_snapshot),
            service_rule=args.service_rule,
            instance_rule=args.instance_rule,
            mapping_file=args.mapping,
            example=args.example,
            semantics=args.semantics,
        )

    @property
    def _named(self) -> bool:
        return bool(self.resolver_table is not None or self.k8s_snapshots or self.example)

    @property
    def auto(self) -> bool:
        """Whether k8s-mesh also names the workloads the captures name themselves."""
        # SkyWalking's semantics name as SkyWalking does: never from the captures, unless asked.
        default = not self._named and self.semantics != "skywalking"
        wanted = default if self.auto_names is None else self.auto_names
        return wanted and K8S_MESH in self.analyzers

    @property
    def unnamed(self) -> bool:
        """Whether k8s-mesh runs without any resolver: every workload is UNKNOWN."""
        return not self._named and not self.auto and K8S_MESH in self.analyzers

    def load(self) -> Naming:
        """Read the resolver's and the mapping's files.

        The resolver: the static table first, then the snapshots, else the example's; then
        the captures' own names (:attr:`observed`); else one that knows no address when
        ``k8s-mesh`` runs (all UNKNOWN), or None.

        Raises:
            MeshalsError, OSError: a table, snapshot or mapping cannot be read.
        """
        resolvers: list[Resolver] = []
        notes: tuple[Diagnostic, ...] = ()
        workloads = None
        if self.resolver_table is not None:
            resolvers.append(StaticResolver.from_file(self.resolver_table))
        if self.k8s_snapshots:
            rules = {"service_rule": self.service_rule, "instance_rule": self.instance_rule}
            naming = KubernetesNaming(**{key: rule for key, rule in rules.items() if rule})
            snapshot = KubernetesResolver.from_files(
                self.k8s_snapshots, naming=naming, semantics=self.semantics
            )
            notes = snapshot.diagnostics
            workloads = snapshot.workloads
            resolvers.append(snapshot)
        if not resolvers and self.example:
            resolvers.append(examples.example(self.example).resolver())
        if self.observed:
            resolvers.append(StaticResolver(dict(self.observed), source="<captures>"))
        resolver: Resolver | None
        if not resolvers:
            resolver = _NO_ONE if K8S_MESH in self.analyzers else None  # all UNKNOWN
        else:
            resolver = resolvers[0] if len(resolvers) == 1 else ChainResolver(*resolvers)
        mapping = None
        if self.mapping_file is not None:
            mapping = MetadataServiceMapping.from_file(self.mapping_file)
        return Naming(resolver=resolver, mapping=mapping, notes=notes, workloads=workloads)


@attrs.frozen
class _ClaimsOf:
    """The first pass of ``--auto-names``: the name claims of one input (picklable)."""

    container: Container | None
    strict: bool
    reidentify: bool

    def __call__(self, state: None, source: Input) -> list[NameClaim]:
        with source.open(container=self.container, strict=self.strict) as reader:
            return name_claims(reader, reidentify=self.reidentify)


def _nothing() -> None:
    """No state to set up in a worker process."""


def observed_names(
    sources: Sequence[Input],
    *,
    container: Container | None,
    strict: bool,
    reidentify: bool,
    jobs: int,
) -> ObservedResolver:
    """The workloads *sources* name themselves, each file one stream (in worker processes
    with *jobs* > 1); the same whatever the order of *sources* or the number of processes.

    Raises:
        MeshalsError, OSError: reading an input failed.
    """
    found = in_order(
        _ClaimsOf(container, strict, reidentify),
        sources,
        setup=_nothing,
        jobs=jobs,
        preload=("meshals.cli",),
    )
    with contextlib.closing(found):
        return ObservedResolver.from_claims(claim for claims in found for claim in claims)
