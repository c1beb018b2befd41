"""A new CA hierarchy on disk: the CA keys, the self-signed root and the CAs it signs,
the store that records them, the published CA certificates. Workspace.init creates one
with software keys or with keys generated in PKCS#11 tokens; a CA changeover (RFC 3647
§5.6) records the next generation with ``record_hierarchy``.

A workspace is a directory:

    W/porthos.sqlite            the store (store/sqlite.py); its presence means "initialised"
    W/keys/<ca>.p8              software CA keys, PKCS#8 DER, mode 0600 (software mode)
    W/hsm/                      HSM mode: hsm.json (module, tokens) and, for SoftHSM2, its
                                configuration and token store; the store's key_ref is then
                                an RFC 7512 PKCS#11 URI naming token and key label
    W/repository/<ca>.crt       each CA certificate, DER, under the file name its AIA
                                URL uses (the CP/CPS's repository section, RFC 3647 §2.1)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography import x509

from porthos import __version__, _native, hsm
from porthos.cpcps.profiles import CaProfile, ProfileSet
from porthos.exceptions import WorkspaceError
from porthos.issuance import signers
from porthos.issuance.names import subject_text
from porthos.store import audit
from porthos.store.location import STORE_FILE, create_store
from porthos.store.sqlite import CaRow, Store

__all__ = [
    "KEYS_DIR",
    "REPOSITORY_DIR",
    "STORE_FILE",
    "create_hsm_hierarchy",
    "create_software_hierarchy",
    "record_hierarchy",
    "write_private",
]

KEYS_DIR = "keys"
REPOSITORY_DIR = "repository"


def record_hierarchy(
    store: Store,
    rows: Sequence[CaRow],
    *,
    mode: str,
    generation: int = 1,
    transferable: bool = False,
) -> None:
    """Store the CAs of a new hierarchy (or CA generation, RFC 3647 §5.6) with their audit
    records, in one transaction (RFC 3647 §5.4.1: CA key generation and CA certificate
    lifecycle events)."""
    extra: dict[str, Any] = {}
    if mode == "hsm":
        # RFC 3647 §6.2.6: whether the key may ever leave the HSM (wrapped under a key the
        # Security Officer trusts) or never (RFC 3647 §6.1.1).
        extra["extractable"] = "wrap-with-trusted only" if transferable else "never"
    with store.transaction():
        store.add_cas(rows, generation=generation)
        for r in rows:
            cert = x509.load_der_x509_certificate(r.certificate)
            audit.record(
                store,
                audit.Event.CA_KEYGEN,
                subject=r.subject,
                ca=r.name,
                key_type=r.key_type,
                key_ref=r.key_ref,
                mode=mode,
                **extra,
            )
            audit.record(
                store,
                audit.Event.CA_CREATED,
                subject=r.subject,
                serial=format(cert.serial_number, "x"),
                ca=r.name,
                issuer=r.parent,
                not_after=int(cert.not_valid_after_utc.timestamp()),
                fingerprint_sha256=hashlib.sha256(r.certificate).hexdigest(),
            )
        audit.note_software_version(store, __version__)


def write_private(path: Path, data: bytes) -> None:
    """Create a new file readable by the owner only (0600) and write data to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass
class _Built:
    spec: CaProfile
    key: _native.SoftwareKey
    der: bytes
    files: list[Path] = field(default_factory=list)


def create_software_hierarchy(
    root: Path,
    env: str,
    ps: ProfileSet,
    profile_set: str,
    now: int,
    store_url: str | None = None,
    store_password_file: str | os.PathLike[str] | None = None,
) -> Store:
    """Software mode of Workspace.init: every CA key generated here and kept as a 0600
    PKCS#8 file. Everything is built in memory first and the files are written last,
    so a failed init leaves no half workspace. Returns the new store."""
    built: dict[str, _Built] = {}
    for spec in ps.cas.values():
        key = _native.SoftwareKey.generate(spec.key_type, spec.signature_algorithm)
        spki = key.public_key_der()
        not_after = spec.validity.not_after(now)
        if spec.self_signed:
            signer = key
            template = _native.Template(
                spec.template_spec_json(),
                _native.encode_name(
                    list(spec.subject),
                    None if spec.name_strings is None else dict(spec.name_strings),
                ),
                _native.key_identifier(spki),
                key.signature_algorithm,
            )
        else:
            parent = built[spec.issuer]
            signer = parent.key
            template = _native.Template.for_issuer(
                spec.template_spec_json(), parent.der, parent.key.signature_algorithm
            )
            parent_not_after = parent.spec.validity.not_after(now)
            if not_after > parent_not_after:
                raise WorkspaceError(f"CA {spec.name} would outlive its issuer {parent.spec.name}")
        der = template.issue(
            signer,
            serials=_native.generate_serials(1),
            not_before=[now],
            not_after=[not_after],
            subjects=[list(spec.subject)],
            spkis=[spki],
        )[0]
        built[spec.name] = _Built(spec, key, der)

    # Everything is built in memory first; files are written only now, and removed
    # again if anything below fails, so a failed init leaves no half workspace.
    created: list[Path] = []
    try:
        for sub in ("", KEYS_DIR, REPOSITORY_DIR):
            d = root / sub
            if not d.exists():
                d.mkdir(parents=True, mode=0o700 if sub == KEYS_DIR else 0o755)
                created.append(d)
            if sub == KEYS_DIR:
                # An existing keys folder (made by hand, or left by an earlier try) gets
                # the same 0700 as a new one: the files' 0600 does not hide their names,
                # and a folder others may write lets them swap a key file (issue 20 §3).
                d.chmod(0o700)
        rows = []
        for name, b in built.items():
            key_rel = f"{KEYS_DIR}/{name}.p8"
            try:
                write_private(root / key_rel, b.key.to_pkcs8())
            except FileExistsError:
                raise WorkspaceError(
                    f"{root / key_rel} exists: not an empty workspace directory"
                ) from None
            created.append(root / key_rel)
            crt = root / REPOSITORY_DIR / f"{name}.crt"
            crt.write_bytes(b.der)
            created.append(crt)
            rows.append(
                CaRow(
                    name=name,
                    env=env,
                    subject=subject_text(b.spec.subject),
                    certificate=b.der,
                    key_ref=key_rel,
                    key_type=b.spec.key_type,
                    parent=b.spec.issuer,
                    created_at=now,
                )
            )
        store, store_file = create_store(
            root,
            env=env,
            profile_set=profile_set,
            url=store_url,
            password_file=store_password_file,
        )
        if store_file is not None:
            created.append(store_file)
        try:
            record_hierarchy(store, rows, mode="software")
        except BaseException:
            store.discard()
            raise
    except BaseException:
        for p in reversed(created):
            if p.is_dir():
                try:
                    p.rmdir()
                except OSError:
                    pass
            else:
                p.unlink(missing_ok=True)
                for suffix in ("-wal", "-shm"):
                    Path(str(p) + suffix).unlink(missing_ok=True)
        raise
    return store


def _sign_under_root(
    spec: CaProfile,
    root_spec: CaProfile,
    root_signer: signers.Pkcs11Signer,
    spki: bytes,
    ders: dict[str, bytes],
    now: int,
) -> bytes:
    """One CA certificate signed by the root key in the token: the root's own
    (self-signed) or that of an issuing CA directly under it."""
    if spec.self_signed:
        template = _native.Template(
            spec.template_spec_json(),
            _native.encode_name(
                list(spec.subject),
                None if spec.name_strings is None else dict(spec.name_strings),
            ),
            _native.key_identifier(spki),
            spec.signature_algorithm,
        )
    else:
        if spec.validity.not_after(now) > root_spec.validity.not_after(now):
            raise WorkspaceError(f"CA {spec.name} would outlive its issuer")
        # The root signs: its algorithm, not the issuing CA's (they differ in a PKI
        # whose root and issuing CAs have different key types).
        template = _native.Template.for_issuer(
            spec.template_spec_json(), ders[root_spec.name], root_spec.signature_algorithm
        )
    return signers.issue_certificates(
        template,
        root_signer,
        serials=_native.generate_serials(1),
        not_before=np.array([now], dtype=np.int64),
        not_after=np.array([spec.validity.not_after(now)], dtype=np.int64),
        subjects=[list(spec.subject)],
        spkis=[spki],
    )[0]


def create_hsm_hierarchy(
    root: Path,
    env: str,
    ps: ProfileSet,
    profile_set: str,
    now: int,
    setup: hsm.HsmSetup,
    store_url: str | None = None,
    store_password_file: str | os.PathLike[str] | None = None,
) -> Store:
    """HSM mode of init: every CA key generated inside a token, the root key in its
    own token under the officers' dual-control PIN, used once (for its own
    certificate and the issuing-CA certificates) and its session closed."""
    for d in (root, root / REPOSITORY_DIR):
        d.mkdir(parents=True, exist_ok=True)
    pin, officers = hsm.dual_control_pin(setup.root_pin_halves)
    conf_rel: str | None = None
    if setup.softhsm:
        conf = hsm.softhsm_conf(root / "hsm")
        hsm.use_softhsm_conf(conf)
        conf_rel = str(conf.relative_to(root.resolve()))
    module = str(hsm.find_module(setup.module))
    hsm.load_module(module)
    hsm.init_token(module, setup.root_token, setup.so_pin, pin)
    hsm.init_token(module, setup.issuing_token, setup.so_pin, setup.user_pin)
    # The store does not exist yet: the HSM events are kept here and recorded, with
    # their own times, in the transaction that records the CAs (RFC 3647 §5.4.1).
    events: list[tuple[str, int, dict[str, Any]]] = []

    def note(event: str, **details: Any) -> None:
        events.append((event, int(time.time()), details))

    note(audit.Event.HSM_TOKEN_INIT, token=setup.root_token, role="root", officers=officers)
    note(audit.Event.HSM_TOKEN_INIT, token=setup.issuing_token, role="issuing")
    spkis: dict[str, bytes] = {}
    for spec in ps.cas.values():
        token = setup.root_token if spec.self_signed else setup.issuing_token
        key_pin = pin if spec.self_signed else setup.user_pin
        spkis[spec.name] = hsm.generate_key(
            module,
            token,
            key_pin,
            spec.name,
            spec.key_type,
            transferable=setup.transferable_keys,
        )

    ders: dict[str, bytes] = {}
    # Each root in turn (a PKI may have several, all in the root token): activated
    # once, for its own certificate and those of the issuing CAs directly under it,
    # then its session closed (RFC 3647 §6.2.2).
    for root_spec in (s for s in ps.cas.values() if s.self_signed):
        children = [
            s for s in ps.cas.values() if s.issuer == root_spec.name and s is not root_spec
        ]
        note(
            audit.Event.HSM_ACTIVATION,
            token=setup.root_token,
            role="root",
            officers=officers,
            purpose=f"{root_spec.name}: root and issuing-CA certificates",
        )
        with signers.Pkcs11Signer(
            module,
            setup.root_token,
            root_spec.name,
            pin,
            root_spec.signature_algorithm,
            sessions=1,
            public_key=spkis[root_spec.name],
        ) as root_signer:
            for spec in [root_spec, *children]:
                ders[spec.name] = _sign_under_root(
                    spec, root_spec, root_signer, spkis[spec.name], ders, now
                )
        note(audit.Event.HSM_DEACTIVATION, token=setup.root_token, role="root")
    orphans = [s.name for s in ps.cas.values() if s.name not in ders]
    if orphans:
        raise WorkspaceError(
            f"CA {orphans[0]} is not issued by a root; HSM mode supports roots and issuing "
            "CAs directly under them"
        )

    ws_hsm = hsm.WorkspaceHsm(
        module, conf_rel, setup.root_token, setup.issuing_token, setup.transferable_keys
    )
    ws_hsm.save(root)
    rows = []
    for spec in ps.cas.values():
        token = setup.root_token if spec.self_signed else setup.issuing_token
        (root / REPOSITORY_DIR / f"{spec.name}.crt").write_bytes(ders[spec.name])
        rows.append(
            CaRow(
                name=spec.name,
                env=env,
                subject=subject_text(spec.subject),
                certificate=ders[spec.name],
                key_ref=hsm.HsmKeyRef(token, spec.name).uri(),
                key_type=spec.key_type,
                parent=spec.issuer,
                created_at=now,
            )
        )
    store, _ = create_store(
        root, env=env, profile_set=profile_set, url=store_url, password_file=store_password_file
    )
    try:
        # One transaction (the inner one joins it): the HSM events noted while no
        # store existed, then the CAs and their records.
        with store.transaction():
            for event, when, details in events:
                audit.record(store, event, when=when, **details)
            record_hierarchy(store, rows, mode="hsm", transferable=setup.transferable_keys)
    except BaseException:
        store.discard()
        raise
    return store
