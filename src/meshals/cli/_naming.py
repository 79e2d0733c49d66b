"""How the analysing commands name workloads: the resolver (``--resolver``, ``--k8s-snapshot``
with ``--service-rule``/``--instance-rule``, or the example's) for ``k8s-mesh``, the mapping
(``--mapping``, SkyWalking's ``metadata-service-mapping.yaml``) for ``mx-mesh``, and the notes
on what they cannot name.

The options are kept in a small picklable value (:class:`NamingOptions`) and loaded once per
process (:meth:`NamingOptions.load`): worker processes read the files themselves.
"""

from __future__ import annotations

import argparse

import attrs

from meshals import examples
from meshals._errors import Diagnostic
from meshals.model._metrics import K8S_MESH, Semantics
from meshals.resolve._k8s_naming import KubernetesNaming
from meshals.resolve._k8s_workloads import KubernetesWorkloads
from meshals.resolve._kubernetes import KubernetesResolver
from meshals.resolve._naming import MetadataServiceMapping
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import ChainResolver, StaticResolver

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

    @classmethod
    def of(cls, args: argparse.Namespace) -> NamingOptions:
        return cls(
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
    def unnamed(self) -> bool:
        """Whether k8s-mesh runs without any resolver: every workload is UNKNOWN."""
        named = self.resolver_table is not None or self.k8s_snapshots or self.example
        return not named and K8S_MESH in self.analyzers

    def load(self) -> Naming:
        """Read the resolver's and the mapping's files.

        The resolver: the static table first, then the snapshots; else the example's; else
        one that knows no address when ``k8s-mesh`` runs (all UNKNOWN), or None.

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
        resolver: Resolver | None
        if not resolvers:
            resolver = _NO_ONE if K8S_MESH in self.analyzers else None  # all UNKNOWN
        else:
            resolver = resolvers[0] if len(resolvers) == 1 else ChainResolver(*resolvers)
        mapping = None
        if self.mapping_file is not None:
            mapping = MetadataServiceMapping.from_file(self.mapping_file)
        return Naming(resolver=resolver, mapping=mapping, notes=notes, workloads=workloads)
