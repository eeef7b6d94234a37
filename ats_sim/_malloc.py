"""Allocator settings for long runs that allocate and free the same buffers window after window.

Two settings, applied once when the first run starts, both process-wide; set
``ATS_SIM_MALLOC_TUNING=0`` to leave the allocators alone.

- glibc returns the top of the heap to the system as soon as 128 KiB of it is free, so the
  next window faults the same pages in again: about 200,000 page faults and a tenth of the CPU
  time of a one-day replay. Asking it to keep a 64 MiB pad (``M_TOP_PAD``) removes them.
- Arrow's default pool here is mimalloc, which asks for transparent huge pages; where the kernel
  compacts memory to serve them (the common ``defrag=madvise`` setting), a replay that keeps its
  records in memory spent 1.3 to 2.8 s more CPU than with jemalloc or the system allocator.
  Unless ``ARROW_DEFAULT_MEMORY_POOL`` chooses a pool, Arrow's default pool becomes jemalloc
  (the system allocator where Arrow was built without it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import pyarrow as pa

__all__ = ["tune_allocators"]

_M_TOP_PAD = -2
_PAD = 64 << 20
_done = False


def tune_allocators() -> None:
    """Apply both settings once (see the module docstring)."""
    global _done
    if _done:
        return
    _done = True
    if os.environ.get("ATS_SIM_MALLOC_TUNING") == "0":
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has no mallopt
            ctypes.CDLL(None).mallopt(_M_TOP_PAD, _PAD)
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and (
        pa.default_memory_pool().backend_name == "mimalloc"
    ):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:
            pa.set_memory_pool(pa.system_memory_pool())
