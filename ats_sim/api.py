"""The library entry point: ``ats_sim.run(...)`` and its result.

>>> import ats_sim
>>> result = ats_sim.run("weekday", until="30m", seed=7)
>>> int(result.telemetry["train_id"].nunique()) > 0
True
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from ats_sim.records import RECORD_TYPES, Batch
from ats_sim.scenario import Scenario
from ats_sim.simulation import Simulation
from ats_sim.summary import RunSummary

__all__ = ["RunResult", "run"]


class RunResult:
    """What a run produced: its records (unless streamed away) and its key figures."""

    def __init__(self, simulation: Simulation, batches: dict[str, list[pa.RecordBatch]] | None,
                 summary: RunSummary) -> None:
        self.simulation = simulation
        self.scenario: Scenario = simulation.scenario
        self.run_id = simulation.run_id
        self.seed = simulation.spec.seed
        self.summary = summary
        self._batches = batches

    def arrow(self, record_type: str) -> pa.Table:
        """The records of one type as an Arrow table."""
        if self._batches is None:
            raise ValueError("this run streamed its records to a callable and kept none; run without emit=")
        rtype = RECORD_TYPES[record_type]
        return pa.Table.from_batches(self._batches[record_type], schema=rtype.arrow_schema)

    def dataframe(self, record_type: str) -> Any:
        """The records of one type as a pandas DataFrame (timestamps timezone-aware UTC)."""
        return self.arrow(record_type).to_pandas()

    @property
    def telemetry(self) -> Any:
        """Telemetry records (pandas)."""
        return self.dataframe("telemetry")

    @property
    def events(self) -> Any:
        """Station events (pandas)."""
        return self.dataframe("station_event")

    @property
    def alerts(self) -> Any:
        """Alerts raised and cleared (pandas)."""
        return self.dataframe("alert")

    def polars(self, record_type: str) -> Any:
        """The records of one type as a polars DataFrame (needs polars)."""
        import polars as pl

        return pl.from_arrow(self.arrow(record_type))

    def batches(self) -> list[Batch]:
        """Every record, as batches per type."""
        if self._batches is None:
            return []
        return [Batch(RECORD_TYPES[n], b) for n, bs in self._batches.items() for b in bs]

    def __repr__(self) -> str:
        s = self.summary.as_dict()
        return (f"RunResult(run_id={self.run_id!r}, records={s['records']}, "
                f"alerts_raised={s['alerts_raised']}, energy_mwh={s['energy_mwh']})")

    def _repr_html_(self) -> str:
        s = self.summary.as_dict()
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in s.items())
        return (f"<div><b>ats-sim run</b> {html.escape(self.run_id)} of scenario "
                f"<i>{html.escape(self.scenario.name)}</i> (seed {self.seed})<table>{rows}</table></div>")


def run(
    scenario: str | Scenario = "weekday",
    *,
    until: Any = None,
    days: float | None = None,
    seed: int | None = None,
    telemetry_interval_s: float | None = None,
    workers: int = 1,
    lines: list[str] | None = None,
    emit: Callable[[Batch], None] | None = None,
    keep: bool | None = None,
) -> RunResult:
    """Replay a scenario as fast as possible and return its records.

    Args:
        scenario: a built-in name (``weekday``, ``weekend``, ``disruption``, ``heatwave``,
            ``event-surge``), a TOML path, or a :class:`Scenario`.
        until: how long to run from the start of service (``"3h"``, seconds, a ``timedelta``)
            or until a date-time; default one service day (or ``days``).
        seed: random seed; the same scenario and seed give byte-identical records.
        telemetry_interval_s: 1 to 300 s; default the scenario's.
        workers: processes to spread the lines over; the records are the same as with one.
        emit: a callable that receives every :class:`Batch` as it is produced (the seam the
            sinks use); records are then not kept unless ``keep=True``.
    """
    sim = Simulation(scenario, until=until, days=days, seed=seed,
                     telemetry_interval_s=telemetry_interval_s, workers=workers, lines=lines)
    keep = emit is None if keep is None else keep
    kept: dict[str, list[pa.RecordBatch]] | None = {n: [] for n in RECORD_TYPES} if keep else None
    summary = RunSummary()
    for window in sim.windows():
        for batch in window:
            summary.add(batch)
            if kept is not None:
                kept[batch.type.name].append(batch.data)
            if emit is not None:
                emit(batch)
    return RunResult(sim, kept, summary)
