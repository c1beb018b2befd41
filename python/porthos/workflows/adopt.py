"""Taking over an existing CA (issue 21 §3): a CA certificate and its key made outside
porthos (a root that exists today, its key in a file or in the workspace's HSM token)
become the CA of the same name in the workspace.

The CP/CPS names the CA (``[cas.<name>]``): the certificate must be that CA's (same
subject, key type, a self-signed root for a root, issued by the parent CA otherwise,
with the profile's signature algorithm for a root), a CA certificate (basicConstraints
cA, keyUsage keyCertSign), valid now, and the key must be its key (one test signature,
issuance/key_checks.py). The CA the workspace made for that name at init must not
have issued any end-entity certificate yet (they would name a key that is gone); the
subordinate CAs it signed are re-certified under the adopted key (their keys, names
and validity unchanged, so what they issued still chains). Every check runs before
anything is written; the store changes in one transaction with its audit records
(``ca.adopted``, ``ca.recertified``); a refusal stores nothing and is audited as a
failure (RFC 3647 §5.4.1).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from porthos import _native, hsm
from porthos.cpcps.profiles import CaProfile
from porthos.exceptions import KeyMaterialError, LifecycleError, PolicyError, WorkspaceError
from porthos.issuance import signers
from porthos.issuance.key_checks import certificate_spki, check_key_pair
from porthos.issuance.names import subject_text
from porthos.store import audit
from porthos.workspace.authority import CertificateAuthority
from porthos.workspace.hierarchy import KEYS_DIR, REPOSITORY_DIR, write_private

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = ["AdoptResult", "adopt", "load_ca_certificate"]

_SIGNATURE_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "rsa-pkcs1-sha256",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "rsa-pkcs1-sha384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-sha256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-sha384",
}
_SHORT = {
    x509.NameOID.COUNTRY_NAME: "C",
    x509.NameOID.STATE_OR_PROVINCE_NAME: "ST",
    x509.NameOID.LOCALITY_NAME: "L",
    x509.NameOID.ORGANIZATION_NAME: "O",
    x509.NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    x509.NameOID.COMMON_NAME: "CN",
    x509.NameOID.SERIAL_NUMBER: "serialNumber",
    x509.NameOID.DOMAIN_COMPONENT: "DC",
}


@dataclass
class AdoptResult:
    ca: str
    serial_hex: str
    key_ref: str
    #: Subordinate CAs whose certificates were re-issued under the adopted key.
    recertified: list[str] = field(default_factory=list)


def load_ca_certificate(data: bytes) -> x509.Certificate:
    """A certificate, PEM or DER (KeyMaterialError when it is neither)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise KeyMaterialError(f"--cert: not a PEM or DER X.509 certificate ({exc})") from None


def _key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(key.curve.name, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(key).__name__


def _name(cert_name: x509.Name) -> tuple[tuple[str, str], ...]:
    return tuple((_SHORT.get(a.oid, a.oid.dotted_string), str(a.value)) for a in cert_name)


def _spec_for(ws: Workspace, cert: x509.Certificate, name: str | None) -> CaProfile:
    """The CP/CPS's CA this certificate is (named, or found by its subject)."""
    ps = ws.profile_set
    subject = _name(cert.subject)
    if name is None:
        found = [s for s in ps.cas.values() if s.subject == subject]
        if not found:
            raise PolicyError(
                f"no CA of {ps.name} has the subject {subject_text(subject)}; CAs: "
                f"{', '.join(ps.cas)} (name one with --name)"
            )
        return found[0]
    spec = ps.cas.get(name)
    if spec is None:
        raise PolicyError(f"no CA {name!r} in {ps.name}; CAs: {', '.join(ps.cas)}")
    if spec.subject != subject:
        raise PolicyError(
            f"the certificate's subject {subject_text(subject)} is not CA {name}'s "
            f"({subject_text(spec.subject)}, {ps.name} §{spec.section})"
        )
    return spec


def _check_certificate(ws: Workspace, cert: x509.Certificate, spec: CaProfile, now: int) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise PolicyError(
            "the certificate is not a CA certificate (no basicConstraints cA TRUE, RFC 5280 "
            "§4.2.1.9): only a CA can be adopted"
        )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            raise PolicyError("the certificate's keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3)")
    except x509.ExtensionNotFound:
        pass
    not_after = int(cert.not_valid_after_utc.timestamp())
    if not_after <= now:
        raise LifecycleError(
            f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}: "
            "an expired CA signs nothing (RFC 5280 §4.1.2.5)"
        )
    if int(cert.not_valid_before_utc.timestamp()) > now:
        raise LifecycleError(
            f"the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d}"
        )
    key_type = _key_type(cert)
    if key_type != spec.key_type:
        raise PolicyError(
            f"the certificate's key is {key_type}; CA {spec.name} is {spec.key_type} "
            f"({ws.profile_set.name} §{spec.section})"
        )
    issuer_cert = cert
    if spec.self_signed:
        algorithm = _SIGNATURE_NAMES.get(cert.signature_algorithm_oid)
        if algorithm != spec.signature_algorithm:
            raise PolicyError(
                f"the certificate is signed with {algorithm or cert.signature_algorithm_oid}; "
                f"root {spec.name} signs with {spec.signature_algorithm}"
            )
    else:
        # A sub CA is adopted under the issuer its CP/CPS entry names, which the
        # workspace holds: its chain is the workspace's own, so no --chain is taken. A
        # certificate from another issuer (an external root) is refused with what to
        # do: adopt that root first, or certify the CA as external (cross-certify).
        issuer_cert = x509.load_der_x509_certificate(ws.ca(spec.issuer).certificate)
        if cert.issuer != issuer_cert.subject:
            raise PolicyError(
                f"the certificate's issuer {cert.issuer.rfc4514_string()} is not CA "
                f"{spec.issuer} ({issuer_cert.subject.rfc4514_string()}), which issues "
                f"{spec.name} in {ws.profile_set.name} §{spec.section}: adopt its issuer "
                "first (porthos adopt --cert ISSUER.crt), or certify an external CA with "
                "porthos cross-certify"
            )
    try:
        cert.verify_directly_issued_by(issuer_cert)
    except (ValueError, TypeError, InvalidSignature):
        who = "itself (a self-signed root)" if spec.self_signed else f"CA {spec.issuer}"
        raise PolicyError(f"the certificate is not signed by {who}") from None


def _software_key(key_file: Path, spec: CaProfile) -> tuple[_native.SoftwareKey, bytes]:
    """The key file (PEM: PKCS#8 or traditional; DER: PKCS#8) as PKCS#8 DER."""
    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"--key-file: cannot read {key_file}: {exc}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            if b"ENCRYPTED" in data:
                raise KeyMaterialError(
                    "--key-file: an encrypted key; decrypt it first (the CA key file is "
                    "kept 0600 in the workspace, as every software CA key)"
                )
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"--key-file: not a private key ({exc})") from None
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        return _native.SoftwareKey.from_pkcs8(der, spec.signature_algorithm), der
    except ValueError as exc:
        raise KeyMaterialError(f"--key-file: {exc}") from None


def adopt(
    ws: Workspace,
    certificate: bytes,
    *,
    key_file: Path | None = None,
    key_uri: str | None = None,
    pin: hsm.Secret | None = None,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    name: str | None = None,
    now: int | None = None,
    actor: str | None = None,
) -> AdoptResult:
    """Adopt a CA: ``certificate`` (PEM or DER) with its key in ``key_file`` (software
    workspace) or at ``key_uri`` (a PKCS#11 URI in the workspace's token: the root
    token under ``root_halves`` for a root, the issuing token under ``pin`` otherwise).
    Refusals raise a PorthosError and are audited; nothing is stored then."""
    actor = actor or audit.default_actor()
    try:
        return _adopt(ws, certificate, key_file, key_uri, pin, root_halves, name, now, actor)
    except Exception as exc:
        audit.record_failure(ws.store, audit.Event.CA_ADOPTED, exc, actor=actor, ca=name)
        raise


def _adopt(
    ws: Workspace,
    certificate: bytes,
    key_file: Path | None,
    key_uri: str | None,
    pin: hsm.Secret | None,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
    name: str | None,
    now: int | None,
    actor: str,
) -> AdoptResult:
    now = int(time.time()) if now is None else int(now)
    if (key_file is None) == (key_uri is None):
        raise KeyMaterialError("give the CA's key: exactly one of --key-file, --key-uri")
    cert = load_ca_certificate(certificate)
    der = cert.public_bytes(serialization.Encoding.DER)
    spec = _spec_for(ws, cert, name)
    _check_certificate(ws, cert, spec, now)
    old = ws.ca(spec.name)
    if old.status != "active":
        raise LifecycleError(f"CA {spec.name} is {old.status}; only an active CA is adopted")
    issued = ws.store.count_certificates(spec.name)
    if issued:
        raise LifecycleError(
            f"CA {spec.name} has issued {issued} certificate(s) under the key porthos made "
            "for it: adopting another key now would orphan them"
        )
    children = [ca for ca in ws.cas_of(old.generation) if ca.parent == spec.name and ca is not old]

    opened: signers.Pkcs11Signer | None = None
    written: list[Path] = []
    try:
        if key_file is not None:
            if ws.hsm is not None:
                raise WorkspaceError(
                    f"{ws.path} keeps its CA keys in the HSM: adopt with --key-uri "
                    "(a key in the workspace's token), not a key file"
                )
            key, pkcs8 = _software_key(key_file, spec)
            check_key_pair(key, der, f"--key-file {key_file}")
            signer: signers.Signer = key
            key_ref = f"{KEYS_DIR}/{spec.name}-adopted.p8"
            mode = "software"
        else:
            assert key_uri is not None
            ref = hsm.HsmKeyRef.parse(key_uri)
            if ref is None:
                raise KeyMaterialError(f"--key-uri {key_uri!r} is not a PKCS#11 URI")
            if ws.hsm is None:
                raise WorkspaceError(
                    f"{ws.path} keeps software keys: adopt with --key-file, or make an HSM "
                    "workspace (porthos init --hsm)"
                )
            token = ws.hsm.root_token if spec.self_signed else ws.hsm.issuing_token
            if ref.token != token:
                raise KeyMaterialError(
                    f"--key-uri names token {ref.token!r}; the key of "
                    f"{'root' if spec.self_signed else 'CA'} {spec.name} must be in the "
                    f"workspace's token {token!r}"
                )
            if spec.self_signed:
                if not root_halves:
                    raise LifecycleError(
                        "a root key is activated by two officers' PIN halves (RFC 3647 "
                        "§6.2.2, --root-officer)"
                    )
                key_pin, _officers = hsm.dual_control_pin(root_halves)
            else:
                if pin is None:
                    raise LifecycleError("the issuing-CA token's PIN is needed (--pin-file)")
                key_pin = pin
            ws.hsm.activate_module(ws.path)
            opened = signers.Pkcs11Signer(
                ws.hsm.module, ref.token, ref.label, key_pin, spec.signature_algorithm, sessions=1
            )
            check_key_pair(opened, der, f"--key-uri {key_uri}")
            signer = opened
            key_ref = ref.uri()
            mode = "hsm"

        # The subordinate CAs re-certified under the adopted key: same key, subject and
        # extensions; valid from now to their profile's end, never past the new issuer.
        recert: dict[str, bytes] = {}
        issuer_not_after = int(cert.not_valid_after_utc.timestamp())
        for child in children:
            template = _native.Template.for_issuer(
                child.spec.template_spec_json(), der, spec.signature_algorithm
            )
            recert[child.name] = bytes(
                signers.issue_certificates(
                    template,
                    signer,
                    serials=_native.generate_serials(1),
                    not_before=np.array([now], dtype=np.int64),
                    not_after=np.array(
                        [min(child.spec.validity.not_after(now), issuer_not_after)],
                        dtype=np.int64,
                    ),
                    subjects=[list(child.spec.subject)],
                    spkis=[certificate_spki(child.certificate)],
                )[0]
            )

        if key_file is not None:
            try:
                write_private(ws.path / key_ref, pkcs8)
            except FileExistsError:
                raise WorkspaceError(f"{ws.path / key_ref} exists already") from None
            written.append(ws.path / key_ref)

        store = ws.store
        with store.transaction():
            store.replace_ca(spec.name, der, key_ref)
            audit.record(
                store,
                audit.Event.CA_ADOPTED,
                actor=actor,
                subject=subject_text(spec.subject),
                serial=format(cert.serial_number, "x"),
                ca=spec.name,
                key_ref=key_ref,
                key_type=spec.key_type,
                mode=mode,
                not_after=issuer_not_after,
                fingerprint_sha256=hashlib.sha256(der).hexdigest(),
                replaced_fingerprint_sha256=hashlib.sha256(old.certificate).hexdigest(),
            )
            for child_name, child_der in recert.items():
                store.replace_ca(child_name, child_der)
                c = x509.load_der_x509_certificate(child_der)
                audit.record(
                    store,
                    audit.Event.CA_RECERTIFIED,
                    actor=actor,
                    subject=subject_text(ws.ca(child_name).spec.subject),
                    serial=format(c.serial_number, "x"),
                    ca=child_name,
                    issuer=spec.name,
                    not_after=int(c.not_valid_after_utc.timestamp()),
                    fingerprint_sha256=hashlib.sha256(child_der).hexdigest(),
                )
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    finally:
        if opened is not None:
            opened.close()

    # Committed: the repository files, and the workspace's CA objects, follow.
    for ca_name, ca_der in [(spec.name, der), *recert.items()]:
        tmp = ws.path / REPOSITORY_DIR / f".{ca_name}.crt.tmp"
        tmp.write_bytes(ca_der)
        os.replace(tmp, ws.path / REPOSITORY_DIR / f"{ca_name}.crt")
        ca = ws.ca(ca_name)
        ca.close()
        fresh = CertificateAuthority(ws, ca.spec, ws.store.ca(ca_name))
        fresh.generation, fresh.status, fresh.profile_set = (
            ca.generation,
            ca.status,
            ca.profile_set,
        )
        ws._cas[ca_name] = fresh
    if key_file is not None and old.hsm_ref is None:
        # The key porthos generated for the name signs nothing any more.
        (ws.path / old.key_ref).unlink(missing_ok=True)
    return AdoptResult(
        ca=spec.name,
        serial_hex=format(cert.serial_number, "x"),
        key_ref=key_ref,
        recertified=list(recert),
    )
