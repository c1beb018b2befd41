"""``porthos rpki publish``: the rsync tree of an RPKI workspace (RFC 6481), written so
that a reader never sees a manifest listing a missing or stale file.

What is published (RFC 6481 §2, RFC 9286): the TA certificate where the TAL points,
and per CA: its CRL, its manifest (listing every other file of its point), its ROAs
and its children's CA certificates. A CA whose state changed (``dirty``), or whose
manifest is within the CP/CPS's margin of nextUpdate, gets a new CRL (CRLNumber + 1,
no entry extensions: RFC 6487 §5) and a new manifest (manifestNumber + 1, a fresh
one-time EE key: RFC 9286 §4.2.1, §5.1).

Atomicity: the whole module is written to a fresh directory
``repository/<host>/.<module>.v<N>`` (every file fsynced), the store transaction that
advances the numbers commits, and only then the symlink ``repository/<host>/<module>``
is replaced by rename(2) — atomic on POSIX, so a reader resolving the module path sees
either the old tree or the new one, whole. The previous version stays on disk (a
reader half-way through it keeps a consistent tree) and older ones are removed. A
failure before the commit leaves the previous publication served and the store rolled
back (RpkiPublishError). A failure after it (the swap, the TAL, the pruning, the RRDP
files) raises RpkiPublishIncompleteError: the store has version N, and the next publish,
finding nothing new to issue and ``.<module>.vN`` whole on disk, swaps that directory
in and runs the remaining steps again (each is idempotent) instead of writing N+1.

Writers: the whole publish, from the store transaction through the RRDP files, runs
under the workspace's repository lock (workspace/repository.py, the lock ``crl publish``
takes), so a second publish waits for the first and starts from what it committed:
the version directory, the swap and RRDP's state file (rrdp.py does not lock) never
see two writers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porthos import _native
from porthos.durable_files import fsync_dir, write_atomically
from porthos.exceptions import PorthosError, RpkiPublishError, RpkiPublishIncompleteError
from porthos.issuance.crl import REASON_NONE, serials_from_hex
from porthos.issuance.key_checks import certificate_spki
from porthos.issuance.rpki_objects import ObjectRequest, ObjectSigner, manifest_content
from porthos.issuance.rpki_resources import parse_resources
from porthos.issuance.rpki_tal import tal_text
from porthos.store import audit
from porthos.store import rpki as db
from porthos.store.audit import Event
from porthos.workspace.repository import repository_lock
from porthos.workspace.rpki_ca import RpkiWorkspace, _serial
from porthos.workspace.rrdp import NOTIFICATION, RrdpState, write_rrdp

__all__ = ["Publication", "publish", "version_dir_name"]


@dataclass(frozen=True)
class Publication:
    version: int
    reissued: list[str]
    files: int
    changed: bool
    path: Path


def version_dir_name(module: str, version: int) -> str:
    return f".{module}.v{version:06d}"


def _crl(ws: RpkiWorkspace, ca: db.RpkiCa, number: int, now: int, next_update: int) -> bytes:
    """RFC 6487 §5: AKI, CRLNumber, the revoked serials with their dates and no entry
    extension (reason REASON_NONE, no invalidity date)."""
    rows = db.revoked(ws.store.conn, ca.name)
    serials = serials_from_hex([hexs for hexs, _ in rows])
    times = np.array([t for _, t in rows], np.int64)
    reasons = np.full(len(rows), REASON_NONE, np.uint8)
    magnitude = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return _native.crl_drafts(
        ca.certificate,
        serials,
        times,
        reasons,
        crl_numbers=[magnitude],
        this_update=now,
        next_update=next_update,
        signature_algorithm=ws.policy.signature_algorithm,
    ).sign(ws.key(ca))[0]


def _point_files(ws: RpkiWorkspace, ca: db.RpkiCa) -> list[tuple[str, bytes]]:
    """The signed files of a CA's point other than its CRL and manifest."""
    conn = ws.store.conn
    files = [(r.file, r.object) for r in db.roas(conn, ca.name)]
    files += [(c.file, c.certificate) for c in db.children(conn, ca.name) if c.status == "live"]
    return sorted(files)


def _reissue(ws: RpkiWorkspace, ca: db.RpkiCa, now: int) -> tuple[bytes, bytes, int]:
    """New CRL and manifest of ``ca``; returns (crl, manifest, next_update)."""
    policy = ws.policy
    next_update = now + min(policy.crl_next_update, policy.manifest_next_update)
    crl = _crl(ws, ca, ca.crl_number + 1, now, next_update)
    files = [(ws.crl_name(ca), crl), *_point_files(ws, ca)]
    content = manifest_content(ca.manifest_number + 1, now, next_update, files)
    empty = parse_resources("")
    name = ws.manifest_name(ca)
    request = ObjectRequest(
        content=content,
        serial=_serial(),
        subject=[("CN", f"{ca.name}-mft-{ca.manifest_number + 1}")],
        # RFC 9286 §5.1: the EE certificate's validity is the manifest's.
        not_before=now,
        not_after=next_update,
        sia=_native.rpki_sia([("signed_object", ws.ca_uri(ca) + name)]),
        ip_addr_blocks=empty.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True),
        as_identifiers=empty.as_identifiers_der(inherit=True),
    )
    signer = ObjectSigner(ws.ee_template(ca), ws.key(ca))
    mft = bytes(signer.sign("manifest", [request], signing_time=now).objects[0])
    return crl, mft, next_update


def _write_tree(target: Path, tree: dict[str, bytes]) -> None:
    target.mkdir()  # FileExistsError if something else is in the way
    for rel, data in sorted(tree.items()):
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(path, 0o644)
    for d, _, _ in os.walk(target):
        os.chmod(d, 0o755)
        fsync_dir(Path(d))


def _swap(link: Path, target_name: str) -> None:
    tmp = link.with_name(link.name + ".swap")
    tmp.unlink(missing_ok=True)
    os.symlink(target_name, tmp)
    os.rename(tmp, link)  # rename(2): the link is replaced atomically
    fsync_dir(link.parent)


def _points_at(link: Path, target_name: str) -> bool:
    return link.is_symlink() and os.readlink(link) == target_name


def _holds(target: Path, tree: dict[str, bytes]) -> bool:
    """Whether ``target`` holds exactly ``tree``: the directory of a committed version
    whose publish failed before or at its swap, which a later publish swaps in as is."""
    if not target.is_dir() or target.is_symlink():
        return False
    found = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    return found == tree.keys() and all(
        (target / rel).read_bytes() == data for rel, data in tree.items()
    )


def publish(ws: RpkiWorkspace, *, now: int | None = None, force: bool = False) -> Publication:
    """Re-issue what is due, write the module's new version, swap it in, write RRDP;
    under the repository lock (a concurrent publish waits here)."""
    with repository_lock(ws):
        return _publish(ws, now=now, force=force)


def _publish(ws: RpkiWorkspace, *, now: int | None, force: bool) -> Publication:
    # ``now`` is read once the lock is held: a publish that waited signs at its own time.
    now = int(time.time()) if now is None else now
    policy = ws.policy
    host_dir = ws.host_dir
    link = host_dir / policy.module
    store = ws.store
    reissued: list[str] = []
    try:
        with store.transaction() as conn:
            ta = _trust_anchor(conn)
            version, hashes = db.published(conn)
            tree: dict[str, bytes] = {policy.ta_certificate: ta.certificate}
            for ca in db.cas(conn):
                if force or ca.dirty or policy.needs_reissue(ca.next_update, now):
                    crl, mft, next_update = _reissue(ws, ca, now)
                    db.set_issued(
                        conn,
                        ca.name,
                        manifest_number=ca.manifest_number + 1,
                        crl_number=ca.crl_number + 1,
                        this_update=now,
                        next_update=next_update,
                        manifest=mft,
                        crl=crl,
                    )
                    reissued.append(ca.name)
                else:
                    assert ca.crl is not None and ca.manifest is not None
                    crl, mft = ca.crl, ca.manifest
                point = ca.directory + "/"
                tree[point + ws.crl_name(ca)] = crl
                tree[point + ws.manifest_name(ca)] = mft
                for name, data in _point_files(ws, ca):
                    tree[point + name] = data
            new_hashes = {p: hashlib.sha256(d).hexdigest() for p, d in tree.items()}
            committed = host_dir / version_dir_name(policy.module, version)
            unchanged = not reissued and new_hashes == hashes
            if unchanged and (_points_at(link, committed.name) or _holds(committed, tree)):
                # Version N is committed and on disk whole; only what follows the
                # commit may be missing (a publish that failed there): completed below.
                target = committed
            else:
                version += 1
                host_dir.mkdir(parents=True, exist_ok=True)
                target = host_dir / version_dir_name(policy.module, version)
                if (
                    target.is_dir()
                    and not target.is_symlink()
                    and not _points_at(link, target.name)
                ):
                    # Left by a publish that failed before its commit (a disk filled up
                    # half-way): never committed nor served, so written again whole.
                    shutil.rmtree(target)
                _write_tree(target, tree)
                db.set_published(conn, version, new_hashes)
                audit.record(
                    store,
                    Event.RPKI_PUBLISHED,
                    when=now,
                    subject=policy.module,
                    version=version,
                    files=len(tree),
                    reissued=",".join(reissued),
                )
    except OSError as exc:
        raise RpkiPublishError(
            f"publication not written ({exc}); the previous one stays"
        ) from None
    changed = _complete(ws, link, version, tree, ta.certificate)
    return Publication(version, reissued, len(tree), changed, link)


def _complete(
    ws: RpkiWorkspace, link: Path, version: int, tree: dict[str, bytes], ta_certificate: bytes
) -> bool:
    """What follows the commit of version ``version``: the swap, the TAL, the removal
    of older versions, the RRDP files. Each step is idempotent and every publish runs
    them all, so a publish run again after a failure here finishes the job. True when
    a step changed what is served."""
    module = ws.policy.module
    target_name = version_dir_name(module, version)
    step = "swapping the module symlink"
    try:
        # What readers were served until now stays on disk beside the new version, even
        # when it is older than version - 1 (a publish whose swap failed, run again with
        # changes: the store went N -> N+1 while the link still named N - 1).
        served = os.readlink(link) if link.is_symlink() else None
        swapped = not _points_at(link, target_name)
        if swapped:
            _swap(link, target_name)
        step = "writing the TAL"
        tal = _write_tal(ws, ta_certificate)
        step = "removing older versions"
        keep = {target_name, version_dir_name(module, version - 1)}
        _prune(link.parent, module, keep=keep | ({served} if served else set()))
        step = "writing the RRDP files"
        note = ws.rrdp_dir / NOTIFICATION
        before = note.read_bytes() if note.is_file() else None
        # Not .changed alone: that is False when only a lagging notification was
        # written again (the state already had this set).
        rrdp = publish_rrdp(ws, tree).changed or note.read_bytes() != before
        return swapped or tal or rrdp
    except (OSError, PorthosError) as exc:
        # A PorthosError too (an unreadable RRDP state): the store has moved on either
        # way, and saying so matters more than the cause's own code.
        raise RpkiPublishIncompleteError(
            f"publication version {version} committed but not fully published"
            f" ({step}: {exc}); run `porthos rpki publish` again"
        ) from exc


def _write_tal(ws: RpkiWorkspace, ta_certificate: bytes) -> bool:
    """RFC 8630 §2.2: the TA certificate's rsync URI and its SubjectPublicKeyInfo.
    False when the TAL on disk says that already."""
    text = tal_text([ws.policy.ta_uri], certificate_spki(ta_certificate))
    if not write_atomically(ws.tal_path, text.encode("utf-8"), mode=0o644):
        return False
    fsync_dir(ws.tal_path.parent)
    return True


def _trust_anchor(conn: sqlite3.Connection) -> db.RpkiCa:
    """The one CA without a parent (RFC 6487 §7.1: the TA certifies itself), whose
    certificate the TAL names."""
    tas = [ca for ca in db.cas(conn) if ca.parent is None]
    if len(tas) != 1:
        names = ", ".join(ca.name for ca in tas) or "none"
        raise RpkiPublishError(
            f"the store holds {len(tas)} trust anchors ({names}), not one: nothing published"
        )
    return tas[0]


def _prune(host_dir: Path, module: str, keep: set[str]) -> None:
    prefix = f".{module}.v"
    for entry in host_dir.iterdir():
        if entry.name.startswith(prefix) and entry.name not in keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def publish_rrdp(ws: RpkiWorkspace, tree: dict[str, bytes]) -> RrdpState:
    """The same objects as RRDP files in ``D/rpki/rrdp/`` (RFC 8182; workspace/rrdp.py
    writes the notification last, so it is atomic on its own). Runs after the rsync
    swap: an RRDP failure leaves the rsync tree published and is reported."""
    objects = {ws.policy.module_uri + rel: data for rel, data in tree.items()}
    return write_rrdp(ws.rrdp_dir, objects, base_uri=ws.policy.rrdp_base_uri)
