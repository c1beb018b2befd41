"""RRDP files (RFC 8182): schema-valid, the snapshot and deltas rebuild the published
set, the notification is the last file written, and a broken state file stops the
writer with its code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from error_codes import raises_code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from porthos.exceptions import InputError, RrdpStateError
from porthos.workspace.rrdp import NOTIFICATION, RRDP_NS, STATE_FILE, RrdpState, write_rrdp
from porthos.workspace.rrdp_state import dump_state, load_state

BASE = "https://rrdp.example.net/rrdp"
SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parent / "data" / "rrdp-rfc8182.rng")))
NS = {"r": RRDP_NS}


def _uri(name: str) -> str:
    return f"rsync://rpki.example.net/repo/ca/{name}"


def _file(rrdp: Path, uri: str) -> Path:
    assert uri.startswith(BASE + "/")
    return rrdp / uri[len(BASE) + 1 :]


def _parse(path: Path) -> etree._Element:
    doc = etree.parse(str(path))
    SCHEMA.assertValid(doc)  # RFC 8182 §3.5
    return doc.getroot()


def _notification(rrdp: Path) -> etree._Element:
    root = _parse(rrdp / NOTIFICATION)
    # Every file named is there and has the hash stated (RFC 8182 §3.5.1.3).
    for el in root:
        data = _file(rrdp, el.get("uri")).read_bytes()
        assert el.get("hash") == hashlib.sha256(data).hexdigest()
    return root


def _apply(current: dict[str, bytes], path: Path, session: str, serial: int) -> None:
    """A relying party applying one snapshot or delta (RFC 8182 §3.4.2, §3.4.3)."""
    root = _parse(path)
    assert (root.get("session_id"), int(root.get("serial"))) == (session, serial)
    if root.tag == f"{{{RRDP_NS}}}snapshot":
        current.clear()
    for el in root:
        uri, want = el.get("uri"), el.get("hash")
        if want is not None:  # replacing or withdrawing exactly the object we hold
            assert hashlib.sha256(current[uri]).hexdigest() == want
        elif root.tag == f"{{{RRDP_NS}}}delta":
            assert uri not in current  # a publish without hash is a new object
        if el.tag == f"{{{RRDP_NS}}}withdraw":
            del current[uri]
        else:
            current[uri] = base64.b64decode(el.text or "", validate=True)


def _generations() -> list[dict[str, str | bytes]]:
    a = {_uri(f"r{i}.roa"): os.urandom(300 + i) for i in range(20)}
    b = dict(a)
    b[_uri("r3.roa")] = os.urandom(310)  # replaced
    del b[_uri("r4.roa")]  # withdrawn
    b[_uri("new.roa")] = os.urandom(50)  # added
    c = dict(b)
    c[_uri("ca.mft")] = os.urandom(900)
    del c[_uri("r5.roa")]
    return [a, b, c]  # type: ignore[list-item]


def test_snapshot_plus_deltas_rebuild_every_generation(tmp_path: Path) -> None:
    rrdp = tmp_path / "rrdp"
    gens: list[dict[str, bytes]] = _generations()  # type: ignore[assignment]
    states: list[RrdpState] = []
    first_snapshot = rrdp / "first-snapshot.xml"
    for n, objects in enumerate(gens, start=1):
        state = write_rrdp(rrdp, objects, base_uri=BASE)
        states.append(state)
        assert (state.serial, state.changed) == (n, True)
        root = _notification(rrdp)
        assert root.get("serial") == str(n) and root.get("session_id") == state.session_id
        deltas = root.findall("r:delta", NS)
        assert [int(d.get("serial")) for d in deltas] == list(range(n, 1, -1))
        # The current snapshot alone is the current set.
        current: dict[str, bytes] = {}
        _apply(current, _file(rrdp, root.find("r:snapshot", NS).get("uri")), state.session_id, n)
        assert current == objects
        if n == 1:
            first_snapshot.write_bytes(_file(rrdp, state.snapshot_uri).read_bytes())
    # A relying party at serial 1 applies the deltas in order and reaches the last set.
    current = {}
    _apply(current, first_snapshot, states[0].session_id, 1)
    for serial, uri in sorted(states[-1].delta_uris):
        _apply(current, _file(rrdp, uri), states[0].session_id, serial)
    assert current == gens[-1]
    assert len({s.session_id for s in states}) == 1
    # URIs are new per serial and unguessable (RFC 8182 §3.3.2): 128 random bits each.
    uris = [s.snapshot_uri for s in states]
    assert len(set(uris)) == 3 and all(len(u.split("/")[-2]) == 32 for u in uris)


def test_same_set_is_no_new_serial_and_old_files_go(tmp_path: Path) -> None:
    rrdp = tmp_path / "rrdp"
    gens: list[dict[str, bytes]] = _generations()  # type: ignore[assignment]
    s1 = write_rrdp(rrdp, gens[0], base_uri=BASE)
    again = write_rrdp(rrdp, dict(gens[0]), base_uri=BASE + "/")
    assert (again.serial, again.changed, again.snapshot_uri) == (1, False, s1.snapshot_uri)
    s2 = write_rrdp(rrdp, gens[1], base_uri=BASE)
    # A reader of notification 1 still finds its snapshot while serial 2 is current...
    assert _file(rrdp, s1.snapshot_uri).is_file()
    write_rrdp(rrdp, gens[2], base_uri=BASE)
    # ... and it goes one serial later; the deltas still named stay.
    assert not _file(rrdp, s1.snapshot_uri).exists()
    assert _file(rrdp, s2.snapshot_uri).is_file()
    assert all(_file(rrdp, u).is_file() for _, u in s2.delta_uris)


def test_deltas_bounded_by_count_and_snapshot_size(tmp_path: Path) -> None:
    rrdp = tmp_path / "rrdp"
    objects = {_uri(f"r{i}.roa"): os.urandom(200) for i in range(30)}
    write_rrdp(rrdp, objects, base_uri=BASE, max_deltas=3)
    for i in range(5):  # small changes: each delta is far smaller than the snapshot
        objects[_uri(f"r{i}.roa")] = os.urandom(200)
        state = write_rrdp(rrdp, objects, base_uri=BASE, max_deltas=3)
    assert [s for s, _ in state.delta_uris] == [6, 5, 4]
    # Replace every object: this delta (with hashes) is larger than the snapshot, so the
    # notification lists none (RFC 8182 §3.3.2) and relying parties take the snapshot.
    objects = {uri: os.urandom(200) for uri in objects}
    state = write_rrdp(rrdp, objects, base_uri=BASE, max_deltas=3)
    assert state.serial == 7 and state.delta_uris == ()
    assert _notification(rrdp).findall("r:delta", NS) == []
    objects[_uri("r0.roa")] = b"x"
    state = write_rrdp(rrdp, objects, base_uri=BASE, max_deltas=3)
    assert [s for s, _ in state.delta_uris] == [8]


# Runs write_rrdp in a child that SIGKILLs itself just before one rename, as a power
# cut there would: argv = rrdp dir, the file name whose rename is the crash point.
CRASHER = r"""
import os, signal, sys
from pathlib import Path
from porthos.workspace.rrdp import write_rrdp
real = os.replace
def replace(src, dst):
    if Path(dst).name == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
objects = {f"rsync://rpki.example.net/repo/ca/r{i}.roa": bytes([i]) * 100 for i in range(5)}
write_rrdp(Path(sys.argv[1]), objects, base_uri="https://rrdp.example.net/rrdp")
"""


@pytest.mark.parametrize("crash_at", [STATE_FILE, NOTIFICATION, "snapshot.xml", "delta.xml"])
def test_crash_before_notification_leaves_the_old_one_valid(tmp_path: Path, crash_at: str) -> None:
    rrdp = tmp_path / "rrdp"
    old = {_uri(f"r{i}.roa"): bytes([i]) * 100 for i in range(5)}
    old[_uri("r4.roa")] = b"old"  # the crashed run replaces this one: a small delta
    s1 = write_rrdp(rrdp, old, base_uri=BASE)
    before = (rrdp / NOTIFICATION).read_bytes()
    run = subprocess.run([sys.executable, "-c", CRASHER, str(rrdp), crash_at], check=False)
    assert run.returncode == -9
    # The notification is the one of serial 1, and everything it names is intact.
    assert (rrdp / NOTIFICATION).read_bytes() == before
    current: dict[str, bytes] = {}
    root = _notification(rrdp)
    _apply(current, _file(rrdp, root.find("r:snapshot", NS).get("uri")), s1.session_id, 1)
    assert current == old
    # The next run completes serial 2 (or finds it already recorded) and tidies up.
    new = {_uri(f"r{i}.roa"): bytes([i]) * 100 for i in range(5)}
    s2 = write_rrdp(rrdp, new, base_uri=BASE)
    assert s2.serial == 2 and int(_notification(rrdp).get("serial")) == 2
    assert [s for s, _ in s2.delta_uris] == [2]
    assert s2.changed is (crash_at != NOTIFICATION)
    leftovers = [p for p in rrdp.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    xml_files = {p for p in rrdp.rglob("*.xml") if p.name != NOTIFICATION}
    named = {_file(rrdp, s2.snapshot_uri), _file(rrdp, s1.snapshot_uri)}
    named |= {_file(rrdp, u) for _, u in s2.delta_uris}
    assert xml_files == named


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"format": 1}',
        b"{" * 100000,
    ],
)
def test_garbage_state_file_is_refused_and_nothing_published(
    tmp_path: Path, garbage: bytes
) -> None:
    rrdp = tmp_path / "rrdp"
    write_rrdp(rrdp, {_uri("a.roa"): b"a"}, base_uri=BASE)
    before = (rrdp / NOTIFICATION).read_bytes()
    files = sorted(rrdp.rglob("*"))
    (rrdp / STATE_FILE).write_bytes(garbage)
    with raises_code(RrdpStateError, "rrdp-state"):
        write_rrdp(rrdp, {_uri("b.roa"): b"b"}, base_uri=BASE)
    assert (rrdp / NOTIFICATION).read_bytes() == before
    assert sorted(rrdp.rglob("*")) == files


def _valid_state_doc(tmp_path: Path) -> dict[str, object]:
    rrdp = tmp_path / "rrdp"
    write_rrdp(rrdp, {_uri("a.roa"): b"a"}, base_uri=BASE)
    write_rrdp(rrdp, {_uri("a.roa"): b"b"}, base_uri=BASE)
    doc: dict[str, object] = json.loads((rrdp / STATE_FILE).read_bytes())
    return doc


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", 2),
        ("serial", 0),
        ("serial", True),
        ("session_id", "not-a-uuid"),
        ("deltas", [{"serial": 9, "path": "x", "sha256": "0" * 64, "size": 1}]),
        ("objects", {"rsync://x/a.roa": "ZZ"}),
        ("retired", ["../../etc/passwd"]),
    ],
)
def test_state_fields_checked(tmp_path: Path, field: str, value: object) -> None:
    doc = _valid_state_doc(tmp_path)
    assert load_state(json.dumps(doc).encode(), "s").serial == 2
    doc[field] = value
    with raises_code(RrdpStateError, "rrdp-state"):
        load_state(json.dumps(doc).encode(), "s")


def test_state_path_cannot_leave_the_directory(tmp_path: Path) -> None:
    doc = _valid_state_doc(tmp_path)
    snap = dict(doc["snapshot"])  # type: ignore[call-overload]
    snap["path"] = "../" + snap["path"]
    doc["snapshot"] = snap
    with raises_code(RrdpStateError, "rrdp-state"):
        load_state(json.dumps(doc).encode(), "s")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_state_reader_only_raises_its_error(data: bytes) -> None:
    try:
        state = load_state(data, "s")
    except RrdpStateError:
        return
    assert load_state(dump_state(state), "s") == state  # accepted => round trips


@pytest.fixture(scope="module")
def valid_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _valid_state_doc(tmp_path_factory.mktemp("state"))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(["format", "session_id", "serial", "snapshot", "deltas", "objects"]),
    value=st.none() | st.integers() | st.text(max_size=40) | st.lists(st.integers(), max_size=3),
)
def test_state_reader_mutated_fields(
    valid_doc: dict[str, object], key: str, value: object
) -> None:
    doc = dict(valid_doc)
    doc[key] = value
    try:
        load_state(json.dumps(doc).encode(), "s")
    except RrdpStateError:
        return
    # The only mutations that leave a valid state: the same serial or format, no deltas.
    assert (key, value) in [("serial", 2), ("format", 1), ("deltas", [])]


@pytest.mark.parametrize(
    ("objects", "base"),
    [
        ({_uri("a.roa"): b"a"}, "http://rrdp.example.net/"),
        ({"https://x/a.roa": b"a"}, BASE),
        ({_uri("a b.roa"): b"a"}, BASE),
        ({_uri("é.roa"): b"a"}, BASE),
    ],
)
def test_bad_input_refused_before_anything_is_written(
    tmp_path: Path, objects: dict[str, bytes], base: str
) -> None:
    with raises_code(InputError, "input"):
        write_rrdp(tmp_path / "rrdp", objects, base_uri=base)
    assert not (tmp_path / "rrdp").exists()


def test_rust_fixture_is_what_the_writer_writes(tmp_path: Path) -> None:
    """rust/porthos-core/tests/data/rrdp/ (parsed by the `rpki` crate in
    tests/rpki_crate.rs) is the writer's output today: the same files, the same bytes
    once the session id and the random folder names are set aside."""
    import importlib.util
    import re

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "fixture", root / "tools" / "make_rrdp_fixture.py"
    )
    assert spec is not None and spec.loader is not None
    fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture)
    fresh = tmp_path / "rrdp"
    fixture.write(fresh)

    def normalised(d: Path) -> dict[str, bytes]:
        out = {}
        for p in d.rglob("*.xml"):
            text = p.relative_to(d).as_posix() + "\n" + p.read_text()
            text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "SESSION", text)
            text = re.sub(r"/[0-9a-f]{32}/", "/RANDOM/", text)
            name, body = text.split("\n", 1)
            if name == "notification.xml":  # file hashes cover the session id and paths
                body = re.sub(r'hash="[0-9a-f]{64}"', 'hash="FILE"', body)
            out[name] = body.encode()
        return out

    committed = normalised(root / "rust" / "porthos-core" / "tests" / "data" / "rrdp")
    assert committed == normalised(fresh)
    assert len(committed) == 5
