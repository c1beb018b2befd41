"""000 §3.2.3.3 applications and services: the registry of Authorized Organizational
Representatives (AORs) and the domains each may request, and its check on the parsed
batch: the host (the CN, or the FQDN of a tls-client's FQDN:application CN) lies in a
domain of the AOR."""

from __future__ import annotations

from collections.abc import Sequence

from porthos.cpcps.subject_rules import is_fqdn
from porthos.status import IssueStatus
from porthos.store import audit, registry
from porthos.workflows.ra.certs import REGISTRY_NAME
from porthos.workflows.ra.context import RaContext
from porthos.workflows.ra.issuing import ParsedRequests, RaCheck, Refusals

__all__ = ["add_aor", "aor_check"]

_RULE = "000 §3.2.3.3"
_COMMON_NAME = "2.5.4.3"


def add_aor(ctx: RaContext, name: str, domains: Sequence[str], now: int) -> int:
    """Record that AOR ``name`` may request certificates for ``domains`` and their
    subdomains. Each domain must be an FQDN (subject_rules.is_fqdn). Returns how many
    domains were new."""
    event = audit.Event.RA_AOR_ADDED
    if not name or not REGISTRY_NAME.fullmatch(name):
        raise ctx.refuse(event, "AOR name must be 1-128 printable characters")
    if not domains:
        raise ctx.refuse(event, "at least one domain is required", aor=name)
    clean = []
    for d in domains:
        d = d.strip().lower()
        why = is_fqdn(d)
        if why is not None:
            raise ctx.refuse(event, f"domain {d!r} is not an FQDN: {why} ({_RULE})", aor=name)
        clean.append(d)
    with ctx.store.transaction() as conn:
        added = registry.add_aor_domains(conn, name, clean, now)
        audit.record(ctx.store, event, actor=ctx.actor, aor=name, domains=clean, added=added)
    return added


def aor_check(
    aor: str, domains: Sequence[str], *, fqdn_application: bool, section: str = ""
) -> RaCheck:
    """The AOR's check on the parsed batch. ``fqdn_application``: the CN is
    FQDN:application (tls-client, 000 §7.1.3.3) and the FQDN part is checked."""

    # The section of the profile's identity check in the loaded CP/CPS.
    rule = f"§{section}" if section else _RULE

    def check(parsed: ParsedRequests, live: list[int]) -> Refusals:
        refusals: Refusals = {}
        for k in live:
            cns = [v for a, v in parsed.batch.subject(k) if a == _COMMON_NAME]
            if len(cns) != 1:
                continue  # the subject rule refuses it (000 §3.1)
            cn = cns[0]
            host = cn.rpartition(":")[0] if fqdn_application else cn
            if fqdn_application and not host:
                continue  # the subject rule refuses it (000 §7.1.3.3)
            why = is_fqdn(host)
            if why is not None:
                refusals[k] = (
                    IssueStatus.SUBJECT_INVALID,
                    f"CN {cn!r}: {host!r} is not an FQDN: {why} ({rule})",
                )
                continue
            h = host.lower()
            if not any(h == d or h.endswith("." + d) for d in domains):
                refusals[k] = (
                    IssueStatus.REFUSED,
                    f"AOR {aor!r} may not request {host!r}: its domains are "
                    f"{', '.join(domains)} ({rule})",
                )
        return refusals

    return check
