"""A window's batches are built for all of a run's lines at once: the records are the ones
each line gives on its own, sorted by timestamp with ties in line order, every column kept."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pyarrow as pa
import pytest

from ats_sim.engine import LineSim
from ats_sim.records import Batch
from ats_sim.simulation import Simulation
from ats_sim.window_batches import MirroredLine, assemble, window_batches, window_part


def _sorted_by_time_then_line(per_line: list[list[Batch]], ids: list[str]) -> dict[str, pa.Table]:
    """The plain definition: every line's rows, stable-sorted by timestamp then line."""
    out = {}
    for name in ("telemetry", "station_event", "alert"):
        parts = [b.data for batches in per_line for b in batches if b.type.name == name]
        if not parts:
            continue
        table = pa.Table.from_batches(parts)
        ts = table.column("timestamp").cast(pa.int64()).to_numpy()
        line = np.array([ids.index(x) for x in table.column("line_id").to_pylist()])
        out[name] = table.take(np.lexsort((line, ts))).combine_chunks()
    return out


def _tables(batches: list[Batch]) -> dict[str, pa.Table]:
    return {b.type.name: pa.Table.from_batches([b.data]) for b in batches}


def _sims(sim: Simulation) -> list[LineSim]:
    return [LineSim(sim.spec, ln) for ln in sim.scenario.network.lines]


@pytest.mark.parametrize(
    ("scenario", "warm_up"), [("event-surge", False), ("disruption", False), ("weekday", True)]
)
def test_all_lines_at_once_equal_each_line_alone_sorted(scenario: str, warm_up: bool) -> None:
    """Every column, every window: built together == each line built alone, then sorted."""
    kw = {}
    if warm_up:  # a live run's warm-up: records before emit_from are not emitted
        sc = Simulation(scenario).scenario
        kw["emit_from"] = dt.datetime.combine(sc.start_date, dt.time(7, 20), dt.UTC)
    sim = Simulation(scenario, until="4h", seed=3, telemetry_interval_s=4, **kw)
    ids = [ln.id for ln in sim.scenario.network.lines]
    together, alone = _sims(sim), _sims(sim)
    seen = set()
    for b in (sim.start_s + 600 * k for k in range(1, 25)):
        for ls in together:
            ls.run_to(b)
        joint = _tables(window_batches(together))
        want = _sorted_by_time_then_line([ls.advance(b) for ls in alone], ids)
        assert joint.keys() == want.keys()
        for name, table in joint.items():
            assert table.equals(want[name]), (name, b)
            seen.add(name)
    assert seen == {"telemetry", "station_event", "alert"}


def test_parts_from_separate_processes_assemble_into_the_same_batches() -> None:
    """As with a worker: line R's part made apart and its strings mirrored from the ids it
    added; the parts may come in any order."""
    sim = Simulation("event-surge", until="3h", seed=2, telemetry_interval_s=5)
    assert [ln.id for ln in sim.scenario.network.lines] == ["R", "B"]
    together = _sims(sim)
    r, b_line = _sims(sim)
    mirror = MirroredLine(r.line)
    seen = set()
    for b in (sim.start_s + 900 * k for k in range(1, 13)):
        for ls in (*together, r, b_line):
            ls.run_to(b)
        want = _tables(window_batches(together))
        r_part = window_part([r], [0])
        mirror.update(r_part.new_ids[0])
        got = _tables(assemble(sim.spec, [mirror, b_line], [window_part([b_line], [1]), r_part]))
        assert got.keys() == want.keys()
        for name, table in got.items():
            assert table.equals(want[name]), (name, b)
            seen.add(name)
    assert seen == {"telemetry", "station_event", "alert"}


def test_a_borrowed_part_lends_no_memory_to_its_batches() -> None:
    """A worker's part that views its shared slot, alone in its window: the batches keep
    their records when the slot is written over by the worker's next part."""
    sim = Simulation("event-surge", until="3h", seed=2, telemetry_interval_s=5)
    r, b_line = _sims(sim)
    mirror = MirroredLine(r.line)
    r.run_to(sim.start_s + 5400)
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(window_part([r], [0]), protocol=5, buffer_callback=buffers.append)
    slot = [bytearray(b.raw()) for b in buffers]
    part = pickle.loads(data, buffers=slot)
    part.borrowed = True
    mirror.update(part.new_ids[0])
    batches = assemble(sim.spec, [mirror, b_line], [part])
    before = {b.type.name: b.data.to_pylist() for b in batches}
    assert before.keys() == {"telemetry", "station_event", "alert"}
    for memory in slot:
        memory[:] = bytes(len(memory))
    after = {b.type.name: b.data.to_pylist() for b in batches}
    assert not [name for name in before if after[name] != before[name]]
