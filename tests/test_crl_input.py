"""Revocation input (issue 20 §1): the Rust CSV reader agrees with the Python loader
it replaces on generated rows, reports bad rows by line, survives hostile bytes; the
Parquet reader converts its column types without a loop; the CLI writes nothing on a
bad file."""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from crl_csv_reference import load_revocations_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from porthos import _native
from porthos.cli.main import main
from porthos.crl_reasons import REASONS
from porthos.exceptions import BatchArgumentError, InputError, MissingExtraError, PorthosError
from porthos.issuance import crl as C

NONE = C.REASON_NONE
INV_NONE = C.INVALIDITY_NONE


def _rows(cols: C.RevocationColumns) -> list[tuple[int, int, int, int]]:
    s, t, r, d = cols.canonical()
    return [
        (int.from_bytes(s[i].tobytes(), "big"), int(t[i]), int(r[i]), int(d[i]))
        for i in range(len(cols))
    ]


def _lines(message: str) -> list[int]:
    return [int(n) for n in re.findall(r"line (\d+):", message)]


# --------------------------------------------------------------------------------------
# differential: the Rust reader against the old Python loader
# --------------------------------------------------------------------------------------

_instants = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.none()
)


@st.composite
def iso_texts(draw: st.DrawFn, valid: bool = False) -> str:
    """Times in the forms both readers take: calendar (extended, basic) or week dates,
    a separator, a clock of 1-3 parts with a fraction, a zone; or a broken one."""
    if not valid and draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from(
                [
                    "",
                    "x",
                    "2024-13-01",
                    "2024-02-30",
                    "2024-01-01T25:00",
                    "2024-01-01T",
                    "2023-W53",
                    "2024-01-01T12:30:45+24:00",
                    "20240101T1",
                ]
            )
        )
    dt = draw(_instants)
    kind = draw(st.sampled_from(["ext", "basic", "week", "weekday"]))
    if kind == "ext":
        date = dt.strftime("%Y-%m-%d")
    elif kind == "basic":
        date = dt.strftime("%Y%m%d")
    else:
        y, w, d = dt.isocalendar()
        date = f"{y:04d}-W{w:02d}" + (f"-{d}" if kind == "weekday" else "")
    if draw(st.booleans()):
        return date
    extended = draw(st.booleans())
    sep = ":" if extended else ""
    parts = draw(st.integers(1, 3))
    clock = [f"{dt.hour:02d}", f"{dt.minute:02d}", f"{dt.second:02d}"][:parts]
    text = date + draw(st.sampled_from(["T", " ", "t"])) + sep.join(clock)
    if parts == 3 and draw(st.booleans()):
        # "," is a decimal sign too, and a field separator of the CSV: both readers
        # then see one more field.
        dot = draw(st.sampled_from(["."] if valid else [".", ","]))
        text += dot + draw(st.from_regex(r"[0-9]{1,9}", fullmatch=True))
    zone = draw(st.sampled_from(["", "Z", "+HH", "+HH:MM", "-HHMM", "+HH:MM:SS"]))
    if zone and zone != "Z":
        off = draw(st.integers(0, 23 * 3600 + 59 * 60 + 59))
        h, m, s = off // 3600, off // 60 % 60, off % 60
        zone = zone.replace("HH", f"{h:02d}").replace("MM", f"{m:02d}").replace("SS", f"{s:02d}")
    return text + zone


_serial_texts = st.one_of(
    st.integers(1, (1 << 159) - 1).map(lambda v: f"{v:x}"),
    st.integers(1, 1 << 64).map(lambda v: f"0x{v:X}"),
    st.integers(1, 1 << 32).map(lambda v: f"  000{v:x} "),
    st.sampled_from(["0", "0x0", "", "zz", "0x", f"{1 << 159:x}", f"{(1 << 159) - 1:x}", "1 2"]),
)
_reason_texts = st.one_of(
    st.sampled_from(list(REASONS)).map(lambda n: n if len(n) % 2 else n.upper()),
    st.integers(0, 12).map(str),
    st.sampled_from(["", " ", "255", "256", "007", "bogus", " keycompromise "]),
)


_valid_serials = st.one_of(
    st.integers(1, (1 << 159) - 1).map(lambda v: f"{v:x}"),
    st.integers(1, 1 << 64).map(lambda v: f"0x{v:X}"),
    st.integers(1, 1 << 32).map(lambda v: f"  000{v:x} "),
)
_valid_reasons = st.one_of(
    st.sampled_from(list(REASONS)).map(lambda n: n if len(n) % 2 else n.upper()),
    st.sampled_from(["1", "2", "3", "4", "5", "6", "8", "9", "10", "0", "", "255", "006"]),
)


@st.composite
def csv_files(draw: st.DrawFn, valid: bool = False) -> bytes:
    """A file of up to 12 rows; ``valid``: only rows both readers accept (so that the
    accepted columns are compared, not only the error lines)."""
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    if draw(st.booleans()):
        lines.append("serial_hex,revocation_time,reason,invalidity_date")
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 15)) == 0:
            lines.append(draw(st.sampled_from([""] if valid else ["", "1,2", "1,2,3,4,5"])))
            continue
        serial = draw(_valid_serials if valid else _serial_texts)
        reason = draw(_valid_reasons if valid else _reason_texts)
        fields = [serial, draw(iso_texts(valid)), reason]
        extra = draw(st.integers(0, 2))
        if extra == 1:
            fields.append(draw(iso_texts(valid)))
        elif extra == 2:
            fields.append("")
        if draw(st.integers(0, 5)) == 0:
            fields[0] = '"' + fields[0] + '"'
        lines.append(",".join(fields))
    return (end.join(lines) + (end if draw(st.booleans()) else "")).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(csv_files(), csv_files(valid=True)))
def test_rust_reader_agrees_with_the_python_loader(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.csv"
        p.write_bytes(data)
        try:
            want = load_revocations_reference(p)
        except BatchArgumentError as exc:
            with pytest.raises(BatchArgumentError) as got:
                C.load_revocations(p)
            assert _lines(str(got.value)) == _lines(str(exc)), data
            assert str(got.value).startswith(f"{p}: ")
            return
        got_cols = C.load_revocations(p)
        assert _rows(got_cols) == want, data


def test_every_reason_name_and_number_as_reason_code_reads_it() -> None:
    for name, code in REASONS.items():
        for spelling in (name, name.upper(), f" {name.lower()} ", str(code)):
            s, t, r, d = _native.crl_read_revocations_csv(f"1,2024-01-01,{spelling}".encode())
            assert int(r[0]) == C.reason_code(spelling), spelling


# --------------------------------------------------------------------------------------
# errors and hostile input
# --------------------------------------------------------------------------------------


def test_bad_rows_first_twenty_by_line_and_a_count(tmp_path: Path) -> None:
    lines = ["serial,revocation_time,reason"]
    lines += [f"{i + 1:x},2024-01-01T00:00:00Z,keyCompromise" for i in range(10)]
    lines += ["zz,2024-01-01,1"] * 25
    p = tmp_path / "bad.csv"
    p.write_text("\r\n".join(lines))
    with pytest.raises(BatchArgumentError) as exc:
        C.load_revocations(p)
    assert exc.value.code == "batch-argument"
    assert _lines(str(exc.value)) == list(range(12, 32))
    assert str(exc.value).endswith("(and 5 more)")


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00\x01garbage\x00,\x80,\x81\n",
        b"\x00" * 10_000,
        b"1," + b"9" * 2_000_000 + b",1\n",
        b'"' * 100_000,
        b",,,,,,,,,,,,,,,,\r\r\r\n\n",
        bytes(range(256)) * 40,
    ],
)
def test_hostile_bytes_are_one_clear_error(data: bytes) -> None:
    with pytest.raises(BatchArgumentError) as exc:
        _native.crl_read_revocations_csv(data)
    assert len(str(exc.value)) < 4000
    assert _lines(str(exc.value))


def test_empty_bom_and_blank_lines() -> None:
    s, t, r, d = _native.crl_read_revocations_csv(b"")
    assert s.shape == (0, 20)
    s, t, r, d = _native.crl_read_revocations_csv(
        b"\xef\xbb\xbfserial,t,r\n\n1,2024-01-01,\r\n\r\n2,2024-01-01,superseded,\n"
    )
    assert list(r) == [NONE, 4] and list(d) == [INV_NONE, INV_NONE]


def test_the_size_cap_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.csv"
    p.write_text("1,2024-01-01,1\n" * 100)
    monkeypatch.setenv("PORTHOS_MAX_INPUT_BYTES", "1000")
    with pytest.raises(InputError) as exc:
        C.load_revocations(p)
    assert exc.value.code == "input"


def test_cli_build_writes_nothing_on_a_bad_file(
    tmp_path: Path, crl_issuer: tuple[Path, Path]
) -> None:
    cert, key = crl_issuer
    bad = tmp_path / "r.csv"
    bad.write_text("1,2024-01-01,1\n2,yesterday,1\n")
    out = tmp_path / "out.crl"
    args = ["crl", "build", "--issuer-cert", str(cert), "--issuer-key", str(key)]
    args += ["--number", "1", "--next-update", "7", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--revoked", str(bad)])
    assert res.exit_code == 2, res.output
    assert "line 2: revocation_time 'yesterday' is not ISO-8601" in res.output
    assert not out.exists()
    good = tmp_path / "r.parquet"
    pq.write_table(
        pa.table(
            {
                "serial": ["0a", "0b"],
                "revocation_time": [1_700_000_000] * 2,
                "reason": ["keyCompromise", ""],
            }
        ),
        good,
    )
    res = CliRunner().invoke(main, [*args, "--revoked", str(good)])
    assert res.exit_code == 0, res.output
    parsed = C.parse_crl(out.read_bytes())
    assert [int(x) for x in parsed.columns.reasons] == [1, NONE]


@pytest.fixture
def crl_issuer(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL input CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    c, k = tmp_path / "ca.der", tmp_path / "ca.p8"
    c.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def _write(tmp_path: Path, **columns: pa.Array) -> Path:
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table(columns), p)
    return p


def test_parquet_string_serials_timestamps_and_names(tmp_path: Path) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    p = _write(
        tmp_path,
        serial=pa.array(["0x0A", " ff ", f"{(1 << 159) - 1:x}"]),
        revocation_time=pa.array(
            [when, when, when - timedelta(microseconds=1)], pa.timestamp("us", tz="UTC")
        ),
        reason=pa.array(["keyCompromise", None, "UNSPECIFIED"]),
        invalidity_date=pa.array([None, when, None], pa.timestamp("s", tz="UTC")),
    )
    cols = C.load_revocations(p)
    t = int(when.timestamp())
    assert _rows(cols) == [
        (10, t, 1, INV_NONE),
        (255, t, NONE, t),
        ((1 << 159) - 1, t - 1, NONE, INV_NONE),
    ]


def test_parquet_binary_serials_int_times_and_codes(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        serial=pa.array([b"\x0a", b"\x00\x01\x02", b"\x7f" + b"\xff" * 19], pa.binary()),
        revocation_time=pa.array([1, 2, 3], pa.int64()),
        reason=pa.array([6, None, 0], pa.int8()),
    )
    assert _rows(C.load_revocations(p)) == [
        (10, 1, 6, INV_NONE),
        (0x102, 2, NONE, INV_NONE),
        ((1 << 159) - 1, 3, NONE, INV_NONE),
    ]


def test_parquet_bad_rows_by_row_number(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        serial=pa.array(["1", "zz", "0", None, "2", "3", f"{1 << 159:x}"]),
        revocation_time=pa.array([1, 2, 3, 4, None, 6, 7], pa.int64()),
        reason=pa.array(["1", "1", "1", "1", "1", "7", "1"]),
    )
    with pytest.raises(BatchArgumentError) as exc:
        C.load_revocations(p)
    got = re.findall(r"row (\d+): ([a-z_ ]+)", str(exc.value))
    assert [(int(r), m.split()[0]) for r, m in got] == [
        (2, "serial"),
        (3, "serial"),
        (4, "serial"),
        (5, "revocation_time"),
        (6, "reason"),
        (7, "serial"),
    ]


def test_parquet_missing_column_and_bad_file(tmp_path: Path) -> None:
    p = _write(tmp_path, serial=pa.array(["1"]), reason=pa.array(["1"]))
    with pytest.raises(BatchArgumentError, match="revocation_time"):
        C.load_revocations(p)
    bogus = tmp_path / "x.parquet"
    bogus.write_bytes(b"not parquet at all")
    with pytest.raises(PorthosError) as exc:
        C.load_revocations(bogus)
    assert exc.value.code == "input"


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _write(tmp_path, serial=pa.array(["1"]))
    for mod in ("pyarrow", "pyarrow.parquet", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(MissingExtraError, match=r"porthos\[parquet\]"):
        C.load_revocations(p)


def test_parquet_and_csv_give_the_same_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 2000
    serials = [int(x) for x in rng.integers(1, 1 << 62, n)]
    times = rng.integers(1_600_000_000, 1_700_000_000, n)
    reasons = rng.choice([1, 2, 3, 4, 5, 6, 9, 10], n)
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(
        "".join(
            f"{s:x},{datetime.fromtimestamp(int(t), UTC).isoformat()},{int(r)}\n"
            for s, t, r in zip(serials, times, reasons, strict=True)
        )
    )
    pq_path = _write(
        tmp_path,
        serial=pa.array([f"{s:x}" for s in serials]),
        revocation_time=pa.array(times, pa.int64()),
        reason=pa.array(reasons, pa.int16()),
    )
    a, b = C.load_revocations(csv_path), C.load_revocations(pq_path)
    assert a.equals(b)


def test_a_crl_from_csv_passes_the_signature_check(crl_issuer: tuple[Path, Path]) -> None:
    """What the reader produces builds a CRL whose signature the publication check
    accepts, and a flipped bit in it is refused."""
    from porthos.exceptions import CrlSignatureError
    from porthos.issuance.key_checks import check_crl_signature

    cert_path, key_path = crl_issuer
    cert = cert_path.read_bytes()
    key = _native.SoftwareKey.from_pkcs8(key_path.read_bytes())
    cols = C.RevocationColumns(*_native.crl_read_revocations_csv(b"1,2025-01-01,1\n2,2025-01-01,"))
    der = bytes(C.build_crl(cert, key, cols, crl_number=1, this_update=1_750_000_000,
                            next_update=1_750_086_400))  # fmt: skip
    check_crl_signature(der, cert, "good", key.signature_algorithm)
    flipped = bytearray(der)
    flipped[-3] ^= 1
    with pytest.raises(CrlSignatureError, match="does not verify"):
        check_crl_signature(bytes(flipped), cert, "flipped", key.signature_algorithm)


def test_bench_crl_input_runs_and_both_sides_list_the_same_entries(tmp_path: Path) -> None:
    """A tiny `bench crl --input`: every process succeeds, and the CRL porthos built
    from the CSV lists what the pyca peer's lists."""
    from porthos.bench import crl_input

    out = crl_input.run(n=300, repeats=1, inputs=["csv", "npz"], workdir=str(tmp_path))
    s = out["summary"]
    assert set(s["pyca_over_porthos"]) == {"csv", "npz"}
    assert s["porthos-csv"]["peak_rss_mib"] > 0 and s["pyca-csv"]["seconds"] > 0
    ours = C.parse_crl((tmp_path / "out.crl").read_bytes(), (tmp_path / "ca.der").read_bytes())
    theirs = C.parse_crl((tmp_path / "pyca.crl").read_bytes())
    assert len(ours) == 300 and ours.columns.equals(theirs.columns)
    res = CliRunner().invoke(main, ["bench", "crl", "--input", "xml", "--n", "10"])
    assert res.exit_code == 2 and "--input xml" in res.output
