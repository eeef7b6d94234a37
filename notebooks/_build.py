"""Writes the notebooks of this folder from the cells below, outputs stripped.

    python notebooks/_build.py           # (re)write 01_quickstart, 02_scenarios, 03_warehouse
    python notebooks/_build.py --check   # exit 1 if a notebook differs from what this writes

The notebooks are generated so that a review reads plain Python here, and the committed
``.ipynb`` files never carry outputs. Cell ids are fixed (``<notebook>-<n>``), so writing twice
gives the same bytes. ``tests/notebooks`` executes every notebook top to bottom.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]


def md(text: str) -> Cell:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    return ("code", textwrap.dedent(text).strip("\n"))


QUICKSTART: list[Cell] = [
    md("""
    # Quickstart: a day of a metro network, faster than real time

    `ats_sim.run` replays a scenario as fast as the machine allows and hands back its records as
    pandas DataFrames (and Arrow, and polars where installed). This notebook runs the built-in
    `weekday` scenario on the reference network (two lines, 32 stations), then plots the load
    and power of one line, the alerts of the day, and one train's journey on the network map.
    Nothing here needs Kafka or a warehouse.

    To keep the notebook quick (it runs in CI), the run stops six hours into service
    (05:30-11:30, the morning peak included); set `UNTIL = None` for the whole service day
    (about ten seconds on a laptop).
    """),
    code("""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import ats_sim

    HH_MM = mdates.DateFormatter("%H:%M")

    UNTIL = "6h"  # from the start of service; None = the whole day
    scenario = ats_sim.load_scenario("weekday")
    scenario
    """),
    md("""
    A scenario is a validated pydantic model (see `02_scenarios`). Running it gives a `RunResult`:
    its repr says what ran and its key figures.
    """),
    code("""
    result = ats_sim.run(scenario, until=UNTIL, telemetry_interval_s=30, seed=7)
    print(f"{result.simulated_s / 3600:.1f} simulated hours in {result.elapsed_s:.1f} s: "
          f"{result.speedup:,.0f} times faster than real time")
    result
    """),
    code("""
    telemetry = result.telemetry  # one row per train every 30 simulated seconds
    print(f"{len(telemetry):,} telemetry records, {len(result.events):,} station events, "
          f"{len(result.alerts):,} alert records")
    telemetry.head()
    """),
    md("""
    The same records as Arrow (no copy) and polars, for those who prefer them:
    """),
    code("""
    print(result.arrow("telemetry").schema.field("timestamp"))
    try:
        import polars as pl

        print(result.polars("station_event").group_by("line_id").agg(
            pl.col("boarded").sum(), pl.col("waiting").max().alias("max_waiting")).sort("line_id"))
    except ImportError:
        print("polars is not installed: pip install 'ats-sim[notebooks]'")
    """),
    md("""
    ## Load and power on the Red line

    Every train reports at the same instants, so summing one line's trains per instant gives the
    line's electrical draw (net of regenerative braking), and their mean load factor says how
    full the line runs (passengers over the planning capacity, AW3). Smoothed over 5 minutes,
    in local time:
    """),
    code("""
    LINE = "R"
    line = scenario.network.line(LINE)
    on_line = telemetry[telemetry["line_id"] == LINE]
    per_instant = on_line.groupby("timestamp").agg(
        trains=("train_id", "nunique"),
        load_factor=("load_factor", "mean"),
        power_mw=("power_draw_kw", lambda kw: kw.sum() / 1000),
    )
    smooth = per_instant.resample("5min").mean()
    local = smooth.index.tz_convert(scenario.timezone).tz_localize(None)

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    ax1.plot(local, smooth["load_factor"], color=line.color)
    ax1.set_ylabel("mean load factor")
    ax1.set_title(f"{line.name}: {per_instant['trains'].max()} trains at the peak")
    ax2.plot(local, smooth["power_mw"], color="black")
    ax2.set_ylabel("power drawn, MW")
    ax2.set_xlabel(f"local time ({scenario.timezone})")
    ax2.xaxis.set_major_formatter(HH_MM)
    plt.show()
    print(f"{line.name}: peak 5-minute draw {smooth['power_mw'].max():.1f} MW; "
          f"network energy so far {result.summary.energy_kwh / 1000:.1f} MWh net, "
          f"{result.summary.regen_kwh / 1000:.1f} MWh regenerated")
    """),
    md("""
    ## The alerts of the day

    Each alert is raised once and cleared once (with hysteresis), as two records sharing an
    `alert_id`.
    """),
    code("""
    alerts = result.alerts
    raised = alerts[alerts["state"] == "raised"]
    raised.groupby(["alert_type", "severity"]).size().rename("raised").to_frame()
    """),
    code("""
    fig, ax = plt.subplots(figsize=(10, 2.8))
    kinds = sorted(raised["alert_type"].unique())
    when = raised["timestamp"].dt.tz_convert(scenario.timezone).dt.tz_localize(None)
    for i, kind in enumerate(kinds):
        mask = (raised["alert_type"] == kind).to_numpy()
        ax.scatter(when[mask], np.full(mask.sum(), i), marker="|", s=300)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_title(f"{len(raised)} alerts raised" if len(raised) else "no alerts raised")
    ax.xaxis.set_major_formatter(HH_MM)
    plt.show()
    raised[["timestamp", "alert_type", "severity", "train_id", "station_id", "message"]].head(10)
    """),
    md("""
    ## One train's journey on the network map

    Telemetry carries each train's latitude and longitude (interpolated along the track between
    stations). Below, the network's stations, and one train's positions coloured by speed; then
    the same journey as a time-distance diagram, the classic train graph.
    """),
    code("""
    TRAIN = "R-03"
    journey = telemetry[telemetry["train_id"] == TRAIN].sort_values("timestamp")
    net = scenario.network

    fig, ax = plt.subplots(figsize=(9, 7))
    for ln in net.lines:
        ax.plot([s.lon for s in ln.stations], [s.lat for s in ln.stations], "-o", ms=4,
                color=ln.color, alpha=0.4, label=ln.name)
        for s in (ln.stations[0], ln.stations[len(ln.stations) // 2], ln.stations[-1]):
            ax.annotate(s.name, (s.lon, s.lat), fontsize=8, xytext=(4, 4), textcoords="offset points")
    points = ax.scatter(journey["longitude"], journey["latitude"], c=journey["speed_kmh"],
                        cmap="viridis", s=10, zorder=3)
    fig.colorbar(points, label=f"{TRAIN} speed, km/h")
    mean_lat = np.mean([s.lat for ln in net.lines for s in ln.stations])
    ax.set_aspect(1 / np.cos(np.radians(mean_lat)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="lower left")
    ax.set_title(f"{net.name}: train {TRAIN}")
    plt.show()
    """),
    code("""
    fig, ax = plt.subplots(figsize=(10, 4))
    first = journey[journey["timestamp"] < journey["timestamp"].min() + pd.Timedelta("3h")]
    t_local = first["timestamp"].dt.tz_convert(scenario.timezone).dt.tz_localize(None)
    ax.plot(t_local, first["chainage_m"] / 1000, color=line.color)
    for s in line.stations:
        ax.axhline(s.chainage_m / 1000, color="grey", lw=0.3)
    ax.set_yticks([s.chainage_m / 1000 for s in line.stations[::2]], [s.name for s in line.stations[::2]],
                  fontsize=7)
    ax.set_title(f"{TRAIN}: the first three hours, station to station")
    ax.xaxis.set_major_formatter(HH_MM)
    plt.show()
    first.groupby("trip_id", sort=False).agg(start=("timestamp", "min"), end=("timestamp", "max"),
                                              max_passengers=("passenger_count", "max")).head()
    """),
    md("""
    Next: `02_scenarios` compares scenarios and sweeps parameters in parallel processes;
    `03_warehouse` queries the DuckDB warehouse (and Kafka-ingested data) with the dashboard's
    own queries.
    """),
]


SCENARIOS: list[Cell] = [
    md("""
    # Scenarios side by side, and a parameter sweep

    A scenario is a TOML file or the same structure built in code, validated by pydantic: a
    mistake is one line naming the field and what was expected. `ats_sim.sweep.sweep` runs many
    scenarios or variants of one in parallel worker processes and returns one row of key figures
    per run (records are not kept, so memory stays small).

    The four built-in days below run whole (05:30 to 00:30) so that each scenario's disruption
    falls inside the run; with two worker processes that takes well under a minute. The sweep
    then runs twelve variants of the morning peak.
    """),
    code("""
    import matplotlib.pyplot as plt
    import pandas as pd

    import ats_sim
    from ats_sim.sweep import sweep, vary

    pd.set_option("display.width", 160)
    WORKERS = 2  # worker processes; the figures are the same with 1
    weekday = ats_sim.load_scenario("weekday")
    weekday
    """),
    md("""
    ## Changing a scenario in code

    `Scenario.with_changes` replaces top-level fields (nested sections as dicts) and validates
    the result; `vary` changes single fields by dotted path, plus `peak_headway_s`, the headway
    of the timetable's peak periods. Both return a new scenario; scenarios are immutable.
    """),
    code("""
    busier = vary(weekday, {"demand.scale": 1.3, "peak_headway_s": 180})
    print(repr(busier))
    print("peak headway at 08:00:", busier.operations.headway_at(8 * 3600, "R"), "s")
    """),
    code("""
    try:
        weekday.with_changes(operations={"periods": [{"start": "05:30", "headway_s": 30}]})
    except ats_sim.ScenarioError as exc:
        print("rejected:", exc)
    """),
    md("""
    ## Four days side by side

    `weekday`, `disruption` (a train held 8 minutes at Central at 08:10, a 30 km/h restriction
    over the midday), `heatwave` (24-38 °C: air conditioning near full power) and `event-surge`
    (six times the usual entries at the Stadium after an evening match).
    """),
    code("""
    DAYS = ["weekday", "disruption", "heatwave", "event-surge"]
    for name in DAYS:
        print(repr(ats_sim.load_scenario(name)))
    side = sweep(DAYS, days=1, telemetry_interval_s=300, workers=WORKERS).set_index("scenario")
    side[["energy_mwh", "regen_mwh", "peak_load_factor", "p95_load_factor", "overcrowded_share",
          "boarded", "left_behind", "max_waiting", "alerts", "seconds"]]
    """),
    code("""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    side["energy_mwh"].plot.bar(ax=axes[0, 0], color="tab:orange", title="net energy, MWh")
    side[["peak_load_factor", "p95_load_factor"]].plot.bar(ax=axes[0, 1], title="train load factor")
    side[["max_waiting"]].plot.bar(ax=axes[1, 0], legend=False,
                                   title="most passengers waiting on one platform")
    alert_columns = [c for c in side.columns if c.startswith("alerts_")]
    side[alert_columns].rename(columns=lambda c: c.removeprefix("alerts_")).plot.bar(
        ax=axes[1, 1], stacked=True, title="alerts raised, by type")
    axes[1, 1].legend(fontsize=7, ncols=2, loc="upper left")
    for ax in axes.flat:
        ax.tick_params(axis="x", rotation=0)
        ax.set_xlabel("")
    fig.tight_layout()
    plt.show()
    ratio = side.loc["heatwave", "energy_mwh"] / side.loc["weekday", "energy_mwh"]
    print(f"the heatwave draws {ratio:.2f} times the energy of an ordinary weekday")
    print(f"left behind on the platform (full trains): {side['left_behind'].to_dict()}")
    """),
    md("""
    ## A parameter sweep: peak headway against crowding and energy

    Twelve variants of the weekday: the peak headway from 2 to 5.5 minutes, at today's demand
    and at one and a half times it. Each runs the first four hours of service, which hold the
    morning peak (07:00-09:30, when the peak headway applies). The variants are spread over
    `WORKERS` processes: with two cores, about 1.7-1.9 times faster than one after another
    (see `benchmarks/notebooks_bench.py`).
    """),
    code("""
    grid = {"peak_headway_s": [120, 150, 180, 210, 270, 330], "demand.scale": [1.0, 1.5]}
    table = sweep("weekday", grid, until="4h", telemetry_interval_s=60, workers=WORKERS)
    table[["peak_headway_s", "demand.scale", "energy_mwh", "p95_load_factor", "overcrowded_share",
           "left_behind", "max_waiting", "alerts", "seconds"]]
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for scale, rows in table.groupby("demand.scale"):
        minutes = rows["peak_headway_s"] / 60
        label = f"demand x{scale:g}"
        axes[0].plot(minutes, rows["energy_mwh"], "o-", label=label)
        axes[1].plot(minutes, rows["p95_load_factor"], "o-", label=label)
        axes[2].plot(minutes, rows["left_behind"], "o-", label=label)
    for ax, title in zip(axes, ["net energy, MWh (05:30-09:30)", "95th percentile load factor",
                                "passengers left behind"]):
        ax.set_xlabel("peak headway, minutes")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    plt.show()
    """),
    md("""
    Longer headways mean fewer trains: less energy, fuller trains, and at high demand, passengers
    left on the platform. The table's `run_id` names each variant's run; rerunning one with
    `ats_sim.run(vary(weekday, {...}), until="4h")` gives its records.
    """),
]


WAREHOUSE: list[Cell] = [
    md("""
    # The warehouse: the dashboard's queries, from a notebook

    The README's first command, `make run`, replays a weekday into the embedded DuckDB
    warehouse at the root of the repository, `data/ats.duckdb`; run from there, it is

    ```sh
    ats-sim run weekday --sink duckdb://data/ats.duckdb
    ```

    (two slashes: a path relative to the working directory; three, as in
    `duckdb:///home/me/ats.duckdb`, make it absolute). That file holds the shared schema
    (`sql/duckdb`): the raw table in the Kafka connector's layout, typed tables and the views
    `ATS_HOURLY_STATS`, `ATS_LINE_ENERGY`, `ATS_STATION_CROWDING`, `ATS_HEADWAYS`, `ATS_ALERTS`
    and `ATS_LATEST_STATUS`, the same in Snowflake. Below, `ats_sim.api.query(url, name,
    **filters)` runs the queries of `dashboard/queries.py`, the very functions the Streamlit
    page runs, through a short read-only session, as the dashboard does. No SQL is copied here.

    A notebook's kernel starts in `notebooks/`, so the next cell first finds the repository's
    root (the folder above holding ats-sim's `pyproject.toml`; the working directory itself if
    there is none) and reads `<root>/data/ats.duckdb` through an absolute URL. **If that file
    does not exist yet** (a fresh clone, or CI), the cell creates it there, with a short run of
    the same command (three hours of service, `--until 3h`); `make run` later writes its whole
    day into the same file. Set `ATS_SIM_WAREHOUSE_URL` to read another warehouse: another DuckDB
    file, `snowflake://NAME` (a Streamlit connection), or the Snowflake sink's own
    `snowflake://USER@ACCOUNT/ATS/PUBLIC?warehouse=WH` (password from `SNOWFLAKE_PASSWORD`).
    """),
    code("""
    import os
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    import matplotlib.pyplot as plt
    import pandas as pd

    from ats_sim.api import query, query_names
    from dashboard.connection import URL_ENV, open_warehouse

    pd.set_option("display.width", 160)


    def is_ats_sim_checkout(folder: Path) -> bool:
        try:
            return tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"] == "ats-sim"
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
            return False


    ROOT = next((d for d in (Path.cwd(), *Path.cwd().parents) if is_ats_sim_checkout(d)), Path.cwd())
    URL = os.environ.get(URL_ENV) or f"duckdb://{ROOT / 'data' / 'ats.duckdb'}"  # three slashes
    warehouse = open_warehouse(URL)
    if warehouse.dialect == "duckdb" and not warehouse.path.exists():
        print(f"{warehouse.path} does not exist yet: writing three hours of a weekday into it")
        subprocess.run([sys.executable, "-m", "ats_sim.cli", "run", "weekday", "--until", "3h",
                        "--quiet", "--sink", URL], check=True)
    print("reading", warehouse.describe())
    print("queries:", ", ".join(query_names()))
    """),
    md("""
    Every run in the warehouse has its `RUN_ID`; queries default to the most recently written
    run. Filters work as in the dashboard's sidebar: `lines=`, `trains=`, `start=`, `end=`.
    """),
    code("""
    runs = query(URL, "runs")
    RUN_ID = runs["RUN_ID"].iloc[0]
    runs
    """),
    code("""
    hourly = query(URL, "hourly_stats", run_id=RUN_ID)
    energy = query(URL, "line_energy", run_id=RUN_ID)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    for line_id, rows in hourly.groupby("LINE_ID"):
        ax1.plot(rows["HOUR"], rows["AVG_LOAD_FACTOR"], "o-", label=f"line {line_id}")
    ax1.set_title("mean load factor per hour (ATS_HOURLY_STATS)")
    ax1.legend()
    per_hour = energy.pivot(index="HOUR", columns="LINE_ID", values="ENERGY_KWH")
    per_hour.index = per_hour.index.strftime("%H:%M")
    per_hour.plot.bar(ax=ax2, rot=0, title="net energy per hour, kWh (ATS_LINE_ENERGY)")
    fig.tight_layout()
    plt.show()
    """),
    code("""
    crowding = query(URL, "station_crowding", run_id=RUN_ID)
    crowding.sort_values("MAX_WAITING", ascending=False).head(8)
    """),
    code("""
    headways = query(URL, "headway_summary", run_id=RUN_ID, lines="R")
    print(f"line R: {headways['BUNCHED'].sum()} of {headways['DEPARTURES'].sum()} departures bunched "
          "(less than half the timetabled headway behind the train ahead)")
    query(URL, "alert_counts", run_id=RUN_ID)
    """),
    md("""
    The views are plain SQL objects, so any DuckDB client can read them too. The sink's
    `reading()` helper opens a read-only connection that waits while a writer holds the file:
    """),
    code("""
    if warehouse.dialect == "duckdb":
        from sinks.duckdb import reading

        with reading(warehouse.path) as con:
            totals = con.execute(
                "SELECT LINE_ID, round(sum(ENERGY_KWH) / 1000, 2) AS NET_MWH, "
                "round(sum(REGEN_KWH) / 1000, 2) AS REGEN_MWH FROM ATS_LINE_ENERGY "
                "WHERE RUN_ID = ? GROUP BY LINE_ID ORDER BY LINE_ID", [RUN_ID]).df()
        print(totals)
    """),
    md("""
    ## The same queries on Kafka-ingested data

    In the streaming path the simulator produces to Kafka and an ingester consumes into the
    warehouse, filling the raw table with each message's real Kafka metadata (topic, partition,
    offset, CreateTime, key, headers):

    ```sh
    make kafka    # a local broker without Docker; prints its address
    ats-sim run weekday --until 2h --sink 'kafka://127.0.0.1:9092/ats_telemetry?create_topics=true'
    ats-sim ingest kafka://127.0.0.1:9092 --to duckdb://data/kafka.duckdb
    ```

    The cells below do the same from Python (`sinks.open_sink` and `sinks.ingest.open_ingester`)
    against `$KAFKA_BOOTSTRAP_SERVERS` (default `127.0.0.1:9092`), with fresh topics and a DuckDB
    file of their own, then run the same queries. **Without a reachable broker they say so and
    skip.**
    """),
    code("""
    import importlib.util
    import socket
    import tempfile
    import uuid
    from pathlib import Path

    BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092").split(",")[0]


    def reachable(address: str, timeout_s: float = 2.0) -> bool:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            return False


    KAFKA = False
    if importlib.util.find_spec("confluent_kafka") is None:
        print("confluent-kafka is not installed (pip install 'ats-sim[kafka]'): skipping the Kafka cells.")
    elif not reachable(BOOTSTRAP):
        print(f"No Kafka broker reachable at {BOOTSTRAP}: skipping the Kafka cells. Start one with "
              "`make kafka` and set KAFKA_BOOTSTRAP_SERVERS to the address it prints.")
    else:
        KAFKA = True
        print(f"Kafka broker at {BOOTSTRAP}")
    """),
    code("""
    if KAFKA:
        import ats_sim
        from sinks import open_sink
        from sinks.ingest import open_ingester

        prefix = f"nb_{uuid.uuid4().hex[:8]}_"  # fresh topics: <prefix>telemetry, ...station_events, ...alerts
        topics = [prefix + kind for kind in ("telemetry", "station_events", "alerts")]
        with open_sink(f"kafka://{BOOTSTRAP}/{topics[0]}?create_topics=true") as sink:
            produced = ats_sim.run("weekday", until="2h", telemetry_interval_s=30, emit=sink.write_batch)
        print(f"produced {sum(produced.summary.records.values()):,} messages to {', '.join(topics)}")

        INGESTED = Path(tempfile.mkdtemp(prefix="ats-notebook-")) / "kafka.duckdb"
        INGESTED_URL = f"duckdb://{INGESTED}"
        ingester = open_ingester(f"kafka://{BOOTSTRAP}/{','.join(topics)}", INGESTED_URL,
                                 group_id=f"notebook-{uuid.uuid4().hex[:8]}", idle_exit_s=5)
        stats = ingester.run()  # returns after 5 s without a new message
        print(f"ingested {stats.messages:,} messages into {INGESTED}")
    else:
        print("skipped: no Kafka broker")
    """),
    code("""
    if KAFKA:
        print(query(INGESTED_URL, "runs"))
        print(query(INGESTED_URL, "alert_counts"))
        print(query(INGESTED_URL, "line_energy").groupby("LINE_ID")[["ENERGY_KWH", "REGEN_KWH"]].sum())
        from sinks.duckdb import reading

        with reading(INGESTED) as con:  # the raw table holds each message's real Kafka metadata
            print(con.execute(
                "SELECT RECORD_METADATA->>'topic' AS TOPIC, count(*) AS MESSAGES, "
                "max(CAST(RECORD_METADATA->>'offset' AS BIGINT)) AS LAST_OFFSET "
                "FROM ATS_RAW_JSON GROUP BY 1 ORDER BY 1").df())
    else:
        print("skipped: no Kafka broker")
    """),
]


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_scenarios.ipynb": SCENARIOS,
    "03_warehouse.ipynb": WAREHOUSE,
}


def build(name: str, cells: list[Cell]) -> nbformat.NotebookNode:
    """The notebook ``name`` made of ``cells``, no outputs, fixed cell ids."""
    stem = name.split("_")[0]
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"nb{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    """The text of notebook ``name`` as this script writes it."""
    return nbformat.writes(build(name, NOTEBOOKS[name])) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print("wrote", path)
    if stale:
        print("out of date (run python notebooks/_build.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
