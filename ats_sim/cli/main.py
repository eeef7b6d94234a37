"""Entry point of the ``ats-sim`` command: registers each command group.

Every command runs through :func:`guarded`, which turns an :class:`~ats_sim.errors.AtsSimError`
into one line on stderr and exit status 2, so a person never sees a traceback for a mistake
they can fix.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from ats_sim.errors import AtsSimError

__all__ = ["app", "err_console", "guarded"]

#: Progress and summaries go to stderr; a pipe or file gets a wide page so nothing is cut short.
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="ats-sim",
    help="Simulate a metro network's ATS telemetry and stream it into DuckDB, files, Kafka or Snowflake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Run a command; print an ats-sim error as one line and exit with its status."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AtsSimError as exc:
            err_console.print(f"error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at debug level."),
) -> None:
    """ats-sim: a metro ATS telemetry simulator."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


#: Command modules; each defines ``register(app)``. A module that is not there yet is skipped.
_COMMAND_MODULES = (
    "ats_sim.cli.scenarios",
    "ats_sim.cli.run",
    "ats_sim.cli.schema",
    "ats_sim.cli.kafka",
    "ats_sim.cli.dashboard",
    "ats_sim.cli.gtfs",
)

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    _mod.register(app)
