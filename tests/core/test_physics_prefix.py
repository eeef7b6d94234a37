"""Free-run prefix sharing in the physics is an optimisation only: every profile is the one the
plain step-by-step integrator computes for that run alone, bit for bit.

``_plain_profile`` below is the integrator as it was before runs shared their motoring steps,
kept verbatim as the reference definition; ``_plain_run_profile`` is the public entry point over
it. Each test compares the shared-prefix code with it exactly (``np.array_equal`` on every array,
byte equality too, and ``==`` on every scalar), asking for runs in orders that make later runs
reuse, or extend, the free runs of earlier ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim import physics
from ats_sim.physics import DT, RunProfile, quantise_mass, run_profile
from ats_sim.rolling_stock import G, RollingStock
from ats_sim.simulation import Simulation

STOCK = RollingStock()
TARE_KG = STOCK.tare_mass_kg
CRUSH_KG = STOCK.mass_kg(STOCK.crush_capacity)

#: The arguments of ``_run_profile``: distance, speed limit, grade, mass, stock.
Key = tuple[float, float, float, float, RollingStock]


def _plain_profile(
    distance_m: float,
    speed_limit_kmh: float,
    grade_permille: float,
    mass_kg: float,
    stock: RollingStock,
) -> RunProfile:
    """Today's integrator, step by step for each run on its own: the reference definition."""
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


def _plain_run_profile(
    distance_m: float,
    speed_limit_kmh: float,
    grade_permille: float,
    mass_kg: float,
    stock: RollingStock,
) -> RunProfile:
    """``run_profile`` over the reference integrator: the same rounding of the arguments."""
    return _plain_profile(
        round(distance_m, 1),
        math.floor(min(speed_limit_kmh, stock.top_speed_kmh) * 100) / 100,
        round(grade_permille, 2),
        quantise_mass(mass_kg),
        stock,
    )


def _outcome(integrate: Callable[..., RunProfile], *args: object) -> RunProfile | str:
    """``integrate(*args)``, or the message of the ``ValueError`` it raised instead."""
    try:
        return integrate(*args)
    except ValueError as e:
        return f"ValueError: {e}"


def assert_identical(got: RunProfile | str, want: RunProfile | str) -> None:
    """Same error, or the same profile bit for bit: arrays equal exactly (and byte for byte, so
    not even the sign of a zero differs), scalars equal and of the same type."""
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    for f in dataclasses.fields(RunProfile):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray), f.name
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            assert np.array_equal(a, b), f.name
            assert a.tobytes() == b.tobytes(), f.name
        else:
            assert type(a) is type(b) and a == b, (f.name, a, b)


@pytest.fixture
def cold() -> Iterator[None]:
    """Empty profile and free-run caches, so a test decides which runs come first."""
    physics._run_profile.cache_clear()
    physics._free_run.cache_clear()
    yield
    physics._run_profile.cache_clear()
    physics._free_run.cache_clear()


def _fresh(key: Key) -> RunProfile | str:
    """The new integrator for an exact ``_run_profile`` key, bypassing the profile cache but
    sharing free runs with every run computed before it."""
    return _outcome(physics._run_profile.__wrapped__, *key)


# ---- every run of a simulated weekday ------------------------------------------------------


@pytest.fixture(scope="module")
def weekday_runs() -> list[Key]:
    """Each distinct ``_run_profile`` key of the weekday scenario's first six hours (about 1,200
    runs over 22 distances, 7 limit-grade pairs and 130 masses), in first-use order."""
    real = physics._run_profile
    keys: dict[Key, None] = {}

    def spy(
        distance_m: float,
        speed_limit_kmh: float,
        grade_permille: float,
        mass_kg: float,
        stock: RollingStock,
    ) -> RunProfile:
        key = (distance_m, speed_limit_kmh, grade_permille, mass_kg, stock)
        keys.setdefault(key, None)
        return real(*key)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(physics, "_run_profile", spy)
        for _ in Simulation("weekday", until="6h", telemetry_interval_s=30).windows():
            pass
    assert len(keys) > 500
    return list(keys)


def test_every_weekday_run_is_the_plain_integrators(weekday_runs: list[Key], cold: None) -> None:
    """In the order the simulation asks for them, then longest first (each run a prefix of a
    free run already extended past it), then shortest first (each run extending it)."""
    want = {key: _outcome(_plain_profile, *key) for key in weekday_runs}
    for order in (
        weekday_runs,
        sorted(weekday_runs, key=lambda k: -k[0]),
        sorted(weekday_runs, key=lambda k: k[0]),
    ):
        physics._free_run.cache_clear()
        for key in order:
            assert_identical(_fresh(key), want[key])


# ---- any run, in any order --------------------------------------------------------------------

#: A (speed limit km/h, grade per mille, mass kg) shared by several distances.
conditions = st.tuples(st.floats(20, 100), st.floats(-40, 40), st.floats(TARE_KG, CRUSH_KG))


@st.composite
def run_sequences(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    """Up to 12 runs over at most 3 conditions, so most runs share a free run with an earlier
    one, sometimes shorter, sometimes longer."""
    conds = draw(st.lists(conditions, min_size=1, max_size=3))
    runs = st.tuples(st.floats(50, 3000), st.sampled_from(conds))
    return [(d, *c) for d, c in draw(st.lists(runs, min_size=1, max_size=12))]


@settings(max_examples=200, deadline=None)
@given(run_sequences())
def test_runs_requested_in_any_order_are_the_plain_integrators(
    runs: list[tuple[float, float, float, float]],
) -> None:
    physics._run_profile.cache_clear()
    physics._free_run.cache_clear()
    for dist, limit, grade, mass in runs:
        assert_identical(
            _outcome(run_profile, dist, limit, grade, mass, STOCK),
            _outcome(_plain_run_profile, dist, limit, grade, mass, STOCK),
        )


# ---- edge cases ---------------------------------------------------------------------------

MASS = quantise_mass(STOCK.mass_kg(800))


@pytest.mark.parametrize("longest_first", [False, True])
def test_runs_shorter_than_the_first_step(cold: None, longest_first: bool) -> None:
    """A first step covers about 0.14 m and reaches 0.28 m of braking curve: runs shorter than
    that cross it in their first step, whatever free run exists."""
    distances = [0.05, 0.1, 0.2, 0.275, 0.3, 1.0, 5.0, 1500.0]
    first_step_only = _plain_profile(0.2, 80.0, 0.0, MASS, STOCK)
    assert first_step_only.a[0] > 0 and first_step_only.a[1] < 0
    for dist in sorted(distances, reverse=longest_first):
        key = (dist, 80.0, 0.0, MASS, STOCK)
        assert_identical(_fresh(key), _plain_profile(*key))


def test_a_run_too_short_to_reach_the_limit(cold: None) -> None:
    """300 m at 80 km/h: the train brakes long before reaching the limit."""
    long_key = (2000.0, 80.0, 0.0, MASS, STOCK)
    key = (300.0, 80.0, 0.0, MASS, STOCK)
    want = _plain_profile(*key)
    assert want.v.max() < 80 / 3.6 - 1
    assert_identical(_fresh(long_key), _plain_profile(*long_key))
    assert_identical(_fresh(key), want)


@pytest.mark.parametrize("grade", [-35.0, 0.0, 35.0])
def test_runs_that_reach_the_braking_curve_as_they_reach_the_limit(
    cold: None, grade: float
) -> None:
    """The step that reaches the limit is shorter than DT; the plain loop stops motoring after it
    when the braking curve is within 1 um. Distances around that step's braking-curve reach
    exercise each branch: crossing within the step, stopping after it, cruising on."""
    b = STOCK.service_brake_ms2
    ref = _plain_profile(5000.0, 80.0, grade, MASS, STOCK)
    i = int(np.argmax(ref.v == ref.speed_limit_ms))
    assert ref.t[i] - ref.t[i - 1] < DT
    x, v = float(ref.x[i]), float(ref.v[i])
    reach = x + v * v / (2 * b)
    distances = [
        reach - 1e-3,
        math.nextafter(reach, 0.0),
        reach,
        math.nextafter(reach, math.inf),
        reach + 5e-7,
        reach + 1e-6,
        reach + 2e-6,
        reach + 1e-3,
        reach + 1.0,
    ]
    for order in (distances, distances[::-1]):
        physics._free_run.cache_clear()
        for dist in order:
            key = (dist, 80.0, grade, MASS, STOCK)
            assert_identical(_fresh(key), _plain_profile(*key))


@pytest.mark.parametrize("grade", [-35.0, 0.0, 35.0])
def test_runs_ending_exactly_on_a_steps_braking_curve(cold: None, grade: float) -> None:
    """A distance equal to the braking-curve reach after a step, to the last bit: the plain loop
    treats that step as the crossing one (``>=``), and so must the shared prefix."""
    b = STOCK.service_brake_ms2
    ref = _plain_profile(5000.0, 80.0, grade, MASS, STOCK)
    motoring = int(np.argmax(ref.a < 0))
    states = [1, 2, 10, 40, motoring // 2, motoring - 1]
    distances = []
    for j in states:
        x, v = float(ref.x[j]), float(ref.v[j])
        distances.append(x + v * v / (2 * b))
    for order in (distances, distances[::-1]):
        physics._free_run.cache_clear()
        for dist in order:
            key = (dist, 80.0, grade, MASS, STOCK)
            assert_identical(_fresh(key), _plain_profile(*key))


def test_a_train_that_cannot_start_raises_as_before(cold: None) -> None:
    """A crushed train on a 120 per mille grade needs more than the maximum tractive effort: the
    same ValueError, for the first run of that free run and for the ones after it."""
    for dist in (800.0, 300.0, 2000.0):
        key = (dist, 80.0, 120.0, quantise_mass(CRUSH_KG), STOCK)
        want = _outcome(_plain_profile, *key)
        assert isinstance(want, str) and "cannot start" in want
        assert_identical(_fresh(key), want)


def test_a_non_positive_distance_raises_as_before(cold: None) -> None:
    for dist in (0.0, -5.0):
        key = (dist, 80.0, 0.0, MASS, STOCK)
        want = _outcome(_plain_profile, *key)
        assert isinstance(want, str) and "must be positive" in want
        assert_identical(_fresh(key), want)


def test_a_run_longer_than_the_step_budget(cold: None) -> None:
    """After 100,000 motoring steps (about 1,100 km at 80 km/h) the plain loop brakes wherever
    the train is; the shared steps count against that budget."""
    key = (1_200_000.0, 80.0, 0.0, MASS, STOCK)
    want = _plain_profile(*key)
    assert np.argmax(want.a < 0) == 100_000
    assert_identical(_fresh((2000.0, *key[1:])), _plain_profile(2000.0, *key[1:]))
    assert_identical(_fresh(key), want)
