"""A retired SECOM root's ARL after a key changeover (002 §5.6, workflows/crl_end.py):
published on its schedule while anything the old root issued (its sub CAs, the link
certificate) is unexpired; its first regular ARL at or after the last expiry is the
final one (RFC 5280 §3.3), audited ``crl.publication-ended``, verified by openssl
under the old root; after it nothing is published for that root, ``crl due --all``
says so in one line and ``crl publish --ca`` refuses with that line (exit 2). Time is
the workflows' ``now`` and the CLI's ``--now``."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from interop import to_pem
from porthos.cli.main import main
from porthos.exceptions import LifecycleError
from porthos.workflows import crl_end, crl_publication, crl_schedule, rollover
from porthos.workspace.workspace import Workspace

OLD = "secom-rootca2"
NEW = "secom-rootca2-g2"
DAY = 86400


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def arl_of(d: Path, ca: str) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((d / "repository" / f"{ca}.crl").read_bytes())


def ended_records(d: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(d / "porthos.sqlite")
    try:
        rows = conn.execute(
            "SELECT details FROM audit WHERE event = 'crl.publication-ended' ORDER BY seq"
        )
        return [json.loads(x) for (x,) in rows]
    finally:
        conn.close()


def test_retired_root_publishes_until_its_last_certificate_expired_then_stops(
    tmp_path: Path,
) -> None:
    d = tmp_path / "w"
    now = int(time.time())
    with Workspace.init(d, profile_set="secom", now=now) as ws:
        crl_publication.publish(ws, now=now + 1)
        rollover.rollover(ws, now=now + 10)
        old = ws.ca(OLD)
        assert old.status == "retired"
        # What the old root issued: its sub CA of generation 1 and the link certificate
        # to the new root (which ends with the old root, rollover.py).
        children = [c.not_after for c in ws.cas if c.parent == OLD and c.name != OLD]
        last = crl_end.last_expiry(ws, old)
        assert last == max([*children, old.not_after])
        crl_publication.publish(ws, now=now + 20)

        # A day before the last expiry: still on schedule, not the final one.
        before = last - DAY
        due = {i.ca: i for i in crl_schedule.due(ws, before)}
        assert OLD in due and "final" not in due[OLD].why
        published = crl_publication.publish(ws, [OLD], now=before)
        assert [p.kind for p in published if p.ca == OLD] == ["crl"]
        assert ended_records(d) == []
        # A premature stop is not offered: the schedule keeps the ARL coming, and says
        # which one will be the last.
        (item,) = [i for i in crl_schedule.schedule(ws, before + 1) if i.ca == OLD]
        assert item.kind == "crl" and not item.is_due
        assert "the final one" in item.why and "RFC 5280 §3.3" in item.why
        # The old root is not due again before its regular date (11 months on).
        assert OLD not in {i.ca for i in crl_schedule.due(ws, last + DAY)}
        regular = item.next_due
        assert regular > last

    # The regular ARL after the last expiry, published by the CLI: the final one.
    code, out = cli("crl", "publish", "-w", str(d), "--now", f"@{regular}")
    assert code == 0, out
    assert "final CRL" in out and "no further CRL is published" in out
    arl = arl_of(d, OLD)
    assert int(arl.last_update_utc.timestamp()) == regular >= last
    assert arl.next_update_utc is not None  # RFC 5280 §5.1.2.5: on every CRL
    (record,) = ended_records(d)
    assert record["ca"] == OLD and record["last_expiry"] == last
    assert record["this_update"] == regular
    number = arl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert record["number"] == number
    # openssl checks the final ARL's signature under the old root's certificate.
    root_pem = tmp_path / "old.pem"
    with Workspace.open(d) as ws:
        root_pem.write_bytes(to_pem(ws.ca(OLD).certificate))
    openssl = shutil.which("openssl")
    assert openssl is not None
    r = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(d / "repository" / f"{OLD}.crl"),
         "-CAfile", str(root_pem), "-noout"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr, r.stdout + r.stderr

    # After it: never due, one line in the schedule, refused by name, left out of --all.
    later = regular + 400 * DAY
    code, out = cli("crl", "due", "-w", str(d), "--all", "--json", "--now", f"@{later}")
    assert code == 0, out
    items = [i for i in json.loads(out)["items"] if i["ca"] == OLD]
    assert [(i["kind"], i["due"]) for i in items] == [("crl-ended", False)]
    assert items[0]["last_crl_number"] == number
    code, out = cli("crl", "publish", "-w", str(d), "--ca", OLD, "--now", f"@{later}")
    assert code == 2
    assert len(out.strip().splitlines()) == 1 and "final CRL" in out, out
    before_bytes = (d / "repository" / f"{OLD}.crl").read_bytes()
    code, out = cli("crl", "publish", "-w", str(d), "--all", "--now", f"@{later}")
    assert code == 0, out
    assert (d / "repository" / f"{OLD}.crl").read_bytes() == before_bytes
    # (The other old roots, 7886 days, had their final ARLs in that run too.)
    assert [r["ca"] for r in ended_records(d)].count(OLD) == 1
    with Workspace.open(d) as ws:
        with pytest.raises(LifecycleError) as err:
            crl_publication.publish(ws, [OLD], now=later)
        assert err.value.code == "lifecycle"
        with pytest.raises(LifecycleError):
            crl_publication.publish_deltas(ws, [OLD], now=later)
        # The new generation publishes on.
        assert NEW in {p.ca for p in crl_publication.publish(ws, [NEW], now=later)}
