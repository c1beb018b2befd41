"""The lifecycle tables of a CP/CPS document: revocation reasons and suspension,
termination, re-key windows, the RA's transaction lifetime, CA generation naming, the
CRL schedule per CA and the identity check per profile (see loader.py's docstring)."""

from __future__ import annotations

import string
from types import MappingProxyType
from typing import Any

from porthos.cpcps.fields import (
    NAME_RE,
    as_duration,
    as_list,
    as_reason,
    as_reasons,
    as_table,
    as_text,
    as_validity,
    fail,
    join,
    require_keys,
)
from porthos.cpcps.profiles import (
    CrlSchedule,
    Duration,
    EarlyRekey,
    GenerationNaming,
    IdentityCheck,
    RaPolicy,
    RekeyPolicy,
    RevocationPolicy,
    SuspensionPolicy,
    TerminationPolicy,
)
from porthos.crl_reasons import REASONS

#: The RA procedures a profile's ``identity_check`` may name (RFC 3647 §3.2.3 of a
#: CP/CPS says which applies to which subscriber); the RA implements each one:
#: ``dmc`` (the CSR inside a CMS SignedData by a device manufacturer certificate whose
#: chip is allow-listed), ``transaction-id`` (a trusted agent registers the CSR and
#: gets a single-use ID), ``aor`` (an authorized organizational representative may
#: request the domains registered for it), ``trusted-agent`` (a named trusted agent
#: submits the request).
IDENTITY_CHECK_PROCEDURES = ("dmc", "transaction-id", "aor", "trusted-agent")
#: Re-key types (RFC 3647 §3.3, §4.7): "A" authenticated by the current key, "B" by
#: going through the initial registration again.
REKEY_TYPES = ("A", "B")
# Reasons only suspension uses (RFC 5280 §5.3.1).
_SUSPENSION_REASONS = ("certificateHold", "removeFromCRL")
_NO_SUSPENSION = (
    "{reason} belongs to suspension, which this CP/CPS does not offer "
    "(revocation.suspension = false)"
)
_NOT_OFFERED = "suspension is not offered (suspension = false)"
_SUSPENSION_COMMANDS = {
    "certificateHold": "certificateHold is a suspension (§{section}): `porthos suspend`",
    "removeFromCRL": "removeFromCRL ends a suspension (§{section}): `porthos release`",
}
#: holdInstructionCode values (RFC 3280 §5.3.2 id-holdinstruction-*), or "absent".
HOLD_INSTRUCTIONS = ("reject", "callissuer", "none", "absent")
# Defaults of the optional tables (module docstring).
DEFAULT_TRANSACTION_TTL_HOURS = 24


def suspension_table(value: Any, path: str) -> SuspensionPolicy | None:
    """``suspension = false``, or the table of SuspensionPolicy: ``limit`` (a
    validity), ``escalate_to`` (a reason), ``profiles`` (checked against the profiles
    by the loader), ``hold_instruction`` (default "reject"; "absent" for none),
    ``section``."""
    if isinstance(value, bool):
        if value:
            raise fail(
                path,
                "suspension = true says nothing of its limit: give a table "
                "{ section, limit, escalate_to, profiles }",
            )
        return None
    t = as_table(value, path)
    require_keys(t, path, {"section", "limit", "escalate_to", "profiles"}, {"hold_instruction"})
    reason = as_reason(t["escalate_to"], join(path, "escalate_to"))
    if reason in (REASONS[n] for n in (*_SUSPENSION_REASONS, "unspecified")):
        raise fail(join(path, "escalate_to"), "a hold escalates to a stated revocation reason")
    pp = join(path, "profiles")
    profiles: list[str] = []
    for j, item in enumerate(as_list(t["profiles"], pp)):
        name = as_text(item, f"{pp}[{j}]")
        if name in profiles:
            raise fail(f"{pp}[{j}]", f"duplicate profile {name!r}")
        profiles.append(name)
    if not profiles:
        raise fail(pp, "at least one profile whose certificates may be suspended")
    hp = join(path, "hold_instruction")
    instruction = as_text(t.get("hold_instruction", "reject"), hp)
    if instruction not in HOLD_INSTRUCTIONS:
        raise fail(hp, f"one of {', '.join(HOLD_INSTRUCTIONS)} (RFC 3280 §5.3.2)")
    return SuspensionPolicy(
        limit=as_validity(t["limit"], join(path, "limit")),
        escalate_to=reason,
        profiles=tuple(profiles),
        hold_instruction=None if instruction == "absent" else instruction,
        section=as_text(t["section"], join(path, "section")),
    )


def revocation_table(value: Any, path: str) -> RevocationPolicy:
    t = as_table(value, path)
    require_keys(t, path, {"suspension", "subscriber_reasons", "ca_reasons"}, {"refused"})
    suspension = suspension_table(t["suspension"], join(path, "suspension"))
    allowed: dict[str, dict[int, str]] = {}
    for key in ("subscriber_reasons", "ca_reasons"):
        kp = join(path, key)
        allowed[key] = as_reasons(t[key], kp)
        if not allowed[key]:
            raise fail(kp, "at least one reason required")
        for name in t[key]:
            if name in _SUSPENSION_REASONS:
                why = "holds are placed and released by their own commands"
                raise fail(join(kp, name), why if suspension else _NOT_OFFERED)
    rp = join(path, "refused")
    refused = as_reasons(t.get("refused", {}), rp)
    for name in t.get("refused", {}):
        for key, codes in allowed.items():
            if REASONS[name] in codes:
                raise fail(join(rp, name), f"also allowed in {join(path, key)}")
    if suspension is not None:
        if suspension.escalate_to not in allowed["subscriber_reasons"]:
            raise fail(
                join(path, "suspension.escalate_to"),
                f"{t['suspension']['escalate_to']} is not in {join(path, 'subscriber_reasons')}",
            )
        # A revocation never says certificateHold or removeFromCRL: the suspension
        # commands do (whatever the document's refused table says of them).
        for name, command in _SUSPENSION_COMMANDS.items():
            refused[REASONS[name]] = command.format(section=suspension.section)
    else:
        for name in _SUSPENSION_REASONS:
            refused.setdefault(REASONS[name], _NO_SUSPENSION.format(reason=name))
    return RevocationPolicy(
        subscriber_reasons=MappingProxyType(allowed["subscriber_reasons"]),
        ca_reasons=MappingProxyType(allowed["ca_reasons"]),
        refused=MappingProxyType(refused),
        suspension=suspension,
    )


def termination_table(value: Any, path: str, revocation: RevocationPolicy) -> TerminationPolicy:
    t = as_table(value, path)
    require_keys(t, path, {"revocation_reason", "final_crl_margin"}, {"section"})
    rp = join(path, "revocation_reason")
    reason = as_reason(t["revocation_reason"], rp)
    # Termination revokes subscriber and CA certificates alike with this reason.
    for key, codes in (
        ("subscriber_reasons", revocation.subscriber_reasons),
        ("ca_reasons", revocation.ca_reasons),
    ):
        if reason not in codes:
            raise fail(rp, f"{t['revocation_reason']} is not in revocation.{key}")
    return TerminationPolicy(
        revocation_reason=reason,
        final_crl_margin=as_duration(t["final_crl_margin"], join(path, "final_crl_margin")),
        section=as_text(t.get("section", ""), join(path, "section"), empty=True),
    )


def rekey_table(value: Any, path: str, revocation: RevocationPolicy) -> RekeyPolicy:
    t = as_table(value, path)
    require_keys(t, path, {"renewal_window", "grace_period"}, {"early", "section"})
    early = None
    if "early" in t:
        ep = join(path, "early")
        e = as_table(t["early"], ep)
        require_keys(e, ep, {"revocation_reason", "revocation_grace"}, {"section"})
        rp = join(ep, "revocation_reason")
        reason = as_reason(e["revocation_reason"], rp)
        if reason not in revocation.subscriber_reasons:
            raise fail(rp, f"{e['revocation_reason']} is not in revocation.subscriber_reasons")
        early = EarlyRekey(
            revocation_reason=reason,
            # 0: revoked at the next processing of scheduled revocations.
            revocation_grace=as_duration(
                e["revocation_grace"], join(ep, "revocation_grace"), minimum=0
            ),
            section=as_text(e.get("section", ""), join(ep, "section"), empty=True),
        )
    return RekeyPolicy(
        renewal_window=as_validity(t["renewal_window"], join(path, "renewal_window")),
        grace_period=as_validity(t["grace_period"], join(path, "grace_period")),
        early=early,
        section=as_text(t.get("section", ""), join(path, "section"), empty=True),
    )


def ra_table(value: Any, path: str) -> RaPolicy:
    t = as_table(value, path)
    require_keys(t, path, set(), {"transaction_ttl", "unique_names"})
    ttl = Duration(DEFAULT_TRANSACTION_TTL_HOURS * 3600)
    if "transaction_ttl" in t:
        ttl = as_duration(t["transaction_ttl"], join(path, "transaction_ttl"))
    unique = None
    if "unique_names" in t:
        p = join(path, "unique_names")
        u = as_table(t["unique_names"], p)
        require_keys(u, p, {"section"}, set())
        unique = as_text(u["section"], join(p, "section"))
    return RaPolicy(transaction_ttl=ttl, unique_names=unique)


def generation_pattern(value: Any, path: str) -> str:
    text = as_text(value, path)
    try:
        parsed = [(f, sp, cv) for _, f, sp, cv in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise fail(path, f"bad pattern {text!r}: {exc}") from None
    if any(sp or cv for _, sp, cv in parsed):
        raise fail(path, f"no format specs or conversions in a pattern: {text!r}")
    if sorted(f for f, _, _ in parsed) != ["base", "generation"]:
        raise fail(path, f"expected exactly one {{base}} and one {{generation}}, got {text!r}")
    return text


def generations_table(value: Any, path: str) -> GenerationNaming:
    t = as_table(value, path)
    require_keys(t, path, set(), {"name", "common_name", "link_profile", "section"})
    naming = GenerationNaming()
    name = generation_pattern(t.get("name", naming.name), join(path, "name"))
    if not NAME_RE.fullmatch(name.format(base="a", generation=2)):
        raise fail(join(path, "name"), "CA names are lower-case letters, digits and '-'")
    link = as_text(t.get("link_profile", naming.link_profile), join(path, "link_profile"))
    if not NAME_RE.fullmatch(link):
        raise fail(
            join(path, "link_profile"), "profile names are lower-case letters, digits and '-'"
        )
    return GenerationNaming(
        name=name,
        common_name=generation_pattern(
            t.get("common_name", naming.common_name), join(path, "common_name")
        ),
        link_profile=link,
        section=as_text(t.get("section", ""), join(path, "section"), empty=True),
    )


def crl_schedule(value: Any, path: str, ca_name: str) -> CrlSchedule:
    t = as_table(value, path)
    require_keys(t, path, {"period", "validity"}, {"section", "after_revocation"})
    period = as_validity(t["period"], join(path, "period"))
    validity = as_validity(t["validity"], join(path, "validity"))
    # A CRL must be replaced before its nextUpdate (RFC 5280 §5.1.2.5): the period must
    # be shorter than the validity.
    if period.not_after(0) >= validity.not_after(0):
        raise fail(join(path, "period"), f"{period} is not shorter than validity ({validity})")
    return CrlSchedule(
        period=period,
        validity=validity,
        file_name=f"{ca_name}.crl",
        section=as_text(t.get("section", ""), join(path, "section"), empty=True),
        after_revocation=(
            as_duration(t["after_revocation"], join(path, "after_revocation"))
            if "after_revocation" in t
            else None
        ),
    )


def identity_check(value: Any, path: str) -> IdentityCheck:
    t = as_table(value, path)
    require_keys(t, path, {"procedure", "section"}, set())
    procedure = as_text(t["procedure"], join(path, "procedure"))
    if procedure not in IDENTITY_CHECK_PROCEDURES:
        raise fail(
            join(path, "procedure"),
            f"unknown RA procedure {procedure!r}; known: {', '.join(IDENTITY_CHECK_PROCEDURES)}",
        )
    return IdentityCheck(procedure=procedure, section=as_text(t["section"], join(path, "section")))


def rekey_types(value: Any, path: str) -> tuple[str, ...]:
    out: list[str] = []
    for j, item in enumerate(as_list(value, path)):
        name = as_text(item, f"{path}[{j}]")
        if name not in REKEY_TYPES:
            raise fail(f"{path}[{j}]", f"unknown re-key type {name!r}; known: A, B")
        if name in out:
            raise fail(f"{path}[{j}]", f"duplicate re-key type {name!r}")
        out.append(name)
    if not out:
        raise fail(path, "at least one re-key type required (B: initial registration)")
    return tuple(out)
