"""Who the captures say they are: name claims from the Envoys' identifiers and Istio's peers,
the resolver they make (``resolver="auto"``), and the two passes that needs.

An Istio sidecar or gateway names its own pod: the IPs of its node id
(``sidecar~<ip>~<pod>.<ns>~...``) and ``INSTANCE_IPS``, its ``NAME``, ``NAMESPACE``,
``WORKLOAD_NAME`` and ``LABELS`` (:func:`~meshals.mesh._peers.node_metadata` maps Istio 1.1's
layout). Istio's metadata exchange names its peers in the entries' filter state
(:mod:`meshals.mesh._peers`): the downstream peer at the caller's address, the upstream peer at
the upstream host's. Each becomes a :class:`~meshals.resolve.NameClaim`, named as the
hand-written tables of the documentation name workloads:

- service: the canonical service (``service.istio.io/canonical-name``, then
  ``app.kubernetes.io/name``, ``app``, the workload name; a peer's ``service``), as
  Istio's own telemetry names it (:func:`~meshals.mesh._istio_identity.metadata_workload`);
- instance: the pod (``NAME``, a peer's ``name``, else the node id's ``<pod>``);
- namespace, and the tags ``app`` and ``version`` when known.

A workload without an Envoy and without peer metadata (an application outside the mesh, a
client on the internet) names nothing and stays :data:`~meshals.UNKNOWN`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from meshals._errors import Location
from meshals.capture._containers import Reader
from meshals.model._als import AlsMessage, Node
from meshals.model._service import ServiceMetaInfo
from meshals.resolve._observed import NameClaim, ObservedResolver, place

from ._addresses import caller_of, endpoint_of, node_ips
from ._istio_identity import metadata_workload
from ._peers import node_metadata, peers_of
from ._streams import Stream, split_streams

__all__ = ["name_claims", "observed_resolver"]

#: The resolver argument that names workloads from the captures themselves.
AUTO = "auto"


def _text(metadata: Mapping[str, object], *keys: str) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _info(
    metadata: Mapping[str, object], *, pod: str | None = None, namespace: str | None = None
) -> tuple[ServiceMetaInfo, str | None] | None:
    """The workload *metadata* (node or peer layout) names, and its ``namespace/workload``."""
    workload = metadata_workload(metadata)
    instance = _text(metadata, "NAME", "name") or pod
    service = workload.canonical_service
    if not service or not instance:
        return None
    space = workload.namespace or namespace
    tags = {"app": workload.app, "version": workload.version}
    info = ServiceMetaInfo(
        service=service,
        instance=instance,
        namespace=space,
        tags={key: value for key, value in tags.items() if value},
    )
    key = f"{space or ''}/{workload.workload}" if workload.workload else None
    return info, key


def _node_claims(node: Node | None, location: Location) -> Iterator[NameClaim]:
    ips = node_ips(node)
    if node is None or not ips:
        return
    # The node id's third part is <pod>.<namespace>, for nodes whose metadata lacks NAME: a
    # pod name may hold dots, a namespace (a DNS label) cannot, so split at the last one.
    parts = node.id.split("~")
    pod, _, space = parts[2].rpartition(".") if len(parts) >= 3 else ("", "", "")
    named = _info(node_metadata(node), pod=pod or None, namespace=space or None)
    if named is None:
        return
    info, workload = named
    for ip in ips:
        yield NameClaim(ip=ip, info=info, workload=workload, by_node=True, location=location)


def _message_claims(message: AlsMessage, node: Node | None) -> Iterator[NameClaim]:
    location = Location(source=message.source, message_index=message.index)
    yield from _node_claims(node, location)
    for entry in message.entries:
        common = entry.common_properties
        if common is None or not common.filter_state_objects:
            continue
        peers = peers_of(common.filter_state_objects)
        for peer, endpoint in (
            (peers.downstream, caller_of(common)),
            (peers.upstream, endpoint_of(common.upstream_remote_address)),
        ):
            if peer is None or endpoint is None:
                continue
            named = _info(peer.metadata)
            if named is not None:
                info, workload = named
                yield NameClaim(ip=endpoint.ip, info=info, workload=workload, location=location)


def name_claims(messages: Iterable[object], *, reidentify: bool = False) -> list[NameClaim]:
    """Every distinct claim in ALS streams, each at its first place (module docstring).

    Args:
        messages: one stream or an iterable of streams, as for :func:`~meshals.analyze`
            (records that are not ALS messages, e.g. L4 connections, name nothing).
        reidentify: take every identifier a stream carries, not only the first.

    Returns:
        The claims, each at its earliest place (by source name, then message index), in
        the order first seen.
    """
    found: dict[tuple[str, ServiceMetaInfo, str | None, bool], NameClaim] = {}
    streams = [messages] if isinstance(messages, Reader) else split_streams(messages)
    for index, records in enumerate(streams):
        stream = Stream((), reidentify=reidentify, index=index)
        for record in records:
            if not isinstance(record, AlsMessage):
                continue
            identifier = stream.take(record).identifier
            node = None if identifier is None else identifier.node
            for claim in _message_claims(record, node):
                key = (claim.ip, claim.info, claim.workload, claim.by_node)
                # The earliest place, whatever the order of the streams: the same claim in
                # two files is placed in the first by name (see ObservedResolver).
                kept = found.get(key)
                if kept is None or place(claim.location) < place(kept.location):
                    found[key] = claim
    return list(found.values())


def observed_resolver(messages: Iterable[object], *, reidentify: bool = False) -> ObservedResolver:
    """The resolver of the workloads that ALS streams name themselves (``resolver="auto"``).

    It reads *messages* to the end: for an analysis of the same streams afterwards, pass
    streams that can be read twice (lists, or one :func:`~meshals.read` per pass).

    Args:
        messages: one stream or an iterable of streams.
        reidentify: take every identifier a stream carries, not only the first.

    Returns:
        The :class:`~meshals.resolve.ObservedResolver`, with its conflicts as
        ``diagnostics``.

    >>> import meshals
    >>> bookinfo = meshals.examples.example("bookinfo")
    >>> resolver = observed_resolver(bookinfo.streams())
    >>> reviews = resolver.resolve("127.0.0.3", 9080)
    >>> reviews.service, reviews.instance, reviews.namespace, dict(reviews.tags)
    ('reviews', 'reviews-v1-rvw', 'default', {'app': 'reviews', 'version': 'v1'})
    """
    return ObservedResolver.from_claims(name_claims(messages, reidentify=reidentify))


def two_passes(messages: Iterable[object]) -> tuple[list[Iterable[object]], list[Iterable[object]]]:
    """The streams of *messages* twice: once for the names, once for the analysis.

    A :class:`~meshals.Reader` of a file is read again from its file
    (:meth:`~meshals.Reader.reopen`); a stream that can be iterated again (a list) is; any
    other iterator (a generator, a reader of a stream it was given) is held in memory, as a
    list, for the two passes.
    """
    first: list[Iterable[object]] = []
    second: list[Iterable[object]] = []
    streams = [messages] if isinstance(messages, Reader) else split_streams(messages)
    for stream in streams:
        again = stream.reopen() if isinstance(stream, Reader) else None
        if again is not None:
            first.append(again)
            second.append(stream)
        elif iter(stream) is stream:
            held = list(stream)
            first.append(held)
            second.append(held)
        else:
            first.append(stream)
            second.append(stream)
    return first, second


def with_observed_names(
    messages: Iterable[object], *, reidentify: bool
) -> tuple[list[Iterable[object]], ObservedResolver]:
    """``resolver="auto"``: the first pass over *messages*; the streams for the second pass,
    and the resolver.

    Raises:
        StreamError: *messages* is not one stream or an iterable of streams.
        DecodeError, OSError: reading the input failed.
    """
    first, second = two_passes(messages)
    return second, observed_resolver(first, reidentify=reidentify)
