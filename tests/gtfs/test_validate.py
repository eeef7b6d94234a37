"""The validation report: the model's running times against the feed's timetable."""

from __future__ import annotations

import numpy as np
import pytest

from ats_sim.gtfs import GtfsError, import_gtfs, validate
from ats_sim.gtfs.runtime import simulated_run_time_s
from ats_sim.scenario import load_scenario


def _realistic_line(feeds, *, whole_minute: bool, seed: int = 0):
    """A 20-station metro: 0.6-2.4 km spacing, timetable from 65 km/h + 20 s per run, 8% noise."""
    spacings = tuple(np.random.default_rng(seed).uniform(600, 2400, 19).round(-1))
    fb = feeds.base_feed()
    feeds.add_line(
        fb,
        spacings_m=spacings,
        whole_minute=whole_minute,
        noise=0.08,
        cruise_kmh=65,
        overhead_s=20,
        dwell_s=25,
        seed=seed,
        dist_unit=None,
    )
    return fb


@pytest.mark.parametrize(("whole_minute", "target"), [(False, 8.0), (True, 15.0)])
def test_realistic_metro_line_after_calibration(feeds, write_feed, tmp_path, whole_minute, target):
    """On a line whose timetable comes from an independent running-time formula (not our physics),
    one fitted cruising speed brings the median absolute segment error within the target: 15% with
    times to the whole minute (each segment then carries up to a minute of rounding), 8% without."""
    path = write_feed(_realistic_line(feeds, whole_minute=whole_minute))
    imported = import_gtfs(path)
    imported.write(tmp_path / "sc.toml")
    rep = validate(path, tmp_path / "sc.toml", calibrate=True)
    assert len(rep.segments) == 2 * 19
    assert not rep.excluded
    (cal,) = rep.calibration
    assert 45 <= cal.speed_kmh <= 80 and not cal.at_bound
    assert cal.after_median_abs_error_pct <= cal.before_median_abs_error_pct
    assert rep.median_abs_error_pct == pytest.approx(cal.after_median_abs_error_pct, abs=0.01)
    assert rep.median_abs_error_pct <= target
    assert rep.share_within_15pct is not None and rep.share_within_15pct >= 0.5
    assert {s.speed_limit_kmh for s in rep.segments} == {cal.speed_kmh}  # one speed for the line
    assert all(s.whole_minute is whole_minute for s in rep.segments)
    assert any("whole minute" in n for n in rep.notes) is whole_minute


def test_a_timetable_the_physics_cannot_match_shows_a_large_error(feeds, write_feed, tmp_path):
    """A timetable far slower than the train (30 km/h plus 45 s a run) is reported as far off."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=(900, 1200, 800, 1500, 1100), cruise_kmh=30, overhead_s=45)
    path = write_feed(fb)
    import_gtfs(path).write(tmp_path / "sc.toml")
    rep = validate(path, tmp_path / "sc.toml")
    assert rep.median_abs_error_pct is not None and rep.median_abs_error_pct > 40
    assert rep.share_within_15pct == 0.0
    assert all(s.simulated_s < s.scheduled_s for s in rep.segments)
    assert rep.calibration == []


def test_simulated_time_is_the_projects_physics(feeds, write_feed, tmp_path):
    """Each simulated time is the physics' run time for the segment's distance, limit and grade."""
    fb = feeds.base_feed()
    feeds.add_line(fb)
    path = write_feed(fb)
    res = import_gtfs(path, speed_limit_kmh=70)
    rep = validate(path, res.scenario)
    stock = res.scenario.rolling_stock
    for s in rep.segments:
        expect = simulated_run_time_s(
            s.distance_m, 70, s.grade_permille, stock, stock.seated_capacity
        )
        assert s.simulated_s == pytest.approx(expect, abs=0.05)
        assert not s.dwell_included
    # Scheduled: departure at A to arrival at B, the dwell left out (the generator's dwell is 30 s).
    first = rep.segments[0]
    expect_sched = feeds.scheduled_run_s(900)
    assert first.scheduled_s == pytest.approx(expect_sched, rel=0.2)


def test_feed_without_dwell_adds_one_dwell_to_the_model(feeds, write_feed, tmp_path):
    """Where arrival equals departure everywhere, scheduled times contain a dwell: the model adds min_dwell_s."""
    fb = feeds.base_feed()
    feeds.add_line(fb, dwell_s=0.0)
    path = write_feed(fb)
    res = import_gtfs(path)
    assert res.scenario.operations.min_dwell_s == 20.0  # the default: the feed gives none
    rep = validate(path, res.scenario)
    stock = res.scenario.rolling_stock
    s = rep.segments[0]
    assert s.dwell_included
    run = simulated_run_time_s(
        s.distance_m, s.speed_limit_kmh, s.grade_permille, stock, stock.seated_capacity
    )
    assert s.simulated_s == pytest.approx(run + 20.0, abs=0.05)
    assert any("no dwell" in n for n in rep.notes)


def test_timing_holds_at_a_few_stops_do_not_hide_the_dwell_in_the_running_times(feeds, write_feed):
    """A feed that gives one time per stop, with a timing hold at one station out of eight inside
    each trip (as the New York subway's feed does), still has a dwell in every scheduled running
    time: the model adds ``min_dwell_s`` to every segment, and the report says so."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=(900,) * 9, dwell_s=0.0, holds={4: 60.0}, noise=0.0)
    path = write_feed(fb)
    res = import_gtfs(path)
    rep = validate(path, res.scenario)
    stock = res.scenario.rolling_stock
    assert len(rep.segments) == 2 * 9
    for s in rep.segments:
        assert s.dwell_included
        run = simulated_run_time_s(
            s.distance_m, s.speed_limit_kmh, s.grade_permille, stock, stock.seated_capacity
        )
        assert s.simulated_s == pytest.approx(run + res.scenario.operations.min_dwell_s, abs=0.05)
    assert any("no dwell (arrival equals departure at 88% of stops)" in n for n in rep.notes)


def test_two_station_shuttle_runs_hold_no_dwell(feeds, write_feed):
    """Departure from one terminus to arrival at the other holds no dwell: nothing is added."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=(700,), dwell_s=0.0)
    path = write_feed(fb)
    res = import_gtfs(path)
    rep = validate(path, res.scenario)
    stock = res.scenario.rolling_stock
    assert len(rep.segments) == 2
    for s in rep.segments:
        assert not s.dwell_included
        run = simulated_run_time_s(
            s.distance_m, s.speed_limit_kmh, s.grade_permille, stock, stock.seated_capacity
        )
        assert s.simulated_s == pytest.approx(run, abs=0.05)
    assert not any("dwell" in n for n in rep.notes)


def test_loop_line_checks_its_closing_segment(feeds, write_feed):
    """On a loop the segment back to the first station is compared like any other."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, spacings_m=(800, 900, 1000, 900, 1200), loop=True)
    path = write_feed(fb)
    rep = validate(path, import_gtfs(path).scenario)
    assert len(rep.segments) == 2 * 5
    closing = [s for s in rep.segments if s.to_station == f"1-{ids[0]}#2"]
    assert len(closing) == 1 and closing[0].distance_m == pytest.approx(1200, abs=2)
    assert not rep.excluded


def test_segments_the_model_cannot_represent_are_excluded_with_a_reason(feeds, write_feed):
    """A branch, an express that skips stations, and a reversal between platforms of one station
    are listed as excluded with the reason, not dropped."""
    fb = feeds.base_feed()
    trunk = feeds.add_line(fb, "M7", "7", (1000, 1000, 1000, 1000), parents=True)
    fb.add("stops.txt", stop_id="BR1", stop_name="Branch One", stop_lat="48.870", stop_lon="2.330")
    for j in range(10):
        t0 = 6 * 3600 + j * 600
        fb.add("trips.txt", route_id="M7", service_id="WK", trip_id=f"br{j}", direction_id=0)
        stops = [(f"{trunk[0]}P0", 0), (f"{trunk[1]}P0", 120), ("BR1", 260)]
        for k, (stop, t) in enumerate(stops):
            fb.add(
                "stop_times.txt",
                trip_id=f"br{j}",
                arrival_time=feeds.hms(t0 + t),
                departure_time=feeds.hms(t0 + t),
                stop_id=stop,
                stop_sequence=k + 1,
            )
        fb.add("trips.txt", route_id="M7", service_id="WK", trip_id=f"ex{j}", direction_id=0)
        stops = [
            (f"{trunk[0]}P0", 0),
            (f"{trunk[2]}P0", 150),
            (f"{trunk[2]}P1", 400),
            (f"{trunk[0]}P1", 550),
        ]
        for k, (stop, t) in enumerate(stops):
            fb.add(
                "stop_times.txt",
                trip_id=f"ex{j}",
                arrival_time=feeds.hms(t0 + t),
                departure_time=feeds.hms(t0 + t),
                stop_id=stop,
                stop_sequence=k + 1,
            )
    path = write_feed(fb)
    rep = validate(path, import_gtfs(path).scenario)
    reasons = {(e.from_name, e.to_name): (e.reason, e.trips) for e in rep.excluded}
    assert reasons[("M7 Station 2", "Branch One")] == (
        "off the imported line (a branch or another pattern)",
        10,
    )
    assert reasons[("M7 Station 1", "M7 Station 3")][0].startswith("the stops are not adjacent")
    assert reasons[("M7 Station 3", "M7 Station 1")][0].startswith("the stops are not adjacent")
    assert reasons[("M7 Station 3", "M7 Station 3")][0].startswith("zero-length")
    assert len(rep.segments) == 2 * 4  # the regular trips still give every segment
    as_json = rep.to_dict()["excluded"]
    assert {"line", "from_stop", "to_stop", "reason", "trips"} <= set(as_json[0])


def test_cable_hauled_routes_are_excluded(feeds, write_feed):
    """A funicular imports (when asked for) but its segments are excluded: the train model does not apply."""
    fb = feeds.base_feed()
    feeds.add_line(fb, "F1", "Funi", (400,), route_type=7)
    path = write_feed(fb)
    res = import_gtfs(path, route_type=7)
    assert any("cable" in n for n in res.lines[0].notes)
    rep = validate(path, res.scenario)
    assert rep.segments == [] and rep.median_abs_error_pct is None
    assert {e.reason for e in rep.excluded} == {
        "cable-hauled (funicular): not a self-propelled train"
    }


def test_scenario_from_another_feed_is_refused(feeds, write_feed, tmp_path):
    """A scenario whose lines or stations are not in the feed gives one clear error."""
    fb = feeds.base_feed()
    feeds.add_line(fb, "M1", "1")
    path = write_feed(fb, "one")
    other = feeds.base_feed()
    feeds.add_line(other, "M9", "9")
    with pytest.raises(GtfsError, match="no route for scenario line '9'"):
        validate(path, import_gtfs(write_feed(other, "other")).scenario)
    with pytest.raises(GtfsError, match="no route for scenario line 'R'"):
        validate(path, "weekday")
    renamed = import_gtfs(path)
    renamed.write(tmp_path / "sc.toml")
    net = tmp_path / "sc-network.toml"
    net.write_text(net.read_text().replace("1-M1S03", "1-ELSEWHERE"))
    load_scenario(tmp_path / "sc.toml")
    with pytest.raises(
        GtfsError, match="station '1-ELSEWHERE' of line 1 is not a stop of this feed"
    ):
        validate(path, tmp_path / "sc.toml")
