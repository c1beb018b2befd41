"""Stall hooks of the fault tests (issue 19 §4): a worker that reaches the named point
of a job writes its pid to a file and sleeps there, so that a test can kill it holding
a lease or reservations. Off unless the test sets the environment variable."""

from __future__ import annotations

import os
import time


def stall_if_asked(env: str, which: int) -> None:
    """``env`` holds ``<file>:<which>:<seconds>``: the first worker at point ``which``
    creates <file> (exclusively) with its pid and sleeps; later ones find the file and
    go on."""
    spec = os.environ.get(env)
    if not spec:
        return
    path, wanted, seconds = spec.rsplit(":", 2)
    if int(wanted) != which:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    time.sleep(float(seconds))
