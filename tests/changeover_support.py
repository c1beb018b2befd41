"""Helpers shared by the changeover tests (test_rollover, test_termination,
test_key_export): the CLI in process and in its own process (SoftHSM2 reads one
configuration per process), ``openssl verify``, the generation-1 CA names and the PINs
of the SoftHSM2 tokens."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from interop import to_pem
from porthos.cli.main import main
from porthos.cpcps.loader import load_profile_set

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")

GEN1 = ("root-ca-1", "ha-device-ca-1", "sa-device-ca-1", "infrastructure-ca-1", "user-ca-1")
GEN2 = tuple(load_profile_set("porthos", "prod").generations.ca_name(n, 2) for n in GEN1)


def cli(args: Sequence[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def issue(ws: Path, profile: str, pem: str, out: Path) -> bytes:
    req = out.with_suffix(".req.pem")
    req.write_text(pem)
    code, output = cli(
        ["issue", "-w", str(ws), "-p", profile, "--csr", str(req), "--out", str(out)]
    )
    assert code == 0, output
    return x509.load_pem_x509_certificate(out.read_bytes()).public_bytes(Encoding.DER)


def openssl_verify(
    tmp: Path,
    anchor: bytes,
    untrusted: Sequence[bytes],
    leaf: bytes,
    crls: Sequence[Path],
    *,
    crl_check: str = "-crl_check_all",
) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    (tmp / "anchor.pem").write_bytes(to_pem(anchor))
    (tmp / "leaf.pem").write_bytes(to_pem(leaf))
    cmd = [OPENSSL, "verify", "-x509_strict", "-CAfile", str(tmp / "anchor.pem")]
    if untrusted:
        (tmp / "untrusted.pem").write_bytes(b"".join(to_pem(c) for c in untrusted))
        cmd += ["-untrusted", str(tmp / "untrusted.pem")]
    if crls:
        (tmp / "crls.pem").write_bytes(b"".join(to_pem(p.read_bytes(), "X509 CRL") for p in crls))
        cmd += [crl_check, "-CRLfile", str(tmp / "crls.pem")]
    cmd.append(str(tmp / "leaf.pem"))
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def openssl_ok(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == 0 and proc.stdout.rstrip().endswith(": OK")


def softhsm_installed() -> bool:
    from porthos import hsm
    from porthos.exceptions import HsmNotFoundError

    try:
        hsm.find_module()
    except HsmNotFoundError:
        return False
    return True


ROOT_PIN_HALVES = (b"half-r0ll", b"half-0ver")
USER_PIN = b"user-5c0ffee1"
SO_PIN = b"so-8badf00d"


def hsm_env() -> dict[str, str]:
    """This environment for a porthos subprocess that finds its SoftHSM2 store itself
    (no inherited SOFTHSM2_CONF) and imports this checkout's porthos."""
    import os

    import porthos

    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)
    env["PYTHONPATH"] = str(Path(porthos.__file__).parent.parent)
    return env


def write_pin_files(tmp_path: Path) -> None:
    """so.pin, user.pin, alice.pin and bob.pin (the two root PIN halves) in tmp_path."""
    for name, pin in (
        ("so", SO_PIN),
        ("user", USER_PIN),
        ("alice", ROOT_PIN_HALVES[0]),
        ("bob", ROOT_PIN_HALVES[1]),
    ):
        (tmp_path / f"{name}.pin").write_bytes(pin + b"\n")


def run_porthos(
    args: Sequence[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # Own processes: SoftHSM2 reads SOFTHSM2_CONF once per process (porthos.hsm).
    import sys

    return subprocess.run(
        [sys.executable, "-c", "from porthos.cli.main import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


#: Run in its own process with SOFTHSM2_CONF of the successor: every object of the
#: token (label, class, attributes), and for each private key a signature over a
#: digest made INSIDE the token, and whether CKA_VALUE can be read.
INSPECT_TOKEN = """
import json, sys, pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass
lib = pkcs11.lib(sys.argv[1])
digest = bytes.fromhex(sys.argv[4])
out = []
with lib.get_token(token_label=sys.argv[2]).open(user_pin=sys.argv[3]) as s:
    for o in list(s.get_objects()):
        item = {"label": o.label, "class": int(o[Attribute.CLASS])}
        if o[Attribute.CLASS] == ObjectClass.PRIVATE_KEY:
            for a in ("SENSITIVE", "EXTRACTABLE", "NEVER_EXTRACTABLE", "PRIVATE", "TOKEN",
                      "SIGN", "DECRYPT", "UNWRAP", "DERIVE", "LOCAL"):
                item[a] = bool(o[getattr(Attribute, a)])
            try:
                o[Attribute.VALUE]
                item["value_readable"] = True
            except pkcs11.AttributeSensitive:
                item["value_readable"] = False
            item["sig"] = o.sign(digest, mechanism=Mechanism.ECDSA).hex()
        out.append(item)
print(json.dumps(out))
"""


@dataclass
class Successor:
    dir: Path
    env: dict[str, str]
    module: str

    def objects(self, token: str, pin: bytes, digest: bytes = bytes(32)) -> list[dict]:
        import json
        import sys

        r = subprocess.run(
            [sys.executable, "-c", INSPECT_TOKEN, self.module, token, pin.decode(), digest.hex()],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout))
