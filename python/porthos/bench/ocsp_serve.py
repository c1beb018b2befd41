"""``porthos bench ocsp --responder``: requests/s and latency of ``porthos ocsp serve``
against ``openssl ocsp -index ... -port`` serving the same CA, in the same run, under
the same load generator (h2load from nghttp2-client, HTTP/1.1, keep-alive).

Two measurements per responder:

* **saturation**: ``h2load -c CONNECTIONS -n N`` as fast as it goes: requests/s. With
  every connection busy, latency is CONNECTIONS / throughput (Little's law), so the p99
  here says how long a request waits in line, not how long the responder works on it.
* **offered load** (porthos only): the same connections, each sending ``--rps`` requests
  a second (h2load ``--rps``), a rate the responder can carry: the p99 a client sees.

Latency percentiles come from h2load's ``--log-file`` (one line per request). The
fixture is pyca-made: a P-256 CA, a delegated responder, SERIALS good certificates, one
pre-signed SHA-1 response each, in the contract of ``porthos ocsp presign``; openssl
gets the same CA, responder key and an index.txt with the same serials.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from porthos.exceptions import MissingExtraError

__all__ = ["print_table", "run"]

SERIALS = 1000
UTC = dt.UTC


def _fixture(work: Path) -> bytes:
    """The CA folder, openssl's files, and one request (SHA-1 CertID, no nonce)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(UTC)

    def cert(cn: str, key: Any, issuer: Any, signer: Any, serial: int, ca: bool) -> Any:
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            b = b.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True
            )
        return b.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench OCSP CA")])
    ca = cert("bench OCSP CA", ca_key, name, ca_key, 1, True)
    r_key = ec.generate_private_key(ec.SECP256R1())
    responder = cert("bench OCSP responder", r_key, name, ca_key, 2, False)
    pem = serialization.Encoding.PEM
    (work / "ca.pem").write_bytes(ca.public_bytes(pem))
    (work / "responder.pem").write_bytes(responder.public_bytes(pem))
    (work / "responder.key").write_bytes(
        r_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    name_hash = hashlib.sha1(ca.subject.public_bytes()).digest()
    key_bits = ca.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key_hash = hashlib.sha1(key_bits).digest()
    folder = work / "w" / "ocsp" / "bench-ca"
    (folder / "responses" / "sha1").mkdir(parents=True)
    (folder / "issuer.der").write_bytes(ca.public_bytes(serialization.Encoding.DER))
    (folder / "config.json").write_text(
        json.dumps({"nonce": "ignore", "hashes": ["sha1"], "max_age_hint": 3600})
    )
    this_u, next_u = int(now.timestamp()) - 60, int(now.timestamp()) + 3600
    rows = ["serial_hex\thash\tstatus\tthis_update\tnext_update\tproduced_at\tsha256_hex\tpath"]
    index_txt = []
    expiry = (now + dt.timedelta(days=30)).strftime("%y%m%d%H%M%SZ")
    for serial in range(0x1000, 0x1000 + SERIALS):
        resp = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=dt.datetime.fromtimestamp(this_u, UTC),
                next_update=dt.datetime.fromtimestamp(next_u, UTC),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
            .certificates([responder])
            .sign(r_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        rel = f"responses/sha1/{serial:X}.der"
        (folder / rel).write_bytes(resp)
        digest = hashlib.sha256(resp).hexdigest()
        rows.append(f"{serial:X}\tsha1\tgood\t{this_u}\t{next_u}\t{this_u}\t{digest}\t{rel}")
        index_txt.append(f"V\t{expiry}\t\t{serial:X}\tunknown\t/CN=leaf {serial}")
    (folder / "index.tsv").write_text("\n".join(rows) + "\n")
    (work / "index.txt").write_text("\n".join(index_txt) + "\n")
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, 0x1000 + SERIALS // 2, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    (work / "req.der").write_bytes(req)
    return req


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def _h2load(
    url: str, req: Path, log: Path, *, n: int, c: int, t: int, rps: int | None
) -> dict[str, Any]:
    cmd = [
        "h2load",
        "--h1",
        "-n",
        str(n),
        "-c",
        str(c),
        "-t",
        str(t),
        "-H",
        "content-type: application/ocsp-request",
        "-d",
        str(req),
        f"--log-file={log}",
        url,
    ]
    if rps is not None:
        cmd.insert(1, f"--rps={rps}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    result: dict[str, Any] = {"command": " ".join(cmd)}
    for line in out.splitlines():
        if line.startswith("finished in"):
            result["requests_per_s"] = float(line.split(",")[1].split()[0])
        elif line.startswith("requests:"):
            words = line.replace(",", "").split()
            result["succeeded"] = int(words[words.index("succeeded") - 1])
            result["failed"] = int(words[words.index("failed") - 1])
            result["errored"] = int(words[words.index("errored") - 1])
        elif line.startswith("status codes:"):
            result["status_2xx"] = int(line.split()[2])
    times = sorted(int(x.split("\t")[2]) for x in log.read_text().splitlines() if x.strip())
    if times:
        result["p50_ms"] = times[len(times) // 2] / 1000
        result["p99_ms"] = times[min(len(times) - 1, len(times) * 99 // 100)] / 1000
        result["max_ms"] = times[-1] / 1000
    return result


def run(
    *,
    connections: int = 1000,
    n_requests: int = 200_000,
    threads: int = 2,
    rps: int = 10,
    json_out: str | None = None,
) -> dict[str, Any]:
    """Measure both responders; returns (and writes to json_out) the figures."""
    for tool in ("h2load", "openssl"):
        if shutil.which(tool) is None:
            raise MissingExtraError(f"{tool} is not installed (Debian: nghttp2-client, openssl)")
    cores = os.cpu_count() or 1
    result: dict[str, Any] = {"connections": connections, "cores": cores, "serials": SERIALS}
    with tempfile.TemporaryDirectory(prefix="porthos-bench-ocsp-") as tmp:
        work = Path(tmp)
        _fixture(work)
        req = work / "req.der"
        porthos = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "porthos.cli.main",
                "ocsp",
                "serve",
                "-w",
                str(work / "w"),
                "--listen",
                "127.0.0.1:0",
                "--no-on-demand",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert porthos.stdout is not None
            url = porthos.stdout.readline().strip().removeprefix("listening on ")
            result["porthos"] = _h2load(
                url, req, work / "p.log", n=n_requests, c=connections, t=threads, rps=None
            )
            # The offered-load run: each connection sends rps requests a second.
            n_rate = connections * rps * 3
            result["porthos_offered"] = _h2load(
                url, req, work / "r.log", n=n_rate, c=connections, t=threads, rps=rps
            )
            result["porthos_offered"]["offered_per_s"] = connections * rps
        finally:
            porthos.terminate()
            porthos.wait(30)
        port = _free_port()
        # openssl signs every response as it is asked; -multi: one process per core.
        ossl_cmd = [
            "openssl",
            "ocsp",
            "-index",
            str(work / "index.txt"),
            "-port",
            str(port),
            "-rsigner",
            str(work / "responder.pem"),
            "-rkey",
            str(work / "responder.key"),
            "-CA",
            str(work / "ca.pem"),
            "-nmin",
            "60",
            "-multi",
            str(cores),
        ]
        result["openssl_command"] = " ".join(ossl_cmd)
        ossl = subprocess.Popen(ossl_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(port)
            result["openssl"] = _h2load(
                f"http://127.0.0.1:{port}",
                req,
                work / "o.log",
                n=max(1000, n_requests // 20),
                c=connections,
                t=threads,
                rps=None,
            )
        finally:
            ossl.terminate()
            ossl.wait(30)
    ours = result["porthos"].get("requests_per_s", 0.0)
    theirs = result["openssl"].get("requests_per_s", 0.0)
    result["throughput_ratio"] = round(ours / theirs, 1) if theirs else None
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(
        title=f"bench ocsp --responder ({result['connections']} connections, "
        f"{result['cores']} cores)"
    )
    for col in ("run", "req/s", "ok", "failed", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col)
    for key in ("porthos", "porthos_offered", "openssl"):
        r = result.get(key, {})
        label = key if key != "porthos_offered" else f"porthos @ {r.get('offered_per_s')}/s"
        table.add_row(
            label,
            f"{r.get('requests_per_s', 0):,.0f}",
            str(r.get("succeeded")),
            str(r.get("failed")),
            str(r.get("p50_ms")),
            str(r.get("p99_ms")),
            str(r.get("max_ms")),
        )
    console.print(table)
    console.print(f"throughput porthos / openssl: {result['throughput_ratio']}x")
