"""The RRDP files that rust/porthos-core/tests/rpki_crate.rs parses with the `rpki`
crate: three serials of python/porthos/workspace/rrdp.py's output over fixed objects,
as the writer leaves them (notification, current and previous snapshot, two deltas).

    PYTHONPATH=python python tools/make_rrdp_fixture.py
        # rewrites rust/porthos-core/tests/data/rrdp/

tests/test_rrdp.py runs `generations()` through the writer again and checks the
committed files are what it writes today (session id and random folders aside).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from porthos.workspace.rrdp import write_rrdp

BASE = "https://rrdp.example.net/rrdp"
OUT = Path(__file__).resolve().parents[1] / "rust" / "porthos-core" / "tests" / "data" / "rrdp"


def _uri(name: str) -> str:
    return f"rsync://rpki.example.net/repo/ca/{name}"


def generations() -> list[dict[str, bytes]]:
    """Serial 1: five objects; 2: one replaced, one withdrawn, one new; 3: a manifest
    replaced and a ROA added."""
    one = {_uri(f"r{i}.roa"): bytes([0x30, i]) * (40 + i) for i in range(5)}
    one[_uri("ca.mft")] = b"mft-1" * 30
    two = dict(one)
    two[_uri("r1.roa")] = b"r1-new" * 20
    del two[_uri("r2.roa")]
    two[_uri("r9.roa")] = b"r9" * 50
    three = dict(two)
    three[_uri("ca.mft")] = b"mft-3" * 30
    three[_uri("r10.roa")] = b"r10" * 33
    return [one, two, three]


def write(out: Path) -> None:
    for objects in generations():
        write_rrdp(out, objects, base_uri=BASE)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    shutil.rmtree(target, ignore_errors=True)
    write(target)
    (target / ".rrdp-state.json").unlink()  # the writer's memory, not an RRDP file
