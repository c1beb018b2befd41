"""The extensions of a certificate profile: validated at load into the template spec
entries of docs/template-spec.md."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from porthos.cpcps import ca_constraints
from porthos.cpcps.fields import (
    as_bool,
    as_list,
    as_oid,
    as_table,
    as_text,
    as_url,
    fail,
    join,
    require_keys,
)
from porthos.issuance.item_data import SAN_KINDS

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
    "subject_alt_name": frozenset({"critical", "rule", "from", "required"}),
    "certificate_policies": frozenset({"critical", "policies"}),
    "raw": frozenset({"critical", "oid", "value_hex"}),
    # RPKI (RFC 6487 §4.8.8-§4.8.11): SIA fixed by its URIs or a per-item hole, and
    # the RFC 3779 resources, always per-item holes (docs/template-spec.md).
    "subject_info_access": frozenset(
        {"critical", "ca_repository", "rpki_manifest", "rpki_notify", "signed_object"}
    ),
    "ip_addr_blocks": frozenset({"critical"}),
    "as_identifiers": frozenset({"critical"}),
    **ca_constraints.KEYS,
}
_SIA_LISTS = ("ca_repository", "rpki_manifest", "rpki_notify", "signed_object")
# Most shards a CDP may name: each shard is a CRL the CA republishes every period.
MAX_CRL_SHARDS = 4096
# RFC 5280 §4.2.1.1, §4.2.1.2, §4.2.1.13, §4.2.2.1: these MUST be non-critical.
_NEVER_CRITICAL = frozenset(
    {
        "authority_key_identifier",
        "subject_key_identifier",
        "crl_distribution_points",
        "authority_info_access",
        "subject_info_access",  # RFC 5280 §4.2.2.2
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
        "1.3.6.1.5.5.7.1.11",
        "1.3.6.1.5.5.7.1.7",
        "1.3.6.1.5.5.7.1.8",
        *ca_constraints.OIDS,
    }
)


def extensions(
    value: Any,
    path: str,
    urls: Mapping[str, str],
    issuer: str,
    allow_shards: bool = True,
    san_rules: Collection[str] = (),
) -> tuple[dict[str, Any], ...]:
    """``san_rules``: the SAN rule names this document may use (cpcps/san_rules.py)."""
    seen: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for i, item in enumerate(as_list(value, path)):
        p = f"{path}[{i}]"
        ext = as_table(item, p)
        type_ = as_text(ext.get("type"), join(p, "type")) if "type" in ext else None
        if type_ is None:
            raise fail(join(p, "type"), "missing")
        if type_ not in _EXTENSION_KEYS:
            raise fail(join(p, "type"), f"unknown extension type {type_!r}")
        for key in ext:
            if key != "type" and key not in _EXTENSION_KEYS[type_]:
                raise fail(join(p, key), f"unknown key for {type_}")
        clean: dict[str, Any] = {"type": type_}
        if "critical" in ext:
            clean["critical"] = as_bool(ext["critical"], join(p, "critical"))
            if clean["critical"] and type_ in _NEVER_CRITICAL:
                raise fail(join(p, "critical"), f"{type_} must not be critical (RFC 5280)")
        dup_key = type_
        if type_ == "crl_distribution_points" or type_ == "authority_info_access":
            lists = ("uris",) if type_ == "crl_distribution_points" else ("ca_issuers", "ocsp")
            shards = None
            if "shards" in ext:
                # A sharded CDP (the Let's Encrypt way): each URI carries "{shard}", the
                # certificate gets shard crl_shard_of(serial, shards)'s URL, and that
                # shard CRL's IssuingDistributionPoint names the same URL (RFC 5280
                # §5.2.5, §6.3.3 (b)(2)(i)).
                sp = join(p, "shards")
                shards = ext["shards"]
                if not allow_shards:
                    raise fail(sp, "only end-entity profiles may shard their CDP")
                if isinstance(shards, bool) or not isinstance(shards, int):
                    raise fail(sp, f"expected an integer, got {shards!r}")
                if not 1 <= shards <= MAX_CRL_SHARDS:
                    raise fail(sp, f"expected 1..{MAX_CRL_SHARDS}, got {shards}")
                clean["shards"] = shards
            # "{shard}" survives URL expansion only in a sharded CDP.
            with_shard = {**urls, "shard": "{shard}"} if shards is not None else urls
            for key in lists:
                if key in ext:
                    kp = join(p, key)
                    uris = [
                        as_url(u, f"{kp}[{j}]", with_shard)
                        for j, u in enumerate(as_list(ext[key], kp))
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
                                raise fail(
                                    f"{kp}[{j}]",
                                    f"a sharded CDP URL must be .../{issuer}-...{{shard}}...crl, "
                                    f"got {u!r}",
                                )
                        elif key != "ocsp" and stem != issuer:
                            raise fail(
                                f"{kp}[{j}]", f"URL names {stem!r}, the issuing CA is {issuer!r}"
                            )
                    clean[key] = uris
            if type_ == "crl_distribution_points" and not clean.get("uris"):
                raise fail(join(p, "uris"), "at least one URI required")
            if type_ == "authority_info_access":
                if not clean.get("ca_issuers") and not clean.get("ocsp"):
                    raise fail(join(p, "ca_issuers"), "at least one URI required")
                clean.setdefault("ca_issuers", [])
                clean.setdefault("ocsp", [])
        elif type_ == "key_usage":
            kp = join(p, "usages")
            if "usages" not in ext:
                raise fail(kp, "missing")
            usages = []
            for j, u in enumerate(as_list(ext["usages"], kp)):
                name = as_text(u, f"{kp}[{j}]")
                if name not in KEY_USAGES:
                    raise fail(f"{kp}[{j}]", f"unknown key usage {name!r}")
                if name in usages:
                    raise fail(f"{kp}[{j}]", f"duplicate key usage {name!r}")
                usages.append(name)
            if not usages:
                raise fail(kp, "at least one key usage required (RFC 5280 §4.2.1.3)")
            clean["usages"] = usages
        elif type_ == "extended_key_usage":
            kp = join(p, "purposes")
            if "purposes" not in ext:
                raise fail(kp, "missing")
            purposes = [
                as_oid(o, f"{kp}[{j}]") for j, o in enumerate(as_list(ext["purposes"], kp))
            ]
            if not purposes or len(set(purposes)) != len(purposes):
                raise fail(kp, "expected one or more distinct OIDs")
            clean["purposes"] = purposes
        elif type_ == "basic_constraints":
            if "ca" not in ext:
                raise fail(join(p, "ca"), "missing")
            clean["ca"] = as_bool(ext["ca"], join(p, "ca"))
            path_len = ext.get("path_len")
            if path_len is not None:
                if isinstance(path_len, bool) or not isinstance(path_len, int) or path_len < 0:
                    raise fail(join(p, "path_len"), f"expected an integer >= 0, got {path_len!r}")
                if not clean["ca"]:
                    raise fail(join(p, "path_len"), "only a CA may have a path length")
            clean["path_len"] = path_len
        elif type_ == "certificate_policies":
            kp = join(p, "policies")
            policies = []
            for j, pol in enumerate(as_list(ext.get("policies", []), kp)):
                pp = f"{kp}[{j}]"
                pt = as_table(pol, pp)
                require_keys(pt, pp, {"oid"}, {"cps_uris", "user_notices"})
                entry: dict[str, Any] = {"oid": as_oid(pt["oid"], join(pp, "oid"))}
                up = join(pp, "cps_uris")
                entry["cps_uris"] = [
                    as_url(u, f"{up}[{k}]", urls)
                    for k, u in enumerate(as_list(pt.get("cps_uris", []), up))
                ]
                np_ = join(pp, "user_notices")
                entry["user_notices"] = [
                    as_text(t, f"{np_}[{k}]")
                    for k, t in enumerate(as_list(pt.get("user_notices", []), np_))
                ]
                policies.append(entry)
            if not policies:
                raise fail(kp, "at least one policy required")
            clean["policies"] = policies
        elif type_ == "subject_alt_name":
            clean.update(_san_sources(ext, p, san_rules))
        elif type_ == "subject_info_access":
            # The URI schemes (rsync, https for rpkiNotify) are checked when the
            # template compiles, which the loader does for every profile.
            for key in _SIA_LISTS:
                if key in ext:
                    kp = join(p, key)
                    clean[key] = [
                        _rpki_uri(
                            u, f"{kp}[{j}]", urls, "https" if key == "rpki_notify" else "rsync"
                        )
                        for j, u in enumerate(as_list(ext[key], kp))
                    ]
        elif type_ in ca_constraints.KEYS:
            clean.update(ca_constraints.ca_constraint(type_, ext, p))
        elif type_ == "raw":
            oid = as_oid(ext.get("oid"), join(p, "oid"))
            if oid in _TYPED_OIDS:
                raise fail(join(p, "oid"), f"{oid} has a typed entry; use it")
            hex_ = as_text(ext.get("value_hex"), join(p, "value_hex"))
            try:
                bytes.fromhex(hex_)
            except ValueError:
                raise fail(join(p, "value_hex"), "not hex") from None
            clean["oid"] = oid
            clean["value_hex"] = hex_
            dup_key = f"raw:{oid}"
        if dup_key in seen:
            raise fail(p, f"{type_} already listed at {seen[dup_key]}")
        seen[dup_key] = p
        out.append(clean)
    bc = basic_constraints_of(tuple(out))
    if bc is None or not bc["ca"]:
        for i, ext in enumerate(out):
            if ext["type"] in ca_constraints.CA_ONLY:
                raise fail(
                    f"{path}[{i}]",
                    f"{ext['type']} belongs in a CA certificate only (basic_constraints "
                    "ca = true; RFC 5280 §4.2.1.5, §4.2.1.10, §4.2.1.11, §4.2.1.14)",
                )
    return tuple(out)


def _rpki_uri(value: Any, path: str, urls: Mapping[str, str], scheme: str) -> str:
    """An SIA URI: rsync, or https for rpkiNotify (RFC 6487 §4.8.8, RFC 8182 §3.2)."""
    text = as_text(value, path)
    try:
        text = text.format_map(urls)
    except (KeyError, ValueError, IndexError) as exc:
        raise fail(path, f"bad placeholder in {text!r}: {exc}") from None
    parts = urlsplit(text)
    if parts.scheme != scheme or not parts.netloc:
        raise fail(path, f"expected an absolute {scheme} URI, got {text!r}")
    if any(ch.isspace() for ch in text) or not text.isascii():
        raise fail(path, f"URI has spaces or non-ASCII characters: {text!r}")
    return text


def _san_sources(ext: Mapping[str, Any], p: str, san_rules: Collection[str]) -> dict[str, Any]:
    """Where a SAN's values come from: a named ``rule`` (cpcps/san_rules.py), the kinds
    the RA data may give (``from``, docs/ra-data.md) and those it must (``required``).
    The SAN is a per-certificate hole (docs/template-spec.md): without a source every
    certificate would silently lack it, so one of ``rule`` and ``from`` is required."""
    out: dict[str, Any] = {}
    if "rule" not in ext and "from" not in ext:
        raise fail(
            join(p, "rule"),
            'missing; a SAN needs a source of values: rule = "..." or from = [kinds]',
        )
    if "rule" in ext:
        rp = join(p, "rule")
        rule = as_text(ext["rule"], rp)
        if rule not in san_rules:
            known = ", ".join(san_rules) or "none"
            raise fail(rp, f"unknown SAN rule {rule!r}; known: {known}")
        out["rule"] = rule
    for key in ("from", "required"):
        if key not in ext:
            continue
        kp = join(p, key)
        kinds: list[str] = []
        for j, k in enumerate(as_list(ext[key], kp)):
            kind = as_text(k, f"{kp}[{j}]")
            if kind not in SAN_KINDS:
                known = ", ".join(SAN_KINDS)
                raise fail(f"{kp}[{j}]", f"unknown SAN kind {kind!r}; known: {known}")
            if kind in kinds:
                raise fail(f"{kp}[{j}]", f"duplicate SAN kind {kind!r}")
            if key == "required" and kind not in out.get("from", ()):
                raise fail(f"{kp}[{j}]", f"{kind!r} is required but not in from")
            kinds.append(kind)
        if not kinds:
            raise fail(kp, "at least one SAN kind")
        out[key] = kinds
    return out


def key_usage_of(extensions: tuple[Mapping[str, Any], ...]) -> tuple[int, list[str]]:
    for i, ext in enumerate(extensions):
        if ext["type"] == "key_usage":
            return i, list(ext["usages"])
    return -1, []


def san_rule_of(extensions: tuple[Mapping[str, Any], ...]) -> str | None:
    """The SAN rule a profile names, or None when it has none (or no SAN)."""
    for ext in extensions:
        if ext["type"] == "subject_alt_name" and "rule" in ext:
            return str(ext["rule"])
    return None


def san_kinds_of(
    extensions: tuple[Mapping[str, Any], ...],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(from, required): the SAN kinds a profile's RA data may and must give."""
    for ext in extensions:
        if ext["type"] == "subject_alt_name":
            return tuple(ext.get("from", ())), tuple(ext.get("required", ()))
    return (), ()


def basic_constraints_of(extensions: tuple[Mapping[str, Any], ...]) -> Mapping[str, Any] | None:
    for ext in extensions:
        if ext["type"] == "basic_constraints":
            return ext
    return None
