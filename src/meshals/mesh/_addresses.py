"""Which IP and port an entry's address stands for, and which IPs an Envoy node owns.

Only addresses that name an IP can be resolved to a workload:

- a :class:`~meshals.model.SocketAddress` with a non-empty ``address`` (SkyWalking's "valid"
  address);
- an :class:`~meshals.model.EnvoyInternalAddress` whose ``endpoint_id`` is ``ip:port``: Istio's
  ambient waypoints reach their endpoints through the ``connect_originate`` internal listener
  and put the real endpoint there (``10.44.2.55:9080``).

Pipes, other internal addresses and missing addresses name no peer.
"""

from __future__ import annotations

import ipaddress

import attrs

from meshals.codec._compiled import slot_constructor
from meshals.model._als import AccessLogCommon, Address, EnvoyInternalAddress, Node, SocketAddress

__all__: list[str] = []


@attrs.frozen
class Endpoint:
    """An IP (as text) and a port (None when the address has a named port or none)."""

    ip: str
    port: int | None


# Two or three per analysed entry: positional (ip, port), see meshals.model._construct.
new_endpoint = slot_constructor(Endpoint)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_host_port(text: str) -> Endpoint | None:
    host, separator, port_text = text.rpartition(":")
    if not separator or not port_text.isascii() or not port_text.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not _is_ip(host):
        return None
    port = int(port_text)
    return new_endpoint(host, port) if port <= 65535 else None


def endpoint_of(address: Address | None) -> Endpoint | None:
    """The IP and port *address* stands for, or None when it names no IP.

    Args:
        address: an address from an entry's common properties.

    Returns:
        The endpoint, or None.

    >>> endpoint_of(SocketAddress(address="10.44.2.54", port=9080))
    Endpoint(ip='10.44.2.54', port=9080)
    >>> endpoint_of(EnvoyInternalAddress(server_listener_name="connect_originate",
    ...                                  endpoint_id="10.44.2.55:9080"))
    Endpoint(ip='10.44.2.55', port=9080)
    >>> endpoint_of(SocketAddress(address="")) is None
    True
    """
    if isinstance(address, SocketAddress):
        return new_endpoint(address.address, address.port) if address.address else None
    if isinstance(address, EnvoyInternalAddress):
        return _parse_host_port(address.endpoint_id)
    return None


# What an address tells the analysis, as a hashable key for its memo of placements
# (meshals.mesh._k8s_mesh): a socket address's (address, port), an internal address's
# endpoint_id, None for any other address; endpoint_of_key() reads the endpoint back from it.
AddressKey = tuple[str, int | None] | str | None


def address_key(address: Address | None) -> AddressKey:
    """Everything :func:`endpoint_of` and :func:`socket_endpoint_of` read of *address*."""
    if type(address) is SocketAddress:  # nearly every address: no isinstance ladder
        return (address.address, address.port)
    if isinstance(address, SocketAddress):
        return (address.address, address.port)
    if isinstance(address, EnvoyInternalAddress):
        return address.endpoint_id
    return None


def endpoint_of_key(key: AddressKey, *, sockets_only: bool = False) -> Endpoint | None:
    """What :func:`endpoint_of` (or, with *sockets_only*, :func:`socket_endpoint_of`) gives
    for an address whose :func:`address_key` is *key*."""
    if isinstance(key, tuple):
        ip, port = key
        return new_endpoint(ip, port) if ip else None
    if key is None or sockets_only:
        return None
    return _parse_host_port(key)


def caller_ip_port(common: AccessLogCommon, *, sockets_only: bool) -> tuple[str, int | None] | None:
    """The IP and port of :func:`caller_of` (with *sockets_only*, of socket addresses only, as
    SkyWalking reads them), without making an :class:`Endpoint` in the usual case."""
    direct = common.downstream_direct_remote_address
    if type(direct) is SocketAddress and direct.address:
        return direct.address, direct.port
    read = socket_endpoint_of if sockets_only else endpoint_of
    caller = read(direct) or read(common.downstream_remote_address)
    return None if caller is None else (caller.ip, caller.port)


def caller_of(common: AccessLogCommon) -> Endpoint | None:
    """The caller's IP and port: ``downstream_direct_remote_address`` when it names an IP (the
    TCP peer), else ``downstream_remote_address`` (which may come from ``X-Forwarded-For``).
    """
    return endpoint_of(common.downstream_direct_remote_address) or endpoint_of(
        common.downstream_remote_address
    )


def socket_endpoint_of(address: Address | None) -> Endpoint | None:
    """The IP and port of a socket address (SkyWalking's only kind), else None."""
    return endpoint_of(address) if isinstance(address, SocketAddress) else None


def node_ips(node: Node | None) -> tuple[str, ...]:
    """The IPs an Envoy node says are its own (its pod's), normalized, first mention first.

    Read from the Istio node id (``sidecar~10.44.2.55~pod.ns~ns.svc.cluster.local``) and the
    node metadata ``INSTANCE_IPS`` (modern Istio) or ``ISTIO_META_INSTANCE_IPS`` (Istio 1.1), a
    comma-separated list. Anything that is not an IP is ignored.

    Args:
        node: the identifier's node.

    Returns:
        The IPs, empty when the node names none.

    >>> node_ips(Node(id="sidecar~10.44.2.55~reviews-v1.default~default.svc.cluster.local"))
    ('10.44.2.55',)
    """
    if node is None:
        return ()
    candidates: list[str] = []
    parts = node.id.split("~")
    if len(parts) >= 2:
        candidates.append(parts[1])
    if node.metadata is not None:
        for key in ("INSTANCE_IPS", "ISTIO_META_INSTANCE_IPS"):
            value = node.metadata.get(key)
            if isinstance(value, str):
                candidates.extend(value.split(","))
    ips = (_normalized(text.strip()) for text in candidates if _is_ip(text.strip()))
    return tuple(dict.fromkeys(ips))


def _normalized(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def is_own_ip(ip: str, own_ips: tuple[str, ...]) -> bool:
    """True if *ip* is one of *own_ips* (compared as addresses: ``::1`` equals ``0::1``)."""
    return _is_ip(ip) and _normalized(ip) in own_ips
