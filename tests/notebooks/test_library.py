"""The library experience: from import to DataFrame, the dashboard's queries on a result or a
warehouse URL, scenarios changed in code, rich reprs, and parallel sweeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import ats_sim
from ats_sim.api import RunResult, load_duckdb, query, query_names
from ats_sim.sweep import FIGURES, SweepError, sweep, vary
from ats_sim_testing import require


@pytest.fixture(scope="module")
def disrupted() -> RunResult:
    """The disruption scenario's first three hours (a hold at Central at 08:10 included)."""
    return ats_sim.run("disruption", until="3h", seed=5, telemetry_interval_s=30)


# --------------------------------------------------------------------------- import and run


def test_importing_ats_sim_imports_no_driver_nor_the_dashboard() -> None:
    """``import ats_sim`` (and its sweep module) loads no database or Kafka driver, no Streamlit."""
    code = (
        "import sys, ats_sim, ats_sim.sweep, ats_sim.api; "
        "print(sorted(m for m in ('duckdb', 'confluent_kafka', 'snowflake', 'streamlit', "
        "'dashboard', 'sinks', 'polars') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"


def test_a_result_is_pandas_arrow_and_polars(disrupted: RunResult) -> None:
    """The same records come out as pandas, Arrow and polars."""
    pl = require("polars", "results as polars DataFrames")
    assert (
        len(disrupted.telemetry)
        == disrupted.arrow("telemetry").num_rows
        == disrupted.summary.records["telemetry"]
    )
    assert isinstance(disrupted.polars("station_event"), pl.DataFrame)
    assert disrupted.polars("alert").height == len(disrupted.alerts)


def test_a_result_knows_how_much_faster_than_real_time_it_ran(disrupted: RunResult) -> None:
    """Three simulated hours (less the last telemetry interval) took a measured wall time."""
    assert 2.9 * 3600 <= disrupted.simulated_s <= 3 * 3600
    assert (
        disrupted.elapsed_s > 0 and disrupted.speedup == disrupted.simulated_s / disrupted.elapsed_s
    )


def test_result_repr_says_what_ran_and_its_key_figures(disrupted: RunResult) -> None:
    """The notebook repr names the run, scenario, seed and speed, and lists the key figures."""
    html = disrupted._repr_html_()
    for part in (
        disrupted.run_id,
        "disruption",
        "seed 5",
        "real time",
        "energy_mwh",
        "left_behind",
        f"telemetry: {disrupted.summary.records['telemetry']:,}",
    ):
        assert part in html
    assert repr(disrupted).startswith(f"RunResult(run_id='{disrupted.run_id}'")


# --------------------------------------------------------------------------- the dashboard's queries


def test_query_names_are_the_dashboards_queries() -> None:
    """Every query the dashboard module exports with a connection argument is offered."""
    from dashboard import queries

    names = query_names()
    assert {
        "hourly_stats",
        "line_energy",
        "station_crowding",
        "alerts",
        "alert_counts",
        "timeline",
        "headways",
        "kpis",
        "runs",
    } <= set(names)
    assert "run_query" not in names
    assert all(getattr(queries, n) for n in names)


def test_a_results_warehouse_holds_every_record_in_the_shared_schema(disrupted: RunResult) -> None:
    """Raw table and typed tables of the in-memory warehouse hold each record once."""
    con = disrupted.warehouse()
    assert con is disrupted.warehouse()  # built once
    total = sum(disrupted.summary.records.values())
    assert con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone()[0] == total
    assert (
        con.execute("SELECT count(*) FROM ATS_TRANSFORMED").fetchone()[0]
        == disrupted.summary.records["telemetry"]
    )
    topics = dict(
        con.execute(
            "SELECT RECORD_METADATA->>'topic', count(*) FROM ATS_RAW_JSON GROUP BY 1"
        ).fetchall()
    )
    assert topics == {
        "ats_telemetry": disrupted.summary.records["telemetry"],
        "ats_station_events": disrupted.summary.records["station_event"],
        "ats_alerts": disrupted.summary.records["alert"],
    }


def test_the_views_agree_with_the_results_own_figures(disrupted: RunResult) -> None:
    """Energy, boardings and alert counts from the dashboard's queries equal the run's summary."""
    energy = disrupted.query("line_energy")
    assert energy["ENERGY_KWH"].sum() == pytest.approx(disrupted.summary.energy_kwh, rel=1e-9)
    assert energy["REGEN_KWH"].sum() == pytest.approx(disrupted.summary.regen_kwh, rel=1e-9)
    crowding = disrupted.query("station_crowding")
    assert crowding["BOARDED"].sum() == disrupted.summary.passengers_boarded
    counts = disrupted.query("alert_counts").groupby("ALERT_TYPE")["RAISED"].sum().to_dict()
    assert counts == dict(disrupted.summary.alerts_raised)


def test_query_filters_work_as_the_sidebar(disrupted: RunResult) -> None:
    """lines=, trains=, start= and end= narrow the answer; naive times are UTC."""
    red = disrupted.query("hourly_stats", lines="R")
    assert set(red["LINE_ID"]) == {"R"}
    one = disrupted.query("latest_status", trains=["B-02"])
    assert list(one["TRAIN_ID"]) == ["B-02"]
    window = disrupted.query("headways", start="2026-03-10 07:00", end="2026-03-10 07:30")
    assert not window.empty
    departed = window["DEPARTED_AT"]
    assert departed.min() >= pd.Timestamp("2026-03-10 07:00", tz="UTC")
    assert departed.max() <= pd.Timestamp("2026-03-10 07:30", tz="UTC")
    kpis = disrupted.query("kpis")  # as_of defaults to the run's latest record
    assert kpis["AS_OF"].iloc[0] == disrupted.telemetry["timestamp"].max()


def test_query_mistakes_are_named(disrupted: RunResult) -> None:
    """An unknown query or parameter says what exists."""
    with pytest.raises(ValueError, match=r"no query 'energy'; the queries are .*line_energy"):
        disrupted.query("energy")
    with pytest.raises(TypeError, match=r"query 'alerts' takes no colour; it takes .*limit"):
        disrupted.query("alerts", colour="red")


def test_a_streamed_run_has_no_warehouse() -> None:
    """A run whose records went to a callable keeps none, and says so."""
    streamed = ats_sim.run("weekday", until="10m", emit=lambda batch: None)
    with pytest.raises(ValueError, match="kept none"):
        streamed.warehouse()


def test_query_reads_a_duckdb_warehouse_url_and_defaults_to_its_latest_run(tmp_path: Path) -> None:
    """``query(url, ...)`` reads a file the DuckDB sink wrote, latest run unless told otherwise."""
    from sinks import open_sink

    url = f"duckdb://{tmp_path / 'ats.duckdb'}"
    results = []
    for scenario in ("weekday", "heatwave"):
        with open_sink(url) as sink:
            results.append(ats_sim.run(scenario, until="40m", emit=sink.write_batch, keep=True))
    runs = query(url, "runs")
    assert list(runs["RUN_ID"]) == [results[1].run_id, results[0].run_id]
    latest = query(url, "line_energy")
    assert latest["ENERGY_KWH"].sum() == pytest.approx(results[1].summary.energy_kwh, rel=1e-9)
    first = query(url, "line_energy", run_id=results[0].run_id)
    assert first["ENERGY_KWH"].sum() == pytest.approx(results[0].summary.energy_kwh, rel=1e-9)
    assert query(results[0], "alert_counts").equals(
        query(url, "alert_counts", run_id=results[0].run_id)
    )


def test_query_accepts_an_open_connection(disrupted: RunResult) -> None:
    """Any connection holding the schema works, e.g. one loaded with load_duckdb."""
    con = load_duckdb(disrupted.batches(), raw=False)
    assert query(con, "runs")["RUN_ID"].tolist() == [disrupted.run_id]
    assert con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone()[0] == 0


# --------------------------------------------------------------------------- scenarios in code


def test_scenario_repr_is_one_line_and_its_card_describes_it() -> None:
    """repr is short; the notebook card lists network, timetable and each disruption."""
    sc = ats_sim.load_scenario("disruption")
    text = repr(sc)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("Scenario('disruption': Reference Metro, 2 lines, 32 stations")
    card = sc._repr_html_()
    assert "train held 8 min at R08 after 08:10" in card
    assert "30 km/h between B06 and B07, 10:00-15:00" in card
    assert "07:00 every 3.5 min" in card


def test_scenario_card_escapes_html() -> None:
    """A name or description with markup is shown, not interpreted."""
    sc = ats_sim.load_scenario("weekday").with_changes(name="<b>x</b>", description="a & b")
    card = sc._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in card and "a &amp; b" in card and "<b>x</b>" not in card


def test_vary_changes_dotted_fields_and_the_peak_headway_only() -> None:
    """peak_headway_s sets the shortest-headway periods; other periods keep theirs."""
    base = ats_sim.load_scenario("weekday")
    changed = vary(base, {"peak_headway_s": 150, "demand.scale": 1.4, "weather.max_temp_c": 30})
    before = {p.start: p.headway_s for p in base.operations.periods}
    after = {p.start: p.headway_s for p in changed.operations.periods}
    peak = min(before.values())
    assert after == {k: (150 if v == peak else v) for k, v in before.items()}
    assert changed.demand.scale == 1.4 and changed.weather.max_temp_c == 30
    assert (
        changed.demand.hourly_profile == base.demand.hourly_profile
    )  # the rest of the section stays
    assert base.demand.scale == 1.0  # scenarios are immutable


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"demand.scael": 2}, "sweep: 'demand.scael': no field 'scael'"),
        ({"demmand.scale": 2}, "sweep: 'demmand.scale': scenario has no section 'demmand'"),
        (
            {"peak_headway_s": 30},
            r"field 'operations.periods\[\d\].headway_s': Input should be greater than or equal to 60",
        ),
        ({"weather.max_temp_c": 0}, "max_temp_c must not be below min_temp_c"),
    ],
)
def test_bad_variants_are_rejected_before_anything_runs(changes: dict, message: str) -> None:
    """A typo or an invalid value is a ScenarioError naming the field."""
    with pytest.raises(ats_sim.ScenarioError, match=message):
        sweep("weekday", [changes], until="10m", workers=2)


# --------------------------------------------------------------------------- sweeps


def test_a_sweep_gives_the_same_figures_in_parallel_processes_as_one_after_another() -> None:
    """Two worker processes give exactly the figures of a sequential sweep, in grid order."""
    grid = {"peak_headway_s": [180, 300], "demand.scale": [1.0, 1.5]}
    one = sweep("weekday", grid, until="1h", telemetry_interval_s=60, workers=1)
    two = sweep("weekday", grid, until="1h", telemetry_interval_s=60, workers=2)
    figures = [c for c in one.columns if c != "seconds"]
    pd.testing.assert_frame_equal(one[figures], two[figures])
    assert list(zip(one["peak_headway_s"], one["demand.scale"], strict=True)) == [
        (180, 1.0),
        (180, 1.5),
        (300, 1.0),
        (300, 1.5),
    ]
    assert one["run_id"].is_unique


def test_a_sweep_row_is_the_runs_own_summary() -> None:
    """A sweep's figures are those of ats_sim.run on the same variant."""
    table = sweep(["weekday", "event-surge"], until="1h", workers=1)
    assert list(table["scenario"]) == ["weekday", "event-surge"]
    assert list(table.columns[1 : 1 + len(FIGURES)]) == list(FIGURES)
    direct = ats_sim.run("weekday", until="1h")
    row = table.iloc[0]
    assert row["run_id"] == direct.run_id
    assert row["energy_mwh"] == round(direct.summary.energy_kwh / 1000, 3)
    assert row["boarded"] == direct.summary.passengers_boarded
    assert row["alerts"] == sum(direct.summary.alerts_raised.values())
    lf = direct.telemetry["load_factor"]
    assert row["mean_load_factor"] == pytest.approx(lf.mean(), abs=1e-4)
    assert row["p95_load_factor"] == pytest.approx(lf.quantile(0.95), abs=0.011)
    for kind, n in direct.summary.alerts_raised.items():
        assert row[f"alerts_{kind}"] == n
    assert (table.filter(like="alerts_").dtypes == "int64").all()


def test_a_bad_run_argument_fails_before_anything_runs() -> None:
    """until= is checked in the caller's process, with the CLI's message."""
    with pytest.raises(ats_sim.ConfigError, match="until='soon'"):
        sweep("weekday", {"demand.scale": [1, 2]}, until="soon", workers=2)


def test_a_variant_that_fails_in_a_worker_is_named() -> None:
    """An error inside a worker process comes back as a SweepError naming the variant."""
    weekday = ats_sim.load_scenario("weekday")
    # model_copy skips validation: a timetable without periods reaches the worker and fails there
    broken = weekday.model_copy(
        update={
            "name": "broken",
            "operations": weekday.operations.model_copy(update={"periods": []}),
        }
    )
    with pytest.raises(SweepError, match="sweep variant scenario=broken failed: IndexError"):
        sweep(["weekday", broken], until="10m", workers=2)


class _KillsItsWorker(ats_sim.Scenario):
    """A scenario that, unpickled in a worker process, ends that process at once."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        import os

        return (os._exit, (3,))


def test_a_worker_process_that_dies_is_reported_with_its_exit_status() -> None:
    """A worker killed mid-sweep fails the sweep with the variant and the exit status."""
    doomed = _KillsItsWorker.model_validate(
        ats_sim.load_scenario("weekday").model_dump(by_alias=True) | {"name": "doomed"}
    )
    with pytest.raises(
        SweepError, match=r"scenario=doomed failed: its worker process died \(exit 3\)"
    ):
        sweep([doomed, "weekday"], until="10m", workers=2)
