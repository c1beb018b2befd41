"""CP/CPS data (moves to cpcps/): what the LEGIC Porthos CP/CPS v1.1 (000) decides for
the RA, kept together here until the cpcps/ schema holds it. Sections cited as "000 §x";
the reading of the garbled §4.7.3 is the one in /work/shared/seeds/README.md.

Nothing else in workflows/ra/ names a profile or a figure of the CP/CPS.
"""

from __future__ import annotations

from porthos.cpcps import policy

__all__ = [
    "DEFAULT_REKEY_GRACE",
    "DEFAULT_TRANSACTION_TTL",
    "HA_PROFILES",
    "INFRA_PROFILES",
    "RA_COMMAND_FOR_PROFILE",
    "REASON_SUPERSEDED",
    "REKEY_GRACE_PERIOD_MONTHS",
    "RENEWAL_WINDOW_MONTHS",
    "SA_PROFILES",
    "TLS_CLIENT_PROFILE",
    "TYPE_A_PROFILES",
    "USER_PROFILES",
    "rekey_window",
]

#: 000 §3.2.3.2: a transaction-ID expires; 24 hours unless the agent says otherwise.
DEFAULT_TRANSACTION_TTL = 24 * 3600
#: 000 §4.7.3 (seeds/README.md reading): the renewal window opens 6 months before the
#: current certificate expires ...
RENEWAL_WINDOW_MONTHS = 6
#: ... and type A re-key stays possible until 5 years after it expired.
REKEY_GRACE_PERIOD_MONTHS = 60
#: 000 §4.9.4: an early re-key may leave the old certificate usable for a grace period
#: "until the new one is in place". The CP/CPS gives no figure; porthos takes 14 days,
#: the regular CRL interval of the issuing CAs (§4.9.7), so the superseded certificate
#: is listed at the latest on the second regular CRL after the re-key. Configurable
#: per call (``grace=``, ``--grace-days``); 0 revokes at the next processing.
DEFAULT_REKEY_GRACE = 14 * 24 * 3600

#: RFC 5280 §5.3.1 CRLReason superseded (000 §4.9.1: "a certificate re-key is requested
#: before the CA's renewal window starts").
REASON_SUPERSEDED = 4

# The identity check of each profile (000 §3.2.3 table: responsible RA/CA per identity).
HA_PROFILES = ("ha-device", "aws-verification-ha")  # §3.2.3.1 DMC
SA_PROFILES = ("sa-device", "aws-verification-sa")  # §3.2.3.2 transaction-ID
INFRA_PROFILES = ("tls-server", "tls-client")  # §3.2.3.3 AOR
USER_PROFILES = ("user",)  # §3.2.3.4 trusted agent
#: 000 §7.1.3.3: the tls-client CN is FQDN:application; the AOR check reads the FQDN.
TLS_CLIENT_PROFILE = "tls-client"
# 000 §4.7.3 table: automatic type A re-key only at the two device CAs; the
# Infrastructure and User CAs re-key by type B (initial registration) only.
TYPE_A_PROFILES = ("ha-device", "sa-device")
#: The RA command that makes a profile's identity check (000 §3.2.3); `porthos issue`
#: without RA input names it when it issues on the engine path.
RA_COMMAND_FOR_PROFILE = {
    "ha-device": "porthos ra issue-ha (DMC, §3.2.3.1)",
    "sa-device": "porthos ra register-csr + porthos issue --transaction-id (§3.2.3.2)",
    "tls-server": "porthos ra issue-infra --aor (§3.2.3.3)",
    "tls-client": "porthos ra issue-infra --aor (§3.2.3.3)",
    "user": "porthos ra issue-user --agent (§3.2.3.4)",
}


def rekey_window(not_after: int) -> tuple[int, int]:
    """(opens, closes) of the type A re-key window of a certificate expiring at
    ``not_after`` (000 §4.7.3 as read in seeds/README.md)."""
    return (
        policy.add_months(not_after, -RENEWAL_WINDOW_MONTHS),
        policy.add_months(not_after, REKEY_GRACE_PERIOD_MONTHS),
    )
