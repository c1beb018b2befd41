"""The store's schema: the tables of the current version, the migrations from every
earlier one (applied in place, in one transaction, when a store is opened), and the
page and WAL settings of a new store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

SCHEMA_VERSION = 10


# Version 2 (issue 4): revocations and CRL numbers. A version-1 store is migrated in
# place, in one transaction, when it is opened.
MIGRATION_V2 = """
CREATE TABLE revocations (
    ca_name         TEXT NOT NULL REFERENCES cas(name),
    serial_hex      TEXT NOT NULL,
    revoked_at      INTEGER NOT NULL,
    reason          INTEGER,
    invalidity_date INTEGER,
    UNIQUE (ca_name, serial_hex)
);
CREATE TABLE crl_numbers (
    ca_name     TEXT PRIMARY KEY REFERENCES cas(name),
    last_number INTEGER NOT NULL
);
CREATE TABLE crls (
    ca_name     TEXT NOT NULL REFERENCES cas(name),
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    entries     INTEGER NOT NULL,
    UNIQUE (ca_name, number)
);
"""

# Version 3: what each issued CRL number covers, so that delta CRLs can be built from
# the store. Revocations are only ever added (rowids grow), so the set a CRL listed
# is "this CA's revocations with rowid <= revocations_upto": one integer per CRL
# instead of a copy of its entries. kind: 'full', 'delta' or 'shards'. Rows written
# by version 2 have revocations_upto NULL (unknown: never used as a delta base).
MIGRATION_V3 = """
ALTER TABLE crls ADD COLUMN kind TEXT NOT NULL DEFAULT 'full';
ALTER TABLE crls ADD COLUMN revocations_upto INTEGER;
"""

# Version 4 (issue 6, the RA and lifecycle): the audit trail, the RA's registries, CA
# generations and scheduled revocations. Everything the lifecycle needs lives here, in
# one migration, so every part of it shares one transaction model.
MIGRATION_V4 = """
ALTER TABLE certificates ADD COLUMN spki_sha256 BLOB;
CREATE INDEX certificates_subject ON certificates (subject);
CREATE INDEX certificates_spki ON certificates (spki_sha256);
ALTER TABLE cas ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cas ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE revocations ADD COLUMN requested_by TEXT;
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    event   TEXT NOT NULL,
    subject TEXT,
    serial  TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (000 5.4)'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (000 5.4)'); END;
CREATE TABLE manufacturers (
    name          TEXT PRIMARY KEY,
    root_der      BLOB NOT NULL,
    issuing_der   BLOB NOT NULL,
    acceptable_dns TEXT NOT NULL,
    chip_id_attr  TEXT NOT NULL,
    added_at      INTEGER NOT NULL
);
CREATE TABLE chip_allowlist (
    chip_id  TEXT PRIMARY KEY,
    added_at INTEGER NOT NULL
);
CREATE TABLE transactions (
    id          TEXT PRIMARY KEY,
    csr_sha256  BLOB NOT NULL,
    agent       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE TABLE aors (
    name     TEXT NOT NULL,
    domain   TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    UNIQUE (name, domain)
);
CREATE TABLE scheduled_revocations (
    ca_name      TEXT NOT NULL REFERENCES cas(name),
    serial_hex   TEXT NOT NULL,
    reason       INTEGER,
    due_at       INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    done_at      INTEGER,
    UNIQUE (ca_name, serial_hex)
)
"""

# Version 5: drop the SPKI-hash index of version 4. Nothing looks certificates up by
# key (the unique-names rule of RFC 3647 §3.1 goes through the subject index and compares
# the key hashes of the few rows it finds), and a random-order index costs every
# issuance ~5 µs a certificate (10,000 rows: 0.05 s of SQLite time in the batch).
MIGRATION_V5 = """
DROP INDEX IF EXISTS certificates_spki
"""

# Version 6 (issue 16): suspension and dual approval.
#
# holds: an append-only ledger of certificateHold events (RFC 5280 §5.3.1; a CP/CPS
# §4.9.13-16). 'hold' puts a certificate on hold, 'release' takes it off (the next full
# CRL omits it, the next delta lists it as removeFromCRL), 'revoked' ends it by a
# revocation (by request, or the escalation after the CP/CPS's limit). A hold is open
# while no later row of the same certificate exists. Rows are only ever added, so, as
# with revocations, "holds open at rowid H" is the set a CRL listed; crls.holds_upto is
# that H (NULL for CRLs written before version 6: no holds then).
#
# approval_requests / approvals: a request waiting for N persons' approvals before it
# may be issued (a profile's approval rule, e.g. "two persons, one of them an RA").
MIGRATION_V6 = """
CREATE TABLE holds (
    ca_name      TEXT NOT NULL REFERENCES cas(name),
    serial_hex   TEXT NOT NULL,
    event        TEXT NOT NULL CHECK (event IN ('hold', 'release', 'revoked')),
    at           INTEGER NOT NULL,
    requested_by TEXT NOT NULL
);
CREATE INDEX holds_serial ON holds (ca_name, serial_hex);
CREATE TRIGGER holds_no_update BEFORE UPDATE ON holds
BEGIN SELECT RAISE(ABORT, 'hold records are append-only'); END;
CREATE TRIGGER holds_no_delete BEFORE DELETE ON holds
BEGIN SELECT RAISE(ABORT, 'hold records are append-only'); END;
ALTER TABLE crls ADD COLUMN holds_upto INTEGER;
CREATE TABLE approval_requests (
    id           TEXT PRIMARY KEY,
    profile      TEXT NOT NULL,
    csr_der      BLOB NOT NULL,
    ra_data      TEXT,
    requested_by TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    issued_at    INTEGER,
    serial_hex   TEXT
);
CREATE TABLE approvals (
    request_id  TEXT NOT NULL REFERENCES approval_requests(id),
    operator    TEXT NOT NULL,
    role        TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    UNIQUE (request_id, operator)
)
"""

# Version 7 (issue 16): cross-certificates that other CAs issued to ours, imported to
# be published next to our CA's certificate (the .p7c of its caIssuers URL). The ones
# our CAs issue are ordinary certificates rows (profile = the cross profile). Self-
# contained: it only adds its own table, so it can be renumbered.
MIGRATION_V7 = """
CREATE TABLE IF NOT EXISTS cross_certificates (
    ca_name     TEXT NOT NULL REFERENCES cas(name),
    issuer      TEXT NOT NULL,
    serial_hex  TEXT NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    der         BLOB NOT NULL,
    issuer_der  BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    file        TEXT NOT NULL,
    imported_at INTEGER NOT NULL,
    UNIQUE (ca_name, sha256)
)
"""

# Version 8 (issue 19 §3): leases on the shards of a CA's sharded CRL, so that many
# workers (Dask) rebuild the shards of one CRL number without two publishing the same
# shard or a lower number (RFC 5280 §5.2.3: each shard is its own scope, whose numbers
# strictly increase). One row per (CA, kind, shard):
#   number     the newest number published for the shard (0: none yet);
#   target     the number the holder is building (NULL when free);
#   holder     who holds the lease ("host:pid:token"), NULL when free;
#   expires_at Unix seconds; a lease past it is taken over by the next worker;
#   state      'free' or 'leased'.
# Self-contained: it only adds its own table, so it can be renumbered.
MIGRATION_V8 = """
CREATE TABLE IF NOT EXISTS shard_leases (
    ca_name    TEXT NOT NULL REFERENCES cas(name),
    kind       TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    number     INTEGER NOT NULL DEFAULT 0,
    target     INTEGER,
    holder     TEXT,
    expires_at INTEGER,
    state      TEXT NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'leased')),
    UNIQUE (ca_name, kind, shard)
)
"""

# Version 9 (issue 19 §3): serials reserved by the database before they are signed, and
# the CRL shard key of each revocation, indexed.
#
# serial_reservations: a batch (a Dask chunk, a process's batch) reserves its serials in
# a transaction of its own, committed before anything is signed: CSPRNG candidates
# (store/serial_reservations.py; 127 random bits, RFC 5280 §4.1.2.2, CA/B BR §7.1 "at
# least 64 bits") inserted under UNIQUE (ca_name, serial_hex), a candidate already
# reserved by anyone is drawn again. So two workers can never sign the same serial, and
# the constraint of certificates is not the first to see a duplicate. The batch's commit
# turns its reservations into 'issued'; the others of the batch become 'void'. A row is
# never deleted: the serial of a worker that died after reserving stays burned.
#
# revocations.shard_key: the low 16 bits of the serial, bit-reversed, computed by the
# database from serial_hex on every insert (a generated column: SQLite computes it into
# the index, PostgreSQL stores it; an existing store is backfilled by this migration).
# A CRL shard is serial mod N (RFC 5280 §5.2.5 IDP per shard; the writer's crl_shard_of);
# for N a power of two that is the serial's low log2(N) bits, which are the TOP bits of
# the reversed key, so one shard is one key range of the index (ca_name, shard_key):
# shard s of N = keys [rev(s) << (16 - log2 N), +65536 / N). The lookup string maps a
# hex digit to its bits reversed ('1' = 0001 -> 1000 = 8: position 8 of the string); the
# '000' prefix makes the missing digits of a short serial 0.
MIGRATION_V9 = """
CREATE TABLE IF NOT EXISTS serial_reservations (
    ca_name     TEXT NOT NULL REFERENCES cas(name),
    serial_hex  TEXT NOT NULL,
    batch       TEXT NOT NULL,
    reserved_at INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'issued', 'void')),
    UNIQUE (ca_name, serial_hex)
);
CREATE INDEX IF NOT EXISTS serial_reservations_batch ON serial_reservations (batch);
ALTER TABLE revocations ADD COLUMN shard_key INTEGER GENERATED ALWAYS AS (
    (instr('084c2a6e195d3b7f',
           lower(substr('000' || serial_hex, length(serial_hex) + 3, 1))) - 1) * 4096
    + (instr('084c2a6e195d3b7f',
           lower(substr('000' || serial_hex, length(serial_hex) + 2, 1))) - 1) * 256
    + (instr('084c2a6e195d3b7f',
           lower(substr('000' || serial_hex, length(serial_hex) + 1, 1))) - 1) * 16
    + (instr('084c2a6e195d3b7f',
           lower(substr('000' || serial_hex, length(serial_hex), 1))) - 1)
) VIRTUAL;
CREATE INDEX IF NOT EXISTS revocations_shard ON revocations (ca_name, shard_key)
"""

# Version 10 (issue 18 §2-§4, the Resource PKI), after version 9 (serial
# reservations, shard keys). Every RPKI CA of the
# workspace (the trust anchor and the hosted children: those whose key porthos holds),
# its manifest and CRL numbers and the last manifest/CRL it published; the children it
# certified from their requests; its ROAs (live or removed, with the one-time EE
# certificate's serial); the EE serials it revoked (RFC 6487 §5: CRL entries without
# entry extensions); and the hashes of the files of the current publication.
# IF NOT EXISTS, as in version 8: a store migrated from an older version by tests that
# drop later tables re-runs every migration after it.
MIGRATION_V10 = """
CREATE TABLE IF NOT EXISTS rpki_cas (
    name            TEXT PRIMARY KEY,
    parent          TEXT,
    key_file        TEXT NOT NULL,
    certificate     BLOB NOT NULL,
    cert_uri        TEXT NOT NULL,
    directory       TEXT NOT NULL,
    resources       TEXT NOT NULL,
    manifest_number INTEGER NOT NULL DEFAULT 0,
    crl_number      INTEGER NOT NULL DEFAULT 0,
    this_update     INTEGER,
    next_update     INTEGER,
    manifest        BLOB,
    crl             BLOB,
    dirty           INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'staging', 'retired')),
    staged_at       INTEGER
);
CREATE TABLE IF NOT EXISTS rpki_children (
    ca_name       TEXT NOT NULL REFERENCES rpki_cas(name),
    name          TEXT NOT NULL,
    ski           TEXT NOT NULL,
    resources     TEXT NOT NULL,
    ca_repository TEXT NOT NULL,
    rpki_manifest TEXT NOT NULL,
    rpki_notify   TEXT,
    serial_hex    TEXT NOT NULL,
    certificate   BLOB NOT NULL,
    file          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'revoked')),
    added_at      INTEGER NOT NULL,
    UNIQUE (ca_name, name)
);
CREATE TABLE IF NOT EXISTS rpki_roas (
    ca_name    TEXT NOT NULL REFERENCES rpki_cas(name),
    asn        INTEGER NOT NULL,
    prefixes   TEXT NOT NULL,
    ee_serial  TEXT NOT NULL,
    file       TEXT NOT NULL,
    object     BLOB NOT NULL,
    status     TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'removed')),
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    UNIQUE (ca_name, file)
);
CREATE INDEX IF NOT EXISTS rpki_roas_statement ON rpki_roas (ca_name, asn, prefixes, status);
CREATE TABLE IF NOT EXISTS rpki_revoked (
    ca_name    TEXT NOT NULL REFERENCES rpki_cas(name),
    serial_hex TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    UNIQUE (ca_name, serial_hex)
);
CREATE TABLE IF NOT EXISTS rpki_published (
    version   INTEGER NOT NULL,
    path      TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    UNIQUE (version, path)
);
"""

SCHEMA = (
    """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cas (
    name        TEXT PRIMARY KEY,
    env         TEXT NOT NULL,
    subject     TEXT NOT NULL,
    certificate BLOB NOT NULL,
    key_ref     TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    parent      TEXT NOT NULL REFERENCES cas(name),
    created_at  INTEGER NOT NULL
);
CREATE TABLE certificates (
    ca_name    TEXT NOT NULL REFERENCES cas(name),
    serial_hex TEXT NOT NULL,
    subject    TEXT NOT NULL,
    profile    TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    der        BLOB NOT NULL,
    issued_at  INTEGER NOT NULL,
    UNIQUE (ca_name, serial_hex)
);
CREATE INDEX certificates_profile ON certificates (ca_name, profile);
"""
    + MIGRATION_V2
    + MIGRATION_V3
    + ";"
    + MIGRATION_V4
    + ";"
    + MIGRATION_V5
    + ";"
    + MIGRATION_V6
    + ";"
    + MIGRATION_V7
    + ";"
    + MIGRATION_V8
    + ";"
    + MIGRATION_V9
    + ";"
    + MIGRATION_V10
)


#: Page size of a new store. A certificate row is ~0.8 KiB (DER, subject, serial) plus
#: its index entries, so 4 KiB pages (SQLite's default) hold only a handful: a 10,000
#: certificate batch measured 70 ms of inserts + 30 ms of COMMIT (WAL write and
#: checkpoint) with 4 KiB pages and 60 + 20 ms with 16 KiB (benches/store_commit.py):
#: a quarter of the pages, frames and B-tree splits for the same bytes.
PAGE_SIZE = 16384
#: WAL size at which a commit checkpoints: SQLite's default (1,000 pages of 4 KiB).
WAL_CHECKPOINT_BYTES = 4096 * 1000


def statements(script: str) -> Iterator[str]:
    """Split a schema script into statements; a trigger body (BEGIN ... END) keeps its
    inner ';'. sqlite3.complete_statement decides where a statement ends."""
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                yield buf.strip()
            buf = ""
    if buf.strip(" \n;"):
        yield buf.strip()
