"""Train dynamics for one inter-station run: the standard longitudinal model, as in OSRD.

    a = (F_traction(v) - F_brake - (A + B v + C v^2) - m g sin(grade)) / (m k_inertia)

Traction follows the tractive-effort curve (constant force up to the base speed, then constant
power), capped at the acceleration limit; the train cruises at the speed limit, then brakes at
the service deceleration so that it stops exactly at the next platform. Power at the current
collector is wheel power over drive efficiency while motoring; while braking electrically the
collector *returns* ``regen_efficiency`` of the braking power (negative draw) and the rest is
lost as heat. Auxiliary power is added by the caller, since it depends on the weather, not on
the run.

A run depends only on its distance, speed limit, grade and mass, so profiles are cached: mass
is quantised to :data:`MASS_STEP_KG` (half a tonne, under 0.2% of a train) for the cache key and
the physics uses the quantised mass consistently.

Runs that differ only in distance share their start: until the braking curve is reached, a step
does not depend on where the train will stop. So the motoring and cruising steps of a (limit,
grade, mass, stock) are integrated once, as a *free run* that never brakes, and every distance
takes that free run's steps up to the first one its distance could change, then finishes with
the same step code and brakes. The result is bit-identical to integrating each run on its own
(``tests/core/test_physics_prefix.py`` keeps that plain integrator as the reference); a weekday
has about three runs per free run, and the free runs cost a third of the steps.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ats_sim.rolling_stock import G, RollingStock

__all__ = ["MASS_STEP_KG", "RunProfile", "quantise_mass", "run_profile"]

#: Mass resolution of the profile cache, kg.
MASS_STEP_KG = 500.0
#: Integration step, s.
DT = 0.5
#: Most motoring steps of one run; a run that never reaches its braking curve brakes after them.
MAX_MOTORING_STEPS = 100_000


@dataclass(frozen=True, slots=True)
class RunProfile:
    """One run from standstill to standstill, sampled at integration resolution.

    All arrays share the time axis ``t`` (s from departure). ``power_w`` holds the traction
    power at the collector *from each sample until the next* (positive drawn, negative
    returned), without auxiliaries. ``drawn_j`` and ``regen_j`` are cumulative.
    """

    distance_m: float
    speed_limit_ms: float
    grade_permille: float
    mass_kg: float
    t: np.ndarray
    x: np.ndarray
    v: np.ndarray
    a: np.ndarray
    power_w: np.ndarray
    drawn_j: np.ndarray
    regen_j: np.ndarray
    #: Speed and position when service braking began.
    brake_start_v: float
    brake_start_x: float
    #: Highest traction draw at the collector, W.
    peak_power_w: float

    @property
    def duration_s(self) -> float:
        """Departure to arrival, s."""
        return float(self.t[-1])


def quantise_mass(mass_kg: float) -> float:
    """The mass the physics uses for a train of ``mass_kg``."""
    return round(mass_kg / MASS_STEP_KG) * MASS_STEP_KG


def run_profile(
    distance_m: float,
    speed_limit_kmh: float,
    grade_permille: float,
    mass_kg: float,
    stock: RollingStock,
) -> RunProfile:
    """Integrate one run of ``distance_m`` (cached; see the module docstring)."""
    return _run_profile(
        round(distance_m, 1),
        math.floor(min(speed_limit_kmh, stock.top_speed_kmh) * 100) / 100,
        round(grade_permille, 2),
        quantise_mass(mass_kg),
        stock,
    )


@dataclass(frozen=True, slots=True)
class _Dynamics:
    """The constants of the equation of motion for one (limit, grade, mass, stock)."""

    mk: float
    A: float
    B: float
    C: float
    f_max: float
    p_max: float
    a_max: float
    b: float
    eta: float
    eta_regen: float
    v_regen: float
    v_lim: float
    f_grade: float

    @classmethod
    def of(
        cls, speed_limit_kmh: float, grade_permille: float, mass_kg: float, stock: RollingStock
    ) -> _Dynamics:
        """The constants, by the same expressions as the integrator has always used."""
        return cls(
            mk=mass_kg * stock.rotating_mass_factor,
            A=stock.davis_a_n,
            B=stock.davis_b_n_per_ms,
            C=stock.davis_c_n_per_ms2,
            f_max=stock.max_tractive_effort_kn * 1000.0,
            p_max=stock.max_power_w,
            a_max=stock.max_acceleration_ms2,
            b=stock.service_brake_ms2,
            eta=stock.drive_efficiency,
            eta_regen=stock.regen_efficiency,
            v_regen=stock.regen_min_speed_kmh / 3.6,
            v_lim=speed_limit_kmh / 3.6,
            f_grade=mass_kg * G * math.sin(math.atan(grade_permille / 1000.0)),
        )


@dataclass(slots=True)
class _Trace:
    """Motoring steps from standstill: states ``t``/``x``/``v`` (one more than the steps), and per
    step its acceleration ``acc`` and collector power ``pw``.

    Two indexes let a distance find the first step it would change: ``reach_max[i]`` is the
    highest braking-curve reach ``x + v^2 / 2b`` after steps ``0..i`` (a running maximum, so it is
    sorted whether or not the reach itself ever dips), and ``short`` lists ``(i, reach)`` for the
    few steps shorter than :data:`DT` (in a free run, the one that ends at the speed limit),
    after which the loop stops once within 1 um of the braking curve. Floats live in
    ``array('d')``, a quarter of the memory of lists, and copied by ``memcpy`` when a run takes
    a prefix.
    """

    t: array[float] = field(default_factory=lambda: array("d", [0.0]))
    x: array[float] = field(default_factory=lambda: array("d", [0.0]))
    v: array[float] = field(default_factory=lambda: array("d", [0.0]))
    acc: array[float] = field(default_factory=lambda: array("d"))
    pw: array[float] = field(default_factory=lambda: array("d"))
    reach_max: array[float] = field(default_factory=lambda: array("d"))
    short: list[tuple[int, float]] = field(default_factory=list)

    def prefix(self, steps: int) -> _Trace:
        """A copy of the first ``steps`` steps."""
        return _Trace(
            self.t[: steps + 1],
            self.x[: steps + 1],
            self.v[: steps + 1],
            self.acc[:steps],
            self.pw[:steps],
            self.reach_max[:steps],
            [s for s in self.short if s[0] < steps],
        )


def _motor(
    dyn: _Dynamics, tr: _Trace, distance_m: float, max_steps: int, reach: float = math.inf
) -> bool:
    """Append up to ``max_steps`` motoring/cruising steps to ``tr`` for a run of ``distance_m``.

    Stops before a step when the braking curve (``x + v^2 / 2b``) is at ``distance_m`` or
    ``reach``, or after the step that brings it within 1 um of ``distance_m`` at the speed limit.
    The step that crosses the braking curve is shortened to end on it. With ``distance_m=inf``
    the steps are the free run's, and ``reach`` says how far to extend it.

    This is the one loop that both builds free runs and finishes real ones, so a run that takes a
    free run's prefix computes exactly what it would have computed alone. Returns ``True``, with
    ``tr`` unchanged by the failed step, when the train cannot move (no tractive effort left at
    standstill): the caller raises, since only it knows that this run gets that far.
    """
    mk, A, B, C, f_grade = dyn.mk, dyn.A, dyn.B, dyn.C, dyn.f_grade
    f_max, p_max, a_max, b = dyn.f_max, dyn.p_max, dyn.a_max, dyn.b
    eta, eta_regen, v_lim = dyn.eta, dyn.eta_regen, dyn.v_lim
    two_b = 2 * b
    cruise_v = v_lim - 1e-9
    close = distance_m - 1e-6
    stop = min(distance_m, reach)
    t_append, x_append, v_append = tr.t.append, tr.x.append, tr.v.append
    acc_append, pw_append, reach_append = tr.acc.append, tr.pw.append, tr.reach_max.append
    t, x, v = tr.t[-1], tr.x[-1], tr.v[-1]
    g = x + v * v / two_b
    g_max = tr.reach_max[-1] if tr.reach_max else -math.inf
    first = len(tr.acc)
    for i in range(first, first + max_steps):
        if g >= stop:
            break
        resist = A + B * v + C * v * v + f_grade
        if v >= cruise_v:
            # Cruise: hold the limit, traction balances resistance (braking if downhill).
            a_step = 0.0
            f_t = resist
        else:
            f_t = min(f_max, p_max / v) if v > 0 else f_max
            f_t = min(f_t, mk * a_max + resist)
            a_step = (f_t - resist) / mk
            if a_step <= 0 and v <= 0:
                return True
        dt = DT
        v_new = v + a_step * dt
        if a_step > 0 and v_new > v_lim:
            dt = (v_lim - v) / a_step
            v_new = v_lim
        x_new = x + 0.5 * (v + v_new) * dt
        g = x_new + v_new * v_new / two_b
        if g >= distance_m:
            # Find where inside this step the braking curve is crossed (constant a over the step).
            qa = a_step / 2 + a_step * a_step / (2 * b)
            qb = v + v * a_step / b
            qc = x + v * v / (2 * b) - distance_m
            if abs(qa) < 1e-12:
                tau = -qc / qb if qb > 0 else 0.0
            else:
                disc = max(qb * qb - 4 * qa * qc, 0.0)
                tau = (-qb + math.sqrt(disc)) / (2 * qa)
            dt = min(max(tau, 0.0), dt)
            v_new = v + a_step * dt
            x_new = x + v * dt + 0.5 * a_step * dt * dt
            g = x_new + v_new * v_new / two_b
        p_wheel = f_t * 0.5 * (v + v_new)
        pw_append(p_wheel / eta if p_wheel >= 0 else eta_regen * p_wheel)
        acc_append(a_step)
        t, x, v = t + dt, x_new, v_new
        t_append(t)
        x_append(x)
        v_append(v)
        if g > g_max:
            g_max = g
        reach_append(g_max)
        if dt < DT:
            tr.short.append((i, g))
            if g >= close:
                break
    return False


@dataclass(slots=True)
class _FreeRun:
    """The motoring steps of one (limit, grade, mass, stock) with no platform ahead, extended on
    demand to the longest distance asked so far."""

    dyn: _Dynamics
    trace: _Trace = field(default_factory=_Trace)
    #: No step can follow: the train cannot move, or the step budget is spent.
    complete: bool = False

    def prefix_for(self, distance_m: float) -> _Trace:
        """The steps a run of ``distance_m`` shares with this free run.

        That run takes the same steps up to the first one that would cross its braking curve
        (where it shortens the step), or that ends at the speed limit within 1 um of the curve
        (where it stops motoring); everything before is independent of the distance.
        """
        tr = self.trace
        if not self.complete and (not tr.reach_max or tr.reach_max[-1] < distance_m):
            budget = MAX_MOTORING_STEPS - len(tr.acc)
            stalled = _motor(self.dyn, tr, math.inf, budget, reach=distance_m)
            self.complete = stalled or len(tr.acc) >= MAX_MOTORING_STEPS
        k = bisect_left(tr.reach_max, distance_m)
        close = distance_m - 1e-6
        for i, g in tr.short:
            if i >= k:
                break
            if g >= close:
                k = i
                break
        return tr.prefix(k)


#: Free runs grow in place; the lock keeps two threads from extending one at the same time.
_FREE_RUN_LOCK = threading.Lock()


@lru_cache(maxsize=2048)
def _free_run(
    speed_limit_kmh: float, grade_permille: float, mass_kg: float, stock: RollingStock
) -> _FreeRun:
    """The shared free run of a (limit, grade, mass, stock).

    About 6 kB each at metro distances (a weekday uses ~570 of them, 3 MB, next to 13 MB of
    profiles), so the bound caps free runs near 12 MB, where the profile cache may grow to
    several hundred.
    """
    return _FreeRun(_Dynamics.of(speed_limit_kmh, grade_permille, mass_kg, stock))


@lru_cache(maxsize=65536)
def _run_profile(
    distance_m: float,
    speed_limit_kmh: float,
    grade_permille: float,
    mass_kg: float,
    stock: RollingStock,
) -> RunProfile:
    if distance_m <= 0:
        raise ValueError(f"run distance must be positive, got {distance_m} m")
    free = _free_run(speed_limit_kmh, grade_permille, mass_kg, stock)
    dyn = free.dyn
    with _FREE_RUN_LOCK:
        tr = free.prefix_for(distance_m)
    # Motoring and cruising from where the free run stops being this run's, until the braking
    # curve is reached. The step budget counts the shared steps too.
    if _motor(dyn, tr, distance_m, MAX_MOTORING_STEPS - len(tr.acc)):
        raise ValueError(
            f"the train cannot start on a {grade_permille:.1f} per mille grade with mass {mass_kg / 1000:.0f} t"
        )
    brake_v, brake_x = tr.v[-1], tr.x[-1]
    t_arr, x_arr, v_arr, a_arr, p_arr = _brake(dyn, tr, distance_m)
    # Energy per step, cumulated; np.diff(t_arr) is this subtraction, without its overhead.
    step_e = p_arr[:-1] * (t_arr[1:] - t_arr[:-1])
    drawn = np.zeros(len(t_arr))
    regen = np.zeros(len(t_arr))
    np.cumsum(np.where(step_e > 0, step_e, 0.0), out=drawn[1:])
    np.cumsum(np.where(step_e < 0, -step_e, 0.0), out=regen[1:])
    return RunProfile(
        distance_m=distance_m,
        speed_limit_ms=dyn.v_lim,
        grade_permille=grade_permille,
        mass_kg=mass_kg,
        t=t_arr,
        x=x_arr,
        v=v_arr,
        a=a_arr,
        power_w=p_arr,
        drawn_j=drawn,
        regen_j=regen,
        brake_start_v=brake_v,
        brake_start_x=brake_x,
        peak_power_w=float(p_arr.max()),
    )


def _brake(
    dyn: _Dynamics, tr: _Trace, distance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The samples ``t, x, v, a, power_w`` of the whole run: the motoring steps ``tr``, then
    service braking with the deceleration that stops the train exactly at the platform.

    The braking samples are computed with numpy, each element by the same IEEE operations in the
    same order as a scalar loop, so they are bit-identical to it; only ``x`` keeps Python's
    ``s**2``, because libm's ``pow`` is not guaranteed to round like numpy's ``s * s``.
    """
    t, x, v = tr.t[-1], tr.x[-1], tr.v[-1]
    ts, xs, vs = np.asarray(tr.t), np.asarray(tr.x), np.asarray(tr.v)
    accs, pws = np.asarray(tr.acc), np.asarray(tr.pw)
    if v <= 0:
        return ts, xs, vs, np.append(accs, 0.0), np.append(pws, 0.0)
    remaining = distance_m - x
    decel = v * v / (2 * remaining) if remaining > 1e-9 else dyn.b
    t_stop = v / decel
    n = max(math.ceil(t_stop / DT), 1)
    samples = np.linspace(0.0, t_stop, n + 1)
    tt = samples[1:]
    # Speed in the middle of each braking step, which runs from the previous sample to ``tt``.
    v_mid = v - decel * 0.5 * (samples[:-1] + tt)
    # Collector power: the brake force beyond what resistance and grade provide, regenerated
    # above ``v_regen`` (friction brakes only below it), never drawn.
    f_brake = dyn.mk * decel - (dyn.A + dyn.B * v_mid + dyn.C * v_mid * v_mid) - dyn.f_grade
    p_brake = np.where(
        (f_brake <= 0) | (v_mid < dyn.v_regen), 0.0, -dyn.eta_regen * f_brake * v_mid
    )
    x_brake = np.array([x + v * s - 0.5 * decel * s**2 for s in tt.tolist()])
    v_brake = np.maximum(v - decel * tt, 0.0)
    x_brake[-1] = distance_m
    v_brake[-1] = 0.0
    return (
        np.concatenate((ts, t + tt)),
        np.concatenate((xs, x_brake)),
        np.concatenate((vs, v_brake)),
        np.concatenate((accs, np.full(n, -decel), [0.0])),
        np.concatenate((pws, p_brake, [0.0])),
    )
