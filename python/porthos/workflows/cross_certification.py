"""Cross-certification both ways (RFC 5280 §3.2; issue 16): our CA certifies an
external CA's key, and an external CA's certificate for one of our CAs is imported.

:func:`cross_certify`: an external CA's PKCS#10 request -> a CA certificate issued by
the cross profile's CA (``[cross_profiles.<name>]``, cpcps/cross_profiles.py). Every
check runs before anything is stored: the proof of possession, the key type, the
subject (the profile's fixed one must be what the request names), and what the
request asks for (a larger pathLen, a wider or missing permitted name space:
issuance/ca_request.py). The SKI repeats the request's (else RFC 5280 §4.2.1.2 method
1); the validity is the profile's, cut at the issuer's notAfter. The certificate is
stored like any other (``certificates``, profile = the cross profile, so it can be
revoked and listed on the CRL) with its audit record in one transaction, then written
to ``W/repository/<profile>.crt`` and to the bundles of the caIssuers ``.p7c`` URLs.

:func:`import_cross_certificate`: a certificate another CA issued to one of ours: its
subject and key must be our CA's, it must be a CA certificate, and its signature must
verify under the issuer certificate given. Stored (``cross_certificates``) and audited
in one transaction, then written to ``W/repository/<ca>-cross-<issuer>.crt`` and into
the CA's ``.p7c`` bundles.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from porthos import _native
from porthos.cpcps.cross_profiles import CrossProfile
from porthos.cpcps.policy import ATTRIBUTE_OIDS, KEY_TYPE_NAMES, describe_key
from porthos.durable_files import write_atomically
from porthos.exceptions import ApprovalError, CrossImportError, PolicyError, StoreError
from porthos.issuance import ca_request, signers
from porthos.issuance.ca_request import CaRequest, Subtree
from porthos.store import audit, cross
from porthos.store.sqlite import CertificateRow
from porthos.workspace import ca_bundle, generations
from porthos.workspace.publication import publish_ca_certificates
from porthos.workspace.repository import publication_map

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["CrossCertificate", "cross_certify", "import_cross_certificate", "load_certificate"]

_SHORT_TO_OID = {short: oid for oid, short in ATTRIBUTE_OIDS.items()}


@dataclass(frozen=True, slots=True)
class CrossCertificate:
    """A cross-certificate issued or imported, and where the repository keeps it."""

    ca: str
    der: bytes
    serial_hex: str
    path: Path


def _dotted(name: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((_SHORT_TO_OID.get(a, a), v) for a, v in name)


def _same_name(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> bool:
    # RFC 5280 §7.1: attribute by attribute, case-insensitive, spaces collapsed.
    def fold(n: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(o, " ".join(v.casefold().split())) for o, v in _dotted(n)]

    return fold(a) == fold(b)


def _show_name(name: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{ATTRIBUTE_OIDS.get(a, a)}={v}" for a, v in reversed(name))


def _check_key(prof: CrossProfile, req: CaRequest) -> None:
    for name in prof.key_types:
        kt, bits = KEY_TYPE_NAMES[name]
        if req.key_type == kt and (bits is None or bits == req.key_bits):
            return
    allowed = ", ".join(prof.key_types)
    raise PolicyError(
        f"the request's key is {describe_key(req.key_type, req.key_bits)}; cross profile "
        f"{prof.name} allows {allowed} (§{prof.section})"
    )


Name = tuple[tuple[str, str], ...]


def _subject(prof: CrossProfile, req: CaRequest) -> tuple[Name, Mapping[str, str] | None]:
    """The certificate's subject and the string types it is encoded with. The request's
    own name, as the partner encodes it, whenever it is the one certified (relying
    parties such as pyca chain names as encoded); else the profile's, with its
    ``name_strings``."""
    if prof.subject is not None and req.subject and not _same_name(req.subject, prof.subject):
        raise PolicyError(
            f"the request names {_show_name(req.subject)}; cross profile {prof.name} "
            f"certifies {_show_name(prof.subject)} (§{prof.section})"
        )
    if req.subject and req.subject_strings is not None:
        return tuple(req.subject), req.subject_strings
    if prof.subject is not None:
        return prof.subject, prof.name_strings
    if not req.subject:
        raise PolicyError(
            f"the request has an empty subject; cross profile {prof.name} takes the "
            "subject from the request (RFC 5280 §4.1.2.6: a CA's subject is not empty)"
        )
    # Not repeatable as encoded (another string type, a multi-valued RDN): the
    # attributes porthos knows, in the profile's string types.
    unknown = [a for a, _ in req.subject if a not in ATTRIBUTE_OIDS]
    if unknown:
        raise PolicyError(
            f"the request's subject has attributes porthos does not encode: "
            f"{', '.join(unknown)} (cross profile {prof.name})"
        )
    return tuple((ATTRIBUTE_OIDS[a], v) for a, v in req.subject), prof.name_strings


def _permitted(prof: CrossProfile, subject: Sequence[tuple[str, str]]) -> list[Subtree]:
    """The profile's permitted subtrees in ca_request's (kind, value) form."""
    out: list[Subtree] = []
    for tree in prof.permitted:
        ((kind, value),) = tree.items()
        out.append((kind, _dotted(value) if kind == "directory_name" else value))
    n = prof.permitted_subject_rdns
    if n is not None:
        out.append(("directory_name", _dotted(subject[:n])))
    return out


def _path_len(prof: CrossProfile, req: CaRequest) -> int | None:
    """The certificate's pathLenConstraint: the profile's when it fixes one, else the
    request's, else ``max_path_len`` (None: unconstrained)."""
    if prof.path_len is not None:
        return prof.path_len
    if req.asks_path_len is not None:
        return req.asks_path_len
    return prof.max_path_len


def _signer(
    ws: Workspace,
    ca: CertificateAuthority,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
) -> AbstractContextManager[signers.Signer]:
    """The issuer's signer; a root key in the HSM only inside an activation by two
    officers (``root_halves``); without them ``ca.signer`` says so."""
    if ca.hsm_ref is not None and ca.spec.self_signed and root_halves:
        return ws.root_activation(root_halves, f"cross-certificate by {ca.name}", ca.name)
    return nullcontext(ca.signer)


def cross_certify(
    ws: Workspace,
    ca_name: str,
    profile: str,
    csr: bytes | str,
    *,
    now: int | None = None,
    actor: str | None = None,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    approvers: Sequence[tuple[str, str]] = (),
) -> CrossCertificate:
    """Issue the cross profile ``profile`` by CA ``ca_name`` to an external CA's
    request; PolicyError / CaRequestError and nothing stored when it may not be.
    ``approvers``: the (person, role) pairs who approved it, checked against the
    profile's ``approval`` rule (RFC 3647 §5.2.2; ApprovalError when unmet)."""
    prof = ws.profile_set.cross_profile(profile)
    ca = ws.ca(ca_name)
    if prof.issuer != ca.name:
        raise PolicyError(
            f"cross profile {prof.name} is issued by CA {prof.issuer}, not {ca.name} "
            f"(§{prof.section})"
        )
    generations.check_may_issue(ca)
    if prof.approval is not None:
        unmet = prof.approval.unmet(approvers)
        if unmet is not None:
            raise ApprovalError(
                f"cross profile {prof.name} needs the approval of "
                f"{prof.approval.describe()}: {unmet}"
            )
    req = ca_request.read_ca_request(csr)
    where = f"cross profile {prof.name} (§{prof.section})"
    _check_key(prof, req)
    subject, strings = _subject(prof, req)
    ca_request.check_path_len(req, prof.path_len_limit, where)
    eku = next((e for e in prof.extensions if e["type"] == "extended_key_usage"), None)
    ca_request.check_eku(req, None if eku is None else list(eku["purposes"]), where)
    ca_request.check_name_space(req, _permitted(prof, subject), where)
    now = int(time.time()) if now is None else int(now)
    # The issuer cannot vouch past its own notAfter: the validity is cut there.
    not_after = min(prof.validity.not_after(now), ca.not_after)
    spec = prof.template_spec_json(
        subject, key_id=req.key_id, path_len=_path_len(prof, req), name_strings=strings
    )
    template = _native.Template.for_issuer(spec, ca.certificate, ca.spec.signature_algorithm)
    store = ws.store
    with _signer(ws, ca, root_halves) as signer:
        der = signers.issue_certificates(
            template,
            signer,
            serials=_native.generate_serials(1),
            not_before=np.array([now], dtype=np.int64),
            not_after=np.array([not_after], dtype=np.int64),
            subjects=[list(subject)],
            spkis=[req.spki],
        )[0]
    cert = x509.load_der_x509_certificate(der)
    serial = format(cert.serial_number, "x")
    text = cert.subject.rfc4514_string()
    row = CertificateRow(
        serial, text, prof.name, now, not_after, der, now, hashlib.sha256(req.spki).digest()
    )
    # RFC 3647 §5.4.1: who approved it, where the profile asks for approval.
    extra: dict[str, Any] = {"approvers": [list(a) for a in approvers]} if approvers else {}
    with store.transaction():
        store.insert_certificates(ca.name, [row])
        audit.record(
            store,
            audit.Event.CROSS_CERTIFICATE_ISSUED,
            actor=actor,
            subject=text,
            serial=serial,
            ca=ca.name,
            profile=prof.name,
            section=prof.section,
            not_after=not_after,
            key_id_from_request=req.key_id is not None,
            request_sha256=hashlib.sha256(req.der).hexdigest(),
            fingerprint_sha256=hashlib.sha256(der).hexdigest(),
            **extra,
        )
    path = ca_bundle.flat_path(ws, prof.name)
    write_atomically(path, der)
    publish_ca_certificates(ws, publication_map(ws), actor=actor)
    return CrossCertificate(ca.name, der, serial, path)


def load_certificate(data: bytes | str, what: str) -> x509.Certificate:
    """One certificate, PEM or DER; CrossImportError otherwise."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise CrossImportError(f"{what} is not a certificate: {exc}") from None


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _issuer_stem(issuer: x509.Certificate) -> str:
    """A file-name stem for the issuer: its CN in lower-case letters, digits and '-',
    else the start of its certificate's SHA-256."""
    cns = issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    stem = re.sub(r"[^a-z0-9]+", "-", str(cns[0].value).lower()).strip("-") if cns else ""
    return stem or hashlib.sha256(issuer.public_bytes(Encoding.DER)).hexdigest()[:16]


def import_cross_certificate(
    ws: Workspace,
    ca_name: str,
    certificate: bytes | str,
    issuer_certificate: bytes | str,
    *,
    now: int | None = None,
    actor: str | None = None,
) -> CrossCertificate:
    """Import a cross-certificate another CA issued to our CA ``ca_name``: checked,
    stored, audited and published; CrossImportError (or StoreError for one imported
    already) and nothing stored otherwise."""
    ca = ws.ca(ca_name)
    cert = load_certificate(certificate, "the cross-certificate")
    issuer = load_certificate(issuer_certificate, "the issuer certificate")
    ours = x509.load_der_x509_certificate(ca.certificate)
    if cert.subject != ours.subject:
        raise CrossImportError(
            f"the certificate's subject is {cert.subject.rfc4514_string()}; CA {ca.name} "
            f"is {ours.subject.rfc4514_string()}"
        )
    if _spki(cert) != _spki(ours):
        raise CrossImportError(f"the certificate certifies another key than CA {ca.name}'s")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CrossImportError(
            "the certificate is not a CA certificate (basicConstraints cA, RFC 5280 §4.2.1.9)"
        )
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        raise CrossImportError(
            "the certificate's signature does not verify under the issuer certificate's key"
        ) from None
    except (ValueError, TypeError) as exc:  # issuer name differs, or an unusable key
        raise CrossImportError(
            f"the certificate is not issued by the issuer given: {exc}"
        ) from None
    now = int(time.time()) if now is None else int(now)
    not_after = int(cert.not_valid_after_utc.timestamp())
    if not_after < now:
        raise CrossImportError("the certificate has expired (RFC 5280 §4.1.2.5)")
    der = cert.public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    name = f"{ca.name}-cross-{_issuer_stem(issuer)}"
    path = ca_bundle.flat_path(ws, name)
    serial = format(cert.serial_number, "x")
    row = cross.ImportedCross(
        ca.name,
        cert.issuer.rfc4514_string(),
        serial,
        int(cert.not_valid_before_utc.timestamp()),
        not_after,
        der,
        issuer.public_bytes(Encoding.DER),
        digest,
        str(path.relative_to(ws.path)),
    )
    store = ws.store
    with store.transaction():
        if not cross.insert_imported(store.conn, row, now):
            raise StoreError(f"this cross-certificate of CA {ca.name} is imported already")
        audit.record(
            store,
            audit.Event.CROSS_CERTIFICATE_IMPORTED,
            actor=actor,
            subject=cert.subject.rfc4514_string(),
            serial=serial,
            ca=ca.name,
            issuer=row.issuer,
            not_after=not_after,
            file=row.file,
            fingerprint_sha256=digest,
        )
    write_atomically(path, der)
    publish_ca_certificates(ws, publication_map(ws), actor=actor)
    return CrossCertificate(ca.name, der, serial, path)
