"""A whole run: every line of a scenario advanced window by window, in one process or several.

:class:`Simulation` yields, per window of simulated time, one :class:`~ats_sim.records.Batch`
per record type, rows in timestamp order (ties in line order). Lines are independent, so with
``workers=N`` each worker process simulates some lines and the parent merges their windows
into the same order: the records are identical to a one-worker run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from ats_sim._malloc import tune_allocators
from ats_sim.clock import REPLAY_WINDOW_S
from ats_sim.engine import DAY, LineSim, RunSpec
from ats_sim.errors import ConfigError
from ats_sim.records import Batch
from ats_sim.scenario import Scenario, load_scenario, parse_clock
from ats_sim.window_batches import (
    LineStrings,
    MirroredLine,
    assemble,
    window_batches,
    window_part,
)
from ats_sim.workers import Worker, start_worker
from ats_sim.workers import boundaries as boundaries_of

__all__ = ["Simulation", "parse_duration", "parse_until"]

_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": DAY,
    "day": DAY,
    "days": DAY,
}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"45m"``, ``"3h"``, ``"2d"`` (also combined, ``"1h30m"``) to seconds."""
    compact = str(text).replace(" ", "").lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]+)", compact)
    if (
        not parts
        or "".join(a + b for a, b in parts) != compact
        or any(u not in _UNITS for _, u in parts)
    ):
        raise ConfigError(
            f"until={text!r}: expected a duration such as '90m', '3h', '1h30m' or '2d', or a date-time"
        )
    total = sum(float(n) * _UNITS[u] for n, u in parts)
    if total <= 0:
        raise ConfigError(f"until={text!r}: the duration must be positive")
    return total


def _epoch_ms(scenario: Scenario) -> int:
    tz = ZoneInfo(scenario.timezone)
    midnight = dt.datetime.combine(scenario.start_date, dt.time(0), tzinfo=tz)
    return int(midnight.timestamp() * 1000)


def parse_until(
    scenario: Scenario,
    until: str | float | dt.datetime | dt.timedelta | None,
    days: float | None,
    *,
    before_start_ok: bool = False,
) -> float:
    """The end of a run in simulation seconds.

    ``until`` is a duration from the start of service (``"3h"``, seconds, a ``timedelta``) or a
    date-time (naive means the scenario's local time); ``days`` counts whole service days. With
    neither, one service day. A date-time before the start of service is an error unless
    ``before_start_ok`` (a live run may start and end before the first train).
    """
    start = parse_clock(scenario.operations.service_start)
    end = parse_clock(scenario.operations.service_end)
    if until is not None and days is not None:
        raise ConfigError("give either until or days, not both")
    if until is None:
        n = 1 if days is None else days
        if n <= 0:
            raise ConfigError(f"days={days}: must be positive")
        whole = math.floor(n)
        if whole == n:
            return (whole - 1) * DAY + end
        return start + n * DAY
    if isinstance(until, dt.datetime):
        tz = ZoneInfo(scenario.timezone)
        local = until.astimezone(tz) if until.tzinfo else until.replace(tzinfo=tz)
        seconds = (local.timestamp() * 1000 - _epoch_ms(scenario)) / 1000
        if seconds <= start and not before_start_ok:
            raise ConfigError(
                f"until={until.isoformat()} is before the start of service on {scenario.start_date}"
            )
        return seconds
    if isinstance(until, dt.timedelta):
        return start + until.total_seconds()
    if isinstance(until, int | float):
        return start + float(until)
    return start + parse_duration(str(until))


def make_spec(
    scenario: Scenario,
    *,
    seed: int | None,
    until_s: float | None,
    telemetry_interval_s: float | None,
    emit_from_s: float | None = None,
) -> RunSpec:
    """The :class:`RunSpec` for a scenario, filling defaults from it."""
    seed = scenario.seed if seed is None else seed
    interval = (
        scenario.telemetry_interval_s if telemetry_interval_s is None else telemetry_interval_s
    )
    if not 1 <= interval <= 300:
        raise ConfigError(f"telemetry interval {interval} s is out of range: use 1 to 300 s")
    digest = hashlib.sha256(f"{scenario.model_dump_json()}|{interval}".encode()).hexdigest()[:8]
    return RunSpec(
        scenario=scenario,
        seed=int(seed),
        run_id=f"{scenario.name}-s{seed}-{digest}",
        epoch_ms=_epoch_ms(scenario),
        emit_from_s=parse_clock(scenario.operations.service_start)
        if emit_from_s is None
        else emit_from_s,
        until_s=until_s,
        telemetry_interval_s=float(interval),
    )


def _capped(boundaries: Iterable[float], until: float) -> Iterator[float]:
    for b in boundaries:
        if b >= until:
            yield until
            return
        yield b


def _line_weight(scenario: Scenario, line: Any) -> float:
    """Rough work of simulating a line: trains in service, from its round trip and headway."""
    trip_s = line.length_m / 10.0 + line.n_stations * 30.0 + line.turnaround_s
    return trip_s / scenario.operations.line_headway_factor.get(line.id, 1.0)


def shares(scenario: Scenario, n: int) -> list[list[str]]:
    """The lines split into ``n`` shares of about equal work, lightest share first, each share's
    lines in network order.

    Heaviest line first, each to the share with the least work so far. The calling process
    takes the first share, since it also merges every window.
    """
    loads = [0.0] * n
    groups: list[list[str]] = [[] for _ in range(n)]
    ranked = sorted(scenario.network.lines, key=lambda ln: -_line_weight(scenario, ln))
    for ln in ranked:
        k = loads.index(min(loads))
        groups[k].append(ln.id)
        loads[k] += _line_weight(scenario, ln)
    order = sorted(range(n), key=lambda k: loads[k])
    position = {ln.id: k for k, ln in enumerate(scenario.network.lines)}
    return [sorted(groups[k], key=position.__getitem__) for k in order if groups[k]]


class Simulation:
    """A configured run. Iterate :meth:`windows` to get records; nothing is done before that.

    Args:
        scenario: a built-in name, a TOML path or a :class:`Scenario`.
        until: duration from the start of service, or a date-time; ``None`` with ``days=None``
            means one service day. Use ``forever=True`` for a run that never ends (live mode).
        workers: processes to spread the lines over (at most one per line).
        lines: only these line ids.
    """

    def __init__(
        self,
        scenario: str | Scenario,
        *,
        until: Any = None,
        days: float | None = None,
        seed: int | None = None,
        telemetry_interval_s: float | None = None,
        workers: int = 1,
        lines: list[str] | None = None,
        window_s: float = REPLAY_WINDOW_S,
        forever: bool = False,
        start_date: dt.date | None = None,
        emit_from: dt.datetime | None = None,
    ) -> None:
        sc = load_scenario(scenario)
        if start_date is not None:
            sc = sc.with_changes(start_date=start_date)
        if lines:
            known = [ln.id for ln in sc.network.lines]
            bad = [x for x in lines if x not in known]
            if bad:
                raise ConfigError(
                    f"no line {', '.join(bad)} in {sc.network.name!r}; lines: {', '.join(known)}"
                )
            net = sc.network.model_copy(
                update={"lines": [ln for ln in sc.network.lines if ln.id in lines]}
            )
            sc = sc.with_changes(network=net)
        if workers < 1:
            raise ConfigError(f"workers={workers}: must be at least 1")
        self.scenario = sc
        # A run that emits from a given time (live) may end before service starts: it then
        # simply has no records.
        until_s = (
            None if forever else parse_until(sc, until, days, before_start_ok=emit_from is not None)
        )
        emit_from_s = None
        if emit_from is not None:
            emit_from_s = (emit_from.timestamp() * 1000 - _epoch_ms(sc)) / 1000
        self.spec = make_spec(
            sc,
            seed=seed,
            until_s=until_s,
            telemetry_interval_s=telemetry_interval_s,
            emit_from_s=emit_from_s,
        )
        self.workers = min(workers, len(sc.network.lines))
        self.window_s = window_s
        self.start_s = parse_clock(sc.operations.service_start)
        #: Simulation time reached by the last window yielded.
        self.now_s = self.start_s

    @property
    def run_id(self) -> str:
        """The id stamped on every record of this run."""
        return self.spec.run_id

    def to_epoch_ms(self, t: float) -> int:
        """Simulation seconds to UTC epoch milliseconds."""
        return self.spec.epoch_ms + round(t * 1000)

    @property
    def fraction_done(self) -> float | None:
        """Share of the simulated span covered so far (``None`` for endless runs)."""
        if self.spec.until_s is None:
            return None
        span = self.spec.until_s - self.start_s
        return min(1.0, (self.now_s - self.start_s) / span) if span > 0 else 1.0

    def windows(self, boundaries: Iterable[float] | None = None) -> Iterator[list[Batch]]:
        """Per window of simulated time, its records: one batch per record type present.

        ``boundaries`` (increasing simulation times) replaces the regular windows; a run that
        has an end stops there.
        """
        tune_allocators()
        regular = boundaries is None
        if boundaries is None:
            boundaries = boundaries_of(self.start_s, self.spec.until_s, self.window_s)
        elif self.spec.until_s is not None:
            boundaries = _capped(boundaries, self.spec.until_s)
        if self.workers == 1:
            sims = [LineSim(self.spec, ln) for ln in self.scenario.network.lines]
            for b in boundaries:
                for sim in sims:
                    sim.run_to(b)
                batches = window_batches(sims)
                self.now_s = b
                yield batches
            return
        if self.workers > 1 and not regular:
            raise ConfigError("workers > 1 runs use regular windows; give no boundaries")
        yield from self._parallel(boundaries)

    def _parallel(self, boundaries: Iterable[float]) -> Iterator[list[Batch]]:
        """This process simulates the first share of the lines, worker processes the rest."""
        ids = [ln.id for ln in self.scenario.network.lines]
        groups = shares(self.scenario, self.workers)
        network = self.scenario.network
        own = [LineSim(self.spec, network.line(i)) for i in groups[0]]
        positions = [ids.index(i) for i in groups[0]]
        mirrors = {i: MirroredLine(network.line(i)) for g in groups[1:] for i in g}
        strings: dict[str, LineStrings] = {**mirrors, **{sim.line.id: sim for sim in own}}
        lines = [strings[i] for i in ids]
        started: list[Worker] = []
        try:
            for g in groups[1:]:
                started.append(start_worker(self.spec, g, self.start_s, self.window_s))
            for b in boundaries:
                for sim in own:
                    sim.run_to(b)
                parts = [window_part(own, positions)]
                for w in started:
                    part = w.read_window()
                    for line_id, new_ids in zip(w.lines, part.new_ids, strict=True):
                        mirrors[line_id].update(new_ids)
                    parts.append(part)
                batches = assemble(self.spec, lines, parts)
                for w in started:  # the batches own their memory: the workers' slots are free
                    w.release()
                self.now_s = b
                yield batches
        finally:
            for w in started:
                w.stop()
