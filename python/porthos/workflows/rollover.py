"""CA key changeover (000 §5.6): the next CA generation and the link certificates.

000 §5.6 replaces *all* CAs by a new generation after five years: from then on only the
new keys sign CA and subscriber certificates, and the old keys are kept and sign only
the CRLs that cover the certificates they signed. The next generation's profile set is
derived from the set as written (porthos.workspace.generations). Two link certificates
join the root generations (000 §7.1.1.2 "Link Root CA Certificate"; RFC 4210 §4.4 root
key update):

* NewWithOld: the new root's key certified by the old root (issuer Root CA 1,
  subject Root CA 2): relying parties that trust only Root CA 1 reach generation 2;
* OldWithNew: the old root's key certified by the new root (issuer Root CA 2, subject
  Root CA 1): relying parties that trust only Root CA 2 still validate the
  certificates generation 1 issued.

Both are stored under their issuing root with profile ``root-link`` (so termination
revokes them like any other certificate) and published in the repository. The
rollover is one store transaction with its audit records (issue 6 "Atomicity"); a
refusal changes nothing and is audited as a failure.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography import x509

from porthos import _native, hsm
from porthos.cpcps.profiles import CaProfile, ProfileSet
from porthos.exceptions import LifecycleError, WorkspaceError
from porthos.issuance import signers
from porthos.issuance.names import subject_text
from porthos.store import audit
from porthos.store.generations import ACTIVE, TERMINATED, ca_states, retire_generation
from porthos.store.sqlite import CaRow, CertificateRow
from porthos.workflows.ca_keys import destroy_hsm_key, hsm_signer, officer_pins, spki_of
from porthos.workspace.generations import attach_generations, generation_profile_set
from porthos.workspace.hierarchy import KEYS_DIR, REPOSITORY_DIR, record_hierarchy, write_private
from porthos.workspace.workspace import Workspace

__all__ = ["RolloverResult", "link_extensions", "rollover"]


def _root_spec(ps: ProfileSet) -> CaProfile:
    return next(s for s in ps.cas.values() if s.self_signed)


def _roots(ps: ProfileSet) -> list[CaProfile]:
    """The self-signed roots, in document order (a PKI may run several)."""
    return [s for s in ps.cas.values() if s.self_signed]


def link_extensions(ps: ProfileSet, root: CaProfile | None = None) -> list[dict[str, Any]]:
    """Extensions of a link certificate issued by the root of ``ps``: the root's own
    (AKI, SKI, KU keyCertSign+cRLSign, BC CA without path length: a link sits above
    the issuing CAs, so no pathLen 0) plus the CDP and AIA every CA certificate of
    that root carries (000 §7.1.2: root CRL and root certificate URLs), in the 000
    §7.1 table order AKI, SKI, CDP, AIA, KU, BC. ``root``: one of several roots
    (default: the first)."""
    root = root or _root_spec(ps)
    child = next((s for s in ps.cas.values() if s.issuer == root.name and s is not root), None)
    pointers = (
        []
        if child is None
        else [
            dict(e)
            for e in child.extensions
            if e["type"] in ("crl_distribution_points", "authority_info_access")
        ]
    )
    out: list[dict[str, Any]] = []
    if not any(e["type"] == "authority_key_identifier" for e in root.extensions):
        # A link certificate is signed by another key than its own: RFC 5280 §4.2.1.1
        # asks the AKI there even when the root, self-signed, carries none.
        out.append({"type": "authority_key_identifier"})
    for ext in root.extensions:
        out.append(dict(ext))
        if ext["type"] == "subject_key_identifier":
            out.extend(pointers)
    return out


def _link_template(ps: ProfileSet, root: CaProfile, issuer_der: bytes) -> _native.Template:
    spec = json.dumps({"extensions": link_extensions(ps, root)}, separators=(",", ":"))
    return _native.Template.for_issuer(spec, issuer_der, root.signature_algorithm)


def _sign_one(
    template: _native.Template,
    signer: signers.Signer,
    *,
    not_before: int,
    not_after: int,
    subject: Sequence[tuple[str, str]],
    spki: bytes,
) -> tuple[bytes, str]:
    serials = _native.generate_serials(1)
    der = bytes(
        signers.issue_certificates(
            template,
            signer,
            serials=serials,
            not_before=np.array([not_before], dtype=np.int64),
            not_after=np.array([not_after], dtype=np.int64),
            subjects=[list(subject)],
            spkis=[spki],
        )[0]
    )
    return der, serials[0].tobytes().hex()


def _remove(paths: Sequence[Path]) -> None:
    for p in reversed(paths):
        p.unlink(missing_ok=True)


@dataclass
class RolloverResult:
    """What a rollover created: the generation, its CAs, the two link certificates."""

    from_generation: int
    generation: int
    cas: list[str]
    retired: list[str]
    #: (kind, issuer CA, path): kind "new-with-old" (new root key, old root signs) or
    #: "old-with-new" (old root key, new root signs), RFC 4210 §4.4.
    links: list[tuple[str, str, Path]] = field(default_factory=list)


def _link_file(subject_ca: str, issuer_ca: str) -> str:
    return f"{subject_ca}-by-{issuer_ca}.crt"


def rollover(
    ws: Workspace,
    *,
    now: int | None = None,
    root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    pin: hsm.Secret | None = None,
    actor: str | None = None,
) -> RolloverResult:
    """Create the next CA generation (000 §5.6): new keys (software, or inside the
    workspace's tokens), the new root and issuing CAs, the two link certificates; the
    old generation is retired. One store transaction with its audit records
    (ca.rollover, ca.keygen, ca.created, ca.link-certificate); on any failure nothing
    is recorded, written files are removed, keys generated in the HSM are destroyed,
    and the failure is audited."""
    actor = actor or audit.default_actor()
    try:
        return _rollover(ws, now, root_pin_halves, pin, actor)
    except Exception as exc:
        audit.record_failure(
            ws.store, audit.Event.CA_ROLLOVER, exc, actor=actor, from_generation=ws.generation
        )
        raise


def _rollover(
    ws: Workspace,
    now: int | None,
    root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None,
    pin: hsm.Secret | None,
    actor: str,
) -> RolloverResult:
    now = int(time.time()) if now is None else int(now)
    states = ca_states(ws.store.conn)
    if any(state.status == TERMINATED for state in states.values()):
        raise LifecycleError(f"{ws.path} is terminated (000 §5.8); there is no rollover after it")
    old_gen = ws.generation
    old_cas = ws.cas_of(old_gen)
    if not old_cas or any(ca.status != ACTIVE for ca in old_cas):
        raise LifecycleError(f"generation {old_gen} is not active; nothing to roll over")
    new_gen = old_gen + 1
    old_ps = ws.profile_sets[old_gen]
    new_ps = generation_profile_set(ws.store.profile_set, ws.env, new_gen)
    clash = [name for name in new_ps.cas if name in states]
    if clash:
        raise LifecycleError(f"CA names of generation {new_gen} already exist: {', '.join(clash)}")
    # Each root of the generation is followed by its successor (derive_generation keeps
    # the document order): one pair of link certificates per root.
    old_roots = [ws.ca(s.name) for s in _roots(old_ps)]
    new_roots = _roots(new_ps)
    if len(old_roots) != len(new_roots):
        raise WorkspaceError(
            f"generation {new_gen} has {len(new_roots)} roots, generation {old_gen} "
            f"{len(old_roots)}: each root needs its successor"
        )
    for spec in new_ps.cas.values():
        issuer_spec = new_ps.cas[spec.issuer]
        if not issuer_spec.self_signed:
            raise WorkspaceError(
                f"CA {spec.name} is issued by {spec.issuer}; rollover supports roots and "
                "issuing CAs directly under them (000 §1.1)"
            )
        if spec.validity.not_after(now) > issuer_spec.validity.not_after(now):
            raise WorkspaceError(f"CA {spec.name} would outlive its issuer {spec.issuer}")

    keys: dict[str, _native.SoftwareKey] = {}
    #: The old roots' signers (by old name) and the new roots' (by new name).
    old_signers: dict[str, signers.Signer] = {}
    new_signers: dict[str, signers.Signer] = {}
    spkis: dict[str, bytes] = {}
    generated_in_hsm: list[tuple[str, str, hsm.Secret]] = []  # (token, label, pin)
    written: list[Path] = []
    opened: list[signers.Pkcs11Signer] = []
    hsm_mode = ws.hsm is not None
    root_activated = False
    try:
        # 1. Keys first (000 §6.1.1): software, or generated inside the tokens.
        if hsm_mode:
            assert ws.hsm is not None
            root_pin, officers, issuing_pin = officer_pins(ws, root_pin_halves, pin, "a rollover")
            ws.hsm.activate_module(ws.path)
            root_activated = True
            # 000 §5.4.1, §6.2.2: the activation names both officers (never the PIN).
            audit.record(
                ws.store,
                audit.Event.HSM_ACTIVATION,
                actor=actor,
                token=ws.hsm.root_token,
                role="root",
                officers=officers,
                purpose=f"rollover to CA generation {new_gen}",
            )
            for spec in new_ps.cas.values():
                token = ws.hsm.root_token if spec.self_signed else ws.hsm.issuing_token
                key_pin = root_pin if spec.self_signed else issuing_pin
                # 000 §6.2.6: a workspace made with transferable keys keeps them so.
                spkis[spec.name] = hsm.generate_key(
                    ws.hsm.module,
                    token,
                    key_pin,
                    spec.name,
                    spec.key_type,
                    transferable=ws.hsm.transferable_keys,
                )
                # Its ca.keygen record is written with the new CAs (_record_hierarchy).
                generated_in_hsm.append((token, spec.name, key_pin))
            for old_root, new_spec in zip(old_roots, new_roots, strict=True):
                # An adopted root's key keeps the label it came with (porthos adopt).
                label = old_root.hsm_ref.label if old_root.hsm_ref else old_root.name
                old_signer = hsm_signer(
                    ws,
                    label,
                    old_root.spec,
                    ws.hsm.root_token,
                    root_pin,
                    spki_of(old_root.certificate),
                )
                opened.append(old_signer)
                new_signer = hsm_signer(
                    ws,
                    new_spec.name,
                    new_spec,
                    ws.hsm.root_token,
                    root_pin,
                    spkis[new_spec.name],
                )
                opened.append(new_signer)
                old_signers[old_root.name] = old_signer
                new_signers[new_spec.name] = new_signer
        else:
            for spec in new_ps.cas.values():
                keys[spec.name] = _native.SoftwareKey.generate(
                    spec.key_type, spec.signature_algorithm
                )
                spkis[spec.name] = keys[spec.name].public_key_der()
            for old_root, new_spec in zip(old_roots, new_roots, strict=True):
                old_signers[old_root.name] = old_root.key
                new_signers[new_spec.name] = keys[new_spec.name]

        # 2. The new hierarchy, each CA signed by its new root only (000 §5.6).
        ders: dict[str, bytes] = {}
        for spec in new_ps.cas.values():
            root_spec = new_ps.cas[spec.issuer]
            if spec.self_signed:
                template = _native.Template(
                    spec.template_spec_json(),
                    _native.encode_name(
                        list(spec.subject),
                        None if spec.name_strings is None else dict(spec.name_strings),
                    ),
                    _native.key_identifier(spkis[spec.name]),
                    spec.signature_algorithm,
                )
            else:
                template = _native.Template.for_issuer(
                    spec.template_spec_json(),
                    ders[root_spec.name],
                    root_spec.signature_algorithm,
                )
            ders[spec.name], _ = _sign_one(
                template,
                new_signers[root_spec.name],
                not_before=now,
                not_after=spec.validity.not_after(now),
                subject=spec.subject,
                spki=spkis[spec.name],
            )
        # 3. Link certificates, one pair per root (000 §7.1.1.2; RFC 4210 §4.4).
        # Neither outlives the old root: after that, nobody needs a bridge to or from
        # the old generation.
        links: list[tuple[str, str, str, bytes, str, str]] = []
        for old_root, new_spec in zip(old_roots, new_roots, strict=True):
            new_root_der = ders[new_spec.name]
            link_not_after = min(old_root.not_after, new_spec.validity.not_after(now))
            new_with_old, nwo_serial = _sign_one(
                _link_template(old_ps, old_root.spec, old_root.certificate),
                old_signers[old_root.name],
                not_before=now,
                not_after=link_not_after,
                subject=new_spec.subject,
                spki=spkis[new_spec.name],
            )
            old_with_new, own_serial = _sign_one(
                _link_template(new_ps, new_spec, new_root_der),
                new_signers[new_spec.name],
                not_before=now,
                not_after=link_not_after,
                subject=old_root.spec.subject,
                spki=spki_of(old_root.certificate),
            )
            links += [
                (
                    "new-with-old",
                    old_root.name,
                    new_spec.name,
                    new_with_old,
                    nwo_serial,
                    subject_text(new_spec.subject),
                ),
                (
                    "old-with-new",
                    new_spec.name,
                    old_root.name,
                    old_with_new,
                    own_serial,
                    subject_text(old_root.spec.subject),
                ),
            ]

        # 4. Files: keys (0600, never overwriting) and the repository.
        rows = []
        for spec in new_ps.cas.values():
            if hsm_mode:
                assert ws.hsm is not None
                token = ws.hsm.root_token if spec.self_signed else ws.hsm.issuing_token
                key_ref = hsm.HsmKeyRef(token, spec.name).uri()
            else:
                key_ref = f"{KEYS_DIR}/{spec.name}.p8"
                try:
                    write_private(ws.path / key_ref, keys[spec.name].to_pkcs8())
                except FileExistsError:
                    raise WorkspaceError(f"{ws.path / key_ref} exists already") from None
                written.append(ws.path / key_ref)
            crt = ws.path / REPOSITORY_DIR / f"{spec.name}.crt"
            crt.write_bytes(ders[spec.name])
            written.append(crt)
            rows.append(
                CaRow(
                    name=spec.name,
                    env=ws.env,
                    subject=subject_text(spec.subject),
                    certificate=ders[spec.name],
                    key_ref=key_ref,
                    key_type=spec.key_type,
                    parent=spec.issuer,
                    created_at=now,
                )
            )
        link_paths = []
        for kind, issuer, subject_ca, der, _serial, _subject in links:
            path = ws.path / REPOSITORY_DIR / _link_file(subject_ca, issuer)
            path.write_bytes(der)
            written.append(path)
            link_paths.append((kind, issuer, path))

        # 5. One transaction: the generation, the retirement, the links, the records.
        store = ws.store
        mode = "hsm" if hsm_mode else "software"
        with store.transaction() as conn:
            audit.record(
                store,
                audit.Event.CA_ROLLOVER,
                actor=actor,
                from_generation=old_gen,
                to_generation=new_gen,
                retired=[ca.name for ca in old_cas],
                created=list(new_ps.cas),
                mode=mode,
            )
            record_hierarchy(
                store,
                rows,
                mode=mode,
                generation=new_gen,
                transferable=ws.hsm is not None and ws.hsm.transferable_keys,
            )
            retire_generation(conn, old_gen)
            for kind, issuer, subject_ca, der, serial, subject in links:
                cert = x509.load_der_x509_certificate(der)
                store.insert_certificates(
                    issuer,
                    [
                        CertificateRow(
                            serial,
                            subject,
                            new_ps.generations.link_profile,
                            now,
                            int(cert.not_valid_after_utc.timestamp()),
                            der,
                            now,
                            hashlib.sha256(spki_of(der)).digest(),
                        )
                    ],
                )
                audit.record(
                    store,
                    audit.Event.CA_LINK_CERTIFICATE,
                    actor=actor,
                    subject=subject,
                    serial=serial,
                    ca=issuer,
                    kind=kind,
                    certified_key_of=subject_ca,
                    not_after=int(cert.not_valid_after_utc.timestamp()),
                    file=_link_file(subject_ca, issuer),
                    fingerprint_sha256=hashlib.sha256(der).hexdigest(),
                )
    except BaseException:
        _remove(written)
        if generated_in_hsm and ws.hsm is not None:
            for token, label, key_pin in generated_in_hsm:
                try:
                    destroy_hsm_key(ws, token, label, key_pin)
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
        raise
    finally:
        for s in opened:
            s.close()
        if root_activated and ws.hsm is not None:
            audit.record(
                ws.store,
                audit.Event.HSM_DEACTIVATION,
                actor=actor,
                token=ws.hsm.root_token,
                role="root",
            )

    attach_generations(ws)
    return RolloverResult(
        from_generation=old_gen,
        generation=new_gen,
        cas=list(new_ps.cas),
        retired=[ca.name for ca in old_cas],
        links=link_paths,
    )
