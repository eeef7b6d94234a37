"""``ats-sim schema show|apply``: print the warehouse schema, or create it in a warehouse.

``show`` renders ``sql/<dialect>/*.sql`` with the given names. ``apply`` creates everything in
the warehouse a URL names: ``duckdb://`` here; ``snowflake://`` through
``sinks.snowflake.apply_schema(url, target_lag=...)``, which the Snowflake sink provides.
"""

from __future__ import annotations

import enum
import importlib

import typer
from rich.console import Console

from ats_sim.cli.common import guarded
from ats_sim.errors import ConfigError

__all__ = ["apply_url", "register"]

console = Console(highlight=False, soft_wrap=True)
schema_app = typer.Typer(help="Show or apply the warehouse schema (sql/).", no_args_is_help=True)


class Dialect(enum.StrEnum):
    """SQL dialects the schema exists in."""

    snowflake = "snowflake"
    duckdb = "duckdb"


@schema_app.command("show")
@guarded
def show(
    dialect: Dialect = typer.Option(Dialect.duckdb, "--dialect", help="SQL dialect to print."),
    database: str = typer.Option("ATS", help="Snowflake database."),
    schema: str = typer.Option("PUBLIC", help="Snowflake schema."),
    warehouse: str = typer.Option("COMPUTE_WH", help="Warehouse refreshing the dynamic tables."),
    target_lag: str = typer.Option("1 minute", help="Dynamic tables' target lag, or DOWNSTREAM."),
    reader_role: str = typer.Option("ATS_DASHBOARD_READER", help="The dashboards' read-only role."),
) -> None:
    """Print the schema's SQL, rendered for one dialect."""
    from sinks.schema import schema_script

    script = schema_script(
        dialect.value,
        database=database,
        schema=schema,
        warehouse=warehouse,
        target_lag=target_lag,
        reader_role=reader_role,
    )
    typer.echo(script)


def apply_url(url: str, *, target_lag: str | None = None, roles: bool = True) -> list[str]:
    """Create the schema in the warehouse ``url`` names; return what was run (first lines)."""
    from sinks import parse_sink_url, registered_schemes

    parsed = parse_sink_url(url, known=registered_schemes())
    if parsed.scheme not in ("duckdb", "snowflake"):
        raise ConfigError(
            f"schema apply: {parsed.scheme}:// has no schema to apply; give a duckdb:// or snowflake:// URL"
        )
    if parsed.scheme == "duckdb":
        from sinks.base import MissingDriverError

        try:
            importlib.import_module("duckdb")
        except ImportError:
            raise MissingDriverError("duckdb", "duckdb", "duckdb") from None
        from sinks.duckdb import apply_schema as apply_duckdb
        from sinks.files import local_path

        if target_lag is not None:
            raise ConfigError(
                "--target-lag applies to snowflake:// only (DuckDB tables are filled directly)"
            )
        return apply_duckdb(local_path(parsed))
    try:
        snowflake = importlib.import_module("sinks.snowflake")
    except ModuleNotFoundError as exc:
        if exc.name not in ("sinks.snowflake", "snowflake", "snowflake.connector"):
            raise
        raise ConfigError(
            "ats-sim schema apply snowflake:// needs the snowflake extra: pip install 'ats-sim[snowflake]'"
        ) from None
    apply_snowflake = getattr(snowflake, "apply_schema", None)
    if apply_snowflake is None:
        raise ConfigError(
            "this version's snowflake:// sink cannot apply the schema (no sinks.snowflake.apply_schema)"
        )
    done: list[str] = apply_snowflake(url, target_lag=target_lag, roles=roles)
    return done


@schema_app.command("apply")
@guarded
def apply(
    url: str = typer.Argument(..., help="duckdb:///path/to/file.duckdb or snowflake://..."),
    target_lag: str = typer.Option(
        None, help="Snowflake dynamic tables' target lag, e.g. '1 minute'."
    ),
    roles: bool = typer.Option(
        True, "--roles/--no-roles", help="Snowflake: also create the read-only dashboard role."
    ),
) -> None:
    """Create the schema (tables, views, and on Snowflake the reader role); safe to run twice."""
    done = apply_url(url, target_lag=target_lag, roles=roles)
    for line in done:
        console.print(f"  {line.strip()}", markup=False)
    console.print(f"schema applied: {len(done)} statements", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``schema`` group."""
    app.add_typer(schema_app, name="schema")
