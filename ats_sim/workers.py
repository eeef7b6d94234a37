"""Line workers: processes that simulate some of a run's lines and hand each window over.

With ``workers=N`` the calling process simulates one share of the lines itself and N - 1
worker processes simulate the others; the caller merges every window's records in timestamp
and line order, so the records are the ones a one-process run gives. On Linux a worker is forked from the
caller: it starts at once, with the caller's imports and the run already in memory. Elsewhere
it is a fresh interpreter running ``python -m ats_sim._worker`` that reads its share of the
run, pickled, from stdin. Neither re-imports the caller's ``__main__``, so notebooks and
scripts without a main guard work.

On the pipe, each window is one frame: an 8-byte length, a pickled header listing
``(record type, size)`` per batch (one batch per record type for all the worker's lines), then the batches' Arrow IPC messages back to
back (without schemas: both sides know them). The caller reads a frame into one buffer and
takes the batches from it without copying. A header that is a string reports the worker's
error instead.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ats_sim.engine import LineSim, RunSpec
from ats_sim.records import RECORD_TYPES, Batch
from ats_sim.window_batches import window_batches

__all__ = ["START", "Worker", "boundaries", "serve", "start_worker"]

#: How worker processes start: ``"fork"`` where the platform forks safely, else ``"spawn"``.
START = "fork" if sys.platform == "linux" else "spawn"

_LEN = struct.Struct("<Q")


def boundaries(start: float, until: float | None, window_s: float) -> Iterator[float]:
    """The ends of the regular windows of a run: ``start + k * window_s``, capped at ``until``."""
    k = 1
    while True:
        b = start + k * window_s
        if until is not None and b >= until:
            yield until
            return
        yield b
        k += 1


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        if hasattr(os, "readv"):  # straight into the buffer
            k = os.readv(fd, [view[got:]])
        else:  # Windows
            chunk = os.read(fd, n - got)
            k = len(chunk)
            view[got : got + k] = chunk
        if k == 0:
            raise EOFError
        got += k
    return buf


def _header(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


def serve(spec: RunSpec, line_ids: list[str], start: float, window_s: float, fd: int) -> None:
    """Simulate ``line_ids`` (in network order) window by window, writing each window's
    batches to ``fd``."""
    try:
        sims = [LineSim(spec, spec.scenario.network.line(i)) for i in line_ids]
        for b in boundaries(start, spec.until_s, window_s):
            items, buffers = [], []
            for sim in sims:
                sim.run_to(b)
            for batch in window_batches(sims):
                buf = batch.data.serialize()
                items.append((batch.type.name, buf.size))
                buffers.append(buf)
            _write_all(fd, _header(items))
            for buf in buffers:
                _write_all(fd, buf)
    except BrokenPipeError:  # the caller stopped reading: nothing left to do
        return
    except BaseException as exc:  # tell the caller what failed instead of leaving it waiting
        _write_all(fd, _header(f"{type(exc).__name__}: {exc}"))
        raise


def _widen_pipe(fd: int) -> None:
    """Let a worker run up to about a window ahead of the caller (Linux; elsewhere a no-op)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError, AttributeError):
        pass


@dataclass
class Worker:
    """A running worker: the pipe it writes to and how to stop it."""

    fd: int
    lines: list[str]
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    def read_window(self) -> list[Batch]:
        """The next window's batches, one per record type present."""
        try:
            (n,) = _LEN.unpack(_read_exact(self.fd, _LEN.size))
            header = pickle.loads(_read_exact(self.fd, n))
            if isinstance(header, str):
                raise RuntimeError(f"a simulation worker failed: {header}")
            data = pa.py_buffer(_read_exact(self.fd, sum(size for _, size in header)))
        except EOFError:
            raise RuntimeError(
                f"a simulation worker ended before the run did (lines {', '.join(self.lines)}; "
                f"exit status {self.stop()})"
            ) from None
        out, offset = [], 0
        for name, size in header:
            rtype = RECORD_TYPES[name]
            out.append(
                Batch(rtype, pa.ipc.read_record_batch(data.slice(offset, size), rtype.arrow_schema))
            )
            offset += size
        return out

    def stop(self) -> int | None:
        """End the worker (killed if still running) and return its exit status."""
        status: int | None = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            status = self.proc.wait(timeout=10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, raw = os.waitpid(self.pid, 0)
            status = os.waitstatus_to_exitcode(raw)
            self.pid = None
        if self.fd >= 0 and self.proc is None:
            os.close(self.fd)
        self.fd = -1
        return status


def start_worker(spec: RunSpec, line_ids: list[str], start: float, window_s: float) -> Worker:
    """Start a worker simulating ``line_ids`` (see :data:`START`)."""
    if START == "fork":
        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd)
        pid = os.fork()
        if pid == 0:  # the worker: simulate, then leave without running the caller's cleanup
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
                os.close(read_fd)
                serve(spec, line_ids, start, window_s, write_fd)
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        return Worker(read_fd, line_ids, pid=pid)
    # The worker imports ats_sim from where this process did, installed or not.
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ats_sim._worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    _widen_pipe(proc.stdout.fileno())
    pickle.dump((spec, line_ids, start, window_s), proc.stdin)
    proc.stdin.close()
    return Worker(proc.stdout.fileno(), line_ids, proc=proc)
