"""reads_ports(): which resolvers give every port of an IP the same answer."""

from __future__ import annotations

import pytest

from meshals.model._service import ServiceMetaInfo
from meshals.resolve import (
    CachingResolver,
    ChainResolver,
    KubernetesResolver,
    ObservedResolver,
    StaticResolver,
)
from meshals.resolve._ports import reads_ports
from meshals.resolve._protocol import Resolver
from meshals.resolve._resolvers import RunMemo


class _ByPort:
    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        return ServiceMetaInfo(service=f"port-{port}", instance="i")


def _table(*keys: str) -> StaticResolver:
    return StaticResolver.from_mapping({key: {"service": "s", "instance": "i"} for key in keys})


class _Subclass(StaticResolver):
    __slots__ = ()


@pytest.mark.parametrize(
    ("resolver", "expected"),
    [
        (_table("10.0.0.1", "fd00::2"), False),
        (_table("10.0.0.1", "10.0.0.1:15090"), True),
        (RunMemo(_table("10.0.0.1")), False),
        (CachingResolver(RunMemo(_table("10.0.0.1:80"))), True),
        (ChainResolver(_table("10.0.0.1"), RunMemo(_table("10.0.0.2"))), False),
        (ChainResolver(_table("10.0.0.1"), _table("[fd00::2]:80")), True),
        (KubernetesResolver(), False),
        (ObservedResolver({}), False),
        (_Subclass({}), True),  # a subclass may read ports in its own resolve()
        (RunMemo(_ByPort()), True),  # any other resolver may
    ],
)
def test_which_resolvers_answer_by_ip_alone(resolver: Resolver, expected: bool) -> None:
    assert reads_ports(resolver) is expected
