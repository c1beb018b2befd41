"""``porthos bench crl``: build an N-entry CRL (P-256, every entry with a reasonCode)
with porthos, pyca/cryptography and ``openssl ca -gencrl``, each run in its own
subprocess so that the peak RSS is that variant's own.

Fixture (same for every variant): N random positive 16-octet serials in random order,
revocation times over the last year, reasons drawn from {1,2,3,4,5,6}, one P-256 CA.
Timed: from loaded columns to signed DER in memory (pyca: building the
RevokedCertificate objects + CertificateRevocationListBuilder(revoked_certificates=
list) + sign; openssl: the whole ``openssl ca -gencrl`` process over an index.txt
holding the same revocations). Reported: medians of ``repeats`` runs, ratios against
porthos measured in the same run, peak RSS (ru_maxrss of the worker, or of the
openssl child).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REASONS = np.array([1, 2, 3, 4, 5, 6], np.uint8)
OPENSSL_REASON = {
    1: "keyCompromise",
    2: "CACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
}
NOW = 1_750_000_000


def make_fixture(d: Path, n: int, seed: int = 4) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    rng = np.random.default_rng(seed)
    serials = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    serials[:, :4] = 0
    serials[:, 4] = (serials[:, 4] & 0x7F) | 0x01
    times = rng.integers(NOW - 365 * 86400, NOW, n, dtype=np.int64)
    reasons = rng.choice(REASONS, n)
    np.savez(d / "cols.npz", serials=serials, revocation_times=times, reasons=reasons)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CRL CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    (d / "ca.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (d / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "ca.p8").write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (d / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cpu() -> float:
    """CPU seconds of this process (user + system): less disturbed than wall time on a
    shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return float(r.ru_utime + r.ru_stime)


def _rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _load(d: Path) -> tuple[Any, Any, Any]:
    with np.load(d / "cols.npz") as z:
        return z["serials"], z["revocation_times"], z["reasons"]


def worker(variant: str, d: Path) -> dict[str, Any]:
    serials, times, reasons = _load(d)
    n = len(times)
    inputs = serials.nbytes + times.nbytes + reasons.nbytes
    if variant in ("porthos", "porthos-mt", "porthos-parse"):
        from porthos import _native
        from porthos.issuance import crl as C

        key = _native.SoftwareKey.from_pkcs8((d / "ca.p8").read_bytes())
        cert = (d / "ca.der").read_bytes()
        cols = C.RevocationColumns(serials, times, reasons)
        # Warm-up (one-time library and thread-pool set-up is not what is measured).
        C.build_crl(
            cert,
            key,
            C.RevocationColumns(serials[:1], times[:1], reasons[:1]),
            crl_number=1,
            this_update=NOW,
            next_update=NOW + 1,
            threads=1,
        )
        rss_before = _rss_kb()
        threads = 1 if variant == "porthos" else None
        c0 = _cpu()
        t0 = time.perf_counter()
        crl = C.build_crl(
            cert,
            key,
            cols,
            crl_number=1,
            this_update=NOW,
            next_update=NOW + 28 * 86400,
            threads=threads,
        )
        seconds = time.perf_counter() - t0
        size = len(crl)
        out = {"seconds": seconds, "cpu_seconds": _cpu() - c0, "der_bytes": size}
        if variant == "porthos-parse":
            der = bytes(crl)
            del crl
            c0 = _cpu()
            t0 = time.perf_counter()
            parsed = C.parse_crl(der, cert)
            out["seconds"] = time.perf_counter() - t0
            out["cpu_seconds"] = _cpu() - c0
            assert len(parsed) == n and parsed.signature_checked
        out.update(rss_before_kb=rss_before, peak_rss_kb=_rss_kb(), input_bytes=inputs)
        return out
    if variant == "pyca":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        pkey = serialization.load_der_private_key((d / "ca.p8").read_bytes(), None)
        pcert = x509.load_der_x509_certificate((d / "ca.der").read_bytes())
        flags = {
            1: x509.ReasonFlags.key_compromise,
            2: x509.ReasonFlags.ca_compromise,
            3: x509.ReasonFlags.affiliation_changed,
            4: x509.ReasonFlags.superseded,
            5: x509.ReasonFlags.cessation_of_operation,
            6: x509.ReasonFlags.certificate_hold,
        }
        exts = {c: x509.CRLReason(f) for c, f in flags.items()}
        x509.CertificateRevocationListBuilder(
            issuer_name=pcert.subject,
            last_update=datetime.fromtimestamp(NOW, tz=UTC),
            next_update=datetime.fromtimestamp(NOW + 1, tz=UTC),
        ).sign(pkey, hashes.SHA256())  # type: ignore[arg-type]  # warm-up
        rss_before = _rss_kb()
        c0 = _cpu()
        t0 = time.perf_counter()
        ints = [int.from_bytes(serials[i].tobytes(), "big") for i in range(n)]
        tl = times.tolist()
        rl = reasons.tolist()
        revoked = [
            x509.RevokedCertificateBuilder()
            .serial_number(ints[i])
            .revocation_date(datetime.fromtimestamp(tl[i], tz=UTC))
            .add_extension(exts[rl[i]], critical=False)
            .build()
            for i in range(n)
        ]
        t1 = time.perf_counter()
        ski = pcert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = x509.CertificateRevocationListBuilder(
            issuer_name=pcert.subject,
            last_update=datetime.fromtimestamp(NOW, tz=UTC),
            next_update=datetime.fromtimestamp(NOW + 28 * 86400, tz=UTC),
            extensions=[
                x509.Extension(
                    x509.AuthorityKeyIdentifier.oid,
                    False,
                    x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                ),
                x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
            ],
            revoked_certificates=revoked,
        )
        pcrl = builder.sign(pkey, hashes.SHA256())  # type: ignore[arg-type]
        der = pcrl.public_bytes(serialization.Encoding.DER)
        seconds = time.perf_counter() - t0
        return {
            "seconds": seconds,
            "cpu_seconds": _cpu() - c0,
            "objects_seconds": t1 - t0,
            "der_bytes": len(der),
            "rss_before_kb": rss_before,
            "peak_rss_kb": _rss_kb(),
            "input_bytes": inputs,
        }
    if variant == "openssl":
        run_dir = Path(tempfile.mkdtemp(dir=d))
        lines = []
        for i in range(n):
            exp = "350101000000Z"
            rev = datetime.fromtimestamp(int(times[i]), tz=UTC).strftime("%y%m%d%H%M%SZ")
            s = serials[i].tobytes().hex().lstrip("0").upper()
            s = s if len(s) % 2 == 0 else "0" + s
            lines.append(
                f"R\t{exp}\t{rev},{OPENSSL_REASON[int(reasons[i])]}\t{s}\tunknown\t/CN={s}\n"
            )
        (run_dir / "index.txt").write_text("".join(lines))
        (run_dir / "crlnumber").write_text("01\n")
        (run_dir / "openssl.cnf").write_text(
            f"""[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {run_dir}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = {d}/ca.pem
private_key = {d}/ca.key
default_md = sha256
default_crl_days = 28
unique_subject = no
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""
        )
        t0 = time.perf_counter()
        subprocess.run(
            [
                "openssl",
                "ca",
                "-gencrl",
                "-config",
                str(run_dir / "openssl.cnf"),
                "-out",
                str(run_dir / "crl.pem"),
                "-batch",
            ],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - t0
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = int(ch.ru_maxrss)
        cpu = float(ch.ru_utime + ch.ru_stime)
        der = subprocess.run(
            ["openssl", "crl", "-in", str(run_dir / "crl.pem"), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        return {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "der_bytes": len(der),
            "peak_rss_kb": child,
            "input_bytes": inputs,
        }
    raise SystemExit(f"unknown variant {variant}")


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def run(
    *,
    n: int,
    repeats: int,
    variants: list[str],
    json_out: str | None = None,
    workdir: str | None = None,
) -> dict[str, Any]:
    from porthos import _native

    if _native.BUILD_PROFILE != "release":
        raise SystemExit("benchmarks need a release build (maturin develop --release)")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="porthos-bench-crl-"))
    base.mkdir(parents=True, exist_ok=True)
    # The fixture is made in its own process: on Linux a child's ru_maxrss starts from
    # the parent's RSS at fork, so a parent holding N-entry arrays would inflate the
    # workers' peak RSS.
    subprocess.run(
        [sys.executable, "-m", "porthos.bench.crl", "--fixture", str(n), str(base)], check=True
    )
    results: dict[str, list[dict[str, Any]]] = {}
    for v in variants:
        results[v] = []
        for _ in range(repeats):
            p = subprocess.run(
                [sys.executable, "-m", "porthos.bench.crl", "--worker", v, str(base)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[v].append(json.loads(p.stdout.strip().splitlines()[-1]))
    summary: dict[str, Any] = {"n": n, "repeats": repeats}
    for v, runs in results.items():
        summary[v] = {
            "median_s": _median(runs, "seconds"),
            "median_cpu_s": _median(runs, "cpu_seconds"),
            "peak_rss_mib": _median(runs, "peak_rss_kb") / 1024,
            "der_mib": _median(runs, "der_bytes") / 2**20,
        }
        if "input_bytes" in runs[0]:
            summary[v]["input_columns_mib"] = runs[0]["input_bytes"] / 2**20
    if "porthos" in summary:
        ref = summary["porthos"]["median_s"]
        summary["ratios_vs_porthos_1thread"] = {
            v: summary[v]["median_s"] / ref
            for v in results
            if v not in ("porthos", "porthos-parse")
        }
        p = summary["porthos"]
        cref = summary["porthos"]["median_cpu_s"]
        summary["cpu_ratios_vs_porthos_1thread"] = {
            v: summary[v]["median_cpu_s"] / cref
            for v in results
            if v not in ("porthos", "porthos-parse", "porthos-mt")
        }
        summary["porthos_rss_over_der_plus_inputs"] = p["peak_rss_mib"] / (
            p["der_mib"] + p["input_columns_mib"]
        )
    out = {
        "benchmark": "crl-build",
        "what": __doc__,
        "command": (
            f"porthos bench crl --n {n} --repeats {repeats} --variants {','.join(variants)}"
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        "runs": results,
        "summary": summary,
    }
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fixture":
        make_fixture(Path(sys.argv[3]), int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], Path(sys.argv[3]))))
    else:
        raise SystemExit("usage: python -m porthos.bench.crl --worker VARIANT DIR")
