"""``ats-sim run`` (replay) and ``ats-sim live`` (wall-clock aligned): the core wired to sinks.

Both open every ``--sink`` URL first (so a bad URL fails before anything is simulated), then
hand each window's batches to the sinks, pacing windows to the wall clock when asked, with a
progress line on stderr and a closing summary. Ctrl-C flushes and closes every sink, reports
what was written and exits with status 130.
"""

from __future__ import annotations

import datetime as dt
import time
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ats_sim.cli.common import err_console, guarded
from ats_sim.clock import Pacer, parse_speed
from ats_sim.errors import ConfigError
from ats_sim.scenario import load_scenario, parse_clock
from ats_sim.simulation import Simulation, parse_duration
from ats_sim.summary import RunSummary

__all__ = ["DEFAULT_SINK", "drive", "register"]

DEFAULT_SINK = "duckdb://data/ats.duckdb"
console = Console(highlight=False)


def _open(urls: list[str]) -> Any:
    from sinks import open_sinks

    return open_sinks(urls)


def _lines(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def drive(
    sim: Simulation,
    sink: Any,
    pacer: Pacer,
    *,
    quiet: bool = False,
    boundaries: Any = None,
    warm_up: bool = False,
) -> tuple[RunSummary, bool]:
    """Feed every window of ``sim`` into ``sink``, paced by ``pacer``.

    With ``warm_up`` the first window (simulated silently up to the wall clock's time) is not
    paced, and pacing starts from its end. Returns the run's summary and whether it was
    interrupted by Ctrl-C. The sink is always flushed and closed, also on error.
    """
    summary = RunSummary()
    interrupted = False
    started = time.monotonic()
    columns = [
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, disable=quiet, transient=False) as progress:
        task = progress.add_task("starting", total=100.0, detail="")
        try:
            try:
                for window in sim.windows(boundaries):
                    if warm_up:
                        warm_up = False
                        pacer.reset(sim.now_s)
                        started = time.monotonic()
                    pacer.wait_until(sim.now_s)
                    for batch in window:
                        summary.add(batch)
                        sink.write_batch(batch)
                    elapsed = max(time.monotonic() - started, 1e-9)
                    total = sum(summary.records.values())
                    clock = dt.datetime.fromtimestamp(
                        sim.to_epoch_ms(sim.now_s) / 1000, ZoneInfo(sim.scenario.timezone)
                    )
                    frac = sim.fraction_done
                    factor = (sim.now_s - pacer.origin_sim_s) / elapsed
                    progress.update(
                        task,
                        completed=100.0 * (frac if frac is not None else 0.0),
                        description=clock.strftime("%Y-%m-%d %H:%M:%S"),
                        detail=f"{total:,} records  {total / elapsed:,.0f}/s  x{factor:,.0f} real time  "
                        f"written: {_written(sink)}",
                    )
            except KeyboardInterrupt:
                interrupted = True
        finally:
            try:
                sink.close()
            except KeyboardInterrupt:
                sink.close()
    return summary, interrupted


def _written(sink: Any) -> str:
    members = getattr(sink, "members", [sink])
    return ", ".join(f"{m.describe()} {m.stats.records:,}" for m in members)


def _report(summary: RunSummary, sink: Any, interrupted: bool, elapsed: float) -> None:
    s = summary.as_dict()
    table = Table(title="interrupted: what was written" if interrupted else "run summary", box=None)
    table.add_column("figure", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for name, n in summary.records.items():
        table.add_row(f"{name} records", f"{n:,}")
    for name, n in summary.alerts_raised.items():
        table.add_row(f"alerts raised: {name}", f"{n:,}")
    table.add_row("trains", str(s["trains"]))
    table.add_row("energy, net of regeneration", f"{s['energy_mwh']:.2f} MWh")
    table.add_row("regenerated", f"{s['regen_mwh']:.2f} MWh")
    table.add_row("peak load", f"{s['peak_passengers']:,} passengers ({s['peak_load_factor']:.0%})")
    table.add_row(
        "passengers boarded / left behind", f"{s['passengers_boarded']:,} / {s['left_behind']:,}"
    )
    members = getattr(sink, "members", [sink])
    for m in members:
        table.add_row(
            f"written to {m.describe()}",
            f"{m.stats.records:,} records, {m.stats.bytes / 1e6:,.1f} MB, {m.stats.batches:,} batches",
        )
    table.add_row("wall time", f"{elapsed:.1f} s")
    err_console.print(table)


def _run(
    scenario: str,
    sinks: list[str],
    *,
    until: str | None,
    days: float | None,
    speed: str,
    seed: int | None,
    interval: float | None,
    workers: int,
    lines: str | None,
    quiet: bool,
    live: bool,
) -> None:
    pace = parse_speed(speed)
    started = time.monotonic()
    if live:
        # pyarrow loads pandas on first use (about a second); do it now, not in the first paced
        # window, so that the run does not start late and then catch up in a burst.
        import pandas  # noqa: F401

        sc = load_scenario(scenario)
        now = dt.datetime.now(ZoneInfo(sc.timezone))
        service_day = now.date() if now.hour >= 3 else now.date() - dt.timedelta(days=1)
        end = None if until is None else now + dt.timedelta(seconds=parse_duration(until))
        sim = Simulation(
            sc,
            seed=seed,
            telemetry_interval_s=interval,
            lines=_lines(lines),
            forever=end is None,
            until=end,
            start_date=service_day,
            emit_from=now,
        )
        t_now = (now.timestamp() * 1000 - sim.spec.epoch_ms) / 1000
        ops = sim.scenario.operations
        if not quiet and not parse_clock(ops.service_start) <= t_now < parse_clock(ops.service_end):
            err_console.print(
                f"no trains run at {now:%H:%M} {sc.timezone} (service {ops.service_start}-"
                f"{ops.service_end}): nothing to record until {ops.service_start}"
            )
        pacer = Pacer(pace or 1.0, t_now)
        window = pacer.window_for()
        boundaries = (t_now + k * window for k in count(0))
    else:
        sim = Simulation(
            scenario,
            until=until,
            days=days,
            seed=seed,
            telemetry_interval_s=interval,
            workers=workers,
            lines=_lines(lines),
        )
        pacer = Pacer(pace, sim.start_s)
        if pace is not None:
            sim.window_s = pacer.window_for()
        boundaries = None
    sink = _open(sinks)
    if not quiet:
        err_console.print(
            f"run {sim.run_id}: scenario {sim.scenario.name!r}, seed {sim.spec.seed}, "
            f"telemetry every {sim.spec.telemetry_interval_s:g} s -> {sink.describe()}"
        )
    summary, interrupted = drive(sim, sink, pacer, quiet=quiet, boundaries=boundaries, warm_up=live)
    _report(summary, sink, interrupted, time.monotonic() - started)
    if interrupted:
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``live``."""

    @app.command("run")
    @guarded
    def run_cmd(
        scenario: str = typer.Argument("weekday", help="Built-in scenario name or TOML path."),
        sink: list[str] = typer.Option(
            [DEFAULT_SINK], "--sink", "-s", help="Sink URL; repeat for several (fan-out)."
        ),
        days: float | None = typer.Option(
            None, "--days", help="Service days to simulate (default 1)."
        ),
        until: str | None = typer.Option(
            None, "--until", help="Duration from start of service, e.g. 3h."
        ),
        speed: str = typer.Option(
            "max", "--speed", help="'max', or simulated seconds per wall second."
        ),
        seed: int | None = typer.Option(
            None, "--seed", help="Random seed (default: the scenario's)."
        ),
        telemetry_interval: float | None = typer.Option(
            None, "--telemetry-interval", help="Seconds between telemetry samples (1-300)."
        ),
        workers: int = typer.Option(1, "--workers", help="Processes to spread the lines over."),
        lines: str | None = typer.Option(
            None, "--lines", help="Only these line ids, comma-separated."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Replay a scenario (as fast as possible, or scaled with --speed) into sinks."""
        if days is not None and until is not None:
            raise ConfigError("give --days or --until, not both")
        _run(
            scenario,
            sink,
            until=until,
            days=days,
            speed=speed,
            seed=seed,
            interval=telemetry_interval,
            workers=workers,
            lines=lines,
            quiet=quiet,
            live=False,
        )

    @app.command("live")
    @guarded
    def live_cmd(
        scenario: str = typer.Argument("weekday", help="Built-in scenario name or TOML path."),
        sink: list[str] = typer.Option(..., "--sink", "-s", help="Sink URL; repeat for several."),
        speed: str = typer.Option(
            "1", "--speed", help="Simulated seconds per wall second (1 = real time)."
        ),
        until: str | None = typer.Option(
            None, "--until", help="Stop after this much simulated time."
        ),
        seed: int | None = typer.Option(None, "--seed"),
        telemetry_interval: float | None = typer.Option(None, "--telemetry-interval"),
        lines: str | None = typer.Option(
            None, "--lines", help="Only these line ids (split a network across processes)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
    ) -> None:
        """Run aligned to the wall clock, until stopped (Ctrl-C) or --until."""
        _run(
            scenario,
            sink,
            until=until,
            days=None,
            speed=speed,
            seed=seed,
            interval=telemetry_interval,
            workers=1,
            lines=lines,
            quiet=quiet,
            live=True,
        )
