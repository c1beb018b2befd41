"""``porthos bench issue --cpcps PKI --profile P`` (issue 16 §5): any profile, its CA's own
key, against bare signing with that key (``_native.bench_sign_key``) and pyca."""

from __future__ import annotations

from pathlib import Path

import pytest
from carillon_support import variant
from click.testing import CliRunner
from porthos import _native
from porthos.bench import issue as bench
from porthos.cli.main import main
from porthos.exceptions import BatchArgumentError


def test_bench_sign_key_signs_with_the_key_it_is_given() -> None:
    rsa = _native.SoftwareKey.generate("rsa-2048")
    ec = _native.SoftwareKey.generate("ec-p256")
    n = 40
    t_rsa, t_ec = _native.bench_sign_key(rsa, n), _native.bench_sign_key(ec, n)
    assert t_rsa > 0 and t_ec > 0
    # RSA-2048 private-key operations are several times slower than P-256 signatures:
    # the yardstick follows the key, it is not a fixed P-256 figure.
    assert t_rsa > 2 * t_ec
    # The same n signatures spread over a pool (every core, or two threads).
    assert _native.bench_sign_key(rsa, n, None) > 0
    assert _native.bench_sign_key(rsa, n, 2) > 0
    with pytest.raises(BatchArgumentError) as info:
        _native.bench_sign_key(rsa, n, 0)
    assert info.value.code == "batch-argument"


def test_bench_issue_for_a_carillon_profile(tmp_path: Path) -> None:
    toml = variant(tmp_path / "cpcps")  # RSA-2048 signing CAs: a quick setup
    report = bench.run(n=12, repeats=1, cpcps=str(toml), profile="piv-i-identity")
    assert report["profile"] == "piv-i-identity"
    assert report["ca_key"].startswith("software rsa-2048, rsa-pkcs1-sha256")
    for name in (*bench.VARIANTS, "bare_sign", "bare_sign_all"):
        assert report["variants"][name]["median_s"] > 0, name
    for ratio in ("porthos_1t_over_bare_sign", "porthos_all_over_bare_sign_all"):
        assert report["ratios"][ratio] is not None and report["ratios"][ratio] > 0
    assert "porthos_1t_within_1_1_of_bare_sign" in report["targets"]


def test_bench_issue_cpcps_needs_a_profile() -> None:
    r = CliRunner().invoke(main, ["bench", "issue", "--n", "5", "--cpcps", "carillon"])
    assert r.exit_code == 2 and "--cpcps and --profile go together" in r.output
    with pytest.raises(ValueError, match="go together"):
        bench.run(n=5, repeats=1, profile="piv-i-identity")
