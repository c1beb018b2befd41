"""CRLReason codes by name (RFC 5280 §5.3.1): plain data, below every layer, so the
CP/CPS loader can validate reason names without the extension."""

from __future__ import annotations

#: RFC 5280 §5.3.1 CRLReason names (value 7 is unassigned).
REASONS: dict[str, int] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
REASON_NAMES = {v: k for k, v in REASONS.items()}
