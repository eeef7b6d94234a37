"""Opening a Snowflake session, and saying in one line what went wrong.

:func:`connect` opens a connector session for a :class:`~sinks.snowflake_conn.SnowflakeTarget`;
:func:`translate_error` turns the connector's errors into one clear, secret-free line each:
bad credentials, a missing database, schema or warehouse, a missing privilege are
:class:`TerminalSinkError`; an unreachable server, a dropped connection or an expired session
are :class:`TransientSinkError`, which the sink retries on a fresh session.

Works with snowflake-connector-python 3.12 to 5.x: it uses only ``snowflake.connector.connect``,
cursors' ``execute``/``fetchall``, ``close`` and the ``errno`` of the connector's errors; the
parameters whose defaults differ between 4.x and 5.x are set per version
(:func:`connector_major_version`). The connector's loggers are kept quiet, and its tracebacks
hidden, unless the application set their levels (:func:`quiet_connector_logs`).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from ats_sim.errors import ConfigError
from sinks.base import SinkError, TerminalSinkError, TransientSinkError
from sinks.snowflake_conn import ENV_KEY_FILE, ENV_PASSWORD, SnowflakeTarget

__all__ = [
    "Session",
    "close_quietly",
    "connect",
    "connector_major_version",
    "ident",
    "quiet_connector_logs",
    "stage_name",
    "translate_error",
]

log = logging.getLogger(__name__)

#: Loggers the connector (and the AWS SDK it brings) would fill, and the level each is kept at
#: unless the application set one: at DEBUG the connector logs every HTTP request, and every
#: retried request with its traceback. Its warnings (TLS and OCSP settings) are kept. Its HTTP
#: layer (``network``, and the ``vendored`` urllib3 and requests) logs a failed request at ERROR,
#: with a traceback, just before the connector raises it; the sink reports that error itself,
#: in one line, so those records are only kept at CRITICAL, which they never reach.
_NOISY_LOGGERS = {
    "snowflake.connector": logging.WARNING,
    "snowflake.connector.network": logging.CRITICAL,
    "snowflake.connector.vendored": logging.CRITICAL,
    "snowflake.connector._core": logging.ERROR,  # 5.x's Rust core: proxy, IMDS, telemetry chatter
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
}


def connector_major_version() -> int:
    """The installed snowflake-connector-python's major version (0 if it cannot be told)."""
    import snowflake.connector

    match = re.match(r"(\d+)", str(getattr(snowflake.connector, "__version__", "")))
    return int(match.group(1)) if match else 0


def quiet_connector_logs() -> None:
    """Keep the connector's loggers quiet, and its tracebacks off, unless the application asks.

    A root logger at DEBUG (as in a test run or ``ats-sim -v``) would otherwise print thousands
    of lines per flush, and on a dead server a traceback per retried request: every error the
    connector logs, it also raises, and the sink reports it in one line. So the loggers of
    :data:`_NOISY_LOGGERS` get their level here unless the application set one, and every
    ``snowflake.connector`` logger drops the tracebacks of its records unless it is enabled for
    DEBUG, which only an application can ask for (:class:`_NoTraceback`). The 4.x connector's
    statement-cancel threads, which print a traceback when the server they try to reach is gone,
    are routed to this module's DEBUG log instead (see :func:`_quiet_cancel_threads`).
    """
    for name, level in _NOISY_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
    # The module of PUT (4.x), which the connector imports only when first needed: its loggers
    # must exist now to get the filter. 5.x has none (its core does the transfer).
    with contextlib.suppress(ImportError):
        importlib.import_module("snowflake.connector.file_transfer_agent")
    for name, known in list(logging.root.manager.loggerDict.items()):
        connector = name == "snowflake.connector" or name.startswith("snowflake.connector.")
        if connector and isinstance(known, logging.Logger) and _NO_TRACEBACK not in known.filters:
            known.addFilter(_NO_TRACEBACK)
    _quiet_cancel_threads()


class _NoTraceback(logging.Filter):
    """Drops a record's traceback (its one-line message stays) unless its logger logs DEBUG.

    Attached to each connector logger, so it sees the records that logger creates, before any
    handler does. The connector logs a handled failure (a retried request, a failed PUT worker)
    with its traceback, at WARNING or ERROR, and then raises or retries; an application that
    wants those tracebacks sets the connector's loggers to DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.exc_info or record.exc_text or record.stack_info) and not logging.getLogger(
            record.name
        ).isEnabledFor(logging.DEBUG):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


_NO_TRACEBACK = _NoTraceback()


_cancel_hook_installed = False


def _quiet_cancel_threads() -> None:
    """Route the exceptions of connector 4.x's query-cancel timer threads to a DEBUG log line.

    With ``network_timeout`` set, the 4.x connector starts a timer per statement that cancels it
    when the time is up; if the server is unreachable, that cancel fails too and the thread dies
    with a traceback on stderr, although the statement's own error is already raised (and
    reported by the sink in one line). Only threads of that class are affected; every other
    thread's exceptions go to the previous hook.
    """
    global _cancel_hook_installed
    if _cancel_hook_installed:
        return
    _cancel_hook_installed = True
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__name__ == "_TrackedQueryCancellationTimer":
            log.debug(
                "the connector could not cancel a timed-out statement: %s", args.exc_type.__name__
            )
            return
        previous(args)

    threading.excepthook = hook


#: Login error codes whose meaning is well known; any other 390xxx refusal is shown as
#: Snowflake words it.
_AUTH_CODES = {
    390100: "incorrect username or password",
    390144: "the key pair was not accepted (is the public key set on the user?)",
}
#: Codes worth retrying on a fresh session (besides any OperationalError or InterfaceError).
_TRANSIENT_CODES = {
    604,  # SQL execution canceled (the statement timeout)
    250001,  # could not connect to Snowflake backend
    250002,  # connection is closed
    250003,  # failed to execute request
    390103,  # session token not found
    390104,  # user must login again
    390112,  # session expired
    390114,  # authentication token expired
    290401,  # HTTP 401 on a statement: the session token is no longer accepted (server restarted)
    290429,  # HTTP 429: too many requests
    290500,  # HTTP 500/502/503/504: the service or a proxy in front of it is failing for now
    290502,
    290503,
    290504,
}


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " ".join(lines) if lines else ""


def _server_message(exc: BaseException) -> str:
    """The server's message without the connector's ``errno (sqlstate):`` prefix."""
    msg = getattr(exc, "msg", None) or str(exc)
    msg = re.sub(r"^\s*\d{6}\s*(\(\w+\))?:\s*", "", str(msg))
    msg = re.sub(r"^\s*\d{6}\s*(\(\w+\))?:\s*", "", msg)  # 5.x repeats the prefix
    msg = re.sub(r"\s*\(request_id=[0-9a-f-]+\)\s*$", "", msg)
    return _first_line(msg)


def _network_reason(detail: str) -> str:
    """The useful end of an HTTP failure (``Connection refused``), not the whole request URL."""
    match = re.search(
        r"connection (?:refused|reset(?: by peer)?|aborted)|(?:read |connect )?timed out"
        r"|name or service not known|temporary failure in name resolution",
        detail,
        re.I,
    )
    if match:
        return match.group(0)
    return detail if len(detail) <= 200 else detail[:197] + "..."


def translate_error(
    exc: BaseException, target: SnowflakeTarget, doing: str, *, if_missing: str = ""
) -> SinkError:
    """One clear, secret-free line for a connector error, as terminal or transient.

    ``doing`` says what was being done (``"loading 1000 records"``). ``if_missing`` is the
    sentence to say when Snowflake answers that an object does not exist (``"table X does not
    exist: create it with ..."``). Every message ends with the target and Snowflake's own words.
    """
    import snowflake.connector.errors as sf_errors

    errno = getattr(exc, "errno", None)
    code = (
        int(errno) if isinstance(errno, int) or (isinstance(errno, str) and errno.isdigit()) else -1
    )
    detail = _server_message(exc) or type(exc).__name__
    where = f"({target.describe()}; Snowflake said: {detail})"
    role = f"role {target.role}" if target.role else "the session's role"

    def terminal(text: str) -> TerminalSinkError:
        return TerminalSinkError(target.redact(f"{text} {where}"))

    if code in _AUTH_CODES or (390000 <= code < 391000 and code not in _TRANSIENT_CODES):
        user = target.get("user") or "the user"
        if code not in _AUTH_CODES:
            return terminal(f"Snowflake refused the login of {user} (error {code})")
        fix = (
            f"check {ENV_KEY_FILE} and the user's RSA_PUBLIC_KEY"
            if target.auth_method == "key pair"
            else f"check the user and {ENV_PASSWORD} (or the connection's password)"
        )
        return terminal(f"Snowflake refused the login of {user}: {_AUTH_CODES[code]}; {fix}")
    if code == 606 or "no active warehouse" in detail.lower():
        return terminal(
            f"no usable warehouse while {doing}: name one with ?warehouse=NAME and check that "
            f"{role} has USAGE on it"
        )
    if code in (3001, 3003) or "insufficient privileges" in detail.lower():
        return terminal(
            f"{role} lacks a privilege needed for {doing}: grant it, or name a role that has "
            "it with ?role=NAME"
        )
    if code in (90105, 90106):
        return terminal(
            f"no current database or schema while {doing}: name both, as "
            "snowflake://USER@ACCOUNT/DATABASE/SCHEMA"
        )
    if code in (2003, 2043) or "does not exist" in detail.lower():
        return terminal(
            if_missing or f"an object does not exist, or {role} may not see it, while {doing}"
        )
    if code in _TRANSIENT_CODES or isinstance(
        exc,
        (
            sf_errors.OperationalError,
            sf_errors.InterfaceError,
            ConnectionError,
            TimeoutError,
            OSError,
        ),
    ):
        return TransientSinkError(
            target.redact(
                f"Snowflake unreachable while {doing}: {_network_reason(detail)} ({target.describe()})"
            )
        )
    number = f" {code}" if code >= 0 else ""
    return terminal(f"Snowflake error{number} while {doing}")


def _version_defaults(major: int, statement_timeout_s: int) -> dict[str, Any]:
    """Connector parameters whose defaults differ between versions, set so both behave alike."""
    if major >= 5:
        # 5.x bounds its own retries (retry_max_attempts); say how to log out, or it warns.
        return {"enable_server_session_keep_alive_auto_detection": False}
    # 4.x retries a request to an unreachable server forever unless network_timeout bounds it
    # (it also cancels a statement running longer than that).
    return {"network_timeout": statement_timeout_s, "login_timeout": 60}


def connect(
    target: SnowflakeTarget, *, doing: str = "connecting", statement_timeout_s: int = 120
) -> Any:
    """Open a connector session for ``target``; errors come out translated and secret-free.

    ``statement_timeout_s`` bounds one statement, and how long a 4.x connector keeps retrying an
    unreachable server (5.x bounds that by itself); a URL's ``network_timeout`` overrides it.
    """
    import snowflake.connector

    quiet_connector_logs()
    kwargs = {
        **_version_defaults(connector_major_version(), statement_timeout_s),
        "paramstyle": "qmark",
    }
    kwargs.update(target.connect_kwargs())
    try:
        return snowflake.connector.connect(**kwargs)
    except Exception as exc:  # the connector raises its own errors and plain OSError subclasses
        raise translate_error(exc, target, doing) from None


def close_quietly(conn: Any) -> None:
    """Close a connection that may already be dead, without retrying or raising."""
    try:
        close: Callable[..., Any] = conn.close
        if "retry" in inspect.signature(close).parameters:
            close(retry=False)
        else:
            close()
    except Exception as exc:  # a dead server cannot log the session out; nothing to do
        log.debug("closing a Snowflake connection failed: %s", type(exc).__name__)


# -- a checked session ----------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_STAGE = re.compile(r"^(~|%?[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2})$")


def ident(name: str) -> str:
    """An identifier as SQL: plain names unquoted (Snowflake upper-cases them), others quoted."""
    return name if _IDENT.match(name) else '"' + name.replace('"', '""') + '"'


def stage_name(stage: str | None) -> str | None:
    """A ``stage=`` option as a stage name (without ``@``), or ``None``; refuses anything else."""
    if stage is None:
        return None
    name = stage.lstrip("@")
    if not _STAGE.match(name):
        raise ConfigError(
            f"snowflake:// stage={stage!r} is not a stage name (e.g. MY_STAGE, ~, %TABLE)"
        )
    return name


class Session:
    """One connector session for ``target``, opened when first needed and checked on opening.

    Opening selects the database, schema and warehouse, checks that each of ``tables`` (name
    and the columns read) can be read, and creates the temporary stage ``temp_stage`` if one
    is given. :meth:`run` runs a statement and returns its rows; errors come out translated
    (:func:`translate_error`), and a transient one closes the session, so the next statement
    opens a fresh one (a restarted server, a lost session).
    """

    def __init__(
        self,
        target: SnowflakeTarget,
        *,
        purpose: str,
        tables: list[tuple[str, str]],
        temp_stage: str | None,
        apply_hint: str = "create it with `ats-sim schema apply` and the same URL",
    ) -> None:
        self.target = target
        self._purpose = purpose
        self._tables = tables
        self._temp_stage = temp_stage
        self._apply_hint = apply_hint
        self._conn: Any = None

    @property
    def is_open(self) -> bool:
        """Whether a connection is open now."""
        return self._conn is not None

    def run(
        self, sql: str, params: list[Any] | None = None, *, doing: str, if_missing: str = ""
    ) -> list[tuple[Any, ...]]:
        """Run one statement; its rows. ``doing`` and ``if_missing`` word the error."""
        conn = self.open()
        try:
            rows: list[tuple[Any, ...]] = conn.cursor().execute(sql, params).fetchall()
        except Exception as exc:
            error = translate_error(exc, self.target, doing, if_missing=if_missing)
            if isinstance(error, TransientSinkError):
                self.close()
            raise error from None
        return rows

    def open(self) -> Any:
        """The open connection, opened (and checked) first if needed."""
        if self._conn is not None:
            return self._conn
        self._conn = connect(self.target, doing=self._purpose)
        try:
            self._check()
        except BaseException:
            self.close()
            raise
        return self._conn

    def close(self) -> None:
        """Close the connection (its temporary stage and tables go with it); safe to repeat."""
        conn, self._conn = self._conn, None
        if conn is not None:
            close_quietly(conn)

    def _check(self) -> None:
        t = self.target
        role = f"role {t.role}" if t.role else "the session's role"
        if t.database and t.schema:
            self.run(
                f"USE SCHEMA {ident(t.database)}.{ident(t.schema)}",
                doing=f"using schema {t.database}.{t.schema}",
                if_missing=f"database or schema {t.database}.{t.schema} does not exist, or {role} "
                f"may not use it: check the names, or {self._apply_hint}",
            )
        elif t.database:
            self.run(
                f"USE DATABASE {ident(t.database)}",
                doing=f"using database {t.database}",
                if_missing=f"database {t.database} does not exist, or {role} may not use it",
            )
        if t.warehouse:
            self.run(
                f"USE WAREHOUSE {ident(t.warehouse)}",
                doing=f"using warehouse {t.warehouse}",
                if_missing=f"warehouse {t.warehouse} does not exist, or {role} has no USAGE on it",
            )
        for table, columns in self._tables:
            self.run(
                f"SELECT {columns} FROM {table} LIMIT 0",
                doing=f"checking {table}",
                if_missing=f"table {table} does not exist, or {role} may not read it: {self._apply_hint}",
            )
        if self._temp_stage is not None:
            self.run(
                f"CREATE TEMPORARY STAGE IF NOT EXISTS {self._temp_stage}",
                doing="creating the session's temporary stage",
            )
