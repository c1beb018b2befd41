"""OCSP of a generation retired by a key changeover (002 §5.6; workflows/ocsp_presign.py
``retired_ocsp_cas``): after the demo's changeover the old TLS RSA CA's responses are
still refreshed by ``porthos ocsp presign``, through a responder the old CA certifies
itself when the old one expires (RFC 6960 §4.2.2.2), and ``openssl ocsp`` verifies them
against the *old* issuer; once everything the old CA issued has expired they are not
refreshed any more (one line, exit 2), and the old root's ceremony stops the same
way. Time is the CLI's ``--now`` and the workflows' ``now``."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509 import ocsp as pyocsp
from interop import to_pem
from porthos.cli.main import main
from porthos.exceptions import PolicyError
from porthos.workflows import crl_end, demo_ocsp, ocsp_ceremony, ocsp_presign, ocsp_responder
from porthos.workspace.workspace import Workspace

OLD_SUB = "secom-tls-rsa-ca-1"
OLD_ROOT = "secom-rootca2"
DAY = 86400


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def openssl_ocsp(response: Path, issuer: bytes, trusted: list[bytes], at: int) -> str:
    """``openssl ocsp -respin`` at time ``at`` (the responder certificate is issued in
    the test's future): its "Cert Status" line, or raises when it refuses."""
    openssl = shutil.which("openssl")
    assert openssl is not None
    folder = response.parent / "openssl-check"
    folder.mkdir(exist_ok=True)
    (folder / "issuer.pem").write_bytes(to_pem(issuer))
    (folder / "ca.pem").write_bytes(b"".join(to_pem(c) for c in trusted))
    p = subprocess.run(
        [openssl, "ocsp", "-respin", str(response), "-issuer", str(folder / "issuer.pem"),
         "-CAfile", str(folder / "ca.pem"), "-attime", str(at), "-resp_text"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    said = p.stdout + p.stderr
    if p.returncode != 0 or "Response verify OK" not in said:
        raise RuntimeError(f"openssl ocsp refused {response}: {said.strip()[-300:]}")
    lines = [x.split(":", 1)[1].strip() for x in said.splitlines() if "Cert Status:" in x]
    reasons = [x.split(":", 1)[1].strip() for x in said.splitlines() if "Reason:" in x]
    return " ".join(lines + reasons)


def sample(d: Path, name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((d / "samples" / f"{name}.crt").read_bytes())


def test_retired_sub_ca_responses_are_refreshed_until_its_certificates_expired(
    tmp_path: Path,
) -> None:
    d = tmp_path / "demo"
    code, out = cli("demo", "--cpcps", "secom", "--workdir", str(d))
    assert code == 0, out
    leaf = sample(d, "tls-server-rsa")
    revoked = sample(d, "tls-server-rsa-revoked-keyCompromise")
    with Workspace.open(d) as ws:
        old = ws.ca(OLD_SUB)
        assert old.status == "retired"
        old_der, root_der = old.certificate, ws.ca(OLD_ROOT).certificate
        new_der = ws.ca(f"{OLD_SUB}-g2").certificate
        last = crl_end.last_expiry(ws, old)
    # What keeps the old CA answering: its subscriber certificates (not its responder's).
    assert last == max(int(c.not_valid_after_utc.timestamp()) for c in (leaf, revoked))
    start = int(time.time())

    # 40 days on: the old responder (30 days) has expired; presign says so, the old CA
    # certifies a new one (RFC 6960 §4.2.2.2) and signs with it, from its new CRL.
    t = start + 40 * DAY
    assert cli("crl", "publish", "-w", str(d), "--now", f"@{t}")[0] == 0
    code, out = cli("ocsp", "presign", "-w", str(d), "--ca", OLD_SUB, "--now", f"@{t}")
    assert code == 2 and "rotate-responder" in out, out
    code, out = cli("ocsp", "rotate-responder", "-w", str(d), "--ca", OLD_SUB, "--now", f"@{t}")
    assert code == 0, out
    # The leaf, the revoked one and the new responder certificate, two hashes each.
    assert f"{OLD_SUB}: 6 responses signed with the new responder" in out, out
    good = demo_ocsp.response_file(d, OLD_SUB, leaf.serial_number)
    bad = demo_ocsp.response_file(d, OLD_SUB, revoked.serial_number)
    resp = pyocsp.load_der_ocsp_response(good.read_bytes())
    (responder,) = resp.certificates
    assert responder.issuer == x509.load_der_x509_certificate(old_der).subject
    assert int(resp.produced_at_utc.timestamp()) == t
    assert int(resp.this_update_utc.timestamp()) == t  # the CRL published at t
    # openssl: the old issuer, trusted through the old root only.
    assert openssl_ocsp(good, old_der, [root_der, old_der], t + 60) == "good"
    assert openssl_ocsp(bad, old_der, [root_der, old_der], t + 60) == "revoked keyCompromise (0x1)"
    # The new generation's CA is not the issuer of these responses.
    with pytest.raises(RuntimeError, match="refused"):
        openssl_ocsp(good, new_der, [root_der, new_der], t + 60)

    # Presign of every CA refreshes the old CA too, incrementally (nothing new here).
    with Workspace.open(d) as ws:
        for spec in ocsp_presign.ocsp_cas(ws, now=t):
            if not spec.ca_signed and spec.ca != OLD_SUB:  # the new generation's expired too
                ocsp_responder.rotate_responder(ws, spec, now=t)
        done = {r.ca: r for r in ocsp_presign.presign(ws, now=t + 60)}
    assert OLD_SUB in done and done[OLD_SUB].signed == 0

    # After its last subscriber certificate expired: no more refreshes, one line.
    after = last + DAY
    with Workspace.open(d) as ws:
        assert OLD_SUB not in {c.ca for c in ocsp_presign.ocsp_cas(ws, now=after)}
        with pytest.raises(PolicyError) as err:
            ocsp_presign.presign(ws, OLD_SUB, now=after)
        assert err.value.code == "policy" and "no longer refreshed" in str(err.value)
        # Just before it, it still is (a stop cannot come early).
        assert OLD_SUB in {c.ca for c in ocsp_presign.ocsp_cas(ws, now=last - 1)}
        # The old root's ceremony stops the same way once its link certificate expired.
        root_last = crl_end.last_expiry(ws, ws.ca(OLD_ROOT))
        with pytest.raises(PolicyError, match="no longer refreshed"):
            ocsp_ceremony.ceremony(ws, OLD_ROOT, now=root_last + DAY)
    code, out = cli("ocsp", "presign", "-w", str(d), "--ca", OLD_SUB, "--now", f"@{after}")
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "no longer refreshed" in out
