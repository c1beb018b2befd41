"""``porthos adopt --key-uri`` (issue 21 §3, §7): a root whose key was generated in
SoftHSM2 with python-pkcs11 (not by porthos) and whose certificate was signed there,
taken over by an HSM workspace under two officers' PIN halves; its ARL is then signed
in the token. A URI naming no key exits 2 and stores nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from porthos import hsm
from porthos.cli.main import main
from porthos.workspace.workspace import Workspace

ECC_ROOT = "secom-ecc-rootca1"
LABEL = "ecc-root-made-elsewhere"
#: AlgorithmIdentifier ecdsa-with-SHA384 (RFC 5758 §3.2: no parameters).
ECDSA_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _pins(d: Path) -> dict[str, Path]:
    pins = {"so": "so-pin-1234", "user": "user-pin-1234", "alice": "half-a-11", "bob": "half-b-22"}
    out = {}
    for name, value in pins.items():
        out[name] = d / f"{name}.pin"
        out[name].write_text(value)
        out[name].chmod(0o600)
    return out


def _root_in_token(ws: Workspace, pin: hsm.Secret) -> bytes:
    """A P-384 key generated in the root token by python-pkcs11, and a self-signed
    certificate for it whose signature the token makes (pyca builds the TBS only)."""
    from pkcs11 import Attribute, KeyType, Mechanism
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    assert ws.hsm is not None
    ws.hsm.activate_module(ws.path)
    with hsm.user_session(ws.hsm.module, ws.hsm.root_token, pin, rw=True) as s:
        params = s.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp384r1")},
            local=True,
        )
        pub, priv = params.generate_keypair(store=True, label=LABEL)
        spki = encode_ec_public_key(pub)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SECOM Trust Systems CO.,LTD."),
                x509.NameAttribute(NameOID.COMMON_NAME, "Security Communication ECC RootCA1"),
            ]
        )
        public = serialization.load_der_public_key(spki)
        now = dt.datetime.now(dt.UTC)
        # Signed first by a throw-away P-384 key: the TBS (ecdsa-with-SHA384) is kept and
        # signed again by the token.
        draft = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)  # type: ignore[arg-type]
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
        )
        tbs = draft.tbs_certificate_bytes
        raw = priv.sign(hashlib.sha384(tbs).digest(), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        sig = encode_dss_signature(int.from_bytes(raw[:half]), int.from_bytes(raw[half:]))
    return _tlv(0x30, tbs + ECDSA_SHA384 + _tlv(0x03, b"\x00" + sig))


@pytest.fixture(scope="module")
def hsm_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    d = tmp_path_factory.mktemp("adopt-hsm")
    pins = _pins(d)
    w = d / "w"
    r = cli(
        "init", "-w", str(w), "--cpcps", "secom", "--hsm", "softhsm",
        "--so-pin-file", str(pins["so"]), "--pin-file", str(pins["user"]),
        "--root-officer", f"alice={pins['alice']}", "--root-officer", f"bob={pins['bob']}",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return w, pins


def test_adopt_a_root_generated_in_softhsm(hsm_ws: tuple[Path, dict[str, Path]]) -> None:
    w, pins = hsm_ws
    root_pin = hsm.Secret(pins["alice"].read_bytes() + pins["bob"].read_bytes())
    with Workspace.open(w) as ws:
        der = _root_in_token(ws, root_pin)
        token = ws.hsm.root_token if ws.hsm else ""
    x509.load_der_x509_certificate(der).verify_directly_issued_by(
        x509.load_der_x509_certificate(der)
    )
    (w.parent / "root.crt").write_bytes(der)
    officers = ["--root-officer", f"alice={pins['alice']}", "--root-officer", f"bob={pins['bob']}"]
    uri = f"pkcs11:token={token};object={LABEL};type=private"
    r = cli(
        "adopt", "-w", str(w), "--cert", str(w.parent / "root.crt"), "--key-uri", uri, *officers
    )
    assert r.exit_code == 0, r.output
    assert "secom-tls-ecc-ca-1" in r.output
    # The ARL is signed by the adopted key, in the token, under the two officers.
    r = cli("crl", "publish", "-w", str(w), "--ca", ECC_ROOT, *officers)
    assert r.exit_code == 0, r.output
    arl = x509.load_der_x509_crl((w / "repository" / f"{ECC_ROOT}.crl").read_bytes())
    assert arl.is_signature_valid(x509.load_der_x509_certificate(der).public_key())  # type: ignore[arg-type]
    with Workspace.open(w) as ws:
        assert ws.ca(ECC_ROOT).key_ref == uri
        sub = x509.load_der_x509_certificate(ws.ca("secom-tls-ecc-ca-1").certificate)
        sub.verify_directly_issued_by(x509.load_der_x509_certificate(der))


def test_a_uri_naming_no_key_exits_2(hsm_ws: tuple[Path, dict[str, Path]]) -> None:
    w, pins = hsm_ws
    with Workspace.open(w) as ws:
        before = [(r.name, r.certificate, r.key_ref) for r in ws.store.cas()]
        token = ws.hsm.root_token if ws.hsm else ""
        der = ws.ca("secom-rootca3").certificate
    (w.parent / "ca3.crt").write_bytes(der)
    officers = ["--root-officer", f"alice={pins['alice']}", "--root-officer", f"bob={pins['bob']}"]
    uri = f"pkcs11:token={token};object=no-such-key;type=private"
    r = cli(
        "adopt", "-w", str(w), "--cert", str(w.parent / "ca3.crt"), "--key-uri", uri, *officers
    )
    assert r.exit_code == 2, r.output
    assert "no public key labelled 'no-such-key'" in r.output and "[hsm-missing]" in r.output
    assert len(r.output.strip().splitlines()) == 1
    with Workspace.open(w) as ws:
        assert [(r.name, r.certificate, r.key_ref) for r in ws.store.cas()] == before
