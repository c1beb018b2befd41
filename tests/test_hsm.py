"""HSM signing through PKCS#11 with a real SoftHSM2 (issue 5).

Every test runs against SoftHSM2 with its configuration and token store in a pytest
temporary folder (never the system store). They are skipped only when SoftHSM2 is not
installed; ``make test`` installs it (Debian package softhsm2), so CI runs them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from error_codes import raises_code
from porthos import _native, hsm
from porthos.exceptions import (
    BatchArgumentError,
    HsmNotFoundError,
    HsmPinError,
    KeyMaterialError,
    SigningError,
)
from porthos.hsm import workers as hsm_workers
from porthos.issuance import signers


def _softhsm_module() -> str | None:
    try:
        return str(hsm.find_module())
    except HsmNotFoundError:
        return None


MODULE = _softhsm_module()
pytestmark = [
    pytest.mark.hsm,
    pytest.mark.skipif(
        MODULE is None,
        reason="SoftHSM2 is not installed (Debian package softhsm2; `make test` installs it)",
    ),
]

# Distinctive PINs, so a grep for them cannot match anything by chance.
SO_PIN = b"so-9d3f1a7c"
USER_PIN = b"user-4be8c21f"
WRONG_PIN = b"wrong-77aa01bd"
PINS = [SO_PIN, USER_PIN, WRONG_PIN]

SPEC = """{"extensions": [{"type": "authority_key_identifier"},
 {"type": "subject_key_identifier"}, {"type": "key_usage", "usages": ["digital_signature"]},
 {"type": "basic_constraints", "ca": false}]}"""
CA_SPEC = """{"extensions": [{"type": "subject_key_identifier"},
 {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"], "critical": true},
 {"type": "basic_constraints", "ca": true, "critical": true}]}"""


class Token:
    """One initialised token with keys, in the session's SoftHSM2 store."""

    def __init__(self, label: str) -> None:
        assert MODULE is not None
        self.module = MODULE
        self.label = label
        hsm.init_token(MODULE, label, hsm.Secret(SO_PIN), hsm.Secret(USER_PIN))
        self.spki: dict[str, bytes] = {}

    def key(self, label: str, key_type: str) -> bytes:
        if label not in self.spki:
            self.spki[label] = hsm.generate_key(
                self.module, self.label, hsm.Secret(USER_PIN), label, key_type
            )
        return self.spki[label]

    def signer(
        self, label: str, alg: str, sessions: int = 2, workers: str = "threads", **kw: Any
    ) -> signers.Pkcs11Signer:
        # "threads" by default: most tests here exercise the Rust pool in this process
        # (C_CloseAllSessions from this process reaches its sessions); the worker
        # processes have their own tests below.
        return signers.Pkcs11Signer(
            self.module,
            self.label,
            label,
            hsm.Secret(USER_PIN),
            alg,
            sessions=sessions,
            workers=workers,
            **kw,
        )


@pytest.fixture(scope="session")
def softhsm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("softhsm")
    hsm.use_softhsm_conf(hsm.softhsm_conf(d))
    assert MODULE is not None
    hsm.load_module(MODULE)
    return d


@pytest.fixture(scope="session")
def token(softhsm_dir: Path) -> Token:
    t = Token("porthos-test")
    t.key("p256", "ec-p256")
    t.key("p384", "ec-p384")
    t.key("rsa2048", "rsa-2048")
    return t


def _items(n: int) -> dict[str, Any]:
    leaf = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = leaf.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    return dict(
        serials=_native.generate_serials(n),
        not_before=np.full(n, now, dtype=np.int64),
        not_after=np.full(n, now + 86400, dtype=np.int64),
        subjects=[[("O", "porthos"), ("CN", f"leaf {i}")] for i in range(n)],
        spkis=[spki] * n,
    )


def _hash(alg: str) -> hashes.HashAlgorithm:
    return hashes.SHA384() if alg.endswith("384") else hashes.SHA256()


def _verify_digest(spki: bytes, alg: str, digest: bytes, sig: bytes) -> None:
    pub = serialization.load_der_public_key(spki)
    h = _hash(alg)
    pre = utils.Prehashed(h)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, digest, ec.ECDSA(pre))
    else:
        assert isinstance(pub, rsa.RSAPublicKey)
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
            if "pss" in alg
            else padding.PKCS1v15()
        )
        pub.verify(sig, digest, pad, pre)


def _self_signed_ca(signer: signers.Pkcs11Signer, cn: str) -> bytes:
    spki = signer.public_key_der()
    tpl = _native.Template(
        CA_SPEC,
        _native.encode_name([("O", "porthos test"), ("CN", cn)]),
        _native.key_identifier(spki),
        signer.signature_algorithm,
    )
    now = int(time.time())
    return signers.issue_certificates(
        tpl,
        signer,
        serials=_native.generate_serials(1),
        not_before=np.array([now - 60], dtype=np.int64),
        not_after=np.array([now + 86400 * 30], dtype=np.int64),
        subjects=[[("O", "porthos test"), ("CN", cn)]],
        spkis=[spki],
    )[0]


# --------------------------------------------------------------------------------------
# Signing: every mechanism, certificates and CRLs, pyca and openssl
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label,alg",
    [
        ("p256", "ecdsa-sha256"),
        ("p384", "ecdsa-sha384"),
        ("rsa2048", "rsa-pkcs1-sha256"),
        ("rsa2048", "rsa-pkcs1-sha384"),
        ("rsa2048", "rsa-pss-sha256"),
        ("rsa2048", "rsa-pss-sha384"),
    ],
)
def test_hsm_signed_certificates_verify(token: Token, label: str, alg: str) -> None:
    with token.signer(label, alg) as signer:
        assert signer.public_key_der() == token.spki[label]
        ca_der = _self_signed_ca(signer, f"HSM CA {alg}")
        tpl = _native.Template.for_issuer(SPEC, ca_der, alg)
        out = signers.issue_certificates(tpl, signer, **_items(25)).to_list()
    ca = x509.load_der_x509_certificate(ca_der)
    ca.verify_directly_issued_by(ca)
    assert len(out) == 25
    for der in out:
        cert = x509.load_der_x509_certificate(der)
        cert.verify_directly_issued_by(ca)
        assert cert.signature_algorithm_oid == ca.signature_algorithm_oid


def test_openssl_verifies_hsm_chain_and_crl(token: Token, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed (Debian package openssl)")
    with token.signer("p256", "ecdsa-sha256") as signer:
        ca_der = _self_signed_ca(signer, "HSM CRL CA")
        tpl = _native.Template.for_issuer(SPEC, ca_der, "ecdsa-sha256")
        leaf = signers.issue_certificates(tpl, signer, **_items(1))[0]
        # A CRL whose TBSCertList pyca builds (signed first by a throwaway key, only to
        # get the TBS bytes), re-signed in the HSM: the one-digest external path the
        # CRL writer uses.
        ca = x509.load_der_x509_certificate(ca_der)
        throwaway = ec.generate_private_key(ec.SECP256R1())
        now = ca.not_valid_before_utc
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(x509.load_der_x509_certificate(leaf).serial_number)
            .revocation_date(now)
            .build()
        )
        draft = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now)
            .next_update(ca.not_valid_after_utc)
            .add_revoked_certificate(revoked)
            .sign(throwaway, hashes.SHA256())
        )
        tbs = draft.tbs_certlist_bytes
        h = hashes.Hash(hashes.SHA256())
        h.update(tbs)
        digest = np.frombuffer(h.finalize(), dtype=np.uint8).reshape(1, 32)
        (sig,) = signer.sign_digests(digest)
    alg_id = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256, RFC 5758 §3.2
    bit_string = b"\x03" + _der_len(len(sig) + 1) + b"\x00" + sig
    body = tbs + alg_id + bit_string
    crl_der = b"\x30" + _der_len(len(body)) + body
    crl = x509.load_der_x509_crl(crl_der)
    assert crl.is_signature_valid(ca.public_key())

    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    (tmp_path / "leaf.der").write_bytes(leaf)
    (tmp_path / "crl.der").write_bytes(crl_der)
    subprocess.run(
        [openssl, "x509", "-inform", "DER", "-in", "leaf.der", "-out", "leaf.pem"],
        cwd=tmp_path,
        check=True,
    )
    ok = subprocess.run(
        [openssl, "verify", "-CAfile", "ca.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "leaf.pem: OK" in ok.stdout, ok.stdout + ok.stderr
    crl_ok = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert crl_ok.returncode == 0 and "verify OK" in crl_ok.stdout + crl_ok.stderr
    # With the CRL, the revoked leaf must now fail (openssl -crl_check).
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
    revoked_check = subprocess.run(
        [openssl, "verify", "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "crl.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (
        revoked_check.returncode != 0 and "revoked" in revoked_check.stdout + revoked_check.stderr
    )


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


# --------------------------------------------------------------------------------------
# Keys stay in the token
# --------------------------------------------------------------------------------------


def test_private_key_value_cannot_be_read(softhsm_dir: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute

    t = Token("porthos-keyattrs")
    for label, kind in (("ec", "ec-p256"), ("rsa", "rsa-2048")):
        t.key(label, kind)
    tok = hsm.open_token(t.module, t.label)
    with tok.open(user_pin=USER_PIN.decode()) as session:
        for label in ("ec", "rsa"):
            key = session.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.PRIVATE] is True
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            with pytest.raises(pkcs11.AttributeSensitive):
                key[Attribute.VALUE if label == "ec" else Attribute.PRIVATE_EXPONENT]
            pub = session.get_key(label=label, object_class=pkcs11.ObjectClass.PUBLIC_KEY)
            assert pub[Attribute.PRIVATE] is False
    # The public key is readable without any login.
    assert serialization.load_der_public_key(hsm.public_key_der(t.module, t.label, "ec"))


def test_hsm_workspace_refuses_software_key_access(softhsm_dir: Path) -> None:
    ref = hsm.HsmKeyRef.parse("pkcs11:token=porthos-issuing;object=ha-device-ca-1;type=private")
    assert ref == hsm.HsmKeyRef("porthos-issuing", "ha-device-ca-1")
    assert hsm.HsmKeyRef.parse(ref.uri()) == ref
    assert hsm.HsmKeyRef.parse("keys/root-ca-1.p8") is None


# --------------------------------------------------------------------------------------
# Failures: clear errors, no PIN anywhere
# --------------------------------------------------------------------------------------


def _no_pin(text: str) -> None:
    for pin in PINS:
        assert pin.decode() not in text, "a PIN leaked into a message"


def test_wrong_pin_is_a_clear_error_without_retry(token: Token) -> None:
    with pytest.raises(HsmPinError) as info:
        signers.Pkcs11Signer(
            token.module, token.label, "p256", hsm.Secret(WRONG_PIN), "ecdsa-sha256", sessions=4
        )
    msg = str(info.value)
    assert "PIN incorrect" in msg and token.label in msg and "not retried" in msg
    assert info.value.code == "hsm-pin"
    _no_pin(msg + repr(info.value))
    # Still usable with the right PIN (no lock-out from a retry loop).
    with token.signer("p256", "ecdsa-sha256", sessions=1) as s:
        assert len(s.sign_digests(np.zeros((1, 32), dtype=np.uint8))) == 1


def test_missing_module_token_and_key_name_what_is_missing(token: Token) -> None:
    # The messages must name what is missing (the point of this test).
    with raises_code(HsmNotFoundError, "hsm-missing", match="/nonexistent/libnothing.so"):
        signers.Pkcs11Signer(
            "/nonexistent/libnothing.so", token.label, "p256", hsm.Secret(USER_PIN), "ecdsa-sha256"
        )
    with raises_code(HsmNotFoundError, "hsm-missing", match="libnothing"):
        _native.pkcs11_load_module("/nonexistent/libnothing.so")
    with pytest.raises(HsmNotFoundError) as info:
        _native.Pkcs11Pool(token.module, "no-such-token", "p256", "ecdsa-sha256", USER_PIN, 1)
    msg = str(info.value)
    assert "no-such-token" in msg and token.label in msg  # names the tokens present
    _no_pin(msg)
    with raises_code(
        HsmNotFoundError, "hsm-missing", match="no private key labelled 'nope'"
    ) as info2:
        _native.Pkcs11Pool(token.module, token.label, "nope", "ecdsa-sha256", USER_PIN, 1)
    _no_pin(str(info2.value))


def test_killed_sessions_are_reopened_and_the_item_retried(token: Token) -> None:
    d = np.frombuffer(secrets.token_bytes(32 * 64), dtype=np.uint8).reshape(64, 32)
    with token.signer("p256", "ecdsa-sha256", sessions=2) as signer:
        first = signer.sign_digests(d)
        assert signer.last_reopened == 0
        # Somebody closes every session of the process on the token (and with the
        # last session the login ends: PKCS#11 v2.40 §5.6).
        _native.pkcs11_close_all_sessions(token.module, token.label)
        again = signer.sign_digests(d)
        assert signer.last_reopened >= 1
    for i in range(64):
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), first[i])
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), again[i])


def test_pin_changed_under_the_pool_fails_items_without_login_loop(softhsm_dir: Path) -> None:
    """The session dies and the PIN has changed meanwhile: the reopen's C_Login is
    refused once, every item of the batch gets SESSION_LOST naming the PIN, and the
    pool makes no further login attempts (no retry loop that would lock the token)."""
    t = Token("porthos-pinchange")
    t.key("k", "ec-p256")
    d = np.zeros((40, 32), dtype=np.uint8)
    with t.signer("k", "ecdsa-sha256", sessions=2) as signer:
        assert len(signer.sign_digests(d[:2])) == 2
        _native.pkcs11_close_all_sessions(t.module, t.label)
        tok = hsm.open_token(t.module, t.label)
        with tok.open(rw=True, user_pin=USER_PIN.decode()) as session:
            session.set_pin(USER_PIN.decode(), "changed-5e1d")
        sigs, status, reasons = signer.sign_digests_partial(d)
        assert all(s is None for s in sigs)
        assert set(status.tolist()) == {1}  # HsmItemStatus.SESSION_LOST
        assert all("PIN incorrect" in r for r in reasons)
        with raises_code(SigningError, "signing"):
            signer.sign_digests(d)
        for r in reasons:
            _no_pin(r)
            assert "changed-5e1d" not in r


def test_pins_never_in_reprs_or_audit(tmp_path: Path) -> None:
    s = hsm.Secret(USER_PIN)
    _no_pin(repr(s) + str(s) + f"{s}" + repr([s]))
    # The audit trail refuses a Secret (and any detail key naming a PIN) outright.
    from porthos.exceptions import AuditError
    from porthos.store import audit
    from porthos.store.sqlite import Store

    with Store.create(tmp_path / "a.sqlite", env="prod", profile_set="porthos") as store:
        with pytest.raises(AuditError):
            audit.record(store, audit.Event.HSM_ACTIVATION, token=s)
        with pytest.raises(AuditError):
            audit.record(store, audit.Event.HSM_ACTIVATION, user_pin="x")
        assert audit.verify(store).records == 0
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_dual_control_pin_needs_two_distinct_officers() -> None:
    a, b = hsm.Secret(b"half-one"), hsm.Secret(b"half-two")
    pin, officers = hsm.dual_control_pin([("alice", a), ("bob", b)])
    assert pin.reveal() == b"half-onehalf-two" and officers == ["alice", "bob"]
    with raises_code(KeyMaterialError, "key"):
        hsm.dual_control_pin([("alice", a), ("alice", b)])
    with raises_code(KeyMaterialError, "key"):
        hsm.dual_control_pin([("alice", a)])


# --------------------------------------------------------------------------------------
# Threads: the CKF_OS_LOCKING_OK hazard
# --------------------------------------------------------------------------------------


def test_threaded_stress_every_signature_verifies(token: Token) -> None:
    """Several Python threads, each driving the 4-session pool: thousands of
    signatures, none wrong, no crash (SoftHSM2 without OS locking crashes here)."""
    errors: list[BaseException] = []
    results: list[tuple[np.ndarray, list[bytes]]] = []
    lock = threading.Lock()
    with token.signer("p256", "ecdsa-sha256", sessions=4) as signer:

        def work() -> None:
            try:
                for _ in range(2):
                    d = np.frombuffer(secrets.token_bytes(32 * 1000), np.uint8).reshape(-1, 32)
                    sigs = signer.sign_digests(d)
                    with lock:
                        results.append((d, list(sigs)))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    total = 0
    for d, sigs in results:
        assert len(sigs) == len(d)
        for i, sig in enumerate(sigs):
            _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), sig)
        total += len(sigs)
    assert total == 6000


def test_python_pkcs11_threads_are_safe_after_load_module(token: Token) -> None:
    """python-pkcs11 alone initialises without CKF_OS_LOCKING_OK; hsm.load_module
    re-initialises with it, so the raw-threads benchmark path is safe too."""
    import pkcs11

    tok = hsm.open_token(token.module, token.label)
    first = tok.open(user_pin=USER_PIN.decode())
    sessions = [first] + [tok.open() for _ in range(3)]
    errors: list[BaseException] = []
    out: list[tuple[bytes, bytes]] = []
    lock = threading.Lock()

    def work(session: Any) -> None:
        try:
            key = session.get_key(label="p256", object_class=pkcs11.ObjectClass.PRIVATE_KEY)
            for _ in range(500):
                d = secrets.token_bytes(32)
                raw = key.sign(d, mechanism=pkcs11.Mechanism.ECDSA)
                with lock:
                    out.append((d, _native.ecdsa_raw_to_der(raw)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in reversed(sessions):
            s.close()
    assert not errors, errors
    assert len(out) == 2000
    for d, sig in out:
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d, sig)


def test_rsa_pool_under_threads(token: Token) -> None:
    d = np.frombuffer(secrets.token_bytes(32 * 300), dtype=np.uint8).reshape(-1, 32)
    with token.signer("rsa2048", "rsa-pss-sha256", sessions=3) as signer:
        sigs = signer.sign_digests(d)
    for i, sig in enumerate(sigs):
        _verify_digest(token.spki["rsa2048"], "rsa-pss-sha256", d[i].tobytes(), sig)


def test_algorithm_mismatch_is_refused(token: Token) -> None:
    with token.signer("p256", "ecdsa-sha256", sessions=1) as signer:
        tpl = _native.Template(
            SPEC, _native.encode_name([("CN", "x")]), b"\x01" * 20, "ecdsa-sha384"
        )
        with raises_code(SigningError, "signing"):
            signers.issue_certificates(tpl, signer, **_items(1))


# --------------------------------------------------------------------------------------
# CLI: init --hsm softhsm, issue, hsm init-token/keygen, bench hsm (own processes)
# --------------------------------------------------------------------------------------


def _porthos(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "porthos"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)
    for name, pin in (
        ("so", SO_PIN),
        ("user", USER_PIN),
        ("alice", b"half-a1"),
        ("bob", b"half-b2"),
    ):
        (tmp_path / f"{name}.pin").write_bytes(pin + b"\n")
    yield env


def test_demo_hsm_end_to_end(tmp_path: Path, cli_env: dict[str, str]) -> None:
    # `make demo` runs exactly this (with --count 3000): keys in the workspace token, the
    # root CRL under the two demo officers' PIN halves, every due CRL published, openssl
    # telling a revoked certificate from a valid one, and an intact audit chain.
    r = _porthos(["demo", "-w", "d", "--hsm", "softhsm", "--count", "28"], cli_env, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    flat = " ".join(r.stdout.split())
    assert "CA keys generated in SoftHSM2" in flat
    assert "certificate revoked" in flat and "chain verified" in flat
    for pin in (tmp_path / "d" / "hsm" / "demo-pins").iterdir():
        assert pin.read_text().strip() not in r.stdout + r.stderr
    from porthos import Workspace
    from porthos.store import audit

    with Workspace.open(tmp_path / "d") as ws:
        assert audit.verify(ws.store).ok
        officers = [
            rec.details.get("officers")
            for rec in audit.records(ws.store)
            if rec.event == audit.Event.HSM_ACTIVATION and rec.details.get("role") == "root"
        ]
        # init, then the root CRL: each activation names both officers (000 §6.2.2).
        assert len(officers) >= 2 and all(o and len(o) == 2 for o in officers)


def test_cli_init_hsm_issue_and_openssl_verify(
    tmp_path: Path, cli_env: dict[str, str], csr_factory: Any
) -> None:
    ws = tmp_path / "ws"
    r = _porthos(
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
            "--root-officer",
            "alice=alice.pin",
            "--root-officer",
            "bob=bob.pin",
        ],
        cli_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "generated in the HSM" in r.stdout
    assert (ws / "hsm" / "tokens").is_dir() and not (ws / "keys").exists()
    csr = csr_factory.pem([("CN", "2b2a9a3e-4f55-4d4c-9c59-0a4c1d6c7e11")])
    (tmp_path / "req.pem").write_text(csr)
    r2 = _porthos(
        [
            "issue",
            "-w",
            str(ws),
            "-p",
            "ha-device",
            "--csr",
            "req.pem",
            "--out",
            "out.pem",
            "--pin-file",
            "user.pin",
        ],
        cli_env,
        tmp_path,
    )
    assert r2.returncode == 0, r2.stdout + r2.stderr
    openssl = shutil.which("openssl")
    if openssl is not None:
        for name in ("root-ca-1", "ha-device-ca-1"):
            subprocess.run(
                [
                    openssl,
                    "x509",
                    "-inform",
                    "DER",
                    "-in",
                    str(ws / "repository" / f"{name}.crt"),
                    "-out",
                    f"{name}.pem",
                ],
                cwd=tmp_path,
                check=True,
            )
        v = subprocess.run(
            [
                openssl,
                "verify",
                "-CAfile",
                "root-ca-1.pem",
                "-untrusted",
                "ha-device-ca-1.pem",
                "out.pem",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert v.returncode == 0, v.stdout + v.stderr
    # The wrong PIN: a clear error, exit 2, no PIN in the output.
    (tmp_path / "wrong.pin").write_bytes(WRONG_PIN)
    r3 = _porthos(
        [
            "issue",
            "-w",
            str(ws),
            "-p",
            "ha-device",
            "--csr",
            "req.pem",
            "--out",
            "o2.pem",
            "--pin-file",
            "wrong.pin",
        ],
        cli_env,
        tmp_path,
    )
    assert r3.returncode == 2 and "PIN incorrect" in r3.stderr, r3.stdout + r3.stderr
    # Officers are in the audit log; no PIN (nor a half) is in any output or file
    # porthos wrote (the token store holds only SoftHSM2's wrapped key material).
    # They are in the store's audit trail (issue 6: no separate HSM log any more).
    from porthos.store import audit
    from porthos.store.sqlite import Store

    with Store.open(ws / "porthos.sqlite") as store:
        acts = [r for r in audit.records(store) if r.event == audit.Event.HSM_ACTIVATION]
        assert any(r.details.get("officers") == ["alice", "bob"] for r in acts)
        assert any(r.details.get("role") == "issuing" for r in acts)
        assert audit.verify(store).ok
    blobs = [r.stdout, r.stderr, r2.stdout, r2.stderr, r3.stdout, r3.stderr]
    for p in ws.rglob("*"):
        if p.is_file():
            blobs.append(p.read_bytes().decode("latin-1"))
    everything = "\n".join(blobs)
    for pin in [*PINS, b"half-a1", b"half-b2", b"half-a1half-b2"]:
        assert pin.decode() not in everything, f"PIN {pin!r} found"


def test_cli_hsm_init_token_keygen_and_bench(tmp_path: Path, cli_env: dict[str, str]) -> None:
    hsm_dir = tmp_path / "softhsm"
    base = ["--softhsm-dir", str(hsm_dir)]
    r = _porthos(
        [
            "hsm",
            "init-token",
            *base,
            "--label",
            "cli-token",
            "--so-pin-file",
            "so.pin",
            "--pin-file",
            "user.pin",
        ],
        cli_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for kind in ("ec-p256", "rsa-2048"):
        r = _porthos(
            [
                "hsm",
                "keygen",
                *base,
                "--token",
                "cli-token",
                "--label",
                f"k-{kind}",
                "--type",
                kind,
                "--pin-file",
                "user.pin",
            ],
            cli_env,
            tmp_path,
        )
        assert r.returncode == 0, r.stdout + r.stderr
    r = _porthos(
        [
            "hsm",
            "keygen",
            *base,
            "--token",
            "missing",
            "--label",
            "x",
            "--type",
            "ec-p256",
            "--pin-file",
            "user.pin",
        ],
        cli_env,
        tmp_path,
    )
    assert r.returncode == 2 and "no token labelled 'missing'" in r.stderr
    # A functional smoke run of the harness (not a measurement).
    out = tmp_path / "bench.json"
    r = _porthos(
        [
            "bench",
            "hsm",
            *base,
            "--token",
            "cli-token",
            "--key",
            "k-ec-p256",
            "--pin-file",
            "user.pin",
            "--sessions",
            "1,2",
            "--seconds",
            "0.3",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        cli_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    import json

    data = json.loads(out.read_text())
    assert [row["sessions"] for row in data["rows"]] == [1, 2]
    for row in data["rows"]:
        assert row["raw_threads_ops"] > 0 and row["raw_processes_ops"] > 0
        assert row["porthos_ops"] > 0 and row["ratio_porthos_to_best_raw"] > 0
    assert out.with_suffix(".png").stat().st_size > 1000
    for pin in PINS:
        assert pin.decode() not in r.stdout + r.stderr + out.read_text()


def test_crl_build_cli_signs_in_the_hsm(token: Token, tmp_path: Path) -> None:
    """`porthos crl build --token/--key-label/--pin-file`: one digest to the HSM, one
    signature back; the CRL verifies against the issuer certificate."""
    from click.testing import CliRunner
    from porthos.cli.main import main
    from porthos.issuance import crl as C

    with token.signer("p256", "ecdsa-sha256") as signer:
        ca_der = _self_signed_ca(signer, "HSM CRL build CA")
    (tmp_path / "ca.der").write_bytes(ca_der)
    (tmp_path / "pin").write_bytes(USER_PIN + b"\n")
    (tmp_path / "revoked.csv").write_text(
        "0a1b,2025-01-02T03:04:05Z,keyCompromise\n0c,2025-02-01T00:00:00Z,superseded\n"
    )
    base = ["crl", "build", "--revoked", str(tmp_path / "revoked.csv")]
    base += ["--issuer-cert", str(tmp_path / "ca.der"), "--number", "7"]
    base += ["--next-update", "7", "--out", str(tmp_path / "out.crl")]
    hsm_args = ["--module", token.module, "--token", token.label]
    res = CliRunner().invoke(
        main,
        [*base, *hsm_args, "--key-label", "p256", "--pin-file", str(tmp_path / "pin")],
    )
    assert res.exit_code == 0, res.output
    parsed = C.parse_crl((tmp_path / "out.crl").read_bytes(), ca_der)
    assert parsed.signature_checked and parsed.crl_number == 7
    assert sorted(C.serial_ints(parsed.columns.serials)) == [0x0C, 0x0A1B]
    for p in PINS:
        assert p.decode() not in res.output
    # A token key that is not the certificate's is refused before anything is signed.
    (tmp_path / "out.crl").unlink()
    res = CliRunner().invoke(
        main,
        [*base, *hsm_args, "--key-label", "p384", "--pin-file", str(tmp_path / "pin")],
    )
    assert res.exit_code != 0 and "not the issuer certificate's key" in res.output
    assert not (tmp_path / "out.crl").exists()


# --------------------------------------------------------------------------------------
# Session copies of the key, worker processes (why: docs/hsm.md, "Scaling")
# --------------------------------------------------------------------------------------


def _digests(n: int, width: int = 32) -> np.ndarray:
    return np.frombuffer(secrets.token_bytes(width * n), dtype=np.uint8).reshape(n, width)


def _session_copies(token: Token, label: str) -> list[Any]:
    """The private-key session objects labelled ``label`` visible to this process."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    tok = hsm.open_token(token.module, token.label)
    try:
        opened = tok.open(user_pin=USER_PIN.decode())
    except pkcs11.UserAlreadyLoggedIn:
        # A live pool of this process is logged in (one login per application,
        # PKCS#11 v2.40 §5.6); a session without its own login must not log it out.
        opened = tok.open()
    with opened as session:
        found = list(
            session.get_objects(
                {
                    Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                    Attribute.LABEL: label,
                    Attribute.TOKEN: False,
                }
            )
        )
        out = []
        for key in found:
            with pytest.raises(pkcs11.AttributeSensitive):
                key[Attribute.VALUE if label.startswith("p") else Attribute.PRIVATE_EXPONENT]
            out.append(
                {
                    a: key[a]
                    for a in (
                        Attribute.SENSITIVE,
                        Attribute.EXTRACTABLE,
                        Attribute.PRIVATE,
                        Attribute.NEVER_EXTRACTABLE,
                    )
                }
            )
        return out


def test_thread_pool_signs_with_sensitive_session_copies(token: Token) -> None:
    """Each session of the Rust pool signs with its own session copy of the key; the
    copies stay sensitive, never extractable and private, and go with the sessions."""
    from pkcs11 import Attribute

    d = _digests(200)
    with token.signer("p256", "ecdsa-sha256", sessions=2) as signer:
        assert signer.session_key_copies == 2
        copies = _session_copies(token, "p256")
        assert len(copies) == 2
        for attrs in copies:
            assert attrs[Attribute.SENSITIVE] is True
            assert attrs[Attribute.EXTRACTABLE] is False
            assert attrs[Attribute.PRIVATE] is True
            assert attrs[Attribute.NEVER_EXTRACTABLE] is True
        sigs = signer.sign_digests(d)
    for i, sig in enumerate(sigs):
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), sig)
    # close() closed the sessions; their session objects are gone with them.
    assert _session_copies(token, "p256") == []


def test_thread_pool_token_object_placement(token: Token) -> None:
    d = _digests(50)
    with token.signer("p256", "ecdsa-sha256", sessions=2, key_placement="token-object") as s:
        assert s.session_key_copies == 0
        assert _session_copies(token, "p256") == []
        sigs = s.sign_digests(d)
    for i, sig in enumerate(sigs):
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), sig)
    with raises_code(BatchArgumentError, "batch-argument"):
        token.signer("p256", "ecdsa-sha256", key_placement="extract-it")


def test_uncopyable_key_falls_back_to_the_token_object(softhsm_dir: Path) -> None:
    """CKA_COPYABLE=false: C_CopyObject is refused, the pool signs with the token key."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    t = Token("porthos-nocopy")
    tok = hsm.open_token(t.module, t.label)
    with tok.open(rw=True, user_pin=USER_PIN.decode()) as session:
        params = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        try:
            pub, _priv = params.generate_keypair(
                store=True,
                label="k",
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.COPYABLE: False,
                },
            )
        except (pkcs11.PKCS11Error, AttributeError) as exc:
            pytest.skip(f"module refuses CKA_COPYABLE at generation: {exc}")
        spki = hsm.public_key_der(t.module, t.label, "k")
    d = _digests(20)
    with t.signer("k", "ecdsa-sha256", sessions=2) as signer:
        assert signer.session_key_copies == 0
        sigs = signer.sign_digests(d)
    for i, sig in enumerate(sigs):
        _verify_digest(spki, "ecdsa-sha256", d[i].tobytes(), sig)


@pytest.mark.parametrize(
    "label,alg",
    [("p256", "ecdsa-sha256"), ("p384", "ecdsa-sha384"), ("rsa2048", "rsa-pss-sha256")],
)
def test_worker_processes_sign_and_verify(token: Token, label: str, alg: str) -> None:
    width = 48 if alg.endswith("384") else 32
    d = _digests(300, width)
    with token.signer(label, alg, sessions=2, workers="processes") as signer:
        assert signer.workers == "processes"
        pool = signer._pool
        assert isinstance(pool, hsm_workers.ProcessPool)
        pids = pool.pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        assert signer.session_key_copies == 2
        _no_pin(repr(signer))
        for pid in pids:  # the PIN went over a pipe: not in argv, not in the environment
            for what in ("cmdline", "environ"):
                raw = Path(f"/proc/{pid}/{what}").read_bytes()
                assert all(pin not in raw for pin in PINS)
        sigs = signer.sign_digests(d)
        assert signer.last_latency_ns.shape == (300,)
    for i, sig in enumerate(sigs):
        _verify_digest(token.spki[label], alg, d[i].tobytes(), sig)
    assert pool.pids() == []


def test_auto_workers_are_processes_for_several_sessions(token: Token) -> None:
    with token.signer("p256", "ecdsa-sha256", sessions=2, workers="auto") as s2:
        assert s2.workers == "processes"
    with token.signer("p256", "ecdsa-sha256", sessions=1, workers="auto") as s1:
        assert s1.workers == "threads"


def test_killed_worker_process_is_restarted_and_the_chunk_retried(token: Token) -> None:
    import signal

    d = _digests(400)
    with token.signer("p256", "ecdsa-sha256", sessions=2, workers="processes") as signer:
        signer.sign_digests(d[:10])
        pool = signer._pool
        assert isinstance(pool, hsm_workers.ProcessPool)
        victim = pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        sigs = signer.sign_digests(d)
        assert signer.last_reopened >= 1
        assert victim not in pool.pids() and len(pool.pids()) == 2
    for i, sig in enumerate(sigs):
        _verify_digest(token.spki["p256"], "ecdsa-sha256", d[i].tobytes(), sig)


def test_worker_processes_wrong_pin_and_changed_pin(softhsm_dir: Path) -> None:
    """A wrong PIN at start raises HsmPinError (the first worker's login is awaited
    before any other starts). A PIN changed under a running pool: the restarted
    workers' logins are refused, every item fails naming the PIN, the refusal
    latches and no worker is started again."""
    import signal

    t = Token("porthos-procpin")
    t.key("k", "ec-p256")
    with pytest.raises(HsmPinError) as info:
        signers.Pkcs11Signer(
            t.module,
            t.label,
            "k",
            hsm.Secret(WRONG_PIN),
            "ecdsa-sha256",
            sessions=2,
            workers="processes",
        )
    _no_pin(str(info.value))
    d = np.zeros((40, 32), dtype=np.uint8)
    with t.signer("k", "ecdsa-sha256", sessions=2, workers="processes") as signer:
        assert len(signer.sign_digests(d[:4])) == 4
        pool = signer._pool
        assert isinstance(pool, hsm_workers.ProcessPool)
        tok = hsm.open_token(t.module, t.label)
        with tok.open(rw=True, user_pin=USER_PIN.decode()) as session:
            session.set_pin(USER_PIN.decode(), "changed-91c0")
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        sigs, status, reasons = signer.sign_digests_partial(d)
        assert all(s is None for s in sigs)
        assert set(status.tolist()) == {1}  # HsmItemStatus.SESSION_LOST
        assert all("PIN" in r for r in reasons), reasons[:2]
        assert pool.pin_refused and pool.pids() == []
        sigs, status, reasons = signer.sign_digests_partial(d)
        assert set(status.tolist()) == {1} and pool.pids() == []
        for r in reasons:
            _no_pin(r)
            assert "changed-91c0" not in r


def test_worker_processes_refuse_mismatched_digests(token: Token) -> None:
    with token.signer("p256", "ecdsa-sha256", sessions=2, workers="processes") as signer:
        with raises_code(BatchArgumentError, "batch-argument"):
            signer.sign_digests(_digests(4, 48))


# --------------------------------------------------------------------------------------
# Transferable keys (000 §6.2.6): wrapping only under an SO-trusted key
# --------------------------------------------------------------------------------------


def test_transferable_key_wraps_only_under_a_trusted_key(softhsm_dir: Path) -> None:
    """What porthos relies on for --transferable-keys, proven on SoftHSM2 itself: a
    CKA_WRAP_WITH_TRUSTED key refuses an untrusted wrapping key (CKR_KEY_NOT_WRAPPABLE);
    the user cannot mark a key CKA_TRUSTED nor clear CKA_WRAP_WITH_TRUSTED
    (CKR_ATTRIBUTE_READ_ONLY); the Security Officer can make a trusted wrapping key,
    under which the wrap works; a default key is not extractable at all."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    t = Token("porthos-transfer")
    hsm.generate_key(t.module, t.label, hsm.Secret(USER_PIN), "ca", "ec-p256", transferable=True)
    t.key("fixed", "ec-p256")
    tok = hsm.open_token(t.module, t.label)
    with tok.open(rw=True, user_pin=USER_PIN.decode()) as s:
        ca = s.get_key(label="ca", object_class=ObjectClass.PRIVATE_KEY)
        assert ca[Attribute.SENSITIVE] and ca[Attribute.EXTRACTABLE]
        assert ca[Attribute.WRAP_WITH_TRUSTED]
        untrusted = s.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        with pytest.raises(pkcs11.KeyNotWrappable):
            untrusted.wrap_key(ca, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        with pytest.raises(pkcs11.AttributeReadOnly):
            s.generate_key(
                KeyType.AES,
                256,
                store=False,
                template={Attribute.WRAP: True, Attribute.TRUSTED: True},
            )
        with pytest.raises(pkcs11.AttributeReadOnly):
            ca[Attribute.WRAP_WITH_TRUSTED] = False
        fixed = s.get_key(label="fixed", object_class=ObjectClass.PRIVATE_KEY)
        with pytest.raises(pkcs11.KeyUnextractable):
            untrusted.wrap_key(fixed, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    with tok.open(rw=True, so_pin=SO_PIN.decode()) as s:
        s.generate_key(
            KeyType.AES,
            256,
            store=True,
            label="trusted-transport",
            template={
                Attribute.PRIVATE: False,
                Attribute.TRUSTED: True,
                Attribute.WRAP: True,
                Attribute.EXTRACTABLE: False,
            },
        )
    with tok.open(rw=True, user_pin=USER_PIN.decode()) as s:
        ca = s.get_key(label="ca", object_class=ObjectClass.PRIVATE_KEY)
        trusted = s.get_key(label="trusted-transport", object_class=ObjectClass.SECRET_KEY)
        assert trusted[Attribute.TRUSTED]
        assert len(trusted.wrap_key(ca, mechanism=Mechanism.AES_KEY_WRAP_PAD)) > 32
        trusted.destroy()
