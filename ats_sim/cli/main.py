"""Entry point of the ``ats-sim`` command: registers each command group.

Each command module defines ``register(app)``; errors a person can fix are printed as one line
by :func:`ats_sim.cli.common.guarded`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading

import typer

from ats_sim.cli.common import err_console, guarded

__all__ = ["app", "err_console", "guarded", "main"]

app = typer.Typer(
    name="ats-sim",
    help="Simulate a metro network's ATS telemetry and stream it into DuckDB, files, Kafka or Snowflake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


#: Command modules; each defines ``register(app)``.
_COMMAND_MODULES = (
    "ats_sim.cli.scenarios",
    "ats_sim.cli.run",
    "ats_sim.cli.schema",
    "ats_sim.cli.kafka",
    "ats_sim.cli.dashboard",
    "ats_sim.cli.gtfs",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _lingering_threads() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


def main() -> None:
    """The ``ats-sim`` program.

    After a command that failed, the program ends at once instead of waiting for threads a
    client library left running (the Snowflake connector's request-cancelling thread keeps
    retrying a server that is gone for minutes). By then every sink has been closed: what was
    delivered is durable and what was not has been reported.
    """
    try:
        app(prog_name="ats-sim")
    except SystemExit as exc:
        code = exc.code
        if code not in (0, None) and _lingering_threads():
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)
        raise
