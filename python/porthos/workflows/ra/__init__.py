"""The registration authority (RFC 3647 §3.2.3, §3.1, §4.7): ``RegistrationAuthority``
is the facade (authority.py); one module per procedure, the registries' SQL in
porthos.store.registry. What the CP/CPS decides (which profile each procedure serves,
the re-key windows, the transaction-ID lifetime) is read from the loaded CP/CPS."""

from __future__ import annotations

from porthos.workflows.ra.authority import RegistrationAuthority
from porthos.workflows.ra.rekey import RekeyResult

__all__ = ["RegistrationAuthority", "RekeyResult"]
