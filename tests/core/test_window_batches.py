"""A window's batches are built for all of a process's lines at once: the records are the ones
each line would give on its own, merged in timestamp order with ties in line order."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from ats_sim.engine import LineSim
from ats_sim.simulation import Simulation, merge
from ats_sim.window_batches import window_batches


def _tables(batches: list) -> dict[str, pa.Table]:  # type: ignore[type-arg]
    return {b.type.name: pa.Table.from_batches([b.data]) for b in batches}


@pytest.mark.parametrize(
    ("scenario", "warm_up"), [("event-surge", False), ("disruption", False), ("weekday", True)]
)
def test_all_lines_at_once_equal_each_line_alone_then_merged(scenario: str, warm_up: bool) -> None:
    """Every column, every window: built together == built line by line, then merged."""
    kw = {}
    if warm_up:  # a live run's warm-up: records before emit_from are not emitted
        sc = Simulation(scenario).scenario
        kw["emit_from"] = dt.datetime.combine(sc.start_date, dt.time(7, 20), dt.UTC)
    sim = Simulation(scenario, until="4h", seed=3, telemetry_interval_s=4, **kw)
    ids = [ln.id for ln in sim.scenario.network.lines]
    together = [LineSim(sim.spec, ln) for ln in sim.scenario.network.lines]
    alone = [LineSim(sim.spec, ln) for ln in sim.scenario.network.lines]
    seen = set()
    for b in (sim.start_s + 600 * k for k in range(1, 25)):
        for ls in together:
            ls.run_to(b)
        joint = _tables(window_batches(together))
        merged = _tables(merge([ls.advance(b) for ls in alone], ids))
        assert joint.keys() == merged.keys()
        for name, table in joint.items():
            assert table.equals(merged[name]), (name, b)
            seen.add(name)
    assert seen == {"telemetry", "station_event", "alert"}
