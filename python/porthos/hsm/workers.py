"""HSM signing on worker processes: one process per session (issue 5, docs/hsm.md).

Why processes: SoftHSM2 serialises the threads of one process on process-wide
mutexes taken on every C_SignInit/C_Sign (its handle table, its per-token secure
data manager, and for token objects the per-token generation file under
``genMutex``). Two threads of one process reach ~1.2x one thread for P-256
(measured, docs/hsm.md); two processes reach 2x, because each has its own module
instance and therefore its own locks. So ``ProcessPool`` runs N
``python -m porthos.hsm.worker_main`` processes, each with its own module instance, one
session and a session copy of the key (porthos_pkcs11), and hands them chunks of
the batch over pipes. Keys never leave the token: only digests go in and
signatures come out.

Safety, as in the thread pool: each worker initialises the module with
CKF_OS_LOCKING_OK; the PIN travels over the worker's stdin pipe (never argv or
the environment) and is wiped from the worker's Python memory once the Rust pool
holds it; workers are started one after the other and the first one's C_Login is
awaited before any other starts, so a wrong PIN costs one failed login. A refused
PIN during a batch (a worker's reopen) latches: the worker reports it, the pool
stops every worker and never starts one again. Each worker latches too, so a PIN
changed under a running pool costs at most one failed C_Login per worker.
A worker that dies is restarted once for the chunk it was signing; the items of a
chunk that still fails get HsmItemStatus.SESSION_LOST.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from porthos import exceptions, hsm

_U32 = struct.Struct("<I")
_REQ = struct.Struct("<II")  # n digests, digest length
_RESP = struct.Struct("<IIB")  # n items, sessions reopened, pin refused
ITEM_SESSION_LOST = 1  # porthos.status.HsmItemStatus.SESSION_LOST
# Items per request, at most: large enough that the pipe round trip (~20 us) is
# small against the signatures (~60 us each for P-256); a batch is cut into at
# least 8 chunks per worker so that the last chunks do not leave a worker idle
# (RSA: 256 items x 1.2 ms in 64-item chunks left one worker a third of the time).
CHUNK = 64


def _read_exact(f: IO[bytes], n: int) -> bytes:
    parts = []
    while n:
        b = f.read(n)
        if not b:
            raise EOFError("the other end of the worker pipe is closed")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def read_frame(f: IO[bytes]) -> bytes:
    (n,) = _U32.unpack(_read_exact(f, 4))
    return _read_exact(f, n)


def write_frame(f: IO[bytes], data: bytes) -> None:
    f.write(_U32.pack(len(data)) + data)
    f.flush()


def read_request(f: IO[bytes]) -> NDArray[np.uint8] | None:
    """The next chunk of digests, or None when the parent closed the pipe or sent n=0."""
    try:
        n, hl = _REQ.unpack(_read_exact(f, _REQ.size))
    except EOFError:
        return None
    if n == 0:
        return None
    return np.frombuffer(_read_exact(f, n * hl), dtype=np.uint8).reshape(n, hl)


def write_response(
    f: IO[bytes],
    status: NDArray[np.uint8],
    blobs: list[bytes],
    latency: NDArray[np.uint64],
    reopened: int,
    pin_refused: bool,
) -> None:
    lens = np.fromiter((len(b) for b in blobs), dtype="<u4", count=len(blobs))
    f.write(
        b"".join(
            [
                _RESP.pack(len(blobs), reopened, int(pin_refused)),
                status.tobytes(),
                lens.tobytes(),
                latency.astype("<u8").tobytes(),
                *blobs,
            ]
        )
    )
    f.flush()


def _read_response(
    f: IO[bytes],
) -> tuple[NDArray[np.uint8], list[bytes], NDArray[np.uint64], int, bool]:
    n, reopened, refused = _RESP.unpack(_read_exact(f, _RESP.size))
    status = np.frombuffer(_read_exact(f, n), dtype=np.uint8)
    lens = np.frombuffer(_read_exact(f, 4 * n), dtype="<u4")
    latency = np.frombuffer(_read_exact(f, 8 * n), dtype="<u8")
    blob = _read_exact(f, int(lens.sum()))
    ends = np.cumsum(lens).tolist()
    starts = [0, *ends[:-1]]
    blobs = [blob[a:b] for a, b in zip(starts, ends, strict=True)]
    return status, blobs, latency, reopened, bool(refused)


class _Worker:
    """One worker process with its pipes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[bytes] = proc.stdin
        self.stdout: IO[bytes] = proc.stdout
        self.copies = 0  # sessions of this worker signing with a session copy (0 or 1)

    def stop(self, timeout: float = 10.0) -> None:
        for step in (lambda: self.stdin.write(_REQ.pack(0, 0)), self.stdin.close):
            try:
                step()
            except (OSError, ValueError):  # the worker is gone already
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


class ProcessPool:
    """``sessions`` worker processes signing with one key of one token. Same results
    as porthos._native.Pkcs11Pool.sign_digests: (signatures, status, reasons,
    latency_ns, reopened)."""

    def __init__(
        self,
        module: str,
        token: str,
        key_label: str,
        signature_algorithm: str,
        pin: hsm.Secret,
        sessions: int,
        key_placement: str = "session-copy",
    ) -> None:
        if sessions < 1:
            raise exceptions.BatchArgumentError("sessions: must be at least 1")
        self.module = module
        self.token = token
        self.key_label = key_label
        self.signature_algorithm = signature_algorithm
        self.key_placement = key_placement
        self._pin = pin
        self._lock = threading.Lock()
        self.pin_refused = False
        self._workers: list[_Worker | None] = [None] * sessions
        self.session_key_copies = 0
        try:
            # One after the other: the first login is awaited before any other, so a
            # wrong PIN costs one failed C_Login; SoftHSM2 also rewrites the token file
            # on login, which a process starting at that moment can miss.
            for i in range(sessions):
                self._workers[i] = self._spawn()
        except BaseException:
            self.close()
            raise

    @property
    def sessions(self) -> int:
        return len(self._workers)

    def _spawn(self) -> _Worker:
        if self.pin_refused:
            raise exceptions.HsmPinError(
                f"the PIN of token '{self.token}' was refused earlier; not logging in again"
            )
        env = dict(os.environ)
        # The worker imports this very porthos (an editable or in-tree build included).
        pkg_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (pkg_parent, env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "porthos.hsm.worker_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
            # Not in the terminal's process group: a Ctrl-C reaches the parent, which
            # stops its workers; a parent that dies closes their stdin and they exit.
            start_new_session=True,
        )
        w = _Worker(proc)
        header = {
            "module": self.module,
            "token": self.token,
            "key": self.key_label,
            "signature_algorithm": self.signature_algorithm,
            "key_placement": self.key_placement,
        }
        try:
            write_frame(w.stdin, json.dumps(header).encode())
            write_frame(w.stdin, self._pin.reveal())
            reply = json.loads(read_frame(w.stdout))
        except (OSError, EOFError) as exc:
            w.stop(timeout=2)
            raise exceptions.HsmError(
                f"HSM worker process for token '{self.token}' failed to start "
                f"(exit code {proc.returncode}): {type(exc).__name__}"
            ) from None
        if not reply.get("ok"):
            w.stop(timeout=2)
            kind = getattr(exceptions, str(reply.get("error")), exceptions.HsmError)
            if not (isinstance(kind, type) and issubclass(kind, exceptions.PorthosError)):
                kind = exceptions.HsmError
            if issubclass(kind, exceptions.HsmPinError):
                self.pin_refused = True
            raise kind(str(reply.get("message")))
        w.copies = int(reply.get("copies", 0))
        with self._lock:
            self.session_key_copies += w.copies
        return w

    def _discard(self, i: int) -> int | None:
        """Kill and reap worker i (dead or not); its exit code."""
        old = self._workers[i]
        self._workers[i] = None
        if old is None:
            return None
        with self._lock:
            self.session_key_copies -= old.copies
        old.proc.kill()
        old.stop(timeout=2)
        return old.proc.returncode

    def _respawn(self, i: int) -> _Worker:
        self._discard(i)
        w = self._spawn()
        self._workers[i] = w
        return w

    def sign_digests(
        self, digests: NDArray[np.uint8]
    ) -> tuple[list[bytes | None], NDArray[np.uint8], list[str], NDArray[np.uint64], int]:
        d = np.ascontiguousarray(digests, dtype=np.uint8)
        if d.ndim != 2:
            raise exceptions.BatchArgumentError("digests: expected an N x hash-length array")
        n, hl = d.shape
        want = 48 if self.signature_algorithm.endswith("384") else 32
        if hl != want:
            raise exceptions.BatchArgumentError(
                f"digests are {hl}-octet, the key signs {self.signature_algorithm} "
                f"({want}-octet digests)"
            )
        sigs: list[bytes | None] = [None] * n
        status = np.full(n, 2, dtype=np.uint8)
        reasons = ["not signed (worker thread failed)"] * n
        latency = np.zeros(n, dtype=np.uint64)
        reopened = [0]
        nxt = [0]
        take = threading.Lock()
        chunk_size = max(1, min(CHUNK, n // (len(self._workers) * 8)))

        def run(i: int) -> None:
            while True:
                with take:
                    start = nxt[0]
                    nxt[0] += chunk_size
                if start >= n:
                    return
                stop = min(start + chunk_size, n)
                self._sign_chunk(i, d[start:stop], start, sigs, status, reasons, latency, reopened)

        workers = min(len(self._workers), max(1, -(-n // chunk_size)))
        if workers == 1:
            run(0)
        else:
            threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if self.pin_refused:
            self._stop_all()
        return sigs, status, reasons, latency, reopened[0]

    def _sign_chunk(
        self,
        i: int,
        chunk: NDArray[np.uint8],
        start: int,
        sigs: list[bytes | None],
        status: NDArray[np.uint8],
        reasons: list[str],
        latency: NDArray[np.uint64],
        reopened: list[int],
    ) -> None:
        m, hl = chunk.shape
        request = _REQ.pack(m, hl) + chunk.tobytes()
        failure = ""
        for _attempt in range(2):
            w = self._workers[i]
            try:
                if w is None:
                    w = self._respawn(i)
                    with self._lock:
                        reopened[0] += 1
                w.stdin.write(request)
                w.stdin.flush()
                st, blobs, lat, ro, refused = _read_response(w.stdout)
            except (OSError, EOFError):
                failure = f"HSM worker process exited (code {self._discard(i)})"
                continue
            except exceptions.PorthosError as exc:  # respawn refused (PIN, token gone)
                failure = f"reopening the session: {exc}"
                break
            with self._lock:
                reopened[0] += ro
            if refused:
                self.pin_refused = True
            for k in range(m):
                j = start + k
                latency[j] = lat[k]
                status[j] = st[k]
                if st[k] == 0:
                    sigs[j] = blobs[k]
                    reasons[j] = ""
                else:
                    reasons[j] = blobs[k].decode("utf-8", "replace")
            return
        for k in range(m):
            status[start + k] = ITEM_SESSION_LOST
            reasons[start + k] = failure

    def _stop_all(self) -> None:
        for i, w in enumerate(self._workers):
            self._workers[i] = None
            if w is not None:
                w.stop()
        self.session_key_copies = 0

    def close(self) -> None:
        """Stop every worker (their sessions close, the session copies of the key
        with them); a later batch starts them again."""
        self._stop_all()

    def pids(self) -> list[int]:
        """Process ids of the running workers (tests kill one)."""
        return [w.proc.pid for w in self._workers if w is not None]

    def __repr__(self) -> str:
        return (
            f"ProcessPool(module={self.module!r}, token={self.token!r}, "
            f"key={self.key_label!r}, algorithm={self.signature_algorithm!r}, "
            f"sessions={len(self._workers)}, key_placement={self.key_placement!r})"
        )

    def __del__(self) -> None:
        try:
            self._stop_all()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


__all__ = ["CHUNK", "ProcessPool"]
