"""Worker processes: the same records however the lines are spread, and failures named."""

from __future__ import annotations

import threading

import pytest

import ats_sim.workers
from ats_sim.scenario import load_scenario
from ats_sim.simulation import Simulation, shares
from tests.core.test_determinism import digest


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_forked_or_started_afresh_give_the_records_of_one_process(
    start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ats_sim.workers, "START", start)
    kw = dict(until="90m", seed=5, telemetry_interval_s=7)
    one = digest(Simulation("disruption", workers=1, **kw))  # type: ignore[arg-type]
    two = digest(Simulation("disruption", workers=2, **kw))  # type: ignore[arg-type]
    assert one == two
    assert one[1] > 5_000


def test_parts_in_shared_slots_reused_or_too_large_for_one_give_the_same_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forked worker's parts go through its ring of shared slots, each slot reused once the
    caller has assembled its window (many more windows than slots); a part larger than a slot
    goes through the pipe."""
    sizes: list[tuple[int, bool]] = []

    def noted(frame: bytearray, slot: object = None):  # type: ignore[no-untyped-def]
        payload, in_slot = load(frame, slot)
        sizes.append((len(frame), in_slot))
        return payload, in_slot

    load = ats_sim.workers._load
    monkeypatch.setattr(ats_sim.workers, "START", "fork")
    monkeypatch.setattr(ats_sim.workers, "SLOT_BYTES", 400_000)
    monkeypatch.setattr(ats_sim.workers, "_load", noted)
    kw = dict(until="4h", seed=5, telemetry_interval_s=2, window_s=300)
    one = digest(Simulation("weekday", **kw))  # type: ignore[arg-type]
    assert digest(Simulation("weekday", workers=2, **kw)) == one  # type: ignore[arg-type]
    in_slots = [n for n, lent in sizes if lent]
    assert len(in_slots) > 3 * ats_sim.workers.Ring().slots  # every slot used several times
    assert max(in_slots) < 10_000  # only the pickle went through the pipe
    assert any(not lent and n > 400_000 for n, lent in sizes)  # too large: through the pipe


def test_a_run_that_emits_from_a_later_time_gives_the_same_records_with_workers() -> None:
    """A live run's warm-up (records before ``emit_from`` are not emitted) in a window the
    caller merges: its own rows are put in order and filtered in the merge."""
    import datetime as dt

    sc = load_scenario("weekday")
    kw = dict(
        until="3h",
        seed=4,
        telemetry_interval_s=3,
        emit_from=dt.datetime.combine(sc.start_date, dt.time(6, 47), dt.UTC),
    )
    one = digest(Simulation("weekday", **kw))  # type: ignore[arg-type]
    assert one[1] > 1_000
    assert digest(Simulation("weekday", workers=2, **kw)) == one  # type: ignore[arg-type]


def test_workers_read_without_readv_as_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``os.readv`` does not exist (Windows), frames are read with ``os.read``."""
    import os

    monkeypatch.setattr(ats_sim.workers, "START", "spawn")
    monkeypatch.delattr(os, "readv")
    kw = dict(until="30m", seed=5, telemetry_interval_s=3)
    assert digest(Simulation("weekday", workers=2, **kw)) == digest(Simulation("weekday", **kw))  # type: ignore[arg-type]


def test_lines_are_shared_by_their_work_lightest_share_in_the_calling_process() -> None:
    sc = load_scenario("weekday")
    assert shares(sc, 1) == [["R", "B"]]
    assert shares(sc, 2) == [["B"], ["R"]]  # B is the shorter line, with fewer stations
    assert shares(sc, 5) == [["B"], ["R"]]  # never an empty share


def test_a_worker_that_fails_is_reported_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault no real input produces on demand: the worker's line simulation raises."""

    def broken(self, until):  # type: ignore[no-untyped-def]
        if self.line.id == "R":
            raise ValueError("profile table corrupt")
        return original(self, until)

    original = ats_sim.workers.LineSim.run_to
    monkeypatch.setattr(ats_sim.workers.LineSim, "run_to", broken)
    sim = Simulation("weekday", until="30m", workers=2)
    with pytest.raises(
        RuntimeError, match="simulation worker failed: ValueError: profile table corrupt"
    ):
        for _ in sim.windows():
            pass


def test_a_worker_that_dies_is_reported_with_its_exit_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    def dies(self, until):  # type: ignore[no-untyped-def]
        if self.line.id == "R":
            os._exit(7)
        return original(self, until)

    original = ats_sim.workers.LineSim.run_to
    monkeypatch.setattr(ats_sim.workers.LineSim, "run_to", dies)
    with pytest.raises(RuntimeError, match=r"ended before the run did \(lines R; exit status 7\)"):
        for _ in Simulation("weekday", until="30m", workers=2).windows():
            pass


def test_stopping_early_leaves_no_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    pids: list[int] = []

    def recorded(*args):  # type: ignore[no-untyped-def]
        w = start(*args)
        pids.append(w.pid)
        return w

    start = ats_sim.workers.start_worker
    monkeypatch.setattr("ats_sim.simulation.start_worker", recorded)
    windows = Simulation("weekday", until="3h", workers=2, window_s=300).windows()
    next(windows)  # the worker's reader thread now runs windows ahead
    windows.close()
    assert len(pids) == 1
    with pytest.raises(ProcessLookupError):  # killed and reaped, not a zombie
        os.kill(pids[0], 0)
    assert not [t for t in threading.enumerate() if t.name == "ats-sim-worker-reader"]
