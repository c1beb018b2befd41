"""Time and peak RSS of a CRL build against N, porthos vs pyca/cryptography, as JSON
and a PNG plot. Each point is one subprocess run (porthos.bench.crl worker).

    .venv/bin/python benches/crl_sweep.py --out bench-results/crl-sweep \
        --porthos 10000,100000,1000000,10000000 --pyca 10000,100000,1000000

pyca stops at 1 M by default: at 10 M it needs minutes and several GB of RSS
(12 s / 540 MB at 1 M, linear), which this shared machine cannot spare.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from porthos.bench import crl as bench_crl  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench-results/crl-sweep")
    ap.add_argument("--porthos", default="10000,100000,1000000,10000000")
    ap.add_argument("--pyca", default="10000,100000,1000000")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    points: dict[str, list[dict[str, float]]] = {"porthos": [], "pyca": []}
    for variant, ns in (("porthos", args.porthos), ("pyca", args.pyca)):
        for n in [int(x) for x in ns.split(",") if x]:
            r = bench_crl.run(n=n, repeats=1, variants=[variant])["summary"][variant]
            points[variant].append({"n": n, **r})
            print(variant, n, r, flush=True)
    Path(f"{out}.json").write_text(json.dumps(points, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for variant, style in (("porthos", "o-"), ("pyca", "s--")):
        pts = points[variant]
        if not pts:
            continue
        ns = [p["n"] for p in pts]
        ax1.loglog(ns, [p["median_s"] for p in pts], style, label=variant)
        ax2.loglog(ns, [p["peak_rss_mib"] for p in pts], style, label=f"{variant} peak RSS")
    pp = points["porthos"]
    if pp:
        ax2.loglog(
            [p["n"] for p in pp],
            [p["der_mib"] + p["input_columns_mib"] for p in pp],
            ":",
            label="DER + input columns",
        )
    ax1.set_xlabel("entries")
    ax1.set_ylabel("build + sign, seconds")
    ax2.set_xlabel("entries")
    ax2.set_ylabel("MiB")
    ax1.set_title("CRL build time (P-256, reasonCode on every entry)")
    ax2.set_title("peak RSS of the process")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(f"{out}.png", dpi=110)
    print(f"wrote {out}.json and {out}.png")


if __name__ == "__main__":
    main()
