"""Wycheproof signature vectors through porthos._native.verify_signatures, one batch per file.

The vectors live in the shared folder beside the repository (../shared/vectors/wycheproof,
Apache-2.0, see its LICENSE/SOURCE); they are not copied into the repo.

Policy for "acceptable" vectors (Wycheproof: either outcome is defensible): porthos verifies
proofs of possession for a CA, where accepting a non-canonical encoding buys nothing and
widens what an attacker may feed the issuing path, so acceptable vectors must be REJECTED.
The only acceptable vector in these files is RSA PKCS#1 "MissingNull" (a DigestInfo whose
AlgorithmIdentifier lacks the NULL parameters, RFC 8017 §9.2 note 2 allows verifiers to
refuse it). The counts below pin the files so a silently shrunk vector set fails loudly.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "wycheproof"


def _load(name: str) -> dict[str, Any]:
    path = VECTORS / name
    if not path.is_file():
        pytest.fail(
            f"Wycheproof vectors missing: {path} (expected the shared/ folder beside the repo)"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _run(algorithm: str, groups: list[dict[str, Any]]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    from porthos import _native

    keys, msgs, sigs, tests = [], [], [], []
    for g in groups:
        key = bytes.fromhex(g["publicKeyDer"])
        for t in g["tests"]:
            keys.append(key)
            msgs.append(bytes.fromhex(t["msg"]))
            sigs.append(bytes.fromhex(t["sig"]))
            tests.append(t)
    ok = _native.verify_signatures(algorithm, keys, msgs, sigs)
    assert ok.dtype == np.bool_
    assert ok.shape == (len(tests),)
    return ok, tests


def _check(ok: np.ndarray, tests: list[dict[str, Any]], expected: dict[str, int]) -> None:
    assert Counter(t["result"] for t in tests) == expected
    wrong = [
        f"tcId {t['tcId']} ({t['result']}, {t['comment']!r}, flags {t['flags']}): got {bool(v)}"
        for v, t in zip(ok, tests, strict=True)
        if bool(v) != (t["result"] == "valid")  # valid -> accept; invalid, acceptable -> reject
    ]
    assert not wrong, f"{len(wrong)} vectors decided wrongly:\n" + "\n".join(wrong[:40])


def test_ecdsa_p256_sha256() -> None:
    d = _load("ecdsa_secp256r1_sha256_test.json")
    assert {g["sha"] for g in d["testGroups"]} == {"SHA-256"}
    ok, tests = _run("ecdsa-sha256", d["testGroups"])
    _check(ok, tests, {"valid": 174, "invalid": 310})


def test_ecdsa_p384_sha384() -> None:
    d = _load("ecdsa_secp384r1_sha384_test.json")
    assert {g["sha"] for g in d["testGroups"]} == {"SHA-384"}
    ok, tests = _run("ecdsa-sha384", d["testGroups"])
    _check(ok, tests, {"valid": 194, "invalid": 310})


def test_rsa_pkcs1_2048_sha256() -> None:
    d = _load("rsa_signature_2048_sha256_test.json")
    assert {(g["sha"], g["keySize"]) for g in d["testGroups"]} == {("SHA-256", 2048)}
    ok, tests = _run("rsa-pkcs1-sha256", d["testGroups"])
    _check(ok, tests, {"valid": 9, "invalid": 249, "acceptable": 1})
    assert [t["flags"] for t in tests if t["result"] == "acceptable"] == [["MissingNull"]]


def test_rsa_pss_2048_sha256_salt32() -> None:
    d = _load("rsa_pss_2048_sha256_mgf1_32_test.json")
    # rsa-pss-sha256 means SHA-256, MGF1-SHA-256, salt 32 (RFC 8017 §9.1, RFC 4055 §3.1);
    # groups with other parameters would test a different algorithm, so they are not run.
    groups = [
        g
        for g in d["testGroups"]
        if (g["sha"], g["mgf"], g["mgfSha"], g["sLen"]) == ("SHA-256", "MGF1", "SHA-256", 32)
    ]
    assert len(groups) == 1 == len(d["testGroups"])
    ok, tests = _run("rsa-pss-sha256", groups)
    _check(ok, tests, {"valid": 63, "invalid": 45})


def test_wrong_algorithm_rejects_everything() -> None:
    # A P-256 key under an RSA algorithm is "does not fit": False, never an exception.
    d = _load("ecdsa_secp256r1_sha256_test.json")
    g = d["testGroups"][0]
    ok, _ = _run("rsa-pkcs1-sha256", [g])
    assert not ok.any()
