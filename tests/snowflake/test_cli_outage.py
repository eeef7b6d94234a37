"""``ats-sim run --sink snowflake://...`` when the server dies: what the user sees on stderr.

The command runs as its own process, as a user runs it; its stderr is what a terminal would
show. The rule: a mistake or an outage is one clear line and exit status 2, never a traceback,
neither from ats-sim nor from the connector, whose HTTP layer logs each failed request with its
traceback before raising it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from typing import Any

import pytest

from sinks.snowflake import apply_schema
from sinks.snowflake_session import quiet_connector_logs

pytestmark = pytest.mark.snowflake


def wait_for_rows(sql: Any, port: int, proc: Any, timeout_s: float = 90.0) -> int:
    """Poll ATS_RAW_JSON until a flush has landed; fail if the command ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ats-sim ended before its first flush landed: {proc.communicate()}")
        [(rows,)] = sql(port, "ATS", "SELECT COUNT(*) FROM ATS_RAW_JSON")
        if rows > 0:
            return int(rows)
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no flush landed within {timeout_s:g}s: {proc.communicate()}")


def test_server_killed_mid_run_ends_the_command_with_exit_2_one_line_and_no_traceback(
    password: str, fakesnow_plus: Any, url_for: Any, sql: Any, cli: Any
) -> None:
    """A paced run (two hours at 360x, about 20 s) writes its first flushes; then the server is
    SIGKILLed. Every later flush is retried twice and given up: the command exits 2, stderr's
    last line is the one-line error, and stderr holds a handful of lines (the run's header, its
    progress, one warning per failed attempt, the error) and no traceback."""
    server = fakesnow_plus()
    apply_schema(url_for(server.port, "ATS"), roles=False)
    url = url_for(
        server.port,
        "ATS",
        batch_records=500,
        max_retries=2,
        retry_backoff_s=0.05,
        network_timeout=2,  # the connector's own retries of a dead server end in seconds
        login_timeout=2,
    )
    proc = cli.start("run", "weekday", "--until", "2h", "--speed", "360", "--sink", url)
    try:
        landed = wait_for_rows(sql, server.port, proc)
        server.kill()
        _, err = proc.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert landed > 0
    assert proc.returncode == 2, err
    assert lines[-1].startswith(
        "error: snowflake sink: gave up after 2 retries: Snowflake unreachable"
    ), err
    assert "127.0.0.1" in lines[-1]
    assert "Traceback" not in err and "snowflake.connector" not in err, err
    assert password not in err
    assert len(lines) <= 12, err
    failures = [ln for ln in lines if "snowflake sink: transient failure" in ln]
    assert len(failures) == 2, err  # the flush's two retries; close() tries once, no retry


def test_connector_tracebacks_are_dropped_unless_its_logger_is_at_debug() -> None:
    """A connector logger's record with a traceback (a retried request, a failed PUT worker)
    keeps its one-line message and loses the traceback, unless the application set that logger
    to DEBUG, which is how a developer asks for the connector's details."""
    quiet_connector_logs()
    logger = logging.getLogger("snowflake.connector.cursor")
    saved = logger.level

    def logged() -> str:
        """What a handler on the root logger prints for one such record."""
        buf = io.StringIO()
        handler = logging.StreamHandler(buf)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError:
                logger.warning("a request failed; retrying", exc_info=True)
        finally:
            root.removeHandler(handler)
        return buf.getvalue().strip()

    try:
        logger.setLevel(logging.NOTSET)
        quiet = logged()
        assert quiet == "WARNING snowflake.connector.cursor: a request failed; retrying"
        logger.setLevel(logging.DEBUG)
        detailed = logged()
        assert detailed.startswith("WARNING snowflake.connector.cursor: a request failed")
        assert "Traceback" in detailed and "ConnectionRefusedError" in detailed
    finally:
        logger.setLevel(saved)


def test_the_connector_http_layer_logs_nothing_the_sink_reports_itself() -> None:
    """The HTTP layer logs each failed request at ERROR just before the connector raises it;
    the sink reports those errors in one line, so, unless the application chose, its loggers
    stay above ERROR. The connector's own warnings (TLS, OCSP settings) still pass."""
    names = ("snowflake.connector.network", "snowflake.connector.vendored")
    saved = {n: logging.getLogger(n).level for n in names}
    try:
        for n in names:
            logging.getLogger(n).setLevel(logging.NOTSET)
        quiet_connector_logs()
        for n in names:
            assert not logging.getLogger(n).isEnabledFor(logging.ERROR)
        assert logging.getLogger("snowflake.connector.connection").isEnabledFor(logging.WARNING)
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)
