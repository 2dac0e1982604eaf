"""A simulator in a process of its own: a free port to start it on, and a clean stop.

The pytest plugin, the test suite, the benchmarks and the Postman runner all start `ppu-sim serve`
as a child process; they share these two steps so that each stops its server the same way.
"""

from __future__ import annotations

import socket
import subprocess


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Ask the process to end (SIGTERM: held requests are closed, the journal flushed), and kill it
    if it has not within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
