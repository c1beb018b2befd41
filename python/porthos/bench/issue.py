"""``porthos bench issue``: batch issuance of N CSRs against pyca/cryptography.

What is timed (per repeat, on the same N distinct P-256 CSRs, software P-256 CA key):

- ``porthos_1t`` / ``porthos_all``: ``CertificateAuthority.issue_batch`` with the
  ha-device profile (000 §7.1.3.1): parse + verify every CSR, policy, fill, sign, store
  (one SQLite transaction), with one thread / all cores. Workspace init, loading the CA
  key and compiling the template are setup, not timed (a running CA does them once).
- ``peer``: pyca/cryptography doing the same job: ``load_der_x509_csr`` +
  ``is_signature_valid`` per CSR, the UUID subject rule, ``CertificateBuilder`` with the
  same subject and extensions as the porthos certificate, ECDSA P-256 signing with the
  same CA key, and storing every DER into SQLite in one transaction.
- ``fill_sign``: ``Template.issue`` alone (fill + sign, one thread) on pre-parsed input.
- ``bare_sign``: aws-lc-rs signing N 400-byte messages inside Rust, one thread, through
  ``porthos._native.bench_sign_p256(n)`` when the extension provides it (the FFI crossing
  per item of ``SoftwareKey.sign`` would make a Python loop an unfair "bare" figure).

Every variant runs in its own long-lived subprocess, so its peak RSS (``ru_maxrss``) is
its own, and the repeats are interleaved: round k runs repeat k of every variant, one
process at a time, so that a slow stretch of a shared machine does not land on one
variant only. CSR generation is done once, before any timing, and shared through a
temporary file.

``--cpcps PKI --profile P`` (porthos.bench.issue_target) times the same variants for
any profile of any CP/CPS, with its CA's own key (RSA-2048, RSA-4096, ...): requests
from the PKI's demo data, ``peer`` building the same profile with pyca, ``bare_sign``
the CA key itself signing in Rust (``porthos._native.bench_sign_key``), and the ratio
of porthos issuance on one thread to that bare signing (target: within 1.1x, since
RSA signing dominates issuance there).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from porthos.bench import issue_target
from porthos.bench.issue_target import Target

PROFILE = "ha-device"
#: The default target: the Porthos PKI's ha-device profile (frozen, so shareable).
DEFAULT_TARGET = Target()
CA_NAME = "ha-device-ca-1"
KEY_POOL = 64
VARIANTS = ("porthos_1t", "porthos_all", "peer", "fill_sign")
# Targets from the benchmark issue, at N = 10,000.
TARGET_1T = 4.0  # porthos one thread >= 4x the peer (one thread)
TARGET_ALL = 8.0  # porthos all cores >= 8x the peer
TARGET_FILL_SIGN = 1.3  # fill+sign within 1.3x of bare aws-lc-rs signing
TARGET_OVER_BARE = 1.1  # --cpcps: issuance (one thread) within 1.1x of bare signing


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------


def make_csrs(n: int) -> list[bytes]:
    """N distinct P-256 CSRs, CN = a fresh UUID each, keys drawn from a pool of 64
    (key generation is not what is measured; distinct subjects make distinct requests)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(min(KEY_POOL, n))]
    out = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(uuid.uuid4()))])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name)
        out.append(
            csr.sign(keys[i % len(keys)], hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        )
    return out


def _write_csrs(path: Path, csrs: list[bytes]) -> None:
    # Length-prefixed DER: no parsing library involved in handing the input over.
    with path.open("wb") as f:
        for der in csrs:
            f.write(len(der).to_bytes(4, "big") + der)


def _read_csrs(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


# --------------------------------------------------------------------------------------
# variants (run inside a worker process)
# --------------------------------------------------------------------------------------


def _fresh_ca(tmp: Path, tag: str, target: Target = DEFAULT_TARGET) -> Any:
    if target.cpcps is not None:
        return issue_target.fresh_ca(target, tmp, tag)
    from porthos.workspace.workspace import Workspace

    ws = Workspace.init(tmp / f"ws-{tag}", "prod")
    ca = ws.ca(CA_NAME)
    ca.template(PROFILE)  # setup: load the CA key, compile the profile
    return ws, ca


def _porthos(
    csrs: list[bytes], tmp: Path, rep: int, threads: int | None, target: Target = DEFAULT_TARGET
) -> float:
    ws, ca = _fresh_ca(tmp, f"p{rep}-{threads}", target)
    try:
        ra = issue_target.ra_data(target, len(csrs))  # untimed: the RA's input
        t0, c0 = time.perf_counter(), time.process_time()
        result = ca.issue_batch(csrs, profile=target.profile, threads=threads, ra_data=ra)
        ws.store.wait_for_checkpoint()  # the batch's own upkeep is timed too
        dt = time.perf_counter() - t0
        _CPU[0] = time.process_time() - c0
        if result.issued_count != len(csrs):
            bad = next(result.rejected())
            raise RuntimeError(f"porthos rejected item {bad[0]}: {bad[1].name} {bad[2]}")
        return dt
    finally:
        ws.close()


def _peer_setup(
    tmp: Path, rep: int, target: Target = DEFAULT_TARGET, sample: list[bytes] | None = None
) -> tuple[Any, Any, Any, list[Any], tuple[Any, list[Any]]]:
    """The same CA key and certificate; subject prefix and extensions copied from a
    certificate porthos issued for this profile, so both sides make the same certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ws, ca = _fresh_ca(tmp, f"peer{rep}", target)
    sample = make_csrs(1) if sample is None else sample
    ra = issue_target.ra_data(target, len(sample))
    res = ca.issue_batch(sample, profile=target.profile, threads=1, ra_data=ra)
    der = res.certificates[0]
    if der is None:
        raise RuntimeError(f"porthos refused the sample request: {res.reasons[0]}")
    ref = x509.load_der_x509_certificate(der)
    ca_key = serialization.load_der_private_key(ca.key.to_pkcs8(), None)
    ca_cert = x509.load_der_x509_certificate(ca.certificate)
    if target.cpcps is None:
        prefix = [a for a in ref.subject if a.oid != x509.oid.NameOID.COMMON_NAME]
    else:  # the profile's fixed attributes; the rest comes from each request
        prefix = list(ref.subject)[: len(ws.profile_set.profile(target.profile).subject_prefix)]
    exts = [e for e in ref.extensions if not isinstance(e.value, x509.SubjectKeyIdentifier)]
    return ws, ca_key, ca_cert, prefix, (ref.not_valid_after_utc - ref.not_valid_before_utc, exts)


def _peer(csrs: list[bytes], tmp: Path, rep: int, target: Target = DEFAULT_TARGET) -> float:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    sample = None if target.cpcps is None else csrs[:1]
    ws, ca_key, ca_cert, prefix, (lifetime, exts) = _peer_setup(tmp, rep, target, sample)
    ws.close()
    db = sqlite3.connect(tmp / f"peer{rep}.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE certs (serial TEXT PRIMARY KEY, not_after INTEGER, der BLOB)")
    sha256 = hashes.SHA256()
    t0, c0 = time.perf_counter(), time.process_time()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = []
    for der in csrs:
        csr = x509.load_der_x509_csr(der)
        if not csr.is_signature_valid:
            raise RuntimeError("peer: bad CSR signature")
        if target.cpcps is None:
            cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            uuid.UUID(str(cn[0].value))  # the profile's subject rule: CN is a UUID
            tail = [cn[0]]
        else:  # the request's attributes after the profile's fixed ones
            tail = list(csr.subject)
        pub = csr.public_key()
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([*prefix, *tail]))
            .issuer_name(ca_cert.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + lifetime)
        )
        for e in exts:
            b = b.add_extension(e.value, e.critical)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)
        cert = b.sign(ca_key, sha256)
        rows.append(
            (
                format(cert.serial_number, "x"),
                int(cert.not_valid_after_utc.timestamp()),
                cert.public_bytes(serialization.Encoding.DER),
            )
        )
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO certs VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    _CPU[0] = time.process_time() - c0
    db.close()
    return elapsed


def fill_sign_inputs(
    csrs: list[bytes], ca: Any, target: Target = DEFAULT_TARGET, ws: Any = None
) -> tuple[Any, Any, dict[str, Any]]:
    """(template, CA key, Template.issue keyword arguments) for the profile (default
    ha-device), built from the requests outside any timing."""
    from porthos import _native

    batch = _native.parse_csrs(csrs, threads=1)
    n = len(csrs)
    if target.cpcps is not None:
        prof = ws.profile_set.profile(target.profile)
        # Every request of the profile's demo data has the same subject (and SANs).
        ra = issue_target.ra_data(target, 1)
        subject, sans = issue_target.profile_subject(
            ws, target.profile, batch.subject(0), None if ra is None else ra[0]
        )
        now = int(time.time())
        profile_kwargs: dict[str, Any] = {
            "serials": _native.generate_serials(n),
            "not_before": [now] * n,
            "not_after": [prof.validity.not_after(now)] * n,
            "subjects": [subject] * n,
            "spkis": [batch.spki(i) for i in range(n)],
            "sans": None if sans is None else [sans] * n,
            "threads": 1,
        }
        return ca.template(target.profile), ca.key, profile_kwargs
    # The ha-device subject (000 §7.1.3.1): O, OU fixed, CN from the request.
    prefix = [("2.5.4.10", "dormakaba"), ("2.5.4.11", "Porthos HA Device")]
    now = int(time.time())
    kwargs: dict[str, Any] = {
        "serials": _native.generate_serials(n),
        "not_before": [now] * n,
        "not_after": [now + 396 * 86400] * n,
        "subjects": [prefix + [("2.5.4.3", batch.subject(i)[-1][1])] for i in range(n)],
        "spkis": [batch.spki(i) for i in range(n)],
        "threads": 1,
    }
    return ca.template(PROFILE), ca.key, kwargs


def _fill_sign(csrs: list[bytes], tmp: Path, rep: int, target: Target = DEFAULT_TARGET) -> float:
    ws, ca = _fresh_ca(tmp, f"fs{rep}", target)
    try:
        tpl, key, kwargs = fill_sign_inputs(csrs, ca, target, ws)
        t0, c0 = time.perf_counter(), time.process_time()
        out = tpl.issue(key, **kwargs)
        elapsed = time.perf_counter() - t0
        _CPU[0] = time.process_time() - c0
        if len(out) != len(csrs):
            raise RuntimeError("fill_sign: wrong number of certificates")
        return elapsed
    finally:
        ws.close()


def _native_bench_sign(
    n: int, tmp: Path, rep: int, target: Target = DEFAULT_TARGET, threads: int | None = 1
) -> float:
    """Seconds for aws-lc-rs to sign n 400-byte messages in Rust, one thread
    (``porthos._native.bench_sign_p256``; with a CP/CPS, ``bench_sign_key`` with the
    profile's CA key itself, on ``threads``): the floor fill+sign is compared with."""
    from porthos import _native

    c0 = time.process_time()
    if target.cpcps is None:
        seconds = float(_native.bench_sign_p256(n))
        _CPU[0] = time.process_time() - c0
        return seconds
    ws, ca = _fresh_ca(tmp, f"bare{rep}-{threads}", target)
    try:
        c0 = time.process_time()
        seconds = float(_native.bench_sign_key(ca.key, n, threads))
        _CPU[0] = time.process_time() - c0
        return seconds
    finally:
        ws.close()


# CPU seconds (every thread of the worker process) of the last timed window, beside
# its wall seconds: a one-thread batch runs its verifier and Python stages beside the
# signer (issuance/pipeline.py), so its wall time alone would hide that work.
_CPU = [0.0]


def _one(
    variant: str,
    csrs: list[bytes],
    tmp: Path,
    rep: int,
    threads: int | None,
    target: Target = DEFAULT_TARGET,
) -> float:
    """Seconds of one repeat of ``variant`` (setup untimed, inside)."""
    if variant == "porthos_1t":
        return _porthos(csrs, tmp, rep, 1, target)
    if variant == "porthos_all":
        return _porthos(csrs, tmp, rep, threads, target)
    if variant == "peer":
        return _peer(csrs, tmp, rep, target)
    if variant == "fill_sign":
        return _fill_sign(csrs, tmp, rep, target)
    if variant == "bare_sign":
        return _native_bench_sign(len(csrs), tmp, rep, target)
    if variant == "bare_sign_all":  # --cpcps: the floor of porthos_all, same threads
        return _native_bench_sign(len(csrs), tmp, rep, target, threads)
    raise ValueError(f"unknown variant {variant!r}")


def _serve(
    variant: str, csr_path: str, threads: int | None, target: Target = DEFAULT_TARGET
) -> None:
    """Worker process: load the CSRs, say ready, then time one repeat per ``run`` line
    on stdin until ``quit``; every answer is one JSON line on stdout."""
    csrs = _read_csrs(Path(csr_path))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix=f"porthos-bench-{variant}-") as d:
        print(json.dumps({"ready": True, "rss_after_setup_kib": rss_before}), flush=True)
        rep = 0
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            if line.strip() != "run":
                raise ValueError(f"bench worker: unknown command {line!r}")
            _CPU[0] = float("nan")
            seconds = _one(variant, csrs, Path(d), rep, threads, target)
            print(json.dumps({"seconds": seconds, "cpu_seconds": _CPU[0]}), flush=True)
            rep += 1
    print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------


class _Worker:
    """One variant's process, alive for the whole benchmark, so that its repeats can be
    interleaved with the other variants' (a slow minute on a shared machine then falls
    on every variant alike) while its peak RSS stays its own."""

    def __init__(
        self,
        variant: str,
        csr_path: Path,
        threads: int | None,
        log: Path,
        target: Target = DEFAULT_TARGET,
    ) -> None:
        self.variant = variant
        self._log_path = log
        self._log = log.open("w")
        cmd = [sys.executable, "-m", "porthos.bench.issue", "--serve", variant, str(csr_path),
               "" if threads is None else str(threads), target.to_arg()]  # fmt: skip
        # stderr to a file: a pipe nobody reads could fill up and stall the worker.
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.rss_after_setup_kib = int(self._answer()["rss_after_setup_kib"])

    def _answer(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            self._log.flush()
            err = self._log_path.read_text()[-4000:]
            raise RuntimeError(f"bench worker {self.variant} failed:\n{err}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _send(self, command: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()

    def run(self) -> tuple[float, float]:
        """(wall, CPU) seconds of one repeat."""
        self._send("run")
        answer = self._answer()
        return float(answer["seconds"]), float(answer["cpu_seconds"])

    def close(self) -> int:
        """Stop the worker; its peak RSS (KiB)."""
        self._send("quit")
        peak = int(self._answer()["peak_rss_kib"])
        self._proc.wait()
        self._log.close()
        return peak

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def _stats(n: int, seconds: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    if not seconds:
        return {"available": False}
    med = statistics.median(seconds)
    cpu_stats = {} if not cpu else {"cpu_median_s": statistics.median(cpu), "cpu_repeats_s": cpu}
    return {
        **cpu_stats,
        "available": True,
        "median_s": med,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "repeats_s": seconds,
        "per_second": n / med if med > 0 else None,
    }


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    import cryptography

    from porthos import _native

    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "porthos_native_build": getattr(_native, "BUILD_PROFILE", "?"),
        "cryptography": cryptography.__version__,
    }


def _cpu_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if not (a.get("cpu_median_s") and b.get("cpu_median_s")):
        return None
    return float(a["cpu_median_s"] / b["cpu_median_s"])


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if not (a.get("available") and b.get("available")) or b["median_s"] <= 0:
        return None
    return float(a["median_s"] / b["median_s"])


def run(
    n: int,
    repeats: int = 5,
    threads: int | None = None,
    json_out: str | None = None,
    *,
    cpcps: str | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Run the issuance benchmark; return (and optionally write as JSON) the report.

    threads: the "all cores" variant's thread count (None: every core porthos sees).
    cpcps, profile: issue that profile of that CP/CPS (issue_target) instead of the
    Porthos PKI's ha-device."""
    if n < 1 or repeats < 1:
        raise ValueError("n and repeats must be >= 1")
    if (cpcps is None) != (profile is None):
        raise ValueError("--cpcps and --profile go together")
    command = f"porthos bench issue --n {n} --repeats {repeats}"
    if threads is not None:
        command += f" --threads {threads}"
    if cpcps is not None:
        command += f" --cpcps {cpcps} --profile {profile}"
    if json_out:
        command += f" --json {json_out}"

    variants: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="porthos-bench-") as d:
        target = Target() if cpcps is None else Target(cpcps, str(profile))
        target = issue_target.prepare(target, Path(d))
        t0 = time.perf_counter()
        csrs = make_csrs(n) if cpcps is None else issue_target.make_profile_csrs(target, n)
        csr_seconds = time.perf_counter() - t0
        csr_path = Path(d) / "csrs.bin"
        _write_csrs(csr_path, csrs)
        names = (*VARIANTS, "bare_sign") + (("bare_sign_all",) if cpcps else ())
        workers: list[_Worker] = []
        try:
            for v in names:
                workers.append(_Worker(v, csr_path, threads, Path(d) / f"{v}.log", target))
            seconds: dict[str, list[float]] = {v: [] for v in names}
            cpu: dict[str, list[float]] = {v: [] for v in names}
            loads: list[float] = []
            # Round k runs repeat k of every variant, one process at a time.
            for _ in range(repeats):
                loads.append(os.getloadavg()[0])
                for w in workers:
                    wall, cpu_s = w.run()
                    seconds[w.variant].append(wall)
                    cpu[w.variant].append(cpu_s)
            for w in workers:
                variants[w.variant] = {
                    **_stats(n, seconds[w.variant], cpu[w.variant]),
                    "peak_rss_kib": w.close(),
                    "rss_after_setup_kib": w.rss_after_setup_kib,
                }
        finally:
            for w in workers:
                w.kill()

    peer, p1, pall = variants["peer"], variants["porthos_1t"], variants["porthos_all"]
    fill_sign, bare = variants["fill_sign"], variants["bare_sign"]
    speed_1t, speed_all = _ratio(peer, p1), _ratio(peer, pall)
    fs_over_bare = _ratio(fill_sign, bare)
    ca_key = "software ec-p256, ecdsa-sha256"
    if cpcps is not None:
        from porthos.cpcps.loader import load_profile_set

        ps = load_profile_set(cpcps, "prod")
        spec = ps.cas[ps.profile(target.profile).issuer]
        ca_key = f"software {spec.key_type}, {spec.signature_algorithm} ({spec.name})"
    report: dict[str, Any] = {
        "benchmark": "issue",
        "command": command,
        "argv": sys.argv,
        "n": n,
        "repeats": repeats,
        "threads_all": threads if threads is not None else "all",
        "profile": target.profile,
        "cpcps": cpcps or "porthos",
        "ca_key": ca_key,
        "csr_generation_s_untimed": csr_seconds,
        "machine": machine_info(),
        # 1-minute load average at the start of each round: a shared machine's other
        # work is why two runs differ; compare ratios within one run.
        "load_average_per_round": loads,
        "variants": variants,
        "ratios": {
            "porthos_1t_over_peer_speedup": speed_1t,
            "porthos_all_over_peer_speedup": speed_all,
            "fill_sign_over_bare": fs_over_bare,
            # CPU, not wall: a one-thread batch runs its verifier and Python stages beside
            # its signer (issuance/pipeline.py); this is what they cost on top of signing.
            "porthos_1t_cpu_over_bare_sign_cpu": _cpu_ratio(p1, bare),
        },
        "targets": {
            "porthos_1t_speedup_ge_4": None if speed_1t is None else speed_1t >= TARGET_1T,
            "porthos_all_speedup_ge_8": None if speed_all is None else speed_all >= TARGET_ALL,
            "fill_sign_within_1_3_of_bare": (
                None if fs_over_bare is None else fs_over_bare <= TARGET_FILL_SIGN
            ),
        },
        "peak_rss_kib_driver": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "notes": (
            "medians over repeats; each variant ran in its own process (peak_rss_kib is that "
            "process's ru_maxrss, incl. the CSR list), the repeats interleaved: round k ran "
            "repeat k of every variant, one process at a time; bare_sign is "
            "porthos._native.bench_sign_p256: aws-lc-rs signing 400-byte messages in Rust"
        ),
    }
    if cpcps is not None:
        issue_over_bare = _ratio(p1, bare)
        all_over_bare = _ratio(pall, variants["bare_sign_all"])
        report["ratios"]["porthos_1t_over_bare_sign"] = issue_over_bare
        report["ratios"]["porthos_all_over_bare_sign_all"] = all_over_bare
        report["targets"]["porthos_1t_within_1_1_of_bare_sign"] = (
            None if issue_over_bare is None else issue_over_bare <= TARGET_OVER_BARE
        )
        report["targets"]["porthos_all_within_1_1_of_bare_sign_all"] = (
            None if all_over_bare is None else all_over_bare <= TARGET_OVER_BARE
        )
        report["notes"] += (
            "; bare_sign here is bench_sign_key with the profile's CA key (one thread), "
            "bare_sign_all the same on the threads of porthos_all"
        )
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        _, _, variant_, path_, threads_, target_ = sys.argv
        _serve(variant_, path_, int(threads_) if threads_ else None, Target.from_arg(target_))
    else:
        sys.exit("usage: porthos bench issue --n N [--repeats R] [--threads T] [--json OUT]")
