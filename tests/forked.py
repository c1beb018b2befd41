"""Run a call in a fork()ed child and assert it finishes: what a thread pool kept
across fork() must not turn into a hang (rust/porthos-py/src/threads.rs `pool`)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def assert_finishes_in_forked_child(
    target: Callable[..., Any], *args: Any, timeout: float = 60, **kwargs: Any
) -> None:
    child = multiprocessing.get_context("fork").Process(target=target, args=args, kwargs=kwargs)
    child.start()
    child.join(timeout)
    alive = child.is_alive()
    if alive:
        child.kill()
        child.join()
    assert not alive, f"the forked child still ran after {timeout} s"
    assert child.exitcode == 0, f"the forked child exited with {child.exitcode}"
