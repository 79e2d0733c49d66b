"""A throwaway mesh PKI made with ``openssl`` at record time: Istio-like workload certificates.

Dev tooling for ``record_fixtures.py``; not part of meshals. Everything is written into a
temporary directory the caller owns and deletes; no key ever reaches the repository. Like
istiod's CA: a self-signed root (``O=cluster.local``) and per workload a certificate with an
empty subject and exactly one (critical) URI SAN, the workload's SPIFFE id. The gateway's
HTTPS listener gets a certificate for its public host from a separate CA, as a real ingress
would (its ``credentialName`` secret), not from the mesh's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from _recording import RecordingError

__all__ = ["KeyPair", "MeshPki", "make_pki"]

_DAYS = "1"  # istiod's default workload certificate lives 24 hours


@dataclass(frozen=True)
class KeyPair:
    certificate: Path
    key: Path


@dataclass(frozen=True)
class MeshPki:
    """The files Envoy's TLS contexts point at."""

    root: Path  # the mesh root CA's certificate (trusted by every workload)
    workloads: Mapping[str, KeyPair]  # by pod (service) name
    host: KeyPair  # the gateway's certificate for its public host
    host_ca: Path  # what outside clients trust for the host certificate


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RecordingError("the mTLS scenario needs openssl on PATH")
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RecordingError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _root(directory: Path, name: str, subject: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.key")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", _DAYS,
        "-subj", subject, "-keyout", str(pair.key), "-out", str(pair.certificate),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return pair


def _leaf(directory: Path, name: str, ca: KeyPair, subject: str, san: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.key")
    request = directory / f"{name}.csr"
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName=critical,{san}\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "basicConstraints=critical,CA:FALSE\n",
        encoding="ascii",
    )
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
        "-keyout", str(pair.key), "-out", str(request),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.certificate), "-CAkey", str(ca.key),
        "-CAcreateserial", "-CAserial", str(ca.certificate.with_suffix(".srl")), "-days", _DAYS,
        "-extfile", str(extensions), "-out", str(pair.certificate),
    )  # fmt: skip
    return pair


def make_pki(directory: Path, identities: Mapping[str, str], host: str) -> MeshPki:
    """A root CA and one workload certificate per *identities* entry (name -> SPIFFE id).

    An empty subject needs the SAN critical (RFC 5280 4.2.1.6), as in Istio's certificates.
    """
    directory.mkdir(parents=True, exist_ok=True)
    root = _root(directory, "root-ca", "/O=cluster.local")
    workloads = {
        name: _leaf(directory, f"workload-{name}", root, "/", f"URI:{spiffe_id}")
        for name, spiffe_id in identities.items()
    }
    host_ca = _root(directory, "host-ca", "/O=example/CN=example root")
    host_pair = _leaf(directory, "host", host_ca, f"/CN={host}", f"DNS:{host}")
    return MeshPki(
        root=root.certificate, workloads=workloads, host=host_pair, host_ca=host_ca.certificate
    )
