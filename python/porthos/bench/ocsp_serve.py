"""``porthos bench ocsp --responder``: requests/s and latency of ``porthos ocsp serve``
against ``openssl ocsp -index ... -port`` serving the same CA, in the same run.

openssl's responder speaks HTTP/1.0 only (it stalls on an HTTP/1.1 request), so the
comparison uses a generator that speaks 1.0 to both: ApacheBench (``ab``, one
connection per request, as openssl closes each). ab is single-threaded and slower than
the responder, so the porthos figure under ab is a floor and the ratio a lower bound.
The 1,000-connection figures of porthos come from h2load (nghttp2-client; HTTP/1.1,
keep-alive, ``--log-file`` for the percentiles):

* **saturation**: ``h2load -c 1000 -n N`` as fast as it goes: requests/s. With every
  connection busy, latency is connections / throughput (Little's law): that p99 says
  how long a request waits in line, not how long the responder works on it.
* **offered load**: the same connections, each sending ``--rps`` requests a second, a
  rate below saturation: the p99 a client sees.

openssl is also asked by 1,000 concurrent ab clients, to record what it does there.
The fixture is pyca-made: a P-256 CA, a delegated responder, SERIALS good certificates,
one pre-signed SHA-1 response each, in the contract of ``porthos ocsp presign``; openssl
gets the same CA, responder key and an index.txt with the same serials, and signs each
response as it is asked (``-multi``: one process per core).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
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
#: ab's concurrency for the porthos/openssl comparison (openssl cannot take 1,000).
AB_CONCURRENCY = 50
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


def _group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group
    ``pgid``: the responder's own work, whatever the load generator costs beside it."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        # After "(comm)": state ppid pgrp ... utime (14th field) stime (15th).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _with_server_cpu(pgid: int, count_key: str, measure: Any) -> dict[str, Any]:
    """Run ``measure()`` and add the responder's CPU seconds and CPU µs per answered
    request (``count_key``: the result's count of answered requests)."""
    before = _group_cpu_s(pgid)
    result: dict[str, Any] = measure()
    cpu = _group_cpu_s(pgid) - before
    result["server_cpu_s"] = round(cpu, 3)
    answered = result.get(count_key) or 0
    result["server_cpu_us_per_request"] = round(cpu / answered * 1e6, 2) if answered else None
    return result


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
        # Connections open 10 a millisecond, so their request timers are out of phase:
        # started together, 1,000 clients fire 1,000 requests in the same instant every
        # 1/rps s, and the p99 measures that burst, not the responder.
        cmd[1:1] = [f"--rps={rps}", "--rate=10", "--rate-period=1ms"]
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


def _ab(url: str, req: Path, *, n: int, c: int, timeout_s: int = 10) -> dict[str, Any]:
    """ApacheBench over HTTP/1.0, one connection per request. ECDSA signatures vary in
    length, so ab's "Length" failures are not failures and are not counted."""
    cmd = [
        "ab",
        "-n",
        str(n),
        "-c",
        str(c),
        "-s",
        str(timeout_s),
        "-p",
        str(req),
        "-T",
        "application/ocsp-request",
        url + "/",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out = proc.stdout
    result: dict[str, Any] = {"command": " ".join(cmd), "exit": proc.returncode}
    if proc.returncode != 0:
        result["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    in_percentiles = False
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests per second:"):
            result["requests_per_s"] = float(words[3])
        elif line.startswith("Complete requests:"):
            result["completed"] = int(words[2])
        elif line.startswith("Non-2xx responses:"):
            result["non_2xx"] = int(words[2])
        elif line.strip().startswith("(Connect:"):
            nums = [int(w.strip(",)")) for w in words if w.strip(",)").isdigit()]
            result["failed"] = nums[0] + nums[1] + nums[3]  # connect, receive, exceptions
        elif line.startswith("Percentage of the requests"):
            in_percentiles = True
        elif in_percentiles and words and words[0] in ("50%", "99%", "100%"):
            key = {"50%": "p50_ms", "99%": "p99_ms", "100%": "max_ms"}[words[0]]
            result[key] = float(words[1])
    result.setdefault("failed", 0 if proc.returncode == 0 else None)
    return result


def run(
    *,
    connections: int = 1000,
    n_requests: int = 200_000,
    threads: int = 2,
    rps: tuple[int, ...] = (10, 30, 60),
    json_out: str | None = None,
) -> dict[str, Any]:
    """Measure both responders; returns (and writes to json_out) the figures."""
    for tool in ("h2load", "openssl"):
        if shutil.which(tool) is None:
            raise MissingExtraError(f"{tool} is not installed (Debian: nghttp2-client, openssl)")
    cores = os.cpu_count() or 1
    result: dict[str, Any] = {"connections": connections, "cores": cores, "serials": SERIALS}
    ab_n = max(2000, n_requests // 10)
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
            process_group=0,
        )
        try:
            assert porthos.stdout is not None
            url = porthos.stdout.readline().strip().removeprefix("listening on ")
            result["porthos_saturation"] = _with_server_cpu(
                porthos.pid,
                "succeeded",
                lambda: _h2load(
                    url, req, work / "p.log", n=n_requests, c=connections, t=threads, rps=None
                ),
            )
            # The offered-load runs: each connection sends rps requests a second, 3 s.
            result["porthos_offered"] = []
            for i, per_conn in enumerate(rps):
                offered = _h2load(
                    url,
                    req,
                    work / f"r{i}.log",
                    n=connections * per_conn * 3,
                    c=connections,
                    t=threads,
                    rps=per_conn,
                )
                offered["offered_per_s"] = connections * per_conn
                result["porthos_offered"].append(offered)
            result["porthos_ab"] = _with_server_cpu(
                porthos.pid, "completed", lambda: _ab(url, req, n=ab_n, c=AB_CONCURRENCY)
            )
        finally:
            porthos.terminate()
            porthos.wait(30)
        port = _free_port()
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
        # Its own process group: `-multi` forks workers, and the whole group is stopped
        # (a new session makes `-multi` exit at once).
        ossl = subprocess.Popen(
            ossl_cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
        )
        try:
            _wait_port(port)
            ossl_url = f"http://127.0.0.1:{port}"
            result["openssl_ab"] = _with_server_cpu(
                ossl.pid,
                "completed",
                lambda: _ab(ossl_url, req, n=ab_n // 4, c=AB_CONCURRENCY),
            )
            result["openssl_ab_1000"] = _ab(
                ossl_url, req, n=2 * connections, c=connections, timeout_s=5
            )
        finally:
            os.killpg(ossl.pid, signal.SIGTERM)
            try:
                ossl.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(ossl.pid, signal.SIGKILL)
                ossl.wait(5)
    ours = result["porthos_ab"].get("requests_per_s", 0.0)
    theirs = result["openssl_ab"].get("requests_per_s", 0.0)
    # Same generator (ab, c=50) for both: a lower bound, ab being the slower party.
    result["throughput_ratio_ab"] = round(ours / theirs, 1) if theirs else None
    h2 = result["porthos_saturation"].get("requests_per_s", 0.0)
    result["throughput_ratio_h2load_vs_ab"] = round(h2 / theirs, 1) if theirs else None
    # The responders' own CPU per answered request: what each costs the machine, so its
    # throughput on cores of its own (here the generator shares the two cores).
    theirs_cpu = result["openssl_ab"].get("server_cpu_us_per_request")
    for key, run_key in (("ab", "porthos_ab"), ("keepalive", "porthos_saturation")):
        ours_cpu = result[run_key].get("server_cpu_us_per_request")
        result[f"server_cpu_ratio_{key}"] = (
            round(theirs_cpu / ours_cpu, 1) if theirs_cpu and ours_cpu else None
        )
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"bench ocsp --responder ({result['cores']} cores)")
    cols = (
        "run",
        "generator",
        "conns",
        "req/s",
        "ok",
        "failed",
        "p50 ms",
        "p99 ms",
        "server µs/req",
    )
    for col in cols:
        table.add_column(col)
    rows: list[tuple[str, str, dict[str, Any], int]] = [
        ("porthos", "h2load", result["porthos_saturation"], result["connections"])
    ]
    for r in result["porthos_offered"]:
        rows.append((f"porthos @ {r['offered_per_s']}/s", "h2load --rps", r,
                     result["connections"]))  # fmt: skip
    rows += [
        ("porthos", "ab", result["porthos_ab"], AB_CONCURRENCY),
        ("openssl ocsp", "ab", result["openssl_ab"], AB_CONCURRENCY),
        ("openssl ocsp", "ab", result["openssl_ab_1000"], result["connections"]),
    ]
    for name, gen, r, conns in rows:
        ok = r.get("succeeded", r.get("completed"))
        table.add_row(
            name, gen, str(conns), f"{r.get('requests_per_s', 0):,.0f}", str(ok),
            str(r.get("failed")), str(r.get("p50_ms")), str(r.get("p99_ms")),
            str(r.get("server_cpu_us_per_request", "")),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"throughput porthos / openssl, both under ab: {result['throughput_ratio_ab']}x;"
        f" porthos under h2load / openssl under ab: {result['throughput_ratio_h2load_vs_ab']}x"
    )
    console.print(
        "responder CPU per request, openssl / porthos: both under ab"
        f" {result['server_cpu_ratio_ab']}x; porthos keep-alive (h2load)"
        f" {result['server_cpu_ratio_keepalive']}x"
    )
