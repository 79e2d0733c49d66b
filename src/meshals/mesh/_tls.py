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
    return TlsMode.NONE if tls is None else _mode(tls)


# Decided for every entry with TLS: module globals, as an enum class attribute is a metaclass
# lookup (Python 3.11: ten times a global's cost).
_NONE, _TLS, _MTLS = TlsMode.NONE, TlsMode.TLS, TlsMode.MTLS


def _mode(tls: TlsProperties) -> TlsMode:
    if not _names_something(tls.local_certificate_properties):
        return _NONE
    if not _names_something(tls.peer_certificate_properties):
        return _TLS
    return _MTLS


def _identity(certificate: CertificateProperties | None) -> str | None:
    # The first spiffe:// URI SAN, else the first URI SAN: one pass, no lists (every mTLS
    # entry asks twice).
    if certificate is None:
        return None
    first = None
    for san in certificate.subject_alt_name:
        uri = san.uri
        if uri:
            if uri.startswith("spiffe://"):
                return uri
            if first is None:
                first = uri
    return first


def tls_facts(tls: TlsProperties) -> tuple[TlsMode, str | None, str | None]:
    """:func:`tls_mode_of`, :func:`peer_identity_of` and :func:`local_identity_of` of *tls*
    at once, for the analysis's every entry."""
    return (
        _mode(tls),
        _identity(tls.peer_certificate_properties),
        _identity(tls.local_certificate_properties),
    )


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
