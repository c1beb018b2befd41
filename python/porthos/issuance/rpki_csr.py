"""A child CA's PKCS#10 request in the RPKI (RFC 6487 §4, RFC 7935 §3): read strictly
(RSA-2048 with e = 65537, proof of possession, the RPKI SIA as a requested extension),
and written for the children porthos hosts."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from porthos._native import SoftwareKey
from porthos.exceptions import RpkiCsrError, RpkiCsrSignatureError

__all__ = ["csr_sia", "make_child_csr", "read_child_csr"]

_SIA_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.11")
_METHODS = {
    "1.3.6.1.5.5.7.48.5": "ca_repository",
    "1.3.6.1.5.5.7.48.10": "rpki_manifest",
    "1.3.6.1.5.5.7.48.13": "rpki_notify",
}


def make_child_csr(
    key: SoftwareKey,
    name: str,
    ca_repository: str,
    rpki_manifest: str,
    rpki_notify: str | None = None,
) -> bytes:
    """A PKCS#10 request (DER) with the RPKI SIA as a requested extension."""
    priv = serialization.load_der_private_key(key.to_pkcs8(), None)
    assert isinstance(priv, rsa.RSAPrivateKey)
    sia = x509.SubjectInformationAccess(
        [
            x509.AccessDescription(
                x509.ObjectIdentifier("1.3.6.1.5.5.7.48.5"),
                x509.UniformResourceIdentifier(ca_repository),
            ),
            x509.AccessDescription(
                x509.ObjectIdentifier("1.3.6.1.5.5.7.48.10"),
                x509.UniformResourceIdentifier(rpki_manifest),
            ),
        ]
        + (
            [
                x509.AccessDescription(
                    x509.ObjectIdentifier("1.3.6.1.5.5.7.48.13"),
                    x509.UniformResourceIdentifier(rpki_notify),
                )
            ]
            if rpki_notify
            else []
        )
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)]))
        .add_extension(sia, critical=False)
        .sign(priv, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def read_child_csr(data: bytes) -> tuple[x509.CertificateSigningRequest, bytes]:
    try:
        csr = (
            x509.load_pem_x509_csr(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_csr(data)
        )
        key = csr.public_key()
    except ValueError as exc:
        raise RpkiCsrError(f"not a PKCS#10 request: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != 2048:
        raise RpkiCsrError("the child's key must be RSA-2048 (RFC 7935 §3, RFC 6487 §4.7)")
    if key.public_numbers().e != 65537:
        raise RpkiCsrError("the child's RSA exponent must be 65537 (RFC 7935 §3)")
    if not csr.is_signature_valid:
        raise RpkiCsrSignatureError("the request's signature does not verify (RFC 2986 §3)")
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return csr, spki


def csr_sia(csr: x509.CertificateSigningRequest) -> dict[str, str]:
    """The RPKI access descriptions the request asks for: caRepository and rpkiManifest
    rsync (one each), rpkiNotify https optional (RFC 6487 §4.8.8.1)."""
    try:
        ext = csr.extensions.get_extension_for_oid(_SIA_OID)
    except x509.ExtensionNotFound:
        raise RpkiCsrError("the request has no SIA (caRepository, rpkiManifest)") from None
    except ValueError as exc:
        raise RpkiCsrError(f"the request's extensions do not parse: {exc}") from None
    out: dict[str, str] = {}
    value = ext.value
    assert isinstance(value, x509.SubjectInformationAccess)
    for desc in value:
        method = _METHODS.get(desc.access_method.dotted_string)
        if method is None:
            continue
        if not isinstance(desc.access_location, x509.UniformResourceIdentifier):
            raise RpkiCsrError(f"SIA {method}: not a URI")
        uri = desc.access_location.value
        scheme = "https://" if method == "rpki_notify" else "rsync://"
        if not uri.startswith(scheme):
            raise RpkiCsrError(f"SIA {method} {uri!r}: must be a {scheme} URI (RFC 6487 §4.8.8.1)")
        if method in out:
            raise RpkiCsrError(f"SIA {method} given twice")
        out[method] = uri
    for need in ("ca_repository", "rpki_manifest"):
        if need not in out:
            raise RpkiCsrError(f"the request's SIA has no {need} (RFC 6487 §4.8.8.1)")
    if not out["ca_repository"].endswith("/"):
        raise RpkiCsrError("SIA caRepository must name a directory (end in '/')")
    if not out["rpki_manifest"].endswith(".mft"):
        raise RpkiCsrError("SIA rpkiManifest must name a .mft file (RFC 9286 §4)")
    return out
