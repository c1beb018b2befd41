"""``make demo-cluster`` (issue 19 §5): a sharded CRL rebuilt on a Dask LocalCluster over a
private PostgreSQL, checked with openssl, everything stopped at the end.

    .venv/bin/python tests/demo_cluster.py BUILD_DIR

Starts a server as ``make pg-start`` does (tests/pg_server.py: data directory and Unix
socket under BUILD_DIR/pg-demo, no TCP), inits a workspace on it whose ha-device CDP is
sharded in 4 (a copy of the bundled CP/CPS, test data), issues 40 certificates, revokes
10, publishes the shard set with ``porthos crl publish --executor dask --workers 2``,
verifies every shard with ``openssl crl -verify`` and each revoked certificate against
its shard with ``openssl verify -crl_check``, then stops the server and removes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_server import PgServer, bin_dir  # noqa: E402

CA = "ha-device-ca-1"
SHARDS = 4


def _run(*argv: str) -> str:
    print("$", " ".join(argv), flush=True)
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {out.stdout}{out.stderr}")
    return out.stdout


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def main(build: Path) -> None:
    from porthos.bench.issue import make_csrs
    from porthos.issuance.csr_input import der_to_pem

    bindir = bin_dir()
    if bindir is None:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    root = (build / "pg-demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    server = PgServer(root / "server", bindir)
    server.start()
    try:
        url = server.new_database()
        text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text()
        at = text.index("[profiles.ha-device]")
        old = 'uris = ["{crl}/ha-device-ca-1.crl"] }'
        new = f'uris = ["{{crl}}/ha-device-ca-1-shard-{{shard}}.crl"], shards = {SHARDS} }}'
        cpcps = root / "sharded.toml"
        cpcps.write_text(text[:at] + text[at:].replace(old, new, 1))
        ws = root / "ws"
        porthos = str(Path(sys.executable).with_name("porthos"))
        _run(porthos, "init", "-w", str(ws), "--env", "nonprod", "--cpcps", str(cpcps),
             "--store", url, "--store-password-file", str(server.password_file))  # fmt: skip
        csrs = root / "requests.pem"
        csrs.write_text("".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(40)))
        certs = root / "certs.pem"
        _run(porthos, "issue", "-w", str(ws), "-p", "ha-device", "--csr", str(csrs),
             "--out", str(certs))  # fmt: skip
        issued = x509.load_pem_x509_certificates(certs.read_bytes())
        revoked = issued[:10]
        for c in revoked:
            _run(porthos, "revoke", "-w", str(ws), "--ca", CA, "--serial",
                 format(c.serial_number, "x"), "--reason", "keyCompromise",
                 "--requester", "demo")  # fmt: skip
        print(_run(porthos, "crl", "publish", "-w", str(ws), "--ca", CA,
                   "--executor", "dask", "--workers", "2"))  # fmt: skip
        repo = ws / "repository"
        chain = root / "chain.pem"
        chain.write_bytes(
            _pem((repo / "root-ca-1.crt").read_bytes()) + _pem((repo / f"{CA}.crt").read_bytes())
        )
        for s in range(SHARDS):
            _run("openssl", "crl", "-inform", "DER", "-in", str(repo / f"{CA}-shard-{s}.crl"),
                 "-CAfile", str(chain), "-noout", "-verify")  # fmt: skip
        for c in revoked:
            shard = repo / f"{CA}-shard-{c.serial_number % SHARDS}.crl"
            crl_pem = root / "shard.pem"
            crl_pem.write_bytes(
                x509.load_der_x509_crl(shard.read_bytes()).public_bytes(serialization.Encoding.PEM)
            )
            leaf = root / "leaf.pem"
            leaf.write_bytes(c.public_bytes(serialization.Encoding.PEM))
            out = subprocess.run(
                ["openssl", "verify", "-crl_check", "-CAfile", str(chain), "-CRLfile",
                 str(crl_pem), str(leaf)],
                capture_output=True, text=True,
            )  # fmt: skip
            if "certificate revoked" not in out.stdout + out.stderr:
                sys.exit(f"openssl did not find {c.serial_number:x} revoked in {shard.name}")
        _run(porthos, "audit", "verify", "-w", str(ws))
        print(f"demo-cluster: {SHARDS} shards verified by openssl, 10 revoked certificates found")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build"))
