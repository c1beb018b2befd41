"""``porthos adopt`` (issue 21 §3): a CA made outside porthos (``openssl req -x509``
with its key in a file; a key generated in SoftHSM2 with python-pkcs11 and a
certificate signed there) becomes the workspace's CA of that name: its sub CAs are
re-certified under it, it issues and publishes its ARL, and openssl accepts the chain.
Every refusal exits 2 with one line and stores nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from interop import openssl_verify
from porthos.cli.main import main
from porthos.store import audit
from porthos.workflows import crl_publication
from porthos.workspace.workspace import Workspace

ECC_ROOT = "secom-ecc-rootca1"
ECC_SUB = "secom-tls-ecc-ca-1"
SUBJECT = "/C=JP/O=SECOM Trust Systems CO.,LTD./CN=Security Communication ECC RootCA1"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _openssl_root(
    d: Path, stem: str, subject: str = SUBJECT, ca: bool = True
) -> tuple[Path, Path]:
    """A P-384 root made by openssl req -x509, its key in a PEM file."""
    openssl = shutil.which("openssl")
    assert openssl is not None
    bc = "critical,CA:TRUE" if ca else "critical,CA:FALSE"
    ku = "critical,keyCertSign,cRLSign" if ca else "critical,digitalSignature"
    argv = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]
    argv += [
        "-sha384",
        "-nodes",
        "-keyout",
        str(d / f"{stem}.key"),
        "-out",
        str(d / f"{stem}.crt"),
    ]
    argv += ["-days", "3650", "-subj", subject, "-addext", f"basicConstraints={bc}"]
    argv += ["-addext", f"keyUsage={ku}"]
    subprocess.run(argv, check=True, capture_output=True)
    return d / f"{stem}.crt", d / f"{stem}.key"


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    w = tmp_path / "w"
    r = cli("init", "-w", str(w), "--cpcps", "secom")
    assert r.exit_code == 0, r.output
    return w


def _state(w: Path) -> tuple[list[tuple[str, bytes, str]], list[str]]:
    with Workspace.open(w) as ws:
        cas = [(r.name, r.certificate, r.key_ref) for r in ws.store.cas()]
    return cas, sorted(p.name for p in (w / "keys").iterdir())


def test_adopt_an_openssl_root_with_its_key_file(ws_dir: Path, tmp_path: Path) -> None:
    crt, key = _openssl_root(tmp_path, "ecc")
    r = cli("adopt", "-w", str(ws_dir), "--cert", str(crt), "--key-file", str(key))
    assert r.exit_code == 0, r.output
    assert f"adopted CA {ECC_ROOT}" in r.output and ECC_SUB in r.output
    root_der = x509.load_pem_x509_certificate(crt.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    with Workspace.open(ws_dir) as ws:
        assert ws.ca(ECC_ROOT).certificate == root_der
        assert (ws_dir / "repository" / f"{ECC_ROOT}.crt").read_bytes() == root_der
        (rec,) = [r for r in audit.records(ws.store) if r.event == audit.Event.CA_ADOPTED]
        assert rec.outcome == "success" and rec.details["ca"] == ECC_ROOT
        assert rec.details["fingerprint_sha256"] == hashlib.sha256(root_der).hexdigest()
        # From then on: the re-certified sub CA issues, the adopted root signs its ARL.
        sub = ws.ca(ECC_SUB)
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.secomtrust.net")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(k, hashes.SHA256())
        res = sub.issue_batch([csr.public_bytes(serialization.Encoding.DER)], "tls-server-ecc")
        leaf = res.certificates[0]
        assert leaf is not None, res.reasons
        crl_publication.publish(ws, [ECC_ROOT, ECC_SUB])
        repo = ws_dir / "repository"
        openssl_verify([root_der], sub.certificate, crl=(repo / f"{ECC_ROOT}.crl").read_bytes())
        openssl_verify(
            [root_der, sub.certificate], leaf, crl=(repo / f"{ECC_SUB}.crl").read_bytes()
        )
    # The key porthos had generated for the name is gone; the adopted one is 0600.
    keys = ws_dir / "keys"
    assert not (keys / f"{ECC_ROOT}.p8").exists()
    assert (keys / f"{ECC_ROOT}-adopted.p8").stat().st_mode & 0o777 == 0o600
    # The reopened workspace verifies every CA under its parent (integrity check).
    with Workspace.open(ws_dir) as ws:
        assert ws.ca(ECC_ROOT).certificate == root_der


def _expired_root(d: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SECOM Trust Systems CO.,LTD."),
            x509.NameAttribute(NameOID.COMMON_NAME, "Security Communication ECC RootCA1"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    (d / "old.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "old.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return d / "old.crt", d / "old.key"


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("wrong-key", "key", "is not the key of its certificate"),
        ("not-a-ca", "policy", "not a CA certificate"),
        ("expired", "lifecycle", "expired"),
        ("name-conflict", "policy", "is not CA secom-rootca3's"),
        ("key-type-conflict", "policy", "rsa-2048"),
    ],
)
def test_refusals_exit_2_and_store_nothing(
    ws_dir: Path, tmp_path: Path, case: str, code: str, says: str
) -> None:
    before = _state(ws_dir)
    crt, key = _openssl_root(tmp_path, "ecc")
    extra: list[str] = []
    if case == "wrong-key":
        _, key = _openssl_root(tmp_path, "other")
    elif case == "not-a-ca":
        crt, key = _openssl_root(tmp_path, "leaf", ca=False)
    elif case == "expired":
        crt, key = _expired_root(tmp_path)
    elif case == "name-conflict":
        extra = ["--name", "secom-rootca3"]
    elif case == "key-type-conflict":
        # RootCA2's name on a P-384 key: the CP/CPS says RSA-2048 (002 Table 6.1-1).
        subj = "/C=JP/O=SECOM Trust Systems CO.,LTD./OU=Security Communication RootCA2"
        crt, key = _openssl_root(tmp_path, "ca2", subject=subj)
    r = cli("adopt", "-w", str(ws_dir), "--cert", str(crt), "--key-file", str(key), *extra)
    assert r.exit_code == 2, r.output
    assert says in r.output and f"[{code}]" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert _state(ws_dir) == before
    with Workspace.open(ws_dir) as ws:
        failures = [
            rec
            for rec in audit.records(ws.store)
            if rec.event == audit.Event.CA_ADOPTED and rec.outcome != "success"
        ]
        assert len(failures) == 1


def test_a_ca_that_issued_is_not_replaced(ws_dir: Path, tmp_path: Path) -> None:
    """The sub CA porthos made has issued: adopting another key for it would orphan
    what it issued. (Adopting its root instead re-certifies it: test above.)"""
    with Workspace.open(ws_dir) as ws:
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.secomtrust.net")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(k, hashes.SHA256())
        ws.ca(ECC_SUB).issue_batch(
            [csr.public_bytes(serialization.Encoding.DER)], "tls-server-ecc"
        )
        sub_key = ws.path / ws.ca(ECC_SUB).key_ref
        sub_der = ws.ca(ECC_SUB).certificate
    (tmp_path / "sub.crt").write_bytes(sub_der)
    before = _state(ws_dir)
    r = cli(
        "adopt", "-w", str(ws_dir), "--cert", str(tmp_path / "sub.crt"), "--key-file", str(sub_key)
    )
    assert r.exit_code == 2, r.output
    assert "has issued 1 certificate" in r.output
    assert _state(ws_dir) == before
