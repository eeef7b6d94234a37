"""The metro model end to end: passengers, trains, timetable, disruptions and alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim.api import RunResult
from ats_sim.engine import LineSim
from ats_sim.rolling_stock import RollingStock
from ats_sim.scenario import load_scenario
from ats_sim.simulation import Simulation

STOCK = RollingStock()


def test_on_board_passengers_stay_between_zero_and_crush_capacity(morning_peak: RunResult) -> None:
    tel = morning_peak.telemetry
    assert tel["passenger_count"].min() >= 0
    assert tel["passenger_count"].max() <= STOCK.crush_capacity


def test_the_morning_peak_fills_trains_beyond_half_their_capacity(morning_peak: RunResult) -> None:
    """Demand is calibrated so that the peak is busy (no empty-train model)."""
    assert morning_peak.telemetry["load_factor"].max() > 0.5


def test_weight_is_tare_plus_passengers_times_passenger_mass(morning_peak: RunResult) -> None:
    tel = morning_peak.telemetry
    expected = (STOCK.tare_mass_kg + tel["passenger_count"] * STOCK.passenger_mass_kg) / 1000
    assert np.allclose(tel["total_weight_tons"], expected, atol=0.006)


def test_dwelling_and_turning_trains_draw_only_auxiliary_power(morning_peak: RunResult) -> None:
    tel = morning_peak.telemetry
    still = tel[tel["status"] != "running"]
    assert len(still) > 0
    assert (still["speed_kmh"] == 0).all()
    aux_max = STOCK.aux_power_kw(60)
    aux_min = STOCK.aux_power_kw(-60)
    assert still["power_draw_kw"].between(aux_min - 0.05, aux_max + 0.05).all()


def test_running_trains_regenerate_when_braking(morning_peak: RunResult) -> None:
    tel = morning_peak.telemetry
    braking = tel[(tel["acceleration_ms2"] < -0.5) & (tel["speed_kmh"] > 20)]
    assert (braking["power_draw_kw"] < 0).mean() > 0.5


def test_speed_never_exceeds_the_line_limit(morning_peak: RunResult) -> None:
    assert morning_peak.telemetry["speed_kmh"].max() <= 90.0 + 1e-9


def test_positions_follow_the_line(morning_peak: RunResult) -> None:
    """Chainage stays on the line, and lat/lon are interpolated between its stations."""
    tel = morning_peak.telemetry
    net = morning_peak.scenario.network
    for line in net.lines:
        part = tel[tel["line_id"] == line.id]
        assert part["chainage_m"].between(0, line.length_m + 0.05).all()
        lat = np.interp(part["chainage_m"], line.chainages, [s.lat for s in line.stations])
        assert np.allclose(part["latitude"], lat, atol=2e-6)


def test_energy_counters_grow_and_regeneration_is_below_consumption(
    morning_peak: RunResult,
) -> None:
    tel = morning_peak.telemetry.sort_values(["train_id", "timestamp"])
    for _, g in tel.groupby("train_id"):
        assert g["regen_energy_kwh"].is_monotonic_increasing
    last = tel.groupby("train_id").last()
    assert (last["energy_kwh"] > 0).all()
    assert (last["regen_energy_kwh"] < last["energy_kwh"] + last["regen_energy_kwh"]).all()


def test_passengers_are_conserved_from_arrival_to_alighting() -> None:
    """Everyone who arrived on a platform is still waiting, on a train, or has alighted."""
    sc = load_scenario("weekday")
    sim = Simulation(sc, until="3h", seed=5, telemetry_interval_s=60)
    line = LineSim(sim.spec, sc.network.line("B"))
    batches = line.advance(sim.start_s + 3 * 3600)
    events = next(b for b in batches if b.type.name == "station_event").data.to_pandas()
    alighted = int(events.loc[events["event"] == "arrival", "alighted"].sum())
    now = line.env.now
    arrived = sum(q.arrived_by(now) for row in line.queues for q in row)
    waiting = sum(q.waiting(now) for row in line.queues for q in row)
    on_board = sum(t.passengers for t in line.trains)
    assert arrived > 10_000
    assert arrived == alighted + on_board + waiting
    assert all(int(t.onboard.sum()) == t.passengers for t in line.trains)


def test_boarding_is_limited_and_left_behind_passengers_wait_for_the_next_train() -> None:
    """A heavy surge leaves people behind, and they board later trains."""
    sc = load_scenario("event-surge").with_changes(
        demand={"scale": 3.0},
        rolling_stock={"cars": 3},
    )
    res = Simulation(sc, until="4h", seed=3, telemetry_interval_s=60)
    ev = pd.concat(
        [b.data.to_pandas() for w in res.windows() for b in w if b.type.name == "station_event"]
    )
    dep = ev[ev["event"] == "departure"]
    assert dep["left_behind"].sum() > 0
    assert dep["passengers_on_board"].max() <= sc.rolling_stock.boarding_limit


def test_headways_follow_the_timetable_in_normal_service(morning_peak: RunResult) -> None:
    ev = morning_peak.events
    dep = ev[(ev["event"] == "departure") & ev["headway_s"].notna()]
    ratio = dep["headway_s"] / dep["scheduled_headway_s"]
    assert ratio.median() == pytest_approx(1.0, 0.1)


def pytest_approx(value: float, rel: float) -> object:
    import pytest

    return pytest.approx(value, rel=rel)


def test_a_held_train_makes_the_trains_behind_it_bunch(
    morning_peak: RunResult,
    disrupted_peak: RunResult,
) -> None:
    """Holding a train 8 minutes at Central produces bunching alerts and short headways after it."""

    def short_headways(r: RunResult) -> int:
        ev = r.events
        dep = ev[(ev["event"] == "departure") & (ev["line_id"] == "R") & ev["headway_s"].notna()]
        return int((dep["headway_s"] < 0.6 * dep["scheduled_headway_s"]).sum())

    assert short_headways(disrupted_peak) > short_headways(morning_peak) + 5
    alerts = disrupted_peak.alerts
    bunching = alerts[(alerts["alert_type"] == "bunching") & (alerts["line_id"] == "R")]
    assert (bunching["state"] == "raised").sum() >= 2
    dwell = alerts[alerts["alert_type"] == "dwell_overrun"]
    assert (dwell["station_id"] == "R08").any()


def test_alerts_are_raised_once_and_cleared_once(disrupted_peak: RunResult) -> None:
    alerts = disrupted_peak.alerts
    assert len(alerts) > 0
    for _, g in alerts.groupby("alert_id"):
        states = list(g.sort_values("timestamp")["state"])
        assert states in (["raised"], ["raised", "cleared"])


def test_every_record_id_is_unique(disrupted_peak: RunResult) -> None:
    for frame in (disrupted_peak.telemetry, disrupted_peak.events, disrupted_peak.alerts):
        assert frame["record_id"].is_unique


def test_telemetry_comes_every_interval_for_every_train_in_service(morning_peak: RunResult) -> None:
    tel = morning_peak.telemetry
    for _, g in tel.groupby("train_id"):
        gaps = g["timestamp"].diff().dropna().dt.total_seconds()
        assert (gaps % 10 == 0).all()
        assert (gaps == 10).mean() > 0.9


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_any_seed_keeps_passengers_within_capacity(seed: int) -> None:
    res = Simulation("weekday", until="1h", seed=seed, telemetry_interval_s=60, lines=["B"])
    for window in res.windows():
        for b in window:
            if b.type.name == "telemetry":
                pax = b.data.column("passenger_count").to_numpy()
                assert pax.min() >= 0 and pax.max() <= STOCK.crush_capacity


def test_a_heatwave_raises_auxiliary_power_and_energy() -> None:
    """HVAC follows the outside temperature: same timetable, more energy on a hot day."""
    from ats_sim.api import run

    mild = run("weekday", until="10h", seed=9, telemetry_interval_s=60)
    hot = run("heatwave", until="10h", seed=9, telemetry_interval_s=60)

    def afternoon_aux(r: RunResult) -> float:
        tel = r.telemetry
        still = tel[(tel["status"] == "dwelling") & (tel["timestamp"].dt.hour == 14)]
        return float(still["power_draw_kw"].mean())

    assert afternoon_aux(hot) > afternoon_aux(mild) + 100
    assert hot.summary.energy_kwh > mild.summary.energy_kwh


def test_an_event_surge_crowds_the_stadium_platforms() -> None:
    from ats_sim.api import run

    res = run("event-surge", days=1, seed=4, telemetry_interval_s=120, lines=["B"])
    alerts = res.alerts
    crowd = alerts[(alerts["alert_type"] == "platform_crowding") & (alerts["station_id"] == "B05")]
    assert (crowd["state"] == "raised").sum() >= 1
    assert crowd["timestamp"].min() >= pd.Timestamp("2026-03-10T21:30:00Z")
