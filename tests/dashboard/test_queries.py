"""The query layer answers what the views answer, fast paths included, with bound parameters."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_testdata import OLD_RUN, TINY_RUN, tiny_expected

from ats_sim.api import RunResult
from dashboard import queries as q
from dashboard.connection import open_warehouse
from dashboard.execution import bind
from sinks.duckdb import apply_schema, connect_readonly


def _as_of(con: object, run_id: str) -> pd.Timestamp:
    return q.run_overview(con, run_id)["TIMESTAMP"].max().to_pydatetime()


@pytest.mark.parametrize(
    ("lines", "trains"),
    [((), ()), (("R",), ()), (("B",), ()), (("R",), ("R-02",)), ((), ("R-03",))],
)
def test_kpis_of_the_tiny_run_are_its_known_figures(
    tiny_db: Path, lines: tuple, trains: tuple
) -> None:
    """Trains in service, passengers, active alerts, power and energy today, per selection."""
    want = tiny_expected(lines, trains)
    with connect_readonly(tiny_db) as con:
        got = q.kpis(con, q.Filters(TINY_RUN, lines, trains), _as_of(con, TINY_RUN)).iloc[0]
    assert got["TRAINS_IN_SERVICE"] == want.trains
    assert got["PASSENGERS"] == want.passengers
    assert got["ACTIVE_ALERTS"] == want.active_alerts
    assert got["POWER_MW"] == pytest.approx(want.power_mw)
    assert got["ENERGY_TODAY_MWH"] == pytest.approx(want.energy_mwh)


def test_runs_put_the_latest_written_run_first(tiny_db: Path) -> None:
    """Both runs cover the same simulated hour; the one written last comes first."""
    with connect_readonly(tiny_db) as con:
        assert list(q.runs(con)["RUN_ID"]) == [TINY_RUN, OLD_RUN]


def test_parameters_are_bound_not_spliced(tiny_db: Path) -> None:
    """A run id full of SQL is just a run id that does not exist."""
    evil = "x' OR '1'='1"
    with connect_readonly(tiny_db) as con:
        assert q.run_overview(con, evil).empty
        assert q.alerts(con, q.Filters(evil)).empty
        assert (
            q.kpis(con, q.Filters(evil, lines=(evil,)), _as_of(con, TINY_RUN))[
                "TRAINS_IN_SERVICE"
            ].iloc[0]
            == 0
        )


def test_the_query_layer_only_reads(tiny_db: Path) -> None:
    with connect_readonly(tiny_db) as con, pytest.raises(ValueError, match="only reads"):
        q.run_query(con, "DELETE FROM ATS_TRANSFORMED")


def test_the_time_window_limits_what_is_counted(tiny_db: Path) -> None:
    """Last 15 minutes: 16 samples of each of the 4 trains still running; whole run: all 275."""
    with connect_readonly(tiny_db) as con:
        as_of = _as_of(con, TINY_RUN)
        recent = q.Filters(TINY_RUN, start=as_of - timedelta(minutes=15), end=as_of)
        whole = q.Filters(TINY_RUN, end=as_of)
        assert q.timeline(con, recent, 60)["RECORDS"].sum() == 4 * 16
        assert q.timeline(con, whole, 60)["RECORDS"].sum() == 4 * 61 + 31
        assert q.histogram(con, recent, "LOAD_FACTOR", 0.05)["N"].sum() == 4 * 16
        # A cleared alert raised before the window drops out; active ones stay.
        assert set(q.alerts(con, recent)["ALERT_ID"]) == {"A1", "A3"}
        assert set(q.alerts(con, whole)["ALERT_ID"]) == {"A1", "A2", "A3"}


def test_headways_flag_the_bunched_departure(tiny_db: Path) -> None:
    """The departure two minutes after the previous one (scheduled five) is bunched."""
    with connect_readonly(tiny_db) as con:
        h = q.headways(con, q.Filters(TINY_RUN))
        summary = q.headway_summary(con, q.Filters(TINY_RUN))
    assert h.loc[h["IS_BUNCHED"], "HEADWAY_S"].tolist() == [120.0]
    assert summary["BUNCHED"].sum() == 1
    assert summary["DEPARTURES"].sum() == 14


# --------------------------------------------------------------------------- the real morning peak


@pytest.fixture(scope="module")
def peak(peak_db: Path, morning_peak: RunResult) -> dict:
    with connect_readonly(peak_db) as con:
        run_id = str(q.runs(con)["RUN_ID"].iloc[0])
        as_of = _as_of(con, run_id)
        view = con.execute("SELECT * FROM ATS_LATEST_STATUS WHERE RUN_ID = ?", [run_id]).df()
        day_energy = (
            con.execute(
                "SELECT sum(ENERGY_KWH) AS E FROM ATS_LINE_ENERGY WHERE RUN_ID = ?", [run_id]
            )
            .df()["E"]
            .iloc[0]
        )
        f = q.Filters(run_id, end=as_of)
        return {
            "run_id": run_id,
            "as_of": as_of,
            "view": view,
            "day_energy_kwh": day_energy,
            "overview": q.run_overview(con, run_id),
            "status": q.latest_status(con, f, as_of),
            "kpis": q.kpis(con, f, as_of).iloc[0],
            "speeds": q.speed_boxes(con, f),
            "line_kpis": q.kpis(con, q.Filters(run_id, ("R",)), as_of).iloc[0],
        }


def test_run_overview_is_the_latest_status_view_projected(peak: dict) -> None:
    """The sidebar's trains and times are ATS_LATEST_STATUS's, computed as an aggregate."""
    view = peak["view"][["LINE_ID", "TRAIN_ID", "TIMESTAMP"]].sort_values(
        "TRAIN_ID", ignore_index=True
    )
    pd.testing.assert_frame_equal(peak["overview"].sort_values("TRAIN_ID", ignore_index=True), view)


def test_latest_status_is_the_view_for_trains_in_service(peak: dict) -> None:
    """The recent-slice query returns exactly ATS_LATEST_STATUS's rows of trains in service."""
    since = pd.Timestamp(peak["as_of"]) - pd.Timedelta(seconds=q.IN_SERVICE_S)
    view = peak["view"][peak["view"]["TIMESTAMP"] >= since].sort_values(
        "TRAIN_ID", ignore_index=True
    )
    assert len(view) > 20
    pd.testing.assert_frame_equal(peak["status"].sort_values("TRAIN_ID", ignore_index=True), view)
    assert peak["kpis"]["TRAINS_IN_SERVICE"] == len(view)
    assert peak["kpis"]["PASSENGERS"] == view["PASSENGER_COUNT"].sum()
    assert peak["kpis"]["POWER_MW"] == pytest.approx(view["POWER_DRAW_KW"].sum() / 1000)


def test_energy_today_is_what_the_line_energy_view_sums_to(
    peak: dict, morning_peak: RunResult
) -> None:
    """Counters at the end minus before midnight = ATS_LINE_ENERGY over the day = the run's total."""
    assert peak["kpis"]["ENERGY_TODAY_MWH"] == pytest.approx(
        peak["day_energy_kwh"] / 1000, rel=1e-9
    )
    assert peak["kpis"]["ENERGY_TODAY_MWH"] == pytest.approx(
        morning_peak.summary.as_dict()["energy_mwh"], abs=0.01
    )


def test_a_line_filter_counts_only_that_lines_trains(peak: dict) -> None:
    since = pd.Timestamp(peak["as_of"]) - pd.Timedelta(seconds=q.IN_SERVICE_S)
    view = peak["view"]
    red = view[(view["LINE_ID"] == "R") & (view["TIMESTAMP"] >= since)]
    assert (
        0 < peak["line_kpis"]["TRAINS_IN_SERVICE"] == len(red) < peak["kpis"]["TRAINS_IN_SERVICE"]
    )
    assert peak["line_kpis"]["PASSENGERS"] == red["PASSENGER_COUNT"].sum()


def test_speed_quartiles_are_within_a_bin_of_the_exact_ones(
    peak: dict, morning_peak: RunResult
) -> None:
    """Box plots come from 1 km/h bins: each quartile within 1 km/h of numpy's."""
    tel = morning_peak.telemetry
    running = tel[tel["status"] == "running"]
    for row in peak["speeds"].itertuples():
        speeds = running.loc[running["train_id"] == row.TRAIN_ID, "speed_kmh"].to_numpy()
        assert len(speeds) == row.N
        assert (speeds.min(), speeds.max()) == (row.MIN, row.MAX)
        for got, quantile in ((row.Q1, 25), (row.MEDIAN, 50), (row.Q3, 75)):
            assert abs(got - np.percentile(speeds, quantile)) <= 1.0


# --------------------------------------------------------------------------- state, caching, import


def test_a_fresh_schema_has_every_object_and_no_data(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    apply_schema(path)
    with connect_readonly(path) as con:
        assert q.missing_objects(con) == []
        assert q.data_version(con) == (0, 0, 0)


def test_a_refresh_rereads_nothing_until_the_data_changes(tiny_db: Path) -> None:
    """The cached layer connects only on a miss: a new data version, or new arguments."""
    wh = open_warehouse(f"duckdb://{tiny_db}")
    key = f"{wh.key}#{uuid.uuid4()}"  # nothing cached under this key yet
    opened: list[int] = []

    def connect() -> object:
        opened.append(1)
        return con

    with wh.session() as session:
        con = session.conn
        version = q.data_version(con)
        first = q.CachedQueries(key, version, connect)(q.runs)
        again = q.CachedQueries(key, version, connect)(q.runs)
        assert len(opened) == 1
        pd.testing.assert_frame_equal(first, again)
        q.CachedQueries(key, (*version[:2], version[2] + 1), connect)(q.runs)
        assert len(opened) == 2


def test_importing_the_dashboard_connects_to_nothing(tmp_path: Path) -> None:
    """No driver, no Streamlit, no file: importing and naming a warehouse is free."""
    missing = tmp_path / "nothing-here.duckdb"
    code = (
        "import sys; import dashboard.queries, dashboard.charts;"
        "from dashboard.connection import open_warehouse;"
        f"open_warehouse('duckdb://{missing}');"
        "print('duckdb' in sys.modules, 'streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert not missing.exists()


@pytest.mark.parametrize(
    ("style", "sql", "params"),
    [
        ("qmark", "SELECT ? AS A WHERE 'x%' LIKE 'x%' AND ? = ?", ["a", 1, 1]),
        (
            "pyformat",
            "SELECT %(a)s AS A WHERE 'x%%' LIKE 'x%%' AND %(n)s = %(n)s",
            {"a": "a", "n": 1},
        ),
        ("numeric", "SELECT :1 AS A WHERE 'x%' LIKE 'x%' AND :2 = :3", ["a", 1, 1]),
    ],
)
def test_parameters_are_bound_in_the_drivers_style(style: str, sql: str, params: object) -> None:
    """DuckDB takes ``?``; the Snowflake connector takes pyformat (escaping ``%``) or qmark."""
    assert bind("SELECT $a AS A WHERE 'x%' LIKE 'x%' AND $n = $n", {"a": "a", "n": 1}, style) == (
        sql,
        params,
    )
