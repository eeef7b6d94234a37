"""Clocks: replay as fast as possible, scaled time, and live runs aligned to the wall clock."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ats_sim.clock import REPLAY_WINDOW_S, Pacer, parse_speed
from ats_sim.errors import ConfigError
from ats_sim.simulation import Simulation


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_replay_never_waits() -> None:
    clock = FakeClock()
    pacer = Pacer(None, 0.0, now=clock.time, sleep=clock.sleep)
    assert pacer.wait_until(86_400) == 0.0
    assert clock.slept == []


def test_speed_60_plays_an_hour_in_a_minute() -> None:
    clock = FakeClock()
    pacer = Pacer(60.0, 3600.0, now=clock.time, sleep=clock.sleep)
    pacer.wait_until(3600.0 + 1800)
    pacer.wait_until(3600.0 + 3600)
    assert sum(clock.slept) == pytest.approx(60.0)


def test_a_slow_consumer_is_not_made_to_wait_twice() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, 0.0, now=clock.time, sleep=clock.sleep)
    clock.now += 10  # the sinks took 10 s
    assert pacer.wait_until(5.0) == 0.0


@pytest.mark.parametrize("text", ["0", "-3", "fast", "nan"])
def test_bad_speeds_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_speed(text)


def test_paced_windows_are_small_so_records_flow_smoothly() -> None:
    assert Pacer(1.0, 0).window_for(0.25) == 0.25
    assert Pacer(60.0, 0).window_for(0.25) == 15.0
    assert Pacer(None, 0).window_for() == REPLAY_WINDOW_S == 1800.0


def test_a_scaled_replay_takes_the_wall_time_its_speed_says() -> None:
    """Ten simulated minutes at speed 600 take about one second."""
    sim = Simulation("weekday", until="10m", telemetry_interval_s=30, window_s=15.0)
    pacer = Pacer(600.0, sim.start_s)
    started = time.monotonic()
    n = 0
    for window in sim.windows():
        pacer.wait_until(sim.now_s)
        n += sum(b.num_rows for b in window)
    elapsed = time.monotonic() - started
    assert n > 0
    assert 0.9 <= elapsed <= 3.0


def test_live_mode_starts_at_the_wall_clock_and_stops_when_told() -> None:
    """`ats-sim live --until` runs in step with the wall clock, then reports and exits 0."""
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ats_sim.cli",
            "live",
            "weekday",
            "--sink",
            "memory://",
            "--speed",
            "30",
            "--until",
            "60s",
            "--telemetry-interval",
            "5",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.time() - started
    assert proc.returncode == 0, proc.stderr
    # 60 simulated seconds at speed 30: 2 s of pacing, plus start-up and the warm-up replay.
    assert elapsed >= 2.0
    assert "run summary" in proc.stderr


def test_a_live_run_before_the_first_train_is_empty_not_an_error() -> None:
    """Live mode at 03:00 local with --until 60s ends before service starts: no records, no
    error (a replay given an end before service is still refused)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from ats_sim.scenario import load_scenario

    sc = load_scenario("weekday")
    now = dt.datetime.combine(sc.start_date, dt.time(3, 0), ZoneInfo(sc.timezone))
    end = now + dt.timedelta(seconds=60)
    sim = Simulation(sc, until=end, emit_from=now, telemetry_interval_s=5)
    assert [b for window in sim.windows() for b in window] == []
    with pytest.raises(ConfigError, match="before the start of service"):
        Simulation(sc, until=end)
