"""The registration authority (000 §3.2.3, §3.1, §4.7): ``RegistrationAuthority`` is
the facade (authority.py); one module per procedure, the registries' SQL in
porthos.store.registry, the CP/CPS figures in cpcps_data.py (until cpcps/ holds them)."""

from __future__ import annotations

from porthos.workflows.ra.authority import RegistrationAuthority
from porthos.workflows.ra.cpcps_data import (
    DEFAULT_REKEY_GRACE,
    DEFAULT_TRANSACTION_TTL,
    RA_COMMAND_FOR_PROFILE,
    REKEY_GRACE_PERIOD_MONTHS,
    RENEWAL_WINDOW_MONTHS,
    rekey_window,
)
from porthos.workflows.ra.rekey import RekeyResult

__all__ = [
    "DEFAULT_REKEY_GRACE",
    "DEFAULT_TRANSACTION_TTL",
    "RA_COMMAND_FOR_PROFILE",
    "REKEY_GRACE_PERIOD_MONTHS",
    "RENEWAL_WINDOW_MONTHS",
    "RegistrationAuthority",
    "RekeyResult",
    "rekey_window",
]
