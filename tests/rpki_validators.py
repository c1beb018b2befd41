"""Run rpki-client 8.2 and FORT 1.5.4 offline over a porthos RPKI publication
(``D/rpki/repository/<host>/<module>`` — a symlink to the current version — and
``D/rpki/<tal>.tal``), as tests/test_rpki_client.py runs them: a world-readable
copy of the tree (rpki-client drops root to its own user and cleans its cache), the
module symlink kept as a symlink so that both validators follow it, the TA
certificate also under ``ta/<tal name>/`` where rpki-client 8 looks for it offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

Vrp = tuple[int, str, int]


def _copy(rpki_dir: Path) -> tuple[Path, Path]:
    root = Path(tempfile.mkdtemp(prefix="porthos-rpki-rp-", dir="/tmp"))
    repo = root / "repo"
    shutil.copytree(rpki_dir / "repository", repo, symlinks=True)
    tal = next(rpki_dir.glob("*.tal"))
    shutil.copy(tal, root / tal.name)
    for d, _, names in os.walk(root):
        os.chmod(d, 0o777)
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p):
                os.chmod(p, 0o666)
    return root, root / tal.name


def _ta_uri_path(tal: Path) -> str:
    uri = next(line for line in tal.read_text().splitlines() if line.startswith("rsync://"))
    return uri.removeprefix("rsync://")


def rpki_client(rpki_dir: Path) -> tuple[set[Vrp], str]:
    root, tal = _copy(rpki_dir)
    try:
        cache = root / "repo"
        ta_dir = cache / "ta" / tal.stem
        ta_dir.mkdir(parents=True)
        rel = _ta_uri_path(tal)
        shutil.copy(cache / rel, ta_dir / Path(rel).name)
        os.chmod(ta_dir, 0o777)
        os.chmod(cache / "ta", 0o777)
        (root / "out").mkdir(mode=0o777)
        os.chmod(root / "out", 0o777)
        run = subprocess.run(
            ["rpki-client", "-n", "-j", "-d", str(cache), "-t", str(tal), str(root / "out")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        doc = json.loads((root / "out" / "json").read_text())
        return {(r["asn"], r["prefix"], r["maxLength"]) for r in doc["roas"]}, run.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fort(rpki_dir: Path) -> tuple[set[Vrp], list[str]]:
    """(VRPs, validation log lines other than FORT's notice that it reads the TA
    certificate from local files)."""
    root, tal = _copy(rpki_dir)
    try:
        csv = root / "vrps.csv"
        run = subprocess.run(
            ["fort", "--mode=standalone", "--tal", str(tal),
             "--local-repository", str(root / "repo"), "--rsync.enabled=false",
             "--http.enabled=false", "--validation-log.enabled=true",
             "--validation-log.level=warning", "--output.roa", str(csv)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        log = [
            line
            for line in (run.stdout + run.stderr).splitlines()
            if "[Validation]" in line
            and "Looking for the TA certificate at the local files" not in line
        ]
        vrps = set()
        if csv.exists():
            for row in csv.read_text().splitlines()[1:]:
                asn, prefix, max_len = row.split(",")
                vrps.add((int(asn.removeprefix("AS")), prefix, int(max_len)))
        return vrps, log
    finally:
        shutil.rmtree(root, ignore_errors=True)


def expected_vrps(csv: Path) -> set[Vrp]:
    out = set()
    for row in csv.read_text().splitlines()[1:]:
        asn, prefix, max_len = row.split(",")
        out.add((int(asn.removeprefix("AS")), prefix, int(max_len)))
    return out
