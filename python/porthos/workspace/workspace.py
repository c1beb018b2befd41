"""Workspace: a CA hierarchy on disk (its layout: workspace/hierarchy.py): the store,
the CAs with their keys (files, or PKCS#11 tokens in HSM mode), the published CA
certificates, and the CA generations of a changeover (RFC 3647 §5.6)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import __version__, hsm
from porthos.cpcps.loader import load_profile_set
from porthos.cpcps.profiles import ProfileSet
from porthos.exceptions import (
    KeyMaterialError,
    PolicyError,
    StoreError,
    StoreIntegrityError,
    StoreUnavailableError,
    WorkspaceError,
)
from porthos.issuance import signers
from porthos.issuance.key_checks import check_key_pair
from porthos.store import audit, location
from porthos.store.sqlite import Store
from porthos.workspace import generations
from porthos.workspace.authority import CertificateAuthority
from porthos.workspace.hierarchy import (
    REPOSITORY_DIR,
    STORE_FILE,
    create_hsm_hierarchy,
    create_software_hierarchy,
)
from porthos.workspace.integrity import check_ca_certificates

__all__ = ["Workspace"]


class Workspace:
    """A CA hierarchy on disk: store, keys, published CA certificates."""

    def __init__(self, path: Path, store: Store, profile_set: ProfileSet) -> None:
        self.path = path
        self.store = store
        self.profile_set = profile_set
        #: HSM mode: module and tokens (None for software keys).
        self.hsm = hsm.WorkspaceHsm.load(path)
        self._hsm_pin: hsm.Secret | None = None
        self._hsm_sessions: int | None = None
        self._cas: dict[str, CertificateAuthority] = {}
        rows = {row.name: row for row in store.cas()}
        for name, spec in profile_set.cas.items():
            row = rows.get(name)
            if row is None:
                raise WorkspaceError(f"{path}: CA {name} is missing from the store")
            self._cas[name] = CertificateAuthority(self, spec, row)
        #: Profile set per CA generation (RFC 3647 §5.6); ``profile_set`` is the active one.
        self.profile_sets: dict[int, ProfileSet] = {1: profile_set}
        self.generation = 1
        generations.attach_generations(self, CertificateAuthority)
        check_ca_certificates(self._cas.values(), str(path))

    def __repr__(self) -> str:
        return f"<Workspace {self.path} ({self.env})>"

    @property
    def env(self) -> str:
        return self.profile_set.env

    @property
    def cas(self) -> list[CertificateAuthority]:
        """The CAs, root first."""
        return list(self._cas.values())

    def ca(self, name: str) -> CertificateAuthority:
        try:
            return self._cas[name]
        except KeyError:
            raise WorkspaceError(
                f"no CA {name!r} in this workspace; CAs: {', '.join(self._cas)}"
            ) from None

    @property
    def root(self) -> CertificateAuthority:
        """The self-signed root of the active generation (RFC 3647 §5.6)."""
        return next(ca for ca in self.cas_of(self.generation) if ca.spec.self_signed)

    def cas_of(self, generation: int) -> list[CertificateAuthority]:
        """The CAs of one generation, root first."""
        return [ca for ca in self._cas.values() if ca.generation == generation]

    def ca_for_profile(self, profile: str) -> CertificateAuthority:
        """The CA that issues a profile (PolicyError for an unknown profile)."""
        prof = self.profile_set.profiles.get(profile)
        if prof is None:
            raise PolicyError(
                f"unknown profile {profile!r}; profiles: {', '.join(self.profile_set.profiles)}"
            )
        return self._cas[prof.issuer]

    def repository_path(self, ca_name: str) -> Path:
        return self.path / REPOSITORY_DIR / f"{ca_name}.crt"

    # -- HSM mode ----------------------------------------------------------------------

    def activate(self, pin: hsm.Secret, *, sessions: int | None = None) -> None:
        """Give the issuing-CA token's PIN (one PIN: RFC 3647 §6.2.2); the issuing CAs
        then sign through session pools of ``sessions`` sessions (default: cores)."""
        if self.hsm is None:
            raise WorkspaceError(f"{self.path} keeps software keys; there is no HSM to activate")
        self.hsm.activate_module(self.path)
        self._hsm_pin = pin
        self._hsm_sessions = sessions
        # RFC 3647 §5.4.1: key activation is an audited event (the PIN itself never is, §6.4.2).
        audit.record(
            self.store, audit.Event.HSM_ACTIVATION, token=self.hsm.issuing_token, role="issuing"
        )

    def _open_hsm_signer(self, ca: CertificateAuthority) -> signers.Pkcs11Signer:
        assert ca.hsm_ref is not None and self.hsm is not None
        if ca.spec.self_signed:
            raise KeyMaterialError(
                f"the root key ({ca.name}) signs only inside Workspace.root_activation, "
                "with the PIN halves of two officers (RFC 3647 §6.2.2)"
            )
        if self._hsm_pin is None:
            raise KeyMaterialError(
                f"the key of CA {ca.name} is in token '{ca.hsm_ref.token}': activate the "
                "workspace with the issuing-CA PIN first (Workspace.activate, --pin-file)"
            )
        spki = (
            x509.load_der_x509_certificate(ca.certificate)
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        signer = signers.Pkcs11Signer(
            self.hsm.module,
            ca.hsm_ref.token,
            ca.hsm_ref.label,
            self._hsm_pin,
            ca.spec.signature_algorithm,
            sessions=self._hsm_sessions,
            public_key=spki,
        )
        # The token's key, not only its public object, is the certificate's (issue 20 §2):
        # one test signature, once per opened signer.
        try:
            check_key_pair(signer, ca.certificate, f"the key of CA {ca.name} ({ca.hsm_ref})")
        except KeyMaterialError:
            signer.close()
            raise
        return signer

    @contextmanager
    def root_activation(
        self,
        halves: Sequence[tuple[str, hsm.Secret]],
        purpose: str,
        root_name: str | None = None,
    ) -> Iterator[signers.Pkcs11Signer]:
        """The root key, activated by two officers' PIN halves for one root operation
        (issuing-CA certificates, the root CRL); its sessions close on exit (RFC 3647 §6.2.2).
        ``root_name``: a root of another generation (RFC 3647 §5.6); default: the active one."""
        if self.hsm is None:
            raise WorkspaceError(f"{self.path} keeps software keys; the root is not in an HSM")
        root = self.ca(root_name) if root_name else self.root
        assert root.hsm_ref is not None
        pin, officers = hsm.dual_control_pin(halves)
        self.hsm.activate_module(self.path)
        signer = signers.Pkcs11Signer(
            self.hsm.module,
            root.hsm_ref.token,
            root.hsm_ref.label,
            pin,
            root.spec.signature_algorithm,
            sessions=1,
        )
        try:
            check_key_pair(signer, root.certificate, f"the root key ({root.name}, {root.hsm_ref})")
        except KeyMaterialError:
            signer.close()
            raise
        # RFC 3647 §5.4.1, §6.2.2: the activation names both officers. Recorded through the
        # caller's open transaction if there is one (a rollover records it with the
        # certificates the root signs), else on its own.
        audit.record(
            self.store,
            audit.Event.HSM_ACTIVATION,
            token=root.hsm_ref.token,
            role="root",
            officers=officers,
            purpose=purpose,
        )
        try:
            yield signer
        finally:
            signer.close()
            audit.record(
                self.store, audit.Event.HSM_DEACTIVATION, token=root.hsm_ref.token, role="root"
            )

    def close(self) -> None:
        for ca in self._cas.values():
            ca.close()
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Workspace:
        if not isinstance(path, (str, os.PathLike)):
            raise WorkspaceError(f"Workspace.open: expected a path, got {type(path).__name__}")
        root = Path(path)
        if not location.initialised(root):
            raise WorkspaceError(
                f"{root} is not an initialised porthos workspace (no {STORE_FILE})"
            )
        try:
            store = location.open_store(root)
        except (StoreIntegrityError, StoreUnavailableError):
            raise
        except StoreError as exc:
            raise WorkspaceError(str(exc)) from None
        try:
            profile_set = load_profile_set(store.profile_set, store.env)
            ws = cls(root, store, profile_set)
            # RFC 3647 §5.4.1: a change of the CA software is an audited event; detected
            # here, the first time a porthos of another version opens the store.
            audit.note_software_version(store, __version__)
            return ws
        except BaseException:
            store.close()
            raise

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        env: str = "prod",
        *,
        profile_set: str = "porthos",
        now: int | None = None,
        hsm_setup: hsm.HsmSetup | None = None,
        transferable_keys: bool = False,
        store: str | None = None,
        store_password_file: str | os.PathLike[str] | None = None,
    ) -> Workspace:
        """Create the hierarchy of a profile set: CA keys (software, or generated in
        the HSM with ``hsm_setup``: RFC 3647 §6.1.1), the self-signed root, the issuing CAs
        signed by it, the store, the published CA certificates.

        ``transferable_keys`` (HSM mode only): the CA keys are generated sensitive but
        extractable under a trusted key only (hsm.generate_key ``transferable``), so
        that ``terminate --export-to`` can transfer them to a successor HSM in
        encrypted form under multi-person control (RFC 3647 §6.2.6, §5.8).

        ``store``: a ``postgresql://`` URL without credentials (store/location.py) for a
        shared PostgreSQL store instead of ``W/porthos.sqlite``; its password from
        ``store_password_file``, PGPASSWORD or PGPASSFILE."""
        root = Path(path)
        if location.initialised(root):
            raise WorkspaceError(f"{root} is already an initialised porthos workspace")
        if transferable_keys:
            if hsm_setup is None:
                raise WorkspaceError(
                    "transferable keys are an HSM option (RFC 3647 §6.2.6): software CA keys "
                    "are files and are exported by terminate --export-to without it"
                )
            hsm_setup = dataclasses.replace(hsm_setup, transferable_keys=True)
        ps = load_profile_set(profile_set, env)
        now = int(time.time()) if now is None else int(now)
        if hsm_setup is not None:
            db = create_hsm_hierarchy(
                root, env, ps, profile_set, now, hsm_setup, store, store_password_file
            )
        else:
            db = create_software_hierarchy(
                root, env, ps, profile_set, now, store, store_password_file
            )
        return cls(root, db, ps)
