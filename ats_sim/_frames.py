"""Length-prefixed frames on a byte stream: how sweep workers (``python -m ats_sim.sweep``)
exchange jobs and answers with their parent. Line workers have their own framing, in
:mod:`ats_sim.workers`.
"""

from __future__ import annotations

import struct
from typing import IO

__all__ = ["read_frame", "write_frame"]


def write_frame(out: IO[bytes], payload: bytes) -> None:
    """One frame: 8-byte length, then the payload."""
    out.write(struct.pack("<Q", len(payload)))
    out.write(payload)
    out.flush()


def read_frame(src: IO[bytes]) -> bytes:
    """The next frame's payload; raises ``EOFError`` when the worker ended early."""
    head = src.read(8)
    if len(head) < 8:
        raise EOFError("the simulation worker ended without finishing its windows")
    (n,) = struct.unpack("<Q", head)
    data = src.read(n)
    if len(data) < n:
        raise EOFError("the simulation worker ended in the middle of a window")
    return data
