"""``ats-sim scenarios list|show``: what can be run."""

from __future__ import annotations

import tomllib

import typer
from rich.console import Console
from rich.table import Table

from ats_sim.cli.common import guarded
from ats_sim.scenario import builtin_scenarios, load_scenario

__all__ = ["register"]

console = Console(highlight=False)
scenarios_app = typer.Typer(help="List and inspect scenarios.", no_args_is_help=True)


@scenarios_app.command("list")
@guarded
def list_scenarios() -> None:
    """List the built-in scenarios."""
    table = Table("name", "description", box=None)
    for name, path in builtin_scenarios().items():
        with path.open("rb") as fh:
            table.add_row(name, tomllib.load(fh).get("description", ""))
    console.print(table)


@scenarios_app.command("show")
@guarded
def show(scenario: str = typer.Argument(..., help="A built-in name or a TOML path.")) -> None:
    """Validate a scenario and show what it contains."""
    sc = load_scenario(scenario)
    console.print(f"[bold]{sc.name}[/bold]: {sc.description}")
    console.print(
        f"network {sc.network.name}: "
        + ", ".join(
            f"{ln.id} ({ln.name}, {ln.n_stations} stations, {ln.length_m / 1000:.1f} km)"
            for ln in sc.network.lines
        )
    )
    rs = sc.rolling_stock
    console.print(
        f"trains: {rs.cars} cars, {rs.tare_mass_kg / 1000:.0f} t empty, capacity {rs.capacity} "
        f"(crush {rs.crush_capacity}), rated {rs.rated_power_kw / 1000:.2f} MW"
    )
    console.print(
        f"service {sc.operations.service_start}-{sc.operations.service_end}, headways: "
        + ", ".join(f"{p.start} every {p.headway_s:.0f} s" for p in sc.operations.periods)
    )
    console.print(
        f"start {sc.start_date} ({sc.timezone}), day type {sc.day_type}, seed {sc.seed}, "
        f"telemetry every {sc.telemetry_interval_s:g} s, weather {sc.weather.min_temp_c:g}-"
        f"{sc.weather.max_temp_c:g} C"
    )
    for d in sc.disruptions:
        console.print(f"disruption: {d.model_dump_json()}")


def register(app: typer.Typer) -> None:
    """Add the ``scenarios`` group."""
    app.add_typer(scenarios_app, name="scenarios")
