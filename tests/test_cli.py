"""The porthos command: exit codes 0 / 3 / 2, output files, the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from cryptography import x509
from porthos.cli import main


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
    from porthos import Workspace, audit

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

    # The lifecycle half (porthos.demo_lifecycle): RA issuance and refusals, three
    # revocations and a refused certificateHold, the due CRLs published, openssl
    # -crl_check_all telling a revoked certificate from a valid one, the audit chain.
    for text in ("single use", "may not request", "certificateHold is suspension",
                 "certificate revoked", "chain verified"):  # fmt: skip
        assert text in " ".join(out.split()), text
    from porthos import audit, lifecycle

    with Workspace.open(tmp_path / "d") as ws:
        # 35 from the batches + one each through a transaction-ID, an AOR, an agent.
        assert ws.store.count_certificates() == 35 + 3
        assert len(ws.store.revocations("ha-device-ca-1")) == 3
        assert not [d for d in lifecycle.due(ws) if d.kind == "crl" and d.is_due]
        assert audit.verify(ws.store).ok
    assert (tmp_path / "d" / "audit-export.jsonl").is_file()
    too_few = CliRunner().invoke(main, ["demo", "-w", str(tmp_path / "e"), "--count", "27"])
    assert too_few.exit_code == 2
