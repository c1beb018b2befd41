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

:func:`refuse_unless_publishing` is the one check every CRL door (full, delta, the
shard sets on Dask) makes first, before anything commits: a terminated CA (its final
CRL stands, RFC 3647 §5.8) or a retired one past its final CRL publishes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from porthos.exceptions import LifecycleError
from porthos.store import audit, revocations
from porthos.store.generations import RETIRED, TERMINATED
from porthos.timestamps import iso_utc
from porthos.workspace.generations import responder_profile

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "RetiredCrls",
    "last_expiry",
    "publication_end",
    "refuse_unless_publishing",
    "retired_crls",
]


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


def last_expiry(ws: Workspace, ca: CertificateAuthority) -> int:
    """The latest notAfter of what ``ca`` issued: stored certificates and child CAs.
    Not its OCSP responder certificates: they carry id-pkix-ocsp-nocheck (no status
    is checked for them, RFC 6960 §4.2.2.2.1), and a retired CA renewing its responder
    to answer for its other certificates (ocsp_presign.py) must not keep itself alive."""
    conn = ws.store.conn
    responder = responder_profile(ca)
    skip = () if responder is None else (responder,)
    expiries = [revocations.last_expiry(conn, ca.name, skip)]
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


def publication_end(ws: Workspace, ca: CertificateAuthority) -> str | None:
    """None while ``ca`` publishes CRLs; else the one line saying why it no longer
    does: terminated (its final CRL stands, RFC 3647 §5.8), or retired with its final
    CRL published (RFC 5280 §3.3). Read from the store, not ``ca.status``: a
    termination committed by another process counts."""
    if revocations.ca_statuses(ws.store.conn).get(ca.name) == TERMINATED:
        return f"CA {ca.name} is terminated; its final CRL stands (§5.8)"
    end = retired_crls(ws, ca)
    return end.line() if end is not None and end.ended else None


def refuse_unless_publishing(ws: Workspace, ca: CertificateAuthority) -> None:
    """Raise LifecycleError when ``ca`` publishes no CRL any more (:func:`publication_end`).
    Every CRL door calls it first, before anything commits (scheduled revocations, a
    CRL number), so that a refusal changes nothing."""
    why = publication_end(ws, ca)
    if why is not None:
        raise LifecycleError(why)
