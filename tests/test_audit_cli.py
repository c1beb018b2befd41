"""``porthos audit verify|export|show`` and what the trail records (000 §5.4), end to
end through the CLI: tampering found and named, offline verification of an export,
failures audited, HSM events in the store trail, no PIN and no key material in any
record."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import CsrFactory
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key
from porthos import hsm
from porthos.cli.main import main
from porthos.exceptions import HsmNotFoundError
from porthos.store import audit
from porthos.store.sqlite import Store

STORE = "porthos.sqlite"


def _cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _init_and_issue(tmp_path: Path, csr_factory: CsrFactory, n: int = 3) -> Path:
    ws = tmp_path / "ws"
    assert _cli("init", "-w", str(ws)).exit_code == 0
    pem = "".join(csr_factory.pem([("CN", str(uuid.uuid4()))]) for _ in range(n))
    (tmp_path / "req.pem").write_text(pem)
    r = _cli(
        "issue", "-w", str(ws), "-p", "ha-device", "--csr", str(tmp_path / "req.pem"),
        "--out", str(tmp_path / "out.pem"),
        env={"PORTHOS_ACTOR": "operator:carol"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return ws


def _tamper(ws: Path, *statements: str) -> None:
    """An attacker with write access to the file: the append-only triggers dropped."""
    conn = sqlite3.connect(ws / STORE)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for st in statements:
        conn.execute(st)
    conn.commit()
    conn.close()


# --------------------------------------------------------------------------------------
# verify / export / show
# --------------------------------------------------------------------------------------


def test_verify_export_show(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = _init_and_issue(tmp_path, csr_factory)
    r = _cli("audit", "verify", "-w", str(ws))
    assert r.exit_code == 0, r.output
    with Store.open(ws / STORE) as store:
        n = audit.verify(store).records
        recs = list(audit.records(store))
    assert f"{n} records" in r.output and n == len(recs)
    # verify only reads: running it does not extend the trail.
    assert _cli("audit", "verify", "-w", str(ws)).exit_code == 0
    with Store.open(ws / STORE) as store:
        assert audit.verify(store).records == n

    issued = [x for x in recs if x.event == audit.Event.CERTIFICATES_ISSUED]
    assert len(issued) == 1 and issued[0].actor == "operator:carol"
    assert issued[0].details["count"] == 3 and issued[0].outcome == "success"

    out = tmp_path / "trail.jsonl"
    r = _cli("audit", "export", "-w", str(ws), "--out", str(out))
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["seq"] for x in lines] == list(range(1, n + 1))
    assert {"time", "actor", "event", "subject", "serial", "outcome", "prev", "hash"} <= set(
        lines[0]
    )
    r = _cli("audit", "verify", "--export", str(out))
    assert r.exit_code == 0 and f"{n} records" in r.output, r.output

    r = _cli("audit", "show", "-w", str(ws), "--event", "certificates.issued")
    assert r.exit_code == 0 and "certificates.issued" in r.output and "ca.created" not in r.output
    r = _cli("audit", "show", "-w", str(ws), "--since", str(n))
    assert r.exit_code == 0 and "ca.created" not in r.output

    # Export to standard output: the same lines.
    r = _cli("audit", "export", "-w", str(ws))
    assert r.exit_code == 0 and r.output == out.read_text()


@pytest.mark.parametrize(
    ("statements", "first_bad"),
    [
        (["UPDATE audit SET actor = 'mallory' WHERE seq = 3"], 3),
        (["UPDATE audit SET details = '{}' WHERE seq = 2"], 2),
        (["DELETE FROM audit WHERE seq = 4"], 5),
        (
            [
                "UPDATE audit SET seq = 100 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = 100",
            ],
            2,
        ),
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
    ids=["edit", "edit-details", "delete", "reorder", "insert"],
)
def test_verify_names_the_first_bad_record(
    tmp_path: Path, csr_factory: CsrFactory, statements: list[str], first_bad: int
) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    _tamper(ws, *statements)
    r = CliRunner().invoke(main, ["audit", "verify", "-w", str(ws)])
    assert r.exit_code == 1, r.output
    assert f"first bad record: {first_bad}" in r.output and f"record {first_bad}:" in r.output


def test_head_catches_a_cut_off_tail(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    r = _cli("audit", "verify", "-w", str(ws))
    head = r.output.split("head ")[1].split()[0]
    assert _cli("audit", "verify", "-w", str(ws), "--head", head).exit_code == 0
    seq = int(head.split(":")[0])
    _tamper(ws, f"DELETE FROM audit WHERE seq = {seq}")
    # The shorter chain is consistent in itself ...
    assert _cli("audit", "verify", "-w", str(ws)).exit_code == 0
    # ... but no longer holds the head kept from before.
    r = CliRunner().invoke(main, ["audit", "verify", "-w", str(ws), "--head", head])
    assert r.exit_code == 1 and f"record {seq} of the given head is missing" in r.output


def test_tampered_export_is_found_offline(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    out = tmp_path / "trail.jsonl"
    assert _cli("audit", "export", "-w", str(ws), "--out", str(out)).exit_code == 0
    lines = out.read_text().splitlines()

    edited = [json.loads(x) for x in lines]
    edited[1]["details"]["mode"] = "hsm"  # claim the keys were in an HSM
    bad = tmp_path / "edited.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in edited))
    r = CliRunner().invoke(main, ["audit", "verify", "--export", str(bad)])
    assert r.exit_code == 1 and "first bad record: 2" in r.output, r.output

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    r = CliRunner().invoke(main, ["audit", "verify", "--export", str(dropped)])
    assert r.exit_code == 1 and "first bad record: 4" in r.output, r.output

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(lines[0] + "\nnot json\n")
    r = CliRunner().invoke(main, ["audit", "verify", "--export", str(garbage)])
    assert r.exit_code == 2 and "line 2" in r.output


def test_verify_needs_a_workspace(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["audit", "verify", "-w", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "not an initialised porthos workspace" in r.output
    r = CliRunner().invoke(main, ["audit", "verify"])
    assert r.exit_code == 2


# --------------------------------------------------------------------------------------
# failures are audited (000 §5.4.1)
# --------------------------------------------------------------------------------------


def test_failed_batch_and_failed_command_are_recorded(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    with Store.open(ws / STORE) as store:
        n_before = store.count_certificates()
        seq_before = audit.verify(store).records
    # A real store failure after verification and signing: SQLite refuses the insert.
    conn = sqlite3.connect(ws / STORE)
    conn.execute(
        "CREATE TRIGGER refuse_certs BEFORE INSERT ON certificates"
        " BEGIN SELECT RAISE(ABORT, 'disk quota (test)'); END"
    )
    conn.commit()
    conn.close()
    r = CliRunner().invoke(
        main,
        ["issue", "-w", str(ws), "-p", "ha-device", "--csr", str(tmp_path / "req.pem"),
         "--out", str(tmp_path / "o.pem")],
        env={"PORTHOS_ACTOR": "operator:dave"},
    )  # fmt: skip
    assert r.exit_code == 2 and "disk quota (test)" in r.output, r.output
    with Store.open(ws / STORE) as store:
        assert store.count_certificates() == n_before
        new = list(audit.records(store, since=seq_before + 1))
        assert audit.verify(store).ok
    by_event = {x.event: x for x in new}
    batch = by_event[audit.Event.CERTIFICATES_ISSUED]
    assert batch.outcome == "failure" and "disk quota (test)" in batch.details["error"]
    assert batch.actor == "operator:dave" and batch.details["ca"] == "ha-device-ca-1"
    cmd = by_event[audit.Event.FAILURE]
    assert cmd.outcome == "failure" and cmd.details["command"] == "porthos issue"
    assert cmd.actor == "operator:dave"
    # No certificates.issued success record was committed.
    assert not [x for x in new if x.outcome == "success" and x.event.startswith("cert")]


def test_refused_command_is_recorded_and_changes_nothing_else(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    with Store.open(ws / STORE) as store:
        seq_before = audit.verify(store).records
    r = CliRunner().invoke(
        main,
        ["issue", "-w", str(ws), "-p", "no-such-profile", "--csr", str(tmp_path / "req.pem"),
         "--out", str(tmp_path / "o.pem")],
    )  # fmt: skip
    assert r.exit_code == 2
    with Store.open(ws / STORE) as store:
        new = list(audit.records(store, since=seq_before + 1))
    # software.version is not re-recorded (same version); the failure is.
    assert [x.event for x in new] == [audit.Event.FAILURE]
    assert "no-such-profile" in new[0].details["error"]


def test_rejected_applications_are_recorded(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = _init_and_issue(tmp_path, csr_factory, 1)
    (tmp_path / "bad.pem").write_text(csr_factory.pem([("CN", "not-a-uuid")]))
    r = _cli(
        "issue", "-w", str(ws), "-p", "ha-device", "--csr", str(tmp_path / "bad.pem"),
        "--out", str(tmp_path / "o.pem"),
    )  # fmt: skip
    assert r.exit_code == 3
    with Store.open(ws / STORE) as store:
        last = list(audit.records(store))[-1]
    assert last.event == audit.Event.APPLICATION_REJECTED and last.outcome == "failure"


# --------------------------------------------------------------------------------------
# no secrets (000 §5.4.1, §6.4.2): software mode
# --------------------------------------------------------------------------------------


def _trail_text(ws: Path, tmp_path: Path) -> str:
    """Every record as stored (raw columns) plus the export, as one text."""
    out = tmp_path / "secret-check.jsonl"
    assert _cli("audit", "export", "-w", str(ws), "--out", str(out)).exit_code == 0
    conn = sqlite3.connect(ws / STORE)
    rows = conn.execute("SELECT * FROM audit").fetchall()
    conn.close()
    return "\n".join(repr(r) for r in rows) + "\n" + out.read_text()


def _forms(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]


def test_no_key_material_in_the_trail(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = _init_and_issue(tmp_path, csr_factory)
    assert _cli("crl", "publish", "-w", str(ws)).exit_code == 0
    text = _trail_text(ws, tmp_path)
    keys = sorted((ws / "keys").glob("*.p8"))
    assert len(keys) == 5
    for p in keys:
        der = p.read_bytes()
        assert der.decode("latin-1") not in text
        for form in _forms(der):
            assert form not in text, f"{p.name} PKCS#8 found in the trail"
        key = load_der_private_key(der, None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            n = key.private_numbers().private_value
            scalar = n.to_bytes((key.curve.key_size + 7) // 8, "big")
            for form in [*_forms(scalar), str(n)]:
                assert form not in text, f"{p.name} private scalar found in the trail"


# --------------------------------------------------------------------------------------
# HSM mode: events in the store trail, no PIN anywhere in it
# --------------------------------------------------------------------------------------


def _softhsm() -> str | None:
    try:
        return str(hsm.find_module())
    except HsmNotFoundError:
        return None


PINS = {
    "so": b"so-audit-5c3e91",
    "user": b"user-audit-7d20aa",
    "alice": b"half-audit-a9",
    "bob": b"half-audit-b4",
}


def _porthos(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "porthos"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.hsm
@pytest.mark.skipif(_softhsm() is None, reason="SoftHSM2 is not installed")
def test_hsm_events_in_the_trail_without_pins(tmp_path: Path, csr_factory: CsrFactory) -> None:
    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)
    env["PORTHOS_ACTOR"] = "ceremony:root-1"
    for name, pin in PINS.items():
        (tmp_path / f"{name}.pin").write_bytes(pin + b"\n")
    ws = tmp_path / "ws"
    r = _porthos(
        ["init", "-w", str(ws), "--hsm", "softhsm", "--so-pin-file", "so.pin",
         "--pin-file", "user.pin", "--root-officer", "alice=alice.pin",
         "--root-officer", "bob=bob.pin"],
        tmp_path, env,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "req.pem").write_text(csr_factory.pem([("CN", str(uuid.uuid4()))]))
    r2 = _porthos(
        ["issue", "-w", str(ws), "-p", "ha-device", "--csr", "req.pem", "--out", "o.pem",
         "--pin-file", "user.pin"],
        tmp_path, env,
    )  # fmt: skip
    assert r2.returncode == 0, r2.stdout + r2.stderr
    (tmp_path / "wrong.pin").write_bytes(b"wrong-audit-0e0e\n")
    r3 = _porthos(
        ["issue", "-w", str(ws), "-p", "ha-device", "--csr", "req.pem", "--out", "o2.pem",
         "--pin-file", "wrong.pin"],
        tmp_path, env,
    )  # fmt: skip
    assert r3.returncode == 2

    assert not (ws / "audit").exists()  # the old W/audit/hsm.jsonl is gone
    with Store.open(ws / STORE) as store:
        assert audit.verify(store).ok
        recs = list(audit.records(store))
    events = [x.event for x in recs]
    # init: both tokens, the root activation and deactivation, before the CAs.
    inits = [x for x in recs if x.event == audit.Event.HSM_TOKEN_INIT]
    assert [x.details["role"] for x in inits] == ["root", "issuing"]
    assert inits[0].details["officers"] == ["alice", "bob"]
    assert inits[0].actor == "ceremony:root-1"
    first_ca = events.index(audit.Event.CA_CREATED)
    assert events.index(audit.Event.HSM_DEACTIVATION) < first_ca
    keygens = [x for x in recs if x.event == audit.Event.CA_KEYGEN]
    assert len(keygens) == 5 and all(x.details["mode"] == "hsm" for x in keygens)
    assert all(x.details["key_ref"].startswith("pkcs11:") for x in keygens)
    acts = [x for x in recs if x.event == audit.Event.HSM_ACTIVATION]
    assert acts[0].details["officers"] == ["alice", "bob"]
    assert [x.details["role"] for x in acts[1:]] == ["issuing", "issuing"]
    assert events.count(audit.Event.CERTIFICATES_ISSUED) == 2  # one success, one failure
    failed = [x for x in recs if x.outcome == "failure"]
    assert any("PIN incorrect" in x.details.get("error", "") for x in failed)

    text = _trail_text(ws, tmp_path)
    for pin in [*PINS.values(), b"wrong-audit-0e0e", PINS["alice"] + PINS["bob"]]:
        for form in [pin.decode(), *_forms(pin)]:
            assert form not in text, f"PIN {pin!r} found in the trail"
