"""Whole-process start-up of the CLI doors (issue 20 §1): ``porthos --help`` and ``porthos
crl inspect`` of a large CRL, medians of interleaved runs, optionally against another
checkout of the package in the same run.

    .venv/bin/python benches/startup.py CRL_FILE [--against OTHER/python] [--runs 11]

CRL_FILE: e.g. the 1,000,000-entry CRL that ``porthos crl build`` writes from
``benches/crl_publish_1m.py``'s data or from a CSV. ``--against``: the ``python/``
folder of an older checkout (its ``_native`` extension copied in), run in turn with this
one so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _run(python_path: str, args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=python_path)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", *args], capture_output=True, check=True, env=env
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("crl", type=Path)
    parser.add_argument("--against", default=None)
    parser.add_argument("--runs", type=int, default=11)
    opts = parser.parse_args()
    here = str(Path(__file__).resolve().parent.parent / "python")
    for args in (["--help"], ["crl", "inspect", str(opts.crl)]):
        mine, other = [], []
        for _ in range(opts.runs):
            mine.append(_run(here, args))
            if opts.against:
                other.append(_run(opts.against, args))
        line = f"porthos {' '.join(args[:2])}: median {statistics.median(mine):.3f} s"
        if other:
            o = statistics.median(other)
            line += f"; --against median {o:.3f} s ({o / statistics.median(mine):.2f}x)"
        print(line)


if __name__ == "__main__":
    main()
