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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ats_sim.rolling_stock import G, RollingStock

__all__ = ["MASS_STEP_KG", "RunProfile", "quantise_mass", "run_profile"]

#: Mass resolution of the profile cache, kg.
MASS_STEP_KG = 500.0
#: Integration step, s.
DT = 0.5


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
    m = mass_kg
    mk = m * stock.rotating_mass_factor
    A, B, C = stock.davis_a_n, stock.davis_b_n_per_ms, stock.davis_c_n_per_ms2
    f_max = stock.max_tractive_effort_kn * 1000.0
    p_max = stock.max_power_w
    a_max = stock.max_acceleration_ms2
    b = stock.service_brake_ms2
    eta = stock.drive_efficiency
    eta_regen = stock.regen_efficiency
    v_regen = stock.regen_min_speed_kmh / 3.6
    v_lim = speed_limit_kmh / 3.6
    f_grade = m * G * math.sin(math.atan(grade_permille / 1000.0))

    ts: list[float] = [0.0]
    xs: list[float] = [0.0]
    vs: list[float] = [0.0]
    acc: list[float] = []
    pw: list[float] = []
    t = x = v = 0.0

    def brake_power(v_now: float, decel: float) -> float:
        """Collector power while braking at ``decel`` from speed ``v_now`` (<= 0)."""
        f_brake = mk * decel - (A + B * v_now + C * v_now * v_now) - f_grade
        if f_brake <= 0 or v_now < v_regen:
            return 0.0
        return -eta_regen * f_brake * v_now

    # Motoring and cruising, until the braking curve is reached.
    for _ in range(100_000):
        if x + v * v / (2 * b) >= distance_m:
            break
        resist = A + B * v + C * v * v + f_grade
        if v >= v_lim - 1e-9:
            # Cruise: hold the limit, traction balances resistance (braking if downhill).
            a_step = 0.0
            f_t = resist
        else:
            f_t = min(f_max, p_max / v) if v > 0 else f_max
            f_t = min(f_t, mk * a_max + resist)
            a_step = (f_t - resist) / mk
            if a_step <= 0 and v <= 0:
                raise ValueError(
                    f"the train cannot start on a {grade_permille:.1f} per mille grade with mass {m / 1000:.0f} t"
                )
        dt = DT
        v_new = v + a_step * dt
        if a_step > 0 and v_new > v_lim:
            dt = (v_lim - v) / a_step
            v_new = v_lim
        x_new = x + 0.5 * (v + v_new) * dt
        if x_new + v_new * v_new / (2 * b) >= distance_m:
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
        p_wheel = f_t * 0.5 * (v + v_new)
        pw.append(p_wheel / eta if p_wheel >= 0 else eta_regen * p_wheel)
        acc.append(a_step)
        t, x, v = t + dt, x_new, v_new
        ts.append(t)
        xs.append(x)
        vs.append(v)
        if dt < DT and x + v * v / (2 * b) >= distance_m - 1e-6:
            break

    # Service braking, with the deceleration that stops the train exactly at the platform.
    remaining = distance_m - x
    brake_v, brake_x = v, x
    if v > 0:
        decel = v * v / (2 * remaining) if remaining > 1e-9 else b
        t_stop = v / decel
        n = max(math.ceil(t_stop / DT), 1)
        prev = 0.0
        for tt in np.linspace(0.0, t_stop, n + 1)[1:].tolist():
            v_mid = v - decel * 0.5 * (prev + tt)
            acc.append(-decel)
            pw.append(brake_power(v_mid, decel))
            ts.append(t + tt)
            xs.append(x + v * tt - 0.5 * decel * tt**2)
            vs.append(max(v - decel * tt, 0.0))
            prev = tt
        xs[-1] = distance_m
        vs[-1] = 0.0
    acc.append(0.0)
    pw.append(0.0)

    t_arr = np.asarray(ts)
    p_arr = np.asarray(pw)
    dts = np.diff(t_arr)
    step_e = p_arr[:-1] * dts
    drawn = np.concatenate(([0.0], np.cumsum(np.where(step_e > 0, step_e, 0.0))))
    regen = np.concatenate(([0.0], np.cumsum(np.where(step_e < 0, -step_e, 0.0))))
    return RunProfile(
        distance_m=distance_m,
        speed_limit_ms=v_lim,
        grade_permille=grade_permille,
        mass_kg=m,
        t=t_arr,
        x=np.asarray(xs),
        v=np.asarray(vs),
        a=np.asarray(acc),
        power_w=p_arr,
        drawn_j=drawn,
        regen_j=regen,
        brake_start_v=brake_v,
        brake_start_x=brake_x,
        peak_power_w=float(p_arr.max()),
    )
