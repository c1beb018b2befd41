"""Invariants of a workspace after crashes and concurrent writers (issue 6 "Integrity
under faults"); shared by test_crash.py and test_concurrency.py.

Each check reads the store with a plain sqlite3 connection and pyca/cryptography (the
oracle), not through porthos, so a porthos bug cannot hide itself."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

STORE = "porthos.sqlite"

#: Subprocess helpers run with the test's interpreter and the repository's porthos.
PORTHOS = str(Path(sys.executable).parent / "porthos")


def porthos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTHOS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def check_store(ws: Path, verified: dict[str, bytes] | None = None) -> dict[str, int]:
    """Every invariant the crash and concurrency tests promise; returns counts.
    ``verified`` (serial -> DER already checked) lets a caller that checks the same
    workspace again and again skip the rows it has checked; a changed row is checked."""
    verified = {} if verified is None else verified
    conn = sqlite3.connect(ws / STORE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        cas = {
            name: x509.load_der_x509_certificate(der)
            for name, der in conn.execute("SELECT name, certificate FROM cas")
        }

        # No serial half-issued: every row parses, its DER carries the serial of its
        # row, and its signature verifies with the issuing CA's key.
        rows = conn.execute("SELECT ca_name, serial_hex, der FROM certificates").fetchall()
        for ca_name, serial_hex, der in rows:
            der = bytes(der)
            if verified.get(serial_hex) == der:
                continue
            cert = x509.load_der_x509_certificate(der)
            assert cert.serial_number == int(serial_hex, 16), serial_hex
            cert.verify_directly_issued_by(cas[ca_name])
            verified[serial_hex] = der
        # No serial duplicated (within a CA the PRIMARY KEY/UNIQUE holds; across CAs too).
        dup = [s for s, n in Counter(r[1] for r in rows).items() if n > 1]
        assert dup == [], f"duplicate serials {dup[:5]}"

        # Certificates and their audit records agree: each serial in a successful
        # certificates.issued record exists, and each stored certificate is listed once.
        listed: Counter[tuple[str, str]] = Counter()
        for details_json, outcome in conn.execute(
            "SELECT details, outcome FROM audit WHERE event = 'certificates.issued'"
        ):
            details = json.loads(details_json)
            if outcome == "success":
                assert len(details["serials"]) == details["count"]
                for s in details["serials"]:
                    listed[(details["ca"], s)] += 1
        stored = {(r[0], r[1]) for r in rows}
        assert set(listed) == stored, (
            f"{len(set(listed) - stored)} audited but not stored, "
            f"{len(stored - set(listed))} stored but not audited"
        )
        assert max(listed.values(), default=1) == 1

        # Revocations refer to issued certificates, once each (PRIMARY KEY).
        orphan = conn.execute(
            "SELECT COUNT(*) FROM revocations r LEFT JOIN certificates c"
            " ON c.ca_name = r.ca_name AND c.serial_hex = r.serial_hex WHERE c.der IS NULL"
        ).fetchone()[0]
        assert orphan == 0

        # CRL numbers: allocated numbers never exceed the counter, never repeat.
        for ca_name, last in conn.execute("SELECT ca_name, last_number FROM crl_numbers"):
            numbers = [
                n for (n,) in conn.execute("SELECT number FROM crls WHERE ca_name = ?", (ca_name,))
            ]
            assert len(numbers) == len(set(numbers))
            assert max(numbers, default=0) <= last
        n_revoked = conn.execute("SELECT COUNT(*) FROM revocations").fetchone()[0]
        n_audit = conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        conn.close()

    # The chain verifies, through the CLI (a separate process, as an auditor would).
    r = porthos("audit", "verify", "-w", str(ws))
    assert r.returncode == 0, r.stdout + r.stderr
    return {"certificates": len(rows), "revocations": n_revoked, "audit": n_audit}


def crl_numbers_in_files(ws: Path) -> dict[str, tuple[int, str]]:
    """(CRL number, SHA-256 of the file) of every CRL in the repository, by file name."""
    import hashlib

    out: dict[str, tuple[int, str]] = {}
    for p in sorted((ws / "repository").glob("*.crl")):
        data = p.read_bytes()
        crl = x509.load_der_x509_crl(data)
        number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
        out[p.name] = (int(number), hashlib.sha256(data).hexdigest())
    return out


def crl_numbers_known(ws: Path) -> set[tuple[str, int]]:
    conn = sqlite3.connect(ws / STORE)
    try:
        return {(str(a), int(n)) for a, n in conn.execute("SELECT ca_name, number FROM crls")}
    finally:
        conn.close()
