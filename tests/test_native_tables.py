"""The tables of the Rust side and their Python users are one contract.

Status codes (they travel in uint8 arrays and JSON reports): every code Rust defines
equals the porthos.status member of the same name, and every Python member has its Rust
code. Signature-algorithm names: the Python lists are the Rust table. The Rust values come
from the extension itself (rust/porthos-py/src/tables.rs), not from a copy."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from enum import IntEnum

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from porthos import _native
from porthos.exceptions import BatchArgumentError
from porthos.status import CmsStatus, CsrStatus, HsmItemStatus, IssueStatus, KeyType


def _members(enum: type[IntEnum]) -> dict[str, int]:
    return {m.name: int(m) for m in enum}


@pytest.mark.parametrize(
    ("rust", "python"),
    [
        (_native.CSR_STATUS, CsrStatus),
        (_native.KEY_TYPE, KeyType),
        (_native.CMS_STATUS, CmsStatus),
        (_native.HSM_ITEM_STATUS, HsmItemStatus),
    ],
    ids=["csr-status", "key-type", "cms-status", "hsm-item-status"],
)
def test_rust_status_enum_equals_python(rust: dict[str, int], python: type[IntEnum]) -> None:
    assert rust == _members(python)


def test_issue_status_mirrors_the_csr_codes() -> None:
    # IssueStatus 1-4 are the CsrStatus codes of a request that failed verification,
    # copied straight from the native status array (status.py); 0 is OK / ISSUED.
    csr = dict(_native.CSR_STATUS)
    assert IssueStatus.ISSUED == csr.pop("OK")
    assert {name: int(IssueStatus[name]) for name in csr} == csr


def test_cms_status_mirrors_the_csr_codes() -> None:
    shared = set(_native.CMS_STATUS) & set(_native.CSR_STATUS)
    assert shared == {"OK", "UNSUPPORTED_ALGORITHM", "BAD_SIGNATURE", "WEAK_KEY"}
    assert all(_native.CMS_STATUS[n] == _native.CSR_STATUS[n] for n in shared)


# --- signature-algorithm names: one table, in Rust (porthos-core x509/csr.rs) ----------------


def test_python_takes_the_signature_algorithm_names_from_the_rust_table() -> None:
    from porthos import hsm
    from porthos.cpcps import extensions
    from porthos.issuance import signers, verify

    assert verify.SIGNATURE_ALGORITHMS is _native.SIGNATURE_ALGORITHMS
    assert signers.HASH_OF is _native.SIGNING_ALGORITHMS
    assert extensions.signature_algorithms() == tuple(_native.SIGNING_ALGORITHMS)
    # porthos signs only with algorithms it can also verify.
    assert set(_native.SIGNING_ALGORITHMS) <= set(_native.SIGNATURE_ALGORITHMS)
    # The defaults chosen per key type name algorithms of the table.
    assert set(hsm.KEY_TYPES.values()) <= set(_native.SIGNING_ALGORITHMS)


def test_the_pure_python_parts_import_without_the_extension() -> None:
    # porthos/__init__.py promises it: the profile loader reads the table on use only.
    code = (
        "import sys\n"
        "sys.modules['porthos._native'] = None\n"
        "import porthos, porthos.cpcps.loader, porthos.cpcps.policy, porthos.status\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_verify_name_is_accepted_and_others_are_refused() -> None:
    for name in _native.SIGNATURE_ALGORITHMS:
        assert len(_native.verify_signatures(name, [], [], [])) == 0
    with pytest.raises(BatchArgumentError) as err:
        _native.verify_signatures("ecdsa-with-SHA256", [], [], [])
    assert err.value.code == "batch-argument"


def test_every_signing_name_signs_and_hashes_as_the_table_says() -> None:
    rsa_der = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    issuer = _native.encode_name([("CN", "table test")])
    for name, hash_name in _native.SIGNING_ALGORITHMS.items():
        if name.startswith("ecdsa"):
            key = _native.SoftwareKey.generate("ec-p384" if "384" in name else "ec-p256", name)
        else:
            key = _native.SoftwareKey.from_pkcs8(rsa_der, name)
        assert key.signature_algorithm == name
        tpl = _native.Template(json.dumps({"extensions": []}), issuer, None, name)
        assert tpl.signature_algorithm == name
        tbs = tpl.fill(
            serials=[b"\x01"],
            not_before=[1_700_000_000],
            not_after=[1_800_000_000],
            subjects=[[("CN", "leaf")]],
            spkis=[key.public_key_der()],
        )
        # The digest an external signer is handed is the table's hash of the TBS.
        digest = _native.tbs_digests(tbs, hash_name)[0].tobytes()
        assert digest == hashlib.new(hash_name, tbs[0]).digest()
