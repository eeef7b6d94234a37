"""The Streamlit page: sidebar widgets -> :mod:`dashboard.queries` -> :mod:`dashboard.charts`.

Run it with ``ats-sim dashboard [WAREHOUSE_URL]`` (or ``streamlit run dashboard/app.py`` with
``ATS_SIM_WAREHOUSE_URL`` set). The sidebar picks the run (the latest by default), lines, trains,
time window and refresh interval; the data part is an ``st.fragment`` that reruns on its own at
that interval, probing the warehouse's data version once and re-reading only when it changed.
Empty, unreachable and misconfigured warehouses are shown as messages, never as tracebacks.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

try:
    from dashboard import charts, queries
except ModuleNotFoundError:  # `streamlit run dashboard/app.py` from an uninstalled checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dashboard import charts, queries
from dashboard.connection import (
    NothingWrittenYet,
    Warehouse,
    WarehouseBusy,
    WarehouseError,
    open_warehouse,
)

log = logging.getLogger("ats_sim.dashboard")

#: Sidebar time windows: label -> length (None = the whole run).
WINDOWS: dict[str, timedelta | None] = {
    "Last 15 minutes": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 3 hours": timedelta(hours=3),
    "Last 6 hours": timedelta(hours=6),
    "Whole run": None,
}
#: Sidebar refresh intervals: label -> seconds (None = no auto-refresh).
REFRESH: dict[str, int | None] = {"Off": None, "5 s": 5, "10 s": 10, "30 s": 30, "1 min": 60}
LATEST = "Latest run"
#: Timeline bucket width by window length: up to 6 h per minute, up to a day per 5 minutes.
_BUCKETS = ((timedelta(hours=6), 60), (timedelta(hours=24), 300))


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose."""

    run: str  # LATEST or a RUN_ID
    lines: tuple[str, ...]
    trains: tuple[str, ...]
    window: str
    known_runs: tuple[str, ...]
    known_trains: tuple[str, ...]


@dataclass
class Probe:
    """The warehouse's state at a glance: ``ok``, ``empty``, ``busy`` or ``error``."""

    status: str
    message: str = ""
    runs: pd.DataFrame | None = None
    version: tuple[int, ...] | None = None


def probe(wh: Warehouse) -> Probe:
    """Is there data, and which runs? Opens one short session."""
    try:
        with wh.session() as session:
            missing = queries.missing_objects(session.conn)
            if len(missing) == len(queries.REQUIRED_OBJECTS):
                return Probe("empty")
            if missing:
                return Probe(
                    "error",
                    f"{wh.describe()} is not ats-sim's schema: missing {', '.join(missing)}",
                )
            version = queries.data_version(session.conn)
            if version[0] == 0:
                return Probe("empty")
            runs = queries.CachedQueries(wh.key, version, lambda: session.conn)(queries.runs)
            return Probe("ok", runs=runs, version=version)
    except NothingWrittenYet:
        return Probe("empty")
    except WarehouseBusy as exc:
        return Probe("busy", str(exc))
    except WarehouseError as exc:
        return Probe("error", str(exc))
    except Exception as exc:  # a driver error: say what it is, no traceback on the page
        log.exception("probing %s failed", wh.url)
        return Probe("error", f"cannot read {wh.describe()}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def show_state(wh: Warehouse, p: Probe) -> None:
    """The page for a warehouse that has nothing to show yet, or cannot be read."""
    if p.status == "empty":
        st.info(
            f"**No simulation data yet** in {wh.describe()}. Fill it with a run, for example:\n\n"
            f"```\nats-sim run weekday --sink {wh.url}\n```\n\nThis page picks the data up by itself."
        )
    elif p.status == "busy":
        st.warning(f"The warehouse is busy: {p.message}")
    else:
        st.error(f"**Cannot read the warehouse.** {p.message}")


def sidebar(p: Probe, wh: Warehouse) -> tuple[Selection, int | None]:
    """The filters, built from the runs and trains the warehouse holds."""
    assert p.runs is not None and p.version is not None
    sb = st.sidebar
    sb.caption(f"Reading {wh.describe()}")
    run_ids = tuple(str(r) for r in p.runs["RUN_ID"])
    run = sb.selectbox(
        "Run",
        [LATEST, *run_ids],
        key="run",
        format_func=lambda r: f"{LATEST} ({run_ids[0]})" if r == LATEST else r,
        help="The latest run follows new runs as they start.",
    )
    run_id = run_ids[0] if run == LATEST or run not in run_ids else run
    with wh.session() as session:
        overview = queries.CachedQueries(wh.key, p.version, lambda: session.conn)(
            queries.run_overview, run_id
        )
    lines = sorted(overview["LINE_ID"].unique())
    chosen_lines = sb.multiselect("Lines", lines, key="lines", placeholder="All lines")
    pool = overview[overview["LINE_ID"].isin(chosen_lines or lines)]
    chosen_trains = sb.multiselect(
        "Trains", sorted(pool["TRAIN_ID"]), key="trains", placeholder="All trains"
    )
    window = sb.selectbox(
        "Time window",
        list(WINDOWS),
        index=2,
        key="window",
        help="Of simulated time, ending at the run's latest record.",
    )
    refresh = sb.selectbox("Auto-refresh", list(REFRESH), index=2, key="refresh")
    sel = Selection(
        run,
        tuple(chosen_lines),
        tuple(chosen_trains),
        window,
        run_ids,
        tuple(sorted(overview["TRAIN_ID"])),
    )
    return sel, REFRESH[refresh]


def read_data(wh: Warehouse, sel: Selection) -> dict[str, Any]:
    """Everything the data part shows, read in one short session (cached by data version)."""
    with wh.session() as session:
        version = queries.data_version(session.conn)
        q = queries.CachedQueries(wh.key, version, lambda: session.conn)
        runs = q(queries.runs)
        run_ids = tuple(str(r) for r in runs["RUN_ID"])
        run_id = run_ids[0] if sel.run == LATEST or sel.run not in run_ids else sel.run
        overview = q(queries.run_overview, run_id)
        as_of = pd.Timestamp(overview["TIMESTAMP"].max()).to_pydatetime()
        length = WINDOWS[sel.window]
        f = queries.Filters(
            run_id, sel.lines, sel.trains, None if length is None else as_of - length, as_of
        )
        first = pd.Timestamp(runs.loc[runs["RUN_ID"] == run_id, "FIRST_AT"].iloc[0]).to_pydatetime()
        span = as_of - (f.start or first)
        bucket_s = next((b for limit, b in _BUCKETS if span <= limit), 3600)
        raw_table = st.session_state.get("raw_table", queries.RAW_TABLES[0])
        raw_limit = int(st.session_state.get("raw_limit", 200))
        data = {
            "version": version,
            "run_ids": run_ids,
            "run_id": run_id,
            "as_of": as_of,
            "filters": f,
            "trains_known": tuple(sorted(overview["TRAIN_ID"])),
            "overview": overview,
            "kpis": q(queries.kpis, f, as_of),
            "status": q(queries.latest_status, f, as_of),
            "stations": q(queries.network_stations, run_id, sel.lines),
            "timeline": q(queries.timeline, f, bucket_s),
            "load_hist": q(queries.histogram, f, "LOAD_FACTOR", 0.05),
            "power_hist": q(queries.histogram, f, "POWER_DRAW_KW", 250.0),
            "speeds": q(queries.speed_boxes, f),
            "crowding": q(queries.station_crowding, f),
            "headway_summary": q(queries.headway_summary, f),
            "headways": q(queries.headways, f),
            "alerts": q(queries.alerts, f),
            "alert_counts": q(queries.alert_counts, f),
            "thresholds": q(queries.alert_thresholds, run_id),
            "hourly": q(queries.hourly_stats, f),
            "energy": q(queries.line_energy, f),
            "raw": q(queries.raw_rows, raw_table, f, raw_limit),
        }
    return data


def thresholds(df: pd.DataFrame) -> tuple[float, float, bool]:
    """Overcrowding (load factor) and high-power (kW) thresholds: the run's own, else the defaults."""
    from ats_sim.rolling_stock import RollingStock
    from ats_sim.scenario import AlertThresholds

    given = dict(zip(df["ALERT_TYPE"], df["THRESHOLD"], strict=True))
    defaults = AlertThresholds()
    load = float(given.get("overcrowding", defaults.overcrowding_load_factor))
    power = float(
        given.get("high_power_draw", RollingStock().rated_power_kw * defaults.high_power_fraction)
    )
    return load, power, "overcrowding" in given and "high_power_draw" in given


def train_table(in_service: pd.DataFrame, overview: pd.DataFrame, sel: Selection) -> pd.DataFrame:
    """Every selected train: the latest status of those in service, the last seen time of the rest."""
    chosen = overview
    if sel.lines:
        chosen = chosen[chosen["LINE_ID"].isin(sel.lines)]
    if sel.trains:
        chosen = chosen[chosen["TRAIN_ID"].isin(sel.trains)]
    away = chosen[~chosen["TRAIN_ID"].isin(in_service["TRAIN_ID"])].assign(STATUS="out of service")
    table = pd.concat(
        [in_service.assign(IN_SERVICE=True), away.assign(IN_SERVICE=False)], ignore_index=True
    )
    return table.reindex(columns=[*in_service.columns, "IN_SERVICE"]).sort_values(
        ["LINE_ID", "TRAIN_ID"], ignore_index=True
    )


def _clock(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``df`` with timestamp ``columns`` shown as ``HH:MM:SS`` (UTC; empty when missing)."""
    out = df.copy()
    for c in columns:
        out[c] = pd.to_datetime(out[c], utc=True).dt.strftime("%H:%M:%S").fillna("")
    return out


def kpi_row(k: pd.Series) -> None:
    """The five headline numbers."""
    cols = st.columns(5)
    cols[0].metric("Trains in service", f"{int(k['TRAINS_IN_SERVICE']):,}")
    cols[1].metric("Passengers on board", f"{int(k['PASSENGERS']):,}")
    cols[2].metric("Active alerts", f"{int(k['ACTIVE_ALERTS']):,}")
    cols[3].metric("Total power draw", f"{float(k['POWER_MW']):,.2f} MW")
    cols[4].metric("Energy today (net of regen)", f"{float(k['ENERGY_TODAY_MWH']):,.2f} MWh")


def render(d: dict[str, Any], sel: Selection) -> None:
    """The data part of the page."""
    as_of: datetime = d["as_of"]
    st.caption(
        f"Run **{d['run_id']}** · data up to **{as_of:%Y-%m-%d %H:%M:%S} UTC** (simulated time) · "
        f"read at {datetime.now(UTC):%H:%M:%S} UTC · {d['version'][0]:,} telemetry records"
    )
    kpi_row(d["kpis"].iloc[0])
    load_thr, power_thr, from_run = thresholds(d["thresholds"])
    in_service = d["status"]

    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(
            charts.network_map(d["stations"], in_service, load_threshold=load_thr), key="map"
        )
    with right:
        st.markdown("**Alert feed** (raised in the window or still active)")
        feed = d["alerts"].copy()
        if feed.empty:
            st.success("No alerts in this window.")
        else:
            feed.insert(0, "STATE", feed["IS_ACTIVE"].map({True: "active", False: "cleared"}))
            cols = [
                "STATE",
                "SEVERITY",
                "ALERT_TYPE",
                "RAISED_AT",
                "CLEARED_AT",
                "TRAIN_ID",
                "STATION_ID",
                "MESSAGE",
            ]
            feed = _clock(feed[cols], ["RAISED_AT", "CLEARED_AT"])
            st.dataframe(charts.severity_style(feed), height=420, hide_index=True, key="alert_feed")
    t1, t2 = st.columns(2)
    t1.plotly_chart(charts.load_timeline(d["timeline"], load_thr), key="load")
    t2.plotly_chart(charts.power_timeline(d["timeline"], power_thr), key="power")
    if not from_run:
        st.caption(
            "Threshold lines the run has not raised an alert for show the scenario defaults."
        )

    tabs = st.tabs(
        ["Distributions", "Stations", "Headways", "Alerts", "Hourly", "Trains", "Raw data"]
    )
    with tabs[0]:
        a, b, c = st.columns(3)
        a.plotly_chart(
            charts.histogram_figure(
                d["load_hist"], 0.05, "load factor", "Load factor distribution"
            ),
            key="load_hist",
        )
        b.plotly_chart(
            charts.histogram_figure(d["power_hist"], 250.0, "kW", "Power draw distribution"),
            key="power_hist",
        )
        c.plotly_chart(charts.speed_box_figure(d["speeds"]), key="speeds")
    with tabs[1]:
        st.plotly_chart(charts.station_crowding_figure(d["crowding"]), key="crowding")
        st.caption("Whole hours overlapping the window; stations are not filtered by train.")
        st.dataframe(d["crowding"], hide_index=True, key="crowding_table")
    with tabs[2]:
        st.plotly_chart(charts.headway_figure(d["headways"], d["headway_summary"]), key="headways")
        st.dataframe(d["headway_summary"], hide_index=True, key="headway_table")
    with tabs[3]:
        st.dataframe(d["alert_counts"], hide_index=True, key="alert_counts")
        st.dataframe(charts.severity_style(d["alerts"]), hide_index=True, key="alerts_all")
    with tabs[4]:
        st.plotly_chart(charts.hourly_figure(d["hourly"], d["energy"]), key="hourly")
        st.dataframe(d["hourly"], hide_index=True, key="hourly_table")
        st.dataframe(d["energy"], hide_index=True, key="energy_table")
    with tabs[5]:
        table = train_table(in_service, d["overview"], sel)
        cols = [
            "TRAIN_ID",
            "LINE_ID",
            "IN_SERVICE",
            "STATUS",
            "DIRECTION",
            "PREV_STATION",
            "NEXT_STATION",
            "SPEED_KMH",
            "PASSENGER_COUNT",
            "LOAD_FACTOR",
            "POWER_DRAW_KW",
            "ENERGY_KWH",
            "IS_OVERCROWDED",
            "IS_HIGH_POWER_DRAW",
            "TIMESTAMP",
        ]
        st.dataframe(
            table[cols],
            hide_index=True,
            key="train_status",
            column_config={
                "LOAD_FACTOR": st.column_config.ProgressColumn(
                    "LOAD_FACTOR", min_value=0.0, max_value=max(1.2, load_thr), format="%.2f"
                )
            },
        )
    with tabs[6]:
        a, b = st.columns([2, 1])
        a.selectbox("Table", queries.RAW_TABLES, key="raw_table")
        b.number_input("Rows", min_value=10, max_value=5000, value=200, step=50, key="raw_limit")
        st.dataframe(d["raw"], hide_index=True, key="raw_rows")


def data_part(wh: Warehouse, sel: Selection) -> None:
    """Read and draw; on a timed rerun, reload the whole page if new runs or trains appeared."""
    try:
        d = read_data(wh, sel)
    except NothingWrittenYet:
        show_state(wh, Probe("empty"))
        return
    except WarehouseBusy as exc:
        st.warning(f"The warehouse is busy: {exc}")
        return
    except WarehouseError as exc:
        st.error(f"**Cannot read the warehouse.** {exc}")
        return
    except Exception as exc:
        log.exception("reading %s failed", wh.url)
        st.error(f"**Cannot read the warehouse.** {_first_line(exc)}")
        return
    stale = d["run_ids"] != sel.known_runs or d["trains_known"] != sel.known_trains
    if stale and not st.session_state.get("_full_run", False):
        st.rerun(scope="app")  # new runs or trains: rebuild the sidebar
    render(d, sel)


def waiting_part(wh: Warehouse, shown: str) -> None:
    """Probe again at each refresh and reload the page once the state changes."""
    p = probe(wh)
    if p.status != shown and not st.session_state.get("_full_run", False):
        st.rerun(scope="app")
    show_state(wh, p)


def main() -> None:
    """Build the page."""
    st.set_page_config(page_title="ats-sim dashboard", page_icon=":metro:", layout="wide")
    st.title("ats-sim: metro network")
    try:
        wh = open_warehouse()
    except WarehouseError as exc:
        st.error(f"**Cannot read the warehouse.** {exc}")
        return
    st.session_state["_full_run"] = True
    try:
        p = probe(wh)
        if p.status != "ok":
            # Keep looking for data even with auto-refresh off: there is nothing else to show.
            poll = REFRESH.get(st.session_state.get("refresh", "10 s")) or 10
            st.sidebar.selectbox("Auto-refresh", list(REFRESH), index=2, key="refresh")
            st.fragment(run_every=poll)(waiting_part)(wh, p.status)
            return
        sel, every = sidebar(p, wh)
        st.fragment(run_every=every)(data_part)(wh, sel)
    finally:
        st.session_state["_full_run"] = False


main()
