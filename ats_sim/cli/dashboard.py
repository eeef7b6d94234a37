"""``ats-sim dashboard [WAREHOUSE_URL]``: the Streamlit dashboard over a warehouse.

Runs ``streamlit run dashboard/app.py`` with an explicit ``--server.address`` (headless without
one, Streamlit looks up its external IP on the internet), headless, with usage statistics off.
The warehouse URL reaches the page through the ``ATS_SIM_WAREHOUSE_URL`` environment variable.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import typer

from ats_sim.errors import ConfigError

__all__ = ["register", "streamlit_command", "streamlit_env"]

#: The embedded database the README's first command writes (the same as ``ats-sim run``'s default).
DEFAULT_URL = "duckdb://data/ats.duckdb"


def _app_path() -> Path:
    spec = importlib.util.find_spec("dashboard")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the dashboard package is missing; install ats-sim with: pip install 'ats-sim[dashboard]'"
        )
    return Path(spec.origin).parent / "app.py"


def streamlit_command(app: Path, *, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for ``app`` on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def streamlit_env(url: str, app: Path) -> dict[str, str]:
    """The environment of the Streamlit process: the URL, and the project on the import path."""
    from dashboard.connection import URL_ENV

    env = dict(os.environ)
    env[URL_ENV] = url
    root = str(app.resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def register(app: typer.Typer) -> None:
    """Add ``dashboard``."""
    from ats_sim.cli.common import err_console, guarded  # here: main imports this module

    @app.command("dashboard")
    @guarded
    def dashboard_cmd(
        warehouse_url: str = typer.Argument(
            DEFAULT_URL,
            help="duckdb://PATH (relative) or duckdb:///PATH (absolute); snowflake:// or "
            "snowflake://NAME (st.connection); or the sink's "
            "snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH or snowflake://?connection=NAME.",
        ),
        port: int = typer.Option(8501, "--port", help="Port to serve on."),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."
        ),
    ) -> None:
        """Serve the Streamlit dashboard over a warehouse (read-only)."""
        if (
            importlib.util.find_spec("streamlit") is None
            or importlib.util.find_spec("plotly") is None
        ):
            raise ConfigError(
                "the dashboard needs streamlit and plotly: pip install 'ats-sim[dashboard]'"
            )
        from dashboard.connection import open_warehouse

        if not 0 < port < 65536:
            raise ConfigError(f"--port {port} is not a TCP port (1-65535)")
        wh = open_warehouse(warehouse_url)  # a malformed URL fails here, with one line
        path = _app_path()
        err_console.print(f"dashboard over {wh.describe()} on http://{host}:{port}", markup=False)
        cmd = streamlit_command(path, host=host, port=port)
        env = streamlit_env(warehouse_url, path)
        if os.name == "posix":
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, cmd, env)  # Streamlit takes over this process and its signals
        raise typer.Exit(subprocess.call(cmd, env=env))
