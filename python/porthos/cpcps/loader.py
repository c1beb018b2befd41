"""Profile sets as data: load a TOML profile set, validate it, and hand out CA and
certificate profiles that can write the template spec JSON of docs/template-spec.md.

Validation happens here, at load (as Boulder does with its profiles): a bad profile
raises ProfileError naming the field path, e.g.
``profiles.web.extensions[4].usages[2]: unknown key usage 'crl_sgn'``; nothing is
left to fail at issuance.

A profile set is one CP/CPS as data: besides the certificate profiles (§7.1 of an RFC
3647 document) it holds what the lifecycle mechanism must not hard-code (schema of the
tables below; every field is validated with its path):

* ``[cas.<ca>] crl = {period, validity}``: how often the CA publishes its CRL and its
  nextUpdate - thisUpdate (required per CA) -> ``CaProfile.crl``.
* ``[profiles.<p>] identity_check = {procedure, section}``: the RA procedure that
  authenticates a subscriber (one of ``IDENTITY_CHECK_PROCEDURES``; required) ->
  ``Profile.identity_check``; ``rekey = ["A", "B"]``: the re-key types the profile
  offers (default ``["B"]``: initial registration only) -> ``Profile.rekey``;
  ``ignore_prefix_in_csr``: CSR attributes equal to a fixed subject attribute are
  dropped before the subject rule reads the CSR (default false) ->
  ``Profile.ignore_prefix_in_csr``; ``approval = {persons, roles, section}``: the
  persons who approve a request before it is issued (cpcps/approval.py) ->
  ``Profile.approval``.
* ``[profiles.<p>] extensions = [..., { type = "subject_alt_name", rule = "..." }]``: a
  SAN names the rule that gives its values (``cpcps/san_rules.py`` or the
  ``SAN_RULES`` of ``cpcps/<pki>/rules.py``) -> ``Profile.san_rule``, or the kinds the
  RA data gives (``from``), or both; without either every certificate would silently
  lack the SAN, so that is an error.
* ``name_strings = { C = "printable", DC = "ia5", ... }`` (optional; at the top, in
  ``[cas.<ca>]`` and in ``[profiles.<p>]``): the string type of each subject attribute
  (cpcps/name_strings.py) -> ``CaProfile.name_strings``, ``Profile.name_strings``.
* ``[profiles.<p>] item_not_after = "clamp" | "refuse"`` (optional): an item's own
  notAfter from the RA data (docs/ra-data.md), clamped to or refused past the profile's
  validity and the CA's notAfter; absent: refused -> ``Profile.item_not_after``. A SAN's
  ``from = [kinds]`` / ``required = [kinds]``: the kinds the RA data may / must give ->
  ``Profile.san_from``, ``Profile.san_required``.
* ``[revocation]`` (required): reasons allowed for subscriber and CA certificates,
  reasons refused with their explanation, and ``suspension``: ``false`` or
  ``{section, limit, escalate_to, profiles, hold_instruction}`` (which profiles may be
  put on hold, and the revocation a hold becomes after ``limit``) ->
  ``ProfileSet.revocation``.
* ``[termination]`` (required): the reason of the revocations a termination makes and
  the margin of the final CRLs' nextUpdate -> ``ProfileSet.termination``.
* ``[rekey]`` (required when a profile offers type A re-key): renewal window, grace
  period, and the early re-key (optional) -> ``ProfileSet.rekey`` (None without it).
* ``[ra]`` (optional): ``transaction_ttl`` (default 24 hours) -> ``ProfileSet.ra``.
* ``[policy_levels]`` (optional): assurance levels, their OIDs and what each implies;
  a ``certificate_policies`` entry may then name ``assurance = {levels, exclude_tags}``
  instead of ``policies`` (cpcps/policy_levels.py resolves it before validation).
* ``[cross_profiles.<name>]`` (optional): CA certificates our CAs issue to external
  CAs' requests (cpcps/cross_profiles.py) -> ``ProfileSet.cross_profiles``.
* ``[ocsp]`` (optional): which CAs answer OCSP, their responder profile, CertID
  hashes, validity, refresh margin and nonce handling (cpcps/ocsp_table.py) ->
  ``ProfileSet.ocsp`` (None without it: no OCSP).
* ``[generations]`` (optional): CA name and CN patterns of a new CA generation
  (defaults ``"{base}-{generation}"``, ``"{base} {generation}"``) and the profile name of
  link certificates (default ``"root-link"``) -> ``ProfileSet.generations``.

``load_profile_set`` takes the name of a bundled set or the path of a TOML file; the
set names itself (``name``, ``document``) and records where it came from (``source``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from porthos.cpcps.approval import approval_rule
from porthos.cpcps.cross_profiles import cross_profiles_table
from porthos.cpcps.extensions import (
    basic_constraints_of,
    extensions,
    key_usage_of,
    san_kinds_of,
    san_rule_of,
    signature_algorithms,
)
from porthos.cpcps.fields import (
    NAME_RE,
    as_bool,
    as_list,
    as_name,
    as_table,
    as_text,
    as_url,
    as_validity,
    fail,
    join,
    require_keys,
)
from porthos.cpcps.item_rules import ITEM_NOT_AFTER_RULES
from porthos.cpcps.lifecycle_tables import (
    crl_schedule,
    generations_table,
    identity_check,
    ra_table,
    rekey_table,
    rekey_types,
    revocation_table,
    termination_table,
)
from porthos.cpcps.name_strings import check_name, layered, name_strings_table
from porthos.cpcps.ocsp_table import ocsp_table
from porthos.cpcps.policy import KEY_TYPE_NAMES
from porthos.cpcps.policy_levels import resolve_document
from porthos.cpcps.profiles import CaProfile, Profile, ProfileSet
from porthos.cpcps.san_rules import san_rules_for
from porthos.cpcps.subject_rules import rules_for
from porthos.exceptions import ProfileError

# --------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------


def parse_profile_set(text: str, env: str, *, source: str = "<string>") -> ProfileSet:
    """Parse and validate a profile set from TOML text for one environment."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    return build_profile_set(doc, env, source=source)


def build_profile_set(doc: Mapping[str, Any], env: str, *, source: str = "<string>") -> ProfileSet:
    """Validate a parsed profile-set document (the TOML as a dict) for one environment."""
    # Assurance levels (``[policy_levels]``, certificate_policies ``assurance``) become
    # plain policy OIDs first: everything below reads OIDs only (cpcps/policy_levels.py).
    doc = resolve_document(as_table(doc, ""))
    require_keys(
        doc,
        "",
        {"schema", "name", "document", "envs", "cas", "profiles", "revocation", "termination"},
        {"rekey", "ra", "generations", "name_strings", "cross_profiles", "ocsp"},
    )
    if doc["schema"] != 1:
        raise fail("schema", f"unsupported schema {doc['schema']!r}; this porthos reads 1")
    set_name = as_text(doc["name"], "name")
    if not NAME_RE.fullmatch(set_name):
        raise fail("name", "a CP/CPS name is lower-case letters, digits and '-'")
    document = as_text(doc["document"], "document")
    subject_rules = rules_for(set_name)
    san_rules = san_rules_for(set_name)
    revocation = revocation_table(doc["revocation"], "revocation")
    termination = termination_table(doc["termination"], "termination", revocation)
    rekey = rekey_table(doc["rekey"], "rekey", revocation) if "rekey" in doc else None
    ra = ra_table(doc.get("ra", {}), "ra")
    generations = generations_table(doc.get("generations", {}), "generations")
    default_strings = (
        name_strings_table(doc["name_strings"], "name_strings") if "name_strings" in doc else None
    )

    envs = as_table(doc["envs"], "envs")
    if env not in envs:
        raise fail("envs", f"no environment {env!r}; known: {', '.join(envs)}")
    all_urls: dict[str, dict[str, str]] = {}
    for env_name, env_table in envs.items():
        p = f"envs.{env_name}"
        t = as_table(env_table, p)
        require_keys(t, p, {"crl", "crt"}, set())
        bases = {}
        for key in ("crl", "crt"):
            base = as_url(t[key], join(p, key), {})
            if base.endswith("/"):
                raise fail(join(p, key), "base URL must not end with '/'")
            bases[key] = base
        all_urls[env_name] = bases
    urls = all_urls[env]

    cas: dict[str, CaProfile] = {}
    for ca_name, raw in as_table(doc["cas"], "cas").items():
        p = f"cas.{ca_name}"
        if not NAME_RE.fullmatch(ca_name):
            raise fail(p, "CA names are lower-case letters, digits and '-' (file stems)")
        t = as_table(raw, p)
        require_keys(
            t,
            p,
            {
                "section",
                "issuer",
                "key_type",
                "signature_algorithm",
                "validity",
                "subject",
                "extensions",
                "crl",
            },
            {"name_strings"},
        )
        issuer = as_text(t["issuer"], join(p, "issuer"))
        if issuer != ca_name and issuer not in cas:
            raise fail(
                join(p, "issuer"),
                f"unknown CA {issuer!r} (an issuer must be listed before the CAs it signs)",
            )
        if issuer == ca_name and cas:
            raise fail(join(p, "issuer"), "the self-signed root must be the first CA")
        if issuer != ca_name and not cas:
            raise fail(join(p, "issuer"), "the first CA must be the self-signed root")
        key_type = as_text(t["key_type"], join(p, "key_type"))
        if key_type not in KEY_TYPE_NAMES:
            raise fail(join(p, "key_type"), f"unknown key type {key_type!r}")
        sig = as_text(t["signature_algorithm"], join(p, "signature_algorithm"))
        if sig not in signature_algorithms():
            raise fail(join(p, "signature_algorithm"), f"unknown signature algorithm {sig!r}")
        subjects = as_table(t["subject"], join(p, "subject"))
        for env_name in subjects:
            if env_name not in envs:
                raise fail(join(p, f"subject.{env_name}"), "unknown environment")
        # Every environment must be complete, whichever one is loaded now.
        for env_name in envs:
            if env_name not in subjects:
                raise fail(join(p, f"subject.{env_name}"), "missing")
            as_name(subjects[env_name], join(p, f"subject.{env_name}"))
        subject = as_name(subjects[env], join(p, f"subject.{env}"))
        ca_strings = layered(
            default_strings,
            name_strings_table(t["name_strings"], join(p, "name_strings"))
            if "name_strings" in t
            else None,
        )
        for env_name in envs:
            sp = join(p, f"subject.{env_name}")
            check_name(as_name(subjects[env_name], sp), ca_strings, sp)
        if not subject:
            raise fail(
                join(p, f"subject.{env}"), "a CA subject must not be empty (RFC 5280 §4.1.2.6)"
            )
        if any(s.subject == subject for s in cas.values()):
            raise fail(join(p, f"subject.{env}"), "same subject as another CA")
        exts = extensions(t["extensions"], join(p, "extensions"), urls, issuer, allow_shards=False)
        bc = basic_constraints_of(exts)
        if bc is None or not bc["ca"]:
            raise fail(join(p, "extensions"), "a CA needs basic_constraints with ca = true")
        for i, e in enumerate(exts):
            n = e.get("permitted_subject_rdns") if e["type"] == "name_constraints" else None
            if n is not None and n > len(subject):
                raise fail(
                    f"{p}.extensions[{i}].permitted_subject_rdns",
                    f"{n} RDNs asked, subject.{env} has {len(subject)}",
                )
        for i, e in enumerate(exts):
            if e["type"] == "name_constraints":
                for key in ("permitted", "excluded"):
                    for j, tree in enumerate(e.get(key, [])):
                        if "directory_name" in tree:
                            dp = f"{p}.extensions[{i}].{key}[{j}].directory_name"
                            check_name(tree["directory_name"], ca_strings, dp)
        ku_at, usages = key_usage_of(exts)
        if "key_cert_sign" not in usages:
            raise fail(
                join(p, "extensions"), "a CA needs key_usage key_cert_sign (RFC 5280 §4.2.1.3)"
            )
        cas[ca_name] = CaProfile(
            name=ca_name,
            section=as_text(t["section"], join(p, "section")),
            issuer=issuer,
            key_type=key_type,
            signature_algorithm=sig,
            validity=as_validity(t["validity"], join(p, "validity")),
            subject=subject,
            extensions=exts,
            crl=crl_schedule(t["crl"], join(p, "crl"), ca_name),
            name_strings=ca_strings,
        )
    if not cas:
        raise fail("cas", "no CAs")

    profiles: dict[str, Profile] = {}
    for prof_name, raw in as_table(doc["profiles"], "profiles").items():
        p = f"profiles.{prof_name}"
        if not NAME_RE.fullmatch(prof_name):
            raise fail(p, "profile names are lower-case letters, digits and '-'")
        t = as_table(raw, p)
        require_keys(
            t,
            p,
            {
                "section",
                "issuer",
                "subject_rule",
                "subject_prefix",
                "key_types",
                "validity",
                "extensions",
                "identity_check",
            },
            {"rekey", "ignore_prefix_in_csr", "approval", "name_strings", "item_not_after"},
        )
        issuer = as_text(t["issuer"], join(p, "issuer"))
        if issuer not in cas:
            raise fail(join(p, "issuer"), f"unknown CA {issuer!r}")
        rule = as_text(t["subject_rule"], join(p, "subject_rule"))
        if rule not in subject_rules:
            raise fail(
                join(p, "subject_rule"),
                f"unknown rule {rule!r}; known: {', '.join(subject_rules)}",
            )
        kp = join(p, "key_types")
        key_types = []
        for j, k in enumerate(as_list(t["key_types"], kp)):
            name = as_text(k, f"{kp}[{j}]")
            if name not in KEY_TYPE_NAMES:
                raise fail(f"{kp}[{j}]", f"unknown key type {name!r}")
            if name in key_types:
                raise fail(f"{kp}[{j}]", f"duplicate key type {name!r}")
            key_types.append(name)
        if not key_types:
            raise fail(kp, "at least one key type required")
        exts = extensions(
            t["extensions"], join(p, "extensions"), urls, issuer, san_rules=san_rules
        )
        bc = basic_constraints_of(exts)
        if bc is not None and bc["ca"]:
            raise fail(join(p, "extensions"), "a subscriber profile must have ca = false")
        ku_at, usages = key_usage_of(exts)
        if all(k.startswith("ec-") for k in key_types):
            # RFC 5480 §3: keyEncipherment and dataEncipherment MUST NOT be asserted for
            # id-ecPublicKey keys (the 000 §7.1.3.4 slip).
            for j, u in enumerate(usages):
                if u in ("key_encipherment", "data_encipherment"):
                    raise fail(
                        f"{p}.extensions[{ku_at}].usages[{j}]",
                        f"{u} is not allowed for EC keys (RFC 5480 §3)",
                    )
        if "key_cert_sign" in usages or "crl_sign" in usages:
            raise fail(
                f"{p}.extensions[{ku_at}].usages", "a subscriber may not sign certificates or CRLs"
            )
        prof_strings = layered(
            default_strings,
            name_strings_table(t["name_strings"], join(p, "name_strings"))
            if "name_strings" in t
            else None,
        )
        prefix = as_name(t["subject_prefix"], join(p, "subject_prefix"))
        check_name(prefix, prof_strings, join(p, "subject_prefix"))
        san_from, san_required = san_kinds_of(exts)
        item_not_after = None
        if "item_not_after" in t:
            item_not_after = as_text(t["item_not_after"], join(p, "item_not_after"))
            if item_not_after not in ITEM_NOT_AFTER_RULES:
                raise fail(
                    join(p, "item_not_after"),
                    f"expected one of {', '.join(ITEM_NOT_AFTER_RULES)}, got {item_not_after!r}",
                )
        profiles[prof_name] = Profile(
            name=prof_name,
            section=as_text(t["section"], join(p, "section")),
            issuer=issuer,
            subject_rule=rule,
            rule=subject_rules[rule],
            san_rule=None if (san := san_rule_of(exts)) is None else san_rules[san],
            subject_prefix=prefix,
            key_types=tuple(key_types),
            validity=as_validity(t["validity"], join(p, "validity")),
            extensions=exts,
            identity_check=identity_check(t["identity_check"], join(p, "identity_check")),
            rekey=rekey_types(t.get("rekey", ["B"]), join(p, "rekey")),
            ignore_prefix_in_csr=as_bool(
                t.get("ignore_prefix_in_csr", False), join(p, "ignore_prefix_in_csr")
            ),
            approval=(
                approval_rule(t["approval"], join(p, "approval")) if "approval" in t else None
            ),
            san_from=san_from,
            san_required=san_required,
            item_not_after=item_not_after,
            name_strings=prof_strings,
        )
        if "A" in profiles[prof_name].rekey and rekey is None:
            raise fail("rekey", f"missing; {p}.rekey offers type A re-key")
    if revocation.suspension is not None:
        for j, name in enumerate(revocation.suspension.profiles):
            if name not in profiles:
                raise fail(f"revocation.suspension.profiles[{j}]", f"unknown profile {name!r}")
    if generations.link_profile in profiles:
        raise fail(
            "generations.link_profile",
            f"{generations.link_profile!r} is a certificate profile of this CP/CPS",
        )
    gen2: dict[str, str] = {}
    for ca_name in cas:
        # Every CA of the next generation gets a distinct, valid name (000 §5.6 style
        # rollovers derive it; a clash would only show at the rollover).
        new = generations.ca_name(ca_name, 2)
        clash = new in gen2.values() or (new != ca_name and new in cas)
        if not NAME_RE.fullmatch(new) or clash:
            raise fail("generations.name", f"CA {ca_name} would become {new!r} in generation 2")
        gen2[ca_name] = new
    shard_scheme: dict[str, tuple[str, int | None, tuple[str, ...]]] = {}
    for prof in profiles.values():
        if prof.crl_shards is not None:
            # One set of shard CRLs per CA: every sharded profile of a CA must name it
            # the same way, or a certificate's shard URL would have no CRL behind it.
            scheme = (prof.name, prof.crl_shards, prof.crl_shard_urls)
            first = shard_scheme.setdefault(prof.issuer, scheme)
            if first[1:] != scheme[1:]:
                raise fail(
                    f"profiles.{prof.name}.extensions",
                    f"CDP shards differ from profile {first[0]!r} of the same CA",
                )
        ca = cas[prof.issuer]
        if prof.validity.not_after(0) > ca.validity.not_after(0):
            raise fail(f"profiles.{prof.name}.validity", f"longer than its CA {ca.name}")

    cross_profiles = cross_profiles_table(
        doc.get("cross_profiles", {}), "cross_profiles", cas, urls, profiles
    )

    ocsp = ocsp_table(doc["ocsp"], "ocsp", cas, profiles) if "ocsp" in doc else None

    return ProfileSet(
        name=set_name,
        env=env,
        document=document,
        envs=tuple(envs),
        urls=urls,
        revocation=revocation,
        termination=termination,
        rekey=rekey,
        ra=ra,
        generations=generations,
        source=source,
        cas=cas,
        profiles=profiles,
        cross_profiles=cross_profiles,
        ocsp=ocsp,
    )


def profile_set_text(name: str | os.PathLike[str] = "porthos") -> tuple[str, str]:
    """(TOML text, source) of a bundled profile set or a TOML path. Rollover (000
    §5.6, workspace/generations.py) derives the next CA generation from this document.

    ``name`` is a path when it is an ``os.PathLike``, ends with ``.toml`` or contains a
    path separator; otherwise the name of a bundled set (``porthos``)."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if name.endswith(".toml") or "/" in name or os.sep in name:
        path = Path(name)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ProfileError(f"cannot read profile set {name!r}: {exc}") from None
    if not NAME_RE.fullmatch(name):
        raise ProfileError(f"bad profile set name {name!r}")
    try:
        resource = resources.files(f"porthos.cpcps.{name}").joinpath(f"{name}.toml")
    except ModuleNotFoundError:
        raise ProfileError(f"no bundled profile set {name!r}") from None
    if not resource.is_file():
        raise ProfileError(f"no bundled profile set {name!r}")
    return resource.read_text(encoding="utf-8"), f"{name}.toml"


def load_profile_set(name: str | os.PathLike[str] = "porthos", env: str = "prod") -> ProfileSet:
    """Load a bundled profile set (``porthos/cpcps/<name>/<name>.toml``) or a TOML file
    (a path: see :func:`profile_set_text`) for one environment."""
    if not isinstance(name, (str, os.PathLike)) or not isinstance(env, str):
        raise ProfileError(
            f"load_profile_set: expected a name or path and an env name, got "
            f"{type(name).__name__} and {type(env).__name__}"
        )
    text, source = profile_set_text(name)
    return parse_profile_set(text, env, source=source)
