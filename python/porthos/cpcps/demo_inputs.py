"""The inputs of ``porthos demo --cpcps <pki>``: what a PKI's demo issues, revokes and
cross-certifies, as data next to its CP/CPS (``cpcps/<pki>/demo.toml``, or
``demo.toml`` beside a CP/CPS given as a path), validated at load against the loaded
CP/CPS with the failing path, like the CP/CPS itself.

Schema (every table required unless marked optional):

* ``[samples.<profile>]``: ``subject`` (the request's attributes, most general first)
  and ``key_type`` (the subject key): one sample certificate per profile listed; every
  profile of the CP/CPS must be listed. Optional ``ra_data = { sans = [[kind, value],
  ...], not_after_in = { years = N } }``: the RA data of the request (docs/ra-data.md;
  ``not_after_in``: the notAfter it gives, e.g. a card's expiry, that long after the
  demo runs).
* ``[revoke]``: ``profile`` and ``reason`` (an RFC 5280 CRLReason name the CP/CPS
  allows): one more certificate of that profile is issued and revoked.
* ``[suspend]`` (optional): ``profile``: one more certificate suspended and released,
  where the CP/CPS offers suspension.
* ``[external]`` (optional): a stand-in for an external CA the PKI cross-certifies
  with, made by the demo from its own key: ``name`` (file stem), ``subject``,
  ``key_type``, ``validity``, ``policies`` (the OIDs of its domain), ``cross_to`` (our
  CA it issues a cross-certificate to), ``mappings`` ([its OID, our OID] pairs of that
  cross-certificate), ``inhibit_any_policy`` (optional skipCerts) and ``cross_profile``
  (optional: the cross profile with which ``cross_to`` certifies the stand-in's
  request in return; the stand-in's cross-certificate is then imported).
* ``[changeover]`` (optional): ``profile``: after the rest, a key changeover of every
  root (RFC 3647 §5.6, porthos rollover), then one certificate of that profile from
  the new generation, which a relying party anchored at the *old* root accepts through
  the new-with-old link certificate.
* ``[policy_check]`` (optional, needs ``[external]``): ``profile`` whose sample a
  relying party anchored at the external CA validates under ``policy`` (an OID of the
  external domain).
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from porthos.cpcps.fields import (
    as_list,
    as_name,
    as_oid,
    as_table,
    as_text,
    as_validity,
    fail,
    join,
    require_keys,
)
from porthos.cpcps.policy import KEY_TYPE_NAMES
from porthos.cpcps.profiles import ProfileSet, Validity
from porthos.crl_reasons import REASONS
from porthos.exceptions import ProfileError

__all__ = [
    "DemoInputs",
    "External",
    "Sample",
    "demo_inputs_text",
    "load_demo_inputs",
    "parse_demo_inputs",
]

DEMO_FILE = "demo.toml"


@dataclass(frozen=True, slots=True)
class Sample:
    profile: str
    subject: tuple[tuple[str, str], ...]
    key_type: str
    #: RA data SAN entries as docs/ra-data.md writes them; None: none.
    sans: tuple[Any, ...] | None = None
    not_after_in: Validity | None = None

    def ra_data(self, now: int) -> dict[str, Any] | None:
        """The request's RA data object (docs/ra-data.md), or None without any."""
        if self.sans is None and self.not_after_in is None:
            return None
        out: dict[str, Any] = {}
        if self.sans is not None:
            out["sans"] = [list(e) for e in self.sans]
        if self.not_after_in is not None:
            when = time.gmtime(self.not_after_in.not_after(now))
            out["not_after"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", when)
        return out


@dataclass(frozen=True, slots=True)
class External:
    name: str
    subject: tuple[tuple[str, str], ...]
    key_type: str
    validity: Validity
    policies: tuple[str, ...]
    cross_to: str
    mappings: tuple[tuple[str, str], ...]
    inhibit_any_policy: int | None
    cross_profile: str | None = None


@dataclass(frozen=True)
class DemoInputs:
    samples: dict[str, Sample]
    revoke_profile: str
    revoke_reason: str
    suspend_profile: str | None
    external: External | None
    policy_check: tuple[str, str] | None
    changeover_profile: str | None = None


def _key_type(value: Any, path: str) -> str:
    name = as_text(value, path)
    if name not in KEY_TYPE_NAMES or name == "ed25519":
        raise fail(path, f"unknown key type {name!r}")
    return name


def _profile(value: Any, path: str, ps: ProfileSet) -> str:
    name = as_text(value, path)
    if name not in ps.profiles:
        raise fail(path, f"no profile {name!r} in {ps.name}")
    return name


def parse_demo_inputs(text: str, ps: ProfileSet, *, source: str = DEMO_FILE) -> DemoInputs:
    try:
        doc = as_table(tomllib.loads(text), "")
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    require_keys(
        doc, "", {"samples", "revoke"}, {"suspend", "external", "policy_check", "changeover"}
    )
    samples: dict[str, Sample] = {}
    for name, raw in as_table(doc["samples"], "samples").items():
        p = join("samples", name)
        _profile(name, p, ps)
        t = as_table(raw, p)
        require_keys(t, p, {"subject", "key_type"}, {"ra_data"})
        key_type = _key_type(t["key_type"], join(p, "key_type"))
        if key_type not in ps.profiles[name].key_types:
            raise fail(join(p, "key_type"), f"profile {name} does not allow {key_type}")
        sans, not_after_in = (
            _ra_data(t["ra_data"], join(p, "ra_data")) if "ra_data" in t else (None, None)
        )
        subject = as_name(t["subject"], join(p, "subject"))
        samples[name] = Sample(name, subject, key_type, sans, not_after_in)
    missing = [n for n in ps.profiles if n not in samples]
    if missing:
        raise fail("samples", f"no sample for profile(s) {', '.join(missing)}")
    r = as_table(doc["revoke"], "revoke")
    require_keys(r, "revoke", {"profile", "reason"}, set())
    revoke_profile = _profile(r["profile"], "revoke.profile", ps)
    reason = as_text(r["reason"], "revoke.reason")
    if REASONS.get(reason) not in ps.revocation.subscriber_reasons:
        raise fail("revoke.reason", f"{reason!r} is not a subscriber reason of {ps.name}")
    suspend = None
    if "suspend" in doc:
        s = as_table(doc["suspend"], "suspend")
        require_keys(s, "suspend", {"profile"}, set())
        suspend = _profile(s["profile"], "suspend.profile", ps)
    external = _external(doc["external"], "external", ps) if "external" in doc else None
    check = None
    if "policy_check" in doc:
        c = as_table(doc["policy_check"], "policy_check")
        require_keys(c, "policy_check", {"profile", "policy"}, set())
        if external is None:
            raise fail("policy_check", "needs [external] (the relying party's anchor)")
        policy = as_oid(c["policy"], "policy_check.policy")
        if policy not in external.policies:
            raise fail("policy_check.policy", f"{policy} is not a policy of external")
        check = (_profile(c["profile"], "policy_check.profile", ps), policy)
    changeover = None
    if "changeover" in doc:
        c = as_table(doc["changeover"], "changeover")
        require_keys(c, "changeover", {"profile"}, set())
        changeover = _profile(c["profile"], "changeover.profile", ps)
    return DemoInputs(samples, revoke_profile, reason, suspend, external, check, changeover)


def _ra_data(value: Any, path: str) -> tuple[tuple[Any, ...] | None, Validity | None]:
    # The SAN entries themselves are checked where issuance reads RA data
    # (issuance/item_data.py): here only their shape, so the demo fails at load.
    t = as_table(value, path)
    require_keys(t, path, set(), {"sans", "not_after_in"})
    sans = None
    if "sans" in t:
        sp = join(path, "sans")
        sans = []
        for j, entry in enumerate(as_list(t["sans"], sp)):
            pair = as_list(entry, f"{sp}[{j}]")
            if len(pair) != 2:
                raise fail(f"{sp}[{j}]", "expected [kind, value]")
            as_text(pair[0], f"{sp}[{j}][0]")
            sans.append(tuple(pair))
    not_after_in = None
    if "not_after_in" in t:
        not_after_in = as_validity(t["not_after_in"], join(path, "not_after_in"))
    return (None if sans is None else tuple(sans)), not_after_in


def _external(value: Any, path: str, ps: ProfileSet) -> External:
    t = as_table(value, path)
    require_keys(
        t,
        path,
        {"name", "subject", "key_type", "validity", "policies", "cross_to", "mappings"},
        {"inhibit_any_policy", "cross_profile"},
    )
    pp = join(path, "policies")
    policies = tuple(as_oid(o, f"{pp}[{j}]") for j, o in enumerate(as_list(t["policies"], pp)))
    cross_to = as_text(t["cross_to"], join(path, "cross_to"))
    if cross_to not in ps.cas:
        raise fail(join(path, "cross_to"), f"no CA {cross_to!r} in {ps.name}")
    mp = join(path, "mappings")
    mappings = []
    for j, pair in enumerate(as_list(t["mappings"], mp)):
        items = as_list(pair, f"{mp}[{j}]")
        if len(items) != 2:
            raise fail(f"{mp}[{j}]", "expected [external OID, our OID]")
        theirs, ours = (as_oid(o, f"{mp}[{j}][{k}]") for k, o in enumerate(items))
        if theirs not in policies:
            raise fail(f"{mp}[{j}][0]", f"{theirs} is not one of {pp}")
        mappings.append((theirs, ours))
    skip = t.get("inhibit_any_policy")
    if skip is not None and (isinstance(skip, bool) or not isinstance(skip, int) or skip < 0):
        raise fail(join(path, "inhibit_any_policy"), f"expected an integer >= 0, got {skip!r}")
    cross_profile = None
    if "cross_profile" in t:
        cross_profile = as_text(t["cross_profile"], join(path, "cross_profile"))
        prof = ps.cross_profiles.get(cross_profile)
        if prof is None:
            raise fail(join(path, "cross_profile"), f"no cross profile {cross_profile!r}")
        if prof.issuer != cross_to:
            raise fail(join(path, "cross_profile"), f"issued by {prof.issuer}, not {cross_to}")
    return External(
        cross_profile=cross_profile,
        name=as_text(t["name"], join(path, "name")),
        subject=as_name(t["subject"], join(path, "subject")),
        key_type=_key_type(t["key_type"], join(path, "key_type")),
        validity=as_validity(t["validity"], join(path, "validity")),
        policies=policies,
        cross_to=cross_to,
        mappings=tuple(mappings),
        inhibit_any_policy=skip,
    )


def demo_inputs_text(ps: ProfileSet) -> tuple[str, str]:
    """(TOML text, source) of the demo inputs of a loaded CP/CPS: ``demo.toml`` beside
    a CP/CPS loaded from a path, else the bundled ``porthos.cpcps.<name>/demo.toml``."""
    if ps.source != f"{ps.name}.toml" and Path(ps.source).is_file():
        path = Path(ps.source).with_name(DEMO_FILE)
        if path.is_file():
            return path.read_text(encoding="utf-8"), str(path)
    try:
        resource = resources.files(f"porthos.cpcps.{ps.name.replace('-', '_')}") / DEMO_FILE
    except ModuleNotFoundError:
        resource = None
    if resource is None or not resource.is_file():
        raise ProfileError(f"CP/CPS {ps.name!r} has no {DEMO_FILE} (the demo's inputs)")
    return resource.read_text(encoding="utf-8"), f"{ps.name}/{DEMO_FILE}"


def load_demo_inputs(ps: ProfileSet) -> DemoInputs:
    """The demo inputs of a loaded CP/CPS (see :func:`demo_inputs_text`), validated."""
    text, source = demo_inputs_text(ps)
    return parse_demo_inputs(text, ps, source=source)
