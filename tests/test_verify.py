"""porthos.verify_signatures / porthos.verify_csrs (issue 3): every algorithm, both
argument forms, argument errors, statuses and details, Wycheproof through the Python
API, Ctrl-C on a batch of millions, and the verify-csrs CLI.

The oracle is pyca/cryptography: it makes the keys, CSRs and signatures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import porthos
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from porthos import BatchArgumentError, CsrStatus
from porthos.cli.main import main

WYCHEPROOF = Path(__file__).resolve().parents[1] / ".." / "shared" / "vectors" / "wycheproof"
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo

_KEYS: dict[str, Any] = {}


def key(kind: str) -> Any:
    if kind not in _KEYS:
        if kind == "p256":
            _KEYS[kind] = ec.generate_private_key(ec.SECP256R1())
        elif kind == "p384":
            _KEYS[kind] = ec.generate_private_key(ec.SECP384R1())
        elif kind == "p521":
            _KEYS[kind] = ec.generate_private_key(ec.SECP521R1())
        elif kind == "ed25519":
            _KEYS[kind] = ed25519.Ed25519PrivateKey.generate()
        else:  # rsa-<bits>
            _KEYS[kind] = rsa.generate_private_key(65537, int(kind[4:]))
    return _KEYS[kind]


def spki(k: Any) -> bytes:
    return bytes(k.public_key().public_bytes(DER, SPKI))


def pss(h: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)


def sign(kind: str, alg: str, msg: bytes) -> bytes:
    """A signature over msg under porthos algorithm name ``alg``."""
    k = key(kind)
    if alg == "ed25519":
        return bytes(k.sign(msg))
    family, _, hname = alg.rpartition("-")
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[hname]
    if family == "ecdsa":
        return bytes(k.sign(msg, ec.ECDSA(h)))
    if family == "rsa-pss":
        return bytes(k.sign(msg, pss(h), h))
    return bytes(k.sign(msg, padding.PKCS1v15(), h))


def csr(kind: str = "p256", alg: str = "ecdsa-sha256", cn: str = "r7") -> bytes:
    k = key(kind)
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if alg == "ed25519":
        return bytes(b.sign(k, None).public_bytes(DER))
    family, _, hname = alg.rpartition("-")
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[hname]
    if family == "rsa-pss":
        return bytes(b.sign(k, h, rsa_padding=pss(h)).public_bytes(DER))
    return bytes(b.sign(k, h).public_bytes(DER))


SUPPORTED = [
    ("p256", "ecdsa-sha256"),
    ("p256", "ecdsa-sha384"),
    ("p256", "ecdsa-sha512"),
    ("p384", "ecdsa-sha384"),
    ("p384", "ecdsa-sha256"),
    ("rsa-2048", "rsa-pkcs1-sha256"),
    ("rsa-3072", "rsa-pkcs1-sha384"),
    ("rsa-4096", "rsa-pkcs1-sha512"),
    ("rsa-2048", "rsa-pss-sha256"),
    ("rsa-3072", "rsa-pss-sha384"),
    ("rsa-4096", "rsa-pss-sha512"),
    ("ed25519", "ed25519"),
]


# ---- verify_signatures -----------------------------------------------------------------


@pytest.mark.parametrize(("kind", "alg"), SUPPORTED)
def test_every_algorithm_valid_and_tampered(kind: str, alg: str) -> None:
    msgs = [b"message %d" % i for i in range(5)]
    sigs = [sign(kind, alg, m) for m in msgs]
    keys = [spki(key(kind))] * 5
    bad_sig = bytearray(sigs[1])
    bad_sig[len(bad_sig) // 2] ^= 1
    sigs2 = [sigs[0], bytes(bad_sig), sigs[2], sigs[3] + b"\x00", sigs[4]]
    msgs2 = [msgs[0], msgs[1], b"other", msgs[3], msgs[4]]
    for threads in (1, 2, None):
        assert porthos.verify_signatures(alg, keys, msgs, sigs, threads=threads).all()
        got = porthos.verify_signatures(alg, keys, msgs2, sigs2, threads=threads)
        assert got.dtype == np.bool_
        assert got.tolist() == [True, False, False, False, True]


def test_key_checks_and_mismatched_algorithms_are_false() -> None:
    msg = b"m"
    sig = sign("p256", "ecdsa-sha256", msg)
    p256 = spki(key("p256"))
    # The same signature under a wrong algorithm family, with a wrong key, with junk keys.
    assert not porthos.verify_signatures("rsa-pkcs1-sha256", [p256], [msg], [sig])[0]
    assert not porthos.verify_signatures("ecdsa-sha256", [spki(key("p384"))], [msg], [sig])[0]
    assert not porthos.verify_signatures(
        "ecdsa-sha256", [b"", b"\x30\x00"], [msg] * 2, [sig] * 2
    ).any()
    # Off-curve point: flip the last coordinate byte.
    off = bytearray(p256)
    off[-1] ^= 1
    assert not porthos.verify_signatures("ecdsa-sha256", [bytes(off)], [msg], [sig])[0]
    # RSA-1024 is a weak key: a correct signature is still False.
    rsa_sig = sign("rsa-1024", "rsa-pkcs1-sha256", msg)
    assert not porthos.verify_signatures(
        "rsa-pkcs1-sha256", [spki(key("rsa-1024"))], [msg], [rsa_sig]
    )[0]


def test_high_s_is_valid_and_out_of_range_scalars_are_not() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    msg = b"high s"
    r, s = decode_dss_signature(sign("p256", "ecdsa-sha256", msg))
    k = [spki(key("p256"))]
    cases = {
        (r, s): True,
        (r, n - s): True,  # high s: valid in X.509
        (0, s): False,
        (r, 0): False,
        (r + n, s): False,
        (r, s + n): False,
        (n, s): False,
    }
    sigs = [encode_dss_signature(a, b) for a, b in cases]
    got = porthos.verify_signatures("ecdsa-sha256", k * len(sigs), [msg] * len(sigs), sigs)
    assert got.tolist() == list(cases.values())


def test_packed_form_equals_sequence_form() -> None:
    msgs = [b"x" * i for i in range(1, 40)]
    sigs = [sign("p256", "ecdsa-sha256", m) for m in msgs]
    sigs[7] = sigs[8]  # one wrong
    keys = [spki(key("p256"))] * len(msgs)

    def pack(items: list[bytes], dtype: Any = np.int64, prefix: bytes = b"") -> Any:
        offs = np.cumsum([len(prefix)] + [len(x) for x in items]).astype(dtype)
        return (prefix + b"".join(items), offs)

    want = porthos.verify_signatures("ecdsa-sha256", keys, msgs, sigs)
    assert want.sum() == len(msgs) - 1 and not want[7]
    for dtype in (np.int64, np.uint64, np.int32, np.uint32):
        got = porthos.verify_signatures(
            "ecdsa-sha256", pack(keys, dtype), pack(msgs, dtype, b"junk"), pack(sigs, dtype)
        )
        assert got.tolist() == want.tolist()
    # Buffers as NumPy, bytearray and memoryview; items as memoryview / uint8 arrays.
    kb, ko = pack(keys)
    got = porthos.verify_signatures(
        "ecdsa-sha256",
        (np.frombuffer(kb, np.uint8), ko),
        (bytearray(pack(msgs)[0]), pack(msgs)[1]),
        [memoryview(s) for s in sigs[:-1]] + [np.frombuffer(sigs[-1], np.uint8)],
    )
    assert got.tolist() == want.tolist()


def test_argument_errors_raise() -> None:
    k, m, s = [spki(key("p256"))], [b"m"], [sign("p256", "ecdsa-sha256", b"m")]
    offs = np.array([0, 3, 2])
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", k, m * 2, s)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", k, m, s * 3)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-md5", k, m, s)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", (b"abc", offs), m * 2, s * 2)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", (b"ab", np.array([0, 1, 3])), m * 2, s * 2)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", (b"ab", np.array([-1, 1])), m, s)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", (b"ab", np.array([], np.int64)), [], [])
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", (b"ab", np.array([0.0, 1.0])), m, s)
    # BatchArgumentError must name the argument and the item.
    with raises_code(
        BatchArgumentError, "batch-argument", match=r"public_keys\[1\]: expected bytes"
    ):
        porthos.verify_signatures("ecdsa-sha256", [k[0], "text"], m * 2, s * 2)
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_signatures("ecdsa-sha256", k, m, s, threads=0)
    with pytest.raises(BatchArgumentError):
        porthos.verify_csrs(b"one bytes object, not a sequence")
    with raises_code(BatchArgumentError, "batch-argument"):
        porthos.verify_csrs((b"abc", np.array([0, 4])))
    # Empty batches are fine.
    assert porthos.verify_signatures("ed25519", [], [], []).shape == (0,)
    assert porthos.verify_csrs([])[0].shape == (0,)


# ---- verify_csrs -----------------------------------------------------------------------


def test_verify_csrs_statuses_and_details() -> None:
    good = [csr(kind, alg) for kind, alg in SUPPORTED]
    bad_sig = bytearray(good[0])
    bad_sig[-3] ^= 0x40
    trailing = good[0] + b"\x00"
    items = good + [
        bytes(bad_sig),
        good[0][:-10],
        trailing,
        b"",
        csr("p521", "ecdsa-sha512"),
        csr("rsa-4160", "rsa-pkcs1-sha256"),  # over the 2048-4096 range
        csr("rsa-1024", "rsa-pkcs1-sha256"),
    ]
    want = [CsrStatus.OK] * len(good) + [
        CsrStatus.BAD_SIGNATURE,
        CsrStatus.MALFORMED,
        CsrStatus.MALFORMED,
        CsrStatus.MALFORMED,
        CsrStatus.UNSUPPORTED_ALGORITHM,
        CsrStatus.UNSUPPORTED_ALGORITHM,
        CsrStatus.WEAK_KEY,
    ]
    for threads in (1, 2, None):
        status, details = porthos.verify_csrs(items, threads=threads)
        assert status.dtype == np.uint8
        assert [CsrStatus(c) for c in status] == want
    assert len(details) == len(items)
    assert details.status.tolist() == status.tolist()
    assert details.detail(0) == ""
    n = len(good)
    assert "does not verify" in details.detail(n)
    assert "offset" in details.detail(n + 1) or "at" in details.detail(n + 1)
    assert "trailing" in details.detail(n + 2).lower()
    assert "1024" in details.detail(-1) and "2048" in details.detail(-1)
    assert "4160" in details.detail(-2) and "4096" in details.detail(-2)
    assert details.der(-1) == items[-1]
    assert details.signature_algorithm(0) == "ecdsa-sha256"
    assert details.signature_algorithm(n + 3) == ""
    with pytest.raises(IndexError):
        details.detail(len(items))
    # Packed form and the parse_csrs path (issuance) agree with verify_csrs.
    offs = np.cumsum([0] + [len(x) for x in items])
    assert porthos.verify_csrs((b"".join(items), offs))[0].tolist() == status.tolist()
    assert porthos.parse_csrs(items).status.tolist() == status.tolist()


def test_status_enum_is_the_documented_contract() -> None:
    assert {s.name: int(s) for s in CsrStatus} == {
        "OK": 0,
        "MALFORMED": 1,
        "UNSUPPORTED_ALGORITHM": 2,
        "BAD_SIGNATURE": 3,
        "WEAK_KEY": 4,
    }
    assert porthos.issuance.verify.__doc__ and "WEAK_KEY" in porthos.issuance.verify.__doc__


# ---- Wycheproof through the Python API, one batch call per file ------------------------

WYCHEPROOF_FILES = {
    "ecdsa_secp256r1_sha256_test.json": "ecdsa-sha256",
    "ecdsa_secp384r1_sha384_test.json": "ecdsa-sha384",
    "rsa_signature_2048_sha256_test.json": "rsa-pkcs1-sha256",
    "rsa_pss_2048_sha256_mgf1_32_test.json": "rsa-pss-sha256",
}


@pytest.mark.parametrize("name", sorted(WYCHEPROOF_FILES))
def test_wycheproof_one_batch_per_file(name: str) -> None:
    """Every vector, in one verify_signatures call. Policy for "acceptable": rejected.
    The only acceptable vectors here are RSA PKCS#1 signatures flagged MissingNull (a
    DigestInfo without the NULL parameters, which RFC 8017 §9.2 Note 1 lets a verifier
    accept); a CA needs no such leniency, so porthos accepts only the canonical
    encoding. The Rust test rust/porthos-core/tests/wycheproof.rs asserts the same."""
    doc = json.loads((WYCHEPROOF / name).read_text())
    keys, msgs, sigs, want, acceptable = [], [], [], [], []
    for group in doc["testGroups"]:
        k = bytes.fromhex(group["publicKeyDer"])
        for t in group["tests"]:
            keys.append(k)
            msgs.append(bytes.fromhex(t["msg"]))
            sigs.append(bytes.fromhex(t["sig"]))
            want.append(t["result"] == "valid")
            if t["result"] == "acceptable":
                acceptable.append(t["flags"])
    assert len(keys) == doc["numberOfTests"]
    got = porthos.verify_signatures(WYCHEPROOF_FILES[name], keys, msgs, sigs)
    mismatches = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert mismatches == []
    assert all(flags == ["MissingNull"] for flags in acceptable)


# ---- Ctrl-C ----------------------------------------------------------------------------

_SIGINT_CHILD = r"""
import sys, time
import numpy as np
import porthos
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

n = 2_000_000
k = ec.generate_private_key(ec.SECP256R1())
spki = k.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
sig = k.sign(b"m" * 300, ec.ECDSA(hashes.SHA256()))
def packed(item):
    return (item * n, np.arange(n + 1, dtype=np.int64) * len(item))
args = (packed(spki), packed(b"m" * 300), packed(sig))
print("start", flush=True)
try:
    porthos.verify_signatures("ecdsa-sha256", *args)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    sys.exit(130)
print("finished", flush=True)
"""


def test_ctrl_c_interrupts_a_two_million_item_batch() -> None:
    # 2M P-256 verifications are a minute of work or more; SIGINT 0.5 s into the call
    # must end it (KeyboardInterrupt) within a second.
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGINT_CHILD], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, out
    assert out.startswith("interrupted"), out
    assert float(out.split()[1]) - sent < 1.0, out
    assert elapsed < 3.0  # includes interpreter shutdown


# ---- CLI -------------------------------------------------------------------------------


def test_verify_csrs_cli(tmp_path: Path) -> None:
    good = [csr("p256", "ecdsa-sha256", f"r{i}") for i in range(3)]
    bad = bytearray(good[1])
    bad[-2] ^= 1
    pem = b"".join(
        x509.load_der_x509_csr(d).public_bytes(serialization.Encoding.PEM) for d in good
    )
    (tmp_path / "ok.pem").write_bytes(pem)
    runner = CliRunner()
    r = runner.invoke(main, ["verify-csrs", str(tmp_path / "ok.pem")])
    assert r.exit_code == 0, r.output
    assert "OK" in r.output and "3 requests" in r.output

    import base64

    blob = base64.encodebytes(bytes(bad)).decode()
    bad_pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{blob}-----END CERTIFICATE REQUEST-----\n"
    (tmp_path / "mixed.pem").write_bytes(pem + bad_pem.encode())
    out = tmp_path / "report.json"
    r = runner.invoke(main, ["verify-csrs", str(tmp_path / "mixed.pem"), "--json", str(out)])
    assert r.exit_code == 3, r.output
    report = json.loads(out.read_text())
    assert report["n"] == 4 and report["counts"]["OK"] == 3
    assert report["not_ok"][0]["index"] == 3
    assert report["not_ok"][0]["status"] in ("BAD_SIGNATURE", "MALFORMED")
    assert report["not_ok"][0]["detail"]

    (tmp_path / "one.der").write_bytes(good[0])
    assert runner.invoke(main, ["verify-csrs", str(tmp_path / "one.der")]).exit_code == 0
    (tmp_path / "none.pem").write_text("-----BEGIN NOTHING-----\n")
    r = runner.invoke(main, ["verify-csrs", str(tmp_path / "none.pem")])
    assert r.exit_code == 2


def test_bench_verify_smoke(tmp_path: Path) -> None:
    if os.environ.get("PORTHOS_SKIP_BENCH_SMOKE"):
        pytest.skip("PORTHOS_SKIP_BENCH_SMOKE set")
    from porthos.bench import verify as bench

    report = bench.run(
        n=50, repeats=1, threads=None, openssl_seconds=1, json_out=str(tmp_path / "b.json")
    )
    assert set(report["ratios"]) >= {"sig_1t_over_openssl_verify", "csrs_1t_over_pyca"}
    assert json.loads((tmp_path / "b.json").read_text())["n"] == 50
