"""The registration authority in front of CertificateAuthority (issue 6): the one
object callers use. Each method is a procedure of the LEGIC Porthos CP/CPS v1.1
(/work/shared/seeds/000_ce300bfce444b8f6.txt, cited as "000 §x"); the procedures live in
their modules (high_assurance, standard_assurance, infrastructure, rekey), this class
holds the workspace, the actor and the defaults.

Each issuing CA has its identity check (000 §3.2.3, §4.1): §3.2.3.1 DMC for high
assurance devices, §3.2.3.2 transaction-IDs for standard assurance devices, §3.2.3.3
the AOR registry for infrastructure, §3.2.3.4 the trusted agent for users. On top of
all of them: unique names (§3.1) and type A re-key (§4.7.3).

Every decision is written to the audit trail in the same store transaction as the state
change it describes (000 §5.4.1); a refused request changes nothing but the audit trail.
Per-item refusals in batches are statuses (IssueStatus.REFUSED etc.) whose reason names
the rule and its section; a refusal of the whole call raises RegistrationError.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from porthos.issuance.csr_input import normalise_csr_input
from porthos.status import IssueStatus
from porthos.store import audit, registry
from porthos.workflows.ra import approval, high_assurance, infrastructure, standard_assurance
from porthos.workflows.ra import rekey as type_a_rekey
from porthos.workflows.ra.context import RaContext, now_or
from porthos.workflows.ra.issuing import RequestItem, issue_items, unique_names_check

if TYPE_CHECKING:
    from porthos.issuance.csr_input import CsrInput
    from porthos.workspace.authority import IssueResult

__all__ = ["RegistrationAuthority"]


class RegistrationAuthority(RaContext):
    """The RA of a workspace: registries (manufacturers, chips, transaction-IDs, AORs)
    and the identity checks in front of ``CertificateAuthority.issue_batch``."""

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.1 high assurance devices
    # ---------------------------------------------------------------------------------

    def add_manufacturer(
        self,
        name: str,
        root_der: bytes,
        issuing_der: bytes,
        acceptable_dns: Sequence[str],
        chip_id_attr: str = "serialNumber",
        *,
        now: int | None = None,
    ) -> None:
        """Register a device manufacturer (see high_assurance.add_manufacturer)."""
        high_assurance.add_manufacturer(
            self, name, root_der, issuing_der, acceptable_dns, chip_id_attr, now_or(now)
        )

    def allow_chips(self, ids: Iterable[str], *, now: int | None = None) -> int:
        """Add Chip-IDs to the allowlist of Porthos chips; returns how many were new."""
        return high_assurance.allow_chips(self, ids, now_or(now))

    def issue_ha_device(
        self,
        cms_ders: Sequence[bytes],
        *,
        profile: str | None = None,
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Issue one certificate per CMS request that passes 000 §3.2.3.1; one slot
        per input in the result (a bad request does not sink the batch)."""
        prof = self.profile(profile, "dmc")
        profile = prof.name
        now = now_or(now)
        makers = high_assurance.registered_manufacturers(self)
        items = [high_assurance.check_dmc(self, bytes(der), makers, now) for der in cms_ders]
        return issue_items(
            self, prof, items, method="dmc", now=now, threads=threads,
            checks=[unique_names_check(self, prof, now)],
        )  # fmt: skip

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.2 standard assurance devices
    # ---------------------------------------------------------------------------------

    def register_csr(
        self,
        csr: bytes | str,
        agent: str,
        ttl: int | None = None,
        *,
        now: int | None = None,
    ) -> str:
        """Register a CSR, get back its single-use transaction-ID (000 §3.2.3.2).
        Refused when the CP/CPS checks no profile by transaction-ID."""
        self.profile(None, "transaction-id")
        if ttl is None:
            ttl = self.workspace.profile_set.ra.transaction_ttl.seconds
        return standard_assurance.register_csr(self, csr, agent, ttl, now_or(now))

    def issue_with_transactions(
        self,
        pairs: Iterable[tuple[bytes | str, str]],
        *,
        profile: str | None = None,
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Step 3 of 000 §3.2.3.2: (CSR, transaction-ID) pairs. An unknown, used,
        expired or other-CSR ID refuses its item; the IDs of issued items are marked
        used in the transaction that stores their certificates."""
        prof = self.profile(profile, "transaction-id")
        profile = prof.name
        now = now_or(now)
        items = standard_assurance.transaction_items(self, pairs, now)
        mark_used = functools.partial(standard_assurance.mark_used, self, now=now)
        return issue_items(
            self, prof, items, method="transaction-id", now=now, threads=threads,
            checks=[unique_names_check(self, prof, now)], on_issued=mark_used,
        )  # fmt: skip

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.3 applications and services
    # ---------------------------------------------------------------------------------

    def add_aor(self, name: str, domains: Sequence[str], *, now: int | None = None) -> int:
        """Record the domains AOR ``name`` may request (000 §3.2.3.3)."""
        return infrastructure.add_aor(self, name, domains, now_or(now))

    def aor_domains(self, name: str) -> list[str]:
        return registry.aor_domains(self.store.conn, name)

    def issue_infrastructure(
        self,
        csrs: CsrInput,
        profile: str,
        *,
        aor: str,
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Requests an AOR passes on (000 §3.2.3.3): the CN is an FQDN (subject rule fqdn) or
        FQDN:application (rule fqdn-application) inside a domain the AOR may request."""
        prof = self.profile(profile, "aor")
        profile = prof.name
        now = now_or(now)
        domains = self.aor_domains(aor)
        if not domains:
            raise self.refuse(
                audit.Event.APPLICATION_REJECTED,
                f"AOR {aor!r} is not registered (§{prof.identity_check.section}: the RA "
                "validates that the AOR is authorized)",
                aor=aor,
                profile=profile,
            )
        aor_check = infrastructure.aor_check(
            aor,
            domains,
            fqdn_application=prof.subject_rule == "fqdn-application",
            section=prof.identity_check.section,
        )
        return issue_items(
            self, prof, _csr_items(csrs), method="aor", now=now, threads=threads,
            checks=[aor_check, unique_names_check(self, prof, now)],
            extra_details={"aor": aor},
        )  # fmt: skip

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.4 humans
    # ---------------------------------------------------------------------------------

    def issue_user(
        self,
        csrs: CsrInput,
        *,
        agent: str,
        profile: str | None = None,
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Requests a trusted agent submits after authenticating the users (000
        §3.2.3.4); the agent is recorded with every accept and refuse."""
        prof = self.profile(profile, "trusted-agent")
        profile = prof.name
        if not agent or not agent.strip():
            raise self.refuse(
                audit.Event.APPLICATION_REJECTED,
                f"the trusted agent must be named (§{prof.identity_check.section})",
                profile=profile,
            )
        now = now_or(now)
        return issue_items(
            self, prof, _csr_items(csrs), method="trusted-agent", now=now, threads=threads,
            checks=[unique_names_check(self, prof, now)],
            extra_details={"agent": agent.strip()},
        )  # fmt: skip

    # ---------------------------------------------------------------------------------
    # RFC 3647 §5.2.2 multi-person approval (profiles with an ``approval`` rule)
    # ---------------------------------------------------------------------------------

    def request_approval(
        self,
        csr: bytes | str,
        profile: str,
        *,
        ra_data: dict[str, Any] | None = None,
        now: int | None = None,
    ) -> str:
        """Store a CSR for approval; returns the request id (see workflows/ra/approval)."""
        return approval.request(self, csr, profile, ra_data=ra_data, now=now_or(now))

    def approve(self, request_id: str, operator: str, role: str, *, now: int | None = None) -> int:
        """One person's approval in a role; returns how many persons approved."""
        return approval.approve(self, request_id, operator, role, now=now_or(now))

    def issue_approved(
        self, request_id: str, *, now: int | None = None, threads: int | None = None
    ) -> IssueResult:
        """Issue a request whose approvals satisfy its profile's rule."""
        return approval.issue_approved(self, request_id, now=now_or(now), threads=threads)

    # ---------------------------------------------------------------------------------
    # 000 §4.7 type A re-key
    # ---------------------------------------------------------------------------------

    def rekey(
        self,
        cms_der: bytes,
        *,
        early: bool = False,
        grace: int | None = None,
        now: int | None = None,
        threads: int | None = None,
    ) -> type_a_rekey.RekeyResult:
        """Type A re-key (000 §3.3.1, §4.7.3): a CMS SignedData over the new CSR,
        signed with the key of the subscriber's current certificate.

        Accepted from the CP/CPS's ``rekey.renewal_window`` before the current
        certificate expires until its ``rekey.grace_period`` after it expired.
        Outside that span the subscriber goes through initial registration (type B,
        §3.2). Before the window
        opens, ``early=True`` accepts it (if the CP/CPS has ``rekey.early``) and
        schedules the old certificate's revocation with that table's reason at now +
        ``grace`` (default: its ``revocation_grace``)."""
        if grace is None:
            rekey_policy = self.workspace.profile_set.rekey
            early_policy = None if rekey_policy is None else rekey_policy.early
            grace = 0 if early_policy is None else early_policy.revocation_grace.seconds
        return type_a_rekey.rekey(
            self, cms_der, early=early, grace=grace, now=now_or(now), threads=threads
        )


def _csr_items(csrs: CsrInput) -> list[RequestItem]:
    """One item per request of ``csrs``; an undecodable PEM block is refused here."""
    return [
        RequestItem(p.der, IssueStatus.ISSUED if p.der else IssueStatus.MALFORMED, p.error)
        for p in normalise_csr_input(csrs)
    ]
