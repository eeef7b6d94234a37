"""``ats_sim.query`` on Snowflake: the sink's own URL reads what the sink wrote.

One run fans out to the DuckDB sink and the Snowflake sink (a fakesnow server, the real
connector over HTTP, the schema applied first with ``sinks.snowflake.apply_schema``); then the
dashboard's queries answer the same through ``query("snowflake://USER@ACCOUNT/DB/SCHEMA?...")``
as through ``query("duckdb://...")``. URLs that cannot be read say so in one line naming the
forms that can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ats_sim
from ats_sim.api import query
from dashboard.connection import (
    SnowflakeURLWarehouse,
    SnowflakeWarehouse,
    WarehouseError,
    open_warehouse,
)

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Times as naive UTC, numbers as floats: what two drivers agree on."""
    out = df.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif values.dtype.kind == "M":
            out[column] = values.astype("datetime64[ns]")
        elif values.dtype.kind in "iuf" or values.map(lambda v: hasattr(v, "as_tuple")).any():
            out[column] = values.astype(float)
    return out


def assert_same_answer(on_snowflake: pd.DataFrame, on_duckdb: pd.DataFrame) -> None:
    """Same columns, rows and values (numbers to 1e-9), whatever dtypes each driver picks."""
    assert list(on_snowflake.columns) == list(on_duckdb.columns)
    assert len(on_snowflake) == len(on_duckdb) > 0
    pd.testing.assert_frame_equal(
        _comparable(on_snowflake).reset_index(drop=True),
        _comparable(on_duckdb).reset_index(drop=True),
        check_dtype=False,
        rtol=1e-9,
    )


@pytest.mark.snowflake
@pytest.mark.slow
def test_query_on_the_snowflake_sinks_url_answers_as_on_duckdb(
    password: str, fakesnow_port: int, database: str, url_for: Any, tmp_path: Path
) -> None:
    """The URL ``ats-sim ingest --to`` and ``schema apply`` take, password from
    SNOWFLAKE_PASSWORD, gives the same runs, alert counts and line energy as DuckDB."""
    from sinks import FanOut, open_sink
    from sinks.snowflake import apply_schema

    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    duck = f"duckdb://{tmp_path / 'ats.duckdb'}"
    with FanOut([open_sink(duck), open_sink(url)]) as both:
        result = ats_sim.run(
            "disruption", until="3h", seed=5, telemetry_interval_s=30, emit=both.write_batch
        )
    assert sum(result.summary.alerts_raised.values()) > 0
    # fakesnow fills a dynamic table when it is created and never refreshes it: applying the
    # schema again stands in for Snowflake's refresh (see tests/snowflake/test_schema.py).
    apply_schema(url, roles=False)

    warehouse = open_warehouse(url)
    assert isinstance(warehouse, SnowflakeURLWarehouse)
    assert password not in warehouse.describe() and "ats_writer@fakeaccount" in warehouse.describe()

    runs = query(url, "runs")
    assert runs["RUN_ID"].tolist() == [result.run_id]
    # WRITTEN orders runs by when they were written: DuckDB's row number, the Kafka-connector
    # CreateTime in Snowflake. Not comparable; the rest is.
    assert_same_answer(runs.drop(columns="WRITTEN"), query(duck, "runs").drop(columns="WRITTEN"))
    for name, params in (("alert_counts", {}), ("line_energy", {"lines": "R"})):
        assert_same_answer(query(url, name, **params), query(duck, name, **params))


def test_the_streamlit_forms_stay_streamlit_connections_and_keep_their_case() -> None:
    """``snowflake://`` and ``snowflake://NAME`` are Streamlit's ``st.connection`` (the
    dashboard's own configuration); nothing is read or connected yet."""
    default = open_warehouse("snowflake://")
    named = open_warehouse("snowflake://Ats_Reader")
    assert isinstance(default, SnowflakeWarehouse) and default.connection_name == "snowflake"
    assert isinstance(named, SnowflakeWarehouse) and named.connection_name == "Ats_Reader"


def test_the_sinks_forms_resolve_as_the_sink_resolves_them(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user, a path or a query string make a URL the sink's: ``?connection=NAME`` reads
    connections.toml in SNOWFLAKE_HOME, with the URL's path overriding the file's schema."""
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text(
        '[reader]\naccount = "acme-eu"\nuser = "ats_reader"\npassword = "from-the-file"\n'
        'database = "ATS"\nschema = "PUBLIC"\nwarehouse = "READ_WH"\n'
    )
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    named = open_warehouse("snowflake:///ATS/STAGING?connection=reader")
    assert isinstance(named, SnowflakeURLWarehouse)
    assert dict(named.target.params) == {
        "account": "acme-eu",
        "user": "ats_reader",
        "database": "ATS",
        "schema": "STAGING",
        "warehouse": "READ_WH",
    }
    assert named.target.auth_method == "password" and "from-the-file" not in named.describe()

    direct = open_warehouse("snowflake://loader@acme-eu/ATS/PUBLIC?warehouse=LOAD_WH&role=R")
    assert isinstance(direct, SnowflakeURLWarehouse)
    assert direct.target.get("role") == "R" and direct.target.secrets == {"password": password}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("snowflake://loader@acme-eu/ATS/PUBLIC", "no Snowflake credentials for loader"),
        ("snowflake://acme-eu/ATS/PUBLIC?warehouse=WH", "needs the user"),
        ("snowflake://u@acme-eu/ATS/PUBLIC/EXTRA", "/DATABASE or /DATABASE/SCHEMA"),
        ("snowflake://?connection=missing", "no Snowflake connection named 'missing'"),
        ("postgres://db.example/ats", "unknown scheme"),
    ],
    ids=["no-password", "no-user", "deep-path", "unknown-connection", "other-scheme"],
)
def test_a_url_that_cannot_be_read_is_one_line_naming_the_accepted_forms(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path))
    for var in ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(WarehouseError) as err:
        query(url, "runs")
    message = str(err.value)
    assert "\n" not in message and says in message
    for form in ("duckdb://PATH", "snowflake://NAME", "snowflake://USER@ACCOUNT/DATABASE/SCHEMA"):
        assert form in message
