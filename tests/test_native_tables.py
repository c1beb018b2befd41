"""The status codes of the Rust side and porthos.status are one contract (the codes
travel in uint8 arrays and JSON reports): every code Rust defines equals the Python
member of the same name, and every Python member has its Rust code. The Rust values come
from the extension itself (rust/porthos-py/src/tables.rs), not from a copy."""

from __future__ import annotations

from enum import IntEnum

import pytest
from porthos import _native
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
