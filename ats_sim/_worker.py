"""A line-simulation worker process: ``python -m ats_sim._worker``.

Reads a pickled ``(spec, line_ids, start, window_s)`` from stdin, simulates those lines window
by window and writes each window's batches to stdout as length-prefixed frames (Arrow IPC
inside a pickle). Started as a plain subprocess rather than through ``multiprocessing`` so that
it never re-imports the caller's ``__main__`` (notebooks and scripts without a main guard work).
"""

from __future__ import annotations

import pickle
import sys

from ats_sim._frames import write_frame

__all__ = ["main"]


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
