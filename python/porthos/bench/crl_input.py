"""``porthos bench crl --input csv|parquet|npz``: the whole ``porthos crl build``
process on an N-row revocation file against a pyca/cryptography process doing the same
job from the same CSV (issue 20 §1; goal: porthos at least 15x on CSV).

Fixture (bench/crl.py's: N random positive 16-octet serials, revocation times over the
last year, reasons from {1..6}, one P-256 CA) written as ``revoked.csv`` (hex serial,
ISO-8601 UTC time, RFC 5280 reason name), ``revoked.parquet`` (the same rows: string
serial, timestamp[s, UTC], string reason) and ``cols.npz``.

Timed, each run its own process, from exec to exit:
* porthos: ``python -c 'from porthos.cli.main import main; main()' crl build
  --revoked FILE --issuer-cert ca.der --issuer-key ca.p8 --number 1 --next-update 28
  --out out.crl`` (reads, parses, checks the key pair, builds, signs, verifies the
  signature, writes with fsync);
* pyca: ``python -m porthos.bench.crl_input --pyca DIR`` (imports cryptography,
  reads the CSV with the csv module, one RevokedCertificateBuilder per row with its
  CRLReason, CertificateRevocationListBuilder with AKI and CRL number, sign, write
  with fsync and rename as porthos does; it does not verify what it signed).

Reported: medians of ``repeats`` wall times, CPU seconds and peak RSS (ru_maxrss of
that process, from wait4), and pyca / porthos per input format.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REASON_NAMES = {
    1: "keyCompromise",
    2: "cACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
}
INPUTS = ("csv", "parquet", "npz")


def make_inputs(d: Path, n: int) -> None:
    """The bench crl fixture plus the same rows as CSV and Parquet."""
    from porthos.bench.crl import make_fixture

    make_fixture(d, n)
    with np.load(d / "cols.npz") as z:
        serials, times, reasons = z["serials"], z["revocation_times"], z["reasons"]
    hexes = np.char.lstrip(np.array([row.tobytes().hex() for row in serials], dtype="U40"), "0")
    stamps = np.datetime_as_string(times.astype("datetime64[s]"), unit="s")
    names = np.array([REASON_NAMES[c] for c in range(1, 7)])[reasons.astype(np.int64) - 1]
    with open(d / "revoked.csv", "w") as f:
        f.write("serial_hex,revocation_time,reason\n")
        f.writelines(f"{h},{t}Z,{r}\n" for h, t, r in zip(hexes, stamps, names, strict=True))
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pq.write_table(
        pa.table(
            {
                "serial": pa.array(hexes.tolist()),
                "revocation_time": pa.array(times, pa.timestamp("s", tz="UTC")),
                "reason": pa.array(names.tolist()),
            }
        ),
        d / "revoked.parquet",
    )


def pyca_build(d: Path) -> None:
    """The peer: what a pyca/cryptography user writes for the same job."""
    import csv
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_der_private_key((d / "ca.p8").read_bytes(), None)
    cert = x509.load_der_x509_certificate((d / "ca.der").read_bytes())
    flags = {
        "keyCompromise": x509.ReasonFlags.key_compromise,
        "cACompromise": x509.ReasonFlags.ca_compromise,
        "affiliationChanged": x509.ReasonFlags.affiliation_changed,
        "superseded": x509.ReasonFlags.superseded,
        "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
        "certificateHold": x509.ReasonFlags.certificate_hold,
    }
    exts = {name: x509.CRLReason(flag) for name, flag in flags.items()}
    revoked = []
    with open(d / "revoked.csv", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for serial, when, reason in rows:
            revoked.append(
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial, 16))
                .revocation_date(datetime.fromisoformat(when))
                .add_extension(exts[reason], critical=False)
                .build()
            )
    now = datetime.now(UTC)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=cert.subject,
        last_update=now,
        next_update=now + timedelta(days=28),
        extensions=[
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            ),
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
        ],
        revoked_certificates=revoked,
    ).sign(key, hashes.SHA256())  # type: ignore[arg-type]
    # Written durably, as `porthos crl build` writes (temporary file, fsync, rename).
    tmp = d / "pyca.crl.tmp"
    with open(tmp, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.DER))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, d / "pyca.crl")


def _timed(argv: list[str], cwd: Path) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS of one process (wait4: its own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"{argv[:4]}...: exit status {status}: {err[-2000:]}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def _porthos_argv(file: str) -> list[str]:
    return [
        sys.executable, "-c", "from porthos.cli.main import main; main()",
        "crl", "build", "--revoked", file, "--issuer-cert", "ca.der", "--issuer-key",
        "ca.p8", "--number", "1", "--next-update", "28", "--out", "out.crl",
    ]  # fmt: skip


def run(*, n: int, repeats: int, inputs: list[str], workdir: str | None = None) -> dict[str, Any]:
    from porthos import _native

    if _native.BUILD_PROFILE != "release":
        raise SystemExit("benchmarks need a release build (maturin develop --release)")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="porthos-bench-crlin-"))
    base.mkdir(parents=True, exist_ok=True)
    # In its own process, so that this one never holds N-row arrays (see bench/crl.py).
    subprocess.run(
        [sys.executable, "-m", "porthos.bench.crl_input", "--fixture", str(n), str(base)],
        check=True,
    )
    files = {"csv": "revoked.csv", "parquet": "revoked.parquet", "npz": "cols.npz"}
    runs: dict[str, list[dict[str, float]]] = {f"porthos-{i}": [] for i in inputs}
    runs["pyca-csv"] = []
    # Interleaved, so that a change in the machine's load hits every variant alike.
    for _ in range(repeats):
        for i in inputs:
            runs[f"porthos-{i}"].append(_timed(_porthos_argv(files[i]), base))
        runs["pyca-csv"].append(
            _timed([sys.executable, "-m", "porthos.bench.crl_input", "--pyca", str(base)], base)
        )
    summary: dict[str, Any] = {"n": n, "repeats": repeats}
    for name, rs in runs.items():
        summary[name] = {
            key: float(statistics.median(r[key] for r in rs))
            for key in ("seconds", "cpu_seconds", "peak_rss_mib")
        }
    pyca = summary["pyca-csv"]["seconds"]
    summary["pyca_over_porthos"] = {i: pyca / summary[f"porthos-{i}"]["seconds"] for i in inputs}
    return {
        "benchmark": "crl-input",
        "what": __doc__,
        "command": f"porthos bench crl --input {','.join(inputs)} --n {n} --repeats {repeats}",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        "runs": runs,
        "summary": summary,
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fixture":
        make_inputs(Path(sys.argv[3]), int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--pyca":
        pyca_build(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m porthos.bench.crl_input --pyca DIR")
