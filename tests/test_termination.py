"""CA termination (000 §5.8): revocations, final CRLs, the CAs terminated and their
keys destroyed, in software and SoftHSM2 workspaces (porthos.workflows.termination,
porthos.workflows.ca_keys), end to end through the CLI.

Judges: ``openssl verify -crl_check_all``, pyca for CRL signatures and fields, the
tokens' objects, the store and the audit chain for what was recorded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from changeover_support import (
    GEN1,
    GEN2,
    OPENSSL,
    ROOT_PIN_HALVES,
    SO_PIN,
    USER_PIN,
    cli,
    hsm_env,
    issue,
    openssl_ok,
    openssl_verify,
    run_porthos,
    softhsm_installed,
    write_pin_files,
)
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from porthos.store import audit
from porthos.workflows import revocation
from porthos.workflows.termination import terminate
from porthos.workspace.workspace import Workspace

# --------------------------------------------------------------------------------------
# termination (000 §5.8)
# --------------------------------------------------------------------------------------


def test_terminate_end_to_end(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = tmp_path / "ws"
    assert cli(["init", "-w", str(ws), "--env", "nonprod"])[0] == 0
    leaves = [
        issue(
            ws,
            "tls-server",
            csr_factory.pem([("CN", "a.porthos.example")], slot=5),
            tmp_path / "a.pem",
        ),
        issue(ws, "user", csr_factory.pem([("CN", "Alice Example")], slot=6), tmp_path / "u.pem"),
    ]
    compromised = x509.load_der_x509_certificate(leaves[1]).serial_number
    with Workspace.open(ws) as w:
        revocation.revoke(w, [compromised], "keyCompromise", requester="t", ca="user-ca-1")
    assert cli(["rollover", "-w", str(ws)])[0] == 0
    leaves.append(
        issue(
            ws,
            "tls-server",
            csr_factory.pem([("CN", "b.porthos.example")], slot=7),
            tmp_path / "b.pem",
        )
    )

    # Refusing cases first: neither/both choices, and an export to a PKCS#11 module
    # that does not exist (the exports themselves: test_terminate_exports_...);
    # none of them changes anything.
    code, output = cli(["terminate", "-w", str(ws)])
    assert code == 2 and "exactly one" in output
    (tmp_path / "successor.pin").write_bytes(b"0000\n")
    code, output = cli(
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

    code, output = cli(["terminate", "-w", str(ws), "--destroy-keys"])
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
            from porthos.workspace.repository import crl_urls, repository_path

            urls = crl_urls(w, ca.name)
            assert urls, ca.name
            for url in urls:
                assert repository_path(w, url).read_bytes() == final, url
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
        proc = openssl_verify(
            tmp_path,
            (repo / "root-ca-2.crt").read_bytes(),
            [(repo / "infrastructure-ca-2.crt").read_bytes()],
            leaves[2],
            [repo / "infrastructure-ca-2.crl"],
            crl_check="-crl_check",
        )
        assert not openssl_ok(proc) and "revoked" in proc.stdout + proc.stderr

    # Twice is refused cleanly, and so is everything that would sign again.
    code, output = cli(["terminate", "-w", str(ws), "--destroy-keys"])
    assert code == 2 and "already terminated" in output and "Traceback" not in output
    code, output = cli(["rollover", "-w", str(ws)])
    assert code == 2 and "terminated" in output
    req = tmp_path / "c.req.pem"
    req.write_text(csr_factory.pem([("CN", "c.porthos.example")], slot=8))
    code, output = cli(
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
@pytest.mark.skipif(not softhsm_installed(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_hsm_rollover_export_refused_and_keys_destroyed(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    import sys

    from porthos import hsm

    env = hsm_env()
    write_pin_files(tmp_path)
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    ws = tmp_path / "ws"
    outputs = []

    def ok(args: Sequence[str]) -> str:
        r = run_porthos(args, tmp_path, env)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def refused(args: Sequence[str]) -> str:
        r = run_porthos(args, tmp_path, env)
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
        proc = openssl_verify(
            tmp_path,
            (repo / "root-ca-2.crt").read_bytes(),
            [(repo / "ha-device-ca-2.crt").read_bytes()],
            leaf.public_bytes(Encoding.DER),
            [],
        )
        assert openssl_ok(proc), proc.stdout + proc.stderr
        # Generation 1 through the OldWithNew link, HSM-signed.
        root1 = x509.load_der_x509_certificate((repo / "root-ca-1.crt").read_bytes())
        own = x509.load_der_x509_certificate((repo / "root-ca-1-by-root-ca-2.crt").read_bytes())
        own.verify_directly_issued_by(
            x509.load_der_x509_certificate((repo / "root-ca-2.crt").read_bytes())
        )
        assert own.public_key() == root1.public_key()

    module = str(hsm.find_module())
    key_env = dict(env, SOFTHSM2_CONF=str(ws / "hsm" / "softhsm2.conf"))
    root_pin = (ROOT_PIN_HALVES[0] + ROOT_PIN_HALVES[1]).decode()

    def keys_left() -> list[str]:
        r = subprocess.run(
            [sys.executable, "-c", _LIST_KEYS, module, root_pin, USER_PIN.decode()],
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
    for pin in (*ROOT_PIN_HALVES, USER_PIN, SO_PIN, ROOT_PIN_HALVES[0] + ROOT_PIN_HALVES[1]):
        assert pin.decode() not in text


def test_terminate_resumes_key_destruction_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the final CRLs (step 4) leaves keys behind: a second terminate
    --destroy-keys destroys only those; without keys left it is refused."""
    from porthos.workflows import ca_keys

    with Workspace.init(tmp_path / "ws", "prod") as w:
        real = ca_keys.destroy_software_key
        calls = []

        def crash_on_third(path: Path) -> bool:
            calls.append(path.name)
            if len(calls) == 3:
                raise OSError("power lost")
            return real(path)

        monkeypatch.setattr(ca_keys, "destroy_software_key", crash_on_third)
        # No .code (OSError): the crash injected above, passed through.
        with pytest.raises(OSError, match="power lost"):
            terminate(w, destroy_keys=True)
        monkeypatch.undo()
        assert {ca.status for ca in w.cas} == {"terminated"}
        left = sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir())
        assert left == sorted(f"{n}.p8" for n in GEN1[2:])
        crl_numbers = {ca.name: w.store.last_crl_number(ca.name) for ca in w.cas}
    code, output = cli(["terminate", "-w", str(tmp_path / "ws"), "--destroy-keys"])
    assert code == 0, output
    assert list((tmp_path / "ws" / "keys").iterdir()) == []
    with Workspace.open(tmp_path / "ws") as w:
        # No second set of final CRLs, no second revocation.
        assert {ca.name: w.store.last_crl_number(ca.name) for ca in w.cas} == crl_numbers
        events = [r.event for r in audit.records(w.store) if r.outcome == "success"]
        assert events.count("ca.key-destroyed") == len(GEN1)
        assert events.count("ca.terminated") == len(GEN1)
        assert audit.verify(w.store)
    code, output = cli(["terminate", "-w", str(tmp_path / "ws"), "--destroy-keys"])
    assert code == 2 and "already terminated" in output
