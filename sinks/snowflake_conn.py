"""Naming a Snowflake account the way its users already configure it, without leaking a secret.

Two URL forms name a Snowflake account:

* ``snowflake://?connection=NAME``: a named connection from ``connections.toml`` (in
  ``$SNOWFLAKE_HOME``, else ``~/.snowflake``, else ``~/.config/snowflake``), or from the
  ``[connections.NAME]`` tables of ``config.toml`` there. ``snowflake://`` alone uses the default
  connection (``$SNOWFLAKE_DEFAULT_CONNECTION_NAME``, ``default_connection_name`` in
  ``config.toml``, else ``default``). A path (``snowflake:///DB/SCHEMA?connection=NAME``) and
  query parameters override the file's values.
* ``snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH&role=ROLE``: any other connector
  parameter goes in the query string (``host``, ``port`` and ``protocol`` reach a local server).
  The password comes from ``SNOWFLAKE_PASSWORD``; key-pair authentication from
  ``SNOWFLAKE_PRIVATE_KEY_FILE`` (PEM or DER, with ``SNOWFLAKE_PRIVATE_KEY_FILE_PWD`` when it is
  encrypted), which wins over a password.

Secrets never travel in a URL: ``password``, ``token`` and the like are refused in the query
string, with a message that does not repeat the URL. They are kept apart from the other
parameters (:attr:`SnowflakeTarget.secrets`, hidden from ``repr``), and every message made from
a target passes through :meth:`SnowflakeTarget.redact`. Opening a session and translating the
connector's errors is :mod:`sinks.snowflake_session`'s job.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ats_sim.errors import ConfigError
from sinks.url import SinkURL

__all__ = [
    "ENV_KEY_FILE",
    "ENV_KEY_PWD",
    "ENV_PASSWORD",
    "SECRET_PARAMS",
    "SnowflakeTarget",
    "config_dir",
    "read_named_connection",
    "resolve_target",
]

#: Connector parameters that hold secrets: refused in a URL, never logged or shown.
SECRET_PARAMS = frozenset(
    {
        "password",
        "passcode",
        "private_key",
        "private_key_file_pwd",
        "private_key_password",
        "private_key_passphrase",
        "token",
        "oauth_client_secret",
        "oauth_refresh_token",
        "proxy_password",
        "session_token",
        "master_token",
        "id_token",
        "mfa_token",
    }
)
#: Parameters always passed as strings, even when they look like numbers.
_STRING_PARAMS = frozenset(
    {
        "user",
        "account",
        "database",
        "schema",
        "warehouse",
        "role",
        "host",
        "application",
        "authenticator",
        "region",
        "timezone",
        "query_tag",
        "protocol",
        "paramstyle",
        "private_key_file",
        "private_key_path",
    }
)
#: Keys of a named connection that point at a private key file.
_KEY_FILE_PARAMS = ("private_key_file", "private_key_path")
ENV_PASSWORD = "SNOWFLAKE_PASSWORD"
ENV_KEY_FILE = "SNOWFLAKE_PRIVATE_KEY_FILE"
ENV_KEY_PWD = "SNOWFLAKE_PRIVATE_KEY_FILE_PWD"


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the connector looks for ``connections.toml`` and ``config.toml``."""
    env = os.environ if environ is None else environ
    if env.get("SNOWFLAKE_HOME"):
        return Path(env["SNOWFLAKE_HOME"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    dotdir = home / ".snowflake"
    if dotdir.is_dir():
        return dotdir
    xdg = env.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else home / ".config") / "snowflake"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # The parser's message quotes no values, only positions.
        raise ConfigError(f"cannot read {path}: {exc}") from None


def read_named_connection(
    name: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any], Path]:
    """The parameters of connection ``name`` (or the default one), its name and its file."""
    env = os.environ if environ is None else environ
    folder = config_dir(env)
    connections_file = folder / "connections.toml"
    config_file = folder / "config.toml"
    config = _read_toml(config_file)
    if not name:
        name = env.get("SNOWFLAKE_DEFAULT_CONNECTION_NAME") or str(
            config.get("default_connection_name") or "default"
        )
    connections = _read_toml(connections_file)
    if isinstance(connections.get(name), dict):
        return name, dict(connections[name]), connections_file
    from_config = config.get("connections", {})
    if isinstance(from_config, dict) and isinstance(from_config.get(name), dict):
        return name, dict(from_config[name]), config_file
    known = sorted(k for k, v in connections.items() if isinstance(v, dict))
    hint = f"; it defines: {', '.join(known)}" if known else ""
    where = connections_file if connections_file.exists() else f"{connections_file} (no such file)"
    raise ConfigError(
        f"no Snowflake connection named {name!r} in {where}{hint}; "
        "add a [NAME] table there (SNOWFLAKE_HOME sets the folder), or give "
        "snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH"
    )


def _typed(key: str, value: str) -> Any:
    """A query-string value as the connector expects it: bool, int or str."""
    if key in _STRING_PARAMS:
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _load_private_key(path_text: str, passphrase: str | None, origin: str) -> bytes:
    """A private key file as unencrypted PKCS#8 DER bytes, which every connector version takes."""
    from cryptography.hazmat.primitives import serialization

    path = Path(path_text).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the private key file {path} ({origin}): {exc.strerror or exc}"
        ) from None
    password = passphrase.encode() if passphrase else None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except TypeError:
        # cryptography says whether a passphrase was missing or superfluous, never its value.
        if password is None:
            raise ConfigError(
                f"the private key {path} is encrypted: set {ENV_KEY_PWD} to its passphrase"
            ) from None
        raise ConfigError(f"the private key {path} is not encrypted: unset {ENV_KEY_PWD}") from None
    except ValueError:
        raise ConfigError(
            f"cannot load the private key {path}: not a PEM or DER private key, or the "
            f"passphrase ({ENV_KEY_PWD}) is wrong"
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class SnowflakeTarget:
    """Everything needed to open a Snowflake session; secrets are kept apart and never shown.

    Attributes:
        params: connector parameters without secrets (account, user, database, host, ...).
        secrets: the password or private key; excluded from ``repr`` and from every message.
        origin: where the parameters came from, for messages (``URL`` or a file and name).
    """

    params: Mapping[str, Any]
    secrets: Mapping[str, Any] = field(repr=False, default_factory=dict)
    origin: str = "URL"

    def get(self, key: str) -> str | None:
        """A non-secret parameter as text, or None."""
        value = self.params.get(key)
        return None if value is None or value == "" else str(value)

    @property
    def database(self) -> str | None:
        """The database the URL or connection names."""
        return self.get("database")

    @property
    def schema(self) -> str | None:
        """The schema the URL or connection names."""
        return self.get("schema")

    @property
    def warehouse(self) -> str | None:
        """The warehouse the URL or connection names."""
        return self.get("warehouse")

    @property
    def role(self) -> str | None:
        """The role the URL or connection names."""
        return self.get("role")

    @property
    def auth_method(self) -> str:
        """How the session authenticates, in words (never the secret itself)."""
        if "private_key" in self.secrets:
            return "key pair"
        if "password" in self.secrets:
            return "password"
        return str(self.params.get("authenticator") or "the connection's authenticator")

    def describe(self) -> str:
        """``snowflake://USER@ACCOUNT/DB/SCHEMA (warehouse WH, role R)``: no secret."""
        user = self.get("user") or "?"
        path = "/".join(p for p in (self.database, self.schema) if p)
        extras = [f"{k} {v}" for k, v in (("warehouse", self.warehouse), ("role", self.role)) if v]
        host = self.get("host")
        if host:
            port = self.get("port")
            extras.append(
                f"via {self.get('protocol') or 'https'}://{host}" + (f":{port}" if port else "")
            )
        if self.origin != "URL":
            extras.append(self.origin)
        tail = f" ({', '.join(extras)})" if extras else ""
        return self.redact(f"snowflake://{user}@{self.get('account') or '?'}/{path}{tail}")

    def redact(self, text: str) -> str:
        """``text`` with every secret value (and any key material) replaced by ``***``."""
        for value in self.secrets.values():
            if isinstance(value, bytes):
                continue  # DER key bytes never reach a message; nothing printable to find
            secret = str(value)
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return re.sub(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
            "***",
            text,
            flags=re.S,
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``snowflake.connector.connect`` (holds the secrets)."""
        return {**self.params, **self.secrets}


def _split_path(path: str) -> tuple[str | None, str | None]:
    parts = [p for p in path.split("/") if p]
    if len(parts) > 2:
        raise ConfigError(f"a snowflake:// URL path is /DATABASE or /DATABASE/SCHEMA, not {path!r}")
    return (parts[0] if parts else None, parts[1] if len(parts) > 1 else None)


def resolve_target(
    url: SinkURL,
    *,
    sink_options: Collection[str] = (),
    environ: Mapping[str, str] | None = None,
) -> tuple[SnowflakeTarget, dict[str, str]]:
    """Turn a ``snowflake://`` URL into a :class:`SnowflakeTarget` and the sink's own options.

    Query keys listed in ``sink_options`` are returned apart (as strings); every other key is a
    connector parameter. Raises :class:`ConfigError` naming the problem and the fix, never
    repeating a secret.
    """
    env = os.environ if environ is None else environ
    query = dict(url.query)
    secret_keys = sorted(k for k in query if k.lower() in SECRET_PARAMS)
    if secret_keys:
        raise ConfigError(
            f"a snowflake:// URL must not carry secrets ({', '.join(secret_keys)}): URLs end up in "
            f"shell history, logs and progress output; set {ENV_PASSWORD}, or {ENV_KEY_FILE} "
            f"(and {ENV_KEY_PWD}), or use ?connection=NAME from connections.toml"
        )
    if url.port is not None:
        raise ConfigError(
            "a snowflake:// URL names the account, not a server: give a local server as "
            "?host=HOST&port=PORT&protocol=http"
        )
    own = {k: query.pop(k) for k in list(query) if k in sink_options}
    connection = query.pop("connection", None)
    database, schema = _split_path(url.path)

    params: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    origin = "URL"
    if connection is not None or not url.host:
        name, from_file, path = read_named_connection(connection or None, env)
        origin = f"connection {name!r} in {path}"
        for key, value in from_file.items():
            (secrets if key.lower() in SECRET_PARAMS else params)[key.lower()] = value
        if url.host or url.user:
            params["account"] = url.host or params.get("account")
            params["user"] = url.user or params.get("user")
    else:
        if not url.user:
            raise ConfigError(
                "a snowflake:// URL needs the user: snowflake://USER@ACCOUNT/DATABASE/SCHEMA"
            )
        params["account"] = url.host
        params["user"] = url.user
    if database:
        params["database"] = database
    if schema:
        params["schema"] = schema
    for key, value in query.items():
        params[key.lower()] = _typed(key.lower(), value)
    if not params.get("account"):
        raise ConfigError(f"the Snowflake connection ({origin}) names no account")

    # Credentials: a key file (URL/connection or environment), else a password.
    key_file = next((params.pop(k) for k in _KEY_FILE_PARAMS if params.get(k)), None)
    key_pwd = next(
        (
            secrets.pop(k)
            for k in ("private_key_file_pwd", "private_key_password", "private_key_passphrase")
            if secrets.get(k)
        ),
        None,
    )
    key_origin = origin
    if env.get(ENV_KEY_FILE):
        key_file, key_origin = env[ENV_KEY_FILE], ENV_KEY_FILE
        key_pwd = env.get(ENV_KEY_PWD) or None
    if key_file and "private_key" not in secrets:
        if key_pwd is None and env.get(ENV_KEY_PWD):
            key_pwd = env[ENV_KEY_PWD]
        secrets["private_key"] = _load_private_key(
            str(key_file), key_pwd and str(key_pwd), key_origin
        )
        secrets.pop("password", None)
        params["authenticator"] = "SNOWFLAKE_JWT"
    elif "private_key" not in secrets and "password" not in secrets and env.get(ENV_PASSWORD):
        secrets["password"] = env[ENV_PASSWORD]
    if not secrets and not params.get("authenticator"):
        raise ConfigError(
            f"no Snowflake credentials for {params.get('user') or 'the user'} ({origin}): set "
            f"{ENV_PASSWORD}, or {ENV_KEY_FILE} (and {ENV_KEY_PWD} if it is encrypted), "
            "or put them in a connections.toml connection"
        )
    return SnowflakeTarget(params=params, secrets=secrets, origin=origin), own
