"""The hourly views and the queries that stand in for them mean what their plain definitions say.

The views and queries are written for speed (integer hour keys, one row per train and hour
before summing or windowing, counters instead of a pass over the view); here each is checked
against the plain meaning computed with pandas from the run's own records: a weekday run of
1.3 service days, so that hours cross midnight and trains leave service and return later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from dashboard_testdata import write_batches

import ats_sim
from ats_sim.api import RunResult
from dashboard import queries as q
from sinks.duckdb import connect_readonly


def _same(got: pd.DataFrame, want: pd.DataFrame, *, dtypes: bool = True) -> None:
    """Equal frames, floats within 1e-9 (sums in another order round differently)."""
    pd.testing.assert_frame_equal(
        got, want, check_dtype=dtypes, check_exact=False, rtol=1e-9, atol=1e-9
    )


@pytest.fixture(scope="module")
def two_days() -> RunResult:
    """A weekday run over 1.3 service days, 1-minute telemetry."""
    return ats_sim.run("weekday", days=1.3, seed=5, telemetry_interval_s=60)


@pytest.fixture(scope="module")
def two_days_db(tmp_path_factory: pytest.TempPathFactory, two_days: RunResult) -> Path:
    path = tmp_path_factory.mktemp("two-days") / "ats.duckdb"
    write_batches(path, list(two_days.batches()))
    return path


@pytest.fixture(scope="module")
def tel(two_days: RunResult) -> pd.DataFrame:
    """The run's telemetry with its UTC hour."""
    t = two_days.telemetry.copy()
    t["hour"] = t["timestamp"].dt.floor("h")
    return t


def _view(db: Path, sql: str, *params: object) -> pd.DataFrame:
    with connect_readonly(db) as con:
        return con.execute(sql, list(params)).df()


def _as_of(db: Path, run_id: str) -> datetime:
    with connect_readonly(db) as con:
        return q.run_overview(con, run_id)["TIMESTAMP"].max().to_pydatetime()


def _plain_line_energy(tel: pd.DataFrame) -> pd.DataFrame:
    """Per line and hour, the sum over trains of (last counter in the hour) - (last counter in
    the train's previous hour with records, 0 before its first)."""
    last = tel.sort_values("timestamp").groupby(["run_id", "line_id", "train_id", "hour"]).last()
    last = last[["energy_kwh", "regen_energy_kwh"]].reset_index()
    prev = last.groupby(["run_id", "train_id"])[["energy_kwh", "regen_energy_kwh"]].shift(1)
    last["ENERGY_KWH"] = last["energy_kwh"] - prev["energy_kwh"].fillna(0.0)
    last["REGEN_KWH"] = last["regen_energy_kwh"] - prev["regen_energy_kwh"].fillna(0.0)
    out = last.groupby(["run_id", "line_id", "hour"], as_index=False)[
        ["ENERGY_KWH", "REGEN_KWH"]
    ].sum()
    out["TRACTION_KWH"] = out["ENERGY_KWH"] + out["REGEN_KWH"]
    return out.rename(columns={"run_id": "RUN_ID", "line_id": "LINE_ID", "hour": "HOUR"})


def test_the_run_crosses_midnight_and_trains_leave_and_return(tel: pd.DataFrame) -> None:
    """The premise of the tests below: two calendar days; trains with hours without a record
    between two hours with records; net energy counters that go down (regeneration)."""
    hours = tel[["train_id", "hour"]].drop_duplicates().sort_values(["train_id", "hour"])
    assert tel["timestamp"].dt.date.nunique() == 2
    assert (hours.groupby("train_id")["hour"].diff() > pd.Timedelta(hours=1)).any()
    by_train = tel.sort_values("timestamp").groupby("train_id")["energy_kwh"]
    assert (by_train.diff() < 0).any()


def test_hourly_stats_view_is_a_plain_group_by_the_hour(
    two_days_db: Path, tel: pd.DataFrame
) -> None:
    """Rows, distinct trains, means, maxima and flag shares per line and UTC hour."""
    g = tel.groupby(["run_id", "line_id", "hour"])
    want = pd.DataFrame(
        {
            "RECORDS": g.size(),
            "TRAINS": g["train_id"].nunique(),
            "AVG_PASSENGERS": g["passenger_count"].mean(),
            "MAX_PASSENGERS": g["passenger_count"].max(),
            "AVG_LOAD_FACTOR": g["load_factor"].mean(),
            "AVG_SPEED_KMH": g["speed_kmh"].mean(),
            "AVG_POWER_KW": g["power_draw_kw"].mean(),
            "MAX_POWER_KW": g["power_draw_kw"].max(),
            "OVERCROWDED_SHARE": g["is_overcrowded"].mean(),
            "HIGH_POWER_SHARE": g["is_high_power_draw"].mean(),
        }
    ).reset_index()
    want = want.rename(columns={"run_id": "RUN_ID", "line_id": "LINE_ID", "hour": "HOUR"})
    got = _view(two_days_db, "SELECT * FROM ATS_HOURLY_STATS ORDER BY RUN_ID, LINE_ID, HOUR")
    assert list(got.columns) == list(want.columns)
    assert str(got["RECORDS"].dtype) == str(got["TRAINS"].dtype) == "int64"
    _same(got, want, dtypes=False)


def test_line_energy_view_is_the_per_train_hourly_increase(
    two_days_db: Path, tel: pd.DataFrame, two_days: RunResult
) -> None:
    """Across the night without trains too; summed over the hours it is the run's energy."""
    want = _plain_line_energy(tel)
    got = _view(two_days_db, "SELECT * FROM ATS_LINE_ENERGY ORDER BY RUN_ID, LINE_ID, HOUR")
    _same(got, want, dtypes=False)
    assert got["ENERGY_KWH"].sum() / 1000 == pytest.approx(
        two_days.summary.as_dict()["energy_mwh"], abs=0.01
    )


@pytest.mark.parametrize("lines", [(), ("R",)])
def test_energy_today_is_the_line_energy_view_since_midnight(
    two_days_db: Path, two_days: RunResult, lines: tuple[str, ...]
) -> None:
    """On the second day: KPI energy today = ATS_LINE_ENERGY summed over the hours since midnight."""
    as_of = _as_of(two_days_db, two_days.run_id)
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    sql = "SELECT coalesce(sum(ENERGY_KWH), 0) AS KWH FROM ATS_LINE_ENERGY WHERE RUN_ID = ? AND HOUR >= ?"
    if lines:
        sql += " AND LINE_ID = ?"
    from_view = float(_view(two_days_db, sql, two_days.run_id, midnight, *lines)["KWH"].iloc[0])
    with connect_readonly(two_days_db) as con:
        kwh = q.energy_since_midnight(con, q.Filters(two_days.run_id, lines), as_of)
    assert as_of.date() > two_days.telemetry["timestamp"].min().date()
    assert 0 < kwh == pytest.approx(from_view, rel=1e-9)


def test_energy_today_of_one_train_is_its_counter_since_midnight(
    two_days_db: Path, two_days: RunResult, tel: pd.DataFrame
) -> None:
    """A train selection, which the line-level view cannot answer: last counter minus the last
    one before midnight."""
    as_of = _as_of(two_days_db, two_days.run_id)
    midnight = pd.Timestamp(as_of).floor("D")
    train = str(tel.loc[tel["timestamp"] >= midnight, "train_id"].iloc[0])
    mine = tel[tel["train_id"] == train].sort_values("timestamp")
    want = (
        mine["energy_kwh"].iloc[-1] - mine.loc[mine["timestamp"] < midnight, "energy_kwh"].iloc[-1]
    )
    with connect_readonly(two_days_db) as con:
        line = str(mine["line_id"].iloc[0])
        got = q.energy_since_midnight(con, q.Filters(two_days.run_id, (line,), (train,)), as_of)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(
    ("bucket_s", "trains", "hours"),
    [(300, False, None), (3600, False, None), (60, True, 3), (900, True, None)],
)
def test_timeline_is_every_record_of_the_window_per_bucket(
    two_days_db: Path,
    two_days: RunResult,
    tel: pd.DataFrame,
    bucket_s: int,
    trains: bool,
    hours: int | None,
) -> None:
    """Counts, means and peaks per UTC bucket and series (lines, or two chosen trains)."""
    as_of = _as_of(two_days_db, two_days.run_id)
    start = None if hours is None else as_of - timedelta(hours=hours)
    chosen = tuple(sorted(tel["train_id"].unique())[:2]) if trains else ()
    f = q.Filters(two_days.run_id, (), chosen, start, as_of)
    rows = tel[
        (tel["timestamp"] <= as_of) & (tel["timestamp"] >= (start or tel["timestamp"].min()))
    ]
    if chosen:
        rows = rows[rows["train_id"].isin(chosen)]
    series = "train_id" if chosen else "line_id"
    rows = rows.assign(T=rows["timestamp"].dt.floor(f"{bucket_s}s"), SERIES=rows[series])
    g = rows.groupby(["SERIES", "T"])
    want = pd.DataFrame(
        {
            "LINE_ID": g["line_id"].first(),
            "RECORDS": g.size(),
            "AVG_LOAD_FACTOR": g["load_factor"].mean(),
            "MAX_LOAD_FACTOR": g["load_factor"].max(),
            "AVG_POWER_KW": g["power_draw_kw"].mean(),
            "MAX_POWER_KW": g["power_draw_kw"].max(),
        }
    ).reset_index()
    want = want[["T", "LINE_ID", "SERIES", *want.columns[3:]]]
    with connect_readonly(two_days_db) as con:
        got = q.timeline(con, f, bucket_s)
    assert len(got) > 10
    _same(got, want, dtypes=False)


@pytest.mark.parametrize(
    ("hours", "lines"),
    [(0.25, ()), (3, ()), (3, ("B",)), (14, ()), (None, ("R",))],
)
def test_hourly_stats_of_a_window_are_the_views_rows_of_its_hours(
    two_days_db: Path, two_days: RunResult, hours: float | None, lines: tuple[str, ...]
) -> None:
    """Read through the view's own SQL on the window's rows, or the view itself for the whole
    run: the view's rows of the hours the window touches (14 h: across midnight)."""
    as_of = _as_of(two_days_db, two_days.run_id)
    start = None if hours is None else as_of - timedelta(hours=hours)
    first = start.replace(minute=0, second=0, microsecond=0) if start else as_of.replace(year=2000)
    want = _view(
        two_days_db,
        "SELECT * FROM ATS_HOURLY_STATS WHERE RUN_ID = ? AND HOUR >= ? AND HOUR <= ? "
        "AND (LINE_ID = ? OR ? IS NULL) ORDER BY LINE_ID, HOUR",
        two_days.run_id,
        first,
        as_of,
        *([lines[0]] * 2 if lines else [None, None]),
    )
    with connect_readonly(two_days_db) as con:
        got = q.hourly_stats(con, q.Filters(two_days.run_id, lines, (), start, as_of))
    assert len(got) >= (1 if hours == 0.25 else 3)
    assert got["HOUR"].dt.date.nunique() == (2 if hours in (14, None) else 1)
    _same(got, want)


@pytest.mark.parametrize(("hours", "lines"), [(0.25, ()), (3, ()), (8, ()), (8, ("B",)), (14, ())])
def test_line_energy_of_a_window_is_the_views_rows_of_its_hours(
    two_days_db: Path, two_days: RunResult, tel: pd.DataFrame, hours: float, lines: tuple[str, ...]
) -> None:
    """The view's increases for the window's hours, also for trains back in service after a
    gap (8 h: the window starts before the morning service, so they have rows in the window,
    none in the hour before, and older ones)."""
    as_of = _as_of(two_days_db, two_days.run_id)
    h0 = (as_of - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    back = tel.groupby("train_id")["timestamp"].agg(
        inside=lambda t: (t >= h0).any(),
        before=lambda t: (t < h0 - timedelta(hours=1)).any(),
        gap=lambda t: not ((t >= h0 - timedelta(hours=1)) & (t < h0)).any(),
    )
    returning = back[back["inside"] & back["before"] & back["gap"]]
    assert (len(returning) > 0) == (hours == 8)
    want = _view(
        two_days_db,
        "SELECT LINE_ID, HOUR, ENERGY_KWH, REGEN_KWH, TRACTION_KWH FROM ATS_LINE_ENERGY "
        "WHERE RUN_ID = ? AND HOUR >= ? AND HOUR <= ? AND (LINE_ID = ? OR ? IS NULL) "
        "ORDER BY LINE_ID, HOUR",
        two_days.run_id,
        h0,
        as_of,
        *([lines[0]] * 2 if lines else [None, None]),
    )
    f = q.Filters(two_days.run_id, lines, (), as_of - timedelta(hours=hours), as_of)
    with connect_readonly(two_days_db) as con:
        got = q.line_energy(con, f)
    assert len(got) >= 1
    _same(got, want)
