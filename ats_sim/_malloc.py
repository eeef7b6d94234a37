"""Keep freed heap memory for reuse while a run allocates window after window (glibc only).

A replay allocates and frees the same few megabytes of NumPy and Arrow buffers for every
window. glibc's default returns the top of the heap to the system as soon as 128 KiB of it is
free, so the next window faults the same pages in again: about 200,000 page faults and a tenth
of the CPU time of a one-day replay. Asking glibc to keep a 64 MiB pad (``M_TOP_PAD``) removes
them. It is a process-wide setting, applied once when the first run starts; set
``ATS_SIM_MALLOC_TUNING=0`` to leave the allocator alone. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]

_M_TOP_PAD = -2
_PAD = 64 << 20
_done = False


def keep_freed_memory() -> bool:
    """Apply the setting once; ``True`` if glibc took it."""
    global _done
    if _done:
        return False
    _done = True
    if not sys.platform.startswith("linux") or os.environ.get("ATS_SIM_MALLOC_TUNING") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_TOP_PAD, _PAD))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
