"""``porthos ocsp serve`` (issue 17): the responder over the pre-signed responses, asked by
``openssl ocsp``, ``ocsptool`` and raw HTTP clients; hostile requests; 1,000 concurrent
requests; reload after the index is replaced; graceful shutdown on SIGTERM.

The server runs as the real CLI in a subprocess on an ephemeral port. The responses on
disk and the on-demand signer are pyca-made (tests/ocsp_support.py), in the on-disk
contract of ``porthos ocsp presign``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ocsp_support as support
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

ROOT = Path(__file__).resolve().parent.parent
REVOKED_AT = 1_700_000_000
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
needs_ocsptool = pytest.mark.skipif(shutil.which("ocsptool") is None, reason="gnutls-bin missing")


@dataclass
class Responder:
    proc: subprocess.Popen[str]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never leave a responder behind a failed test
            out, _ = self.proc.communicate()
        return self.proc.returncode, out


def start(workdir: Path, *extra: str) -> Responder:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'python'}{os.pathsep}{ROOT / 'tests'}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "porthos.cli.main",
            "ocsp",
            "serve",
            "-w",
            str(workdir),
            "--listen",
            "127.0.0.1:0",
            "--signer",
            "ocsp_support:PycaOnDemandSigner",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on http://"):
        proc.kill()
        pytest.fail(f"responder did not start: {line}{proc.stdout.read()}")
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return Responder(proc, host, int(port))


@dataclass
class World:
    work: Path
    echo: support.Pki  # nonce "echo", SHA-1 and SHA-256 pre-signed
    plain: support.Pki  # nonce "ignore", SHA-1 only pre-signed
    other: support.Pki  # not served
    server: Responder

    def pem(self, pki: support.Pki, label: str) -> Path:
        return support.pem(self.work / f"{pki.name}-{label}.pem", pki.leaves[label])


def statuses(pki: support.Pki) -> support.Statuses:
    return {
        pki.leaves["good"].serial_number: ("good", None, None),
        pki.leaves["revoked"].serial_number: ("revoked", REVOKED_AT, "key_compromise"),
    }


def make_world(work: Path) -> tuple[support.Pki, support.Pki, support.Pki]:
    echo, plain, other = (support.make_pki(n) for n in ("ocsp-echo-ca", "ocsp-plain-ca", "other"))
    support.write_ca(work, echo, statuses(echo))
    support.write_ca(work, plain, statuses(plain), nonce="ignore", hashes_=("sha1",))
    for pki in (echo, plain, other):
        support.pem(work / f"{pki.name}.pem", pki.cert)
    return echo, plain, other


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("ocsp-serve")
    echo, plain, other = make_world(work)
    server = start(work, "--max-body", str(1 << 20))
    try:
        yield World(work, echo, plain, other, server)
    finally:
        rc, out = server.stop()
    assert rc == 0, out
    assert "stopped" in out


def request_der(
    pki: support.Pki,
    label: str = "good",
    algo: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(
        pki.leaves[label], pki.cert, algo or hashes.SHA1()
    )
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def post(
    server: Responder, body: bytes, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    hdrs = {"Content-Type": "application/ocsp-request"} if headers is None else headers
    conn.request("POST", "/", body=body, headers=hdrs)
    return conn.getresponse()


def get(
    server: Responder, der: bytes, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    # RFC 5019 §5: url-encoding of the base64 of the DER.
    path = "/" + urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


def ocsp_of(resp: http.client.HTTPResponse) -> ocsp.OCSPResponse:
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(resp.read())


def verified(r: ocsp.OCSPResponse, pki: support.Pki) -> ocsp.OCSPResponse:
    """Successful, signed by the CA's delegated responder (byKey, certificate carried)."""
    assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    responder = r.certificates[0]
    responder.verify_directly_issued_by(pki.cert)
    key = responder.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert r.signature_hash_algorithm is not None
    key.verify(r.signature, r.tbs_response_bytes, ec.ECDSA(r.signature_hash_algorithm))
    assert r.responder_key_hash is not None
    return r


def nonce_of(r: ocsp.OCSPResponse) -> bytes | None:
    try:
        return r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def assert_serving(w: World) -> None:
    r = verified(ocsp_of(post(w.server, request_der(w.echo))), w.echo)
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD


# --- openssl ocsp and ocsptool ---------------------------------------------------------


def openssl_ask(w: World, pki: support.Pki, label: str, *extra: str) -> str:
    out = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(w.work / f"{pki.name}.pem"),
            "-cert",
            str(w.pem(pki, label)),
            "-url",
            w.server.url,
            "-resp_text",
            "-CAfile",
            str(w.work / f"{pki.name}.pem"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    text = out.stdout + out.stderr
    assert "Response verify OK" in text, text
    return text


@needs_openssl
def test_openssl_good_revoked_unknown_with_nonce(world: World) -> None:
    good = openssl_ask(world, world.echo, "good")
    assert "good.pem: good" in good and "OCSP Nonce" in good
    # openssl sends a nonce and checks the echo: a missing one prints a WARNING.
    assert "WARNING" not in good
    revoked = openssl_ask(world, world.echo, "revoked")
    assert "revoked.pem: revoked" in revoked
    assert "Reason: keyCompromise" in revoked
    assert "Revocation Time: Nov 14 22:13:20 2023 GMT" in revoked
    unknown = openssl_ask(world, world.echo, "unknown")
    assert "unknown.pem: unknown" in unknown


@needs_openssl
def test_openssl_without_nonce_gets_the_presigned_response(world: World) -> None:
    text = openssl_ask(world, world.echo, "revoked", "-no_nonce")
    assert "revoked.pem: revoked" in text and "OCSP Nonce" not in text
    on_disk = (
        world.work
        / "ocsp"
        / world.echo.name
        / "responses"
        / "sha1"
        / f"{world.echo.leaves['revoked'].serial_number:X}.der"
    ).read_bytes()
    served = post(world.server, request_der(world.echo, "revoked")).read()
    assert served == on_disk


@needs_ocsptool
def test_ocsptool_verifies_as_a_second_client(world: World) -> None:
    for label, status in (("good", "good"), ("revoked", "revoked")):
        out = subprocess.run(
            [
                "ocsptool",
                f"--ask={world.server.url}",
                "--load-issuer",
                str(world.work / f"{world.echo.name}.pem"),
                "--load-cert",
                str(world.pem(world.echo, label)),
                "--load-trust",
                str(world.work / f"{world.echo.name}.pem"),
                "--nonce",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert f"Certificate Status: {status}" in text
        assert "Verifying OCSP Response: Success." in text
        assert "Nonce:" in text


# --- POST and GET, caching headers, conditional GET -------------------------------------


def test_post_and_get_serve_the_same_presigned_bytes(world: World) -> None:
    der = request_der(world.echo, "good", hashes.SHA256())
    by_post = post(world.server, der)
    body = by_post.read()
    by_get = get(world.server, der)
    assert by_get.read() == body
    r = verified(ocsp.load_der_ocsp_response(body), world.echo)
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert r.hash_algorithm.name == "sha256"


def test_get_caching_headers_and_304(world: World) -> None:
    der = request_der(world.echo, "revoked")
    resp = get(world.server, der)
    body = resp.read()
    r = ocsp.load_der_ocsp_response(body)
    assert r.next_update_utc is not None
    etag = resp.getheader("ETag")
    assert etag is not None
    import hashlib

    assert etag == f'"{hashlib.sha256(body).hexdigest()}"'
    cc = resp.getheader("Cache-Control", "")
    parts = [p.strip() for p in cc.split(",")]
    assert parts[1:] == ["public", "no-transform", "must-revalidate"], cc
    max_age = int(parts[0].removeprefix("max-age="))
    left = (r.next_update_utc - dt.datetime.now(dt.UTC)).total_seconds()
    # max-age stays below nextUpdate - now (RFC 5019 §6.2); the clocks differ by the
    # round trip and the server's rounding up to whole seconds.
    assert -1 <= left - max_age <= 5
    expires = resp.getheader("Expires")
    assert expires is not None
    assert (
        dt.datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.UTC)
        == r.next_update_utc
    )
    last_modified = resp.getheader("Last-Modified")
    assert last_modified is not None
    assert (
        dt.datetime.strptime(last_modified, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.UTC)
        == r.this_update_utc
    )
    again = get(world.server, der, {"If-None-Match": etag})
    assert again.status == 304 and again.read() == b""
    assert again.getheader("ETag") == etag
    other = get(world.server, der, {"If-None-Match": '"00"'})
    assert other.status == 200 and other.read() == body


def test_get_accepts_url_safe_and_unencoded_base64(world: World) -> None:
    der = request_der(world.echo, "good")
    for text in (
        base64.urlsafe_b64encode(der).decode().rstrip("="),
        base64.b64encode(der).decode(),
    ):
        conn = http.client.HTTPConnection(world.server.host, world.server.port, timeout=10)
        conn.request("GET", "/" + text)
        r = ocsp_of(conn.getresponse())
        assert r.certificate_status == ocsp.OCSPCertStatus.GOOD


# --- which CA, nonce policy, on-demand signing ------------------------------------------


def test_nonce_echoed_when_the_ca_echoes(world: World) -> None:
    nonce = os.urandom(16)
    r = verified(
        ocsp_of(post(world.server, request_der(world.echo, "good", nonce=nonce))), world.echo
    )
    assert nonce_of(r) == nonce and r.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_nonce_ignored_when_the_ca_does_not_echo(world: World) -> None:
    r = verified(
        ocsp_of(post(world.server, request_der(world.plain, "good", nonce=os.urandom(16)))),
        world.plain,
    )
    assert nonce_of(r) is None and r.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_hash_without_presigned_files_is_signed_on_demand(world: World) -> None:
    # ocsp-plain-ca pre-signs SHA-1 CertIDs only.
    der = request_der(world.plain, "revoked", hashes.SHA256())
    resp = post(world.server, der)
    assert resp.getheader("Cache-Control") == "no-cache"
    r = verified(ocsp_of(resp), world.plain)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.hash_algorithm.name == "sha256"


def test_unserved_ca_is_unauthorized(world: World) -> None:
    resp = post(world.server, request_der(world.other, "good"))
    body = resp.read()
    assert body == bytes.fromhex("30030a0106")
    assert ocsp.load_der_ocsp_response(body).response_status == (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )


# --- hostile requests -------------------------------------------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def many_cert_ids(n: int) -> bytes:
    sha1 = _tlv(0x30, _tlv(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")
    one = _tlv(0x30, _tlv(0x30, sha1 + _tlv(4, bytes(20)) + _tlv(4, bytes(20)) + b"\x02\x01\x05"))
    return _tlv(0x30, _tlv(0x30, _tlv(0x30, one * n)))


def hostile_requests(w: World) -> dict[str, bytes]:
    good = request_der(w.echo)
    return {
        "truncated": good[:-3],
        "trailing": good + b"\x00",
        "ber-indefinite": b"\x30\x80" + good[2:] + b"\x00\x00",
        "10000-certids": many_cert_ids(10_000),
        "sha384-certid": request_der(w.echo, "good", hashes.SHA384()),
        "1KiB-nonce": request_der(w.echo, "good", nonce=b"n" * 1024),
        "33-octet-nonce": request_der(w.echo, "good", nonce=b"n" * 33),
        "junk": b"hello, responder",
        "empty": b"",
    }


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_hostile_requests_get_malformed_request(world: World, method: str) -> None:
    for name, der in hostile_requests(world).items():
        if method == "GET" and name == "10000-certids":
            continue  # a 680 KB URL: the POST form covers it
        resp = post(world.server, der) if method == "POST" else get(world.server, der)
        assert resp.status == 200, name
        assert resp.read() == bytes.fromhex("30030a0101"), name
    assert_serving(world)


def test_ten_thousand_cert_ids_cost_no_more_than_one(world: World) -> None:
    der = many_cert_ids(10_000)
    t0 = time.perf_counter()
    for _ in range(20):
        assert post(world.server, der).read() == bytes.fromhex("30030a0101")
    assert time.perf_counter() - t0 < 5


def test_http_level_refusals(world: World) -> None:
    der = request_der(world.echo)
    assert post(world.server, der, headers={}).status == 415
    conn = http.client.HTTPConnection(world.server.host, world.server.port, timeout=10)
    conn.request("PUT", "/", body=der)
    resp = conn.getresponse()
    assert resp.status == 405 and resp.getheader("Allow") == "GET, POST"
    assert_serving(world)


def test_chunked_body_past_the_cap_is_refused_while_reading(world: World) -> None:
    import socket

    # No Content-Length: the cap (1 MiB here) holds while the chunks stream in. One
    # chunk of cap + 1 octets, so the server has read all but the terminator when it
    # answers.
    cap = 1 << 20
    with socket.create_connection((world.server.host, world.server.port), timeout=5) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{cap + 1:x}\r\n".encode()
            + b"\x30" * (cap + 1)
            + b"\r\n"
        )
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert_serving(world)


def test_oversized_body_is_refused_before_it_is_read(world: World) -> None:
    import socket

    with socket.create_connection((world.server.host, world.server.port), timeout=5) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        # Not one body byte sent: the answer comes from the Content-Length alone.
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert_serving(world)


# --- load -------------------------------------------------------------------------------


async def _one(host: str, port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_1000_concurrent_requests(world: World) -> None:
    der = request_der(world.echo, "good")
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/ocsp-request\r\n"
        + f"Content-Length: {len(der)}\r\n\r\n".encode()
        + der
    )

    async def all_at_once() -> list[bytes]:
        return await asyncio.gather(
            *(_one(world.server.host, world.server.port, raw) for _ in range(1000))
        )

    replies = asyncio.run(all_at_once())
    expected = post(world.server, der).read()
    assert len(replies) == 1000
    for reply in replies:
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == expected


# --- reload and shutdown (servers of their own) -----------------------------------------


def test_reload_after_index_replacement(tmp_path: Path) -> None:
    echo, _, _ = make_world(tmp_path)
    server = start(tmp_path)
    try:
        der = request_der(echo, "good")
        assert ocsp_of(post(server, der)).certificate_status == ocsp.OCSPCertStatus.GOOD
        # A re-presign: the good certificate is now revoked; the index is replaced.
        now_revoked = statuses(echo)
        now_revoked[echo.leaves["good"].serial_number] = ("revoked", REVOKED_AT, "superseded")
        support.write_ca(tmp_path, echo, now_revoked)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r = ocsp_of(post(server, der))
            if r.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                break
            time.sleep(0.1)
        assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert r.revocation_reason == x509.ReasonFlags.superseded
        # A broken index keeps the last good state.
        (tmp_path / "ocsp" / echo.name / "index.tsv").write_text("serial_hex\nnot a row\n")
        time.sleep(1.5)
        assert ocsp_of(post(server, der)).certificate_status == ocsp.OCSPCertStatus.REVOKED
    finally:
        rc, out = server.stop()
    assert rc == 0 and "reload" in out


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    echo, _, _ = make_world(tmp_path)
    os.environ["OCSP_SUPPORT_SIGN_DELAY"] = "1.0"
    try:
        server = start(tmp_path)
    finally:
        del os.environ["OCSP_SUPPORT_SIGN_DELAY"]
    results: list[ocsp.OCSPResponse] = []
    # A nonce request goes to the (slowed) on-demand signer.
    t = threading.Thread(
        target=lambda: results.append(
            ocsp_of(post(server, request_der(echo, "good", nonce=b"x" * 8)))
        )
    )
    t.start()
    time.sleep(0.4)
    server.proc.send_signal(signal.SIGTERM)
    t.join(10)
    try:
        out, _ = server.proc.communicate(timeout=10)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    assert server.proc.returncode == 0 and out.strip().endswith("stopped"), out
    assert results and results[0].certificate_status == ocsp.OCSPCertStatus.GOOD
    with pytest.raises(OSError):
        post(server, request_der(echo))


def test_missing_response_folder_is_exit_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "porthos.cli.main",
            "ocsp",
            "serve",
            "-w",
            str(tmp_path),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "python")),
        timeout=30,
    )
    assert out.returncode == 2 and "presign" in out.stderr


@pytest.mark.skipif(shutil.which("h2load") is None, reason="nghttp2-client missing")
def test_h2c_and_http1_under_a_small_load(world: World, tmp_path: Path) -> None:
    # One port speaks both: h2load's default is h2c (prior knowledge), --h1 is HTTP/1.1.
    req = tmp_path / "req.der"
    req.write_bytes(request_der(world.echo, "good"))
    for proto in ([], ["--h1"]):
        out = subprocess.run(
            ["h2load", *proto, "-n", "2000", "-c", "50", "-t", "1", "-H",
             "content-type: application/ocsp-request", "-d", str(req), world.server.url],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        assert "2000 succeeded, 0 failed" in out, out
        assert "status codes: 2000 2xx" in out, out


def test_sigint_stops_gracefully_too(tmp_path: Path) -> None:
    make_world(tmp_path)
    server = start(tmp_path)
    try:
        server.proc.send_signal(signal.SIGINT)
        out, _ = server.proc.communicate(timeout=10)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()  # a failed test leaves no responder behind
    assert server.proc.returncode == 0 and out.strip().endswith("stopped"), out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
