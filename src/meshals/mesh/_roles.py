"""The role an Envoy plays in the mesh, and the rules that tell it from the stream identifier.

The default rule reads Istio's node id, ``type~ip~id~domain``: its first part names the proxy
type. Users with other naming (a plain Envoy gateway, a custom control plane) pass their own
:data:`RoleRule`: any callable from :class:`~meshals.Identifier` to :class:`Role`.
"""

from __future__ import annotations

from collections.abc import Callable

from meshals.model._als import Identifier
from meshals.model._role import Role

__all__ = ["RoleRule", "default_role_rule", "fixed_role", "role_of"]


#: Decides the role of the Envoy that sent a stream, from the stream's identifier.
RoleRule = Callable[[Identifier], Role]

# Istio writes the node type first: router~10.44.2.56~pod.ns~ns.svc.cluster.local.
_PREFIX_ROLES = {
    "router": Role.PROXY,
    "ingress": Role.PROXY,
    "sidecar": Role.SIDECAR,
    "waypoint": Role.WAYPOINT,
}


def role_of(node_id: str) -> Role:
    """The role implied by an Envoy node id's prefix; :attr:`Role.NONE` for anything else.

    ``router~`` and ``ingress~`` are gateways (:attr:`Role.PROXY`), ``sidecar~`` is
    :attr:`Role.SIDECAR`, ``waypoint~`` is :attr:`Role.WAYPOINT`. The prefix is case-sensitive,
    as Istio writes it.

    >>> role_of("router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system~x")
    <Role.PROXY: 'proxy'>
    >>> role_of("envoy-gateway")
    <Role.NONE: 'none'>
    """
    prefix, separator, _ = node_id.partition("~")
    if not separator:
        return Role.NONE
    return _PREFIX_ROLES.get(prefix, Role.NONE)


def default_role_rule(identifier: Identifier) -> Role:
    """The default :data:`RoleRule`: :func:`role_of` the identifier's node id.

    Args:
        identifier: a stream identifier.

    Returns:
        The role; :attr:`Role.NONE` when the identifier has no node.

    >>> from meshals import Identifier, Node
    >>> default_role_rule(Identifier(node=Node(id="sidecar~10.0.0.1~a.ns~ns.svc.cluster.local")))
    <Role.SIDECAR: 'sidecar'>
    """
    return Role.NONE if identifier.node is None else role_of(identifier.node.id)


def fixed_role(role: Role) -> RoleRule:
    """A :data:`RoleRule` that gives every stream the same role, e.g. for a plain Envoy gateway.

    Args:
        role: the role to give.

    Returns:
        A rule that ignores the identifier.

    >>> from meshals import Identifier
    >>> fixed_role(Role.PROXY)(Identifier())
    <Role.PROXY: 'proxy'>
    """

    def rule(identifier: Identifier, /) -> Role:
        return role

    return rule
