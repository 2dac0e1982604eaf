"""Keeping a long run's C heap from creeping: what the simulator keeps is packed into blocks of
their own size, and large tables get mappings of their own.

Once the retention window and the journal are full, the objects Python keeps stop growing, yet
RSS went on from 255 MB at 200,000 purchases to 285 MB at 1,000,000: glibc's heap held ever more
free space (45 MB, then 74) in holes it could not reuse or return. Two things made them, one
fixed by each function here (bench/gc_census.py --heap shows the heap).
"""

from __future__ import annotations

import ctypes
import marshal
import platform
from typing import Any

# glibc's mallopt parameter for the size from which a block gets a mapping of its own.
_M_MMAP_THRESHOLD = -3
# Tables of the store's size (a dict of 100,000 keys: 4-15 MB) are well above it; a request's own
# blocks are below it.
MAPPED_FROM = 256 * 1024


def packed(value: Any) -> bytes:
    """``marshal.dumps(value)`` in a block of its own size.

    marshal grows its buffer a kilobyte at a time, out of Python's small-object pools, and trims it
    in place at the end: a 200-byte row kept for a long time would hold the front of a 1 KB glibc
    block, and such rows, scattered through the heap, left the space between them too small to
    reuse. The copy is one block of the exact size (Python's own pools up to 512 bytes), about 0.1 µs.
    """
    return memoryview(marshal.dumps(value)).tobytes()


def map_large_blocks() -> None:
    """On glibc, give every block from :data:`MAPPED_FROM` up a mapping of its own, for the whole run.

    glibc maps large blocks by default, but once one is freed it raises that threshold (up to
    32 MB) and puts the next ones in the heap instead. A dict that grows and shrinks with the
    retention window is rebuilt at a new place every few thousand purchases; in the heap each old
    copy left a hole of many megabytes that the small blocks in between kept from being reused or
    returned. A fixed threshold ends that: a freed table goes back to the system at once. Other C
    libraries are left as they are.
    """
    if platform.libc_ver()[0] == "glibc":
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt(_M_MMAP_THRESHOLD, MAPPED_FROM)
