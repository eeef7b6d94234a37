"""The library entry point: ``ats_sim.run(...)``, its result, and the dashboard's queries on it.

>>> import ats_sim
>>> result = ats_sim.run("weekday", until="30m", seed=7)
>>> int(result.telemetry["train_id"].nunique()) > 0
True

A result answers the dashboard's own queries (:mod:`dashboard.queries`, the same functions the
Streamlit page runs) from an in-memory DuckDB copy of itself in the shared schema:

>>> energy = result.query("line_energy", lines="R")       # doctest: +SKIP
>>> query("duckdb://data/ats.duckdb", "alert_counts")      # doctest: +SKIP

Importing this module imports no database driver: DuckDB and the dashboard's query layer are
imported by :meth:`RunResult.warehouse` and :func:`query` when they are first used.
"""

from __future__ import annotations

import datetime as dt
import html
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa

from ats_sim.records import RECORD_TYPES, Batch
from ats_sim.scenario import Scenario
from ats_sim.simulation import Simulation
from ats_sim.summary import RunSummary

__all__ = ["RunResult", "load_duckdb", "query", "query_names", "run"]

#: Queries of :mod:`dashboard.queries` that take no connection-level filters worth exposing.
_NOT_QUERIES = {"run_query"}
#: Parameters :func:`query` turns into the dashboard's ``Filters``.
_FILTER_PARAMS = ("run_id", "lines", "trains", "start", "end")


class RunResult:
    """What a run produced: its records (unless streamed away) and its key figures."""

    def __init__(
        self,
        simulation: Simulation,
        batches: dict[str, list[pa.RecordBatch]] | None,
        summary: RunSummary,
        elapsed_s: float = 0.0,
    ) -> None:
        self.simulation = simulation
        self.scenario: Scenario = simulation.scenario
        self.run_id = simulation.run_id
        self.seed = simulation.spec.seed
        self.summary = summary
        #: Wall-clock seconds the run took.
        self.elapsed_s = elapsed_s
        self._batches = batches
        self._warehouse: Any = None

    def _kept(self) -> dict[str, list[pa.RecordBatch]]:
        if self._batches is None:
            raise ValueError(
                "this run streamed its records to a callable and kept none; run without emit="
            )
        return self._batches

    def arrow(self, record_type: str) -> pa.Table:
        """The records of one type (``telemetry``, ``station_event``, ``alert``) as an Arrow table."""
        rtype = RECORD_TYPES[record_type]
        return pa.Table.from_batches(self._kept()[record_type], schema=rtype.arrow_schema)

    def dataframe(self, record_type: str) -> Any:
        """The records of one type as a pandas DataFrame (timestamps timezone-aware UTC)."""
        return self.arrow(record_type).to_pandas()

    @property
    def telemetry(self) -> Any:
        """Telemetry records (pandas)."""
        return self.dataframe("telemetry")

    @property
    def events(self) -> Any:
        """Station events (pandas)."""
        return self.dataframe("station_event")

    @property
    def alerts(self) -> Any:
        """Alerts raised and cleared (pandas)."""
        return self.dataframe("alert")

    def polars(self, record_type: str) -> Any:
        """The records of one type as a polars DataFrame (needs polars)."""
        import polars as pl

        return pl.from_arrow(self.arrow(record_type))

    def batches(self) -> list[Batch]:
        """Every record, as batches per type."""
        if self._batches is None:
            return []
        return [Batch(RECORD_TYPES[n], b) for n, bs in self._batches.items() for b in bs]

    @property
    def simulated_s(self) -> float:
        """Simulated seconds from the first record to the last."""
        s = self.summary
        return 0.0 if s.first_ms is None or s.last_ms is None else (s.last_ms - s.first_ms) / 1000

    @property
    def speedup(self) -> float:
        """Simulated seconds per wall-clock second (how much faster than real time the run was)."""
        return self.simulated_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def warehouse(self) -> Any:
        """An in-memory DuckDB database holding this run in the shared schema (needs duckdb).

        The raw table, the typed tables and every view of ``sql/duckdb``, exactly as the DuckDB
        sink would have written them; built on first call, then the same connection is returned.

        >>> con = ats_sim.run("weekday", until="20m").warehouse()      # doctest: +SKIP
        >>> con.sql("SELECT LINE_ID, sum(ENERGY_KWH) FROM ATS_LINE_ENERGY GROUP BY 1").df()  # doctest: +SKIP
        """
        if self._warehouse is None:
            self._kept()
            self._warehouse = load_duckdb(self.batches())
        return self._warehouse

    def query(self, name: str, **params: Any) -> Any:
        """One of the dashboard's queries (:func:`query_names`) on this run, as pandas.

        ``lines``, ``trains`` (a name or a list), ``start`` and ``end`` (date-times, UTC when
        naive) filter as the dashboard's sidebar does; other parameters go to the query function
        (``unit="hour"`` for ``timeline``, ``limit=`` ...). See :func:`query`.
        """
        params.setdefault("run_id", self.run_id)
        return _call(self.warehouse(), name, params)

    def __repr__(self) -> str:
        s = self.summary.as_dict()
        return (
            f"RunResult(run_id={self.run_id!r}, records={s['records']}, "
            f"alerts_raised={s['alerts_raised']}, energy_mwh={s['energy_mwh']})"
        )

    def _repr_html_(self) -> str:
        s = self.summary.as_dict()
        hours = self.simulated_s / 3600
        speed = f", {self.speedup:,.0f}x real time" if self.elapsed_s > 0 else ""
        head = (
            f"<b>ats-sim run</b> <code>{html.escape(self.run_id)}</code>: scenario "
            f"<i>{html.escape(self.scenario.name)}</i>, seed {self.seed}, {hours:.1f} simulated hours "
            f"in {self.elapsed_s:.1f} s{speed}"
        )
        rows = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
            f"<td style='text-align:left'>{html.escape(_plain(v))}</td></tr>"
            for k, v in s.items()
        )
        return f"<div>{head}<table>{rows}</table></div>"


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return (
            ", ".join(
                f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in value.items()
            )
            or "none"
        )
    return f"{value:,}" if isinstance(value, int) else str(value)


def run(
    scenario: str | Scenario = "weekday",
    *,
    until: Any = None,
    days: float | None = None,
    seed: int | None = None,
    telemetry_interval_s: float | None = None,
    workers: int = 1,
    lines: list[str] | None = None,
    emit: Callable[[Batch], None] | None = None,
    keep: bool | None = None,
) -> RunResult:
    """Replay a scenario as fast as possible and return its records.

    Args:
        scenario: a built-in name (``weekday``, ``weekend``, ``disruption``, ``heatwave``,
            ``event-surge``), a TOML path, or a :class:`Scenario`.
        until: how long to run from the start of service (``"3h"``, seconds, a ``timedelta``)
            or until a date-time; default one service day (or ``days``).
        seed: random seed; the same scenario and seed give byte-identical records.
        telemetry_interval_s: 1 to 300 s; default the scenario's.
        workers: processes to spread the lines over; the records are the same as with one.
        emit: a callable that receives every :class:`Batch` as it is produced (the seam the
            sinks use); records are then not kept unless ``keep=True``.
    """
    started = time.perf_counter()
    sim = Simulation(
        scenario,
        until=until,
        days=days,
        seed=seed,
        telemetry_interval_s=telemetry_interval_s,
        workers=workers,
        lines=lines,
    )
    keep = emit is None if keep is None else keep
    kept: dict[str, list[pa.RecordBatch]] | None = {n: [] for n in RECORD_TYPES} if keep else None
    summary = RunSummary()
    for window in sim.windows():
        for batch in window:
            summary.add(batch)
            if kept is not None:
                kept[batch.type.name].append(batch.data)
            if emit is not None:
                emit(batch)
    return RunResult(sim, kept, summary, time.perf_counter() - started)


# --------------------------------------------------------------------------- warehouse and queries


def load_duckdb(batches: Iterable[Batch], con: Any = None, *, raw: bool = True) -> Any:
    """Create the shared schema (``sql/duckdb``) in ``con`` (default: a new in-memory database)
    and load ``batches`` into its typed tables and, with ``raw=True``, into ``ATS_RAW_JSON``.

    Raw rows get the metadata a direct sink gives them (default topic, partition 0, offsets
    from 0 per topic, ``CreateTime`` now). Needs the ``duckdb`` package.
    """
    import duckdb

    from sinks.raw import TopicOffsets, raw_table, wall_clock_ms
    from sinks.schema import RAW_TABLE, TYPED_TABLES, statements

    con = duckdb.connect(":memory:") if con is None else con
    con.execute("SET TimeZone = 'UTC'")
    for stmt in statements("duckdb"):
        con.execute(stmt)
    grouped: dict[str, list[pa.RecordBatch]] = {}
    for b in batches:
        grouped.setdefault(b.type.name, []).append(b.data)
    offsets, created = TopicOffsets(), wall_clock_ms()
    for name, data in grouped.items():
        rtype = RECORD_TYPES[name]
        table = pa.Table.from_batches(data, schema=rtype.arrow_schema)
        if table.num_rows == 0:
            continue
        con.register("ats_load_typed", table)
        con.execute(f"INSERT INTO {TYPED_TABLES[name]} SELECT * FROM ats_load_typed")
        con.unregister("ats_load_typed")
        if raw:
            combined = table.combine_chunks().to_batches()[0]
            rows = raw_table(
                Batch(rtype, combined),
                first_offset=offsets.next(rtype.topic),
                create_time_ms=created,
            )
            offsets.advance(rtype.topic, table.num_rows)
            con.register("ats_load_raw", rows)
            con.execute(
                f"INSERT INTO {RAW_TABLE} SELECT RECORD_METADATA, RECORD_CONTENT FROM ats_load_raw"
            )
            con.unregister("ats_load_raw")
    return con


def _query_functions() -> dict[str, Callable[..., Any]]:
    from dashboard import queries

    out: dict[str, Callable[..., Any]] = {}
    for name in queries.__all__:
        fn = getattr(queries, name)
        if name in _NOT_QUERIES or not inspect.isfunction(fn):
            continue
        params = list(inspect.signature(fn).parameters)
        if params and params[0] == "conn":
            out[name] = fn
    return out


def query_names() -> list[str]:
    """The names :func:`query` and :meth:`RunResult.query` accept: the dashboard's queries."""
    return sorted(_query_functions())


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _as_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    import pandas as pd

    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _call(conn: Any, name: str, params: dict[str, Any]) -> Any:
    """Run the dashboard query ``name`` on ``conn``, building its filters from ``params``."""
    from dashboard import queries

    functions = _query_functions()
    if name not in functions:
        raise ValueError(f"no query {name!r}; the queries are {', '.join(sorted(functions))}")
    fn = functions[name]
    wanted = list(inspect.signature(fn).parameters)[1:]
    run_id = params.pop("run_id", None)
    if run_id is None and ("f" in wanted or "run_id" in wanted):
        latest = queries.runs(conn)
        if latest.empty:
            raise ValueError(
                "the warehouse holds no run yet: write one first (ats-sim run ... --sink duckdb://...)"
            )
        run_id = str(latest["RUN_ID"].iloc[0])
    filters = {k: params.pop(k, None) for k in _FILTER_PARAMS[1:]}
    kwargs: dict[str, Any] = {}
    if "f" in wanted:
        kwargs["f"] = queries.Filters(
            run_id=str(run_id),
            lines=_as_tuple(filters["lines"]),
            trains=_as_tuple(filters["trains"]),
            start=_as_time(filters["start"]),
            end=_as_time(filters["end"]),
        )
    else:
        given = [k for k, v in filters.items() if v is not None and k not in wanted]
        if given:
            raise TypeError(f"query {name!r} takes no {', '.join(given)}")
        if "lines" in wanted:
            kwargs["lines"] = _as_tuple(filters["lines"])
    if "run_id" in wanted:
        kwargs["run_id"] = str(run_id)
    if "as_of" in wanted and "as_of" not in params:
        overview = queries.run_overview(conn, str(run_id))
        params["as_of"] = overview["TIMESTAMP"].max().to_pydatetime()
    unknown = set(params) - set(wanted)
    if unknown:
        raise TypeError(
            f"query {name!r} takes no {', '.join(sorted(unknown))}; it takes "
            f"{', '.join([*_FILTER_PARAMS, *(w for w in wanted if w != 'f')])}"
        )
    if "as_of" in params:
        params["as_of"] = _as_time(params["as_of"])
    return fn(conn, **kwargs, **params)


def query(source: Any, name: str, **params: Any) -> Any:
    """Run one of the dashboard's queries (:mod:`dashboard.queries`) and return pandas.

    ``source`` is a :class:`RunResult`, a warehouse URL or an open connection. A URL is read
    through a short session, as the dashboard does (:func:`dashboard.connection.open_warehouse`):
    ``duckdb://data/ats.duckdb`` (relative to the working directory; ``duckdb:///abs/path``
    is absolute), ``snowflake://`` or ``snowflake://NAME`` (a Streamlit connection), or the
    Snowflake sink's own ``snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH`` and
    ``snowflake://?connection=NAME``, resolved as the sink resolves them. ``run_id`` defaults
    to the result's run, or to the warehouse's most recently written run.
    ``lines``/``trains``/``start``/``end`` filter as the dashboard's sidebar does; other
    parameters go to the query function. :func:`query_names` lists the queries.
    """
    if isinstance(source, RunResult):
        return source.query(name, **params)
    if isinstance(source, str):
        from dashboard.connection import open_warehouse

        with open_warehouse(source).session() as session:
            return _call(session.conn, name, params)
    return _call(source, name, params)
