"""What the machine itself took from the benches: a virtual machine's host stealing a CPU.

The host can stop a virtual CPU for milliseconds at a time. Every clock inside the guest goes on
meanwhile, so a request in flight looks long and a watcher looks late, though the simulator did
nothing. Linux counts that time per CPU in /proc/stat (the steal column), which the benches read
around what they time.
"""

from __future__ import annotations

import os
from pathlib import Path


def stolen_ms(cpu: int | None) -> float:
    """The host's steal time on ``cpu`` (None: all CPUs together) since boot, in ms; 0 where the
    system does not report it."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0] == name and len(fields) > 8:
                return int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return 0.0
