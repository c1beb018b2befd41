"""Sharded CRL rebuilds on Dask (dask.distributed; issue 19 §3).

The coordinator (``porthos crl publish --executor dask``) numbers each CA's shard set
(workspace/shard_publication.py ``allocate``) and submits one task per shard; each
task, on a worker, leases its shard in the store and publishes it. Workers are
stateless apart from what :class:`WorkspacePlugin` opens once per worker process: the
workspace (its store connection) and, in an HSM workspace, the issuing token's session
pool, activated with the PIN the plugin carries. The PIN travels inside the plugin,
over Dask's connection to the workers; it is read from a file by the CLI, never from
argv, and never logged (hsm.Secret prints as ``<secret>``).

Workers need the workspace directory at the same path (one machine, or a shared file
system) and the store it names: a PostgreSQL store for workers on several machines.
Without a scheduler address a ``LocalCluster`` of worker processes is started here.

What it publishes follows the local path's rules (crl_end.py): a terminated CA, or a
retired one past its final CRL, is refused before any number is allocated or task
submitted (:func:`shard_targets`, which the CLI calls before it starts a cluster).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from porthos.exceptions import PolicyError, ShardLeaseError, WorkspaceError
from porthos.store import shard_leases
from porthos.workflows.crl_end import refuse_unless_publishing
from porthos.workflows.crl_schedule import crl_next_update, kept_cas
from porthos.workspace import shard_publication
from porthos.workspace.publication import shard_scheme
from porthos.workspace.shard_publication import ShardJob, ShardResult

if TYPE_CHECKING:
    from porthos.hsm import Secret
    from porthos.workspace.workspace import Workspace

__all__ = [
    "PLUGIN",
    "WorkspacePlugin",
    "cluster_client",
    "check_shard_targets",
    "publish_shards",
    "shard_targets",
]

PLUGIN = "porthos-workspace"

#: The default lease (store/shard_leases.py; ``crl publish --lease-ttl``).
LEASE_SECONDS = shard_leases.LEASE_SECONDS


class WorkspacePlugin(WorkerPlugin):
    """Opens the workspace once per worker process (and activates the HSM token's
    session pool with the PIN, in an HSM workspace); tasks take it from here."""

    name = PLUGIN

    def __init__(self, workdir: str, pin: bytes | None = None) -> None:
        self.workdir = workdir
        self._pin = pin
        # Opened in the thread that runs the tasks (SQLite connections belong to the
        # thread that made them; setup() runs in the worker's event-loop thread).
        self._local = threading.local()
        self._opened: list[Workspace] = []
        # One store connection per worker thread: a worker's tasks take turns.
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"workdir": self.workdir, "_pin": self._pin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["workdir"], state["_pin"])  # type: ignore[misc]

    def setup(self, worker: Any) -> None:
        # Fail at registration, not in the first task, when the workspace is not there.
        from porthos.store.location import initialised

        if not initialised(Path(self.workdir)):
            raise WorkspaceError(f"worker: {self.workdir} is not a porthos workspace")

    def workspace(self) -> Workspace:
        """This thread's workspace, opened (and its HSM token activated: a session
        pool) on first use."""
        ws: Workspace | None = getattr(self._local, "ws", None)
        if ws is None:
            from porthos.hsm import Secret
            from porthos.workspace.workspace import Workspace

            ws = Workspace.open(self.workdir)
            if ws.hsm is not None and self._pin is not None:
                ws.activate(Secret(self._pin))
            self._local.ws = ws
            self._opened.append(ws)
        return ws

    def teardown(self, worker: Any) -> None:
        with self.lock:  # after a task using it finished
            for ws in self._opened:
                # A SQLite connection refuses to be closed from another thread; the
                # process ends with the worker in any case.
                with contextlib.suppress(Exception):
                    ws.close()
            self._opened.clear()


def _shard_task(
    job: ShardJob, shard: int, ttl: int, wait: float, actor: str | None
) -> ShardResult:
    """On a worker: publish one shard, waiting (up to ``wait`` s) while another
    holder's unexpired lease is on it (a worker that died holding it: until it
    expires)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    deadline = time.monotonic() + wait
    while True:
        # Taken anew each round: a second coordinator registering the plugin replaces it.
        plugin: WorkspacePlugin = get_worker().plugins[PLUGIN]  # type: ignore[assignment]
        with plugin.lock:
            ws = plugin.workspace()
            ca = ws.ca(job.ca)
            result = shard_publication.publish_shard(
                ws, ca, ca.signer, job, shard, holder=holder, ttl=ttl, actor=actor
            )
        if result.outcome != "busy":
            return result
        if time.monotonic() > deadline:
            raise ShardLeaseError(
                f"CA {job.ca}: shard {shard} stayed leased by another worker for {wait:.0f} s"
            )
        time.sleep(0.25)


@contextlib.contextmanager
def cluster_client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster of ``workers``
    worker processes (one thread each: a worker's store connection is one) started
    here and stopped on exit."""
    if scheduler is not None:
        with Client(scheduler, timeout=30) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never clash with another cluster
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def shard_targets(ws: Workspace, ca: str | None = None) -> list[str]:
    """The CAs whose shard sets a Dask rebuild publishes: ``ca``, or every CA that
    still publishes (crl_schedule.kept_cas) and has a sharded CDP. Raises, before
    anything is changed or a cluster is needed: an unknown CA, a CA that publishes no
    more (crl_end.refuse_unless_publishing), a CA without a sharded CDP, or none."""
    if ca is not None:
        check_shard_targets(ws, [ca])
        return [ca]
    names = [c.name for c in kept_cas(ws) if shard_scheme(ws, c.name) is not None]
    if not names:
        raise PolicyError(
            "no CA of this workspace that still publishes CRLs has a sharded CRL "
            "distribution point"
        )
    return names


def check_shard_targets(ws: Workspace, cas: Sequence[str]) -> None:
    """Refuse the whole rebuild when one of ``cas`` is unknown, publishes no more or
    has no sharded CDP (see :func:`shard_targets`)."""
    for name in cas:
        refuse_unless_publishing(ws, ws.ca(name))
        if shard_scheme(ws, name) is None:
            raise PolicyError(f"CA {name} has no sharded CRL distribution point")


def publish_shards(
    ws: Workspace,
    cas: Sequence[str],
    *,
    client: Client,
    now: int | None = None,
    pin: Secret | None = None,
    ttl: int = LEASE_SECONDS,
    actor: str | None = None,
) -> list[ShardResult]:
    """Rebuild the shard sets of ``cas`` on the cluster behind ``client``: one number
    per CA's set, one task per shard. Raises the first shard's error (a CRL gate
    refusal, a lost lease) after the others finished or were cancelled. A CA that
    publishes no more, or has no sharded CDP, refuses the whole call first: nothing
    numbered, nothing submitted (:func:`shard_targets`)."""
    check_shard_targets(ws, cas)
    now = int(time.time()) if now is None else int(now)
    client.register_plugin(
        WorkspacePlugin(str(ws.path.resolve()), None if pin is None else pin.reveal()),
        name=PLUGIN,
    )
    out: list[ShardResult] = []
    for name in cas:
        ca = ws.ca(name)
        job = shard_publication.allocate(
            ws, ca, this_update=now, next_update=crl_next_update(ca, now), actor=actor
        )
        futures = [
            client.submit(_shard_task, job, s, ttl, 2 * ttl + 30, actor, pure=False)
            for s in range(job.shards)
        ]
        try:
            out += client.gather(futures)
        finally:
            client.cancel(futures)
    return out
