"""``porthos adopt --key-uri`` of a *subordinate* CA (issue 21 §3): a P-384 key
generated in the issuing-CA token by python-pkcs11 (not by porthos), its certificate
built by pyca and signed in the root token by python-pkcs11 with the workspace's ECC
root key. Taken over by the HSM workspace with the issuing token's PIN; it then issues
a TLS certificate, publishes its CRL and pre-signs OCSP through a responder it
certifies, all accepted by ``openssl verify -crl_check`` and ``openssl ocsp``.

Refused with exit 2, one line, nothing stored: the certificate with a URI naming another
key of the token (the key-mismatch check on the HSM path), and a certificate of the same
key issued by a root the workspace does not hold (no ``--chain``: the issuer must be the
workspace's CA the CP/CPS names, docs/secom.md).

Its own process (``python tests/test_adopt_sub_hsm.py DIR``), as test_adopt_hsm.py:
one process uses one SoftHSM2 configuration. It writes DIR/result.json."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from porthos import hsm
from porthos.workspace.workspace import Workspace
from test_adopt_hsm import ECDSA_SHA384, _pins, _tlv, cli

SUB = "secom-tls-ecc-ca-1"
ROOT = "secom-ecc-rootca1"
LABEL = "tls-ecc-ca-made-elsewhere"
OTHER = "another-p384-key"


def _generate(session: object, label: str) -> bytes:
    """A P-384 key pair in the token (python-pkcs11); returns its SPKI."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    params = session.create_domain_parameters(  # type: ignore[attr-defined]
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp384r1")}, local=True
    )
    pub, _priv = params.generate_keypair(store=True, label=label)
    return bytes(encode_ec_public_key(pub))


def _sub_tbs(model: x509.Certificate, issuer: x509.Name, spki: bytes, aki_from: object) -> bytes:
    """The TBS of a sub-CA certificate for ``spki``: the subject and extensions of the
    CA porthos made at init (``model``), its SKI the new key's, issued by ``issuer``."""
    public = serialization.load_der_public_key(spki)
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(model.subject)
        .issuer_name(issuer)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=5 * 365))
    )
    for ext in model.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(public)  # type: ignore[arg-type]
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            value = x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_from)  # type: ignore[arg-type]
        b = b.add_extension(value, critical=ext.critical)
    # Signed first by a throw-away key: the TBS (ecdsa-with-SHA384) is kept.
    return b.sign(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()).tbs_certificate_bytes


def _certificate(tbs: bytes, raw_signature: bytes) -> bytes:
    half = len(raw_signature) // 2
    sig = encode_dss_signature(
        int.from_bytes(raw_signature[:half]), int.from_bytes(raw_signature[half:])
    )
    return _tlv(0x30, tbs + ECDSA_SHA384 + _tlv(0x03, b"\x00" + sig))


def _make_certificates(
    ws: Workspace, user_pin: hsm.Secret, root_pin: hsm.Secret
) -> dict[str, bytes]:
    """The sub CA's key (and another) in the issuing token; its certificate signed in
    the root token by the ECC root's key; the same key certified by an outside root."""
    from pkcs11 import KeyType, Mechanism, ObjectClass

    assert ws.hsm is not None
    ws.hsm.activate_module(ws.path)
    model = x509.load_der_x509_certificate(ws.ca(SUB).certificate)
    root = x509.load_der_x509_certificate(ws.ca(ROOT).certificate)
    with hsm.user_session(ws.hsm.module, ws.hsm.issuing_token, user_pin, rw=True) as s:
        spki = _generate(s, LABEL)
        _generate(s, OTHER)
    tbs = _sub_tbs(model, root.subject, spki, root.public_key())
    with hsm.user_session(ws.hsm.module, ws.hsm.root_token, root_pin) as s:
        key = s.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=ROOT)
        raw = key.sign(hashlib.sha384(tbs).digest(), mechanism=Mechanism.ECDSA)
    # An outside root, with a key of its own (pyca), for the unknown-issuer refusal.
    outside_key = ec.generate_private_key(ec.SECP384R1())
    outside = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root")])
    foreign = _sub_tbs(model, outside, spki, outside_key.public_key())
    foreign_sig = outside_key.sign(foreign, ec.ECDSA(hashes.SHA384()))
    foreign_der = _tlv(0x30, foreign + ECDSA_SHA384 + _tlv(0x03, b"\x00" + foreign_sig))
    return {
        "sub": _certificate(tbs, bytes(raw)),
        "foreign": foreign_der,
        "root": root.public_bytes(serialization.Encoding.DER),
    }


def _csr(d: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.secomtrust.net")]))
        .sign(key, hashes.SHA256())
    )
    path = d / "leaf.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def scenario(d: Path) -> dict[str, object]:
    pins = _pins(d)
    w = d / "w"
    officers = ["--root-officer", f"alice={pins['alice']}", "--root-officer", f"bob={pins['bob']}"]
    user = ["--pin-file", str(pins["user"])]
    out: dict[str, object] = {}
    r = cli(
        "init", "-w", str(w), "--cpcps", "secom", "--hsm", "softhsm",
        "--so-pin-file", str(pins["so"]), *user, *officers,
    )  # fmt: skip
    out["init"] = [r.exit_code, r.output]
    root_pin = hsm.Secret(pins["alice"].read_bytes() + pins["bob"].read_bytes())
    user_pin = hsm.Secret(pins["user"].read_bytes())
    with Workspace.open(w) as ws:
        certs = _make_certificates(ws, user_pin, root_pin)
        assert ws.hsm is not None
        token = ws.hsm.issuing_token
        before = [[row.name, row.certificate.hex(), row.key_ref] for row in ws.store.cas()]
    for name, der in certs.items():
        (d / f"{name}.crt").write_bytes(der)
    uri = f"pkcs11:token={token};object={LABEL};type=private"
    wrong = f"pkcs11:token={token};object={OTHER};type=private"
    out["uri"] = uri
    # Refusals first: each leaves the store as it was.
    r = cli("adopt", "-w", str(w), "--cert", str(d / "sub.crt"), "--key-uri", wrong, *user)
    out["mismatch"] = [r.exit_code, r.output]
    r = cli("adopt", "-w", str(w), "--cert", str(d / "foreign.crt"), "--key-uri", uri, *user)
    out["foreign"] = [r.exit_code, r.output]
    with Workspace.open(w) as ws:
        after = [[row.name, row.certificate.hex(), row.key_ref] for row in ws.store.cas()]
    out["unchanged"] = after == before
    r = cli("adopt", "-w", str(w), "--cert", str(d / "sub.crt"), "--key-uri", uri, *user)
    out["adopt"] = [r.exit_code, r.output]
    r = cli(
        "issue", "-w", str(w), "-p", "tls-server-ecc", "--csr", str(_csr(d)),
        "--out", str(d / "leaf.pem"), *user,
    )  # fmt: skip
    out["issue"] = [r.exit_code, r.output]
    r = cli("crl", "publish", "-w", str(w), "--all", *user, *officers)
    out["publish"] = [r.exit_code, r.output]
    r = cli("ocsp", "rotate-responder", "-w", str(w), "--ca", SUB, *user)
    out["ocsp"] = [r.exit_code, r.output]
    with Workspace.open(w) as ws:
        out["key_ref"] = ws.ca(SUB).key_ref
    # What the CRL and OCSP checks read, as it is before the changeover below.
    before = d / "before"
    shutil.copytree(w / "ocsp" / SUB, before / "ocsp")
    for name in (ROOT, SUB):
        shutil.copy(w / "repository" / f"{name}.crl", before / f"{name}.crl")
    # A changeover retires the adopted CA; 40 days on its first responder (30 days) has
    # expired, and the retired key, in the token, certifies the next one (issue 21 §5,
    # ocsp_presign.retired_ocsp_cas) after its CRL of that day.
    r = cli("rollover", "-w", str(w), *user, *officers)
    out["rollover"] = [r.exit_code, r.output]
    t = int(time.time()) + 40 * 86400
    out["t"] = t
    r = cli("crl", "publish", "-w", str(w), "--ca", SUB, "--now", f"@{t}", *user)
    out["retired_crl"] = [r.exit_code, r.output]
    r = cli("ocsp", "rotate-responder", "-w", str(w), "--ca", SUB, "--now", f"@{t}", *user)
    out["retired_ocsp"] = [r.exit_code, r.output]
    return out


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    d = tmp_path_factory.mktemp("adopt-sub-hsm")
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root / "python"), str(root / "tests")]),
    }
    r = subprocess.run(
        [sys.executable, __file__, str(d)], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return d, json.loads((d / "result.json").read_text())


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    assert openssl is not None
    return subprocess.run([openssl, *args], capture_output=True, text=True, check=False)


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def test_refusals_on_the_hsm_path_store_nothing(result: tuple[Path, dict[str, object]]) -> None:
    _d, out = result
    assert out["init"][0] == 0, out["init"]  # type: ignore[index]
    code, said = out["mismatch"]  # type: ignore[misc]
    assert code == 2 and len(said.strip().splitlines()) == 1, said
    assert "is not the key of its certificate" in said and "[key]" in said
    code, said = out["foreign"]  # type: ignore[misc]
    assert code == 2 and len(said.strip().splitlines()) == 1, said
    assert "CN=Some Other Root" in said and "adopt its issuer first" in said
    assert "[policy]" in said
    assert out["unchanged"] is True


def test_adopted_sub_ca_issues_publishes_and_answers_ocsp(
    result: tuple[Path, dict[str, object]],
) -> None:
    d, out = result
    code, said = out["adopt"]  # type: ignore[misc]
    assert code == 0, said
    assert out["key_ref"] == out["uri"]
    for step in ("issue", "publish", "ocsp"):
        assert out[step][0] == 0, out[step]  # type: ignore[index]
    sub_der = (d / "sub.crt").read_bytes()
    sub = x509.load_der_x509_certificate(sub_der)
    repo = d / "w" / "repository"
    assert (repo / f"{SUB}.crt").read_bytes() == sub_der
    before = d / "before"  # the CRLs and responses before the changeover
    leaf = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    leaf.verify_directly_issued_by(sub)  # signed in the token by the adopted key
    crl = x509.load_der_x509_crl((before / f"{SUB}.crl").read_bytes())
    assert crl.is_signature_valid(sub.public_key())  # type: ignore[arg-type]
    # openssl: root -> adopted sub CA -> leaf, with both CRLs.
    (d / "root.pem").write_bytes(_pem((d / "root.crt").read_bytes()))
    (d / "sub.pem").write_bytes(_pem(sub_der))
    crls = d / "crls.pem"
    crls.write_bytes(
        b"".join(
            x509.load_der_x509_crl((before / f"{n}.crl").read_bytes()).public_bytes(
                serialization.Encoding.PEM
            )
            for n in (ROOT, SUB)
        )
    )
    r = _openssl(
        "verify", "-x509_strict", "-crl_check_all", "-CAfile", str(d / "root.pem"),
        "-untrusted", str(d / "sub.pem"), "-CRLfile", str(crls), str(d / "leaf.pem"),
    )  # fmt: skip
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    # OCSP: the responder the adopted key certified answers "good" for the leaf.
    folder = before / "ocsp"
    lines = (folder / "index.tsv").read_text().splitlines()[1:]
    (row,) = [
        x.split("\t") for x in lines
        if int(x.split("\t")[0], 16) == leaf.serial_number and x.split("\t")[1] == "sha1"
    ]  # fmt: skip
    (d / "chain.pem").write_bytes((d / "root.pem").read_bytes() + (d / "sub.pem").read_bytes())
    r = _openssl(
        "ocsp", "-respin", str(folder / row[-1]), "-issuer", str(d / "sub.pem"),
        "-CAfile", str(d / "chain.pem"), "-resp_text",
    )  # fmt: skip
    said = r.stdout + r.stderr
    assert r.returncode == 0 and "Response verify OK" in said, said
    assert "Cert Status: good" in said


def test_the_retired_adopted_ca_renews_its_responder_in_the_token(
    result: tuple[Path, dict[str, object]],
) -> None:
    d, out = result
    for step in ("rollover", "retired_crl", "retired_ocsp"):
        assert out[step][0] == 0, out[step]  # type: ignore[index]
    assert f"{SUB}: " in out["retired_ocsp"][1]  # type: ignore[index]
    sub = x509.load_der_x509_certificate((d / "sub.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    folder = d / "w" / "ocsp" / SUB
    lines = (folder / "index.tsv").read_text().splitlines()[1:]
    (row,) = [
        x.split("\t") for x in lines
        if int(x.split("\t")[0], 16) == leaf.serial_number and x.split("\t")[1] == "sha256"
    ]  # fmt: skip
    from cryptography.x509 import ocsp

    resp = ocsp.load_der_ocsp_response((folder / row[-1]).read_bytes())
    (responder,) = resp.certificates
    responder.verify_directly_issued_by(sub)  # signed by the retired, adopted key
    assert int(resp.produced_at_utc.timestamp()) == out["t"]
    # Its key was made in the issuing token: a PKCS#11 URI, no key file.
    keys = [p for p in (d / "w" / "keys").rglob("*") if p.is_file() and SUB in str(p)]
    assert keys and all(p.suffix == ".uri" for p in keys), keys
    (d / "chain.pem").write_bytes((d / "root.pem").read_bytes() + (d / "sub.pem").read_bytes())
    r = _openssl(
        "ocsp", "-respin", str(folder / row[-1]), "-issuer", str(d / "sub.pem"),
        "-CAfile", str(d / "chain.pem"), "-attime", str(int(out["t"]) + 60), "-resp_text",  # type: ignore[call-overload]
    )  # fmt: skip
    said = r.stdout + r.stderr
    assert r.returncode == 0 and "Response verify OK" in said, said
    assert "Cert Status: good" in said


if __name__ == "__main__":
    where = Path(sys.argv[1])
    (where / "result.json").write_text(json.dumps(scenario(where)))
