"""The rules of a suggested policy: which principals share a rule, and the operations that
admit exactly their observed (method, path, port) accesses (:mod:`._suggest` says why)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from ._model import Operation, Rule, Source
from ._paths import ONE_SEGMENT, covered

__all__: list[str] = []

#: One observed access: (method, path, port); method and path are None for a TCP connection.
Access = tuple[str | None, str | None, str]


def rules_of(named: Mapping[str, set[Access]]) -> tuple[Rule, ...]:
    """Principals with the same accesses share a rule; HTTP and TCP rules apart."""
    rules: list[Rule] = []
    for tcp in (False, True):
        by_accesses: dict[frozenset[Access], list[str]] = defaultdict(list)
        for principal, accesses in named.items():
            kind = frozenset(access for access in accesses if (access[0] is None) == tcp)
            if kind:
                by_accesses[kind].append(principal)
        # Each principal is in one group: sorting by the principals is a total order.
        groups = sorted(
            ((sorted(principals), group) for group, principals in by_accesses.items()),
            key=lambda item: item[0],
        )
        for principals, group in groups:
            rules.append(
                Rule(
                    sources=(Source(principals=tuple(principals)),),
                    operations=_tcp_operations(group) if tcp else _http_operations(group),
                )
            )
    return tuple(rules)


def uncovered(accesses: Counter[Access]) -> set[Access]:
    """*accesses* without the exact paths a template of the same method and port matches
    (``/details/missing`` beside ``/details/{*}``): the rule admits the same, in fewer words."""
    templates: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for method, path, port in accesses:
        if path is not None and ONE_SEGMENT in path:
            templates[method, port].append(path)
    return {
        (method, path, port)
        for method, path, port in accesses
        if path is None
        or not any(covered(path, template) for template in templates.get((method, port), ()))
    }


def _tcp_operations(accesses: frozenset[Access]) -> tuple[Operation, ...]:
    return (Operation(ports=_ports(port for _, _, port in accesses)),)


def _http_operations(accesses: frozenset[Access]) -> tuple[Operation, ...]:
    """Operations that cover *accesses*, each one's product of methods, paths and ports a subset."""
    by_path: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for method, path, port in accesses:
        assert method is not None  # HTTP accesses only
        assert path is not None
        by_path[path].add((method, port))
    paths_of: dict[frozenset[tuple[str, str]], list[str]] = defaultdict(list)
    for path, path_pairs in by_path.items():
        paths_of[frozenset(path_pairs)].append(path)
    operations: list[Operation] = []
    for pairs, paths in paths_of.items():
        methods_at: dict[str, set[str]] = defaultdict(set)
        for method, port in pairs:
            methods_at[port].add(method)
        ports_of: dict[frozenset[str], list[str]] = defaultdict(list)
        for port, port_methods in methods_at.items():
            ports_of[frozenset(port_methods)].append(port)
        for methods, ports in ports_of.items():
            operations.append(
                Operation(
                    ports=_ports(ports), methods=tuple(sorted(methods)), paths=tuple(sorted(paths))
                )
            )
    operations.sort(key=lambda op: (op.paths, op.methods, tuple(int(port) for port in op.ports)))
    return tuple(operations)


def _ports(ports: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(ports), key=int))
