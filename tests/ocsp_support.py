"""Fixtures for the OCSP responder tests: a CA, a delegated responder and leaf
certificates made with pyca, and pre-signed responses written in the on-disk contract
of ``porthos ocsp presign`` (docs/ocsp-responder.md) by pyca's OCSPResponseBuilder.

``PycaOnDemandSigner`` has the interface of ``OnDemandSigner`` in
porthos.workflows.ocsp_presign (``OnDemandSigner(workdir).sign(ca_name, serial, hash,
nonce) -> bytes``); the server gets it through ``--signer ocsp_support:PycaOnDemandSigner``
so these tests do not depend on the pre-signing engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
UTC = dt.UTC
#: Where the signer's private state lives (not part of the presign contract).
STATE = "ocsp-test-state"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    serial: int,
    *,
    ca: bool = False,
    ocsp_signing: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if ocsp_signing:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
        b = b.add_extension(x509.OCSPNoCheck(), False)
    return b.sign(signer, hashes.SHA256())


@dataclass
class Pki:
    """A CA with a delegated responder and leaves: ``good``, ``revoked``, ``unknown``
    (issued, but absent from the index)."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    responder_key: ec.EllipticCurvePrivateKey
    responder: x509.Certificate
    leaves: dict[str, x509.Certificate] = field(default_factory=dict)


def make_pki(name: str) -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(name, key, _name(name), key, 1, ca=True)
    rkey = ec.generate_private_key(ec.SECP256R1())
    responder = _cert(f"{name} OCSP", rkey, ca.subject, key, 2, ocsp_signing=True)
    pki = Pki(name, key, ca, rkey, responder)
    for i, label in enumerate(["good", "revoked", "unknown"]):
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        pki.leaves[label] = _cert(f"{label}.example", leaf_key, ca.subject, key, 0x1000 + i)
    return pki


def pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


#: serial → (status, revocation time, reason) as the index and the signer know it.
Statuses = dict[int, tuple[str, int | None, str | None]]


def sign_response(
    pki: Pki,
    serial: int,
    hash_name: str,
    status: tuple[str, int | None, str | None] | None,
    this_update: int,
    next_update: int,
    nonce: bytes | None = None,
) -> bytes:
    """One BasicOCSPResponse by the delegated responder (byKey, with its certificate)."""
    algo = HASHES[hash_name]
    state, rev_time, reason = status or ("unknown", None, None)
    cert_status = {
        "good": ocsp.OCSPCertStatus.GOOD,
        "revoked": ocsp.OCSPCertStatus.REVOKED,
        "unknown": ocsp.OCSPCertStatus.UNKNOWN,
    }[state]
    b = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=_hash(algo, pki.cert.subject.public_bytes()),
        issuer_key_hash=_hash(algo, _key_bits(pki.cert)),
        serial_number=serial,
        algorithm=algo,
        cert_status=cert_status,
        this_update=dt.datetime.fromtimestamp(this_update, UTC),
        next_update=dt.datetime.fromtimestamp(next_update, UTC),
        revocation_time=dt.datetime.fromtimestamp(rev_time, UTC) if rev_time else None,
        revocation_reason=x509.ReasonFlags[reason] if reason else None,
    )
    b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, pki.responder).certificates(
        [pki.responder]
    )
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    resp = b.sign(pki.responder_key, hashes.SHA256())
    return resp.public_bytes(serialization.Encoding.DER)


def _hash(algo: hashes.HashAlgorithm, data: bytes) -> bytes:
    return hashlib.new(algo.name, data).digest()


def _key_bits(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def write_ca(
    workdir: Path,
    pki: Pki,
    statuses: Statuses,
    *,
    nonce: str = "echo",
    hashes_: tuple[str, ...] = ("sha1", "sha256"),
    validity: int = 3600,
) -> Path:
    """W/ocsp/<CA>/: issuer.der, config.json, responses/<hash>/<SERIALHEX>.der and
    index.tsv (written last and moved into place, as presign does)."""
    folder = workdir / "ocsp" / pki.name
    now = int(dt.datetime.now(UTC).timestamp())
    this_update, next_update = now - 60, now + validity
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "issuer.der").write_bytes(pki.cert.public_bytes(serialization.Encoding.DER))
    (folder / "config.json").write_text(
        json.dumps({"nonce": nonce, "hashes": list(hashes_), "max_age_hint": validity})
    )
    rows = ["serial_hex\thash\tstatus\tthis_update\tnext_update\tproduced_at\tsha256_hex\tpath"]
    for hash_name in hashes_:
        (folder / "responses" / hash_name).mkdir(parents=True, exist_ok=True)
        for serial, status in statuses.items():
            der = sign_response(pki, serial, hash_name, status, this_update, next_update)
            rel = f"responses/{hash_name}/{serial:X}.der"
            (folder / rel).write_bytes(der)
            digest = hashlib.sha256(der).hexdigest()
            rows.append(
                f"{serial:X}\t{hash_name}\t{status[0]}\t{this_update}\t{next_update}\t{now}"
                f"\t{digest}\t{rel}"
            )
    tmp = folder / "index.tsv.tmp"
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, folder / "index.tsv")
    # The on-demand stand-in's own state: keys and statuses.
    state = workdir / STATE / pki.name
    state.mkdir(parents=True, exist_ok=True)
    (state / "responder.key").write_bytes(
        pki.responder_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (state / "responder.der").write_bytes(pki.responder.public_bytes(serialization.Encoding.DER))
    (state / "statuses.json").write_text(json.dumps({str(k): v for k, v in statuses.items()}))
    return folder


class PycaOnDemandSigner:
    """The ``OnDemandSigner`` interface, signing with pyca from the state write_ca left."""

    def __init__(self, workdir: str | Path) -> None:
        self.workdir = Path(workdir)

    def sign(self, ca_name: str, serial: bytes, hash: str, nonce: bytes | None) -> bytes:
        # The graceful-shutdown test needs a request that is still in flight.
        time.sleep(float(os.environ.get("OCSP_SUPPORT_SIGN_DELAY", "0")))
        state = self.workdir / STATE / ca_name
        folder = self.workdir / "ocsp" / ca_name
        key = serialization.load_pem_private_key((state / "responder.key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        pki = Pki(
            ca_name,
            key,
            x509.load_der_x509_certificate((folder / "issuer.der").read_bytes()),
            key,
            x509.load_der_x509_certificate((state / "responder.der").read_bytes()),
        )
        statuses = json.loads((state / "statuses.json").read_text())
        number = int.from_bytes(serial, "big")
        status = statuses.get(str(number))
        now = int(dt.datetime.now(UTC).timestamp())
        return sign_response(
            pki, number, hash, tuple(status) if status else None, now - 60, now + 3600, nonce
        )
