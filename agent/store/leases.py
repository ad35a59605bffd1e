"""Who drives a job: a lease, held by one process on one node and renewed while it lives.

A process that takes or claims a job writes its node (this machine's name), its process
id and a lease that ends `LEASE_S` seconds later; a thread of that process renews the
leases of the jobs it holds every `LEASE_S / 3`. Whether the holder still lives:

- on this node, its process id answers (at once: a server restarted here queues a killed
  worker's job without waiting for its lease to end);
- on another node, whose processes cannot be checked from here, the lease answers: a job
  whose lease has ended is taken over, one whose lease runs is left alone.

Rows written before leases (no node) are judged by their process id, as they were.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Protocol

logger = logging.getLogger(__name__)

#: How long a lease runs unless renewed. A holder renews it three times in that span, so a
#: lease ends only when its process (or its node, or its link to the database) is gone for
#: longer than LEASE_S * 2 / 3.
LEASE_S = 30.0


def this_node() -> str:
    """This machine's name in the store (`MLPILOT_NODE_NAME`, or the host name)."""
    return os.environ.get("MLPILOT_NODE_NAME") or socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(node: str | None, pid: int | None, lease_until: float | None,
                 now: float | None = None) -> bool:
    """Whether the holder of a job (its node, process id and lease) still drives it."""
    if pid is None:
        return False
    if node is None or node == this_node():
        return process_alive(pid)
    return lease_until is not None and lease_until > (time.time() if now is None else now)


def is_me(node: str | None, pid: int | None) -> bool:
    """Whether this process is the holder."""
    return pid == os.getpid() and node in (None, this_node())


class Renews(Protocol):
    """What the keeper needs of the store."""

    location: object

    def renew_leases(self) -> int: ...


_keepers: dict[tuple[int, str], threading.Thread] = {}
_keepers_lock = threading.Lock()


def keep_leases(store: Renews) -> None:
    """Make sure a thread of this process renews the leases this process holds in `store`'s
    database (one thread per process and database, started on first use)."""
    key = (os.getpid(), str(store.location))
    with _keepers_lock:
        if key in _keepers and _keepers[key].is_alive():
            return
        thread = threading.Thread(target=_renew_forever, args=(store,), daemon=True,
                                  name="mlpilot-leases")
        _keepers[key] = thread
        thread.start()


def _renew_forever(store: Renews) -> None:
    while True:
        time.sleep(LEASE_S / 3)
        try:
            store.renew_leases()
        except Exception as err:  # noqa: BLE001 - the database is away: renew next time
            logger.warning("could not renew this process's job leases: %s", err)
