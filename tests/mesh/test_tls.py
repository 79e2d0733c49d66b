"""tls_facts(): the TLS mode and both identities at once, as the three rules give them."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshals
from meshals.mesh._tls import local_identity_of, peer_identity_of, tls_facts, tls_mode_of
from meshals.model import CertificateProperties, SubjectAltName, TlsProperties

FIXTURES = Path(__file__).parents[1] / "fixtures"
SPIFFE = "spiffe://cluster.local/ns/default/sa/reviews"


def _recorded() -> list[TlsProperties]:
    found = []
    for path in sorted([*FIXTURES.glob("envoy/**/*.bin"), *FIXTURES.glob("mx/*.bin")]):
        for message in meshals.read(path).messages():
            for entry in message.entries:
                common = entry.common_properties
                if common is not None and common.tls_properties is not None:
                    found.append(common.tls_properties)
    return found


CONSTRUCTED = [
    TlsProperties(),
    TlsProperties(local_certificate_properties=CertificateProperties(subject="CN=a")),
    TlsProperties(
        local_certificate_properties=CertificateProperties(
            subject_alt_name=(SubjectAltName(dns="a"), SubjectAltName(uri="urn:a"))
        ),
        peer_certificate_properties=CertificateProperties(
            subject_alt_name=(
                SubjectAltName(uri="urn:first"),
                SubjectAltName(uri=""),
                SubjectAltName(uri=SPIFFE),
            )
        ),
    ),
]


def test_the_recordings_hold_tls_and_mtls_entries() -> None:
    recorded = _recorded()
    assert len(recorded) == 64
    assert {tls_mode_of(tls).value for tls in recorded} == {"TLS", "mTLS"}


@pytest.mark.parametrize("tls", [*CONSTRUCTED, *_recorded()])
def test_tls_facts_are_the_three_rules(tls: TlsProperties) -> None:
    assert tls_facts(tls) == (tls_mode_of(tls), peer_identity_of(tls), local_identity_of(tls))


def test_the_spiffe_uri_wins_over_an_earlier_uri() -> None:
    assert tls_facts(CONSTRUCTED[2])[1:] == (SPIFFE, "urn:a")
