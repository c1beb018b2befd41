"""``porthos bench hsm``: how fast the HSM signs, and how much of that porthos keeps.

For each session count N, interleaved, ``repeats`` times (medians reported):

* raw threads: N python-pkcs11 sessions, one thread each, C_Sign in a loop for
  ``seconds`` (one process; the module re-initialised with CKF_OS_LOCKING_OK by
  porthos.hsm.load_module, without which SoftHSM2 crashes under threads);
* raw processes: N processes (spawned, each its own module instance initialised by
  python-pkcs11), one session each: the HSM's capacity without a GIL in the way;
* porthos: batch issuance through the same key — Template.fill + TBS digests +
  Pkcs11Signer (N sessions: worker processes by default for N > 1, or the Rust
  thread pool; each session signs with a session copy of the key) + assembly — for
  ``seconds``;
  certificates per second, and p50/p99 of the per-signature C_Sign latency.

ratio = porthos / max(raw threads, raw processes). Target (issue 5): >= 0.90.
Works with any PKCS#11 module: pass --token/--key/--pin-file for an existing key;
without them a fresh SoftHSM2 token is made in a temporary (or --softhsm-dir) folder.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from porthos import hsm
from porthos.bench import require_plot
from porthos.exceptions import HsmError

ALGS = {
    "p256": ("ec-p256", "ecdsa-sha256", 2048),
    "rsa2048": ("rsa-2048", "rsa-pkcs1-sha256", 256),
}
_DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")
_SPEC = json.dumps(
    {
        "extensions": [
            {"type": "authority_key_identifier"},
            {"type": "subject_key_identifier"},
            {"type": "key_usage", "usages": ["digital_signature"]},
            {"type": "basic_constraints", "ca": False},
        ]
    }
)


def _sign_input(key_type: str) -> bytes:
    digest = secrets.token_bytes(32)
    return digest if key_type.startswith("ec-") else _DIGEST_INFO_SHA256 + digest


def _mechanism(key_type: str) -> Any:
    from pkcs11 import Mechanism

    return Mechanism.ECDSA if key_type.startswith("ec-") else Mechanism.RSA_PKCS


def raw_threads(
    module: str, token: str, label: str, pin: hsm.Secret, key_type: str, n: int, seconds: float
) -> float:
    """C_Sign/s with n python-pkcs11 sessions driven by n threads of this process."""
    import pkcs11

    tok = hsm.open_token(module, token)
    first = tok.open(user_pin=pin.reveal_text())
    sessions = [first] + [tok.open() for _ in range(n - 1)]  # one login per application
    mech = _mechanism(key_type)
    data = _sign_input(key_type)
    keys = [s.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY) for s in sessions]
    counts = [0] * n
    barrier = threading.Barrier(n + 1)
    stop = threading.Event()

    def work(i: int) -> None:
        key = keys[i]
        barrier.wait()
        c = 0
        while not stop.is_set():
            key.sign(data, mechanism=mech)
            c += 1
        counts[i] = c

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for s in reversed(sessions):
        s.close()
    return sum(counts) / elapsed


def _process_worker(
    module: str,
    token: str,
    label: str,
    pin: bytes,
    key_type: str,
    seconds: float,
    ready: Any,
    go: Any,
    out: Any,
    setup_lock: Any,
) -> None:
    # A fresh process: python-pkcs11 initialises its own module instance, used by
    # this one thread only, so C_Initialize(NULL) is safe here.
    try:
        import pkcs11

        # One worker at a time loads the token list and logs in: SoftHSM2 rewrites a
        # token's file on login, and a process enumerating tokens at that moment can
        # miss it (seen as NoSuchToken). Only the setup is serialised, not signing.
        with setup_lock:
            lib = pkcs11.lib(module)
            for attempt in range(20):
                try:
                    tok = lib.get_token(token_label=token)
                    break
                except pkcs11.NoSuchToken:
                    if attempt == 19:
                        raise
                    time.sleep(0.05)
                    lib.reinitialize()
            session = tok.open(user_pin=pin.decode())
    except Exception as exc:  # noqa: BLE001 - reported to the parent, never the PIN
        ready.put(f"{type(exc).__name__}: {exc}")
        return
    try:
        key = session.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
        mech = _mechanism(key_type)
        data = _sign_input(key_type)
        key.sign(data, mechanism=mech)  # type: ignore[attr-defined]
        ready.put("")
        if not go.wait(timeout=300):
            return
        t0 = time.perf_counter()
        deadline = t0 + seconds
        c = 0
        while time.perf_counter() < deadline:
            key.sign(data, mechanism=mech)  # type: ignore[attr-defined]
            c += 1
        out.put((c, time.perf_counter() - t0))
    except Exception as exc:  # noqa: BLE001
        ready.put(f"{type(exc).__name__}: {exc}")
    finally:
        session.close()


def raw_processes(
    module: str, token: str, label: str, pin: hsm.Secret, key_type: str, n: int, seconds: float
) -> float:
    """C_Sign/s with n processes, one session each (the HSM's capacity)."""
    ctx = mp.get_context("spawn")
    ready, out, go, setup_lock = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Lock()
    procs = [
        ctx.Process(
            target=_process_worker,
            args=(
                module,
                token,
                label,
                pin.reveal(),
                key_type,
                seconds,
                ready,
                go,
                out,
                setup_lock,
            ),
            daemon=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            err = ready.get(timeout=120)
            if err:
                raise HsmError(f"raw C_Sign worker process failed: {err}")
        go.set()
        results = [out.get(timeout=seconds + 120) for _ in procs]
    finally:
        go.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    # All workers ran concurrently for ~seconds each: the sum of their rates.
    return sum(c / dt for c, dt in results)


def porthos_issuance(
    signer: Any, key_type: str, alg: str, batch: int, seconds: float
) -> tuple[float, NDArrayU64]:
    """Certificates/s through fill + digests + the Pkcs11Signer pool + assembly."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from porthos import _native
    from porthos.issuance import signers

    spki_ca = signer.public_key_der()
    template = _native.Template(
        _SPEC,
        _native.encode_name([("O", "porthos bench"), ("CN", "bench CA")]),
        _native.key_identifier(spki_ca),
        alg,
    )
    leaf = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = leaf.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    subjects = [[("O", "porthos"), ("CN", f"leaf {i}")] for i in range(batch)]
    nb = np.full(batch, now, dtype=np.int64)
    na = np.full(batch, now + 86400, dtype=np.int64)
    spkis = [spki] * batch
    issued = 0
    latencies: list[NDArrayU64] = []
    t0 = time.perf_counter()
    while True:
        out = signers.issue_certificates(
            template,
            signer,
            serials=_native.generate_serials(batch),
            not_before=nb,
            not_after=na,
            subjects=subjects,
            spkis=spkis,
        )
        issued += len(out)
        latencies.append(signer.last_latency_ns)
        if time.perf_counter() - t0 >= seconds:
            break
    elapsed = time.perf_counter() - t0
    return issued / elapsed, np.concatenate(latencies)


NDArrayU64 = Any


def _plot(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["sessions"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (
        ("raw_threads_ops", "raw C_Sign, python-pkcs11 threads (1 process)"),
        ("raw_processes_ops", "raw C_Sign, 1 process per session"),
        ("porthos_ops", "porthos issuance (Rust session pool)"),
    ):
        ax.plot(xs, [r[key] for r in rows], marker="o", label=label)
    ax.set_xlabel("sessions")
    ax.set_ylabel("signatures / s")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(
    *,
    module: str | os.PathLike[str] | None,
    softhsm_dir: str | os.PathLike[str] | None,
    sessions: list[int],
    alg: str,
    seconds: float,
    repeats: int,
    token: str | None = None,
    key_label: str | None = None,
    pin_file: str | os.PathLike[str] | None = None,
    json_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    workers: str = "auto",
    key_placement: str = "session-copy",
) -> dict[str, Any]:
    from porthos import _native
    from porthos.issuance import signers

    if plot is not None:
        require_plot()

    if _native.BUILD_PROFILE != "release":
        raise RuntimeError("porthos bench needs a release build (maturin develop --release)")
    key_type, sig_alg, batch = ALGS[alg]
    module_path = str(hsm.find_module(module))
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if token is None and softhsm_dir is None and "softhsm" in module_path:
        tmp = tempfile.TemporaryDirectory(prefix="porthos-bench-hsm-")
        softhsm_dir = tmp.name
    if softhsm_dir is not None:
        hsm.use_softhsm_conf(hsm.softhsm_conf(softhsm_dir))
    lib = hsm.load_module(module_path)
    try:
        if token is None:
            # A fresh token and key for this run; the PIN never leaves this process
            # except to the worker processes (through a pipe, never argv).
            token = f"porthos-bench-{secrets.token_hex(3)}"
            key_label = f"bench-{key_type}"
            pin = hsm.Secret(secrets.token_hex(8).encode())
            hsm.init_token(module_path, token, hsm.Secret(secrets.token_hex(8).encode()), pin)
            hsm.generate_key(module_path, token, pin, key_label, key_type)
        else:
            if key_label is None:
                raise ValueError("--key is required with --token")
            pin = hsm.read_pin(pin_file, f"user PIN of token '{token}'")
        runs: dict[int, dict[str, list[float]]] = {
            n: {"raw_threads": [], "raw_processes": [], "porthos": [], "p50": [], "p99": []}
            for n in sessions
        }
        pool_kind: dict[int, dict[str, Any]] = {}
        spki = hsm.public_key_der(module_path, token, key_label)
        for _ in range(repeats):
            for n in sessions:
                r = runs[n]
                r["raw_threads"].append(
                    raw_threads(module_path, token, key_label, pin, key_type, n, seconds)
                )
                r["raw_processes"].append(
                    raw_processes(module_path, token, key_label, pin, key_type, n, seconds)
                )
                with signers.Pkcs11Signer(
                    module_path,
                    token,
                    key_label,
                    pin,
                    sig_alg,
                    sessions=n,
                    public_key=spki,
                    workers=workers,
                    key_placement=key_placement,
                ) as signer:
                    pool_kind[n] = {
                        "workers": signer.workers,
                        "key_placement": key_placement,
                        "session_key_copies": signer.session_key_copies,
                    }
                    ops, lat = porthos_issuance(signer, key_type, sig_alg, batch * n, seconds)
                r["porthos"].append(ops)
                r["p50"].append(float(np.percentile(lat, 50)) / 1000.0)
                r["p99"].append(float(np.percentile(lat, 99)) / 1000.0)
        rows = []
        for n in sessions:
            r = runs[n]
            med = {k: statistics.median(v) for k, v in r.items()}
            best = max(med["raw_threads"], med["raw_processes"])
            rows.append(
                {
                    "sessions": n,
                    "raw_threads_ops": med["raw_threads"],
                    "raw_processes_ops": med["raw_processes"],
                    "porthos_ops": med["porthos"],
                    "ratio_porthos_to_best_raw": med["porthos"] / best if best else 0.0,
                    "porthos_latency_us": {"p50": med["p50"], "p99": med["p99"]},
                    "porthos_pool": pool_kind[n],
                    "repeats": {k: v for k, v in r.items()},
                }
            )
        from importlib.metadata import version

        result: dict[str, Any] = {
            "benchmark": "porthos bench hsm",
            "command": " ".join(["porthos", *sys.argv[1:]]) if sys.argv else "",
            "what": {
                "raw_threads_ops": "C_Sign/s, python-pkcs11, N threads x 1 session, one "
                "process, module initialised with CKF_OS_LOCKING_OK",
                "raw_processes_ops": "C_Sign/s, python-pkcs11, N spawned processes x 1 session",
                "porthos_ops": "certificates/s: Template.fill + tbs_digests + Pkcs11Signer "
                "(N sessions; porthos_pool says whether on worker processes or the Rust "
                "thread pool, and whether each session signs with a session copy of the "
                "key) + assemble",
                "ratio_porthos_to_best_raw": "porthos_ops / max(raw_threads_ops, "
                "raw_processes_ops); target >= 0.90",
                "porthos_latency_us": "per-signature C_SignInit+C_Sign time in the pool, "
                "median over repeats of each run's percentile",
            },
            "module": module_path,
            "module_info": {
                "manufacturer": lib.manufacturer_id,
                "description": lib.library_description,
                "version": list(getattr(lib, "library_version", ()) or ()),
            },
            "python_pkcs11": version("python-pkcs11"),
            "alg": alg,
            "key_type": key_type,
            "signature_algorithm": sig_alg,
            "seconds": seconds,
            "repeats": repeats,
            "cpu_count": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
            "platform": platform.platform(),
            "peak_rss_kib": {
                "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            },
            "rows": rows,
        }
        if json_out is not None:
            p = Path(json_out)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if plot is not None:
            _plot(rows, f"{module_path.rsplit('/', 1)[-1]}: {alg}", Path(plot))
            result["plot"] = str(plot)
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()
