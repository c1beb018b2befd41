"""A private PostgreSQL server for the tests (and ``make pg-start``/``pg-stop``): Debian's
``postgresql`` binaries (/usr/lib/postgresql/*/bin, DEB_PACKAGES in the Makefile), a
data directory of its own, a Unix socket in that directory and no TCP port
(listen_addresses=''), password authentication (scram-sha-256) for a superuser
``porthos`` whose password is in a 0600 file next to it.

initdb and pg_ctl refuse to run as root (CI runs as root): then they run as the
``postgres`` user, which owns the directory. The directory is made under /tmp, not
under pytest's tmp dir: that one is 0700 root (postgres cannot enter it) and deep
enough to pass the 107-byte limit of a socket path.

    python tests/pg_server.py start DIR    # prints the store URL
    python tests/pg_server.py stop DIR
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PgServer", "bin_dir"]

USER = "porthos"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


class PgServer:
    """One server: ``start`` (initdb the first time), ``restart``, ``stop``, and a fresh
    database per test (``new_database``)."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root = root
        self.bindir = bindir
        self.data = root / "data"
        self.password_file = root / "password"
        self.log = root / "server.log"
        self._n = 0
        #: PostgreSQL's own durability settings (fsync, synchronous_commit on): for
        #: benchmarks. The tests turn them off.
        self.durable = False

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@/{database}?host={self.socket_dir}"

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def _own(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o755)  # clients (root) reach the socket in it

    def start(self) -> None:
        if not self.data.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._own()
            pwfile = self.root / "pwfile.initdb"
            password = secrets.token_hex(16)
            pwfile.write_text(password + "\n")
            self.password_file.write_text(password + "\n")
            os.chmod(self.password_file, 0o600)
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            try:
                self._run(
                    "initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                    "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
                )  # fmt: skip
            finally:
                pwfile.unlink()
        opts = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}'"
            " -c max_connections=50"
        )
        if not self.durable:
            # A test server's durability is not under test (a crash loses the run).
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is cut, open transactions roll back."""
        # -l again: without it the new server writes to pg_ctl's stdout, which would
        # keep the pipe open after pg_ctl exits.
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def admin(self) -> object:
        import psycopg

        return psycopg.connect(self.url(), password=self.password(), autocommit=True)

    def workspace_store(self) -> dict[str, object]:
        """``Workspace.init`` keyword arguments for a workspace whose store is a new,
        empty database of this server."""
        return {"store": self.new_database(), "store_password_file": self.password_file}

    def new_database(self) -> str:
        """A new, empty database; returns its URL (no password: that is in the file)."""
        self._n += 1
        name = f"t{os.getpid()}_{self._n}"
        with self.admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    @classmethod
    def make(cls, bindir: Path) -> PgServer:
        return cls(Path(tempfile.mkdtemp(prefix="porthos-pg-")), bindir)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: pg_server.py start|stop DIR", file=sys.stderr)
        return 2
    bindir = bin_dir()
    if bindir is None:
        print("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
        return 2
    server = PgServer(Path(argv[2]).resolve(), bindir)
    if argv[1] == "start":
        server.start()
        print(f"{server.url()}  (password file {server.password_file})")
    else:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
