"""``crl build`` never writes a CRL that does not verify (issue 20 §2): the key must be
the issuer certificate's, the certificate must be a CRL issuer, the output folder must
exist before any work, and each CRL's signature is checked before it is written."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from porthos import _native
from porthos.cli.main import main
from porthos.exceptions import CrlSignatureError, KeyMaterialError
from porthos.issuance.key_checks import check_crl_issuer, check_crl_signature, check_key_pair


def _cert(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    ca: bool = True,
    crl_sign: bool = True,
    signer: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Checks CA")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(signer or key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _pkcs8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def _build(
    tmp_path: Path,
    cert: bytes,
    key: bytes,
    out: Path | None = None,
    rows: str = "0a,2025-01-01T00:00:00Z,keyCompromise\n",
) -> object:
    (tmp_path / "ca.der").write_bytes(cert)
    (tmp_path / "ca.p8").write_bytes(key)
    (tmp_path / "rev.csv").write_text(rows)
    return CliRunner().invoke(
        main,
        [
            "crl", "build", "--revoked", str(tmp_path / "rev.csv"),
            "--issuer-cert", str(tmp_path / "ca.der"), "--issuer-key", str(tmp_path / "ca.p8"),
            "--number", "1", "--next-update", "7",
            "--out", str(out or tmp_path / "out.crl"),
        ],
    )  # fmt: skip


def test_matching_key_builds_a_verifying_crl(keys: tuple, tmp_path: Path) -> None:
    r = _build(tmp_path, _cert(keys[0]), _pkcs8(keys[0]))
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    crl = x509.load_der_x509_crl((tmp_path / "out.crl").read_bytes())
    assert crl.is_signature_valid(keys[0].public_key())


def test_key_of_another_certificate_refused(keys: tuple, tmp_path: Path) -> None:
    r = _build(tmp_path, _cert(keys[0]), _pkcs8(keys[1]))
    assert r.exit_code == 2  # type: ignore[attr-defined]
    assert "is not the key of its certificate" in r.output  # type: ignore[attr-defined]
    assert not (tmp_path / "out.crl").exists()


def test_bad_rows_are_read_beside_the_key_check_and_reported_after_it(
    keys: tuple, tmp_path: Path
) -> None:
    """The CSV is read on a thread while the key is checked (cli/crl.py, issue 20 §1):
    a wrong key is still the error reported when the rows are bad too, and bad rows
    alone are reported by line, on the calling thread; nothing is written either way."""
    bad = "0a,2025-01-01T00:00:00Z,keyCompromise\nzz,2025-01-01T00:00:00Z,keyCompromise\n"
    r = _build(tmp_path, _cert(keys[0]), _pkcs8(keys[1]), rows=bad)
    assert r.exit_code == 2  # type: ignore[attr-defined]
    assert "is not the key of its certificate" in r.output  # type: ignore[attr-defined]
    r = _build(tmp_path, _cert(keys[0]), _pkcs8(keys[0]), rows=bad)
    assert r.exit_code == 2  # type: ignore[attr-defined]
    assert "rev.csv" in r.output and "line 2" in r.output, r.output  # type: ignore[attr-defined]
    assert len(r.output.strip().splitlines()) == 1  # type: ignore[attr-defined]
    assert not (tmp_path / "out.crl").exists()


def test_end_entity_issuer_refused(keys: tuple, tmp_path: Path) -> None:
    r = _build(tmp_path, _cert(keys[0], ca=False, crl_sign=False), _pkcs8(keys[0]))
    assert r.exit_code == 2 and "not a CA certificate" in r.output  # type: ignore[attr-defined]
    assert not (tmp_path / "out.crl").exists()


def test_ca_without_crl_sign_refused(keys: tuple) -> None:
    with pytest.raises(KeyMaterialError, match="cRLSign") as info:
        check_crl_issuer(_cert(keys[0], crl_sign=False), "ca")
    assert info.value.code == "key"


def test_missing_output_folder_refused_before_work(keys: tuple, tmp_path: Path) -> None:
    r = _build(tmp_path, _cert(keys[0]), _pkcs8(keys[0]), tmp_path / "no" / "x.crl")
    assert r.exit_code == 2 and "does not exist" in r.output  # type: ignore[attr-defined]


def test_check_key_pair_software_and_rsa(keys: tuple) -> None:
    check_key_pair(_native.SoftwareKey.from_pkcs8(_pkcs8(keys[0])), _cert(keys[0]), "k")
    rsa_key = rsa.generate_private_key(65537, 2048)
    check_key_pair(_native.SoftwareKey.from_pkcs8(_pkcs8(rsa_key)), _cert(rsa_key), "k")
    with pytest.raises(KeyMaterialError) as info:
        check_key_pair(_native.SoftwareKey.from_pkcs8(_pkcs8(keys[1])), _cert(keys[0]), "k")
    assert info.value.code == "key"


def test_check_crl_signature_refuses_a_flipped_signature(keys: tuple, tmp_path: Path) -> None:
    cert = _cert(keys[0])
    assert _build(tmp_path, cert, _pkcs8(keys[0])).exit_code == 0  # type: ignore[attr-defined]
    der = bytearray((tmp_path / "out.crl").read_bytes())
    check_crl_signature(bytes(der), cert, "good", "ecdsa-sha256")
    der[-5] ^= 0x01
    with pytest.raises(CrlSignatureError) as info:
        check_crl_signature(np.frombuffer(bytes(der), np.uint8), cert, "flipped", "ecdsa-sha256")
    assert info.value.code == "crl-signature"
    # A flipped TBS octet (the thisUpdate) fails too: the signature covers the TBS as is.
    der[-5] ^= 0x01
    der[40] ^= 0x01
    with pytest.raises(CrlSignatureError):
        check_crl_signature(bytes(der), cert, "tbs", "ecdsa-sha256")


def test_write_renames_only_after_the_check(keys: tuple, tmp_path: Path) -> None:
    """The CRL file is written on a second thread while the check runs: a check that
    fails leaves neither the target nor a temporary file, and a passing one the bytes."""
    from porthos.issuance.crl import RevocationColumns, build_crl

    cert = _cert(keys[0])
    key = _native.SoftwareKey.from_pkcs8(_pkcs8(keys[0]))
    crl = build_crl(
        cert, key, RevocationColumns.empty(), crl_number=1, this_update=0, next_update=86400
    )
    der = bytes(crl)
    out = tmp_path / "checked" / "x.crl"
    out.parent.mkdir()

    def refuse() -> None:
        raise CrlSignatureError("refused by the test")

    with pytest.raises(CrlSignatureError):
        crl.write(out, check=refuse)
    assert list(out.parent.iterdir()) == []
    crl.write(out, check=lambda: check_crl_signature(der, cert, "x", "ecdsa-sha256"))
    assert out.read_bytes() == der and [p.name for p in out.parent.iterdir()] == ["x.crl"]


def test_a_refusal_does_not_wait_for_a_fifo(keys: tuple, tmp_path: Path) -> None:
    """Only a regular file is read beside the key check (issuance/revocation_prefetch.py):
    `--revoked` naming a FIFO nobody writes to must not hold back the refusal of a bad
    issuer certificate (it did, for ever, while the reader waited in open())."""
    fifo = tmp_path / "revoked.csv"
    os.mkfifo(fifo)
    (tmp_path / "ca.der").write_bytes(b"not a certificate")
    (tmp_path / "ca.p8").write_bytes(_pkcs8(keys[0]))
    r = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "crl", "build", "--revoked", str(fifo),
         "--issuer-cert", str(tmp_path / "ca.der"), "--issuer-key", str(tmp_path / "ca.p8"),
         "--number", "1", "--next-update", "1", "--out", str(tmp_path / "out.crl")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not a DER X.509 certificate" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.crl").exists()


def test_hsm_rows_on_standard_input_need_a_pin_file(tmp_path: Path) -> None:
    """In HSM mode without --pin-file the PIN prompt reads standard input when there is
    no terminal, and could swallow the rows piped there (a CRL of 0 entries, exit 0):
    refused, one line, before anything is read or asked."""
    r = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "crl", "build", "--revoked", "/dev/stdin",
         "--issuer-cert", "/dev/null", "--token", "t", "--key-label", "k",
         "--number", "1", "--next-update", "1", "--out", str(tmp_path / "out.crl")],
        input="0a,2025-01-01T00:00:00Z,keyCompromise\n", capture_output=True, text=True,
        timeout=60, start_new_session=True,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--pin-file" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out.crl").exists()
