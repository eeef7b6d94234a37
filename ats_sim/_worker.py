"""A line-simulation worker process: ``python -m ats_sim._worker``.

Used where worker processes are not forked (see :data:`ats_sim.workers.START`): reads a pickled
``(spec, line_ids, start, window_s)`` from stdin and serves its windows on stdout. Started as a
plain interpreter rather than through ``multiprocessing`` so that it never re-imports the
caller's ``__main__`` (notebooks and scripts without a main guard work).
"""

from __future__ import annotations

import pickle
import sys

__all__ = ["main"]


def main() -> None:
    from ats_sim.workers import serve

    spec, line_ids, start, window_s = pickle.load(sys.stdin.buffer)
    try:
        serve(spec, line_ids, start, window_s, sys.stdout.fileno())
    except BaseException:  # serve has told the parent what failed
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
