"""What a loaded CP/CPS is: CA and certificate profiles and the lifecycle decisions,
as frozen dataclasses (built and validated by loader.py)."""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from porthos.cpcps.policy import add_months
from porthos.cpcps.san_rules import SanRule
from porthos.cpcps.subject_rules import SubjectRule
from porthos.cpcps.template_spec import spec_json
from porthos.exceptions import ProfileError

if TYPE_CHECKING:
    # approval.py reads its table with fields.py, which imports this module.
    from porthos.cpcps.approval import ApprovalRule
    from porthos.cpcps.cross_profiles import CrossProfile
    from porthos.cpcps.ocsp_table import OcspPolicy

DEFAULT_GENERATION_NAME = "{base}-{generation}"
DEFAULT_GENERATION_COMMON_NAME = "{base} {generation}"
DEFAULT_LINK_PROFILE = "root-link"


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Validity:
    """A validity span: calendar years/months (day clamped) or whole days."""

    months: int = 0
    days: int = 0

    def not_after(self, not_before: int) -> int:
        if self.months:
            return add_months(not_before, self.months)
        return not_before + self.days * 86400

    def before(self, timestamp: int) -> int:
        """The instant this span before ``timestamp`` (months: day clamped)."""
        if self.months:
            return add_months(timestamp, -self.months)
        return timestamp - self.days * 86400

    def __str__(self) -> str:
        if self.months:
            if self.months % 12 == 0:
                return f"{self.months // 12} years"
            return f"{self.months} months"
        return f"{self.days} days"


@dataclass(frozen=True, slots=True)
class Duration:
    """A fixed span in seconds (a TTL, a grace period, a margin): written as exactly
    one of days, hours, minutes, seconds."""

    seconds: int

    def __str__(self) -> str:
        for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
            if self.seconds and self.seconds % n == 0:
                return f"{self.seconds // n} {unit}"
        return f"{self.seconds} seconds"


@dataclass(frozen=True, slots=True)
class CrlSchedule:
    """A CA's CRL (RFC 3647 §4.9.7, §7.2): published every ``period`` (and after each
    revocation), valid for ``validity`` (nextUpdate = thisUpdate + validity), written
    to ``file_name`` (the stem the CDP URLs name: the CA name)."""

    period: Validity
    validity: Validity
    file_name: str
    section: str = ""


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    """The RA procedure (one of IDENTITY_CHECK_PROCEDURES) that authenticates a
    profile's subscribers, and the CP/CPS section that defines it."""

    procedure: str
    section: str


@dataclass(frozen=True, slots=True)
class EarlyRekey:
    """A type A re-key before the renewal window opens: the old certificate is revoked
    with ``revocation_reason`` (an RFC 5280 CRLReason code) after ``revocation_grace``."""

    revocation_reason: int
    revocation_grace: Duration
    section: str = ""


@dataclass(frozen=True, slots=True)
class RekeyPolicy:
    """Type A re-key: accepted from ``renewal_window`` before the current certificate
    expires until ``grace_period`` after it expired; ``early`` None: refused before."""

    renewal_window: Validity
    grace_period: Validity
    early: EarlyRekey | None
    section: str = ""

    def window(self, not_after: int) -> tuple[int, int]:
        """(opens, closes) for a certificate expiring at ``not_after``."""
        return self.renewal_window.before(not_after), self.grace_period.not_after(not_after)


@dataclass(frozen=True, slots=True)
class SuspensionPolicy:
    """Suspension (a CP/CPS §4.9.13-16): certificates of ``profiles`` may be put on hold
    (certificateHold, RFC 5280 §5.3.1). A hold not released within ``limit`` becomes a
    revocation with reason ``escalate_to`` at the next CRL publication. CRL entries on
    hold carry ``hold_instruction`` ("reject", "callissuer", "none"; None: absent)."""

    limit: Validity
    escalate_to: int
    profiles: tuple[str, ...]
    hold_instruction: str | None
    section: str = ""


@dataclass(frozen=True)
class RevocationPolicy:
    """Revocation reasons (RFC 5280 CRLReason codes -> the CP/CPS circumstance or, for
    ``refused``, why it is refused). A code in none of the three maps is refused by the
    kind of certificate: subscriber or CA. ``suspension`` None: no suspension."""

    subscriber_reasons: Mapping[int, str]
    ca_reasons: Mapping[int, str]
    refused: Mapping[int, str]
    suspension: SuspensionPolicy | None


@dataclass(frozen=True, slots=True)
class TerminationPolicy:
    """CA termination: every unexpired certificate is revoked with
    ``revocation_reason``; each final CRL's nextUpdate is at least ``final_crl_margin``
    after the last expiry it covers."""

    revocation_reason: int
    final_crl_margin: Duration
    section: str = ""


@dataclass(frozen=True, slots=True)
class RaPolicy:
    """RA settings: ``transaction_ttl``, the default lifetime of a transaction-ID;
    ``unique_names``, the CP/CPS section that makes subject names unique (every issuing
    path, ``porthos issue`` included, then refuses a subject held by a valid
    certificate with another key), or None when the CP/CPS does not."""

    transaction_ttl: Duration
    unique_names: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationNaming:
    """How a new CA generation is named: patterns with ``{base}`` and ``{generation}``
    for CA names (file stems) and CNs (see :func:`generation_value`), and the profile
    name under which link certificates are stored."""

    name: str = DEFAULT_GENERATION_NAME
    common_name: str = DEFAULT_GENERATION_COMMON_NAME
    link_profile: str = DEFAULT_LINK_PROFILE
    section: str = ""

    def ca_name(self, name: str, generation: int) -> str:
        return generation_value(self.name, name, generation)

    def ca_common_name(self, common_name: str, generation: int) -> str:
        return generation_value(self.common_name, common_name, generation)


@functools.lru_cache(maxsize=64)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for literal, fld, _spec, _conv in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if fld == "base":
            parts.append("(?P<base>.+?)")
        elif fld == "generation":
            parts.append("(?P<generation>[0-9]+)")
        elif fld is not None:
            raise ProfileError(f"pattern {pattern!r}: unknown placeholder {{{fld}}}")
    return re.compile("".join(parts))


def generation_value(pattern: str, value: str, generation: int) -> str:
    """``value``, a generation-1 name, in CA generation ``generation``. ``pattern`` has
    one ``{base}`` and one ``{generation}``: a value that matches it has its generation
    number replaced (``"{base}-{generation}"``: root-ca-1 -> root-ca-2); a value that
    does not is its own base, unchanged in generation 1 (root -> root, root-2, ...)."""
    if generation < 1:
        raise ProfileError(f"CA generations count from 1, got {generation}")
    m = _pattern_regex(pattern).fullmatch(value)
    if m is None:
        return value if generation == 1 else pattern.format(base=value, generation=generation)
    return pattern.format(base=m["base"], generation=generation)


@dataclass(frozen=True)
class CaProfile:
    """One CA of the hierarchy (000 §7.1.1, §7.1.2) for one environment."""

    name: str
    section: str
    issuer: str
    key_type: str
    signature_algorithm: str
    validity: Validity
    subject: tuple[tuple[str, str], ...]
    extensions: tuple[Mapping[str, Any], ...]
    crl: CrlSchedule
    #: String type per attribute of this CA's subject (cpcps/name_strings.py); None:
    #: the encoder's defaults.
    name_strings: Mapping[str, str] | None = None

    @property
    def self_signed(self) -> bool:
        return self.issuer == self.name

    def template_spec_json(self) -> str:
        # The subject resolves name_constraints.permitted_subject_rdns (its own RDNs).
        return spec_json(self.extensions, subject=self.subject, name_strings=self.name_strings)


@dataclass(frozen=True)
class Profile:
    """A certificate profile (000 §7.1.3, §7.1.4) for one environment."""

    name: str
    section: str
    issuer: str
    subject_rule: str
    subject_prefix: tuple[tuple[str, str], ...]
    key_types: tuple[str, ...]
    validity: Validity
    extensions: tuple[Mapping[str, Any], ...]
    identity_check: IdentityCheck
    #: Re-key types offered (REKEY_TYPES), e.g. ("A", "B").
    rekey: tuple[str, ...]
    #: Drop CSR attributes equal to one of ``subject_prefix`` before the subject rule
    #: reads the CSR (subscribers copy the certificate's DN into their requests).
    ignore_prefix_in_csr: bool
    #: The function ``subject_rule`` names (cpcps/subject_rules.py or the PKI's rules.py).
    rule: SubjectRule = field(compare=False, repr=False)
    #: The function the SAN extension's ``rule`` names (cpcps/san_rules.py or the
    #: PKI's rules.py): subject -> SAN entries; None when the profile has no SAN.
    san_rule: SanRule | None = field(default=None, compare=False, repr=False)
    #: Persons who must approve a request before it is issued (None: no approval step).
    approval: ApprovalRule | None = None
    #: SAN kinds the RA data of an item may give (``from``), and those it must give
    #: (``required``), docs/ra-data.md; empty: the RA gives no SANs.
    san_from: tuple[str, ...] = ()
    san_required: tuple[str, ...] = ()
    #: An item's own notAfter (the RA data's ``not_after``): "clamp" or "refuse" when it
    #: is later than the profile's validity or the CA's notAfter; None: not accepted.
    item_not_after: str | None = None
    #: String type per attribute of the subjects and directoryName SANs issued under
    #: this profile (cpcps/name_strings.py); None: the encoder's defaults.
    name_strings: Mapping[str, str] | None = None

    def template_spec_json(self, shard: int | None = None) -> str:
        """The template spec; a profile whose CDP is sharded needs the certificate's
        shard (``crl_shard_of(serial, crl_shards)``) and gets that shard's URL."""
        exts = []
        for e in self.extensions:
            e = dict(e)
            if "shards" in e:
                n = e.pop("shards")
                if shard is None or not 0 <= shard < n:
                    raise ProfileError(
                        f"profile {self.name!r}: its CDP is sharded ({n} shards); "
                        f"a shard number 0..{n - 1} is needed, got {shard!r}"
                    )
                e["uris"] = [u.replace("{shard}", str(shard)) for u in e["uris"]]
            exts.append(e)
        return spec_json(exts, name_strings=self.name_strings)

    @property
    def crl_shards(self) -> int | None:
        """Number of CRL shards the CDP names (None: one CRL per CA)."""
        cdp = self.extension("crl_distribution_points")
        return None if cdp is None else cdp.get("shards")

    @property
    def crl_shard_urls(self) -> tuple[str, ...]:
        """The CDP URL templates (with ``{shard}``) of a sharded profile."""
        cdp = self.extension("crl_distribution_points")
        return tuple(cdp["uris"]) if cdp is not None and "shards" in cdp else ()

    def extension(self, type_: str) -> Mapping[str, Any] | None:
        for ext in self.extensions:
            if ext["type"] == type_:
                return ext
        return None


@dataclass(frozen=True)
class ProfileSet:
    name: str
    env: str
    document: str
    envs: tuple[str, ...]
    urls: Mapping[str, str]
    revocation: RevocationPolicy
    termination: TerminationPolicy
    #: None when no profile offers type A re-key and the document has no [rekey].
    rekey: RekeyPolicy | None
    ra: RaPolicy
    generations: GenerationNaming
    #: Where the document came from: "<name>.toml" (bundled) or the path given.
    source: str = "<string>"
    cas: dict[str, CaProfile] = field(default_factory=dict)  # root first
    profiles: dict[str, Profile] = field(default_factory=dict)
    #: ``[cross_profiles]``: CA certificates for external CAs (cpcps/cross_profiles.py).
    cross_profiles: dict[str, CrossProfile] = field(default_factory=dict)
    #: ``[ocsp]`` (cpcps/ocsp_table.py): None when no CA of the set answers OCSP.
    ocsp: OcspPolicy | None = None

    @property
    def identity(self) -> str:
        """How the CP/CPS names itself: ``name (document)``."""
        return f"{self.name} ({self.document})"

    def profiles_checked_by(self, procedure: str) -> tuple[str, ...]:
        """The profiles whose identity check is ``procedure``, in document order."""
        return tuple(
            p.name for p in self.profiles.values() if p.identity_check.procedure == procedure
        )

    def ca(self, name: str) -> CaProfile:
        try:
            return self.cas[name]
        except KeyError:
            raise ProfileError(f"profile set {self.name!r} has no CA {name!r}") from None

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(self.profiles)
            raise ProfileError(f"unknown profile {name!r}; known: {known}") from None

    def cross_profile(self, name: str) -> CrossProfile:
        try:
            return self.cross_profiles[name]
        except KeyError:
            known = ", ".join(self.cross_profiles) or "none"
            raise ProfileError(f"unknown cross profile {name!r}; known: {known}") from None

    def profiles_of(self, ca_name: str) -> list[Profile]:
        return [p for p in self.profiles.values() if p.issuer == ca_name]
