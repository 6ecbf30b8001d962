"""Free TCP ports on the loopback, for processes the launcher or a test starts."""

from __future__ import annotations

import socket
import threading

__all__ = ["free_port"]

_given: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it), and never one this process
    was given before: ports are handed out before anything binds them, and the OS may
    otherwise pick the same one twice."""
    while True:
        with socket.socket() as sock:
            sock.bind(("", 0))  # free on every interface (a listener may take 0.0.0.0)
            port = sock.getsockname()[1]
        with _lock:
            if port not in _given:
                _given.add(port)
                return port
