"""The SECOM roots' ARLs (cpcps/secom: BR §4.9.7, §7.2.2 read for 002 §7.2): each root
signs its own, a revoked subordinate CA is listed on its root's ARL only, always with
a reasonCode (unspecified is refused for a CA), and openssl then refuses the sub CA;
the ARL's nextUpdate is 12 months on. Also: the demo with the keys in SoftHSM2 (each
root activated by two officers for its certificates and its ARL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from interop import openssl_verify, pkilint_cli
from porthos.cpcps.policy import add_months
from porthos.exceptions import LifecycleError
from porthos.workflows import crl_publication, crl_schedule, revocation
from porthos.workspace.workspace import Workspace


def test_a_revoked_sub_ca_is_on_its_roots_arl_with_its_reason(tmp_path: Path) -> None:
    now = int(time.time())
    with Workspace.init(tmp_path / "w", profile_set="secom", now=now) as ws:
        sub = ws.ca("secom-client-ca-1")
        serial = x509.load_der_x509_certificate(sub.certificate).serial_number
        crl_publication.publish(ws, ["secom-rootca3"], now=now + 1)
        with pytest.raises(LifecycleError) as err:
            revocation.revoke(ws, [serial], "unspecified", requester="CA", now=now + 10)
        assert err.value.code == "lifecycle"
        assert "unspecified" in str(err.value)
        revocation.revoke(ws, [serial], "cACompromise", requester="CA", now=now + 10)
        # The ARL is due at once; the data's bound (BR §4.9.7: 24 h) is said.
        (item,) = [d for d in crl_schedule.due(ws, now + 11) if d.ca == "secom-rootca3"]
        assert item.is_due and "at the latest 1 days after it" in item.why
        published = crl_publication.publish(ws, ["secom-rootca3", "secom-rootca2"], now=now + 20)
        assert {p.ca for p in published if p.kind == "crl"} == {"secom-rootca3", "secom-rootca2"}
        repo = ws.path / "repository"
        arl = x509.load_der_x509_crl((repo / "secom-rootca3.crl").read_bytes())
        entry = arl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason == x509.ReasonFlags.ca_compromise
        assert arl.next_update_utc is not None
        assert int(arl.next_update_utc.timestamp()) == add_months(now + 20, 12)
        # pkilint's BR ARL linter: the CA entry with its reasonCode is clean.
        assert (
            pkilint_cli(
                "lint_crl", ["-t", "ARL", "-p", "BR"], arl.public_bytes(Encoding.DER), tmp_path
            )
            == []
        )
        # The other roots' ARLs do not list it.
        other = x509.load_der_x509_crl((repo / "secom-rootca2.crl").read_bytes())
        assert other.get_revoked_certificate_by_serial_number(serial) is None
        root = ws.ca("secom-rootca3").certificate
        with pytest.raises(AssertionError, match="revoked"):
            openssl_verify([root], sub.certificate, crl=(repo / "secom-rootca3.crl").read_bytes())


def test_demo_with_softhsm(tmp_path: Path) -> None:
    d = tmp_path / "demo"
    args = ["demo", "--cpcps", "secom", "--workdir", str(d), "--hsm", "softhsm"]
    # Its own process: one process uses one SoftHSM2 configuration (hsm/tokens.py), and
    # the other HSM tests of this session have theirs.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "python")}
    r = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "hsm" / "hsm.json").is_file()
    # No key file: the OCSP responders' keys are in the token too (PKCS#11 URIs).
    files = [p for p in (d / "keys").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".uri" and p.parent.name == "ocsp" for p in files)
    for name in ("secom-rootca2", "secom-rootca3", "secom-ecc-rootca1"):
        root = x509.load_der_x509_certificate((d / "repository" / f"{name}.crt").read_bytes())
        arl = x509.load_der_x509_crl((d / "repository" / f"{name}.crl").read_bytes())
        assert arl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert "chain verified" in r.stdout
    assert (d / "samples" / "tls-server-ecc-generation-2.crt").is_file()
