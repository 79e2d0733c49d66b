"""The mutual-TLS recording (``tests/fixtures/envoy/mtls``): its TLS facts, and its pods' snapshot.

``tools/record_fixtures.py --scenario mtls`` ran the bookinfo-like mesh with Istio-style
mutual TLS between Envoys (SPIFFE workload certificates from one root CA, Istio's SNI), an
HTTPS gateway and plaintext into and out of the mesh; its ``ground_truth.json`` states each
entry's downstream TLS facts. ``test_envoy_recordings.py`` checks everything else the two
recordings share. Here: the TLS facts, read with Envoy's generated classes and with meshals,
exact values for one hop of each kind, and ``tests/fixtures/k8s/bookinfo-mtls.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from envoy.data.accesslog.v3 import accesslog_pb2
from test_envoy_recordings import (
    ENVOY_FIXTURES,
    expected_entries,
    pb_entries,
    pb_messages_from_bin,
)

import meshals
from meshals.model import TlsVersion
from meshals.resolve import KubernetesNaming, KubernetesResolver

MTLS = ENVOY_FIXTURES / "mtls"
TRUTH: dict[str, Any] = json.loads((MTLS / "ground_truth.json").read_text(encoding="utf-8"))
STREAMS = sorted(TRUTH["streams"])
SNAPSHOT = Path(__file__).parent / "fixtures" / "k8s" / "bookinfo-mtls.json"
PODS: dict[str, dict[str, Any]] = {
    item["metadata"]["name"]: item
    for item in json.loads(SNAPSHOT.read_text(encoding="utf-8"))["items"]
    if item["kind"] == "Pod"
}
# xds-protos ships no type stubs: its messages are Any to mypy.
PbMessage = Any

SPIFFE = "spiffe://cluster.local/ns/"
GATEWAY_ID = SPIFFE + "istio-system/sa/istio-ingressgateway-service-account"
PRODUCTPAGE_ID = SPIFFE + "default/sa/bookinfo-productpage"
REVIEWS_ID = SPIFFE + "default/sa/bookinfo-reviews"
ROOT_CA = "O=cluster.local"  # the issuer of every workload certificate (tools/_pki.py)


def pb_tls(entry: PbMessage) -> dict[str, Any]:
    """An entry's TLS facts as ground_truth.json states them, read with Envoy's classes."""
    common = entry.common_properties
    if not common.HasField("tls_properties"):
        return {"downstream_tls": False}
    tls = common.tls_properties
    local, peer = tls.local_certificate_properties, tls.peer_certificate_properties
    return {
        "downstream_tls": True,
        "tls_version": accesslog_pb2.TLSProperties.TLSVersion.Name(tls.tls_version),
        "sni": tls.tls_sni_hostname,
        "local_subject": local.subject,
        "local_uri_sans": [san.uri for san in local.subject_alt_name],
        "peer_subject": peer.subject,
        "peer_uri_sans": [san.uri for san in peer.subject_alt_name],
    }


def meshals_tls(entry: meshals.LogEntry) -> dict[str, Any]:
    """The same facts, decoded by meshals."""
    common = entry.common_properties
    assert common is not None
    tls = common.tls_properties
    if tls is None:
        return {"downstream_tls": False}
    local, peer = tls.local_certificate_properties, tls.peer_certificate_properties
    assert local is not None
    assert peer is not None
    return {
        "downstream_tls": True,
        "tls_version": TlsVersion(tls.tls_version).name,
        "sni": tls.tls_sni_hostname,
        "local_subject": local.subject,
        "local_uri_sans": [san.uri for san in local.subject_alt_name],
        "peer_subject": peer.subject,
        "peer_uri_sans": [san.uri for san in peer.subject_alt_name],
    }


def meshals_entries(stream: str) -> list[meshals.LogEntry]:
    with meshals.read(MTLS / f"{stream}.bin") as reader:
        return [entry for message in reader.messages() for entry in message.entries]


@pytest.mark.parametrize("stream", STREAMS)
def test_every_entry_has_the_tls_facts_of_the_ground_truth(stream: str) -> None:
    expected = [entry["tls"] for entry in expected_entries(f"mtls/{stream}")]
    assert [pb_tls(entry) for entry in pb_entries(pb_messages_from_bin(f"mtls/{stream}"))] == (
        expected
    )
    assert [meshals_tls(entry) for entry in meshals_entries(stream)] == expected


def test_the_recording_has_every_kind_of_hop() -> None:
    # (stream, direction, TLS, a peer certificate) for every entry
    hops = {
        (name, entry["direction"], tls["downstream_tls"], bool(tls.get("peer_uri_sans")))
        for name, stream in TRUTH["streams"].items()
        for entry in stream["entries"]
        for tls in [entry["tls"]]
    }
    assert hops == {
        ("istio-ingressgateway-http", "gateway", True, False),  # HTTPS, client not authenticated
        ("productpage-http", "inbound", True, True),  # gateway -> sidecar
        ("reviews-http", "inbound", True, True),  # sidecar -> sidecar, HTTP
        ("details-http", "inbound", True, True),
        ("ratings-http", "inbound", True, True),  # gRPC
        ("mongodb-tcp", "inbound", True, True),  # TCP
        ("details-http", "inbound", False, False),  # plaintext into the mesh (PERMISSIVE)
        ("productpage-http", "outbound", False, False),  # the application to its own sidecar
        ("productpage-tcp", "outbound", False, False),
        ("reviews-http", "outbound", False, False),
    }


def _entry(stream: str, **match: Any) -> tuple[meshals.LogEntry, dict[str, Any]]:
    for entry, want in zip(
        meshals_entries(stream), expected_entries(f"mtls/{stream}"), strict=True
    ):
        if all(want.get(key) == value for key, value in match.items()):
            return entry, want
    raise AssertionError(f"no entry in {stream} with {match}")


def _tls(entry: meshals.LogEntry) -> meshals.model.TlsProperties:
    assert entry.common_properties is not None
    assert entry.common_properties.tls_properties is not None
    return entry.common_properties.tls_properties


def _uris(certificate: meshals.model.CertificateProperties | None) -> list[str | None]:
    assert certificate is not None
    return [san.uri for san in certificate.subject_alt_name]


def test_gateway_https_has_its_host_certificate_and_no_client_certificate() -> None:
    entry, _ = _entry("istio-ingressgateway-http", path="/productpage")
    tls = _tls(entry)
    assert tls.tls_version == TlsVersion.TLSv1_3
    assert tls.tls_sni_hostname == "bookinfo.example.com"
    assert tls.local_certificate_properties == meshals.model.CertificateProperties(
        subject="CN=bookinfo.example.com"  # Envoy logs no DNS SANs
    )
    assert tls.peer_certificate_properties == meshals.model.CertificateProperties()


def test_sidecar_to_sidecar_is_mutual_tls_with_istio_sni() -> None:
    entry, _ = _entry("reviews-http", path="/reviews/0", direction="inbound")
    tls = _tls(entry)
    assert tls.tls_version == TlsVersion.TLSv1_3
    assert tls.tls_sni_hostname == "outbound_.9080_._.reviews.default.svc.cluster.local"
    assert _uris(tls.local_certificate_properties) == [REVIEWS_ID]
    assert _uris(tls.peer_certificate_properties) == [PRODUCTPAGE_ID]
    assert tls.local_certificate_properties is not None
    assert tls.peer_certificate_properties is not None
    assert tls.local_certificate_properties.subject == ""  # Istio: empty subject
    assert tls.peer_certificate_properties.subject == ""
    assert tls.peer_certificate_properties.issuer == ROOT_CA


def test_gateway_to_sidecar_is_mutual_tls_with_the_gateway_identity() -> None:
    entry, _ = _entry("productpage-http", path="/productpage", direction="inbound")
    tls = _tls(entry)
    assert tls.tls_sni_hostname == "outbound_.9080_._.productpage.default.svc.cluster.local"
    assert _uris(tls.local_certificate_properties) == [PRODUCTPAGE_ID]
    assert _uris(tls.peer_certificate_properties) == [GATEWAY_ID]


def test_grpc_and_tcp_cross_mutual_tls_too() -> None:
    grpc, _ = _entry("ratings-http", protocol="gRPC", grpc_status=0)
    assert isinstance(grpc, meshals.HttpEntry)
    assert grpc.protocol_version == meshals.model.HttpVersion.HTTP2
    assert _tls(grpc).tls_sni_hostname == "outbound_.9080_._.ratings.default.svc.cluster.local"
    assert _uris(_tls(grpc).peer_certificate_properties) == [REVIEWS_ID]
    tcp, _ = _entry("mongodb-tcp", bytes_received=1500)
    assert isinstance(tcp, meshals.TcpEntry)
    assert _tls(tcp).tls_sni_hostname == "outbound_.27017_._.mongodb.default.svc.cluster.local"
    assert _uris(_tls(tcp).local_certificate_properties) == [SPIFFE + "default/sa/bookinfo-mongodb"]
    assert _uris(_tls(tcp).peer_certificate_properties) == [PRODUCTPAGE_ID]


def test_plaintext_into_the_mesh_and_from_the_application_have_no_tls() -> None:
    legacy, want = _entry("details-http", path="/details/2")
    assert want["downstream_remote_ip"] == "127.0.0.10"  # legacy-client-0, no sidecar
    assert want["downstream_peer"] is None
    assert legacy.common_properties is not None
    assert legacy.common_properties.tls_properties is None
    outbound, _ = _entry("productpage-http", path="/legacy/inventory")
    assert outbound.common_properties is not None
    assert outbound.common_properties.tls_properties is None
    assert outbound.common_properties.upstream_cluster == (
        "outbound|8080||legacy.default.svc.cluster.local"
    )


def test_no_key_or_certificate_is_committed() -> None:
    for path in MTLS.iterdir():
        text = path.read_bytes()
        assert b"PRIVATE KEY" not in text
        assert b"BEGIN CERTIFICATE" not in text


# --- tests/fixtures/k8s/bookinfo-mtls.json --------------------------------------------------


def test_the_snapshot_has_every_recorded_pod_at_its_ip() -> None:
    assert {pod["status"]["podIP"]: pod["metadata"]["name"] for pod in PODS.values()} == {
        ip: names["instance"] for ip, names in TRUTH["resolver"].items()
    }


@pytest.mark.parametrize("envoy", sorted(TRUTH["envoys"]))
def test_the_snapshot_agrees_with_each_envoys_node_metadata(envoy: str) -> None:
    stream = next(name for name, truth in TRUTH["streams"].items() if truth["envoy"] == envoy)
    node = pb_messages_from_bin(f"mtls/{stream}")[0].identifier.node
    metadata = node.metadata.fields
    pod = PODS[TRUTH["envoys"][envoy]["instance"]]
    labels = pod["metadata"]["labels"]
    account = pod["spec"]["serviceAccountName"]
    assert account == metadata["SERVICE_ACCOUNT"].string_value
    assert account == TRUTH["envoys"][envoy]["service_account"]
    assert TRUTH["envoys"][envoy]["spiffe_id"] == (
        f"{SPIFFE}{pod['metadata']['namespace']}/sa/{account}"
    )
    node_labels = metadata["LABELS"].struct_value.fields
    for key in ("service.istio.io/canonical-name", "service.istio.io/canonical-revision"):
        assert labels[key] == node_labels[key].string_value
    # The Deployment is the ReplicaSet's name without its pod-template-hash.
    (owner,) = pod["metadata"]["ownerReferences"]
    assert owner["kind"] == "ReplicaSet"
    assert owner["controller"] is True
    assert owner["name"] == (
        f"{metadata['WORKLOAD_NAME'].string_value}-{labels['pod-template-hash']}"
    )


def test_the_snapshot_exercises_istios_naming_rules() -> None:
    reviews = PODS["reviews-v1-5b5d6494f4-m9vtd"]["metadata"]["labels"]
    assert (reviews["version"], reviews["service.istio.io/canonical-revision"]) == (
        "v1",
        "1.20.2",
    )
    legacy = PODS["legacy-client-0"]["metadata"]
    assert [(owner["kind"], owner["name"]) for owner in legacy["ownerReferences"]] == [
        ("StatefulSet", "legacy-client")
    ]
    assert "service.istio.io/canonical-name" not in legacy["labels"]  # not injected
    gateway = PODS["istio-ingressgateway-7c9f8d6b5-q4wzn"]["metadata"]["labels"]
    assert gateway["service.istio.io/canonical-revision"] == "latest"


@pytest.mark.parametrize("ip", sorted(TRUTH["resolver"]))
def test_the_kubernetes_resolver_names_every_pod_as_the_ground_truth(ip: str) -> None:
    resolver = KubernetesResolver.from_file(
        SNAPSHOT,
        naming=KubernetesNaming(
            service_rule="${pod.metadata.labels.app}", instance_rule="${pod.metadata.name}"
        ),
    )
    info = resolver.resolve(ip, None)
    assert info is not None
    assert {"service": info.service, "instance": info.instance} == TRUTH["resolver"][ip]
