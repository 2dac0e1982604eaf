"""The in-memory store: a long run's C heap does not creep."""

from __future__ import annotations

import subprocess
import sys

# Run in a process of its own: the threshold is the C library's, for the whole process.
_LARGE_BLOCK_AFTER_A_FREE = """
import ctypes
from ppu_sim.transport.server import settle_heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = MallInfo2
settle_heap()
libc.free(libc.malloc(8 << 20))  # a table of 8 MB, mapped and freed: glibc alone now keeps up to 8 MB in its heap
mapped = libc.mallinfo2().hblkhd
table = libc.malloc(1 << 20)
print(libc.mallinfo2().hblkhd - mapped)
"""


def test_the_server_maps_every_large_table_even_after_freeing_a_larger_one() -> None:
    """A table rebuilt as the retention window turns over must not go into the heap, where its
    old copies left holes that kept the process growing past a full window."""
    out = subprocess.run([sys.executable, "-c", _LARGE_BLOCK_AFTER_A_FREE], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 1 << 20
