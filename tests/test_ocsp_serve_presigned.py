"""``porthos ocsp serve`` over what the real ``porthos ocsp presign`` wrote (Carillon,
001 §4.9.9-10): ``openssl ocsp`` gets the pre-signed file without a nonce and an
on-demand response from ``OnDemandSigner`` with one (Carillon echoes nonces); revoked
carries the CRL entry's reason; a serial the CA never issued is unknown; and
``ocsp rotate-responder`` reaches the running responder without a restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from carillon_support import variant
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from interop import to_pem
from porthos.cli.main import main
from test_ocsp_serve import Responder, post, start

SIGNING = "carillon-signing-ca-1"
OPENSSL = shutil.which("openssl")


def run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Responder]]:
    base = tmp_path_factory.mktemp("ocsp-served")
    d = base / "demo"
    r = CliRunner().invoke(
        main, ["demo", "--cpcps", str(variant(base / "cpcps")), "--workdir", str(d)]
    )
    assert r.exit_code == 0, r.output
    run("ocsp", "rotate-responder", "-w", str(d), "--ca", SIGNING)
    repo = d / "repository"
    (d / "sub.pem").write_bytes(to_pem((repo / f"{SIGNING}.crt").read_bytes()))
    (d / "chain.pem").write_bytes(
        (d / "sub.pem").read_bytes() + to_pem((repo / "carillon-root-ca.crt").read_bytes())
    )
    # The default signer: porthos.workflows.ocsp_presign:OnDemandSigner.
    server = start(d, "--signer", "porthos.workflows.ocsp_presign:OnDemandSigner")
    try:
        yield d, server
    finally:
        rc, out = server.stop()
    assert rc == 0, out


def rows(d: Path) -> list[dict[str, str]]:
    lines = (d / "ocsp" / SIGNING / "index.tsv").read_text().splitlines()
    keys = lines[0].split("\t")
    return [dict(zip(keys, line.split("\t"), strict=True)) for line in lines[1:]]


def ask(d: Path, server: Responder, serial_hex: str, *extra: str) -> str:
    assert OPENSSL is not None
    out = subprocess.run(
        [OPENSSL, "ocsp", "-issuer", str(d / "sub.pem"), "-CAfile", str(d / "chain.pem"),
         "-serial", "0x" + serial_hex, "-url", server.url, "-resp_text", *extra],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "Response verify OK" in text, text
    return text


@pytest.mark.interop
@pytest.mark.skipif(OPENSSL is None, reason="openssl missing")
def test_openssl_against_presigned_and_on_demand(served: tuple[Path, Responder]) -> None:
    d, server = served
    index = rows(d)
    good = next(r for r in index if r["status"] == "good" and r["hash"] == "sha1")
    revoked = next(r for r in index if r["status"] == "revoked" and r["hash"] == "sha1")
    # No nonce: the pre-signed file, byte for byte.
    text = ask(d, server, good["serial_hex"], "-no_nonce")
    assert f"0x{good['serial_hex']}: good" in text and "OCSP Nonce" not in text
    # A nonce: Carillon echoes it, so OnDemandSigner signs a fresh response.
    text = ask(d, server, revoked["serial_hex"])
    assert f"0x{revoked['serial_hex']}: revoked" in text
    assert "Reason: keyCompromise" in text and "OCSP Nonce" in text
    assert "WARNING" not in text
    # A serial the CA never issued: unknown, signed on demand.
    assert "0x7F7F7F7F7F7F7F7F: unknown" in ask(d, server, "7F7F7F7F7F7F7F7F", "-no_nonce")


def _responder_serial(server: Responder, d: Path, serial_hex: str) -> int:
    assert OPENSSL is not None
    req = subprocess.run(
        [OPENSSL, "ocsp", "-issuer", str(d / "sub.pem"), "-serial", "0x" + serial_hex,
         "-no_nonce", "-reqout", "/dev/stdout"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    resp = ocsp.load_der_ocsp_response(post(server, req).read())
    (cert,) = resp.certificates
    assert isinstance(cert, x509.Certificate)
    return cert.serial_number


def test_rotation_reaches_the_running_responder(served: tuple[Path, Responder]) -> None:
    d, server = served
    good = next(r for r in rows(d) if r["status"] == "good")
    before = _responder_serial(server, d, good["serial_hex"])
    run("ocsp", "rotate-responder", "-w", str(d), "--ca", SIGNING)
    new = x509.load_der_x509_certificate(_current_responder(d))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = _responder_serial(server, d, good["serial_hex"])
        if now != before:
            break
        time.sleep(0.1)
    assert now != before and now == new.serial_number


def _current_responder(d: Path) -> bytes:
    """The responder certificate of a freshly pre-signed response file."""
    good = next(r for r in rows(d) if r["status"] == "good")
    resp = ocsp.load_der_ocsp_response((d / "ocsp" / SIGNING / good["path"]).read_bytes())
    (cert,) = resp.certificates
    return cert.public_bytes(Encoding.DER)
