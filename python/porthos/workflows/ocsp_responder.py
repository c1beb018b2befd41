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
    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["ROTATED", "Responder", "current_responder", "responder_host", "rotate_responder"]

ROTATED = "ocsp.responder-rotated"


@dataclass
class Responder:
    certificate: bytes
    serial_hex: str
    not_after: int
    signer: Signer
    _templates: dict[str, _native.OcspTemplate] = field(default_factory=dict)

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


def key_path(ws: Workspace, ca_name: str, serial_hex: str) -> Path:
    return ws.path / "keys" / "ocsp" / f"{ca_name}-{serial_hex.upper()}.p8"


def current_responder(
    ws: Workspace, ca: CertificateAuthority, spec: OcspCa, now: int
) -> Responder:
    """The responder in use (the newest rotation's certificate), with its key."""
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
    try:
        der = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read the OCSP responder key {path}: {exc}") from None
    key = _native.SoftwareKey.from_pkcs8(der)
    check_key_pair(key, row.der, f"the OCSP responder key of {ca.name} ({path})")
    return Responder(row.der, row.serial_hex.upper(), row.not_after, key)


def responder_host(ws: Workspace, ca_name: str) -> str:
    """The responder's host name: that of the OCSP URL in the AIA of the CA's profiles
    (its certificate names that host, 001 §10.1.5 "HTTP URL for the OCSP Responder")."""
    for prof in ws.profile_set.profiles_of(ca_name):
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
    prof = ws.profile_set.profile(spec.responder_profile)
    kt = key_type or prof.key_types[0]
    if kt not in prof.key_types:
        raise PolicyError(
            f"key type {kt!r}: profile {prof.name} allows {', '.join(prof.key_types)}"
        )
    if ca.hsm_ref is not None:
        raise PolicyError(
            f"CA {ca.name} keeps its keys in an HSM: responder keys in the token are not "
            "implemented yet (docs/ocsp.md)"
        )
    key = _native.SoftwareKey.generate(kt)
    pkcs8 = key.to_pkcs8()
    csr = _csr(pkcs8, responder_host(ws, ca.name))
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
    path = key_path(ws, ca.name, stored)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(pkcs8)
    tmp.replace(path)
    check_key_pair(key, der, f"the new OCSP responder key of {ca.name}")
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
