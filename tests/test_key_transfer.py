"""Encrypted transfer of transferable HSM keys to a successor token at termination
(000 §6.2.6, §5.8): wrapped under the tokens' Security Officer and the root officers,
checked in the successor, then destroyed in the source; refusals that change nothing,
an interrupted transfer finished by a second export, a failed check undone
(porthos.workflows.key_export over porthos.hsm.key_transfer).

Judges: the tokens' objects, the store and the audit chain for what was recorded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from changeover_support import (
    GEN1,
    GEN2,
    ROOT_PIN_HALVES,
    SO_PIN,
    USER_PIN,
    Successor,
    hsm_env,
    run_porthos,
    softhsm_installed,
    write_pin_files,
)
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from porthos.store import audit
from porthos.workspace.workspace import Workspace

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


@pytest.mark.hsm
@pytest.mark.skipif(not softhsm_installed(), reason="SoftHSM2 is not installed (Debian softhsm2)")
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
    from porthos import hsm
    from porthos.hsm.key_transfer import TRANSFER_METHOD

    env = hsm_env()
    write_pin_files(tmp_path)
    (tmp_path / "wrong.pin").write_bytes(b"not-the-so-pin\n")
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    ws = tmp_path / "ws"
    outputs: list[str] = []

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        r = run_porthos(args, tmp_path, env)
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
    root_pin = (ROOT_PIN_HALVES[0] + ROOT_PIN_HALVES[1]).decode()
    names = (*GEN1, *GEN2)

    def source_objects() -> dict[str, list[str]]:
        r = subprocess.run(
            [sys.executable, "-c", _TOKEN_OBJECTS, module, root_pin, USER_PIN.decode()],
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
    assert successor.objects("successor", USER_PIN) == []
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
    objects = successor.objects("successor", USER_PIN, digest)
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
            assert rec.details["method"] == TRANSFER_METHOD
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
    for pin in (*ROOT_PIN_HALVES, USER_PIN, SO_PIN, ROOT_PIN_HALVES[0] + ROOT_PIN_HALVES[1]):
        assert pin.decode() not in text


def _hsm_script(script: str, tmp_path: Path) -> dict[str, Any]:
    """Run ``script`` in its own process (SoftHSM2 reads one configuration per process)
    with argv = workspace path, SO PIN, user PIN, the two root PIN halves; its stdout
    is one JSON object."""
    import json
    import sys

    pins = [p.decode() for p in (SO_PIN, USER_PIN, *ROOT_PIN_HALVES)]
    r = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws"), *pins],
        env=hsm_env(),
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
from porthos import hsm
from porthos.store import audit
from porthos.hsm import key_transfer
from porthos.workflows import ca_keys, termination
from porthos.workspace.workspace import Workspace
from porthos.exceptions import LifecycleError

ws_path, so, user, h1, h2 = Path(sys.argv[1]), *(hsm.Secret(a.encode()) for a in sys.argv[2:6])
halves = [("alice", h1), ("bob", h2)]
setup = hsm.HsmSetup(str(hsm.find_module()), so, user, halves)
ws = Workspace.init(ws_path, "prod", hsm_setup=setup, transferable_keys=True)
hsm.init_token(ws.hsm.module, "successor", so, user)
root_pin = hsm.Secret(h1.reveal() + h2.reveal())

def labels(token, pin):
    with hsm.user_session(ws.hsm.module, token, pin) as s:
        return sorted(o.label for o in s.get_objects())

def tokens():
    return {"successor": labels("successor", user),
            ws.hsm.root_token: labels(ws.hsm.root_token, root_pin),
            ws.hsm.issuing_token: labels(ws.hsm.issuing_token, user)}

def terminate(**kw):
    try:
        termination.terminate(ws, root_pin_halves=halves, pin=user, **kw)
    except (LifecycleError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
"""

#: A CA key swapped for one that is extractable without CKA_WRAP_WITH_TRUSTED (and
#: not sensitive): any wrapping key could take it out, so porthos must not vouch for
#: it by exporting it (key_export._check_transferable).
_FOREIGN_KEY = (
    _TRANSFERABLE_WS
    + """
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
ref = ws.ca("ha-device-ca-1").hsm_ref
with hsm.user_session(ws.hsm.module, ref.token, user, rw=True) as s:
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
@pytest.mark.skipif(not softhsm_installed(), reason="SoftHSM2 is not installed (Debian softhsm2)")
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
real, calls = ca_keys.destroy_hsm_key, []
def crash_on_third(*args):
    calls.append(args[2])
    if len(calls) == 3:
        raise OSError("power lost")
    return real(*args)
ca_keys.destroy_hsm_key = crash_on_third
out = {"first": terminate(export_to="successor", successor_pin=user, so_pin=so)}
ca_keys.destroy_hsm_key = real
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
@pytest.mark.skipif(not softhsm_installed(), reason="SoftHSM2 is not installed (Debian softhsm2)")
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
real, calls = key_transfer.check_signs, []
def failing(session, label, certificate):
    calls.append(label)
    real(session, label, certificate)
    if len(calls) == len(ws.cas):
        raise LifecycleError(f"injected: '{label}' does not sign")
key_transfer.check_signs = failing
out = {"error": terminate(export_to="successor", successor_pin=user, so_pin=so)}
out.update(checked=calls, status=sorted({ca.status for ca in ws.cas}), **tokens())
print(json.dumps(out))
"""
)


@pytest.mark.hsm
@pytest.mark.skipif(not softhsm_installed(), reason="SoftHSM2 is not installed (Debian softhsm2)")
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
