"""Cross-certificate profiles: ``[cross_profiles.<name>]``, the CA certificates one of
our CAs issues to an *external* CA's PKCS#10 request (RFC 5280 §3.2 cross-certificates;
a bridge-certified PKI's CP prints one table per partner). Validated at load like the
CA profiles (loader.py calls :func:`cross_profiles_table`).

TOML (docs/cpcps.md)::

    [cross_profiles.<name>]
    section = "10.1.1"                 # the CP/CPS table it follows
    issuer = "<one of our CAs>"        # the only CA that may sign it
    validity = { years = 10 }
    signature_algorithm = "..."        # must be the issuer CA's own (its key signs)
    key_types = ["rsa-4096"]           # subject keys accepted from the request
    subject = [["C", "US"], ...]       # optional: the partner's DN, fixed; without it
                                       # the request's subject is used
    max_path_len = 2                   # optional: the largest pathLenConstraint the
                                       # certificate may carry (request or profile)
    approval = { persons = 2, roles = ["..."], section = "5.2.2" }
                                       # optional: the persons who approve each one
                                       # (cpcps/approval.py), named at cross-certify
    name_strings = { CN = "printable" }  # optional: the partner's string types
                                       # (cpcps/name_strings.py), used when the
                                       # request's own cannot be repeated
    extensions = [ ... ]               # the CA extension grammar (extensions.py,
                                       # ca_constraints.py); basic_constraints ca = true

What the request may ask for is checked at issuance against this data
(porthos.issuance.ca_request): a larger pathLen, or a wider or missing permitted name
space, is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porthos.cpcps.approval import ApprovalRule, approval_rule
from porthos.cpcps.extensions import basic_constraints_of, extensions, key_usage_of
from porthos.cpcps.fields import (
    NAME_RE,
    as_list,
    as_name,
    as_table,
    as_text,
    as_validity,
    fail,
    join,
    require_keys,
)
from porthos.cpcps.name_strings import check_name, name_strings_table
from porthos.cpcps.policy import KEY_TYPE_NAMES
from porthos.cpcps.profiles import CaProfile, Validity
from porthos.cpcps.template_spec import spec_json

__all__ = ["CrossProfile", "cross_profiles_table"]


@dataclass(frozen=True)
class CrossProfile:
    """One cross-certificate profile (a CA certificate for an external CA)."""

    name: str
    section: str
    issuer: str
    validity: Validity
    signature_algorithm: str
    key_types: tuple[str, ...]
    extensions: tuple[Mapping[str, Any], ...]
    #: The partner CA's fixed subject (DER order), or None: the request's subject.
    subject: tuple[tuple[str, str], ...] | None
    #: The largest pathLenConstraint allowed (None: no limit beyond the extensions').
    max_path_len: int | None
    #: String type per attribute of the partner's name (None: the encoder's defaults);
    #: the request's own types come first (workflows/cross_certification.py).
    name_strings: Mapping[str, str] | None = None
    #: The persons who approve each certificate (RFC 3647 §5.2.2); None: no approval.
    approval: ApprovalRule | None = None
    #: The outside text this profile reads where the CP/CPS defers (None: the CP/CPS).
    reading: str | None = None

    @property
    def path_len(self) -> int | None:
        """The basic_constraints path_len the data fixes (None: not fixed)."""
        bc = basic_constraints_of(self.extensions)
        return None if bc is None else bc.get("path_len")

    @property
    def path_len_limit(self) -> int | None:
        """The largest pathLen a request may ask for (None: any)."""
        return self.path_len if self.path_len is not None else self.max_path_len

    @property
    def permitted(self) -> list[dict[str, Any]]:
        """The permitted subtrees of the profile's name_constraints (``permitted``;
        ``permitted_subject_rdns`` is resolved per certificate), [] without one."""
        for e in self.extensions:
            if e["type"] == "name_constraints":
                return list(e.get("permitted", []))
        return []

    @property
    def permitted_subject_rdns(self) -> int | None:
        for e in self.extensions:
            if e["type"] == "name_constraints":
                n = e.get("permitted_subject_rdns")
                return None if n is None else int(n)
        return None

    def template_spec_json(
        self,
        subject: tuple[tuple[str, str], ...],
        *,
        key_id: bytes | None,
        path_len: int | None,
        name_strings: Mapping[str, str] | None = None,
    ) -> str:
        """The spec of one cross certificate: ``key_id`` fixes the SKI (the request's;
        None: computed from the key, RFC 5280 §4.2.1.2 method 1), ``path_len`` is the
        pathLenConstraint decided for it, ``subject`` resolves permitted_subject_rdns,
        ``name_strings`` encodes the subject (and that directoryName)."""
        exts: list[Mapping[str, Any]] = []
        for e in self.extensions:
            if e["type"] == "subject_key_identifier" and key_id is not None:
                e = {**e, "key_id_hex": key_id.hex()}
            elif e["type"] == "basic_constraints":
                e = {**e, "path_len": path_len}
            exts.append(e)
        return spec_json(exts, subject=subject, name_strings=name_strings)


def _key_types(value: Any, path: str) -> tuple[str, ...]:
    out: list[str] = []
    for j, k in enumerate(as_list(value, path)):
        name = as_text(k, f"{path}[{j}]")
        if name not in KEY_TYPE_NAMES:
            raise fail(f"{path}[{j}]", f"unknown key type {name!r}")
        if name in out:
            raise fail(f"{path}[{j}]", f"duplicate key type {name!r}")
        out.append(name)
    if not out:
        raise fail(path, "at least one key type required")
    return tuple(out)


def _cross_profile(
    name: str, raw: Any, path: str, cas: Mapping[str, CaProfile], urls: Mapping[str, str]
) -> CrossProfile:
    t = as_table(raw, path)
    require_keys(
        t,
        path,
        {"section", "issuer", "validity", "signature_algorithm", "key_types", "extensions"},
        {"subject", "max_path_len", "name_strings", "approval", "reading"},
    )
    issuer = as_text(t["issuer"], join(path, "issuer"))
    if issuer not in cas:
        raise fail(join(path, "issuer"), f"unknown CA {issuer!r}")
    ca = cas[issuer]
    sig = as_text(t["signature_algorithm"], join(path, "signature_algorithm"))
    if sig != ca.signature_algorithm:
        # The issuer's key is loaded (file or HSM) for its own algorithm only.
        raise fail(
            join(path, "signature_algorithm"),
            f"{sig!r} is not the algorithm of CA {issuer} ({ca.signature_algorithm!r})",
        )
    strings = None
    if "name_strings" in t:
        strings = name_strings_table(t["name_strings"], join(path, "name_strings"))
    subject = None
    if "subject" in t:
        subject = as_name(t["subject"], join(path, "subject"))
        if not subject:
            raise fail(join(path, "subject"), "a CA subject must not be empty (RFC 5280 §4.1.2.6)")
        check_name(subject, strings, join(path, "subject"))
    max_path_len = t.get("max_path_len")
    if max_path_len is not None and (
        isinstance(max_path_len, bool) or not isinstance(max_path_len, int) or max_path_len < 0
    ):
        raise fail(join(path, "max_path_len"), f"expected an integer >= 0, got {max_path_len!r}")
    ep = join(path, "extensions")
    exts = extensions(t["extensions"], ep, urls, issuer, allow_shards=False)
    bc = basic_constraints_of(exts)
    if bc is None or not bc["ca"]:
        raise fail(ep, "a cross certificate is a CA certificate: basic_constraints ca = true")
    if bc.get("path_len") is not None and max_path_len is not None:
        if bc["path_len"] > max_path_len:
            raise fail(ep, f"basic_constraints path_len {bc['path_len']} > max_path_len")
    _, usages = key_usage_of(exts)
    if "key_cert_sign" not in usages:
        raise fail(ep, "a CA needs key_usage key_cert_sign (RFC 5280 §4.2.1.3)")
    for i, e in enumerate(exts):
        n = e.get("permitted_subject_rdns") if e["type"] == "name_constraints" else None
        if n is not None and subject is not None and n > len(subject):
            raise fail(
                f"{ep}[{i}].permitted_subject_rdns", f"{n} RDNs asked, subject has {len(subject)}"
            )
    validity = as_validity(t["validity"], join(path, "validity"))
    if validity.not_after(0) > ca.validity.not_after(0):
        raise fail(join(path, "validity"), f"longer than its issuer CA {issuer}")
    return CrossProfile(
        name=name,
        section=as_text(t["section"], join(path, "section")),
        issuer=issuer,
        validity=validity,
        signature_algorithm=sig,
        key_types=_key_types(t["key_types"], join(path, "key_types")),
        extensions=exts,
        subject=subject,
        max_path_len=max_path_len,
        name_strings=strings,
        approval=approval_rule(t["approval"], join(path, "approval")) if "approval" in t else None,
        reading=as_text(t["reading"], join(path, "reading")) if "reading" in t else None,
    )


def cross_profiles_table(
    value: Any,
    path: str,
    cas: Mapping[str, CaProfile],
    urls: Mapping[str, str],
    taken: Mapping[str, object],
) -> dict[str, CrossProfile]:
    """``[cross_profiles]``: name -> CrossProfile. A name is also the stem of the
    published file (``W/repository/<name>.crt``), so it may not be a CA's or a
    certificate profile's (``taken``)."""
    out: dict[str, CrossProfile] = {}
    for name, raw in as_table(value, path).items():
        p = f"{path}.{name}"
        if not NAME_RE.fullmatch(name):
            raise fail(p, "cross profile names are lower-case letters, digits and '-'")
        if name in cas or name in taken:
            raise fail(p, f"{name!r} is already a CA or profile name")
        out[name] = _cross_profile(name, raw, p, cas, urls)
    return out
