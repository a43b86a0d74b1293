"""Free TCP ports for the servers tests start (Prometheus, Alertmanager, `serve` processes).

A port is picked, then the server binds it a moment later. Two pytest-xdist workers asking the kernel for an
ephemeral port could be handed the same one in between; so each worker draws from its own block, below the
kernel's ephemeral range (which outgoing connections use), starting at a random point and moving on.
"""

from __future__ import annotations

import os
import random
import socket

FIRST, LAST = 15000, 32000  # below /proc/sys/net/ipv4/ip_local_port_range (32768-60999 by default)
BLOCKS = 16  # workers beyond 16 share blocks


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % BLOCKS if worker.isdigit() else 0
    size = (LAST - FIRST) // BLOCKS
    return range(FIRST + index * size, FIRST + (index + 1) * size)


_BLOCK = _block()
_next = random.randrange(len(_BLOCK))


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now, never the same twice in a row, never another worker's."""
    global _next
    for _ in range(len(_BLOCK)):
        port = _BLOCK[_next % len(_BLOCK)]
        _next += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_BLOCK}")
