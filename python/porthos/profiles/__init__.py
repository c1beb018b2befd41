"""Profile sets as data: load a TOML profile set, validate it, and hand out CA and
certificate profiles that can write the template spec JSON of docs/template-spec.md.

Validation happens here, at load (as Boulder does with its profiles): a bad profile
raises ProfileError naming the field path, e.g.
``profiles.tls-server.extensions[4].usages[2]: unknown key usage 'crl_sgn'``; nothing is
left to fail at issuance.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from porthos.exceptions import ProfileError
from porthos.policy import ATTRIBUTE_OIDS, KEY_TYPE_NAMES, SUBJECT_RULES, add_months

__all__ = [
    "CaProfile",
    "Profile",
    "ProfileSet",
    "Validity",
    "build_profile_set",
    "load_profile_set",
    "parse_profile_set",
    "profile_set_text",
]

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def signature_algorithms() -> tuple[str, ...]:
    """The names porthos signs with: the Rust table (porthos-core x509/csr.rs), not a
    copy. Read on use, so this module still imports while the extension is being built."""
    from porthos import _native

    return tuple(_native.SIGNING_ALGORITHMS)


# Allowed keys per extension type (besides "type"), as in docs/template-spec.md.
_EXTENSION_KEYS: dict[str, frozenset[str]] = {
    "authority_key_identifier": frozenset({"critical"}),
    "subject_key_identifier": frozenset({"critical"}),
    "crl_distribution_points": frozenset({"critical", "uris", "shards"}),
    "authority_info_access": frozenset({"critical", "ca_issuers", "ocsp"}),
    "key_usage": frozenset({"critical", "usages"}),
    "extended_key_usage": frozenset({"critical", "purposes"}),
    "basic_constraints": frozenset({"critical", "ca", "path_len"}),
    "subject_alt_name": frozenset({"critical"}),
    "certificate_policies": frozenset({"critical", "policies"}),
    "raw": frozenset({"critical", "oid", "value_hex"}),
}
# Most shards a CDP may name: each shard is a CRL the CA republishes every period.
MAX_CRL_SHARDS = 4096
# RFC 5280 §4.2.1.1, §4.2.1.2, §4.2.1.13, §4.2.2.1: these MUST be non-critical.
_NEVER_CRITICAL = frozenset(
    {
        "authority_key_identifier",
        "subject_key_identifier",
        "crl_distribution_points",
        "authority_info_access",
    }
)
# OIDs the typed entries cover: a raw entry may not smuggle one of them in.
_TYPED_OIDS = frozenset(
    {
        "2.5.29.35",
        "2.5.29.14",
        "2.5.29.31",
        "1.3.6.1.5.5.7.1.1",
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.19",
        "2.5.29.17",
        "2.5.29.32",
    }
)
_OID_RE = re.compile(
    r"(?:[0-1]\.(?:[0-9]|[1-3][0-9])|2\.(?:0|[1-9][0-9]*))(?:\.(?:0|[1-9][0-9]*))+"
)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SHORT_NAMES = frozenset(ATTRIBUTE_OIDS.values())


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

    def __str__(self) -> str:
        if self.months:
            if self.months % 12 == 0:
                return f"{self.months // 12} years"
            return f"{self.months} months"
        return f"{self.days} days"


def _spec_json(extensions: list[dict[str, Any]]) -> str:
    return json.dumps({"extensions": extensions}, separators=(",", ":"))


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

    @property
    def self_signed(self) -> bool:
        return self.issuer == self.name

    def template_spec_json(self) -> str:
        return _spec_json([dict(e) for e in self.extensions])


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
        return _spec_json(exts)

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
    cas: dict[str, CaProfile] = field(default_factory=dict)  # root first
    profiles: dict[str, Profile] = field(default_factory=dict)

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

    def profiles_of(self, ca_name: str) -> list[Profile]:
        return [p for p in self.profiles.values() if p.issuer == ca_name]


# --------------------------------------------------------------------------------------
# Validation helpers: each takes the value and its path, returns the typed value.
# --------------------------------------------------------------------------------------


def _fail(path: str, message: str) -> ProfileError:
    return ProfileError(f"{path}: {message}")


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path or "<document>", f"expected a table, got {type(value).__name__}")
    return value


def _keys(table: Mapping[str, Any], path: str, required: set[str], optional: set[str]) -> None:
    for key in table:
        if key not in required and key not in optional:
            raise _fail(_join(path, key), "unknown key")
    for key in sorted(required):
        if key not in table:
            raise _fail(_join(path, key), "missing")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str(value: Any, path: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    if not empty and not value:
        raise _fail(path, "empty string")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"expected true or false, got {value!r}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"expected an array, got {type(value).__name__}")
    return value


def _oid(value: Any, path: str) -> str:
    text = _str(value, path)
    if not _OID_RE.fullmatch(text):
        raise _fail(path, f"not a dotted OID: {text!r}")
    return text


def _url(value: Any, path: str, urls: Mapping[str, str]) -> str:
    text = _str(value, path)
    try:
        text = text.format_map(urls)
    except (KeyError, ValueError, IndexError) as exc:
        raise _fail(path, f"bad placeholder in {text!r}: {exc}") from None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "ldap") or not parts.netloc:
        raise _fail(path, f"not an absolute http/ldap URL: {text!r}")
    if any(ch.isspace() for ch in text) or not text.isascii():
        raise _fail(path, f"URL has spaces or non-ASCII characters: {text!r}")
    return text


def _name(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for i, item in enumerate(_list(value, path)):
        p = f"{path}[{i}]"
        pair = _list(item, p)
        if len(pair) != 2:
            raise _fail(p, "expected [attribute, value]")
        attr = _str(pair[0], f"{p}[0]")
        if attr not in _SHORT_NAMES and not _OID_RE.fullmatch(attr):
            raise _fail(f"{p}[0]", f"unknown attribute {attr!r}")
        text = _str(pair[1], f"{p}[1]")
        if text != text.strip():
            # 000 §7.1.3.3-5 print "OU= Porthos client": a stray space is a slip, never data.
            raise _fail(f"{p}[1]", f"leading or trailing space in {text!r}")
        if len(text) > 64:
            raise _fail(f"{p}[1]", "longer than 64 characters (RFC 5280 Appendix A)")
        out.append((attr, text))
    return tuple(out)


def _validity(value: Any, path: str) -> Validity:
    table = _table(value, path)
    if len(table) != 1 or next(iter(table)) not in ("years", "months", "days"):
        raise _fail(path, "expected exactly one of years, months, days")
    unit, n = next(iter(table.items()))
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise _fail(_join(path, unit), f"expected a positive integer, got {n!r}")
    if unit == "years":
        return Validity(months=12 * n)
    if unit == "months":
        return Validity(months=n)
    return Validity(days=n)


def _extensions(
    value: Any, path: str, urls: Mapping[str, str], issuer: str, allow_shards: bool = True
) -> tuple[dict[str, Any], ...]:
    seen: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for i, item in enumerate(_list(value, path)):
        p = f"{path}[{i}]"
        ext = _table(item, p)
        type_ = _str(ext.get("type"), _join(p, "type")) if "type" in ext else None
        if type_ is None:
            raise _fail(_join(p, "type"), "missing")
        if type_ not in _EXTENSION_KEYS:
            raise _fail(_join(p, "type"), f"unknown extension type {type_!r}")
        for key in ext:
            if key != "type" and key not in _EXTENSION_KEYS[type_]:
                raise _fail(_join(p, key), f"unknown key for {type_}")
        clean: dict[str, Any] = {"type": type_}
        if "critical" in ext:
            clean["critical"] = _bool(ext["critical"], _join(p, "critical"))
            if clean["critical"] and type_ in _NEVER_CRITICAL:
                raise _fail(_join(p, "critical"), f"{type_} must not be critical (RFC 5280)")
        dup_key = type_
        if type_ == "crl_distribution_points" or type_ == "authority_info_access":
            lists = ("uris",) if type_ == "crl_distribution_points" else ("ca_issuers", "ocsp")
            shards = None
            if "shards" in ext:
                # A sharded CDP (the Let's Encrypt way): each URI carries "{shard}", the
                # certificate gets shard crl_shard_of(serial, shards)'s URL, and that
                # shard CRL's IssuingDistributionPoint names the same URL (RFC 5280
                # §5.2.5, §6.3.3 (b)(2)(i)).
                sp = _join(p, "shards")
                shards = ext["shards"]
                if not allow_shards:
                    raise _fail(sp, "only end-entity profiles may shard their CDP")
                if isinstance(shards, bool) or not isinstance(shards, int):
                    raise _fail(sp, f"expected an integer, got {shards!r}")
                if not 1 <= shards <= MAX_CRL_SHARDS:
                    raise _fail(sp, f"expected 1..{MAX_CRL_SHARDS}, got {shards}")
                clean["shards"] = shards
            # "{shard}" survives URL expansion only in a sharded CDP.
            with_shard = {**urls, "shard": "{shard}"} if shards is not None else urls
            for key in lists:
                if key in ext:
                    kp = _join(p, key)
                    uris = [
                        _url(u, f"{kp}[{j}]", with_shard)
                        for j, u in enumerate(_list(ext[key], kp))
                    ]
                    for j, u in enumerate(uris):
                        # The repository publishes <ca>.crl / <ca>.crt (000 §2.1): a URL
                        # naming another CA is a copy-paste slip. A shard's file is
                        # <ca>-<anything with {shard}>.crl.
                        stem = Path(urlsplit(u).path).stem
                        if shards is not None:
                            if "{shard}" not in urlsplit(u).path or not stem.startswith(
                                f"{issuer}-"
                            ):
                                raise _fail(
                                    f"{kp}[{j}]",
                                    f"a sharded CDP URL must be .../{issuer}-...{{shard}}...crl, "
                                    f"got {u!r}",
                                )
                        elif key != "ocsp" and stem != issuer:
                            raise _fail(
                                f"{kp}[{j}]", f"URL names {stem!r}, the issuing CA is {issuer!r}"
                            )
                    clean[key] = uris
            if type_ == "crl_distribution_points" and not clean.get("uris"):
                raise _fail(_join(p, "uris"), "at least one URI required")
            if type_ == "authority_info_access":
                if not clean.get("ca_issuers") and not clean.get("ocsp"):
                    raise _fail(_join(p, "ca_issuers"), "at least one URI required")
                clean.setdefault("ca_issuers", [])
                clean.setdefault("ocsp", [])
        elif type_ == "key_usage":
            kp = _join(p, "usages")
            if "usages" not in ext:
                raise _fail(kp, "missing")
            usages = []
            for j, u in enumerate(_list(ext["usages"], kp)):
                name = _str(u, f"{kp}[{j}]")
                if name not in KEY_USAGES:
                    raise _fail(f"{kp}[{j}]", f"unknown key usage {name!r}")
                if name in usages:
                    raise _fail(f"{kp}[{j}]", f"duplicate key usage {name!r}")
                usages.append(name)
            if not usages:
                raise _fail(kp, "at least one key usage required (RFC 5280 §4.2.1.3)")
            clean["usages"] = usages
        elif type_ == "extended_key_usage":
            kp = _join(p, "purposes")
            if "purposes" not in ext:
                raise _fail(kp, "missing")
            purposes = [_oid(o, f"{kp}[{j}]") for j, o in enumerate(_list(ext["purposes"], kp))]
            if not purposes or len(set(purposes)) != len(purposes):
                raise _fail(kp, "expected one or more distinct OIDs")
            clean["purposes"] = purposes
        elif type_ == "basic_constraints":
            if "ca" not in ext:
                raise _fail(_join(p, "ca"), "missing")
            clean["ca"] = _bool(ext["ca"], _join(p, "ca"))
            path_len = ext.get("path_len")
            if path_len is not None:
                if isinstance(path_len, bool) or not isinstance(path_len, int) or path_len < 0:
                    raise _fail(
                        _join(p, "path_len"), f"expected an integer >= 0, got {path_len!r}"
                    )
                if not clean["ca"]:
                    raise _fail(_join(p, "path_len"), "only a CA may have a path length")
            clean["path_len"] = path_len
        elif type_ == "certificate_policies":
            kp = _join(p, "policies")
            policies = []
            for j, pol in enumerate(_list(ext.get("policies", []), kp)):
                pp = f"{kp}[{j}]"
                pt = _table(pol, pp)
                _keys(pt, pp, {"oid"}, {"cps_uris", "user_notices"})
                entry: dict[str, Any] = {"oid": _oid(pt["oid"], _join(pp, "oid"))}
                up = _join(pp, "cps_uris")
                entry["cps_uris"] = [
                    _url(u, f"{up}[{k}]", urls)
                    for k, u in enumerate(_list(pt.get("cps_uris", []), up))
                ]
                np_ = _join(pp, "user_notices")
                entry["user_notices"] = [
                    _str(t, f"{np_}[{k}]")
                    for k, t in enumerate(_list(pt.get("user_notices", []), np_))
                ]
                policies.append(entry)
            if not policies:
                raise _fail(kp, "at least one policy required")
            clean["policies"] = policies
        elif type_ == "raw":
            oid = _oid(ext.get("oid"), _join(p, "oid"))
            if oid in _TYPED_OIDS:
                raise _fail(_join(p, "oid"), f"{oid} has a typed entry; use it")
            hex_ = _str(ext.get("value_hex"), _join(p, "value_hex"))
            try:
                bytes.fromhex(hex_)
            except ValueError:
                raise _fail(_join(p, "value_hex"), "not hex") from None
            clean["oid"] = oid
            clean["value_hex"] = hex_
            dup_key = f"raw:{oid}"
        if dup_key in seen:
            raise _fail(p, f"{type_} already listed at {seen[dup_key]}")
        seen[dup_key] = p
        out.append(clean)
    return tuple(out)


def _ku(extensions: tuple[Mapping[str, Any], ...]) -> tuple[int, list[str]]:
    for i, ext in enumerate(extensions):
        if ext["type"] == "key_usage":
            return i, list(ext["usages"])
    return -1, []


def _bc(extensions: tuple[Mapping[str, Any], ...]) -> Mapping[str, Any] | None:
    for ext in extensions:
        if ext["type"] == "basic_constraints":
            return ext
    return None


# --------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------


def parse_profile_set(text: str, env: str, *, source: str = "<string>") -> ProfileSet:
    """Parse and validate a profile set from TOML text for one environment."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    return build_profile_set(doc, env)


def build_profile_set(doc: Mapping[str, Any], env: str) -> ProfileSet:
    """Validate a parsed profile-set document (the TOML as a dict) for one environment."""
    doc = _table(doc, "")
    _keys(doc, "", {"schema", "name", "envs", "cas", "profiles"}, {"document"})
    if doc["schema"] != 1:
        raise _fail("schema", f"unsupported schema {doc['schema']!r}; this porthos reads 1")
    set_name = _str(doc["name"], "name")
    document = _str(doc.get("document", ""), "document", empty=True)

    envs = _table(doc["envs"], "envs")
    if env not in envs:
        raise _fail("envs", f"no environment {env!r}; known: {', '.join(envs)}")
    all_urls: dict[str, dict[str, str]] = {}
    for env_name, env_table in envs.items():
        p = f"envs.{env_name}"
        t = _table(env_table, p)
        _keys(t, p, {"crl", "crt"}, set())
        bases = {}
        for key in ("crl", "crt"):
            base = _url(t[key], _join(p, key), {})
            if base.endswith("/"):
                raise _fail(_join(p, key), "base URL must not end with '/'")
            bases[key] = base
        all_urls[env_name] = bases
    urls = all_urls[env]

    cas: dict[str, CaProfile] = {}
    for ca_name, raw in _table(doc["cas"], "cas").items():
        p = f"cas.{ca_name}"
        if not _NAME_RE.fullmatch(ca_name):
            raise _fail(p, "CA names are lower-case letters, digits and '-' (file stems)")
        t = _table(raw, p)
        _keys(
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
            },
            set(),
        )
        issuer = _str(t["issuer"], _join(p, "issuer"))
        if issuer != ca_name and issuer not in cas:
            raise _fail(
                _join(p, "issuer"),
                f"unknown CA {issuer!r} (an issuer must be listed before the CAs it signs)",
            )
        if issuer == ca_name and cas:
            raise _fail(_join(p, "issuer"), "the self-signed root must be the first CA")
        if issuer != ca_name and not cas:
            raise _fail(_join(p, "issuer"), "the first CA must be the self-signed root")
        key_type = _str(t["key_type"], _join(p, "key_type"))
        if key_type not in KEY_TYPE_NAMES:
            raise _fail(_join(p, "key_type"), f"unknown key type {key_type!r}")
        sig = _str(t["signature_algorithm"], _join(p, "signature_algorithm"))
        if sig not in signature_algorithms():
            raise _fail(_join(p, "signature_algorithm"), f"unknown signature algorithm {sig!r}")
        subjects = _table(t["subject"], _join(p, "subject"))
        for env_name in subjects:
            if env_name not in envs:
                raise _fail(_join(p, f"subject.{env_name}"), "unknown environment")
        # Every environment must be complete, whichever one is loaded now.
        for env_name in envs:
            if env_name not in subjects:
                raise _fail(_join(p, f"subject.{env_name}"), "missing")
            _name(subjects[env_name], _join(p, f"subject.{env_name}"))
        subject = _name(subjects[env], _join(p, f"subject.{env}"))
        if not subject:
            raise _fail(
                _join(p, f"subject.{env}"), "a CA subject must not be empty (RFC 5280 §4.1.2.6)"
            )
        if any(s.subject == subject for s in cas.values()):
            raise _fail(_join(p, f"subject.{env}"), "same subject as another CA")
        exts = _extensions(
            t["extensions"], _join(p, "extensions"), urls, issuer, allow_shards=False
        )
        bc = _bc(exts)
        if bc is None or not bc["ca"]:
            raise _fail(_join(p, "extensions"), "a CA needs basic_constraints with ca = true")
        ku_at, usages = _ku(exts)
        if "key_cert_sign" not in usages:
            raise _fail(
                _join(p, "extensions"), "a CA needs key_usage key_cert_sign (RFC 5280 §4.2.1.3)"
            )
        cas[ca_name] = CaProfile(
            name=ca_name,
            section=_str(t["section"], _join(p, "section")),
            issuer=issuer,
            key_type=key_type,
            signature_algorithm=sig,
            validity=_validity(t["validity"], _join(p, "validity")),
            subject=subject,
            extensions=exts,
        )
    if not cas:
        raise _fail("cas", "no CAs")

    profiles: dict[str, Profile] = {}
    for prof_name, raw in _table(doc["profiles"], "profiles").items():
        p = f"profiles.{prof_name}"
        if not _NAME_RE.fullmatch(prof_name):
            raise _fail(p, "profile names are lower-case letters, digits and '-'")
        t = _table(raw, p)
        _keys(
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
            },
            set(),
        )
        issuer = _str(t["issuer"], _join(p, "issuer"))
        if issuer not in cas:
            raise _fail(_join(p, "issuer"), f"unknown CA {issuer!r}")
        rule = _str(t["subject_rule"], _join(p, "subject_rule"))
        if rule not in SUBJECT_RULES:
            raise _fail(
                _join(p, "subject_rule"),
                f"unknown rule {rule!r}; known: {', '.join(SUBJECT_RULES)}",
            )
        kp = _join(p, "key_types")
        key_types = []
        for j, k in enumerate(_list(t["key_types"], kp)):
            name = _str(k, f"{kp}[{j}]")
            if name not in KEY_TYPE_NAMES:
                raise _fail(f"{kp}[{j}]", f"unknown key type {name!r}")
            if name in key_types:
                raise _fail(f"{kp}[{j}]", f"duplicate key type {name!r}")
            key_types.append(name)
        if not key_types:
            raise _fail(kp, "at least one key type required")
        exts = _extensions(t["extensions"], _join(p, "extensions"), urls, issuer)
        bc = _bc(exts)
        if bc is not None and bc["ca"]:
            raise _fail(_join(p, "extensions"), "a subscriber profile must have ca = false")
        ku_at, usages = _ku(exts)
        if all(k.startswith("ec-") for k in key_types):
            # RFC 5480 §3: keyEncipherment and dataEncipherment MUST NOT be asserted for
            # id-ecPublicKey keys (the 000 §7.1.3.4 slip).
            for j, u in enumerate(usages):
                if u in ("key_encipherment", "data_encipherment"):
                    raise _fail(
                        f"{p}.extensions[{ku_at}].usages[{j}]",
                        f"{u} is not allowed for EC keys (RFC 5480 §3)",
                    )
        if "key_cert_sign" in usages or "crl_sign" in usages:
            raise _fail(
                f"{p}.extensions[{ku_at}].usages", "a subscriber may not sign certificates or CRLs"
            )
        profiles[prof_name] = Profile(
            name=prof_name,
            section=_str(t["section"], _join(p, "section")),
            issuer=issuer,
            subject_rule=rule,
            subject_prefix=_name(t["subject_prefix"], _join(p, "subject_prefix")),
            key_types=tuple(key_types),
            validity=_validity(t["validity"], _join(p, "validity")),
            extensions=exts,
        )
    shard_scheme: dict[str, tuple[str, int | None, tuple[str, ...]]] = {}
    for prof in profiles.values():
        if prof.crl_shards is not None:
            # One set of shard CRLs per CA: every sharded profile of a CA must name it
            # the same way, or a certificate's shard URL would have no CRL behind it.
            scheme = (prof.name, prof.crl_shards, prof.crl_shard_urls)
            first = shard_scheme.setdefault(prof.issuer, scheme)
            if first[1:] != scheme[1:]:
                raise _fail(
                    f"profiles.{prof.name}.extensions",
                    f"CDP shards differ from profile {first[0]!r} of the same CA",
                )
        ca = cas[prof.issuer]
        if prof.validity.not_after(0) > ca.validity.not_after(0):
            raise _fail(f"profiles.{prof.name}.validity", f"longer than its CA {ca.name}")

    return ProfileSet(
        name=set_name,
        env=env,
        document=document,
        envs=tuple(envs),
        urls=urls,
        cas=cas,
        profiles=profiles,
    )


def profile_set_text(name: str = "porthos") -> tuple[str, str]:
    """(TOML text, source) of a bundled profile set or a TOML path. Rollover (000
    §5.6, changeover.py) derives the next CA generation from this document."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ProfileError(f"cannot read profile set {name!r}: {exc}") from None
    if not _NAME_RE.fullmatch(name):
        raise ProfileError(f"bad profile set name {name!r}")
    resource = resources.files(__name__).joinpath(f"{name}.toml")
    if not resource.is_file():
        raise ProfileError(f"no bundled profile set {name!r}")
    return resource.read_text(encoding="utf-8"), f"{name}.toml"


def load_profile_set(name: str = "porthos", env: str = "prod") -> ProfileSet:
    """Load a bundled profile set (``porthos/profiles/<name>.toml``) or a TOML path."""
    text, source = profile_set_text(name)
    return parse_profile_set(text, env, source=source)
