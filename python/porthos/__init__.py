"""porthos: a certificate-authority signing engine (Rust core, Python policy layer).

The public surface. Names that need the Rust extension (``porthos._native``) and the
modules built on it are imported on first use (PEP 562), so the pure-Python parts
(the CP/CPS loader, policy, store) stay importable while the extension is being built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from porthos.exceptions import (
    BatchArgumentError,
    DerDecodeError,
    EncodeError,
    KeyMaterialError,
    PolicyError,
    PorthosError,
    ProfileError,
    SigningError,
    StoreError,
    WorkspaceError,
)
from porthos.status import CsrStatus, IssueStatus, KeyType

if TYPE_CHECKING:
    from porthos._native import (
        CsrBatch,
        CsrVerification,
        DerBatch,
        SoftwareKey,
        Template,
        parse_csrs,
    )
    from porthos.cpcps.loader import load_profile_set
    from porthos.issuance.serials import generate_serials
    from porthos.issuance.verify import SIGNATURE_ALGORITHMS, verify_csrs, verify_signatures
    from porthos.workspace.authority import CertificateAuthority, IssueResult
    from porthos.workspace.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "BatchArgumentError",
    "CertificateAuthority",
    "CsrBatch",
    "CsrStatus",
    "CsrVerification",
    "DerBatch",
    "DerDecodeError",
    "EncodeError",
    "IssueResult",
    "IssueStatus",
    "KeyMaterialError",
    "KeyType",
    "PolicyError",
    "PorthosError",
    "ProfileError",
    "SigningError",
    "SoftwareKey",
    "StoreError",
    "Template",
    "Workspace",
    "WorkspaceError",
    "generate_serials",
    "load_profile_set",
    "parse_csrs",
    "SIGNATURE_ALGORITHMS",
    "verify_csrs",
    "verify_signatures",
]

_LAZY: dict[str, str] = {
    "CsrBatch": "porthos._native",
    "DerBatch": "porthos._native",
    "SoftwareKey": "porthos._native",
    "Template": "porthos._native",
    "generate_serials": "porthos.issuance.serials",
    "parse_csrs": "porthos._native",
    "load_profile_set": "porthos.cpcps.loader",
    "CertificateAuthority": "porthos.workspace.authority",
    "IssueResult": "porthos.workspace.authority",
    "Workspace": "porthos.workspace.workspace",
    "CsrVerification": "porthos._native",
    "SIGNATURE_ALGORITHMS": "porthos.issuance.verify",
    "verify_csrs": "porthos.issuance.verify",
    "verify_signatures": "porthos.issuance.verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'porthos' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
