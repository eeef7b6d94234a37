"""Line workers: processes that simulate some of a run's lines and hand each window over.

With ``workers=N`` the calling process simulates one share of the lines itself and N - 1
worker processes simulate the others; the caller merges every window's records in timestamp
and line order, so the records are the ones a one-process run gives. On Linux a worker is forked from the
caller: it starts at once, with the caller's imports and the run already in memory. Elsewhere
it is a fresh interpreter running ``python -m ats_sim._worker`` that reads its share of the
run, pickled, from stdin. Neither re-imports the caller's ``__main__``, so notebooks and
scripts without a main guard work.

Each worker hands over, per window, a :class:`~ats_sim.window_batches.WindowPart` of its
lines: telemetry drawn, computed and rounded in the worker, station events and alerts as
record batches, and the train and trip ids its lines added. The caller assembles the window's
batches from its own part and the workers' (:func:`ats_sim.window_batches.assemble`). On the
pipe, each window is one frame: an 8-byte length, then the part pickled with its arrays out
of band (:func:`_send`). A frame that holds a string reports the worker's error instead.

A forked worker writes those arrays into memory it shares with the caller (a :class:`Ring` of
slots) rather than through the pipe, which then carries only the pickle: the caller's arrays
view the slot, with no copy through the kernel and no fresh pages to fault in every window.
The worker fills the slots in turn; the caller hands a window's slot back (a byte on a second
pipe) once it has assembled the window (:meth:`Worker.release`), and the worker waits for a
free slot before it fills one. A part larger than a slot goes through the pipe.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ats_sim.engine import LineSim, RunSpec
from ats_sim.window_batches import WindowPart, window_part

__all__ = ["AHEAD", "SLOT_BYTES", "START", "Ring", "Worker", "boundaries", "serve", "start_worker"]

#: How worker processes start: ``"fork"`` where the platform forks safely, else ``"spawn"``.
START = "fork" if sys.platform == "linux" else "spawn"

_LEN = struct.Struct("<Q")

#: How many windows a worker may run ahead of the caller.
AHEAD = 4

#: The size of a :class:`Ring`'s slot: a forked worker's part larger than this (a window of
#: many lines at a short telemetry interval) goes through the pipe instead.
SLOT_BYTES = 32 << 20

#: Where a buffer starts in a slot: a multiple of this many bytes.
_ALIGN = 64


class Ring:
    """Shared memory for a forked worker's arrays: ``slots`` slots of ``slot_bytes`` each,
    made before the fork so that the worker and the caller map the same pages. The worker
    fills slot ``k % slots`` with its ``k``-th part; a slot is free again once the caller
    has written a byte to ``credits`` (:meth:`Worker.release`)."""

    def __init__(self, slots: int = 3, slot_bytes: int | None = None) -> None:
        # Three slots: the window the caller assembles and two the worker runs ahead.
        self.slots, self.slot_bytes = slots, slot_bytes or SLOT_BYTES
        self.memory = mmap.mmap(-1, slots * self.slot_bytes)  # shared and anonymous
        self.view = memoryview(self.memory)
        self.credits_r, self.credits_w = os.pipe()
        self.sent = 0

    def slot(self, k: int) -> memoryview:
        at = (k % self.slots) * self.slot_bytes
        return self.view[at : at + self.slot_bytes]

    def acquire(self) -> memoryview:
        """The worker's side: the slot for its next part, once the caller has freed it."""
        if self.sent >= self.slots and not os.read(self.credits_r, 1):
            raise BrokenPipeError("the caller stopped reading")
        self.sent += 1
        return self.slot(self.sent - 1)


def _layout(sizes: tuple[int, ...]) -> list[int]:
    """Where each buffer of ``sizes`` starts in a slot (aligned) and, last, the bytes used."""
    at, out = 0, []
    for n in sizes:
        out.append(at)
        at += -(-n // _ALIGN) * _ALIGN
    return [*out, at]


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


def _send(fd: int, payload: Any, slot: memoryview | None = None) -> None:
    """One frame: its length, then the payload pickled with its arrays' memory out of band
    (whether the buffers are in a ``slot``, the pickle's length, the number and sizes of the
    buffers, the pickle, then the buffers unless they are in the slot), so that no array is
    copied into the pickle and the reader's arrays view the frame or the slot."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(payload, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    sizes = tuple(r.nbytes for r in raws)
    starts = _layout(sizes)
    in_slot = False
    if slot is not None and raws and starts[-1] <= len(slot):
        for at, r in zip(starts, raws, strict=False):
            slot[at : at + r.nbytes] = r
        in_slot = True
    head = struct.pack(f"<{len(raws) + 3}Q", in_slot, len(data), len(raws), *sizes)
    pieces: list[Any] = [head, data] if in_slot else [head, data, *raws]
    _write_all(fd, _LEN.pack(len(head) + len(data) + (0 if in_slot else sum(sizes))))
    for piece in pieces:
        _write_all(fd, piece)


def _load(frame: bytearray, slot: memoryview | None = None) -> tuple[Any, bool]:
    """The payload of a frame written by :func:`_send` (its arrays use the frame's memory,
    or the ``slot``'s), and whether it is in the slot."""
    view = memoryview(frame)
    in_slot, size, count = struct.unpack_from("<3Q", view)
    sizes = struct.unpack_from(f"<{count}Q", view, 24)
    at = 24 + 8 * count
    data = view[at : at + size]
    if in_slot:
        assert slot is not None
        starts = _layout(sizes)
        buffers = [slot[a : a + n] for a, n in zip(starts, sizes, strict=False)]
    else:
        at += size
        buffers = []
        for n in sizes:
            buffers.append(view[at : at + n])
            at += n
    return pickle.loads(data, buffers=buffers), bool(in_slot)


def serve(
    spec: RunSpec,
    line_ids: list[str],
    start: float,
    window_s: float,
    fd: int,
    ring: Ring | None = None,
) -> None:
    """Simulate ``line_ids`` (in network order) window by window, writing each window's
    part to ``fd``, its arrays into the ``ring``'s slots when there is one."""
    try:
        network = spec.scenario.network
        sims = [LineSim(spec, network.line(i)) for i in line_ids]
        ids = [ln.id for ln in network.lines]
        positions = [ids.index(i) for i in line_ids]
        for b in boundaries(start, spec.until_s, window_s):
            for sim in sims:
                sim.run_to(b)
            part = window_part(sims, positions)
            _send(fd, part, None if ring is None else ring.acquire())
    except BrokenPipeError:  # the caller stopped reading: nothing left to do
        return
    except BaseException as exc:  # tell the caller what failed instead of leaving it waiting
        _send(fd, f"{type(exc).__name__}: {exc}")
        raise


def _widen_pipe(fd: int) -> None:
    """A 1 MiB pipe, so that a frame passes in a few reads rather than one per 64 KiB (Linux;
    elsewhere a no-op). Running ahead is the reader thread's job (:data:`AHEAD`)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError, AttributeError):
        pass


@dataclass
class Worker:
    """A running worker: the pipe it writes to and how to stop it.

    A thread reads the worker's frames as they come, up to :data:`AHEAD` windows ahead of the
    caller, so that the worker never waits for the caller to read (a frame is larger than a
    pipe's buffer).
    """

    fd: int
    lines: list[str]
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    ring: Ring | None = None
    _read: int = field(init=False, default=0)
    _held: int = field(init=False, default=0)
    _frames: queue.Queue[bytearray | None] = field(init=False)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    _reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._frames = queue.Queue(AHEAD)
        self._reader = threading.Thread(target=self._read_frames, name="ats-sim-worker-reader")
        self._reader.daemon = True

    def _read_frames(self) -> None:
        try:
            while True:
                (n,) = _LEN.unpack(_read_exact(self.fd, _LEN.size))
                if not self._put(_read_exact(self.fd, n)):
                    return
        except (EOFError, OSError):
            self._put(None)

    def _put(self, frame: bytearray | None) -> bool:
        while not self._stopping.is_set():
            try:
                self._frames.put(frame, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read_window(self) -> WindowPart:
        """The next window's records of the worker's lines. A part whose arrays are in the
        worker's ring is ``borrowed``: its slot is reused after :meth:`release`."""
        if self._reader.ident is None:
            # Started on first use, once every worker is forked (a fork copies one thread).
            self._reader.start()
        frame = self._frames.get()
        if frame is None:
            raise RuntimeError(
                f"a simulation worker ended before the run did (lines {', '.join(self.lines)}; "
                f"exit status {self.stop()})"
            )
        slot = None if self.ring is None else self.ring.slot(self._read)
        payload, borrowed = _load(frame, slot)
        if isinstance(payload, str):
            raise RuntimeError(f"a simulation worker failed: {payload}")
        part: WindowPart = payload
        part.borrowed = borrowed
        self._read += 1
        self._held += 1
        return part

    def release(self) -> None:
        """Hand the slots of the parts read so far back to the worker (their windows are
        assembled: nothing views them any more)."""
        if self.ring is not None and self._held:
            with contextlib.suppress(BrokenPipeError):  # the worker has ended: none needed
                _write_all(self.ring.credits_w, b"\x01" * self._held)
            self._held = 0

    def stop(self) -> int | None:
        """End the worker (killed if still running) and return its exit status."""
        self._stopping.set()
        status: int | None = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            status = self.proc.wait(timeout=10)
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, raw = os.waitpid(self.pid, 0)
            status = os.waitstatus_to_exitcode(raw)
            self.pid = None
        if self._reader.is_alive():  # the pipe's other end is closed: it ends at once
            self._reader.join(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        elif self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        if self.ring is not None:  # its memory is unmapped once no array views it
            os.close(self.ring.credits_w)
            self.ring = None
        return status


def start_worker(spec: RunSpec, line_ids: list[str], start: float, window_s: float) -> Worker:
    """Start a worker simulating ``line_ids`` (see :data:`START`)."""
    if START == "fork":
        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd)
        ring = Ring()
        pid = os.fork()
        if pid == 0:  # the worker: simulate, then leave without running the caller's cleanup
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
                os.close(read_fd)
                os.close(ring.credits_w)
                serve(spec, line_ids, start, window_s, write_fd, ring)
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        os.close(ring.credits_r)
        ring.credits_r = -1
        return Worker(read_fd, line_ids, pid=pid, ring=ring)
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
