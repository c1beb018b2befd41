"""A second CP/CPS end to end through the CLI (issue 15): tests/cpcps/two-tier.toml, a
P-384 root over an RSA-3072 issuing CA with a TLS server profile, its own CRL periods
and validity, revocation reasons and generation naming. Every value differs from the
Porthos set on purpose, so what passes here comes from the loaded data, not from a
constant of the mechanism. The expected values are read from the TOML itself (tomllib),
not through porthos' loader, and spelled out where a test says which value it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from porthos.cli.main import main

TOML = Path(__file__).resolve().parent / "cpcps" / "two-tier.toml"
DOC: dict[str, Any] = tomllib.loads(TOML.read_text("utf-8"))
ROOT, ISSUING = "tt-root-g1", "tt-issuing-g1"
PROFILE = "tls-server"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def flat(r: Result) -> str:
    return " ".join(r.output.split())


def days(table: dict[str, int]) -> int:
    (unit, n), *rest = table.items()
    assert not rest and unit == "days", table  # the fixture writes its CRL spans in days
    return n


@pytest.fixture
def wsdir(tmp_path: Path) -> Path:
    w = tmp_path / "w"
    r = run("init", "--workdir", str(w), "--cpcps", str(TOML))
    assert r.exit_code == 0, r.output
    return w


def csr(cn: str, key: Any = None, prefix: bool = True) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if prefix:
        attrs = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Two-Tier Test"),
            *attrs,
        ]
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    return req.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issue(w: Path, tmp: Path, reqs: Sequence[bytes], name: str = "out") -> Result:
    (tmp / f"{name}.req.pem").write_bytes(b"".join(reqs))
    return run(
        "issue", "-w", str(w), "-p", PROFILE,
        "--csr", str(tmp / f"{name}.req.pem"),
        "--out", str(tmp / f"{name}.pem"),
        "--report", str(tmp / f"{name}.json"),
    )  # fmt: skip


def issued(tmp: Path, name: str = "out") -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((tmp / f"{name}.pem").read_bytes())


def repo_cert(w: Path, ca: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((w / "repository" / f"{ca}.crt").read_bytes())


def repo_crl(w: Path, ca: str) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((w / "repository" / f"{ca}.crl").read_bytes())


def openssl_verify(
    tmp: Path,
    root: x509.Certificate,
    issuing: x509.Certificate,
    leaf: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList] = (),
    crl_check: str = "-crl_check",
) -> subprocess.CompletedProcess[str]:
    """``openssl verify -CAfile root -untrusted issuing [crl_check -CRLfile ...] leaf``."""
    assert OPENSSL is not None
    pem = serialization.Encoding.PEM
    (tmp / "root.pem").write_bytes(root.public_bytes(pem))
    (tmp / "issuing.pem").write_bytes(issuing.public_bytes(pem))
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    cmd = [OPENSSL, "verify", "-x509_strict", "-CAfile", str(tmp / "root.pem")]
    cmd += ["-untrusted", str(tmp / "issuing.pem")]
    if crls:
        (tmp / "crls.pem").write_bytes(b"".join(c.public_bytes(pem) for c in crls))
        cmd += [crl_check, "-CRLfile", str(tmp / "crls.pem")]
    cmd.append(str(tmp / "leaf.pem"))
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == 0 and proc.stdout.rstrip().endswith(": OK")


# --------------------------------------------------------------------------------------
# init, show, the hierarchy the data describes
# --------------------------------------------------------------------------------------


def test_init_and_show_name_the_two_tier_cpcps(wsdir: Path) -> None:
    r = run("show", "-w", str(wsdir))
    assert r.exit_code == 0, r.output
    assert DOC["name"] in r.output and "Two-tier test CP/CPS" in flat(r)
    assert ROOT in r.output and ISSUING in r.output
    root, issuing = repo_cert(wsdir, ROOT), repo_cert(wsdir, ISSUING)
    # 7.1.1 / 7.1.2 of the fixture: a P-384 root signing ecdsa-with-SHA384 and an
    # RSA-3072 issuing CA signing sha256WithRSAEncryption (signed by the root).
    root_key, issuing_key = root.public_key(), issuing.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey) and root_key.curve.name == "secp384r1"
    assert isinstance(issuing_key, rsa.RSAPublicKey) and issuing_key.key_size == 3072
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha384"
    assert issuing.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384
    issuing.verify_directly_issued_by(root)
    cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == dict(DOC["cas"][ROOT]["subject"]["prod"])["CN"]


# --------------------------------------------------------------------------------------
# issuance: the profile's keys and subject rule
# --------------------------------------------------------------------------------------


@needs_openssl
def test_tls_server_certificates_chain_to_the_p384_root(wsdir: Path, tmp_path: Path) -> None:
    names = ["www.two-tier.example", "api.two-tier.example", "mail.example.org"]
    r = issue(wsdir, tmp_path, [csr(n) for n in names])
    assert r.exit_code == 0, r.output
    certs = issued(tmp_path)
    assert len(certs) == len(names)
    root, issuing = repo_cert(wsdir, ROOT), repo_cert(wsdir, ISSUING)
    for cert, name in zip(certs, names, strict=True):
        # pyca parses each, and the profile's values are in it.
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert cert.issuer == issuing.subject
        assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(
            days=days(DOC["profiles"][PROFILE]["validity"])
        )
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert cdp[0].full_name is not None
        assert cdp[0].full_name[0].value == f"http://crl.two-tier.example/{ISSUING}.crl"
        cert.verify_directly_issued_by(issuing)
        proc = openssl_verify(tmp_path, root, issuing, cert)
        assert ok(proc), proc.stdout + proc.stderr

    r = run("crl", "publish", "-w", str(wsdir), "--all")
    assert r.exit_code == 0, r.output
    crls = [repo_crl(wsdir, ROOT), repo_crl(wsdir, ISSUING)]
    assert crls[0].is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crls[1].is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    for cert in certs:
        proc = openssl_verify(tmp_path, root, issuing, cert, crls)
        assert ok(proc), proc.stdout + proc.stderr
        proc = openssl_verify(tmp_path, root, issuing, cert, crls, "-crl_check_all")
        assert ok(proc), proc.stdout + proc.stderr


def test_p384_key_is_allowed_too(wsdir: Path, tmp_path: Path) -> None:
    assert "ec-p384" in DOC["profiles"][PROFILE]["key_types"]
    key = ec.generate_private_key(ec.SECP384R1())
    r = issue(wsdir, tmp_path, [csr("p384.two-tier.example", key)])
    assert r.exit_code == 0, r.output


def test_a_key_or_cn_the_profile_refuses_gets_its_status(wsdir: Path, tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p521 = ec.generate_private_key(ec.SECP521R1())
    reqs = [
        csr("rsa.two-tier.example", rsa_key),  # RSA: not in key_types
        csr("p521.two-tier.example", p521),  # P-521: not a key the engine signs for
        csr("not a host name"),  # CN is not an FQDN (rule "fqdn")
        csr("localhost"),  # one label: not fully qualified
        csr("ok.two-tier.example"),
    ]
    r = issue(wsdir, tmp_path, reqs)
    assert r.exit_code == 3, r.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["issued"] == 1
    statuses = {e["index"]: e["status"] for e in report["rejected"]}
    assert statuses == {
        0: "KEY_NOT_ALLOWED",
        1: "UNSUPPORTED_ALGORITHM",
        2: "SUBJECT_INVALID",
        3: "SUBJECT_INVALID",
    }
    assert len(issued(tmp_path)) == 1


# --------------------------------------------------------------------------------------
# revocation and CRLs: the two-tier reasons and periods
# --------------------------------------------------------------------------------------


def revoke(w: Path, serial: int, reason: str) -> Result:
    return run(
        "revoke", "-w", str(w), "--serial", f"{serial:x}", "--reason", reason,
        "--requester", "two-tier test",
    )  # fmt: skip


@needs_openssl
def test_revocation_reasons_crl_validity_and_schedule(wsdir: Path, tmp_path: Path) -> None:
    r = issue(wsdir, tmp_path, [csr("a.two-tier.example"), csr("b.two-tier.example")])
    assert r.exit_code == 0, r.output
    revoked, kept = issued(tmp_path)
    # Reasons Porthos allows for a subscriber certificate but the two-tier CP/CPS does
    # not: affiliationChanged (in none of its tables), unspecified and
    # privilegeWithdrawn (in its refused table).
    subscriber = DOC["revocation"]["subscriber_reasons"]
    for reason in ("affiliationChanged", "unspecified", "privilegeWithdrawn"):
        assert reason not in subscriber
        r = revoke(wsdir, revoked.serial_number, reason)
        assert r.exit_code == 2, r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
        assert "nothing revoked" in r.output and "Traceback" not in r.output
    # The refused table's own text is the reason given.
    r = revoke(wsdir, revoked.serial_number, "privilegeWithdrawn")
    assert DOC["revocation"]["refused"]["privilegeWithdrawn"] in flat(r)
    # A CA reason is not a subscriber reason here either.
    r = revoke(wsdir, revoked.serial_number, "cACompromise")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    # keyCompromise: in the two-tier subscriber reasons.
    assert "keyCompromise" in subscriber
    r = revoke(wsdir, revoked.serial_number, "keyCompromise")
    assert r.exit_code == 0, r.output

    r = run("crl", "publish", "-w", str(wsdir), "--all")
    assert r.exit_code == 0, r.output
    root_crl, issuing_crl = repo_crl(wsdir, ROOT), repo_crl(wsdir, ISSUING)
    for crl, ca in ((root_crl, ROOT), (issuing_crl, ISSUING)):
        assert crl.next_update_utc is not None
        span = crl.next_update_utc - crl.last_update_utc
        assert span == timedelta(days=days(DOC["cas"][ca]["crl"]["validity"])), ca
    assert issuing_crl.next_update_utc - issuing_crl.last_update_utc == timedelta(days=7)
    entry = issuing_crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    assert issuing_crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None

    root, issuing = repo_cert(wsdir, ROOT), repo_cert(wsdir, ISSUING)
    crls = [root_crl, issuing_crl]
    proc = openssl_verify(tmp_path, root, issuing, revoked, crls)
    assert not ok(proc) and "revoked" in proc.stdout + proc.stderr
    proc = openssl_verify(tmp_path, root, issuing, kept, crls)
    assert ok(proc), proc.stdout + proc.stderr

    # `crl due` reports the two-tier periods (90 and 3 days), not Porthos' year and
    # 14 days.
    r = run("crl", "due", "-w", str(wsdir), "--all")
    assert r.exit_code == 0, r.output
    root_period = days(DOC["cas"][ROOT]["crl"]["period"])
    issuing_period = days(DOC["cas"][ISSUING]["crl"]["period"])
    assert (root_period, issuing_period) == (90, 3)
    text = flat(r)
    assert f"every {root_period} days" in text and f"every {issuing_period} days" in text
    assert "every year" not in text and "14 days" not in text


def test_crl_due_after_the_two_tier_issuing_period(wsdir: Path) -> None:
    r = run("crl", "publish", "-w", str(wsdir), "--all", "--now", "2030-01-01T00:00:00Z")
    assert r.exit_code == 0, r.output
    # 3 days later the issuing CA is due, the root (90 days) is not.
    r = run("crl", "due", "-w", str(wsdir), "--json", "--now", "2030-01-04T00:00:00Z")
    assert r.exit_code == 0, r.output
    assert ISSUING in r.output and ROOT not in r.output
    r = run("crl", "due", "-w", str(wsdir), "--json", "--now", "2030-01-03T23:59:59Z")
    assert r.exit_code == 0 and ISSUING not in r.output


# --------------------------------------------------------------------------------------
# rollover: the two-tier generation naming
# --------------------------------------------------------------------------------------


@needs_openssl
def test_rollover_names_generation_2_by_the_data_and_it_issues(
    wsdir: Path, tmp_path: Path
) -> None:
    naming = DOC["generations"]
    assert naming["name"] == "{base}-g{generation}"
    root2 = naming["name"].format(base="tt-root", generation=2)
    issuing2 = naming["name"].format(base="tt-issuing", generation=2)
    assert (root2, issuing2) == ("tt-root-g2", "tt-issuing-g2")
    r = run("rollover", "-w", str(wsdir))
    assert r.exit_code == 0, r.output
    assert root2 in r.output and issuing2 in r.output
    root, issuing = repo_cert(wsdir, root2), repo_cert(wsdir, issuing2)
    cn = naming["common_name"].format(base="Two-Tier Root", generation=2)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    cn = naming["common_name"].format(base="Two-Tier Issuing CA", generation=2)
    assert issuing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    # Generation 2 keeps the algorithms of the data.
    root_key = root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey) and root_key.curve.name == "secp384r1"
    issuing_key = issuing.public_key()
    assert isinstance(issuing_key, rsa.RSAPublicKey) and issuing_key.key_size == 3072
    # The link certificates exist under the data's link profile name.
    assert (wsdir / "repository" / f"{root2}-by-{ROOT}.crt").is_file()
    r = run("show", "-w", str(wsdir))
    assert r.exit_code == 0 and naming["link_profile"] in r.output

    r = issue(wsdir, tmp_path, [csr("new.two-tier.example")])
    assert r.exit_code == 0, r.output
    (cert,) = issued(tmp_path)
    assert cert.issuer == issuing.subject
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name is not None
    assert cdp[0].full_name[0].value == f"http://crl.two-tier.example/{issuing2}.crl"
    proc = openssl_verify(tmp_path, root, issuing, cert)
    assert ok(proc), proc.stdout + proc.stderr
    r = run("crl", "publish", "-w", str(wsdir), "--all")
    assert r.exit_code == 0, r.output
    crls = [repo_crl(wsdir, root2), repo_crl(wsdir, issuing2)]
    proc = openssl_verify(tmp_path, root, issuing, cert, crls, "-crl_check_all")
    assert ok(proc), proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# the RA: the procedures the two-tier CP/CPS names, and those it does not
# --------------------------------------------------------------------------------------


def test_ra_aor_procedure_serves_the_two_tier_profile(wsdir: Path, tmp_path: Path) -> None:
    assert DOC["profiles"][PROFILE]["identity_check"]["procedure"] == "aor"
    r = run("ra", "add-aor", "-w", str(wsdir), "--name", "ops", "--domain", "two-tier.example")
    assert r.exit_code == 0, r.output
    (tmp_path / "in.pem").write_bytes(csr("www.two-tier.example"))
    (tmp_path / "out.pem").write_bytes(csr("www.elsewhere.example"))
    args = ["ra", "issue-infra", "-w", str(wsdir), "-p", PROFILE, "--aor", "ops"]
    r = run(*args, "--csr", str(tmp_path / "in.pem"), "--out", str(tmp_path / "a.pem"))
    assert r.exit_code == 0, r.output
    (cert,) = issued(tmp_path, "a")
    assert cert.issuer == repo_cert(wsdir, ISSUING).subject
    r = run(*args, "--csr", str(tmp_path / "out.pem"), "--out", str(tmp_path / "b.pem"))
    assert r.exit_code == 3 and "may not request" in flat(r)


def test_ra_procedure_without_a_profile_is_refused(wsdir: Path, tmp_path: Path) -> None:
    # The two-tier CP/CPS checks no profile by trusted agent (Porthos: its user profile).
    procedures = {p["identity_check"]["procedure"] for p in DOC["profiles"].values()}
    assert "trusted-agent" not in procedures
    (tmp_path / "u.pem").write_bytes(csr("someone.two-tier.example"))
    r = run(
        "ra", "issue-user", "-w", str(wsdir), "--agent", "bob",
        "--csr", str(tmp_path / "u.pem"), "--out", str(tmp_path / "u.out.pem"),
    )  # fmt: skip
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "no profile checked by trusted-agent" in flat(r)
    # Nor by transaction-ID (Porthos: its standard assurance profiles): registering a
    # CSR for one is refused.
    assert "transaction-id" not in procedures
    r = run(
        "ra", "register-csr", "-w", str(wsdir), "--csr", str(tmp_path / "u.pem"), "--agent", "bob"
    )
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "no profile checked by transaction-id" in flat(r)
