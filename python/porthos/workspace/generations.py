"""CA generations of a workspace (RFC 3647 §5.6 key changeover): the profile set of each
generation, derived from the set as written, and the state of every CA in it.

A key changeover replaces *all* CAs by a new generation: from then on only the new keys
sign CA and subscriber certificates, and the old keys sign only the CRLs that cover the
certificates they signed. porthos derives the next generation from the profile set
itself (no second set of CA tables): every CA name and CA common name takes the
generation number as the CP/CPS's ``[generations]`` patterns say
(cpcps.profiles.GenerationNaming), and every CDP/AIA URL naming a generation-1 file
names the generation-n file. Profiles keep their names; their issuer
resolves to the CA of the active generation. The rollover itself (new keys, link
certificates) is a workflow: porthos.workflows.rollover.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from porthos.cpcps.loader import build_profile_set, load_profile_set, profile_set_text
from porthos.cpcps.ocsp_table import OcspCa
from porthos.cpcps.profiles import CaProfile, GenerationNaming, ProfileSet
from porthos.exceptions import LifecycleError, ProfileError, WorkspaceError
from porthos.store.generations import ACTIVE, RETIRED, TERMINATED, ca_states
from porthos.store.sqlite import CaRow

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "attach_generations",
    "check_may_issue",
    "derive_generation",
    "generation_profile_set",
    "ocsp_entry",
    "responder_profile",
]


def _rename_url(url: str, rename: Mapping[str, str]) -> str:
    """A CDP/AIA URL naming a CA's file (``.../<ca>.crl``, or a shard
    ``.../<ca>-{shard}.crl``) names the same file of the renamed CA."""
    head, sep, tail = url.rpartition("/")
    for old in sorted(rename, key=len, reverse=True):
        if tail.startswith(old) and tail[len(old) : len(old) + 1] in (".", "-"):
            return f"{head}{sep}{rename[old]}{tail[len(old) :]}"
    return url


def _rename_extension(ext: Mapping[str, Any], rename: Mapping[str, str]) -> dict[str, Any]:
    out = dict(ext)
    for key in ("uris", "ca_issuers"):
        if key in out:
            out[key] = [_rename_url(u, rename) for u in out[key]]
    return out


def derive_generation(
    doc: Mapping[str, Any], generation: int, naming: GenerationNaming
) -> dict[str, Any]:
    """The profile-set document of a CA generation (RFC 3647 §5.6), from the generation-1
    document and its ``naming`` (the loaded set's ``generations``): CA names, CA common
    names, issuers and CDP/AIA URLs renamed; algorithms, validities and extensions
    unchanged (§6.1.5: the strength is re-evaluated before
    a rollover, which is a change of the profile set, not of this derivation)."""
    if generation < 1:
        raise ProfileError(f"CA generations count from 1, got {generation}")
    out = copy.deepcopy(dict(doc))
    cas = out.get("cas")
    if not isinstance(cas, dict):
        raise ProfileError("cas: expected a table")
    rename = {name: naming.ca_name(name, generation) for name in cas}
    new_cas: dict[str, Any] = {}
    for name, table in cas.items():
        t = dict(table)
        t["issuer"] = rename.get(t.get("issuer", ""), t.get("issuer"))
        subjects = {}
        for env, subject in dict(t.get("subject", {})).items():
            attrs = [list(a) for a in subject]
            # The CN carries the generation number; a DN without one (a root named
            # C, O, OU) carries it in its most specific attribute, the last.
            cns = [a for a in attrs if a and a[0] == "CN"] or attrs[-1:]
            if not cns:
                raise ProfileError(
                    f"cas.{name}.subject.{env}: no attribute to carry the generation number "
                    "(a key changeover, RFC 3647 §5.6, needs distinct names per CA generation)"
                )
            for a in cns:
                a[1] = naming.ca_common_name(a[1], generation)
            subjects[env] = attrs
        t["subject"] = subjects
        t["extensions"] = [_rename_extension(e, rename) for e in t.get("extensions", [])]
        new_cas[rename[name]] = t
    out["cas"] = new_cas
    # Certificate and cross profiles follow their issuing CA into the new generation.
    for section in ("profiles", "cross_profiles"):
        if section not in out:
            continue
        profiles = {}
        for name, table in dict(out[section]).items():
            t = dict(table)
            t["issuer"] = rename.get(t.get("issuer", ""), t.get("issuer"))
            t["extensions"] = [_rename_extension(e, rename) for e in t.get("extensions", [])]
            profiles[name] = t
        out[section] = profiles
    # The OCSP service of a CA (``[ocsp.cas.<ca>]``) follows it too.
    ocsp = out.get("ocsp")
    if isinstance(ocsp, dict) and isinstance(ocsp.get("cas"), dict):
        ocsp = dict(ocsp)
        ocsp["cas"] = {rename.get(name, name): t for name, t in ocsp["cas"].items()}
        out["ocsp"] = ocsp
    return out


_SET_CACHE: dict[tuple[str, str, int], ProfileSet] = {}


def generation_profile_set(name: str, env: str, generation: int) -> ProfileSet:
    """The validated profile set of one CA generation (generation 1: the set as written)."""
    first = load_profile_set(name, env)
    if generation == 1:
        return first
    key = (name, env, generation)
    ps = _SET_CACHE.get(key)
    if ps is None:
        text, source = profile_set_text(name)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{source}: not valid TOML: {exc}") from None
        ps = build_profile_set(derive_generation(doc, generation, first.generations), env)
        _SET_CACHE[key] = ps
    return ps


#: How a workspace makes the object of a CA it finds in the store.
CaFactory = Callable[["Workspace", CaProfile, CaRow], "CertificateAuthority"]


def attach_generations(ws: Workspace, ca_class: CaFactory | None = None) -> None:
    """Give a workspace the CAs of every generation in its store, each with its
    generation, status and profile set, and make the newest generation that still has
    an active CA the one profiles resolve to (RFC 3647 §5.6). ``ca_class`` makes the
    CA objects the workspace does not have yet (by default: the class of those it has;
    passed in because this module sits below CertificateAuthority's and must not
    import it back)."""
    if ca_class is None:
        ca_class = type(next(iter(ws._cas.values())))
    states = ca_states(ws.store.conn)
    generations = sorted({state.generation for state in states.values()}) or [1]
    rows: dict[str, CaRow] | None = None
    for gen in generations:
        ps = ws.profile_sets.get(gen)
        if ps is None:
            ps = generation_profile_set(ws.store.profile_set, ws.store.env, gen)
            ws.profile_sets[gen] = ps
        for name, spec in ps.cas.items():
            ca = ws._cas.get(name)
            if ca is None:
                if rows is None:
                    rows = {r.name: r for r in ws.store.cas()}
                row = rows.get(name)
                if row is None:
                    raise WorkspaceError(
                        f"{ws.path}: CA {name} of generation {gen} is missing from the store"
                    )
                ca = ca_class(ws, spec, row)
                ws._cas[name] = ca
            ca.profile_set = ps
            ca.generation = gen
            state = states.get(name)
            ca.status = ACTIVE if state is None else state.status
    active = [g for g in generations if any(ca.status == ACTIVE for ca in ws.cas_of(g))]
    ws.generation = max(active) if active else max(generations)
    ws.profile_set = ws.profile_sets[ws.generation]


def check_may_issue(ca: CertificateAuthority, profile: str | None = None) -> None:
    """Refuse certificate issuance by a CA that is not active. One exception: a
    retired CA certifies its own delegated OCSP responder (the ``[ocsp]`` responder
    profile of its generation's data): RFC 6960 §4.2.2.2 wants that certificate
    "issued directly by the CA that is identified in the request", so the old key is
    the only one that can delegate the status of the certificates it issued, which it
    still publishes (its CRLs, §5.6)."""
    if ca.status == RETIRED and profile is not None and profile == responder_profile(ca):
        return
    if ca.status == RETIRED:
        # RFC 3647 §5.6: after a key changeover only the new key signs CA and
        # subscriber certificates; the old key signs only CRLs.
        active = ", ".join(c.name for c in ca.workspace.cas_of(ca.workspace.generation))
        raise LifecycleError(
            f"CA {ca.name} (generation {ca.generation}) is retired by the rollover to "
            f"generation {ca.workspace.generation}: its key signs only the CRLs covering "
            f"its certificates (key changeover, RFC 3647 §5.6); new certificates come "
            f"from {active}"
        )
    if ca.status == TERMINATED:
        raise LifecycleError(
            f"CA {ca.name} is terminated (CA termination, RFC 3647 §5.8); it issues nothing"
        )


def ocsp_entry(ca: CertificateAuthority) -> OcspCa | None:
    """The ``[ocsp]`` entry of ``ca`` in its own generation's data (a retired CA keeps
    the one it was issued under), None when it answers no OCSP."""
    policy = ca.profile_set.ocsp
    return None if policy is None else policy.for_ca(ca.name)


def responder_profile(ca: CertificateAuthority) -> str | None:
    """The profile of ``ca``'s delegated OCSP responder in its generation's data; None
    when it has none (no ``[ocsp]`` entry, or it signs its own responses)."""
    spec = ocsp_entry(ca)
    return None if spec is None else spec.responder_profile
