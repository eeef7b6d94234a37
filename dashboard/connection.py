"""Where the dashboard reads from: a warehouse URL, and short read-only sessions on it.

Two warehouses speak the shared schema:

* ``duckdb://data/ats.duckdb`` (the default, relative to the working directory; three slashes,
  ``duckdb:///abs/ats.duckdb``, make the path absolute, as for the DuckDB sink): a DuckDB
  file. Each poll opens a *read-only* connection with the sink's
  :func:`sinks.duckdb.connect_readonly`, runs its queries and closes it again, so a live run
  writing the same file is locked out only for the moment of a poll; while the writer holds
  its lock the poll retries for ``timeout_s`` (URL option ``?timeout_s=5``).
* Snowflake, in two kinds of URL:

  - ``snowflake://`` or ``snowflake://NAME``: Streamlit's ``st.connection`` of type
    ``snowflake`` named ``snowflake`` (or ``NAME``), configured the way Streamlit users expect,
    in ``.streamlit/secrets.toml`` (``[connections.snowflake]``) or in
    ``~/.snowflake/connections.toml``. Streamlit keeps that connection open between polls.
  - the Snowflake sink's forms, ``snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH``
    (``role``, ``host``, ``port``, ``protocol`` ... in the query string) and
    ``snowflake://?connection=NAME`` (a connection of ``connections.toml``): resolved exactly
    as the sink resolves them (:func:`sinks.snowflake_conn.resolve_target`: password from
    ``SNOWFLAKE_PASSWORD``, key pair from ``SNOWFLAKE_PRIVATE_KEY_FILE``), and read through
    the connector, one session per poll. Any URL with a user, a path or a query string is
    of this kind; ``ats-sim ingest --to`` and ``ats-sim schema apply`` take the same URL.

  Use a read-only role such as ``ATS_DASHBOARD_READER`` there; the dashboard itself only
  ever runs ``SELECT``.

Nothing here connects at import time, and Streamlit and the drivers are imported only when a
warehouse of that kind is opened.
"""

from __future__ import annotations

import abc
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ats_sim.errors import ConfigError
from sinks.url import SinkURL, parse_sink_url

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_URL",
    "URL_ENV",
    "DuckDBWarehouse",
    "NothingWrittenYet",
    "Session",
    "SnowflakeURLWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseError",
    "open_warehouse",
    "warehouse_url",
]

#: The embedded database the README's first command writes.
DEFAULT_URL = "duckdb://data/ats.duckdb"
#: Environment variable through which ``ats-sim dashboard`` hands the URL to the page.
URL_ENV = "ATS_SIM_WAREHOUSE_URL"

_SCHEMES = ("duckdb", "snowflake")
#: The URL forms :func:`open_warehouse` reads, for messages.
ACCEPTED_FORMS = (
    "duckdb://PATH (three slashes for an absolute path), snowflake:// or snowflake://NAME "
    "(a Streamlit connection), snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH or "
    "snowflake://?connection=NAME (as for the Snowflake sink)"
)
#: A Streamlit connection's URL: ``snowflake://`` or ``snowflake://NAME``, nothing more.
_STREAMLIT_FORM = re.compile(r"snowflake://([^/@?#:]*)/?", re.IGNORECASE)


class WarehouseError(ConfigError):
    """The warehouse cannot be read: misconfigured, unreachable or not ats-sim's schema."""


class WarehouseBusy(WarehouseError):
    """A writer held the DuckDB file for longer than the poll was willing to wait."""


class NothingWrittenYet(Exception):
    """The warehouse exists in name only: no run has written to it yet."""


def warehouse_url(explicit: str | None = None) -> str:
    """The URL to read: ``explicit``, else ``$ATS_SIM_WAREHOUSE_URL``, else :data:`DEFAULT_URL`."""
    return explicit or os.environ.get(URL_ENV) or DEFAULT_URL


class Warehouse(abc.ABC):
    """A source of the shared schema that hands out connections for one poll at a time."""

    #: ``duckdb`` or ``snowflake``: the SQL dialect of the connection.
    dialect: str

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def key(self) -> str:
        """What identifies the data behind this warehouse in a cache key."""
        return self.url

    @abc.abstractmethod
    def connect(self) -> Any:
        """A connection-like object for :mod:`dashboard.queries`.

        Raises :class:`NothingWrittenYet` when there is nothing to read yet and
        :class:`WarehouseError` when the warehouse cannot be read.
        """

    def release(self, conn: Any) -> None:  # noqa: B027 - an optional hook
        """Give back a connection from :meth:`connect` (closes it where that is cheap)."""

    def session(self) -> Session:
        """A :class:`Session` for one poll."""
        return Session(self)

    def describe(self) -> str:
        """A short label for the sidebar."""
        return self.url


class Session:
    """One poll's access: connects at first use, releases the connection on exit."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        """The poll's connection, opened on first use."""
        if self._conn is None:
            self._conn = self.warehouse.connect()
        return self._conn

    @property
    def opened(self) -> bool:
        """Whether this session has connected."""
        return self._conn is not None

    def close(self) -> None:
        """Release the connection, if one was opened."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self.warehouse.release(conn)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DuckDBWarehouse(Warehouse):
    """A DuckDB file, read through a fresh read-only connection per poll."""

    dialect = "duckdb"

    def __init__(self, url: str, path: Path, timeout_s: float = 5.0) -> None:
        super().__init__(url)
        self.path = path
        self.timeout_s = timeout_s

    def connect(self) -> Any:
        """A read-only connection in UTC (the DuckDB sink's helper); see :meth:`Warehouse.connect`."""
        try:
            import duckdb

            from sinks.base import TransientSinkError
            from sinks.duckdb import connect_readonly
        except ImportError:
            raise WarehouseError(
                "the duckdb:// warehouse needs the 'duckdb' package: pip install 'ats-sim[dashboard]'"
            ) from None
        if not self.path.exists():
            raise NothingWrittenYet(f"{self.path} does not exist yet")
        if not self.path.is_file():
            raise WarehouseError(f"{self.url}: {self.path} is not a DuckDB database file")
        try:
            return connect_readonly(self.path, self.timeout_s)
        except TransientSinkError:
            raise WarehouseBusy(
                f"{self.path} is being written and stayed locked for {self.timeout_s:g} s; "
                "the next refresh tries again"
            ) from None
        except ConfigError:  # removed between the check and the connect
            raise NothingWrittenYet(f"{self.path} does not exist yet") from None
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot read {self.url}: {_first_line(exc)}") from None

    def release(self, conn: Any) -> None:
        """Close the connection, so that a writer can take the file's lock again."""
        conn.close()

    def describe(self) -> str:
        """The file's path."""
        return f"DuckDB {self.path}"


class SnowflakeWarehouse(Warehouse):
    """Snowflake through ``st.connection(name, type="snowflake")``."""

    dialect = "snowflake"

    def __init__(self, url: str, connection_name: str = "snowflake") -> None:
        super().__init__(url)
        self.connection_name = connection_name

    def connect(self) -> Any:
        """Streamlit's cached Snowflake connection; see :meth:`Warehouse.connect`."""
        try:
            import streamlit as st

            return st.connection(self.connection_name, type="snowflake")
        except ImportError as exc:
            raise WarehouseError(
                f"the snowflake:// warehouse needs {exc.name!r}: pip install 'ats-sim[snowflake,dashboard]'"
            ) from None
        except Exception as exc:  # the connector raises many kinds; all mean "cannot connect"
            raise WarehouseError(
                f"cannot connect to Snowflake with connection {self.connection_name!r}: "
                f"{_first_line(exc).rstrip('.')}. Configure [connections.{self.connection_name}] in "
                ".streamlit/secrets.toml or a connection in ~/.snowflake/connections.toml"
            ) from None

    def describe(self) -> str:
        """The connection name."""
        return f"Snowflake connection {self.connection_name!r}"


class SnowflakeURLWarehouse(Warehouse):
    """Snowflake through the connector, for the sink's URL forms, one session per poll."""

    dialect = "snowflake"

    def __init__(self, url: str, target: Any) -> None:
        super().__init__(url)
        #: The :class:`sinks.snowflake_conn.SnowflakeTarget` the URL resolved to.
        self.target = target

    def connect(self) -> Any:
        """A connector session (``qmark`` binding); see :meth:`Warehouse.connect`."""
        try:
            from sinks.base import SinkError
            from sinks.snowflake_session import connect
        except ImportError as exc:
            raise WarehouseError(
                f"the snowflake:// warehouse needs {exc.name!r}: pip install 'ats-sim[snowflake]'"
            ) from None
        try:
            return connect(self.target, doing="reading the shared views")
        except SinkError as exc:  # already one secret-free line naming the account
            raise WarehouseError(str(exc)) from None

    def release(self, conn: Any) -> None:
        """Log the session out (quietly, if the server is gone)."""
        from sinks.snowflake_session import close_quietly

        close_quietly(conn)

    def describe(self) -> str:
        """``snowflake://USER@ACCOUNT/DB/SCHEMA (warehouse WH, ...)``, without any secret."""
        return str(self.target.describe())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def open_warehouse(url: str | None = None, *, timeout_s: float = 5.0) -> Warehouse:
    """The :class:`Warehouse` a URL names (default: :func:`warehouse_url`); connects to nothing.

    Raises :class:`WarehouseError`, one line naming the accepted forms, for a URL that names no
    readable warehouse (the sink's Snowflake forms are resolved here: a missing password or
    connection is reported now, not at the first poll).
    """
    url = warehouse_url(url)
    try:
        parsed = parse_sink_url(url, known=list(_SCHEMES))
    except ConfigError as exc:
        raise WarehouseError(f"{exc}; the warehouse URLs are {ACCEPTED_FORMS}") from None
    if parsed.scheme == "duckdb":
        from sinks.files import local_path  # the sinks' reading of a URL: three slashes = absolute

        try:
            path = local_path(parsed)
            timeout = parsed.float_option("timeout_s", timeout_s)
        except ConfigError as exc:
            raise WarehouseError(str(exc)) from None
        return DuckDBWarehouse(url, path, timeout_s=timeout)
    streamlit_form = _STREAMLIT_FORM.fullmatch(url)
    if streamlit_form:
        # The connection name keeps its case (a URL's host would be lower-cased).
        return SnowflakeWarehouse(url, connection_name=streamlit_form.group(1) or "snowflake")
    return SnowflakeURLWarehouse(url, _resolve_snowflake(parsed))


def _resolve_snowflake(parsed: SinkURL) -> Any:
    """The sink's :class:`~sinks.snowflake_conn.SnowflakeTarget` for a ``snowflake://`` URL."""
    from sinks.snowflake_conn import resolve_target

    try:
        target, _ = resolve_target(parsed)
    except ConfigError as exc:  # one line, no secret (the sink's own wording)
        raise WarehouseError(
            f"{str(exc).rstrip('.')}; the warehouse URLs are {ACCEPTED_FORMS}"
        ) from None
    return target
