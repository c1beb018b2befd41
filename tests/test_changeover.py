"""Key changeover (000 §5.6) and CA termination (000 §5.8), end to end through the CLI.

Judges: ``openssl verify -crl_check_all`` (the chain and every CRL on it), pyca for
CRL signatures and fields, pkilint for the link certificates, the store and the audit
chain for what was recorded.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from error_codes import raises_code
from interop import assert_pkilint_clean, to_pem
from porthos import audit, crl
from porthos.ca import Workspace
from porthos.changeover import LINK_PROFILE, derive_generation, generation_name
from porthos.cli import main
from porthos.exceptions import LifecycleError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")

GEN1 = ("root-ca-1", "ha-device-ca-1", "sa-device-ca-1", "infrastructure-ca-1", "user-ca-1")
GEN2 = tuple(generation_name(n, 2) for n in GEN1)


def _cli(args: Sequence[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _issue(ws: Path, profile: str, pem: str, out: Path) -> bytes:
    req = out.with_suffix(".req.pem")
    req.write_text(pem)
    code, output = _cli(
        ["issue", "-w", str(ws), "-p", profile, "--csr", str(req), "--out", str(out)]
    )
    assert code == 0, output
    return x509.load_pem_x509_certificate(out.read_bytes()).public_bytes(Encoding.DER)


def _verify(
    tmp: Path,
    anchor: bytes,
    untrusted: Sequence[bytes],
    leaf: bytes,
    crls: Sequence[Path],
    *,
    crl_check: str = "-crl_check_all",
) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    (tmp / "anchor.pem").write_bytes(to_pem(anchor))
    (tmp / "leaf.pem").write_bytes(to_pem(leaf))
    cmd = [OPENSSL, "verify", "-x509_strict", "-CAfile", str(tmp / "anchor.pem")]
    if untrusted:
        (tmp / "untrusted.pem").write_bytes(b"".join(to_pem(c) for c in untrusted))
        cmd += ["-untrusted", str(tmp / "untrusted.pem")]
    if crls:
        (tmp / "crls.pem").write_bytes(b"".join(to_pem(p.read_bytes(), "X509 CRL") for p in crls))
        cmd += [crl_check, "-CRLfile", str(tmp / "crls.pem")]
    cmd.append(str(tmp / "leaf.pem"))
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _ok(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == 0 and proc.stdout.rstrip().endswith(": OK")


@dataclass
class Rolled:
    ws: Path
    repo: Path
    gen1_leaf: bytes
    gen1_revoked: bytes
    gen2_leaf: bytes


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory, csr_factory: CsrFactory) -> Rolled:
    """A prod workspace: two gen-1 certificates (one revoked), ``porthos rollover``,
    one gen-2 certificate, then every CA's CRL published (porthos.crl.publish)."""
    tmp = tmp_path_factory.mktemp("rollover")
    ws = tmp / "ws"
    code, output = _cli(["init", "-w", str(ws)])
    assert code == 0, output
    uuid1, uuid2, uuid3 = (
        "0b5e1c7a-8f6d-4e0b-9a51-3c2f4d5e6a71",
        "1c6f2d8b-9a7e-4f1c-8b62-4d3a5e6f7b82",
        "2d7a3e9c-ab8f-4a2d-9c73-5e4b6f7a8c93",
    )
    gen1_leaf = _issue(ws, "ha-device", csr_factory.pem([("CN", uuid1)], slot=1), tmp / "g1.pem")
    gen1_revoked = _issue(
        ws, "ha-device", csr_factory.pem([("CN", uuid2)], slot=2), tmp / "g1r.pem"
    )
    with Workspace.open(ws) as w:
        w.ca("ha-device-ca-1").revoke(
            [x509.load_der_x509_certificate(gen1_revoked).serial_number], "keyCompromise"
        )

    code, output = _cli(["rollover", "-w", str(ws)])
    assert code == 0, output
    assert "Porthos High Assurance Device CA 2" in output
    assert "generation 1 retired" in output

    gen2_leaf = _issue(ws, "ha-device", csr_factory.pem([("CN", uuid3)], slot=3), tmp / "g2.pem")
    with Workspace.open(ws) as w:
        crl.publish(w)
    return Rolled(ws, ws / "repository", gen1_leaf, gen1_revoked, gen2_leaf)


def _crt(r: Rolled, name: str) -> bytes:
    return (r.repo / f"{name}.crt").read_bytes()


def _uris(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return (
        [n.value for dp in cdp for n in (dp.full_name or [])],
        [d.access_location.value for d in aia],
    )


# --------------------------------------------------------------------------------------
# rollover (000 §5.6)
# --------------------------------------------------------------------------------------


def test_generation_is_derived_from_the_profile_set() -> None:
    import tomllib

    from porthos.profiles import profile_set_text

    doc = tomllib.loads(profile_set_text("porthos")[0])
    gen2 = derive_generation(doc, 2)
    assert list(gen2["cas"]) == list(GEN2)
    ha = gen2["cas"]["ha-device-ca-2"]
    assert ha["issuer"] == "root-ca-2"
    assert ["CN", "Non-Prod Porthos High Assurance Device CA 2"] in ha["subject"]["nonprod"]
    assert ha["extensions"][2]["uris"] == ["{crl}/root-ca-2.crl"]
    assert gen2["profiles"]["tls-server"]["issuer"] == "infrastructure-ca-2"
    # The generation-1 document is untouched.
    assert "root-ca-1" in doc["cas"]


def test_rollover_creates_generation_2_and_retires_generation_1(rolled: Rolled) -> None:
    with Workspace.open(rolled.ws) as w:
        assert w.generation == 2
        assert [ca.name for ca in w.cas_of(2)] == list(GEN2)
        assert {ca.status for ca in w.cas_of(1)} == {"retired"}
        assert {ca.status for ca in w.cas_of(2)} == {"active"}
        assert w.ca_for_profile("ha-device").name == "ha-device-ca-2"
        assert w.ca_for_profile("tls-server").name == "infrastructure-ca-2"
        assert w.root.name == "root-ca-2"
        # Both generations' subjects: "... 1" and "... 2" (000 §7.1 naming).
        assert dict(w.ca("user-ca-2").subject)["CN"] == "Porthos User CA 2"
        assert dict(w.ca("root-ca-2").subject)["CN"] == "Porthos Root CA 2"
        # Store: generation and status columns, link certificates under their issuer.
        rows = w.store.conn.execute(
            "SELECT name, generation, status FROM cas ORDER BY rowid"
        ).fetchall()
        assert rows == [(n, 1, "retired") for n in GEN1] + [(n, 2, "active") for n in GEN2]
        links = w.store.conn.execute(
            "SELECT ca_name FROM certificates WHERE profile = ? ORDER BY ca_name",
            (LINK_PROFILE,),
        ).fetchall()
        assert links == [("root-ca-1",), ("root-ca-2",)]
        events = [r.event for r in audit.records(w.store)]
        assert events.count("ca.rollover") == 1
        assert events.count("ca.link-certificate") == 2
        assert events.count("ca.keygen") == 10 and events.count("ca.created") == 10
        assert audit.verify(w.store)
    for name in GEN2:
        assert (rolled.repo / f"{name}.crt").is_file()
        assert (rolled.ws / "keys" / f"{name}.p8").stat().st_mode & 0o777 == 0o600
    # Generation-2 CDP/AIA URLs name generation-2 files.
    ha2 = x509.load_der_x509_certificate(_crt(rolled, "ha-device-ca-2"))
    assert _uris(ha2) == (
        ["http://crl.pki.porthos.services/root-ca-2.crl"],
        ["http://crt.pki.porthos.services/root-ca-2.crt"],
    )
    leaf = x509.load_der_x509_certificate(rolled.gen2_leaf)
    assert _uris(leaf) == (
        ["http://crl.pki.porthos.services/ha-device-ca-2.crl"],
        ["http://crt.pki.porthos.services/ha-device-ca-2.crt"],
    )
    assert leaf.issuer == ha2.subject


def test_link_certificates(rolled: Rolled) -> None:
    root1 = x509.load_der_x509_certificate(_crt(rolled, "root-ca-1"))
    root2 = x509.load_der_x509_certificate(_crt(rolled, "root-ca-2"))
    nwo = x509.load_der_x509_certificate(_crt(rolled, "root-ca-2-by-root-ca-1"))
    own = x509.load_der_x509_certificate(_crt(rolled, "root-ca-1-by-root-ca-2"))
    # NewWithOld: Root CA 2's key, signed by Root CA 1 (RFC 4210 §4.4).
    assert nwo.subject == root2.subject and nwo.issuer == root1.subject
    assert nwo.public_key() == root2.public_key()
    nwo.verify_directly_issued_by(root1)
    # OldWithNew: Root CA 1's key, signed by Root CA 2.
    assert own.subject == root1.subject and own.issuer == root2.subject
    assert own.public_key() == root1.public_key()
    own.verify_directly_issued_by(root2)
    for link in (nwo, own):
        bc = link.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length is None
        assert link.not_valid_after_utc <= root1.not_valid_after_utc
        assert_pkilint_clean(link.public_bytes(Encoding.DER), "link certificate")
    assert _uris(nwo)[0] == ["http://crl.pki.porthos.services/root-ca-1.crl"]
    assert _uris(own)[0] == ["http://crl.pki.porthos.services/root-ca-2.crl"]


@needs_openssl
def test_new_certificate_chains_to_root_2_with_crls(rolled: Rolled, tmp_path: Path) -> None:
    crls = [rolled.repo / "root-ca-2.crl", rolled.repo / "ha-device-ca-2.crl"]
    proc = _verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        [_crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        crls,
    )
    assert _ok(proc), proc.stdout + proc.stderr
    # A relying party that still trusts only Root CA 1 gets there through NewWithOld.
    proc = _verify(
        tmp_path,
        _crt(rolled, "root-ca-1"),
        [_crt(rolled, "root-ca-2-by-root-ca-1"), _crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        [*crls, rolled.repo / "root-ca-1.crl"],
    )
    assert _ok(proc), proc.stdout + proc.stderr
    # Without the link it cannot (the refusing case).
    proc = _verify(
        tmp_path,
        _crt(rolled, "root-ca-1"),
        [_crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        [],
    )
    assert not _ok(proc)


@needs_openssl
def test_generation_1_certificate_verifies_through_the_link(
    rolled: Rolled, tmp_path: Path
) -> None:
    """Root CA 2 is the only trust anchor; OldWithNew bridges to generation 1, and the
    CRLs come from both generations (root-ca-2.crl covers the link, root-ca-1.crl the
    gen-1 issuing CA, ha-device-ca-1.crl the leaf)."""
    untrusted = [_crt(rolled, "root-ca-1-by-root-ca-2"), _crt(rolled, "ha-device-ca-1")]
    crls = [
        rolled.repo / "root-ca-2.crl",
        rolled.repo / "root-ca-1.crl",
        rolled.repo / "ha-device-ca-1.crl",
    ]
    proc = _verify(tmp_path, _crt(rolled, "root-ca-2"), untrusted, rolled.gen1_leaf, crls)
    assert _ok(proc), proc.stdout + proc.stderr
    proc = _verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        untrusted,
        rolled.gen1_leaf,
        [rolled.repo / "ha-device-ca-1.crl"],
        crl_check="-crl_check",
    )
    assert _ok(proc), proc.stdout + proc.stderr
    # The gen-1 CRL, signed by the retired gen-1 key, still revokes.
    proc = _verify(tmp_path, _crt(rolled, "root-ca-2"), untrusted, rolled.gen1_revoked, crls)
    assert not _ok(proc) and "revoked" in proc.stdout + proc.stderr
    # Without the link, Root CA 2 does not reach generation 1.
    proc = _verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        [_crt(rolled, "ha-device-ca-1")],
        rolled.gen1_leaf,
        [],
    )
    assert not _ok(proc)


def test_generation_1_crls_are_signed_by_generation_1_keys(rolled: Rolled) -> None:
    for gen1, gen2 in zip(GEN1, GEN2, strict=True):
        c1 = x509.load_der_x509_certificate(_crt(rolled, gen1))
        c2 = x509.load_der_x509_certificate(_crt(rolled, gen2))
        lst = x509.load_der_x509_crl((rolled.repo / f"{gen1}.crl").read_bytes())
        assert lst.issuer == c1.subject
        assert lst.is_signature_valid(c1.public_key())  # type: ignore[arg-type]
        assert not lst.is_signature_valid(c2.public_key())  # type: ignore[arg-type]
    lst = x509.load_der_x509_crl((rolled.repo / "ha-device-ca-1.crl").read_bytes())
    serial = x509.load_der_x509_certificate(rolled.gen1_revoked).serial_number
    assert lst.get_revoked_certificate_by_serial_number(serial) is not None
    # `porthos crl publish` (porthos.lifecycle) puts a retired CA's CRL where the
    # generation-1 certificates' CDP points (000 §2.1, §5.6), signed by its own key.
    from porthos import lifecycle

    with Workspace.open(rolled.ws) as w:
        lifecycle.publish(w, ["ha-device-ca-1"])
    leaf = x509.load_der_x509_certificate(rolled.gen1_leaf)
    (point,) = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    host, path = point.full_name[0].value.removeprefix("http://").split("/", 1)
    lst = x509.load_der_x509_crl((rolled.repo / host / path).read_bytes())
    issuer = x509.load_der_x509_certificate(_crt(rolled, "ha-device-ca-1"))
    assert lst.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert lst.get_revoked_certificate_by_serial_number(serial) is not None


def test_retired_ca_refuses_to_issue(
    rolled: Rolled, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    pem = csr_factory.pem([("CN", "3e8b4fad-bc9a-4b3e-8d84-6f5c7a8b9da4")], slot=4)
    with Workspace.open(rolled.ws) as w:
        before = w.store.count_certificates("ha-device-ca-1")
        # The message must cite the CP/CPS section (000 §5.6).
        with raises_code(LifecycleError, "lifecycle", match=r"retired.*000 §5\.6"):
            w.ca("ha-device-ca-1").issue_batch(pem, "ha-device")
        assert w.store.count_certificates("ha-device-ca-1") == before
    # The CLI issues from generation 2 (the accepting case of the same rule).
    leaf = x509.load_der_x509_certificate(_issue(rolled.ws, "ha-device", pem, tmp_path / "x.pem"))
    assert "High Assurance Device CA 2" in leaf.issuer.rfc4514_string()


def test_rollover_failure_records_nothing_and_removes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porthos.store import Store

    with Workspace.init(tmp_path / "ws", "nonprod") as w:
        events_before = [r.event for r in audit.records(w.store)]

        def boom(self: Store, *a: object, **k: object) -> int:
            raise RuntimeError("disk full")

        monkeypatch.setattr(Store, "insert_certificates", boom)
        # No .code (RuntimeError): the fault injected above, passed through.
        with pytest.raises(RuntimeError, match="disk full"):
            w.rollover()
        monkeypatch.undo()
        assert [n for (n,) in w.store.conn.execute("SELECT name FROM cas ORDER BY rowid")] == list(
            GEN1
        )
        assert w.generation == 1 and {ca.status for ca in w.cas} == {"active"}
        assert sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir()) == sorted(
            f"{n}.p8" for n in GEN1
        )
        assert not list((tmp_path / "ws" / "repository").glob("*-2*"))
        after = list(audit.records(w.store))
        assert [r.event for r in after[: len(events_before)]] == events_before
        assert [(r.event, r.outcome) for r in after[len(events_before) :]] == [
            ("ca.rollover", "failure")
        ]
        assert audit.verify(w.store)
        # And it still works afterwards.
        result = w.rollover()
        assert result.generation == 2 and w.ca("root-ca-2").status == "active"


# --------------------------------------------------------------------------------------
# termination (000 §5.8)
# --------------------------------------------------------------------------------------


def test_terminate_end_to_end(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = tmp_path / "ws"
    assert _cli(["init", "-w", str(ws), "--env", "nonprod"])[0] == 0
    leaves = [
        _issue(
            ws,
            "tls-server",
            csr_factory.pem([("CN", "a.porthos.example")], slot=5),
            tmp_path / "a.pem",
        ),
        _issue(ws, "user", csr_factory.pem([("CN", "Alice Example")], slot=6), tmp_path / "u.pem"),
    ]
    compromised = x509.load_der_x509_certificate(leaves[1]).serial_number
    with Workspace.open(ws) as w:
        w.ca("user-ca-1").revoke([compromised], "keyCompromise")
    assert _cli(["rollover", "-w", str(ws)])[0] == 0
    leaves.append(
        _issue(
            ws,
            "tls-server",
            csr_factory.pem([("CN", "b.porthos.example")], slot=7),
            tmp_path / "b.pem",
        )
    )

    # Refusing cases first: neither/both choices, and an export to a PKCS#11 module
    # that does not exist (the exports themselves: test_terminate_exports_...);
    # none of them changes anything.
    code, output = _cli(["terminate", "-w", str(ws)])
    assert code == 2 and "exactly one" in output
    (tmp_path / "successor.pin").write_bytes(b"0000\n")
    code, output = _cli(
        [
            "terminate",
            "-w",
            str(ws),
            "--export-to",
            "successor",
            "--module",
            str(tmp_path / "no-such-module.so"),
            "--successor-pin-file",
            str(tmp_path / "successor.pin"),
        ]
    )
    assert code == 2 and "no-such-module.so does not exist" in output
    with Workspace.open(ws) as w:
        assert {ca.status for ca in w.cas} == {"retired", "active"}
        assert w.store.revocations("infrastructure-ca-1") == []

    code, output = _cli(["terminate", "-w", str(ws), "--destroy-keys"])
    assert code == 0, output

    repo = ws / "repository"
    with Workspace.open(ws) as w:
        assert {ca.status for ca in w.cas} == {"terminated"}
        # Every certificate revoked: subscriber, link and issuing-CA certificates.
        for ca in w.cas:
            issued = {
                s
                for (s,) in w.store.conn.execute(
                    "SELECT serial_hex FROM certificates WHERE ca_name = ?", (ca.name,)
                )
            }
            issued |= {
                format(x509.load_der_x509_certificate(c.certificate).serial_number, "x").zfill(32)
                for c in w.cas
                if c.parent == ca.name and c is not ca
            }
            revoked = {r[0]: r[2] for r in w.store.revocations(ca.name)}
            assert issued == set(revoked), ca.name
            final = (repo / f"{ca.name}.crl").read_bytes()
            lst = x509.load_der_x509_crl(final)
            cert = x509.load_der_x509_certificate(ca.certificate)
            assert lst.is_signature_valid(cert.public_key())  # type: ignore[arg-type]
            assert {format(r.serial_number, "x").zfill(32) for r in lst} == issued
            # The final CRL is also where the certificates' CDP URLs point (000 §2.1).
            from porthos import lifecycle

            urls = lifecycle.crl_urls(w, ca.name)
            assert urls, ca.name
            for url in urls:
                assert lifecycle.repository_path(w, url).read_bytes() == final, url
            # nextUpdate after the last expiry of anything this CA issued (000 §5.8).
            expiries = [
                n
                for (n,) in w.store.conn.execute(
                    "SELECT not_after FROM certificates WHERE ca_name = ?", (ca.name,)
                )
            ] + [c.not_after for c in w.cas if c.parent == ca.name and c is not ca]
            assert lst.next_update_utc is not None
            if expiries:
                assert lst.next_update_utc.timestamp() > max(expiries)
            for entry in lst:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                expected = (
                    x509.ReasonFlags.key_compromise
                    if entry.serial_number == compromised
                    else x509.ReasonFlags.cessation_of_operation
                )
                assert reason == expected
        records = list(audit.records(w.store))
        events = [r.event for r in records if r.outcome == "success"]
        # The refused export was audited as a failure (000 §5.4.1).
        # The operation's own record, then the CLI's record of the failed command.
        failures = [(r.event, r.details["error"]) for r in records if r.outcome == "failure"]
        assert [event for event, _ in failures] == ["ca.terminated", "failure"]
        assert all("no-such-module.so does not exist" in error for _, error in failures)
        assert events.count("ca.terminated") == 10
        assert events.count("ca.key-destroyed") == 10
        assert events.count("crl.created") >= 10 and "crl.published" in events
        assert audit.verify(w.store)
    # The keys are gone.
    assert list((ws / "keys").iterdir()) == []

    # openssl accepts the final CRLs and so refuses the revoked leaf.
    if OPENSSL is not None:
        proc = _verify(
            tmp_path,
            (repo / "root-ca-2.crt").read_bytes(),
            [(repo / "infrastructure-ca-2.crt").read_bytes()],
            leaves[2],
            [repo / "infrastructure-ca-2.crl"],
            crl_check="-crl_check",
        )
        assert not _ok(proc) and "revoked" in proc.stdout + proc.stderr

    # Twice is refused cleanly, and so is everything that would sign again.
    code, output = _cli(["terminate", "-w", str(ws), "--destroy-keys"])
    assert code == 2 and "already terminated" in output and "Traceback" not in output
    code, output = _cli(["rollover", "-w", str(ws)])
    assert code == 2 and "terminated" in output
    req = tmp_path / "c.req.pem"
    req.write_text(csr_factory.pem([("CN", "c.porthos.example")], slot=8))
    code, output = _cli(
        [
            "issue",
            "-w",
            str(ws),
            "-p",
            "tls-server",
            "--csr",
            str(req),
            "--out",
            str(tmp_path / "c.pem"),
        ]
    )
    assert code == 2 and "terminated" in output


# --------------------------------------------------------------------------------------
# HSM mode: keys generated in and destroyed inside SoftHSM2 tokens
# --------------------------------------------------------------------------------------


def _softhsm() -> bool:
    from porthos import hsm
    from porthos.exceptions import HsmNotFoundError

    try:
        hsm.find_module()
    except HsmNotFoundError:
        return False
    return True


_HALVES = (b"half-r0ll", b"half-0ver")
_USER_PIN = b"user-5c0ffee1"
_SO_PIN = b"so-8badf00d"


def _hsm_env() -> dict[str, str]:
    """This environment for a porthos subprocess that finds its SoftHSM2 store itself
    (no inherited SOFTHSM2_CONF) and imports this checkout's porthos."""
    import os

    import porthos

    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)
    env["PYTHONPATH"] = str(Path(porthos.__file__).parent.parent)
    return env


def _write_pin_files(tmp_path: Path) -> None:
    """so.pin, user.pin, alice.pin and bob.pin (the two root PIN halves) in tmp_path."""
    for name, pin in (
        ("so", _SO_PIN),
        ("user", _USER_PIN),
        ("alice", _HALVES[0]),
        ("bob", _HALVES[1]),
    ):
        (tmp_path / f"{name}.pin").write_bytes(pin + b"\n")


def _run(args: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Own processes: SoftHSM2 reads SOFTHSM2_CONF once per process (porthos.hsm).
    import sys

    return subprocess.run(
        [sys.executable, "-c", "from porthos.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


_LIST_KEYS = """
import sys, pkcs11
lib = pkcs11.lib(sys.argv[1])
out = []
for label, pin in (("porthos-root", sys.argv[2]), ("porthos-issuing", sys.argv[3])):
    with lib.get_token(token_label=label).open(user_pin=pin) as s:
        out += [o.label for o in s.get_objects({pkcs11.Attribute.CLASS:
                pkcs11.ObjectClass.PRIVATE_KEY})]
print(",".join(sorted(out)))
"""


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_hsm_rollover_export_refused_and_keys_destroyed(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    import sys

    from porthos import hsm

    env = _hsm_env()
    _write_pin_files(tmp_path)
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    ws = tmp_path / "ws"
    outputs = []

    def ok(args: Sequence[str]) -> str:
        r = _run(args, tmp_path, env)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def refused(args: Sequence[str]) -> str:
        r = _run(args, tmp_path, env)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        return r.stderr

    ok(
        [
            "init",
            "-w",
            str(ws),
            "--hsm",
            "softhsm",
            "--so-pin-file",
            "so.pin",
            "--pin-file",
            "user.pin",
            *officers,
        ]
    )
    # Key creation needs both officers (000 §6.2.2): refused with one.
    err = refused(
        ["rollover", "-w", str(ws), "--pin-file", "user.pin", "--root-officer", "alice=alice.pin"]
    )
    assert "two" in err
    ok(["rollover", "-w", str(ws), "--pin-file", "user.pin", *officers])
    assert not (ws / "keys").exists()
    (tmp_path / "req.pem").write_text(
        csr_factory.pem([("CN", "4f9c5abe-cdab-4c4f-9e95-7a6d8b9caeb5")], slot=9)
    )
    ok(
        [
            "issue",
            "-w",
            str(ws),
            "-p",
            "ha-device",
            "--csr",
            "req.pem",
            "--out",
            "leaf.pem",
            "--pin-file",
            "user.pin",
        ]
    )
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    assert leaf.issuer.rfc4514_string().startswith("CN=Porthos High Assurance Device CA 2")
    repo = ws / "repository"
    if OPENSSL is not None:
        proc = _verify(
            tmp_path,
            (repo / "root-ca-2.crt").read_bytes(),
            [(repo / "ha-device-ca-2.crt").read_bytes()],
            leaf.public_bytes(Encoding.DER),
            [],
        )
        assert _ok(proc), proc.stdout + proc.stderr
        # Generation 1 through the OldWithNew link, HSM-signed.
        root1 = x509.load_der_x509_certificate((repo / "root-ca-1.crt").read_bytes())
        own = x509.load_der_x509_certificate((repo / "root-ca-1-by-root-ca-2.crt").read_bytes())
        own.verify_directly_issued_by(
            x509.load_der_x509_certificate((repo / "root-ca-2.crt").read_bytes())
        )
        assert own.public_key() == root1.public_key()

    module = str(hsm.find_module())
    key_env = dict(env, SOFTHSM2_CONF=str(ws / "hsm" / "softhsm2.conf"))
    root_pin = (_HALVES[0] + _HALVES[1]).decode()

    def keys_left() -> list[str]:
        r = subprocess.run(
            [sys.executable, "-c", _LIST_KEYS, module, root_pin, _USER_PIN.decode()],
            env=key_env,
            capture_output=True,
            text=True,
            check=True,
        )
        return [k for k in r.stdout.strip().split(",") if k]

    assert keys_left() == sorted([*GEN1, *GEN2])

    # Export to a successor token: refused, the keys are non-extractable (000 §6.2.6).
    ok(
        [
            "hsm",
            "init-token",
            "--softhsm-dir",
            str(ws / "hsm"),
            "--label",
            "successor",
            "--so-pin-file",
            "so.pin",
            "--pin-file",
            "user.pin",
        ]
    )
    err = refused(
        [
            "terminate",
            "-w",
            str(ws),
            "--export-to",
            "successor",
            "--pin-file",
            "user.pin",
            *officers,
        ]
    )
    assert "non-extractable" in err and "--destroy-keys" in err
    assert keys_left() == sorted([*GEN1, *GEN2])

    out = ok(["terminate", "-w", str(ws), "--destroy-keys", "--pin-file", "user.pin", *officers])
    assert "destroyed" in out
    assert keys_left() == []
    for name in (*GEN1, *GEN2):
        ca = x509.load_der_x509_certificate((repo / f"{name}.crt").read_bytes())
        lst = x509.load_der_x509_crl((repo / f"{name}.crl").read_bytes())
        assert lst.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        assert lst.next_update_utc is not None
    final = x509.load_der_x509_crl((repo / "ha-device-ca-2.crl").read_bytes())
    assert final.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    assert final.next_update_utc is not None
    assert final.next_update_utc > leaf.not_valid_after_utc
    err = refused(
        ["terminate", "-w", str(ws), "--destroy-keys", "--pin-file", "user.pin", *officers]
    )
    assert "already terminated" in err
    # No PIN (nor a half) in any output or workspace file.
    blobs = list(outputs)
    for p in ws.rglob("*"):
        if p.is_file() and "tokens" not in p.parts:
            blobs.append(p.read_bytes().decode("latin-1"))
    text = "\n".join(blobs)
    for pin in (*_HALVES, _USER_PIN, _SO_PIN, _HALVES[0] + _HALVES[1]):
        assert pin.decode() not in text


def test_terminate_resumes_key_destruction_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the final CRLs (step 4) leaves keys behind: a second terminate
    --destroy-keys destroys only those; without keys left it is refused."""
    from porthos import changeover

    with Workspace.init(tmp_path / "ws", "prod") as w:
        real = changeover._destroy_software_key
        calls = []

        def crash_on_third(path: Path) -> bool:
            calls.append(path.name)
            if len(calls) == 3:
                raise OSError("power lost")
            return real(path)

        monkeypatch.setattr(changeover, "_destroy_software_key", crash_on_third)
        # No .code (OSError): the crash injected above, passed through.
        with pytest.raises(OSError, match="power lost"):
            w.terminate(destroy_keys=True)
        monkeypatch.undo()
        assert {ca.status for ca in w.cas} == {"terminated"}
        left = sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir())
        assert left == sorted(f"{n}.p8" for n in GEN1[2:])
        crl_numbers = {ca.name: w.store.last_crl_number(ca.name) for ca in w.cas}
    code, output = _cli(["terminate", "-w", str(tmp_path / "ws"), "--destroy-keys"])
    assert code == 0, output
    assert list((tmp_path / "ws" / "keys").iterdir()) == []
    with Workspace.open(tmp_path / "ws") as w:
        # No second set of final CRLs, no second revocation.
        assert {ca.name: w.store.last_crl_number(ca.name) for ca in w.cas} == crl_numbers
        events = [r.event for r in audit.records(w.store) if r.outcome == "success"]
        assert events.count("ca.key-destroyed") == len(GEN1)
        assert events.count("ca.terminated") == len(GEN1)
        assert audit.verify(w.store)
    code, output = _cli(["terminate", "-w", str(tmp_path / "ws"), "--destroy-keys"])
    assert code == 2 and "already terminated" in output


# --------------------------------------------------------------------------------------
# Export of software CA keys to a successor token (000 §5.8, §6.2.6)
# --------------------------------------------------------------------------------------

#: Run in its own process with SOFTHSM2_CONF of the successor: every object of the
#: token (label, class, attributes), and for each private key a signature over a
#: digest made INSIDE the token, and whether CKA_VALUE can be read.
_INSPECT = """
import json, sys, pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass
lib = pkcs11.lib(sys.argv[1])
digest = bytes.fromhex(sys.argv[4])
out = []
with lib.get_token(token_label=sys.argv[2]).open(user_pin=sys.argv[3]) as s:
    for o in list(s.get_objects()):
        item = {"label": o.label, "class": int(o[Attribute.CLASS])}
        if o[Attribute.CLASS] == ObjectClass.PRIVATE_KEY:
            for a in ("SENSITIVE", "EXTRACTABLE", "NEVER_EXTRACTABLE", "PRIVATE", "TOKEN",
                      "SIGN", "DECRYPT", "UNWRAP", "DERIVE", "LOCAL"):
                item[a] = bool(o[getattr(Attribute, a)])
            try:
                o[Attribute.VALUE]
                item["value_readable"] = True
            except pkcs11.AttributeSensitive:
                item["value_readable"] = False
            item["sig"] = o.sign(digest, mechanism=Mechanism.ECDSA).hex()
        out.append(item)
print(json.dumps(out))
"""


@dataclass
class Successor:
    dir: Path
    env: dict[str, str]
    module: str

    def objects(self, token: str, pin: bytes, digest: bytes = bytes(32)) -> list[dict]:
        import json
        import sys

        r = subprocess.run(
            [sys.executable, "-c", _INSPECT, self.module, token, pin.decode(), digest.hex()],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout))


@pytest.fixture
def successor(tmp_path: Path) -> Successor:
    """A SoftHSM2 store in tmp_path with token 'successor' (empty) and token 'occupied'
    (already holding a key labelled ha-device-ca-1), made through the CLI."""
    import os

    import porthos
    from porthos import hsm

    d = tmp_path / "successor-hsm"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(porthos.__file__).parent.parent)
    env["SOFTHSM2_CONF"] = str(hsm.softhsm_conf(d))
    env.pop("PORTHOS_PKCS11_MODULE", None)
    (tmp_path / "so.pin").write_bytes(_SO_PIN + b"\n")
    (tmp_path / "user.pin").write_bytes(_USER_PIN + b"\n")
    (tmp_path / "wrong.pin").write_bytes(b"not-the-pin\n")
    for label in ("successor", "occupied"):
        r = _run(
            [
                "hsm",
                "init-token",
                "--label",
                label,
                "--so-pin-file",
                "so.pin",
                "--pin-file",
                "user.pin",
            ],
            tmp_path,
            env,
        )
        assert r.returncode == 0, r.stdout + r.stderr
    r = _run(
        [
            "hsm",
            "keygen",
            "--token",
            "occupied",
            "--label",
            "ha-device-ca-1",
            "--type",
            "ec-p256",
            "--pin-file",
            "user.pin",
        ],
        tmp_path,
        env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return Successor(d, env, str(hsm.find_module()))


def _unchanged(ws: Path, names: Sequence[str]) -> None:
    assert sorted(p.name for p in (ws / "keys").iterdir()) == sorted(f"{n}.p8" for n in names)
    with Workspace.open(ws) as w:
        assert "terminated" not in {ca.status for ca in w.cas}
        assert all(w.store.revocations(ca.name) == [] for ca in w.cas)


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_terminate_exports_software_keys_to_successor_token(
    tmp_path: Path, csr_factory: CsrFactory, successor: Successor
) -> None:
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from cryptography.hazmat.primitives.serialization import PublicFormat
    from pkcs11.util.ec import encode_ecdsa_signature

    ws = tmp_path / "ws"
    assert _cli(["init", "-w", str(ws), "--env", "nonprod"])[0] == 0
    leaf = _issue(
        ws,
        "tls-server",
        csr_factory.pem([("CN", "a.porthos.example")], slot=5),
        tmp_path / "a.pem",
    )
    assert _cli(["rollover", "-w", str(ws)])[0] == 0
    names = (*GEN1, *GEN2)
    outputs = []

    def terminate(*extra: str) -> subprocess.CompletedProcess[str]:
        r = _run(["terminate", "-w", str(ws), *extra], tmp_path, successor.env)
        outputs.append(r.stdout + r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    # Wrong successor PIN: a clear error, nothing changed anywhere.
    r = terminate("--export-to", "successor", "--successor-pin-file", "wrong.pin")
    assert r.returncode == 2 and "PIN incorrect" in r.stderr and "successor" in r.stderr
    _unchanged(ws, names)
    assert successor.objects("successor", _USER_PIN) == []

    # A successor that already holds a CA's label: refused, nothing changed, and the
    # object already there is left alone.
    r = terminate("--export-to", "occupied", "--successor-pin-file", "user.pin")
    assert r.returncode == 2 and "already holds" in r.stderr and "ha-device-ca-1" in r.stderr
    _unchanged(ws, names)
    assert sorted(o["label"] for o in successor.objects("occupied", _USER_PIN)) == [
        "ha-device-ca-1",
        "ha-device-ca-1",
    ]

    # No such token: refused naming the tokens there.
    r = terminate("--export-to", "nowhere", "--successor-pin-file", "user.pin")
    assert r.returncode == 2 and "nowhere" in r.stderr and "occupied" in r.stderr
    _unchanged(ws, names)

    # The export.
    r = terminate("--export-to", "successor", "--successor-pin-file", "user.pin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exported to token 'successor'" in r.stdout
    assert list((ws / "keys").iterdir()) == []

    digest = hashlib.sha256(b"successor check").digest()
    objects = successor.objects("successor", _USER_PIN, digest)
    private = {o["label"]: o for o in objects if "sig" in o}
    assert sorted(private) == sorted(names)
    assert sorted(o["label"] for o in objects if "sig" not in o) == sorted(names)  # public
    repo = ws / "repository"
    spki_hashes = {}
    for name in names:
        o = private[name]
        assert o["SENSITIVE"] and o["PRIVATE"] and o["TOKEN"] and o["SIGN"]
        assert not o["EXTRACTABLE"] and not o["value_readable"]
        assert not (o["DECRYPT"] or o["UNWRAP"] or o["DERIVE"])
        # Imported, so never-extractable is (correctly) false: the key existed outside.
        assert o["NEVER_EXTRACTABLE"] is False and o["LOCAL"] is False
        cert = x509.load_der_x509_certificate((repo / f"{name}.crt").read_bytes())
        public = cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(
            encode_ecdsa_signature(bytes.fromhex(o["sig"])),
            digest,
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )
        spki_hashes[name] = hashlib.sha256(
            public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).hexdigest()

    with Workspace.open(ws) as w:
        assert {ca.status for ca in w.cas} == {"terminated"}
        records = list(audit.records(w.store))
        exported = [r for r in records if r.event == "ca.key-exported"]
        assert sorted(r.details["ca"] for r in exported) == sorted(names)
        for rec in exported:
            assert rec.outcome == "success"
            assert rec.details["token"] == "successor"
            assert rec.details["label"] == rec.details["ca"]
            assert rec.details["spki_sha256"] == spki_hashes[rec.details["ca"]]
        destroyed = [r for r in records if r.event == "ca.key-destroyed"]
        assert len(destroyed) == len(names)
        assert all(r.details["after"] == "exported to successor" for r in destroyed)
        # Every exported record precedes every file destruction.
        assert max(r.seq for r in exported) < min(r.seq for r in destroyed)
        # The refusals were audited as failures, and nothing else happened before.
        assert [r.event for r in records if r.outcome == "failure"].count("ca.terminated") == 3
        assert audit.verify(w.store)
        final = x509.load_der_x509_crl((repo / "infrastructure-ca-1.crl").read_bytes())
        assert final.get_revoked_certificate_by_serial_number(
            x509.load_der_x509_certificate(leaf).serial_number
        )
        dump = "\n".join(f"{r.event} {r.details}" for r in records)
    text = dump + "\n".join(outputs)
    for pin in (_USER_PIN, _SO_PIN):
        assert pin.decode() not in text

    r = terminate("--export-to", "successor", "--successor-pin-file", "user.pin")
    assert r.returncode == 2 and "already terminated" in r.stderr


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_failed_export_removes_what_it_imported(tmp_path: Path, successor: Successor) -> None:
    """The last key file does not belong to its CA: the keys imported before it are
    destroyed again, the workspace is untouched (all or nothing)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    ws = tmp_path / "ws"
    assert _cli(["init", "-w", str(ws)])[0] == 0
    last = ws / "keys" / f"{GEN1[-1]}.p8"
    assert last.exists()
    last.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            Encoding.DER, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    r = _run(
        [
            "terminate",
            "-w",
            str(ws),
            "--export-to",
            "successor",
            "--successor-pin-file",
            "user.pin",
        ],
        tmp_path,
        successor.env,
    )
    assert r.returncode == 2 and "does not belong" in r.stderr, r.stdout + r.stderr
    assert successor.objects("successor", _USER_PIN) == []
    _unchanged(ws, GEN1)


# --------------------------------------------------------------------------------------
# Encrypted transfer of transferable HSM keys to a successor token (000 §6.2.6)
# --------------------------------------------------------------------------------------

#: Every object label in the two tokens of an HSM workspace, by token (user sessions
#: see public and private objects alike): transport keys left behind would show here.
_TOKEN_OBJECTS = """
import json, sys, pkcs11
lib = pkcs11.lib(sys.argv[1])
out = {}
for label, pin in (("porthos-root", sys.argv[2]), ("porthos-issuing", sys.argv[3])):
    with lib.get_token(token_label=label).open(user_pin=pin) as s:
        out[label] = sorted(o.label for o in s.get_objects())
print(json.dumps(out))
"""


#: Run with the successor's SOFTHSM2_CONF: a software workspace whose export to
#: token 'successor' crashes while the second key file is being destroyed; then the
#: resumes. argv: workspace path, successor user PIN.
_INTERRUPTED_EXPORT = """
import json, sys
from pathlib import Path
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
from porthos import audit, changeover, hsm
from porthos.ca import Workspace
from porthos.exceptions import LifecycleError

ws_path, user = Path(sys.argv[1]), hsm.Secret(sys.argv[2].encode())
ws = Workspace.init(ws_path, "prod")
module = str(hsm.find_module())

def terminate(**kw):
    try:
        ws.terminate(**kw)
    except (LifecycleError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"

def labels(token):
    with hsm._user_session(module, token, user) as s:
        return sorted(o.label for o in s.get_objects())

def keys():
    return sorted(p.name for p in (ws_path / "keys").iterdir())

real, calls = changeover._destroy_software_key, []
def crash_on_second(path):
    calls.append(path.name)
    if len(calls) == 2:
        raise OSError("power lost")
    return real(path)
changeover._destroy_software_key = crash_on_second
out = {"first": terminate(export_to="successor", successor_pin=user)}
changeover._destroy_software_key = real
out["after_crash"] = keys()
out["other_token"] = terminate(export_to="occupied", successor_pin=user)
# The successor's copy of user-ca-1 swapped for a key of the same label that is not
# that CA's: the resume must not take it for the exported key.
with hsm._user_session(module, "successor", user, rw=True) as s:
    for o in list(s.get_objects({Attribute.LABEL: "user-ca-1"})):
        o.destroy()
    params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        local=True)
    params.generate_keypair(store=True, label="user-ca-1", private_template={
        Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True})
out["foreign"] = terminate(export_to="successor", successor_pin=user)
out["after_refusals"] = keys()
with hsm._user_session(module, "successor", user, rw=True) as s:
    for o in list(s.get_objects({Attribute.LABEL: "user-ca-1"})):
        o.destroy()
# user-ca-1 is now missing from the successor: the resume exports it afresh.
out["again"] = terminate(export_to="successor", successor_pin=user)
out["end"] = keys()
out["successor"] = labels("successor")
records = list(audit.records(ws.store))
out["exported"] = sorted(r.details["ca"] for r in records
                         if r.event == "ca.key-exported" and r.outcome == "success")
out["destroyed"] = sorted(r.details["ca"] for r in records
                          if r.event == "ca.key-destroyed" and r.outcome == "success")
out["verified"] = bool(audit.verify(ws.store))
print(json.dumps(out))
"""


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_software_export_interrupted_in_step_5_resumes(
    tmp_path: Path, successor: Successor
) -> None:
    """A crash while the key files are being destroyed: a resume to another token is
    refused (the trail names where the keys went), a successor key that does not sign
    for its CA is refused, and the same --export-to finishes: a key the successor
    holds and proves is taken as exported, a missing one is exported afresh; every
    export and destruction is recorded once."""
    import json
    import sys

    r = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_EXPORT, str(tmp_path / "ws"), _USER_PIN.decode()],
        env=successor.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    left = sorted(f"{n}.p8" for n in GEN1[1:])
    assert out["first"] == "OSError: power lost"
    assert out["after_crash"] == left
    assert out["other_token"].startswith("LifecycleError: before the interruption")
    assert "to 'successor'" in out["other_token"] and "Nothing was changed" in out["other_token"]
    assert out["foreign"] == (
        "LifecycleError: the successor token 'successor' holds a key labelled user-ca-1 "
        "that does not sign for the certificate of CA user-ca-1; nothing was changed"
    )
    assert out["after_refusals"] == left
    assert out["again"] is None
    assert out["end"] == []
    assert out["successor"] == sorted([*GEN1, *GEN1])
    # user-ca-1 went to the successor twice (its first copy was removed), and says so.
    assert out["exported"] == sorted([*GEN1, "user-ca-1"])
    assert out["destroyed"] == sorted(GEN1)
    assert out["verified"]


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_terminate_transfers_transferable_hsm_keys_to_successor(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    import hashlib
    import json
    import sys

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from cryptography.hazmat.primitives.serialization import PublicFormat
    from pkcs11.util.ec import encode_ecdsa_signature
    from porthos import hsm, key_export

    env = _hsm_env()
    _write_pin_files(tmp_path)
    (tmp_path / "wrong.pin").write_bytes(b"not-the-so-pin\n")
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    ws = tmp_path / "ws"
    outputs: list[str] = []

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        r = _run(args, tmp_path, env)
        outputs.append(r.stdout + r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    init = ["init", "-w", str(ws), "--hsm", "softhsm", "--transferable-keys"]
    r = run([*init, "--so-pin-file", "so.pin", "--pin-file", "user.pin", *officers])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((ws / "hsm" / "hsm.json").read_text())["transferable_keys"] is True
    # 000 §5.6: generation 2 is generated transferable as well (checked by its export).
    r = run(["rollover", "-w", str(ws), "--pin-file", "user.pin", *officers])
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "req.pem").write_text(
        csr_factory.pem([("CN", "4f9c5abe-cdab-4c4f-9e95-7a6d8b9caeb5")], slot=9)
    )
    issue = ["issue", "-w", str(ws), "-p", "ha-device", "--csr", "req.pem", "--out", "leaf.pem"]
    r = run([*issue, "--pin-file", "user.pin"])
    assert r.returncode == 0, r.stdout + r.stderr
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    # The successor token, here in the workspace's SoftHSM2 store: SoftHSM2 reads one
    # configuration per process (porthos.hsm), so source and successor share it.
    r = run(
        [
            "hsm",
            "init-token",
            "--softhsm-dir",
            str(ws / "hsm"),
            "--label",
            "successor",
            "--so-pin-file",
            "so.pin",
            "--pin-file",
            "user.pin",
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr

    module = str(hsm.find_module())
    key_env = dict(env, SOFTHSM2_CONF=str(ws / "hsm" / "softhsm2.conf"))
    successor = Successor(ws / "hsm", key_env, module)
    root_pin = (_HALVES[0] + _HALVES[1]).decode()
    names = (*GEN1, *GEN2)

    def source_objects() -> dict[str, list[str]]:
        r = subprocess.run(
            [sys.executable, "-c", _TOKEN_OBJECTS, module, root_pin, _USER_PIN.decode()],
            env=key_env,
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(r.stdout))

    # Each CA: a private and a public object, nothing else.
    before = {
        "porthos-root": sorted(["root-ca-1", "root-ca-2"] * 2),
        "porthos-issuing": sorted([n for n in names if not n.startswith("root")] * 2),
    }
    assert source_objects() == before

    def terminate(so_pin_file: str) -> subprocess.CompletedProcess[str]:
        return run(
            [
                "terminate",
                "-w",
                str(ws),
                "--export-to",
                "successor",
                "--so-pin-file",
                so_pin_file,
                "--successor-pin-file",
                "user.pin",
                "--pin-file",
                "user.pin",
                *officers,
            ]
        )

    # Wrong SO PIN: a clear error before anything changes, anywhere.
    r = terminate("wrong.pin")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Security Officer PIN incorrect" in r.stderr and "porthos-root" in r.stderr
    assert source_objects() == before
    assert successor.objects("successor", _USER_PIN) == []
    with Workspace.open(ws) as w:
        assert "terminated" not in {ca.status for ca in w.cas}
        assert all(w.store.revocations(ca.name) == [] for ca in w.cas)

    # The transfer.
    r = terminate("so.pin")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in names:
        assert f"key of {name}: exported to token 'successor'" in r.stdout
    # Source keys destroyed; no transport key left in either source token.
    assert source_objects() == {"porthos-root": [], "porthos-issuing": []}

    digest = hashlib.sha256(b"transferred key check").digest()
    objects = successor.objects("successor", _USER_PIN, digest)
    private = {o["label"]: o for o in objects if "sig" in o}
    # Exactly the CA keys and their public halves: the successor's transport keys
    # (session objects) are gone.
    assert sorted(private) == sorted(names)
    assert sorted(o["label"] for o in objects if "sig" not in o) == sorted(names)
    repo = ws / "repository"
    spki_hashes = {}
    for name in names:
        o = private[name]
        assert o["SENSITIVE"] and o["PRIVATE"] and o["TOKEN"] and o["SIGN"]
        assert not o["EXTRACTABLE"] and not o["value_readable"]
        assert not (o["DECRYPT"] or o["UNWRAP"] or o["DERIVE"])
        cert = x509.load_der_x509_certificate((repo / f"{name}.crt").read_bytes())
        public = cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(
            encode_ecdsa_signature(bytes.fromhex(o["sig"])),
            digest,
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )
        spki_hashes[name] = hashlib.sha256(
            public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).hexdigest()

    # The final CRLs were signed by the source keys before they were destroyed.
    final = x509.load_der_x509_crl((repo / "ha-device-ca-2.crl").read_bytes())
    assert final.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    with Workspace.open(ws) as w:
        assert {ca.status for ca in w.cas} == {"terminated"}
        records = list(audit.records(w.store))
        assert audit.verify(w.store)
        keygen = [r for r in records if r.event == "ca.keygen"]
        assert {r.details["extractable"] for r in keygen} == {"wrap-with-trusted only"}
        assert len(keygen) == len(names)
        exported = [r for r in records if r.event == "ca.key-exported"]
        assert sorted(r.details["ca"] for r in exported) == sorted(names)
        for rec in exported:
            assert rec.outcome == "success"
            assert rec.details["token"] == "successor"
            assert rec.details["method"] == key_export.TRANSFER_METHOD
            assert rec.details["spki_sha256"] == spki_hashes[rec.details["ca"]]
            assert rec.details["source"].startswith("pkcs11:token=porthos-")
        destroyed = [r for r in records if r.event == "ca.key-destroyed"]
        assert len(destroyed) == len(names)
        assert max(r.seq for r in exported) < min(r.seq for r in destroyed)
        # The Security Officer's part: one login per source token, with the
        # fingerprint of the successor key it trusted (never a PIN); the root
        # officers are named for the use of the root keys.
        so = [
            r
            for r in records
            if r.event == "hsm.activation" and r.details["role"] == "security-officer"
        ]
        assert sorted(r.details["token"] for r in so) == ["porthos-issuing", "porthos-root"]
        assert len({r.details["trusted_key_spki_sha256"] for r in so}) == 1
        root = [
            r
            for r in records
            if r.event == "hsm.activation"
            and r.details["role"] == "root"
            and "transfer" in r.details["purpose"]
        ]
        assert len(root) == 1 and root[0].details["officers"] == ["alice", "bob"]
        # The wrong SO PIN was audited as a failed termination.
        assert [r.event for r in records if r.outcome == "failure"].count("ca.terminated") == 1
        dump = "\n".join(f"{r.event} {r.details}" for r in records)
    blobs = [dump, *outputs]
    for p in ws.rglob("*"):
        if p.is_file() and "tokens" not in p.parts:
            blobs.append(p.read_bytes().decode("latin-1"))
    text = "\n".join(blobs)
    for pin in (*_HALVES, _USER_PIN, _SO_PIN, _HALVES[0] + _HALVES[1]):
        assert pin.decode() not in text


def _hsm_script(script: str, tmp_path: Path) -> dict[str, Any]:
    """Run ``script`` in its own process (SoftHSM2 reads one configuration per process)
    with argv = workspace path, SO PIN, user PIN, the two root PIN halves; its stdout
    is one JSON object."""
    import json
    import sys

    pins = [p.decode() for p in (_SO_PIN, _USER_PIN, *_HALVES)]
    r = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws"), *pins],
        env=_hsm_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


#: The start of the scripts below: a transferable HSM workspace through the Python
#: API, with an empty successor token in the same SoftHSM2 store.
_TRANSFERABLE_WS = """
import json, sys
from pathlib import Path
from porthos import audit, changeover, hsm, key_export
from porthos.ca import Workspace
from porthos.exceptions import LifecycleError

ws_path, so, user, h1, h2 = Path(sys.argv[1]), *(hsm.Secret(a.encode()) for a in sys.argv[2:6])
halves = [("alice", h1), ("bob", h2)]
setup = hsm.HsmSetup(str(hsm.find_module()), so, user, halves)
ws = Workspace.init(ws_path, "prod", hsm_setup=setup, transferable_keys=True)
hsm.init_token(ws.hsm.module, "successor", so, user)
root_pin = hsm.Secret(h1.reveal() + h2.reveal())

def labels(token, pin):
    with hsm._user_session(ws.hsm.module, token, pin) as s:
        return sorted(o.label for o in s.get_objects())

def tokens():
    return {"successor": labels("successor", user),
            ws.hsm.root_token: labels(ws.hsm.root_token, root_pin),
            ws.hsm.issuing_token: labels(ws.hsm.issuing_token, user)}

def terminate(**kw):
    try:
        ws.terminate(root_pin_halves=halves, pin=user, **kw)
    except (LifecycleError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
"""

#: A CA key swapped for one that is extractable without CKA_WRAP_WITH_TRUSTED (and
#: not sensitive): any wrapping key could take it out, so porthos must not vouch for
#: it by exporting it (changeover._check_transferable).
_FOREIGN_KEY = (
    _TRANSFERABLE_WS
    + """
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
ref = ws.ca("ha-device-ca-1").hsm_ref
with hsm._user_session(ws.hsm.module, ref.token, user, rw=True) as s:
    private = {Attribute.LABEL: ref.label, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    for o in list(s.get_objects(private)):
        o.destroy()
    params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
    params.generate_keypair(store=True, label=ref.label, private_template={
        Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True,
        Attribute.WRAP_WITH_TRUSTED: False})
before = tokens()
error = terminate(export_to="successor", successor_pin=user, so_pin=so)
print(json.dumps({"error": error, "same": tokens() == before, "after": tokens(),
                  "status": sorted({ca.status for ca in ws.cas}),
                  "revoked": sum(len(ws.store.revocations(ca.name)) for ca in ws.cas)}))
"""
)


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_hsm_transfer_refuses_a_key_extractable_without_wrap_with_trusted(
    tmp_path: Path,
) -> None:
    """A CA key that could leave the token under any wrapping key is not one porthos
    generated: the transfer is refused, by name, before anything changes."""
    out = _hsm_script(_FOREIGN_KEY, tmp_path)
    assert out["error"].startswith("LifecycleError: the key of CA ha-device-ca-1")
    assert "without CKA_WRAP_WITH_TRUSTED" in out["error"]
    assert "Nothing was changed" in out["error"]
    assert out["same"], out["after"]
    assert out["after"]["successor"] == []
    assert out["status"] == ["active"] and out["revoked"] == 0


#: Step 5 of a transfer interrupted after the second source key was destroyed (every
#: key already in the successor, checked and recorded), then finished by the same
#: --export-to again.
_INTERRUPTED_TRANSFER = (
    _TRANSFERABLE_WS
    + """
real, calls = changeover._destroy_hsm_key, []
def crash_on_third(*args):
    calls.append(args[2])
    if len(calls) == 3:
        raise OSError("power lost")
    return real(*args)
changeover._destroy_hsm_key = crash_on_third
out = {"first": terminate(export_to="successor", successor_pin=user, so_pin=so)}
changeover._destroy_hsm_key = real
out["after_crash"] = tokens()
out["status"] = sorted({ca.status for ca in ws.cas})
# Every key left is already in the successor: no SO PIN, no second transfer.
out["again"] = terminate(export_to="successor", successor_pin=user)
out["end"] = tokens()
out["third"] = terminate(destroy_keys=True)
records = list(audit.records(ws.store))
out["exported"] = sorted(r.details["ca"] for r in records if r.event == "ca.key-exported")
out["destroyed"] = sorted(r.details["ca"] for r in records
                          if r.event == "ca.key-destroyed" and r.outcome == "success")
out["verified"] = bool(audit.verify(ws.store))
print(json.dumps(out))
"""
)


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_hsm_transfer_interrupted_in_step_5_is_finished_by_a_second_export(
    tmp_path: Path,
) -> None:
    """A crash while the source keys are being destroyed (every key already in the
    successor, checked and recorded): the same --export-to again destroys what is
    left, recording each export and each destruction once."""
    out = _hsm_script(_INTERRUPTED_TRANSFER, tmp_path)
    assert out["first"] == "OSError: power lost"
    assert out["status"] == ["terminated"]
    # Every key is in the successor (private and public halves); the source keeps the
    # keys of the CAs whose destruction had not run yet.
    assert out["after_crash"]["successor"] == sorted([*GEN1, *GEN1])
    assert out["after_crash"]["porthos-root"] == []
    assert out["after_crash"]["porthos-issuing"] == sorted([*GEN1[2:], *GEN1[2:]])
    assert out["again"] is None
    assert out["third"].startswith("LifecycleError:") and "already terminated" in out["third"]
    assert out["end"] == {
        "successor": sorted([*GEN1, *GEN1]),
        "porthos-root": [],
        "porthos-issuing": [],
    }
    assert out["exported"] == sorted(GEN1)
    assert out["destroyed"] == sorted(GEN1)
    assert out["verified"]


#: A transfer whose check of the LAST key fails (an injected fault: the successor
#: would not sign for it).
_FAILED_TRANSFER = (
    _TRANSFERABLE_WS
    + """
real, calls = key_export.check_signs, []
def failing(session, label, certificate):
    calls.append(label)
    real(session, label, certificate)
    if len(calls) == len(ws.cas):
        raise LifecycleError(f"injected: '{label}' does not sign")
key_export.check_signs = failing
out = {"error": terminate(export_to="successor", successor_pin=user, so_pin=so)}
out.update(checked=calls, status=sorted({ca.status for ca in ws.cas}), **tokens())
print(json.dumps(out))
"""
)


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_failed_hsm_transfer_removes_successor_keys_and_keeps_source(tmp_path: Path) -> None:
    """All or nothing: the last key fails its check after every key was unwrapped;
    the successor's copies are removed, the transport keys are gone, the source keys
    stay and the workspace is not terminated."""
    out = _hsm_script(_FAILED_TRANSFER, tmp_path)
    assert out["error"] == f"LifecycleError: injected: '{GEN1[-1]}' does not sign"
    assert out["checked"] == list(GEN1)
    assert out["status"] == ["active"]
    assert out["successor"] == []
    assert out["porthos-root"] == ["root-ca-1", "root-ca-1"]
    assert out["porthos-issuing"] == sorted([*GEN1[1:], *GEN1[1:]])
