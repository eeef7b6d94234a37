"""The SimPy model of one line, advanced window by window into record batches.

Each line is simulated in its own :class:`simpy.Environment` (lines share no trains and no
passengers), which is what lets lines run in parallel worker processes and still give the same
records as one process. Inside a line, SimPy processes dispatch trains from the terminals by
timetable, run them station to station, exchange passengers and raise alerts. A platform is a
resource of capacity one, and a train may leave a station only once the next platform is free,
so trains never overtake and a held train makes the trains behind it bunch.

Telemetry is not produced by one SimPy timeout per train per tick: each train is in a *phase*
(dwelling, running, turning around) that can produce its samples for any span of time with
NumPy, from the cached run profile of :mod:`ats_sim.physics`. Samples are drawn when a phase
ends and at every window boundary, so all records before a boundary exist once the environment
has reached it. The engine never touches a file or a socket; it returns Arrow record batches
(built by :mod:`ats_sim.window_batches`).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
import zlib
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ats_sim.columns import Codebook
from ats_sim.network import Line
from ats_sim.physics import RunProfile, run_profile
from ats_sim.records import (
    Batch,
)
from ats_sim.ridership import LineDemand, PlatformQueue, day_factor, dwell_time_s, hour_windows
from ats_sim.sampling import Span
from ats_sim.scenario import HoldTrain, Scenario, SpeedRestriction, parse_clock
from ats_sim.window_batches import LineNotes, window_batches

__all__ = ["LineSim", "RunSpec"]

DAY = 86_400.0
RUNNING, DWELLING, TURNAROUND = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What one simulation run covers. Times are simulation seconds from local midnight of the
    scenario's start date (so demand follows local time); ``epoch_ms`` maps them to UTC."""

    scenario: Scenario
    seed: int
    run_id: str
    epoch_ms: int
    #: Records before this time are not emitted (warm-up for live runs).
    emit_from_s: float
    #: End of the run, or ``None`` to run until stopped.
    until_s: float | None
    telemetry_interval_s: float


@dataclass(slots=True)
class Phase:
    """What a train is doing from ``t0``: its samples are a function of time."""

    kind: int
    t0: float
    chainage: float
    sign: int
    aux_w: float
    energy_j: float
    regen_j: float
    prev_code: int
    next_code: int
    profile: RunProfile | None = None
    #: Load, trip and direction while in this phase (fixed at its start).
    passengers: int = 0
    trip_code: int = 0
    direction: int = 0


@dataclass(slots=True)
class _Hold:
    """A scheduled hold: the first train reaching the platform after ``at`` waits ``seconds``."""

    station: int
    direction: int
    day: int
    at: float
    seconds: float
    used: bool = False


class Train:
    """A persistent train: its load, energy counters, current phase and alert state."""

    __slots__ = (
        "alerts",
        "direction",
        "energy_j",
        "id",
        "idx",
        "k_next",
        "onboard",
        "passengers",
        "phase",
        "regen_j",
        "trip_code",
        "visit",
    )

    def __init__(self, idx: int, train_id: str, n_stations: int) -> None:
        self.idx = idx
        self.id = train_id
        self.onboard = np.zeros(n_stations, dtype=np.int64)
        self.passengers = 0
        self.energy_j = 0.0
        self.regen_j = 0.0
        self.phase: Phase | None = None
        self.k_next = 0
        self.trip_code = 0
        self.direction = 0
        self.visit = 0
        self.alerts: dict[str, str] = {}


class LineSim(LineNotes):
    """One line's simulation. Call :meth:`advance` with increasing times to get its records."""

    def __init__(self, spec: RunSpec, line: Line) -> None:
        self.spec = spec
        self.line = line
        sc = spec.scenario
        self.stock = sc.rolling_stock
        self.ops = sc.operations
        self.thr = sc.alerts
        self.dt = spec.telemetry_interval_s
        self.n = line.n_stations
        key = zlib.crc32(line.id.encode())
        self.rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(key,)))
        self.env = simpy.Environment()
        self.demand = LineDemand(sc, line, self.rng)
        self.order = (list(range(self.n)), list(range(self.n - 1, -1, -1)))
        self.platforms = [[simpy.Resource(self.env, 1) for _ in range(2)] for _ in range(self.n)]
        self.queues = [[PlatformQueue() for _ in range(2)] for _ in range(self.n)]
        self.last_dep: list[list[float | None]] = [[None, None] for _ in range(self.n)]
        self.pools: tuple[deque[Train], deque[Train]] = (deque(), deque())
        self.dispatching = [False, False]
        self.trains: list[Train] = []
        self.train_ids: list[str] = []
        self.trip_ids: list[str] = []
        self.station_ids = [s.id for s in line.stations]
        self.station_names = [s.name for s in line.stations]
        self.seg_len = np.diff(line.chainages)
        self._seg_limit = [line.segment_speed_limit_kmh(i) for i in range(self.n - 1)]
        self._seg_grade = [
            (line.segment_grade_permille(i, 0), line.segment_grade_permille(i, 1))
            for i in range(self.n - 1)
        ]
        self.alert_seq = 0
        self.platform_alerts: dict[tuple[int, int], str] = {}
        self.holds = [
            _Hold(
                self.station_ids.index(d.station),
                d.direction,
                d.day,
                parse_clock(d.at),
                d.minutes * 60.0,
            )
            for d in sc.disruptions
            if isinstance(d, HoldTrain) and d.station in self.station_ids
        ]
        self.restrictions: list[tuple[int, float, float, float, int]] = []
        for d in sc.disruptions:
            if isinstance(d, SpeedRestriction) and d.from_station in self.station_ids:
                i, j = self.station_ids.index(d.from_station), self.station_ids.index(d.to_station)
                self.restrictions.append(
                    (min(i, j), parse_clock(d.start), parse_clock(d.end), d.max_speed_kmh, d.day)
                )
        self.service_start = parse_clock(self.ops.service_start)
        self.service_end = parse_clock(self.ops.service_end)
        factor = self.ops.line_headway_factor.get(line.id, 1.0)
        self._period_starts = [parse_clock(p.start) for p in self.ops.periods]
        self._period_headways = [p.headway_s * factor for p in self.ops.periods]
        self._power_limit_w = self.thr.high_power_fraction * self.stock.rated_power_kw * 1000.0
        self._tel: list[Span] = []
        self.train_book = Codebook(self.train_ids)
        self.trip_book = Codebook(self.trip_ids)
        self.station_book = Codebook(self.station_ids)
        self._events: list[tuple[Any, ...]] = []
        self._alerts: list[tuple[Any, ...]] = []
        self._handed = (0, 0)
        self.env.process(self._demand_process())
        for direction in (0, 1):
            self.env.process(self._dispatcher(direction))

    # ---- time of day -------------------------------------------------------------------------
    def _day_of(self, t: float) -> int:
        """The service day a time belongs to (service may run past midnight)."""
        return int((t - self.service_start) // DAY) if t >= self.service_start else 0

    def _tod(self, t: float) -> float:
        """Time of day of the service day ``t`` belongs to (may exceed 24 h)."""
        return t - self._day_of(t) * DAY

    def _temperature(self, t: float) -> float:
        w = self.spec.scenario.weather
        hours = (t % DAY) / 3600.0
        # Coolest at 05:00, warmest at 15:00, cosine in between.
        phase = math.cos(math.pi * (hours - 15.0) / 10.0) if 5 <= hours <= 25 else -1.0
        if hours < 5:
            phase = math.cos(math.pi * (hours + 24 - 15.0) / 10.0)
        return w.min_temp_c + (w.max_temp_c - w.min_temp_c) * (phase + 1) / 2

    def _aux_w(self, t: float) -> float:
        return self.stock.aux_power_kw(self._temperature(t)) * 1000.0

    def headway(self, t: float) -> float:
        """Timetabled headway at time ``t``."""
        i = bisect.bisect_right(self._period_starts, self._tod(t)) - 1
        return self._period_headways[max(i, 0)]

    # ---- processes ---------------------------------------------------------------------------
    def _days(self) -> Generator[int, None, None]:
        day = 0
        until = self.spec.until_s
        while until is None or day * DAY + self.service_start < until:
            yield day
            day += 1

    def _demand_process(self) -> Generator[simpy.Event, Any, None]:
        for day in self._days():
            day0 = day * DAY
            date = self.spec.scenario.start_date + _dt.timedelta(days=day)
            factor = day_factor(self.spec.scenario, date)
            for w0, w1 in hour_windows(day0 + self.service_start, day0 + self.service_end):
                if w0 > self.env.now:
                    yield self.env.timeout(w0 - self.env.now)
                times, origins, dests = self.demand.arrivals(w0, w1, day0, factor, day)
                if len(times) == 0:
                    continue
                direction = (dests < origins).astype(np.int8)
                for o in np.unique(origins):
                    for d in (0, 1):
                        m = (origins == o) & (direction == d)
                        if m.any():
                            self.queues[o][d].add(times[m], dests[m])

    def _schedule(self, day: int) -> list[float]:
        t = day * DAY + self.service_start
        end = day * DAY + self.service_end
        out = []
        while t < end:
            out.append(t)
            t += self.headway(t)
        return out

    def _dispatcher(self, d: int) -> Generator[simpy.Event, Any, None]:
        for day in self._days():
            self.dispatching[d] = True
            for k, t_s in enumerate(self._schedule(day)):
                if self.spec.until_s is not None and t_s >= self.spec.until_s:
                    return
                if t_s > self.env.now:
                    yield self.env.timeout(t_s - self.env.now)
                train = self.pools[d].popleft() if self.pools[d] else self._new_train()
                trip_code = len(self.trip_ids)
                self.trip_ids.append(f"{self.line.id}-{day:03d}-{'OI'[d]}{k:03d}")
                self.env.process(self._trip(train, d, trip_code))
            self.dispatching[d] = False
            # Trains still waiting here go out of service until the next day.
            for train in self.pools[d]:
                self._set_phase(train, None)

    def _new_train(self) -> Train:
        train = Train(len(self.trains), f"{self.line.id}-{len(self.trains) + 1:02d}", self.n)
        self.trains.append(train)
        self.train_ids.append(train.id)
        train.k_next = math.ceil(self.env.now / self.dt - 1e-9)
        return train

    def _trip(self, train: Train, d: int, trip_code: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        seq = self.order[d]
        sign = 1 if d == 0 else -1
        req = self.platforms[seq[0]][d].request()
        yield req
        train.trip_code = trip_code
        train.direction = d
        for k, s in enumerate(seq):
            t_arr = env.now
            train.visit += 1
            # Alighting.
            alight = int(train.onboard[s])
            train.onboard[s] = 0
            train.passengers -= alight
            q = self.queues[s][d]
            found = q.waiting(t_arr)  # the crowd the train finds; nothing changes it till boarding
            nxt = seq[k + 1] if k + 1 < len(seq) else s
            if k > 0:
                self._event(
                    train,
                    s,
                    d,
                    "arrival",
                    alighted=alight,
                    boarded=0,
                    left=0,
                    waiting=found,
                    dwell=0.0,
                    headway=None,
                )
            if k == len(seq) - 1:
                break
            # Platform crowding is judged on the crowd the train finds; then boarding, FIFO,
            # limited by room.
            self._check_platform(s, d, found, t_arr)
            space = self.stock.boarding_limit - train.passengers
            boarded_vec, left = q.board(found, space, self.n)
            boarded = int(boarded_vec.sum())
            train.onboard += boarded_vec
            train.passengers += boarded
            standees = max(0, train.passengers - self.stock.seated_capacity)
            dwell = dwell_time_s(alight, boarded, standees, self.stock.doors, self.ops.min_dwell_s)
            dwell += self._hold(s, d, t_arr)
            self._set_phase(
                train,
                Phase(
                    DWELLING,
                    t_arr,
                    float(self.line.chainages[s]),
                    sign,
                    self._aux_w(t_arr),
                    0.0,
                    0.0,
                    s,
                    nxt,
                ),
            )
            self._check_overcrowding(train, t_arr)
            dwelt = env.timeout(dwell)
            self._watch_dwell(train, s, t_arr)
            yield dwelt
            hold = self._regulation_hold(s, d, env.now)
            if hold > 0:
                yield env.timeout(hold)
            req_next = self.platforms[nxt][d].request()
            yield req_next
            t_dep = env.now
            self.platforms[s][d].release(req)
            req = req_next
            last = self.last_dep[s][d]
            headway = None if last is None else t_dep - last
            self.last_dep[s][d] = t_dep
            waiting = q.waiting(t_dep)
            self._event(
                train,
                s,
                d,
                "departure",
                alighted=0,
                boarded=boarded,
                left=left,
                waiting=waiting,
                dwell=t_dep - t_arr,
                headway=headway,
            )
            self._check_platform(s, d, waiting, t_dep)
            self._check_bunching(train, s, headway, t_dep)
            seg = min(s, nxt)
            prof = run_profile(
                float(self.seg_len[seg]),
                self._speed_limit(seg, t_dep),
                self._seg_grade[seg][d],
                self.stock.mass_kg(train.passengers),
                self.stock,
            )
            aux = self._aux_w(t_dep)
            self._set_phase(
                train,
                Phase(
                    RUNNING, t_dep, float(self.line.chainages[s]), sign, aux, 0.0, 0.0, s, nxt, prof
                ),
            )
            self._schedule_power_alerts(train, prof, aux, t_dep)
            yield env.timeout(prof.duration_s)
        # Terminal: everyone off, clear the platform, turn round, join the other end's pool.
        s = seq[-1]
        self._check_overcrowding(train, env.now)
        self._set_phase(
            train,
            Phase(
                DWELLING,
                env.now,
                float(self.line.chainages[s]),
                sign,
                self._aux_w(env.now),
                0.0,
                0.0,
                s,
                s,
            ),
        )
        yield env.timeout(self.ops.min_dwell_s)
        self.platforms[s][d].release(req)
        back = 1 - d
        self._set_phase(
            train,
            Phase(
                TURNAROUND,
                env.now,
                float(self.line.chainages[s]),
                -sign,
                self._aux_w(env.now),
                0.0,
                0.0,
                s,
                self.order[back][1],
            ),
        )
        yield env.timeout(self.line.turnaround_s)
        self.pools[back].append(train)
        if not self.dispatching[back]:
            self._set_phase(train, None)

    def _regulation_hold(self, s: int, d: int, t: float) -> float:
        """Extra dwell that keeps a train from leaving too soon after the one ahead."""
        last = self.last_dep[s][d]
        if last is None or self.ops.regulation_max_hold_s <= 0:
            return 0.0
        early = self.ops.regulation_fraction * self.headway(t) - (t - last)
        return min(max(early, 0.0), self.ops.regulation_max_hold_s)

    def _hold(self, s: int, d: int, t: float) -> float:
        for h in self.holds:
            if (
                not h.used
                and h.station == s
                and h.direction == d
                and h.day == self._day_of(t)
                and self._tod(t) >= h.at
            ):
                h.used = True
                return h.seconds
        return 0.0

    def _speed_limit(self, seg: int, t: float) -> float:
        lim = self._seg_limit[seg]
        tod, day = self._tod(t), self._day_of(t)
        for i, s0, s1, vmax, rday in self.restrictions:
            if i == seg and rday == day and s0 <= tod < s1:
                lim = min(lim, vmax)
        return lim

    # ---- telemetry ---------------------------------------------------------------------------
    def _set_phase(self, train: Train, phase: Phase | None) -> None:
        """End the train's current phase at now (drawing its samples) and start ``phase``."""
        now = self.env.now
        old = train.phase
        if old is not None:
            self._sample(train, now)
            e, r = self._energy_at(old, now)
            train.energy_j, train.regen_j = e, r
        else:
            train.k_next = max(train.k_next, math.ceil(now / self.dt - 1e-9))
        if phase is not None:
            phase.energy_j, phase.regen_j = train.energy_j, train.regen_j
            phase.passengers, phase.trip_code, phase.direction = (
                train.passengers,
                train.trip_code,
                train.direction,
            )
        train.phase = phase

    @staticmethod
    def _energy_at(ph: Phase, t: float) -> tuple[float, float]:
        trel = t - ph.t0
        if ph.profile is None:
            return ph.energy_j + ph.aux_w * trel, ph.regen_j
        p = ph.profile
        if trel >= p.duration_s:  # the whole run (np.interp would give the last values too)
            drawn, regen = float(p.drawn_j[-1]), float(p.regen_j[-1])
        else:
            drawn = float(np.interp(trel, p.t, p.drawn_j))
            regen = float(np.interp(trel, p.t, p.regen_j))
        return ph.energy_j + drawn - regen + ph.aux_w * trel, ph.regen_j + regen

    def _sample(self, train: Train, t_end: float) -> None:
        """Note the train's telemetry ticks in ``[k_next * dt, t_end)``: its current phase's."""
        k_end = math.ceil(t_end / self.dt - 1e-9)
        k0 = train.k_next
        if k_end <= k0:
            return
        train.k_next = k_end
        if train.phase is not None:
            self._tel.append(Span(k0, k_end, train.phase, train.idx))

    # ---- events and alerts -------------------------------------------------------------------
    def _event(
        self,
        train: Train,
        s: int,
        d: int,
        kind: str,
        *,
        alighted: int,
        boarded: int,
        left: int,
        waiting: int,
        dwell: float,
        headway: float | None,
    ) -> None:
        self._events.append(
            (
                self.env.now,
                train.id,
                self.trip_ids[train.trip_code],
                d,
                s,
                kind,
                train.passengers,
                alighted,
                boarded,
                left,
                waiting,
                dwell,
                headway,
                self.headway(self.env.now),
            )
        )

    def _alert(
        self,
        t: float,
        key: str | None,
        kind: str,
        raise_: bool,
        severity: str,
        train: Train | None,
        station: int | None,
        value: float,
        threshold: float,
        message: str,
    ) -> str:
        if raise_:
            self.alert_seq += 1
            alert_id = f"{self.spec.run_id}-{self.line.id}-A{self.alert_seq:05d}"
        else:
            assert key is not None
            alert_id = key
        self._alerts.append(
            (
                t,
                alert_id,
                kind,
                "raised" if raise_ else "cleared",
                severity,
                None if train is None else train.id,
                None if station is None else self.station_ids[station],
                value,
                threshold,
                message,
            )
        )
        return alert_id

    def _check_overcrowding(self, train: Train, t: float) -> None:
        lf = train.passengers / self.stock.capacity
        active = train.alerts.get("overcrowding")
        if active is None and lf > self.thr.overcrowding_load_factor:
            sev = "critical" if lf > 1.2 * self.thr.overcrowding_load_factor else "warning"
            train.alerts["overcrowding"] = self._alert(
                t,
                None,
                "overcrowding",
                True,
                sev,
                train,
                None,
                lf,
                self.thr.overcrowding_load_factor,
                f"Train {train.id} is at {lf:.0%} of its planned capacity",
            )
        elif active is not None and lf < self.thr.overcrowding_clear_load_factor:
            del train.alerts["overcrowding"]
            self._alert(
                t,
                active,
                "overcrowding",
                False,
                "info",
                train,
                None,
                lf,
                self.thr.overcrowding_clear_load_factor,
                f"Train {train.id} is back to {lf:.0%} of its planned capacity",
            )

    def _check_platform(self, s: int, d: int, waiting: int, t: float) -> None:
        key = (s, d)
        active = self.platform_alerts.get(key)
        thr = self.thr.platform_crowding_waiting
        name = f"{self.station_names[s]} ({'outbound' if d == 0 else 'inbound'})"
        if active is None and waiting > thr:
            sev = "critical" if waiting > 2 * thr else "warning"
            self.platform_alerts[key] = self._alert(
                t,
                None,
                "platform_crowding",
                True,
                sev,
                None,
                s,
                waiting,
                thr,
                f"{waiting} passengers waiting at {name}",
            )
        elif active is not None and waiting < self.thr.platform_crowding_clear_waiting:
            del self.platform_alerts[key]
            self._alert(
                t,
                active,
                "platform_crowding",
                False,
                "info",
                None,
                s,
                waiting,
                self.thr.platform_crowding_clear_waiting,
                f"Platform {name} is back to {waiting} waiting",
            )

    def _check_bunching(self, train: Train, s: int, headway: float | None, t: float) -> None:
        if headway is None:
            return
        sched = self.headway(t)
        ratio = headway / sched
        active = train.alerts.get("bunching")
        if active is None and ratio < self.thr.bunching_fraction:
            train.alerts["bunching"] = self._alert(
                t,
                None,
                "bunching",
                True,
                "warning",
                train,
                s,
                headway,
                self.thr.bunching_fraction * sched,
                f"Train {train.id} left {self.station_names[s]} {headway:.0f} s after the train ahead "
                f"(timetable {sched:.0f} s)",
            )
        elif active is not None and ratio >= self.thr.bunching_clear_fraction:
            del train.alerts["bunching"]
            self._alert(
                t,
                active,
                "bunching",
                False,
                "info",
                train,
                s,
                headway,
                self.thr.bunching_clear_fraction * sched,
                f"Train {train.id} is {headway:.0f} s behind the train ahead again",
            )

    def _watch_dwell(self, train: Train, s: int, t_arr: float) -> None:
        """Check, once the dwell limit has passed, whether the train still stands at ``s``."""
        visit = train.visit

        def check(_: simpy.Event) -> None:
            ph = train.phase
            if (
                train.visit == visit
                and ph is not None
                and ph.kind == DWELLING
                and ph.prev_code == s
            ):
                self.env.process(self._dwell_overrun(train, visit, s, t_arr))

        self.env.timeout(self.thr.dwell_overrun_s).callbacks.append(check)

    def _dwell_overrun(
        self, train: Train, visit: int, s: int, t_arr: float
    ) -> Generator[simpy.Event, Any, None]:
        """Raise a dwell-overrun alert now; clear it at the first whole second after the train left."""
        limit = self.thr.dwell_overrun_s
        alert_id = self._alert(
            self.env.now,
            None,
            "dwell_overrun",
            True,
            "warning",
            train,
            s,
            limit,
            limit,
            f"Train {train.id} has stood at {self.station_names[s]} for over {limit:.0f} s",
        )
        while train.visit == visit and train.phase is not None and train.phase.kind == DWELLING:
            yield self.env.timeout(1.0)
        self._alert(
            self.env.now,
            alert_id,
            "dwell_overrun",
            False,
            "info",
            train,
            s,
            self.env.now - t_arr,
            limit,
            f"Train {train.id} left {self.station_names[s]} after {self.env.now - t_arr:.0f} s",
        )

    def _schedule_power_alerts(
        self, train: Train, prof: RunProfile, aux_w: float, t0: float
    ) -> None:
        limit = self._power_limit_w
        if prof.peak_power_w + aux_w <= limit:
            return
        above = np.flatnonzero((prof.power_w + aux_w) > limit)
        if len(above) == 0:
            return
        if above[-1] - above[0] + 1 == len(above):  # one stretch (the usual start from rest)
            edges = above[[0, -1]] + (0, 1)
        else:
            mask = np.zeros(len(prof.power_w) + 2, np.int8)
            mask[above + 1] = 1
            edges = np.flatnonzero(np.diff(mask))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            start, end = prof.t[a], prof.t[min(b, len(prof.t) - 1)]
            if end - start >= self.thr.high_power_min_s:
                peak = float((prof.power_w[a:b] + aux_w).max()) / 1000.0
                self.env.process(
                    self._power_alert(
                        train,
                        t0 + start + self.thr.high_power_min_s,
                        t0 + end,
                        peak,
                        limit / 1000.0,
                    )
                )

    def _power_alert(
        self, train: Train, t_raise: float, t_clear: float, peak_kw: float, limit_kw: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(t_raise - self.env.now)
        alert_id = self._alert(
            t_raise,
            None,
            "high_power_draw",
            True,
            "warning",
            train,
            None,
            peak_kw,
            limit_kw,
            f"Train {train.id} has drawn over {limit_kw / 1000:.2f} MW "
            f"for {self.thr.high_power_min_s:.0f} s",
        )
        yield self.env.timeout(t_clear - self.env.now)
        self._alert(
            t_clear,
            alert_id,
            "high_power_draw",
            False,
            "info",
            train,
            None,
            peak_kw,
            limit_kw,
            f"Train {train.id} power draw is back under {limit_kw / 1000:.2f} MW",
        )

    # ---- output -----------------------------------------------------------------------------
    def run_to(self, until: float) -> None:
        """Run the line up to ``until``; every record with a timestamp before it is noted."""
        if until > self.env.now:
            self.env.run(until=until)
        for train in self.trains:
            self._sample(train, until)

    def advance(self, until: float) -> list[Batch]:
        """Run the line up to ``until`` and return every record with a timestamp before it."""
        self.run_to(until)
        return window_batches([self])
