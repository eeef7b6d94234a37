"""``ats-sim import-gtfs`` and ``ats-sim validate-gtfs``: scenarios from GTFS feeds, and their check."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ats_sim.errors import ConfigError
from ats_sim.rolling_stock import RollingStock

if TYPE_CHECKING:  # the GTFS package imports pandas: load it only when a GTFS command runs
    from ats_sim.gtfs import ImportResult, ValidationReport

__all__ = ["register"]

#: Width of tables when stdout is not a terminal (a file, a pipe), so names are not cut short.
PIPE_WIDTH = 200


def _console() -> Console:
    """A console on the current stdout: the terminal's width, or a wide page for files and pipes."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return out or None


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ConfigError(f"--date: {value!r} is not a date like 2026-03-10")


def _print_import(res: ImportResult, written: list[Path]) -> None:
    from ats_sim.gtfs.headways import clock

    console = _console()
    table = Table(
        title=f"Imported from {res.feed_label}" + (f", service of {res.date}" if res.date else "")
    )
    for col in ("line", "route", "stations", "length km", "chainage from", "runs", "headways"):
        table.add_column(
            col, justify="right" if col in ("stations", "length km", "runs") else "left"
        )
    for li in res.lines:
        ln = res.network.line(li.line_id)
        heads = ", ".join(f"{clock(s)} {h:g}s" for s, h in li.timetable.periods)
        table.add_row(
            li.line_id,
            li.route.label,
            str(ln.n_stations),
            f"{ln.length_m / 1000:.2f}",
            li.chainage_method,
            str(li.runs),
            heads,
        )
    console.print(table)
    for li in res.lines:
        for n in li.notes:
            console.print(f"line {li.line_id}: {n}", markup=False)
    for n in res.notes:
        console.print(f"note: {n}", markup=False)
    for p in written:
        console.print(f"wrote {p}", markup=False)


def _print_report(rep: ValidationReport) -> None:
    console = _console()
    table = Table(title=f"{rep.scenario} against the timetable of {rep.feed}")
    for col in (
        "line",
        "dir",
        "from",
        "to",
        "km",
        "limit",
        "scheduled s",
        "simulated s",
        "error %",
        "trips",
    ):
        table.add_column(col, justify="left" if col in ("line", "from", "to") else "right")
    for s in rep.segments:
        err = s.error_pct
        style = "green" if abs(err) <= 15 else "yellow" if abs(err) <= 30 else "red"
        table.add_row(
            s.line,
            str(s.direction),
            s.from_name,
            s.to_name,
            f"{s.distance_m / 1000:.2f}",
            f"{s.speed_limit_kmh:g}",
            f"{s.scheduled_s:.0f}" + ("*" if s.dwell_included else ""),
            f"{s.simulated_s:.0f}",
            f"[{style}]{err:+.1f}[/]",
            str(s.trips),
        )
    console.print(table)
    med, share = rep.median_abs_error_pct, rep.share_within_15pct
    if med is None or share is None:
        console.print("no segment could be compared", markup=False)
    else:
        console.print(
            f"median absolute error {med:.1f}%, {share:.0%} of {len(rep.segments)} segments within 15%",
            markup=False,
        )
    for c in rep.calibration:
        bound = " (at the edge of the range tried)" if c.at_bound else ""
        console.print(
            f"calibration: line {c.line} cruising speed {c.speed_kmh:g} km/h{bound}; median absolute "
            f"error {c.before_median_abs_error_pct:.1f}% -> {c.after_median_abs_error_pct:.1f}%",
            markup=False,
        )
    if rep.excluded:
        ex = Table(title="Excluded (the model does not represent these)")
        for col in ("line", "from", "to", "trips", "reason"):
            ex.add_column(col)
        for e in rep.excluded:
            ex.add_row(e.line, e.from_name, e.to_name, str(e.trips), e.reason)
        console.print(ex)
    for n in rep.notes:
        console.print(f"note: {n}", markup=False)
    if any(s.dwell_included for s in rep.segments):
        console.print("* scheduled time includes a dwell", markup=False)


def register(app: typer.Typer) -> None:
    """Add the GTFS commands to ``app``."""
    from ats_sim.cli.common import guarded

    @app.command("import-gtfs")
    @guarded
    def import_cmd(
        feed: Annotated[Path, typer.Argument(help="GTFS feed: a .zip or a folder of .txt files.")],
        out: Annotated[
            Path,
            typer.Option("--out", "-o", help="Scenario TOML to write; the network goes beside it."),
        ],
        routes: Annotated[
            list[str] | None,
            typer.Option(
                "--routes",
                "-r",
                help="Route ids or names, comma-separated or repeated (default: every route of the type).",
            ),
        ] = None,
        route_type: Annotated[
            int | None,
            typer.Option("--route-type", help="GTFS route_type to import (default 1, metro)."),
        ] = None,
        rail: Annotated[
            bool, typer.Option("--rail", help="Also import rail routes (route_type 2, 100-117).")
        ] = False,
        date: Annotated[
            str | None,
            typer.Option(
                "--date", help="Service day for headways, YYYY-MM-DD (default: the busiest day)."
            ),
        ] = None,
        name: Annotated[
            str | None,
            typer.Option(
                "--name", help="Scenario and network name (default: the feed's file name)."
            ),
        ] = None,
        cars: Annotated[
            int | None,
            typer.Option("--cars", help="Cars per train (default: the project's rolling stock)."),
        ] = None,
        speed_limit: Annotated[
            float | None,
            typer.Option(
                "--speed-limit", help="Line speed limit, km/h (default: the train's top speed)."
            ),
        ] = None,
        daily_entries: Annotated[
            float | None,
            typer.Option("--daily-entries", help="Weekday passenger entries per line."),
        ] = None,
        embed: Annotated[
            bool, typer.Option("--embed", help="Put the network inside the scenario file.")
        ] = False,
    ) -> None:
        """Build a scenario from the metro (or rail) routes of a GTFS feed."""
        stock = None
        if cars is not None:
            if not 1 <= cars <= 12:
                raise ConfigError(f"--cars: expected 1 to 12 cars, got {cars}")
            stock = RollingStock(cars=cars)
        if speed_limit is not None and not 0 < speed_limit <= 200:
            raise ConfigError(f"--speed-limit: expected 0-200 km/h, got {speed_limit:g}")
        if daily_entries is not None and not (math.isfinite(daily_entries) and daily_entries >= 0):
            raise ConfigError(
                f"--daily-entries: expected a number of passengers, 0 or more, got {daily_entries:g}"
            )
        from ats_sim.gtfs import import_gtfs

        res = import_gtfs(
            feed,
            _split(routes),
            route_type=route_type,
            rail=rail,
            date=_date(date),
            name=name,
            rolling_stock=stock,
            speed_limit_kmh=speed_limit,
            daily_entries=daily_entries,
        )
        _print_import(res, res.write(out, embed=embed))

    @app.command("validate-gtfs")
    @guarded
    def validate_cmd(
        feed: Annotated[Path, typer.Argument(help="The GTFS feed the scenario was imported from.")],
        scenario: Annotated[
            str, typer.Option("--scenario", "-s", help="Scenario name or TOML path.")
        ],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")
        ] = False,
        calibrate: Annotated[
            bool, typer.Option("--calibrate", help="Fit one cruising speed per line first.")
        ] = False,
    ) -> None:
        """Compare the simulated running time of every segment with the feed's timetable."""
        from ats_sim.gtfs import validate

        rep = validate(feed, scenario, calibrate=calibrate)
        if as_json:
            typer.echo(
                orjson.dumps(
                    rep.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
                ).decode()
            )
        else:
            _print_report(rep)
