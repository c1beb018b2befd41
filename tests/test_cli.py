"""The porthos command: exit codes 0 / 3 / 2, output files, the JSON report."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import porthos.cli
import pytest
from click.testing import CliRunner, Result
from conftest import CsrFactory
from cryptography import x509
from porthos.cli.main import main
from porthos.workspace.workspace import Workspace


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("cli") / "ws"
    result = CliRunner().invoke(main, ["init", "--workdir", str(w), "--env", "nonprod"])
    assert result.exit_code == 0, result.output
    return w


def test_init_prints_software_keys_and_the_ca_table(initialised: Path) -> None:
    # A second init on the same directory is refused (exit 2, no traceback).
    result = CliRunner().invoke(main, ["init", "--workdir", str(initialised)])
    assert result.exit_code == 2
    assert "already an initialised" in result.output
    # The stable code ends the line (escaped, so rich does not take it for markup).
    assert result.output.rstrip().endswith("[workspace]")
    assert "Traceback" not in result.output

    w = initialised.parent / "ws2"
    result = CliRunner().invoke(main, ["init", "--workdir", str(w)])
    assert result.exit_code == 0, result.output
    assert "software keys" in result.output and "HSM" in result.output
    for name in (
        "root-ca-1",
        "ha-device-ca-1",
        "sa-device-ca-1",
        "infrastructure-ca-1",
        "user-ca-1",
    ):
        assert name in result.output
        assert (w / "repository" / f"{name}.crt").is_file()
    assert "Porthos High Assurance Device CA 1" in result.output
    assert "repository/root-ca-1.crt" in result.output


def test_issue_all_good_exit_0(initialised: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    bundle = "".join(csr_factory.pem([("CN", f"host{i}.porthos.example")]) for i in range(3))
    (tmp_path / "in.pem").write_text(bundle)
    result = CliRunner().invoke(
        main,
        [
            "issue",
            "--workdir", str(initialised),
            "--profile", "tls-server",
            "--csr", str(tmp_path / "in.pem"),
            "--out", str(tmp_path / "out.pem"),
            "--report", str(tmp_path / "report.json"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    certs = x509.load_pem_x509_certificates((tmp_path / "out.pem").read_bytes())
    assert [
        c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value for c in certs
    ] == [
        "host0.porthos.example",
        "host1.porthos.example",
        "host2.porthos.example",
    ]
    issuer = x509.load_der_x509_certificate(
        (initialised / "repository" / "infrastructure-ca-1.crt").read_bytes()
    )
    for c in certs:
        c.verify_directly_issued_by(issuer)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["issued"] == 3 and report["rejected"] == []
    assert report["ca"] == "infrastructure-ca-1"


def test_issue_der_file(initialised: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    (tmp_path / "one.der").write_bytes(csr_factory.make([("CN", "Anna")]))
    result = CliRunner().invoke(
        main,
        ["issue", "-w", str(initialised), "-p", "user", "--csr", str(tmp_path / "one.der"),
         "--out", str(tmp_path / "out.pem")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(x509.load_pem_x509_certificates((tmp_path / "out.pem").read_bytes())) == 1


def test_issue_some_rejected_exit_3_and_report(
    initialised: Path, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    bundle = (
        csr_factory.pem([("CN", "123e4567-e89b-12d3-a456-426614174000")])
        + csr_factory.pem([("CN", "not-a-uuid")])
        + csr_factory.pem([("CN", "123e4567-e89b-12d3-a456-426614174001")], "ec-p384")
    )
    (tmp_path / "in.pem").write_text(bundle)
    result = CliRunner().invoke(
        main,
        ["issue", "-w", str(initialised), "-p", "ha-device", "--csr", str(tmp_path / "in.pem"),
         "--out", str(tmp_path / "out.pem"), "--report", str(tmp_path / "r.json"),
         "--threads", "1"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "1 of 3" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["profile"] == "ha-device" and report["requests"] == 3 and report["issued"] == 1
    assert [(r["index"], r["status"]) for r in report["rejected"]] == [
        (1, "SUBJECT_INVALID"),
        (2, "KEY_NOT_ALLOWED"),
    ]
    assert "UUID" in report["rejected"][0]["reason"]
    assert "§6.1.5" in report["rejected"][1]["reason"]
    assert len(x509.load_pem_x509_certificates((tmp_path / "out.pem").read_bytes())) == 1
    # The engine path says, on screen and in the trail, that no RA check ran (§3.2.3).
    assert "porthos ra issue-ha" in " ".join(result.output.split())
    from porthos import Workspace
    from porthos.store import audit

    with Workspace.open(initialised) as ws:
        (rec,) = [r for r in audit.records(ws.store) if r.event == "certificates.issued"][-1:]
        assert rec.details["identity_check"] == "none by porthos (porthos issue)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "web-server"], "unknown profile 'web-server'"),
        (["-p", "user", "--missing-csr"], "No such file"),
        (["-p", "user", "--empty-csr"], "neither a PEM bundle nor a DER CSR"),
        (["-p", "user", "--cert-pem"], "holds no CERTIFICATE REQUEST"),
        (["-p", "user", "--no-workspace"], "not an initialised"),
    ],
)
def test_issue_input_errors_exit_2(
    initialised: Path, csr_factory: CsrFactory, tmp_path: Path, args: list[str], message: str
) -> None:
    csr = tmp_path / "in.pem"
    csr.write_text(csr_factory.pem([("CN", "Anna")]))
    workdir = initialised
    if "--missing-csr" in args:
        csr = tmp_path / "absent.pem"
    if "--empty-csr" in args:
        csr.write_text("no PEM here\n")
    if "--cert-pem" in args:
        csr.write_text("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")
    if "--no-workspace" in args:
        workdir = tmp_path / "nowhere"
    argv = ["issue", "-w", str(workdir), "--csr", str(csr), "--out", str(tmp_path / "o.pem")]
    argv += [a for a in args if not a.startswith("--")]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.pem").exists()


def test_usage_error_exit_2(initialised: Path) -> None:
    result = CliRunner().invoke(main, ["issue", "-w", str(initialised)])
    assert result.exit_code == 2
    assert "Missing option" in result.output
    result = CliRunner().invoke(main, ["init", "-w", str(initialised), "--env", "staging"])
    assert result.exit_code == 2


def test_show_counts(initialised: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    (tmp_path / "u.pem").write_text(
        "".join(csr_factory.pem([("CN", f"user {i}")]) for i in range(4))
    )
    issue = ["issue", "-w", str(initialised), "-p", "user", "--csr", str(tmp_path / "u.pem"),
             "--out", str(tmp_path / "o.pem")]  # fmt: skip
    assert CliRunner().invoke(main, issue).exit_code == 0
    result = CliRunner().invoke(main, ["show", "--workdir", str(initialised)])
    assert result.exit_code == 0, result.output
    assert "Non-Prod Porthos Root CA 1" in result.output
    row = next(
        line for line in result.output.splitlines() if "user-ca-1" in line and " user " in line
    )
    from porthos import Workspace

    with Workspace.open(initialised) as ws:
        n = dict(((c, p), k) for c, p, k in ws.store.counts_by_ca_profile())[("user-ca-1", "user")]
    assert n >= 4 and f" {n} " in row
    missing = CliRunner().invoke(main, ["show", "--workdir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_demo_small(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "-w", str(tmp_path / "d"), "--count", "35"])
    assert result.exit_code == 0, result.output
    out = result.output
    for profile in ("ha-device", "sa-device", "tls-client", "tls-server", "user",
                    "aws-verification-ha", "aws-verification-sa"):  # fmt: skip
        row = next(line for line in out.splitlines() if line.strip("│ ").startswith(profile + " "))
        assert "verified" in row
    for status in ("KEY_NOT_ALLOWED", "SUBJECT_INVALID", "BAD_SIGNATURE", "MALFORMED"):
        assert status in out
    from porthos import Workspace

    # The lifecycle half (porthos.workflows.demo): RA issuance and refusals, three
    # revocations and a refused certificateHold, the due CRLs published, openssl
    # -crl_check_all telling a revoked certificate from a valid one, the audit chain.
    for text in ("single use", "may not request", "certificateHold is suspension",
                 "certificate revoked", "chain verified"):  # fmt: skip
        assert text in " ".join(out.split()), text
    from porthos.store import audit
    from porthos.workflows import crl_schedule

    with Workspace.open(tmp_path / "d") as ws:
        # 35 from the batches + one each through a transaction-ID, an AOR, an agent.
        assert ws.store.count_certificates() == 35 + 3
        assert len(ws.store.revocations("ha-device-ca-1")) == 3
        assert not [d for d in crl_schedule.due(ws) if d.kind == "crl" and d.is_due]
        assert audit.verify(ws.store).ok
    assert (tmp_path / "d" / "audit-export.jsonl").is_file()
    # Run again on its own workspace: the RA half asks for new names (unique per key,
    # §3.1), not for the names the first run's keys hold.
    again = CliRunner().invoke(main, ["demo", "-w", str(tmp_path / "d"), "--count", "35"])
    assert again.exit_code == 0, again.output
    assert "using the existing workspace" in again.output
    with Workspace.open(tmp_path / "d") as ws:
        assert ws.store.count_certificates() == 2 * (35 + 3)
        assert audit.verify(ws.store).ok
    too_few = CliRunner().invoke(main, ["demo", "-w", str(tmp_path / "e"), "--count", "27"])
    assert too_few.exit_code == 2


# --------------------------------------------------------------------------------------
# init --cpcps NAME|PATH: the workspace records its CP/CPS; show names it
# --------------------------------------------------------------------------------------


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_init_cpcps_bad_name_or_path_exit_2_one_line(tmp_path: Path) -> None:
    w = tmp_path / "ws"
    line = _one_line_error(CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", "nosuch"]))
    assert "nosuch" in line and "[profile]" in line
    missing = tmp_path / "elsewhere" / "missing.toml"
    line = _one_line_error(
        CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", str(missing)])
    )
    assert "missing.toml" in line
    broken = tmp_path / "broken.toml"
    broken.write_text(_bundled_cpcps().replace('name = "porthos"', "name = 7", 1))
    line = _one_line_error(
        CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", str(broken)])
    )
    assert "name" in line  # the field path of the bad value
    # Nothing is left behind: the directory can still be initialised.
    assert not (w / "porthos.sqlite").exists() and not (w / "cpcps.toml").exists()


def _bundled_cpcps() -> str:
    return resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text()


def test_init_cpcps_bundled_name(tmp_path: Path) -> None:
    w = tmp_path / "ws"
    result = CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", "porthos"])
    assert result.exit_code == 0, result.output
    with Workspace.open(w) as ws:
        assert ws.store.profile_set == "porthos"
    result = CliRunner().invoke(main, ["show", "-w", str(w)])
    assert result.exit_code == 0, result.output
    assert "CP/CPS: porthos: LEGIC Porthos PKI CP/CPS v1.1" in result.output
    assert result.output.index("CP/CPS:") < result.output.index("root-ca-1")


def test_init_cpcps_path_is_copied_into_the_workspace(tmp_path: Path) -> None:
    original = tmp_path / "mine.toml"
    original.write_text(
        _bundled_cpcps().replace('document = "LEGIC', 'document = "A test copy of the LEGIC', 1)
    )
    w = tmp_path / "ws"
    result = CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", str(original)])
    assert result.exit_code == 0, result.output
    assert "A test copy of the LEGIC" in result.output
    copy = w / "cpcps.toml"
    assert copy.read_text() == original.read_text()
    with Workspace.open(w) as ws:
        assert Path(ws.store.profile_set) == copy.resolve()
    original.unlink()  # the workspace keeps working without the original
    result = CliRunner().invoke(main, ["show", "-w", str(w)])
    assert result.exit_code == 0, result.output
    assert "CP/CPS: porthos: A test copy of the LEGIC Porthos PKI CP/CPS v1.1" in result.output
    # A second init into the same directory is refused and keeps the copy.
    other = tmp_path / "other.toml"
    other.write_text(_bundled_cpcps())
    line = _one_line_error(CliRunner().invoke(main, ["init", "-w", str(w), "--cpcps", str(other)]))
    assert "cpcps.toml exists" in line
    assert "A test copy" in copy.read_text()


# --------------------------------------------------------------------------------------
# The package's shape: main.py registers, command modules import only the helpers
# --------------------------------------------------------------------------------------

_CLI_HELPERS = {
    "porthos.cli.common",
    "porthos.cli.options",
    "porthos.cli.hsm_options",
    "porthos.cli.outputs",
    "porthos.cli.lazy",
}


def _cli_imports(path: Path) -> set[str]:
    """The porthos.cli modules ``path`` imports, at any level of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "porthos.cli":
            names = [f"porthos.cli.{a.name}" for a in node.names]  # from porthos.cli import x
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("porthos.cli.")}
    return found


def test_command_modules_import_only_the_helpers() -> None:
    package = Path(porthos.cli.__file__).parent
    for path in sorted(package.glob("*.py")):
        if path.name in ("main.py", "__init__.py"):
            continue
        module = f"porthos.cli.{path.stem}"
        allowed = _CLI_HELPERS if module not in _CLI_HELPERS else _CLI_HELPERS - {module}
        if module == "porthos.cli.common":
            allowed = {"porthos.cli.options"}
        extra = _cli_imports(path) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}"
        if module != "porthos.cli.lazy":  # the one loader of commands (cli/lazy.py)
            assert "importlib" not in path.read_text(encoding="utf-8"), path.name
