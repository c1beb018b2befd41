"""`porthos bench ifma`: P-256 verification, IFMA kernel vs aws-lc-rs vs OpenSSL.

Runs, in one invocation and at the same `nice` level:

* `openssl speed -seconds S ecdsap256` (verify column), single process and
  `-multi 2`;
* the Rust bench binary `porthos-mb-bench` (rust/porthos-mb/src/bin/bench.rs):
  porthos's aws-lc-rs fallback (key parse + verify, as in `check_csrs`),
  aws-lc-rs with keys parsed once, and the IFMA kernel at several batch sizes;
  single thread, then two processes at once for "both cores".

Every figure is a median over `repeats`, every comparison a ratio measured in
the same run (the machine is shared, absolute rates are noisy). The JSON is
self-describing: it records the commands.
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[3]
BINARY = ROOT / "target" / "release" / "porthos-mb-bench"


def _build() -> None:
    cmd = ["cargo", "build", "--release", "-p", "porthos-mb", "--bin", "porthos-mb-bench"]
    subprocess.run(cmd, cwd=ROOT, check=True)


def _openssl(seconds: int, multi: int) -> float:
    cmd = ["openssl", "speed", "-seconds", str(seconds)]
    if multi > 1:
        cmd += ["-multi", str(multi)]
    cmd.append("ecdsap256")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # "256 bits ecdsa (nistp256)   0.0000s   0.0001s  31919.0  11194.9"
    for line in out.splitlines():
        if "nistp256" in line:
            return float(line.split()[-1])
    raise RuntimeError(f"no nistp256 line in openssl speed output: {out!r}")


def _porthos(batches: str, seconds: float, procs: int) -> list[dict[str, Any]]:
    cmd = [str(BINARY), "--batches", batches, "--repeats", "1", "--seconds", str(seconds)]
    running = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    results = []
    for p in running:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{cmd} exited {p.returncode}")
        results.append(json.loads(out))
    return results


def run(
    batches: str = "8,64,1024,100000",
    repeats: int = 3,
    seconds: int = 5,
    build: bool = True,
    json_out: str | None = None,
) -> dict[str, Any]:
    if build or not BINARY.exists():
        _build()
    single: dict[str, list[float]] = {}
    dual: dict[str, list[float]] = {}

    def add(d: dict[str, list[float]], k: str, v: float) -> None:
        d.setdefault(k, []).append(v)

    for _ in range(repeats):
        add(single, "openssl", _openssl(seconds, 1))
        (r,) = _porthos(batches, float(seconds), 1)
        add(single, "porthos_fallback", r["fallback_aws_lc_rs_per_s"])
        add(single, "aws_lc_rs_preparsed", r["aws_lc_rs_preparsed_keys_per_s"])
        for row in r["ifma"]:
            if row["ifma_per_s"] is not None:
                add(single, f"ifma_batch_{row['batch']}", row["ifma_per_s"])
        add(dual, "openssl", _openssl(seconds, 2))
        both = _porthos("1024", float(seconds), 2)
        add(dual, "porthos_fallback", sum(x["fallback_aws_lc_rs_per_s"] for x in both))
        if both[0]["ifma"][0]["ifma_per_s"] is not None:
            add(dual, "ifma_batch_1024", sum(x["ifma"][0]["ifma_per_s"] for x in both))
    med_s = {k: statistics.median(v) for k, v in single.items()}
    med_d = {k: statistics.median(v) for k, v in dual.items()}

    def paired(samples: dict[str, list[float]]) -> dict[str, float]:
        # Median of per-repeat ratios: each pair was measured back to back, so
        # load that changes between repeats cancels better than in a ratio of
        # medians.
        out = {}
        for k, v in samples.items():
            if k.startswith("ifma"):
                for peer in ("openssl", "porthos_fallback"):
                    pairs = [a / b for a, b in zip(v, samples[peer], strict=True)]
                    out[f"{k}_vs_{peer}"] = statistics.median(pairs)
        return out

    def ratios(med: dict[str, float]) -> dict[str, float]:
        out = {}
        for k, v in med.items():
            if k.startswith("ifma"):
                out[f"{k}_vs_openssl"] = v / med["openssl"]
                out[f"{k}_vs_porthos_fallback"] = v / med["porthos_fallback"]
                if "aws_lc_rs_preparsed" in med:
                    out[f"{k}_vs_aws_lc_rs_preparsed"] = v / med["aws_lc_rs_preparsed"]
        return out

    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result: dict[str, Any] = {
        "bench": "P-256 ECDSA verify, IFMA kernel vs aws-lc-rs vs openssl speed",
        "unit": "verifications per second (median of repeats)",
        "repeats": repeats,
        "commands": {
            "openssl_single": f"openssl speed -seconds {seconds} ecdsap256",
            "openssl_both_cores": f"openssl speed -seconds {seconds} -multi 2 ecdsap256",
            "porthos_single": f"{BINARY} --batches {batches} --repeats 1 --seconds {seconds}",
            "porthos_both_cores": f"2 x {BINARY} --batches 1024 --repeats 1 --seconds {seconds}",
        },
        "openssl_version": subprocess.run(
            ["openssl", "version"], check=False, capture_output=True, text=True
        ).stdout.strip(),
        "cpu": _cpu(),
        "single_thread": {
            "median": med_s,
            "ratios": ratios(med_s),
            "paired_ratios": paired(single),
            "samples": single,
        },
        "both_cores": {
            "median": med_d,
            "ratios": ratios(med_d),
            "paired_ratios": paired(dual),
            "samples": dual,
        },
        "peak_rss_children_kib": rss_kib,
        "targets": {
            "ifma_vs_openssl_single_batch64_ge_3.0": paired(single).get(
                "ifma_batch_64_vs_openssl", 0.0
            )
            >= 3.0,
            "ifma_vs_fallback_single_batch64_ge_1.5": paired(single).get(
                "ifma_batch_64_vs_porthos_fallback", 0.0
            )
            >= 1.5,
        },
    }
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    m = re.search(r"model name\s*:\s*(.*)", text)
    return m.group(1) if m else "unknown"


@click.command("ifma")
@click.option("--batches", default="8,64,1024,100000", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seconds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--no-build", is_flag=True, help="Use the existing bench binary.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
def command(
    batches: str, repeats: int, seconds: int, no_build: bool, json_out: str | None
) -> None:
    """P-256 verify: IFMA kernel vs aws-lc-rs vs openssl speed (JSON on stdout)."""
    result = run(batches, repeats, seconds, build=not no_build, json_out=json_out)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
