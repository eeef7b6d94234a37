"""Fixtures that give the Snowflake tests a real fakesnow server and the real connector over HTTP.

- ``fakesnow_port`` (session): ``python -m fakesnow -s -p PORT`` on 127.0.0.1, a free port,
  shared by the tests that only write and read. Each test uses its own database (``database``).
- ``fakesnow_plus`` (function): a factory for ``tests/snowflake/fakesnow_plus.py`` servers, the
  same fakesnow app with files on disk (so a killed server can come back with its data), error
  answers that only a real Snowflake gives, and the fields connector 5.x needs; they can be
  killed and restarted.
- ``password`` (function): a distinctive ``SNOWFLAKE_PASSWORD``; ``SNOWFLAKE_HOME`` points at an
  empty temporary folder so no developer's own ``connections.toml`` is read.
- ``cli``: runs ``python -m ats_sim.cli ARGS`` from this checkout as its own process, as a user
  would (``cli.run`` to completion, ``cli.start`` in the background), with the test's environment.

The connector talks to the servers exactly as to Snowflake (``host``, ``port``, ``protocol=http``
in the sink URL); nothing is patched in process. fakesnow not installed: the tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: The password every test uses: distinctive, so a leak anywhere is found by a plain search.
PASSWORD = "Xq9!sekr1t-ZEBRA-4471"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _require_fakesnow() -> None:
    try:
        import fakesnow  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        reason = f"fakesnow[server] is not installed ({exc.name}); pip install 'fakesnow[server]==0.12.1'"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: Snowflake tests must run)", pytrace=False)
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Return once something accepts connections on ``port``; fail if ``proc`` dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the fakesnow server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the fakesnow server did not listen on port {port} within {timeout_s:g}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def snowflake_url(
    port: int, database: str, schema: str = "PUBLIC", user: str = "ats_writer", **query: Any
) -> str:
    """A sink URL for the local server: ``snowflake://USER@ACCOUNT/DB/SCHEMA?host=..&port=..``."""
    params = {
        "warehouse": "TEST_WH",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        **query,
    }
    return f"snowflake://{user}@fakeaccount/{database}/{schema}?{urlencode(params)}"


def unique_database() -> str:
    """A database name no other test uses."""
    return f"ATS_T_{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture(scope="session", autouse=True)
def _no_statement_timer_left() -> Iterator[None]:
    """At the end of the session, cancel the connector's per-statement cancel timers still
    pending (4.x starts one per statement; a statement that failed because a test stopped its
    server may leave one). Left alone, a timer fires at exit against a server that is gone and
    prints a traceback, and the interpreter waits for it first."""
    yield
    for thread in threading.enumerate():
        if type(thread).__name__ == "_TrackedQueryCancellationTimer":
            thread.cancel()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def fakesnow_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``fakesnow -s -p PORT`` as its own process for the whole session."""
    _require_fakesnow()
    port = free_port()
    log = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        _stop(proc)


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Set ``SNOWFLAKE_PASSWORD`` to :data:`PASSWORD`, with an empty ``SNOWFLAKE_HOME``."""
    home = tmp_path / "snowflake-home"
    home.mkdir()
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    for var in (
        "SNOWFLAKE_PRIVATE_KEY_FILE",
        "SNOWFLAKE_PRIVATE_KEY_FILE_PWD",
        "SNOWFLAKE_DEFAULT_CONNECTION_NAME",
    ):
        monkeypatch.delenv(var, raising=False)
    return PASSWORD


class PlusServer:
    """One ``fakesnow_plus.py`` server process that a test can kill and restart on its port."""

    def __init__(
        self,
        workdir: Path,
        rules: list[dict[str, Any]] | None = None,
        *,
        persistent: bool = True,
        create_database: bool = True,
        compat5: bool = False,
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.args = [sys.executable, str(HERE / "fakesnow_plus.py"), "--port", str(self.port)]
        if persistent:
            (workdir / "db").mkdir(exist_ok=True)
            self.args += ["--db-path", str(workdir / "db")]
        if rules:
            rules_file = workdir / "rules.json"
            rules_file.write_text(json.dumps(rules), encoding="utf-8")
            self.args += ["--rules", str(rules_file)]
        if not create_database:
            self.args.append("--no-create-database")
        if compat5:
            self.args.append("--compat5")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> PlusServer:
        """Start (or restart) the server and wait until it listens."""
        self.starts += 1
        with (self.workdir / f"server-{self.starts}.log").open("wb") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL the server: no goodbye, connections just drop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        """Wait for the server to exit by itself (an ``exit_after`` rule); its status."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


@pytest.fixture
def fakesnow_plus(tmp_path: Path) -> Iterator[Any]:
    """``fakesnow_plus(rules=None, persistent=True, ...)`` starts a server; all stop after the test."""
    _require_fakesnow()
    servers: list[PlusServer] = []

    def start(rules: list[dict[str, Any]] | None = None, **kw: Any) -> PlusServer:
        server = PlusServer(tmp_path / f"plus-{len(servers)}", rules, **kw)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def url_for() -> Any:
    """:func:`snowflake_url`: ``url_for(port, database, schema="PUBLIC", user=..., **query)``."""
    return snowflake_url


@pytest.fixture
def database() -> str:
    """A database name of this test's own."""
    return unique_database()


@pytest.fixture
def sql() -> Any:
    """``sql(port, database, statement, params=None)``: rows, through the real connector."""
    import snowflake.connector

    def run(
        port: int, database: str, statement: str, params: list[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        conn = snowflake.connector.connect(
            user="test_reader",
            password="unused",
            account="fakeaccount",
            host="127.0.0.1",
            port=port,
            protocol="http",
            database=database,
            schema="PUBLIC",
            paramstyle="qmark",
        )
        try:
            cursor = conn.cursor()
            cursor.execute(statement, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
        finally:
            conn.close()

    return run


class Cli:
    """``ats-sim ARGS`` as its own process, from this checkout, with this process's environment."""

    @staticmethod
    def env() -> dict[str, str]:
        """The environment: this one, the checkout on ``PYTHONPATH``, no colours, wide lines."""
        path = os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p)
        return {**os.environ, "PYTHONPATH": path, "NO_COLOR": "1", "COLUMNS": "200"}

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run to completion: exit status, stdout, stderr."""
        return subprocess.run(
            [sys.executable, "-m", "ats_sim.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            cwd=REPO,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start in the background, stdout and stderr piped."""
        return subprocess.Popen(
            [sys.executable, "-m", "ats_sim.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=REPO,
        )


@pytest.fixture
def cli() -> Cli:
    """:class:`Cli`: ``cli.run("schema", "apply", url)``, ``cli.start("run", ...)``."""
    return Cli()
