"""Sharded CRL rebuilds on Dask over the PostgreSQL store (issue 19 §3-§4): shard
leases (store/shard_leases.py), the per-shard publication path
(workspace/shard_publication.py) and the executor (workflows/dask_crl.py), with a
LocalCluster of 2 worker processes against the session's private PostgreSQL server.

Fault tests: two rebuilders at once (numbers strictly increase per shard, the shards
together list the revoked set); a worker killed in the middle of a shard (its lease
expires, another worker rebuilds the shard, one crl.published for it); the gate
(a shard that would drop an unexpired revoked serial is refused, nothing published).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_server import PgServer
from porthos.exceptions import CrlGateError, PorthosError, ShardLeaseError
from porthos.issuance import crl as C
from porthos.store import audit, shard_leases
from porthos.store.shard_leases import Outcome
from porthos.workflows import crl_publication
from porthos.workflows.revocation import revoke
from porthos.workspace.shard_publication import STALL_ENV
from porthos.workspace.workspace import Workspace

distributed = pytest.importorskip("distributed")

CA = "ha-device-ca-1"
SHARDS = 4


def _sharded_profile_set(tmp_path: Path) -> Path:
    """The porthos profile set with ha-device's CDP sharded in SHARDS (test only)."""
    text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text()
    at = text.index("[profiles.ha-device]")
    old = 'uris = ["{crl}/ha-device-ca-1.crl"] }'
    new = f'uris = ["{{crl}}/ha-device-ca-1-shard-{{shard}}.crl"], shards = {SHARDS} }}'
    path = tmp_path / "sharded.toml"
    path.write_text(text[:at] + text[at:].replace(old, new, 1))
    return path


def _make_ws(tmp_path: Path, store: str | None, password_file: Path | None) -> Path:
    from porthos.bench.issue import make_csrs

    path = tmp_path / "ws"
    ws = Workspace.init(
        path,
        "nonprod",
        profile_set=str(_sharded_profile_set(tmp_path)),
        store=store,
        store_password_file=password_file,
    )
    try:
        result = ws.ca(CA).issue_batch(make_csrs(24), "ha-device")
        serials = [x509.load_der_x509_certificate(d).serial_number for _, d in result.issued()]
        revoke(ws, serials[:12], "keyCompromise", requester="t", ca=CA)
    finally:
        ws.close()
    return path


@pytest.fixture
def pg_ws(pg_server: PgServer, pg_url: str, tmp_path: Path) -> Path:
    return _make_ws(tmp_path, pg_url, pg_server.password_file)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    from porthos.workflows.dask_crl import cluster_client

    with cluster_client(None, 2) as c:
        yield c


def _revoked(ws: Workspace) -> set[int]:
    rows = ws.store.conn.execute("SELECT serial_hex FROM revocations WHERE ca_name = ?", (CA,))
    return {int(r[0], 16) for r in rows.fetchall()}


def _shard_serials(ws: Workspace) -> dict[int, set[int]]:
    out = {}
    for s in range(SHARDS):
        der = (ws.path / "repository" / f"ha-device-ca-1-shard-{s}.crl").read_bytes()
        parsed = C.parse_crl(der, ws.ca(CA).certificate)
        # The IDP names the shard's own URL (RFC 5280 §5.2.5), as the CDP of its
        # certificates does.
        assert parsed.idp_urls is not None and len(parsed.idp_urls) == 1
        assert parsed.idp_urls[0].endswith(f"/ha-device-ca-1-shard-{s}.crl")
        out[s] = set(C.serial_ints(parsed.columns.serials))
    return out


def _published(ws: Workspace) -> list[audit.AuditRecord]:
    return [
        r
        for r in audit.records(ws.store)
        if r.event == audit.Event.CRL_PUBLISHED
        and r.outcome == "success"
        and r.details.get("kind") == "shards"
    ]


# -- leases, on SQLite (one process) and PostgreSQL ---------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_lease_rules(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    pg = backend == "postgresql"
    store = request.getfixturevalue("pg_server").workspace_store() if pg else {}
    ws = Workspace.init(tmp_path / "ws", "nonprod", **store)
    with ws:
        st = ws.store

        def take(holder: str, number: int, now: int) -> Outcome:
            return shard_leases.lease(
                st, CA, "shards", 3, number=number, holder=holder, ttl=10, now=now
            )

        assert take("a", 5, 1000) is Outcome.LEASED
        assert take("b", 5, 1005) is Outcome.BUSY  # a's lease runs to 1010
        assert take("b", 5, 1011) is Outcome.LEASED  # expired: taken over
        with pytest.raises(ShardLeaseError) as lost:
            shard_leases.renew(st, CA, "shards", 3, holder="a", ttl=10, now=1012)
        assert lost.value.code == "shard-lease"
        with st.transaction(), pytest.raises(ShardLeaseError):
            shard_leases.complete(st, CA, "shards", 3, number=5, holder="a")
        with st.transaction():
            shard_leases.complete(st, CA, "shards", 3, number=5, holder="b")
        (row,) = shard_leases.lease_rows(st, CA, "shards")
        assert (row.number, row.state, row.holder) == (5, "free", None)
        # The same number again, or a lower one: superseded (RFC 5280 §5.2.3).
        assert take("c", 5, 1020) is Outcome.SUPERSEDED
        assert take("c", 4, 1020) is Outcome.SUPERSEDED
        assert take("c", 6, 1020) is Outcome.LEASED
        shard_leases.release(st, CA, "shards", 3, holder="c")
        assert take("d", 6, 1021) is Outcome.LEASED  # released: no wait for the expiry


@pytest.mark.postgresql
def test_lease_skips_a_locked_row(pg_server: PgServer, pg_url: str, tmp_path: Path) -> None:
    """SKIP LOCKED: a worker finding the row locked by another transaction is told
    busy at once instead of queueing behind it."""
    import psycopg

    with Workspace.init(
        tmp_path / "ws", "nonprod", store=pg_url, store_password_file=pg_server.password_file
    ) as ws:
        assert (
            shard_leases.lease(ws.store, CA, "shards", 0, number=1, holder="a", ttl=60, now=1)
            is Outcome.LEASED
        )
        shard_leases.release(ws.store, CA, "shards", 0, holder="a")
        database = pg_url.split("@/", 1)[1].split("?", 1)[0]
        other = psycopg.connect(pg_server.url(database), password=pg_server.password())
        try:
            other.execute("SELECT * FROM shard_leases FOR UPDATE")
            started = time.monotonic()
            got = shard_leases.lease(
                ws.store, CA, "shards", 0, number=2, holder="b", ttl=60, now=2
            )
            assert got is Outcome.BUSY and time.monotonic() - started < 2
        finally:
            other.rollback()
            other.close()
        assert (
            shard_leases.lease(ws.store, CA, "shards", 0, number=2, holder="b", ttl=60, now=3)
            is Outcome.LEASED
        )


# -- the Dask executor -----------------------------------------------------------------


@pytest.mark.postgresql
def test_dask_equals_single_process(pg_ws: Path, client: distributed.Client) -> None:
    from porthos.workflows.dask_crl import publish_shards

    with Workspace.open(pg_ws) as ws:
        crl_publication.publish(ws, [CA])
        single = _shard_serials(ws)
        assert set().union(*single.values()) == _revoked(ws)
        before = max(r.details["number"] for r in _published(ws))
        results = publish_shards(ws, [CA], client=client)
        assert sorted(r.shard for r in results) == list(range(SHARDS))
        assert {r.outcome for r in results} == {"published"}
        # The same serial set in every shard as the single-process sharded publish.
        assert _shard_serials(ws) == single
        dask_recs = [r for r in _published(ws) if r.details.get("executor") == "dask"]
        assert sorted(r.details["shard"] for r in dask_recs) == list(range(SHARDS))
        assert {r.details["number"] for r in dask_recs} == {before + 1}
        assert [(x.number, x.state) for x in shard_leases.lease_rows(ws.store, CA, "shards")] == [
            (before + 1, "free")
        ] * SHARDS
        ws.store.conn.execute("SELECT 1")  # the coordinator's connection still works
    rc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "audit", "verify", "-w", str(pg_ws)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
    )  # fmt: skip
    assert rc.returncode == 0, rc.stdout + rc.stderr


def _pythonpath() -> str:
    import porthos

    return str(Path(porthos.__file__).parent.parent)


@pytest.mark.postgresql
def test_two_concurrent_rebuilders(pg_ws: Path, client: distributed.Client) -> None:
    """Two `porthos crl publish --executor dask` processes on one cluster at once:
    per shard, the published numbers strictly increase in audit order; the shards
    together list exactly the revoked set."""
    address = client.scheduler.address
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    argv = [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(pg_ws),
            "--ca", CA, "--executor", "dask", "--scheduler", address]  # fmt: skip
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, out + err
    with Workspace.open(pg_ws) as ws:
        recs = _published(ws)
        for s in range(SHARDS):
            numbers = [r.details["number"] for r in recs if r.details["shard"] == s]
            assert numbers and numbers == sorted(set(numbers)), (s, numbers)
        assert set().union(*_shard_serials(ws).values()) == _revoked(ws)
        created = [
            r.details["number"]
            for r in audit.records(ws.store)
            if r.event == audit.Event.CRL_CREATED and r.details.get("kind") == "shards"
        ]
        assert sorted(created) == [1, 2]
        assert {
            r.details["entries"]
            for r in audit.records(ws.store)
            if r.event == audit.Event.CRL_CREATED and r.details.get("kind") == "shards"
        } == {12}
        # The newer number ends on every shard (the older was superseded or came first).
        assert {x.number for x in shard_leases.lease_rows(ws.store, CA, "shards")} == {2}


@pytest.mark.postgresql
def test_killed_worker_shard_rebuilt_once(
    pg_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker holding shard 1 is killed (SIGKILL) while it holds the lease: the
    task goes to another worker, which waits for the lease to expire, rebuilds the
    shard, and the audit trail shows one crl.published for it."""
    from porthos.workflows.dask_crl import cluster_client, publish_shards

    stall = tmp_path / "stalled.pid"
    monkeypatch.setenv(STALL_ENV, f"{stall}:1:60")  # the workers inherit it
    errors: list[BaseException] = []
    results = []
    with cluster_client(None, 2) as c, Workspace.open(pg_ws) as ws:

        def run() -> None:
            try:
                results.extend(publish_shards(ws, [CA], client=c, ttl=3))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        deadline = time.monotonic() + 20
        while not (stall.is_file() and stall.read_text()):
            assert time.monotonic() < deadline, "no worker stalled on shard 1"
            time.sleep(0.05)
        os.kill(int(stall.read_text()), signal.SIGKILL)
        t.join(60)
        assert not t.is_alive() and not errors, errors
        assert sorted(r.shard for r in results) == list(range(SHARDS))
        recs = [r for r in _published(ws) if r.details["shard"] == 1]
        assert [r.details["number"] for r in recs] == [1]
        assert set().union(*_shard_serials(ws).values()) == _revoked(ws)
        assert {x.state for x in shard_leases.lease_rows(ws.store, CA, "shards")} == {"free"}


@pytest.mark.postgresql
def test_gate_refuses_dropping_unexpired_serial(pg_ws: Path, client: distributed.Client) -> None:
    from porthos.workflows.dask_crl import publish_shards

    with Workspace.open(pg_ws) as ws:
        publish_shards(ws, [CA], client=client)
        before = {p: p.read_bytes() for p in (ws.path / "repository").glob("*shard*.crl")}
        published = len(_published(ws))
        # A revocation lost from the store (damage, a bad restore): the next CRL of its
        # shard would drop a serial whose certificate has not expired.
        victim = min(_revoked(ws))
        h = format(victim, "x")
        with ws.store.transaction() as conn:
            conn.execute(
                "DELETE FROM revocations WHERE ca_name = ? AND serial_hex IN (?, ?)",
                (CA, h, h.zfill(len(h) + len(h) % 2)),
            )
        assert victim not in _revoked(ws)
        with pytest.raises(PorthosError) as refused:
            publish_shards(ws, [CA], client=client)
        assert isinstance(refused.value, CrlGateError) and refused.value.code == "crl-gate"
        shard = victim % SHARDS
        # Nothing of the refused shard published; its file is unchanged.
        after = {p: p.read_bytes() for p in (ws.path / "repository").glob("*shard*.crl")}
        assert all(after[p] == before[p] for p in before if f"shard-{shard}" in p.name)
        assert not [r for r in _published(ws)[published:] if r.details["shard"] == shard]


def test_cli_dask_refuses_unsharded_ca(tmp_path: Path) -> None:
    """No sharded CDP: one line, exit 2, no cluster started."""
    Workspace.init(tmp_path / "ws", "nonprod").close()
    res = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(tmp_path / "ws"),
         "--ca", CA, "--executor", "dask"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
        timeout=60,
    )  # fmt: skip
    assert res.returncode == 2
    assert "no sharded CRL distribution point" in res.stdout + res.stderr


@pytest.mark.parametrize("shards", [1, 3, 4, 16, 32])
def test_shard_read_by_key_range_equals_mask(shards: int, tmp_path: Path) -> None:
    """The store's shard-key range (shard counts that are powers of two) reads exactly
    the rows of the shard that the writer's serial-mod-N mask keeps."""
    from porthos.store.revocations import shard_key_range
    from porthos.workspace.publication import store_columns
    from porthos.workspace.shard_publication import shard_columns

    path = _make_ws(tmp_path, None, None)
    with Workspace.open(path) as ws:
        every = store_columns(ws.store.conn, CA)
        assert len(every) == 12
        seen = 0
        for s in range(shards):
            key_range = shard_key_range(s, shards)
            assert (key_range is None) == (shards in (1, 3))
            read = store_columns(ws.store.conn, CA, None, None, key_range)
            want = shard_columns(every, s, shards)
            got = shard_columns(read, s, shards)
            assert sorted(C.serial_ints(got.serials)) == sorted(C.serial_ints(want.serials))
            if key_range is not None:
                assert len(read) == len(want)  # the range alone selects the shard
            seen += len(want)
        assert seen == 12


# -- batch issuance across workers -------------------------------------------------------


@pytest.mark.postgresql
def test_issue_chunks_across_workers(pg_ws: Path, client: distributed.Client) -> None:
    """40 requests in 4 chunks on 2 workers: every certificate issued once, in input
    order, serials unique in the store, one certificates.issued record per chunk, and
    the audit chain verifies. A refused request stays refused in its slot."""
    from porthos.bench.issue import make_csrs
    from porthos.workflows.dask_issue import issue_chunks

    csrs = make_csrs(40)
    csrs[7] = csrs[7][:-5]  # damaged: refused, the rest of its chunk issued
    with Workspace.open(pg_ws) as ws:
        before = ws.store.conn.execute("SELECT count(*) FROM certificates").fetchone()[0]
        out = issue_chunks(ws, csrs, "ha-device", client=client, chunk=10)
        assert len(out) == 4 and all(r.batch is not None for r in out)
        issued = [x for r in out for x in r.issued]
        assert [i for i, _ in issued] == [i for i in range(40) if i != 7]
        assert [i for r in out for i, _, _ in r.rejected] == [7]
        serials = [x509.load_der_x509_certificate(d).serial_number for _, d in issued]
        assert len(set(serials)) == 39
        after = ws.store.conn.execute("SELECT count(*) FROM certificates").fetchone()[0]
        assert after - before == 39
        batches = [
            r for r in audit.records(ws.store) if r.event == audit.Event.CERTIFICATES_ISSUED
        ]
        assert {r.seq for r in batches} >= {r.batch for r in out}
    rc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "audit", "verify", "-w", str(pg_ws)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
    )  # fmt: skip
    assert rc.returncode == 0, rc.stdout + rc.stderr


def test_dask_on_sqlite_workspace(tmp_path: Path, client: distributed.Client) -> None:
    """One machine, SQLite store: the workers open the workspace in the thread that
    runs their tasks (a SQLite connection belongs to its thread)."""
    from porthos.workflows.dask_crl import publish_shards

    with Workspace.open(_make_ws(tmp_path, None, None)) as ws:
        out = publish_shards(ws, [CA], client=client)
        assert sorted((r.shard, r.outcome) for r in out) == [
            (s, "published") for s in range(SHARDS)
        ]
        assert set().union(*_shard_serials(ws).values()) == _revoked(ws)


@pytest.mark.postgresql
def test_cli_issue_executor_dask(pg_ws: Path, client: distributed.Client, tmp_path: Path) -> None:
    """`porthos issue --executor dask --scheduler ...`: the PEM out in input order, a
    refused request reported (exit 3), each chunk one transaction."""
    from porthos.bench.issue import make_csrs
    from porthos.issuance.csr_input import der_to_pem

    csrs = make_csrs(12)
    pem = tmp_path / "req.pem"
    pem.write_text("".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in csrs))
    out, report = tmp_path / "certs.pem", tmp_path / "report.json"
    res = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "issue", "-w", str(pg_ws), "-p", "ha-device",
         "--csr", str(pem), "--out", str(out), "--report", str(report), "--executor", "dask",
         "--scheduler", client.scheduler.address, "--chunk", "5"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    certs = x509.load_pem_x509_certificates(out.read_bytes())
    assert len(certs) == 12 and len({c.serial_number for c in certs}) == 12
    # Input order: certificate i carries the key of request i.
    keys = [x509.load_der_x509_csr(d).public_key() for d in csrs]
    assert [c.public_key() == k for c, k in zip(certs, keys, strict=True)] == [True] * 12
    with Workspace.open(pg_ws) as ws:
        chunks = [
            r
            for r in audit.records(ws.store)
            if r.event == audit.Event.CERTIFICATES_ISSUED and r.details.get("executor") == "dask"
        ]
        assert len(chunks) == 3


@settings(max_examples=40, deadline=None)
@given(
    serials=st.lists(st.integers(1, (1 << 159) - 1), max_size=40, unique=True),
    shards=st.one_of(st.integers(1, 20), st.sampled_from([32, 64, 2048])),
)
def test_shard_columns_partition(serials: list[int], shards: int) -> None:
    """shard_columns splits columns into a partition by serial mod N (the writer's
    function), and shard_key_range holds exactly the shard keys of a shard."""
    from porthos.store.revocations import shard_key, shard_key_range
    from porthos.workspace.shard_publication import shard_columns

    n = len(serials)
    cols = C.RevocationColumns(
        C.serials_from_ints(serials),
        np.arange(n, dtype=np.int64),
        np.full(n, 1, np.uint8),
        np.full(n, C.INVALIDITY_NONE, np.int64),
    )
    seen: list[int] = []
    for s in range(shards):
        part = C.serial_ints(shard_columns(cols, s, shards).serials) if n else []
        assert all(C.shard_of(v, shards) == s for v in part)
        key_range = shard_key_range(s, shards)
        if key_range is not None:
            assert all(key_range[0] <= shard_key(v) < key_range[1] for v in part)
            # ... and no serial of another shard has its key in the range.
            others = [v for v in serials if C.shard_of(v, shards) != s]
            assert not any(key_range[0] <= shard_key(v) < key_range[1] for v in others)
        seen += part
    assert sorted(seen) == sorted(serials)


_HSM_SHARDS = """
import sys
from pathlib import Path

from cryptography import x509

import test_crl_dask as t
from porthos import Workspace
from porthos.bench.issue import make_csrs
from porthos.cli.hsm_options import demo_hsm_setup, demo_pin
from porthos.workflows.dask_crl import cluster_client, publish_shards
from porthos.workflows.revocation import revoke

tmp = Path(sys.argv[1])
path = tmp / "ws"
ws = Workspace.init(
    path, "nonprod", profile_set=str(t._sharded_profile_set(tmp)), hsm_setup=demo_hsm_setup(path)
)
pin = demo_pin(path, "issuing")
try:
    ws.activate(pin)
    result = ws.ca(t.CA).issue_batch(make_csrs(12), "ha-device")
    serials = [x509.load_der_x509_certificate(d).serial_number for _, d in result.issued()]
    revoke(ws, serials[:6], "keyCompromise", requester="t", ca=t.CA)
finally:
    ws.close()
with cluster_client(None, 2) as client, Workspace.open(path) as ws:
    out = publish_shards(ws, [t.CA], client=client, pin=pin)
    assert sorted((r.shard, r.outcome) for r in out) == [
        (s, "published") for s in range(t.SHARDS)
    ], out
    assert set().union(*t._shard_serials(ws).values()) == t._revoked(ws) == set(serials[:6])
    # Batch issuance across the same workers: each chunk signed in the worker's own
    # session pool (issue 19 §3), every certificate verifying under the CA certificate.
    from cryptography.hazmat.primitives.asymmetric import ec
    from porthos.workflows.dask_issue import issue_chunks

    chunks = issue_chunks(ws, make_csrs(8), "ha-device", client=client, chunk=4, pin=pin)
    issued = [d for r in chunks for _, d in r.issued]
    assert len(chunks) == 2 and len(issued) == 8, chunks
    ca_key = x509.load_der_x509_certificate(ws.ca(t.CA).certificate).public_key()
    for der in issued:
        cert = x509.load_der_x509_certificate(der)
        algorithm = ec.ECDSA(cert.signature_hash_algorithm)
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)
print("ok")
"""


def test_dask_shards_signed_in_the_hsm(tmp_path: Path) -> None:
    """HSM workspace (SoftHSM2): each worker process activates its own session pool of
    the issuing token with the PIN the plugin carries, and signs its shards there (the
    shard CRLs hold the revoked set) and its chunks of a batch issuance (every
    certificate verifies under the CA certificate). In its own
    process: SoftHSM2 reads one configuration per process."""
    tests_dir = str(Path(__file__).parent)
    res = subprocess.run(
        [sys.executable, "-c", _HSM_SHARDS, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir, _pythonpath()])},
        timeout=300,
    )
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr


@pytest.mark.postgresql
def test_cli_lease_ttl_is_the_lease(pg_ws: Path, tmp_path: Path) -> None:
    """`crl publish --executor dask --lease-ttl 45`: a worker's lease on a shard runs out
    45 s after it was taken (read while the holder stalls in the shard, the test hook);
    out of range is a usage error (exit 2), before anything runs."""
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    argv = [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(pg_ws),
            "--ca", CA, "--executor", "dask", "--workers", "1"]  # fmt: skip
    for bad in ("9", "86401"):
        res = subprocess.run([*argv, "--lease-ttl", bad], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert res.returncode == 2 and "--lease-ttl" in res.stderr, res.stderr
    stall = tmp_path / "stalled.pid"
    before = int(time.time())
    proc = subprocess.Popen([*argv, "--lease-ttl", "45"], text=True,
                            env={**env, STALL_ENV: f"{stall}:1:6"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (stall.is_file() and stall.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, "no stall on shard 1"
            time.sleep(0.05)
        with Workspace.open(pg_ws) as ws:
            row = next(x for x in shard_leases.lease_rows(ws.store, CA, "shards") if x.shard == 1)
        assert row.state == "leased" and row.expires_at is not None
        assert before + 45 <= row.expires_at <= int(time.time()) + 45
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err


# -- what publishes or issues no more (terminated, retired) -------------------------------


def _store_counts(ws: Workspace) -> dict[str, int]:
    """Rows the refused calls must leave alone: CRL numbers, leases, reservations, audit."""
    tables = ("crls", "shard_leases", "serial_reservations", "audit")
    return {
        t: int(ws.store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables
    }


def _terminated_ws(tmp_path: Path) -> Path:
    """The sharded workspace of _make_ws (SQLite), terminated (RFC 3647 §5.8)."""
    from porthos.workflows.termination import terminate

    path = _make_ws(tmp_path, None, None)
    with Workspace.open(path) as ws:
        terminate(ws, destroy_keys=True)
    return path


def test_dask_refuses_a_terminated_ca(tmp_path: Path, client: distributed.Client) -> None:
    """A terminated CA's final CRL stands: publish_shards refuses it as the local path
    does, with nothing numbered, leased or written, and no default target is left."""
    from porthos.exceptions import LifecycleError, PolicyError
    from porthos.workflows.dask_crl import publish_shards, shard_targets

    with Workspace.open(_terminated_ws(tmp_path)) as ws:
        files = {p: p.read_bytes() for p in (ws.path / "repository").rglob("*.crl")}
        before = _store_counts(ws)
        with pytest.raises(LifecycleError) as refused:
            publish_shards(ws, [CA], client=client)
        assert refused.value.code == "lifecycle" and "terminated" in str(refused.value)
        with pytest.raises(LifecycleError):
            shard_targets(ws, CA)
        with pytest.raises(PolicyError, match="still publishes"):
            shard_targets(ws)
        assert _store_counts(ws) == before
        assert {p: p.read_bytes() for p in (ws.path / "repository").rglob("*.crl")} == files


def test_cli_dask_refuses_a_terminated_ca_before_any_cluster(tmp_path: Path) -> None:
    """`crl publish --executor dask` for a terminated CA: one PorthosError line, exit 2,
    before it connects anywhere (the scheduler named does not exist: a connection
    attempt would fail differently, after its timeout)."""
    path = _terminated_ws(tmp_path)
    with Workspace.open(path) as ws:
        before = _store_counts(ws)
    for ca in (["--ca", CA], []):
        res = subprocess.run(
            [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(path),
             *ca, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
            timeout=60,
        )  # fmt: skip
        out = (res.stdout + res.stderr).strip()
        assert res.returncode == 2, out
        assert len(out.splitlines()) == 1, out
        assert ("terminated" if ca else "still publishes") in out, out
    with Workspace.open(path) as ws:
        after = _store_counts(ws)
        # Nothing numbered or leased; the audit trail gained the two refusals only.
        assert {**after, "audit": before["audit"]} == before
        added = ws.store.conn.execute(
            "SELECT outcome FROM audit ORDER BY seq LIMIT -1 OFFSET ?", (before["audit"],)
        ).fetchall()
        assert [str(r[0]) for r in added] == ["failure", "failure"]


def test_issue_chunks_refuses_a_terminated_ca_before_reserving(
    tmp_path: Path, client: distributed.Client
) -> None:
    """A CA that may not issue (terminated, RFC 3647 §5.8) is refused before a worker
    reserves a serial: the reservation table is unchanged."""
    from porthos.bench.issue import make_csrs
    from porthos.exceptions import LifecycleError
    from porthos.workflows.dask_issue import issue_chunks

    with Workspace.open(_terminated_ws(tmp_path)) as ws:
        before = _store_counts(ws)
        with pytest.raises(LifecycleError, match="terminated"):
            issue_chunks(ws, make_csrs(6), "ha-device", client=client, chunk=3)
        assert _store_counts(ws) == before


def test_retired_ca_shards_until_its_final_crl_then_refused(
    tmp_path: Path, client: distributed.Client
) -> None:
    """After a key changeover (RFC 3647 §5.6) the retired CA's certificates still point
    at its shard URLs: its shard sets are published with its CRLs (local and Dask),
    until its final CRL (RFC 5280 §3.3, crl_end.py); then the Dask path refuses it as
    the local one does, nothing numbered."""
    from porthos.exceptions import LifecycleError
    from porthos.workflows import crl_end, rollover
    from porthos.workflows.dask_crl import publish_shards

    path = _make_ws(tmp_path, None, None)
    now = int(time.time())
    with Workspace.open(path) as ws:
        rollover.rollover(ws, now=now + 10)
        old = ws.ca(CA)
        assert old.status == "retired"
        last = crl_end.last_expiry(ws, old)
        kinds = [p.kind for p in crl_publication.publish(ws, [CA], now=now + 20)]
        assert kinds.count("crl") == 1 and kinds.count("crl-shard") == SHARDS
        out = publish_shards(ws, [CA], client=client, now=now + 30)
        assert sorted(r.outcome for r in out) == ["published"] * SHARDS
        assert set().union(*_shard_serials(ws).values()) == _revoked(ws)
        # The final CRL, on the local path, after the last expiry (recorded there:
        # crl.publication-ended).
        crl_publication.publish(ws, [CA], now=last + 1)
        end = crl_end.retired_crls(ws, old)
        assert end is not None and end.ended
        before = _store_counts(ws)
        with pytest.raises(LifecycleError, match="final CRL"):
            publish_shards(ws, [CA], client=client, now=last + 2)
        assert _store_counts(ws) == before
    res = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(path),
         "--ca", CA, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
         "--now", f"@{last + 3}"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
        timeout=60,
    )  # fmt: skip
    out_text = (res.stdout + res.stderr).strip()
    assert res.returncode == 2 and len(out_text.splitlines()) == 1, out_text
    assert "final CRL" in out_text


def test_cli_dask_carries_out_due_scheduled_revocations_first(
    tmp_path: Path, client: distributed.Client
) -> None:
    """As the local `crl publish`: a scheduled revocation whose due time has passed (the
    early re-key grace period, 000 §4.9.4) is carried out before the shards are rebuilt,
    so the rebuilt shard set lists it; one not yet due is left alone."""
    path = _make_ws(tmp_path, None, None)
    now = int(time.time())
    with Workspace.open(path) as ws:
        live = sorted(
            int(r[0], 16)
            for r in ws.store.conn.execute(
                "SELECT serial_hex FROM certificates WHERE ca_name = ? AND profile = ?",
                (CA, "ha-device"),
            ).fetchall()
            if int(r[0], 16) not in _revoked(ws)
        )
        due_now, later = live[0], live[1]
        with ws.store.transaction() as conn:
            for serial, due_at in ((due_now, now - 60), (later, now + 86400)):
                conn.execute(
                    "INSERT INTO scheduled_revocations (ca_name, serial_hex, reason, due_at,"
                    " requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (CA, format(serial, "032x"), 4, due_at, "device 42", now - 120),
                )
    res = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "crl", "publish", "-w", str(path),
         "--ca", CA, "--executor", "dask", "--scheduler", client.scheduler.address],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()},
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"scheduled revocation carried out: {CA} serial {due_now:032x}" in res.stdout
    with Workspace.open(path) as ws:
        revoked = _revoked(ws)
        assert due_now in revoked and later not in revoked
        assert set().union(*_shard_serials(ws).values()) == revoked
