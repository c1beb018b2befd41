"""``porthos adopt --key-uri`` (issue 21 §3, §7): a root whose key was generated in
SoftHSM2 with python-pkcs11 (not by porthos) and whose certificate was signed there,
taken over by an HSM workspace under two officers' PIN halves; its ARL is then signed
in the token. A URI naming no key exits 2 and stores nothing.

The scenario runs in its own process (``python tests/test_adopt_hsm.py DIR``): one
process uses one SoftHSM2 configuration (hsm/tokens.py), and the other HSM tests of
the session have theirs. It writes DIR/result.json; the tests judge it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
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


def scenario(d: Path) -> dict[str, object]:
    """Init an HSM workspace, make a root in its token outside porthos, adopt it,
    publish its ARL; then try a URI naming no key."""
    pins = _pins(d)
    w = d / "w"
    officers = ["--root-officer", f"alice={pins['alice']}", "--root-officer", f"bob={pins['bob']}"]
    out: dict[str, object] = {}
    r = cli(
        "init", "-w", str(w), "--cpcps", "secom", "--hsm", "softhsm",
        "--so-pin-file", str(pins["so"]), "--pin-file", str(pins["user"]), *officers,
    )  # fmt: skip
    out["init"] = [r.exit_code, r.output]
    root_pin = hsm.Secret(pins["alice"].read_bytes() + pins["bob"].read_bytes())
    with Workspace.open(w) as ws:
        der = _root_in_token(ws, root_pin)
        assert ws.hsm is not None
        token = ws.hsm.root_token
        ca3 = ws.ca("secom-rootca3").certificate
    (d / "root.crt").write_bytes(der)
    (d / "ca3.crt").write_bytes(ca3)
    uri = f"pkcs11:token={token};object={LABEL};type=private"
    out["uri"] = uri
    r = cli("adopt", "-w", str(w), "--cert", str(d / "root.crt"), "--key-uri", uri, *officers)
    out["adopt"] = [r.exit_code, r.output]
    r = cli("crl", "publish", "-w", str(w), "--ca", ECC_ROOT, *officers)
    out["publish"] = [r.exit_code, r.output]
    with Workspace.open(w) as ws:
        out["key_ref"] = ws.ca(ECC_ROOT).key_ref
        before = [[row.name, row.certificate.hex(), row.key_ref] for row in ws.store.cas()]
    bad = f"pkcs11:token={token};object=no-such-key;type=private"
    r = cli("adopt", "-w", str(w), "--cert", str(d / "ca3.crt"), "--key-uri", bad, *officers)
    out["no_key"] = [r.exit_code, r.output]
    with Workspace.open(w) as ws:
        after = [[row.name, row.certificate.hex(), row.key_ref] for row in ws.store.cas()]
    out["unchanged"] = before == after
    # A changeover after the adoption: the adopted key (its own label) signs the link
    # to its successor, under the two officers.
    r = cli("rollover", "-w", str(w), "--pin-file", str(pins["user"]), *officers)
    out["rollover"] = [r.exit_code, r.output]
    return out


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    d = tmp_path_factory.mktemp("adopt-hsm")
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


def test_adopt_a_root_generated_in_softhsm(result: tuple[Path, dict[str, object]]) -> None:
    d, out = result
    assert out["init"][0] == 0, out["init"]  # type: ignore[index]
    code, said = out["adopt"]  # type: ignore[misc]
    assert code == 0, said
    assert "secom-tls-ecc-ca-1" in said
    assert out["key_ref"] == out["uri"]
    # The ARL is signed by the adopted key, in the token, under the two officers.
    assert out["publish"][0] == 0, out["publish"]  # type: ignore[index]
    der = (d / "root.crt").read_bytes()
    root = x509.load_der_x509_certificate(der)
    root.verify_directly_issued_by(root)
    arl = x509.load_der_x509_crl((d / "w" / "repository" / f"{ECC_ROOT}.crl").read_bytes())
    assert arl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    sub = (d / "w" / "repository" / "secom-tls-ecc-ca-1.crt").read_bytes()
    x509.load_der_x509_certificate(sub).verify_directly_issued_by(root)


def test_the_adopted_root_signs_its_link_at_a_changeover(
    result: tuple[Path, dict[str, object]],
) -> None:
    d, out = result
    code, said = out["rollover"]  # type: ignore[misc]
    assert code == 0, said
    repo = d / "w" / "repository"
    adopted = x509.load_der_x509_certificate((d / "root.crt").read_bytes())
    link = x509.load_der_x509_certificate((repo / f"{ECC_ROOT}-g2-by-{ECC_ROOT}.crt").read_bytes())
    link.verify_directly_issued_by(adopted)
    successor = x509.load_der_x509_certificate((repo / f"{ECC_ROOT}-g2.crt").read_bytes())
    assert link.public_key() == successor.public_key()


def test_a_uri_naming_no_key_exits_2(result: tuple[Path, dict[str, object]]) -> None:
    _d, out = result
    code, said = out["no_key"]  # type: ignore[misc]
    assert code == 2, said
    assert "no public key labelled 'no-such-key'" in said and "[hsm-missing]" in said
    assert len(said.strip().splitlines()) == 1
    assert out["unchanged"] is True


if __name__ == "__main__":
    where = Path(sys.argv[1])
    (where / "result.json").write_text(json.dumps(scenario(where)))
