"""The streamed batch's helper thread and piece cuts (porthos.issuance.pipeline), and the WAL
writeback hint the store gives after bulk inserts (porthos.store.writeback)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from porthos.issuance.pipeline import StageWorker, piece_cuts
from porthos.store import writeback


@given(
    n=st.integers(min_value=0, max_value=50_000),
    piece=st.integers(min_value=1, max_value=4096),
    last=st.integers(min_value=1, max_value=4096),
)
def test_piece_cuts_cover_the_batch_in_shrinking_pieces(n: int, piece: int, last: int) -> None:
    cuts = piece_cuts(n, piece, last)
    assert cuts[0] == 0 and cuts[-1] == n
    sizes = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
    assert all(s >= 1 for s in sizes)  # no empty piece, and none when n == 0
    assert all(s <= piece for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if sizes:
        assert sizes[-1] <= min(piece, last)
    # Full pieces first, then at most a halving chain: never many more pieces than needed.
    assert len(sizes) <= n // piece + max(n, 1).bit_length() + 2


@given(
    n=st.integers(min_value=0, max_value=20_000),
    piece=st.integers(min_value=1, max_value=2048),
    last=st.integers(min_value=1, max_value=2048),
    first=st.integers(min_value=1, max_value=2048),
)
def test_piece_cuts_ramp_up_then_shrink(n: int, piece: int, last: int, first: int) -> None:
    # The one-thread form (issue 16 §5): pieces grow from ``first`` to ``piece``, then
    # shrink; a first piece of at most ``first`` whenever the batch is cut at all.
    cuts = piece_cuts(n, piece, last, first)
    assert cuts[0] == 0 and cuts[-1] == n
    sizes = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
    assert all(1 <= s <= piece for s in sizes)
    top = sizes.index(max(sizes)) if sizes else 0
    assert sizes[: top + 1] == sorted(sizes[: top + 1])  # rising ...
    assert sizes[top:] == sorted(sizes[top:], reverse=True)  # ... then falling
    if len(sizes) > 1:
        assert sizes[0] <= max(first, min(piece, last), (n + 1) // 2)
    if first >= piece:
        assert cuts == piece_cuts(n, piece, last)
    assert len(sizes) <= n // piece + 2 * max(n, 1).bit_length() + 2


def test_piece_cuts_of_a_one_thread_batch() -> None:
    cuts = piece_cuts(2000, 512, 32, 64)
    assert [b - a for a, b in zip(cuts, cuts[1:], strict=False)] == [
        64, 128, 256, 512, 512, 264, 132, 66, 33, 17, 16,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        piece_cuts(10, 4, 1, 0)


def test_piece_cuts_of_the_benchmark_batch() -> None:
    cuts = piece_cuts(10_000, 2048, 256)
    assert [b - a for a, b in zip(cuts, cuts[1:], strict=False)] == [
        2048, 2048, 2048, 1928, 964, 482, 241, 241,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        piece_cuts(10, 0, 1)


def test_stage_worker_parses_in_order_and_signs_before_the_next_parse() -> None:
    order: list[str] = []
    hold = threading.Event()

    def parse(p: int) -> int:
        if p == 1:
            hold.wait(5)  # piece 1 is still parsing when the sign below is queued
        order.append(f"parse{p}")
        return p * 10

    with StageWorker[int, str](parse, pieces=4, ahead=3) as stages:
        assert stages.parsed(0) == 0
        signed = stages.sign(lambda: order.append("sign0") or "s0")
        hold.set()
        assert [stages.parsed(p) for p in (1, 2, 3)] == [10, 20, 30]
        assert signed.result(5) == "s0"
    # parse2 was allowed (ahead=3) and pending when sign0 was queued; the sign ran first.
    assert order == ["parse0", "parse1", "sign0", "parse2", "parse3"]


def test_split_stage_worker_signs_while_a_parse_is_in_hand() -> None:
    # split=True (the one-thread batch, issue 16 §5): parses have a thread of their own,
    # so a sign never waits behind a parse; without it, the sign below would wait for
    # the held parse and the test would time out.
    hold = threading.Event()
    where: dict[str, str] = {}

    def parse(p: int) -> int:
        where[f"parse{p}"] = threading.current_thread().name
        if p == 1:
            hold.wait(5)
        return p

    def sign() -> str:
        where["sign"] = threading.current_thread().name
        return "signed"

    with StageWorker[int, str](parse, pieces=3, ahead=3, split=True) as stages:
        assert stages.parsed(0) == 0
        deadline = time.monotonic() + 5
        while "parse1" not in where and time.monotonic() < deadline:
            time.sleep(0.001)
        assert stages.sign(sign).result(2) == "signed"  # parse1 still held
        assert not hold.is_set()
        hold.set()
        assert [stages.parsed(1), stages.parsed(2)] == [1, 2]
    threads = stages._threads
    assert not any(t.is_alive() for t in threads) and len(threads) == 2
    assert where["sign"] == "porthos-stages"
    assert where["parse0"] == where["parse1"] == "porthos-verify"


def test_stage_worker_parses_at_most_ahead_pieces_beyond_those_taken() -> None:
    started: list[int] = []
    with StageWorker[int, None](lambda p: started.append(p) or p, pieces=6, ahead=2) as stages:
        deadline = time.monotonic() + 5
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)  # room for a (wrong) third parse to start
        assert started == [0, 1]
        assert stages.parsed(0) == 0
        assert stages.parsed(1) == 1
        assert stages.parsed(2) == 2
        assert started[:4] == [0, 1, 2, 3]


def test_stage_worker_hands_errors_to_the_caller() -> None:
    def parse(p: int) -> int:
        if p == 1:
            raise RuntimeError("piece 1 is bad")
        return p

    with StageWorker[int, int](parse, pieces=3) as stages:
        assert stages.parsed(0) == 0
        # No .code (plain exceptions of the stage worker): their text is checked.
        with pytest.raises(RuntimeError, match="piece 1 is bad"):
            stages.parsed(1)
        failed = stages.sign(lambda: 1 // 0)
        with pytest.raises(ZeroDivisionError):
            failed.result(5)
        with pytest.raises(ValueError, match="out of order"):
            stages.parsed(0)


def test_stage_worker_close_stops_the_thread_and_cancels_what_never_ran() -> None:
    release = threading.Event()

    def parse(p: int) -> int:
        release.wait(5)
        return p

    stages = StageWorker[int, int](parse, pieces=3, ahead=1)
    pending = stages.sign(lambda: 7)  # queued behind the parse in hand
    release.set()
    time.sleep(0.01)
    stages.close()
    assert not any(t.is_alive() for t in stages._threads)
    assert pending.result(0) == 7  # queued before close: it ran
    # Only piece 0 was ever allowed (ahead=1, none taken): the others never ran.
    assert [stages._parsed[p].cancelled() for p in range(3)] == [False, True, True]
    # No .code (RuntimeError): the text says why the call is refused.
    with pytest.raises(RuntimeError, match="closed"):
        stages.sign(lambda: 8)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_writeback_hint_is_taken_for_a_file_and_refused_for_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"x" * 100_000)
    assert writeback.start_writeback(path) is True
    assert path.read_bytes() == b"x" * 100_000  # a hint: the content is untouched
    assert writeback.start_writeback(tmp_path / "missing") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_pushed_while_runs_a_helper_only_while_the_body_runs(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"")
    fds_before = set(os.listdir("/proc/self/fd"))
    with writeback.pushed_while(path, tmp_path / "missing"):
        helpers = [t for t in threading.enumerate() if t.name == "porthos-writeback"]
        assert len(helpers) == 1
        with path.open("ab") as f:
            for _ in range(20):
                f.write(b"y" * 65536)
                time.sleep(0.001)
    assert not helpers[0].is_alive()
    assert set(os.listdir("/proc/self/fd")) == fds_before  # its descriptors are closed
    assert path.stat().st_size == 20 * 65536
