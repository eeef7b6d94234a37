"""A real metro: the New York City subway's own GTFS feed (eight routes, weekday service).

The feed is a trimmed copy of the MTA's published feed (see ``data/README.md``), not one the
tests build, so nothing here was arranged to suit the importer. Issue 8's target: for a real
metro line after calibration, the median absolute segment error is at most 15%.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ats_sim.gtfs import ImportResult, ValidationReport, import_gtfs, validate

FEED = Path(__file__).parent / "data" / "nyc_subway_weekday.zip"
LINES = {"1", "6", "7", "7X", "A", "G", "S", "L"}
TARGET_PCT = 15.0


@pytest.fixture(scope="module")
def imported() -> ImportResult:
    """The feed imported with the defaults: every metro route."""
    return import_gtfs(FEED)


@pytest.fixture(scope="module")
def report(imported: ImportResult) -> ValidationReport:
    """The validation report with one cruising speed fitted per line."""
    return validate(FEED, imported.scenario, calibrate=True)


def test_every_subway_route_becomes_a_line_of_parent_stations_on_its_shape(
    imported: ImportResult,
) -> None:
    """All eight routes are route_type 1 and import as lines; stations are parent stations
    (the feed's platforms end in N or S), chainage comes from shapes.txt, and the lines have
    their real lengths (the L is about 16 km, the A about 52 km to Far Rockaway)."""
    net = imported.network
    assert {ln.id for ln in net.lines} == LINES
    for ln in net.lines:
        assert all(not s.id.endswith(("N", "S")) for s in ln.stations), ln.id
        assert 40.5 < ln.stations[0].lat < 41.0 and -74.3 < ln.stations[0].lon < -73.7
    assert {li.chainage_method.split(" (")[0] for li in imported.lines} == {
        "distance along shapes.txt"
    }
    assert net.line("L").n_stations == 24
    assert net.line("L").length_m == pytest.approx(16_300, rel=0.03)
    assert net.line("A").length_m == pytest.approx(51_800, rel=0.03)
    assert net.line("S").n_stations == 2  # the 42 St Shuttle
    assert imported.scenario.timezone == "America/New_York"
    assert imported.scenario.day_type == "weekday"
    # One time per stop (arrival equals departure at most stops): no dwell can be read off.
    assert imported.scenario.operations.min_dwell_s == 20.0
    assert any("no dwell times" in n for n in imported.notes)


def test_each_line_meets_the_target_after_calibration(report: ValidationReport) -> None:
    """One fitted cruising speed per line brings every line's median absolute segment error
    to at most 15%, from far above it with the rolling stock's top speed."""
    assert {c.line for c in report.calibration} == LINES
    for cal in report.calibration:
        assert cal.after_median_abs_error_pct <= TARGET_PCT, cal
        assert cal.before_median_abs_error_pct > cal.after_median_abs_error_pct, cal
        assert not cal.at_bound, cal
        assert 25 <= cal.speed_kmh <= 60, cal  # New York's subway is slow, not a fitting artefact
    assert report.median_abs_error_pct is not None and report.median_abs_error_pct <= TARGET_PCT
    assert report.share_within_15pct is not None and report.share_within_15pct >= 0.5


def test_segments_are_compared_both_ways_and_branches_are_listed_as_excluded(
    report: ValidationReport,
) -> None:
    """Every segment of every line is compared in both directions, with the dwell counted inside
    the scheduled times; stop pairs off the imported lines (the A's other branches, the
    expresses' short cuts) are listed with their reasons and trip counts, none dropped."""
    for line in LINES:
        segs = [s for s in report.segments if s.line == line]
        assert {s.direction for s in segs} == {0, 1}, line
    assert len(report.segments) >= 300
    assert all(s.scheduled_s > 0 and s.trips > 0 for s in report.segments)
    assert all(s.dwell_included for s in report.segments if s.line != "S")
    assert not any(s.dwell_included for s in report.segments if s.line == "S")
    reasons = {e.reason for e in report.excluded}
    assert "off the imported line (a branch or another pattern)" in reasons
    assert all(e.trips > 0 for e in report.excluded)
    a_branches = {e.to_name for e in report.excluded if e.line == "A"}
    assert {"Ozone Park-Lefferts Blvd", "Rockaway Park-Beach 116 St"} <= a_branches
