"""The CA certificates a workspace loads from its store verify, each under its parent's
(issue 20 §3): a flipped byte in a stored CA certificate would otherwise be published
at the AIA URL and named as the issuer of every certificate after it. One signature
verification per CA at open (about 0.1 ms each for P-256, less for RSA)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from porthos.exceptions import StoreIntegrityError

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority

__all__ = ["check_ca_certificates"]


def check_ca_certificates(cas: Iterable[CertificateAuthority], where: str) -> None:
    """Raise StoreIntegrityError naming the first CA whose stored certificate does not
    parse, or does not verify under its parent's certificate (a root under itself)."""
    by_name = {ca.name: ca for ca in cas}
    for ca in by_name.values():
        parent = by_name.get(ca.parent, ca)
        try:
            cert = x509.load_der_x509_certificate(ca.certificate)
            issuer = x509.load_der_x509_certificate(parent.certificate)
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise StoreIntegrityError(
                f"{where}: the stored certificate of CA {ca.name} does not verify under "
                f"{parent.name}'s ({why}); the store is damaged: restore it from a backup"
            ) from None
