"""What the repository publishes at a CA's caIssuers URLs (RFC 5280 §4.2.2.1): a
``.crt`` URL names the CA's certificate (DER), a ``.p7c`` URL a certs-only CMS bundle
(RFC 5652 §5, ``_native.cms_certs_only``) of every certificate issued TO the CA: its
certificate in the hierarchy, the cross-certificates other CAs issued to it
(imported, store/cross.py) and those our own CAs issued to its key under a cross
profile. A relying party anchored elsewhere (a bridge) finds its path through the
bundle. Cross-certificates are also kept as flat files, ``W/repository/<name>.crt``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import _native
from porthos.store import cross
from porthos.workspace.hierarchy import REPOSITORY_DIR

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["certificates_to", "flat_path", "is_bundle_url", "published_bytes"]

BUNDLE_SUFFIX = ".p7c"


def is_bundle_url(url: str) -> bool:
    """Whether a caIssuers URL names a certs-only bundle (``.p7c``)."""
    return PurePosixPath(urlsplit(url).path).suffix.lower() == BUNDLE_SUFFIX


def flat_path(ws: Workspace, stem: str, suffix: str = ".crt") -> Path:
    """The flat repository file ``W/repository/<stem><suffix>``."""
    return ws.path / REPOSITORY_DIR / f"{stem}{suffix}"


def certificates_to(ws: Workspace, ca: CertificateAuthority) -> list[bytes]:
    """Every certificate whose subject is ``ca`` (same name, same key): the
    hierarchy's, then the imported cross-certificates, then our own cross profiles'."""
    cert = x509.load_der_x509_certificate(ca.certificate)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    conn = ws.store.conn
    out = [ca.certificate]
    out += [row.der for row in cross.imported_for(conn, ca.name)]
    profiles = [p for ps in ws.profile_sets.values() for p in ps.cross_profiles]
    for der in cross.issued_with_profiles(conn, profiles, hashlib.sha256(spki).digest()):
        if x509.load_der_x509_certificate(der).subject == cert.subject:
            out.append(der)
    return list(dict.fromkeys(out))


def published_bytes(ws: Workspace, ca: CertificateAuthority, url: str) -> bytes:
    """The file a caIssuers URL of ``ca`` names: the bundle or the certificate."""
    if is_bundle_url(url):
        return _native.cms_certs_only(certificates_to(ws, ca))
    return ca.certificate
