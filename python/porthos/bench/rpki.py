"""`porthos bench rpki`: the two speed goals of issue 18 §6, each against a yardstick
measured in the same run (the machine is shared: only same-run ratios mean much).

* ``--publish`` (default): N ROAs, each with a fresh RSA-2048 EE key from an
  ``RsaKeyPool`` filled on every core, then signed (EE certificate by the CA, CMS by the
  EE key), end to end; against aws-lc's raw rate of one RSA-2048 key generation plus
  one signature per object on the same threads (``bench_rsa_keygen``: aws-lc's
  ``KeyPair::generate`` in a rayon loop, nothing kept; ``bench_sign_key``: its bare
  signing). Goal ≥ 0.9×. RSA keygen time varies a lot from key to key (prime search),
  so small N gives noisy ratios either side of 1: use N in the hundreds for a figure.
* ``--reissue``: a publication point of ``--objects`` files (100,000 by default) kept
  in a ``PointState``; one ROA changes (its old EE certificate revoked, the new object
  put in) and the CRL and manifest are re-signed, the manifest's one-time key taken
  from a pool filled beforehand. Timed from "one ROA changed" to "new manifest + CRL
  bytes ready". Goal ≤ 50 ms. Yardstick, same run: the one-shot path over the same
  files (``manifest_content`` of every file, ``crl_drafts``, the manifest signed by
  ``rpki_sign_objects`` with a pooled key).

* ``--rpkimancer PYTHON``: rpkimancer (PyPI) makes ``--rpkimancer-n`` ROAs, each with
  its own fresh key as it always does, one process per thread, in the same run
  (benches/rpki_rpkimancer.py; rpkimancer needs cryptography < 38, so it lives in its
  own venv).

Every figure is the median over ``repeats``. Peak RSS is this process's ru_maxrss.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from porthos import _native
from porthos._native import PointState, RsaKeyPool, SoftwareKey, Template
from porthos.issuance.crl import INVALIDITY_NONE, REASON_NONE
from porthos.issuance.rpki_certs import RPKI_POLICY_OID, trust_anchor_certificate
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    RoaPrefix,
    manifest_content,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import parse_resources

__all__ = ["command", "run_publish", "run_reissue"]

HOST = "rpki.example.net"
BASE = f"rsync://{HOST}/repo/ta/"
EE_SPEC = {
    "extensions": [
        {"type": "subject_key_identifier"},
        {"type": "authority_key_identifier"},
        {"type": "key_usage", "usages": ["digital_signature"]},
        {"type": "crl_distribution_points", "uris": [BASE + "ta.crl"]},
        {"type": "authority_info_access", "ca_issuers": [f"rsync://{HOST}/ta.cer"]},
        {"type": "certificate_policies", "critical": True, "policies": [{"oid": RPKI_POLICY_OID}]},
        {"type": "subject_info_access"},
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers"},
    ],
    # RFC 6487 §4.5: the subject's CommonName is a PrintableString.
    "name_strings": {"CN": "printable"},
}


class _Ca:
    """A TA (10.0.0.0/8, AS64496-64511) and the EE template of its signed objects."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.key = SoftwareKey.generate("rsa-2048")
        self.cert = trust_anchor_certificate(
            self.key,
            common_name="porthos bench TA",
            resources=parse_resources("AS64496-64511, 10.0.0.0/8"),
            serial=b"\x01",
            not_before=now,
            not_after=now + 365 * 86400,
            ca_repository=BASE,
            rpki_manifest=BASE + "ta.mft",
        )
        self.template = Template.for_issuer(json.dumps(EE_SPEC), self.cert, "rsa-pkcs1-sha256")

    def roa_requests(self, n: int, first: int = 0) -> list[ObjectRequest]:
        out = []
        for i in range(first, first + n):
            p = RoaPrefix(4, (10 << 24) | ((i % 65536) << 8), 24, 24 + i % 9)
            out.append(
                ObjectRequest(
                    content=roa_content(64496 + i % 16, [p]),
                    serial=(1 << 40 | i).to_bytes(6, "big"),
                    subject=[("CN", f"roa-{i}")],
                    not_before=self.now,
                    not_after=self.now + 86400,
                    sia=_native.rpki_sia([("signed_object", f"{BASE}o{i}.roa")]),
                    ip_addr_blocks=roa_resources([p]).ip_addr_blocks_der(),
                )
            )
        return out


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rpkimancer(python: str, n: int, procs: int) -> dict[str, Any]:
    """benches/rpki_rpkimancer.py under `python`, `procs` processes at once, n ROAs in
    all: (ROAs per second of wall time, the per-process seconds)."""
    script = Path(__file__).resolve().parents[3] / "benches" / "rpki_rpkimancer.py"
    share = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    t0 = time.perf_counter()
    running = [
        subprocess.Popen(
            [python, str(script), "--n", str(k), "--first", str(sum(share[:i]))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # pycrate logs a line per object
            text=True,
        )
        for i, k in enumerate(share)
        if k
    ]
    seconds = []
    for p in running:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"rpkimancer run exited {p.returncode}")
        seconds.append(json.loads(out)["seconds"])
    wall = time.perf_counter() - t0
    return {"n": n, "processes": len(running), "objects_per_s": n / wall, "process_s": seconds}


def run_publish(
    n: int,
    repeats: int,
    threads: int | None,
    rpkimancer: str | None = None,
    rpkimancer_n: int = 8,
    raw_n: int | None = None,
) -> dict[str, Any]:
    """Publishing N ROAs with pooled fresh keys vs raw keygen + one signature (and
    rpkimancer, when an interpreter with it is given). ``raw_n``: measure the raw rate
    on that many objects (default N) and scale it to N, so that a run of 100,000 ROAs
    (~50 minutes of keygen on two cores) does not spend as long again on the yardstick;
    each repeat measures it just before publishing, on the same threads."""
    raw_n = n if raw_n is None else raw_n
    ca = _Ca(int(time.time()))
    signer = ObjectSigner(ca.template, ca.key)
    requests = ca.roa_requests(n)
    probe = SoftwareKey.generate("rsa-2048")
    runs: dict[str, list[float]] = {
        "publish_s": [],
        "fill_s": [],
        "sign_s": [],
        "raw_s": [],
        "raw_keygen_s": [],
    }
    for _ in range(repeats):
        # Raw: aws-lc's bare keygen on the threads, then one bare signature per object.
        t_keygen = _native.bench_rsa_keygen(raw_n, threads=threads) * n / raw_n
        t_sign = _native.bench_sign_key(probe, raw_n, threads=threads) * n / raw_n
        runs["raw_s"].append(t_keygen + t_sign)
        runs["raw_keygen_s"].append(t_keygen)
        # Publishing: fill the pool (all cores), then sign every ROA from it.
        t0 = time.perf_counter()
        pool = RsaKeyPool()
        fill = pool.fill(n, threads=threads)
        t1 = time.perf_counter()
        out = signer.sign("roa", requests, signing_time=ca.now, threads=threads, key_pool=pool)
        t2 = time.perf_counter()
        assert len(out.objects) == n and len(pool) == 0
        runs["publish_s"].append(t2 - t0)
        runs["fill_s"].append(fill)
        runs["sign_s"].append(t2 - t1)
    med = {k: statistics.median(v) for k, v in runs.items()}
    last = out.objects[n - 1]
    assert _native.verify_signed_data(last).status == 0
    peer = None
    if rpkimancer:
        peer = _rpkimancer(rpkimancer, rpkimancer_n, threads or os.cpu_count() or 1)
        peer["porthos_over_rpkimancer"] = (n / med["publish_s"]) / peer["objects_per_s"]
    return {
        "rpkimancer": peer,
        "n": n,
        "raw_n": raw_n,
        "repeats": repeats,
        "threads": threads or os.cpu_count(),
        "publish_objects_per_s": n / med["publish_s"],
        "raw_keygen_plus_sign_per_s": n / med["raw_s"],
        "ratio_to_raw": med["raw_s"] / med["publish_s"],
        "median_s": med,
        "runs_s": runs,
        "pool_keygen_ms_per_key": 1000 * med["fill_s"] / n,
        "raw_keygen_ms_per_key": 1000 * med["raw_keygen_s"] / n,
        "bytes_per_object": int(out.objects.offsets[-1]) / n,
        "peak_rss_kib": _peak_rss_kib(),
    }


def _point(ca: _Ca, objects: int, revoked: int) -> tuple[PointState, list[str], list[bytes]]:
    """A point of `objects` files: one real signed ROA, copied with its last octet
    varied (the state hashes bytes; a validator is not in this loop), and `revoked`
    CRL entries."""
    pool = RsaKeyPool()
    pool.fill(1)
    roa = (
        ObjectSigner(ca.template, ca.key)
        .sign("roa", ca.roa_requests(1), signing_time=ca.now, key_pool=pool)
        .objects[0]
    )
    names = [f"o{i}.roa" for i in range(objects)]
    files = [roa[:-4] + i.to_bytes(4, "big") for i in range(objects)]
    state = PointState()
    state.set_files(names, files)
    for i in range(revoked):
        state.revoke((1 << 48 | i).to_bytes(7, "big"), ca.now)
    return state, names, files


def _reissue_args(ca: _Ca, number: int) -> dict[str, Any]:
    empty = parse_resources("")
    return {
        "crl_name": "ta.crl",
        "manifest_number": number.to_bytes(4, "big"),
        "crl_number": number.to_bytes(4, "big"),
        "this_update": ca.now,
        "next_update": ca.now + 86400,
        "ee_serial": (1 << 56 | number).to_bytes(8, "big"),
        "ee_subject": [("CN", "ta.mft")],
        "sia": _native.rpki_sia([("signed_object", BASE + "ta.mft")]),
        "ip_addr_blocks": empty.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True),
        "as_identifiers": empty.as_identifiers_der(inherit=True),
        "signing_time": ca.now,
    }


def run_reissue(objects: int, revoked: int, repeats: int) -> dict[str, Any]:
    """Re-issue manifest + CRL after a one-ROA change: PointState vs the one-shot path."""
    ca = _Ca(int(time.time()))
    t0 = time.perf_counter()
    state, names, files = _point(ca, objects, revoked)
    setup_s = time.perf_counter() - t0
    pool = RsaKeyPool()
    pool.fill(2 * repeats + 1)  # ahead of time: never on the timed path
    args = _reissue_args(ca, 1)
    state.reissue(ca.template, ca.key, ca.cert, pool, **args)  # warm-up, serial 1
    incremental, one_shot = [], []
    mft = crl = b""
    for r in range(repeats):
        name = names[r * 7919 % objects]
        new = files[0][:-4] + (objects + r).to_bytes(4, "big")
        args = _reissue_args(ca, r + 2)
        t0 = time.perf_counter()
        state.revoke((1 << 52 | r).to_bytes(7, "big"), ca.now)  # the old ROA's EE
        state.set_file(name, new)
        mft, crl = state.reissue(ca.template, ca.key, ca.cert, pool, **args)
        incremental.append(time.perf_counter() - t0)
        files[names.index(name)] = new
        # The one-shot path over the same files and CRL entries.
        t0 = time.perf_counter()
        one_shot_crl = _one_shot_crl(ca, revoked + r + 1, args["crl_number"])
        listing = sorted([*zip(names, files, strict=True), ("ta.crl", one_shot_crl)])
        content = manifest_content(r + 2, ca.now, ca.now + 86400, listing)
        req = ObjectRequest(
            content=content,
            serial=args["ee_serial"],
            subject=args["ee_subject"],
            not_before=ca.now,
            not_after=ca.now + 86400,
            sia=args["sia"],
            ip_addr_blocks=args["ip_addr_blocks"],
            as_identifiers=args["as_identifiers"],
        )
        ObjectSigner(ca.template, ca.key).sign(
            "manifest", [req], signing_time=ca.now, key_pool=pool
        )
        one_shot.append(time.perf_counter() - t0)
        # (Equal content of the two paths is tests/test_rpki_point.py's job.)
        assert _native.verify_signed_data(mft).status == 0
    inc, full = statistics.median(incremental), statistics.median(one_shot)
    return {
        "objects": objects,
        "crl_entries": revoked + repeats,
        "repeats": repeats,
        "incremental_ms_median": 1000 * inc,
        "incremental_ms_runs": [1000 * x for x in incremental],
        "one_shot_ms_median": 1000 * full,
        "speedup": full / inc,
        "goal_ms": 50,
        "manifest_bytes": len(mft),
        "crl_bytes": len(crl),
        "setup_s": setup_s,
        "peak_rss_kib": _peak_rss_kib(),
    }


def _one_shot_crl(ca: _Ca, entries: int, number: bytes) -> bytes:
    """The CRL of `entries` revocations built from columns, as crl_drafts does."""
    serials = np.zeros((entries, 20), np.uint8)
    ks = np.arange(entries, dtype=np.uint64)
    for b in range(8):
        serials[:, 19 - b] = (ks >> np.uint64(8 * b)).astype(np.uint8)
    serials[:, 12] = 1  # any distinct serials; the cost is the same
    return _native.crl_drafts(
        ca.cert,
        serials,
        np.full(entries, ca.now, np.int64),
        np.full(entries, REASON_NONE, np.uint8),
        crl_numbers=[number],
        this_update=ca.now,
        next_update=ca.now + 86400,
        signature_algorithm="rsa-pkcs1-sha256",
        invalidity_dates=np.full(entries, INVALIDITY_NONE, np.int64),
    ).sign(ca.key)[0]


@click.command("rpki")
@click.option("--reissue", is_flag=True, help="The manifest + CRL re-issue goal instead.")
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="ROAs to publish (each ~75 ms of RSA keygen per core).",
)
@click.option(
    "--objects",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Files at the publication point (--reissue).",
)
@click.option(
    "--revoked",
    type=click.IntRange(min=0),
    default=1_000,
    show_default=True,
    help="CRL entries at the publication point (--reissue).",
)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for keygen and signing (default: every core).",
)
@click.option(
    "--rpkimancer",
    "rpkimancer",
    default=None,
    metavar="PYTHON",
    help="An interpreter with rpkimancer installed: measure it too (publish).",
)
@click.option(
    "--rpkimancer-n",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="ROAs rpkimancer makes (about 1 s of CPU each).",
)
@click.option(
    "--raw-n",
    type=click.IntRange(min=1),
    default=None,
    help="Objects the raw keygen + sign yardstick is measured on, scaled to --n "
    "(default: --n). For runs of 100,000 ROAs.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
def command(reissue: bool, n: int, objects: int, revoked: int, repeats: int,
            threads: int | None, rpkimancer: str | None, rpkimancer_n: int,
            raw_n: int | None, json_out: str | None) -> None:  # fmt: skip
    """RPKI publishing and re-issue speed (issue 18 §6), JSON on stdout."""
    if reissue:
        result = run_reissue(objects, revoked, repeats)
    else:
        result = run_publish(n, repeats, threads, rpkimancer, rpkimancer_n, raw_n)
    # The command that repeats this run, from the values used (defaults included).
    if reissue:
        args = f"--reissue --objects {objects} --revoked {revoked} --repeats {repeats}"
    else:
        args = f"--n {n} --repeats {repeats}" + (f" --threads {threads}" if threads else "")
        if raw_n is not None:
            args += f" --raw-n {raw_n}"
        if rpkimancer:
            args += f" --rpkimancer {rpkimancer} --rpkimancer-n {rpkimancer_n}"
    result["command"] = f"porthos bench rpki {args}"
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    text = json.dumps(result, indent=2)
    if json_out:
        Path(json_out).write_text(text + "\n")
    sys.stdout.write(text + "\n")
