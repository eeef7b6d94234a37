"""Importing a GTFS feed builds a network and a scenario the simulator accepts."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from ats_sim.gtfs import GtfsError, import_gtfs
from ats_sim.network import Network
from ats_sim.scenario import load_network, load_scenario

SPACINGS = (900, 1200, 800, 1500, 1100)


def _chainages(net: Network, line: int = 0) -> list[float]:
    return [s.chainage_m for s in net.lines[line].stations]


def test_straight_line_gives_stations_in_order_chainage_and_headways(feeds, write_feed, tmp_path):
    """A one-route metro feed becomes one line: stations in order, chainage from the feed's
    distances, coordinates, and the timetable's headways by period; the TOML loads back."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, spacings_m=SPACINGS)
    res = import_gtfs(write_feed(fb))
    line = res.network.lines[0]
    assert [s.id for s in line.stations] == [f"1-{i}" for i in ids]
    assert line.stations[1].name == "M1 Station 2"
    assert _chainages(res.network) == pytest.approx([0, 900, 2100, 2900, 4400, 5500], abs=1.0)
    assert res.lines[0].chainage_method == "shape_dist_traveled (metres)"
    assert abs(line.stations[0].lat - 48.85) < 0.01 and abs(line.stations[0].lon - 2.30) < 0.01
    assert line.color == "#AA0000"
    ops = res.scenario.operations
    assert ops.service_start == "05:30"
    assert [(p.start, p.headway_s) for p in ops.periods] == [
        ("05:30", 480),
        ("07:00", 150),
        ("09:30", 300),
        ("16:30", 150),
        ("19:00", 360),
        ("22:00", 600),
    ]
    assert ops.min_dwell_s == pytest.approx(30)
    assert res.scenario.timezone == "Europe/Paris"
    assert res.date is not None and res.date.weekday() < 5  # the weekday service is the busiest
    written = res.write(tmp_path / "out" / "city.toml")
    assert [p.name for p in written] == ["city.toml", "city-network.toml"]
    back = load_scenario(tmp_path / "out" / "city.toml")
    assert back.network == res.network
    assert back.operations == ops
    assert load_network(tmp_path / "out" / "city-network.toml") == res.network


def test_embedded_network_loads_from_one_file(feeds, write_feed, tmp_path):
    """With ``embed`` the scenario file carries the network itself."""
    fb = feeds.base_feed()
    feeds.add_line(fb)
    res = import_gtfs(write_feed(fb))
    assert res.write(tmp_path / "one.toml", embed=True) == [tmp_path / "one.toml"]
    assert load_scenario(tmp_path / "one.toml").network == res.network


def test_loop_line_keeps_its_closing_segment(feeds, write_feed):
    """A loop (A..E then back to A) stays one line whose closing station is A again, as its own platform."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, spacings_m=(800, 900, 1000, 900, 1200), loop=True)
    res = import_gtfs(write_feed(fb))
    line = res.network.lines[0]
    assert [s.id for s in line.stations] == [f"1-{i}" for i in ids] + [f"1-{ids[0]}#2"]
    assert line.stations[-1].name == line.stations[0].name
    assert line.length_m == pytest.approx(4800, abs=2)
    assert any("loop" in n for n in res.lines[0].notes)


def test_branching_route_takes_the_longest_dominant_pattern_and_says_what_is_left_out(
    feeds, write_feed
):
    """A route that splits in two keeps the trunk and its longer branch; the other branch is named."""
    fb = feeds.base_feed()
    trunk = feeds.add_line(fb, "M7", "7", (1000, 1000, 1000, 1000))
    # A second branch of the same route: trips from the trunk's third station to two new stations.
    fb.add("stops.txt", stop_id="BR1", stop_name="Branch One", stop_lat="48.870", stop_lon="2.330")
    fb.add("stops.txt", stop_id="BR2", stop_name="Branch Two", stop_lat="48.878", stop_lon="2.335")
    for j in range(40):
        t0 = 6 * 3600 + j * 600
        fb.add("trips.txt", route_id="M7", service_id="WK", trip_id=f"br{j}", direction_id=0)
        for k, (stop, t) in enumerate(
            [(trunk[0], 0), (trunk[1], 120), (trunk[2], 240), ("BR1", 380), ("BR2", 500)]
        ):
            fb.add(
                "stop_times.txt",
                trip_id=f"br{j}",
                arrival_time=feeds.hms(t0 + t),
                departure_time=feeds.hms(t0 + t),
                stop_id=stop,
                stop_sequence=k + 1,
            )
    res = import_gtfs(write_feed(fb))
    line = res.network.lines[0]
    assert [s.id for s in line.stations] == [f"7-{i}" for i in trunk]
    notes = " ".join(res.lines[0].notes)
    assert "Branch One" in notes and "Branch Two" in notes
    assert res.lines[0].patterns == 3


def test_frequencies_templates_give_the_headways(feeds, write_feed):
    """Trips defined by frequencies.txt count once per run, and their headways become the periods."""
    fb = feeds.base_feed()
    feeds.add_line(fb, frequencies=True)
    res = import_gtfs(write_feed(fb))
    assert len(fb.tables["trips.txt"]) == 2  # one template per direction
    assert res.lines[0].runs > 100
    assert [(p.start, p.headway_s) for p in res.scenario.operations.periods] == [
        ("05:30", 480),
        ("07:00", 150),
        ("09:30", 300),
        ("16:30", 150),
        ("19:00", 360),
        ("22:00", 600),
    ]


@pytest.mark.parametrize(
    ("unit_m", "shapes", "method"),
    [
        (0.3048, True, "shape_dist_traveled (feet)"),
        (1609.344, True, "shape_dist_traveled (miles)"),
        (1000.0, True, "shape_dist_traveled (kilometres)"),
        (0.3048, False, "shape_dist_traveled (feet)"),
        (1609.344, False, "shape_dist_traveled (miles)"),
        (None, True, "distance along shapes.txt (shape M1_sh0)"),
        (None, False, "great-circle between stations"),
    ],
)
def test_chainage_source_and_units(feeds, write_feed, unit_m, shapes, method):
    """Distances in feet, miles or km are recognised; without them the shape, else great circles, are used."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=SPACINGS, dist_unit=unit_m, shapes=shapes)
    res = import_gtfs(write_feed(fb))
    assert res.lines[0].chainage_method == method
    true = [0, 900, 2100, 2900, 4400, 5500]
    # The track wiggles: great circles between stations are a little shorter than it.
    tol = 1.5 if method.startswith(("shape_dist", "distance along")) else 0.03 * 5500
    assert _chainages(res.network) == pytest.approx(true, abs=tol)


def test_multimodal_feed_imports_only_the_metro(feeds, write_feed):
    """Buses among the metro routes are left out, even when their own data is broken."""
    fb = feeds.base_feed()
    feeds.add_line(fb, "M1", "1")
    feeds.add_line(fb, "M2", "2", (700, 900, 1100), lat0=48.86, seed=2)
    bus = feeds.add_line(fb, "B10", "10", (300, 300, 300), route_type=3, lat0=48.84, seed=3)
    for row in fb.tables["stops.txt"]:
        if row["stop_id"] == bus[1]:
            row["stop_lat"] = ""  # a bus stop without coordinates does not concern the metro
    res = import_gtfs(write_feed(fb))
    assert [ln.id for ln in res.network.lines] == ["1", "2"]
    ids = [s.id for ln in res.network.lines for s in ln.stations]
    assert len(ids) == len(set(ids)) == 6 + 4
    with pytest.raises(GtfsError, match=r"stops.txt row \d+: field stop_lat is empty"):
        import_gtfs(write_feed(fb), route_type=3)


def test_rail_on_request(feeds, write_feed):
    """Metro means route_type 1 and the extended urban-rail types (401 underground); ``rail`` adds
    route_type 2; ``route_type`` picks a type alone."""
    fb = feeds.base_feed()
    feeds.add_line(fb, "M1", "1")
    feeds.add_line(fb, "U1", "U", (800, 900), route_type=401, lat0=48.87, seed=5)
    feeds.add_line(fb, "R1", "RER", (3000, 4000), route_type=2, lat0=48.80, seed=4)
    path = write_feed(fb)
    assert [ln.id for ln in import_gtfs(path).network.lines] == ["1", "U"]
    assert [ln.id for ln in import_gtfs(path, rail=True).network.lines] == ["1", "U", "RER"]
    assert [ln.id for ln in import_gtfs(path, route_type=2).network.lines] == ["RER"]


def test_routes_by_id_or_name(feeds, write_feed):
    """Routes are chosen by route_id, short name or long name."""
    fb = feeds.base_feed()
    feeds.add_line(fb, "M1", "1")
    feeds.add_line(fb, "M2", "2", (700, 900), lat0=48.86, seed=2)
    path = write_feed(fb)
    assert [ln.id for ln in import_gtfs(path, ["M2"]).network.lines] == ["2"]
    assert [ln.id for ln in import_gtfs(path, ["Line 1"]).network.lines] == ["1"]
    assert [ln.id for ln in import_gtfs(path, ["2", "1"]).network.lines] == ["2", "1"]


def test_parent_stations_and_platforms(feeds, write_feed):
    """Trips stop at platforms; the line's stations are the parent stations, at their coordinates."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, parents=True)
    res = import_gtfs(write_feed(fb))
    line = res.network.lines[0]
    assert [s.id for s in line.stations] == [f"1-{i}" for i in ids]
    assert line.stations[0].name == "M1 Station 1"
    parent = next(r for r in fb.tables["stops.txt"] if r["stop_id"] == ids[0])
    assert line.stations[0].lat == pytest.approx(float(parent["stop_lat"]))


def test_parent_without_coordinates_takes_its_platforms(feeds, write_feed):
    """A parent station with no coordinates sits at the mean of its platforms."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, parents=True)
    plats = [r for r in fb.tables["stops.txt"] if r.get("parent_station") == ids[2]]
    for r in fb.tables["stops.txt"]:
        if r["stop_id"] == ids[2]:
            r["stop_lat"] = r["stop_lon"] = ""
    res = import_gtfs(write_feed(fb))
    st = res.network.lines[0].stations[2]
    assert st.lat == pytest.approx(sum(float(p["stop_lat"]) for p in plats) / 2, abs=1e-6)


def test_whole_minute_timetable_imports(feeds, write_feed):
    """Times to the whole minute still give the right headways and a dwell near the true one."""
    fb = feeds.base_feed()
    feeds.add_line(fb, whole_minute=True)
    res = import_gtfs(write_feed(fb))
    assert all(r["arrival_time"].endswith(":00") for r in fb.tables["stop_times.txt"])
    assert res.scenario.operations.periods[1].headway_s == 150
    assert 20 <= res.scenario.operations.min_dwell_s <= 40


def test_timing_holds_are_not_taken_for_the_dwell(feeds, write_feed):
    """A feed that gives one time per stop except a 60 s hold at one station in eight gives no
    dwell: ``min_dwell_s`` keeps its default and the import says why."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=(900,) * 9, dwell_s=0.0, holds={4: 60.0})
    res = import_gtfs(write_feed(fb))
    assert res.scenario.operations.min_dwell_s == 20.0
    assert any("no dwell times (arrival equals departure at 88% of stops)" in n for n in res.notes)


def test_dwell_given_at_only_some_stops_is_the_median_of_those(feeds, write_feed):
    """Times to the second with a 30 s dwell at three stops in eight and none at the others: the
    dwell is 30 s, not pulled down by the stops that gave none."""
    fb = feeds.base_feed()
    feeds.add_line(fb, spacings_m=(900,) * 9, dwell_s=30.0)
    rows = fb.tables["stop_times.txt"]
    for r in rows:
        if r["stop_sequence"] in (20, 30, 40, 50, 60):  # stops 2-6 of every trip give none
            r["departure_time"] = r["arrival_time"]
    res = import_gtfs(write_feed(fb))
    assert res.scenario.operations.min_dwell_s == pytest.approx(30)


def test_messy_csv_bom_quotes_extra_columns_subfolder_shuffled_rows(feeds, write_feed):
    """BOM, quoted fields, unknown columns, files in a sub-folder and rows out of order change nothing."""
    fb = feeds.base_feed()
    feeds.add_line(fb)
    clean = import_gtfs(write_feed(fb, "clean"))
    for r in fb.tables["stop_times.txt"]:
        r["pickup_type"] = "0"
        r["platform_note"] = 'say "hi", please'
    random.Random(3).shuffle(fb.tables["stop_times.txt"])
    messy = import_gtfs(write_feed(fb, "messy", bom=True, quote_all=True, folder="gtfs/"))
    assert messy.network.model_dump() | {"name": ""} == clean.network.model_dump() | {"name": ""}
    assert messy.scenario.operations == clean.scenario.operations


def test_utf16_and_windows_1252_files_keep_their_station_names(feeds, write_feed):
    """A feed saved in UTF-16 (with its byte-order mark) or Windows-1252 imports as the UTF-8 one."""
    fb = feeds.base_feed()
    feeds.add_line(fb)
    fb.tables["stops.txt"][0]["stop_name"] = "Città – Süd"
    clean = import_gtfs(write_feed(fb, "utf8"))
    assert clean.network.lines[0].stations[0].name == "Città – Süd"
    for encoding in ("utf-16", "cp1252"):
        other = import_gtfs(write_feed(fb, encoding, encoding=encoding))
        assert other.network.model_dump() | {"name": ""} == clean.network.model_dump() | {
            "name": ""
        }, encoding


def test_missing_direction_id_is_inferred(feeds, write_feed):
    """Without direction_id the directions come from the order of the stations."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, direction_ids=False)
    res = import_gtfs(write_feed(fb))
    assert [s.id for s in res.network.lines[0].stations] in (
        [f"1-{i}" for i in ids],
        [f"1-{i}" for i in ids[::-1]],
    )
    assert res.lines[0].runs == len(feeds.departures())


def test_no_calendar_and_a_chosen_date(feeds, write_feed):
    """Without a calendar every trip counts; with one, ``date`` picks that day's service."""
    fb = feeds.base_feed(calendar=False)
    feeds.add_line(fb)
    res = import_gtfs(write_feed(fb, "nocal"))
    assert res.date is None and any("no calendar" in n for n in res.notes)
    fb = feeds.base_feed()
    feeds.add_line(fb)
    feeds.add_line(fb, service_id="WE", trip_prefix="we", day=((7.0, 600),), more_trips=True)
    sunday = import_gtfs(write_feed(fb, "cal"), date=dt.date(2026, 1, 11))
    assert sunday.scenario.day_type == "sunday"
    assert [(p.start, p.headway_s) for p in sunday.scenario.operations.periods] == [("07:00", 600)]
    with pytest.raises(GtfsError, match="no trip of the chosen routes runs on 2027-01-01"):
        import_gtfs(write_feed(fb, "cal"), date=dt.date(2027, 1, 1))


def test_reversal_in_a_trip_keeps_the_outward_part(feeds, write_feed, tmp_path: Path):
    """A trip that turns back at a station and retraces the line becomes the line up to the turn."""
    fb = feeds.base_feed()
    ids = feeds.add_line(fb, spacings_m=(1000, 1000, 1000))
    fb.tables["trips.txt"] = [r for r in fb.tables["trips.txt"] if r["direction_id"] == 0]
    keep = {r["trip_id"] for r in fb.tables["trips.txt"]}
    rows = [r for r in fb.tables["stop_times.txt"] if r["trip_id"] in keep]
    # Each trip continues back from the last station to the second one.
    extra = []
    for trip in sorted(keep):
        mine = [r for r in rows if r["trip_id"] == trip]
        last = mine[-1]
        h, m, s = map(int, last["departure_time"].split(":"))
        t = h * 3600 + m * 60 + s
        for k, stop in enumerate([ids[2], ids[1]]):
            t += 120
            extra.append(
                dict(
                    last,
                    arrival_time=feeds.hms(t),
                    departure_time=feeds.hms(t),
                    stop_id=stop,
                    stop_sequence=last["stop_sequence"] + 10 * (k + 1),
                    shape_dist_traveled="",
                )
            )
    for r in rows:
        r["shape_dist_traveled"] = ""
    fb.tables["stop_times.txt"] = rows + extra
    res = import_gtfs(write_feed(fb))
    assert [s.id for s in res.network.lines[0].stations] == [f"1-{i}" for i in ids]
    assert any("reverse" in n for n in res.lines[0].notes)


def test_imported_scenario_runs_in_the_simulator(feeds, write_feed, tmp_path):
    """The written scenario runs: trains serve the imported stations from the feed's first departure,
    in the feed's time zone."""
    import ats_sim

    fb = feeds.base_feed()
    ids = feeds.add_line(fb, parents=True)
    import_gtfs(write_feed(fb)).write(tmp_path / "city.toml")
    result = ats_sim.run(str(tmp_path / "city.toml"), until="30min")
    events = result.events
    assert set(events["line_id"]) == {"1"}
    assert set(events["station_id"]) <= {f"1-{i}" for i in ids}
    assert {f"1-{ids[0]}", f"1-{ids[1]}"} <= set(events["station_id"])
    first = events["timestamp"].min().tz_convert("Europe/Paris")
    assert (first.hour, first.minute) == (5, 30)
