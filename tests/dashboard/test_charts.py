"""Figure builders: an offline network map with equal scales, threshold lines, empty states."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard import charts

STATIONS = pd.DataFrame(
    {
        "LINE_ID": ["R", "R", "R", "B", "B"],
        "STATION_ID": ["R01", "R02", "R03", "B01", "B02"],
        "CHAINAGE_M": [0.0, 1000.0, 2000.0, 0.0, 1500.0],
        "LATITUDE": [52.0, 52.0, 52.0, 52.05, 51.95],
        "LONGITUDE": [0.30, 0.35, 0.40, 0.35, 0.35],
    }
)
TRAINS = pd.DataFrame(
    {
        "LINE_ID": ["R", "B"],
        "TRAIN_ID": ["R-01", "B-01"],
        "STATUS": ["running", "dwelling"],
        "NEXT_STATION": ["R02", "B02"],
        "PASSENGER_COUNT": [100, 900],
        "LOAD_FACTOR": [0.14, 1.22],
        "SPEED_KMH": [50.0, 0.0],
        "POWER_DRAW_KW": [800.0, 150.0],
        "DIRECTION": [0, 1],
        "LATITUDE": [52.0, 52.05],
        "LONGITUDE": [0.33, 0.35],
    }
)


def test_the_map_draws_each_line_and_colours_trains_by_load_without_tiles() -> None:
    fig = charts.network_map(STATIONS, TRAINS, load_threshold=1.0)
    names = [t.name for t in fig.data]
    assert names == ["Line B", "Line R", "Trains"]
    assert all(t.type == "scatter" for t in fig.data)  # no mapbox / map tiles
    assert list(fig.data[2].marker.color) == [0.14, 1.22]
    # One kilometre east as long as one kilometre north at this latitude.
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.yaxis.scaleratio == pytest.approx(1 / math.cos(math.radians(52.0)), rel=1e-3)


def test_timelines_carry_the_alert_thresholds() -> None:
    tl = pd.DataFrame(
        {
            "T": pd.to_datetime(["2026-03-10 08:00", "2026-03-10 08:01"], utc=True),
            "LINE_ID": ["R", "R"],
            "SERIES": ["R", "R"],
            "RECORDS": [5, 5],
            "AVG_LOAD_FACTOR": [0.2, 0.3],
            "MAX_LOAD_FACTOR": [0.5, 1.1],
            "AVG_POWER_KW": [500.0, 600.0],
            "MAX_POWER_KW": [4000.0, 4500.0],
        }
    )
    load = charts.load_timeline(tl, 1.0)
    power = charts.power_timeline(tl, 4183.0)
    assert [s.y0 for s in load.layout.shapes] == [1.0]
    assert [s.y0 for s in power.layout.shapes] == [4183.0]
    assert "4,183 kW" in power.layout.annotations[0].text


@pytest.mark.parametrize(
    "build",
    [
        lambda e: charts.network_map(e, e),
        lambda e: charts.load_timeline(e, 1.0),
        lambda e: charts.power_timeline(e, 1.0),
        lambda e: charts.histogram_figure(e, 1.0, "x", "t"),
        lambda e: charts.speed_box_figure(e),
        lambda e: charts.station_crowding_figure(e),
        lambda e: charts.headway_figure(e, e),
        lambda e: charts.hourly_figure(e, e),
    ],
)
def test_no_data_is_a_figure_that_says_so(build: object) -> None:
    fig = build(pd.DataFrame())  # type: ignore[operator]
    assert not fig.data
    assert fig.layout.annotations[0].text.startswith("no ")


def test_alert_severities_are_coloured() -> None:
    df = pd.DataFrame({"SEVERITY": ["critical", "warning", "info"], "MESSAGE": ["a", "b", "c"]})
    html = charts.severity_style(df).to_html()
    for colour in charts.SEVERITY_COLORS.values():
        assert colour in html
