"""Secrets on disk (issue 20 §3): a PIN file others can read is warned about in one
line, and init into an existing keys folder makes that folder 0700."""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from porthos.cli.main import main
from porthos.hsm.pins import PinFileWarning, read_pin


def test_world_readable_pin_file_warns(tmp_path: Path) -> None:
    f = tmp_path / "pin"
    f.write_text("1234\n")
    f.chmod(0o644)
    with pytest.warns(PinFileWarning, match="chmod 600"):
        assert read_pin(f, "PIN").reveal() == b"1234"
    f.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_pin(f, "PIN")


def test_init_into_existing_keys_folder_sets_0700(tmp_path: Path) -> None:
    work = tmp_path / "w"
    (work / "keys").mkdir(parents=True, mode=0o777)
    (work / "keys").chmod(0o777)
    r = CliRunner().invoke(main, ["init", "--workdir", str(work)])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((work / "keys").stat().st_mode) == 0o700
    for key in (work / "keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_pin_prompt_at_end_of_input_is_one_clear_error() -> None:
    """No terminal and nothing on standard input (a script, CI): the PIN prompt ends in
    KeyMaterialError naming --pin-file, not in "unexpected EOFError (a porthos bug)".
    A real process without a controlling terminal, so getpass reads standard input."""
    import subprocess
    import sys

    code = (
        "from porthos.exceptions import KeyMaterialError\n"
        "from porthos.hsm.pins import read_pin\n"
        "try:\n"
        "    read_pin(None, 'PIN of the token')\n"
        "except KeyMaterialError as exc:\n"
        "    print(exc.code, exc)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("key PIN of the token: no PIN given (end of input)"), r.stdout
    assert "--pin-file" in r.stdout
