"""The page, driven by Streamlit's AppTest: data, filters, and empty and broken warehouses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dashboard_testdata import OLD_RUN, TINY_RUN, tiny_expected

from dashboard import queries as q
from sinks.duckdb import apply_schema, connect_readonly

KPI_LABELS = [
    "Trains in service",
    "Passengers on board",
    "Active alerts",
    "Total power draw",
    "Energy today (net of regen)",
]


def kpis_on_screen(at: Any) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def shown(want: Any) -> dict[str, str]:
    """The KPI row as the page formats it."""
    return {
        "Trains in service": f"{want.trains:,}",
        "Passengers on board": f"{want.passengers:,}",
        "Active alerts": f"{want.active_alerts:,}",
        "Total power draw": f"{want.power_mw:,.2f} MW",
        "Energy today (net of regen)": f"{want.energy_mwh:,.2f} MWh",
    }


def no_trouble(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def dataframe_with(at: Any, column: str) -> Any:
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def tiny_page(app_test: Callable[[str], Any], tiny_db: Path) -> Any:
    return app_test(f"duckdb://{tiny_db}")


def test_the_page_shows_the_latest_run_with_every_part(tiny_page: Any) -> None:
    """KPIs of the latest written run, the map and every chart, tables, and the data's time."""
    at = tiny_page
    no_trouble(at)
    assert kpis_on_screen(at) == shown(tiny_expected())
    # the map, load, power, two histograms, speeds, stations, headways and hourly charts
    assert len(at.get("plotly_chart")) == 9
    assert at.sidebar.selectbox(key="run").value == "Latest run"
    assert "data up to **2026-03-10 09:00:00 UTC**" in at.caption[0].value
    status = dataframe_with(at, "IN_SERVICE")
    assert dict(zip(status["TRAIN_ID"], status["IN_SERVICE"], strict=True)) == {
        "B-01": True,
        "B-02": True,
        "R-01": True,
        "R-02": True,
        "R-03": False,
    }
    feed = dataframe_with(at, "STATE")
    assert sorted(zip(feed["STATE"], feed["SEVERITY"], strict=True)) == [
        ("active", "critical"),
        ("active", "warning"),
        ("cleared", "warning"),
    ]


def test_the_shown_kpis_are_the_warehouses_answer(tiny_page: Any, tiny_db: Path) -> None:
    with connect_readonly(tiny_db) as con:
        as_of = q.run_overview(con, TINY_RUN)["TIMESTAMP"].max().to_pydatetime()
        k = q.kpis(con, q.Filters(TINY_RUN), as_of).iloc[0]
    assert kpis_on_screen(tiny_page)["Passengers on board"] == f"{int(k['PASSENGERS']):,}"
    assert kpis_on_screen(tiny_page)["Total power draw"] == f"{k['POWER_MW']:,.2f} MW"


@pytest.mark.parametrize(
    ("lines", "trains"), [(["R"], []), (["B"], []), (["R"], ["R-02"]), ([], ["R-03", "B-02"])]
)
def test_line_and_train_filters_change_the_numbers(
    tiny_page: Any, lines: list, trains: list
) -> None:
    at = tiny_page
    for line in lines:
        at.sidebar.multiselect(key="lines").select(line)
    for train in trains:
        at.sidebar.multiselect(key="trains").select(train)
    at.run()
    no_trouble(at)
    want = tiny_expected(tuple(lines), tuple(trains))
    assert want != tiny_expected()
    assert kpis_on_screen(at) == shown(want)


def test_choosing_a_line_narrows_the_train_choices(tiny_page: Any) -> None:
    at = tiny_page
    at.sidebar.multiselect(key="lines").select("B").run()
    assert at.sidebar.multiselect(key="trains").options == ["B-01", "B-02"]


def test_the_time_window_changes_the_windowed_parts(tiny_page: Any) -> None:
    """Last 15 minutes: the alert cleared at 08:25 leaves the feed, fewer departures count."""
    at = tiny_page
    at.sidebar.selectbox(key="window").select("Whole run").run()
    whole_alerts = len(dataframe_with(at, "STATE"))
    whole_departures = dataframe_with(at, "MEAN_RATIO")["DEPARTURES"].sum()
    at.sidebar.selectbox(key="window").select("Last 15 minutes").run()
    no_trouble(at)
    assert (whole_alerts, len(dataframe_with(at, "STATE"))) == (3, 2)
    assert (whole_departures, dataframe_with(at, "MEAN_RATIO")["DEPARTURES"].sum()) == (14, 4)
    assert kpis_on_screen(at) == shown(tiny_expected())  # the KPIs are "now", whatever the window


def test_an_older_run_can_be_chosen(tiny_page: Any) -> None:
    at = tiny_page
    at.sidebar.selectbox(key="run").select(OLD_RUN).run()
    no_trouble(at)
    assert f"Run **{OLD_RUN}**" in at.caption[0].value
    assert kpis_on_screen(at)["Passengers on board"] == f"{2 * (100 + 200):,}"
    assert at.sidebar.multiselect(key="lines").options == ["R"]


def test_the_real_morning_peak_renders_cleanly(
    app_test: Callable[[str], Any], peak_db: Path
) -> None:
    at = app_test(f"duckdb://{peak_db}")
    no_trouble(at)
    assert list(kpis_on_screen(at)) == KPI_LABELS
    assert int(kpis_on_screen(at)["Trains in service"]) > 20
    assert len(at.get("plotly_chart")) == 9
    assert TINY_RUN not in at.caption[0].value


# --------------------------------------------------------------------------- empty and broken


def test_a_missing_file_shows_how_to_fill_it(
    app_test: Callable[[str], Any], tmp_path: Path
) -> None:
    url = f"duckdb://{tmp_path}/not-yet.duckdb"
    at = app_test(url)
    no_trouble(at)
    assert f"ats-sim run weekday --sink {url}" in at.info[0].value
    assert not at.metric
    assert not (tmp_path / "not-yet.duckdb").exists()


def test_a_schema_without_rows_shows_how_to_fill_it(
    app_test: Callable[[str], Any], tmp_path: Path
) -> None:
    apply_schema(tmp_path / "fresh.duckdb")
    at = app_test(f"duckdb://{tmp_path}/fresh.duckdb")
    no_trouble(at)
    assert "No simulation data yet" in at.info[0].value


def _broken_file(tmp_path: Path) -> str:
    (tmp_path / "garbage.duckdb").write_bytes(b"not a database" * 100)
    return f"duckdb://{tmp_path}/garbage.duckdb"


def _directory(tmp_path: Path) -> str:
    return f"duckdb://{tmp_path}"


def _foreign_schema(tmp_path: Path) -> str:
    with duckdb.connect(str(tmp_path / "other.duckdb")) as con:
        con.execute("CREATE TABLE ATS_TRANSFORMED (X INTEGER)")
    return f"duckdb://{tmp_path}/other.duckdb"


@pytest.mark.parametrize(
    ("make_url", "says"),
    [
        (_broken_file, "not a valid DuckDB database"),
        (_directory, "is not a DuckDB database file"),
        (_foreign_schema, "is not ats-sim's schema: missing ATS_STATION_EVENTS"),
        (lambda _: "postgres://db.example/ats", "unknown scheme"),
        (lambda _: "duckdb://", "has no path"),
    ],
    ids=["garbage-file", "directory", "foreign-schema", "unknown-scheme", "no-path"],
)
def test_a_broken_warehouse_is_a_clear_message_not_a_traceback(
    app_test: Callable[[str], Any], tmp_path: Path, make_url: Callable[[Path], str], says: str
) -> None:
    at = app_test(make_url(tmp_path))
    assert not at.exception
    assert len(at.error) == 1
    assert "Cannot read the warehouse" in at.error[0].value
    assert says in at.error[0].value
    assert not at.metric


def test_unconfigured_snowflake_says_where_to_configure_it(
    app_test: Callable[[str], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No secrets.toml and no connections.toml: the message names both, without a traceback."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path / ".snowflake"))
    monkeypatch.chdir(tmp_path)
    at = app_test("snowflake://ats_nowhere")
    assert not at.exception
    assert "Cannot read the warehouse" in at.error[0].value
    assert "connections.toml" in at.error[0].value and "secrets.toml" in at.error[0].value


@pytest.fixture
def held_lock(tiny_db: Path, tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A copy of the tiny warehouse that another process holds open for writing."""
    path = tmp_path / "held.duckdb"
    path.write_bytes(tiny_db.read_bytes())
    code = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield path, holder
    finally:
        holder.kill()
        holder.wait(10)


def test_a_warehouse_locked_by_a_writer_is_busy_then_read(
    app_test: Callable[[str], Any], held_lock: tuple[Path, subprocess.Popen[str]]
) -> None:
    """While a writer keeps the lock past the poll's patience: a warning; once it lets go: the data."""
    path, holder = held_lock
    at = app_test(f"duckdb://{path}?timeout_s=0.3")
    assert not at.exception and not at.error
    assert "busy" in at.warning[0].value
    holder.kill()
    holder.wait(10)
    at.run()
    no_trouble(at)
    assert kpis_on_screen(at) == shown(tiny_expected())
