"""The same dashboard on Snowflake: the real Snowflake schema, emulated in-process by fakesnow.

The tiny run is loaded into ATS_RAW_JSON in the Kafka connector's layout (``sinks.raw``), then
the schema's own dynamic tables and views (``sql/snowflake``, rendered by ``sinks.schema``) are
created over it; fakesnow has no roles or grants, so those statements are left out. The
dashboard's queries then run in the Snowflake dialect through the Snowflake connector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_testdata import OLD_RUN, TINY_RUN, old_batches, tiny_batches, tiny_expected

from ats_sim_testing import require
from dashboard import queries as q
from sinks.duckdb import connect_readonly
from sinks.raw import raw_table
from sinks.schema import statements

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

fakesnow = require("fakesnow", "the dashboard's Snowflake queries run on fakesnow")
snowflake_connector = require("snowflake.connector", "the snowflake extra")


def _code(stmt: str) -> str:
    return "\n".join(line for line in stmt.splitlines() if not line.startswith("--")).strip()


def _load_raw(cur: Any, create_time_ms: int, batches: list, first_offset: int) -> int:
    for b in batches:
        rows = raw_table(b, first_offset=first_offset, create_time_ms=create_time_ms).to_pylist()
        first_offset += len(rows)
        values = ", ".join(["(?, ?)"] * len(rows))
        cur.execute(
            "INSERT INTO ATS_RAW_JSON (RECORD_METADATA, RECORD_CONTENT) "
            f"SELECT PARSE_JSON(column1), PARSE_JSON(column2) FROM VALUES {values}",
            [v for r in rows for v in (r["RECORD_METADATA"], r["RECORD_CONTENT"])],
        )
    return first_offset


@pytest.fixture(scope="module")
def snowflake_con() -> Iterator[Any]:
    """A Snowflake connection to ATS.PUBLIC holding the old run, then the tiny run.

    The connector binds ``?`` here, as under Streamlit (which sets qmark for every connection).
    """
    style = snowflake_connector.paramstyle
    snowflake_connector.paramstyle = "qmark"
    with fakesnow.patch():
        con = snowflake_connector.connect(database="ATS", schema="PUBLIC")
        cur = con.cursor()
        schema = [
            s for s in statements("snowflake") if not _code(s).startswith(("CREATE ROLE", "GRANT"))
        ]
        derived = [s for s in schema if "DYNAMIC TABLE" in _code(s) or " VIEW " in _code(s)]
        for stmt in schema:
            if stmt not in derived:
                cur.execute(stmt)
        offset = _load_raw(cur, 1_000, old_batches(), 0)
        _load_raw(cur, 2_000, tiny_batches(), offset)
        for stmt in derived:  # fakesnow fills a dynamic table when it is created
            cur.execute(stmt)
        yield con
        con.close()
    snowflake_connector.paramstyle = style


def _as_of(con: Any) -> Any:
    return q.run_overview(con, TINY_RUN)["TIMESTAMP"].max().to_pydatetime()


def test_the_schema_is_complete_and_runs_come_latest_written_first(snowflake_con: Any) -> None:
    assert q.missing_objects(snowflake_con) == []
    assert q.data_version(snowflake_con)[0] == 397
    assert list(q.runs(snowflake_con)["RUN_ID"]) == [TINY_RUN, OLD_RUN]


@pytest.mark.parametrize(("lines", "trains"), [((), ()), (("R",), ()), (("B",), ("B-02",))])
def test_kpis_on_snowflake_are_the_known_figures(
    snowflake_con: Any, lines: tuple, trains: tuple
) -> None:
    want = tiny_expected(lines, trains)
    got = q.kpis(snowflake_con, q.Filters(TINY_RUN, lines, trains), _as_of(snowflake_con)).iloc[0]
    assert (got["TRAINS_IN_SERVICE"], got["PASSENGERS"], got["ACTIVE_ALERTS"]) == (
        want.trains,
        want.passengers,
        want.active_alerts,
    )
    assert got["POWER_MW"] == pytest.approx(want.power_mw)
    assert got["ENERGY_TODAY_MWH"] == pytest.approx(want.energy_mwh)


def _each_query(con: Any, as_of: Any) -> dict[str, Any]:
    f = q.Filters(TINY_RUN, start=as_of.replace(hour=8, minute=20), end=as_of)
    return {
        "latest_status": q.latest_status(con, f, as_of),
        "network_stations": q.network_stations(con, TINY_RUN),
        "timeline": q.timeline(con, f, 300),
        "histogram": q.histogram(con, f, "POWER_DRAW_KW", 250.0),
        "speed_boxes": q.speed_boxes(con, f),
        "station_crowding": q.station_crowding(con, f),
        "headway_summary": q.headway_summary(con, f),
        "headways": q.headways(con, f),
        "alerts": q.alerts(con, f),
        "alert_counts": q.alert_counts(con, f),
        "alert_thresholds": q.alert_thresholds(con, TINY_RUN),
        "hourly_stats": q.hourly_stats(con, f),
        "line_energy": q.line_energy(con, f),
        "raw_rows": q.raw_rows(con, "ATS_ALERT_EVENTS", f),
    }


def test_every_query_answers_on_snowflake_as_on_duckdb(snowflake_con: Any, tiny_db: Path) -> None:
    """Same rows and the same figures from both warehouses (dtypes may differ by driver)."""
    on_snowflake = _each_query(snowflake_con, _as_of(snowflake_con))
    with connect_readonly(tiny_db) as con:
        on_duckdb = _each_query(con, _as_of(con))
    for name, duck in on_duckdb.items():
        snow = on_snowflake[name]
        assert list(snow.columns) == list(duck.columns), name
        assert len(snow) == len(duck) > 0, name
        for column in duck.columns:
            if duck[column].dtype.kind in "if" and column != "DIRECTION":
                assert snow[column].astype(float).to_numpy() == pytest.approx(
                    duck[column].astype(float).to_numpy(), nan_ok=True
                ), (name, column)


@pytest.fixture
def secrets_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``.streamlit/secrets.toml`` with a ``[connections.snowflake]`` section, in the working dir."""
    from streamlit.runtime.secrets import secrets_singleton

    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir()
    path.write_text(
        "[connections.snowflake]\n"
        'account = "emulated"\nuser = "ats_reader"\npassword = "unused"\n'
        'role = "ATS_DASHBOARD_READER"\ndatabase = "ATS"\nschema = "PUBLIC"\n'
    )
    monkeypatch.chdir(tmp_path)
    secrets_singleton._reset()  # forget secrets another test's working directory had
    yield path
    secrets_singleton._reset()


def test_the_page_reads_snowflake_by_configuration_alone(
    snowflake_con: Any, secrets_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``snowflake://`` plus ``.streamlit/secrets.toml``: the same page, the same numbers."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ATS_SIM_WAREHOUSE_URL", "snowflake://")
    at = AppTest.from_file(
        str(Path(__file__).parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    want = tiny_expected()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Trains in service"] == str(want.trains)
    assert shown["Passengers on board"] == f"{want.passengers:,}"
    assert shown["Active alerts"] == str(want.active_alerts)
    assert shown["Total power draw"] == f"{want.power_mw:,.2f} MW"
    assert "Snowflake connection 'snowflake'" in at.sidebar.caption[0].value
