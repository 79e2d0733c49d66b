"""Shared test set-up: Hypothesis profiles, fixture paths, the recordings' period, and their
entries as Envoy's own protos read them."""

from __future__ import annotations

import calendar
import importlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from envoy.service.accesslog.v3 import als_pb2
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
# nox -s mutants runs the tests that reach a mutant once per mutant: a few examples each.
settings.register_profile("mutants", max_examples=10, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# --- the analysed period of the Envoy recordings, worked out from their JSON form ---------------

ENVOY_FIXTURES = FIXTURES / "envoy"


def _timestamp_ns(text: str) -> int:
    """A proto3 JSON Timestamp (``2026-11-21T09:08:31.129330Z``) in ns since the epoch."""
    whole, _, fraction = text.removesuffix("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def _duration_ns(text: str) -> int:
    """A proto3 JSON Duration (``0.003435156s``) in ns."""
    whole, _, fraction = text.removesuffix("s").partition(".")
    return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def _recorded_extents() -> list[tuple[int, int]]:
    """When each call of the Envoy recordings started and ended on each side that logged it.

    From the ``.jsonl`` twins of the ``.bin`` files and ``ground_truth.json``'s directions, not
    from meshals: a server side (inbound, a gateway's downstream) runs from ``startTime`` to
    the last byte sent downstream; a client side (outbound, a gateway's upstream unless no
    route was found) from the first byte sent upstream to the last byte received from it;
    ``duration`` where a last byte is not logged.
    """
    truth = json.loads((ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8"))
    extents = []
    for name, stream in truth["streams"].items():
        entries = []
        for line in (ENVOY_FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            message = json.loads(line)
            entries += (message.get("httpLogs") or message["tcpLogs"])["logEntry"]
        assert len(entries) == len(stream["entries"]), name
        for expected, entry in zip(stream["entries"], entries, strict=True):
            common = entry["commonProperties"]
            start = _timestamp_ns(common["startTime"])
            offsets = {key: _duration_ns(value) for key, value in common.items()
                       if key.startswith("timeTo") or key == "duration"}  # fmt: skip
            direction = expected["direction"]
            if direction in ("inbound", "gateway"):
                last = offsets.get("timeToLastDownstreamTxByte", offsets["duration"])
                extents.append((start, start + last))
            if direction in ("outbound", "gateway") and "NR" not in expected["response_flags"]:
                first = offsets.get("timeToFirstUpstreamTxByte", 0)
                last = offsets.get("timeToLastUpstreamRxByte", offsets["duration"])
                extents.append((start + first, start + last))
    return extents


@pytest.fixture(scope="session")
def recorded_extents_ns() -> list[tuple[int, int]]:
    """Each call side's start and end in the Envoy recordings (the bookinfo example), in ns."""
    extents = _recorded_extents()
    assert len(extents) == 45  # one per metric meshals makes of them
    return extents


@pytest.fixture(scope="session")
def recorded_period_ns(recorded_extents_ns: list[tuple[int, int]]) -> tuple[int, int]:
    """The Envoy recordings' (and the bookinfo example's) first start and last end, in ns."""
    extents = recorded_extents_ns
    return min(start for start, _ in extents), max(end for _, end in extents)


# --- the entries of the Envoy recordings, read with Envoy's generated protos -------------------


@attrs.frozen
class RecordedEntry:
    """One entry of the bookinfo recordings (``tests/fixtures/envoy/*.bin``), read with Envoy's
    generated protos, not meshals: when it started and ended (ns since the epoch, the end the
    start plus the longest time offset logged), and how many metrics it makes (a gateway entry
    two when routed to an upstream host, one otherwise; a sidecar entry one)."""

    start_ns: int
    end_ns: int
    metrics: int


def _frames(data: bytes) -> Iterator[bytes]:
    """The messages of a varint-delimited stream."""
    offset = 0
    while offset < len(data):
        size = shift = 0
        while True:
            byte = data[offset]
            offset += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        yield data[offset : offset + size]
        offset += size


_OFFSETS = (
    "duration",
    "time_to_last_rx_byte",
    "time_to_first_upstream_tx_byte",
    "time_to_last_upstream_tx_byte",
    "time_to_first_upstream_rx_byte",
    "time_to_last_upstream_rx_byte",
    "time_to_first_downstream_tx_byte",
    "time_to_last_downstream_tx_byte",
)


@pytest.fixture(scope="session")
def recorded_entries() -> list[RecordedEntry]:
    """Every entry of the bookinfo recordings, in start order."""
    found = []
    for path in sorted((FIXTURES / "envoy").glob("*.bin")):
        gateway = path.name.startswith("istio-ingressgateway")
        for frame in _frames(path.read_bytes()):
            message = als_pb2.StreamAccessLogsMessage.FromString(frame)
            logs = message.http_logs if message.HasField("http_logs") else message.tcp_logs
            for entry in logs.log_entry:
                common = entry.common_properties
                start = common.start_time.ToNanoseconds()
                longest = max(getattr(common, name).ToNanoseconds() for name in _OFFSETS)
                routed = common.HasField("upstream_remote_address")
                found.append(RecordedEntry(start, start + longest, 2 if gateway and routed else 1))
    return sorted(found, key=lambda entry: entry.start_ns)


@pytest.fixture(scope="session")
def recorded_starts(recorded_entries: list[RecordedEntry]) -> list[int]:
    """The recordings' entries' start times, in order (ns since the epoch)."""
    return [entry.start_ns for entry in recorded_entries]


@pytest.fixture(scope="session")
def recorded_end(recorded_entries: list[RecordedEntry]) -> int:
    """Where the recordings end: the latest end of an entry."""
    return max(entry.end_ns for entry in recorded_entries)


@pytest.fixture(scope="session")
def count_in_range(
    recorded_entries: list[RecordedEntry],
) -> Callable[[int | None, int | None], tuple[int, int]]:
    """``count_in_range(since_ns, until_ns)``: how many of the recordings' entries started in
    ``[since_ns, until_ns)``, and how many metrics they make."""

    def count(since_ns: int | None, until_ns: int | None) -> tuple[int, int]:
        kept = [
            entry.metrics
            for entry in recorded_entries
            if (since_ns is None or entry.start_ns >= since_ns)
            and (until_ns is None or entry.start_ns < until_ns)
        ]
        return len(kept), sum(kept)

    return count


# --- mutual TLS captures --------------------------------------------------------------------------

#: The bundled example's resolver file: names the pods of the Envoy recordings.
BOOKINFO_RESOLVER = Path(__file__).parents[1] / "src/meshals/examples/bookinfo/resolver.json"
# What the graph commands say on stderr when Graphviz' dot is missing and their own layout drew.
GRAPHVIZ_FALLBACK_NOTE = (
    "meshals: note: Graphviz' dot is not installed, so meshals' own layout drew the picture"
    " (for Graphviz': apt-get install graphviz, brew install graphviz)"
)


def spiffe_id(service: str) -> str:
    """The SPIFFE id the synthetic mTLS capture gives a service (Istio's form)."""
    if service == "istio-ingressgateway":
        return "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    return f"spiffe://cluster.local/ns/default/sa/bookinfo-{service}"


@attrs.frozen
class MtlsCapture:
    """A directory of capture files with TLS, and the resolver file that names its pods."""

    name: str
    directory: Path
    resolver: Path

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.bin"))

    def metrics(self) -> list[Any]:
        """Every file's metrics (k8s-mesh, named by the resolver), file by file."""
        import meshals

        resolver = meshals.StaticResolver.from_json(self.resolver.read_bytes())
        return [
            metric
            for path in self.files()
            for metric in meshals.analyze(meshals.read(path), resolver=resolver)
        ]


def _certificate(identity: str) -> Any:
    from meshals.model import CertificateProperties, SubjectAltName

    # Istio's workload certificates: an empty subject and one URI SAN.
    return CertificateProperties(subject_alt_name=(SubjectAltName(uri=identity),))


def write_mtls_capture(directory: Path, *, conflicts: bool = False) -> MtlsCapture:
    """The Envoy recordings with Istio's TLS added to every entry a server side logged.

    Each file is re-encoded with meshals' encoder; only ``tls_properties`` change. A sidecar's
    inbound entry gets mutual TLS (its own certificate local, the caller's as the peer), the
    gateway's downstream entries one-way TLS (an HTTPS listener), and the second of the two
    productpage -> mongodb connections stays plaintext: plaintext into a meshed workload.
    With ``conflicts``, the reviews sidecar presents another service account on its first
    inbound call, and details presents productpage's.
    """
    import meshals
    from meshals.codec import encode_binary
    from meshals.codec._wire import encode_varint
    from meshals.model import (
        AlsMessage,
        DetectPoint,
        HttpEntry,
        TcpEntry,
        TlsProperties,
        TlsVersion,
    )

    resolver = meshals.StaticResolver.from_json(BOOKINFO_RESOLVER.read_bytes())
    server_side: dict[tuple[str, int | None, int], meshals.ServiceMeshMetric] = {}
    for path in sorted(ENVOY_FIXTURES.glob("*.bin")):
        for metric in meshals.analyze(meshals.read(path), resolver=resolver):
            if metric.detect_point is DetectPoint.SERVER:
                origin = metric.origin
                server_side[Path(origin.source).name, origin.message_index, origin.entry_index] = (
                    metric
                )
    ids = {service: spiffe_id(service) for service in ("reviews", "details")}
    if conflicts:
        ids["details"] = spiffe_id("productpage")
    seen: dict[str, int] = {}

    def tls_of(metric: meshals.ServiceMeshMetric) -> TlsProperties | None:
        source, destination = metric.source.service, metric.destination.service
        seen[destination] = seen.get(destination, 0) + 1
        if destination == "mongodb" and seen[destination] == 2:
            return None
        local = ids.get(destination, spiffe_id(destination))
        if conflicts and destination == "reviews" and seen[destination] == 1:
            local = "spiffe://cluster.local/ns/default/sa/reviews-canary"
        return TlsProperties(
            tls_version=TlsVersion.TLSv1_3,
            local_certificate_properties=_certificate(local),
            peer_certificate_properties=(
                None if source == "UNKNOWN" else _certificate(spiffe_id(source))
            ),
        )

    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(ENVOY_FIXTURES.glob("*.bin")):
        frames = []
        for message in meshals.read(path):
            assert isinstance(message, AlsMessage)
            entries: list[Any] = []  # one kind per message, as read
            read_entries: tuple[HttpEntry | TcpEntry, ...] = message.entries
            for index, entry in enumerate(read_entries):
                server = server_side.get((path.name, message.index, index))
                common = entry.common_properties
                if server is None or common is None:
                    entries.append(entry)
                    continue
                common = attrs.evolve(common, tls_properties=tls_of(server))
                entries.append(attrs.evolve(entry, common_properties=common))
            data = encode_binary(attrs.evolve(message, entries=tuple(entries)))
            frames.append(encode_varint(len(data)) + data)
        (directory / path.name).write_bytes(b"".join(frames))
    return MtlsCapture(
        "synthetic-conflicts" if conflicts else "synthetic", directory, BOOKINFO_RESOLVER
    )


@pytest.fixture(scope="session")
def synthetic_mtls(tmp_path_factory: pytest.TempPathFactory) -> MtlsCapture:
    """The Envoy recordings with Istio-style TLS added (see :func:`write_mtls_capture`)."""
    return write_mtls_capture(tmp_path_factory.mktemp("mtls"))


#: Real mutual-TLS recordings, once recorded (tests over every capture take them too).
RECORDED_MTLS = ENVOY_FIXTURES / "mtls"


def _recorded_mtls() -> list[Any]:
    if not RECORDED_MTLS.is_dir():
        return []
    return [pytest.param("recorded", id="recorded")]


@pytest.fixture(scope="session")
def recorded_mtls(tmp_path_factory: pytest.TempPathFactory) -> MtlsCapture:
    """The real mutual-TLS recording, named by the ``resolver`` table of its
    ``ground_truth.json`` (written out); skipped where it is not recorded."""
    if not RECORDED_MTLS.is_dir():
        pytest.skip("no mutual-TLS recording in tests/fixtures/envoy/mtls")
    truth = json.loads((RECORDED_MTLS / "ground_truth.json").read_text(encoding="utf-8"))
    resolver = tmp_path_factory.mktemp("mtls-resolver") / "resolver.json"
    resolver.write_text(json.dumps(truth["resolver"]), encoding="utf-8")
    return MtlsCapture("recorded", RECORDED_MTLS, resolver)


@pytest.fixture(params=[pytest.param("synthetic", id="synthetic"), *_recorded_mtls()])
def mtls_capture(request: pytest.FixtureRequest) -> MtlsCapture:
    """Every TLS capture: the synthetic one, and the real recording where it exists."""
    name = "synthetic_mtls" if request.param == "synthetic" else "recorded_mtls"
    capture: MtlsCapture = request.getfixturevalue(name)
    return capture


# --- the mutation tool -------------------------------------------------------------------------

#: meshals' process-wide caches: (module, name), a container or an ``lru_cache`` function. Keep
#: this list whole when adding a cache (``test_every_process_cache_is_listed`` finds them all).
PROCESS_CACHES = (
    ("meshals.model._clusters", "_parse"),
    ("meshals.codec._limits", "_GETTERS"),
    ("meshals.codec._json_messages", "_SOCKET_ADDRESS_CACHE"),
    ("meshals.codec._json_scalars", "_MINUTE_STARTS"),
    ("meshals.codec._convert_values", "_ADDRESS_CACHE"),
    ("meshals.codec._convert_values", "_ANY_CACHE"),
    ("meshals.codec._accelerated", "_CONTEXTS"),
    ("meshals.codec._accelerated", "_EXTRA_CACHE"),
    ("meshals.aggregate._sketch", "_BOUNDARIES"),  # grown tables would hide a table's mutants
)


@pytest.fixture(autouse=True, scope="session")
def _empty_caches_under_a_mutant() -> None:
    """Start each session of a mutant's tests with meshals' process-wide caches empty.

    mutmut runs the tests once in its own process, then forks a child per mutant: an answer a
    cache kept from that first run was computed without the mutant and would hide it.
    """
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        empty_process_caches()


def empty_process_caches() -> None:
    """Forget whatever meshals' process-wide caches hold."""
    for module, name in PROCESS_CACHES:
        cache = getattr(importlib.import_module(module), name)
        if hasattr(cache, "cache_clear"):  # an lru_cache function
            cache.cache_clear()
        else:  # a dict, list or set
            cache.clear()
    # The compiled decoder keeps the addresses it made in a dict of its own, out of the census'
    # reach (so a mutant of the address callback went unseen): init() empties it, handing the
    # extension the same classes and callbacks again.
    accelerated = importlib.import_module("meshals.codec._accelerated")
    if accelerated._ACCEL is not None:
        accelerated._init(accelerated._ACCEL)


# A parameter id holding an object's address (a lambda's default repr) changes from run to run,
# and the mutation tool, which selects tests by id, then finds none of them.
_ADDRESS_IN_ID = re.compile(r" at 0x[0-9a-f]+")


def _reescaped_id(item: pytest.Item) -> bool:
    """Whether *item*'s id changes when pytest collects it again in the same process.

    pytest keeps the ids it made from ``parametrize(..., ids=...)`` on the (module-level) mark and
    escapes them once more when a second collection reuses them: every backslash doubles. The
    mutation tool records ids in one collection and selects them in the next, in one process, so
    such a test is then "not found" (issue 23). Ids made without ``ids=``, or by
    ``pytest.param(id=...)``, are made afresh and do not change.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is None or "\\" not in callspec.id:
        return False
    return any(
        "ids" in mark.kwargs or len(mark.args) >= 4 for mark in item.iter_markers("parametrize")
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unstable = [item.nodeid for item in items if _ADDRESS_IN_ID.search(item.nodeid)]
    if unstable:
        raise pytest.UsageError(
            "test ids that change from run to run (give the parameters ids): "
            + ", ".join(unstable[:3])
        )
    reescaped = [item.nodeid for item in items if _reescaped_id(item)]
    if reescaped:
        raise pytest.UsageError(
            f"{len(reescaped)} test ids made by parametrize(ids=...) hold a backslash (an escaped"
            " character), which a second collection in the same process doubles (give them"
            " plain ASCII ids): " + ", ".join(reescaped[:3])
        )
