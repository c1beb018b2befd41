"""The delegated OCSP responder of a CA (RFC 6960 §4.2.2.2): its certificate (the
CP/CPS's responder profile, issued by the CA itself) and its key, and the rotation
that replaces both (``porthos ocsp rotate-responder``).

The certificate named by the CA's newest ``ocsp.responder-rotated`` audit record is
the one in use; its key is ``W/keys/ocsp/<ca>-<SERIAL>.p8`` (software keys; the key is
generated in the workspace and never leaves it). A rotation issues the next certificate through the
ordinary issuance path (so it is stored and audited as ``certificates.issued``),
records ``ocsp.responder-rotated``, then pre-signs again: every response names its
responder, so all are signed again by the new key, and the responder process picks
the new ones up with the new index (no restart).

A validity over the profile's (Carillon 001 §10.1.5: one month) is refused: the
requested notAfter goes through the profile's ``item_not_after = "refuse"``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from porthos import _native
from porthos.cpcps.ocsp_table import OcspCa
from porthos.exceptions import KeyMaterialError, PolicyError
from porthos.issuance.key_checks import check_key_pair
from porthos.store import audit
from porthos.store import ocsp as ocsp_store

if TYPE_CHECKING:
    from porthos.issuance.signers import Pkcs11Signer, Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["ROTATED", "Responder", "current_responder", "responder_host", "rotate_responder"]

ROTATED = audit.Event.OCSP_RESPONDER_ROTATED


@dataclass
class Responder:
    certificate: bytes
    serial_hex: str
    not_after: int
    signer: Signer
    _templates: dict[str, _native.OcspTemplate] = field(default_factory=dict)

    def close(self) -> None:
        """Close the signer's HSM sessions (a software key has none)."""
        close = getattr(self.signer, "close", None)
        if close is not None:
            close()

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.certificate).hexdigest()

    def template(self, issuer_cert: bytes, hash_name: str) -> _native.OcspTemplate:
        tpl = self._templates.get(hash_name)
        if tpl is None:
            tpl = _native.OcspTemplate(
                self.certificate, issuer_cert, self.signer.signature_algorithm, hash_name
            )
            self._templates[hash_name] = tpl
        return tpl


def key_path(ws: Workspace, ca_name: str, serial_hex: str, suffix: str = ".p8") -> Path:
    """The responder key's file: the PKCS#8 key (software), or ``.uri``: the RFC 7512
    PKCS#11 URI of the key in the workspace's token (HSM mode)."""
    return ws.path / "keys" / "ocsp" / f"{ca_name}-{serial_hex.upper()}{suffix}"


def _hsm_signer(ws: Workspace, uri: str, der: bytes) -> Signer:
    from porthos.hsm import HsmKeyRef
    from porthos.issuance.signers import Pkcs11Signer

    ref = HsmKeyRef.parse(uri)
    pin = ws._hsm_pin
    if ref is None or ws.hsm is None:
        raise KeyMaterialError(f"not a PKCS#11 key reference of this workspace: {uri}")
    if pin is None:
        raise KeyMaterialError(
            "the OCSP responder key is in the HSM: activate the workspace with the "
            "issuing-CA PIN first (--pin-file)"
        )
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    alg = _alg_of(cert)
    return Pkcs11Signer(
        ws.hsm.module,
        ref.token,
        ref.label,
        pin,
        alg,
        sessions=1,
        public_key=spki,
        workers="threads",
    )


def _alg_of(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = cert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ecdsa-sha384" if pub.curve.name == "secp384r1" else "ecdsa-sha256"
    return "rsa-pkcs1-sha256"


def current_responder(
    ws: Workspace, ca: CertificateAuthority, spec: OcspCa, now: int
) -> Responder:
    """The responder in use (the newest rotation's certificate), with its key."""
    _delegated(spec)
    row = ocsp_store.latest_responder(ws.store.conn, ca.name, ROTATED)
    if row is None:
        raise PolicyError(
            f"CA {ca.name} has no OCSP responder certificate: porthos ocsp rotate-responder "
            f"--ca {ca.name}"
        )
    if row.not_after <= now:
        raise PolicyError(
            f"the OCSP responder certificate {row.serial_hex} of {ca.name} has expired: "
            f"porthos ocsp rotate-responder --ca {ca.name}"
        )
    path = key_path(ws, ca.name, row.serial_hex)
    uri = key_path(ws, ca.name, row.serial_hex, ".uri")
    key: Signer
    try:
        if uri.is_file():
            key = _hsm_signer(ws, uri.read_text().strip(), row.der)
        else:
            key = _native.SoftwareKey.from_pkcs8(path.read_bytes())
    except OSError as exc:
        raise KeyMaterialError(f"cannot read the OCSP responder key {path}: {exc}") from None
    check_key_pair(key, row.der, f"the OCSP responder key of {ca.name} ({path})")
    return Responder(row.der, row.serial_hex.upper(), row.not_after, key)


def _delegated(spec: OcspCa) -> str:
    """The delegated responder's profile; a CA that signs its own responses (an
    offline root) has none and answers through ``porthos ocsp ceremony``."""
    if spec.responder_profile is None:
        raise PolicyError(
            f'CA {spec.ca} signs its own OCSP responses (responder = "ca"): '
            f"porthos ocsp ceremony --ca {spec.ca}"
        )
    return spec.responder_profile


def responder_host(ws: Workspace, ca_name: str) -> str:
    """The responder's host name: that of the OCSP URL in the AIA of the CA's profiles
    (its certificate names that host, 001 §10.1.5 "HTTP URL for the OCSP Responder")."""
    for prof in ws.ca(ca_name).profile_set.profiles_of(ca_name):
        for ext in prof.extensions:
            if ext.get("type") == "authority_info_access":
                for url in ext.get("ocsp", ()):
                    host = urlsplit(str(url)).hostname
                    if host:
                        return host
    raise PolicyError(f"no profile of CA {ca_name} names an OCSP URL in its AIA")


def rotate_responder(
    ws: Workspace,
    spec: OcspCa,
    *,
    days: int | None = None,
    key_type: str | None = None,
    now: int | None = None,
    actor: str | None = None,
) -> bytes:
    """Issue the CA's next responder certificate (``days``: shorter than the profile's
    validity; longer is refused) with a new key; returns its DER."""
    now = int(time.time()) if now is None else int(now)
    ca = ws.ca(spec.ca)
    # The CA's own generation's data: a retired CA keeps its responder (ocsp_presign).
    prof = ca.profile_set.profile(_delegated(spec))
    kt = key_type or prof.key_types[0]
    if kt not in prof.key_types:
        raise PolicyError(
            f"key type {kt!r}: profile {prof.name} allows {', '.join(prof.key_types)}"
        )
    host = responder_host(ws, ca.name)
    key: Signer
    if ca.hsm_ref is not None:
        # HSM mode: the key is made in the issuing CAs' token and never leaves it
        # (RFC 3647 §6.1.1, §6.2.6); the request is signed there too.
        token_key, key_ref = _token_key(ws, ca, kt, now)
        key = token_key
        csr = _csr_external(token_key, host)
        secret = key_ref.encode()
        suffix = ".uri"
    else:
        soft = _native.SoftwareKey.generate(kt)
        key, secret, suffix = soft, soft.to_pkcs8(), ".p8"
        csr = _csr(secret, host)
    ra_data = None
    if days is not None:
        if days <= 0:
            raise PolicyError(f"--days {days}: a responder certificate lives at least a day")
        not_after = dt.datetime.fromtimestamp(now + days * 86400, dt.UTC)
        ra_data = [{"not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    result = ca.issue_batch(
        csr,
        prof.name,
        now=now,
        actor=actor,
        ra_data=ra_data,
        audit_details={"purpose": "ocsp-responder"},
    )
    issued = [der for _, der in result.issued()]
    if not issued:
        (_, status, reason), *_ = list(result.rejected())
        raise PolicyError(f"responder certificate refused ({status.name}): {reason}")
    der = issued[0]
    serial = x509.load_der_x509_certificate(der).serial_number
    stored = ocsp_store.serial_of(ws.store.conn, ca.name, der, serial)
    path = key_path(ws, ca.name, stored, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(secret)
    tmp.replace(path)
    check_key_pair(key, der, f"the new OCSP responder key of {ca.name}")
    if hasattr(key, "close"):
        key.close()
    audit.record(
        ws.store,
        ROTATED,
        actor=actor,
        ca=ca.name,
        serial=stored,
        profile=prof.name,
        key_type=kt,
        sha256=hashlib.sha256(der).hexdigest(),
    )
    return der


def _csr(pkcs8: bytes, host: str) -> bytes:
    """The responder's request, signed with its new key (proof of possession as for any
    subscriber); the profile's subject rule and prefix make the certificate's name."""
    private = serialization.load_der_private_key(pkcs8, None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    return builder.sign(private, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _token_key(
    ws: Workspace, ca: CertificateAuthority, key_type: str, now: int
) -> tuple[Pkcs11Signer, str]:
    """A new responder key pair in the issuing CA's token, and its PKCS#11 URI."""
    import secrets

    from porthos import hsm
    from porthos.issuance.signers import Pkcs11Signer

    assert ca.hsm_ref is not None
    pin = ws._hsm_pin
    if ws.hsm is None or pin is None:
        raise KeyMaterialError(
            f"the keys of CA {ca.name} are in the HSM: activate the workspace with the "
            "issuing-CA PIN first (--pin-file)"
        )
    label = f"ocsp-{ca.name}-{now}-{secrets.token_hex(3)}"
    token = ca.hsm_ref.token
    spki = hsm.generate_key(ws.hsm.module, token, pin, label, key_type)
    alg = "ecdsa-sha256" if key_type == "ec-p256" else "rsa-pkcs1-sha256"
    if key_type == "ec-p384":
        alg = "ecdsa-sha384"
    signer = Pkcs11Signer(
        ws.hsm.module, token, label, pin, alg, sessions=1, public_key=spki, workers="threads"
    )
    return signer, hsm.HsmKeyRef(token, label).uri()


def _csr_external(signer: Pkcs11Signer, host: str) -> bytes:
    """A PKCS#10 request (RFC 2986 §4) for a key that signs only digests (a token key):
    CertificationRequestInfo { v1, subject CN=host, the key's SPKI, no attributes },
    its digest signed through ``signer``."""
    import numpy as np

    from porthos.issuance.signers import HASH_OF

    name = _native.encode_name([("CN", host)])
    info = _seq(b"\x02\x01\x00" + name + signer.public_key_der() + b"\xa0\x00")
    alg = signer.signature_algorithm
    h = hashes.SHA384() if HASH_OF[alg] == "sha384" else hashes.SHA256()
    d = hashes.Hash(h)
    d.update(info)
    (sig,) = signer.sign_digests(np.frombuffer(d.finalize(), np.uint8).reshape(1, -1))
    alg_id = {
        "ecdsa-sha256": bytes.fromhex("300a06082a8648ce3d040302"),
        "ecdsa-sha384": bytes.fromhex("300a06082a8648ce3d040303"),
        "rsa-pkcs1-sha256": bytes.fromhex("300d06092a864886f70d01010b0500"),
    }[alg]
    bits = b"\x00" + bytes(sig)
    return _seq(info + alg_id + b"\x03" + _length(len(bits)) + bits)


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _seq(content: bytes) -> bytes:
    return b"\x30" + _length(len(content)) + content
