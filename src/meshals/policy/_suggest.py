"""Least-privilege AuthorizationPolicies from observed traffic: :func:`suggest`.

For every destination workload of the observed requests (:func:`observed_requests`: sidecar
inbound entries), one ``ALLOW`` policy in its namespace that admits exactly the
(principal, method, path, port) combinations observed, and nothing else:

- **Rules.** Principals with the same set of observed (method, path, port) share a rule (its
  ``from`` lists them); within a rule, paths with the same set of (method, port) share an
  operation, split further by port where the methods differ. Every combination of an
  operation's methods, paths and ports was then observed, so no rule admits one nobody made.
  TCP connections (no method, no path) get rules of their own, with ports only: Istio skips
  an ALLOW rule with HTTP-only fields on a TCP listener, so mixing them would hide the TCP part.
  A ports-only rule also admits every HTTP request on its ports, from any method to any path:
  so TCP connections to a port where the workload also received HTTP requests (protocol
  sniffing lets one port carry both) get no rule, they are left out. On a port where only
  TCP was observed, the rule would admit an HTTP request only where Istio parses HTTP on
  that port, which the capture gives no sign of; no Istio field narrows a rule to TCP.
- **Selector.** ``app`` where it tells the workload apart from the other workloads seen in its
  namespace; else ``app`` and ``version``; else every label but the per-pod ones
  (``pod-template-hash`` ...). ALLOW policies add up, so a selector that also picked another
  workload would open it to this one's callers. The other workloads are those seen (callers
  and destinations) and, given a snapshot, its pods; without one, workloads the capture never
  saw are unknown: the how-to says to check the selectors against the cluster.
- **Callers without a principal** (no mutual TLS: plaintext, outside the mesh) cannot be named
  by identity. They are not allowed and not dropped: :attr:`Suggestion.unnamed_callers` lists
  them with their counts and what would admit them (``ipBlocks`` of their address; a sidecar,
  and then ``principals`` or ``namespaces``).
- **Waypoints** get no policy: Istio never attaches a selector policy to a waypoint ("waypoints
  never use selector", ``pilot/pkg/model/policyattachment.go``), only one whose ``targetRefs``
  name its Gateway or a Service it serves, which the entry does not establish exactly. Their
  requests are counted in :attr:`Suggestion.waypoints` instead, never dropped silently.
- **Left out.** A request whose path, method or port Istio's syntax cannot match exactly
  (``_paths``), or whose workload has no namespace or labels to select it
  by, is listed in :attr:`Suggestion.left_out` with the reason, never allowed by a wider rule.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from meshals._values import FrozenMap
from meshals.model._istio import IstioWorkload
from meshals.resolve._k8s_workloads import KubernetesWorkloads

from ._match import selector_matches
from ._model import Action, AuthorizationPolicy
from ._paths import exact_path, template_path
from ._requests import SPIFFE_SCHEME, ObservedRequest, observed_requests
from ._rules import Access, rules_of, uncovered

__all__ = ["LeftOut", "Suggestion", "UnnamedCaller", "suggest"]

PathMode = Literal["exact", "template"]

# Labels that differ from pod to pod of one workload: a selector with them picks one pod.
_PER_POD_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "job-name",
    }
)
# A DNS-1123 subdomain's length, and what goes into a generated one.
_NAME_LENGTH = 253
_NOT_IN_NAME = re.compile("[^a-z0-9-]")
_NAME_LABELS = ("app", "app.kubernetes.io/name")
_VERSION_LABELS = ("version", "app.kubernetes.io/version")
_HTTP_PORT = (
    "the port also received HTTP requests: a rule for TCP (ports only) would admit every HTTP"
    " request on it"
)


@attrs.frozen(kw_only=True)
class UnnamedCaller:
    """Callers of one destination that presented no principal, from one address.

    Attributes:
        policy: ``namespace/name`` of the suggested policy for the destination, or None when
            none could be written (see :attr:`Suggestion.left_out`).
        destination: the destination workload, ``namespace/workload``.
        source_ip: the caller's address (Istio's ``source.ip``), None when not logged.
        remote_ip: the original client's address when it differs (``remote.ip``, from
            ``X-Forwarded-For``), else None.
        source: the caller's workload where metadata or the snapshot names it.
        requests: HTTP requests observed.
        connections: TCP connections observed.
        ports: the destination ports called.
        operations: what was asked, sorted: ``GET /details/0`` (HTTP), ``TCP`` (connections).
        ip_blocks: ``source.ipBlocks`` values that would admit these callers.
        remote_ip_blocks: ``source.remoteIpBlocks`` values that would (when ``remote_ip``).
        principals: ``source.principals`` that would, once the callers use mutual TLS: the
            identity their workload's metadata states, when it does.
        namespaces: ``source.namespaces`` that would, once the callers use mutual TLS (a
            namespace is read from the peer certificate, so not before).
    """

    policy: str | None
    destination: str
    source_ip: str | None
    remote_ip: str | None
    source: IstioWorkload | None
    requests: int
    connections: int
    ports: tuple[int, ...]
    operations: tuple[str, ...]
    ip_blocks: tuple[str, ...]
    remote_ip_blocks: tuple[str, ...]
    principals: tuple[str, ...]
    namespaces: tuple[str, ...]


@attrs.frozen(kw_only=True)
class LeftOut:
    """Requests no suggested rule allows, for a reason other than a missing principal.

    Attributes:
        policy: ``namespace/name`` of the destination's policy, None when none was written.
        destination: the destination workload, ``namespace/workload`` (``?`` when unknown).
        principal: the caller's principal, None without one.
        operation: ``GET /a*`` (HTTP, the path as logged) or ``TCP``.
        port: the destination port, None when not logged.
        count: requests (or connections) observed.
        reason: why no rule can allow exactly this.
    """

    policy: str | None
    destination: str
    principal: str | None
    operation: str
    port: int | None
    count: int
    reason: str


@attrs.frozen(kw_only=True)
class Suggestion:
    """What :func:`suggest` found: the policies, and everything they do not allow.

    Attributes:
        policies: one ALLOW policy per destination workload, sorted by namespace and name.
        unnamed_callers: callers without a principal, by policy, address and workload.
        left_out: requests not allowed for another reason, by policy and request.
        skipped: entries that are no request a policy sees (outbound, gateway...), by reason,
            as :attr:`~meshals.policy.ObservedRequests.skipped` counts them.
        waypoints: requests and connections a waypoint received, by the waypoint
            (``namespace/workload``): no policy is suggested for them (module docstring).
    """

    policies: tuple[AuthorizationPolicy, ...]
    unnamed_callers: tuple[UnnamedCaller, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    skipped: FrozenMap[str, int] = attrs.field(factory=FrozenMap)
    waypoints: FrozenMap[str, int] = attrs.field(factory=FrozenMap)


def suggest(
    messages: Iterable[object],
    *,
    workloads: KubernetesWorkloads | None = None,
    paths: PathMode = "exact",
    since: datetime.datetime | int | None = None,
    until: datetime.datetime | int | None = None,
) -> Suggestion:
    """Suggest the ALLOW policies that admit exactly the observed traffic.

    One policy per destination workload of the observed requests (sidecar inbound entries;
    a waypoint's are counted in :attr:`Suggestion.waypoints`), in its namespace, named
    ``allow-<workload>``, selected by ``app`` (with
    ``version``, or every label but the per-pod ones, only where ``app`` would also select
    another workload seen). Callers with the same observed (method, path, port) share a rule;
    an operation lists only methods, paths and ports that were observed together, so no rule
    admits a combination nobody made. Callers without a principal are not admitted but listed
    in :attr:`Suggestion.unnamed_callers`; requests no rule can match exactly (a path Istio
    would read as a prefix or suffix, a workload without labels, a TCP connection to a port
    that also received HTTP requests) in :attr:`Suggestion.left_out`.

    Args:
        messages: one stream (``meshals.read(path)``) or an iterable of streams.
        workloads: a Kubernetes snapshot's workloads, for the labels and callers that node
            metadata does not name.
        paths: ``"exact"``: each observed path as it was (without its query);
            ``"template"``: identifier segments (all digits, UUIDs, 16 or more hex digits)
            folded into Istio's one-segment path template ``{*}`` (Istio 1.22 or later),
            which never matches a deeper path.
        since: only entries that started at or after this time (aware datetime or ns).
        until: only entries that started before this time.

    Returns:
        The policies, the callers without a principal and the requests left out.

    Raises:
        StreamError: *messages* is not one stream or an iterable of streams.
        ValueError: *paths* is not ``"exact"`` or ``"template"``, an empty time range or a
            naive datetime.
    """
    if paths not in ("exact", "template"):
        raise ValueError(f"paths must be 'exact' or 'template', not {paths!r}")
    requests = observed_requests(messages, workloads=workloads, since=since, until=until)
    destinations: dict[tuple[str | None, str | None], _Destination] = {}
    waypoints: Counter[str] = Counter()
    for request in requests:
        if request.waypoint:
            waypoints[
                f"{request.destination_namespace or '?'}/{_workload_name(request) or '?'}"
            ] += request.count
            continue
        key = (request.destination_namespace, _workload_name(request))
        destination = destinations.get(key)
        if destination is None:
            destination = destinations[key] = _Destination(key[0], key[1])
        destination.add(request, paths)
    known = _known_workloads(destinations.values(), workloads)
    names = _policy_names(destinations.values())
    built = [destination.build(known, names) for destination in destinations.values()]
    # Policies by namespace/name; what no policy could be written for first, by destination.
    built.sort(key=lambda item: (item[0].key if item[0] is not None else "", item[3]))
    return Suggestion(
        policies=tuple(policy for policy, _, _, _ in built if policy is not None),
        unnamed_callers=tuple(caller for _, callers, _, _ in built for caller in callers),
        left_out=tuple(left for _, _, lefts, _ in built for left in lefts),
        skipped=FrozenMap(requests.skipped),
        waypoints=FrozenMap(dict(sorted(waypoints.items()))),
    )


def _workload_name(request: ObservedRequest) -> str | None:
    workload = request.destination
    return workload.workload or workload.app or workload.canonical_service


# (method, path, port): method and path None for a TCP connection.
@attrs.define
class _Destination:
    """One destination workload's observed requests, gathered for its policy."""

    namespace: str | None
    workload: str | None
    labels: FrozenMap[str, str] = attrs.field(factory=FrozenMap)
    # principal -> (method, path, port) -> requests
    named: dict[str, Counter[Access]] = attrs.Factory(lambda: defaultdict(Counter))
    unnamed: dict[tuple[str | None, str | None, IstioWorkload | None], list[ObservedRequest]] = (
        attrs.Factory(lambda: defaultdict(list))
    )
    # (principal, operation, port) -> requests, and why no rule can match them exactly
    inexpressible: Counter[tuple[str | None, str, int | None]] = attrs.Factory(Counter)
    reasons: dict[tuple[str | None, str, int | None], str] = attrs.Factory(dict)
    sources: set[IstioWorkload] = attrs.Factory(set)
    # Ports that received HTTP requests, from any caller.
    http_ports: set[str] = attrs.Factory(set)

    @property
    def name(self) -> str:
        return f"{self.namespace or '?'}/{self.workload or '?'}"

    def add(self, request: ObservedRequest, paths: PathMode) -> None:
        if request.destination_labels and not self.labels:
            self.labels = request.destination_labels
        if request.source is not None:
            self.sources.add(request.source)
        if not request.tcp and request.destination_port is not None:
            self.http_ports.add(str(request.destination_port))
        if request.source_principal is None:
            remote = request.remote_ip if request.remote_ip != request.source_ip else None
            self.unnamed[request.source_ip, remote, request.source].append(request)
            return
        access = _access(request, paths)
        if isinstance(access, str):
            self._leave_out(request, access)
        else:
            self.named[request.source_principal][access] += request.count

    def _leave_out(self, request: ObservedRequest, reason: str) -> None:
        key = (request.source_principal, _operation(request), request.destination_port)
        self.inexpressible[key] += request.count
        self.reasons.setdefault(key, reason)

    def _leave_out_tcp_on_http_ports(self) -> None:
        """Moves TCP connections to a port that also carried HTTP to the left out (module
        docstring): their ports-only rule would admit every HTTP request there."""
        for principal, accesses in self.named.items():
            for access in [a for a in accesses if a[0] is None and a[2] in self.http_ports]:
                key = (principal, "TCP", int(access[2]))
                self.inexpressible[key] += accesses.pop(access)
                self.reasons.setdefault(key, _HTTP_PORT)

    def build(
        self,
        known: Mapping[str | None, list[Mapping[str, str]]],
        names: Mapping[tuple[str | None, str | None], str],
    ) -> tuple[AuthorizationPolicy | None, list[UnnamedCaller], list[LeftOut], str]:
        selector, why_not = _selector(self, known.get(self.namespace, []))
        policy = None
        if self.namespace is not None and self.workload is not None and selector is not None:
            self._leave_out_tcp_on_http_ports()
            policy = AuthorizationPolicy(
                name=names[self.namespace, self.workload],
                namespace=self.namespace,
                selector=selector,
                action=Action.ALLOW,
                rules=rules_of({p: uncovered(accesses) for p, accesses in self.named.items()}),
            )
        key = None if policy is None else policy.key
        # (principal, operation, port, count, reason) of each request no rule admits.
        rows = [
            (*request, count, self.reasons[request])
            for request, count in sorted(
                self.inexpressible.items(), key=lambda item: _sort_key(item[0])
            )
        ]
        if policy is None:
            reason = why_not or "no namespace or workload name is known"
            rows[:0] = [
                (principal, operation, port, count, reason)
                for principal, accesses in sorted(self.named.items())
                for (operation, port), count in sorted(
                    (_describe(access), count) for access, count in accesses.items()
                )
            ]
        left = [
            LeftOut(
                policy=key,
                destination=self.name,
                principal=principal,
                operation=operation,
                port=port,
                count=count,
                reason=reason,
            )
            for principal, operation, port, count, reason in rows
        ]
        callers = [
            _unnamed(
                policy=key,
                destination=self.name,
                address=address,
                remote=remote,
                source=source,
                requests=requests,
            )
            for (address, remote, source), requests in sorted(
                self.unnamed.items(), key=lambda item: _sort_key(item[0][:2])
            )
        ]
        return policy, callers, left, self.name


def _access(request: ObservedRequest, paths: PathMode) -> Access | str:
    """The request as (method, path, port), or why Istio's syntax cannot match it exactly."""
    if request.destination_port is None:
        return "the destination port is not logged"
    port = str(request.destination_port)
    if request.tcp:
        return (None, None, port)
    if request.method is None:
        return "the method is not logged"
    if request.method.startswith("*") or request.method.endswith("*"):
        return "Istio would read the method as a prefix or suffix"
    if request.path is None:
        return "the path is not logged"
    value = exact_path(request.path) if paths == "exact" else template_path(request.path)
    if value is None:
        return "Istio would read the path as a prefix, suffix or template"
    return (request.method, value, port)


def _operation(request: ObservedRequest) -> str:
    return "TCP" if request.tcp else f"{request.method or '-'} {request.path or '-'}"


def _describe(access: Access) -> tuple[str, int]:
    method, path, port = access
    return ("TCP" if method is None else f"{method} {path}"), int(port)


def _sort_key(values: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, str(value)) for value in values)


def _policy_names(
    destinations: Iterable[_Destination],
) -> dict[tuple[str | None, str | None], str]:
    """``allow-<workload>`` per destination, as a name Kubernetes takes, unique per namespace.

    A custom resource's ``metadata.name`` must be a DNS-1123 subdomain (lower-case letters,
    digits, ``-`` and ``.``; alphanumeric at both ends; at most 253 characters). A workload's
    name from node metadata or labels need not be one (``My_App``): each character outside
    ``[a-z0-9-]`` (after lower-casing) becomes ``-``. Where two workloads of a namespace then
    get the same name, each gets the first 8 hex digits of its workload name's SHA-256 added,
    so the names do not depend on which workloads a capture holds besides.
    """
    wanted: dict[tuple[str | None, str | None], str] = {}
    for destination in destinations:
        name = _kubernetes_name(f"allow-{destination.workload or ''}")
        wanted[destination.namespace, destination.workload] = name
    taken = Counter((namespace, name) for (namespace, _), name in wanted.items())
    names: dict[tuple[str | None, str | None], str] = {}
    for (namespace, workload), wanted_name in wanted.items():
        unique = wanted_name
        if taken[namespace, wanted_name] > 1:
            digest = hashlib.sha256((workload or "").encode()).hexdigest()[:8]
            unique = f"{wanted_name[: _NAME_LENGTH - 9].rstrip('-')}-{digest}"
        names[namespace, workload] = unique
    return names


def _kubernetes_name(text: str) -> str:
    return re.sub("-{2,}", "-", _NOT_IN_NAME.sub("-", text.lower()))[:_NAME_LENGTH].strip("-")


def _known_workloads(
    destinations: Iterable[_Destination], snapshot: KubernetesWorkloads | None
) -> dict[str | None, list[Mapping[str, str]]]:
    """Per namespace, the labels known of each workload seen (destinations and callers) and
    of each of the snapshot's pods of another workload."""
    destinations = list(destinations)
    known: dict[str | None, list[Mapping[str, str]]] = defaultdict(list)
    for destination in destinations:
        known[destination.namespace].append(destination.labels)
    own = frozenset((destination.namespace, destination.workload) for destination in destinations)
    seen = set(own)
    for destination in destinations:
        for source in destination.sources:
            if (source.namespace, source.workload) in seen or source.workload is None:
                continue
            seen.add((source.namespace, source.workload))
            labels = {"app": source.app, "version": source.version}
            known[source.namespace].append({k: v for k, v in labels.items() if v is not None})
    for workload, pod_labels in () if snapshot is None else snapshot.pods():
        # Another pod of a destination's own workload is selected on purpose.
        if (workload.namespace, workload.workload) not in own:
            known[workload.namespace].append(pod_labels)
    return known


def _selector(
    destination: _Destination, others_in_namespace: list[Mapping[str, str]]
) -> tuple[FrozenMap[str, str] | None, str | None]:
    """The fewest labels that select this workload and no other seen (module docstring)."""
    labels = destination.labels
    if not labels:
        return None, (
            "no labels are known for the workload (record node metadata LABELS, or pass a"
            " Kubernetes snapshot)"
        )
    others = [other for other in others_in_namespace if other is not labels]
    stable = {key: value for key, value in labels.items() if key not in _PER_POD_LABELS}
    name = next((key for key in _NAME_LABELS if key in labels), None)
    version = next((key for key in _VERSION_LABELS if key in labels), None)
    candidates: list[dict[str, str]] = []
    if name is not None:
        candidates.append({name: labels[name]})
        if version is not None:
            candidates.append({name: labels[name], version: labels[version]})
    candidates.append(dict(sorted(stable.items())))
    for candidate in candidates:
        if candidate and not any(selector_matches(candidate, other) for other in others):
            return FrozenMap(candidate), None
    return None, "its labels do not tell it apart from another workload of its namespace"


def _unnamed(
    *,
    policy: str | None,
    destination: str,
    address: str | None,
    remote: str | None,
    source: IstioWorkload | None,
    requests: list[ObservedRequest],
) -> UnnamedCaller:
    http = sum(request.count for request in requests if not request.tcp)
    namespace = source.namespace if source is not None else None
    identity = source.identity if source is not None else None
    return UnnamedCaller(
        policy=policy,
        destination=destination,
        source_ip=address,
        remote_ip=remote,
        source=source,
        requests=http,
        connections=sum(request.count for request in requests) - http,
        ports=tuple(
            sorted({r.destination_port for r in requests if r.destination_port is not None})
        ),
        operations=tuple(sorted({_operation(request) for request in requests})),
        ip_blocks=() if address is None else (address,),
        remote_ip_blocks=() if remote is None else (remote,),
        principals=() if not identity else (identity.removeprefix(SPIFFE_SCHEME),),
        namespaces=() if namespace is None else (namespace,),
    )
