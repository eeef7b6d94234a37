"""``ats-sim import-gtfs`` and ``ats-sim validate-gtfs`` from the command line, bad feeds included."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ats_sim.cli.main import app
from ats_sim.scenario import load_scenario

runner = CliRunner()


def _good(feeds):
    fb = feeds.base_feed()
    feeds.add_line(fb, "M1", "1")
    feeds.add_line(fb, "B10", "10", (300, 300), route_type=3, lat0=48.84, seed=3)
    return fb


def test_import_then_validate_with_json(feeds, write_feed, tmp_path):
    """import-gtfs writes a scenario that loads; validate-gtfs --json prints one JSON object."""
    path = write_feed(_good(feeds))
    out = tmp_path / "city.toml"
    res = runner.invoke(
        app, ["import-gtfs", str(path), "--out", str(out), "--cars", "4", "--speed-limit", "70"]
    )
    assert res.exit_code == 0, res.stderr
    assert "shape_dist_traveled (metres)" in res.stdout and "wrote" in res.stdout
    sc = load_scenario(out)
    assert sc.rolling_stock.cars == 4 and sc.network.lines[0].speed_limit_kmh == 70
    res = runner.invoke(
        app, ["validate-gtfs", str(path), "--scenario", str(out), "--json", "--calibrate"]
    )
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert {
        "segments",
        "median_abs_error_pct",
        "share_within_15pct",
        "excluded",
        "calibration",
    } <= set(report)
    assert len(report["segments"]) == 10
    assert report["calibration"][0]["line"] == "1"
    assert 0 <= report["share_within_15pct"] <= 1


def test_validate_prints_a_table_and_what_calibration_chose(feeds, write_feed, tmp_path):
    """Without --json the report is a table, the summary and the chosen cruising speed."""
    path = write_feed(_good(feeds))
    out = tmp_path / "city.toml"
    assert (
        runner.invoke(
            app, ["import-gtfs", str(path), "-o", str(out), "--routes", "1", "--embed"]
        ).exit_code
        == 0
    )
    res = runner.invoke(
        app, ["validate-gtfs", str(path), "-s", str(out), "--calibrate"], terminal_width=200
    )
    assert res.exit_code == 0, res.stderr
    assert "median absolute error" in res.stdout
    assert "calibration: line 1 cruising speed" in res.stdout
    assert "M1 Station 1" in res.stdout


def _rows(fb, file: str) -> list[dict]:
    return fb.tables[file]


def _blank_lat(fb) -> None:
    _rows(fb, "stops.txt")[2]["stop_lat"] = ""


def _backwards(fb) -> None:
    rows = [r for r in _rows(fb, "stop_times.txt") if r["trip_id"] == "M1_0_0003"]
    rows[1]["stop_sequence"], rows[2]["stop_sequence"] = (
        rows[2]["stop_sequence"],
        rows[1]["stop_sequence"],
    )


def _duplicate_sequence(fb) -> None:
    rows = [r for r in _rows(fb, "stop_times.txt") if r["trip_id"] == "M1_1_0002"]
    rows[2]["stop_sequence"] = rows[1]["stop_sequence"]


def _bad_time(fb) -> None:
    _rows(fb, "stop_times.txt")[4]["arrival_time"] = "8h05"


def _only_buses(fb) -> None:
    for r in _rows(fb, "routes.txt"):
        r["route_type"] = 3


def _unknown_stop(fb) -> None:
    _rows(fb, "stop_times.txt")[7]["stop_id"] = "NOWHERE"


def _duplicate_route(fb) -> None:
    _rows(fb, "routes.txt").append(dict(_rows(fb, "routes.txt")[0]))


def _off_the_globe(fb) -> None:
    _rows(fb, "stops.txt")[2]["stop_lat"] = "999"


BROKEN: list[tuple[str, Callable | None, dict, list[str], str]] = [
    (
        "missing file",
        None,
        {"drop_files": ["stop_times.txt"]},
        [],
        "stop_times.txt: missing from the feed",
    ),
    (
        "missing column",
        None,
        {"drop_columns": {"stop_times.txt": ["stop_sequence"]}},
        [],
        "stop_times.txt: missing column stop_sequence",
    ),
    (
        "no stop_lat column",
        None,
        {"drop_columns": {"stops.txt": ["stop_lat"]}},
        [],
        "stops.txt: missing column stop_lat (header is: stop_id,stop_name,stop_lon,",
    ),
    (
        "no coordinate columns",
        None,
        {"drop_columns": {"stops.txt": ["stop_lat", "stop_lon"]}},
        [],
        "stops.txt: missing column stop_lat, stop_lon",
    ),
    ("no route of the type", _only_buses, {}, [], "routes.txt: no route of route_type 1"),
    ("stop without coordinates", _blank_lat, {}, [], "stops.txt row 4: field stop_lat is empty"),
    (
        "stop off the globe",
        _off_the_globe,
        {},
        [],
        "stops.txt row 4: field stop_lat: 999 is outside -90 to 90",
    ),
    ("unsorted stop sequence", _backwards, {}, [], "goes back in time at stop_sequence"),
    ("repeated stop sequence", _duplicate_sequence, {}, [], "has stop_sequence 20 twice"),
    (
        "bad time",
        _bad_time,
        {},
        [],
        "stop_times.txt row 6: field arrival_time: '8h05' is not a time",
    ),
    ("unknown stop", _unknown_stop, {}, [], "field stop_id: 'NOWHERE' is not a stop in stops.txt"),
    (
        "repeated route id",
        _duplicate_route,
        {},
        [],
        "routes.txt row 4: field route_id: 'M1' appears twice",
    ),
    ("unknown route", None, {}, ["--routes", "99"], "routes.txt: no route with id or name '99'"),
    (
        "route of another type",
        None,
        {},
        ["--routes", "10"],
        "route 10 Line 10 (B10) is route_type 3 (bus)",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "options", "args", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_bad_feed_gives_one_line_and_status_2(
    feeds, write_feed, tmp_path, mutate, options, args, message
):
    """Every broken feed gives exit status 2 and one line naming the file, row or field, no traceback."""
    fb = _good(feeds)
    if mutate:
        mutate(fb)
    path = write_feed(fb, **options)
    res = runner.invoke(app, ["import-gtfs", str(path), "--out", str(tmp_path / "x.toml"), *args])
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: feed.zip: "), res.stderr
    assert message in lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("route_id,route_type\n"), "not a GTFS zip archive"),
        (lambda p: None, "no such file or folder"),
    ],
    ids=["not a zip", "no file"],
)
def test_not_a_feed(tmp_path: Path, make, message):
    """A path that is not a feed at all is one line too."""
    path = tmp_path / "feed.zip"
    make(path)
    res = runner.invoke(app, ["import-gtfs", str(path), "--out", str(tmp_path / "x.toml")])
    assert (
        res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    )


def _one_line(res, *message: str) -> None:
    """The command failed with status 2 and one line on stderr holding every ``message``."""
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert all(m in lines[0] for m in message), lines[0]
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--cars", "0", "--cars: expected 1 to 12 cars, got 0"),
        ("--speed-limit", "-5", "--speed-limit: expected 0-200 km/h, got -5"),
        ("--speed-limit", "0", "--speed-limit: expected 0-200 km/h, got 0"),
        ("--daily-entries", "-1", "--daily-entries: expected a number of passengers"),
        ("--daily-entries", "nan", "--daily-entries: expected a number of passengers"),
        ("--daily-entries", "inf", "--daily-entries: expected a number of passengers"),
        ("--date", "2026-02-30", "--date: '2026-02-30' is not a date"),
    ],
)
def test_bad_option_gives_one_line_naming_it(feeds, write_feed, tmp_path, option, value, message):
    """A flag out of range names the flag (not the feed), and nothing is written."""
    path = write_feed(_good(feeds))
    out = tmp_path / "x.toml"
    res = runner.invoke(app, ["import-gtfs", str(path), "--out", str(out), option, value])
    _one_line(res, message)
    assert not out.exists()


def _a_folder(tmp: Path) -> Path:
    (tmp / "out").mkdir()
    return tmp / "out"


def _under_a_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not a folder")
    return tmp / "notes.txt" / "x.toml"


def _network_path_is_a_folder(tmp: Path) -> Path:
    (tmp / "x-network.toml").mkdir()
    return tmp / "x.toml"


UNWRITABLE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("an existing folder", _a_folder, "it is a folder; give the scenario file to write"),
    ("under a file", _under_a_file, "notes.txt is not a folder"),
    ("network beside it is a folder", _network_path_is_a_folder, "Is a directory"),
]
if Path("/proc/self").is_dir():  # a folder where no file can be created, even by root
    UNWRITABLE.append(
        ("a place no file can be created", lambda _: Path("/proc/x.toml"), "No such file")
    )


@pytest.mark.parametrize(
    ("where", "message"), [u[1:] for u in UNWRITABLE], ids=[u[0] for u in UNWRITABLE]
)
def test_out_that_cannot_be_written_gives_one_line_and_leaves_nothing(
    feeds, write_feed, tmp_path, where, message
):
    """--out at a folder or an impossible place names the path and the reason; no file is left."""
    path = write_feed(_good(feeds))
    out = where(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    res = runner.invoke(app, ["import-gtfs", str(path), "--out", str(out)])
    _one_line(res, "cannot write ", message)
    assert sorted(tmp_path.rglob("*")) == before
    assert "wrote" not in res.stdout


@pytest.mark.parametrize("as_json", [[], ["--json"]], ids=["table", "json"])
def test_validate_with_a_scenario_that_cannot_be_read(feeds, write_feed, tmp_path, as_json):
    """A missing scenario file or a folder gives one line on stderr and nothing on stdout."""
    path = write_feed(_good(feeds))
    (tmp_path / "folder.toml").mkdir()
    for scenario, message in (
        (tmp_path / "nope.toml", "nope.toml: no such file"),
        (tmp_path / "folder.toml", "folder.toml: is a directory"),
    ):
        res = runner.invoke(app, ["validate-gtfs", str(path), "-s", str(scenario), *as_json])
        _one_line(res, message)
        assert res.stdout == ""


def test_validate_with_a_scenario_that_is_not_text(feeds, write_feed, tmp_path):
    """A scenario path that is a binary file (here the feed itself) is one line, not a traceback."""
    path = write_feed(_good(feeds))
    res = runner.invoke(app, ["validate-gtfs", str(path), "-s", str(path)])
    _one_line(res, "feed.zip")


def test_validate_errors_are_one_line(feeds, write_feed, tmp_path):
    """validate-gtfs with a scenario from another network, or a missing scenario, exits 2 with one line."""
    path = write_feed(_good(feeds))
    res = runner.invoke(app, ["validate-gtfs", str(path), "--scenario", "weekday"])
    assert res.exit_code == 2 and "no route for scenario line 'R'" in res.stderr
    res = runner.invoke(
        app, ["validate-gtfs", str(path), "--scenario", str(tmp_path / "nope.toml")]
    )
    assert res.exit_code == 2 and "no such file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
