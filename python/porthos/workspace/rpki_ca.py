"""An RPKI CA workspace (issue 18 §2-§4): the trust anchor, its ROAs and the CA
certificates of child resource holders, kept in the store (store/rpki.py), published
by rpki_publish.py. Policy (periods, URIs, AS 0) is the RPKI CP/CPS's
(cpcps/rpki/policy.py); this module applies it.

Layout of a workspace ``W``: ``W/porthos.sqlite`` (or ``W/store.toml``), the CA keys in
``W/keys/<ca>.p8`` (software keys, 0600), and the publication under ``W/rpki/``:
``repository/<host>/<module>`` (the rsync tree, rpki_publish.py) and ``<tal>.tal``.

Every change is one store transaction with its audit record; every refusal is a
PorthosError raised before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from porthos import _native
from porthos._native import RsaKeyPool, SoftwareKey, Template
from porthos.cpcps.rpki.policy import RpkiPolicy, load_rpki_policy, rpki_policy_text
from porthos.exceptions import (
    ResourceError,
    RpkiAs0Error,
    RpkiChildError,
    RpkiCsrError,
    RpkiError,
    RpkiMaxLengthError,
    RpkiOverclaimError,
    RpkiRolloverError,
    WorkspaceError,
)
from porthos.issuance.key_checks import certificate_spki
from porthos.issuance.rpki_certs import rpki_ca_spec, trust_anchor_certificate
from porthos.issuance.rpki_csr import csr_sia, make_child_csr, read_child_csr
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    RoaPrefix,
    parse_roa_prefix,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import ResourceSet, format_resources, parse_resources
from porthos.store import audit
from porthos.store import rpki as db
from porthos.store.audit import Event
from porthos.store.location import create_store, initialised, open_store
from porthos.store.sqlite import Store

__all__ = ["RoaRequest", "RpkiWorkspace", "canonical_prefixes", "parse_roa_request"]

TA = "ta"
#: The workspace's copy of its CP/CPS data (written by init).
POLICY_FILE = "rpki-policy.toml"
_AS_MAX = 2**32 - 1


def _serial() -> bytes:
    """A positive 16-octet serial, unique by randomness (RFC 6487 §4.2)."""
    raw = bytearray(secrets.token_bytes(16))
    raw[0] = (raw[0] & 0x7F) | 0x01
    return bytes(raw)


@dataclass(frozen=True)
class RoaRequest:
    asn: int
    prefixes: tuple[RoaPrefix, ...]

    @property
    def text(self) -> str:
        return canonical_prefixes(self.prefixes)

    @property
    def file(self) -> str:
        """The object's file name: stable for the statement (RFC 9286 §4.2.2 characters)."""
        digest = hashlib.sha256(f"{self.asn}:{self.text}".encode()).hexdigest()[:16]
        return f"AS{self.asn}-{digest}.roa"


def canonical_prefixes(prefixes: Sequence[RoaPrefix]) -> str:
    return ",".join(str(p) for p in sorted(set(prefixes)))


def parse_roa_request(
    asn: int, prefixes: Sequence[str], max_length: int | None, policy: RpkiPolicy
) -> RoaRequest:
    """Strict parse of one ROA request (RFC 9582 §4): the AS rule of the CP/CPS,
    maxLength in prefix length..address width, no prefix stated twice or inside another."""
    if not 0 <= asn <= _AS_MAX:
        raise RpkiError(f"AS {asn} is not a 32-bit AS number (RFC 6793)")
    if asn == 0 and not policy.as0_allowed():
        raise RpkiAs0Error(
            "an AS 0 ROA is not allowed by this CP/CPS (roa.allow_as0, RFC 6483 §4)"
        )
    tokens = [t.strip() for p in prefixes for t in p.split(",") if t.strip()]
    if not tokens:
        raise RpkiError("a ROA needs at least one prefix (RFC 9582 §4.3)")
    out: list[RoaPrefix] = []
    for token in tokens:
        if "-" in token:
            raise RpkiError(f"{token!r}: give maxLength with --max-length, not in the prefix")
        p = parse_roa_prefix(token)
        width = 32 if p.version == 4 else 128
        if max_length is not None:
            if not p.length <= max_length <= width:
                raise RpkiMaxLengthError(
                    f"maxLength {max_length} for {token}: must lie in {p.length}..{width}"
                    " (RFC 9582 §4.3.2)"
                )
            p = RoaPrefix(
                p.version, p.address, p.length, None if max_length == p.length else max_length
            )
        out.append(p)
    # Overlapping prefixes in one request: strict parse refuses (a request states each once).
    parse_resources(", ".join(t for t in tokens), strict=True)
    return RoaRequest(asn, tuple(sorted(out)))


def _child_resources(text: str, parent: db.RpkiCa, who: str) -> ResourceSet:
    """A child CA's resources: canonical (strict), not empty, and within the parent's;
    else one error naming the excess (RFC 6487 §7.2: a child never holds more than its
    issuer). ``who`` starts the message ("child request claims", "child X would hold")."""
    requested = parse_resources(text, strict=True)
    if requested.is_empty():
        raise ResourceError("a child CA needs resources (--resources)", token="")
    excess = requested.difference(parse_resources(parent.resources))
    if not excess.is_empty():
        excess_text = format_resources(excess)
        raise RpkiOverclaimError(
            f"{who} resources CA {parent.name} does not hold: {excess_text}", token=excess_text
        )
    return requested


class RpkiWorkspace:
    """An RPKI CA workspace: its store, policy and files."""

    def __init__(self, root: Path, store: Store, policy: RpkiPolicy) -> None:
        self.root = root
        self.store = store
        self.policy = policy

    # -- paths ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The workspace directory (the name the repository lock knows it by)."""
        return self.root

    @property
    def rpki_dir(self) -> Path:
        return self.root / "rpki"

    @property
    def tal_path(self) -> Path:
        return self.rpki_dir / f"{self.policy.tal_name}.tal"

    @property
    def rrdp_dir(self) -> Path:
        return self.rpki_dir / "rrdp"

    @property
    def host_dir(self) -> Path:
        return self.rpki_dir / "repository" / self.policy.host

    def crl_name(self, ca: db.RpkiCa) -> str:
        return f"{ca.name}.crl"

    def manifest_name(self, ca: db.RpkiCa) -> str:
        return f"{ca.name}.mft"

    def ca_uri(self, ca: db.RpkiCa) -> str:
        return self.policy.directory_uri(ca.directory)

    def key(self, ca: db.RpkiCa) -> SoftwareKey:
        return SoftwareKey.from_pkcs8((self.root / ca.key_file).read_bytes())

    # -- opening -------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        root: Path,
        resources: str,
        *,
        store_url: str | None = None,
        now: int | None = None,
        policy_file: Path | None = None,
    ) -> RpkiWorkspace:
        """A new workspace with a trust anchor holding ``resources`` (RFC 6487 §4,
        RFC 7382 §6.1): its key, certificate and the store row, one transaction. The
        CP/CPS data (the bundled rpki.toml, or ``policy_file``) is checked and copied to
        ``W/rpki-policy.toml``, which the workspace reads from then on."""
        policy_text = rpki_policy_text(policy_file or "rpki")
        policy = load_rpki_policy(text=policy_text)
        held = parse_resources(resources, strict=True)
        if held.is_empty():
            raise ResourceError("a trust anchor needs explicit resources (--resources)", token="")
        if initialised(root):
            raise WorkspaceError(f"{root} is already a workspace")
        now = int(time.time()) if now is None else now
        root.mkdir(parents=True, exist_ok=True)
        (root / POLICY_FILE).write_text(policy_text, encoding="utf-8")
        store, made = create_store(root, env="rpki", profile_set="rpki", url=store_url)
        try:
            ws = cls(root, store, policy)
            key = SoftwareKey.generate(policy.ta_key_type)
            key_file = ws._save_key(TA, key)
            directory = policy.ta_directory
            cert = trust_anchor_certificate(
                key,
                common_name=policy.ta_common_name,
                resources=held,
                serial=_serial(),
                not_before=now - 60,
                not_after=now + policy.ta_validity,
                ca_repository=policy.directory_uri(directory),
                rpki_manifest=policy.directory_uri(directory) + f"{TA}.mft",
                rpki_notify=policy.notification_uri,
            )
            with store.transaction() as conn:
                db.insert_ca(
                    conn,
                    db.RpkiCa(
                        TA,
                        None,
                        key_file,
                        cert,
                        policy.ta_uri,
                        directory,
                        format_resources(held),
                        0,
                        0,
                        None,
                        None,
                        None,
                        None,
                        True,
                        now,
                    ),
                )
                audit.record(
                    store,
                    Event.CA_CREATED,
                    subject=TA,
                    when=now,
                    kind="rpki-trust-anchor",
                    resources=format_resources(held),
                )
        except BaseException:
            store.discard()
            if made is not None:
                made.unlink(missing_ok=True)
            raise
        return ws

    @classmethod
    def open(cls, root: Path) -> RpkiWorkspace:
        if not initialised(root):
            raise WorkspaceError(f"{root} is not a workspace (porthos rpki init)")
        store = open_store(root)
        if store.profile_set != "rpki":
            store.close()
            raise WorkspaceError(f"{root} is a {store.profile_set} workspace, not an RPKI one")
        return cls(root, store, load_rpki_policy(text=rpki_policy_text(root / POLICY_FILE)))

    def close(self) -> None:
        self.store.close()

    def _save_key(self, name: str, key: SoftwareKey) -> str:
        keys = self.root / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        path = keys / f"{name}.p8"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.to_pkcs8())
        return f"keys/{name}.p8"

    # -- CAs -------------------------------------------------------------------------

    def cas(self) -> list[db.RpkiCa]:
        return db.cas(self.store.conn)

    def ca(self, name: str) -> db.RpkiCa:
        row = db.ca(self.store.conn, name)
        if row is None:
            raise RpkiError(f"no RPKI CA {name!r} in this workspace")
        return row

    def ee_template(self, ca: db.RpkiCa) -> Template:
        spec = self.policy.ee_spec(
            crl_uri=self.ca_uri(ca) + self.crl_name(ca), ca_certificate_uri=ca.cert_uri
        )
        return Template.for_issuer(
            json.dumps(spec), ca.certificate, self.policy.signature_algorithm
        )

    # -- ROAs ------------------------------------------------------------------------

    def add_roas(
        self,
        requests: Sequence[RoaRequest],
        *,
        ca_name: str = TA,
        now: int | None = None,
        key_pool: RsaKeyPool | None = None,
    ) -> list[str]:
        """Sign and store ROAs of one CA, one transaction; returns their file names.
        Refused as a whole (nothing stored) if any over-claims or already exists."""
        now = int(time.time()) if now is None else now
        ca = self.ca(ca_name)
        if ca.status != "active":
            raise RpkiRolloverError(f"CA {ca.name} is {ca.status} (RFC 6489): not signing ROAs")
        held = parse_resources(ca.resources)
        conn = self.store.conn
        seen: set[str] = set()
        for r in requests:
            excess = roa_resources(list(r.prefixes)).difference(held)
            if not excess.is_empty():
                text = format_resources(excess)
                raise RpkiOverclaimError(
                    f"ROA AS{r.asn} {r.text}: CA {ca.name} does not hold {text}", token=text
                )
            if r.file in seen or db.live_roa(conn, r.asn, r.text) is not None:
                raise RpkiError(f"a ROA AS{r.asn} {r.text} exists already")
            seen.add(r.file)
        rows = self.sign_roas(ca, requests, now=now, key_pool=key_pool)
        with self.store.transaction() as conn:
            db.add_roa(conn, rows, now)
            db.mark_dirty(conn, ca.name)
            audit.record(
                self.store,
                Event.RPKI_ROA_ADDED,
                subject=ca.name,
                when=now,
                count=len(rows),
                first=f"AS{rows[0].asn} {rows[0].prefixes}" if rows else "",
            )
        return [r.file for r in rows]

    def sign_roas(
        self,
        ca: db.RpkiCa,
        requests: Sequence[RoaRequest],
        *,
        now: int,
        key_pool: RsaKeyPool | None = None,
    ) -> list[db.RpkiRoa]:
        """ROA objects of ``ca`` (one-time EE keys, RFC 6487 §3), not yet stored."""
        if not requests:
            return []
        base = self.ca_uri(ca)
        reqs = [
            ObjectRequest(
                content=roa_content(r.asn, list(r.prefixes)),
                serial=_serial(),
                subject=[("CN", r.file.removesuffix(".roa"))],
                not_before=now - 60,
                not_after=now + self.policy.roa_validity,
                sia=_native.rpki_sia([("signed_object", base + r.file)]),
                ip_addr_blocks=roa_resources(list(r.prefixes)).ip_addr_blocks_der(),
            )
            for r in requests
        ]
        signer = ObjectSigner(self.ee_template(ca), self.key(ca))
        out = signer.sign("roa", reqs, signing_time=now, key_pool=key_pool)
        return [
            db.RpkiRoa(ca.name, r.asn, r.text, q.serial.hex(), r.file, bytes(obj), "live")
            for r, q, obj in zip(requests, reqs, out.objects, strict=True)
        ]

    def remove_roa(self, request: RoaRequest, *, now: int | None = None) -> db.RpkiRoa:
        """Withdraw a ROA: its EE serial goes on its CA's next CRL (RFC 6487 §5) and
        its file leaves the next publication."""
        now = int(time.time()) if now is None else now
        roa = db.live_roa(self.store.conn, request.asn, request.text)
        if roa is None:
            raise RpkiError(f"no live ROA AS{request.asn} {request.text}")
        with self.store.transaction() as conn:
            db.remove_roa(conn, roa, now)
            audit.record(
                self.store,
                Event.RPKI_ROA_REMOVED,
                subject=roa.ca_name,
                serial=roa.ee_serial,
                when=now,
                roa=f"AS{roa.asn} {roa.prefixes}",
            )
        return roa

    # -- children ----------------------------------------------------------------------

    def add_child(
        self,
        csr_bytes: bytes,
        resources: str,
        *,
        name: str | None = None,
        parent: str = TA,
        now: int | None = None,
        hosted_key: SoftwareKey | None = None,
        status: str = "active",
    ) -> db.RpkiChild:
        """A CA certificate for a child resource holder from its PKCS#10 request
        (RFC 6487 §4, RFC 7382 §4.3): resources a subset of the parent's, SIA from the
        request. ``hosted_key``: porthos holds the child's key and publishes its point."""
        now = int(time.time()) if now is None else now
        par = self.ca(parent)
        self._check_issuing(par)
        csr, spki = read_child_csr(csr_bytes)
        sia = csr_sia(csr)
        requested = _child_resources(resources, par, "child request claims")
        ski = _native.key_identifier(spki).hex()
        name = self.policy.check_name(name or ski, "child name")
        conn = self.store.conn
        if any(c.name == name for c in db.children(conn, par.name)) or db.ca(conn, name):
            raise RpkiError(f"a child named {name!r} exists already")
        if any(c.ski == ski and c.status == "live" for c in db.children(conn)):
            # One key, one CA certificate (RFC 6487 §4.8.2: the SKI names the CA instance).
            raise RpkiError(f"a child with key identifier {ski} is certified already")
        serial, cert = self.certify_child(
            par,
            name,
            spki,
            requested,
            ca_repository=sia["ca_repository"],
            rpki_manifest=sia["rpki_manifest"],
            rpki_notify=sia.get("rpki_notify"),
            now=now,
        )
        file = f"{name}.cer"
        row = db.RpkiChild(
            par.name,
            name,
            ski,
            format_resources(requested),
            sia["ca_repository"],
            sia["rpki_manifest"],
            sia.get("rpki_notify"),
            serial.hex(),
            cert,
            file,
            "live",
        )
        key_file = self._save_key(name, hosted_key) if hosted_key is not None else None
        try:
            with self.store.transaction() as conn:
                db.add_child(conn, row, now)
                db.mark_dirty(conn, par.name)
                if key_file is not None:
                    directory = self._hosted_directory(sia["ca_repository"], name)
                    db.insert_ca(
                        conn,
                        db.RpkiCa(
                            name,
                            par.name,
                            key_file,
                            cert,
                            self.ca_uri(par) + file,
                            directory,
                            row.resources,
                            0,
                            0,
                            None,
                            None,
                            None,
                            None,
                            True,
                            now,
                            status,
                            now if status == "staging" else None,
                        ),
                    )
                audit.record(
                    self.store,
                    Event.RPKI_CHILD_ADDED,
                    subject=name,
                    when=now,
                    serial=row.serial_hex,
                    parent=par.name,
                    resources=row.resources,
                    ski=ski,
                    hosted=key_file is not None,
                )
        except BaseException:
            if key_file is not None:
                (self.root / key_file).unlink(missing_ok=True)
            raise
        return row

    def _check_issuing(self, par: db.RpkiCa) -> None:
        """Only an active CA instance certifies (RFC 6489 §2: a staging key signs
        nothing but its CRL and manifest; a retired one nothing at all)."""
        if par.status == "staging":
            raise RpkiRolloverError(f"CA {par.name} is staging (RFC 6489): not certifying")
        if par.status != "active":
            raise RpkiError(f"CA {par.name} is {par.status}: not certifying")

    def certify_child(
        self,
        par: db.RpkiCa,
        name: str,
        spki: bytes,
        resources: ResourceSet,
        *,
        ca_repository: str,
        rpki_manifest: str,
        rpki_notify: str | None,
        now: int,
    ) -> tuple[bytes, bytes]:
        """(serial, DER) of a CA certificate ``par`` issues to key ``spki`` (RFC 6487
        §4): subject CN=name, the given SIA, the CRL and issuer URIs of ``par``."""
        spec = rpki_ca_spec(
            ca_repository=ca_repository,
            rpki_manifest=rpki_manifest,
            rpki_notify=rpki_notify,
            self_signed=False,
            crl_uri=self.ca_uri(par) + self.crl_name(par),
            ca_issuer_uri=par.cert_uri,
        )
        template = Template.for_issuer(
            json.dumps(spec), par.certificate, self.policy.signature_algorithm
        )
        serial = _serial()
        cert = template.issue(
            self.key(par),
            serials=[serial],
            not_before=[now - 60],
            not_after=[now + self.policy.child_validity],
            subjects=[[("CN", name)]],
            spkis=[spki],
            ip_addr_blocks=[resources.ip_addr_blocks_der()],
            as_identifiers=[resources.as_identifiers_der()],
        )[0]
        return serial, cert

    def live_child(self, name: str) -> db.RpkiChild:
        """The one live CA certificate issued to child ``name``."""
        rows = [c for c in db.children(self.store.conn) if c.name == name and c.status == "live"]
        if len(rows) != 1:
            what = "no" if not rows else f"{len(rows)}"
            raise RpkiChildError(f"{what} live child CA certificate named {name!r}")
        return rows[0]

    def _check_hosted_child(self, name: str, action: str) -> db.RpkiCa | None:
        """A hosted child (its point published here) may be revoked or re-issued only
        outside a key rollover and, for a revocation, without live children below it."""
        hosted = db.ca(self.store.conn, name)
        if hosted is None:
            return None
        siblings = [
            c
            for c in db.cas(self.store.conn)
            if c.directory == hosted.directory and c.parent == hosted.parent and c.name != name
        ]
        if hosted.status != "active" or any(c.status == "staging" for c in siblings):
            raise RpkiChildError(
                f"child {name} is in a key rollover (RFC 6489): activate it before {action}"
            )
        return hosted

    def revoke_child(self, name: str, *, now: int | None = None) -> db.RpkiChild:
        """The parent revokes child ``name``'s CA certificate (RFC 6487 §5): its serial
        goes on the parent's next CRL and its file leaves the parent's point; a hosted
        child's own point (CRL, manifest, ROAs) is withdrawn with it. A hosted child
        with live child CAs of its own is refused: revoke those first."""
        now = int(time.time()) if now is None else now
        row = self.live_child(name)
        hosted = self._check_hosted_child(name, "revoking it")
        conn = self.store.conn
        below = [c.name for c in db.children(conn, name) if c.status == "live"]
        if hosted is not None and below:
            raise RpkiChildError(
                f"child {name} has live child CAs ({', '.join(below)}): revoke those first"
            )
        with self.store.transaction() as conn:
            db.retire_child(conn, row.ca_name, name, row.serial_hex, now)
            if hosted is not None:
                db.withdraw_roas(conn, name, now)
                db.set_status(conn, name, "retired")
            audit.record(
                self.store,
                Event.RPKI_CHILD_REVOKED,
                subject=name,
                serial=row.serial_hex,
                when=now,
                parent=row.ca_name,
                hosted=hosted is not None,
            )
        return row

    def reissue_child(
        self, name: str, resources: str | None = None, *, now: int | None = None
    ) -> db.RpkiChild:
        """A new CA certificate for child ``name``'s key (same name and SIA), holding
        ``resources`` (default: the same), a subset of the parent's; the old one is
        revoked (the parent's next CRL). A hosted child's ROAs and children must stay
        within the new resources. Its products stay valid: same key, same subject."""
        now = int(time.time()) if now is None else now
        row = self.live_child(name)
        par = self.ca(row.ca_name)
        self._check_issuing(par)
        hosted = self._check_hosted_child(name, "re-issuing it")
        requested = _child_resources(
            row.resources if resources is None else resources, par, f"child {name} would hold"
        )
        conn = self.store.conn
        if hosted is not None:
            for roa in db.roas(conn, name):
                prefixes = [parse_roa_prefix(p) for p in roa.prefixes.split(",")]
                if not roa_resources(prefixes).difference(requested).is_empty():
                    raise RpkiChildError(
                        f"child {name}'s ROA AS{roa.asn} {roa.prefixes} needs resources"
                        " outside the new ones: remove it first"
                    )
            for kid in db.children(conn, name):
                if (
                    kid.status == "live"
                    and not parse_resources(kid.resources).difference(requested).is_empty()
                ):
                    raise RpkiChildError(
                        f"child {name}'s child CA {kid.name} holds resources outside the"
                        " new ones: re-issue or revoke it first"
                    )
        serial, cert = self.certify_child(
            par,
            name,
            certificate_spki(row.certificate),
            requested,
            ca_repository=row.ca_repository,
            rpki_manifest=row.rpki_manifest,
            rpki_notify=row.rpki_notify,
            now=now,
        )
        text = format_resources(requested)
        with self.store.transaction() as conn:
            db.reissue_child(conn, row, serial.hex(), cert, text, now)
            if hosted is not None:
                db.set_ca_certificate(conn, name, cert, text, par.name)
            audit.record(
                self.store,
                Event.RPKI_CHILD_REISSUED,
                subject=name,
                serial=serial.hex(),
                when=now,
                parent=par.name,
                revoked=row.serial_hex,
                resources=text,
            )
        return self.live_child(name)

    def _hosted_directory(self, ca_repository: str, name: str) -> str:
        """A hosted child publishes in this repository: its caRepository must be a
        directory of our module (RFC 6481 §2)."""
        base = self.policy.module_uri
        rest = ca_repository.removeprefix(base).rstrip("/")
        if not ca_repository.startswith(base) or not rest or "/" in rest:
            raise RpkiCsrError(f"a hosted child's caRepository must be {base}<dir>/")
        return self.policy.check_name(rest, "child directory")

    def hosted_csr(self, name: str, directory: str | None = None) -> tuple[SoftwareKey, bytes]:
        """Key and PKCS#10 request of a child CA porthos hosts (the demo's children):
        SIA pointing at its own point in this repository."""
        key = SoftwareKey.generate(self.policy.child_key_type)
        uri = self.policy.directory_uri(directory or name)
        notify = self.policy.notification_uri
        return key, make_child_csr(key, name, uri, uri + f"{name}.mft", notify)
