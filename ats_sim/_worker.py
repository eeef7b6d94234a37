"""A line-simulation worker process: ``python -m ats_sim._worker``.

Reads a pickled ``(spec, line_ids, start, window_s)`` from stdin, simulates those lines window
by window and writes each window's batches to stdout as length-prefixed frames (Arrow IPC
inside a pickle). Started as a plain subprocess rather than through ``multiprocessing`` so that
it never re-imports the caller's ``__main__`` (notebooks and scripts without a main guard work).
"""

from __future__ import annotations

import pickle
import struct
import sys
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


def main() -> None:
    from ats_sim.engine import LineSim
    from ats_sim.simulation import _boundaries, _ipc

    spec, line_ids, start, window_s = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        sims = [LineSim(spec, spec.scenario.network.line(i)) for i in line_ids]
        for b in _boundaries(start, spec.until_s, window_s):
            payload = [[(x.type.name, _ipc(x.data)) for x in sim.advance(b)] for sim in sims]
            write_frame(out, b"+" + pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except BrokenPipeError:
        return
    except BaseException as exc:  # tell the parent what failed instead of leaving it hanging
        write_frame(out, b"!" + repr(exc).encode())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
