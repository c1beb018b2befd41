"""The PostgreSQL store (issue 19 §1): the store's core behaviours on both backends
(init, issue, revoke, CRL publication, audit verify), the dialect translation, the
credentials rules and the errors of a database that is down or refuses the password.

The server is the session's private one (tests/pg_server.py, conftest ``pg_server``);
every test gets a new database (``pg_url``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_server import PgServer
from porthos.cli.main import main
from porthos.exceptions import StoreError, StoreUnavailableError
from porthos.store import audit, location
from porthos.store.dialect import postgres_schema, postgres_sql
from porthos.store.schema import SCHEMA, statements
from porthos.workspace.workspace import Workspace

SECRET = "s3cr3t-Pa55"


def _csrs(n: int) -> bytes:
    from porthos.bench.issue import make_csrs
    from porthos.issuance.csr_input import der_to_pem

    return "".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(n)).encode()


def _serials(pem: str) -> list[str]:
    return [
        format(c.serial_number, "x")
        for c in x509.load_pem_x509_certificates(pem.encode())  # type: ignore[attr-defined]
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend_ws(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An initialised workspace (CLI init) on either backend."""
    argv = ["init", "-w", str(tmp_path / "ws"), "--env", "nonprod"]
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        url = server.new_database()
        argv += ["--store", url, "--store-password-file", str(server.password_file)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    return tmp_path / "ws"


def _run(*argv: str) -> str:
    result = CliRunner().invoke(main, list(argv))
    assert result.exit_code == 0, result.output
    return result.output


def test_core_lifecycle_on_both_backends(backend_ws: Path, tmp_path: Path) -> None:
    ws_path = backend_ws
    (tmp_path / "r.pem").write_bytes(_csrs(12))
    _run("issue", "-w", str(ws_path), "-p", "ha-device", "--csr", str(tmp_path / "r.pem"),
         "--out", str(tmp_path / "o.pem"))  # fmt: skip
    serials = _serials((tmp_path / "o.pem").read_text())
    assert len(set(serials)) == 12
    revoked = serials[:3]
    argv = ["revoke", "-w", str(ws_path), "--reason", "keyCompromise", "--requester", "t"]
    for s in revoked:
        argv += ["--serial", s]
    _run(*argv)
    _run("crl", "publish", "-w", str(ws_path), "--ca", "ha-device-ca-1")
    _run("crl", "publish", "-w", str(ws_path), "--ca", "ha-device-ca-1")
    crl = x509.load_der_x509_crl((ws_path / "repository" / "ha-device-ca-1.crl").read_bytes())
    assert {format(r.serial_number, "x") for r in crl} == set(revoked)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == 2
    with Workspace.open(ws_path) as ws:
        assert ws.store.count_certificates("ha-device-ca-1") == 12
        stored = [int(r[0], 16) for r in ws.store.revocations("ha-device-ca-1")]
        assert stored == [int(s, 16) for s in revoked]
        assert ws.store.last_crl_number("ha-device-ca-1") == 2
        result = audit.verify(ws.store)
        assert result.ok, result.problem
    assert "audit chain verified" in _run("audit", "verify", "-w", str(ws_path))
    pg = (ws_path / location.URL_FILE).exists()
    line = next(x for x in _run("show", "-w", str(ws_path)).splitlines() if x.startswith("store:"))
    assert line.startswith("store: postgresql://") if pg else line.endswith("porthos.sqlite")


def test_delta_crl_rollover_and_termination_on_both_backends(
    backend_ws: Path, tmp_path: Path
) -> None:
    # The lifecycle's other writers (holds-free delta CRLs, CA generations, the final
    # CRLs and key destruction) on the same store code, one chain throughout.
    ws_path = str(backend_ws)
    (tmp_path / "r.pem").write_bytes(_csrs(4))
    _run("issue", "-w", ws_path, "-p", "ha-device", "--csr", str(tmp_path / "r.pem"),
         "--out", str(tmp_path / "o.pem"))  # fmt: skip
    serials = _serials((tmp_path / "o.pem").read_text())
    _run("crl", "publish", "-w", ws_path, "--all")
    _run("revoke", "-w", ws_path, "--serial", serials[0], "--reason", "superseded",
         "--requester", "t")  # fmt: skip
    _run("crl", "publish", "-w", ws_path, "--delta")
    delta = x509.load_der_x509_crl(
        (backend_ws / "repository" / "ha-device-ca-1-delta.crl").read_bytes()
    )
    assert [r.serial_number for r in delta] == [int(serials[0], 16)]
    _run("rollover", "-w", ws_path)
    _run("terminate", "-w", ws_path, "--destroy-keys")
    with Workspace.open(backend_ws) as ws:
        assert {ca.name for ca in ws.cas} >= {"root-ca-1", "root-ca-2"}
        # termination revoked every unexpired certificate of the CA
        assert ws.store.count_certificates("ha-device-ca-1") == len(
            ws.store.revocations("ha-device-ca-1")
        )
    assert "audit chain verified" in _run("audit", "verify", "-w", ws_path)


def test_duplicate_serial_is_refused_by_the_constraint(backend_ws: Path) -> None:
    with Workspace.open(backend_ws) as ws:
        store = ws.store
        row = ("ha-device-ca-1", "01ab", "CN=x", "ha-device", 1, 2, b"der", 3, None)
        before = store.count_certificates()
        store.insert_certificate_params("ha-device-ca-1", [row])
        with raises_code(StoreError, "store"):
            store.insert_certificate_params("ha-device-ca-1", [(*row[:1], "02cd", *row[2:]), row])
        # a batch with the serial twice (COPY on PostgreSQL from 64 rows)
        many = [(*row[:1], f"{i:04x}ff", *row[2:]) for i in range(100)]
        with raises_code(StoreError, "store"):
            store.insert_certificate_params("ha-device-ca-1", [*many, many[7]])
        assert store.count_certificates() == before + 1


def test_audit_records_are_append_only(backend_ws: Path) -> None:
    import sqlite3

    with Workspace.open(backend_ws) as ws:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with ws.store.transaction() as conn:
                conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1")
        assert audit.verify(ws.store).ok


# -- the dialect ----------------------------------------------------------------------------


def test_dialect_translates_placeholders_and_sqlite_idioms() -> None:
    assert postgres_sql("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    assert postgres_sql("SELECT x FROM h WHERE h.rowid <= :upto AND y = :ca") == (
        "SELECT x FROM h WHERE h.rowid <= %(upto)s AND y = %(ca)s"
    )
    assert postgres_sql("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert postgres_sql("SELECT CAST(actor AS BLOB) FROM audit WHERE x LIKE '%a'") == (
        "SELECT convert_to(actor, 'UTF8') FROM audit WHERE x LIKE '%%a'"
    )
    assert "(details::jsonb ->> 'ca') = %s" in postgres_sql("json_extract(details, '$.ca') = ?")
    assert postgres_sql("SELECT 1 FROM r WHERE +ca_name = ?") == (
        "SELECT 1 FROM r WHERE ca_name = %s"
    )
    # a cast is not a named parameter
    assert postgres_sql("SELECT a::text FROM t") == "SELECT a::text FROM t"


def test_dialect_schema_has_identity_rowids_bytea_and_trigger_functions() -> None:
    out = postgres_schema(list(statements(SCHEMA)))
    creates = [s for s in out if s.startswith("CREATE TABLE")]
    assert creates and all("rowid BIGINT GENERATED BY DEFAULT AS IDENTITY" in s for s in creates)
    assert not any("BLOB" in s or "INTEGER" in s or "RAISE(ABORT" in s for s in out)
    triggers = [s for s in out if s.startswith("CREATE TRIGGER")]
    assert len(triggers) == 4
    assert all("EXECUTE FUNCTION porthos_append_only('" in s for s in triggers)


# -- credentials ----------------------------------------------------------------------------


def test_a_password_in_the_url_is_refused_and_never_repeated(tmp_path: Path) -> None:
    for url in (
        f"postgresql://porthos:{SECRET}@db.example/ca",
        f"postgresql://porthos@db.example/ca?password={SECRET}",
    ):
        with raises_code(StoreError, "store") as info:
            location.parse_store_url(url)
        assert SECRET not in str(info.value)
        result = CliRunner().invoke(main, ["init", "-w", str(tmp_path / "ws"), "--store", url])
        assert result.exit_code == 2
        assert SECRET not in result.output and "[store]" in result.output
        assert "PGPASSWORD" in result.output  # says where a password may come from
        assert not (tmp_path / "ws" / location.URL_FILE).exists()
        assert not (tmp_path / "ws" / location.STORE_FILE).exists()
    with raises_code(StoreError, "store"):
        location.parse_store_url("mysql://db.example/ca")


@given(
    password=st.text(
        st.characters(codec="ascii", exclude_characters="@/?#[]%", exclude_categories=["Cc"]),
        min_size=12,  # long enough never to be a piece of the message itself
        max_size=40,
    ),
    user=st.sampled_from(["porthos", "ra-front-end", "u"]),
)
@settings(max_examples=200, deadline=None)
def test_any_password_in_the_url_is_refused_and_not_echoed(password: str, user: str) -> None:
    from urllib.parse import quote

    for url in (
        f"postgresql://{user}:{quote(password, safe='')}@db.example:5432/ca",
        f"postgres://{user}@db.example/ca?sslmode=require&password={quote(password, safe='')}",
    ):
        with raises_code(StoreError, "store") as info:
            location.parse_store_url(url)
        assert password not in str(info.value) and quote(password, safe="") not in str(info.value)


@pytest.mark.postgresql
def test_wrong_password_is_one_line_without_it(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(SECRET + "\n")
    result = CliRunner().invoke(
        main, ["init", "-w", str(tmp_path / "ws"), "--store", pg_url,
               "--store-password-file", str(wrong)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "[store-unavailable]" in result.output and "password authentication" in result.output
    assert SECRET not in result.output
    assert not (tmp_path / "ws" / location.URL_FILE).exists()


@pytest.mark.postgresql
def test_password_from_pgpassword_or_pgpassfile_and_the_url_file_keeps_no_secret(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    import os

    env = {**os.environ, "PGPASSWORD": pg_server.password(), "PYTHONPATH": _pythonpath()}
    ws = tmp_path / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "init", "-w", str(ws), "--store", pg_url],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    recorded = (ws / location.URL_FILE).read_text()
    assert pg_url in recorded and pg_server.password() not in recorded
    assert "password_file" not in recorded
    # A PGPASSFILE (libpq's own ~/.pgpass format, mode 0600) works too.
    env.pop("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:porthos:{pg_server.password()}\n")
    passfile.chmod(0o600)
    env["PGPASSFILE"] = str(passfile)
    proc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "show", "-w", str(ws)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # With neither (and no password file) the server refuses: exit 2, one line.
    env["PGPASSFILE"] = str(tmp_path / "none")
    proc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "show", "-w", str(ws)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "[store-unavailable]" in proc.stderr


def _pythonpath() -> str:
    import porthos

    return str(Path(porthos.__file__).parent.parent)


# -- a database that is down ----------------------------------------------------------------


@pytest.mark.postgresql
def test_a_store_that_is_down_is_one_clear_line_exit_2(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    _run("init", "-w", str(ws), "--store", pg_url,
         "--store-password-file", str(pg_server.password_file))  # fmt: skip
    # Point the workspace at a socket directory where no server listens.
    gone = tmp_path / "nosocket"
    gone.mkdir()
    url_file = ws / location.URL_FILE
    text = url_file.read_text()
    url_file.write_text(text.replace(f"host={pg_server.socket_dir}", f"host={gone}"))
    for argv in (["show", "-w", str(ws)], ["audit", "verify", "-w", str(ws)]):
        proc = subprocess.run(
            [sys.executable, "-m", "porthos.cli.main", *argv],
            env={"PYTHONPATH": _pythonpath(), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "[store-unavailable]" in proc.stderr and "Traceback" not in proc.stderr
    with raises_code(StoreUnavailableError, "store-unavailable"):
        Workspace.open(ws)


@pytest.mark.postgresql
def test_init_refuses_a_database_that_holds_a_store(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    pw = ["--store-password-file", str(pg_server.password_file)]
    _run("init", "-w", str(tmp_path / "a"), "--store", pg_url, *pw)
    result = CliRunner().invoke(main, ["init", "-w", str(tmp_path / "b"), "--store", pg_url, *pw])
    assert result.exit_code == 2
    assert "already holds a porthos store" in result.output
    assert not (tmp_path / "b" / location.URL_FILE).exists()


@pytest.mark.postgresql
def test_init_in_a_database_with_a_clashing_table_leaves_nothing(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    database = pg_url.split("@/", 1)[1].split("?", 1)[0]
    with psycopg.connect(
        pg_server.url(database), password=pg_server.password(), autocommit=True
    ) as conn:
        conn.execute("CREATE TABLE holds (x int)")  # not ours: the schema's CREATE fails
        result = CliRunner().invoke(
            main, ["init", "-w", str(tmp_path / "ws"), "--store", pg_url,
                   "--store-password-file", str(pg_server.password_file)],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "cannot create the store" in result.output and "[store]" in result.output
        assert not (tmp_path / "ws" / location.URL_FILE).exists()
        # the schema's one transaction rolled back: no table of ours, no function
        left = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert left is not None and left[0] == 1
        fn = conn.execute("SELECT to_regprocedure('porthos_append_only()')").fetchone()
        assert fn is not None and fn[0] is None


@pytest.mark.postgresql
def test_discard_drops_a_store_that_init_made(pg_server: PgServer, pg_url: str) -> None:
    # What a workspace init does when recording its CAs fails after the schema committed.
    import psycopg
    from porthos.store.postgres import PostgresStore

    store = PostgresStore.create_at(
        pg_url, pg_url, env="nonprod", profile_set="porthos", password=pg_server.password()
    )
    store.discard()
    database = pg_url.split("@/", 1)[1].split("?", 1)[0]
    with psycopg.connect(pg_server.url(database), password=pg_server.password()) as conn:
        left = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert left is not None and left[0] == 0
    # and the database takes a new store
    PostgresStore.create_at(
        pg_url, pg_url, env="nonprod", profile_set="porthos", password=pg_server.password()
    ).close()
