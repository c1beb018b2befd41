"""matplotlib is the optional ``plot`` extra: nothing but a requested bench plot loads it,
and a plot asked for without it is refused up front in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from porthos.bench import can_plot
from porthos.bench import hsm as bench_hsm
from porthos.cli.main import main
from porthos.exceptions import MissingExtraError


def test_importing_porthos_and_every_bench_does_not_load_matplotlib() -> None:
    # A fresh interpreter: this test process may have loaded matplotlib elsewhere.
    code = (
        "import sys, porthos, porthos.cli.main\n"
        "from porthos import *\n"
        "from porthos.bench import crl, hsm, ifma, issue, verify\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')\n"
        "assert not loaded, loaded\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_bench_without_plots_runs_without_matplotlib(tmp_path: Path) -> None:
    # `sys.modules[name] = None` makes `import matplotlib` fail as if it were absent.
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "from porthos.bench import can_plot, issue\n"
        "assert not can_plot()\n"
        f"issue.run(n=8, repeats=1, threads=None, json_out={str(tmp_path / 'i.json')!r})\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "i.json").exists()


def test_a_plot_without_matplotlib_is_refused_before_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not can_plot()
    # No module, no token: the refusal must come before anything touches the HSM.
    with pytest.raises(MissingExtraError) as err:
        bench_hsm.run(
            module="/nonexistent/libpkcs11.so",
            softhsm_dir=None,
            sessions=[1],
            alg="p256",
            seconds=0.2,
            repeats=1,
            plot=tmp_path / "p.png",
        )
    assert err.value.code == "missing-extra"
    # The message is the behaviour here: it must name the extra to install.
    assert "porthos[plot]" in str(err.value)

    result = CliRunner().invoke(
        main,
        ["bench", "hsm", "--module", "/nonexistent/libpkcs11.so", "--plot", "p.png"],
    )
    assert result.exit_code == 2
    assert "[missing-extra]" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
