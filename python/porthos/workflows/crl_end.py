"""When a retired CA stops publishing CRLs (RFC 3647 §5.6 key changeover).

After a changeover the old keys sign only the CRLs that cover what they issued (RFC
3647 §5.6; issue 21 §5: "the old root keeps signing its ARL until its last certificate
expires"). Once nothing it issued is unexpired, nobody needs its status any more, but
the end is not the moment of the last expiry: RFC 5280 §3.3 says "An entry MUST NOT
be removed from the CRL until it appears on one regularly scheduled CRL issued beyond
the revoked certificate's validity period". So a retired CA publishes on its schedule
while anything it issued is unexpired; its first CRL whose thisUpdate is at or after
the last expiry, issued on the regular schedule (or at once after a revocation), is
its *final* CRL (nextUpdate as usual: RFC 5280 §5.1.2.5 asks one on every CRL); after
that no CRL of that CA is published and a request for one is refused.

What a CA issued: the certificates stored under it (link, cross, subscriber and
responder certificates) and the CA certificates of its children in ``cas``. Nothing is
stored for the end: it is read from the published CRLs (their ``crl.published``
records) and the expiries, so it cannot be asked for early and cannot be lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from porthos.store import audit, revocations
from porthos.store.generations import RETIRED
from porthos.timestamps import iso_utc

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["RetiredCrls", "last_expiry", "responder_profiles", "retired_crls"]


@dataclass(frozen=True, slots=True)
class RetiredCrls:
    """Where a retired CA stands with its CRLs."""

    ca: str
    #: The latest notAfter of anything it issued (its own notBefore when it issued
    #: nothing: then its next CRL is the final one).
    last_expiry: int
    #: The final CRL (number, thisUpdate) once it is published, else None.
    final: tuple[int, int] | None

    @property
    def ended(self) -> bool:
        return self.final is not None

    def is_final(self, this_update: int) -> bool:
        """Whether a CRL with this thisUpdate is the final one (RFC 5280 §3.3)."""
        return not self.ended and this_update >= self.last_expiry

    def line(self) -> str:
        """One line saying where its publication stands."""
        if self.final is not None:
            number, this_update = self.final
            return (
                f"CA {self.ca} is retired and everything it issued expired by "
                f"{iso_utc(self.last_expiry)}: its final CRL #{number} of "
                f"{iso_utc(this_update)} stands, no further CRL is published "
                "(RFC 5280 §3.3, RFC 3647 §5.6)"
            )
        return (
            f"CA {self.ca} is retired: it publishes CRLs until its first regular one at "
            f"or after {iso_utc(self.last_expiry)}, when the last certificate it issued "
            "expires (RFC 5280 §3.3, RFC 3647 §5.6)"
        )


def responder_profiles(ca: CertificateAuthority) -> tuple[str, ...]:
    """The delegated OCSP responder profile of ``ca`` in its generation's data, if any."""
    policy = ca.profile_set.ocsp
    spec = None if policy is None else policy.for_ca(ca.name)
    return () if spec is None or spec.responder_profile is None else (spec.responder_profile,)


def last_expiry(ws: Workspace, ca: CertificateAuthority) -> int:
    """The latest notAfter of what ``ca`` issued: stored certificates and child CAs.
    Not its OCSP responder certificates: they carry id-pkix-ocsp-nocheck (no status
    is checked for them, RFC 6960 §4.2.2.2.1), and a retired CA renewing its responder
    to answer for its other certificates (ocsp_presign.py) must not keep itself alive."""
    conn = ws.store.conn
    expiries = [revocations.last_expiry(conn, ca.name, responder_profiles(ca))]
    expiries += [c.not_after for c in ws.cas if c.parent == ca.name and c.name != ca.name]
    return max((e for e in expiries if e is not None), default=ca.not_before)


def retired_crls(ws: Workspace, ca: CertificateAuthority) -> RetiredCrls | None:
    """None for a CA that is not retired; else its last expiry and final CRL."""
    if revocations.ca_statuses(ws.store.conn).get(ca.name) != RETIRED:
        return None
    expiry = last_expiry(ws, ca)
    last = revocations.last_published_full_crl(ws.store.conn, ca.name, audit.Event.CRL_PUBLISHED)
    final = None
    if last is not None and last.this_update >= expiry:
        final = (last.number, last.this_update)
    return RetiredCrls(ca.name, expiry, final)
