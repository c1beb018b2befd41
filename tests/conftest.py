"""Shared fixtures: CSRs made by pyca/cryptography (the test oracle) and one
initialised workspace per environment for the whole session."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

if TYPE_CHECKING:
    from pg_server import PgServer
    from porthos.workspace.workspace import Workspace

_SHORT = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}


class CsrFactory:
    """CSR DER with any subject (duplicates allowed, any order) and key kind.

    Keys are cached per kind (slot 0 by default) so a test suite does not spend its time
    generating RSA keys; pass key_slot to get a different key of the same kind."""

    KINDS = ("ec-p256", "ec-p384", "rsa-2048", "rsa-1024", "rsa-3072")

    def __init__(self) -> None:
        self._keys: dict[tuple[str, int], Any] = {}

    def key(self, kind: str = "ec-p256", slot: int = 0) -> Any:
        k = self._keys.get((kind, slot))
        if k is None:
            if kind == "ec-p256":
                k = ec.generate_private_key(ec.SECP256R1())
            elif kind == "ec-p384":
                k = ec.generate_private_key(ec.SECP384R1())
            elif kind.startswith("rsa-"):
                k = rsa.generate_private_key(65537, int(kind[4:]))
            else:
                raise ValueError(kind)
            self._keys[(kind, slot)] = k
        return k

    def make(
        self,
        subject: Sequence[tuple[str, str]],
        kind: str = "ec-p256",
        *,
        slot: int = 0,
        extensions: Sequence[x509.ExtensionType] = (),
    ) -> bytes:
        attrs = []
        for attr, value in subject:
            oid = _SHORT[attr] if attr in _SHORT else ObjectIdentifier(attr)
            attrs.append(x509.NameAttribute(oid, value))
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
        for ext in extensions:
            builder = builder.add_extension(ext, critical=False)
        csr = builder.sign(self.key(kind, slot), hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.DER)

    def pem(self, subject: Sequence[tuple[str, str]], kind: str = "ec-p256", **kw: Any) -> str:
        der = self.make(subject, kind, **kw)
        csr = x509.load_der_x509_csr(der)
        return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hsm: needs SoftHSM2 (Debian package softhsm2); skipped only if absent"
    )
    config.addinivalue_line(
        "markers",
        "postgresql: starts a private PostgreSQL (Debian package postgresql; tests/pg_server.py);"
        " skipped only if absent",
    )


@pytest.fixture(scope="session")
def csr_factory() -> CsrFactory:
    return CsrFactory()


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Workspace]]:
    """One initialised workspace per environment, shared by the session. Tests that
    count store rows must use their own workspace or compare deltas."""
    from porthos.workspace.workspace import Workspace

    out = {
        env: Workspace.init(tmp_path_factory.mktemp(f"ws-{env}"), env)
        for env in ("prod", "nonprod")
    }
    yield out
    for ws in out.values():
        ws.close()


@pytest.fixture(params=["prod", "nonprod"])
def workspace(request: pytest.FixtureRequest, workspaces: dict[str, Workspace]) -> Workspace:
    return workspaces[request.param]


@pytest.fixture
def fresh_workspace(tmp_path: Path) -> Iterator[Workspace]:
    from porthos.workspace.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", "prod")
    yield ws
    ws.close()


# -- PostgreSQL (issue 19) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One private PostgreSQL server for the session (tests/pg_server.py), stopped and
    removed at the end, also when tests fail. Skipped, saying why, only where Debian's
    postgresql is not installed (the Makefile installs it: DEB_PACKAGES)."""
    import shutil

    from pg_server import PgServer, bin_dir

    bindir = bin_dir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL binaries absent (/usr/lib/postgresql/*/bin): apt-get install postgresql"
        )
    server = PgServer.make(bindir)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new empty database on the session's server (its password: pg_server.password_file)."""
    return pg_server.new_database()
