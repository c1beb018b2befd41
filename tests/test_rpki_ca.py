"""The RPKI CA (issue 18 §2-§4): refusals by their code with nothing stored, manifest
and CRL numbering, CRLs without entry extensions, idempotent and due re-publication,
and the atomic publication (a reader never sees a manifest listing a missing or stale
file; a failed publish leaves the previous tree and the store as they were)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from porthos import _native
from porthos._native import SoftwareKey
from porthos.cli.main import main
from porthos.exceptions import PorthosError, RpkiPublishError, RpkiPublishIncompleteError
from porthos.issuance.rpki_csr import make_child_csr
from porthos.issuance.rpki_objects import parse_manifest
from porthos.issuance.rpki_tal import parse_tal
from porthos.store import rpki as db
from porthos.workspace.rpki_ca import RpkiWorkspace, parse_roa_request
from porthos.workspace.rpki_publish import publish, version_dir_name

RESOURCES = "AS64496-64511, 192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32"
NOW = 1_900_000_000


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[RpkiWorkspace]:
    w = RpkiWorkspace.init(tmp_path / "w", RESOURCES, now=NOW)
    yield w
    w.close()


def _state(ws: RpkiWorkspace) -> tuple[object, ...]:
    conn = ws.store.conn
    return (
        db.cas(conn),
        db.children(conn),
        db.roas(conn, live=False),
        conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0],
        sorted(p.name for p in (ws.root / "keys").iterdir()),
    )


def _roa(ws: RpkiWorkspace, asn: int, prefixes: list[str], ml: int | None = None) -> None:
    ws.add_roas([parse_roa_request(asn, prefixes, ml, ws.policy)], now=NOW)


def _csr(ws: RpkiWorkspace, name: str = "kid", *, repo: str | None = None) -> bytes:
    uri = repo or f"rsync://other.example/repo/{name}/"
    return make_child_csr(SoftwareKey.generate("rsa-2048"), name, uri, uri + f"{name}.mft")


def _ec_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    sia = x509.SubjectInformationAccess([
        x509.AccessDescription(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.5"),
                               x509.UniformResourceIdentifier("rsync://o.example/r/")),
        x509.AccessDescription(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.10"),
                               x509.UniformResourceIdentifier("rsync://o.example/r/k.mft")),
    ])  # fmt: skip
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ec")]))
        .add_extension(sia, critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def _bad_signature(der: bytes) -> bytes:
    return der[:-1] + bytes([der[-1] ^ 0x01])


REFUSALS = {
    "overlapping ROA prefixes": (
        "rpki-resources",
        lambda w: _roa(w, 64496, ["192.0.2.0/24", "192.0.2.0/25"]),
    ),
    "host bits in a ROA prefix": ("rpki-resources", lambda w: _roa(w, 64496, ["192.0.2.1/24"])),
    "AS 0 ROA": ("rpki-as0", lambda w: _roa(w, 0, ["192.0.2.0/24"])),
    "maxLength below the prefix": (
        "rpki-max-length",
        lambda w: _roa(w, 64496, ["192.0.2.0/24"], 23),
    ),
    "maxLength past the address": (
        "rpki-max-length",
        lambda w: _roa(w, 64496, ["192.0.2.0/24"], 33),
    ),
    "over-claiming ROA": ("rpki-overclaim", lambda w: _roa(w, 64496, ["203.0.113.0/24"])),
    "over-claiming child": (
        "rpki-overclaim",
        lambda w: w.add_child(_csr(w), "AS64496, 10.0.0.0/8", now=NOW),
    ),
    "non-canonical child resources": (
        "rpki-resources",
        lambda w: w.add_child(_csr(w), "192.0.2.0/24, 192.0.2.0/25", now=NOW),
    ),
    "EC child key": ("rpki-child-csr", lambda w: w.add_child(_ec_csr(), "AS64496", now=NOW)),
    "https caRepository": (
        "rpki-child-csr",
        lambda w: w.add_child(_csr(w, repo="https://o.example/r/"), "AS64496", now=NOW),
    ),
    "bad CSR signature": (
        "rpki-csr-signature",
        lambda w: w.add_child(_bad_signature(_csr(w)), "AS64496", now=NOW),
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_has_its_code_and_stores_nothing(ws: RpkiWorkspace, case: str) -> None:
    code, action = REFUSALS[case]
    before = _state(ws)
    with pytest.raises(PorthosError) as info:
        action(ws)
    assert info.value.code == code, info.value
    assert _state(ws) == before


def test_overclaim_names_the_difference(ws: RpkiWorkspace) -> None:
    with pytest.raises(PorthosError) as info:
        ws.add_child(_csr(ws), "AS64496-64520, 192.0.2.0/25", now=NOW)
    assert info.value.code == "rpki-overclaim"
    assert getattr(info.value, "token", None) == "AS64512-64520"


def test_cli_refusal_is_one_line_exit_2(ws: RpkiWorkspace) -> None:
    ws.close()
    run = CliRunner().invoke(main, ["rpki", "roa", "add", "-w", str(ws.root), "--asn", "0",
                                    "--prefix", "192.0.2.0/24"])  # fmt: skip
    assert run.exit_code == 2
    assert "[rpki-as0]" in run.output and "Traceback" not in run.output
    ws.store = RpkiWorkspace.open(ws.root).store
    assert db.roas(ws.store.conn, live=False) == []


def _current(ws: RpkiWorkspace, rel: str) -> bytes:
    return (ws.host_dir / ws.policy.module / rel).read_bytes()


def _econtent(der: bytes) -> bytes:
    info = _native.verify_signed_data(der)
    assert info.ok, info.detail
    assert info.content is not None
    return info.content


def test_numbers_grow_and_crl_has_no_entry_extensions(ws: RpkiWorkspace) -> None:
    _roa(ws, 64496, ["192.0.2.0/24"], 26)
    _roa(ws, 64497, ["2001:db8::/32"])
    first = publish(ws, now=NOW)
    assert first.reissued == ["ta"]
    mft = parse_manifest(_econtent(_current(ws, "ta/ta.mft")))
    assert mft.number == 1 and mft.next_update == NOW + ws.policy.manifest_next_update
    listed = {name for name, _ in mft.files}
    assert listed == {"ta.crl", *(r.file for r in db.roas(ws.store.conn))}
    for name, digest in mft.files:
        assert hashlib.sha256(_current(ws, "ta/" + name)).digest() == digest

    roa = ws.remove_roa(parse_roa_request(64497, ["2001:db8::/32"], None, ws.policy), now=NOW + 10)
    second = publish(ws, now=NOW + 20)
    assert second.version == first.version + 1
    mft2 = parse_manifest(_econtent(_current(ws, "ta/ta.mft")))
    assert mft2.number == mft.number + 1
    assert roa.file not in {n for n, _ in mft2.files}
    assert not (ws.host_dir / ws.policy.module / "ta" / roa.file).exists()
    crl = x509.load_der_x509_crl(_current(ws, "ta/ta.crl"))
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    entries = list(crl)
    assert [format(e.serial_number, "x") for e in entries] == [roa.ee_serial.lstrip("0")]
    assert all(len(e.extensions) == 0 for e in entries)  # RFC 6487 §5: none at all
    assert crl.next_update_utc is not None


def test_republish_is_idempotent_until_the_margin(ws: RpkiWorkspace) -> None:
    _roa(ws, 64496, ["192.0.2.0/24"])
    first = publish(ws, now=NOW)
    tree = ws.host_dir / ws.policy.module
    files = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    again = publish(ws, now=NOW + 60)
    assert not again.changed and again.version == first.version
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == files
    # Within manifest.reissue_margin of nextUpdate: re-issued with no change (RFC 9286 §5.1).
    due = NOW + ws.policy.manifest_next_update - ws.policy.reissue_margin + 1
    late = publish(ws, now=due)
    assert late.changed and late.reissued == ["ta"]
    assert parse_manifest(_econtent(_current(ws, "ta/ta.mft"))).number == 2


def test_failed_publish_leaves_the_previous_tree_and_store(ws: RpkiWorkspace) -> None:
    _roa(ws, 64496, ["192.0.2.0/24"])
    publish(ws, now=NOW)
    link = ws.host_dir / ws.policy.module
    old_target = os.readlink(link)
    old_state = _state(ws)[:3], db.published(ws.store.conn)
    _roa(ws, 64497, ["198.51.100.0/24"])
    mid_state = _state(ws)[:3], db.published(ws.store.conn)
    # Something already at the next version's path: the write fails before the swap.
    (ws.host_dir / version_dir_name(ws.policy.module, 2)).write_text("in the way")
    with pytest.raises(RpkiPublishError):
        publish(ws, now=NOW + 30)
    assert os.readlink(link) == old_target
    assert (_state(ws)[:3], db.published(ws.store.conn)) == mid_state != old_state
    mft = parse_manifest(_econtent(_current(ws, "ta/ta.mft")))
    assert mft.number == 1 and len(mft.files) == 2  # the old point, whole
    (ws.host_dir / version_dir_name(ws.policy.module, 2)).unlink()
    assert publish(ws, now=NOW + 40).version == 2


def _assert_fully_published(ws: RpkiWorkspace, version: int) -> None:
    """Version ``version`` whole where relying parties look: the module link on its
    directory, every file the store recorded and no other, manifests matching the files
    beside them, the TAL naming the TA's key, RRDP carrying the same objects."""
    import xml.etree.ElementTree as ET

    policy = ws.policy
    link = ws.host_dir / policy.module
    assert os.readlink(link) == version_dir_name(policy.module, version)
    stored_version, stored = db.published(ws.store.conn)
    assert stored_version == version
    root = link.resolve()
    on_disk = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }
    assert on_disk == stored
    # Two instances of one CA share its directory while a new key stages (RFC 6489):
    # their manifests together list every other file there, each file once.
    listed: dict[str, dict[str, str]] = {}
    for ca in db.cas(ws.store.conn):
        point = ca.directory + "/"
        mft = parse_manifest(_econtent(_current(ws, point + ws.manifest_name(ca))))
        names = {point + name: digest.hex() for name, digest in mft.files}
        assert not names.keys() & listed.get(point, {}).keys()
        listed.setdefault(point, {}).update(names)
    for point, names in listed.items():
        beside = {p: h for p, h in on_disk.items() if p.startswith(point)}
        assert names == {p: h for p, h in beside.items() if not p.endswith(".mft")}
    tal = parse_tal(ws.tal_path.read_text())
    assert tal.uris == (policy.ta_uri,)
    ta = x509.load_der_x509_certificate(_current(ws, policy.ta_certificate))
    assert tal.spki_der == ta.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ws.tal_path.stat().st_mode & 0o777 == 0o644
    ns = {"r": "http://www.ripe.net/rpki/rrdp"}
    note = ET.parse(ws.rrdp_dir / "notification.xml").getroot()
    snap_uri = note.find("r:snapshot", ns).get("uri")  # type: ignore[union-attr]
    snap = ET.parse(ws.rrdp_dir / snap_uri.removeprefix(policy.rrdp_base_uri)).getroot()
    assert {e.get("uri") for e in snap.findall("r:publish", ns)} == {
        policy.module_uri + p for p in on_disk
    }


def _block_swap(ws: RpkiWorkspace) -> Path:
    # A directory where the swap makes its temporary link: unlink(2) fails (EISDIR),
    # for root too.
    obstacle = ws.host_dir / (ws.policy.module + ".swap")
    (obstacle / "x").mkdir(parents=True)
    return obstacle


def _block_tal(ws: RpkiWorkspace) -> Path:
    # A directory where the TAL goes: rename(2) of a file onto it fails (EISDIR).
    ws.tal_path.unlink(missing_ok=True)
    (ws.tal_path / "x").mkdir(parents=True)
    return ws.tal_path


def _block_notification(ws: RpkiWorkspace) -> Path:
    # A directory where the RRDP notification goes: the snapshot, delta and state are
    # written, the notification's rename(2) fails (EISDIR).
    note = ws.rrdp_dir / "notification.xml"
    note.unlink()
    (note / "x").mkdir(parents=True)
    return note


def _block_rrdp_state(ws: RpkiWorkspace) -> Path:
    # A directory where the RRDP writer's state file is: unreadable, an RrdpStateError
    # (a PorthosError, not an OSError) after the commit.
    state = ws.rrdp_dir / ".rrdp-state.json"
    state.unlink()
    (state / "x").mkdir(parents=True)
    return state


AFTER_COMMIT_FAILURES = {
    "swap": ("swapping the module symlink", _block_swap),
    "tal": ("writing the TAL", _block_tal),
    "rrdp-notification": ("writing the RRDP files", _block_notification),
    "rrdp-state": ("writing the RRDP files", _block_rrdp_state),
}


@pytest.mark.parametrize("case", sorted(AFTER_COMMIT_FAILURES))
def test_failure_after_the_commit_is_completed_by_the_next_publish(
    ws: RpkiWorkspace, case: str
) -> None:
    """The store has committed version 2 when a step after the commit fails on the
    file system: the error says so, with its code, and the next publish completes
    version 2 itself (no version 3: nothing new was issued)."""
    _roa(ws, 64496, ["192.0.2.0/24"])
    publish(ws, now=NOW)
    _roa(ws, 64497, ["198.51.100.0/24"])
    step, block = AFTER_COMMIT_FAILURES[case]
    obstacle = block(ws)
    with pytest.raises(RpkiPublishIncompleteError) as info:
        publish(ws, now=NOW + 30)
    assert info.value.code == "rpki-publish-incomplete"
    message = str(info.value)
    assert message.startswith(
        f"publication version 2 committed but not fully published ({step}: "
    ), message
    assert message.endswith("; run `porthos rpki publish` again"), message
    assert db.published(ws.store.conn)[0] == 2
    if obstacle.is_dir():
        shutil.rmtree(obstacle)
    else:
        obstacle.unlink()
    again = publish(ws, now=NOW + 40)
    assert (again.version, again.reissued, again.changed) == (2, [], True)
    _assert_fully_published(ws, 2)
    assert len(parse_manifest(_econtent(_current(ws, "ta/ta.mft"))).files) == 3
    done = publish(ws, now=NOW + 50)
    assert (done.version, done.changed) == (2, False)


def test_the_version_served_stays_on_disk_when_a_later_one_is_swapped_in(
    ws: RpkiWorkspace,
) -> None:
    """Version 2 commits but its swap fails (the link still names version 1); the next
    publish has changes, commits version 3 and swaps it in. Version 1, what readers
    were served until that swap, stays on disk beside it (a reader half-way through it
    keeps a consistent tree), as version N - 1 does after an ordinary publish."""
    _roa(ws, 64496, ["192.0.2.0/24"])
    first = publish(ws, now=NOW)
    link = first.path
    _roa(ws, 64497, ["198.51.100.0/24"])
    obstacle = _block_swap(ws)
    with pytest.raises(RpkiPublishIncompleteError):
        publish(ws, now=NOW + 30)
    served = os.readlink(link)
    assert served == version_dir_name(ws.policy.module, 1)
    if obstacle.is_dir():
        shutil.rmtree(obstacle)
    else:
        obstacle.unlink()
    _roa(ws, 64498, ["192.0.2.0/25"])
    third = publish(ws, now=NOW + 40)
    assert third.version == 3 and os.readlink(link) == version_dir_name(ws.policy.module, 3)
    on_disk = {p.name for p in link.parent.iterdir() if p.name != link.name}
    assert served in on_disk, on_disk
    _assert_fully_published(ws, 3)


def test_cli_reports_an_incomplete_publication(ws: RpkiWorkspace) -> None:
    ws.close()
    _block_tal(ws)
    run = CliRunner().invoke(main, ["rpki", "publish", "-w", str(ws.root), "--now", f"@{NOW}"])
    assert run.exit_code == 2
    assert "[rpki-publish-incomplete]" in run.output and "Traceback" not in run.output
    assert "publication version 1 committed but not fully published" in run.output
    shutil.rmtree(ws.tal_path)
    run = CliRunner().invoke(main, ["rpki", "publish", "-w", str(ws.root), "--now", f"@{NOW}"])
    assert run.exit_code == 0, run.output
    assert "published version 1:" in run.output
    ws.store = RpkiWorkspace.open(ws.root).store
    _assert_fully_published(ws, 1)


def test_a_half_written_uncommitted_version_is_written_again(ws: RpkiWorkspace) -> None:
    """A publish that failed while writing version 1 (before its commit) left part of
    its directory: the next publish replaces it with the whole version."""
    _roa(ws, 64496, ["192.0.2.0/24"])
    partial = ws.host_dir / version_dir_name(ws.policy.module, 1)
    (partial / "ta").mkdir(parents=True)
    (partial / "ta" / "ta.crl").write_bytes(b"half")
    assert publish(ws, now=NOW).version == 1
    _assert_fully_published(ws, 1)


def test_publish_refuses_a_store_without_exactly_one_trust_anchor(ws: RpkiWorkspace) -> None:
    """The TAL names the CA without a parent; two of them is a store to repair."""
    ta = db.ca(ws.store.conn, "ta")
    assert ta is not None
    with ws.store.transaction() as conn:
        db.insert_ca(conn, ta._replace(name="ta2", directory="ta2", key_file="keys/ta2.p8"))
    before = _state(ws)
    with pytest.raises(RpkiPublishError, match=r"2 trust anchors \(ta, ta2\), not one"):
        publish(ws, now=NOW)
    assert _state(ws) == before
    assert not (ws.host_dir / ws.policy.module).exists()


def test_reader_never_sees_a_missing_or_stale_file(ws: RpkiWorkspace) -> None:
    """A reader resolving the module path over and over while ten publications each
    add a ROA: every manifest it reads lists files that exist with its hashes."""
    publish(ws, now=NOW)
    link = ws.host_dir / ws.policy.module
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            root = link.resolve()  # one path resolution, as a reader's open() does
            try:
                mft = parse_manifest(_econtent((root / "ta" / "ta.mft").read_bytes()))
                for name, digest in mft.files:
                    data = (root / "ta" / name).read_bytes()
                    if hashlib.sha256(data).digest() != digest:
                        problems.append(f"stale {name} in {root.name}")
            except FileNotFoundError as exc:
                problems.append(f"missing {exc.filename}")
            reads[0] += 1

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(10):
            _roa(ws, 64496 + i, [f"192.0.2.{i * 16}/28"])
            publish(ws, now=NOW + 10 * (i + 1))
    finally:
        stop.set()
        t.join()
    assert problems == []
    assert reads[0] > 10
    # The previous version stays for readers still in it; older ones are gone.
    versions = sorted(p.name for p in ws.host_dir.iterdir() if p.name.startswith("."))
    assert versions == [version_dir_name("repo", 10), version_dir_name("repo", 11)]


def test_hosted_child_publishes_its_own_point(ws: RpkiWorkspace) -> None:
    key, csr = ws.hosted_csr("kid")
    child = ws.add_child(csr, "AS64500, 198.51.100.0/24", name="kid", hosted_key=key, now=NOW)
    assert child.ca_repository == "rsync://rpki.example.net/repo/kid/"
    ws.add_roas([parse_roa_request(64500, ["198.51.100.0/24"], None, ws.policy)],
                ca_name="kid", now=NOW)  # fmt: skip
    pub = publish(ws, now=NOW)
    assert pub.reissued == ["ta", "kid"]
    assert (pub.path / "ta" / "kid.cer").read_bytes() == child.certificate
    mft = parse_manifest(_econtent(_current(ws, "kid/kid.mft")))
    assert len(mft.files) == 2  # kid.crl and the ROA
    cert = x509.load_der_x509_certificate(child.certificate)
    sia = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.11"))
    assert sia.value is not None


def test_state_in_postgres(tmp_path: Path, pg_url: str, pg_server: object,
                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The same store state on PostgreSQL (schema 10 through store/dialect.py)."""
    monkeypatch.setenv("PGPASSWORD", pg_server.password())  # type: ignore[attr-defined]
    w = RpkiWorkspace.init(tmp_path / "pg", RESOURCES, store_url=pg_url, now=NOW)
    try:
        assert (tmp_path / "pg" / "store.toml").is_file()
        _roa(w, 64496, ["192.0.2.0/24"], 25)
        key, csr = w.hosted_csr("kid")
        w.add_child(csr, "AS64500, 198.51.100.0/24", name="kid", hosted_key=key, now=NOW)
        before = _state(w)
        with pytest.raises(PorthosError) as info:
            _roa(w, 64496, ["203.0.113.0/24"])
        assert info.value.code == "rpki-overclaim" and _state(w) == before
        assert publish(w, now=NOW).version == 1
        roa = w.remove_roa(parse_roa_request(64496, ["192.0.2.0/24"], 25, w.policy), now=NOW)
        pub = publish(w, now=NOW + 5)
        assert pub.version == 2 and pub.reissued == ["ta"]
    finally:
        w.close()
    w = RpkiWorkspace.open(tmp_path / "pg")
    try:
        conn = w.store.conn
        ta = db.ca(conn, "ta")
        assert ta is not None and (ta.manifest_number, ta.crl_number) == (2, 2)
        assert db.revoked(conn, "ta")[0][0] == roa.ee_serial
        assert [c.name for c in db.children(conn)] == ["kid"]
        assert db.published(conn)[0] == 2
    finally:
        w.close()


def test_publish_writes_rrdp_alongside(ws: RpkiWorkspace) -> None:
    """RRDP (RFC 8182, workspace/rrdp.py) carries the same objects under their rsync
    URIs; a withdrawn ROA is a ``withdraw`` in the next delta."""
    import xml.etree.ElementTree as ET

    ns = {"r": "http://www.ripe.net/rpki/rrdp"}
    _roa(ws, 64496, ["192.0.2.0/24"])
    publish(ws, now=NOW)
    note = ET.parse(ws.rrdp_dir / "notification.xml").getroot()
    assert note.get("serial") == "1"
    # The TA's rpkiNotify names that file where the RRDP base URI serves it (RFC 8182 §3.2).
    ta = x509.load_der_x509_certificate(_current(ws, "ta.cer"))
    sia = ta.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.11"))
    notify = dict(_native.rpki_parse_sia(sia.value.public_bytes()))["rpki_notify"]
    assert notify == ws.policy.rrdp_base_uri + "notification.xml"
    snap_uri = note.find("r:snapshot", ns).get("uri")  # type: ignore[union-attr]
    snap = ET.parse(ws.rrdp_dir / snap_uri.removeprefix(ws.policy.rrdp_base_uri)).getroot()
    tree = ws.host_dir / ws.policy.module
    files = {
        ws.policy.module_uri + str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()
    }
    assert {e.get("uri") for e in snap.findall("r:publish", ns)} == files
    roa = ws.remove_roa(parse_roa_request(64496, ["192.0.2.0/24"], None, ws.policy), now=NOW + 1)
    publish(ws, now=NOW + 2)
    note = ET.parse(ws.rrdp_dir / "notification.xml").getroot()
    assert note.get("serial") == "2"
    delta_uri = note.find("r:delta", ns).get("uri")  # type: ignore[union-attr]
    delta = ET.parse(ws.rrdp_dir / delta_uri.removeprefix(ws.policy.rrdp_base_uri)).getroot()
    withdrawn = {e.get("uri") for e in delta.findall("r:withdraw", ns)}
    assert withdrawn == {ws.policy.directory_uri("ta") + roa.file}


def test_cli_child_add_from_a_csr_file(ws: RpkiWorkspace, tmp_path: Path) -> None:
    """``rpki child add --csr F``: the certificate carries the request's SIA and the
    resources asked for; the same key a second time is refused."""
    ws.close()
    csr = tmp_path / "kid.csr"
    csr.write_bytes(_csr(ws, "kid"))
    args = ["rpki", "child", "add", "-w", str(ws.root), "--csr", str(csr)]
    run = CliRunner().invoke(
        main, [*args, "--resources", "AS64500, 192.0.2.0/25", "--name", "kid"]
    )
    assert run.exit_code == 0, run.output
    again = CliRunner().invoke(main, [*args, "--resources", "AS64501", "--name", "kid2"])
    assert again.exit_code == 2 and "[rpki]" in again.output
    show = CliRunner().invoke(main, ["rpki", "show", "-w", str(ws.root)])
    assert show.exit_code == 0 and "kid" in show.output
    ws.store = RpkiWorkspace.open(ws.root).store
    (child,) = db.children(ws.store.conn)
    cert = x509.load_der_x509_certificate(child.certificate)
    sia = _native.rpki_parse_sia(
        cert.extensions.get_extension_for_oid(
            x509.ObjectIdentifier("1.3.6.1.5.5.7.1.11")
        ).value.public_bytes()
    )
    assert sia == [
        ("ca_repository", "rsync://other.example/repo/kid/"),
        ("rpki_manifest", "rsync://other.example/repo/kid/kid.mft"),
    ]
    assert child.resources == "AS64500, 192.0.2.0/25"


def test_rollover_waits_for_the_staging_period(ws: RpkiWorkspace) -> None:
    from porthos.workspace import rpki_rollover

    key, csr = ws.hosted_csr("kid")
    ws.add_child(csr, "AS64500, 198.51.100.0/24", name="kid", hosted_key=key, now=NOW)
    ws.add_roas(
        [parse_roa_request(64500, ["198.51.100.0/24"], None, ws.policy)], ca_name="kid", now=NOW
    )
    with pytest.raises(PorthosError) as info:
        rpki_rollover.start(ws, "ta", now=NOW)
    assert info.value.code == "rpki-rollover"
    new = rpki_rollover.start(ws, "kid", now=NOW)
    assert (new.name, new.status, new.directory) == ("kid-k2", "staging", "kid")
    for action in (
        lambda: rpki_rollover.start(ws, "kid", now=NOW),  # one at a time
        lambda: rpki_rollover.activate(ws, "kid", now=NOW + ws.policy.rollover_staging - 1),
        lambda: ws.add_roas(
            [parse_roa_request(64500, ["198.51.100.0/25"], None, ws.policy)], ca_name="kid-k2"
        ),
        lambda: ws.add_child(_csr(ws, "gkid"), "AS64500", parent="kid-k2", now=NOW),
    ):
        before = _state(ws)
        with pytest.raises(PorthosError) as info:
            action()
        assert info.value.code == "rpki-rollover" and _state(ws) == before
    pub = publish(ws, now=NOW)
    assert parse_manifest(_econtent(_current(ws, "kid/kid-k2.mft"))).files[0][0] == "kid-k2.crl"
    assert len(parse_manifest(_econtent(_current(ws, "kid/kid-k2.mft"))).files) == 1
    active = rpki_rollover.activate(ws, "kid", now=NOW + ws.policy.rollover_staging)
    assert active.status == "active" and ws.ca("kid").status == "retired"
    (roa,) = db.roas(ws.store.conn)
    assert roa.ca_name == "kid-k2"
    assert pub.version + 1 == publish(ws, now=NOW + ws.policy.rollover_staging).version


_PUBLISHER = """
import sys
from pathlib import Path
from porthos.workspace.rpki_ca import RpkiWorkspace
from porthos.workspace.rpki_publish import publish
ws = RpkiWorkspace.open(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    print(publish(ws, now=int(sys.argv[3]) + i, force=True).version, flush=True)
ws.close()
"""


def _publisher(ws: RpkiWorkspace, count: int, now: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PUBLISHER, str(ws.root), str(count), str(now)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _notification(ws: RpkiWorkspace) -> tuple[str, int, list[int]]:
    """(session, serial, delta serials newest first) of the current notification."""
    import xml.etree.ElementTree as ET

    note = ET.parse(ws.rrdp_dir / "notification.xml").getroot()
    deltas = [int(d.get("serial", "0")) for d in note if d.tag.endswith("delta")]
    return note.get("session_id", ""), int(note.get("serial", "0")), deltas


def test_publish_waits_for_the_repository_lock(ws: RpkiWorkspace) -> None:
    """``rpki publish`` takes the lock ``crl publish`` takes (workspace/repository.py):
    while another writer holds it, a publish in another process writes nothing and
    waits; once it is released, that publish completes."""
    from porthos.workspace.repository import repository_lock

    _roa(ws, 64496, ["192.0.2.0/24"])
    with repository_lock(ws):
        proc = _publisher(ws, 1, NOW)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        assert not (ws.host_dir / ws.policy.module).exists()
        assert not ws.rrdp_dir.exists()
        assert db.published(ws.store.conn)[0] == 0
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == ["1"]
    _assert_fully_published(ws, 1)


def test_concurrent_publishes_leave_one_consistent_point(ws: RpkiWorkspace) -> None:
    """Two processes publishing (forced, so each one writes a version) at once: every
    publish succeeds with its own version, the point is whole (manifests list exactly
    the files beside them, RRDP carries the same objects), and the RRDP serial only
    grows, one per version, in the session of the first publication."""
    _roa(ws, 64496, ["192.0.2.0/24"])
    key, csr = ws.hosted_csr("kid")
    ws.add_child(csr, "AS64500, 198.51.100.0/24", name="kid", hosted_key=key, now=NOW)
    publish(ws, now=NOW)
    session, serial, _ = _notification(ws)
    assert serial == 1
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            s, n, _ = _notification(ws)
            seen.append((s, n))

    t = threading.Thread(target=watch)
    t.start()
    try:
        procs = [_publisher(ws, 5, NOW + 100), _publisher(ws, 5, NOW + 200)]
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        stop.set()
        t.join()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    versions = sorted(int(v) for out, _ in outs for v in out.split())
    assert versions == list(range(2, 12))
    _assert_fully_published(ws, 11)
    assert {s for s, _ in seen} == {session}
    serials = [n for _, n in seen]
    assert serials == sorted(serials) and serials[-1] == 11
    now_session, now_serial, deltas = _notification(ws)
    assert (now_session, now_serial) == (session, 11)
    assert deltas == list(range(11, 11 - len(deltas), -1)) and deltas


def _hosted(ws: RpkiWorkspace, name: str, resources: str, parent: str = "ta") -> db.RpkiChild:
    key, csr = ws.hosted_csr(name)
    return ws.add_child(csr, resources, name=name, parent=parent, hosted_key=key, now=NOW)


def _crl_serials(ws: RpkiWorkspace, rel: str) -> set[int]:
    return {e.serial_number for e in x509.load_der_x509_crl(_current(ws, rel))}


def test_child_revoke_withdraws_its_certificate_and_point(ws: RpkiWorkspace) -> None:
    """``revoke_child``: the CA certificate's serial on the parent's next CRL, its file
    off the parent's point; a hosted child's own point (CRL, manifest, ROAs) leaves
    the publication; a second revocation is refused."""
    outside = ws.add_child(_csr(ws, "ext"), "AS64501", name="ext", now=NOW)
    kid = _hosted(ws, "kid", "AS64500, 198.51.100.0/24")
    ws.add_roas([parse_roa_request(64500, ["198.51.100.0/24"], None, ws.policy)],
                ca_name="kid", now=NOW)  # fmt: skip
    publish(ws, now=NOW)
    assert {"ta/kid.cer", "ta/ext.cer", "kid/kid.mft"} <= set(db.published(ws.store.conn)[1])
    ws.revoke_child("kid", now=NOW + 1)
    ws.revoke_child("ext", now=NOW + 1)
    pub = publish(ws, now=NOW + 2)
    assert pub.reissued == ["ta"]
    _assert_fully_published(ws, pub.version)
    files = set(db.published(ws.store.conn)[1])
    assert not {p for p in files if p.startswith("kid/")} and "ta/kid.cer" not in files
    assert "ta/ext.cer" not in files
    assert _crl_serials(ws, "ta/ta.crl") == {int(kid.serial_hex, 16), int(outside.serial_hex, 16)}
    assert ws.ca("kid").status == "retired" and db.roas(ws.store.conn, "kid") == []
    assert {c.name: c.status for c in db.children(ws.store.conn)} == {
        "ext": "revoked",
        "kid": "revoked",
    }
    before = _state(ws)
    with pytest.raises(PorthosError) as info:
        ws.revoke_child("kid", now=NOW + 3)
    assert info.value.code == "rpki-child" and _state(ws) == before


def test_child_revoke_and_reissue_refusals_store_nothing(ws: RpkiWorkspace) -> None:
    from porthos.workspace import rpki_rollover

    _hosted(ws, "kid", "AS64500, 198.51.100.0/24")
    _hosted(ws, "gkid", "198.51.100.0/25", parent="kid")
    ws.add_roas([parse_roa_request(64500, ["198.51.100.128/25"], None, ws.policy)],
                ca_name="kid", now=NOW)  # fmt: skip
    _hosted(ws, "rolling", "AS64501")
    rpki_rollover.start(ws, "rolling", now=NOW)
    cases = {
        "no such child": ("rpki-child", lambda: ws.revoke_child("nobody")),
        "live grandchild": ("rpki-child", lambda: ws.revoke_child("kid")),
        "rollover under way": ("rpki-child", lambda: ws.revoke_child("rolling")),
        "staging instance": ("rpki-child", lambda: ws.reissue_child("rolling-k2")),
        "over the parent": ("rpki-overclaim", lambda: ws.reissue_child("kid", "AS64500-64520")),
        "ROA left outside": (
            "rpki-child",
            lambda: ws.reissue_child("kid", "AS64500, 198.51.100.0/25"),
        ),
        "grandchild left outside": (
            "rpki-child",
            lambda: ws.reissue_child("kid", "AS64500, 198.51.100.128/25"),
        ),
        "bad resources": ("rpki-resources", lambda: ws.reissue_child("kid", "192.0.2.1/24")),
    }
    for case, (code, action) in cases.items():
        before = _state(ws)
        with pytest.raises(PorthosError) as info:
            action()
        assert info.value.code == code, (case, info.value)
        assert _state(ws) == before, case


def test_child_reissue_same_key_new_resources(ws: RpkiWorkspace) -> None:
    """``reissue_child``: a new certificate for the same key, subject and SIA with the
    new resources; the old serial on the parent's CRL; a hosted child's CA row signs
    under the new certificate and its existing ROAs stay published."""
    old = _hosted(ws, "kid", "AS64500, 198.51.100.0/24")
    ws.add_roas([parse_roa_request(64500, ["198.51.100.0/25"], None, ws.policy)],
                ca_name="kid", now=NOW)  # fmt: skip
    publish(ws, now=NOW)
    new = ws.reissue_child("kid", "AS64500-64501, 198.51.100.0/25, 192.0.2.0/24", now=NOW + 1)
    assert new.serial_hex != old.serial_hex and new.file == old.file
    assert new.resources == "AS64500-64501, 192.0.2.0/24, 198.51.100.0/25"
    a, b = (x509.load_der_x509_certificate(c.certificate) for c in (old, new))
    assert a.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == b.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert a.subject == b.subject
    sia = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.11")
    assert a.extensions.get_extension_for_oid(sia) == b.extensions.get_extension_for_oid(sia)
    assert ws.ca("kid").certificate == new.certificate
    assert ws.ca("kid").resources == new.resources
    pub = publish(ws, now=NOW + 2)
    _assert_fully_published(ws, pub.version)
    assert _current(ws, "ta/kid.cer") == new.certificate
    assert _crl_serials(ws, "ta/ta.crl") == {int(old.serial_hex, 16)}
    assert len(db.roas(ws.store.conn, "kid")) == 1
    # Same resources again (the default): a fresh certificate, the previous one revoked.
    again = ws.reissue_child("kid", now=NOW + 3)
    assert again.resources == new.resources and again.serial_hex != new.serial_hex
    publish(ws, now=NOW + 4)
    assert _crl_serials(ws, "ta/ta.crl") == {int(old.serial_hex, 16), int(new.serial_hex, 16)}


def test_cli_child_revoke_and_reissue(ws: RpkiWorkspace, tmp_path: Path) -> None:
    ws.add_child(_csr(ws, "kid"), "AS64500, 192.0.2.0/25", name="kid", now=NOW)
    ws.close()
    w = ["-w", str(ws.root)]
    run = CliRunner().invoke(main, ["rpki", "child", "reissue", *w, "--name", "kid",
                                    "--resources", "AS64500"])  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "(AS64500) replaces" in run.output
    run = CliRunner().invoke(main, ["rpki", "child", "reissue", *w, "--name", "kid",
                                    "--resources", "10.0.0.0/8"])  # fmt: skip
    assert run.exit_code == 2 and "[rpki-overclaim]" in run.output
    assert len(run.output.strip().splitlines()) == 1 and "Traceback" not in run.output
    run = CliRunner().invoke(main, ["rpki", "child", "revoke", *w, "--name", "kid"])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(main, ["rpki", "child", "revoke", *w, "--name", "kid"])
    assert run.exit_code == 2 and "[rpki-child]" in run.output
    assert len(run.output.strip().splitlines()) == 1
    ws.store = RpkiWorkspace.open(ws.root).store
    ((kid,),) = [db.children(ws.store.conn)]
    assert (kid.status, kid.resources) == ("revoked", "AS64500")
    events = [r[0] for r in ws.store.conn.execute("SELECT event FROM audit ORDER BY rowid")]
    assert [e for e in events if e.startswith("rpki.child")][-2:] == [
        "rpki.child-reissued",
        "rpki.child-revoked",
    ]


def _aki(der: bytes) -> bytes:
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    ).value.key_identifier  # type: ignore[return-value]


def _ski(der: bytes) -> bytes:
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_rollover_of_a_ca_with_children_recertifies_them(ws: RpkiWorkspace) -> None:
    """RFC 6489 for a CA with child CAs: while the new key stages, the old instance
    keeps certifying; at activation every live child (hosted or not) gets a
    certificate from the new key for its same key, resources and SIA, at the same
    file; the old instance's point and certificate leave, its serial on the TA's CRL."""
    from porthos.workspace import rpki_rollover

    old_kid = _hosted(ws, "kid", "AS64500-64502, 198.51.100.0/24")
    gkid = _hosted(ws, "gkid", "AS64501, 198.51.100.0/25", parent="kid")
    ext = ws.add_child(_csr(ws, "ext"), "AS64502", name="ext", parent="kid", now=NOW)
    ws.add_roas([parse_roa_request(64501, ["198.51.100.0/26"], None, ws.policy)],
                ca_name="gkid", now=NOW)  # fmt: skip
    publish(ws, now=NOW)
    new = rpki_rollover.start(ws, "kid", now=NOW + 1)
    pub = publish(ws, now=NOW + 2)
    _assert_fully_published(ws, pub.version)
    assert _current(ws, "kid/gkid.cer") == gkid.certificate
    assert len(parse_manifest(_econtent(_current(ws, "kid/kid-k2.mft"))).files) == 1
    later = NOW + 3 + ws.policy.rollover_staging
    rpki_rollover.activate(ws, "kid", now=later)
    conn = ws.store.conn
    moved = {c.name: c for c in db.children(conn, new.name)}
    assert set(moved) == {"gkid", "ext"}
    for before in (gkid, ext):
        after = moved[before.name]
        assert after.status == "live" and after.serial_hex != before.serial_hex
        assert (after.resources, after.ca_repository, after.rpki_manifest, after.file) == (
            before.resources, before.ca_repository, before.rpki_manifest, before.file
        )  # fmt: skip
        assert _ski(after.certificate) == _ski(before.certificate)
        assert _aki(after.certificate) == _ski(new.certificate) != _aki(before.certificate)
    assert {c.status for c in db.children(conn, "kid")} == {"revoked"}
    hosted = ws.ca("gkid")
    assert (hosted.parent, hosted.certificate) == ("kid-k2", moved["gkid"].certificate)
    pub = publish(ws, now=later + 1)
    _assert_fully_published(ws, pub.version)
    files = set(db.published(conn)[1])
    assert {
        "kid/kid-k2.mft",
        "kid/kid-k2.crl",
        "kid/gkid.cer",
        "kid/ext.cer",
        "ta/kid-k2.cer",
    } <= files
    assert not {"kid/kid.mft", "kid/kid.crl", "ta/kid.cer"} & files
    assert _current(ws, "kid/gkid.cer") == moved["gkid"].certificate
    assert _crl_serials(ws, "ta/ta.crl") == {int(old_kid.serial_hex, 16)}
    # gkid's own point is untouched: its ROA still signed by its (same) key.
    assert len(db.roas(conn, "gkid")) == 1
    # The moved children can be revoked and re-issued under the new key.
    ws.reissue_child("ext", "AS64502", now=later + 2)
    ws.revoke_child("gkid", now=later + 2)
    publish(ws, now=later + 3)
    assert _crl_serials(ws, "kid/kid-k2.crl") == {
        int(moved["ext"].serial_hex, 16), int(moved["gkid"].serial_hex, 16)
    }  # fmt: skip
