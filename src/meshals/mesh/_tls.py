"""The TLS mode of the connection an entry describes, and both sides' SPIFFE identities.

Envoy's ``tls_properties`` describe the downstream connection only. The mode follows
SkyWalking: NONE without TLS properties or when the local certificate names nothing (no subject,
no SAN); TLS when the peer presented no certificate that names something; mTLS otherwise.
"""

from __future__ import annotations

from meshals.model._als import CertificateProperties, TlsProperties
from meshals.model._metrics import TlsMode

__all__: list[str] = []


def _names_something(certificate: CertificateProperties | None) -> bool:
    return certificate is not None and bool(certificate.subject or certificate.subject_alt_name)


def tls_mode_of(tls: TlsProperties | None) -> TlsMode:
    """NONE, TLS or mTLS for a connection's TLS properties (rule in the module docstring).

    Args:
        tls: the entry's ``tls_properties``.

    Returns:
        The mode.

    >>> from meshals.model import CertificateProperties
    >>> local = CertificateProperties(subject="CN=a")
    >>> tls_mode_of(TlsProperties(local_certificate_properties=local))
    <TlsMode.TLS: 'TLS'>
    """
    if tls is None or not _names_something(tls.local_certificate_properties):
        return TlsMode.NONE
    if not _names_something(tls.peer_certificate_properties):
        return TlsMode.TLS
    return TlsMode.MTLS


def _identity(certificate: CertificateProperties | None) -> str | None:
    if certificate is None:
        return None
    uris = [san.uri for san in certificate.subject_alt_name if san.uri]
    spiffe = [uri for uri in uris if uri.startswith("spiffe://")]
    chosen = spiffe or uris
    return chosen[0] if chosen else None


def peer_identity_of(tls: TlsProperties | None) -> str | None:
    """The peer certificate's SPIFFE id: its first ``spiffe://`` URI SAN, else its first URI SAN.

    Args:
        tls: the entry's ``tls_properties``.

    Returns:
        The URI, or None when the peer certificate has no URI SAN.

    >>> from meshals.model import CertificateProperties, SubjectAltName
    >>> peer_identity_of(TlsProperties(peer_certificate_properties=CertificateProperties(
    ...     subject_alt_name=(SubjectAltName(uri="spiffe://cluster.local/ns/default/sa/reviews"),))))
    'spiffe://cluster.local/ns/default/sa/reviews'
    """
    return None if tls is None else _identity(tls.peer_certificate_properties)


def local_identity_of(tls: TlsProperties | None) -> str | None:
    """The local certificate's SPIFFE id, chosen as :func:`peer_identity_of` chooses the peer's.

    Args:
        tls: the entry's ``tls_properties``.

    Returns:
        The URI, or None when the local certificate has no URI SAN.

    >>> from meshals.model import CertificateProperties, SubjectAltName
    >>> local_identity_of(TlsProperties(local_certificate_properties=CertificateProperties(
    ...     subject_alt_name=(SubjectAltName(dns="details"),
    ...                       SubjectAltName(uri="spiffe://cluster.local/ns/default/sa/details"),))))
    'spiffe://cluster.local/ns/default/sa/details'
    """
    return None if tls is None else _identity(tls.local_certificate_properties)
