"""``[ocsp]``: which CAs answer OCSP and how their responses are made (RFC 6960,
RFC 5019). Absent: no CA of the set runs OCSP.

::

    [ocsp]
    section = "4.9.9-10, 10.4-10.5"        # where the CP/CPS says so (text)
    [ocsp.cas.<ca>]
    responder_profile = "<profile>"        # issues the delegated responder certificate
    responder = "ca"                       # or: the CA signs its responses itself
    hashes = ["sha1"]                      # CertID hashes pre-signed (RFC 5019 §2.1.1)
    validity = { from_crl = true }         # thisUpdate/nextUpdate of the CRL; or {hours = N}
    refresh_margin = { hours = 12 }        # re-sign when nextUpdate is closer than this
    nonce = "echo"                         # "echo" (sign on demand) or "ignore"
    include_expired = false                # pre-sign expired certificates too

Exactly one of ``responder_profile`` and ``responder = "ca"``: the latter is the CA
itself signing (RFC 6960 §4.2.2.2 allows it), which an offline root does in a
ceremony (``porthos ocsp ceremony``), not ``presign``.
Everything is checked here, with its path: the responder profile must exist, be issued
by that CA (RFC 6960 §4.2.2.2: a delegated responder is certified by the CA itself)
and carry id-kp-OCSPSigning in its EKU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porthos.cpcps.fields import (
    as_bool,
    as_duration,
    as_list,
    as_table,
    as_text,
    fail,
    join,
    require_keys,
)
from porthos.cpcps.profiles import Profile

__all__ = ["CERT_ID_HASHES", "NONCE_MODES", "OCSP_SIGNING", "OcspCa", "OcspPolicy", "ocsp_table"]

#: CertID hashes the engine signs for (porthos-core ocsp::response::CertIdHash).
CERT_ID_HASHES = ("sha1", "sha256")
NONCE_MODES = ("echo", "ignore")
#: id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"


@dataclass(frozen=True, slots=True)
class OcspCa:
    """How one CA answers OCSP."""

    ca: str
    #: None: the CA signs its own responses (``responder = "ca"``).
    responder_profile: str | None
    hashes: tuple[str, ...]
    #: None: thisUpdate/nextUpdate are the CRL's of the same snapshot; else seconds.
    validity_seconds: int | None
    refresh_margin: int
    nonce: str
    include_expired: bool

    @property
    def ca_signed(self) -> bool:
        return self.responder_profile is None

    @property
    def from_crl(self) -> bool:
        return self.validity_seconds is None


@dataclass(frozen=True, slots=True)
class OcspPolicy:
    section: str
    cas: Mapping[str, OcspCa]

    def for_ca(self, name: str) -> OcspCa | None:
        return self.cas.get(name)


def _validity(value: Any, path: str) -> int | None:
    t = as_table(value, path)
    if set(t) == {"from_crl"}:
        if not as_bool(t["from_crl"], join(path, "from_crl")):
            raise fail(join(path, "from_crl"), "write a duration instead of from_crl = false")
        return None
    return as_duration(t, path).seconds


def _ca(name: str, value: Any, path: str, profiles: Mapping[str, Profile]) -> OcspCa:
    t = as_table(value, path)
    require_keys(
        t,
        path,
        {"validity", "refresh_margin", "nonce"},
        {"hashes", "include_expired", "responder_profile", "responder"},
    )
    prof_name = _responder_profile(name, t, path, profiles)
    hp = join(path, "hashes")
    hashes = tuple(
        as_text(h, f"{hp}[{i}]") for i, h in enumerate(as_list(t.get("hashes", ["sha1"]), hp))
    )
    for i, h in enumerate(hashes):
        if h not in CERT_ID_HASHES:
            raise fail(f"{hp}[{i}]", f"unknown CertID hash {h!r}; one of {CERT_ID_HASHES}")
    if not hashes or len(set(hashes)) != len(hashes):
        raise fail(hp, "at least one hash, each once")
    nonce = as_text(t["nonce"], join(path, "nonce"))
    if nonce not in NONCE_MODES:
        raise fail(join(path, "nonce"), f"expected one of {NONCE_MODES}, got {nonce!r}")
    return OcspCa(
        ca=name,
        responder_profile=prof_name,
        hashes=hashes,
        validity_seconds=_validity(t["validity"], join(path, "validity")),
        refresh_margin=as_duration(t["refresh_margin"], join(path, "refresh_margin")).seconds,
        nonce=nonce,
        include_expired=as_bool(t.get("include_expired", False), join(path, "include_expired")),
    )


def _responder_profile(
    name: str, t: Mapping[str, Any], path: str, profiles: Mapping[str, Profile]
) -> str | None:
    """The delegated responder's profile, or None for ``responder = "ca"``."""
    if ("responder" in t) == ("responder_profile" in t):
        raise fail(path, 'exactly one of responder_profile and responder = "ca"')
    if "responder" in t:
        rp = join(path, "responder")
        if as_text(t["responder"], rp) != "ca":
            raise fail(rp, 'expected "ca" (the CA signs its own responses)')
        return None
    pp = join(path, "responder_profile")
    prof_name = as_text(t["responder_profile"], pp)
    prof = profiles.get(prof_name)
    if prof is None:
        raise fail(pp, f"unknown profile {prof_name!r}")
    if prof.issuer != name:
        raise fail(pp, f"profile {prof_name!r} is issued by {prof.issuer}, not by {name}")
    if OCSP_SIGNING not in _ekus(prof):
        raise fail(pp, f"profile {prof_name!r} has no id-kp-OCSPSigning EKU (RFC 6960 §4.2.2.2)")
    return prof_name


def _ekus(prof: Profile) -> tuple[str, ...]:
    for ext in prof.extensions:
        if ext.get("type") == "extended_key_usage":
            return tuple(ext.get("purposes", ()))
    return ()


def ocsp_table(
    value: Any, path: str, cas: Mapping[str, Any], profiles: Mapping[str, Profile]
) -> OcspPolicy:
    t = as_table(value, path)
    require_keys(t, path, {"cas"}, {"section"})
    cp = join(path, "cas")
    out = {}
    for name, raw in as_table(t["cas"], cp).items():
        if name not in cas:
            raise fail(join(cp, name), f"unknown CA {name!r}")
        out[name] = _ca(name, raw, join(cp, name), profiles)
    return OcspPolicy(
        section=as_text(t.get("section", ""), join(path, "section"), empty=True), cas=out
    )
