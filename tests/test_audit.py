"""The hash-chained audit trail (000 §5.4): records, verification, tamper detection."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import porthos
import pytest
from conftest import CsrFactory
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.exceptions import AuditError, StoreError
from porthos.hsm import Secret
from porthos.store import audit
from porthos.store.sqlite import Store
from porthos.workspace.workspace import Workspace


def _store(tmp_path: Path, n: int = 5) -> Store:
    store = Store.create(tmp_path / "a.sqlite", env="prod", profile_set="porthos")
    for i in range(n):
        audit.record(store, audit.Event.CRL_CREATED, actor="tester", serial=f"{i:02x}", n=i)
    return store


def _tamper(tmp_path: Path, *statements: str) -> None:
    """Edit the file the way an attacker with write access would: triggers dropped."""
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_chain_verifies_and_exports(tmp_path: Path) -> None:
    store = _store(tmp_path)
    res = audit.verify(store)
    assert res.ok and res.records == 5 and res.first_bad is None
    out = tmp_path / "audit.jsonl"
    assert audit.export_jsonl(store, out) == 5
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and '"serial": "03"' in lines[3]


def test_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    store = _store(tmp_path)
    # No .code (sqlite, not porthos): the text is the append-only trigger's own RAISE.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM audit WHERE seq = 2")


@pytest.mark.parametrize(
    ("statements", "first_bad"),
    [
        (["UPDATE audit SET actor = 'mallory' WHERE seq = 3"], 3),
        (["UPDATE audit SET details = '{\"n\": 9}' WHERE seq = 2"], 2),
        (["DELETE FROM audit WHERE seq = 4"], 5),
        (["DELETE FROM audit WHERE seq = 5"], None),  # truncation: see below
        # reorder: swap the contents of records 2 and 3, keeping their seq numbers
        (
            [
                "UPDATE audit SET seq = 100 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = 100",
            ],
            2,
        ),
        # insertion: a forged record in the middle, renumbering the rest
        (
            [
                "UPDATE audit SET seq = seq + 100 WHERE seq >= 3",
                "UPDATE audit SET seq = seq - 99 WHERE seq >= 103",
                "INSERT INTO audit SELECT 3, time, actor, event, subject, serial, outcome,"
                " details, prev, hash FROM audit WHERE seq = 2",
            ],
            3,
        ),
    ],
)
def test_tampering_is_found(tmp_path: Path, statements: list[str], first_bad: int | None) -> None:
    _store(tmp_path).close()
    _tamper(tmp_path, *statements)
    store = Store.open(tmp_path / "a.sqlite")
    res = audit.verify(store)
    if first_bad is None:
        # Cutting the tail leaves a valid shorter chain; the record count shows it and
        # the exported chain value of the last record (kept elsewhere) would not match.
        assert res.ok and res.records == 4
    else:
        assert not res.ok and res.first_bad == first_bad, res.problem


def test_secrets_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path, 0)
    with raises_code(AuditError, "audit"):
        audit.record(store, audit.Event.HSM_ACTIVATION, token=Secret(b"1234"))
    with raises_code(AuditError, "audit"):
        audit.record(store, audit.Event.HSM_ACTIVATION, user_pin="1234")
    with raises_code(AuditError, "audit"):
        audit.record(store, audit.Event.CA_KEYGEN, key=b"\x01\x02")
    assert audit.verify(store).records == 0


def test_issuance_and_its_record_commit_together(
    fresh_workspace: Workspace, csr_factory: CsrFactory
) -> None:
    ws = fresh_workspace
    ca = ws.ca_for_profile("ha-device")
    before = audit.verify(ws.store).records
    csrs = [csr_factory.make([("CN", str(uuid.uuid4()))]) for _ in range(3)]
    res = ca.issue_batch(csrs + [b"\x30\x00"], "ha-device", actor="agent:alice")
    assert res.issued_count == 3
    recs = list(audit.records(ws.store, since=before + 1))
    assert [r.event for r in recs] == ["certificates.issued", "application.rejected"]
    assert recs[0].actor == "agent:alice" and recs[0].details["count"] == 3
    assert len(recs[0].details["serials"]) == 3
    assert recs[1].outcome == "failure" and recs[1].details["items"][0]["index"] == 3
    assert audit.verify(ws.store).ok

    # A batch whose store write fails leaves neither certificates nor audit records.
    n_certs = ws.store.count_certificates()
    with pytest.raises(StoreError), ws.store.transaction():
        audit.record(ws.store, audit.Event.CERTIFICATES_ISSUED, count=1)
        raise StoreError("simulated failure after the audit record")
    assert ws.store.count_certificates() == n_certs
    assert audit.verify(ws.store).records == before + 2


def test_software_version_change_is_recorded(fresh_workspace: Workspace) -> None:
    ws = fresh_workspace
    events = [r.event for r in audit.records(ws.store)]
    assert events.count("software.version") == 1
    assert audit.note_software_version(ws.store, "0.0.0-test") is True
    assert audit.note_software_version(ws.store, "0.0.0-test") is False
    last = list(audit.records(ws.store))[-1]
    assert last.event == "software.version"
    assert last.details == {"current": "0.0.0-test", "previous": porthos.__version__}


_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**40),
    when=st.integers(min_value=0, max_value=2**40),
    fields=st.tuples(_texts, _texts, st.none() | _texts, st.none() | _texts, _texts),
    details=st.dictionaries(_texts, st.none() | st.integers() | _texts | st.lists(_texts)),
)
def test_canonical_form_is_the_compact_json_array(
    seq: int,
    when: int,
    fields: tuple[str, str, str | None, str | None, str],
    details: dict[str, object],
) -> None:
    # The hashed form is built item by item (so a batch's details can be encoded
    # ahead); it must stay exactly the JSON array that earlier records were hashed
    # over, or their chain values would no longer verify.
    import json

    actor, event, subject, serial, outcome = fields
    details_json = json.dumps(details, sort_keys=True, ensure_ascii=False, default=str)
    want = json.dumps(
        [seq, when, actor, event, subject, serial, outcome, details_json],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    args = (seq, when, actor, event, subject, serial, outcome, details_json)
    assert audit._canonical(*args) == want
    try:
        prepared = audit.prepare(**details)
    except AuditError:
        return  # a key naming a PIN or key material: refused, as record refuses it
    assert prepared.json == details_json
    assert audit._canonical(*args, quoted_details=prepared.quoted) == want


def test_prepared_details_record_like_plain_ones(tmp_path: Path) -> None:
    # record(prepared=prepare(**d)) stores and chains exactly as record(**d); the two
    # forms are not mixed, and prepare refuses what record refuses.
    a = Store.create(tmp_path / "a.sqlite", env="prod", profile_set="porthos")
    b = Store.create(tmp_path / "b.sqlite", env="prod", profile_set="porthos")
    details = {"count": 3, "serials": ["01", "02", '0"3'], "ca": "user-ca-1"}
    audit.record(a, audit.Event.CERTIFICATES_ISSUED, actor="t", when=5, **details)
    audit.record(
        b, audit.Event.CERTIFICATES_ISSUED, actor="t", when=5, prepared=audit.prepare(**details)
    )
    row = "SELECT details, prev, hash FROM audit"
    assert a.conn.execute(row).fetchall() == b.conn.execute(row).fetchall()
    assert audit.verify(b).ok
    with raises_code(AuditError, "audit"):
        audit.record(b, audit.Event.CRL_CREATED, prepared=audit.prepare(n=1), n=2)
    with raises_code(AuditError, "audit"):
        audit.prepare(user_pin="1234")
    a.close()
    b.close()
