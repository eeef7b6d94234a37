"""Train dynamics: properties of every run, and calibration against REFERENCE.md."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim.physics import run_profile
from ats_sim.rolling_stock import G, RollingStock

STOCK = RollingStock()

runs = st.tuples(
    st.floats(300, 3000),  # distance, m
    st.floats(30, 90),  # speed limit, km/h
    st.floats(-40, 40),  # grade, per mille
    st.integers(0, STOCK.crush_capacity),  # passengers
)


@settings(max_examples=150, deadline=None)
@given(runs)
def test_speed_never_exceeds_the_limit(run: tuple[float, float, float, int]) -> None:
    """However long, steep or loaded the run, the train never goes above its limit."""
    dist, limit, grade, pax = run
    p = run_profile(dist, limit, grade, STOCK.mass_kg(pax), STOCK)
    assert p.v.max() * 3.6 <= min(limit, STOCK.top_speed_kmh) + 1e-6


@settings(max_examples=150, deadline=None)
@given(runs)
def test_each_run_covers_its_distance_and_stops_at_the_platform(
    run: tuple[float, float, float, int],
) -> None:
    """Position goes monotonically from 0 to the station distance, ending at standstill."""
    dist, limit, grade, pax = run
    p = run_profile(dist, limit, grade, STOCK.mass_kg(pax), STOCK)
    assert abs(p.x[-1] - round(dist, 1)) < 1e-6
    assert p.v[-1] == 0.0
    assert np.all(np.diff(p.x) >= -1e-9)
    assert np.all(np.diff(p.t) > 0)


@settings(max_examples=150, deadline=None)
@given(runs)
def test_regenerated_energy_never_exceeds_the_energy_available_while_braking(
    run: tuple[float, float, float, int],
) -> None:
    """Regeneration returns at most the kinetic energy at the start of braking plus what a
    downhill grade and cruising on it add; never free energy."""
    dist, limit, grade, pax = run
    p = run_profile(dist, limit, grade, STOCK.mass_kg(pax), STOCK)
    m = p.mass_kg
    kinetic = 0.5 * m * STOCK.rotating_mass_factor * p.brake_start_v**2
    downhill = max(0.0, -grade / 1000.0) * m * G * dist  # potential energy released, upper bound
    assert p.regen_j[-1] <= kinetic + downhill + 1e-6


def test_the_brake_never_exceeds_emergency_deceleration() -> None:
    """Stopping exactly at the platform uses about the service rate, never emergency braking."""
    for dist in (450.0, 800.0, 1234.5, 2500.0):
        p = run_profile(dist, 80, 0, STOCK.mass_kg(800), STOCK)
        assert p.a.min() >= -1.4
        assert p.a.min() <= -STOCK.service_brake_ms2 * 0.95


def test_a_full_reference_train_starting_draws_2_5_to_5_mw() -> None:
    """REFERENCE.md: six cars, 1,500 passengers, 1.0-1.1 m/s^2 needs about 3.6 MW at 36 km/h."""
    p = run_profile(1500, 80, 0, STOCK.mass_kg(1500), STOCK)
    total_mw = (p.power_w.max() + STOCK.aux_power_kw(20) * 1000) / 1e6
    assert 2.5 <= total_mw <= 5.0


def test_cruising_at_80_kmh_takes_0_15_to_0_5_mw_of_traction() -> None:
    """REFERENCE.md: cruising at 80 km/h about 0.2-0.3 MW."""
    p = run_profile(2500, 80, 0, STOCK.mass_kg(1500), STOCK)
    cruising = p.power_w[(np.abs(p.v - 80 / 3.6) < 1e-9) & (p.a == 0)]
    assert len(cruising) > 0
    assert 0.15e6 <= cruising.mean() <= 0.5e6


def test_kinetic_energy_at_80_kmh_is_about_25_kwh() -> None:
    """REFERENCE.md: kinetic energy at 80 km/h, 6 cars and 1,500 passengers, about 25 kWh."""
    m = STOCK.mass_kg(1500) * STOCK.rotating_mass_factor
    assert 20 <= 0.5 * m * (80 / 3.6) ** 2 / 3.6e6 <= 30


def test_regeneration_recovers_about_a_quarter_of_traction_energy_on_a_typical_run() -> None:
    """CoMET: about 27% of traction energy recovered, metro average."""
    p = run_profile(1200, 80, 0, STOCK.mass_kg(600), STOCK)
    share = p.regen_j[-1] / p.drawn_j[-1]
    assert 0.15 <= share <= 0.40


def test_a_heavier_train_takes_longer_and_draws_more_energy() -> None:
    light = run_profile(1500, 80, 0, STOCK.mass_kg(0), STOCK)
    heavy = run_profile(1500, 80, 0, STOCK.mass_kg(STOCK.crush_capacity), STOCK)
    assert heavy.duration_s > light.duration_s
    assert heavy.drawn_j[-1] > light.drawn_j[-1]
