"""Input files are read with a cap, PEM is split in linear time, and every hostile file
ends in one line and exit 2 (issue 20 §3)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from porthos.cli.main import main
from porthos.exceptions import InputError
from porthos.issuance.csr_input import split_csr_pem
from porthos.issuance.inputs import DEFAULT_MAX_INPUT_BYTES, max_input_bytes, read_input


def test_read_input_within_and_over_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"a" * 100)
    monkeypatch.setenv("PORTHOS_MAX_INPUT_BYTES", "100")
    assert read_input(f) == b"a" * 100
    f.write_bytes(b"a" * 101)
    with pytest.raises(InputError, match="input cap") as info:
        read_input(f, "--csr")
    assert info.value.code == "input" and "--csr" in str(info.value)


def test_endless_stream_costs_the_cap_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTHOS_MAX_INPUT_BYTES", str(3 << 20))
    with pytest.raises(InputError, match="input cap"):
        read_input("/dev/zero")


def test_bad_cap_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_input_bytes() == DEFAULT_MAX_INPUT_BYTES or "PORTHOS_MAX_INPUT_BYTES" in os.environ
    with pytest.raises(InputError, match="is a folder"):
        read_input(tmp_path)
    monkeypatch.setenv("PORTHOS_MAX_INPUT_BYTES", "lots")
    with pytest.raises(InputError, match="positive integer"):
        max_input_bytes()


def _split_seconds(n: int) -> float:
    data = b"-----BEGIN CERTIFICATE REQUEST-----\n" * n + b"-----END CERTIFICATE REQUEST-----\n"
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        items = split_csr_pem(data)
        best = min(best, time.perf_counter() - t)
    assert len(items) == n and all(i.der is None for i in items)
    return best


def test_pem_split_is_linear_on_begin_lines_without_end() -> None:
    """40,000 BEGIN lines and one END took 20 s (quadratic). Four times the input must
    cost about four times the time; a quadratic split costs sixteen."""
    small, large = _split_seconds(10_000), _split_seconds(40_000)
    assert large < 10 * max(small, 1e-3), (small, large)


@pytest.mark.parametrize(
    ("content", "command"),
    [
        (b"\xff\xfe\x00garbage", ["verify-csrs"]),
        (b"", ["verify-csrs"]),
        (b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
         ["verify-csrs"]),
        (b"\xff\xfe not utf-8, not a CRL", ["crl", "inspect"]),
        (b"0\x82\xff\xff truncated DER", ["crl", "inspect"]),
    ],
)  # fmt: skip
def test_hostile_files_one_line_exit_2(tmp_path: Path, content: bytes, command: list[str]) -> None:
    f = tmp_path / "hostile"
    f.write_bytes(content)
    r = CliRunner().invoke(main, [*command, str(f)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_cli_input_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "big.pem"
    f.write_bytes(b"x" * 2000)
    monkeypatch.setenv("PORTHOS_MAX_INPUT_BYTES", "1000")
    r = CliRunner().invoke(main, ["verify-csrs", str(f)])
    assert r.exit_code == 2 and "input cap" in r.output


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ([2_000_000_000], "csrs[0]: expected bytes or str, got int"),
        ([b"0\x00", None], "csrs[1]: expected bytes or str, got NoneType"),
        (12, "got int"),
        ("requests.pem", "a file name?"),
    ],
)
def test_python_api_wrong_types_are_porthos_errors(arg: object, message: str) -> None:
    from porthos.exceptions import BatchArgumentError
    from porthos.issuance.csr_input import normalise_csr_input

    with pytest.raises(BatchArgumentError, match=re.escape(message)) as info:
        normalise_csr_input(arg)  # type: ignore[arg-type]
    assert info.value.code == "batch-argument"


@pytest.mark.parametrize("threads", [0, -1, 1025, 10**30, 2.0, "4", True])
def test_thread_counts_bounded(threads: object) -> None:
    from porthos.exceptions import BatchArgumentError
    from porthos.issuance.verify import verify_csrs

    with pytest.raises(BatchArgumentError, match="threads") as info:
        verify_csrs([b"0\x00"], threads=threads)  # type: ignore[arg-type]
    assert info.value.code == "batch-argument"


def test_thread_bound_equals_the_native_one() -> None:
    from porthos import _native
    from porthos.issuance.threads import MAX_THREADS

    assert _native.MAX_THREADS == MAX_THREADS
    from porthos.exceptions import BatchArgumentError

    with pytest.raises(BatchArgumentError, match="threads"):
        _native.verify_csrs([b"0\x00"], threads=MAX_THREADS + 1)


def test_thread_counts_change_between_calls_and_survive_fork() -> None:
    """Counts may change from call to call on one thread (threads=1 on the calling
    thread, others in pools: threads.rs `place`), and a child forked after the
    parent's calls verifies on its own. The kept one-worker pool that other calls
    still use at threads=1: test_signers.py."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from forked import assert_finishes_in_forked_child
    from porthos import _native

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pool")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csrs = [csr.public_bytes(Encoding.DER)] * 3
    for threads in (1, 1, 2, 1, None, 1):
        status, _ = _native.verify_csrs(csrs, threads=threads)
        assert list(status) == [0, 0, 0]
    assert_finishes_in_forked_child(_native.verify_csrs, csrs, threads=1, timeout=30)


def test_one_thread_calls_run_on_the_calling_thread() -> None:
    """threads=1 parses, verifies, fills and signs on the calling thread, without a
    rayon worker (threads.rs `place`): no thread is started, and the verdicts equal the
    pool's, for a batch of more than one group of 1,024 with bad items at the group
    edges and in the middle of a run."""
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from porthos import _native

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "here")])
    good = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    der = good.public_bytes(Encoding.DER)
    forged = der[:-3] + bytes([der[-3] ^ 1]) + der[-2:]  # signature changed
    csrs = [der] * 2500
    bad = {0, 1023, 1024, 1030, 2047, 2048, 2499}
    for i in bad:
        csrs[i] = forged if i % 2 else b"0\x00"
    pooled = _native.parse_csrs(csrs, threads=2)
    seen: dict[str, Any] = {}

    def one_thread() -> None:
        before = set(os.listdir("/proc/self/task"))
        seen["status"] = list(_native.parse_csrs(csrs, threads=1).status)
        seen["verified"] = list(_native.verify_csrs(csrs, threads=1)[0])
        seen["started"] = set(os.listdir("/proc/self/task")) - before

    t = threading.Thread(target=one_thread)  # a new thread: no pool kept from before
    t.start()
    t.join()
    assert seen["status"] == list(pooled.status)
    assert seen["verified"] == list(pooled.status)
    assert {i for i, code in enumerate(seen["status"]) if code} == bad
    assert seen["started"] == set()


def test_cli_absurd_thread_count_one_line(tmp_path: Path) -> None:
    f = tmp_path / "r.der"
    f.write_bytes(b"0\x00")
    r = CliRunner().invoke(main, ["verify-csrs", str(f), "--threads", "100000"])
    assert r.exit_code == 2 and "threads" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("value", [None, 12, 10**30, b"x", [1], {"a": 1}, 1.5])
def test_public_api_wrong_types_are_porthos_errors(value: object) -> None:
    """Issue 20 §3: the public functions give a PorthosError for a wrong argument, never
    TypeError, OverflowError or AttributeError, the native classes included."""
    import porthos

    calls = [
        lambda: porthos.verify_csrs(value),
        lambda: porthos.verify_signatures(value, [b""], [b""], [b""]),
        lambda: porthos.verify_signatures("ecdsa-sha256", value, [b""], [b""]),
        lambda: porthos.parse_csrs(value),
        lambda: porthos.generate_serials(value),
        lambda: porthos.generate_serials(2, value),
        lambda: porthos.load_profile_set(value),
        lambda: porthos.Workspace.open(value),
        lambda: porthos.SoftwareKey.generate(value),
        lambda: porthos.SoftwareKey.from_pkcs8(value),
        lambda: porthos.SoftwareKey.generate("ec-p256").sign(value),
        lambda: porthos.Template.for_issuer(value, b"", "ecdsa-sha256"),
        lambda: porthos.Template(value, b"", None, "ecdsa-sha256"),
        lambda: porthos.parse_csrs([], threads=value),
    ]
    for call in calls:
        try:
            call()
        except porthos.PorthosError:
            pass


def test_generate_serials_checked() -> None:
    import porthos

    assert porthos.generate_serials(3).shape == (3, 16)
    from porthos.exceptions import BatchArgumentError

    with pytest.raises(BatchArgumentError, match="outside"):
        porthos.generate_serials(10**30)
    with pytest.raises(BatchArgumentError, match="outside"):
        porthos.generate_serials(2, 4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.SoftwareKey.generate(1), "key_type: expected str, got int"),
        (
            lambda p: p.SoftwareKey.generate("ec-p256", 5),
            "signature_algorithm: expected str, got int",
        ),
        (lambda p: p.SoftwareKey.from_pkcs8("key.p8"), "der: expected bytes, got str"),
        (
            lambda p: p.SoftwareKey.generate("ec-p256").sign(None),
            "message: expected bytes, got NoneType",
        ),
        (
            lambda p: p.Template.for_issuer("{}", 2, "ecdsa-sha256"),
            "issuer_cert_der: expected bytes, got int",
        ),
        (
            lambda p: p.Template("{}", b"", "kid", "ecdsa-sha256"),
            "issuer_key_id: expected bytes, got str",
        ),
        (lambda p: p.parse_csrs([], verify=1), "verify: expected True or False, got int"),
        (lambda p: p.parse_csrs([], threads=-1), "threads: -1 is outside 1..1024"),
        (lambda p: p.parse_csrs([], threads=10**5000), "threads: that int is outside"),
        (lambda p: p.parse_csrs([b"0\x00"]).detail("0"), "index: expected an int, got str"),
        (lambda p: p._native.bench_sign_key("key", 1), "signer: expected a SoftwareKey, got str"),
    ],
)
def test_native_classes_name_the_wrong_argument(
    call: Callable[[Any], object], message: str
) -> None:
    """pyo3's own extraction raises TypeError/OverflowError; the public native API reads its
    scalar arguments itself (rust/porthos-py/src/typed_args.rs) and names the argument."""
    import porthos
    from porthos.exceptions import BatchArgumentError

    with pytest.raises(BatchArgumentError, match=re.escape(message)) as info:
        call(porthos)
    assert info.value.code == "batch-argument"
